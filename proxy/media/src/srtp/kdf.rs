//! The SRTP key derivation function (RFC 3711 §4.3.1 with a key derivation rate of 0, and
//! §4.3.3's AES-CM PRF; RFC 6188 for AES-256; RFC 7714 §11 and its erratum 4938 for the
//! 96-bit GCM salt, which enters the PRF shifted left by 16 bits, i.e. padded with two zero
//! octets on the right). Session keys are derived once per context: no rekeying by index.

use super::transform::Aes;

/// RFC 3711 §4.3.2 labels.
pub(crate) const LABEL_RTP_ENCRYPTION: u8 = 0x00;
pub(crate) const LABEL_RTP_AUTH: u8 = 0x01;
pub(crate) const LABEL_RTP_SALT: u8 = 0x02;
pub(crate) const LABEL_RTCP_ENCRYPTION: u8 = 0x03;
pub(crate) const LABEL_RTCP_AUTH: u8 = 0x04;
pub(crate) const LABEL_RTCP_SALT: u8 = 0x05;

/// Fills `out` with the PRF output for `label`: AES-CM keystream under the master key, from
/// the IV `(master_salt XOR (label << 48)) << 16` (r = index DIV kdr = 0).
pub(crate) fn derive(prf: &Aes, master_salt: &[u8], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    let n = master_salt.len().min(14);
    iv[..n].copy_from_slice(&master_salt[..n]);
    // key_id = label || r is 56 bits, right-aligned in the 112-bit salt: the label is octet 7.
    iv[7] ^= label;
    out.fill(0);
    prf.apply_ctr(&iv, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    /// RFC 3711 Appendix B.3: session keys from a master key, kdr = 0, index 0.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let prf = Aes::new(&hex("E1F97A0D3E018BE0D64FA32C06DE4139")).expect("16-octet key");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");

        let mut cipher_key = [0u8; 16];
        derive(&prf, &salt, LABEL_RTP_ENCRYPTION, &mut cipher_key);
        assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));

        let mut cipher_salt = [0u8; 14];
        derive(&prf, &salt, LABEL_RTP_SALT, &mut cipher_salt);
        assert_eq!(cipher_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));

        // The RFC lists 94 octets of the authentication-key stream; HMAC-SHA1 uses the first 20.
        let mut auth = [0u8; 94];
        derive(&prf, &salt, LABEL_RTP_AUTH, &mut auth);
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                 E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2")
        );
    }

    /// Labels give independent streams: SRTCP keys differ from SRTP keys.
    #[test]
    fn labels_separate_rtp_from_rtcp() {
        let prf = Aes::new(&hex("E1F97A0D3E018BE0D64FA32C06DE4139")).expect("16-octet key");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        derive(&prf, &salt, LABEL_RTP_ENCRYPTION, &mut a);
        derive(&prf, &salt, LABEL_RTCP_ENCRYPTION, &mut b);
        assert_ne!(a, b);
        derive(&prf, &salt, LABEL_RTCP_AUTH, &mut a);
        derive(&prf, &salt, LABEL_RTCP_SALT, &mut b);
        assert_ne!(a, b);
    }
}
