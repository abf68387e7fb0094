//! The SRTP/SRTCP cryptographic context: packet layout, per-SSRC indices and replay windows,
//! key lifetime. In place, no allocation after construction.

use super::key::MasterKey;
use super::replay::{self, Verdict, Window};
use super::sdes::{CryptoAttribute, Mki, SdesError};
use super::transform::{self, GCM_TAG, SessionKeys};
use super::{SrtpError, Suite};
use std::fmt;

/// SSRCs one context tracks. A call's direction normally has one; a carrier that switches
/// media servers mid-call adds one each time. Fixed so the context never allocates; a
/// stream is never forgotten, because forgetting a sender's rollover counter could reuse
/// keystream and forgetting a receiver's window would let old packets replay.
pub const MAX_STREAMS: usize = 8;

/// Width of the replay window in packets, per SSRC, for SRTP and for SRTCP (RFC 3711 §3.3.2
/// asks for at least 64; libsrtp uses 128).
pub const REPLAY_WINDOW: u64 = replay::WINDOW;

/// Longest MKI RFC 4568 allows (`1*3DIGIT`, at most 128 octets).
pub(crate) const MAX_MKI: usize = 128;

/// Longest packet accepted: one UDP datagram.
const MAX_PACKET: usize = 65_535;

/// RFC 3711 §9.2: at most 2^48 SRTP and 2^31 SRTCP packets under one master key.
const SRTP_MAX_PACKETS: u64 = 1 << 48;
const SRTCP_MAX_INDEX: u64 = (1 << 31) - 1;

/// Which way a context works: a context only protects or only unprotects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Protects what we send, with the key from our own `a=crypto`.
    Outbound,
    /// Unprotects what we receive, with the key from the peer's `a=crypto`.
    Inbound,
}

#[derive(Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// SRTP: highest index protected or authenticated, and the replay window below it.
    rtp: Option<Window>,
    /// SRTCP: the same over the 31-bit SRTCP index (outbound: the last index sent).
    rtcp: Option<Window>,
}

const NO_STREAM: Stream = Stream { ssrc: 0, rtp: None, rtcp: None };

/// One direction of SRTP and SRTCP under one master key (see the [module docs](super) for why
/// one per direction).
///
/// Every operation works in place on `buf[..len]`: `protect_*` needs
/// [`rtp_overhead`](SrtpContext::rtp_overhead) / [`rtcp_overhead`](SrtpContext::rtcp_overhead)
/// octets of room after `len` and returns the protected length; `unprotect_*` returns the
/// plain length. On error nothing has been written to `buf` and no state has changed: the
/// relay drops (and counts) the packet. State changes only for an authentic packet (inbound)
/// or a protected one (outbound).
pub struct SrtpContext {
    suite: Suite,
    direction: Direction,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    mki: [u8; MAX_MKI],
    mki_len: usize,
    streams: [Stream; MAX_STREAMS],
    n_streams: usize,
    rtp_packets: u64,
    rtcp_packets: u64,
    lifetime: u64,
}

impl SrtpContext {
    /// A context for `direction` under `key`, no MKI, lifetime the RFC 3711 maximum.
    pub fn new(direction: Direction, key: &MasterKey) -> SrtpContext {
        SrtpContext {
            suite: key.suite(),
            direction,
            rtp: SessionKeys::derive(key, false),
            rtcp: SessionKeys::derive(key, true),
            mki: [0; MAX_MKI],
            mki_len: 0,
            streams: [NO_STREAM; MAX_STREAMS],
            n_streams: 0,
            rtp_packets: 0,
            rtcp_packets: 0,
            lifetime: SRTP_MAX_PACKETS,
        }
    }

    /// The context for the first key of an SDES attribute: its MKI (if any) is written into
    /// and required on every packet, its lifetime bounds the packets.
    ///
    /// # Errors
    /// What [`CryptoAttribute::check_usable`] refuses.
    pub fn from_sdes(direction: Direction, attr: &CryptoAttribute) -> Result<SrtpContext, SdesError> {
        attr.check_usable()?;
        let kp = attr.keys().first().ok_or(SdesError::MissingField { field: "key-params" })?;
        let mut ctx = SrtpContext::new(direction, &kp.key);
        if let Some(mki) = kp.mki {
            ctx = ctx.with_mki(mki);
        }
        if let Some(lifetime) = kp.lifetime {
            ctx = ctx.with_lifetime(lifetime.packets());
        }
        Ok(ctx)
    }

    /// Writes `mki` into every protected packet and requires it on every unprotected one.
    pub fn with_mki(mut self, mki: Mki) -> SrtpContext {
        self.mki_len = mki.write(&mut self.mki);
        self
    }

    /// Stops after `packets` SRTP (and, separately, SRTCP) packets, or at the RFC 3711
    /// maximum if that comes first.
    pub fn with_lifetime(mut self, packets: u64) -> SrtpContext {
        self.lifetime = packets.min(SRTP_MAX_PACKETS);
        self
    }

    /// The suite of the master key.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The direction given at construction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Octets `protect_rtp` appends: tag and MKI.
    pub fn rtp_overhead(&self) -> usize {
        self.suite.rtp_tag_len() + self.mki_len
    }

    /// Octets `protect_rtcp` appends: tag, MKI and the 4-octet E flag and SRTCP index.
    pub fn rtcp_overhead(&self) -> usize {
        self.suite.rtcp_tag_len() + self.mki_len + 4
    }

    /// The rollover counter of an SSRC's SRTP stream, once a packet has been processed.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let w = self.stream(ssrc)?.rtp?;
        Some((w.highest >> 16) as u32)
    }

    /// SRTP packets protected or authenticated under this key so far.
    pub fn rtp_packets(&self) -> u64 {
        self.rtp_packets
    }

    /// Protects the RTP packet in `buf[..len]` in place: encrypts the payload, appends MKI and
    /// tag. Returns the SRTP length (`len + rtp_overhead()`).
    ///
    /// # Errors
    /// Wrong direction, a malformed or oversized packet, no room in `buf`, a sequence number
    /// already protected on this SSRC or behind the window ([`SrtpError::Replayed`],
    /// [`SrtpError::TooOld`]: protecting it again would reuse keystream), too many SSRCs, or
    /// an exhausted key.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.require(Direction::Outbound)?;
        let pkt = packet(buf, len)?;
        let hdr = rtp_header_len(pkt)?;
        let (seq, ssrc) = (be16(pkt, 2), be32(pkt, 8));
        let tag_len = self.suite.rtp_tag_len();
        let mki = &self.mki[..self.mki_len];
        let needed = len + tag_len + mki.len();
        if needed > buf.len() {
            return Err(SrtpError::BufferTooSmall { needed, capacity: buf.len() });
        }
        let at = self.find_or_room(ssrc)?;
        let index = self.rtp_index(at, ssrc, seq)?;
        let roc = (index >> 16) as u32;
        match &self.rtp {
            SessionKeys::CmHmac { aes, salt, mac } => {
                aes.apply_ctr(&transform::cm_iv(salt, ssrc, index), &mut buf[hdr..len]);
                buf[len..len + mki.len()].copy_from_slice(mki);
                let tag = transform::hmac(mac, &[&buf[..len], &roc.to_be_bytes()]);
                buf[len + mki.len()..needed].copy_from_slice(&tag[..tag_len]);
            }
            keys @ SessionKeys::Gcm { .. } => {
                let (head, body) = buf.split_at_mut(hdr);
                let tag = keys
                    .gcm_seal(rtp_gcm_iv(ssrc, roc, seq), head, &mut body[..len - hdr])
                    .ok_or(SrtpError::TooLarge { len })?;
                buf[len..len + GCM_TAG].copy_from_slice(&tag);
                buf[len + GCM_TAG..needed].copy_from_slice(mki);
            }
        }
        self.accept_rtp(at, ssrc, index);
        Ok(needed)
    }

    /// Authenticates and decrypts the SRTP packet in `buf[..len]` in place. Returns the RTP
    /// length (`len - rtp_overhead()`).
    ///
    /// # Errors
    /// [`SrtpError::AuthenticationFailed`] for a forged, corrupted or wrongly keyed packet;
    /// [`SrtpError::Replayed`] / [`SrtpError::TooOld`] for a replay (checked first, so a
    /// replay is reported as such whether or not it would authenticate); and malformed input,
    /// wrong direction, unknown MKI, too many SSRCs, an exhausted key.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.require(Direction::Inbound)?;
        let pkt = packet(buf, len)?;
        let (tag_len, mki_len) = (self.suite.rtp_tag_len(), self.mki_len);
        let min = 12 + tag_len + mki_len;
        if len < min {
            return Err(SrtpError::TooShort { len, min });
        }
        let end = len - tag_len - mki_len;
        let hdr = rtp_header_len(&pkt[..end])?;
        let (seq, ssrc) = (be16(pkt, 2), be32(pkt, 8));
        // GCM: payload | tag | MKI (RFC 7714 §8); counter mode: payload | MKI | tag.
        let (tag_at, mki_at) = if self.suite.is_aead() { (end, end + tag_len) } else { (end + mki_len, end) };
        if pkt[mki_at..mki_at + mki_len] != self.mki[..mki_len] {
            return Err(SrtpError::UnknownMki);
        }
        let at = self.find_or_room(ssrc)?;
        let index = self.rtp_index(at, ssrc, seq)?;
        let roc = (index >> 16) as u32;
        match &self.rtp {
            SessionKeys::CmHmac { aes, salt, mac } => {
                let tag = transform::hmac(mac, &[&buf[..end], &roc.to_be_bytes()]);
                if !transform::tag_matches(&tag, &buf[tag_at..tag_at + tag_len]) {
                    return Err(SrtpError::AuthenticationFailed { ssrc });
                }
                aes.apply_ctr(&transform::cm_iv(salt, ssrc, index), &mut buf[hdr..end]);
            }
            keys @ SessionKeys::Gcm { .. } => {
                let mut tag = [0u8; GCM_TAG];
                tag.copy_from_slice(&buf[tag_at..tag_at + GCM_TAG]);
                let (head, body) = buf.split_at_mut(hdr);
                if !keys.gcm_open(rtp_gcm_iv(ssrc, roc, seq), head, &mut body[..end - hdr], &tag) {
                    return Err(SrtpError::AuthenticationFailed { ssrc });
                }
            }
        }
        self.accept_rtp(at, ssrc, index);
        Ok(end)
    }

    /// Protects the (compound) RTCP packet in `buf[..len]` in place: encrypts everything after
    /// the first 8 octets, appends the E flag and SRTCP index, MKI and tag. Returns the SRTCP
    /// length (`len + rtcp_overhead()`). The SRTCP index counts from 0 per SSRC, as RFC 3711
    /// §3.4 says (libsrtp starts at 1; receivers, ours and libsrtp's, accept either).
    ///
    /// # Errors
    /// Wrong direction, a malformed or oversized packet, no room in `buf`, too many SSRCs,
    /// an exhausted key.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.require(Direction::Outbound)?;
        let pkt = packet(buf, len)?;
        check_rtcp_header(pkt)?;
        let ssrc = be32(pkt, 4);
        let tag_len = self.suite.rtcp_tag_len();
        let mki = &self.mki[..self.mki_len];
        let needed = len + 4 + tag_len + mki.len();
        if needed > buf.len() {
            return Err(SrtpError::BufferTooSmall { needed, capacity: buf.len() });
        }
        let at = self.find_or_room(ssrc)?;
        let index = match at.and_then(|i| self.streams[i].rtcp) {
            None => 0,
            Some(w) => w.highest + 1,
        };
        if index > SRTCP_MAX_INDEX || self.rtcp_packets >= self.lifetime {
            return Err(SrtpError::KeyExhausted);
        }
        let e_index = (index as u32 | 0x8000_0000).to_be_bytes();
        match &self.rtcp {
            SessionKeys::CmHmac { aes, salt, mac } => {
                aes.apply_ctr(&transform::cm_iv(salt, ssrc, index), &mut buf[8..len]);
                buf[len..len + 4].copy_from_slice(&e_index);
                buf[len + 4..len + 4 + mki.len()].copy_from_slice(mki);
                let tag = transform::hmac(mac, &[&buf[..len + 4]]);
                buf[len + 4 + mki.len()..needed].copy_from_slice(&tag[..tag_len]);
            }
            keys @ SessionKeys::Gcm { .. } => {
                let aad = rtcp_gcm_aad(pkt, e_index);
                let tag = keys
                    .gcm_seal(rtcp_gcm_iv(ssrc, index), &aad, &mut buf[8..len])
                    .ok_or(SrtpError::TooLarge { len })?;
                buf[len..len + GCM_TAG].copy_from_slice(&tag);
                buf[len + GCM_TAG..len + GCM_TAG + 4].copy_from_slice(&e_index);
                buf[len + GCM_TAG + 4..needed].copy_from_slice(mki);
            }
        }
        self.accept_rtcp(at, ssrc, index);
        Ok(needed)
    }

    /// Authenticates and decrypts the SRTCP packet in `buf[..len]` in place. Returns the RTCP
    /// length (`len - rtcp_overhead()`).
    ///
    /// # Errors
    /// As [`unprotect_rtp`](SrtpContext::unprotect_rtp), plus [`SrtpError::UnencryptedSrtcp`]
    /// for a packet with the E flag clear (refused before authentication: never negotiated).
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.require(Direction::Inbound)?;
        let pkt = packet(buf, len)?;
        let (tag_len, mki_len) = (self.suite.rtcp_tag_len(), self.mki_len);
        let min = 8 + 4 + tag_len + mki_len;
        if len < min {
            return Err(SrtpError::TooShort { len, min });
        }
        check_rtcp_header(pkt)?;
        let ssrc = be32(pkt, 4);
        // GCM: payload | tag | E+index | MKI (RFC 7714 §9); counter mode: payload | E+index |
        // MKI | tag (RFC 3711 §3.4).
        let (end, e_at, mki_at, tag_at) = if self.suite.is_aead() {
            let mki_at = len - mki_len;
            (mki_at - 4 - tag_len, mki_at - 4, mki_at, mki_at - 4 - tag_len)
        } else {
            let tag_at = len - tag_len;
            (tag_at - mki_len - 4, tag_at - mki_len - 4, tag_at - mki_len, tag_at)
        };
        if pkt[mki_at..mki_at + mki_len] != self.mki[..mki_len] {
            return Err(SrtpError::UnknownMki);
        }
        let e_index = [pkt[e_at], pkt[e_at + 1], pkt[e_at + 2], pkt[e_at + 3]];
        if e_index[0] & 0x80 == 0 {
            return Err(SrtpError::UnencryptedSrtcp);
        }
        let index = u64::from(u32::from_be_bytes(e_index) & 0x7FFF_FFFF);
        let at = self.find_or_room(ssrc)?;
        if let Some(w) = at.and_then(|i| self.streams[i].rtcp) {
            verdict(w.check(index), ssrc, index)?;
        }
        if self.rtcp_packets >= self.lifetime {
            return Err(SrtpError::KeyExhausted);
        }
        match &self.rtcp {
            SessionKeys::CmHmac { aes, salt, mac } => {
                let tag = transform::hmac(mac, &[&buf[..e_at + 4]]);
                if !transform::tag_matches(&tag, &buf[tag_at..tag_at + tag_len]) {
                    return Err(SrtpError::AuthenticationFailed { ssrc });
                }
                aes.apply_ctr(&transform::cm_iv(salt, ssrc, index), &mut buf[8..end]);
            }
            keys @ SessionKeys::Gcm { .. } => {
                let aad = rtcp_gcm_aad(pkt, e_index);
                let mut tag = [0u8; GCM_TAG];
                tag.copy_from_slice(&buf[tag_at..tag_at + GCM_TAG]);
                if !keys.gcm_open(rtcp_gcm_iv(ssrc, index), &aad, &mut buf[8..end], &tag) {
                    return Err(SrtpError::AuthenticationFailed { ssrc });
                }
            }
        }
        self.accept_rtcp(at, ssrc, index);
        Ok(end)
    }

    fn require(&self, direction: Direction) -> Result<(), SrtpError> {
        if self.direction == direction { Ok(()) } else { Err(SrtpError::WrongDirection) }
    }

    fn stream(&self, ssrc: u32) -> Option<&Stream> {
        self.streams[..self.n_streams].iter().find(|s| s.ssrc == ssrc)
    }

    /// The slot of `ssrc`, `None` if new and there is room for it, else `TooManyStreams`.
    fn find_or_room(&self, ssrc: u32) -> Result<Option<usize>, SrtpError> {
        match self.streams[..self.n_streams].iter().position(|s| s.ssrc == ssrc) {
            Some(i) => Ok(Some(i)),
            None if self.n_streams < MAX_STREAMS => Ok(None),
            None => Err(SrtpError::TooManyStreams { max: MAX_STREAMS }),
        }
    }

    /// The SRTP index of `seq` on the stream in slot `at`, refused if replayed, too old or
    /// past the key's lifetime. A stream's first packet has ROC 0 (RFC 3711 §3.3.1).
    fn rtp_index(&self, at: Option<usize>, ssrc: u32, seq: u16) -> Result<u64, SrtpError> {
        if self.rtp_packets >= self.lifetime {
            return Err(SrtpError::KeyExhausted);
        }
        let Some(w) = at.and_then(|i| self.streams[i].rtp) else {
            return Ok(u64::from(seq));
        };
        let Some(index) = replay::estimate_index(w.highest, seq) else {
            return Err(if w.highest >> 16 == u64::from(u32::MAX) {
                SrtpError::KeyExhausted
            } else {
                SrtpError::TooOld { ssrc, index: u64::from(seq) }
            });
        };
        verdict(w.check(index), ssrc, index)?;
        Ok(index)
    }

    fn slot(&mut self, at: Option<usize>, ssrc: u32) -> usize {
        match at {
            Some(i) => i,
            None => {
                self.streams[self.n_streams] = Stream { ssrc, ..NO_STREAM };
                self.n_streams += 1;
                self.n_streams - 1
            }
        }
    }

    fn accept_rtp(&mut self, at: Option<usize>, ssrc: u32, index: u64) {
        let i = self.slot(at, ssrc);
        let s = &mut self.streams[i];
        match &mut s.rtp {
            Some(w) => w.accept(index),
            None => s.rtp = Some(Window::starting_at(index)),
        }
        self.rtp_packets += 1;
    }

    fn accept_rtcp(&mut self, at: Option<usize>, ssrc: u32, index: u64) {
        let i = self.slot(at, ssrc);
        let s = &mut self.streams[i];
        match &mut s.rtcp {
            Some(w) => w.accept(index),
            None => s.rtcp = Some(Window::starting_at(index)),
        }
        self.rtcp_packets += 1;
    }
}

impl fmt::Debug for SrtpContext {
    /// Suite, direction and stream count: no key material, no SSRC state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .field("direction", &self.direction)
            .field("streams", &self.n_streams)
            .finish_non_exhaustive()
    }
}

fn verdict(v: Verdict, ssrc: u32, index: u64) -> Result<(), SrtpError> {
    match v {
        Verdict::Fresh => Ok(()),
        Verdict::Replayed => Err(SrtpError::Replayed { ssrc, index }),
        Verdict::TooOld => Err(SrtpError::TooOld { ssrc, index }),
    }
}

/// `buf[..len]`, if `len` fits the buffer and a datagram.
fn packet(buf: &[u8], len: usize) -> Result<&[u8], SrtpError> {
    if len > MAX_PACKET {
        return Err(SrtpError::TooLarge { len });
    }
    buf.get(..len).ok_or(SrtpError::LengthExceedsBuffer { len, capacity: buf.len() })
}

fn be16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn be32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

/// Length of the RTP header (fixed part, CSRCs, extension): what SRTP leaves in clear.
fn rtp_header_len(pkt: &[u8]) -> Result<usize, SrtpError> {
    if pkt.len() < 12 {
        return Err(SrtpError::TooShort { len: pkt.len(), min: 12 });
    }
    if pkt[0] >> 6 != 2 {
        return Err(SrtpError::MalformedHeader);
    }
    let mut n = 12 + 4 * usize::from(pkt[0] & 0x0F);
    if pkt[0] & 0x10 != 0 {
        let words = pkt.get(n + 2..n + 4).ok_or(SrtpError::MalformedHeader)?;
        n += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    if n > pkt.len() {
        return Err(SrtpError::MalformedHeader);
    }
    Ok(n)
}

/// The first RTCP header: 8 octets, version 2.
fn check_rtcp_header(pkt: &[u8]) -> Result<(), SrtpError> {
    if pkt.len() < 8 {
        return Err(SrtpError::TooShort { len: pkt.len(), min: 8 });
    }
    if pkt[0] >> 6 != 2 {
        return Err(SrtpError::MalformedHeader);
    }
    Ok(())
}

/// RFC 7714 §8.1: `00 00 || SSRC || ROC || SEQ`, XORed with the salt by the transform.
fn rtp_gcm_iv(ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// RFC 7714 §9.1: `00 00 || SSRC || 00 00 || 0 + SRTCP index (31 bits)`.
fn rtcp_gcm_iv(ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&(index as u32 & 0x7FFF_FFFF).to_be_bytes());
    iv
}

/// RFC 7714 §9.2: the AAD is the first 8 octets of the header, then the E flag and index.
fn rtcp_gcm_aad(pkt: &[u8], e_index: [u8; 4]) -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(&pkt[..8]);
    aad[8..].copy_from_slice(&e_index);
    aad
}
