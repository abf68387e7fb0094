//! One direction of a media session: what happens to a packet between the two legs.
//!
//! Unmasked directions only renumber. A masked direction runs every G.711 payload through the
//! zero-bleed [`Masker`], removes RFC 4733 telephone-events (and RFC 2198 redundancy carrying
//! them), and turns what it found into digits, one per key press across both transports and the
//! SIP INFO digits the signalling hands it. It forwards nothing it cannot inspect: payload
//! types other than G.711 and comfort noise are dropped (the SDP offered toward the agent
//! allows only those).
//!
//! # Masking a packet stream without holding packets
//!
//! The masker needs to hear a look-behind (default 20 ms) beyond a sample before it can decide
//! about it. Instead of holding each packet back for that long (a delay buffer with a timer per
//! packet, which is how rtpengine does it and why it needs 60 ms to stop leaking onsets), every
//! packet leaves at once, carrying in its payload the audio from one look-behind earlier on the
//! stream's own RTP timeline. The agent hears the audio exactly that much later; the packets
//! themselves are not delayed at all, and their timing (jitter, pacing) is the sender's.
//!
//! The timeline is the RTP timestamp: a gap (lost packets) is filled with silence for up to one
//! look-behind so the delay stays exact; audio that arrives after its slot has left (reordered
//! beyond the next packet, duplicated) is dropped like a jitter buffer would. The cost is that
//! the last look-behind of a talk spurt is lost when the sender pauses (VAD/DTX); trunks to
//! contact centres send continuous G.711.

use super::{CapturedDigit, DropReason, RelayEvent};
use crate::merge::{DigitMerger, RtpTimeline, TIMELINE_RATE, Transport};
use crate::rfc4733::receiver::RtpMeta;
use crate::rfc4733::{EventReceiver, ReceiverEvent};
use crate::rtp::{self, RtpHeader};
use std::collections::VecDeque;
use std::time::Duration;
use tonewall_dsp::{Digit, DtmfEvent, G711, Law, Masker, MaskerConfig, SampleFormat};

/// Payload types of one direction, from the SDP its sender offered or answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PayloadTypes {
    /// telephone-event (RFC 4733), 8 kHz.
    pub telephone_event: Option<u8>,
    /// RFC 2198 redundancy.
    pub red: Option<u8>,
}

/// Per-direction state: sequence renumbering, and masking when on.
pub(crate) struct Direction {
    pub(crate) pts: PayloadTypes,
    /// Packets removed so far: later packets are renumbered down by this many so the receiver
    /// sees no gap.
    seq_shift: u16,
    /// Packets removed so far, and their payload octets: RTCP sender counts and report blocks
    /// are corrected by these, so each side's figures match what it sent or received.
    pub(crate) removed: (u64, u64),
    /// Present while masking is on (boxed: unmasked directions stay small).
    masking: Option<Box<Masking>>,
    /// Masking was on and has been turned off (ng `unblock DTMF`): this direction may now carry
    /// digits, so it is no longer recorded.
    pub(crate) unblocked: bool,
    /// Where the masker's look-behind ring is (address, length; zeros before the first audio),
    /// kept here so that [`Direction::hot_spans`] names it without reading the masking state,
    /// which is itself still on its way into the caches then. An address only, never read.
    ring_at: (usize, usize),
}

struct Masking {
    config: MaskerConfig,
    masker: Option<(Law, Masker<G711>)>,
    ssrc: Option<u32>,
    /// Highest audio sequence number forwarded.
    highest_seq: Option<u16>,
    /// RTP timestamp of the sample after the last one fed to the masker.
    next_ts: Option<u32>,
    /// Samples fed to the masker so far: the direction's timeline, on which the merger places
    /// every report. It runs on across masker restarts (a new SSRC, a codec change).
    fed: u64,
    /// Where the current masker's first sample lies on the timeline: its detector counts from
    /// there.
    masker_base: u64,
    timeline: Option<RtpTimeline>,
    events: EventReceiver,
    merger: DigitMerger,
    /// Sequence number of the newest packet removed: audio older than it is dropped, since
    /// renumbering it would repeat a number already sent.
    last_removed: Option<u16>,
}

/// Sequence steps back beyond this are a restart, not reordering (RFC 3550 A.1's MAX_MISORDER).
const MAX_MISORDER: i16 = 100;
/// Timestamp steps back beyond this (1 s at 8 kHz) are a restart.
const RESYNC_SAMPLES: i32 = 8000;

/// The longest SIP INFO duration believed, ms: a hostile or broken body must not stretch its
/// press over the rest of the call (a span overlapping later tones of the same key).
const MAX_SIP_INFO_MS: u32 = 10_000;

/// Comfort noise (RFC 3389), static payload type.
const CN: u8 = 13;

/// The largest payload masked in one go; longer ones are done in pieces.
const CHUNK: usize = 1024;

impl Direction {
    pub(crate) fn new() -> Self {
        Direction {
            pts: PayloadTypes::default(),
            seq_shift: 0,
            removed: (0, 0),
            masking: None,
            unblocked: false,
            ring_at: (0, 0),
        }
    }

    pub(crate) fn set_masking(&mut self, config: Option<&MaskerConfig>) {
        self.ring_at = (0, 0);
        match (config, self.masking.is_some()) {
            (Some(c), false) => {
                self.masking = Some(Box::new(Masking {
                    config: c.clone(),
                    masker: None,
                    ssrc: None,
                    highest_seq: None,
                    next_ts: None,
                    fed: 0,
                    masker_base: 0,
                    timeline: None,
                    events: EventReceiver::default(),
                    merger: DigitMerger::default(),
                    last_removed: None,
                }))
            }
            (None, true) => {
                self.masking = None;
                self.unblocked = true;
            }
            _ => {}
        }
    }

    pub(crate) fn masking(&self) -> bool {
        self.masking.is_some()
    }

    /// Processes an RTP packet in place. On `Ok` the packet (same length) is to be forwarded.
    pub(crate) fn process(
        &mut self,
        now: Duration,
        header: &RtpHeader,
        packet: &mut [u8],
        events: &mut VecDeque<RelayEvent>,
    ) -> Result<(), DropReason> {
        if let Some(m) = self.masking.as_deref_mut() {
            let meta = RtpMeta {
                ssrc: header.ssrc,
                seq: header.seq,
                timestamp: header.timestamp,
                marker: header.marker,
            };
            let payload = &packet[header.payload()];
            let event = if Some(header.pt) == self.pts.telephone_event {
                Some(m.events.handle_packet(now, meta, payload))
            } else if let (Some(red), Some(te)) = (self.pts.red, self.pts.telephone_event)
                && header.pt == red
            {
                // Redundancy may carry audio too; but a RED stream with telephone-events in it
                // cannot be forwarded with the events cut out, so all of it goes.
                Some(m.events.handle_red(now, meta, payload, te))
            } else {
                None
            };
            if let Some(_result) = event {
                // Malformed event payloads go too: whatever they are, they are not for the agent.
                self.seq_shift = self.seq_shift.wrapping_add(1);
                self.removed.0 += 1;
                if m.last_removed.is_none_or(|r| (header.seq.wrapping_sub(r) as i16) > 0) {
                    m.last_removed = Some(header.seq);
                }
                self.removed.1 += header.payload_len as u64;
                m.drain(events);
                return Err(DropReason::DtmfEvent);
            }
            let law = match header.pt {
                0 => Some(Law::Ulaw),
                8 => Some(Law::Alaw),
                _ => None,
            };
            match (law, header.pt) {
                (Some(law), _) => m.mask(header, law, &mut packet[header.payload()])?,
                // Comfort noise carries a level and a spectral envelope, not a waveform: it
                // cannot carry a tone. The next audio packet sees the gap it covered.
                (None, CN) => {}
                // Anything else cannot be inspected, so it cannot be let through: a codec the
                // masker does not read could carry the digits, and so could a telephone-event
                // under a payload type nobody negotiated.
                (None, _) => return Err(DropReason::Unmaskable),
            }
            m.drain(events);
            // The masker may have been built or rebuilt (a new SSRC, a codec change).
            let ring = m.masker.as_ref().map(|(_, masker)| masker.ring_span());
            self.ring_at = ring.map_or((0, 0), |(at, len)| (at as usize, len));
        }
        if self.seq_shift != 0 {
            rtp::set_seq(packet, header.seq.wrapping_sub(self.seq_shift));
        }
        Ok(())
    }

    pub(crate) fn handle_timeout(&mut self, now: Duration, events: &mut VecDeque<RelayEvent>) {
        if let Some(m) = self.masking.as_deref_mut() {
            m.events.handle_timeout(now);
            m.drain(events);
        }
    }

    /// A digit the signalling received in a SIP INFO from this direction's sender, at `now`.
    ///
    /// Masked: placed on the timeline at the position the stream has reached (`fed`, the
    /// sample after the last one that arrived; 0 before any audio) and merged with the tones
    /// and telephone-events of the same press. The timeline counts samples that arrived, not
    /// wall time: the audio that follows an INFO (after a loss or a DTX pause too) starts at
    /// that position, which is where the same press's tones will be placed. Pending event
    /// timeouts fire first, so a press whose end packets were lost has its span when the INFO
    /// is compared with it.
    ///
    /// Unmasked: nothing else is watched in this direction, so there is nothing to merge with;
    /// the digit is reported as it is (the B2BUA swallowed the INFO, so this is its only
    /// report).
    pub(crate) fn sip_info(
        &mut self,
        now: Duration,
        digit: Digit,
        duration_ms: Option<u32>,
        events: &mut VecDeque<RelayEvent>,
    ) {
        match self.masking.as_deref_mut() {
            Some(m) => {
                m.events.handle_timeout(now);
                m.drain(events);
                let samples =
                    duration_ms.map(|d| u64::from(d.min(MAX_SIP_INFO_MS)) * u64::from(TIMELINE_RATE) / 1000);
                m.merger.handle_sip_info(digit, m.fed, samples);
                m.drain(events);
            }
            None => events.push_back(RelayEvent::Digit {
                digit: CapturedDigit::new(digit),
                transport: Transport::SipInfo,
            }),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        self.masking.as_ref().and_then(|m| m.events.poll_timeout())
    }

    /// Memory a packet of this direction touches outside the session struct, as (start,
    /// length) spans: the masking state and the masker's ring.
    pub(crate) fn hot_spans(&self, f: &mut impl FnMut(*const u8, usize)) {
        if let Some(m) = &self.masking {
            // Field by field: the digit receiver's and merger's rings (most of the 7 KiB) are
            // touched only when digits come, and asking for lines not needed costs as much as
            // the stalls saved.
            fn span<T>(x: &T) -> (*const u8, usize) {
                ((x as *const T).cast(), size_of::<T>())
            }
            for (at, len) in [
                span(&m.masker),
                span(&m.config),
                span(&m.ssrc),
                span(&m.highest_seq),
                span(&m.next_ts),
                span(&m.fed),
                span(&m.masker_base),
                span(&m.timeline),
                span(&m.last_removed),
            ] {
                f(at, len);
            }
            m.events.hot_spans(f);
            let (at, len) = m.merger.hot_span();
            f(at, len);
            if self.ring_at.1 > 0 {
                f(self.ring_at.0 as *const u8, self.ring_at.1);
            }
        }
    }

    /// Bytes this direction occupies (inline and boxed).
    pub(crate) fn footprint(&self) -> usize {
        let masking = self.masking.as_ref().map_or(0, |m| {
            size_of::<Masking>()
                + m.masker.as_ref().map_or(0, |(_, mk)| mk.footprint() - size_of::<Masker<G711>>())
        });
        size_of::<Self>() + masking
    }

    /// Samples the masker replaced so far.
    pub(crate) fn masked_samples(&self) -> u64 {
        self.masking.as_ref().and_then(|m| m.masker.as_ref()).map_or(0, |(_, mk)| mk.masked_samples())
    }
}

impl Masking {
    fn mask(&mut self, header: &RtpHeader, law: Law, payload: &mut [u8]) -> Result<(), DropReason> {
        if self.ssrc != Some(header.ssrc) {
            // A new source: its audio has nothing to do with the old one's.
            self.ssrc = Some(header.ssrc);
            self.highest_seq = None;
            self.next_ts = None;
            self.masker = None;
        }
        // A source that jumps far back in sequence or time under the same SSRC (a media server
        // switch behind an SBC) starts a new timeline, as RFC 3550 A.1 restarts on a large jump;
        // small steps back are reordering.
        let far_back = self.highest_seq.is_some_and(|h| (header.seq.wrapping_sub(h) as i16) < -MAX_MISORDER)
            || self.next_ts.is_some_and(|n| (header.timestamp.wrapping_sub(n) as i32) < -RESYNC_SAMPLES);
        if far_back {
            self.highest_seq = None;
            self.next_ts = None;
            self.masker = None;
            self.last_removed = None;
        }
        if let Some(h) = self.highest_seq
            && (header.seq.wrapping_sub(h) as i16) <= 0
        {
            return Err(DropReason::Late);
        }
        if let Some(r) = self.last_removed
            && (header.seq.wrapping_sub(r) as i16) < 0
        {
            return Err(DropReason::Late);
        }
        // A new masker for a new law (a codec change): the old one's state is for other codes.
        let fresh = !matches!(self.masker, Some((l, _)) if l == law);
        if fresh {
            self.masker = None;
        }
        let config = &self.config;
        let (fed, base) = (self.fed, &mut self.masker_base);
        let (_, masker) = self.masker.get_or_insert_with(|| {
            *base = fed;
            (law, Masker::new(G711(law), config))
        });
        let mut scratch = [0u8; CHUNK];
        if let Some(next) = self.next_ts.filter(|_| !fresh) {
            let gap = header.timestamp.wrapping_sub(next) as i32;
            if gap < 0 {
                return Err(DropReason::Late);
            }
            // Lost packets: silence in their place, up to one look-behind (after that the
            // silence fed is all that can come out anyway). What comes out belonged to packets
            // that do not exist.
            let mut fill = (gap as usize).min(masker.delay());
            let idle = [G711(law).idle(); CHUNK];
            while fill > 0 {
                let n = fill.min(CHUNK);
                masker.process(&idle[..n], &mut scratch[..n]);
                self.fed += n as u64;
                fill -= n;
            }
        }
        let start = self.fed;
        for piece in payload.chunks_mut(CHUNK) {
            let n = piece.len();
            masker.process(piece, &mut scratch[..n]);
            piece.copy_from_slice(&scratch[..n]);
        }
        self.fed += payload.len() as u64;
        match self.timeline.as_mut() {
            Some(t) => t.anchor(header.timestamp, start),
            None => self.timeline = Some(RtpTimeline::new(8000, header.timestamp, start)),
        }
        self.highest_seq = Some(header.seq);
        self.next_ts = Some(header.timestamp.wrapping_add(payload.len() as u32));
        Ok(())
    }

    /// Moves what the detector and the event receiver found through the merger, and the digits
    /// out of it into `events`.
    fn drain(&mut self, events: &mut VecDeque<RelayEvent>) {
        if let Some((_, masker)) = self.masker.as_mut() {
            let base = self.masker_base;
            while let Some(e) = masker.poll_event() {
                // The detector counts from its masker's first sample; the timeline from the
                // direction's.
                let e = match e {
                    DtmfEvent::DigitStart { digit, start } => {
                        DtmfEvent::DigitStart { digit, start: start.saturating_add(base) }
                    }
                    DtmfEvent::DigitEnd { digit, start, end } => DtmfEvent::DigitEnd {
                        digit,
                        start: start.saturating_add(base),
                        end: end.saturating_add(base),
                    },
                };
                self.merger.handle_inband(e);
            }
        }
        while let Some(e) = self.events.poll_event() {
            // Events before any audio: place them at the start of the timeline.
            let timeline = self.timeline.unwrap_or_else(|| {
                let ts = match e {
                    ReceiverEvent::Press { start_ts, .. } | ReceiverEvent::PressEnd { start_ts, .. } => {
                        start_ts
                    }
                    #[allow(unreachable_patterns)]
                    _ => 0,
                };
                RtpTimeline::new(8000, ts, self.fed)
            });
            self.merger.handle_rfc4733(&e, &timeline);
        }
        while let Some(d) = self.merger.poll_digit() {
            events
                .push_back(RelayEvent::Digit { digit: CapturedDigit::new(d.digit), transport: d.transport });
        }
    }
}
