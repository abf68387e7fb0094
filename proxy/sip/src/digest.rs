//! HTTP Digest authentication as SIP uses it (RFC 3261 §22, with the algorithm rules of RFC 7616
//! and SHA-256 for SIP from RFC 8760), for both sides of a request.
//!
//! ```text
//!  server: challenge()/challenges() ─► 401/407 ─► Authorization::parse ─► verify ─► Verdict
//!  client: 401/407 header value ─► respond ─► Authorization header value
//! ```
//!
//! The functions take and return header *values* (`Digest realm="…", …`), so they work with any
//! message type. Nonces are stateless: [`NonceSource`] signs the issue time with a server secret,
//! so a nonce needs no table and a forged one is recognised, but a valid nonce could be
//! replayed until it goes stale: this module does not track nonce counts, the caller does (the
//! B2BUA keeps the highest count answered per nonce for the nonce's lifetime).
//!
//! What it does not do: the `-sess` algorithms, `qop=auth-int`, `userhash` and `username*`
//! (RFC 7616), the `Authentication-Info` header, or comparing the `uri` parameter with the
//! Request-URI — the caller checks that one (RFC 3261 §22.4 leaves it to the server), as it
//! picks the credentials by username and realm before calling [`verify`].

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Errors from parsing digest header values and from building credentials or responses.
///
/// The caller answers any of them on the server side with a fresh challenge (401/407).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header value's scheme is not `Digest`.
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The parameter list is malformed at this byte offset of the header value.
    #[error("malformed digest parameters at byte {offset}")]
    Syntax {
        /// Byte offset into the header value.
        offset: usize,
    },
    /// A parameter appears twice (RFC 7616 §3.4 allows each once).
    #[error("duplicate digest parameter")]
    DuplicateParam,
    /// More parameters than any legitimate header carries.
    #[error("too many digest parameters")]
    TooManyParams,
    /// A required parameter is absent.
    #[error("missing digest parameter {0}")]
    MissingParam(&'static str),
    /// The algorithm is unknown or a `-sess` variant, which this implementation does not offer.
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// The qop is not `auth` (`auth-int` is not supported).
    #[error("unsupported digest qop")]
    UnsupportedQop,
    /// `nc` is not eight hexadecimal digits.
    #[error("malformed nonce count")]
    BadNonceCount,
    /// `response` is not lowercase-or-uppercase hex of the algorithm's length.
    #[error("malformed digest response")]
    BadResponse,
    /// A stored HA1 is not hex of the algorithm's length.
    #[error("malformed HA1")]
    BadHa1,
    /// Credentials were built with no HA1 at all.
    #[error("credentials need at least one HA1")]
    NoHa1,
    /// The challenge's realm is not the one the credentials were made for.
    #[error("challenge realm does not match the credentials")]
    RealmMismatch,
    /// The credentials hold no HA1 for the algorithm the challenge asks for.
    #[error("no credentials for this digest algorithm")]
    NoCredentialsForAlgorithm,
}

/// The digest hash function. MD5 is what most SIP agents support; SHA-256 is RFC 8760's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when a header names no algorithm (RFC 7616 §3.3).
    Md5,
    /// `SHA-256`.
    Sha256,
}

impl Algorithm {
    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    /// Case-insensitive; `-sess` variants are rejected because their HA1 depends on the client
    /// nonce, which stateless nonces cannot keep.
    fn from_str(s: &str) -> Result<Self, DigestError> {
        if s.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else {
            Err(DigestError::UnsupportedAlgorithm)
        }
    }
}

/// The quality of protection. Only `auth` is supported; its absence means RFC 2069 mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Qop {
    /// `auth`: the response covers the nonce count and a client nonce.
    Auth,
}

/// A hex digest on the stack, zeroized on drop because an HA1 in hex is as good as a password.
struct Hex {
    buf: [u8; 64],
    len: usize,
}

impl Hex {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex digits are ASCII")
    }

    fn encode(bytes: &[u8]) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = Hex { buf: [0; 64], len: bytes.len() * 2 };
        for (i, b) in bytes.iter().enumerate() {
            hex.buf[2 * i] = DIGITS[usize::from(b >> 4)];
            hex.buf[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        hex
    }
}

impl Drop for Hex {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// `H(p1:p2:…)` in lowercase hex (RFC 7616 §3.4.1).
fn h(algorithm: Algorithm, parts: &[&[u8]]) -> Hex {
    fn run<D: Digest>(parts: &[&[u8]]) -> Hex {
        let mut d = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                d.update(b":");
            }
            d.update(p);
        }
        let mut out = d.finalize();
        let hex = Hex::encode(&out);
        out.zeroize();
        hex
    }
    match algorithm {
        Algorithm::Md5 => run::<Md5>(parts),
        Algorithm::Sha256 => run::<Sha256>(parts),
    }
}

fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Compares a computed lowercase hex digest with a received one (of either case) in time that
/// depends only on the length, so the comparison leaks nothing about the expected value.
fn ct_eq_hex(expected: &[u8], received: &[u8]) -> bool {
    if expected.len() != received.len() {
        return false;
    }
    let diff = expected.iter().zip(received).fold(0u8, |acc, (e, r)| acc | (e ^ r.to_ascii_lowercase()));
    std::hint::black_box(diff) == 0
}

/// A user's digest secret: HA1 = H(user:realm:password) for each algorithm, never the password.
///
/// `Debug` shows the user and realm only; the HA1 bytes are zeroized on drop.
pub struct Credentials {
    user: String,
    realm: String,
    md5: Option<[u8; 16]>,
    sha256: Option<[u8; 32]>,
}

impl Credentials {
    /// Hashes a password into both HA1s; the password is not kept.
    pub fn from_password(user: &str, realm: &str, password: &str) -> Credentials {
        let parts: [&[u8]; 3] = [user.as_bytes(), realm.as_bytes(), password.as_bytes()];
        let md5 = decode_hex(h(Algorithm::Md5, &parts).as_str());
        let sha256 = decode_hex(h(Algorithm::Sha256, &parts).as_str());
        Credentials { user: user.to_owned(), realm: realm.to_owned(), md5, sha256 }
    }

    /// Credentials from stored HA1s in hex (what a user database keeps instead of passwords).
    /// At least one is needed; a user with only an MD5 HA1 can only answer MD5 challenges.
    pub fn from_ha1(
        user: &str,
        realm: &str,
        md5_hex: Option<&str>,
        sha256_hex: Option<&str>,
    ) -> Result<Credentials, DigestError> {
        if md5_hex.is_none() && sha256_hex.is_none() {
            return Err(DigestError::NoHa1);
        }
        let md5 = md5_hex.map(|s| decode_hex(s).ok_or(DigestError::BadHa1)).transpose()?;
        let sha256 = sha256_hex.map(|s| decode_hex(s).ok_or(DigestError::BadHa1)).transpose()?;
        Ok(Credentials { user: user.to_owned(), realm: realm.to_owned(), md5, sha256 })
    }

    /// The username these credentials belong to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The realm the HA1s were computed for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Whether these credentials can verify an answer to an `algorithm` challenge (a user
    /// stored with an MD5 HA1 only cannot answer SHA-256).
    pub fn supports(&self, algorithm: Algorithm) -> bool {
        match algorithm {
            Algorithm::Md5 => self.md5.is_some(),
            Algorithm::Sha256 => self.sha256.is_some(),
        }
    }

    fn ha1(&self, algorithm: Algorithm) -> Option<Hex> {
        match algorithm {
            Algorithm::Md5 => self.md5.as_ref().map(|b| Hex::encode(b)),
            Algorithm::Sha256 => self.sha256.as_ref().map(|b| Hex::encode(b)),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        self.md5.zeroize();
        self.sha256.zeroize();
    }
}

/// The request digest (RFC 7616 §3.4.1): `H(HA1:nonce:nc:cnonce:qop:H(method:uri))` with
/// `qop=auth`, `H(HA1:nonce:H(method:uri))` without (RFC 2069).
fn request_digest(
    algorithm: Algorithm,
    ha1: &Hex,
    nonce: &str,
    qop: Option<(&str, &str)>,
    method: &str,
    uri: &str,
) -> Hex {
    let ha2 = h(algorithm, &[method.as_bytes(), uri.as_bytes()]);
    match qop {
        Some((nc, cnonce)) => h(
            algorithm,
            &[ha1.as_bytes(), nonce.as_bytes(), nc.as_bytes(), cnonce.as_bytes(), b"auth", ha2.as_bytes()],
        ),
        None => h(algorithm, &[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// What [`NonceSource::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Issued by this source and younger than the lifetime.
    Valid,
    /// Issued by this source but too old (or from another clock epoch): challenge with `stale=true`.
    Stale,
    /// Not issued by this source (wrong signature or shape).
    Forged,
}

/// Issues and checks stateless nonces: hex of issue time (ms, 8 bytes) ‖ salt (8) ‖ the first
/// 16 bytes of HMAC-SHA-256(secret, time ‖ salt).
///
/// Every node sharing the secret accepts the others' nonces, so a fleet needs no shared state.
/// The I/O layer supplies the secret and the per-nonce salt from its random source.
pub struct NonceSource {
    mac: Hmac<Sha256>,
    lifetime: Duration,
}

const NONCE_BYTES: usize = 32;
const TAG_BYTES: usize = 16;

impl NonceSource {
    /// Nonces live five minutes unless [`NonceSource::with_lifetime`] says otherwise.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

    /// A source keyed by a secret (zeroized by the HMAC state when dropped).
    pub fn new(mut secret: [u8; 32]) -> NonceSource {
        let mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes keys of any length");
        secret.zeroize();
        NonceSource { mac, lifetime: Self::DEFAULT_LIFETIME }
    }

    /// Sets how long a nonce stays valid.
    pub fn with_lifetime(mut self, lifetime: Duration) -> NonceSource {
        self.lifetime = lifetime;
        self
    }

    /// A nonce issued at `now`; `salt` makes nonces issued in the same millisecond differ.
    pub fn nonce(&self, now: Duration, salt: [u8; 8]) -> String {
        let mut raw = [0u8; NONCE_BYTES];
        let issued = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        raw[..8].copy_from_slice(&issued.to_be_bytes());
        raw[8..16].copy_from_slice(&salt);
        let tag = self.mac.clone().chain_update(&raw[..16]).finalize().into_bytes();
        raw[16..].copy_from_slice(&tag[..TAG_BYTES]);
        Hex::encode(&raw).as_str().to_owned()
    }

    /// The salt a nonce was issued with (unchecked: call [`NonceSource::check`] too). A caller
    /// that salts each nonce with something of the client's (its address) can tell a nonce
    /// fetched by someone else.
    pub fn salt_of(nonce: &str) -> Option<[u8; 8]> {
        let raw = decode_hex::<NONCE_BYTES>(nonce)?;
        raw[8..16].try_into().ok()
    }

    /// Whether `nonce` was issued by this source, and whether it is still fresh at `now`.
    pub fn check(&self, nonce: &str, now: Duration) -> NonceStatus {
        let Some(raw) = decode_hex::<NONCE_BYTES>(nonce) else {
            return NonceStatus::Forged;
        };
        if self.mac.clone().chain_update(&raw[..16]).verify_truncated_left(&raw[16..]).is_err() {
            return NonceStatus::Forged;
        }
        let issued = Duration::from_millis(u64::from_be_bytes(raw[..8].try_into().expect("8 bytes")));
        match now.checked_sub(issued) {
            Some(age) if age <= self.lifetime => NonceStatus::Valid,
            _ => NonceStatus::Stale,
        }
    }
}

impl fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSource").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

/// ASCII control characters other than tab: never inside a quoted value, so a value can never
/// end a header line early (header injection) however it was obtained.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Appends `s` as a quoted-string, escaping `"` and `\` (RFC 3261 §25.1) and dropping control
/// characters (which [`parse_params`] refuses, so nothing from the wire is altered).
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars().filter(|c| !u8::try_from(*c).is_ok_and(is_ctl)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` header value offering `qop="auth"`.
/// Set `stale` when the last request had a valid response for a stale nonce, so the client
/// retries without asking its user again (RFC 7616 §3.3).
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut out = String::with_capacity(64 + realm.len() + nonce.len());
    out.push_str("Digest realm=");
    push_quoted(&mut out, realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, nonce);
    out.push_str(", algorithm=");
    out.push_str(algorithm.as_str());
    out.push_str(", qop=\"auth\"");
    if stale {
        out.push_str(", stale=true");
    }
    out
}

/// Both challenges in the order RFC 8760 §2.4 asks a server to send them: SHA-256, then MD5,
/// each as its own header field.
pub fn challenges(realm: &str, nonce: &str, stale: bool) -> [String; 2] {
    [challenge(realm, nonce, Algorithm::Sha256, stale), challenge(realm, nonce, Algorithm::Md5, stale)]
}

/// A bound on parameters per header: real ones carry at most a dozen.
const MAX_PARAMS: usize = 32;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Splits `Digest <params>` into (name, value) pairs, unescaping quoted strings.
///
/// Accepts tokens or quoted strings for every value, linear whitespace (folded lines included)
/// around `=` and `,`, and rejects duplicates, empty elements and trailing garbage.
fn parse_params(value: &str) -> Result<Vec<(&str, Cow<'_, str>)>, DigestError> {
    let b = value.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        i
    };
    let token_end = |mut i: usize| {
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        i
    };
    let start = skip_ws(0);
    let end = token_end(start);
    if !value[start..end].eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    if end == b.len() || !is_ws(b[end]) {
        return Err(DigestError::Syntax { offset: end });
    }
    let mut params: Vec<(&str, Cow<'_, str>)> = Vec::new();
    let mut i = skip_ws(end);
    loop {
        let name_end = token_end(i);
        if name_end == i {
            return Err(DigestError::Syntax { offset: i });
        }
        let name = &value[i..name_end];
        i = skip_ws(name_end);
        if b.get(i) != Some(&b'=') {
            return Err(DigestError::Syntax { offset: i });
        }
        i = skip_ws(i + 1);
        let param_value = if b.get(i) == Some(&b'"') {
            let (v, next) = parse_quoted(value, i + 1)?;
            i = next;
            v
        } else {
            let v_end = token_end(i);
            if v_end == i {
                return Err(DigestError::Syntax { offset: i });
            }
            let v = Cow::Borrowed(&value[i..v_end]);
            i = v_end;
            v
        };
        if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(DigestError::DuplicateParam);
        }
        if params.len() == MAX_PARAMS {
            return Err(DigestError::TooManyParams);
        }
        params.push((name, param_value));
        i = skip_ws(i);
        match b.get(i) {
            None => return Ok(params),
            Some(b',') => i = skip_ws(i + 1),
            Some(_) => return Err(DigestError::Syntax { offset: i }),
        }
    }
}

/// Reads a quoted string whose body starts at `start`; returns it unescaped and the index after
/// the closing quote. `quoted-pair` may only escape ASCII (RFC 3261 §25.1); control characters
/// are refused, escaped or not, because header unfolding has already turned folds into spaces.
fn parse_quoted(value: &str, start: usize) -> Result<(Cow<'_, str>, usize), DigestError> {
    let b = value.as_bytes();
    let mut owned: Option<String> = None;
    let mut seg = start;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let v = match owned {
                    Some(mut s) => {
                        s.push_str(&value[seg..i]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&value[start..i]),
                };
                return Ok((v, i + 1));
            }
            b'\\' => {
                let escaped = *b.get(i + 1).ok_or(DigestError::Syntax { offset: i })?;
                if !escaped.is_ascii() || is_ctl(escaped) {
                    return Err(DigestError::Syntax { offset: i + 1 });
                }
                let s = owned.get_or_insert_with(String::new);
                s.push_str(&value[seg..i]);
                s.push(char::from(escaped));
                i += 2;
                seg = i;
            }
            c if is_ctl(c) => return Err(DigestError::Syntax { offset: i }),
            _ => i += 1,
        }
    }
    Err(DigestError::Syntax { offset: start - 1 })
}

/// Takes a named parameter out of the list (names are case-insensitive).
fn take<'a>(params: &mut [(&str, Cow<'a, str>)], name: &str) -> Option<Cow<'a, str>> {
    params.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| std::mem::take(v))
}

fn parse_qop(value: &str) -> Result<Qop, DigestError> {
    if value.eq_ignore_ascii_case("auth") { Ok(Qop::Auth) } else { Err(DigestError::UnsupportedQop) }
}

/// A parsed `Authorization` / `Proxy-Authorization` header value with `Digest` credentials.
///
/// `Debug` masks `response`: it allows an offline guess of the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The username, compared exactly with the credentials' user.
    pub username: Cow<'a, str>,
    /// The realm the client answers for.
    pub realm: Cow<'a, str>,
    /// The server nonce being answered.
    pub nonce: Cow<'a, str>,
    /// The digest-uri; the caller compares it with the Request-URI.
    pub uri: Cow<'a, str>,
    /// The request digest in hex, checked against the algorithm's length when parsed.
    pub response: Cow<'a, str>,
    /// The hash function; MD5 when the header names none.
    pub algorithm: Algorithm,
    /// `Some(Qop::Auth)`, or `None` for RFC 2069 responses.
    pub qop: Option<Qop>,
    /// The nonce count, eight hex digits as sent (present exactly when `qop` is).
    pub nc: Option<Cow<'a, str>>,
    /// The client nonce (present exactly when `qop` is).
    pub cnonce: Option<Cow<'a, str>>,
    /// The opaque value echoed from the challenge, if any.
    pub opaque: Option<Cow<'a, str>>,
}

impl<'a> Authorization<'a> {
    /// Parses a header value. Unknown parameters are ignored; anything malformed is an error.
    pub fn parse(value: &'a str) -> Result<Authorization<'a>, DigestError> {
        let mut p = parse_params(value)?;
        let algorithm = take(&mut p, "algorithm").map_or(Ok(Algorithm::Md5), |a| a.parse())?;
        let qop = take(&mut p, "qop").map(|q| parse_qop(&q)).transpose()?;
        let mut required = |name| take(&mut p, name).ok_or(DigestError::MissingParam(name));
        let (username, realm, nonce, uri, response) = (
            required("username")?,
            required("realm")?,
            required("nonce")?,
            required("uri")?,
            required("response")?,
        );
        if !is_hex(&response, algorithm.hex_len()) {
            return Err(DigestError::BadResponse);
        }
        let (nc, cnonce) = match qop {
            Some(_) => {
                let nc = take(&mut p, "nc").ok_or(DigestError::MissingParam("nc"))?;
                if !is_hex(&nc, 8) {
                    return Err(DigestError::BadNonceCount);
                }
                (Some(nc), Some(take(&mut p, "cnonce").ok_or(DigestError::MissingParam("cnonce"))?))
            }
            None => (None, None),
        };
        let opaque = take(&mut p, "opaque");
        Ok(Authorization { username, realm, nonce, uri, response, algorithm, qop, nc, cnonce, opaque })
    }
}

impl fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("nonce", &self.nonce)
            .field("uri", &self.uri)
            .field("response", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("qop", &self.qop)
            .field("nc", &self.nc)
            .field("cnonce", &self.cnonce)
            .field("opaque", &self.opaque)
            .finish()
    }
}

/// Why [`verify`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The username is not the credentials' user.
    WrongUser,
    /// The realm is not the credentials' realm.
    WrongRealm,
    /// The nonce was not issued by this server's [`NonceSource`].
    ForgedNonce,
    /// The credentials hold no HA1 for the requested algorithm.
    NoCredentialsForAlgorithm,
    /// The response does not match: wrong password, method, uri or tampering.
    WrongResponse,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated.
    Ok,
    /// The response is right but the nonce is stale: challenge again with `stale=true`.
    Stale,
    /// Refused: challenge again (and count an authentication failure).
    Failed(FailReason),
}

/// Checks a request's digest against the user's credentials (RFC 3261 §22.4, RFC 7616 §3.4).
///
/// The response is checked before the nonce's age, so `stale=true` is only ever offered to a
/// client that knows the password (RFC 7616 §3.3).
pub fn verify(
    auth: &Authorization<'_>,
    credentials: &Credentials,
    method: &str,
    nonces: &NonceSource,
    now: Duration,
) -> Verdict {
    if auth.username != credentials.user {
        return Verdict::Failed(FailReason::WrongUser);
    }
    if auth.realm != credentials.realm {
        return Verdict::Failed(FailReason::WrongRealm);
    }
    let status = nonces.check(&auth.nonce, now);
    if status == NonceStatus::Forged {
        return Verdict::Failed(FailReason::ForgedNonce);
    }
    let Some(ha1) = credentials.ha1(auth.algorithm) else {
        return Verdict::Failed(FailReason::NoCredentialsForAlgorithm);
    };
    let qop = match (auth.qop, &auth.nc, &auth.cnonce) {
        (Some(Qop::Auth), Some(nc), Some(cnonce)) => Some((&**nc, &**cnonce)),
        _ => None,
    };
    let expected = request_digest(auth.algorithm, &ha1, &auth.nonce, qop, method, &auth.uri);
    if !ct_eq_hex(expected.as_bytes(), auth.response.as_bytes()) {
        return Verdict::Failed(FailReason::WrongResponse);
    }
    match status {
        NonceStatus::Valid => Verdict::Ok,
        _ => Verdict::Stale,
    }
}

/// A parsed `WWW-Authenticate` / `Proxy-Authenticate` header value (the client's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// The protection space; the credentials must be for this realm.
    pub realm: Cow<'a, str>,
    /// The server nonce.
    pub nonce: Cow<'a, str>,
    /// Echoed back unchanged when present.
    pub opaque: Option<Cow<'a, str>>,
    /// The hash function; MD5 when the header names none.
    pub algorithm: Algorithm,
    /// `Some(Qop::Auth)` when the server offers `auth`; `None` when it offers no qop at all.
    pub qop: Option<Qop>,
    /// The previous response was right but its nonce had expired.
    pub stale: bool,
}

impl<'a> Challenge<'a> {
    /// Parses a header value; a qop list without `auth` is [`DigestError::UnsupportedQop`].
    pub fn parse(value: &'a str) -> Result<Challenge<'a>, DigestError> {
        let mut p = parse_params(value)?;
        let algorithm = take(&mut p, "algorithm").map_or(Ok(Algorithm::Md5), |a| a.parse())?;
        let qop = match take(&mut p, "qop") {
            Some(list) => Some(
                list.split(',')
                    .find_map(|q| parse_qop(q.trim_matches(|c: char| c.is_ascii_whitespace())).ok())
                    .ok_or(DigestError::UnsupportedQop)?,
            ),
            None => None,
        };
        let realm = take(&mut p, "realm").ok_or(DigestError::MissingParam("realm"))?;
        let nonce = take(&mut p, "nonce").ok_or(DigestError::MissingParam("nonce"))?;
        let stale = take(&mut p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(Challenge { realm, nonce, opaque: take(&mut p, "opaque"), algorithm, qop, stale })
    }
}

/// What a client answers a challenge with.
pub enum ClientSecret<'a> {
    /// A plain password, hashed for whatever realm the challenge names.
    Password {
        /// The username.
        user: &'a str,
        /// The password.
        password: &'a str,
    },
    /// Stored credentials; the challenge's realm must match theirs.
    Credentials(&'a Credentials),
}

impl fmt::Debug for ClientSecret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientSecret::Password { user, .. } => {
                f.debug_struct("Password").field("user", user).finish_non_exhaustive()
            }
            ClientSecret::Credentials(c) => c.fmt(f),
        }
    }
}

/// Answers a challenge header value with an `Authorization` / `Proxy-Authorization` value.
///
/// `cnonce` should be fresh random text from the caller (it is quoted, so any text works) and
/// `nc` counts the requests made with this nonce, starting at 1. Without a qop in the
/// challenge the answer is in RFC 2069 form and `cnonce`/`nc` are unused.
pub fn respond(
    challenge_value: &str,
    secret: ClientSecret<'_>,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let ch = Challenge::parse(challenge_value)?;
    let from_password;
    let credentials = match secret {
        ClientSecret::Password { user, password } => {
            from_password = Credentials::from_password(user, &ch.realm, password);
            &from_password
        }
        ClientSecret::Credentials(c) if c.realm == ch.realm => c,
        ClientSecret::Credentials(_) => return Err(DigestError::RealmMismatch),
    };
    let ha1 = credentials.ha1(ch.algorithm).ok_or(DigestError::NoCredentialsForAlgorithm)?;
    let nc = format!("{nc:08x}");
    let qop = ch.qop.map(|_| (nc.as_str(), cnonce));
    let response = request_digest(ch.algorithm, &ha1, &ch.nonce, qop, method, uri);

    let mut out = String::with_capacity(256);
    out.push_str("Digest username=");
    push_quoted(&mut out, &credentials.user);
    out.push_str(", realm=");
    push_quoted(&mut out, &ch.realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, &ch.nonce);
    out.push_str(", uri=");
    push_quoted(&mut out, uri);
    out.push_str(", response=\"");
    out.push_str(response.as_str());
    out.push_str("\", algorithm=");
    out.push_str(ch.algorithm.as_str());
    if let Some((nc, cnonce)) = qop {
        out.push_str(", qop=auth, nc=");
        out.push_str(nc);
        out.push_str(", cnonce=");
        push_quoted(&mut out, cnonce);
    }
    if let Some(opaque) = &ch.opaque {
        out.push_str(", opaque=");
        push_quoted(&mut out, opaque);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
