//! Stream quality: RFC 3550 receiver statistics for each received RTP stream, round-trip time
//! from RTCP, and an estimated MOS from the ITU-T G.107 E-model, as plain figures for metrics
//! and CDRs.
//!
//! ```text
//!  RTP header fields + arrival time ─► StreamStats::on_packet ─► Arrival (in order, late, dup…)
//!  SR received from the source ──────► on_sender_report   (LSR/DLSR for our RR)
//!  SR the relay sent to the source ──► on_sr_sent          ┐
//!  report block about that SR ───────► on_report_block ────┴► RTT (RFC 3550 §6.4.1)
//!                                       report_block(now) ──► ReportBlock for an RR we write
//!                                       snapshot(&MosConfig) ► Snapshot { packets, bytes, lost,
//!                                                              loss, jitter ms, rtt ms, R, MOS }
//! ```
//!
//! - [`SeqNo`]: sequence numbers extended past rollover.
//! - [`StreamStats`]: the RFC 3550 Appendix A.1 sequence tracking (probation, rollover,
//!   restart), A.3 loss per interval and cumulative, A.8 jitter, duplicates and reordering, and
//!   the RTT; 104 bytes per stream, nothing allocated per packet.
//! - [`emodel`]: G.107's R factor and R → MOS, with the G.113 codec figures for G.711.
//!
//! # Estimated, not measured
//!
//! The MOS is an E-model estimate from what the relay sees on one leg: loss and burstiness on
//! the stream it receives, jitter, and the round trip to that endpoint. The mouth-to-ear delay
//! it needs is estimated as half the RTT, plus the frame time, plus a jitter buffer of twice the
//! jitter ([`MosConfig`]); the endpoints' own delays, echo, loudness and the other leg are not
//! seen and keep G.107's defaults. It is a consistent figure for comparing calls and spotting bad
//! legs, not a listening test.
//!
//! # What this module does not do
//!
//! It does not parse RTP headers (the caller passes [`PacketInfo`]), run a jitter buffer, decide
//! when to send RTCP, or read a clock: arrival times and `now` come in as [`core::time::Duration`]
//! on the driver's clock, and NTP time through [`crate::rtcp::NtpClock`].

pub mod emodel;
mod seq;
mod stats;

pub use emodel::{Codec, EModel, mos_from_r};
pub use seq::SeqNo;
pub use stats::{Arrival, PacketInfo, StreamStats};

use core::time::Duration;

/// How [`StreamStats::snapshot`] estimates the MOS: the codec and what the relay cannot see.
/// One value serves every stream of a codec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MosConfig {
    /// The codec's Ie and Bpl. Default [`Codec::G711_PLC`]: G.711 with concealment, as desk
    /// phones and softphones play it.
    pub codec: Codec,
    /// Delay added to the network's for packetisation and the endpoints' processing. Default
    /// 20 ms, one G.711 frame.
    pub fixed_delay: Duration,
    /// The receiver's jitter buffer, as a multiple of the measured jitter. Default 2.
    pub jitter_buffer: f64,
}

impl Default for MosConfig {
    fn default() -> Self {
        MosConfig { codec: Codec::G711_PLC, fixed_delay: Duration::from_millis(20), jitter_buffer: 2.0 }
    }
}

/// A stream's figures at one moment: plain values for Prometheus and CDRs. Counters are
/// totals since the stream began, across SSRC changes and restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// RTP packets received, duplicates and probation packets included.
    pub packets: u64,
    /// RTP payload octets received (headers excluded, as an SR's octet count).
    pub bytes: u64,
    /// Packets expected from the sequence numbers (RFC 3550 A.3).
    pub expected: u64,
    /// Packets lost: expected minus received, duplicates not counted as received; never
    /// negative.
    pub lost: u64,
    /// `lost / expected`, 0 to 1; 0 when nothing was expected.
    pub loss_fraction: f64,
    /// Packets seen twice (within the last 64 sequence numbers).
    pub duplicates: u64,
    /// Packets that arrived after a later one (they filled a gap).
    pub reordered: u64,
    /// Interarrival jitter (RFC 3550 A.8), milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time to the stream's source, milliseconds, once a report block has answered
    /// one of the relay's SRs.
    pub rtt_ms: Option<f64>,
    /// Burst ratio of the losses (G.107 BurstR): 1 for random loss, more when they bunch.
    pub burst_ratio: f64,
    /// The one-way delay the MOS estimate assumed, milliseconds.
    pub delay_ms: f64,
    /// The E-model transmission rating R.
    pub r_factor: f64,
    /// The estimated MOS, 1 to 4.5: a perfect G.711 call rates 4.41 at zero delay, 4.40 with
    /// the default 20 ms frame.
    pub mos: f64,
}
