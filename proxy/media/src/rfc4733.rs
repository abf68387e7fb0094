//! RFC 4733 telephone-events: the payload codec, RFC 2198 redundancy, a receiver that reports
//! exactly one digit per key press, and a sender.
//!
//! ```text
//!  RTP header fields (RtpMeta) + payload
//!      │  PT = telephone-event            │  PT = red (RFC 2198)
//!      ▼                                  ▼
//!  payload::parse ◄──────────── red::parse (blocks of PT telephone-event)
//!      │ EventReport × n (4 octets each, §2.3; n > 1 per §2.5.1.5)
//!      ▼
//!  EventReceiver ── dedupe on (SSRC, timestamp, event), segments, timeout ──► ReceiverEvent
//!                                                                             Press / PressEnd
//!  EventSender ── digit + start timestamp + interval ──► EventPacket (marker, timestamp, payload)
//! ```
//!
//! # Why a key press is not a packet
//!
//! A sender reports one key press in many packets: the RTP timestamp is the press's start and
//! stays fixed while the duration grows (§2.5.1.2), the final packet carries the E bit and is sent
//! three times (§2.5.1.4), and a press longer than 0xFFFF timestamp units is cut into segments,
//! each with a new timestamp (§2.5.1.3). Receivers that count packets with the E bit, or that
//! treat "same event, new timestamp" as one press, duplicate or lose digits; one that waits for
//! the E bit loses a digit whenever the three end packets are lost. [`EventReceiver`] reports a
//! press on the first packet it sees of it and closes it on the E bit or a timeout; see its docs
//! for the full rule.
//!
//! # Time
//!
//! `now` is a [`std::time::Duration`] since an epoch the driver chooses (for example the moment
//! its monotonic clock was first read). Only differences matter; tests use virtual time.
//! Everything about a press itself (start, duration) is in RTP timestamp units, from the packets.
//!
//! # What this module does not do
//!
//! It does not parse RTP headers (the caller passes [`RtpMeta`]), pick payload types from SDP,
//! buffer for jitter, play tones out, or decide what a digit means.

pub mod payload;
pub mod receiver;
pub mod red;
pub mod sender;

pub use payload::{EventReport, Reports};
pub use receiver::{
    EndReason, EventReceiver, MAX_REPORTS_PER_PACKET, ReceiverConfig, ReceiverEvent, ReceiverStats, RtpMeta,
};
pub use red::{RedBlock, RedPayload, RedundantBlock};
pub use sender::{EventPacket, EventSender, SenderConfig};

/// The largest duration one report (or segment) can carry, in timestamp units (§2.5.1.3).
pub const MAX_SEGMENT_DURATION: u16 = 0xFFFF;

/// Why a telephone-event or RFC 2198 payload was refused, or could not be written.
///
/// None of the variants carries payload bytes: the event code of a report is a digit, and digits
/// are secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload has no octets; a telephone-event payload holds at least one 4-octet report.
    #[error("telephone-event payload is empty")]
    Empty,
    /// The payload length is not a multiple of 4: the last event report is cut short.
    #[error("telephone-event payload of {len} octets is not a whole number of 4-octet reports")]
    Truncated {
        /// Length of the payload in octets.
        len: usize,
    },
    /// The packet carries more event reports than the receiver handles in one packet; a bound
    /// on per-packet work and on the output queue (see [`MAX_REPORTS_PER_PACKET`]).
    #[error("{count} event reports in one packet; at most {max} are accepted")]
    TooManyReports {
        /// Reports in the packet.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An RFC 2198 block header runs past the end of the payload (or there is no primary header).
    #[error("RFC 2198 block header truncated")]
    RedHeaderTruncated,
    /// The RFC 2198 block lengths add up to more than the payload holds after the headers.
    #[error("RFC 2198 blocks need {needed} octets but only {available} follow the headers")]
    RedBlockTruncated {
        /// Octets the redundant blocks claim.
        needed: usize,
        /// Octets after the headers.
        available: usize,
    },
    /// The output buffer is too small for what is being written.
    #[error("output buffer too small: {needed} octets needed")]
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
    },
    /// An RFC 2198 timestamp offset does not fit the header's 14 bits.
    #[error("RFC 2198 timestamp offset {offset} exceeds 14 bits")]
    RedOffsetTooLarge {
        /// The offset asked for.
        offset: u32,
    },
    /// An RFC 2198 redundant block is longer than the header's 10-bit length can say.
    #[error("RFC 2198 block of {len} octets exceeds the 10-bit length field")]
    RedBlockTooLong {
        /// The block's length.
        len: usize,
    },
    /// A payload type above 127 does not fit the 7-bit field.
    #[error("payload type {pt} exceeds 7 bits")]
    PayloadTypeTooLarge {
        /// The payload type asked for.
        pt: u8,
    },
    /// [`EventSender::begin`] was called while a press was still being sent; a sender reports
    /// one press at a time, as a keypad does.
    #[error("sender is still sending a press")]
    SenderBusy,
}
