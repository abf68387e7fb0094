//! Tonewall's media layer, sans-IO: packets in, packets and events out; time is passed in.
//!
//! ```text
//!  RTP telephone-event / RED ─► rfc4733::EventReceiver ─► Press / PressEnd ─┐ merge::RtpTimeline
//!  G.711 audio ─► tonewall_dsp::Detector ─► DtmfEvent ──────────────────────┼─► merge::DigitMerger
//!  SIP INFO digits (from the call layer) ───────────────────────────────────┘     │ one digit
//!                                                                                  ▼ per key press
//!  digit to inject ─► rfc4733::EventSender ─► telephone-event packets (marker, 3× end)
//!
//!  RTP header fields + arrival ─► quality::StreamStats ─► Snapshot (loss, jitter, RTT, MOS)
//!  RTCP datagram ─► rtcp::parse / parse_mut ─► packets to read or rewrite ─► forwarded
//!                   rtcp::Report::write ◄── report blocks from StreamStats (RTCP the relay sends)
//! ```
//!
//! - [`relay`]: the media session of one stream of a call between two legs: latching without
//!   RTP bleed, DTMF masked on the stream (in-band tones replaced, telephone-events removed),
//!   digits reported once as [`relay::CapturedDigit`]s, counters; [`rtp`] reads and patches
//!   RTP headers in place.
//! - [`anchor`]: offer/answer through the relay: which sessions exist, where each party is,
//!   the SDP each party gets.
//! - [`rfc4733`]: telephone-event payloads (RFC 4733) and RFC 2198 redundancy, a receiver that
//!   turns packets into exactly one digit per key press whatever the loss, duplication,
//!   reordering, segmenting, timestamp wrap or SSRC change, and a sender for injection.
//! - [`merge`]: one digit per key press across RFC 4733, in-band tones and SIP INFO, on one
//!   8 kHz timeline.
//! - [`sipinfo`]: the digit and duration of SIP INFO `application/dtmf-relay` and
//!   `application/dtmf` bodies, for the call layer to hand to
//!   [`relay::MediaSession::sip_info_digit`].
//! - [`sdp`]: SDP offers and answers parsed with every line kept, read for what the relay needs
//!   (addresses, ports, codecs, telephone-event types, RTCP, crypto, ICE, DTLS) and rewritten
//!   to anchor media on the relay, with per-leg `o=` versioning (RFC 3264 §8).
//! - [`ng`]: rtpengine's ng control protocol (bencode over UDP), so that Kamailio's and
//!   OpenSIPS's `rtpengine` modules drive a Tonewall media node; the relay plugs in through
//!   [`ng::MediaControl`].
//! - [`rtcp`]: compound RTCP (RFC 3550, RFC 5506 reduced size) parsed and checked over borrowed
//!   bytes, edited in place when the relay changes a stream (sender counts, report blocks,
//!   SSRCs), written when the relay reports itself; RTCP-mux demultiplexing (RFC 5761).
//! - [`quality`]: per received stream, RFC 3550 receiver statistics (loss, duplicates,
//!   reordering, jitter, RTT) and an ITU-T G.107 E-model MOS estimate, as a snapshot for
//!   metrics and CDRs.
//! - [`srtp`]: SRTP/SRTCP contexts (RFC 3711, AES-CM and AES-GCM) in place, and SDES
//!   `a=crypto` attributes (RFC 4568) to key them.
//! - [`recording`]: the post-mask audio of a call's two directions, encrypted at rest
//!   (AES-256-GCM chunks), and the reader that verifies and decrypts it.
//!
//! # Driving
//!
//! Every state machine here has the same shape: `handle_*(now, input)`, then drain
//! `poll_*()` until it returns `None`; timers say when they are due through `poll_timeout()`
//! and fire in `handle_timeout(now)`, which is safe to call early or twice. `now` is a
//! [`std::time::Duration`] since an epoch of the driver's choosing: no clock is read here
//! (`clippy.toml` forbids `Instant::now` and `SystemTime::now`), so tests run on virtual time.
//! The RTCP codec and the stream statistics have nothing to drain: their calls return what they
//! found, and they keep no timers.
//!
//! # Secrets
//!
//! Digits are card numbers. [`tonewall_dsp::Digit`] prints a mask, the types here that carry an
//! event code mask it too, and no error carries payload octets. SRTP keys live in
//! [`srtp::MasterKey`] and the derived key schedules, zeroized on drop and never printed; only
//! [`srtp::CryptoAttribute::to_sdp_value`] turns a key into text, for the SDP body.
//!
//! # What this crate does not do
//!
//! No sockets, clocks or threads; no RTCP scheduling; no jitter buffer; no playout of tones; no
//! transcoding. Deciding what digits mean belongs to the flow layer.

#![forbid(unsafe_code)]

pub mod anchor;
#[doc(hidden)]
pub mod fuzzing;
pub mod merge;
pub mod ng;
pub mod quality;
pub mod recording;
pub mod relay;
pub mod rfc4733;
mod ring;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod sipinfo;
pub mod srtp;

pub use merge::{DigitMerger, MergedDigit, MergerConfig, RtpTimeline, Transport};
pub use rfc4733::{EventReceiver, EventSender, ReceiverEvent};
