//! Test signals: tones, DTMF digits and noise at exact levels, from a seeded generator.
//!
//! Tests, benches and documentation examples all build their audio here so that a failing case
//! can be replayed from its seed. Nothing in the detection path depends on this module.

use crate::digit::Digit;
use crate::level::{dbm0_to_power, sine_amplitude};
use core::f64::consts::TAU;

/// Sample rate of everything in this crate, Hz.
pub const RATE: f64 = 8000.0;

/// A small, fast, seedable generator (SplitMix64). Not for secrets: for reproducible signals.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator that yields the same sequence for the same seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }

    /// A random phase in radians.
    pub fn phase(&mut self) -> f64 {
        self.range(0.0, TAU)
    }
}

/// One sinusoidal component: frequency in Hz, level in dBm0, starting phase in radians.
#[derive(Clone, Copy, Debug)]
pub struct Component {
    /// Frequency, Hz.
    pub hz: f64,
    /// Level, dBm0.
    pub dbm0: f64,
    /// Phase at the first sample, radians.
    pub phase: f64,
}

/// Adds `components` to `buf` (floating point, 16-bit scale) starting at `buf[0]`.
pub fn add_tones(buf: &mut [f64], components: &[Component]) {
    for c in components {
        let a = sine_amplitude(c.dbm0);
        let w = TAU * c.hz / RATE;
        for (n, s) in buf.iter_mut().enumerate() {
            *s += a * (w * n as f64 + c.phase).sin();
        }
    }
}

/// Adds a DTMF digit: low tone at `low_dbm0`, high tone `twist_db` above it (negative twist means
/// a weaker high tone), each tone's frequency scaled by (1 + `dev`), random phases.
pub fn add_dtmf(buf: &mut [f64], digit: Digit, low_dbm0: f64, twist_db: f64, dev: (f64, f64), rng: &mut Rng) {
    let (lo, hi) = digit.freqs();
    add_tones(
        buf,
        &[
            Component { hz: lo * (1.0 + dev.0), dbm0: low_dbm0, phase: rng.phase() },
            Component { hz: hi * (1.0 + dev.1), dbm0: low_dbm0 + twist_db, phase: rng.phase() },
        ],
    );
}

/// Adds white Gaussian noise with total power `dbm0`.
pub fn add_noise(buf: &mut [f64], dbm0: f64, rng: &mut Rng) {
    let sigma = dbm0_to_power(dbm0).sqrt();
    for s in buf.iter_mut() {
        *s += sigma * rng.gauss();
    }
}

/// Rounds to 16-bit samples, clipping.
pub fn to_i16(buf: &[f64]) -> Vec<i16> {
    buf.iter().map(|&v| v.round().clamp(-32768.0, 32767.0) as i16).collect()
}

/// Milliseconds to samples at 8 kHz.
pub fn ms(ms: f64) -> usize {
    (ms * RATE / 1000.0).round() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::power_to_dbm0;

    #[test]
    fn tone_and_noise_levels_are_exact() {
        let mut rng = Rng::new(7);
        let mut buf = vec![0.0; 80_000];
        add_tones(&mut buf, &[Component { hz: 1004.0, dbm0: -13.0, phase: 0.3 }]);
        let p = buf.iter().map(|v| v * v).sum::<f64>() / buf.len() as f64;
        assert!((power_to_dbm0(p) + 13.0).abs() < 0.01);
        let mut noise = vec![0.0; 80_000];
        add_noise(&mut noise, -30.0, &mut rng);
        let p = noise.iter().map(|v| v * v).sum::<f64>() / noise.len() as f64;
        assert!((power_to_dbm0(p) + 30.0).abs() < 0.1);
    }
}
