//! ITU-T G.711 µ-law and A-law, table driven.
//!
//! Decoding is one lookup in a 256-entry table; encoding is one lookup in a table indexed by the
//! linear value shifted down to G.711's own resolution (14 bits for µ-law, 13 for A-law), so both
//! directions cost a load. The tables are built at compile time from the segment rules of G.711
//! (§3 and Tables 1a/2a), and the tests check every code against the standard's decision and
//! reconstruction values rather than against another copy of the same formula.
//!
//! Linear samples are 16-bit two's complement with G.711's values scaled to fill it: µ-law's
//! 14-bit range is shifted left by 2 (±32124 at most), A-law's 13-bit range by 3 (±32256).

/// A G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law (PCMU, RTP payload type 0).
    Ulaw,
    /// A-law (PCMA, RTP payload type 8).
    Alaw,
}

impl Law {
    /// Encodes one linear sample.
    #[inline]
    pub fn encode(self, x: i16) -> u8 {
        match self {
            Law::Ulaw => ulaw_encode(x),
            Law::Alaw => alaw_encode(x),
        }
    }

    /// Decodes one code to a linear sample.
    #[inline]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Ulaw => ulaw_decode(code),
            Law::Alaw => alaw_decode(code),
        }
    }

    /// The code for digital silence (+0), what an idle channel carries.
    pub const fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// The 256-entry decode table of this law.
    pub fn decode_table(self) -> &'static [i16; 256] {
        match self {
            Law::Ulaw => &ULAW_DECODE,
            Law::Alaw => &ALAW_DECODE,
        }
    }

    /// Decodes a buffer; `out` must be at least as long as `codes`.
    pub fn decode_slice(self, codes: &[u8], out: &mut [i16]) {
        let table = self.decode_table();
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = table[c as usize];
        }
    }

    /// Encodes a buffer; `out` must be at least as long as `samples`.
    pub fn encode_slice(self, samples: &[i16], out: &mut [u8]) {
        for (o, &x) in out.iter_mut().zip(samples) {
            *o = self.encode(x);
        }
    }
}

/// Decodes one µ-law code.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes one sample to µ-law.
#[inline]
pub fn ulaw_encode(x: i16) -> u8 {
    // Arithmetic shift: negative values round toward −∞, as G.711's 14-bit input would.
    ULAW_ENCODE[((x >> 2) as u16 & 0x3FFF) as usize]
}

/// Encodes one sample to A-law.
#[inline]
pub fn alaw_encode(x: i16) -> u8 {
    ALAW_ENCODE[((x >> 3) as u16 & 0x1FFF) as usize]
}

/// µ-law reconstruction in 14-bit units: ((2q + 33) << s) − 33.
const fn ulaw_expand(code: u8) -> i16 {
    let c = !code;
    let seg = ((c >> 4) & 7) as i32;
    let q = (c & 0x0F) as i32;
    let mag = ((2 * q + 33) << seg) - 33;
    let v = if c & 0x80 != 0 { -mag } else { mag };
    (v << 2) as i16
}

/// A-law reconstruction in 13-bit units: segment 0 is (2q + 1), segment s ≥ 1 is (2q + 33) << (s − 1).
const fn alaw_expand(code: u8) -> i16 {
    let c = code ^ 0x55;
    let seg = ((c >> 4) & 7) as i32;
    let q = (c & 0x0F) as i32;
    let mag = if seg == 0 { 2 * q + 1 } else { (2 * q + 33) << (seg - 1) };
    // The sign bit set means positive in A-law.
    let v = if c & 0x80 != 0 { mag } else { -mag };
    (v << 3) as i16
}

/// µ-law code for a 14-bit two's complement value.
const fn ulaw_compress(v14: i32) -> u8 {
    let (mut mag, mask) = if v14 < 0 { (-v14, 0x7Fu8) } else { (v14, 0xFFu8) };
    if mag > 8158 {
        mag = 8158;
    }
    let biased = mag + 33;
    // Segment: position of the highest set bit above bit 5 (biased ranges 33..=64, 65..=128, …).
    let mut seg = 0;
    while seg < 7 && biased >= (64 << seg) {
        seg += 1;
    }
    let q = (biased >> (seg + 1)) & 0x0F;
    (((seg << 4) | q) as u8) ^ mask
}

/// A-law code for a 13-bit two's complement value.
const fn alaw_compress(v13: i32) -> u8 {
    let (mag, mask) = if v13 >= 0 { (v13, 0xD5u8) } else { (-v13 - 1, 0x55u8) };
    let mag = if mag > 4095 { 4095 } else { mag };
    let mut seg = 0;
    while seg < 7 && mag >= (32 << seg) {
        seg += 1;
    }
    let q = if seg < 2 { (mag >> 1) & 0x0F } else { (mag >> seg) & 0x0F };
    (((seg << 4) | q) as u8) ^ mask
}

const fn build_decode(law_ulaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if law_ulaw { ulaw_expand(i as u8) } else { alaw_expand(i as u8) };
        i += 1;
    }
    t
}

const fn build_ulaw_encode() -> [u8; 16384] {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        // Index is the 14-bit value as unsigned; recover the sign.
        let v = if i >= 8192 { i as i32 - 16384 } else { i as i32 };
        t[i] = ulaw_compress(v);
        i += 1;
    }
    t
}

const fn build_alaw_encode() -> [u8; 8192] {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        let v = if i >= 4096 { i as i32 - 8192 } else { i as i32 };
        t[i] = alaw_compress(v);
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_decode(true);
static ALAW_DECODE: [i16; 256] = build_decode(false);
static ULAW_ENCODE: [u8; 16384] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 8192] = build_alaw_encode();

#[cfg(test)]
mod tests {
    use super::*;

    /// G.711 Table 2a: the decision value that opens each µ-law segment (14-bit magnitude; the
    /// first interval of segment 0 is the half-open [−1, 1), i.e. zero alone). Segment `s` has 16
    /// intervals of width 2^(s+1); the reconstruction value is each interval's midpoint.
    const ULAW_SEG_START: [i32; 8] = [-1, 31, 95, 223, 479, 991, 2015, 4063];
    /// G.711 Table 1a: A-law segment starts (13-bit magnitude); segments 0 and 1 both step by 2.
    const ALAW_SEG_BASE: [i32; 8] = [0, 32, 64, 128, 256, 512, 1024, 2048];

    /// (lower decision value, upper decision value, reconstruction, negative) of a µ-law code.
    fn ulaw_interval(code: u8) -> (i32, i32, i32, bool) {
        let c = !code;
        let seg = ((c >> 4) & 7) as usize;
        let q = (c & 0xF) as i32;
        let step = 2 << seg;
        let lo = ULAW_SEG_START[seg] + q * step;
        (lo.max(0), lo + step, lo + step / 2, c & 0x80 != 0)
    }

    #[test]
    fn ulaw_decode_matches_g711_table_for_all_codes() {
        for code in 0..=255u8 {
            let (_, _, mid, neg) = ulaw_interval(code);
            let want = if neg { -mid } else { mid } * 4;
            assert_eq!(ulaw_decode(code) as i32, want, "code {code:#04x}");
        }
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
    }

    #[test]
    fn alaw_decode_matches_g711_table_for_all_codes() {
        for code in 0..=255u8 {
            let c = code ^ 0x55;
            let seg = ((c >> 4) & 7) as usize;
            let q = (c & 0xF) as i32;
            let step = if seg == 0 { 2 } else { 1 << seg };
            let lo = ALAW_SEG_BASE[seg] + q * step;
            let mid = lo + step / 2;
            let want = if c & 0x80 != 0 { mid } else { -mid } * 8;
            assert_eq!(alaw_decode(code) as i32, want, "code {code:#04x}");
        }
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
    }

    #[test]
    fn ulaw_encode_sweep_lands_in_the_decision_interval() {
        for x in i16::MIN..=i16::MAX {
            let code = ulaw_encode(x);
            let v14 = (x >> 2) as i32;
            let (lo, hi, _, neg) = ulaw_interval(code);
            let mag = v14.abs().min(8158);
            assert_eq!(neg, v14 < 0, "sign of {x}");
            // Values past the top decision value clip into the last code.
            assert!(mag >= lo && (mag < hi || code & 0x7F == 0), "x={x} code={code:#04x} [{lo},{hi})");
        }
    }

    #[test]
    fn alaw_encode_sweep_lands_in_the_decision_interval() {
        for x in i16::MIN..=i16::MAX {
            let code = alaw_encode(x);
            let dec = alaw_decode(code) as i32;
            let v13 = (x >> 3) as i32;
            // A-law: the reconstruction is within one step of the 13-bit input (G.711's decision
            // values sit half a step either side; the 13-bit truncation adds up to one more
            // half step), same sign; the top segment clips at ±4032.
            let c = code ^ 0x55;
            let seg = ((c >> 4) & 7) as i32;
            let step = if seg == 0 { 2 } else { 1 << seg };
            let err = (dec / 8 - v13).abs();
            assert!(err <= step || v13.abs() >= 4032, "x={x} code={code:#04x} dec={dec}");
            assert_eq!(dec > 0, v13 >= 0, "sign of {x}");
        }
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(Law::Alaw.encode(Law::Alaw.decode(code)), code, "A-law {code:#04x}");
            let back = Law::Ulaw.encode(Law::Ulaw.decode(code));
            // µ-law has two zeros; −0 (0x7F) decodes to 0 and re-encodes as +0 (0xFF).
            if code == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "µ-law {code:#04x}");
            }
        }
    }

    #[test]
    fn digital_milliwatt_sequences() {
        // G.711 Table 5 / 6: the 1 kHz digital milliwatt, eight codes per period.
        let ulaw = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E];
        let alaw = [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4];
        for (law, seq) in [(Law::Ulaw, ulaw), (Law::Alaw, alaw)] {
            let lin: Vec<i16> = seq.iter().map(|&c| law.decode(c)).collect();
            // The sequence is a 1 kHz sine at 0 dBm0 sampled at 45° + k·45°.
            let power: f64 = lin.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 8.0;
            let dbm0 = crate::level::power_to_dbm0(power);
            assert!(dbm0.abs() < 0.1, "{law:?} milliwatt at {dbm0} dBm0");
            let re: Vec<u8> = lin.iter().map(|&v| law.encode(v)).collect();
            assert_eq!(re, seq);
        }
    }
}
