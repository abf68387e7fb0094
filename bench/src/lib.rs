//! Shared pieces of Tonewall's benchmarks: the test audio, the implementations under test behind
//! one small trait, and the spandsp and libsrtp bindings.
//!
//! ```text
//!  audio::mixed() ─► µ-law codes ─┬─► decode ─► linear ─┬─► spandsp dtmf_rx        (peer)
//!   speech-like, silence, DTMF    │                     └─► tonewall Detector::push
//!                                 └─► tonewall Masker<G711>   (decode + detect + mask)
//! ```
//!
//! Every implementation gets the same samples: the linear ones are the µ-law codes decoded, so
//! detectors on linear audio and the masker on µ-law see bit-identical signals.

pub mod audio;
pub mod libsrtp;
pub mod relay;
pub mod spandsp;
pub mod srtp_fixture;

use tonewall_dsp::simd::{BASIS, BLOCK, Kernel};
use tonewall_dsp::{Detector, DetectorConfig, DtmfEvent, G711, Law, Masker, MaskerConfig};

/// Samples in one 20 ms RTP frame at 8 kHz.
pub const FRAME: usize = 160;

/// One stream of one implementation under test. `feed` gets the same audio twice, as linear and
/// as µ-law; each implementation uses the form it would get in the relay.
pub trait Feed {
    /// Processes one chunk and returns the number of digits confirmed during it.
    fn feed(&mut self, linear: &[i16], ulaw: &[u8]) -> usize;
}

/// spandsp's `dtmf_rx` on 16-bit linear samples.
#[derive(Default)]
pub struct Spandsp(pub spandsp::DtmfRx);

impl Feed for Spandsp {
    #[inline]
    fn feed(&mut self, linear: &[i16], _: &[u8]) -> usize {
        self.0.rx(linear);
        let d = self.0.digits();
        let n = d.len();
        d.clear();
        n
    }
}

/// Tonewall's [`Detector`] on 16-bit linear samples.
pub struct TwDetector(pub Detector);

impl TwDetector {
    /// A detector with the default thresholds and the given correlation kernel.
    pub fn new(kernel: Kernel) -> Self {
        TwDetector(Detector::with_kernel(&DetectorConfig::default(), kernel))
    }
}

impl Feed for TwDetector {
    #[inline]
    fn feed(&mut self, linear: &[i16], _: &[u8]) -> usize {
        self.0.push(linear);
        let mut n = 0;
        while let Some(ev) = self.0.poll_event() {
            n += matches!(ev, DtmfEvent::DigitStart { .. }) as usize;
        }
        n
    }
}

/// Tonewall's [`Detector::push_block`] fed whole 32-sample blocks straight from the caller's
/// buffer (what `push` could do when a chunk starts on a block boundary), to measure what the
/// copy through `push`'s internal buffer costs. Chunks must be whole blocks.
pub struct TwDetectorBlocks(pub Detector);

impl Feed for TwDetectorBlocks {
    #[inline]
    fn feed(&mut self, linear: &[i16], _: &[u8]) -> usize {
        for block in linear.chunks_exact(BLOCK) {
            if let Ok(block) = <&[i16; BLOCK]>::try_from(block) {
                self.0.push_block(block);
            }
        }
        let mut n = 0;
        while let Some(ev) = self.0.poll_event() {
            n += matches!(ev, DtmfEvent::DigitStart { .. }) as usize;
        }
        n
    }
}

/// Tonewall's [`Detector::push_g711_block`] on whole blocks of µ-law codes (decoded inside the
/// kernel): the masker's detection alone, without its look-behind ring and output, to show
/// what the masking itself costs. Chunks must be whole blocks.
pub struct TwDetectorUlawBlocks(pub Detector);

impl Feed for TwDetectorUlawBlocks {
    #[inline]
    fn feed(&mut self, _: &[i16], ulaw: &[u8]) -> usize {
        for block in ulaw.chunks_exact(BLOCK) {
            if let Ok(block) = <&[u8; BLOCK]>::try_from(block) {
                self.0.push_g711_block(Law::Ulaw, block);
            }
        }
        let mut n = 0;
        while let Some(ev) = self.0.poll_event() {
            n += matches!(ev, DtmfEvent::DigitStart { .. }) as usize;
        }
        n
    }
}

/// Tonewall's [`Masker`] on µ-law codes: decode, detect, and write the delayed, masked codes, as
/// the relay does for every packet.
pub struct TwMasker {
    /// The masker.
    pub masker: Masker<G711>,
    out: Vec<u8>,
}

impl TwMasker {
    /// A µ-law masker with default settings, able to take chunks of up to `max_chunk` samples.
    pub fn new(max_chunk: usize) -> Self {
        TwMasker { masker: Masker::new(G711(Law::Ulaw), &MaskerConfig::default()), out: vec![0; max_chunk] }
    }

    /// The codes written by the last `feed`.
    pub fn output(&self) -> &[u8] {
        &self.out
    }
}

impl Feed for TwMasker {
    #[inline]
    fn feed(&mut self, _: &[i16], ulaw: &[u8]) -> usize {
        let n = ulaw.len().min(self.out.len());
        self.masker.process(&ulaw[..n], &mut self.out[..n]);
        let mut d = 0;
        while let Some(ev) = self.masker.poll_event() {
            d += matches!(ev, DtmfEvent::DigitStart { .. }) as usize;
        }
        d
    }
}

/// µ-law decoding alone (the first step of the masker), for scale.
pub struct UlawDecode {
    out: Vec<i16>,
}

impl UlawDecode {
    /// A decoder for chunks of up to `max_chunk` samples.
    pub fn new(max_chunk: usize) -> Self {
        UlawDecode { out: vec![0; max_chunk] }
    }
}

impl Feed for UlawDecode {
    #[inline]
    fn feed(&mut self, _: &[i16], ulaw: &[u8]) -> usize {
        let n = ulaw.len().min(self.out.len());
        Law::Ulaw.decode_slice(&ulaw[..n], &mut self.out[..n]);
        // Something data-dependent, so the decode cannot be optimised away.
        (self.out[n / 2] as u16 & 1) as usize
    }
}

/// The correlation kernel alone (16 dot products and the energy per 32-sample block): the floor
/// under the detector's cost. Takes whole blocks; a partial block at the end is ignored.
pub struct CorrelateOnly(pub Kernel);

impl Feed for CorrelateOnly {
    #[inline]
    fn feed(&mut self, linear: &[i16], _: &[u8]) -> usize {
        let mut acc = 0i32;
        for block in linear.chunks_exact(BLOCK) {
            let block: &[i16; BLOCK] = block.try_into().unwrap_or(&[0; BLOCK]);
            let c = self.0.correlate(block, &BASIS);
            acc = acc.wrapping_add(c.sums[0]);
        }
        (acc & 1) as usize
    }
}

/// Many independent streams of one implementation, fed one 20 ms frame each in turn, as a relay
/// core serving many calls does. Each stream starts at a different place in the audio.
pub struct Streams<T> {
    streams: Vec<(T, usize)>,
    frames: usize,
}

impl<T: Feed> Streams<T> {
    /// `n` streams made by `make`, over audio of `frames` 20 ms frames.
    pub fn new(n: usize, frames: usize, mut make: impl FnMut() -> T) -> Self {
        let frames = frames.max(1);
        let streams = (0..n)
            // A stride coprime with most lengths spreads the start points over the audio.
            .map(|s| (make(), (s * 7919) % frames))
            .collect();
        Streams { streams, frames }
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether there are no streams.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// One round: the next frame to every stream. Returns the digits confirmed.
    #[inline]
    pub fn round(&mut self, linear: &[i16], ulaw: &[u8]) -> usize {
        let mut digits = 0;
        for (s, next) in self.streams.iter_mut() {
            let at = *next * FRAME;
            digits += s.feed(&linear[at..at + FRAME], &ulaw[at..at + FRAME]);
            *next += 1;
            if *next == self.frames {
                *next = 0;
            }
        }
        digits
    }
}
