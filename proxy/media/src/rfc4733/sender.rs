//! The telephone-event sender: what a correct RFC 4733 source emits for one key press.
//!
//! ```text
//!  send_at:   i      2i     3i  …  n·i ≥ d    +i       +2i
//!  marker:    1      0      0       0          0        0
//!  duration:  i      2i     3i      d          d        d      (cumulative, §2.5.1.2)
//!  E bit:     0      0      0       1          1        1      (final report ×3, §2.5.1.4)
//!  timestamp: start  start  start   start      start    start  (constant: the press's start)
//! ```
//!
//! A press longer than 0xFFFF units is cut into segments (§2.5.1.3): when a segment reaches
//! 0xFFFF the sender reports exactly 0xFFFF without the E bit (three times, like any final
//! report of a segment), and the next segment starts with the timestamp advanced by 0xFFFF and
//! its duration counted afresh. Only the first packet of the press has the marker bit, and only
//! the last segment ends with the E bit.
//!
//! The sender is sans-IO: the caller asks [`EventSender::poll_packet`] with how long the press
//! has lasted so far (`elapsed`, timestamp units since the press's start) and sends what comes
//! out, assigning RTP sequence numbers itself. [`EventSender::next_send`] says when to ask next.

use super::payload::EventReport;
use super::{Error, MAX_SEGMENT_DURATION};
use tonewall_dsp::Digit;

const SEGMENT: u64 = MAX_SEGMENT_DURATION as u64;

/// Settings of an [`EventSender`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderConfig {
    /// Units between updates: the packetisation interval (160 = 20 ms at 8 kHz). At least 1.
    pub interval: u32,
    /// Volume field of every report (10 means −10 dBm0). Only the low 6 bits are sent.
    pub volume: u8,
    /// Times each final report is sent. RFC 4733 says three; at least 1.
    pub end_repeats: u8,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig { interval: 160, volume: 10, end_repeats: 3 }
    }
}

/// One packet to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPacket {
    /// RTP timestamp: the start of the current segment.
    pub timestamp: u32,
    /// RTP marker bit.
    pub marker: bool,
    /// The report the payload carries.
    pub report: EventReport,
    /// When to send it: units since the press's start.
    pub send_at: u64,
}

impl EventPacket {
    /// The 4-octet payload.
    pub fn payload(&self) -> [u8; 4] {
        self.report.to_bytes()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Sending growing updates.
    Running,
    /// Repeating a segment's final report (0xFFFF, no E bit); this many copies left.
    SegmentEnd(u8),
    /// Repeating the final report; this many copies left.
    Final(u8, u16),
}

#[derive(Clone, Copy, Debug)]
struct TxPress {
    digit: Digit,
    seg_ts: u32,
    /// Units from the press's start to the current segment's start.
    seg_start: u64,
    /// Total length of the press, once known.
    end: Option<u64>,
    next_send: u64,
    first: bool,
    phase: Phase,
}

/// Produces the packets of one key press at a time; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct EventSender {
    config: SenderConfig,
    press: Option<TxPress>,
}

impl EventSender {
    /// A sender with nothing to send.
    pub fn new(config: SenderConfig) -> Self {
        EventSender { config, press: None }
    }

    /// Starts a press of `digit` whose start has RTP timestamp `start_ts`. Its length is told
    /// later with [`EventSender::end`] (live injection) or now with [`EventSender::press`].
    pub fn begin(&mut self, digit: Digit, start_ts: u32) -> Result<(), Error> {
        if self.press.is_some() {
            return Err(Error::SenderBusy);
        }
        self.press = Some(TxPress {
            digit,
            seg_ts: start_ts,
            seg_start: 0,
            end: None,
            next_send: self.interval(),
            first: true,
            phase: Phase::Running,
        });
        Ok(())
    }

    /// Says the press lasts `duration` units in all (at least 1). Ignored when no press is in
    /// progress or its final report is already out.
    pub fn end(&mut self, duration: u64) {
        if let Some(p) = self.press.as_mut()
            && p.end.is_none()
        {
            p.end = Some(duration.max(1));
        }
    }

    /// [`EventSender::begin`] and [`EventSender::end`] at once: a press of known length.
    pub fn press(&mut self, digit: Digit, start_ts: u32, duration: u64) -> Result<(), Error> {
        self.begin(digit, start_ts)?;
        self.end(duration);
        Ok(())
    }

    /// When the next packet is due (units since the press's start); `None` when idle.
    pub fn next_send(&self) -> Option<u64> {
        self.press.as_ref().map(|p| p.next_send)
    }

    /// Whether the sender has nothing left to send.
    pub fn is_idle(&self) -> bool {
        self.press.is_none()
    }

    /// The next packet due by `elapsed` units into the press, if any. Call repeatedly until
    /// `None`; `poll_packet(u64::MAX)` drains a press of known length.
    pub fn poll_packet(&mut self, elapsed: u64) -> Option<EventPacket> {
        let interval = self.interval();
        let volume = self.config.volume;
        let repeats = self.config.end_repeats.max(1);
        let p = self.press.as_mut()?;
        if p.next_send > elapsed {
            return None;
        }
        let t = p.next_send;
        let (duration, end) = match p.phase {
            Phase::Running => {
                // Never a zero-length final segment: receivers ignore zero durations.
                let final_len = p.end.map(|d| d.max(p.seg_start + 1) - p.seg_start);
                match final_len {
                    Some(len) if t >= p.seg_start + len && len <= SEGMENT => {
                        let len = len as u16;
                        p.phase = Phase::Final(repeats - 1, len);
                        (len, true)
                    }
                    _ if t.saturating_sub(p.seg_start) >= SEGMENT => {
                        p.phase = Phase::SegmentEnd(repeats - 1);
                        (MAX_SEGMENT_DURATION, false)
                    }
                    // Here t - seg_start < 0xFFFF, and > 0 since packets follow the start.
                    _ => (t.saturating_sub(p.seg_start).max(1) as u16, false),
                }
            }
            Phase::SegmentEnd(left) => {
                p.phase = Phase::SegmentEnd(left.saturating_sub(1));
                (MAX_SEGMENT_DURATION, false)
            }
            Phase::Final(left, len) => {
                p.phase = Phase::Final(left.saturating_sub(1), len);
                (len, true)
            }
        };
        let packet = EventPacket {
            timestamp: p.seg_ts,
            marker: p.first,
            report: EventReport::new(p.digit, volume, duration, end),
            send_at: t,
        };
        p.first = false;
        p.next_send = t.saturating_add(interval);
        match p.phase {
            Phase::SegmentEnd(0) => {
                p.seg_ts = p.seg_ts.wrapping_add(SEGMENT as u32);
                p.seg_start += SEGMENT;
                p.phase = Phase::Running;
            }
            Phase::Final(0, _) => self.press = None,
            _ => {}
        }
        Some(packet)
    }

    fn interval(&self) -> u64 {
        u64::from(self.config.interval.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Digit {
        Digit::from_char(c).expect("a key")
    }

    fn drain(tx: &mut EventSender) -> Vec<EventPacket> {
        std::iter::from_fn(|| tx.poll_packet(u64::MAX)).collect()
    }

    #[test]
    fn short_press_matches_the_rfc_picture() {
        let mut tx = EventSender::default();
        tx.press(key('9'), 5000, 800).expect("idle");
        let pkts = drain(&mut tx);
        let got: Vec<(u64, bool, u16, bool, u32)> = pkts
            .iter()
            .map(|p| (p.send_at, p.marker, p.report.duration, p.report.end, p.timestamp))
            .collect();
        assert_eq!(
            got,
            vec![
                (160, true, 160, false, 5000),
                (320, false, 320, false, 5000),
                (480, false, 480, false, 5000),
                (640, false, 640, false, 5000),
                (800, false, 800, true, 5000),
                (960, false, 800, true, 5000),
                (1120, false, 800, true, 5000),
            ]
        );
        assert!(pkts.iter().all(|p| p.report.event == 9 && p.report.volume == 10));
        assert!(tx.is_idle());
    }

    #[test]
    fn end_between_updates_is_reported_exactly() {
        let mut tx = EventSender::default();
        tx.press(key('1'), 0, 500).expect("idle");
        let pkts = drain(&mut tx);
        let finals: Vec<_> = pkts.iter().filter(|p| p.report.end).collect();
        assert_eq!(finals.len(), 3);
        assert!(finals.iter().all(|p| p.report.duration == 500));
        assert_eq!(finals[0].send_at, 640);
    }

    #[test]
    fn long_press_is_segmented_at_0xffff() {
        let mut tx = EventSender::default();
        let start = u32::MAX - 1000; // the second segment's timestamp wraps
        let total = 80_000u64; // 10 s at 8 kHz
        tx.press(key('0'), start, total).expect("idle");
        let pkts = drain(&mut tx);
        assert_eq!(pkts.iter().filter(|p| p.marker).count(), 1);
        let seg2 = start.wrapping_add(0xFFFF);
        let seg1_end: Vec<_> =
            pkts.iter().filter(|p| p.timestamp == start && p.report.duration == 0xFFFF).collect();
        assert_eq!(seg1_end.len(), 3);
        assert!(seg1_end.iter().all(|p| !p.report.end));
        assert!(pkts.iter().filter(|p| p.timestamp == start).all(|p| !p.report.end));
        let finals: Vec<_> = pkts.iter().filter(|p| p.report.end).collect();
        assert_eq!(finals.len(), 3);
        assert!(finals.iter().all(|p| p.timestamp == seg2));
        assert!(finals.iter().all(|p| u64::from(p.report.duration) == total - 0xFFFF));
        // Durations never shrink within a segment and packets go out in time order.
        for w in pkts.windows(2) {
            assert!(w[0].send_at < w[1].send_at);
            if w[0].timestamp == w[1].timestamp {
                assert!(w[0].report.duration <= w[1].report.duration);
            }
        }
    }

    #[test]
    fn live_press_ends_when_told() {
        let mut tx = EventSender::default();
        tx.begin(key('#'), 100).expect("idle");
        assert_eq!(tx.begin(key('1'), 100), Err(Error::SenderBusy));
        assert_eq!(tx.next_send(), Some(160));
        assert_eq!(tx.poll_packet(159), None);
        let first = tx.poll_packet(400).expect("due");
        assert!(first.marker && !first.report.end);
        let second = tx.poll_packet(400).expect("due");
        assert_eq!(second.report.duration, 320);
        assert_eq!(tx.poll_packet(400), None);
        tx.end(400);
        let rest = drain(&mut tx);
        assert_eq!(rest.len(), 3);
        assert!(rest.iter().all(|p| p.report.end && p.report.duration == 400));
        assert!(tx.is_idle());
        assert_eq!(tx.next_send(), None);
    }

    #[test]
    fn exact_multiple_of_a_segment_needs_no_empty_segment() {
        let mut tx = EventSender::default();
        tx.press(key('5'), 0, 0xFFFF).expect("idle");
        let pkts = drain(&mut tx);
        assert!(pkts.iter().all(|p| p.timestamp == 0));
        assert_eq!(pkts.iter().filter(|p| p.report.end && p.report.duration == 0xFFFF).count(), 3);
    }
}
