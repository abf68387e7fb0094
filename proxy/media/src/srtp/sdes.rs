//! SDES (RFC 4568): the value of an SDP `a=crypto:` attribute for SRTP, parsed into owned
//! values and formatted back, key generation, and choosing among offers.
//!
//! ```text
//! <tag> <crypto-suite> inline:<base64(key||salt)>[|<lifetime>][|<MKI>:<length>][;inline:…] [<session-param>…]
//! ```
//!
//! Parsing accepts what RFC 4568 §9.2 allows for the suites in [`Suite`], including several
//! key-params and any session parameter; whether the result can be *used* is a separate
//! question ([`CryptoAttribute::check_usable`]), so an answerer can tell "malformed" from
//! "well-formed but asks for something we refuse". Not done here: the `a=crypto:` prefix and
//! the SDP line around it (the SDP module's job), key methods other than `inline`, and the
//! offer/answer state (which tag was answered belongs to the call layer).

use super::context::MAX_MKI;
use super::key::{MAX_KEY_SALT, MasterKey};
use super::{SrtpError, Suite};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand_core::CryptoRng;
use std::fmt::{self, Write as _};

/// Standard alphabet; writes padding, accepts input with or without it (both occur in the
/// wild); refuses non-canonical trailing bits.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Largest tag: `1*9DIGIT`.
const MAX_TAG: u32 = 999_999_999;

/// Why an `a=crypto` value was not parsed or cannot be used. Never carries input text: the
/// value holds a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdesError {
    /// A required field is missing (tag, crypto-suite or key-params).
    #[error("a=crypto: missing {field}")]
    MissingField {
        /// Which field.
        field: &'static str,
    },
    /// The tag is not 1 to 9 decimal digits.
    #[error("a=crypto: tag is not 1 to 9 digits")]
    BadTag,
    /// A crypto-suite this implementation does not know; an answerer skips the offer.
    #[error("a=crypto: unknown crypto-suite")]
    UnknownSuite,
    /// A key method other than `inline`.
    #[error("a=crypto: key method is not inline")]
    UnsupportedKeyMethod,
    /// The key-salt is not valid base64.
    #[error("a=crypto: key-salt is not valid base64")]
    BadBase64,
    /// The key-salt decodes to the wrong number of octets for the suite.
    #[error("a=crypto: key-salt of {got} octets, the suite needs {expected}")]
    KeyLength {
        /// Octets the suite needs (key + salt).
        expected: usize,
        /// Octets decoded.
        got: usize,
    },
    /// The lifetime is not `[2^]digits` within range.
    #[error("a=crypto: malformed lifetime")]
    BadLifetime,
    /// The MKI is not `value:length` with a length of 1 to 128 octets that holds the value.
    #[error("a=crypto: malformed MKI")]
    BadMki,
    /// Several key-params, but not every one has an MKI of the same length (RFC 4568 §6.1).
    #[error("a=crypto: MKIs missing or of different lengths across key-params")]
    MkiInconsistent,
    /// Text after the key-info, or an empty key-param.
    #[error("a=crypto: malformed key-params")]
    BadKeyParams,
    /// A known session parameter with a malformed value.
    #[error("a=crypto: malformed session parameter")]
    BadSessionParam,
    /// A session parameter that is understood but refused: KDR (key derivation rate),
    /// UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP, or an unknown mandatory one
    /// (RFC 4568 §6.3.7: one not starting with `-`).
    #[error("a=crypto: session parameter {name} is not supported")]
    UnsupportedSessionParam {
        /// The parameter's registered name, or "unknown".
        name: &'static str,
    },
    /// The key belongs to another suite than the attribute.
    #[error("a=crypto: key is for another crypto-suite")]
    SuiteMismatch,
}

/// The key lifetime: how many SRTP (or SRTCP) packets the master key may protect. Kept in the
/// form it was written in so formatting gives back the same text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// `2^n`, n at most 48 (RFC 3711 §9.2's SRTP maximum).
    PowerOfTwo(u8),
    /// A plain decimal count.
    Packets(u64),
}

impl Lifetime {
    /// The number of packets.
    pub fn packets(self) -> u64 {
        match self {
            Lifetime::PowerOfTwo(n) => 1u64 << n.min(48),
            Lifetime::Packets(n) => n,
        }
    }
}

/// A master key identifier: a value written big-endian into `len` octets of every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mki {
    value: u64,
    len: u8,
}

impl Mki {
    /// An MKI of `len` octets (1 to 128) holding `value`.
    ///
    /// # Errors
    /// [`SdesError::BadMki`] if the length is out of range or too short for the value.
    pub fn new(value: u64, len: usize) -> Result<Mki, SdesError> {
        if !(1..=MAX_MKI).contains(&len) {
            return Err(SdesError::BadMki);
        }
        let needed = (64 - value.leading_zeros()).div_ceil(8) as usize;
        if needed > len {
            return Err(SdesError::BadMki);
        }
        Ok(Mki { value, len: len as u8 })
    }

    /// The value.
    pub fn value(self) -> u64 {
        self.value
    }

    /// The length in octets.
    pub fn len(self) -> usize {
        usize::from(self.len)
    }

    /// Whether the MKI has no octets (never, by construction; for the `len` convention).
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Writes the MKI octets into the front of `out`, returns how many.
    pub(crate) fn write(self, out: &mut [u8; MAX_MKI]) -> usize {
        let n = self.len();
        out[..n].fill(0);
        let be = self.value.to_be_bytes();
        let k = n.min(8);
        out[n - k..n].copy_from_slice(&be[8 - k..]);
        n
    }
}

/// One `inline:` key-param: master key and salt, optional lifetime and MKI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyParam {
    /// Master key and salt (redacted in `Debug`).
    pub key: MasterKey,
    /// Optional lifetime.
    pub lifetime: Option<Lifetime>,
    /// Optional MKI.
    pub mki: Option<Mki>,
}

/// FEC order (RFC 4568 §6.3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FecOrder {
    /// `FEC_SRTP`: FEC applied before SRTP processing at the sender.
    FecSrtp,
    /// `SRTP_FEC`: SRTP processing first (the default).
    SrtpFec,
}

/// A session parameter (RFC 4568 §6.3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionParam {
    /// `KDR=n`: re-derive session keys every 2^n packets (0 to 24). Not supported.
    Kdr(u8),
    /// `UNENCRYPTED_SRTP`. Refused.
    UnencryptedSrtp,
    /// `UNENCRYPTED_SRTCP`. Refused.
    UnencryptedSrtcp,
    /// `UNAUTHENTICATED_SRTP`. Refused.
    UnauthenticatedSrtp,
    /// `FEC_ORDER=…`. Accepted and ignored (no FEC here).
    FecOrder(FecOrder),
    /// `FEC_KEY=…`: separate keys for FEC. Accepted and ignored (no FEC here); the keys are
    /// redacted like any other.
    FecKey(Vec<KeyParam>),
    /// `WSH=n`: window size hint (at least 64). Accepted; the window is [`super::REPLAY_WINDOW`].
    Wsh(u32),
    /// Any other parameter, verbatim. Usable only if it starts with `-` (optional, §6.3.7).
    Extension(String),
}

/// The value of one `a=crypto:` attribute.
///
/// `Debug` prints the tag and suite only. The SDP text, which contains the key, comes only
/// from [`CryptoAttribute::to_sdp_value`].
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    tag: u32,
    suite: Suite,
    keys: Vec<KeyParam>,
    session_params: Vec<SessionParam>,
}

impl CryptoAttribute {
    /// An attribute with one key and no session parameters.
    ///
    /// # Errors
    /// [`SdesError::BadTag`] above 999 999 999.
    pub fn new(tag: u32, key: KeyParam) -> Result<CryptoAttribute, SdesError> {
        if tag > MAX_TAG {
            return Err(SdesError::BadTag);
        }
        Ok(CryptoAttribute { tag, suite: key.key.suite(), keys: vec![key], session_params: Vec::new() })
    }

    /// A fresh attribute for an offer or an answer: a random key for `suite`, no lifetime, no
    /// MKI, no session parameters. An answer reuses the tag and suite of the offer it accepts.
    ///
    /// # Errors
    /// [`SdesError::BadTag`] above 999 999 999.
    pub fn generate<R: CryptoRng + ?Sized>(
        tag: u32,
        suite: Suite,
        rng: &mut R,
    ) -> Result<CryptoAttribute, SdesError> {
        CryptoAttribute::new(
            tag,
            KeyParam { key: MasterKey::generate(suite, rng), lifetime: None, mki: None },
        )
    }

    /// Adds another key-param (all must then carry MKIs of one length).
    ///
    /// # Errors
    /// [`SdesError::SuiteMismatch`] for a key of another suite, [`SdesError::MkiInconsistent`].
    pub fn push_key(&mut self, key: KeyParam) -> Result<(), SdesError> {
        if key.key.suite() != self.suite {
            return Err(SdesError::SuiteMismatch);
        }
        self.keys.push(key);
        let r = check_mkis(&self.keys);
        if r.is_err() {
            self.keys.pop();
        }
        r
    }

    /// Adds a session parameter.
    pub fn push_session_param(&mut self, param: SessionParam) {
        self.session_params.push(param);
    }

    /// The tag an answer must echo.
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// The crypto-suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The key-params, at least one.
    pub fn keys(&self) -> &[KeyParam] {
        &self.keys
    }

    /// The session parameters, in order.
    pub fn session_params(&self) -> &[SessionParam] {
        &self.session_params
    }

    /// Whether an [`super::SrtpContext`] can run this attribute: refuses KDR, the three
    /// UNENCRYPTED/UNAUTHENTICATED parameters and unknown mandatory parameters; ignores FEC
    /// parameters, WSH and optional (`-`) extensions.
    ///
    /// # Errors
    /// [`SdesError::UnsupportedSessionParam`] naming the first refused parameter.
    pub fn check_usable(&self) -> Result<(), SdesError> {
        for p in &self.session_params {
            let name = match p {
                SessionParam::Kdr(_) => "KDR",
                SessionParam::UnencryptedSrtp => "UNENCRYPTED_SRTP",
                SessionParam::UnencryptedSrtcp => "UNENCRYPTED_SRTCP",
                SessionParam::UnauthenticatedSrtp => "UNAUTHENTICATED_SRTP",
                SessionParam::Extension(e) if !e.starts_with('-') => "unknown",
                _ => continue,
            };
            return Err(SdesError::UnsupportedSessionParam { name });
        }
        Ok(())
    }

    /// Parses the value of `a=crypto:` (without the `a=crypto:` prefix; surrounding
    /// whitespace and a trailing CR are ignored).
    ///
    /// # Errors
    /// An [`SdesError`] naming the first problem; none carries input text.
    pub fn parse(value: &str) -> Result<CryptoAttribute, SdesError> {
        let mut fields = value.split([' ', '\t', '\r', '\n']).filter(|f| !f.is_empty());
        let tag = fields.next().ok_or(SdesError::MissingField { field: "tag" })?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SdesError::BadTag);
        }
        let tag: u32 = tag.parse().map_err(|_| SdesError::BadTag)?;
        let suite = fields.next().ok_or(SdesError::MissingField { field: "crypto-suite" })?;
        let suite = Suite::from_sdes_name(suite).ok_or(SdesError::UnknownSuite)?;
        let key_params = fields.next().ok_or(SdesError::MissingField { field: "key-params" })?;
        let keys = parse_key_params(suite, key_params)?;
        let session_params = fields.map(|f| parse_session_param(suite, f)).collect::<Result<Vec<_>, _>>()?;
        Ok(CryptoAttribute { tag, suite, keys, session_params })
    }

    /// The value for `a=crypto:`, key included: this is the one place that turns key material
    /// into text, for the SDP body and nothing else (never a log).
    pub fn to_sdp_value(&self) -> String {
        let mut s = String::with_capacity(96);
        let _ = write!(s, "{} {} ", self.tag, self.suite.sdes_name());
        write_key_params(&mut s, &self.keys);
        for p in &self.session_params {
            s.push(' ');
            match p {
                SessionParam::Kdr(n) => {
                    let _ = write!(s, "KDR={n}");
                }
                SessionParam::UnencryptedSrtp => s.push_str("UNENCRYPTED_SRTP"),
                SessionParam::UnencryptedSrtcp => s.push_str("UNENCRYPTED_SRTCP"),
                SessionParam::UnauthenticatedSrtp => s.push_str("UNAUTHENTICATED_SRTP"),
                SessionParam::FecOrder(FecOrder::FecSrtp) => s.push_str("FEC_ORDER=FEC_SRTP"),
                SessionParam::FecOrder(FecOrder::SrtpFec) => s.push_str("FEC_ORDER=SRTP_FEC"),
                SessionParam::FecKey(keys) => {
                    s.push_str("FEC_KEY=");
                    write_key_params(&mut s, keys);
                }
                SessionParam::Wsh(n) => {
                    let _ = write!(s, "WSH={n}");
                }
                SessionParam::Extension(e) => s.push_str(e),
            }
        }
        s
    }
}

impl fmt::Debug for CryptoAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoAttribute")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Picks the offer to answer: parses each `a=crypto` value, skips what does not parse or is
/// not usable, and returns the offer whose suite comes first in `preference` (local policy
/// decides, e.g. 80-bit tags before 32-bit); among offers of that suite, the first offered.
/// `None` when nothing is acceptable: answer without SRTP or reject the stream.
pub fn choose<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    preference: &[Suite],
) -> Option<CryptoAttribute> {
    let mut best: Option<(usize, CryptoAttribute)> = None;
    for offer in offers {
        let Ok(attr) = CryptoAttribute::parse(offer) else { continue };
        if attr.check_usable().is_err() {
            continue;
        }
        let Some(rank) = preference.iter().position(|s| *s == attr.suite) else { continue };
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((rank, attr));
        }
    }
    best.map(|(_, a)| a)
}

fn write_key_params(s: &mut String, keys: &[KeyParam]) {
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(';');
        }
        s.push_str("inline:");
        let mut b64 = [0u8; 64];
        let n = BASE64.encode_slice(k.key.expose_key_salt(), &mut b64).unwrap_or(0);
        // Base64 output is ASCII.
        s.extend(b64[..n].iter().map(|&b| char::from(b)));
        zeroize::Zeroize::zeroize(&mut b64);
        match k.lifetime {
            Some(Lifetime::PowerOfTwo(n)) => {
                let _ = write!(s, "|2^{n}");
            }
            Some(Lifetime::Packets(n)) => {
                let _ = write!(s, "|{n}");
            }
            None => {}
        }
        if let Some(m) = k.mki {
            let _ = write!(s, "|{}:{}", m.value, m.len);
        }
    }
}

fn parse_key_params(suite: Suite, text: &str) -> Result<Vec<KeyParam>, SdesError> {
    let keys = text.split(';').map(|kp| parse_key_param(suite, kp)).collect::<Result<Vec<_>, _>>()?;
    check_mkis(&keys)?;
    Ok(keys)
}

/// RFC 4568 §6.1: with several keys, every key-param carries an MKI, all of one length.
fn check_mkis(keys: &[KeyParam]) -> Result<(), SdesError> {
    let first = keys.first().map(|k| k.mki.map(Mki::len));
    let all_same = keys.iter().all(|k| Some(k.mki.map(Mki::len)) == first);
    if !all_same || (keys.len() > 1 && first == Some(None)) {
        return Err(SdesError::MkiInconsistent);
    }
    Ok(())
}

fn parse_key_param(suite: Suite, text: &str) -> Result<KeyParam, SdesError> {
    let info = match text.split_once(':') {
        Some(("inline", info)) => info,
        Some(_) => return Err(SdesError::UnsupportedKeyMethod),
        None => return Err(SdesError::BadKeyParams),
    };
    let mut parts = info.split('|');
    let key_salt = parts.next().unwrap_or_default();
    let expected = suite.master_key_len() + suite.master_salt_len();
    // Decode into a fixed buffer (zeroized below) so no heap copy of the key is left behind.
    let mut raw = zeroize::Zeroizing::new([0u8; MAX_KEY_SALT + 3]);
    if key_salt.len() > 4 * (MAX_KEY_SALT + 3) / 3 {
        return Err(SdesError::KeyLength { expected, got: key_salt.len() * 3 / 4 });
    }
    let got = BASE64.decode_slice(key_salt, &mut raw[..]).map_err(|_| SdesError::BadBase64)?;
    let key = MasterKey::from_key_salt(suite, &raw[..got]).map_err(|e| match e {
        SrtpError::KeyLength { expected, got, .. } => SdesError::KeyLength { expected, got },
        _ => SdesError::BadKeyParams,
    })?;
    let (mut lifetime, mut mki) = (None, None);
    for part in parts {
        if let Some((v, l)) = part.split_once(':') {
            if mki.is_some() {
                return Err(SdesError::BadKeyParams);
            }
            mki = Some(parse_mki(v, l)?);
        } else {
            if lifetime.is_some() || mki.is_some() {
                return Err(SdesError::BadKeyParams);
            }
            lifetime = Some(parse_lifetime(part)?);
        }
    }
    Ok(KeyParam { key, lifetime, mki })
}

fn digits(s: &str, max_len: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_lifetime(s: &str) -> Result<Lifetime, SdesError> {
    if let Some(exp) = s.strip_prefix("2^") {
        let n = digits(exp, 2).ok_or(SdesError::BadLifetime)?;
        if n > 48 {
            return Err(SdesError::BadLifetime);
        }
        Ok(Lifetime::PowerOfTwo(n as u8))
    } else {
        // Plain counts beyond 2^48 are meaningless (RFC 3711 §9.2) but harmless; cap the
        // text at 19 digits so the value fits.
        digits(s, 19).map(Lifetime::Packets).ok_or(SdesError::BadLifetime)
    }
}

fn parse_mki(value: &str, len: &str) -> Result<Mki, SdesError> {
    let value = digits(value, 19).ok_or(SdesError::BadMki)?;
    let len = digits(len, 3).ok_or(SdesError::BadMki)?;
    Mki::new(value, len as usize)
}

fn parse_session_param(suite: Suite, f: &str) -> Result<SessionParam, SdesError> {
    let (name, value) = match f.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (f, None),
    };
    Ok(match (name, value) {
        ("KDR", Some(v)) => {
            let n = digits(v, 2).filter(|n| *n <= 24).ok_or(SdesError::BadSessionParam)?;
            SessionParam::Kdr(n as u8)
        }
        ("UNENCRYPTED_SRTP", None) => SessionParam::UnencryptedSrtp,
        ("UNENCRYPTED_SRTCP", None) => SessionParam::UnencryptedSrtcp,
        ("UNAUTHENTICATED_SRTP", None) => SessionParam::UnauthenticatedSrtp,
        ("FEC_ORDER", Some("FEC_SRTP")) => SessionParam::FecOrder(FecOrder::FecSrtp),
        ("FEC_ORDER", Some("SRTP_FEC")) => SessionParam::FecOrder(FecOrder::SrtpFec),
        ("FEC_KEY", Some(v)) => SessionParam::FecKey(parse_key_params(suite, v)?),
        ("WSH", Some(v)) => {
            let n = digits(v, 9).filter(|n| *n >= 64).ok_or(SdesError::BadSessionParam)?;
            SessionParam::Wsh(n as u32)
        }
        (
            "KDR"
            | "UNENCRYPTED_SRTP"
            | "UNENCRYPTED_SRTCP"
            | "UNAUTHENTICATED_SRTP"
            | "FEC_ORDER"
            | "FEC_KEY"
            | "WSH",
            _,
        ) => return Err(SdesError::BadSessionParam),
        _ => {
            // srtp-session-extension = ["-"] 1*(VCHAR)
            if !f.bytes().all(|b| b.is_ascii_graphic()) || f == "-" {
                return Err(SdesError::BadSessionParam);
            }
            SessionParam::Extension(f.to_owned())
        }
    })
}
