//! SRTP and SRTCP (RFC 3711; AES-256 from RFC 6188; AES-GCM from RFC 7714), keyed by SDES
//! (RFC 4568 `a=crypto`), sans-IO and in place.
//!
//! ```text
//!  SDP offer a=crypto lines ─► sdes::choose(offers, preference) ─► CryptoAttribute ─┐
//!  local answer ◄── CryptoAttribute::generate(tag, suite, rng).to_sdp_value() ──┐    │
//!                                                                               ▼    ▼
//!                     SrtpContext::from_sdes(Outbound, ours) / (Inbound, theirs)
//!  RTP/RTCP ─► protect_rtp / protect_rtcp (buf, len) ─► SRTP/SRTCP, same buffer, new length
//!  SRTP/SRTCP ─► unprotect_rtp / unprotect_rtcp (buf, len) ─► RTP/RTCP, or a counted error
//! ```
//!
//! - [`sdes`]: parse and format the value of `a=crypto:`, generate keys from caller-supplied
//!   randomness, choose among offers by local preference.
//! - [`SrtpContext`]: one master key, one direction (outbound protects, inbound unprotects),
//!   up to [`MAX_STREAMS`] SSRCs, each with its own rollover counter, SRTCP index and
//!   [`REPLAY_WINDOW`]-packet replay window (RFC 3711 §3.3.2, on in both directions: a sender
//!   refuses to protect the same index twice, which would reuse keystream).
//!
//! # One context per direction
//!
//! SDES gives each side its own master key: the offerer's `a=crypto` key protects what the
//! offerer sends. So a call leg needs two contexts: `Outbound` with the key we put in our SDP,
//! `Inbound` with the key the peer put in its SDP. A context refuses the other direction
//! ([`SrtpError::WrongDirection`]) so the keys cannot be swapped by mistake. Within a context,
//! each SSRC is a separate stream (RFC 3711 §3.2.3): a carrier that changes SSRC mid-call gets
//! a new stream under the same key. SRTP and SRTCP of a direction share the context, with
//! their own derived session keys.
//!
//! # Backend
//!
//! The RustCrypto primitives (`aes`, `ctr`, `hmac`, `sha1`, `aes-gcm`), not `webrtc-srtp`:
//! webrtc-srtp 0.17 depends unconditionally on tokio (`rt-multi-thread`, `net`, `fs`) and
//! webrtc-util, parses headers into allocating structs and returns a fresh `Bytes` per packet;
//! none of that can be trimmed by features, and all of it would break the crate's sans-IO
//! and no-allocation rules. Correctness is pinned by the RFC 3711 Appendix B vectors and by
//! round trips against libsrtp 2 in `tests/srtp_libsrtp.rs`.
//!
//! # Cost
//!
//! No allocation per packet; the key schedules are built once per context; a context is a
//! fixed-size value of about 2.4 KiB, no heap. A 172-byte RTP packet (12-octet header, 160
//! octets of G.711) costs about 0.3 µs to protect or unprotect with `AES_CM_128_HMAC_SHA1_80`
//! or `AEAD_AES_128_GCM` (AES-NI, SHA-NI): 7× less than Debian's libsrtp 2.5 (NSS backend) in
//! counter mode, 2.5× less in GCM, and 1.2–1.6× less than webrtc-srtp 0.17 with its output
//! copied back. Measured side by side by `srtp_ratio` and `cargo bench -p tonewall-bench
//! --bench srtp`; figures in `bench/README.md`.
//!
//! # Secrets
//!
//! Keys live in [`MasterKey`] and in the derived key schedules; all are zeroized on drop, and
//! neither `Debug` nor any error prints them. Formatting an `a=crypto` value reveals the key by
//! design (that is what SDES carries), so it is the explicitly named
//! [`CryptoAttribute::to_sdp_value`], never `Display`.
//!
//! # What this module does not do
//!
//! No DTLS-SRTP or MIKEY (keys come from SDES or the caller); no key derivation rate (an
//! offer with `KDR` is not usable); no NULL cipher or NULL authentication (`UNENCRYPTED_SRTP`,
//! `UNENCRYPTED_SRTCP`, `UNAUTHENTICATED_SRTP` are refused); one master key per context, so
//! MKI switching between several keys is not followed (the first key of an attribute is used,
//! packets carrying another MKI are refused); no resynchronisation after a sequence-number
//! jump of 2^15 or more within one SSRC (RFC 3711's index estimate, as libsrtp: such packets
//! are refused as too old; the relay should renumber or rekey); no header-extension
//! encryption (RFC 6904); no
//! RTP/RTCP demultiplexing (RFC 5761) and no RTP parsing beyond the fixed header, CSRC count
//! and extension length needed to find the payload.

mod context;
mod kdf;
mod key;
mod replay;
pub mod sdes;
mod transform;

pub use context::{Direction, MAX_STREAMS, REPLAY_WINDOW, SrtpContext};
pub use key::MasterKey;
pub use sdes::{CryptoAttribute, FecOrder, KeyParam, Lifetime, Mki, SdesError, SessionParam, choose};

/// An SRTP protection profile, named as SDES names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// `AES_CM_128_HMAC_SHA1_80` (RFC 3711, RFC 4568): AES-128 counter mode, 80-bit HMAC-SHA1
    /// tags on SRTP and SRTCP. The default every endpoint supports.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32` (RFC 4568): as above with a 32-bit SRTP tag (SRTCP keeps 80).
    AesCm128HmacSha1_32,
    /// `AES_256_CM_HMAC_SHA1_80` (RFC 6188).
    AesCm256HmacSha1_80,
    /// `AES_256_CM_HMAC_SHA1_32` (RFC 6188).
    AesCm256HmacSha1_32,
    /// `AEAD_AES_128_GCM` (RFC 7714): AES-128-GCM, 128-bit tag, 96-bit master salt.
    AeadAes128Gcm,
    /// `AEAD_AES_256_GCM` (RFC 7714).
    AeadAes256Gcm,
}

impl Suite {
    /// Every suite, in declaration order (not a preference).
    pub const ALL: [Suite; 6] = [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AesCm256HmacSha1_80,
        Suite::AesCm256HmacSha1_32,
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
    ];

    /// The crypto-suite name in `a=crypto` (IANA "SRTP Crypto Suite Registrations").
    pub const fn sdes_name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Suite::AesCm256HmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            Suite::AesCm256HmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Suite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// The suite with this SDES name (case-sensitive, as the registry spells it).
    pub fn from_sdes_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.sdes_name() == name)
    }

    /// Octets of master key.
    pub const fn master_key_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::AesCm128HmacSha1_32 | Suite::AeadAes128Gcm => 16,
            Suite::AesCm256HmacSha1_80 | Suite::AesCm256HmacSha1_32 | Suite::AeadAes256Gcm => 32,
        }
    }

    /// Octets of master salt: 14 for counter mode, 12 for GCM.
    pub const fn master_salt_len(self) -> usize {
        if self.is_aead() { 12 } else { 14 }
    }

    /// Octets of authentication tag on SRTP packets.
    pub const fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::AesCm256HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 | Suite::AesCm256HmacSha1_32 => 4,
            Suite::AeadAes128Gcm | Suite::AeadAes256Gcm => 16,
        }
    }

    /// Octets of authentication tag on SRTCP packets (80 bits for every HMAC suite, even `_32`).
    pub const fn rtcp_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 10 }
    }

    /// Whether this is an AEAD (GCM) suite.
    pub const fn is_aead(self) -> bool {
        matches!(self, Suite::AeadAes128Gcm | Suite::AeadAes256Gcm)
    }
}

/// Why a packet was not protected or unprotected, or a key not accepted. Nothing here carries
/// key or payload octets; SSRCs and packet indices are not secret and help the relay count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// `len` is larger than the buffer it is said to fill.
    #[error("packet length {len} exceeds the buffer of {capacity} octets")]
    LengthExceedsBuffer {
        /// The length passed in.
        len: usize,
        /// The buffer's length.
        capacity: usize,
    },
    /// The buffer has no room for what protecting appends (tag, MKI, SRTCP index).
    #[error("protecting needs a buffer of {needed} octets, {capacity} available")]
    BufferTooSmall {
        /// Octets the protected packet needs.
        needed: usize,
        /// The buffer's length.
        capacity: usize,
    },
    /// The packet is shorter than its header and SRTP trailer need.
    #[error("packet of {len} octets is shorter than the minimum of {min}")]
    TooShort {
        /// The packet's length.
        len: usize,
        /// The least this packet needs.
        min: usize,
    },
    /// The packet is longer than a UDP datagram can be, so it cannot be RTP.
    #[error("packet of {len} octets is too large")]
    TooLarge {
        /// The packet's length.
        len: usize,
    },
    /// Not version 2, or the CSRC list or header extension runs past the packet.
    #[error("malformed RTP or RTCP header")]
    MalformedHeader,
    /// The authentication tag does not verify: tampered, truncated, another key, or a
    /// rollover-counter guess that is off. Counted apart from replays.
    #[error("authentication failed (SSRC {ssrc:#010x})")]
    AuthenticationFailed {
        /// The SSRC in the packet header (unauthenticated, so only a hint).
        ssrc: u32,
    },
    /// This packet index was already received (inbound) or sent (outbound) on this stream.
    #[error("replayed packet (SSRC {ssrc:#010x}, index {index})")]
    Replayed {
        /// The stream.
        ssrc: u32,
        /// The SRTP packet index (ROC · 2^16 + SEQ) or SRTCP index.
        index: u64,
    },
    /// The packet index is older than the replay window, so a replay cannot be ruled out
    /// (RFC 3711 §3.3.2): refused like a replay.
    #[error("packet older than the replay window (SSRC {ssrc:#010x}, index {index})")]
    TooOld {
        /// The stream.
        ssrc: u32,
        /// The SRTP packet index or SRTCP index.
        index: u64,
    },
    /// The packet's MKI is not the one of this context's master key.
    #[error("unknown master key identifier")]
    UnknownMki,
    /// The master key has been used for as many packets as its lifetime allows (the SDES
    /// lifetime, or 2^48 SRTP / 2^31 SRTCP packets, RFC 3711 §9.2): the call must rekey.
    #[error("master key lifetime exhausted")]
    KeyExhausted,
    /// The context already tracks [`MAX_STREAMS`] SSRCs.
    #[error("more than {max} SSRCs on one SRTP context")]
    TooManyStreams {
        /// The limit.
        max: usize,
    },
    /// Protecting on an inbound context or unprotecting on an outbound one.
    #[error("operation does not match the context's direction")]
    WrongDirection,
    /// An authentic SRTCP packet with the E flag clear: unencrypted SRTCP, never negotiated here.
    #[error("unencrypted SRTCP refused")]
    UnencryptedSrtcp,
    /// Key or salt of the wrong length for the suite.
    #[error("{what} of {got} octets, the suite needs {expected}")]
    KeyLength {
        /// "master key" or "master salt".
        what: &'static str,
        /// Octets the suite needs.
        expected: usize,
        /// Octets given.
        got: usize,
    },
}

#[cfg(test)]
mod tests;
