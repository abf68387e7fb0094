//! [`SeqNo`]: an RTP sequence number extended past its 16-bit rollover.

use core::fmt;

/// An RTP sequence number with the count of rollovers above it: the 16-bit number in the low
/// bits, the cycles above. Comparisons and differences are plain integer ones, which is the
/// point: 65535 → 0 is one step forward, not 65535 back.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqNo(u64);

impl SeqNo {
    /// From an extended value.
    pub const fn new(extended: u64) -> SeqNo {
        SeqNo(extended)
    }

    /// From a rollover count and the 16-bit number on the wire.
    pub const fn from_parts(cycles: u64, seq: u16) -> SeqNo {
        SeqNo((cycles << 16) | seq as u64)
    }

    /// The extended value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The 16-bit number on the wire.
    pub const fn seq(self) -> u16 {
        self.0 as u16
    }

    /// Rollovers so far.
    pub const fn cycles(self) -> u64 {
        self.0 >> 16
    }

    /// The low 32 bits, as an RR's "extended highest sequence number received" carries them
    /// (RFC 3550 §6.4.1: the cycle count modulo 2^16 above the sequence number).
    pub const fn to_report(self) -> u32 {
        self.0 as u32
    }

    /// The extension of `seq` nearest to this one: at most 32767 behind or 32768 ahead. Near
    /// the start of a stream, where "behind" would go below zero, the number is taken in
    /// cycle 0.
    pub fn nearest(self, seq: u16) -> SeqNo {
        let delta = i64::from(seq.wrapping_sub(self.seq()) as i16);
        match self.0.checked_add_signed(delta) {
            Some(v) => SeqNo(v),
            None => SeqNo(u64::from(seq)),
        }
    }
}

impl fmt::Debug for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNo({}:{})", self.cycles(), self.seq())
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_across_rollover() {
        let s = SeqNo::from_parts(2, 65530);
        assert_eq!((s.cycles(), s.seq()), (2, 65530));
        assert_eq!(s.nearest(3), SeqNo::from_parts(3, 3));
        assert_eq!(s.nearest(65500), SeqNo::from_parts(2, 65500));
        assert!(s.nearest(3) > s);
        assert_eq!(s.nearest(3).get() - s.get(), 9);
        let t = SeqNo::from_parts(3, 10);
        assert_eq!(t.nearest(65530), SeqNo::from_parts(2, 65530));
        assert_eq!(t.to_report(), 0x0003_000A);
        // At the start there is nothing behind cycle 0.
        assert_eq!(SeqNo::new(5).nearest(65530), SeqNo::new(65530));
        assert_eq!(format!("{:?} {}", t, t), "SeqNo(3:10) 196618");
    }
}
