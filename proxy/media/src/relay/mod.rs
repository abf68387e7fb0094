//! The media session: one call's media stream between two legs, latched, masked, counted.
//!
//! A call anchored by the relay has, per `m=` line, two legs: leg A faces the offerer (the
//! carrier, for an inbound call) and leg B the answerer (the agent). Each leg has its own relay
//! ports; a packet that arrives on one leg's port leaves from the other leg's port.
//!
//! ```text
//!            leg A ports                                         leg B ports
//!  carrier ──► latch ─► RTP check ─► Direction A→B ─────────────► send to B's peer ──► agent
//!                                     │ masking (default on):
//!                                     │  G.711 ─► Masker (look-behind) ─► same bytes or substitute
//!                                     │  telephone-event / RED ─► removed, seq renumbered
//!                                     └─► DigitMerger ─► RelayEvent::Digit (CapturedDigit)
//!  SIP INFO from A (B2BUA) ─ sip_info_digit ─┘  (one digit per key press)
//!  carrier ◄── send to A's peer ◄──── Direction B→A (pass-through by default) ◄── latch ◄── agent
//! ```
//!
//! # Driving
//!
//! [`MediaSession::handle_packet`] takes one datagram, in place in the caller's buffer, and says
//! what to do with it ([`Verdict`]): forward it from a given leg's socket to an address, or drop
//! it and why. Nothing is allocated per packet. Events (digits, latching, media timeout) queue up
//! for [`MediaSession::poll_event`]; [`MediaSession::poll_timeout`] says when
//! [`MediaSession::handle_timeout`] is next due. Time is passed in.
//!
//! # What it does not do
//!
//! No sockets and no port allocation (the I/O layer owns those), no SDP (the caller signals
//! each leg's addresses and payload types), no transcoding, no jitter buffer, no RTCP
//! regeneration (RTCP is checked and relayed).

mod direction;
pub mod latch;

pub use direction::PayloadTypes;
pub use latch::{Admit, Latch, LatchPolicy};

use crate::merge::Transport;
use crate::quality::{MosConfig, PacketInfo, Snapshot, StreamStats};
use crate::recording::{self, Channel};
use crate::rtcp::{self, NtpClock, Rules};
use crate::rtp::{self, RtpHeader};
use crate::srtp::{SrtpContext, SrtpError};
use direction::Direction;
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use tonewall_dsp::{Digit, MaskerConfig};
use zeroize::Zeroize;

/// One of the two legs of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LegId {
    /// The offerer's side (the caller; the carrier for inbound calls).
    A,
    /// The answerer's side (the callee; the agent for inbound calls).
    B,
}

impl LegId {
    /// The other leg.
    pub fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B => LegId::A,
        }
    }

    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// RTP or RTCP: which of a leg's sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    /// The RTP port (which also carries RTCP when rtcp-mux is on).
    Rtp,
    /// The RTCP port.
    Rtcp,
}

/// Why a packet was not forwarded. Every variant is counted per leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not from the leg's latched or signalled peer (spoofing, RTP bleed, a late stray).
    Spoofed,
    /// Not a valid RTP or RTCP packet.
    Malformed,
    /// A telephone-event removed from a masked direction (not an error).
    DtmfEvent,
    /// Audio whose slot on the timeline has already left (reordered or duplicated).
    Late,
    /// The other leg has no address to send to yet.
    NoDestination,
    /// A payload type a masked direction cannot inspect (not G.711 or comfort noise).
    Unmaskable,
    /// SRTP/SRTCP that does not authenticate (tampered, wrong key, malformed).
    Unauthenticated,
    /// SRTP/SRTCP already received (RFC 3711 §3.3.2 replay protection).
    Replayed,
    /// RTP of another SSRC than the stream's, not (yet) a new source: a new SSRC is taken only
    /// once two of its packets arrive in sequence (RFC 3550 §A.1's probation), so a stray or
    /// injected packet of another stream never reaches the other side.
    WrongSsrc,
}

impl DropReason {
    /// Every reason, in [`DropReason::index`] order.
    pub const ALL: [DropReason; 9] = [
        DropReason::Spoofed,
        DropReason::Malformed,
        DropReason::DtmfEvent,
        DropReason::Late,
        DropReason::NoDestination,
        DropReason::Unmaskable,
        DropReason::Unauthenticated,
        DropReason::Replayed,
        DropReason::WrongSsrc,
    ];

    /// Position in [`DropReason::ALL`] and in [`LegCounters::dropped`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A metrics label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Spoofed => "spoofed",
            DropReason::Malformed => "malformed",
            DropReason::DtmfEvent => "dtmf_event",
            DropReason::Late => "late",
            DropReason::NoDestination => "no_destination",
            DropReason::Unmaskable => "unmaskable",
            DropReason::Unauthenticated => "unauthenticated",
            DropReason::Replayed => "replayed",
            DropReason::WrongSsrc => "wrong_ssrc",
        }
    }
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the first `len` octets of the buffer from `leg`'s `socket` to `to`.
    Forward {
        /// The leg whose socket sends.
        leg: LegId,
        /// Which of its sockets.
        socket: Component,
        /// The peer.
        to: SocketAddr,
        /// Octets to send.
        len: usize,
    },
    /// Drop it.
    Drop(DropReason),
}

/// A captured DTMF digit. It prints as a mask and is zeroed when dropped: digits are card
/// numbers, and this type is how they leave the relay.
pub struct CapturedDigit(u8);

impl CapturedDigit {
    /// Wraps a key so it travels masked: for digits captured outside the relay (the SIP
    /// layer's INFO bodies, a plugin's test). Never log the digit it is made from.
    pub fn new(d: Digit) -> Self {
        CapturedDigit(d.event())
    }

    /// The digit itself, for the flow that collects it. Never log it.
    pub fn reveal(&self) -> Digit {
        Digit::from_event(self.0).unwrap_or(Digit::ALL[0])
    }
}

impl Drop for CapturedDigit {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for CapturedDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CapturedDigit(*)")
    }
}

/// What a session reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum RelayEvent {
    /// A key press in a masked direction (once, whichever transports carried it).
    Digit {
        /// The key; prints as a mask.
        digit: CapturedDigit,
        /// The transport that reported it first.
        transport: Transport,
    },
    /// A leg's peer was learned (the first packet from it under the latch policy).
    Latched {
        /// The leg.
        leg: LegId,
        /// RTP or RTCP.
        component: Component,
    },
    /// No RTP from either leg for [`SessionConfig::media_timeout`].
    MediaTimeout,
    /// RTP arrived again after a [`RelayEvent::MediaTimeout`].
    MediaResumed,
}

/// Settings of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    /// Who may send on each leg.
    pub latch: LatchPolicy,
    /// The masker's settings (look-behind, substitute, detector).
    pub masker: MaskerConfig,
    /// Mask A → B (offerer to answerer: caller to agent). Default on.
    pub mask_a_to_b: bool,
    /// Mask B → A. Default off.
    pub mask_b_to_a: bool,
    /// No RTP from either leg for this long raises [`RelayEvent::MediaTimeout`].
    pub media_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            latch: LatchPolicy::Strict,
            masker: MaskerConfig::default(),
            mask_a_to_b: true,
            mask_b_to_a: false,
            media_timeout: Duration::from_secs(60),
        }
    }
}

/// Where a leg's peer is, as signalled in its SDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// RTP address; `None` (or `0.0.0.0`, or port 0) while on hold or not yet known.
    pub rtp: Option<SocketAddr>,
    /// RTCP address (RFC 3605 `a=rtcp`, else RTP port + 1); ignored with rtcp-mux.
    pub rtcp: Option<SocketAddr>,
    /// RTP and RTCP share the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Payload types the peer sends with.
    pub pts: PayloadTypes,
}

/// Counters of packets that arrived on a leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegCounters {
    /// RTP packets accepted.
    pub rtp_packets: u64,
    /// RTP octets accepted (whole datagrams).
    pub rtp_bytes: u64,
    /// RTCP packets accepted.
    pub rtcp_packets: u64,
    /// RTCP octets accepted.
    pub rtcp_bytes: u64,
    /// Packets forwarded to the other leg.
    pub forwarded: u64,
    /// Packets dropped, by [`DropReason::index`].
    pub dropped: [u64; DropReason::ALL.len()],
}

/// A session's figures, for `query`, `delete` and CDRs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionReport {
    /// Per leg (A, B): what arrived.
    pub counters: [LegCounters; 2],
    /// Per leg: the learned RTP peer.
    pub learned: [Option<SocketAddr>; 2],
    /// Per leg: samples masked in what arrived.
    pub masked_samples: [u64; 2],
    /// Per leg: receive quality of the RTP that arrived (MOS estimated for G.711 with PLC).
    pub quality: [Snapshot; 2],
}

struct Leg {
    rtp: Latch,
    rtcp: Latch,
    rtcp_mux: bool,
    counters: LegCounters,
    /// Receiver statistics of the RTP arriving on this leg.
    quality: StreamStats,
    /// The last SR forwarded toward this leg's party, as a clock: its NTP time at the moment
    /// the relay sent it on. A report block from the party answering it gives the round trip
    /// between the relay and the party (not the far end's), RFC 3550 §6.4.1.
    relayed_sr: Option<NtpClock>,
    /// Unprotects what the party sends (its key), when the leg speaks SRTP.
    srtp_in: Option<Box<SrtpContext>>,
    /// Protects what the relay sends the party (the relay's key for this leg).
    srtp_out: Option<Box<SrtpContext>>,
    /// The SSRC of the RTP stream arriving on this leg, once one has been seen.
    ssrc: Option<u32>,
    /// Another SSRC on probation: its last sequence number and how many in a row so far.
    candidate: Option<(u32, u16, u8)>,
}

/// Packets of a new SSRC in sequence before it replaces the stream's (RFC 3550 §A.1).
const SSRC_PROBATION: u8 = 2;

impl Leg {
    /// Whether an RTP packet's SSRC belongs to the stream: the first seen, or a new one that has
    /// passed probation (then it is the stream's from now on).
    fn ssrc_admits(&mut self, ssrc: u32, seq: u16) -> bool {
        match self.ssrc {
            None => {
                self.ssrc = Some(ssrc);
                true
            }
            Some(current) if current == ssrc => {
                self.candidate = None;
                true
            }
            Some(_) => {
                let count = match self.candidate {
                    Some((c, last, n)) if c == ssrc && seq == last.wrapping_add(1) => n + 1,
                    _ => 1,
                };
                if count >= SSRC_PROBATION {
                    self.ssrc = Some(ssrc);
                    self.candidate = None;
                    true
                } else {
                    self.candidate = Some((ssrc, seq, count));
                    false
                }
            }
        }
    }
}

/// One media stream of a call between leg A and leg B.
pub struct MediaSession {
    config: SessionConfig,
    /// The call recording, fed the audio as forwarded (after masking), when recording.
    recorder: Option<Box<recording::Writer>>,
    legs: [Leg; 2],
    /// `dirs[i]` handles packets arriving on leg i.
    dirs: [Direction; 2],
    events: VecDeque<RelayEvent>,
    last_media: Option<Duration>,
    timed_out: bool,
}

impl MediaSession {
    /// A session with nothing signalled yet; `now` starts the media timeout.
    pub fn new(now: Duration, config: SessionConfig) -> Self {
        let leg = || Leg {
            rtp: Latch::new(config.latch),
            rtcp: Latch::new(config.latch),
            rtcp_mux: false,
            counters: LegCounters::default(),
            quality: StreamStats::new(8000),
            relayed_sr: None,
            srtp_in: None,
            srtp_out: None,
            ssrc: None,
            candidate: None,
        };
        let mut s = MediaSession {
            legs: [leg(), leg()],
            dirs: [Direction::new(), Direction::new()],
            events: VecDeque::with_capacity(8),
            last_media: Some(now),
            timed_out: false,
            recorder: None,
            config,
        };
        let (ab, ba) = (s.config.mask_a_to_b, s.config.mask_b_to_a);
        s.set_masking(LegId::A, ab);
        s.set_masking(LegId::B, ba);
        s
    }

    /// Signalling (an offer or answer) said where `leg`'s peer is and what it sends.
    pub fn signal(&mut self, leg: LegId, remote: &Remote) {
        let l = &mut self.legs[leg.index()];
        l.rtp.signal(remote.rtp);
        l.rtcp_mux = remote.rtcp_mux;
        l.rtcp.signal(if remote.rtcp_mux { remote.rtp } else { remote.rtcp });
        self.dirs[leg.index()].pts = remote.pts;
    }

    /// Keys `leg` for SRTP: `inbound` unprotects what its party sends, `outbound` protects what
    /// the relay sends it; `None` for plain RTP. Signalling calls this only when the keys change,
    /// since a fresh context forgets rollover counters and replay windows.
    pub fn set_srtp(&mut self, leg: LegId, inbound: Option<SrtpContext>, outbound: Option<SrtpContext>) {
        self.update_srtp(leg, Some(inbound), Some(outbound));
    }

    /// As [`MediaSession::set_srtp`], changing only what is `Some`: a party that re-keys keeps
    /// the relay's outbound context (its rollover counter and SRTCP index), since rebuilding a
    /// context under the same key would reuse keystream.
    pub fn update_srtp(
        &mut self,
        leg: LegId,
        inbound: Option<Option<SrtpContext>>,
        outbound: Option<Option<SrtpContext>>,
    ) {
        let l = &mut self.legs[leg.index()];
        if let Some(ctx) = inbound {
            l.srtp_in = ctx.map(Box::new);
        }
        if let Some(ctx) = outbound {
            l.srtp_out = ctx.map(Box::new);
        }
    }

    /// Starts recording what the session forwards (channel 0: leg A → B, channel 1: B → A),
    /// after masking. Replaces a recording already running without finishing it.
    pub fn start_recording(&mut self, writer: recording::Writer) {
        self.recorder = Some(Box::new(writer));
    }

    /// Moves the recording's finished bytes (header, sealed chunks) to `out`; false if none.
    pub fn poll_recording(&mut self, out: &mut Vec<u8>) -> bool {
        self.recorder.as_deref_mut().is_some_and(|r| r.poll_chunk(out))
    }

    /// Ends the recording: the last chunks and the end marker go to `out`.
    pub fn finish_recording(&mut self, out: &mut Vec<u8>) -> bool {
        match self.recorder.take() {
            Some(r) => {
                r.finish(out);
                true
            }
            None => false,
        }
    }

    /// Turns masking of what arrives on `from` on or off (ng `block DTMF` / `unblock DTMF`).
    pub fn set_masking(&mut self, from: LegId, on: bool) {
        let config = on.then_some(&self.config.masker);
        self.dirs[from.index()].set_masking(config);
    }

    /// A key press that the signalling received at `now` in a SIP INFO from leg `from`'s party
    /// (`application/dtmf-relay` or `application/dtmf`, see [`crate::sipinfo`]), with the
    /// duration its body gave, in milliseconds.
    ///
    /// The digit comes out of [`MediaSession::poll_event`] as [`RelayEvent::Digit`] with
    /// [`Transport::SipInfo`], unless it is a press the stream already reported:
    ///
    /// - When what arrives on `from` is masked, the INFO goes through that direction's
    ///   [`crate::merge::DigitMerger`], placed at the position the stream has reached (the
    ///   sample after the last one that arrived; 0 before any audio). A press that also arrived
    ///   as tones or telephone-events counts once, whichever came first (within
    ///   [`crate::merge::MergerConfig::sip_info_window`], 500 ms). The INFO changes nothing in
    ///   the audio: tones that follow it are masked all the same. Durations above 10 s are
    ///   taken as 10 s.
    /// - When it is not masked, nothing else watches that direction for digits, so the INFO is
    ///   reported as it is. (The INFO never reaches the other party either way: the B2BUA does
    ///   not forward it.)
    pub fn sip_info_digit(&mut self, now: Duration, from: LegId, digit: Digit, duration_ms: Option<u32>) {
        self.dirs[from.index()].sip_info(now, digit, duration_ms, &mut self.events);
    }

    /// Whether what arrives on `from` is masked.
    pub fn masking(&self, from: LegId) -> bool {
        self.dirs[from.index()].masking()
    }

    /// Handles a datagram of `len` octets that arrived on `leg`'s `socket` from `source`,
    /// in place in `buf`.
    pub fn handle_packet(
        &mut self,
        now: Duration,
        leg: LegId,
        socket: Component,
        source: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Verdict {
        let verdict = if len <= buf.len() {
            self.route(now, leg, socket, source, buf, len)
        } else {
            Verdict::Drop(DropReason::Malformed)
        };
        let counters = &mut self.legs[leg.index()].counters;
        match verdict {
            Verdict::Forward { .. } => counters.forwarded += 1,
            Verdict::Drop(r) => counters.dropped[r.index()] += 1,
        }
        verdict
    }

    fn route(
        &mut self,
        now: Duration,
        leg: LegId,
        socket: Component,
        source: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Verdict {
        let i = leg.index();
        let mux = self.legs[i].rtcp_mux;
        let is_rtcp = socket == Component::Rtcp || (mux && rtp::is_rtcp(&buf[..len]));
        let component = if is_rtcp { Component::Rtcp } else { Component::Rtp };
        let l = &mut self.legs[i];
        let latch = if is_rtcp && !mux { &l.rtcp } else { &l.rtp };
        // Checked now, learned only once the packet has proved itself (parsed, authenticated):
        // a stranger's garbage must not pin the leg to the stranger.
        let admit = latch.check(source);
        if admit == Admit::Refused {
            return Verdict::Drop(DropReason::Spoofed);
        }
        let wire_len = len;
        let len = match l.srtp_in.as_deref_mut() {
            None => len,
            Some(ctx) => {
                let r = if is_rtcp { ctx.unprotect_rtcp(buf, len) } else { ctx.unprotect_rtp(buf, len) };
                match r {
                    Ok(n) => n,
                    Err(SrtpError::Replayed { .. }) => return Verdict::Drop(DropReason::Replayed),
                    Err(_) => return Verdict::Drop(DropReason::Unauthenticated),
                }
            }
        };
        let packet = &mut buf[..len];
        if is_rtcp {
            if self.relay_rtcp(now, i, packet).is_err() {
                return Verdict::Drop(DropReason::Malformed);
            }
            self.learn(leg, component, mux, source, admit);
            let l = &mut self.legs[i];
            l.counters.rtcp_packets += 1;
            l.counters.rtcp_bytes += wire_len as u64;
        } else {
            let Ok(header) = RtpHeader::parse(packet) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            if !self.legs[i].ssrc_admits(header.ssrc, header.seq) {
                return Verdict::Drop(DropReason::WrongSsrc);
            }
            self.learn(leg, component, mux, source, admit);
            let l = &mut self.legs[i];
            l.counters.rtp_packets += 1;
            l.counters.rtp_bytes += wire_len as u64;
            l.quality.on_packet(
                now,
                PacketInfo {
                    ssrc: header.ssrc,
                    seq: header.seq,
                    timestamp: header.timestamp,
                    payload_len: header.payload_len,
                },
            );
            self.last_media = Some(now);
            if self.timed_out {
                self.timed_out = false;
                self.events.push_back(RelayEvent::MediaResumed);
            }
            if let Err(reason) = self.dirs[i].process(now, &header, packet, &mut self.events) {
                return Verdict::Drop(reason);
            }
            if let Some(rec) = self.recorder.as_deref_mut().filter(|_| !self.dirs[i].unblocked) {
                let law = match header.pt {
                    0 => Some(tonewall_dsp::Law::Ulaw),
                    8 => Some(tonewall_dsp::Law::Alaw),
                    _ => None,
                };
                let channel = if leg == LegId::A { Channel::CallerToAgent } else { Channel::AgentToCaller };
                if let Some(law) = law {
                    // The payload as it leaves: masked already in a masked direction.
                    rec.push(channel, law, header.ssrc, header.timestamp, now, &packet[header.payload()]);
                }
            }
        }
        let out = &mut self.legs[leg.other().index()];
        let (socket, to) = if is_rtcp && !out.rtcp_mux {
            (Component::Rtcp, out.rtcp.destination())
        } else {
            (Component::Rtp, out.rtp.destination())
        };
        let Some(to) = to else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        let len = match out.srtp_out.as_deref_mut() {
            None => len,
            Some(ctx) => {
                let r = if is_rtcp { ctx.protect_rtcp(buf, len) } else { ctx.protect_rtp(buf, len) };
                match r {
                    Ok(n) => n,
                    // Only a buffer without room for the tag, or a key past its lifetime.
                    Err(_) => return Verdict::Drop(DropReason::Malformed),
                }
            }
        };
        Verdict::Forward { leg: leg.other(), socket, to, len }
    }

    /// Learns a valid packet's source if the latch allowed it.
    fn learn(&mut self, leg: LegId, component: Component, mux: bool, source: SocketAddr, admit: Admit) {
        if admit == Admit::Learned {
            let l = &mut self.legs[leg.index()];
            let latch = if component == Component::Rtcp && !mux { &mut l.rtcp } else { &mut l.rtp };
            latch.admit(source);
            self.events.push_back(RelayEvent::Latched { leg, component });
        }
    }

    /// Checks an RTCP compound that arrived on leg `i` and corrects it for the other side:
    /// sender counts less what the relay removed from this leg's stream, report blocks about the
    /// other leg's stream back in that stream's own numbering. Notes relayed SRs and takes the
    /// round trip to this leg's party from its answers.
    fn relay_rtcp(&mut self, now: Duration, i: usize, packet: &mut [u8]) -> Result<(), rtcp::Error> {
        let o = 1 - i;
        let (mine, toward_me) = (self.dirs[i].removed, self.dirs[o].removed);
        let mut compound = rtcp::parse_mut(packet, Rules::ReducedSize)?;
        for mut p in compound.packets() {
            if let Some(mut sr) = p.sender_report() {
                let info = sr.sender_info();
                if mine.0 > 0 {
                    sr.set_packet_count(info.packet_count.wrapping_sub(mine.0 as u32));
                    sr.set_octet_count(info.octet_count.wrapping_sub(mine.1 as u32));
                }
                let out = &mut self.legs[o];
                out.relayed_sr = Some(NtpClock { at: now, ntp: info.ntp });
                out.quality.on_sr_sent(info.ntp);
            }
            let leg = &mut self.legs[i];
            for mut b in p.report_blocks() {
                let block = b.get();
                if let Some(clock) = leg.relayed_sr {
                    leg.quality.on_report_block(now, &clock, &block);
                }
                if toward_me.0 > 0 {
                    b.set_extended_highest_seq(block.extended_highest_seq.wrapping_add(toward_me.0 as u32));
                }
            }
        }
        Ok(())
    }

    /// Quality figures of the RTP arriving on `leg`, with the MOS estimated per `mos`.
    pub fn quality(&self, leg: LegId, mos: &MosConfig) -> Snapshot {
        self.legs[leg.index()].quality.snapshot(mos)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// When [`MediaSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let media =
            (!self.timed_out).then(|| self.last_media.map(|t| t + self.config.media_timeout)).flatten();
        [media, self.dirs[0].poll_timeout(), self.dirs[1].poll_timeout()].into_iter().flatten().min()
    }

    /// The memory a packet arriving on `leg` touches, as (start, length) spans: addresses only,
    /// nothing is read. A relay serving hundreds of calls finds each session's state out of its
    /// caches (≈ 8 KiB a call, a few lines of it scattered per packet, each a stall); an I/O loop
    /// that asks for the next session's lines to be fetched while it is still in the system
    /// calls of the current one hides those stalls.
    /// (The session struct itself is not among them: its address is known without reading
    /// it; these are found through it.)
    pub fn hot_spans(&self, leg: LegId, mut f: impl FnMut(*const u8, usize)) {
        self.dirs[leg.index()].hot_spans(&mut f);
    }

    /// Fires what is due at `now`; safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Duration) {
        for d in &mut self.dirs {
            d.handle_timeout(now, &mut self.events);
        }
        if !self.timed_out && self.last_media.is_some_and(|t| now >= t + self.config.media_timeout) {
            self.timed_out = true;
            self.events.push_back(RelayEvent::MediaTimeout);
        }
    }

    /// Counters of what arrived on `leg`.
    pub fn counters(&self, leg: LegId) -> LegCounters {
        self.legs[leg.index()].counters
    }

    /// Samples replaced by the masker in what arrived on `leg`.
    pub fn masked_samples(&self, leg: LegId) -> u64 {
        self.dirs[leg.index()].masked_samples()
    }

    /// Bytes this session occupies, inline and on the heap (the event queue at its initial
    /// capacity).
    pub fn footprint(&self) -> usize {
        let srtp = self.legs.iter().flat_map(|l| [&l.srtp_in, &l.srtp_out]).flatten().count();
        size_of::<Self>() - 2 * size_of::<Direction>()
            + self.dirs.iter().map(Direction::footprint).sum::<usize>()
            + srtp * size_of::<SrtpContext>()
            + self.events.capacity() * size_of::<RelayEvent>()
    }

    /// The session's figures.
    pub fn report(&self) -> SessionReport {
        SessionReport {
            counters: [self.counters(LegId::A), self.counters(LegId::B)],
            learned: [self.learned(LegId::A), self.learned(LegId::B)],
            masked_samples: [self.masked_samples(LegId::A), self.masked_samples(LegId::B)],
            quality: [LegId::A, LegId::B].map(|l| self.quality(l, &MosConfig::default())),
        }
    }

    /// The peer learned on `leg`'s RTP socket.
    pub fn learned(&self, leg: LegId) -> Option<SocketAddr> {
        self.legs[leg.index()].rtp.learned()
    }
}
