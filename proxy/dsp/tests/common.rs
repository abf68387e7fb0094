//! Shared helpers for the detector and masker tests: build signals with random phases and onsets,
//! pass them through µ-law like a real call, and run the detector.
#![allow(dead_code, missing_docs)]

use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent, Law};

/// A detected press: key, first sample, end sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Press {
    pub key: char,
    pub start: u64,
    pub end: u64,
}

/// Encodes to µ-law and back, as the audio would arrive in a G.711 call.
pub fn through_ulaw(buf: &[f64]) -> Vec<i16> {
    synth::to_i16(buf).into_iter().map(|x| Law::Ulaw.decode(Law::Ulaw.encode(x))).collect()
}

/// Runs the detector over `samples` in chunks of random size and returns the presses.
pub fn detect_with(config: &DetectorConfig, samples: &[i16], rng: &mut Rng) -> Vec<Press> {
    let mut det = Detector::new(config);
    let mut out = Vec::new();
    let mut rest = samples;
    let drain = |det: &mut Detector, out: &mut Vec<Press>| {
        while let Some(ev) = det.poll_event() {
            if let DtmfEvent::DigitEnd { digit, start, end } = ev {
                out.push(Press { key: digit.as_char(), start, end });
            }
        }
    };
    while !rest.is_empty() {
        let n = (1 + rng.below(400)).min(rest.len());
        det.push(&rest[..n]);
        rest = &rest[n..];
        drain(&mut det, &mut out);
    }
    det.finish();
    drain(&mut det, &mut out);
    out
}

pub fn detect(samples: &[i16], rng: &mut Rng) -> Vec<Press> {
    detect_with(&DetectorConfig::default(), samples, rng)
}

/// Parameters of one synthetic key press.
#[derive(Clone, Copy, Debug)]
pub struct Tone {
    pub low_dbm0: f64,
    pub twist_db: f64,
    pub dev: (f64, f64),
    pub on_ms: f64,
}

impl Default for Tone {
    fn default() -> Self {
        Tone { low_dbm0: -10.0, twist_db: 0.0, dev: (0.0, 0.0), on_ms: 50.0 }
    }
}

/// A signal of `keys` pressed one after another, `off_ms` apart, starting after a random lead of
/// 100–120 ms (so onsets fall anywhere inside a 20 ms packet), with 200 ms of tail.
/// Returns the buffer and the true (start, end) sample of each press.
pub fn presses(keys: &[Digit], tone: Tone, off_ms: f64, rng: &mut Rng) -> (Vec<f64>, Vec<(u64, u64)>) {
    let lead = synth::ms(100.0) + rng.below(160);
    let on = synth::ms(tone.on_ms);
    let off = synth::ms(off_ms);
    let total = lead + keys.len() * (on + off) + synth::ms(200.0);
    let mut buf = vec![0.0; total];
    let mut spans = Vec::new();
    let mut at = lead;
    for &d in keys {
        synth::add_dtmf(&mut buf[at..at + on], d, tone.low_dbm0, tone.twist_db, tone.dev, rng);
        spans.push((at as u64, (at + on) as u64));
        at += on + off;
    }
    (buf, spans)
}

pub fn key(c: char) -> Digit {
    Digit::from_char(c).expect("a keypad character")
}

pub fn keys(s: &str) -> Vec<Digit> {
    s.chars().map(key).collect()
}

pub fn chars(p: &[Press]) -> String {
    p.iter().map(|p| p.key).collect()
}
