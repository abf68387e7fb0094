//! The scalar twin every SIMD backend is tested against.

use super::{BLOCK, Basis, Correlation, NBASIS, Phasors, Rotation};

/// Reference correlation: plain loops, wrapping 32-bit sums like the SIMD lanes.
pub fn correlate(x: &[i16; BLOCK], basis: &Basis) -> Correlation {
    let mut sums = [0i32; NBASIS];
    for (sum, row) in sums.iter_mut().zip(basis.rows().iter()) {
        let mut acc = 0i32;
        for (&a, &b) in x.iter().zip(row.iter()) {
            acc = acc.wrapping_add(a as i32 * b as i32);
        }
        *sum = acc;
    }
    let energy = x.iter().map(|&v| ((v >> 1) as i64).pow(2)).sum();
    Correlation { sums, energy }
}

/// Reference analysis: correlate, rotate X = C − jS by `rot`, and take the best row and column.
pub fn analyze(x: &[i16; BLOCK], basis: &Basis, rot: &Rotation) -> Phasors {
    let c = correlate(x, basis);
    // Energy as the AVX2 lanes hold it (lane i: samples 2i, 2i+1, 16+2i, 17+2i), each lane
    // converted to f32 and summed in the same tree, so the result is bit-identical.
    let h = |n: usize| ((x[n] >> 1) as i32).pow(2);
    let lane: [f32; 8] =
        core::array::from_fn(|i| (h(2 * i) + h(2 * i + 1) + h(16 + 2 * i) + h(17 + 2 * i)) as f32);
    let a: [f32; 4] = core::array::from_fn(|i| lane[i] + lane[i + 4]);
    let energy = ((a[0] + a[2]) + (a[1] + a[3])) * 4.0;
    let mut p = Phasors { energy, ..Phasors::default() };
    let mut mag = [0f32; 8];
    for k in 0..8 {
        let (cs, sn) = (c.sums[k] as f32, c.sums[k + 8] as f32);
        p.re[k] = cs * rot[0][k] + sn * rot[1][k];
        p.im[k] = cs * rot[1][k] - sn * rot[0][k];
        mag[k] = p.re[k] * p.re[k] + p.im[k] * p.im[k];
    }
    // The same reduction order as the SIMD backends: neighbours, then pairs.
    let m = |a: f32, b: f32| if a > b { a } else { b };
    let row = m(m(mag[0], mag[1]), m(mag[2], mag[3]));
    let col = m(m(mag[4], mag[5]), m(mag[6], mag[7]));
    (p.row, p.col) = (row, col);
    p
}

/// Reference fused decode and analysis: the table decode, then [`analyze`].
pub fn analyze_g711(law: crate::g711::Law, codes: &[u8; BLOCK], basis: &Basis, rot: &Rotation) -> Phasors {
    let mut x = [0i16; BLOCK];
    law.decode_slice(codes, &mut x);
    analyze(&x, basis, rot)
}

/// [`analyze`] into the caller's slot (the signature the kernel table holds).
pub fn analyze_into(x: &[i16; BLOCK], basis: &Basis, rot: &Rotation, out: &mut Phasors) {
    *out = analyze(x, basis, rot);
}

/// [`analyze_g711`] into the caller's slot.
pub fn analyze_g711_into(
    law: crate::g711::Law,
    codes: &[u8; BLOCK],
    basis: &Basis,
    rot: &Rotation,
    out: &mut Phasors,
) {
    *out = analyze_g711(law, codes, basis, rot);
}
