/*
 * A libsrtp 2 peer for tonewall-media's interoperability tests (tests/srtp_libsrtp.rs), which
 * compiles it with the system C compiler and drives it over pipes. Test-only: never shipped.
 *
 *   srtp_peer protect|unprotect SUITE KEY_SALT_HEX [MKI_HEX]
 *
 * One libsrtp session with one wildcard-SSRC policy (outbound for protect, inbound for
 * unprotect), replay window 128, repeats refused. Then one request per stdin line:
 *
 *   rtp HEX     protect or unprotect an RTP packet
 *   rtcp HEX    the same for RTCP
 *
 * and one answer per stdout line: "ok HEX" or "err N" with N the srtp_err_status_t.
 * Exit status 2 on a setup error (message on stderr).
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PACKET 65536

static int unhex(const char *s, size_t n, unsigned char *out, size_t cap) {
    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1)
            return -1;
        out[i] = (unsigned char)b;
    }
    return (int)(n / 2);
}

static int set_suite(const char *name, srtp_policy_t *p) {
    if (strcmp(name, "AES_CM_128_HMAC_SHA1_80") == 0) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    } else if (strcmp(name, "AES_CM_128_HMAC_SHA1_32") == 0) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    } else if (strcmp(name, "AES_256_CM_HMAC_SHA1_80") == 0) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
    } else if (strcmp(name, "AES_256_CM_HMAC_SHA1_32") == 0) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
    } else if (strcmp(name, "AEAD_AES_128_GCM") == 0) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
    } else if (strcmp(name, "AEAD_AES_256_GCM") == 0) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
    } else {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: srtp_peer protect|unprotect SUITE KEY_SALT_HEX [MKI_HEX]\n");
        return 2;
    }
    int protect = strcmp(argv[1], "protect") == 0;
    if (!protect && strcmp(argv[1], "unprotect") != 0) {
        fprintf(stderr, "mode must be protect or unprotect\n");
        return 2;
    }
    if (srtp_init() != srtp_err_status_ok) {
        fprintf(stderr, "srtp_init failed\n");
        return 2;
    }
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (set_suite(argv[2], &policy) != 0) {
        fprintf(stderr, "unknown suite\n");
        return 2;
    }
    /* Room for the longest key and salt, padded as libsrtp reads up to SRTP_MAX_KEY_LEN. */
    static unsigned char key[64];
    int key_len = unhex(argv[3], strlen(argv[3]), key, sizeof key);
    if (key_len <= 0) {
        fprintf(stderr, "bad key hex\n");
        return 2;
    }
    static unsigned char mki[SRTP_MAX_MKI_LEN];
    int mki_len = 0;
    srtp_master_key_t master = {0};
    srtp_master_key_t *masters[1] = {&master};
    if (argc == 5) {
        mki_len = unhex(argv[4], strlen(argv[4]), mki, sizeof mki);
        if (mki_len <= 0) {
            fprintf(stderr, "bad MKI hex\n");
            return 2;
        }
        master.key = key;
        master.mki_id = mki;
        master.mki_size = (unsigned int)mki_len;
        policy.keys = masters;
        policy.num_master_keys = 1;
    } else {
        policy.key = key;
    }
    policy.ssrc.type = protect ? ssrc_any_outbound : ssrc_any_inbound;
    policy.window_size = 128;
    policy.allow_repeat_tx = 0;
    policy.next = NULL;

    srtp_t session;
    srtp_err_status_t st = srtp_create(&session, &policy);
    if (st != srtp_err_status_ok) {
        fprintf(stderr, "srtp_create failed: %d\n", (int)st);
        return 2;
    }

    static char line[2 * MAX_PACKET + 64];
    static unsigned char pkt[MAX_PACKET + SRTP_MAX_TRAILER_LEN + 4];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        int rtcp;
        const char *hex;
        if (strncmp(line, "rtp ", 4) == 0) {
            rtcp = 0;
            hex = line + 4;
        } else if (strncmp(line, "rtcp ", 5) == 0) {
            rtcp = 1;
            hex = line + 5;
        } else {
            fprintf(stderr, "bad request\n");
            return 2;
        }
        int len = unhex(hex, strlen(hex), pkt, MAX_PACKET);
        if (len < 0) {
            fprintf(stderr, "bad packet hex\n");
            return 2;
        }
        unsigned int use_mki = mki_len > 0;
        if (protect)
            st = rtcp ? srtp_protect_rtcp_mki(session, pkt, &len, use_mki, 0)
                      : srtp_protect_mki(session, pkt, &len, use_mki, 0);
        else
            st = rtcp ? srtp_unprotect_rtcp_mki(session, pkt, &len, use_mki)
                      : srtp_unprotect_mki(session, pkt, &len, use_mki);
        if (st != srtp_err_status_ok) {
            printf("err %d\n", (int)st);
            continue;
        }
        fputs("ok ", stdout);
        for (int i = 0; i < len; i++)
            printf("%02x", pkt[i]);
        putchar('\n');
    }
    srtp_dealloc(session);
    srtp_shutdown();
    return 0;
}
