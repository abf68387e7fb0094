//! Tonewall's signal processing, sans-IO: no sockets, no clocks, no threads. Samples in,
//! samples and events out.
//!
//! ```text
//!  G.711 / PCM16 ─► g711 ─► detector ──► DtmfEvent (digit, start, end)
//!                     │        │ hot blocks
//!                     └──────► masker (look-behind ring) ─► same codes, tones replaced
//! ```
//!
//! - [`g711`]: µ-law and A-law, bit-exact with ITU-T G.711.
//! - [`detector`]: the in-band DTMF detector (ITU-T Q.24).
//! - [`masker`]: replaces every DTMF tone from its first sample, at a fixed delay.
//! - [`wav`] and [`resample`]: reading and writing recordings for `tonewall scan` and `mask`.
//! - [`synth`]: reproducible test signals.
//!
//! `unsafe` is confined to [`simd`], each backend tested against its scalar twin.

pub mod detector;
pub mod digit;
pub mod g711;
pub mod level;
pub mod masker;
pub mod resample;
pub mod simd;
pub mod synth;
pub mod wav;

pub use detector::{Detector, DetectorConfig, DtmfEvent};
pub use digit::Digit;
pub use g711::Law;
pub use masker::{G711, Linear, MaskRule, Masker, MaskerConfig, SampleFormat, Substitute};
