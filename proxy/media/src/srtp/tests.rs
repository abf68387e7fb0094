//! Unit tests: contexts against themselves and fixed vectors, SDES parse/format. The
//! interoperability tests against libsrtp are in `tests/srtp_libsrtp.rs`.

use super::*;
use rand_core::{CryptoRng, RngCore};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// A deterministic generator for tests (xorshift; marked cryptographic only so the key
/// generator accepts it: never do this outside tests).
struct TestRng(u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}
impl CryptoRng for TestRng {}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn rtcp_sr(ssrc: u32) -> Vec<u8> {
    // SR with no report blocks (28 octets) followed by an SDES-less padding-free RR header.
    let mut p = vec![0x80, 200, 0x00, 0x06];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x11; 20]);
    p
}

fn pair(suite: Suite, seed: u64) -> (SrtpContext, SrtpContext) {
    let key = MasterKey::generate(suite, &mut TestRng(seed));
    (SrtpContext::new(Direction::Outbound, &key), SrtpContext::new(Direction::Inbound, &key))
}

/// Protects `plain` with `tx` and unprotects with `rx`, checking the lengths and the octets.
fn round_trip_rtp(tx: &mut SrtpContext, rx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + tx.rtp_overhead(), 0);
    let n = tx.protect_rtp(&mut buf, plain.len()).expect("protect");
    assert_eq!(n, plain.len() + tx.rtp_overhead());
    let protected = buf[..n].to_vec();
    assert_ne!(&protected[12..plain.len()], &plain[12..], "payload is encrypted");
    assert_eq!(&protected[..12], &plain[..12], "header stays clear");
    let m = rx.unprotect_rtp(&mut buf, n).expect("unprotect");
    assert_eq!(&buf[..m], plain);
    protected
}

#[test]
fn rtp_and_rtcp_round_trip_every_suite() {
    for (i, suite) in Suite::ALL.into_iter().enumerate() {
        let (mut tx, mut rx) = pair(suite, 1 + i as u64);
        for seq in 0..50u16 {
            round_trip_rtp(&mut tx, &mut rx, &rtp(seq, 0xCAFE, &[seq as u8; 160]));
        }
        for _ in 0..5 {
            let plain = rtcp_sr(0xCAFE);
            let mut buf = plain.clone();
            buf.resize(plain.len() + tx.rtcp_overhead(), 0);
            let n = tx.protect_rtcp(&mut buf, plain.len()).expect("protect rtcp");
            assert_eq!(n, plain.len() + tx.rtcp_overhead());
            assert_ne!(&buf[8..plain.len()], &plain[8..]);
            let m = rx.unprotect_rtcp(&mut buf, n).expect("unprotect rtcp");
            assert_eq!(&buf[..m], &plain[..], "{suite:?}");
        }
    }
}

/// libsrtp's own known-answer packet (srtp_driver, AES_CM_128_HMAC_SHA1_80, the RFC 3711
/// B.3 master key): header 800F1234 DECAFBAD CAFEBABE, 16 octets of AB.
#[test]
fn libsrtp_known_answer_packet() {
    let key = MasterKey::new(
        Suite::AesCm128HmacSha1_80,
        &hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
        &hex("0EC675AD498AFEEBB6960B3AABE6"),
    )
    .expect("key");
    let plain = hex("800F1234DECAFBADCAFEBABE ABABABABABABABABABABABABABABABAB");
    let want = hex("800F1234DECAFBADCAFEBABE4E55DC4CE79978D88CA4D215949D2402B78D6ACC99EA179B8DBB");
    let mut tx = SrtpContext::new(Direction::Outbound, &key);
    let mut buf = plain.clone();
    buf.resize(want.len(), 0);
    assert_eq!(tx.protect_rtp(&mut buf, plain.len()), Ok(want.len()));
    assert_eq!(buf, want);
    let mut rx = SrtpContext::new(Direction::Inbound, &key);
    assert_eq!(rx.unprotect_rtp(&mut buf, want.len()), Ok(plain.len()));
    assert_eq!(buf[..plain.len()], plain[..]);
}

#[test]
fn csrc_and_extension_stay_in_clear() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80, 9);
    // CC = 2, X = 1, one-word extension.
    let mut p = vec![0x92, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 7];
    p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]);
    p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 9, 9, 9, 9]);
    p.extend_from_slice(&[0x55; 20]);
    let protected = round_trip_rtp(&mut tx, &mut rx, &p);
    assert_eq!(&protected[..28], &p[..28]);
    let (mut tx, mut rx) = pair(Suite::AeadAes128Gcm, 9);
    round_trip_rtp(&mut tx, &mut rx, &p);
}

#[test]
fn rollover_counter_follows_sequence_wrap() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes256Gcm] {
        let (mut tx, mut rx) = pair(suite, 77);
        let mut seq = 65_530u16;
        let mut late = None;
        for i in 0..20 {
            let p = rtp(seq, 0x1234, &[i; 40]);
            if seq == 65_535 {
                // Hold one packet back to deliver after the wrap.
                let mut buf = p.clone();
                buf.resize(p.len() + tx.rtp_overhead(), 0);
                let n = tx.protect_rtp(&mut buf, p.len()).expect("protect");
                late = Some((buf, n, p));
            } else {
                round_trip_rtp(&mut tx, &mut rx, &p);
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(tx.roc(0x1234), Some(1));
        assert_eq!(rx.roc(0x1234), Some(1));
        // The late 65 535 still decrypts with ROC 0.
        let (mut buf, n, p) = late.expect("held back");
        assert_eq!(rx.unprotect_rtp(&mut buf, n), Ok(p.len()));
        assert_eq!(buf[..p.len()], p[..]);
        assert_eq!(rx.roc(0x1234), Some(1), "{suite:?}");
    }
}

#[test]
fn replays_are_refused_and_counted_apart_from_forgeries() {
    for suite in Suite::ALL {
        let (mut tx, mut rx) = pair(suite, 5);
        let p = rtp(1000, 42, &[3; 60]);
        let protected = round_trip_rtp(&mut tx, &mut rx, &p);
        let mut again = protected.clone();
        assert_eq!(
            rx.unprotect_rtp(&mut again, protected.len()),
            Err(SrtpError::Replayed { ssrc: 42, index: 1000 })
        );
        // A later packet, tampered: one bit in the payload, then in the tag.
        let p2 = rtp(1001, 42, &[4; 60]);
        let mut buf = p2.clone();
        buf.resize(p2.len() + tx.rtp_overhead(), 0);
        let n = tx.protect_rtp(&mut buf, p2.len()).expect("protect");
        for flip in [20, n - 1, 1] {
            let mut bad = buf.clone();
            bad[flip] ^= 0x01;
            let before = bad.clone();
            assert_eq!(
                rx.unprotect_rtp(&mut bad, n),
                Err(SrtpError::AuthenticationFailed { ssrc: 42 }),
                "{suite:?}"
            );
            assert_eq!(bad, before, "a refused packet is left untouched");
        }
        // The genuine one still goes through: forgeries changed no state.
        assert_eq!(rx.unprotect_rtp(&mut buf, n), Ok(p2.len()));
        // Far behind the window.
        let p3 = rtp(1001 - 200, 42, &[4; 60]);
        let mut tx2 = tx;
        let mut buf = p3.clone();
        buf.resize(p3.len() + tx2.rtp_overhead(), 0);
        assert_eq!(tx2.protect_rtp(&mut buf, p3.len()), Err(SrtpError::TooOld { ssrc: 42, index: 801 }));
    }
}

#[test]
fn sender_refuses_to_reuse_an_index() {
    let (mut tx, _) = pair(Suite::AesCm128HmacSha1_80, 3);
    let p = rtp(7, 1, &[0; 20]);
    let mut buf = p.clone();
    buf.resize(p.len() + 10, 0);
    assert!(tx.protect_rtp(&mut buf, p.len()).is_ok());
    let mut buf = p.clone();
    buf.resize(p.len() + 10, 0);
    let before = buf.clone();
    assert_eq!(tx.protect_rtp(&mut buf, p.len()), Err(SrtpError::Replayed { ssrc: 1, index: 7 }));
    assert_eq!(buf, before, "a refused packet is not written");
}

#[test]
fn srtcp_replay_tamper_and_unencrypted_flag() {
    for suite in [Suite::AesCm128HmacSha1_32, Suite::AeadAes128Gcm] {
        let (mut tx, mut rx) = pair(suite, 11);
        let p = rtcp_sr(9);
        let mut buf = p.clone();
        buf.resize(p.len() + tx.rtcp_overhead(), 0);
        let n = tx.protect_rtcp(&mut buf, p.len()).expect("protect");
        let mut bad = buf.clone();
        bad[10] ^= 0x80;
        assert_eq!(rx.unprotect_rtcp(&mut bad, n), Err(SrtpError::AuthenticationFailed { ssrc: 9 }));
        let mut e0 = buf.clone();
        let e_at = if suite.is_aead() { n - 4 } else { n - 10 - 4 };
        e0[e_at] &= 0x7F;
        assert_eq!(rx.unprotect_rtcp(&mut e0, n), Err(SrtpError::UnencryptedSrtcp));
        let keep = buf.clone();
        assert_eq!(rx.unprotect_rtcp(&mut buf, n), Ok(p.len()));
        let mut again = keep;
        assert_eq!(rx.unprotect_rtcp(&mut again, n), Err(SrtpError::Replayed { ssrc: 9, index: 0 }));
    }
}

#[test]
fn directions_and_bounds_are_enforced() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80, 21);
    let p = rtp(1, 1, &[0; 20]);
    let mut buf = p.clone();
    buf.resize(p.len() + 10, 0);
    assert_eq!(rx.protect_rtp(&mut buf, p.len()), Err(SrtpError::WrongDirection));
    assert_eq!(tx.unprotect_rtp(&mut buf, p.len()), Err(SrtpError::WrongDirection));
    assert_eq!(rx.protect_rtcp(&mut buf, p.len()), Err(SrtpError::WrongDirection));
    assert_eq!(tx.unprotect_rtcp(&mut buf, p.len()), Err(SrtpError::WrongDirection));
    // No room for the tag.
    let mut tight = p.clone();
    assert_eq!(
        tx.protect_rtp(&mut tight, p.len()),
        Err(SrtpError::BufferTooSmall { needed: p.len() + 10, capacity: p.len() })
    );
    assert_eq!(
        tx.protect_rtp(&mut tight, p.len() + 1),
        Err(SrtpError::LengthExceedsBuffer { len: p.len() + 1, capacity: p.len() })
    );
    // Bad version, CSRCs past the end, extension past the end.
    for first in [0x40u8, 0x8F, 0x90] {
        let mut b = p.clone();
        b[0] = first;
        b.resize(p.len() + 10, 0);
        assert_eq!(tx.protect_rtp(&mut b, 14), Err(SrtpError::MalformedHeader), "{first:#x}");
    }
    assert_eq!(rx.unprotect_rtp(&mut buf, 21), Err(SrtpError::TooShort { len: 21, min: 22 }));
    assert_eq!(rx.unprotect_rtcp(&mut buf, 21), Err(SrtpError::TooShort { len: 21, min: 22 }));
}

#[test]
fn streams_are_bounded() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80, 8);
    for ssrc in 0..MAX_STREAMS as u32 {
        round_trip_rtp(&mut tx, &mut rx, &rtp(1, ssrc, &[1; 10]));
    }
    let p = rtp(1, 999, &[1; 10]);
    let mut buf = p.clone();
    buf.resize(p.len() + 10, 0);
    assert_eq!(tx.protect_rtp(&mut buf, p.len()), Err(SrtpError::TooManyStreams { max: MAX_STREAMS }));
}

#[test]
fn mki_is_written_and_required() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
        let key = MasterKey::generate(suite, &mut TestRng(31));
        let mki = Mki::new(0x0102, 4).expect("mki");
        let mut tx = SrtpContext::new(Direction::Outbound, &key).with_mki(mki);
        let mut rx = SrtpContext::new(Direction::Inbound, &key).with_mki(mki);
        assert_eq!(tx.rtp_overhead(), suite.rtp_tag_len() + 4);
        let protected = round_trip_rtp(&mut tx, &mut rx, &rtp(5, 3, &[9; 30]));
        let mki_at = if suite.is_aead() { protected.len() - 4 } else { protected.len() - 10 - 4 };
        assert_eq!(protected[mki_at..mki_at + 4], [0, 0, 1, 2]);
        let mut other = SrtpContext::new(Direction::Inbound, &key).with_mki(Mki::new(7, 4).expect("mki"));
        let mut buf = protected.clone();
        assert_eq!(other.unprotect_rtp(&mut buf, protected.len()), Err(SrtpError::UnknownMki));
    }
}

#[test]
fn lifetime_stops_the_key() {
    let key = MasterKey::generate(Suite::AesCm128HmacSha1_80, &mut TestRng(4));
    let mut tx = SrtpContext::new(Direction::Outbound, &key).with_lifetime(3);
    let mut rx = SrtpContext::new(Direction::Inbound, &key).with_lifetime(3);
    for seq in 0..3 {
        round_trip_rtp(&mut tx, &mut rx, &rtp(seq, 1, &[0; 8]));
    }
    let p = rtp(3, 1, &[0; 8]);
    let mut buf = p.clone();
    buf.resize(p.len() + 10, 0);
    assert_eq!(tx.protect_rtp(&mut buf, p.len()), Err(SrtpError::KeyExhausted));
    assert_eq!(tx.rtp_packets(), 3);
}

#[test]
fn wrong_key_fails_authentication() {
    let (mut tx, _) = pair(Suite::AesCm128HmacSha1_80, 100);
    let (_, mut rx) = pair(Suite::AesCm128HmacSha1_80, 101);
    let p = rtp(1, 1, &[0; 8]);
    let mut buf = p.clone();
    buf.resize(p.len() + 10, 0);
    let n = tx.protect_rtp(&mut buf, p.len()).expect("protect");
    assert_eq!(rx.unprotect_rtp(&mut buf, n), Err(SrtpError::AuthenticationFailed { ssrc: 1 }));
}

#[test]
fn key_lengths_are_checked() {
    assert_eq!(
        MasterKey::new(Suite::AesCm128HmacSha1_80, &[0; 15], &[0; 14]),
        Err(SrtpError::KeyLength { what: "master key", expected: 16, got: 15 })
    );
    assert_eq!(
        MasterKey::new(Suite::AeadAes128Gcm, &[0; 16], &[0; 14]),
        Err(SrtpError::KeyLength { what: "master salt", expected: 12, got: 14 })
    );
    assert!(MasterKey::from_key_salt(Suite::AesCm256HmacSha1_80, &[0; 46]).is_ok());
    assert!(MasterKey::from_key_salt(Suite::AesCm256HmacSha1_80, &[0; 45]).is_err());
}

// ---- SDES ----

/// RFC 4568 §8.1's offer.
const RFC4568_OFFER: &str =
    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";

#[test]
fn parses_the_rfc4568_example() {
    let a = CryptoAttribute::parse(RFC4568_OFFER).expect("parse");
    assert_eq!(a.tag(), 1);
    assert_eq!(a.suite(), Suite::AesCm128HmacSha1_80);
    assert_eq!(a.keys().len(), 1);
    let k = &a.keys()[0];
    assert_eq!(k.lifetime, Some(Lifetime::PowerOfTwo(20)));
    assert_eq!(k.lifetime.map(Lifetime::packets), Some(1 << 20));
    assert_eq!(k.mki, Some(Mki::new(1, 4).expect("mki")));
    assert_eq!(k.key.expose_key_salt().len(), 30);
    assert_eq!(a.to_sdp_value(), RFC4568_OFFER);
    assert!(a.check_usable().is_ok());
    let ctx = SrtpContext::from_sdes(Direction::Inbound, &a).expect("usable");
    assert_eq!(ctx.rtp_overhead(), 14);
}

#[test]
fn parses_several_keys_and_session_params() {
    let key = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let v = format!(
        "7 AES_CM_128_HMAC_SHA1_32 inline:{key}|1048576|1:2;inline:{key}|2:2 \
         FEC_ORDER=FEC_SRTP WSH=128 -X-VENDOR=1 FEC_KEY=inline:{key}"
    );
    let a = CryptoAttribute::parse(&v).expect("parse");
    assert_eq!(a.keys().len(), 2);
    assert_eq!(a.keys()[0].lifetime, Some(Lifetime::Packets(1_048_576)));
    assert_eq!(a.keys()[1].lifetime, None);
    assert_eq!(a.session_params().len(), 4);
    assert_eq!(a.session_params()[0], SessionParam::FecOrder(FecOrder::FecSrtp));
    assert_eq!(a.session_params()[1], SessionParam::Wsh(128));
    assert_eq!(a.session_params()[2], SessionParam::Extension("-X-VENDOR=1".into()));
    assert!(a.check_usable().is_ok());
    assert_eq!(a.to_sdp_value(), v);
    assert_eq!(CryptoAttribute::parse(&a.to_sdp_value()), Ok(a));
}

#[test]
fn gcm_and_aes256_keys_round_trip() {
    for suite in Suite::ALL {
        let a = CryptoAttribute::generate(3, suite, &mut TestRng(55)).expect("tag");
        let text = a.to_sdp_value();
        assert!(text.starts_with(&format!("3 {} inline:", suite.sdes_name())), "{text}");
        assert_eq!(CryptoAttribute::parse(&text).as_ref(), Ok(&a));
    }
    // Unpadded base64 is accepted too.
    let a = CryptoAttribute::generate(1, Suite::AeadAes128Gcm, &mut TestRng(56)).expect("tag");
    let padded = a.to_sdp_value();
    assert!(padded.contains("=="), "28 octets need padding: {padded}");
    assert_eq!(CryptoAttribute::parse(&padded.replace("==", "")), Ok(a));
}

#[test]
fn malformed_values_get_typed_errors() {
    let k = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let cases: &[(&str, SdesError)] = &[
        ("", SdesError::MissingField { field: "tag" }),
        ("1", SdesError::MissingField { field: "crypto-suite" }),
        ("1 AES_CM_128_HMAC_SHA1_80", SdesError::MissingField { field: "key-params" }),
        ("x AES_CM_128_HMAC_SHA1_80 inline:k", SdesError::BadTag),
        ("1234567890 AES_CM_128_HMAC_SHA1_80 inline:k", SdesError::BadTag),
        ("1 F8_128_HMAC_SHA1_80 inline:k", SdesError::UnknownSuite),
        ("1 AES_CM_128_HMAC_SHA1_80 uri:k", SdesError::UnsupportedKeyMethod),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", SdesError::BadBase64),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:QUJD", SdesError::KeyLength { expected: 30, got: 3 }),
        (
            "1 AEAD_AES_128_GCM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            SdesError::KeyLength { expected: 28, got: 30 },
        ),
    ];
    for (v, e) in cases {
        assert_eq!(CryptoAttribute::parse(v), Err(*e), "{v}");
    }
    let with = |rest: &str| CryptoAttribute::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k}{rest}"));
    assert_eq!(with("|2^49"), Err(SdesError::BadLifetime));
    assert_eq!(with("|2^x"), Err(SdesError::BadLifetime));
    assert_eq!(with("|1:0"), Err(SdesError::BadMki));
    assert_eq!(with("|1:129"), Err(SdesError::BadMki));
    assert_eq!(with("|256:1"), Err(SdesError::BadMki));
    assert_eq!(with("|1:1|2^20"), Err(SdesError::BadKeyParams));
    assert_eq!(with(&format!(";inline:{k}")), Err(SdesError::MkiInconsistent));
    assert_eq!(with(&format!("|1:1;inline:{k}|2:2")), Err(SdesError::MkiInconsistent));
    assert_eq!(with(" KDR=25"), Err(SdesError::BadSessionParam));
    assert_eq!(with(" WSH=10"), Err(SdesError::BadSessionParam));
}

#[test]
fn refused_session_params_are_named() {
    let k = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    for (p, name) in [
        ("KDR=0", "KDR"),
        ("UNENCRYPTED_SRTP", "UNENCRYPTED_SRTP"),
        ("UNENCRYPTED_SRTCP", "UNENCRYPTED_SRTCP"),
        ("UNAUTHENTICATED_SRTP", "UNAUTHENTICATED_SRTP"),
        ("NEW_MANDATORY", "unknown"),
    ] {
        let a = CryptoAttribute::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k} {p}")).expect("parses");
        assert_eq!(a.check_usable(), Err(SdesError::UnsupportedSessionParam { name }));
        assert!(SrtpContext::from_sdes(Direction::Outbound, &a).is_err());
    }
}

#[test]
fn choose_prefers_local_order_and_skips_the_unusable() {
    let k = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let offers = [
        format!("1 F8_128_HMAC_SHA1_80 inline:{k}"),
        format!("2 AES_CM_128_HMAC_SHA1_32 inline:{k}"),
        format!("3 AES_CM_128_HMAC_SHA1_80 inline:{k} UNENCRYPTED_SRTP"),
        format!("4 AES_CM_128_HMAC_SHA1_80 inline:{k}"),
        format!("5 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^10"),
        "6 AES_CM_128_HMAC_SHA1_80 inline:garbage".to_owned(),
    ];
    let pref = [Suite::AeadAes128Gcm, Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];
    let chosen = sdes::choose(offers.iter().map(String::as_str), &pref).expect("one fits");
    assert_eq!((chosen.tag(), chosen.suite()), (4, Suite::AesCm128HmacSha1_80));
    let chosen =
        sdes::choose(offers.iter().map(String::as_str), &[Suite::AesCm128HmacSha1_32]).expect("fits");
    assert_eq!(chosen.tag(), 2);
    assert!(sdes::choose(offers.iter().map(String::as_str), &[Suite::AeadAes256Gcm]).is_none());
    // The answer: same tag and suite, a fresh key.
    let answer = CryptoAttribute::generate(chosen.tag(), chosen.suite(), &mut TestRng(9)).expect("tag");
    assert_ne!(answer.keys()[0].key, chosen.keys()[0].key);
}

/// The canary: key octets, and their base64, never reach Debug or error text.
#[test]
fn key_material_never_appears_in_debug_or_errors() {
    let mut seen = String::new();
    for suite in Suite::ALL {
        let mut attr = CryptoAttribute::generate(12, suite, &mut TestRng(0xC0FFEE)).expect("tag");
        attr.push_session_param(SessionParam::FecKey(attr.keys().to_vec()));
        let sdp = attr.to_sdp_value();
        let key = attr.keys()[0].key.clone();
        let b64 = sdp
            .split("inline:")
            .nth(1)
            .and_then(|s| s.split([' ', '|', ';']).next())
            .expect("b64")
            .to_owned();
        let key_hex: String = key.expose_key_salt().iter().map(|b| format!("{b:02x}")).collect();
        let ctx = SrtpContext::from_sdes(Direction::Outbound, &attr).expect("usable");

        seen.clear();
        let (keys, params) = (attr.keys(), attr.session_params());
        seen += &format!("{attr:?} {attr:#?} {keys:?} {keys:#?} {key:?} {ctx:?} {params:?}");
        // Every error a bad value or packet can produce, printed both ways.
        for bad in [sdp.replacen("inline:", "inline:!", 1), sdp.replacen(&b64, &b64[..b64.len() - 4], 1)] {
            if let Err(e) = CryptoAttribute::parse(&bad) {
                seen += &format!("{e} {e:?}");
            }
        }
        let mut rx = SrtpContext::from_sdes(Direction::Inbound, &attr).expect("usable");
        let mut buf = rtp(1, 2, key.expose_key_salt());
        let n = buf.len();
        buf.resize(n + 40, 0);
        for e in [rx.unprotect_rtp(&mut buf, n), rx.unprotect_rtcp(&mut buf, n), rx.protect_rtp(&mut buf, n)]
        {
            let e = e.expect_err("refused");
            seen += &format!("{e} {e:?}");
        }
        let b64_raw = &b64[..b64.len().min(16)];
        assert!(!seen.contains(b64_raw), "base64 key in {seen}");
        assert!(!seen.to_lowercase().contains(&key_hex[..16]), "hex key in {seen}");
        let as_list = format!("{:?}", key.expose_key_salt());
        assert!(!seen.contains(&as_list[1..as_list.len() / 2]), "key bytes in {seen}");
    }
}

/// The relay moves contexts between shards: they must be `Send` (and need not be `Sync`).
#[test]
fn contexts_and_keys_are_send() {
    fn send<T: Send>() {}
    send::<SrtpContext>();
    send::<MasterKey>();
    send::<CryptoAttribute>();
}
