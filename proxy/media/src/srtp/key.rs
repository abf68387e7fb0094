//! The master key and salt: held in one fixed array, zeroized on drop, never printed.

use super::{SrtpError, Suite};
use rand_core::CryptoRng;
use std::fmt;
use zeroize::Zeroize;

/// Longest master key plus salt: AES-256 key (32) and counter-mode salt (14).
pub(crate) const MAX_KEY_SALT: usize = 46;

/// A master key and master salt for one [`Suite`] (RFC 3711 §3.2.1).
///
/// `Debug` prints the suite only; equality is constant-time; the octets are zeroized on drop.
/// Read them back only through the explicitly named [`MasterKey::expose_key_salt`].
#[derive(Clone)]
pub struct MasterKey {
    suite: Suite,
    /// `key || salt`, then zeros.
    bytes: [u8; MAX_KEY_SALT],
}

impl MasterKey {
    /// Master key and salt given apart.
    ///
    /// # Errors
    /// [`SrtpError::KeyLength`] when either length does not fit the suite.
    pub fn new(suite: Suite, key: &[u8], salt: &[u8]) -> Result<MasterKey, SrtpError> {
        let (k, s) = (suite.master_key_len(), suite.master_salt_len());
        if key.len() != k {
            return Err(SrtpError::KeyLength { what: "master key", expected: k, got: key.len() });
        }
        if salt.len() != s {
            return Err(SrtpError::KeyLength { what: "master salt", expected: s, got: salt.len() });
        }
        let mut bytes = [0u8; MAX_KEY_SALT];
        bytes[..k].copy_from_slice(key);
        bytes[k..k + s].copy_from_slice(salt);
        Ok(MasterKey { suite, bytes })
    }

    /// Master key and salt concatenated, as SDES `inline:` carries them (and as a caller with
    /// its own source of random octets can supply them).
    ///
    /// # Errors
    /// [`SrtpError::KeyLength`] when the length is not key + salt for the suite.
    pub fn from_key_salt(suite: Suite, key_salt: &[u8]) -> Result<MasterKey, SrtpError> {
        let n = suite.master_key_len() + suite.master_salt_len();
        if key_salt.len() != n {
            return Err(SrtpError::KeyLength {
                what: "master key and salt",
                expected: n,
                got: key_salt.len(),
            });
        }
        let mut bytes = [0u8; MAX_KEY_SALT];
        bytes[..n].copy_from_slice(key_salt);
        Ok(MasterKey { suite, bytes })
    }

    /// A fresh random master key and salt. The generator must be cryptographically secure
    /// (the bound says so); sans-IO, so the caller owns it (an OS-seeded generator in the
    /// binary, a seeded one in tests).
    pub fn generate<R: CryptoRng + ?Sized>(suite: Suite, rng: &mut R) -> MasterKey {
        let n = suite.master_key_len() + suite.master_salt_len();
        let mut bytes = [0u8; MAX_KEY_SALT];
        rng.fill_bytes(&mut bytes[..n]);
        MasterKey { suite, bytes }
    }

    /// The suite this key is for.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The master key and salt, concatenated. Named so that every place that reveals key
    /// material is easy to find; the SDP formatter and tests are the only callers meant.
    pub fn expose_key_salt(&self) -> &[u8] {
        &self.bytes[..self.suite.master_key_len() + self.suite.master_salt_len()]
    }

    /// The master key alone.
    pub(crate) fn key(&self) -> &[u8] {
        &self.bytes[..self.suite.master_key_len()]
    }

    /// The master salt alone.
    pub(crate) fn salt(&self) -> &[u8] {
        let k = self.suite.master_key_len();
        &self.bytes[k..k + self.suite.master_salt_len()]
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl PartialEq for MasterKey {
    /// Constant-time in the key octets (the suite is public).
    fn eq(&self, other: &MasterKey) -> bool {
        let diff = self.bytes.iter().zip(other.bytes.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        self.suite == other.suite && std::hint::black_box(diff) == 0
    }
}

impl Eq for MasterKey {}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("suite", &self.suite).field("key", &"<redacted>").finish()
    }
}
