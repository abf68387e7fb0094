//! The zero-bleed masker: every DTMF tone is replaced from its first sample, at a fixed delay.
//!
//! A detector needs 20–40 ms of a tone to be sure of it, and an eavesdropper needs about 6 ms of
//! it to recover the key. So the masker holds the audio back by a look-behind (default 20 ms) and
//! decides about each 4 ms block only once it has seen the blocks that follow: a block is masked
//! when a tone-like window (see [`crate::detector`]) starts within `pre` blocks after it or ended
//! within `post` blocks before it, and while a confirmed press has missed fewer than three
//! windows in a row (so a dropout inside a press never opens a gap). Masking therefore begins before the tone's first sample
//! and ends after its last, whatever the onset's position inside a packet. Bursts from 12 ms up
//! are masked; shorter ones cannot be told from speech that quickly (and no keypad sends them).
//!
//! ```text
//!  input ──► ring (look-behind) ────────────────► output, same length, delayed by D
//!    │                                  ▲
//!    └─► decode ─► Detector ─► hot ─► rule: mask block j if any hot block in
//!                                        [j − post, j + window − 1 + pre]
//! ```
//!
//! Audio that is not masked leaves byte-identical (the G.711 codes are copied, never re-encoded).
//! Masked blocks carry a substitute that depends only on the sample's position, never on the
//! digit: a flat 500 Hz tone (default), silence, or comfort noise.
//!
//! Allocation: one ring of `D + 32` samples when the masker is built; nothing per call.

use crate::detector::{Detector, DetectorConfig, DtmfEvent, PRESENCE_WINDOW};
use crate::g711::Law;
use crate::level::sine_amplitude;
use crate::simd::BLOCK;
use std::sync::LazyLock;

/// What replaces a masked tone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Substitute {
    /// A steady 500 Hz tone at −20 dBm0: the caller and agent hear that a key was pressed.
    #[default]
    FlatTone,
    /// Digital silence.
    Silence,
    /// Low-level white noise (−50 dBm0), so the line does not sound dead.
    ComfortNoise,
}

/// Length of the substitute tables: a power of two and a whole number of 500 Hz periods.
const SUB_LEN: usize = 4096;

/// Sample `n` of the flat tone (500 Hz, −20 dBm0) at `rate`. The phase restarts every second,
/// which 500 Hz (a whole number of periods per second) makes seamless and which keeps the
/// argument small over long recordings.
fn flat_tone(n: u64, rate: u32) -> i16 {
    let n = (n % rate as u64) as f64;
    (sine_amplitude(-20.0) * (core::f64::consts::TAU * 500.0 * n / rate as f64).sin()).round() as i16
}

fn substitute_linear(kind: Substitute) -> [i16; SUB_LEN] {
    let mut t = [0i16; SUB_LEN];
    match kind {
        Substitute::Silence => {}
        Substitute::FlatTone => {
            for (n, v) in t.iter_mut().enumerate() {
                *v = flat_tone(n as u64, 8000);
            }
        }
        Substitute::ComfortNoise => {
            let mut rng = crate::synth::Rng::new(0x00C0_FFEE);
            let sigma = crate::level::dbm0_to_power(-50.0).sqrt();
            for v in t.iter_mut() {
                *v = (sigma * rng.gauss()).round() as i16;
            }
        }
    }
    t
}

static SUB_LINEAR: LazyLock<[[i16; SUB_LEN]; 3]> = LazyLock::new(|| {
    [
        substitute_linear(Substitute::FlatTone),
        substitute_linear(Substitute::Silence),
        substitute_linear(Substitute::ComfortNoise),
    ]
});

static SUB_CODES: LazyLock<[[[u8; SUB_LEN]; 3]; 2]> = LazyLock::new(|| {
    let mut t = [[[0u8; SUB_LEN]; 3]; 2];
    for (li, law) in [Law::Ulaw, Law::Alaw].into_iter().enumerate() {
        for k in 0..3 {
            law.encode_slice(&SUB_LINEAR[k], &mut t[li][k]);
        }
    }
    t
});

/// Sample `n` of the substitute signal at any sample rate, 16-bit linear (for recordings that
/// are not 8 kHz; at 8 kHz it equals what the streaming masker sends).
pub fn substitute_sample(kind: Substitute, n: u64, rate: u32) -> i16 {
    if rate == 8000 {
        return SUB_LINEAR[sub_index(kind)][n as usize & (SUB_LEN - 1)];
    }
    match kind {
        Substitute::Silence => 0,
        Substitute::FlatTone => flat_tone(n, rate),
        Substitute::ComfortNoise => SUB_LINEAR[2][n as usize & (SUB_LEN - 1)],
    }
}

fn sub_index(kind: Substitute) -> usize {
    match kind {
        Substitute::FlatTone => 0,
        Substitute::Silence => 1,
        Substitute::ComfortNoise => 2,
    }
}

/// How samples are stored on the wire or in a file.
pub trait SampleFormat: Copy {
    /// One sample as carried (a G.711 code, or a linear sample).
    type Sample: Copy + Default + PartialEq + core::fmt::Debug;
    /// To 16-bit linear, for the detector.
    fn decode(&self, s: Self::Sample) -> i16;
    /// Sample `n` (absolute position) of the substitute signal.
    fn substitute(&self, kind: Substitute, n: u64) -> Self::Sample;
    /// Decodes a run of samples (`dst` at least as long as `src`).
    fn decode_into(&self, src: &[Self::Sample], dst: &mut [i16]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = self.decode(s);
        }
    }
    /// The detector's analysis of one whole block, `ahead` blocks before its absorb (see
    /// `Detector::analyze`).
    fn analyze(&self, detector: &mut Detector, src: &[Self::Sample; BLOCK], ahead: usize);
    /// The substitute for positions `n..n + dst.len()`; the run must not cross a multiple of
    /// 4096 (the masker's runs stay inside one 32-sample block).
    fn substitute_into(&self, kind: Substitute, n: u64, dst: &mut [Self::Sample]) {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = self.substitute(kind, n + i as u64);
        }
    }
    /// What is sent before the look-behind has filled: silence.
    fn idle(&self) -> Self::Sample;
}

/// G.711 codes of one law.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct G711(pub Law);

impl G711 {
    /// The substitute's codes in this law.
    fn table(&self, kind: Substitute) -> &'static [u8; SUB_LEN] {
        let law = match self.0 {
            Law::Ulaw => 0,
            Law::Alaw => 1,
        };
        &SUB_CODES[law][sub_index(kind)]
    }
}

impl SampleFormat for G711 {
    type Sample = u8;
    #[inline]
    fn decode(&self, s: u8) -> i16 {
        self.0.decode(s)
    }
    #[inline]
    fn substitute(&self, kind: Substitute, n: u64) -> u8 {
        self.table(kind)[n as usize & (SUB_LEN - 1)]
    }
    fn idle(&self) -> u8 {
        self.0.silence()
    }
    #[inline]
    fn decode_into(&self, src: &[u8], dst: &mut [i16]) {
        self.0.decode_slice(src, dst);
    }
    #[inline]
    fn analyze(&self, detector: &mut Detector, src: &[u8; BLOCK], ahead: usize) {
        detector.analyze_g711(self.0, src, ahead)
    }
    #[inline]
    fn substitute_into(&self, kind: Substitute, n: u64, dst: &mut [u8]) {
        let at = n as usize & (SUB_LEN - 1);
        dst.copy_from_slice(&self.table(kind)[at..at + dst.len()]);
    }
}

/// 16-bit linear samples at 8 kHz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear;

impl SampleFormat for Linear {
    type Sample = i16;
    #[inline]
    fn decode(&self, s: i16) -> i16 {
        s
    }
    #[inline]
    fn substitute(&self, kind: Substitute, n: u64) -> i16 {
        SUB_LINEAR[sub_index(kind)][n as usize & (SUB_LEN - 1)]
    }
    fn idle(&self) -> i16 {
        0
    }
    #[inline]
    fn decode_into(&self, src: &[i16], dst: &mut [i16]) {
        dst[..src.len()].copy_from_slice(src);
    }
    #[inline]
    fn analyze(&self, detector: &mut Detector, src: &[i16; BLOCK], ahead: usize) {
        detector.analyze(src, ahead)
    }
    #[inline]
    fn substitute_into(&self, kind: Substitute, n: u64, dst: &mut [i16]) {
        let at = n as usize & (SUB_LEN - 1);
        dst.copy_from_slice(&SUB_LINEAR[sub_index(kind)][at..at + dst.len()]);
    }
}

/// Masker settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskerConfig {
    /// Look-behind (added latency), ms, rounded up to 4 ms blocks; 12..=100. Below 20 ms the
    /// first block of a tone may leak; above 24 ms it adds latency but no more margin (masking
    /// starts at most 3 blocks before a tone is seen).
    pub lookbehind_ms: u32,
    /// How long masking continues after the tone-like signal stops, ms (rounded to blocks).
    pub hangover_ms: u32,
    /// What replaces the tone.
    pub substitute: Substitute,
    /// Detector thresholds.
    pub detector: DetectorConfig,
}

impl Default for MaskerConfig {
    fn default() -> Self {
        MaskerConfig {
            lookbehind_ms: 20,
            hangover_ms: 8,
            substitute: Substitute::default(),
            detector: DetectorConfig::default(),
        }
    }
}

/// The masking rule on hot flags, shared by the streaming masker and offline (file) masking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskRule {
    /// Look-behind in blocks (3..=25).
    lookbehind: usize,
    /// Blocks masked before a hot window's first block (≤ lookbehind − 3).
    pre: usize,
    /// Blocks masked after a hot window's last block (≤ 16).
    post: usize,
    /// The hot bits that mask the block leaving (see [`MaskRule::masks`]), worked out once.
    bits: u64,
}

impl MaskRule {
    /// The rule for a configuration.
    pub fn new(config: &MaskerConfig) -> Self {
        let lookbehind = (config.lookbehind_ms.clamp(12, 100) as usize * 8).div_ceil(BLOCK);
        let pre = lookbehind.saturating_sub(PRESENCE_WINDOW).min(3);
        let post = (config.hangover_ms as usize * 8).div_ceil(BLOCK).min(16);
        // Hot blocks i in [j − post, j + PRESENCE_WINDOW − 1 + pre], as bits of the flags.
        let lo = lookbehind - PRESENCE_WINDOW - pre; // bit of the newest block counted
        let hi = lookbehind - 1 + post; // bit of the oldest
        let bits = (u64::MAX >> (63 - hi)) & !((1u64 << lo) - 1);
        MaskRule { lookbehind, pre, post, bits }
    }

    /// Look-behind in 4 ms blocks.
    pub fn lookbehind(&self) -> usize {
        self.lookbehind
    }

    /// Blocks masked before a tone-like window's first block.
    pub fn pre(&self) -> usize {
        self.pre
    }

    /// Blocks masked after a tone-like window's last block.
    pub fn post(&self) -> usize {
        self.post
    }

    /// Whether block j is masked, given hot flags `hot` where bit b is block j + lookbehind − 1 − b.
    #[inline]
    pub fn masks(&self, hot: u64) -> bool {
        hot & self.bits != 0
    }

    /// Masks for a whole recording's hot flags (offline), block by block.
    pub fn apply(&self, hot: &[bool]) -> Vec<bool> {
        let mut bits = 0u64;
        let mut out = Vec::with_capacity(hot.len());
        // Feed flags, then `lookbehind − 1` cold blocks so the last blocks are decided too.
        let flags = hot.iter().copied().chain(std::iter::repeat_n(false, self.lookbehind - 1));
        for (i, h) in flags.enumerate() {
            bits = (bits << 1) | h as u64;
            if i + 1 >= self.lookbehind {
                out.push(self.masks(bits));
            }
        }
        out
    }
}

/// A streaming masker for one direction of one call.
pub struct Masker<F: SampleFormat> {
    format: F,
    rule: MaskRule,
    substitute: Substitute,
    detector: Detector,
    /// Look-behind ring, whole blocks: `lookbehind + 1` of them.
    ring: Box<[[F::Sample; BLOCK]]>,
    /// The ring block being filled.
    ring_block: usize,
    /// Samples pushed so far.
    pos: u64,
    /// Whether the block now being output is masked.
    masking: bool,
    masked_samples: u64,
}

impl<F: SampleFormat> Masker<F> {
    /// A masker for samples in `format`.
    pub fn new(format: F, config: &MaskerConfig) -> Self {
        let rule = MaskRule::new(config);
        let ring = vec![[format.idle(); BLOCK]; rule.lookbehind + 1].into_boxed_slice();
        Masker {
            format,
            rule,
            substitute: config.substitute,
            detector: Detector::new(&config.detector),
            ring,
            pos: 0,
            ring_block: 0,
            masking: false,
            masked_samples: 0,
        }
    }

    /// The delay between input and output, in samples.
    pub fn delay(&self) -> usize {
        self.rule.lookbehind * BLOCK
    }

    /// Samples replaced so far.
    pub fn masked_samples(&self) -> u64 {
        self.masked_samples
    }

    /// Bytes this masker occupies, look-behind ring and detector included.
    pub fn footprint(&self) -> usize {
        size_of::<Self>() - size_of::<Detector>() + self.detector.footprint() + size_of_val(&*self.ring)
    }

    /// The masker's look-behind ring on the heap, as (start, length): with the masker itself,
    /// the memory every [`Masker::process`] call touches (see `MediaSession::hot_spans`).
    pub fn ring_span(&self) -> (*const u8, usize) {
        (self.ring.as_ptr().cast(), size_of_val(&*self.ring))
    }

    /// The next digit event.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.detector.poll_event()
    }

    /// Pushes `input` and writes as many samples to `output`: the input of [`Masker::delay`]
    /// samples ago, with DTMF replaced. Processes `min(input.len(), output.len())` samples and
    /// returns that count.
    pub fn process(&mut self, input: &[F::Sample], output: &mut [F::Sample]) -> usize {
        let n = input.len().min(output.len());
        let (input, output) = (&input[..n], &mut output[..n]);
        let mut done = 0;
        while done < n {
            let in_block = self.pos as usize % BLOCK;
            if in_block == 0 && n - done >= BLOCK {
                // Whole aligned blocks (a 20 ms packet is five): fixed-size copies, and the
                // detector reads the codes where they are. Each block's analysis is issued
                // before the previous block is absorbed: the kernel's vector work and the
                // absorb's scalar work are independent, so the CPU overlaps them.
                let whole = (n - done) / BLOCK;
                let (blocks, _) = input[done..done + whole * BLOCK].as_chunks::<BLOCK>();
                // The kernel writes each block's phasors into the detector's history, where
                // the absorb reads them: no copy between.
                self.format.analyze(&mut self.detector, &blocks[0], 0);
                for (i, src) in blocks.iter().enumerate() {
                    let out_block = self.next_ring_block();
                    let dst = &mut output[done..done + BLOCK];
                    if self.masking {
                        self.format.substitute_into(self.substitute, self.pos - self.delay() as u64, dst);
                        self.masked_samples += BLOCK as u64;
                    } else {
                        dst.copy_from_slice(&self.ring[out_block]);
                    }
                    self.ring[self.ring_block] = *src;
                    if let Some(next) = blocks.get(i + 1) {
                        self.format.analyze(&mut self.detector, next, 1);
                    }
                    self.detector.absorb();
                    self.pos += BLOCK as u64;
                    done += BLOCK;
                    self.end_block(out_block);
                }
                continue;
            }
            // A partial block: into the ring; the detector takes the block from there once it is
            // whole (no stage buffer of its own).
            let take = (BLOCK - in_block).min(n - done);
            let out_block = self.next_ring_block();
            let (src, dst) = (&input[done..done + take], &mut output[done..done + take]);
            if self.masking {
                self.format.substitute_into(self.substitute, self.pos - self.delay() as u64, dst);
                self.masked_samples += take as u64;
            } else {
                dst.copy_from_slice(&self.ring[out_block][in_block..in_block + take]);
            }
            self.ring[self.ring_block][in_block..in_block + take].copy_from_slice(src);
            self.pos += take as u64;
            done += take;
            if in_block + take == BLOCK {
                let block = self.ring[self.ring_block];
                self.format.analyze(&mut self.detector, &block, 0);
                self.detector.absorb();
                self.end_block(out_block);
            }
        }
        n
    }

    /// The ring holds lookbehind + 1 blocks; the block leaving is the one after the block being
    /// filled (the oldest).
    #[inline]
    fn next_ring_block(&self) -> usize {
        if self.ring_block + 1 == self.ring.len() { 0 } else { self.ring_block + 1 }
    }

    /// After a whole input block: move the ring on and decide the block that leaves next, which
    /// is `lookbehind − 1` blocks older than this one.
    #[inline]
    fn end_block(&mut self, out_block: usize) {
        self.ring_block = out_block;
        let next_out = self.pos >= self.delay() as u64;
        self.masking = next_out && self.rule.masks(self.detector.hot_bits());
    }

    /// Flushes the look-behind: feeds `delay()` samples of silence and writes what comes out
    /// (the last `delay()` samples of the real input) to `output`, which must hold them.
    pub fn flush(&mut self, output: &mut [F::Sample]) -> usize {
        let idle = vec![self.format.idle(); self.delay()];
        let n = self.process(&idle, output);
        self.detector.finish();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_covers_the_expected_blocks() {
        let rule = MaskRule::new(&MaskerConfig::default());
        assert_eq!((rule.lookbehind(), rule.pre(), rule.post()), (5, 2, 2));
        // One hot window ending at block 10 (covering 8..=10) masks blocks 6..=12.
        let mut hot = vec![false; 20];
        hot[10] = true;
        let masked: Vec<usize> =
            rule.apply(&hot).iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i).collect();
        assert_eq!(masked, (6..=12).collect::<Vec<_>>());
    }

    #[test]
    fn substitutes_do_not_depend_on_anything_but_position() {
        let f = G711(Law::Ulaw);
        let a: Vec<u8> = (0..64).map(|n| f.substitute(Substitute::FlatTone, n)).collect();
        let b: Vec<u8> = (4096..4096 + 64).map(|n| f.substitute(Substitute::FlatTone, n)).collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|&c| c != Law::Ulaw.silence()));
        assert!((0..64).all(|n| f.substitute(Substitute::Silence, n) == Law::Ulaw.silence()));
    }
}
