//! Session keys and the per-packet transforms: AES counter mode with HMAC-SHA1 (RFC 3711
//! §4.1.1, §4.2.1), and AES-GCM (RFC 7714). Pure functions of key, IV and octets; the packet
//! layout and the indices live in `context`.

use super::kdf;
use super::key::MasterKey;
use aes::{Aes128Enc, Aes256Enc};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use ctr::cipher::{InnerIvInit, StreamCipher};
use ctr::{Ctr128BE, CtrCore};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::{Zeroize, Zeroizing};

/// AES (encryption only: counter mode never decrypts) with a 128- or 256-bit key, key
/// schedule built once (zeroized on drop by `aes`).
#[derive(Clone)]
pub(crate) enum Aes {
    A128(Aes128Enc),
    A256(Aes256Enc),
}

impl Aes {
    /// `None` unless the key is 16 or 32 octets.
    pub(crate) fn new(key: &[u8]) -> Option<Aes> {
        match key.len() {
            16 => Aes128Enc::new_from_slice(key).ok().map(Aes::A128),
            32 => Aes256Enc::new_from_slice(key).ok().map(Aes::A256),
            _ => None,
        }
    }

    /// XORs `buf` with the AES-CM keystream starting at counter block `iv` (a 128-bit
    /// big-endian counter, RFC 3711 §4.1.1). Clones the key schedule, never re-expands it.
    pub(crate) fn apply_ctr(&self, iv: &[u8; 16], buf: &mut [u8]) {
        match self {
            Aes::A128(c) => Ctr128BE::<Aes128Enc>::from_core(CtrCore::inner_iv_init(c.clone(), iv.into()))
                .apply_keystream(buf),
            Aes::A256(c) => Ctr128BE::<Aes256Enc>::from_core(CtrCore::inner_iv_init(c.clone(), iv.into()))
                .apply_keystream(buf),
        }
    }
}

/// AES-GCM with a 128- or 256-bit key.
pub(crate) enum Gcm {
    A128(Aes128Gcm),
    A256(Aes256Gcm),
}

/// The session keys of one of SRTP or SRTCP in one context.
// A context holds one variant for its whole life, inline: no heap, no indirection per packet.
// The variants differ by a few hundred bytes, which is what the lint counts.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SessionKeys {
    /// AES-CM encryption and HMAC-SHA1 authentication.
    CmHmac {
        aes: Aes,
        /// The 112-bit session salt.
        salt: [u8; 14],
        /// Keyed once; cloned per packet (the inner and outer pads are already absorbed).
        mac: Hmac<Sha1>,
    },
    /// AES-GCM.
    Gcm {
        aead: Gcm,
        /// The 96-bit session salt.
        salt: [u8; 12],
    },
}

/// The GCM authentication tag length (RFC 7714 §14: 16 octets for both suites).
pub(crate) const GCM_TAG: usize = 16;

impl SessionKeys {
    /// Derives the session keys for SRTP (`rtcp == false`) or SRTCP from a master key.
    pub(crate) fn derive(master: &MasterKey, rtcp: bool) -> SessionKeys {
        let suite = master.suite();
        let (l_enc, l_auth, l_salt) = if rtcp {
            (kdf::LABEL_RTCP_ENCRYPTION, kdf::LABEL_RTCP_AUTH, kdf::LABEL_RTCP_SALT)
        } else {
            (kdf::LABEL_RTP_ENCRYPTION, kdf::LABEL_RTP_AUTH, kdf::LABEL_RTP_SALT)
        };
        let n = suite.master_key_len();
        let prf = match Aes::new(master.key()) {
            Some(prf) => prf,
            // A MasterKey's key is 16 or 32 octets by construction.
            None => unreachable!("master key of {n} octets"),
        };
        let mut enc = Zeroizing::new([0u8; 32]);
        kdf::derive(&prf, master.salt(), l_enc, &mut enc[..n]);
        if suite.is_aead() {
            let mut salt = [0u8; 12];
            kdf::derive(&prf, master.salt(), l_salt, &mut salt);
            let aead = match (Aes128Gcm::new_from_slice(&enc[..n]), Aes256Gcm::new_from_slice(&enc[..n])) {
                (Ok(g), _) => Gcm::A128(g),
                (_, Ok(g)) => Gcm::A256(g),
                _ => unreachable!("session key of {n} octets"),
            };
            SessionKeys::Gcm { aead, salt }
        } else {
            let mut salt = [0u8; 14];
            kdf::derive(&prf, master.salt(), l_salt, &mut salt);
            let mut auth = Zeroizing::new([0u8; 20]);
            kdf::derive(&prf, master.salt(), l_auth, &mut auth[..]);
            let aes = match Aes::new(&enc[..n]) {
                Some(aes) => aes,
                None => unreachable!("session key of {n} octets"),
            };
            let mac = match Hmac::<Sha1>::new_from_slice(&auth[..]) {
                Ok(mac) => mac,
                Err(_) => unreachable!("HMAC takes keys of any length"),
            };
            SessionKeys::CmHmac { aes, salt, mac }
        }
    }
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        // The key schedules zeroize themselves (`zeroize` features of aes, aes-gcm, hmac).
        match self {
            SessionKeys::CmHmac { salt, .. } => salt.zeroize(),
            SessionKeys::Gcm { salt, .. } => salt.zeroize(),
        }
    }
}

/// The AES-CM IV (RFC 3711 §4.1.1): `(k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16)`, with `i`
/// the 48-bit SRTP packet index or the 31-bit SRTCP index.
pub(crate) fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (d, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *d ^= s;
    }
    for (d, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *d ^= s;
    }
    iv
}

/// HMAC-SHA1 over the concatenation of `parts`, full 20 octets.
pub(crate) fn hmac(mac: &Hmac<Sha1>, parts: &[&[u8]]) -> [u8; 20] {
    let mut m = mac.clone();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Compares a truncated HMAC tag in constant time.
pub(crate) fn tag_matches(full: &[u8; 20], tag: &[u8]) -> bool {
    let n = tag.len().min(20);
    let diff = full[..n].iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0 && n == tag.len() && n > 0
}

/// The GCM nonce: `salt XOR iv`, with `iv` laid out by the caller (RFC 7714 §8.1, §9.1).
pub(crate) fn gcm_nonce(salt: &[u8; 12], iv: [u8; 12]) -> [u8; 12] {
    let mut n = iv;
    for (d, s) in n.iter_mut().zip(salt) {
        *d ^= s;
    }
    n
}

impl Gcm {
    /// Encrypts `buf` in place and returns the tag; `None` only for inputs over GCM's size
    /// limits (far beyond any datagram).
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; GCM_TAG]> {
        let tag = match self {
            Gcm::A128(g) => g.encrypt_inout_detached(nonce.into(), aad, buf.into()).ok()?,
            Gcm::A256(g) => g.encrypt_inout_detached(nonce.into(), aad, buf.into()).ok()?,
        };
        Some(tag.into())
    }

    /// Verifies, then decrypts `buf` in place; on failure `buf` is left as it was.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; GCM_TAG]) -> bool {
        match self {
            Gcm::A128(g) => g.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()).is_ok(),
            Gcm::A256(g) => g.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()).is_ok(),
        }
    }
}

impl SessionKeys {
    /// GCM seal with this context's session salt; `None` for a counter-mode context.
    pub(crate) fn gcm_seal(&self, iv: [u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; GCM_TAG]> {
        match self {
            SessionKeys::Gcm { aead, salt } => aead.seal(&gcm_nonce(salt, iv), aad, buf),
            SessionKeys::CmHmac { .. } => None,
        }
    }

    /// GCM open with this context's session salt; `false` on a counter-mode context.
    pub(crate) fn gcm_open(&self, iv: [u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; GCM_TAG]) -> bool {
        match self {
            SessionKeys::Gcm { aead, salt } => aead.open(&gcm_nonce(salt, iv), aad, buf, tag),
            SessionKeys::CmHmac { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for session key 2B7E…, session salt
    /// F0F1…FD, SSRC 0, index 0, through the IV formation the packets use.
    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        let aes = Aes::new(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).expect("16-octet key");
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().expect("14 octets");
        let iv = cm_iv(&salt, 0, 0);
        assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        // Counter blocks 0x0000 ..= 0xFF01: the RFC lists the first three and the last three.
        let mut ks = vec![0u8; 0xFF02 * 16];
        aes.apply_ctr(&iv, &mut ks);
        let block = |i: usize| ks[i * 16..(i + 1) * 16].to_vec();
        assert_eq!(block(0x0000), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(0x0001), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(0x0002), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xFEFF), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xFF00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xFF01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
    }

    /// The SSRC and index land where RFC 3711 §4.1.1 puts them.
    #[test]
    fn cm_iv_places_ssrc_and_index() {
        let iv = cm_iv(&[0; 14], 0x1122_3344, 0xAABB_CCDD_EEFF);
        assert_eq!(iv.to_vec(), hex("0000000011223344AABBCCDDEEFF0000"));
        let iv = cm_iv(&[0xFF; 14], 0, 0);
        assert_eq!(iv.to_vec(), hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFF0000"));
    }

    #[test]
    fn truncated_tags_compare() {
        let full = [7u8; 20];
        assert!(tag_matches(&full, &[7; 10]));
        assert!(tag_matches(&full, &[7; 4]));
        assert!(!tag_matches(&full, &[7, 7, 7, 6]));
        assert!(!tag_matches(&full, &[]));
    }
}
