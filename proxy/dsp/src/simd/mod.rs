//! The correlation kernel: the one place in tonewall-dsp with `unsafe` and intrinsics.
//!
//! Every 4 ms block of 32 samples is correlated against a cosine and a sine at each of the eight
//! DTMF frequencies (16 dot products) and its energy is summed. Unlike the Goertzel recursion,
//! whose every step depends on the previous one, these dot products have no serial dependency, so
//! one stream vectorises across its own samples: with AVX2, `vpmaddwd` does 16 multiply-adds of
//! 16-bit samples against 16-bit (Q11) basis values in one instruction, and a 32-sample block is
//! two of them per basis function.
//!
//! Integer arithmetic makes every backend bit-identical to the scalar twin, whatever order it sums
//! in, so the tests compare backends for exact equality. Ranges: |x| ≤ 2^15 and |basis| ≤ 2047,
//! so a 32-term dot product stays below 2^31; energy is summed from x/2 so each lane stays below
//! 2^30 and the total is widened to 64 bits.
//!
//! The kernel is chosen once ([`Kernel::best`]); the CPU is checked when it is built, never per call.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

use std::sync::LazyLock;

/// Samples per analysis block (4 ms at 8 kHz).
pub const BLOCK: usize = 32;
/// Basis functions: cos and sin for each of the 8 DTMF frequencies.
pub const NBASIS: usize = 16;
/// Scale of the basis values (Q11, kept one below 2^11 so no product can overflow).
pub const BASIS_SCALE: f64 = 2047.0;

/// Basis vectors: rows 0..8 are cos(ω_k n), rows 8..16 are sin(ω_k n), for the frequencies in
/// [`crate::digit::ROW_HZ`] then [`crate::digit::COL_HZ`], n = 0..32; and the same values laid
/// out for the AVX2 kernel (see [`Basis::rows`]).
#[repr(C, align(32))]
pub struct Basis {
    rows: [[i16; BLOCK]; NBASIS],
    /// `pairs[j][c]`: samples 8c..8c + 8 of two rows side by side, row j and row j + 4 for
    /// j < 4, rows 8 + (j − 4) and 12 + (j − 4) after. A block's 8-sample chunk repeated in both
    /// halves of a 256-bit register multiplies two rows at once, and the sums of the eight
    /// products per pair of rows come out of two levels of horizontal adds in row order.
    pairs: [[[i16; 16]; 4]; NBASIS / 2],
}

impl Basis {
    /// A basis from its rows (what every backend computes with).
    pub fn from_rows(rows: [[i16; BLOCK]; NBASIS]) -> Basis {
        let mut pairs = [[[0i16; 16]; 4]; NBASIS / 2];
        for (j, pair) in pairs.iter_mut().enumerate() {
            let a = if j < 4 { j } else { 8 + (j - 4) };
            for (c, chunk) in pair.iter_mut().enumerate() {
                chunk[..8].copy_from_slice(&rows[a][8 * c..8 * c + 8]);
                chunk[8..].copy_from_slice(&rows[a + 4][8 * c..8 * c + 8]);
            }
        }
        Basis { rows, pairs }
    }

    /// The rows: `rows()[k][n]`.
    pub fn rows(&self) -> &[[i16; BLOCK]; NBASIS] {
        &self.rows
    }
}

/// The shared basis, built on first use.
pub static BASIS: LazyLock<Basis> = LazyLock::new(|| {
    let mut b = [[0i16; BLOCK]; NBASIS];
    let freqs = crate::digit::ROW_HZ.iter().chain(crate::digit::COL_HZ.iter());
    for (k, &hz) in freqs.enumerate() {
        let w = core::f64::consts::TAU * hz / 8000.0;
        for n in 0..BLOCK {
            b[k][n] = (BASIS_SCALE * (w * n as f64).cos()).round() as i16;
            b[k + 8][n] = (BASIS_SCALE * (w * n as f64).sin()).round() as i16;
        }
    }
    Basis::from_rows(b)
});

/// One block's correlations and energy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Correlation {
    /// Σ `x[n]·basis[k][n]` for each basis row k.
    pub sums: [i32; NBASIS],
    /// Σ `(x[n] >> 1)²`, i.e. about a quarter of the block's energy.
    pub energy: i64,
}

/// One block's phasors in the common phase reference, ready for the detector's windows.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[repr(C)]
pub struct Phasors {
    /// Re Z_k: the block's DFT at frequency k, rotated to absolute phase.
    pub re: [f32; 8],
    /// Im Z_k.
    pub im: [f32; 8],
    /// max over rows of |Z|².
    pub row: f32,
    /// max over columns of |Z|².
    pub col: f32,
    /// The block's energy Σ x², in f32 (computed as 4 · Σ (x >> 1)², like
    /// [`Correlation::energy`], summed in a fixed order).
    pub energy: f32,
}

/// Rotation of each frequency for one block position: (cos, sin) of −ω_k·32·m.
pub type Rotation = [[f32; 8]; 2];

/// One backend's entry points.
struct Backend {
    f: fn(&[i16; BLOCK], &Basis) -> Correlation,
    analyze: fn(&[i16; BLOCK], &Basis, &Rotation, &mut Phasors),
    analyze_g711: fn(crate::g711::Law, &[u8; BLOCK], &Basis, &Rotation, &mut Phasors),
    name: &'static str,
}

static SCALAR: Backend = Backend {
    f: scalar::correlate,
    analyze: scalar::analyze_into,
    analyze_g711: scalar::analyze_g711_into,
    name: "scalar",
};

/// Only handed out by [`Kernel::all`] after the CPU was checked.
#[cfg(target_arch = "x86_64")]
static AVX2: Backend = Backend {
    f: avx2::correlate_checked,
    analyze: avx2::analyze_checked,
    analyze_g711: avx2::analyze_g711_checked,
    name: "avx2",
};

/// A correlation backend: safe function pointers, chosen after checking the CPU. One pointer
/// wide (every detector holds one).
#[derive(Clone, Copy)]
pub struct Kernel(&'static Backend);

impl core::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Kernel({})", self.0.name)
    }
}

impl Kernel {
    /// The portable reference implementation.
    pub fn scalar() -> Kernel {
        Kernel(&SCALAR)
    }

    /// The fastest backend this CPU supports (the CPU is checked once per process).
    pub fn best() -> Kernel {
        static BEST: LazyLock<Kernel> = LazyLock::new(|| Kernel::all().pop().unwrap_or_else(Kernel::scalar));
        *BEST
    }

    /// Every backend this CPU supports, scalar first, fastest last.
    pub fn all() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel::scalar()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(Kernel(&AVX2));
        }
        v
    }

    /// The backend's name, for benches and logs.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// Correlates one block and turns the sums into rotated phasors (what the detector keeps).
    /// Every backend does the same IEEE operations in the same order, so results are identical.
    #[inline]
    pub fn analyze(&self, x: &[i16; BLOCK], basis: &Basis, rot: &Rotation) -> Phasors {
        let mut out = Phasors::default();
        (self.0.analyze)(x, basis, rot, &mut out);
        out
    }

    /// [`Kernel::analyze`] into the caller's slot: the detector's per-block path, which reads the
    /// fields back at once (a returned struct copied into place would stall on forwarding).
    #[inline]
    pub fn analyze_into(&self, x: &[i16; BLOCK], basis: &Basis, rot: &Rotation, out: &mut Phasors) {
        (self.0.analyze)(x, basis, rot, out)
    }

    /// [`Kernel::analyze`] on G.711 codes, decoding on the way (the samples never touch memory).
    #[inline]
    pub fn analyze_g711(
        &self,
        law: crate::g711::Law,
        codes: &[u8; BLOCK],
        basis: &Basis,
        rot: &Rotation,
    ) -> Phasors {
        let mut out = Phasors::default();
        (self.0.analyze_g711)(law, codes, basis, rot, &mut out);
        out
    }

    /// [`Kernel::analyze_g711`] into the caller's slot.
    #[inline]
    pub fn analyze_g711_into(
        &self,
        law: crate::g711::Law,
        codes: &[u8; BLOCK],
        basis: &Basis,
        rot: &Rotation,
        out: &mut Phasors,
    ) {
        (self.0.analyze_g711)(law, codes, basis, rot, out)
    }

    /// Correlates one block against the basis.
    #[inline]
    pub fn correlate(&self, x: &[i16; BLOCK], basis: &Basis) -> Correlation {
        (self.0.f)(x, basis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Rng;

    #[test]
    fn every_backend_matches_scalar_exactly() {
        let mut rng = Rng::new(0x5eed);
        let kernels = Kernel::all();
        for round in 0..20_000 {
            let mut x = [0i16; BLOCK];
            // Mix full-scale extremes, quiet signals and random values.
            for s in x.iter_mut() {
                *s = match round % 4 {
                    0 => rng.next_u64() as i16,
                    1 => {
                        if rng.unit() < 0.5 {
                            i16::MIN
                        } else {
                            i16::MAX
                        }
                    }
                    2 => (rng.next_u64() % 64) as i16 - 32,
                    _ => (rng.gauss() * 8000.0).clamp(-32768.0, 32767.0) as i16,
                };
            }
            let want = Kernel::scalar().correlate(&x, &BASIS);
            for k in &kernels {
                assert_eq!(k.correlate(&x, &BASIS), want, "{} on round {round}", k.name());
            }
        }
    }

    #[test]
    fn every_backend_analyzes_like_scalar() {
        let mut rng = Rng::new(12);
        for _ in 0..5000 {
            let x: [i16; BLOCK] =
                core::array::from_fn(|_| (rng.gauss() * 6000.0).clamp(-32768.0, 32767.0) as i16);
            let a = rng.phase();
            let rot: Rotation = [
                core::array::from_fn(|k| (a * (k + 1) as f64).cos() as f32),
                core::array::from_fn(|k| (a * (k + 1) as f64).sin() as f32),
            ];
            let want = Kernel::scalar().analyze(&x, &BASIS, &rot);
            for k in Kernel::all() {
                assert_eq!(k.analyze(&x, &BASIS, &rot), want, "{}", k.name());
            }
            let codes: [u8; BLOCK] = core::array::from_fn(|_| rng.next_u64() as u8);
            for law in [crate::g711::Law::Ulaw, crate::g711::Law::Alaw] {
                let want = Kernel::scalar().analyze_g711(law, &codes, &BASIS, &rot);
                let mut lin = [0i16; BLOCK];
                law.decode_slice(&codes, &mut lin);
                assert_eq!(want, Kernel::scalar().analyze(&lin, &BASIS, &rot));
                for k in Kernel::all() {
                    assert_eq!(k.analyze_g711(law, &codes, &BASIS, &rot), want, "{} {law:?}", k.name());
                }
            }
        }
    }

    #[test]
    fn correlation_measures_a_tone() {
        // A full-scale-ish cosine at 941 Hz correlates with its own cosine row at ≈ A·N/2·scale.
        let w = core::f64::consts::TAU * 941.0 / 8000.0;
        let x: [i16; BLOCK] = core::array::from_fn(|n| (10000.0 * (w * n as f64).cos()).round() as i16);
        let c = Kernel::best().correlate(&x, &BASIS);
        let want = 10000.0 * BLOCK as f64 / 2.0 * BASIS_SCALE;
        assert!(((c.sums[3] as f64) - want).abs() / want < 0.05, "{} vs {want}", c.sums[3]);
        let energy: i64 = x.iter().map(|&v| ((v >> 1) as i64).pow(2)).sum();
        assert_eq!(c.energy, energy);
    }
}
