//! The in-band DTMF detector: streaming, sans-IO, any chunk size, 8 kHz linear input.
//!
//! ```text
//!  samples ─► 32-sample blocks ─► correlation kernel (simd) ─► block phasors Z_m(f), energy e_m
//!                                                                   │ 8 frequencies, absolute phase
//!                   ┌───────────────────────────────────────────────┴──────────────┐
//!          presence window (3 blocks, 12 ms)                    digit window (5 blocks, 20 ms)
//!          "is there a DTMF-like pair at all?"                  frequency estimate, zoomed energy,
//!                   │                                            level, twist, purity, peaks
//!                   ▼                                                   ▼
//!            hot flag per block  ──────────────────────────►   hit/miss debounce ─► DigitStart/End
//!            (drives the masker)
//! ```
//!
//! Each block's correlations against the eight tone frequencies are rotated into a common,
//! absolute phase reference, so the phasors of consecutive blocks add up to the DFT of any longer
//! window. That gives two windows from one pass over the samples: a short one that notices a tone
//! quickly (the masker needs to know within its look-behind) and a longer one that decides which
//! digit it is. The phase advance between blocks two apart measures each tone's frequency offset
//! directly, so the ±1.5 % accept / ±3.5 % reject rule of Q.24 is a test on a measured frequency,
//! not a side effect of a filter's bandwidth, and the tone's energy is measured at its own
//! frequency rather than at the nominal one.
//!
//! Timing follows Q.24 (AT&T) and ETSI ES 201 235-3: the 20 ms window must match at least
//! twice, and the matching blocks must hold ≥ 32 ms of tone, measured from how much of each 4 ms
//! block the pair fills (a 23 ms tone cannot reach it, a 40 ms tone always does); a digit ends
//! after 11 non-matching blocks, so a 10 ms dropout is bridged and a 40 ms pause separates two
//! presses of one key. A different key that starts without a pause must pass the same test
//! before it replaces the first.
//!
//! What it does not do: decide what a digit *means* (capture, flows), handle RFC 4733 packets
//! (tonewall-media), or touch the audio (see [`crate::masker`]).

use crate::digit::{COL_HZ, Digit, ROW_HZ};
use crate::level::dbm0_to_power;
use crate::simd::{BASIS, BASIS_SCALE, BLOCK, Basis, Kernel, Phasors};
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

/// Blocks in the digit window (20 ms).
pub const DIGIT_WINDOW: usize = 5;
/// Blocks in the presence window (12 ms).
pub const PRESENCE_WINDOW: usize = 3;
/// History kept, a power of two ≥ both windows.
const HIST: usize = 8;
/// Blocks after which the per-block phase rotation of every DTMF frequency repeats
/// (ω·32 samples is 2π·f/250 and every DTMF frequency is a whole number of Hz).
const ROT_PERIOD: usize = 250;

/// Thresholds of the detector. The defaults meet ITU-T Q.24 (AT&T column) with margin; see the
/// conformance tests in `tests/q24.rs`.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Weakest accepted tone, dBm0 per tone. Q.24 asks for −25; default −40.
    pub min_level_dbm0: f64,
    /// How much weaker the high tone may be than the low one, dB ("normal" twist; Q.24: 8).
    pub max_normal_twist_db: f64,
    /// How much stronger the high tone may be than the low one, dB ("reverse" twist; Q.24: 4).
    pub max_reverse_twist_db: f64,
    /// Largest accepted frequency offset of each tone, as a fraction (Q.24: accept 1.5 % + 2 Hz,
    /// reject 3.5 %; default 2.6 %, between the two).
    pub freq_tolerance: f64,
    /// Share of the window's energy the two tones must carry (the talk-off guard).
    pub min_purity: f64,
    /// How far, in dB, each tone must stand above the other tones of its group.
    pub relative_peak_db: f64,
    /// Blocks on which the 20 ms window must match before a digit is declared.
    pub hits_to_start: u8,
    /// Shortest tone declared a digit, ms, measured from how much of each 4 ms block the pair
    /// fills (Q.24: accept 40, reject 23).
    pub min_tone_ms: f64,
    /// Consecutive non-matching blocks that end a digit.
    pub misses_to_end: u8,
    /// Share of a 12 ms window's energy a DTMF-like pair must carry for the block to be masked.
    pub presence_purity: f64,
    /// Weakest tone that makes a block masked, dBm0 per tone.
    pub presence_level_dbm0: f64,
    /// Largest frequency offset that still makes a block masked, as a fraction: wider than
    /// `freq_tolerance`, so a tone just outside the digit rules is still hidden.
    pub presence_freq_tolerance: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_level_dbm0: -40.0,
            max_normal_twist_db: 10.0,
            max_reverse_twist_db: 6.0,
            freq_tolerance: 0.026,
            min_purity: 0.85,
            relative_peak_db: 8.0,
            hits_to_start: 2,
            min_tone_ms: 32.0,
            misses_to_end: 11,
            presence_purity: 0.8,
            presence_level_dbm0: -45.0,
            presence_freq_tolerance: 0.04,
        }
    }
}

impl DetectorConfig {
    /// The most sensitive setting: anything tone-like of any duration, as an auditor's second
    /// opinion on audio that is supposed to be clean (`tonewall scan --sensitive`).
    pub fn max_sensitivity() -> Self {
        DetectorConfig {
            min_level_dbm0: -50.0,
            max_normal_twist_db: 16.0,
            max_reverse_twist_db: 12.0,
            freq_tolerance: 0.05,
            min_purity: 0.45,
            relative_peak_db: 4.0,
            hits_to_start: 1,
            min_tone_ms: 10.0,
            misses_to_end: 11,
            presence_purity: 0.45,
            presence_level_dbm0: -50.0,
            presence_freq_tolerance: 0.06,
        }
    }
}

/// What the detector reports. Sample positions count from the first sample ever pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A key press was confirmed; it began at sample `start`.
    DigitStart {
        /// The key.
        digit: Digit,
        /// First sample of the tone (±4 ms).
        start: u64,
    },
    /// The key press ended at sample `end` (exclusive).
    DigitEnd {
        /// The key.
        digit: Digit,
        /// First sample of the tone.
        start: u64,
        /// One past the last sample of the tone (±4 ms).
        end: u64,
    },
}

/// Thresholds turned into the linear quantities the per-block code compares.
#[derive(Clone, Debug)]
struct Limits {
    /// Minimum tone energy over the digit window (basis-scaled |X|² units).
    min_digit: f32,
    min_presence: f32,
    normal_twist: f32,
    reverse_twist: f32,
    presence_twist_lo: f32,
    presence_twist_hi: f32,
    /// cos of the largest accepted phase advance per block, per frequency.
    digit_cos: [f32; 8],
    presence_cos: [f32; 8],
    purity: f32,
    presence_purity: f32,
    rel_peak: f32,
    /// Bounds for skipping a window: a window's purity can exceed the summed per-block best-pair
    /// share only by the block response's loss at the largest accepted offset (1/g²).
    digit_skip: f32,
    presence_skip: f32,
    hits_to_start: u8,
    /// Minimum tone duration in blocks.
    min_blocks: f32,
    misses_to_end: u8,
}

impl Limits {
    fn new(c: &DetectorConfig) -> Self {
        // A tone of mean power P over L samples has |X|² = P·L²/2 · scale² (amplitude A, P = A²/2).
        let tone = |dbm0: f64, blocks: usize| {
            let l = (blocks * BLOCK) as f64;
            (dbm0_to_power(dbm0) * l * l / 2.0 * BASIS_SCALE * BASIS_SCALE) as f32
        };
        let db = |d: f64| 10f64.powf(d / 10.0) as f32;
        // An offset of Δ Hz advances the phase by 2π·Δ·32/8000 per block.
        let tol = |fraction: f64| {
            let mut t = [0f32; 8];
            for (t, hz) in t.iter_mut().zip(ROW_HZ.iter().chain(COL_HZ.iter())) {
                *t = (core::f64::consts::TAU * hz * fraction * BLOCK as f64 / 8000.0).cos() as f32;
            }
            t
        };
        Limits {
            min_digit: tone(c.min_level_dbm0, DIGIT_WINDOW),
            min_presence: tone(c.presence_level_dbm0, PRESENCE_WINDOW),
            normal_twist: db(c.max_normal_twist_db),
            reverse_twist: db(c.max_reverse_twist_db),
            presence_twist_lo: db(-(c.max_normal_twist_db + 4.0)),
            presence_twist_hi: db(c.max_reverse_twist_db + 4.0),
            digit_cos: tol(c.freq_tolerance),
            presence_cos: tol(c.presence_freq_tolerance),
            purity: c.min_purity as f32,
            presence_purity: c.presence_purity as f32,
            rel_peak: db(c.relative_peak_db),
            digit_skip: (c.min_purity * block_gain_sq(c.freq_tolerance)) as f32,
            presence_skip: (c.presence_purity * block_gain_sq(c.presence_freq_tolerance)) as f32,
            hits_to_start: c.hits_to_start.max(1),
            min_blocks: (c.min_tone_ms * 8.0 / BLOCK as f64) as f32,
            misses_to_end: c.misses_to_end.max(1),
        }
    }
}

/// The default thresholds, built once and shared by every detector built with them: a relay
/// core serving many calls keeps one copy in cache instead of one per stream.
static DEFAULT_LIMITS: LazyLock<Arc<Limits>> =
    LazyLock::new(|| Arc::new(Limits::new(&DetectorConfig::default())));

/// e^{−jω_k·32·m} for m in 0..250, per frequency: rotates a block's phasor into absolute phase.
struct Rotations([crate::simd::Rotation; ROT_PERIOD]);

static ROTATIONS: LazyLock<Rotations> = LazyLock::new(|| {
    let mut r = [[[0f32; 8]; 2]; ROT_PERIOD];
    for (m, slot) in r.iter_mut().enumerate() {
        for (k, hz) in ROW_HZ.iter().chain(COL_HZ.iter()).enumerate() {
            let phase = -core::f64::consts::TAU * hz * (BLOCK * m) as f64 / 8000.0;
            slot[0][k] = phase.cos() as f32;
            slot[1][k] = phase.sin() as f32;
        }
    }
    Rotations(r)
});

/// One block of the history: the kernel's phasors, written here in place, and the best pair's
/// energy. 80 bytes, so a slot's vectors never straddle more cache lines than they must.
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
struct Slot {
    z: Phasors,
    /// The best row's plus the best column's tone energy, in the units of `z.energy`.
    pair: f32,
}

/// Ring slots of the `W` blocks ending at slot `newest`, oldest first.
#[inline]
fn window_slots<const W: usize>(newest: usize) -> [usize; W] {
    core::array::from_fn(|m| (newest + HIST + 1 + m - W) % HIST)
}

/// A run of matching windows that may become a digit.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    digit: Digit,
    hits: u8,
    misses: u8,
    /// Block index of the first matching window.
    first: u64,
    /// Blocks' worth of tone seen so far (see [`Detector::filled`]).
    filled: f32,
}

impl Run {
    /// First sample of the run's tone: the start of its first matching window.
    fn start(&self) -> u64 {
        (self.first + 1).saturating_sub(DIGIT_WINDOW as u64) * BLOCK as u64
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Idle,
    /// Matching windows seen, not enough yet.
    Candidate(Run),
    /// A confirmed press; `rival` is a different key that started to match, which takes over
    /// if it becomes a digit in its own right (keys pressed back to back, no pause).
    Active {
        digit: Digit,
        start: u64,
        last_hit: u64,
        misses: u8,
        rival: Option<Run>,
    },
}

/// A streaming DTMF detector for one audio stream: under 1 KiB of state (a test holds it there).
pub struct Detector {
    /// Thresholds, shared between detectors built from one configuration (see
    /// [`Detector::fresh`]; every detector with the default thresholds shares one copy): at
    /// 100 000 streams per core every byte of state counts.
    limits: Arc<Limits>,
    kernel: Kernel,
    /// The shared tables, resolved once so the per-block path has no lazy-init checks.
    basis: &'static Basis,
    rotations: &'static Rotations,
    buf: [i16; BLOCK],
    fill: usize,
    /// Complete blocks processed so far.
    blocks: u64,
    /// `blocks` modulo the rotation period, kept separately to avoid a division per block.
    rot_index: u16,
    /// The last blocks, at `block index % HIST`; the kernel writes each block's slot in place.
    hist: [Slot; HIST],
    /// Bit b: block (blocks − 1 − b) was hot (tone-like; the masker masks around it).
    hot: u64,
    state: State,
    /// The key whose press has been matching on nominal energies (on frequency): once those
    /// fail for it, it is ending, and no frequency measurement is needed to say so.
    nominal: Option<Digit>,
    events: VecDeque<DtmfEvent>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(&DetectorConfig::default())
    }
}

impl Detector {
    /// A detector with the given thresholds and the fastest kernel for this CPU.
    pub fn new(config: &DetectorConfig) -> Self {
        Detector::with_kernel(config, Kernel::best())
    }

    /// A detector using a particular kernel (tests and benches compare them).
    pub fn with_kernel(config: &DetectorConfig, kernel: Kernel) -> Self {
        Detector {
            limits: if *config == DetectorConfig::default() {
                Arc::clone(&DEFAULT_LIMITS)
            } else {
                Arc::new(Limits::new(config))
            },
            kernel,
            basis: &BASIS,
            rotations: &ROTATIONS,
            buf: [0; BLOCK],
            fill: 0,
            blocks: 0,
            rot_index: 0,
            hist: [Slot::default(); HIST],
            hot: 0,
            state: State::Idle,
            nominal: None,
            events: VecDeque::with_capacity(4),
        }
    }

    /// A new detector for another stream, with the same thresholds and kernel (shared, not copied).
    pub fn fresh(&self) -> Detector {
        let mut d = Detector::with_kernel(&DetectorConfig::default(), self.kernel);
        d.limits = Arc::clone(&self.limits);
        d
    }

    /// Bytes this detector occupies: inline, its event queue, and its thresholds (counted in
    /// full even when shared with other detectors).
    pub fn footprint(&self) -> usize {
        size_of::<Detector>() + self.events.capacity() * size_of::<DtmfEvent>() + size_of::<Limits>()
    }

    /// Feeds samples; any length. Drain [`Detector::poll_event`] afterwards.
    pub fn push(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            // Whole blocks go to the kernel straight from the caller's buffer: a copy written
            // just before the kernel's wide loads would stall them.
            if self.fill == 0 {
                while let Some((block, rest)) = samples.split_first_chunk::<BLOCK>() {
                    self.push_block(block);
                    samples = rest;
                }
                if samples.is_empty() {
                    break;
                }
            }
            let take = (BLOCK - self.fill).min(samples.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&samples[..take]);
            self.fill += take;
            samples = &samples[take..];
            if self.fill == BLOCK {
                self.fill = 0;
                let block = self.buf;
                self.push_block(&block);
            }
        }
    }

    /// Feeds exactly one block; returns whether it was hot. The masker calls this directly.
    pub fn push_block(&mut self, block: &[i16; BLOCK]) -> bool {
        self.analyze(block, 0);
        self.absorb()
    }

    /// [`Detector::push_block`] for a block of G.711 codes, decoded inside the kernel.
    pub fn push_g711_block(&mut self, law: crate::g711::Law, codes: &[u8; BLOCK]) -> bool {
        self.analyze_g711(law, codes, 0);
        self.absorb()
    }

    /// The kernel's half of [`Detector::push_block`]: the block's phasors, written into its
    /// history slot. `ahead` is how many analyzed blocks still wait for their
    /// [`Detector::absorb`] (0 or 1): a block analyzed before the previous one is absorbed
    /// overlaps with it in the CPU (the masker does this within a packet). Every block analyzed
    /// must be absorbed, in order.
    #[inline]
    pub(crate) fn analyze(&mut self, block: &[i16; BLOCK], ahead: usize) {
        debug_assert_eq!(self.fill, 0, "blocks after a partial push() would misalign sample positions");
        debug_assert!(ahead <= 1, "the slot of a block analyzed further ahead may still be read");
        // The kernel correlates, rotates into absolute phase and finds the block's best pair.
        let rot = self.next_rotation();
        let out = &mut self.hist[(self.blocks as usize + ahead) % HIST].z;
        self.kernel.analyze_into(block, self.basis, rot, out)
    }

    /// [`Detector::analyze`] for G.711 codes.
    #[inline]
    pub(crate) fn analyze_g711(&mut self, law: crate::g711::Law, codes: &[u8; BLOCK], ahead: usize) {
        debug_assert_eq!(self.fill, 0, "blocks after a partial push() would misalign sample positions");
        debug_assert!(ahead <= 1, "the slot of a block analyzed further ahead may still be read");
        let rot = self.next_rotation();
        let out = &mut self.hist[(self.blocks as usize + ahead) % HIST].z;
        self.kernel.analyze_g711_into(law, codes, self.basis, rot, out)
    }

    /// The rotation for the block about to be analyzed.
    #[inline]
    fn next_rotation(&mut self) -> &'static crate::simd::Rotation {
        let rot = &self.rotations.0[self.rot_index as usize];
        self.rot_index = if self.rot_index as usize + 1 == ROT_PERIOD { 0 } else { self.rot_index + 1 };
        rot
    }

    /// Takes the next analyzed block (its phasors already in its slot): tests the windows that
    /// end with it, advances the digit state; returns whether it was hot.
    #[inline]
    pub(crate) fn absorb(&mut self) -> bool {
        let slot = (self.blocks as usize) % HIST;
        let index = self.blocks;
        self.blocks += 1;
        // The best pair's share of this block: most blocks of speech and noise are ruled out
        // here without touching the windows (see `Limits::digit_skip`).
        let norm = 2.0 / (BLOCK as f32 * (BASIS_SCALE * BASIS_SCALE) as f32);
        let this = &mut self.hist[slot];
        let e = this.z.energy;
        let pair = this.z.row * norm + this.z.col * norm;
        this.pair = pair;
        let (mut present, mut hit) = (false, None);
        // The windows' pair and energy sums, oldest block first (this block's from registers).
        let older = |back: usize| {
            let s = &self.hist[(slot + HIST - back) % HIST];
            (s.pair, s.z.energy)
        };
        let ((pa, ea), (pb, eb), (pc, ec), (pd, ed)) = (older(4), older(3), older(2), older(1));
        let (p3, e3) = ((pc + pd) + pair, (ec + ed) + e);
        let (p5, e5) = ((((pa + pb) + pc) + pd) + pair, (((ea + eb) + ec) + ed) + e);
        let presence_possible = p3 >= self.limits.presence_skip * e3;
        if p5 >= self.limits.digit_skip * e5 {
            let fast;
            (hit, fast) = self.classify(slot, e5);
            if let Some(d) = hit {
                self.nominal = fast.then_some(d);
            }
        }
        // A confirmed press keeps blocks hot through up to three missed windows (hardening: a
        // dropout or a noisy stretch of a tone is masked whatever the short window says), and a
        // digit hit makes the block hot; the presence test is for everything else.
        let active = matches!(self.state, State::Active { misses, .. } if misses < 3);
        if hit.is_none() && !active && presence_possible {
            present = self.presence(slot, e3);
        }
        if hit.is_some() || self.state != State::Idle {
            self.advance(index, hit);
            if self.state == State::Idle {
                self.nominal = None;
            }
        }
        let hot = active || present || hit.is_some();
        self.hot = (self.hot << 1) | hot as u64;
        hot
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// Ends the stream: pads the last partial block with silence and closes a digit in progress.
    pub fn finish(&mut self) {
        let pushed = self.blocks * BLOCK as u64 + self.fill as u64;
        if self.fill > 0 {
            let pad = [0i16; BLOCK];
            let n = BLOCK - self.fill;
            self.push(&pad[..n]);
        }
        if let State::Active { digit, start, last_hit, .. } = self.state {
            // The padding is not audio: a tone ends at the last sample pushed at the latest.
            let end = ((last_hit + 1) * BLOCK as u64).min(pushed);
            self.events.push_back(DtmfEvent::DigitEnd { digit, start, end });
        }
        self.state = State::Idle;
    }

    /// Complete blocks processed so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Hot flags of recent blocks: bit b is block `blocks() − 1 − b`.
    pub fn hot_bits(&self) -> u64 {
        self.hot
    }

    /// Whether a key press is confirmed and not yet ended.
    pub fn digit_active(&self) -> bool {
        matches!(self.state, State::Active { .. })
    }

    /// Nominal-frequency energies (|ΣZ|²) over the blocks in `slots`.
    #[inline]
    fn window<const W: usize>(&self, slots: &[usize; W]) -> [f32; 8] {
        let mut sr = [0f32; 8];
        let mut si = [0f32; 8];
        for &slot in slots {
            let z = &self.hist[slot % HIST].z;
            for k in 0..8 {
                sr[k] += z.re[k];
                si[k] += z.im[k];
            }
        }
        let mut p = [0f32; 8];
        for k in 0..8 {
            p[k] = sr[k] * sr[k] + si[k] * si[k];
        }
        p
    }

    /// The key of the run or press in progress, if any.
    fn current_digit(&self) -> Option<Digit> {
        match self.state {
            State::Idle => None,
            State::Candidate(run) => Some(run.digit),
            State::Active { digit, .. } => Some(digit),
        }
    }

    /// Is a DTMF-like pair present in the 12 ms window ending at the latest block? Looser than
    /// [`Detector::classify`] in frequency (`presence_freq_tolerance`, 4 %), twist (4 dB more
    /// each way) and duration, since masking a little more is cheap and missing an onset is not;
    /// nearly as strict in purity (0.8 against 0.85), so speech rarely trips it.
    /// `slot` is the latest block's, `e` the window's energy.
    fn presence(&self, slot: usize, e: f32) -> bool {
        let l = &self.limits;
        let slots = &window_slots::<PRESENCE_WINDOW>(slot);
        let p = self.window(slots);
        let (r, pr) = argmax(&p[..4]);
        let (c, pc) = argmax(&p[4..]);
        let norm = 2.0 / ((PRESENCE_WINDOW * BLOCK) as f32 * (BASIS_SCALE * BASIS_SCALE) as f32);
        if pr < l.min_presence * 0.3
            || pc < l.min_presence * 0.3
            || (pr + pc) * norm < 0.4 * l.presence_purity * e
        {
            return false;
        }
        // The tail of a press in progress: its own pair, at the nominal frequencies if it was on
        // frequency, needs no frequency measurement either way.
        if let Some(digit) = self.current_digit()
            && (digit.row(), digit.col()) == (r, c)
        {
            if pr >= l.min_presence && pc >= l.min_presence && (pr + pc) * norm >= l.presence_purity * e {
                return true;
            }
            if self.nominal == Some(digit) {
                return false;
            }
        }
        let [(er, cr), (ec, cc)] = self.zoom([r, 4 + c], slots, 1);
        if cr < l.presence_cos[r] || cc < l.presence_cos[4 + c] {
            return false;
        }
        if er < l.min_presence || ec < l.min_presence {
            return false;
        }
        let twist = ec / er;
        if twist < l.presence_twist_lo || twist > l.presence_twist_hi {
            return false;
        }
        (er + ec) * norm >= l.presence_purity * e
    }

    /// Which digit, if any, the 20 ms window ending at the latest block holds, and whether it
    /// matched on nominal energies alone (the run's continuation fast path).
    /// `slot` is the latest block's, `e` the window's energy.
    fn classify(&self, slot: usize, e: f32) -> (Option<Digit>, bool) {
        let l = &self.limits;
        let slots = &window_slots::<DIGIT_WINDOW>(slot);
        let p = self.window(slots);
        let (r, pr) = argmax(&p[..4]);
        let (c, pc) = argmax(&p[4..]);
        let norm = 2.0 / ((DIGIT_WINDOW * BLOCK) as f32 * (BASIS_SCALE * BASIS_SCALE) as f32);
        // Cheap gate first: most blocks of speech and noise stop here. Off-frequency tones lose
        // up to ~5 dB at the nominal frequency, hence the loose factors.
        if pr < l.min_digit * 0.3 || pc < l.min_digit * 0.3 || (pr + pc) * norm < 0.4 * l.purity * e {
            return (None, false);
        }
        // A press already matched (its frequencies measured when its run began) continues while
        // the same pair stays pure at the nominal frequencies: no frequency measurement per block.
        if let Some(digit) = self.current_digit()
            && (digit.row(), digit.col()) == (r, c)
            && (pr + pc) * norm >= l.purity * e
            && pr >= l.min_digit
            && pc >= l.min_digit
            && (0..4).all(|k| (k == r || p[k] * l.rel_peak <= pr) && (k == c || p[4 + k] * l.rel_peak <= pc))
        {
            return (Some(digit), true);
        }
        if let Some(digit) = self.nominal
            && self.current_digit() == Some(digit)
            && (digit.row(), digit.col()) == (r, c)
        {
            // An on-frequency press whose pair no longer passes: it is ending.
            return (None, false);
        }
        let [(er, cr), (ec, cc)] = self.zoom([r, 4 + c], slots, 2);
        if cr < l.digit_cos[r] || cc < l.digit_cos[4 + c] {
            return (None, false);
        }
        if er < l.min_digit || ec < l.min_digit {
            return (None, false);
        }
        if ec * l.normal_twist < er || ec > er * l.reverse_twist {
            return (None, false);
        }
        if (er + ec) * norm < l.purity * e {
            return (None, false);
        }
        for k in 0..4 {
            if (k != r && p[k] * l.rel_peak > er) || (k != c && p[4 + k] * l.rel_peak > ec) {
                return (None, false);
            }
        }
        (Digit::from_row_col(r, c), false)
    }

    /// The energy of tone `k` over the last `w` blocks measured at its own frequency, and the
    /// cosine of its phase advance per block (1 at the nominal frequency; compared with
    /// `Limits::*_cos` instead of converting to Hz). The advance is measured over `lag` blocks.
    /// No trigonometric calls: rotations come from normalising the measured phasor product.
    fn zoom<const N: usize, const W: usize>(
        &self,
        ks: [usize; N],
        slots: &[usize; W],
        lag: usize,
    ) -> [(f32, f32); N] {
        // The N frequencies go in lockstep (their dependency chains overlap); per lane, the
        // arithmetic is exactly that of a single frequency.
        let w = W;
        let (mut zr, mut zi) = ([[0f32; N]; W], [[0f32; N]; W]);
        for (m, &s) in slots.iter().enumerate() {
            // (Slots are below HIST; saying so lets the compiler drop the bounds checks.)
            let s = s % HIST;
            let z = &self.hist[s].z;
            for j in 0..N {
                zr[m][j] = z.re[ks[j]];
                zi[m][j] = z.im[ks[j]];
            }
        }
        // Σ Z_{m+lag} · conj(Z_m) over the window: its angle is the advance over `lag` blocks.
        let (mut ar, mut ai) = ([0f32; N], [0f32; N]);
        for m in 0..w - lag {
            let (a, b) = (m + lag, m);
            for j in 0..N {
                ar[j] += zr[a][j] * zr[b][j] + zi[a][j] * zi[b][j];
                ai[j] += zi[a][j] * zr[b][j] - zr[a][j] * zi[b][j];
            }
        }
        let (mut cb, mut sb) = ([1f32; N], [0f32; N]);
        for j in 0..N {
            let r = (ar[j] * ar[j] + ai[j] * ai[j]).sqrt();
            let (cl, sl) = if r > 0.0 { (ar[j] / r, ai[j] / r) } else { (1.0, 0.0) };
            // Per block: the angle itself for lag 1, its half (|θ/2| ≤ π/2, so cos ≥ 0) for lag 2.
            (cb[j], sb[j]) = if lag == 1 {
                (cl, sl)
            } else {
                (((1.0 + cl) * 0.5).max(0.0).sqrt(), ((1.0 - cl) * 0.5).max(0.0).sqrt().copysign(sl))
            };
        }
        // Derotate each block by the advance, oldest first, and sum.
        let (mut rc, mut rs) = ([1f32; N], [0f32; N]);
        let (mut sr, mut si) = ([0f32; N], [0f32; N]);
        for m in 0..w {
            for j in 0..N {
                sr[j] += zr[m][j] * rc[j] - zi[m][j] * rs[j];
                si[j] += zr[m][j] * rs[j] + zi[m][j] * rc[j];
                (rc[j], rs[j]) = (rc[j] * cb[j] + rs[j] * sb[j], rs[j] * cb[j] - rc[j] * sb[j]);
            }
        }
        core::array::from_fn(|j| {
            // Undo the loss of the 32-sample block's own response at that offset:
            // g = sin(θ/2) / (32 · sin(θ/64)), θ the advance per block.
            let half = ((1.0 - cb[j]) * 0.5).max(0.0).sqrt(); // |sin(θ/2)|
            let theta = 2.0 * half * (1.0 + half * half * (1.0 / 6.0 + half * half * 0.075)); // 2·asin
            let g = if theta > 1e-4 { half / (BLOCK as f32 * (theta / 64.0)) } else { 1.0 };
            ((sr[j] * sr[j] + si[j] * si[j]) / (g * g), cb[j])
        })
    }

    /// How much of block `back` blocks ago the pair (r, c) fills, 0..1: the tone's share of the
    /// block's energy mapped so that 15 % or less (what noise and speech alone often reach in a
    /// 250 Hz-wide block filter) counts as nothing and 85 % or more as a full block.
    fn filled(&self, back: usize, digit: Digit) -> f32 {
        let s = (self.blocks as usize + HIST - 1 - back) % HIST;
        let (r, c) = (digit.row(), 4 + digit.col());
        let z = &self.hist[s].z;
        let tone = z.re[r].powi(2) + z.im[r].powi(2) + z.re[c].powi(2) + z.im[c].powi(2);
        let norm = 2.0 / (BLOCK as f32 * (BASIS_SCALE * BASIS_SCALE) as f32);
        let share = tone * norm / z.energy.max(1.0);
        ((share - 0.15) / 0.7).clamp(0.0, 1.0)
    }

    fn advance(&mut self, index: u64, hit: Option<Digit>) {
        let limits = &self.limits;
        // A new run counts the tone already inside its first window, and one block more.
        let begin = |d: Digit| Run {
            digit: d,
            hits: 1,
            misses: 0,
            first: index,
            filled: (0..=DIGIT_WINDOW).map(|b| self.filled(b, d)).sum(),
        };
        // The run after this block: longer, restarted for another key, or gone after a second miss.
        let step = |run: Run| -> Option<Run> {
            match hit {
                Some(d) if d == run.digit => Some(Run {
                    hits: run.hits.saturating_add(1),
                    misses: 0,
                    filled: run.filled + self.filled(0, d),
                    ..run
                }),
                Some(d) => Some(begin(d)),
                None if run.misses >= 1 => None,
                None => Some(Run { misses: 1, filled: run.filled + self.filled(0, run.digit), ..run }),
            }
        };
        let ready = |run: &Run| run.hits >= limits.hits_to_start && run.filled >= limits.min_blocks;
        let mut events = [None, None];
        let next = match self.state {
            State::Idle => hit.map_or(State::Idle, |d| State::Candidate(begin(d))),
            State::Candidate(run) => step(run).map_or(State::Idle, State::Candidate),
            State::Active { digit, start, .. } if hit == Some(digit) => {
                State::Active { digit, start, last_hit: index, misses: 0, rival: None }
            }
            State::Active { digit, start, last_hit, misses, rival } => {
                let rival = match (rival, hit) {
                    (Some(run), _) => step(run),
                    (None, Some(d)) => Some(begin(d)),
                    (None, None) => None,
                };
                let end = (last_hit + 1) * BLOCK as u64;
                match rival {
                    Some(run) if ready(&run) => {
                        // A different key, held long enough: the first press ended where it began.
                        events[0] = Some(DtmfEvent::DigitEnd { digit, start, end: end.min(run.start()) });
                        State::Candidate(run)
                    }
                    _ if misses + 1 >= limits.misses_to_end => {
                        events[0] = Some(DtmfEvent::DigitEnd { digit, start, end });
                        rival.map_or(State::Idle, State::Candidate)
                    }
                    _ => State::Active { digit, start, last_hit, misses: misses + 1, rival },
                }
            }
        };
        self.state = match next {
            State::Candidate(run) if ready(&run) => {
                let start = run.start();
                events[1] = Some(DtmfEvent::DigitStart { digit: run.digit, start });
                State::Active { digit: run.digit, start, last_hit: index, misses: 0, rival: None }
            }
            other => other,
        };
        for event in events.into_iter().flatten() {
            self.events.push_back(event);
        }
    }
}

/// |g|² of a 32-sample block's response at the largest offset `fraction` of any DTMF frequency:
/// the most a frequency-corrected window energy can exceed the blocks' own energies by.
fn block_gain_sq(fraction: f64) -> f64 {
    let hz = COL_HZ[3] * fraction;
    let x = core::f64::consts::PI * hz / 8000.0;
    let g = (x * BLOCK as f64).sin() / (BLOCK as f64 * x.sin());
    // A little margin for f32 rounding.
    g * g * 0.98
}

#[inline]
fn argmax(v: &[f32]) -> (usize, f32) {
    let mut best = (0, v[0]);
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > best.1 {
            best = (i, x);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's budget: detector state ≤ 1 KiB per stream (the masker's look-behind is extra).
    #[test]
    fn state_fits_in_a_kibibyte() {
        let d = Detector::default();
        let heap = d.events.capacity() * size_of::<DtmfEvent>();
        let total = size_of::<Detector>() + heap;
        println!("Detector: {} bytes inline + {heap} on the heap", size_of::<Detector>());
        assert!(total <= 1024, "{total} bytes");
    }
}
