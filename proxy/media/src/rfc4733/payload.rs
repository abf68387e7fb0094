//! The telephone-event payload (RFC 4733 §2.3): one or more 4-octet event reports.
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |     event     |E|R| volume    |          duration             |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Parsing keeps every bit, the reserved R bit included, so that parse then write gives back the
//! same octets: a relay that rewrites nothing must forward exactly what it got, and the fuzz
//! targets check that round trip.

use super::Error;
use core::fmt;
use core::slice::ChunksExact;
use tonewall_dsp::Digit;

/// One event report, the 4-octet unit of a telephone-event payload.
///
/// Its `Debug` hides the event code: for DTMF the code *is* the digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventReport {
    /// Event code (§3.2 for DTMF: 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D; 16 = flash).
    pub event: u8,
    /// The E bit: this report ends the event.
    pub end: bool,
    /// The R bit: reserved, sent as 0 and ignored on receipt, but kept for exact round trips.
    pub reserved: bool,
    /// Power level with the sign dropped, 0–63 meaning 0 to −63 dBm0. Only the low 6 bits are
    /// written.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units from the event's (or segment's) start.
    pub duration: u16,
}

impl EventReport {
    /// Octets in one report.
    pub const LEN: usize = 4;

    /// A report of `digit`; the R bit clear.
    pub fn new(digit: Digit, volume: u8, duration: u16, end: bool) -> Self {
        EventReport { event: digit.event(), end, reserved: false, volume: volume & 0x3F, duration }
    }

    /// Decodes one report. Every 4-octet value is a report, so this cannot fail.
    pub fn from_bytes(b: [u8; 4]) -> Self {
        EventReport {
            event: b[0],
            end: b[1] & 0x80 != 0,
            reserved: b[1] & 0x40 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        }
    }

    /// Encodes the report.
    pub fn to_bytes(self) -> [u8; 4] {
        let flags = (u8::from(self.end) << 7) | (u8::from(self.reserved) << 6) | (self.volume & 0x3F);
        let d = self.duration.to_be_bytes();
        [self.event, flags, d[0], d[1]]
    }

    /// The DTMF key, if the event code is one (codes 16 and up, flash and the like, are not).
    pub fn digit(self) -> Option<Digit> {
        Digit::from_event(self.event)
    }
}

impl fmt::Debug for EventReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReport")
            .field("event", &"*")
            .field("end", &self.end)
            .field("reserved", &self.reserved)
            .field("volume", &self.volume)
            .field("duration", &self.duration)
            .finish()
    }
}

/// Checks a telephone-event payload and returns its reports in order.
///
/// A payload must be a non-empty whole number of 4-octet reports; anything else is refused
/// rather than half-read, because a truncated report would carry a wrong duration.
pub fn parse(payload: &[u8]) -> Result<Reports<'_>, Error> {
    if payload.is_empty() {
        return Err(Error::Empty);
    }
    if !payload.len().is_multiple_of(EventReport::LEN) {
        return Err(Error::Truncated { len: payload.len() });
    }
    Ok(Reports { chunks: payload.chunks_exact(EventReport::LEN) })
}

/// Writes `reports` back to back into `out`; returns the octets written.
pub fn write(reports: &[EventReport], out: &mut [u8]) -> Result<usize, Error> {
    let needed = reports.len() * EventReport::LEN;
    let Some(out) = out.get_mut(..needed) else {
        return Err(Error::BufferTooSmall { needed });
    };
    for (chunk, report) in out.chunks_exact_mut(EventReport::LEN).zip(reports) {
        chunk.copy_from_slice(&report.to_bytes());
    }
    Ok(needed)
}

/// The reports of a checked payload, in order. Borrows the payload; allocates nothing.
#[derive(Clone, Debug)]
pub struct Reports<'a> {
    chunks: ChunksExact<'a, u8>,
}

impl Iterator for Reports<'_> {
    type Item = EventReport;

    fn next(&mut self) -> Option<EventReport> {
        match *self.chunks.next()? {
            [a, b, c, d] => Some(EventReport::from_bytes([a, b, c, d])),
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for Reports<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Digit {
        Digit::from_char(c).expect("a key")
    }

    #[test]
    fn decodes_the_rfc_layout() {
        // Digit 5, E set, R clear, volume 10 (−10 dBm0), duration 1000 units.
        let r = EventReport::from_bytes([5, 0x8A, 0x03, 0xE8]);
        assert_eq!(r.event, 5);
        assert!(r.end);
        assert!(!r.reserved);
        assert_eq!(r.volume, 10);
        assert_eq!(r.duration, 1000);
        assert_eq!(r.digit().map(Digit::as_char), Some('5'));
        assert_eq!(r.to_bytes(), [5, 0x8A, 0x03, 0xE8]);
        // R bit and maximum volume survive a round trip.
        let r = EventReport::from_bytes([16, 0x7F, 0xFF, 0xFF]);
        assert!(r.reserved && !r.end);
        assert_eq!((r.volume, r.duration), (63, 0xFFFF));
        assert_eq!(r.digit(), None, "flash is not a digit");
        assert_eq!(r.to_bytes(), [16, 0x7F, 0xFF, 0xFF]);
    }

    #[test]
    fn builds_reports_from_keys() {
        let r = EventReport::new(key('#'), 0xFF, 160, false);
        assert_eq!(r.to_bytes(), [11, 0x3F, 0x00, 0xA0]);
        let r = EventReport::new(key('D'), 7, 0xFFFF, true);
        assert_eq!(r.to_bytes(), [15, 0x87, 0xFF, 0xFF]);
    }

    #[test]
    fn several_reports_back_to_back() {
        let a = EventReport::new(key('1'), 10, 800, true);
        let b = EventReport::new(key('2'), 10, 320, false);
        let mut buf = [0u8; 8];
        assert_eq!(write(&[a, b], &mut buf), Ok(8));
        let got: Vec<EventReport> = parse(&buf).expect("valid").collect();
        assert_eq!(got, vec![a, b]);
        assert_eq!(parse(&buf).expect("valid").len(), 2);
    }

    #[test]
    fn refuses_empty_and_odd_lengths() {
        assert_eq!(parse(&[]).err(), Some(Error::Empty));
        for len in [1, 2, 3, 5, 7, 9] {
            let buf = vec![0u8; len];
            assert_eq!(parse(&buf).err(), Some(Error::Truncated { len }));
        }
        let mut small = [0u8; 7];
        let r = EventReport::new(key('0'), 0, 1, false);
        assert_eq!(write(&[r, r], &mut small), Err(Error::BufferTooSmall { needed: 8 }));
    }

    #[test]
    fn debug_hides_the_event_code() {
        let r = EventReport::new(key('7'), 10, 160, false);
        let s = format!("{r:?}");
        assert!(s.contains("event: \"*\""), "{s}");
        assert!(!s.contains('7'), "{s}");
    }
}
