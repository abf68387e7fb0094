//! Anchoring calls: offer/answer through the relay.
//!
//! The control side (rtpengine's ng protocol for Kamailio/OpenSIPS today, Tonewall's own B2BUA
//! next) hands each SDP offer and answer of a call to [`Anchor`], which creates the relay's media
//! sessions, tells them where each party is, and returns the SDP to pass on: pointing at the
//! relay's ports on the receiving party's side, with what that party must not get filtered out.
//!
//! ```text
//!  offer from A (caller)  ──► Anchor::offer ──► plane.create / plane.signal(A) ──► SDP toward B
//!                                                (B-side ports; to the agent: G.711 only,
//!                                                 no telephone-event)
//!  answer from B (agent)  ──► Anchor::answer ─► plane.signal(B) ─────────────────► SDP toward A
//!                                                (A-side ports)
//! ```
//!
//! Parties are told apart by tag, as in rtpengine: the tag of the first offer's sender is leg A,
//! the answerer's tag is leg B, and a later offer (re-INVITE) from either side is placed by its
//! tag. Each `m=` line of the call is one [`crate::relay::MediaSession`] on the relay.
//!
//! # Masking is negotiated, not hoped for
//!
//! When A → B is masked (the default), the offer toward B keeps only G.711 (PCMU, PCMA) and
//! comfort noise, and no telephone-event: in-band tones are what the masker can remove, and
//! the relay drops anything else it cannot inspect. An offer with no G.711 at all is refused
//! rather than relayed unmasked.
//!
//! # What it does not do
//!
//! No sockets or ports (a [`MediaPlane`] provides them), no ICE, no DTLS-SRTP, no
//! transcoding, no forking (one answerer per call).

use crate::relay::{LegId, PayloadTypes, Remote, SessionReport};
use crate::sdp::{self, Proto, Sdp};
use crate::srtp::{self, CryptoAttribute, Direction as SrtpDirection, SrtpContext, Suite};
use rand_core::CryptoRng;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tonewall_dsp::Digit;

/// The relay's two addresses for one leg of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegAddrs {
    /// RTP (and muxed RTCP).
    pub rtp: SocketAddr,
    /// RTCP.
    pub rtcp: SocketAddr,
}

/// What the anchor needs from the relay.
pub trait MediaPlane {
    /// A new media session with ports on both legs; its id and the ports (A, B).
    /// `sides[i]` says which side leg i faces (0: carrier, 1: agent), so its ports are bound on
    /// that side's address.
    fn create(&mut self, now: Duration, sides: [usize; 2]) -> std::io::Result<(u64, [LegAddrs; 2])>;
    /// Where `leg`'s party is and what it sends.
    fn signal(&mut self, id: u64, leg: LegId, remote: Remote);
    /// Masks what arrives on `from`, or stops.
    fn set_masking(&mut self, id: u64, from: LegId, on: bool);
    /// Removes a session and returns its figures.
    fn remove(&mut self, id: u64) -> Option<SessionReport>;
    /// A session's figures.
    fn report(&mut self, id: u64) -> Option<SessionReport>;
    /// Keys `leg` for SRTP: `Some(context)` replaces that side's context (`Some(None)`: plain),
    /// `None` leaves it as it is.
    fn update_srtp(
        &mut self,
        id: u64,
        leg: LegId,
        inbound: Option<Option<SrtpContext>>,
        outbound: Option<Option<SrtpContext>>,
    );
    /// A key press `from`'s party sent in a SIP INFO, for the session to merge with the
    /// stream's own digits ([`crate::relay::MediaSession::sip_info_digit`], at the plane's
    /// `now`).
    fn sip_info(&mut self, id: u64, from: LegId, digit: Digit, duration_ms: Option<u32>);
}

/// What each leg speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SrtpPolicy {
    /// Whatever the party offers: SRTP (SDES) if its SDP says `RTP/SAVP`, else plain RTP; an
    /// offer toward the party follows what the other party offered.
    #[default]
    Mirror,
    /// Always SRTP with SDES keys: offers toward the party carry `a=crypto`, and a plain answer
    /// or offer from it is refused.
    Sdes,
    /// Always plain RTP.
    Off,
}

/// SRTP suites the relay offers and accepts, best first: 80-bit tags before 32-bit, AES-CM
/// (what every SIP endpoint has) before GCM.
pub const SUITES: [Suite; 6] = [
    Suite::AesCm128HmacSha1_80,
    Suite::AeadAes128Gcm,
    Suite::AesCm256HmacSha1_80,
    Suite::AeadAes256Gcm,
    Suite::AesCm128HmacSha1_32,
    Suite::AesCm256HmacSha1_32,
];

/// Anchor settings. Arrays of two are by *side*: index 0 the carrier side, 1 the agent side.
///
/// Which leg of a call faces which side: with [`AnchorConfig::agent_networks`] empty, the first
/// offerer is the carrier (inbound calls with an SDP offer in the INVITE). Agent-originated
/// calls and offers in the 200 (delayed offer: the answerer offers) need the agents' networks
/// configured, so the side is known by address instead of by who spoke first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorConfig {
    /// The address written into SDP for each side's ports.
    pub advertised: [IpAddr; 2],
    /// What the carrier side sends is masked (caller to agent): the default.
    pub mask_a_to_b: bool,
    /// What the agent side sends is masked.
    pub mask_b_to_a: bool,
    /// What each side speaks.
    pub srtp: [SrtpPolicy; 2],
    /// Networks the agents are in: a first offer from one of them makes its leg the agent side.
    pub agent_networks: Vec<Cidr>,
}

/// An IP network, `address/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.1.0.0/16`, `2001:db8::/32`, or a bare address (a host).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() { max } else { p.trim().parse().ok()? };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Both as 128 bits, IPv4 in the top 32, so the prefix masks the top bits either way.
        let bits = |ip: IpAddr| -> (u128, bool) {
            match ip.to_canonical() {
                IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, true),
                IpAddr::V6(v) => (u128::from(v), false),
            }
        };
        let ((net, v4), (x, x4)) = (bits(self.addr), bits(ip));
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        v4 == x4 && net & mask == x & mask
    }
}

/// Why an offer or answer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// No such call.
    #[error("unknown call")]
    UnknownCall,
    /// The tag belongs to neither party of the call.
    #[error("unknown party")]
    UnknownParty,
    /// The SDP does not parse (the line number says where).
    #[error("bad SDP: {0}")]
    BadSdp(sdp::Error),
    /// The SDP parses but cannot be relayed: more answer streams than offered, a stream the
    /// masker could not inspect.
    #[error("SDP not acceptable: {0}")]
    Unacceptable(&'static str),
    /// No free ports.
    #[error("out of ports")]
    OutOfPorts,
    /// The call has no audio stream on the relay to report a SIP INFO digit on.
    #[error("no audio stream")]
    NoAudio,
}

/// One `m=` line of a call.
struct Stream {
    /// The relay session; `None` for a rejected stream.
    id: Option<u64>,
    ports: [LegAddrs; 2],
    /// The offerer proposed rtcp-mux on its leg (and is answered with it).
    mux_offered: bool,
    /// Per leg: the relay's own SDES key toward the party (what it protects with).
    local: [Option<CryptoAttribute>; 2],
    /// Per leg: the party's key, as it offered or answered (what it protects with).
    remote: [Option<CryptoAttribute>; 2],
    /// Per leg: the relay has an outbound context for the current `local` key. A context is
    /// built once per key: rebuilding one under the same key would restart its indices and
    /// reuse keystream.
    out_installed: [bool; 2],
    /// The `m=` line is audio (where SIP INFO digits are merged).
    audio: bool,
}

struct Call {
    created: Duration,
    last_signal: Duration,
    /// Tags of leg A and leg B.
    tags: [Option<Vec<u8>>; 2],
    streams: Vec<Stream>,
    /// o= lines per leg (RFC 3264 §8).
    origins: [sdp::LegOrigin; 2],
    /// The leg whose offer awaits an answer.
    offerer: Option<LegId>,
    /// Which side each leg faces (0: carrier, 1: agent).
    sides: [usize; 2],
}

/// A call's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallReport {
    /// When the call was first offered.
    pub created: Duration,
    /// When it was last signalled.
    pub last_signal: Duration,
    /// Tags of leg A and leg B.
    pub tags: [Option<Vec<u8>>; 2],
    /// Per `m=` line: the relay's ports on both legs (`None` if rejected) and the figures.
    pub streams: Vec<(Option<[LegAddrs; 2]>, SessionReport)>,
}

/// Calls anchored on the relay, by Call-ID.
pub struct Anchor {
    config: AnchorConfig,
    calls: HashMap<Vec<u8>, Call>,
}

/// Per-offer options from the control protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfferOptions {
    /// Use this address for the party instead of the SDP's `c=` (ng's `SIP-source-address`,
    /// for parties behind NAT that write private addresses).
    pub source_address: Option<IpAddr>,
    /// SRTP or not toward the party that receives this offer, overriding the leg's policy
    /// (ng's `transport-protocol`).
    pub srtp_out: Option<bool>,
    /// The side the offerer is on, when the control protocol says (ng's `direction`, mapped
    /// from interface names): 0 carrier, 1 agent. Decides a new call's sides before any
    /// address rule.
    pub offerer_side: Option<usize>,
}

impl Anchor {
    /// No calls yet.
    pub fn new(config: AnchorConfig) -> Self {
        Anchor { config, calls: HashMap::new() }
    }

    /// Calls anchored now.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Which side the first offerer of a call is on: as the control protocol says, else the
    /// agent side if its address is in the agents' networks, else the carrier side.
    fn sides_of_first_offer(&self, sdp: &Sdp, options: OfferOptions) -> [usize; 2] {
        match options.offerer_side {
            Some(1) => return [1, 0],
            Some(_) => return [0, 1],
            None => {}
        }
        let addr = options
            .source_address
            .or_else(|| (0..sdp.media().len()).find_map(|i| sdp.endpoints(i)).map(|e| e.rtp.ip()));
        let agent = addr.is_some_and(|ip| self.config.agent_networks.iter().any(|n| n.contains(ip)));
        if agent { [1, 0] } else { [0, 1] }
    }

    /// An offer from the party tagged `from_tag`. Returns the SDP to send to the other party.
    #[allow(clippy::too_many_arguments)]
    pub fn offer(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        call_id: &[u8],
        from_tag: &[u8],
        body: &[u8],
        options: OfferOptions,
    ) -> Result<Vec<u8>, AnchorError> {
        let mut sdp = Sdp::parse(body).map_err(AnchorError::BadSdp)?;
        let (from, sides) = match self.calls.get(call_id) {
            None => (LegId::A, self.sides_of_first_offer(&sdp, options)),
            Some(call) if call.tags[0].as_deref() == Some(from_tag) => (LegId::A, call.sides),
            Some(call) if call.tags[1].as_deref() == Some(from_tag) => (LegId::B, call.sides),
            Some(_) => return Err(AnchorError::UnknownParty),
        };
        let side = |leg: LegId| sides[leg.index()];
        let to = from.other();
        let masks = [self.config.mask_a_to_b, self.config.mask_b_to_a];
        // G.711 only, both ways, when either direction is masked: what the offer lists is also
        // what the answerer may send back.
        let mask = masks[side(from)] || masks[side(to)];
        // Check everything before touching the relay, so a refused offer changes nothing.
        let mut offered_keys = Vec::with_capacity(sdp.media().len());
        for m in sdp.media() {
            offered_keys.push(if m.is_rejected() {
                None
            } else {
                party_key(m, self.config.srtp[side(from)])?
            });
        }
        let srtp_to = match (options.srtp_out, self.config.srtp[side(to)]) {
            (Some(want), _) => want,
            (None, SrtpPolicy::Sdes) => true,
            (None, SrtpPolicy::Off) => false,
            (None, SrtpPolicy::Mirror) => offered_keys.iter().any(Option::is_some),
        };
        if mask {
            for m in sdp.media().iter().filter(|m| !m.is_rejected() && m.media_type() == "audio") {
                let g711 = m
                    .codecs()
                    .any(|c| c.name.eq_ignore_ascii_case("PCMU") || c.name.eq_ignore_ascii_case("PCMA"));
                if !g711 {
                    return Err(AnchorError::Unacceptable("no G.711 codec to mask DTMF in"));
                }
            }
        }
        // No party's key ever reaches the other party, in any section or at session level.
        sdp.remove_keys();
        let new_call = !self.calls.contains_key(call_id);
        let call = self.calls.entry(call_id.to_vec()).or_insert_with(|| Call {
            created: now,
            last_signal: now,
            tags: [Some(from_tag.to_vec()), None],
            streams: Vec::new(),
            origins: Default::default(),
            offerer: None,
            sides,
        });
        for i in 0..sdp.media().len() {
            let rejected = sdp.media()[i].is_rejected();
            if i == call.streams.len() {
                call.streams.push(Stream {
                    id: None,
                    ports: [unbound(); 2],
                    mux_offered: false,
                    local: [None, None],
                    remote: [None, None],
                    out_installed: [false; 2],
                    audio: false,
                });
            }
            let stream = &mut call.streams[i];
            stream.audio = sdp.media()[i].media_type().eq_ignore_ascii_case("audio");
            if rejected {
                if let Some(id) = stream.id.take() {
                    plane.remove(id);
                }
                continue;
            }
            if stream.id.is_none() {
                let Ok((id, ports)) = plane.create(now, sides) else {
                    if new_call {
                        // Leave nothing behind of a call that could not be anchored.
                        for id in call.streams.iter().filter_map(|s| s.id) {
                            plane.remove(id);
                        }
                        self.calls.remove(call_id);
                    }
                    return Err(AnchorError::OutOfPorts);
                };
                stream.id = Some(id);
                stream.ports = ports;
                plane.set_masking(id, LegId::A, masks[side(LegId::A)]);
                plane.set_masking(id, LegId::B, masks[side(LegId::B)]);
            }
            let Some(id) = stream.id else { continue };
            let remote = remote_of(&sdp, i, options.source_address);
            stream.mux_offered = remote.rtcp_mux;
            plane.signal(id, from, remote);
            // The offerer's key, and the relay's own toward it (sent in the answer).
            let key = offered_keys[i].take();
            if key != stream.remote[from.index()] {
                // A new key from the party: a new one of the relay's toward it too.
                stream.local[from.index()] = key.as_ref().map(|k| fresh_key(rng, k.tag(), k.suite()));
                stream.out_installed[from.index()] = false;
                stream.remote[from.index()] = key;
                key_leg(plane, id, from, stream, true);
            }
            let m = &mut sdp.media_mut()[i];
            point_at(m, stream.ports[to.index()], remote.rtcp_mux);
            // Toward the other party: the relay's key, never the offerer's.
            if srtp_to {
                if stream.local[to.index()].is_none() {
                    stream.local[to.index()] = Some(fresh_key(rng, 1, Suite::AesCm128HmacSha1_80));
                    stream.out_installed[to.index()] = false;
                }
                m.set_proto(savp(m.proto()));
                if let Some(local) = &stream.local[to.index()] {
                    let _ = m.set_crypto(&[local.to_sdp_value()]);
                }
            } else {
                if stream.local[to.index()].take().is_some() {
                    stream.out_installed[to.index()] = false;
                }
                m.set_proto(avp(m.proto()));
            }
            key_leg(plane, id, to, stream, false);
            if mask && m.media_type() == "audio" {
                // Only G.711 (and CN) toward the party that must not hear digits.
                m.keep_codecs(&["PCMU", "PCMA", "CN"])
                    .map_err(|_| AnchorError::Unacceptable("no G.711 codec to mask DTMF in"))?;
            }
        }
        sdp.remove_ice();
        sdp.set_connection_address(self.config.advertised[side(to)]);
        sdp.set_origin_address(self.config.advertised[side(to)]);
        call.last_signal = now;
        call.offerer = Some(from);
        let mut out = Vec::with_capacity(body.len() + 64);
        call.origins[to.index()].write(&sdp, &mut out);
        Ok(out)
    }

    /// The answer to the pending offer, from the party tagged `answer_tag` (ng's `to-tag`).
    /// Returns the SDP to send to the offerer.
    pub fn answer(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        call_id: &[u8],
        answer_tag: &[u8],
        body: &[u8],
        options: OfferOptions,
    ) -> Result<Vec<u8>, AnchorError> {
        let mut sdp = Sdp::parse(body).map_err(AnchorError::BadSdp)?;
        let call = self.calls.get_mut(call_id).ok_or(AnchorError::UnknownCall)?;
        let offerer = call.offerer.unwrap_or(LegId::A);
        let from = offerer.other();
        // A different answerer is another fork of the call (early media from several phones,
        // then the final 200): the latest answer takes the leg, as rtpengine lets the last
        // monologue win. Only the SIP proxy (an allowed ng source) can send one.
        if sdp.media().len() > call.streams.len() {
            return Err(AnchorError::Unacceptable("the answer has more streams than the offer"));
        }
        // The answerer's keys must answer the relay's offer: same tag and suite.
        let mut answered_keys = Vec::with_capacity(sdp.media().len());
        for (m, stream) in sdp.media().iter().zip(&call.streams) {
            let key = if m.is_rejected() {
                None
            } else {
                party_key(m, self.config.srtp[call.sides[from.index()]])?
            };
            match (&key, &stream.local[from.index()]) {
                (Some(k), Some(l)) if k.tag() != l.tag() || k.suite() != l.suite() => {
                    return Err(AnchorError::Unacceptable("the answer's a=crypto answers no offered key"));
                }
                (Some(_), None) => {
                    return Err(AnchorError::Unacceptable("SRTP answered to a plain RTP offer"));
                }
                _ => {}
            }
            answered_keys.push(key);
        }
        sdp.remove_keys();
        call.tags[from.index()] = Some(answer_tag.to_vec());
        for i in 0..sdp.media().len() {
            let stream = &mut call.streams[i];
            if sdp.media()[i].is_rejected() {
                if let Some(id) = stream.id.take() {
                    plane.remove(id);
                }
                continue;
            }
            let Some(id) = stream.id else {
                return Err(AnchorError::Unacceptable("the answer accepts a stream the offer rejected"));
            };
            let remote = remote_of(&sdp, i, options.source_address);
            plane.signal(id, from, remote);
            let key = answered_keys[i].take();
            if key.is_none() && stream.local[from.index()].take().is_some() {
                // A plain answer to an SRTP offer: the relay speaks plain RTP to this party.
                stream.out_installed[from.index()] = false;
            }
            let changed = key != stream.remote[from.index()];
            stream.remote[from.index()] = key;
            // Only what changed: the relay's outbound context keeps its indices.
            key_leg(plane, id, from, stream, changed);
            let m = &mut sdp.media_mut()[i];
            point_at(m, stream.ports[offerer.index()], stream.mux_offered);
            // Toward the offerer: the relay's key for it if it offered SRTP.
            match &stream.local[offerer.index()] {
                Some(local) => {
                    m.set_proto(savp(m.proto()));
                    let _ = m.set_crypto(&[local.to_sdp_value()]);
                }
                None => m.set_proto(avp(m.proto())),
            }
        }
        sdp.remove_ice();
        sdp.set_connection_address(self.config.advertised[call.sides[offerer.index()]]);
        sdp.set_origin_address(self.config.advertised[call.sides[offerer.index()]]);
        call.last_signal = now;
        call.offerer = None;
        let mut out = Vec::with_capacity(body.len() + 64);
        call.origins[offerer.index()].write(&sdp, &mut out);
        Ok(out)
    }

    /// Masks (or stops masking) what the party tagged `tag` sends; every party when `None`.
    pub fn block_dtmf(
        &mut self,
        plane: &mut impl MediaPlane,
        call_id: &[u8],
        tag: Option<&[u8]>,
        on: bool,
    ) -> Result<(), AnchorError> {
        let call = self.calls.get(call_id).ok_or(AnchorError::UnknownCall)?;
        let legs: Vec<LegId> = match tag {
            None => vec![LegId::A, LegId::B],
            Some(t) => {
                let leg = [LegId::A, LegId::B]
                    .into_iter()
                    .find(|l| call.tags[l.index()].as_deref() == Some(t))
                    .ok_or(AnchorError::UnknownParty)?;
                vec![leg]
            }
        };
        for s in &call.streams {
            if let Some(id) = s.id {
                for &leg in &legs {
                    plane.set_masking(id, leg, on);
                }
            }
        }
        Ok(())
    }

    /// A key press the party tagged `from_tag` sent in a SIP INFO (`application/dtmf-relay` or
    /// `application/dtmf`, parsed by [`crate::sipinfo::parse_dtmf_body`]), with the duration
    /// its body gave in milliseconds.
    ///
    /// It goes to the call's first audio stream on the relay (rejected ones skipped): DTMF belongs to the audio, whose tones and
    /// telephone-events the session merges the INFO with, and a call with more than one audio
    /// `m=` line sends its keys on the first (the one a phone's keypad is bound to). The digit
    /// comes back, once per key press, as the relay's [`crate::relay::RelayEvent::Digit`] of
    /// that session.
    pub fn sip_info(
        &mut self,
        plane: &mut impl MediaPlane,
        call_id: &[u8],
        from_tag: &[u8],
        digit: Digit,
        duration_ms: Option<u32>,
    ) -> Result<(), AnchorError> {
        let call = self.calls.get(call_id).ok_or(AnchorError::UnknownCall)?;
        let from = [LegId::A, LegId::B]
            .into_iter()
            .find(|l| call.tags[l.index()].as_deref() == Some(from_tag))
            .ok_or(AnchorError::UnknownParty)?;
        let id = call.streams.iter().filter(|s| s.audio).find_map(|s| s.id).ok_or(AnchorError::NoAudio)?;
        plane.sip_info(id, from, digit, duration_ms);
        Ok(())
    }

    /// The Call-ID of the call a relay session belongs to.
    pub fn call_of_session(&self, session: u64) -> Option<Vec<u8>> {
        self.calls
            .iter()
            .find(|(_, c)| c.streams.iter().any(|s| s.id == Some(session)))
            .map(|(id, _)| id.clone())
    }

    /// The relay sessions of a call (one per `m=` line in use).
    pub fn sessions(&self, call_id: &[u8]) -> Vec<u64> {
        self.calls.get(call_id).map_or_else(Vec::new, |c| c.streams.iter().filter_map(|s| s.id).collect())
    }

    /// A call's figures.
    pub fn query(&mut self, plane: &mut impl MediaPlane, call_id: &[u8]) -> Result<CallReport, AnchorError> {
        let call = self.calls.get(call_id).ok_or(AnchorError::UnknownCall)?;
        Ok(report(call, |id| plane.report(id)))
    }

    /// Ends a call: its sessions are removed and their ports closed.
    pub fn delete(&mut self, plane: &mut impl MediaPlane, call_id: &[u8]) -> Result<CallReport, AnchorError> {
        let call = self.calls.remove(call_id).ok_or(AnchorError::UnknownCall)?;
        Ok(report(&call, |id| plane.remove(id)))
    }
}

fn report(call: &Call, mut get: impl FnMut(u64) -> Option<SessionReport>) -> CallReport {
    CallReport {
        created: call.created,
        last_signal: call.last_signal,
        tags: call.tags.clone(),
        streams: call
            .streams
            .iter()
            .map(|s| match s.id {
                Some(id) => (Some(s.ports), get(id).unwrap_or_default()),
                None => (None, SessionReport::default()),
            })
            .collect(),
    }
}

/// The key a party's media section offers or answers: `None` for plain RTP. Refused when the
/// leg's policy and the SDP disagree, or when no offered key is usable.
fn party_key(m: &sdp::Media, policy: SrtpPolicy) -> Result<Option<CryptoAttribute>, AnchorError> {
    let secure = matches!(m.proto(), Some(Proto::RtpSavp | Proto::RtpSavpf));
    if matches!(m.proto(), Some(Proto::UdpTlsRtpSavp | Proto::UdpTlsRtpSavpf)) {
        return Err(AnchorError::Unacceptable("DTLS-SRTP is not supported"));
    }
    match (secure, policy) {
        (false, SrtpPolicy::Sdes) => Err(AnchorError::Unacceptable("plain RTP where SRTP is required")),
        (true, SrtpPolicy::Off) => Err(AnchorError::Unacceptable("SRTP where plain RTP is required")),
        (false, _) => Ok(None),
        (true, _) => srtp::choose(m.crypto().map(|c| c.expose()), &SUITES)
            .map(Some)
            .ok_or(AnchorError::Unacceptable("no usable a=crypto")),
    }
}

/// A new key of the relay's own.
fn fresh_key(rng: &mut (impl CryptoRng + ?Sized), tag: u32, suite: Suite) -> CryptoAttribute {
    // Tags come from a parsed attribute (≤ 999 999 999) or are 1, which `generate` accepts.
    CryptoAttribute::generate(tag.min(999_999_999), suite, rng)
        .unwrap_or_else(|_| unreachable!("tag within RFC 4568's range"))
}

/// Gives the relay the leg's current keys.
fn key_leg(plane: &mut impl MediaPlane, id: u64, leg: LegId, stream: &mut Stream, inbound_changed: bool) {
    let i = leg.index();
    let inbound = inbound_changed.then(|| {
        stream.remote[i].as_ref().and_then(|k| SrtpContext::from_sdes(SrtpDirection::Inbound, k).ok())
    });
    let outbound = (!stream.out_installed[i]).then(|| {
        stream.local[i].as_ref().and_then(|k| SrtpContext::from_sdes(SrtpDirection::Outbound, k).ok())
    });
    stream.out_installed[i] = true;
    if inbound.is_some() || outbound.is_some() {
        plane.update_srtp(id, leg, inbound, outbound);
    }
}

fn savp(p: Option<Proto>) -> Proto {
    if p == Some(Proto::RtpAvpf) || p == Some(Proto::RtpSavpf) { Proto::RtpSavpf } else { Proto::RtpSavp }
}

fn avp(p: Option<Proto>) -> Proto {
    if p == Some(Proto::RtpAvpf) || p == Some(Proto::RtpSavpf) { Proto::RtpAvpf } else { Proto::RtpAvp }
}

fn unbound() -> LegAddrs {
    let a = SocketAddr::from(([0, 0, 0, 0], 0));
    LegAddrs { rtp: a, rtcp: a }
}

/// Where a party receives stream `i`, and what it sends.
fn remote_of(sdp: &Sdp, i: usize, source: Option<IpAddr>) -> Remote {
    let m = &sdp.media()[i];
    let pts = PayloadTypes {
        telephone_event: m.telephone_events().find(|c| c.clock_rate == 8000).map(|c| c.pt),
        red: m.codecs().find(|c| c.name.eq_ignore_ascii_case("red")).map(|c| c.pt),
    };
    let Some(e) = sdp.endpoints(i).filter(|e| !e.multicast) else {
        return Remote { pts, ..Remote::default() };
    };
    let at = |a: SocketAddr| match source {
        Some(ip) if !e.hold => SocketAddr::new(ip, a.port()),
        _ => a,
    };
    Remote {
        rtp: (!e.hold).then(|| at(e.rtp)),
        rtcp: if e.hold { None } else { e.rtcp.map(at) },
        rtcp_mux: e.rtcp_mux,
        pts,
    }
}

/// Points a media section at the relay's ports on one leg.
fn point_at(m: &mut sdp::Media, ports: LegAddrs, mux: bool) {
    m.set_port(ports.rtp.port());
    if mux {
        m.set_rtcp_mux(true);
        m.remove_rtcp();
    } else {
        m.set_rtcp_mux(false);
        m.set_rtcp(ports.rtcp.port(), None);
    }
}
