//! The telephone-event receiver: packets in, exactly one [`ReceiverEvent::Press`] per key press
//! out.
//!
//! # The rule
//!
//! A report (one 4-octet event report with its timestamp and SSRC) *belongs* to a press when it
//! comes from the same SSRC, names the same event, and its timestamp
//!
//! 1. lies inside the span the press is known to cover, `[start, start + duration)` — every
//!    update, duplicate and end retransmission of a segment carries the segment's start (§2.5.1.2,
//!    §2.5.1.4), and segments lie inside the press; or
//! 2. is where the next segment of a long press starts: 0xFFFF units (less a small tolerance for
//!    senders that cut at a packet boundary) after the current segment's timestamp, once at least
//!    half a segment of it has been seen (§2.5.1.3) — the guard keeps a second press of the same
//!    key 8.19 s after a short one from being read as a segment; or
//! 3. is where the segment *before* the earliest one seen starts (0xFFFF units earlier), for a
//!    long press whose first segment arrives late (never with the E bit: only the last segment
//!    ends).
//!
//! Rule 1 is tried against every remembered press before rules 2 and 3 are, so a repeat that
//! lies inside a known press is never taken for a segment of another. Dedupe is thus on
//! (SSRC, event, timestamp), with "timestamp" widened to the press's span and segments.
//!
//! A report that belongs to the press in progress updates it (and ends it on the E bit). One that
//! belongs to a press already ended — the second and third E-bit copies, RFC 2198 repeats,
//! duplicates, reordered stragglers — is absorbed without output. Anything else is a new key
//! press: a [`ReceiverEvent::Press`] goes out on that first report, marker bit or not, because a
//! lost start packet must not lose the digit and flows want digits early. The new press closes
//! the one in progress ([`EndReason::NextPress`]): one SSRC sends one key at a time, so "same
//! event, new timestamp" is a new press, never a continuation. A new press whose timestamp lies
//! before the newest press already reported is a straggler of an earlier press that was never
//! seen; it is reported and closed at once ([`EndReason::Late`]).
//!
//! A press in progress with no packet for [`ReceiverConfig::end_timeout`] has lost its end
//! packets and is closed ([`EndReason::Timeout`]). A change of SSRC closes the press in progress
//! ([`EndReason::SourceChanged`]); ended presses stay remembered with their SSRC, so a late
//! packet of the old source is still recognised.
//!
//! Reports that cannot be a key press are ignored and counted: event codes 16 and up (flash and
//! other non-DTMF events), a volume weaker than −55 dBm0 (RFC 2833/4733: DTMF "lower than
//! −55 dBm0 must be rejected"), and a zero duration (nothing has lasted yet; some senders open
//! with one, and their next report starts the press just the same).
//!
//! # Driving it
//!
//! Call [`EventReceiver::handle_packet`] (or [`EventReceiver::handle_red`]) for every packet of
//! the telephone-event (or RED) payload type, then drain [`EventReceiver::poll_event`] until it
//! returns `None`. Call [`EventReceiver::handle_timeout`] when [`EventReceiver::poll_timeout`]
//! says; early or twice is harmless. At the end of the stream call [`EventReceiver::finish`] and
//! drain once more.
//!
//! Memory is fixed: the 16 most recently used ended presses and a 64-event output queue, which
//! holds the output of any single call. Nothing allocates per packet. A straggler older than
//! 16 presses would be taken for a new press; at human typing speed that is a delay of
//! several seconds, far past any jitter buffer.

use super::payload::{self, EventReport, Reports};
use super::{Error, MAX_SEGMENT_DURATION, red};
use crate::ring::Ring;
use core::time::Duration;
use tonewall_dsp::Digit;

/// Most event reports processed from one packet (all RFC 2198 blocks together). A keypad sends
/// one; packed or redundant packets a few. The bound keeps one call's output within the queue.
pub const MAX_REPORTS_PER_PACKET: usize = 16;
/// Ended presses remembered for dedupe; at least [`MAX_REPORTS_PER_PACKET`] so that a packet
/// repeated right away is always recognised.
const RECENT: usize = 16;
/// Output queue: one timeout close plus at most three events per report.
const QUEUE: usize = 64;
const _: () = assert!(RECENT >= MAX_REPORTS_PER_PACKET && QUEUE > 1 + 3 * MAX_REPORTS_PER_PACKET);

const SEGMENT: u32 = MAX_SEGMENT_DURATION as u32;
/// How far below 0xFFFF a new segment may start: senders that stop a segment at their last
/// update before 0xFFFF (e.g. 65440 = 409 × 160) rather than at 0xFFFF itself.
const SEGMENT_TOLERANCE: u32 = 1024;
/// Part of a segment that must have been seen before a timestamp 0xFFFF later is taken for the
/// next segment rather than a new press of the same key.
const SEGMENT_MIN_SEEN: u16 = 0x8000;

/// The RTP header fields the receiver needs, parsed by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpMeta {
    /// Synchronisation source.
    pub ssrc: u32,
    /// Sequence number. Not used for decisions: retransmitted end packets carry new sequence
    /// numbers (§2.5.1.4), so the timestamp and event say more about identity than it does.
    pub seq: u16,
    /// RTP timestamp: the start of the event (or segment) the packet reports.
    pub timestamp: u32,
    /// Marker bit: set on the first packet of an event. Only counted; a press is recognised
    /// without it.
    pub marker: bool,
}

/// Settings of an [`EventReceiver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// A press with no packet for this long has lost its end packets and is closed. Generous,
    /// because the only cost is a late [`ReceiverEvent::PressEnd`]: new presses are recognised
    /// by their timestamp, not by this timer. Default 500 ms.
    pub end_timeout: Duration,
    /// Reports with a larger volume field (weaker than −`max_volume` dBm0) are ignored.
    /// Default 55, from "lower than −55 dBm0 must be rejected" (RFC 2833 text, kept in 4733).
    pub max_volume: u8,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig { end_timeout: Duration::from_millis(500), max_volume: 55 }
    }
}

/// What the receiver reports. Timestamps and durations are in RTP timestamp units of the
/// stream's clock, so the caller can place them on its audio timeline
/// ([`crate::merge::RtpTimeline`]). `Debug` masks the digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiverEvent {
    /// A key press began; reported on the first packet of it that arrived.
    Press {
        /// Identifies the press; its [`ReceiverEvent::PressEnd`] carries the same.
        id: u64,
        /// The key.
        digit: Digit,
        /// The source that sent it.
        ssrc: u32,
        /// RTP timestamp of the press's start, as far as known (the earliest segment seen).
        start_ts: u32,
        /// Volume field of the first report (0–55, meaning 0 to −55 dBm0).
        volume: u8,
    },
    /// The key press ended.
    PressEnd {
        /// The press's id.
        id: u64,
        /// The key.
        digit: Digit,
        /// The source that sent it.
        ssrc: u32,
        /// RTP timestamp of the press's start; earlier than in `Press` if an earlier segment
        /// arrived late.
        start_ts: u32,
        /// Length of the press in timestamp units, over all segments: exact when an end packet
        /// arrived, as far as seen otherwise.
        duration: u32,
        /// Why the press was closed.
        reason: EndReason,
    },
}

impl ReceiverEvent {
    /// The key.
    pub fn digit(&self) -> Digit {
        match *self {
            ReceiverEvent::Press { digit, .. } | ReceiverEvent::PressEnd { digit, .. } => digit,
        }
    }

    /// The press's id.
    pub fn id(&self) -> u64 {
        match *self {
            ReceiverEvent::Press { id, .. } | ReceiverEvent::PressEnd { id, .. } => id,
        }
    }
}

/// Why a press was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// A report with the E bit arrived: the duration is exact.
    EndBit,
    /// No packet for [`ReceiverConfig::end_timeout`]: the end packets were lost.
    Timeout,
    /// Another press from the same source began before this one's end packets arrived.
    NextPress,
    /// The stream's SSRC changed.
    SourceChanged,
    /// The press was first seen after a newer one had already been reported (reordering or loss
    /// of everything but a straggler); it is over by then, so it is closed at once.
    Late,
    /// [`EventReceiver::finish`] was called.
    Finished,
}

/// Counters for metrics. None of them depends on which keys were pressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Packets accepted.
    pub packets: u64,
    /// Packets refused as malformed (the call returned an error).
    pub malformed: u64,
    /// Event reports examined.
    pub reports: u64,
    /// Reports ignored: event code not a DTMF key (16 and up).
    pub not_digit: u64,
    /// Reports ignored: volume weaker than [`ReceiverConfig::max_volume`].
    pub too_quiet: u64,
    /// Reports ignored: zero duration.
    pub zero_duration: u64,
    /// Reports that belonged to a press already ended (retransmissions, duplicates, stragglers).
    pub repeats: u64,
    /// Key presses reported.
    pub presses: u64,
    /// Presses whose first report seen lacked the marker bit (the start packet was lost).
    pub presses_without_marker: u64,
    /// Presses closed at once because they were seen only after a newer one.
    pub late_presses: u64,
    /// Presses closed by the timeout.
    pub timeouts: u64,
    /// Changes of SSRC.
    pub source_changes: u64,
    /// Events lost because the caller did not drain [`EventReceiver::poll_event`].
    pub overflowed: u64,
}

/// What is known of one press.
#[derive(Clone, Copy, Debug)]
struct Track {
    id: u64,
    digit: Digit,
    event: u8,
    ssrc: u32,
    /// Timestamp of the earliest segment seen.
    start_ts: u32,
    /// Units from `start_ts` to the furthest end reported.
    extent: u32,
    /// Timestamp of the latest segment seen, and the longest duration reported for it.
    seg_ts: u32,
    seg_dur: u16,
}

/// The two ways a report can belong to a press, tried in this order over all presses so that
/// a report inside a known span is never taken for another press's segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    /// The timestamp lies inside the span the press is known to cover.
    Span,
    /// The timestamp is where the next (or previous) segment of the press starts.
    Segment,
}

/// `a` lies before `b` on the wrapping 32-bit timestamp circle.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `d` units is where a segment boundary can lie after a segment's start.
fn segment_step(d: u32) -> bool {
    (SEGMENT - SEGMENT_TOLERANCE..=SEGMENT).contains(&d)
}

impl Track {
    /// How a report relates to this press, if at all.
    fn matches(&self, how: Match, ssrc: u32, r: &EventReport, ts: u32) -> bool {
        if ssrc != self.ssrc || r.event != self.event {
            return false;
        }
        match how {
            Match::Span => ts.wrapping_sub(self.start_ts) < self.extent,
            Match::Segment => {
                (self.seg_dur >= SEGMENT_MIN_SEEN && segment_step(ts.wrapping_sub(self.seg_ts)))
                    // An earlier segment never carries the E bit: only the last one ends.
                    || (!r.end && segment_step(self.start_ts.wrapping_sub(ts)))
            }
        }
    }

    fn absorb(&mut self, ts: u32, duration: u16) {
        if before(ts, self.start_ts) {
            self.extent = self.extent.saturating_add(self.start_ts.wrapping_sub(ts));
            self.start_ts = ts;
        }
        let end = ts.wrapping_sub(self.start_ts).saturating_add(u32::from(duration));
        self.extent = self.extent.max(end);
        if ts == self.seg_ts {
            self.seg_dur = self.seg_dur.max(duration);
        } else if before(self.seg_ts, ts) {
            self.seg_ts = ts;
            self.seg_dur = duration;
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Active {
    track: Track,
    last_seen: Duration,
}

/// Turns telephone-event packets of one stream into one [`ReceiverEvent::Press`] per key press;
/// see the [module docs](self) for the rule and the driving loop.
#[derive(Clone, Debug)]
pub struct EventReceiver {
    config: ReceiverConfig,
    ssrc: Option<u32>,
    active: Option<Active>,
    /// Ended presses, least recently used first.
    recent: Ring<Track, RECENT>,
    /// SSRC and start of the newest press begun in order (not late): a new press before it is
    /// a straggler.
    newest_start: Option<(u32, u32)>,
    out: Ring<ReceiverEvent, QUEUE>,
    next_id: u64,
    stats: ReceiverStats,
}

impl Default for EventReceiver {
    fn default() -> Self {
        EventReceiver::new(ReceiverConfig::default())
    }
}

impl EventReceiver {
    /// A receiver that has seen nothing yet.
    pub fn new(config: ReceiverConfig) -> Self {
        EventReceiver {
            config,
            ssrc: None,
            active: None,
            recent: Ring::new(),
            newest_start: None,
            out: Ring::new(),
            next_id: 0,
            stats: ReceiverStats::default(),
        }
    }

    /// Feeds one telephone-event packet received at `now`. A malformed payload is refused whole
    /// (nothing of it is used) and counted; timeouts due by `now` fire either way.
    pub fn handle_packet(&mut self, now: Duration, meta: RtpMeta, payload: &[u8]) -> Result<(), Error> {
        self.handle_timeout(now);
        let reports = match checked(payload) {
            Ok(reports) => reports,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e);
            }
        };
        self.stats.packets += 1;
        self.feed(now, meta.ssrc, meta.timestamp, meta.marker, reports);
        Ok(())
    }

    /// Feeds one RFC 2198 (`audio/red`) packet received at `now`; blocks of payload type
    /// `event_pt` are read as telephone-events (other blocks are ignored), redundant ones with
    /// their own timestamps. Refused whole, and counted, if any part is malformed.
    pub fn handle_red(
        &mut self,
        now: Duration,
        meta: RtpMeta,
        payload: &[u8],
        event_pt: u8,
    ) -> Result<(), Error> {
        self.handle_timeout(now);
        if let Err(e) = check_red(payload, meta.timestamp, event_pt) {
            self.stats.malformed += 1;
            return Err(e);
        }
        self.stats.packets += 1;
        let red = red::parse(payload, meta.timestamp)?;
        for block in red.blocks() {
            if block.pt != event_pt || block.payload.is_empty() {
                continue;
            }
            let reports = payload::parse(block.payload)?;
            self.feed(now, meta.ssrc, block.timestamp, meta.marker && block.primary, reports);
        }
        Ok(())
    }

    /// Closes the press in progress if it has gone [`ReceiverConfig::end_timeout`] without a
    /// packet. Safe to call at any time, early or repeatedly.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.poll_timeout().is_some_and(|at| now >= at) {
            self.stats.timeouts += 1;
            self.close_active(EndReason::Timeout);
        }
    }

    /// When [`EventReceiver::handle_timeout`] next has something to do; `None` while no press
    /// is in progress.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.active.as_ref().map(|a| a.last_seen.saturating_add(self.config.end_timeout))
    }

    /// What every packet's polls read, as (start, length) spans: the press in progress and the
    /// output queue's count (the rest is touched only when events come).
    pub(crate) fn hot_spans(&self, f: &mut impl FnMut(*const u8, usize)) {
        f((&self.active as *const Option<Active>).cast(), size_of::<Option<Active>>());
        let (at, len) = self.out.count_span();
        f(at, len);
    }

    /// The next event, oldest first. Drain after every `handle_*` call.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.out.pop_front()
    }

    /// Ends the stream: the press in progress, if any, is closed ([`EndReason::Finished`]).
    pub fn finish(&mut self) {
        self.close_active(EndReason::Finished);
    }

    /// Whether a press is in progress (reported, not yet closed).
    pub fn press_active(&self) -> bool {
        self.active.is_some()
    }

    /// The counters.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    /// Runs the reports of one payload (or RED block). Packed reports follow one another: the
    /// first starts at the packet's timestamp and each next one where the previous ended
    /// (§2.5.1.5).
    fn feed(&mut self, now: Duration, ssrc: u32, ts: u32, marker: bool, reports: Reports<'_>) {
        let mut ts = ts;
        for (i, report) in reports.enumerate() {
            self.on_report(now, ssrc, ts, marker && i == 0, report);
            ts = ts.wrapping_add(u32::from(report.duration));
        }
    }

    fn on_report(&mut self, now: Duration, ssrc: u32, ts: u32, marker: bool, r: EventReport) {
        self.stats.reports += 1;
        let Some(digit) = r.digit() else {
            self.stats.not_digit += 1;
            return;
        };
        if r.volume > self.config.max_volume {
            self.stats.too_quiet += 1;
            return;
        }
        if r.duration == 0 {
            self.stats.zero_duration += 1;
            return;
        }
        if self.ssrc != Some(ssrc) {
            // A straggler of a source we already left is a repeat, not a change of source.
            if self.absorb_recent(Match::Span, ssrc, &r, ts)
                || self.absorb_recent(Match::Segment, ssrc, &r, ts)
            {
                return;
            }
            if self.ssrc.is_some() {
                self.stats.source_changes += 1;
            }
            self.close_active(EndReason::SourceChanged);
            self.ssrc = Some(ssrc);
        }
        for how in [Match::Span, Match::Segment] {
            if let Some(active) = self.active.as_mut()
                && active.track.matches(how, ssrc, &r, ts)
            {
                active.track.absorb(ts, r.duration);
                active.last_seen = now;
                if r.end {
                    self.close_active(EndReason::EndBit);
                }
                return;
            }
            if self.absorb_recent(how, ssrc, &r, ts) {
                return;
            }
        }

        // A key press not seen before.
        let newest_start = match &self.active {
            Some(a) => Some(a.track.start_ts),
            None => self.newest_start.filter(|&(s, _)| s == ssrc).map(|(_, ts)| ts),
        };
        let late = newest_start.is_some_and(|start| before(ts, start));
        if !late {
            self.close_active(EndReason::NextPress);
            self.newest_start = Some((ssrc, ts));
        }
        let track = Track {
            id: self.next_id,
            digit,
            event: r.event,
            ssrc,
            start_ts: ts,
            extent: u32::from(r.duration),
            seg_ts: ts,
            seg_dur: r.duration,
        };
        self.next_id += 1;
        self.stats.presses += 1;
        if !marker {
            self.stats.presses_without_marker += 1;
        }
        self.emit(ReceiverEvent::Press { id: track.id, digit, ssrc, start_ts: ts, volume: r.volume });
        if late {
            self.stats.late_presses += 1;
            self.close(track, EndReason::Late);
        } else if r.end {
            self.close(track, EndReason::EndBit);
        } else {
            self.active = Some(Active { track, last_seen: now });
        }
    }

    /// Absorbs a report into a remembered (ended) press it belongs to; true if there was one.
    /// That press becomes the most recently used, so a press still sending stragglers is the
    /// last to be forgotten.
    fn absorb_recent(&mut self, how: Match, ssrc: u32, r: &EventReport, ts: u32) -> bool {
        for i in (0..self.recent.len()).rev() {
            if let Some(track) = self.recent.get_mut(i)
                && track.matches(how, ssrc, r, ts)
            {
                track.absorb(ts, r.duration);
                self.recent.move_to_back(i);
                self.stats.repeats += 1;
                return true;
            }
        }
        false
    }

    fn close_active(&mut self, reason: EndReason) {
        if let Some(active) = self.active.take() {
            self.close(active.track, reason);
        }
    }

    fn close(&mut self, track: Track, reason: EndReason) {
        self.emit(ReceiverEvent::PressEnd {
            id: track.id,
            digit: track.digit,
            ssrc: track.ssrc,
            start_ts: track.start_ts,
            duration: track.extent,
            reason,
        });
        self.recent.push_back(track);
    }

    fn emit(&mut self, event: ReceiverEvent) {
        if self.out.push_back(event).is_some() {
            self.stats.overflowed += 1;
        }
    }
}

/// Parses a telephone-event payload and applies the per-packet bound.
fn checked(payload: &[u8]) -> Result<Reports<'_>, Error> {
    let reports = payload::parse(payload)?;
    if reports.len() > MAX_REPORTS_PER_PACKET {
        return Err(Error::TooManyReports { count: reports.len(), max: MAX_REPORTS_PER_PACKET });
    }
    Ok(reports)
}

/// Checks a whole RED packet before any of it is used.
fn check_red(payload: &[u8], timestamp: u32, event_pt: u8) -> Result<(), Error> {
    let red = red::parse(payload, timestamp)?;
    let mut count = 0;
    for block in red.blocks() {
        if block.pt == event_pt && !block.payload.is_empty() {
            count += payload::parse(block.payload)?.len();
        }
    }
    if count > MAX_REPORTS_PER_PACKET {
        return Err(Error::TooManyReports { count, max: MAX_REPORTS_PER_PACKET });
    }
    Ok(())
}
