//! Receiver statistics of one RTP stream (RFC 3550 Appendix A.1, A.3, A.8), the RTT to its
//! source, and the MOS estimate.
//!
//! # Sequence tracking
//!
//! As A.1: a new source is on probation until two packets in sequence arrive, and only then
//! counted; a forward step under 3000 is in order (a step past 65535 counts a rollover), up to
//! 100 back is late or a duplicate, anything else is a jump that is ignored unless the next
//! packet follows it, in which case the source restarted and counting starts again. Two
//! departures from A.1, both to keep the figures honest for a relay:
//!
//! - duplicates within the last 64 sequence numbers are recognised (a 64-bit window) and not
//!   counted as received, so they cannot hide losses (A.1 counts them, which is why its
//!   cumulative loss can go negative);
//! - a restart or a change of SSRC carries the counts so far into the totals instead of
//!   dropping them, so a snapshot covers the whole call. The RR fields restart with the source,
//!   as A.1 has them.
//!
//! The probation test wraps (A.1's `seq == max_seq + 1` misses 65535 → 0 in C's int
//! arithmetic).
//!
//! # Jitter
//!
//! A.8 in integer arithmetic: the arrival time is converted to timestamp units at the stream's
//! clock rate, the transit time is arrival minus RTP timestamp, and the jitter moves 1/16 of
//! the way towards each new |difference| of transits. It is kept scaled by 16 for precision,
//! and updated for every counted packet in arrival order (not for duplicates or jumps); a
//! restart or new source starts a new transit baseline.

use super::emodel::{self, EModel};
use super::seq::SeqNo;
use super::{MosConfig, Snapshot};
use crate::rtcp::{self, NtpClock, NtpTime, ReportBlock};
use core::time::Duration;

const RTP_SEQ_MOD: u32 = 1 << 16;
/// Largest forward step taken as in-order (A.1).
const MAX_DROPOUT: u16 = 3000;
/// Largest step back taken as late or duplicate (A.1).
const MAX_MISORDER: u16 = 100;
/// Packets in sequence that end a new source's probation (A.1).
const MIN_SEQUENTIAL: u8 = 2;
/// Steps back within which duplicates are recognised: the bits of the window.
const WINDOW: u16 = 64;

/// The RTP header fields and size of one received packet, parsed by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketInfo {
    /// Synchronisation source.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Payload octets (after the header, CSRCs and extension; before padding).
    pub payload_len: usize,
}

/// What a packet was to the sequence tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arrival {
    /// The next packet, or one after a gap (the gap counts as lost until it is filled).
    InOrder,
    /// Older than the newest seen, and not seen before: it fills a gap.
    Late,
    /// Seen before.
    Duplicate,
    /// A new source on probation: not counted yet.
    Probation,
    /// A large jump in sequence numbers: not counted unless the next packet follows it.
    Jump,
    /// The packet that followed a jump: the source restarted; counting starts again from it.
    Restart,
}

/// Receiver statistics of one RTP stream. Small and flat: one lives for every stream the relay
/// receives. Feed it every packet with [`StreamStats::on_packet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamStats {
    /// Payload octets, every packet.
    bytes: u64,
    /// Bit i: sequence number `max_seq − i` was counted.
    window: u64,
    /// Packets, every one.
    packets: u32,
    clock_rate: u32,
    ssrc: u32,
    /// Rollovers since the (re)start.
    cycles: u32,
    /// Packets counted since the (re)start.
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// The sequence number after a jump; `RTP_SEQ_MOD + 1` when none.
    bad_seq: u32,
    /// Expected and received before the last restart or SSRC change.
    carried_expected: u32,
    carried_received: u32,
    duplicates: u32,
    reordered: u32,
    /// Gaps seen: the loss bursts of the burst ratio.
    bursts: u32,
    /// Transit time of the last counted packet, in timestamp units.
    transit: u32,
    /// Jitter in timestamp units, scaled by 16.
    jitter: u32,
    /// Compact NTP time of the last SR from the source, and when it came (2^-16 s, wrapping).
    sr_lsr: u32,
    sr_at: u32,
    /// Compact NTP times of the last two SRs the relay sent to the source.
    sent_sr: [u32; 2],
    /// Last RTT, 2^-16 s.
    rtt: u32,
    max_seq: u16,
    base_seq: u16,
    probation: u8,
    started: bool,
    has_transit: bool,
    has_rtt: bool,
}

impl StreamStats {
    /// Statistics for a stream whose RTP clock runs at `clock_rate` Hz (8000 for G.711); 0 is
    /// taken as 1.
    pub fn new(clock_rate: u32) -> StreamStats {
        StreamStats {
            bytes: 0,
            window: 0,
            packets: 0,
            clock_rate: clock_rate.max(1),
            ssrc: 0,
            cycles: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            carried_expected: 0,
            carried_received: 0,
            duplicates: 0,
            reordered: 0,
            bursts: 0,
            transit: 0,
            jitter: 0,
            sr_lsr: 0,
            sr_at: 0,
            sent_sr: [0; 2],
            rtt: 0,
            max_seq: 0,
            base_seq: 0,
            probation: 0,
            started: false,
            has_transit: false,
            has_rtt: false,
        }
    }

    /// Accounts for one received RTP packet that arrived at `now`.
    pub fn on_packet(&mut self, now: Duration, p: PacketInfo) -> Arrival {
        self.packets = self.packets.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(p.payload_len as u64);
        if !self.started || p.ssrc != self.ssrc {
            if self.started {
                self.carry();
                self.jitter = 0;
                self.sr_lsr = 0;
            }
            self.started = true;
            self.ssrc = p.ssrc;
            self.init_seq(p.seq);
            self.max_seq = p.seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
            self.has_transit = false;
        }
        let arrival = self.update_seq(p.seq);
        match arrival {
            Arrival::Duplicate => self.duplicates = self.duplicates.wrapping_add(1),
            Arrival::Jump => {}
            Arrival::Restart => {
                self.has_transit = false;
                self.update_jitter(now, p.timestamp);
            }
            Arrival::Late => {
                self.reordered = self.reordered.wrapping_add(1);
                self.update_jitter(now, p.timestamp);
            }
            Arrival::InOrder | Arrival::Probation => self.update_jitter(now, p.timestamp),
        }
        arrival
    }

    /// A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq;
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.window = 1;
    }

    /// Moves the counts of the run that ends into the totals.
    fn carry(&mut self) {
        self.carried_expected = self.carried_expected.saturating_add(self.expected() as u32);
        self.carried_received = self.carried_received.saturating_add(self.received);
    }

    /// A.1 `update_seq`, with the duplicate window.
    fn update_seq(&mut self, seq: u16) -> Arrival {
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return Arrival::InOrder;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return Arrival::Probation;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta == 0 {
            return Arrival::Duplicate;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1);
            }
            self.max_seq = seq;
            self.window = if udelta >= WINDOW { 1 } else { (self.window << udelta) | 1 };
            if udelta > 1 {
                self.bursts = self.bursts.wrapping_add(1);
            }
            self.received = self.received.wrapping_add(1);
            return Arrival::InOrder;
        }
        if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two packets in sequence after a jump: the other side restarted.
                self.carry();
                self.init_seq(seq);
                self.received += 1;
                return Arrival::Restart;
            }
            self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
            return Arrival::Jump;
        }
        let back = self.max_seq.wrapping_sub(seq);
        if back < WINDOW {
            let bit = 1u64 << back;
            if self.window & bit != 0 {
                return Arrival::Duplicate;
            }
            self.window |= bit;
        }
        self.received = self.received.wrapping_add(1);
        Arrival::Late
    }

    /// A.8, integer form: `J += |D| − J/16` with J scaled by 16.
    fn update_jitter(&mut self, now: Duration, timestamp: u32) {
        let arrival = (now.as_nanos().wrapping_mul(u128::from(self.clock_rate)) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(timestamp);
        if self.has_transit {
            let d = (transit.wrapping_sub(self.transit) as i32).unsigned_abs();
            let j = i64::from(self.jitter) + i64::from(d) - ((i64::from(self.jitter) + 8) >> 4);
            self.jitter = j.clamp(0, i64::from(u32::MAX)) as u32;
        }
        self.transit = transit;
        self.has_transit = true;
    }

    /// Packets expected in the current run (A.3); 0 on probation.
    fn expected(&self) -> u64 {
        if !self.started || self.probation > 0 {
            return 0;
        }
        (self.extended_max_raw() + 1).saturating_sub(u64::from(self.base_seq))
    }

    fn extended_max_raw(&self) -> u64 {
        SeqNo::from_parts(u64::from(self.cycles), self.max_seq).get()
    }

    /// The source's SSRC, once a packet has come.
    pub fn ssrc(&self) -> Option<u32> {
        self.started.then_some(self.ssrc)
    }

    /// The highest sequence number counted, extended, once probation is over.
    pub fn extended_max(&self) -> Option<SeqNo> {
        (self.started && self.probation == 0).then(|| SeqNo::new(self.extended_max_raw()))
    }

    /// Interarrival jitter in timestamp units, as a report block carries it.
    pub fn jitter(&self) -> u32 {
        self.jitter >> 4
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        f64::from(self.jitter) / 16.0 * 1000.0 / f64::from(self.clock_rate)
    }

    /// The last round-trip time measured to the source.
    pub fn rtt(&self) -> Option<Duration> {
        self.has_rtt.then(|| rtcp::compact_to_duration(self.rtt))
    }

    /// Records an SR from the stream's source that arrived at `now`, for the LSR and DLSR of
    /// the next [`StreamStats::report_block`]. An SR from another SSRC than the stream's is
    /// ignored; returns whether it was taken.
    pub fn on_sender_report(&mut self, now: Duration, ssrc: u32, ntp: NtpTime) -> bool {
        if self.started && ssrc != self.ssrc {
            return false;
        }
        self.sr_lsr = ntp.compact();
        self.sr_at = compact_wrapping(now);
        true
    }

    /// Records that the relay sent an SR with NTP time `ntp` to the stream's source, so that a
    /// report block answering it yields an RTT. The last two are remembered, for a report that
    /// crosses a newer SR on the wire.
    pub fn on_sr_sent(&mut self, ntp: NtpTime) {
        self.sent_sr = [ntp.compact(), self.sent_sr[0]];
    }

    /// Takes the RTT from a report block that arrived at `now` from the stream's source about
    /// the stream the relay sends it (RFC 3550 §6.4.1), if the block answers an SR the relay
    /// sent ([`StreamStats::on_sr_sent`]). A block answering someone else's SR — the far end's,
    /// forwarded through the relay — says nothing about this leg and is ignored.
    pub fn on_report_block(
        &mut self,
        now: Duration,
        clock: &NtpClock,
        block: &ReportBlock,
    ) -> Option<Duration> {
        if block.lsr == 0 || !self.sent_sr.contains(&block.lsr) {
            return None;
        }
        let rtt = rtcp::round_trip(clock.ntp(now), block.lsr, block.dlsr)?;
        self.rtt = rtcp::duration_to_compact(rtt);
        self.has_rtt = true;
        Some(rtt)
    }

    /// The report block for an RR or SR the relay sends about this stream at `now` (A.3):
    /// the loss fraction since the previous call, the cumulative loss and extended highest
    /// sequence number of the current run, the jitter, and LSR/DLSR of the source's last SR.
    /// Starts a new interval. `None` before any packet.
    pub fn report_block(&mut self, now: Duration) -> Option<ReportBlock> {
        if !self.started {
            return None;
        }
        let expected = self.expected();
        let expected_interval = (expected as u32).wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected as u32;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let lost = expected as i64 - i64::from(self.received);
        let (lsr, dlsr) = match self.sr_lsr {
            0 => (0, 0),
            lsr => (lsr, compact_wrapping(now).wrapping_sub(self.sr_at)),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            extended_highest_seq: SeqNo::new(self.extended_max_raw()).to_report(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        })
    }

    /// The stream's figures now, with the MOS estimated as `mos` says.
    pub fn snapshot(&self, mos: &MosConfig) -> Snapshot {
        let expected = u64::from(self.carried_expected) + self.expected();
        let received = u64::from(self.carried_received) + u64::from(self.received);
        let lost = expected.saturating_sub(received);
        let loss_fraction = if expected == 0 { 0.0 } else { lost as f64 / expected as f64 };
        let jitter_ms = self.jitter_ms();
        let rtt_ms = self.rtt().map(|d| d.as_secs_f64() * 1000.0);
        let burst_ratio = emodel::burst_ratio(received, lost, u64::from(self.bursts));
        let delay_ms = rtt_ms.unwrap_or(0.0) / 2.0
            + mos.fixed_delay.as_secs_f64() * 1000.0
            + mos.jitter_buffer * jitter_ms;
        let model = EModel::default()
            .with_loss(mos.codec, loss_fraction * 100.0, burst_ratio)
            .with_one_way_delay(delay_ms);
        let r_factor = model.r();
        Snapshot {
            packets: u64::from(self.packets),
            bytes: self.bytes,
            expected,
            lost,
            loss_fraction,
            duplicates: u64::from(self.duplicates),
            reordered: u64::from(self.reordered),
            jitter_ms,
            rtt_ms,
            burst_ratio,
            delay_ms,
            r_factor,
            mos: emodel::mos_from_r(r_factor),
        }
    }
}

/// `now` in 2^-16 s units, modulo 2^32 (wraps every 18.2 hours; only differences are used).
fn compact_wrapping(now: Duration) -> u32 {
    ((now.as_nanos() << 16) / 1_000_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 0x5EED;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn pkt(seq: u16, timestamp: u32) -> PacketInfo {
        PacketInfo { ssrc: SSRC, seq, timestamp, payload_len: 160 }
    }

    /// Feeds sequence numbers at 20 ms spacing with matching timestamps; returns the arrivals.
    fn feed(s: &mut StreamStats, seqs: &[u16]) -> Vec<Arrival> {
        seqs.iter()
            .enumerate()
            .map(|(i, &seq)| s.on_packet(ms(20 * i as u64), pkt(seq, u32::from(seq) * 160)))
            .collect()
    }

    #[test]
    fn state_is_small() {
        assert_eq!(size_of::<StreamStats>(), 104);
    }

    #[test]
    fn probation_then_counting() {
        let mut s = StreamStats::new(8000);
        assert_eq!(s.report_block(ms(0)), None);
        let a = feed(&mut s, &[100, 101, 102]);
        assert_eq!(a, [Arrival::Probation, Arrival::InOrder, Arrival::InOrder]);
        // The first packet is not counted: base is 101.
        assert_eq!(s.extended_max(), Some(SeqNo::new(102)));
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.packets, snap.bytes, snap.expected, snap.lost), (3, 480, 2, 0));
        // Probation restarts on a packet out of sequence, and needs two in a row again.
        let mut s = StreamStats::new(8000);
        let a = feed(&mut s, &[7, 9, 10, 11]);
        assert_eq!(a, [Arrival::Probation, Arrival::Probation, Arrival::InOrder, Arrival::InOrder]);
        assert_eq!(s.snapshot(&MosConfig::default()).expected, 2);
        // Probation across the rollover (A.1's C arithmetic would miss 65535 → 0).
        let mut s = StreamStats::new(8000);
        assert_eq!(feed(&mut s, &[65535, 0]), [Arrival::Probation, Arrival::InOrder]);
    }

    #[test]
    fn loss_and_rollover() {
        let mut s = StreamStats::new(8000);
        // 65530 … 65535, 0 … 9, with 65533, 2, 3 and 4 lost.
        let seqs: Vec<u16> = (65530..=65535).chain(0..10).filter(|s| ![65533, 2, 3, 4].contains(s)).collect();
        feed(&mut s, &seqs);
        assert_eq!(s.extended_max(), Some(SeqNo::from_parts(1, 9)));
        let block = s.report_block(ms(1000)).expect("a block");
        // Counting starts at 65531: expected 65531..=65535 and 0..=9 = 15, received 11.
        assert_eq!(block.extended_highest_seq, 0x0001_0009);
        assert_eq!(block.cumulative_lost, 4);
        assert_eq!(block.fraction_lost, (4 * 256 / 15) as u8);
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.expected, snap.lost), (15, 4));
        assert!((snap.loss_fraction - 4.0 / 15.0).abs() < 1e-12);
        // Two gaps: one of one packet, one of three.
        assert!((snap.burst_ratio - (11.0 * 4.0 / (2.0 * 15.0))).abs() < 1e-12);
        // The next interval: ten more in order, nothing lost in it.
        let base = 20 * seqs.len() as u64;
        for (i, seq) in (10u16..20).enumerate() {
            s.on_packet(ms(base + 20 * i as u64), pkt(seq, u32::from(seq) * 160));
        }
        let block = s.report_block(ms(2000)).expect("a block");
        assert_eq!((block.fraction_lost, block.cumulative_lost), (0, 4));
    }

    #[test]
    fn fraction_lost_per_interval() {
        let mut s = StreamStats::new(8000);
        feed(&mut s, &[1, 2]);
        s.report_block(ms(40));
        // Only the packet after a 10-packet gap arrives: 11 expected, 1 received.
        s.on_packet(ms(300), pkt(13, 13 * 160));
        assert_eq!(s.report_block(ms(400)).map(|b| b.fraction_lost), Some(232));
        s.on_packet(ms(320), pkt(14, 14 * 160));
        s.report_block(ms(400));
        // A report with nothing new expected: 0.
        assert_eq!(s.report_block(ms(500)).map(|b| b.fraction_lost), Some(0));
        // Late packets of an earlier interval make this one's loss negative: reported as 0.
        s.on_packet(ms(340), pkt(5, 5 * 160));
        s.on_packet(ms(360), pkt(6, 6 * 160));
        assert_eq!(s.report_block(ms(600)).map(|b| (b.fraction_lost, b.cumulative_lost)), Some((0, 8)));
    }

    #[test]
    fn duplicates_and_late_packets() {
        let mut s = StreamStats::new(8000);
        let a = feed(&mut s, &[10, 11, 12, 14, 13, 13, 14, 12, 15, 15]);
        use Arrival::*;
        assert_eq!(
            a,
            [Probation, InOrder, InOrder, InOrder, Late, Duplicate, Duplicate, Duplicate, InOrder, Duplicate]
        );
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.expected, snap.lost, snap.duplicates, snap.reordered), (5, 0, 4, 1));
        assert_eq!(snap.packets, 10);
        // Late by more than the window: counted (A.1 does), not checked for duplication.
        let mut s = StreamStats::new(8000);
        let mut seqs: Vec<u16> = (0..80).collect();
        seqs.remove(5);
        seqs.push(5);
        seqs.push(5);
        let a = feed(&mut s, &seqs);
        assert_eq!(a[a.len() - 2..], [Late, Late]);
        assert_eq!(s.snapshot(&MosConfig::default()).lost, 0);
    }

    #[test]
    fn jumps_and_restarts() {
        use Arrival::*;
        let mut s = StreamStats::new(8000);
        // A stray packet far ahead is ignored; the stream carries on.
        assert_eq!(
            feed(&mut s, &[1, 2, 3, 40_000, 4, 5]),
            [Probation, InOrder, InOrder, Jump, InOrder, InOrder]
        );
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.expected, snap.lost, snap.packets), (4, 0, 6));
        // Two in sequence after a jump: a restart. The RR restarts; the totals do not.
        let mut s = StreamStats::new(8000);
        feed(&mut s, &[1, 2, 3, 5]);
        let t = ms(1000);
        assert_eq!(s.on_packet(t, pkt(30_000, 0)), Jump);
        assert_eq!(s.on_packet(t + ms(20), pkt(30_001, 160)), Restart);
        assert_eq!(s.on_packet(t + ms(40), pkt(30_002, 320)), InOrder);
        let block = s.report_block(t + ms(60)).expect("a block");
        assert_eq!((block.extended_highest_seq, block.cumulative_lost), (30_002, 0));
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.expected, snap.lost), (4 + 2, 1));
        // A step back of 100 or more is a jump too.
        let mut s = StreamStats::new(8000);
        let mut seqs: Vec<u16> = (0..200).collect();
        seqs.push(99);
        assert_eq!(*feed(&mut s, &seqs).last().expect("some"), Jump);
    }

    #[test]
    fn a_new_ssrc_starts_over_and_keeps_totals() {
        let mut s = StreamStats::new(8000);
        feed(&mut s, &[1, 2, 4]);
        assert_eq!(s.ssrc(), Some(SSRC));
        let other = |seq: u16| PacketInfo { ssrc: 77, seq, timestamp: 0, payload_len: 10 };
        assert_eq!(s.on_packet(ms(100), other(500)), Arrival::Probation);
        assert_eq!(s.on_packet(ms(120), other(501)), Arrival::InOrder);
        assert_eq!(s.ssrc(), Some(77));
        assert_eq!(s.report_block(ms(140)).map(|b| (b.ssrc, b.cumulative_lost)), Some((77, 0)));
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.packets, snap.bytes, snap.expected, snap.lost), (5, 500, 3 + 1, 1));
    }

    /// Feeds 8 kHz packets every 20 ms whose arrival is offset by `delay_ms[i]`.
    fn jitter_after(delays_ms: &[u64]) -> StreamStats {
        let mut s = StreamStats::new(8000);
        for (i, &d) in delays_ms.iter().enumerate() {
            let seq = i as u16;
            s.on_packet(ms(20 * i as u64 + d), pkt(seq, 1000 + u32::from(seq) * 160));
        }
        s
    }

    #[test]
    fn jitter_of_a_steady_stream_is_zero() {
        // A constant network delay is no jitter, nor is an arbitrary timestamp origin.
        assert_eq!(jitter_after(&[37; 500]).jitter(), 0);
    }

    #[test]
    fn jitter_of_alternating_delay_converges_to_the_step() {
        // Delays 0, 10, 0, 10… ms: |D| = 80 units for every packet after the first, so
        // J_n = 80·(1 − (15/16)^n) (A.8), reaching 80 units = 10 ms.
        let delays: Vec<u64> = (0..400).map(|i| if i % 2 == 0 { 0 } else { 10 }).collect();
        for n in [1usize, 2, 3, 10, 50] {
            let s = jitter_after(&delays[..=n]);
            let exact = 80.0 * (1.0 - (15.0f64 / 16.0).powi(n as i32));
            assert!((f64::from(s.jitter) / 16.0 - exact).abs() < 0.5, "n {n}: {} vs {exact}", s.jitter);
        }
        let s = jitter_after(&delays);
        assert!((s.jitter() as i64 - 80).abs() <= 1, "{}", s.jitter());
        assert!((s.jitter_ms() - 10.0).abs() < 0.1, "{}", s.jitter_ms());
    }

    #[test]
    fn jitter_of_one_late_packet() {
        // One packet 30 ms late (240 units): D = +240 then −240, so J = 240/16 = 15 after it
        // and 15 + (240 − 15)/16 = 29.06 after the next, then decaying by 15/16 a packet.
        let mut delays = vec![0u64; 20];
        delays[10] = 30;
        let s = jitter_after(&delays[..=10]);
        assert_eq!(s.jitter, 240);
        let s = jitter_after(&delays[..=11]);
        assert_eq!(s.jitter, 240 + 240 - 15);
        let s = jitter_after(&delays);
        let expected = 29.0625 * (15.0f64 / 16.0).powi(8);
        assert!((f64::from(s.jitter) / 16.0 - expected).abs() < 0.5);
    }

    #[test]
    fn jitter_at_48_khz_in_milliseconds() {
        // 48 kHz, 20 ms frames (960 units), every other packet 4 ms late: 192 units = 4 ms.
        let mut s = StreamStats::new(48_000);
        for i in 0..300u64 {
            let late = if i % 2 == 1 { 4 } else { 0 };
            s.on_packet(
                ms(20 * i + late),
                PacketInfo { ssrc: 1, seq: i as u16, timestamp: i as u32 * 960, payload_len: 0 },
            );
        }
        assert!((s.jitter_ms() - 4.0).abs() < 0.05, "{}", s.jitter_ms());
    }

    #[test]
    fn rtt_from_the_rfc_example() {
        // RFC 3550 §6.4.1: our SR at 0xb44db705:20000000, the RR back at compact 0xb7108000
        // with DLSR 5.25 s: 6.125 s round trip.
        let mut s = StreamStats::new(8000);
        let sent = NtpTime::new(0xb44d_b705, 0x2000_0000);
        let clock = NtpClock { at: ms(1000), ntp: sent };
        s.on_sr_sent(sent);
        let arrival = ms(1000 + 11_375); // 11.375 s after the SR left
        let block = ReportBlock { ssrc: 1, lsr: 0xb705_2000, dlsr: 0x0005_4000, ..ReportBlock::default() };
        assert_eq!(s.on_report_block(arrival, &clock, &block), Some(ms(6125)));
        assert_eq!(s.rtt(), Some(ms(6125)));
        assert_eq!(s.snapshot(&MosConfig::default()).rtt_ms, Some(6125.0));
        // A block that answers an SR we did not send (the far end's, forwarded) is ignored.
        let foreign = ReportBlock { lsr: 0xb705_2001, ..block };
        assert_eq!(s.on_report_block(arrival, &clock, &foreign), None);
        // An older SR is still recognised once a newer one has gone out.
        s.on_sr_sent(sent.wrapping_add(ms(5000)));
        assert_eq!(s.on_report_block(arrival, &clock, &block), Some(ms(6125)));
    }

    #[test]
    fn report_block_answers_the_sources_sr() {
        let mut s = StreamStats::new(8000);
        feed(&mut s, &[1, 2, 3]);
        let ntp = NtpTime::new(0xE000_1234, 0x8000_0000);
        assert!(s.on_sender_report(ms(500), SSRC, ntp));
        assert!(!s.on_sender_report(ms(500), SSRC + 1, ntp), "another source's SR");
        let block = s.report_block(ms(1750)).expect("a block");
        assert_eq!((block.lsr, block.dlsr), (0x1234_8000, 0x0001_4000)); // 1.25 s held
        assert_eq!(block.ssrc, SSRC);
    }

    #[test]
    fn a_clean_g711_stream_scores_4_4() {
        let mut s = StreamStats::new(8000);
        for i in 0..500u16 {
            s.on_packet(ms(20 * u64::from(i)), pkt(i, u32::from(i) * 160));
        }
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!((snap.lost, snap.jitter_ms, snap.rtt_ms), (0, 0.0, None));
        assert_eq!(snap.delay_ms, 20.0);
        assert!((snap.mos - 4.40).abs() < 0.01, "{}", snap.mos);
        assert_eq!(snap.burst_ratio, 1.0);
    }

    #[test]
    fn loss_and_delay_lower_the_mos() {
        // 2 % random-ish loss (every 50th packet), 250 ms RTT: the G.107 estimate for G.711
        // with PLC at 2 % and 145 ms one way (125 + 20 ms frame).
        let mut s = StreamStats::new(8000);
        for i in (0..5000u16).filter(|i| i % 50 != 25) {
            s.on_packet(ms(20 * u64::from(i)), pkt(i, u32::from(i) * 160));
        }
        let sent = NtpTime::new(0xE000_1234, 0);
        let clock = NtpClock { at: Duration::ZERO, ntp: sent };
        s.on_sr_sent(sent);
        let block = ReportBlock { lsr: sent.compact(), dlsr: 0, ..ReportBlock::default() };
        assert_eq!(s.on_report_block(ms(250), &clock, &block), Some(ms(250)));
        let snap = s.snapshot(&MosConfig::default());
        assert!((snap.loss_fraction - 0.02).abs() < 1e-3, "{}", snap.loss_fraction);
        assert!((snap.delay_ms - 145.0).abs() < 1e-9);
        let model =
            EModel::default().with_loss(super::super::Codec::G711_PLC, 2.0, 1.0).with_one_way_delay(145.0);
        assert!((snap.r_factor - model.r()).abs() < 0.05, "{} vs {}", snap.r_factor, model.r());
        assert!(snap.mos < 4.2 && snap.mos > 4.0, "{}", snap.mos);
        // Without concealment the same loss costs far more.
        let no_plc = s.snapshot(&MosConfig { codec: super::super::Codec::G711, ..MosConfig::default() });
        assert!(no_plc.mos < snap.mos - 0.5, "{} vs {}", no_plc.mos, snap.mos);
    }
}
