//! One digit per key press across transports: RFC 4733 events, in-band tones, SIP INFO.
//!
//! A caller may send a key press as a telephone-event *and* as in-band tones (a gateway that
//! converts tones to events but leaves the audio alone, a phone configured for both), or as
//! SIP INFO as well. Each transport on its own reports every press once (the in-band detector
//! and [`crate::rfc4733::EventReceiver`] see to that); [`DigitMerger`] makes the union report
//! each press once too.
//!
//! ```text
//!  DtmfEvent (8 kHz sample positions) ───────────────┐
//!  ReceiverEvent (RTP timestamps) ─► RtpTimeline ────┼─► DigitMerger ─► MergedDigit (once)
//!  SIP INFO digit (sample position on arrival) ──────┘
//! ```
//!
//! # One timeline
//!
//! Everything is placed on the stream's timeline: 8 kHz sample positions counted from the first
//! sample given to the in-band detector, the unit of [`tonewall_dsp::DtmfEvent`]. RFC 4733
//! events share their RTP clock and timestamp base with the audio of the same stream (RFC 4733
//! §2.1), so an [`RtpTimeline`] anchored on an audio packet (its RTP timestamp and the position
//! of its first sample) places them. A SIP INFO digit has no media time; the caller gives the
//! position the stream had reached when the INFO arrived.
//!
//! # The rule
//!
//! Two reports from *different* transports are the same key press when they name the same key
//! and either their starts lie within [`MergerConfig::window`] of each other
//! ([`MergerConfig::sip_info_window`] when one is SIP INFO, whose timing is signalling time), or
//! their spans overlap. A press whose end is not known yet counts as its start alone, because
//! "open" may only mean its end packets were lost and a timeout has yet to close it; so the
//! window must cover how far one transport's start can lag the other's (a converting gateway's
//! detection delay, typically 40–60 ms).
//! A press takes at most one report per transport, and a report joins the press whose start is
//! nearest. Two reports from the *same* transport are never merged: that transport has already
//! decided they are two presses. So two presses of one key stay two whenever one transport
//! reported both, however short the pause; and the number of digits out is never less than the
//! largest number any one transport reported.
//!
//! A digit goes out on the first report of its press, from whichever transport is fastest.
//!
//! The known limit: if the same key is pressed twice quickly and each press reaches only a
//! different transport (press 1 only in-band, press 2 only as an event), the two can merge into
//! one digit. Both transports failing on adjacent presses of one key is rare; a window smaller
//! than the shortest pause (Q.24: 40 ms) removes it at the price of duplicates from gateways
//! whose events lag their tones.
//!
//! Memory is fixed (the 32 newest presses); nothing allocates per report.

use crate::rfc4733::ReceiverEvent;
use crate::ring::Ring;
use tonewall_dsp::{Digit, DtmfEvent};

/// Sample rate of the merger's timeline, Hz (that of the in-band detector).
pub const TIMELINE_RATE: u32 = 8000;
const ENTRIES: usize = 32;
/// A report emits at most one digit, so any queue holds one call's output; some slack for
/// callers that drain late.
const QUEUE: usize = 16;

/// Maps RTP timestamps of one stream to positions on the merger's 8 kHz timeline.
///
/// Anchor it on audio packets as they arrive ([`RtpTimeline::anchor`]): the mapping then
/// survives the 32-bit timestamp wrap (distances are taken as signed 32-bit differences from the
/// anchor) and a change of timestamp base with a new SSRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpTimeline {
    clock_rate: u32,
    anchor_ts: u32,
    anchor_pos: u64,
}

impl RtpTimeline {
    /// A timeline on which RTP timestamp `ts` (of a `clock_rate` Hz RTP clock; 0 is taken as
    /// 8000) is sample position `position`.
    pub fn new(clock_rate: u32, ts: u32, position: u64) -> Self {
        RtpTimeline {
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            anchor_ts: ts,
            anchor_pos: position,
        }
    }

    /// Moves the anchor: RTP timestamp `ts` is sample position `position`.
    pub fn anchor(&mut self, ts: u32, position: u64) {
        self.anchor_ts = ts;
        self.anchor_pos = position;
    }

    /// The sample position of RTP timestamp `ts` (0 if it would fall before the stream began).
    pub fn position(&self, ts: u32) -> u64 {
        let units = i64::from(ts.wrapping_sub(self.anchor_ts) as i32);
        let samples = units * i64::from(TIMELINE_RATE) / i64::from(self.clock_rate);
        self.anchor_pos.checked_add_signed(samples).unwrap_or(if samples < 0 { 0 } else { u64::MAX })
    }

    /// A duration of `units` RTP timestamp units, in timeline samples.
    pub fn samples(&self, units: u32) -> u64 {
        u64::from(units) * u64::from(TIMELINE_RATE) / u64::from(self.clock_rate)
    }
}

/// How a digit reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RTP telephone-event (RFC 4733).
    Rfc4733,
    /// DTMF tones in the audio.
    InBand,
    /// SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    SipInfo,
}

impl Transport {
    /// Every transport, in index order.
    pub const ALL: [Transport; 3] = [Transport::Rfc4733, Transport::InBand, Transport::SipInfo];

    /// A stable index 0..3, for counters.
    pub fn index(self) -> usize {
        match self {
            Transport::Rfc4733 => 0,
            Transport::InBand => 1,
            Transport::SipInfo => 2,
        }
    }

    /// The metric label (`rfc4733`, `inband`, `sip_info`).
    pub fn label(self) -> &'static str {
        match self {
            Transport::Rfc4733 => "rfc4733",
            Transport::InBand => "inband",
            Transport::SipInfo => "sip_info",
        }
    }
}

/// Settings of a [`DigitMerger`]; distances in 8 kHz samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergerConfig {
    /// Largest distance between the starts of an RFC 4733 report and an in-band report of one
    /// press whose spans do not overlap. Default 800 (100 ms): gateways that convert tones to
    /// events start the event up to a detection delay after the tone.
    pub window: u64,
    /// The same, when one of the reports is SIP INFO, placed by its arrival rather than by
    /// media time. Default 4000 (500 ms).
    pub sip_info_window: u64,
}

impl Default for MergerConfig {
    fn default() -> Self {
        MergerConfig { window: 800, sip_info_window: 4000 }
    }
}

/// A key press, reported once. `Debug` masks the digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergedDigit {
    /// Sequence number of the press in this merger, from 0.
    pub id: u64,
    /// The key.
    pub digit: Digit,
    /// Start of the press on the timeline, as first reported.
    pub start: u64,
    /// The transport that reported it first.
    pub transport: Transport,
}

/// Counters for metrics, per [`Transport::index`]. None depends on which keys were pressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergerStats {
    /// Presses each transport reported.
    pub reports: [u64; 3],
    /// Reports that joined a press another transport had already reported.
    pub merged: [u64; 3],
    /// Digits emitted.
    pub digits: u64,
    /// Digits lost because the caller did not drain [`DigitMerger::poll_digit`].
    pub overflowed: u64,
}

/// One transport's view of a press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u64,
    /// `None` while the press is still open on this transport.
    end: Option<u64>,
    /// Matches the end to its start: the receiver's press id, or the detector's start sample.
    key: u64,
}

impl Span {
    /// Whether the spans share a sample. A span whose end is not known yet counts as its start
    /// alone: an open press may still be waiting for a timeout to close it (its end packets
    /// lost), and stretching it to the future would swallow the next press of the same key.
    fn overlaps(&self, other: &Span) -> bool {
        let a_end = self.end.unwrap_or(self.start);
        let b_end = other.end.unwrap_or(other.start);
        self.start <= b_end && other.start <= a_end
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    digit: Digit,
    spans: [Option<Span>; 3],
}

/// Merges the digit reports of one call leg's transports; see the [module docs](self).
///
/// Feed it with the `handle_*` methods as reports arrive, then drain
/// [`DigitMerger::poll_digit`] until it returns `None`. It has no timers: a digit goes out as
/// soon as its first report arrives.
#[derive(Clone, Debug)]
pub struct DigitMerger {
    config: MergerConfig,
    entries: Ring<Entry, ENTRIES>,
    out: Ring<MergedDigit, QUEUE>,
    next_id: u64,
    stats: MergerStats,
}

impl Default for DigitMerger {
    fn default() -> Self {
        DigitMerger::new(MergerConfig::default())
    }
}

impl DigitMerger {
    /// A merger that has seen nothing yet.
    pub fn new(config: MergerConfig) -> Self {
        DigitMerger {
            config,
            entries: Ring::new(),
            out: Ring::new(),
            next_id: 0,
            stats: MergerStats::default(),
        }
    }

    /// An event of the in-band detector (positions already on the timeline).
    pub fn handle_inband(&mut self, event: DtmfEvent) {
        match event {
            DtmfEvent::DigitStart { digit, start } => {
                self.report(Transport::InBand, digit, Span { start, end: None, key: start })
            }
            DtmfEvent::DigitEnd { digit, start, end } => {
                self.close(Transport::InBand, digit, start, start, end)
            }
        }
    }

    /// An event of the RFC 4733 receiver, placed on the timeline by `timeline`.
    pub fn handle_rfc4733(&mut self, event: &ReceiverEvent, timeline: &RtpTimeline) {
        match *event {
            ReceiverEvent::Press { id, digit, start_ts, .. } => self.report(
                Transport::Rfc4733,
                digit,
                Span { start: timeline.position(start_ts), end: None, key: id },
            ),
            ReceiverEvent::PressEnd { id, digit, start_ts, duration, .. } => {
                let start = timeline.position(start_ts);
                let end = start.saturating_add(timeline.samples(duration));
                self.close(Transport::Rfc4733, digit, id, start, end);
            }
        }
    }

    /// A SIP INFO digit that arrived when the stream was at sample `position`, with the
    /// duration its body gave (in samples), if any.
    pub fn handle_sip_info(&mut self, digit: Digit, position: u64, duration: Option<u64>) {
        self.report(
            Transport::SipInfo,
            digit,
            Span {
                start: position,
                end: Some(position.saturating_add(duration.unwrap_or(0))),
                key: position,
            },
        );
    }

    /// The next digit, oldest first. Drain after every `handle_*` call.
    pub fn poll_digit(&mut self) -> Option<MergedDigit> {
        self.out.pop_front()
    }

    /// What every packet's poll reads: the output queue's count, as (start, length).
    pub(crate) fn hot_span(&self) -> (*const u8, usize) {
        self.out.count_span()
    }

    /// The counters.
    pub fn stats(&self) -> MergerStats {
        self.stats
    }

    fn window(&self, a: Transport, b: Transport) -> u64 {
        if a == Transport::SipInfo || b == Transport::SipInfo {
            self.config.sip_info_window
        } else {
            self.config.window
        }
    }

    /// A transport's report of a press: joins the press it matches, or is a new digit.
    fn report(&mut self, transport: Transport, digit: Digit, span: Span) {
        let t = transport.index();
        self.stats.reports[t] += 1;
        let mut best: Option<(usize, u64)> = None;
        for i in 0..self.entries.len() {
            let Some(entry) = self.entries.get(i) else {
                continue;
            };
            if entry.digit != digit || entry.spans[t].is_some() {
                continue;
            }
            for other in Transport::ALL {
                let Some(s) = entry.spans[other.index()] else {
                    continue;
                };
                let distance = s.start.abs_diff(span.start);
                let near = s.overlaps(&span) || distance <= self.window(transport, other);
                if near && best.is_none_or(|(_, d)| distance < d) {
                    best = Some((i, distance));
                }
            }
        }
        if let Some((i, _)) = best
            && let Some(entry) = self.entries.get_mut(i)
        {
            entry.spans[t] = Some(span);
            self.stats.merged[t] += 1;
            return;
        }
        let mut spans = [None; 3];
        spans[t] = Some(span);
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back(Entry { digit, spans });
        self.stats.digits += 1;
        let evicted = self.out.push_back(MergedDigit { id, digit, start: span.start, transport });
        if evicted.is_some() {
            self.stats.overflowed += 1;
        }
    }

    /// A transport says its press `key` ended; one whose start we never saw is reported whole.
    fn close(&mut self, transport: Transport, digit: Digit, key: u64, start: u64, end: u64) {
        let t = transport.index();
        for i in (0..self.entries.len()).rev() {
            if let Some(entry) = self.entries.get_mut(i)
                && entry.digit == digit
                && let Some(span) = entry.spans[t].as_mut()
                && span.key == key
                && span.end.is_none()
            {
                span.start = start.min(span.start);
                span.end = Some(end.max(span.start));
                return;
            }
        }
        self.report(transport, digit, Span { start, end: Some(end.max(start)), key });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_maps_across_the_wrap() {
        let tl = RtpTimeline::new(8000, u32::MAX - 99, 1000);
        assert_eq!(tl.position(u32::MAX - 99), 1000);
        assert_eq!(tl.position(0), 1100);
        assert_eq!(tl.position(u32::MAX - 199), 900);
        assert_eq!(tl.position(u32::MAX - 99 - 5000), 0, "before the stream");
        let wide = RtpTimeline::new(48_000, 0, 0);
        assert_eq!(wide.position(48_000), 8000);
        assert_eq!(wide.samples(480), 80);
        assert_eq!(RtpTimeline::new(0, 0, 0).samples(160), 160);
    }

    #[test]
    fn labels_are_the_metric_names() {
        let labels: Vec<&str> = Transport::ALL.iter().map(|t| t.label()).collect();
        assert_eq!(labels, ["rfc4733", "inband", "sip_info"]);
        for (i, t) in Transport::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }
}
