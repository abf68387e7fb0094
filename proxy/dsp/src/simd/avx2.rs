//! AVX2 backend: `vpmaddwd` of each 8-sample chunk (repeated in both 128-bit halves) against two
//! basis rows at once, then two levels of horizontal adds (see [`Basis`]'s `pairs`).

use super::{BLOCK, Basis, Correlation, Phasors, Rotation};
use crate::g711::Law;
use core::arch::x86_64::*;

/// Safe entry point stored in a [`super::Kernel`].
pub fn correlate_checked(x: &[i16; BLOCK], basis: &Basis) -> Correlation {
    // SAFETY: `Kernel::all` only builds a kernel with this function after
    // `is_x86_feature_detected!("avx2")` returned true on this CPU.
    unsafe { correlate(x, basis) }
}

/// Safe entry point for the block analysis.
pub fn analyze_checked(x: &[i16; BLOCK], basis: &Basis, rot: &Rotation, out: &mut Phasors) {
    // SAFETY: only reachable through a `Kernel` built after AVX2 was detected.
    unsafe { analyze(x, basis, rot, out) }
}

/// Safe entry point for the fused G.711 decode and analysis.
pub fn analyze_g711_checked(law: Law, codes: &[u8; BLOCK], basis: &Basis, rot: &Rotation, out: &mut Phasors) {
    // SAFETY: only reachable through a `Kernel` built after AVX2 was detected.
    unsafe { analyze_g711(law, codes, basis, rot, out) }
}

#[target_feature(enable = "avx2")]
unsafe fn analyze(x: &[i16; BLOCK], basis: &Basis, rot: &Rotation, out: &mut Phasors) {
    // SAFETY: `load` reads the 64 bytes of `x`; `phasors` as documented there.
    unsafe {
        let (x0, x1) = load(x);
        phasors(sums(x0, x1, basis), rot, out)
    }
}

/// G.711 codes straight into the analysis: the decoded samples stay in registers (a block
/// written to memory and read back at once stalls the loads that follow).
#[target_feature(enable = "avx2")]
unsafe fn analyze_g711(law: Law, codes: &[u8; BLOCK], basis: &Basis, rot: &Rotation, out: &mut Phasors) {
    // SAFETY: `codes` is 32 bytes (one 32-byte load); `phasors` as documented there.
    unsafe {
        let b = _mm256_loadu_si256(codes.as_ptr() as *const __m256i);
        let (x0, x1) = match law {
            Law::Ulaw => ulaw32(b),
            Law::Alaw => (
                expand16(law, _mm256_cvtepu8_epi16(_mm256_castsi256_si128(b))),
                expand16(law, _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(b))),
            ),
        };
        phasors(sums(x0, x1, basis), rot, out)
    }
}

/// µ-law expansion of 32 codes into the block's two 16-sample halves, in 14 instructions: four
/// 16-entry byte lookups and one `vpmaddubsw` per half.
///
/// With c = ~code, sign s, segment e = (c >> 4) & 7 and mantissa q = c & 15, G.711 gives
/// x = s·(T·2^e − 132), T = 8q + 132 (in the 16-bit scale). Rewritten as
/// x = T·(s·(2^e − 1)) + 8q·s, it is a sum of two products of an unsigned byte
/// (T ≤ 252, 8q ≤ 120) and a signed byte (|2^e − 1| ≤ 127, s = ±1), which is exactly what
/// `vpmaddubsw` computes per 16-bit lane (|x| ≤ 32124: no saturation). The unsigned bytes are
/// looked up by the code's low nibble, the signed ones by its high nibble (sign and segment).
#[target_feature(enable = "avx2")]
fn ulaw32(b: __m256i) -> (__m256i, __m256i) {
    // The byte interleave below works within 128-bit lanes: quadwords 0, 2, 1, 3 make the
    // samples come out in order, 0..16 then 16..32.
    let b = _mm256_permute4x64_epi64::<0b11_01_10_00>(b);
    let nibble = _mm256_set1_epi8(0x0F);
    let low = _mm256_and_si256(b, nibble);
    let high = _mm256_and_si256(_mm256_srli_epi16::<4>(b), nibble);
    // By low nibble n (q = 15 − n): T = 252 − 8n and 8q = 120 − 8n.
    let t = _mm256_shuffle_epi8(table16(|n| 252 - 8 * n), low);
    let q8 = _mm256_shuffle_epi8(table16(|n| 120 - 8 * n), low);
    // By high nibble h: the sign bit clear (h < 8) means negative; e = 7 − (h & 7).
    let sign = |h: i32| if h < 8 { -1 } else { 1 };
    let scale = _mm256_shuffle_epi8(table16(|h| sign(h) * ((1 << (7 - (h & 7))) - 1)), high);
    let unit = _mm256_shuffle_epi8(table16(sign), high);
    let x0 = _mm256_maddubs_epi16(_mm256_unpacklo_epi8(t, q8), _mm256_unpacklo_epi8(scale, unit));
    let x1 = _mm256_maddubs_epi16(_mm256_unpackhi_epi8(t, q8), _mm256_unpackhi_epi8(scale, unit));
    (x0, x1)
}

/// A 16-entry byte table in both 128-bit lanes, for `vpshufb`; entries are taken mod 256.
#[target_feature(enable = "avx2")]
#[inline]
fn table16(f: impl Fn(i32) -> i32) -> __m256i {
    let v: [i8; 16] = core::array::from_fn(|n| f(n as i32) as i8);
    // SAFETY: `v` is 16 bytes.
    let t = unsafe { _mm_loadu_si128(v.as_ptr() as *const __m128i) };
    _mm256_broadcastsi128_si256(t)
}

/// The two 16-sample halves of a block.
#[target_feature(enable = "avx2")]
unsafe fn load(x: &[i16; BLOCK]) -> (__m256i, __m256i) {
    // SAFETY: `x` is 32 i16 (64 bytes): two unaligned 32-byte loads stay inside it.
    unsafe {
        let p = x.as_ptr() as *const __m256i;
        (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
    }
}

/// Rotates the sums into absolute phase and finds the best row and column.
#[target_feature(enable = "avx2")]
unsafe fn phasors((cos, sin, e): (__m256i, __m256i, __m256i), rot: &Rotation, out: &mut Phasors) {
    let energy = energy_f32(e);
    // SAFETY: `rot` rows and the outputs are 8 f32 (32 bytes) each.
    unsafe {
        let (c, s) = (_mm256_cvtepi32_ps(cos), _mm256_cvtepi32_ps(sin));
        let rc = _mm256_loadu_ps(rot[0].as_ptr());
        let rs = _mm256_loadu_ps(rot[1].as_ptr());
        // Same operation order as the scalar twin (no FMA: results stay bit-identical).
        let re = _mm256_add_ps(_mm256_mul_ps(c, rc), _mm256_mul_ps(s, rs));
        let im = _mm256_sub_ps(_mm256_mul_ps(c, rs), _mm256_mul_ps(s, rc));
        let mag = _mm256_add_ps(_mm256_mul_ps(re, re), _mm256_mul_ps(im, im));
        // max(a, b) is "a > b ? a : b", as the scalar twin computes it.
        let m1 = _mm256_max_ps(mag, _mm256_permute_ps::<0b10_11_00_01>(mag));
        let m2 = _mm256_max_ps(m1, _mm256_permute_ps::<0b01_00_11_10>(m1));
        let row = _mm256_cvtss_f32(m2);
        let col = _mm_cvtss_f32(_mm256_extractf128_ps::<1>(m2));
        // Written in place (the caller's slot), each field by one store: a copy of the struct
        // read back soon after would span several stores and stall on forwarding.
        (out.energy, out.row, out.col) = (energy, row, col);
        _mm256_storeu_ps(out.re.as_mut_ptr(), re);
        _mm256_storeu_ps(out.im.as_mut_ptr(), im);
    }
}

#[target_feature(enable = "avx2")]
unsafe fn correlate(x: &[i16; BLOCK], basis: &Basis) -> Correlation {
    // SAFETY: see `sums`; the destinations are 8 i32 each.
    unsafe {
        let (x0, x1) = load(x);
        let (r0, r1, e) = sums(x0, x1, basis);
        let mut out = Correlation { energy: energy_exact(e), ..Correlation::default() };
        _mm256_storeu_si256(out.sums.as_mut_ptr() as *mut __m256i, r0);
        _mm256_storeu_si256(out.sums.as_mut_ptr().add(8) as *mut __m256i, r1);
        out
    }
}

/// The 16 dot products (cos rows, sin rows) of the block `x0, x1` (samples 0..16, 16..32), and
/// its energy in eight lanes: lane i is Σ h² over samples 2i, 2i+1, 16+2i, 17+2i, with h = x >> 1.
///
/// Each 8-sample chunk, repeated in both 128-bit halves, is multiplied against two basis rows
/// at once (`Basis::pairs`), so the four chunks' products for a pair of rows add up in one
/// register whose halves are the two rows; two levels of horizontal adds then leave the rows in
/// order, with no fold of the halves. Integer sums: the result does not depend on the order.
#[target_feature(enable = "avx2")]
fn sums(x0: __m256i, x1: __m256i, basis: &Basis) -> (__m256i, __m256i, __m256i) {
    let chunks = [
        _mm256_permute4x64_epi64::<0b01_00_01_00>(x0),
        _mm256_permute4x64_epi64::<0b11_10_11_10>(x0),
        _mm256_permute4x64_epi64::<0b01_00_01_00>(x1),
        _mm256_permute4x64_epi64::<0b11_10_11_10>(x1),
    ];
    let mut acc = [_mm256_setzero_si256(); 8];
    for (pair, a) in basis.pairs.iter().zip(acc.iter_mut()) {
        // SAFETY: each chunk of a pair is 16 i16 (32 bytes) at a 32-byte aligned offset of the
        // `align(32)` struct.
        let b: [__m256i; 4] = unsafe { core::array::from_fn(|c| _mm256_load_si256(pair[c].as_ptr().cast())) };
        let s0 = _mm256_add_epi32(_mm256_madd_epi16(chunks[0], b[0]), _mm256_madd_epi16(chunks[1], b[1]));
        let s1 = _mm256_add_epi32(_mm256_madd_epi16(chunks[2], b[2]), _mm256_madd_epi16(chunks[3], b[3]));
        *a = _mm256_add_epi32(s0, s1);
    }
    // acc[j] = [row a: 4 partial sums | row a + 4: 4 partial sums]; after two levels,
    // r0 = [rows 0, 1, 2, 3 | rows 4, 5, 6, 7], r1 the same for rows 8..16.
    let h01 = _mm256_hadd_epi32(acc[0], acc[1]);
    let h23 = _mm256_hadd_epi32(acc[2], acc[3]);
    let h45 = _mm256_hadd_epi32(acc[4], acc[5]);
    let h67 = _mm256_hadd_epi32(acc[6], acc[7]);
    let r0 = _mm256_hadd_epi32(h01, h23);
    let r1 = _mm256_hadd_epi32(h45, h67);

    let h0 = _mm256_srai_epi16::<1>(x0);
    let h1 = _mm256_srai_epi16::<1>(x1);
    let e = _mm256_add_epi32(_mm256_madd_epi16(h0, h0), _mm256_madd_epi16(h1, h1));
    (r0, r1, e)
}

/// The energy lanes summed exactly, as an i64.
#[target_feature(enable = "avx2")]
fn energy_exact(e: __m256i) -> i64 {
    let e64 = _mm256_add_epi64(
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(e)),
        _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(e)),
    );
    let mut e4 = [0i64; 4];
    // SAFETY: the destination is 4 i64: 32 bytes.
    unsafe { _mm256_storeu_si256(e4.as_mut_ptr() as *mut __m256i, e64) };
    e4.iter().sum()
}

/// The energy lanes as f32, summed in registers in the scalar twin's order, times four (the
/// block's energy Σ x²): no store and reload on the per-block path.
#[target_feature(enable = "avx2")]
fn energy_f32(e: __m256i) -> f32 {
    let f = _mm256_cvtepi32_ps(e);
    let a = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps::<1>(f)); // a_i = l_i + l_{i+4}
    let b = _mm_add_ps(a, _mm_movehl_ps(a, a)); // (a0 + a2, a1 + a3)
    let t = _mm_add_ss(b, _mm_shuffle_ps::<0b01>(b, b)); // b0 + b1
    _mm_cvtss_f32(t) * 4.0
}

/// G.711 expansion of 16 codes (zero-extended to 16-bit lanes), computed rather than looked up:
/// µ-law is ((m << 3) + 0x84) << e − 0x84; A-law is (m << 4) + 8 (segment 0) or
/// ((m << 4) + 0x108) << (e − 1). AVX2 has no per-lane 16-bit shift, so `<< e` is a multiply by
/// 2^e taken from a byte shuffle.
#[target_feature(enable = "avx2")]
fn expand16(law: Law, codes: __m256i) -> __m256i {
    let low4 = _mm256_set1_epi16(0x0F);
    // Index bytes with the high byte of each lane set to 0x80, so the shuffle zeroes it.
    let hi_zero = _mm256_set1_epi16(0x8000u16 as i16);
    match law {
        Law::Ulaw => {
            let x = _mm256_xor_si256(codes, _mm256_set1_epi16(0xFF));
            let e = _mm256_and_si256(_mm256_srli_epi16::<4>(x), _mm256_set1_epi16(7));
            let pow = _mm256_shuffle_epi8(
                _mm256_setr_epi8(
                    1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, -128, 0, 0,
                    0, 0, 0, 0, 0, 0,
                ),
                _mm256_or_si256(e, hi_zero),
            );
            let t =
                _mm256_add_epi16(_mm256_slli_epi16::<3>(_mm256_and_si256(x, low4)), _mm256_set1_epi16(0x84));
            let mag = _mm256_sub_epi16(_mm256_mullo_epi16(t, pow), _mm256_set1_epi16(0x84));
            // Sign bit set (after inversion) means negative.
            let neg =
                _mm256_cmpeq_epi16(_mm256_and_si256(x, _mm256_set1_epi16(0x80)), _mm256_set1_epi16(0x80));
            _mm256_sub_epi16(_mm256_xor_si256(mag, neg), neg)
        }
        Law::Alaw => {
            let x = _mm256_xor_si256(codes, _mm256_set1_epi16(0x55));
            let e = _mm256_and_si256(_mm256_srli_epi16::<4>(x), _mm256_set1_epi16(7));
            let pow = _mm256_shuffle_epi8(
                _mm256_setr_epi8(
                    1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0,
                    0, 0, 0, 0,
                ),
                _mm256_or_si256(e, hi_zero),
            );
            let seg0 = _mm256_cmpeq_epi16(e, _mm256_setzero_si256());
            // 0x108 for segments ≥ 1, 8 for segment 0.
            let add = _mm256_blendv_epi8(_mm256_set1_epi16(0x108), _mm256_set1_epi16(8), seg0);
            let t = _mm256_add_epi16(_mm256_slli_epi16::<4>(_mm256_and_si256(x, low4)), add);
            let mag = _mm256_mullo_epi16(t, pow);
            // Sign bit clear (after the 0x55 toggle) means negative.
            let neg =
                _mm256_cmpeq_epi16(_mm256_and_si256(x, _mm256_set1_epi16(0x80)), _mm256_setzero_si256());
            _mm256_sub_epi16(_mm256_xor_si256(mag, neg), neg)
        }
    }
}
