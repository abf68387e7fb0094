//! Tonewall's media layer, sans-IO: packets in, packets and events out; time is passed in.
//!
//! ```text
//!  RTP telephone-event / RED ─► rfc4733::EventReceiver ─► Press / PressEnd ─┐ merge::RtpTimeline
//!  G.711 audio ─► tonewall_dsp::Detector ─► DtmfEvent ──────────────────────┼─► merge::DigitMerger
//!  SIP INFO digits (from the call layer) ───────────────────────────────────┘     │ one digit
//!                                                                                  ▼ per key press
//!  digit to inject ─► rfc4733::EventSender ─► telephone-event packets (marker, 3× end)
//! ```
//!
//! - [`rfc4733`]: telephone-event payloads (RFC 4733) and RFC 2198 redundancy, a receiver that
//!   turns packets into exactly one digit per key press whatever the loss, duplication,
//!   reordering, segmenting, timestamp wrap or SSRC change, and a sender for injection.
//! - [`merge`]: one digit per key press across RFC 4733, in-band tones and SIP INFO, on one
//!   8 kHz timeline.
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
//!
//! # Secrets
//!
//! Digits are card numbers. [`tonewall_dsp::Digit`] prints a mask, the types here that carry an
//! event code mask it too, and no error carries payload octets.
//!
//! # What this crate does not do
//!
//! No sockets, clocks or threads; no RTP header parsing yet (callers pass the header fields);
//! no jitter buffer; no playout of tones. Deciding what digits mean belongs to the flow layer.

#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod fuzzing;
pub mod merge;
pub mod recording;
pub mod relay;
pub mod rfc4733;
mod ring;
pub mod rtp;

pub use merge::{DigitMerger, MergedDigit, MergerConfig, RtpTimeline, Transport};
pub use rfc4733::{EventReceiver, EventSender, ReceiverEvent};
