//! The benchmark audio: a reproducible mix of speech-like sound, silence and DTMF key presses at
//! 8 kHz, about 10 % of the time tone.
//!
//! Speech-like: syllables of a glottal pulse train (90–220 Hz, drifting) through three formant
//! resonators that glide between vowel targets, and unvoiced syllables of filtered noise, under a
//! syllabic envelope, at −20 dBm0 over each talk spurt. It has the harmonic structure that makes
//! talk-off hard and costs the detectors their slow paths, unlike white noise. Silence is a
//! −60 dBm0 noise floor (a quiet line, not digital zero). Presses are 60–90 ms at −10 dBm0 per
//! tone (twist ±2 dB), 70–110 ms apart, in groups of 3–5 after a pause.
//!
//! Everything goes through µ-law once, so linear and µ-law consumers get identical samples.

use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Digit, Law};

/// One synthetic key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Press {
    /// The key, as a keypad character.
    pub key: char,
    /// First sample of the tone.
    pub start: usize,
    /// One past the last sample of the tone.
    pub end: usize,
}

/// The benchmark audio.
pub struct Audio {
    /// 16-bit linear samples (the µ-law codes decoded).
    pub linear: Vec<i16>,
    /// µ-law codes.
    pub ulaw: Vec<u8>,
    /// The key presses, in order.
    pub presses: Vec<Press>,
    /// Samples of speech-like sound (talk spurts including their short internal pauses).
    pub speech_samples: usize,
    /// Samples of DTMF tone.
    pub tone_samples: usize,
}

impl Audio {
    /// The keys pressed, in order.
    pub fn keys(&self) -> String {
        self.presses.iter().map(|p| p.key).collect()
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.linear.len() as f64 / synth::RATE
    }

    /// Number of whole 20 ms frames.
    pub fn frames(&self) -> usize {
        self.linear.len() / crate::FRAME
    }
}

/// A two-pole resonator: y[n] = g·x[n] + 2r·cos θ·y[n−1] − r²·y[n−2].
#[derive(Default, Clone, Copy)]
struct Resonator {
    y1: f64,
    y2: f64,
}

impl Resonator {
    #[inline]
    fn step(&mut self, x: f64, hz: f64, bw: f64) -> f64 {
        let r = (-core::f64::consts::PI * bw / synth::RATE).exp();
        let c = 2.0 * r * (core::f64::consts::TAU * hz / synth::RATE).cos();
        // Unity gain at the centre frequency, roughly.
        let g = 1.0 - r;
        let y = g * x + c * self.y1 - r * r * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Vowel formant targets (F1, F2, F3), Hz.
const VOWELS: [(f64, f64, f64); 8] = [
    (730.0, 1090.0, 2440.0), // a
    (530.0, 1840.0, 2480.0), // e
    (270.0, 2290.0, 3010.0), // i
    (570.0, 840.0, 2410.0),  // o
    (300.0, 870.0, 2240.0),  // u
    (660.0, 1720.0, 2410.0), // æ
    (490.0, 1350.0, 1690.0), // ɝ
    (640.0, 1190.0, 2390.0), // ʌ
];

/// Writes a talk spurt of speech-like sound into `buf` (overwriting), at `dbm0` mean power.
fn speech(buf: &mut [f64], dbm0: f64, rng: &mut Rng) {
    buf.fill(0.0);
    let mut at = 0;
    let mut f0 = rng.range(90.0, 220.0);
    let mut phase = 0.0f64;
    let mut formants = [Resonator::default(); 3];
    let mut fric = [Resonator::default(); 2];
    let mut lp = 0.0f64;
    while at < buf.len() {
        let len = synth::ms(rng.range(120.0, 280.0)).min(buf.len() - at);
        let voiced = rng.unit() < 0.75;
        let (a, b) = (VOWELS[rng.below(VOWELS.len())], VOWELS[rng.below(VOWELS.len())]);
        let f0_end = (f0 * rng.range(0.8, 1.25)).clamp(80.0, 260.0);
        let fric_hz = rng.range(2500.0, 3600.0);
        for n in 0..len {
            let t = n as f64 / len as f64;
            let env = (core::f64::consts::PI * t).sin().powi(2);
            let x = if voiced {
                let f = f0 + (f0_end - f0) * t + 2.0 * rng.gauss(); // with jitter
                phase += f / synth::RATE;
                // A glottal pulse per period, smoothed by a one-pole low-pass (spectral tilt).
                let pulse = if phase >= 1.0 {
                    phase -= 1.0;
                    1.0
                } else {
                    0.0
                };
                lp = 0.7 * lp + pulse;
                let f1 = a.0 + (b.0 - a.0) * t;
                let f2 = a.1 + (b.1 - a.1) * t;
                let f3 = a.2 + (b.2 - a.2) * t;
                let s = formants[0].step(lp, f1, 90.0) * 1.0
                    + formants[1].step(lp, f2, 110.0) * 0.6
                    + formants[2].step(lp, f3, 170.0) * 0.3;
                s + 0.02 * rng.gauss()
            } else {
                let w = fric[0].step(rng.gauss(), fric_hz, 900.0);
                fric[1].step(w, fric_hz * 1.2, 1200.0)
            };
            buf[at + n] = env * x;
        }
        f0 = f0_end;
        at += len;
        // Short gaps between syllables, sometimes none.
        at += synth::ms(rng.range(0.0, 60.0));
    }
    let p = buf.iter().map(|v| v * v).sum::<f64>() / buf.len().max(1) as f64;
    let g = (tonewall_dsp::level::dbm0_to_power(dbm0) / p.max(1e-30)).sqrt();
    for v in buf.iter_mut() {
        *v *= g;
    }
}

/// What a buffer holds: the benchmark mix, or one of its parts alone (to see which part costs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Talk spurts, pauses and key presses (the benchmark audio).
    Mixed,
    /// Talk spurts and pauses only.
    Speech,
    /// The −60 dBm0 noise floor only.
    Quiet,
    /// Key presses back to back (60–90 ms on, 70–110 ms off) on the noise floor, nothing else.
    Tones,
}

/// About `seconds` of the benchmark mix (rounded down to whole 20 ms frames), from `seed`.
pub fn mixed(seconds: f64, seed: u64) -> Audio {
    generate(Content::Mixed, seconds, seed)
}

/// About `seconds` of `content` (rounded down to whole 20 ms frames), from `seed`.
pub fn generate(content: Content, seconds: f64, seed: u64) -> Audio {
    let talk = matches!(content, Content::Mixed | Content::Speech);
    let press = matches!(content, Content::Mixed | Content::Tones);
    let mut rng = Rng::new(seed);
    let total = (synth::ms(seconds * 1000.0) / crate::FRAME).max(1) * crate::FRAME;
    let mut buf = vec![0.0f64; total];
    let mut presses = Vec::new();
    let (mut speech_samples, mut tone_samples) = (0, 0);
    let mut at = synth::ms(rng.range(0.0, 200.0));
    let mut spurt = Vec::new();
    while at < total && content != Content::Quiet {
        let before = at;
        if talk {
            // Talk spurt, then a pause.
            let len = synth::ms(rng.range(1200.0, 2400.0)).min(total - at);
            spurt.resize(len, 0.0);
            speech(&mut spurt, -20.0, &mut rng);
            buf[at..at + len].copy_from_slice(&spurt);
            speech_samples += len;
            at += len;
            at += synth::ms(rng.range(200.0, 500.0));
        }
        // A group of key presses.
        let group = if talk { 3 + rng.below(3) } else { 1 };
        for _ in 0..group * press as usize {
            let on = synth::ms(rng.range(60.0, 90.0));
            if at + on + synth::ms(200.0) > total {
                break;
            }
            let key = Digit::ALL[rng.below(16)];
            let twist = rng.range(-2.0, 2.0);
            synth::add_dtmf(&mut buf[at..at + on], key, -10.0, twist, (0.0, 0.0), &mut rng);
            presses.push(Press { key: key.as_char(), start: at, end: at + on });
            tone_samples += on;
            at += on + synth::ms(rng.range(70.0, 110.0));
        }
        if talk {
            at += synth::ms(100.0);
        }
        if at == before {
            break; // no room left for another press
        }
    }
    synth::add_noise(&mut buf, -60.0, &mut rng);
    let mut ulaw = vec![0u8; total];
    Law::Ulaw.encode_slice(&synth::to_i16(&buf), &mut ulaw);
    let mut linear = vec![0i16; total];
    Law::Ulaw.decode_slice(&ulaw, &mut linear);
    Audio { linear, ulaw, presses, speech_samples, tone_samples }
}

/// How a detector's reports compare with the presses in the audio.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Presses reported with the right key during the tone (or within 40 ms after it).
    pub found: usize,
    /// Presses not reported.
    pub missed: usize,
    /// Reports that match no press: a wrong key, a duplicate, or talk-off in speech.
    pub extra: usize,
    /// The keys reported, in order.
    pub keys: String,
}

/// Scores `reports` (key, sample at which the report came out) against the presses in `audio`.
pub fn score(audio: &Audio, reports: &[(char, usize)]) -> Score {
    let mut matched = vec![false; audio.presses.len()];
    let mut s = Score::default();
    for &(key, at) in reports {
        s.keys.push(key);
        // The latest press that began at or before the report.
        let i = audio.presses.partition_point(|p| p.start <= at);
        let hit = i
            .checked_sub(1)
            .filter(|&i| {
                let p = audio.presses[i];
                !matched[i] && p.key == key && at <= p.end + synth::ms(40.0) + crate::FRAME
            })
            .inspect(|&i| matched[i] = true);
        if hit.is_none() {
            s.extra += 1;
        }
    }
    s.found = matched.iter().filter(|&&m| m).count();
    s.missed = matched.len() - s.found;
    s
}
