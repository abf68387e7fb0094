//! Recording keys: 32 bytes from a key file, known by an id derived from them, held in a ring so
//! that recordings made before a key rotation still open.
//!
//! A key never appears in `Debug`, `Display` or an error, and is zeroed when dropped. Parsing
//! takes the file's bytes (reading the file is the caller's job, as everywhere in this crate).

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Bytes in a recording key (AES-256).
pub const KEY_LEN: usize = 32;

/// Domain separation for the key id: the id is a hash of the key under this label, so it says
/// nothing usable about the key and cannot collide with any other hash Tonewall makes of it.
const KEY_ID_LABEL: &[u8] = b"tonewall recording key id v1\0";

/// Which key a recording was encrypted with: the first 8 bytes of SHA-256 over a label and the
/// key. Public (it is in every recording's header and printed by `keygen`), and stable, so a
/// key ring can pick the right key after a rotation without trying them all.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a key file's contents are not a key. No variant carries any of the file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Nothing but whitespace.
    #[error("the key file is empty")]
    Empty,
    /// More than one line, or characters that are neither hex nor base64.
    #[error("not a recording key: expected one line of 64 hex digits or 44 base64 characters")]
    Format,
    /// Well-formed hex or base64, but not 32 bytes.
    #[error("the key is {0} bytes long; recording keys are {KEY_LEN} bytes (AES-256)")]
    Length(usize),
}

/// An AES-256 key for recordings. Zeroed on drop; `Debug` shows only its id.
pub struct RecordingKey {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

impl RecordingKey {
    /// A key from its bytes (the caller zeroes its own copy).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(bytes);
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        RecordingKey { bytes, id: KeyId(id) }
    }

    /// Parses a key file's contents: one line of 64 hex digits, or standard base64 (padded or
    /// not) of 32 bytes; surrounding whitespace (a trailing newline) is ignored.
    pub fn parse(text: &[u8]) -> Result<Self, KeyError> {
        let text = text.trim_ascii();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if text.iter().any(|b| !b.is_ascii_graphic()) {
            return Err(KeyError::Format);
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if text.len().is_multiple_of(2) && text.iter().all(u8::is_ascii_hexdigit) {
            if text.len() != 2 * KEY_LEN {
                return Err(KeyError::Length(text.len() / 2));
            }
            for (k, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
                *k = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
            }
        } else {
            let engine = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
            );
            // Room for twice a key: anything longer is refused as malformed, not decoded.
            let mut scratch = Zeroizing::new([0u8; 2 * KEY_LEN]);
            let n = engine.decode_slice(text, &mut scratch[..]).map_err(|_| KeyError::Format)?;
            if n != KEY_LEN {
                return Err(KeyError::Length(n));
            }
            key.copy_from_slice(&scratch[..KEY_LEN]);
        }
        Ok(RecordingKey::from_bytes(*key))
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key as a key file's line (64 lower-case hex digits and a newline), zeroed on drop:
    /// what `tonewall recording keygen` writes.
    pub fn to_key_file(&self) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = Zeroizing::new(String::with_capacity(2 * KEY_LEN + 1));
        for b in self.bytes {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        s.push('\n');
        s
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

impl Drop for RecordingKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for RecordingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordingKey {{ id: {}, key: <redacted> }}", self.id)
    }
}

/// The keys a reader may use, found by id: the current key and those it replaced.
#[derive(Default)]
pub struct KeyRing {
    keys: Vec<RecordingKey>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// Adds a key; a key already there (same id) is not added twice. Returns whether it was new.
    pub fn insert(&mut self, key: RecordingKey) -> bool {
        if self.get(key.id()).is_some() {
            return false;
        }
        self.keys.push(key);
        true
    }

    /// The key with this id.
    pub fn get(&self, id: KeyId) -> Option<&RecordingKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The ids of the keys held, in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl From<RecordingKey> for KeyRing {
    fn from(key: RecordingKey) -> Self {
        KeyRing { keys: vec![key] }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("ids", &self.keys.iter().map(|k| k.id).collect::<Vec<_>>()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn sample() -> [u8; KEY_LEN] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn hex_and_base64_give_the_same_key_and_id() {
        let want = RecordingKey::from_bytes(sample());
        let mut buf = [0u8; 44];
        let n = base64::engine::general_purpose::STANDARD.encode_slice(sample(), &mut buf).expect("fits");
        let b64 = std::str::from_utf8(&buf[..n]).expect("ascii").to_string();
        let b64_unpadded = b64.trim_end_matches('=').to_string();
        for text in [
            format!("{HEX}\n"),
            HEX.to_uppercase(),
            format!("  {b64}\r\n"),
            b64_unpadded,
            want.to_key_file().to_string(),
        ] {
            let k = RecordingKey::parse(text.as_bytes()).expect("a valid key file");
            assert_eq!(k.bytes(), want.bytes());
            assert_eq!(k.id(), want.id());
        }
        // The id is a stable function of the key: SHA-256("tonewall recording key id v1\0" ‖ key),
        // first 8 bytes (computed independently with Python's hashlib).
        assert_eq!(want.id().to_string(), "f916e4b96529b4c3");
        assert_ne!(RecordingKey::from_bytes([0; KEY_LEN]).id(), want.id());
    }

    #[test]
    fn malformed_key_files_are_refused_without_echoing_them() {
        let cases: [(&str, KeyError); 8] = [
            ("", KeyError::Empty),
            (" \n\t", KeyError::Empty),
            (&HEX[..62], KeyError::Length(31)),
            ("00", KeyError::Length(1)),
            ("QUJD", KeyError::Length(3)),
            ("0001020304050607080910111213141516171819202122232425262728293031\n00", KeyError::Format),
            ("zz?!zz", KeyError::Format),
            ("00010203040506070809101112131415161718192021222324252627282930313233", KeyError::Length(34)),
        ];
        for (text, want) in cases {
            let got = RecordingKey::parse(text.as_bytes()).map(|k| k.id());
            assert_eq!(got, Err(want), "{text:?}");
            let msg = want.to_string();
            assert!(text.trim().len() < 4 || !msg.contains(text.trim()), "{msg}");
        }
    }

    #[test]
    fn debug_shows_the_id_never_the_key() {
        let k = RecordingKey::from_bytes([0xA5; KEY_LEN]);
        let dbg = format!("{k:?} {:?}", KeyRing::from(RecordingKey::from_bytes([0xA5; KEY_LEN])));
        assert!(dbg.contains(&k.id().to_string()), "{dbg}");
        assert!(!dbg.to_lowercase().contains("a5a5") && !dbg.contains("165"), "{dbg}");
    }

    #[test]
    fn ring_picks_by_id_and_ignores_repeats() {
        let mut ring = KeyRing::new();
        assert!(ring.insert(RecordingKey::from_bytes([1; KEY_LEN])));
        assert!(ring.insert(RecordingKey::from_bytes([2; KEY_LEN])));
        assert!(!ring.insert(RecordingKey::from_bytes([1; KEY_LEN])));
        assert_eq!(ring.len(), 2);
        let id2 = RecordingKey::from_bytes([2; KEY_LEN]).id();
        assert_eq!(ring.get(id2).map(|k| k.bytes()[0]), Some(2));
        assert!(ring.get(KeyId([0; 8])).is_none());
    }
}
