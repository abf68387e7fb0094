//! Packet-index bookkeeping: the SRTP index estimate from a 16-bit sequence number (RFC 3711
//! §3.3.1 and Appendix A), and the sliding replay window (§3.3.2) over SRTP or SRTCP indices.

/// Window width in packets: a bitmap of the indices at and below the highest seen.
pub(crate) const WINDOW: u64 = 128;

/// Where a candidate index falls relative to a stream's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not seen before: accept once authenticated.
    Fresh,
    /// Inside the window and already seen.
    Replayed,
    /// Behind the window: cannot tell, so refused.
    TooOld,
}

/// The highest index seen and a bitmap of the `WINDOW` indices ending at it (bit `k` set:
/// `highest - k` was seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) highest: u64,
    bits: u128,
}

impl Window {
    /// A window that has seen exactly `index`.
    pub(crate) fn starting_at(index: u64) -> Window {
        Window { highest: index, bits: 1 }
    }

    /// Classifies `index` without changing anything.
    pub(crate) fn check(&self, index: u64) -> Verdict {
        if index > self.highest {
            return Verdict::Fresh;
        }
        let back = self.highest - index;
        if back >= WINDOW {
            Verdict::TooOld
        } else if self.bits >> back & 1 == 1 {
            Verdict::Replayed
        } else {
            Verdict::Fresh
        }
    }

    /// Records `index` as seen; call only after [`Window::check`] said `Fresh` and the packet
    /// authenticated (RFC 3711 §3.3: state changes only for authentic packets).
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            self.bits = if ahead >= WINDOW { 0 } else { self.bits << ahead };
            self.bits |= 1;
            self.highest = index;
        } else {
            self.bits |= 1 << (self.highest - index);
        }
    }
}

/// The 48-bit SRTP index a sequence number most likely belongs to, given the highest index
/// of the stream so far (RFC 3711 Appendix A: the one closest to `s_l`, guessing ROC - 1,
/// ROC or ROC + 1). `None` when the guess would fall before index 0 (a packet from before
/// the stream started, refused as too old) or past 2^48 - 1 (the key is exhausted).
pub(crate) fn estimate_index(highest: u64, seq: u16) -> Option<u64> {
    let roc = highest >> 16;
    let s_l = highest as u16;
    let (seq_i, s_l_i) = (i32::from(seq), i32::from(s_l));
    let v = if s_l < 0x8000 {
        if seq_i - s_l_i > 0x8000 { roc.checked_sub(1)? } else { roc }
    } else if s_l_i - 0x8000 > seq_i {
        roc + 1
    } else {
        roc
    };
    if v > u64::from(u32::MAX) {
        return None;
    }
    Some(v << 16 | u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_each_index_once() {
        let mut w = Window::starting_at(1000);
        assert_eq!(w.check(1000), Verdict::Replayed);
        assert_eq!(w.check(1001), Verdict::Fresh);
        w.accept(1001);
        assert_eq!(w.check(1001), Verdict::Replayed);
        // Late but inside the window.
        assert_eq!(w.check(999), Verdict::Fresh);
        w.accept(999);
        assert_eq!(w.check(999), Verdict::Replayed);
        assert_eq!(w.check(1001 - 127), Verdict::Fresh);
        assert_eq!(w.check(1001 - 128), Verdict::TooOld);
        // A jump past the window forgets everything behind it.
        w.accept(5000);
        assert_eq!(w.check(5000 - 127), Verdict::Fresh);
        assert_eq!(w.check(5000 - 128), Verdict::TooOld);
        assert_eq!(w.check(1001), Verdict::TooOld);
    }

    #[test]
    fn window_shift_keeps_history() {
        let mut w = Window::starting_at(10);
        w.accept(12);
        w.accept(11);
        w.accept(100);
        for i in [10, 11, 12, 100] {
            assert_eq!(w.check(i), Verdict::Replayed, "{i}");
        }
        for i in [13, 50, 99, 101] {
            assert_eq!(w.check(i), Verdict::Fresh, "{i}");
        }
    }

    #[test]
    fn index_follows_rollover_both_ways() {
        // Near the top of ROC 0: 0 wraps forward to ROC 1.
        assert_eq!(estimate_index(65_535, 0), Some(65_536));
        assert_eq!(estimate_index(65_500, 10), Some(65_536 + 10));
        // Just past the wrap: a late 65 535 belongs to ROC 0.
        assert_eq!(estimate_index(65_536 + 2, 65_535), Some(65_535));
        // In the middle nothing changes.
        assert_eq!(estimate_index(3 << 16 | 30_000, 30_001), Some(3 << 16 | 30_001));
        assert_eq!(estimate_index(3 << 16 | 30_000, 29_000), Some(3 << 16 | 29_000));
        // Before the first ROC: refused.
        assert_eq!(estimate_index(5, 65_000), None);
        // Past the last ROC: refused.
        assert_eq!(estimate_index(u64::from(u32::MAX) << 16 | 65_535, 0), None);
    }
}
