//! The scalar twin every SIMD backend is tested against.

use super::{BLOCK, Basis, Correlation, NBASIS};

/// Reference correlation: plain loops, wrapping 32-bit sums like the SIMD lanes.
pub fn correlate(x: &[i16; BLOCK], basis: &Basis) -> Correlation {
    let mut sums = [0i32; NBASIS];
    for (sum, row) in sums.iter_mut().zip(basis.0.iter()) {
        let mut acc = 0i32;
        for (&a, &b) in x.iter().zip(row.iter()) {
            acc = acc.wrapping_add(a as i32 * b as i32);
        }
        *sum = acc;
    }
    let energy = x.iter().map(|&v| ((v >> 1) as i64).pow(2)).sum();
    Correlation { sums, energy }
}

/// Reference G.711 block decode: one table lookup per code.
pub fn decode(law: crate::g711::Law, codes: &[u8; BLOCK], out: &mut [i16; BLOCK]) {
    law.decode_slice(codes, out);
}
