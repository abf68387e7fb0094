//! The operations the relay applies to an offer or answer before forwarding it, and the per-leg
//! origin state that versions what it sends (RFC 3264 §8).
//!
//! Every operation changes only the lines it is about, and only when their meaning changes:
//! setting what is already there leaves the line as written, so rewriting twice gives the same
//! body as rewriting once. New lines are appended at the end of their section (a media-level
//! `c=` goes right after the `m=` line and its `i=`, where RFC 8866 §5 puts it). Media
//! operations leave a rejected stream (port 0) alone.

use super::parse::{Attr, Kind, Line};
use super::types::{AddrType, Connection, Direction, Proto, Rtcp};
use super::{Media, Sdp, pt_of};
use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a rewrite was refused. The SDP is left as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The operation would leave a stream in use with an empty format list, which RFC 8866
    /// forbids; [`Media::reject`] the stream instead (RFC 3264 §6).
    #[error("no format would be left in the m= line")]
    NoFormatsLeft,
    /// A value to write is empty, or holds a control character or line break that would
    /// inject a line.
    #[error("value is empty or holds a control character")]
    BadValue,
}

/// Where a held connection points when the relay takes the stream over: the unspecified
/// address stays unspecified (in the relay's family), so the hold still reaches the other side.
fn retarget(old: Connection, addr: IpAddr) -> Connection {
    let address = match (old.is_hold(), addr) {
        (false, a) => a,
        (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Connection::new(address)
}

fn set_connections(lines: &mut [Line], addr: IpAddr) {
    for l in lines {
        if let Kind::Connection(c) = l.kind {
            let new = retarget(c, addr);
            if new != c {
                *l = Line::new(new.to_line(), Kind::Connection(new));
            }
        }
    }
}

fn direction_line(d: Direction) -> Line {
    Line::new(format!("a={}", d.as_str()), Kind::Attr(Attr::Direction(d)))
}

impl Sdp {
    /// Points every stream at `addr`: the session-level `c=` and every media-level `c=` of the
    /// streams in use (a media section that has none and no session-level `c=` to inherit gets
    /// one). A held address (`0.0.0.0`, `::`) stays held, switched to `addr`'s family, so that
    /// RFC 2543-style hold survives. Multicast TTL and count are dropped: the relay is unicast.
    /// `a=rtcp` addresses are not touched; see [`Media::set_rtcp`].
    pub fn set_connection_address(&mut self, addr: IpAddr) {
        let session_c = self.connection().is_some();
        set_connections(&mut self.session, addr);
        for m in self.media.iter_mut().filter(|m| !m.is_rejected()) {
            if session_c && m.connection().is_none() {
                continue;
            }
            m.set_connection_address(addr);
        }
    }

    /// Sets the `o=` address (and its address type).
    pub fn set_origin_address(&mut self, addr: IpAddr) {
        let address = addr.to_string();
        if self.origin.address == address && self.origin.addr_type == AddrType::of(addr) {
            return;
        }
        self.origin.address = address;
        self.origin.addr_type = AddrType::of(addr);
        let raw = self.origin.to_line();
        for l in self.session.iter_mut().filter(|l| l.kind == Kind::Origin) {
            l.raw.clone_from(&raw);
        }
    }

    /// Removes ICE attributes at session level and from every stream in use: the relay
    /// terminates ICE, or the other leg does not speak it.
    pub fn remove_ice(&mut self) {
        self.session.retain(|l| !l.attr().is_some_and(Attr::is_ice));
        for m in &mut self.media {
            m.remove_ice();
        }
    }

    /// Removes every key the body carries — `a=crypto`, `a=key-mgmt`, `a=ice-pwd` and `k=` — at
    /// session level and in every media section, rejected ones included. A relay that terminates
    /// SRTP must never pass one party's keys to the other: it adds its own afterwards
    /// ([`Media::set_crypto`]) where a stream is in use.
    pub fn remove_keys(&mut self) {
        let keyed = |l: &Line| l.kind == Kind::Key || l.attr().is_some_and(Attr::is_secret);
        self.session.retain(|l| !keyed(l));
        for m in &mut self.media {
            m.lines.retain(|l| !keyed(l));
        }
    }

    /// Removes DTLS attributes (`a=fingerprint`, `a=setup`, `a=tls-id`) at session level and
    /// from every stream in use.
    pub fn remove_dtls(&mut self) {
        self.session.retain(|l| !l.attr().is_some_and(Attr::is_dtls));
        for m in &mut self.media {
            m.remove_dtls();
        }
    }
}

impl Media {
    fn set_m(&mut self, f: impl FnOnce(&mut super::parse::MediaLine)) {
        let before = self.m.clone();
        f(&mut self.m);
        if self.m != before {
            self.m_raw = self.m.to_line();
        }
    }

    /// Sets the `m=` port (the port count, if any, is kept). Setting 0 rejects the stream.
    pub fn set_port(&mut self, port: u16) {
        if !self.is_rejected() {
            self.set_m(|m| m.port = port);
        }
    }

    /// Rejects the stream: port 0, formats and attributes kept (RFC 3264 §6).
    pub fn reject(&mut self) {
        self.set_port(0);
    }

    /// Sets the transport protocol (for example `RTP/AVP` toward a carrier, `RTP/SAVP` toward
    /// an agent phone with SDES keys).
    pub fn set_proto(&mut self, proto: Proto) {
        if !self.is_rejected() {
            self.set_m(|m| {
                if !m.proto.eq_ignore_ascii_case(proto.as_str()) {
                    m.proto = proto.as_str().to_owned();
                }
            });
        }
    }

    /// Sets the media-level connection address: every `c=` of this section, or a new one when
    /// it has none. A held address stays held (see [`Sdp::set_connection_address`]).
    pub fn set_connection_address(&mut self, addr: IpAddr) {
        if self.is_rejected() {
            return;
        }
        if self.connection().is_some() {
            set_connections(&mut self.lines, addr);
        } else {
            let at = self.lines.iter().take_while(|l| l.kind == Kind::Info).count();
            let c = Connection::new(addr);
            self.lines.insert(at, Line::new(c.to_line(), Kind::Connection(c)));
        }
    }

    /// Sets `a=rtcp` to `port` (and `address`, when given): the first `a=rtcp` is replaced,
    /// any other removed, one appended if there was none.
    pub fn set_rtcp(&mut self, port: u16, address: Option<IpAddr>) {
        if self.is_rejected() {
            return;
        }
        let new = Rtcp { port, address };
        let mut seen = false;
        self.lines.retain_mut(|l| {
            let Some(&Attr::Rtcp(old)) = l.attr() else { return true };
            if seen {
                return false;
            }
            seen = true;
            if old != new {
                *l = Line::new(new.to_line(), Kind::Attr(Attr::Rtcp(new)));
            }
            true
        });
        if !seen {
            self.lines.push(Line::new(new.to_line(), Kind::Attr(Attr::Rtcp(new))));
        }
    }

    /// Removes `a=rtcp`: the RTCP port is then the RTP port + 1 (or the RTP port with
    /// `a=rtcp-mux`).
    pub fn remove_rtcp(&mut self) {
        if !self.is_rejected() {
            self.lines.retain(|l| !matches!(l.attr(), Some(Attr::Rtcp(_))));
        }
    }

    /// Adds `a=rtcp-mux` (if absent), or removes it together with `a=rtcp-mux-only`
    /// (RFC 8858), which would make no sense without it.
    pub fn set_rtcp_mux(&mut self, on: bool) {
        if self.is_rejected() {
            return;
        }
        if on {
            if !self.rtcp_mux() {
                self.lines.push(Line::new("a=rtcp-mux".to_owned(), Kind::Attr(Attr::RtcpMux)));
            }
        } else {
            self.lines.retain(|l| !matches!(l.attr(), Some(Attr::RtcpMux | Attr::RtcpMuxOnly)));
        }
    }

    /// Replaces every `a=crypto` line with one per value (the text after `a=crypto:`, for
    /// example `1 AES_CM_128_HMAC_SHA1_80 inline:…`), where the first one was (appended if
    /// there was none). An empty slice removes them all. Values are not checked against
    /// RFC 4568 here, only for what would break the SDP: emptiness and control characters.
    pub fn set_crypto<S: AsRef<str>>(&mut self, values: &[S]) -> Result<(), RewriteError> {
        if values.iter().any(|v| {
            let v = v.as_ref();
            v.trim().is_empty() || v.chars().any(char::is_control)
        }) {
            return Err(RewriteError::BadValue);
        }
        if self.is_rejected() {
            return Ok(());
        }
        let same = self.crypto().map(|s| s.expose()).eq(values.iter().map(|v| v.as_ref()));
        if same {
            return Ok(());
        }
        // The first `a=crypto` has only non-crypto lines before it: after the removal, the new
        // lines go at the same index.
        let at = self.lines.iter().position(|l| l.attr() == Some(&Attr::Crypto));
        self.lines.retain(|l| l.attr() != Some(&Attr::Crypto));
        let at = at.unwrap_or(self.lines.len());
        let new =
            values.iter().map(|v| Line::new(format!("a=crypto:{}", v.as_ref()), Kind::Attr(Attr::Crypto)));
        self.lines.splice(at..at, new);
        Ok(())
    }

    /// Removes payload types from the format list together with their `a=rtpmap`, `a=fmtp`
    /// and `a=rtcp-fb` lines: for example the `telephone-event` types toward an agent, whose
    /// digits the relay masks. Returns how many formats left the `m=` line. Refused with
    /// [`RewriteError::NoFormatsLeft`] if none would remain.
    pub fn remove_payload_types(&mut self, pts: &[u8]) -> Result<usize, RewriteError> {
        if self.is_rejected() || pts.is_empty() {
            return Ok(0);
        }
        let gone = |f: &String| pt_of(f).is_some_and(|p| pts.contains(&p));
        let removed = self.m.formats.iter().filter(|f| gone(f)).count();
        if removed == self.m.formats.len() && removed > 0 {
            return Err(RewriteError::NoFormatsLeft);
        }
        if removed > 0 {
            self.set_m(|m| m.formats.retain(|f| !gone(f)));
        }
        self.lines.retain(|l| match l.attr() {
            Some(Attr::Rtpmap { pt, .. } | Attr::Fmtp(Some(pt)) | Attr::RtcpFb(Some(pt))) => {
                !pts.contains(pt)
            }
            _ => true,
        });
        Ok(removed)
    }

    /// Keeps only the payload types whose codec name (from `a=rtpmap`, else the static
    /// assignment) is one of `names`, compared case-insensitively; a dynamic type without
    /// `a=rtpmap` has no name and goes. Formats that are not payload types (`t38`, `*`) are
    /// kept. Returns how many formats were removed; see [`Media::remove_payload_types`].
    pub fn keep_codecs(&mut self, names: &[&str]) -> Result<usize, RewriteError> {
        let drop: Vec<u8> = self
            .payload_types()
            .filter(|&pt| {
                !self.codec(pt).is_some_and(|c| names.iter().any(|n| n.eq_ignore_ascii_case(c.name)))
            })
            .collect();
        self.remove_payload_types(&drop)
    }

    /// Removes ICE attributes (candidates, credentials, options, end-of-candidates).
    pub fn remove_ice(&mut self) {
        if !self.is_rejected() {
            self.lines.retain(|l| !l.attr().is_some_and(Attr::is_ice));
        }
    }

    /// Removes DTLS attributes (`a=fingerprint`, `a=setup`, `a=tls-id`).
    pub fn remove_dtls(&mut self) {
        if !self.is_rejected() {
            self.lines.retain(|l| !l.attr().is_some_and(Attr::is_dtls));
        }
    }

    /// Sets this section's direction attribute: the first one is replaced, any other removed,
    /// one appended if there was none.
    pub fn set_direction(&mut self, direction: Direction) {
        if self.is_rejected() {
            return;
        }
        let mut seen = false;
        self.lines.retain_mut(|l| {
            let Some(&Attr::Direction(old)) = l.attr() else { return true };
            if seen {
                return false;
            }
            seen = true;
            if old != direction {
                *l = direction_line(direction);
            }
            true
        });
        if !seen {
            self.lines.push(direction_line(direction));
        }
    }
}

/// What the relay last sent on one leg of a call, so that the next SDP it sends there has an
/// `o=` line the far end accepts (RFC 3264 §8): the same user name and session id as the
/// first SDP on the leg, and a version that goes up by exactly one when the body changed and
/// stays put when it did not.
///
/// One per leg, owned by the caller (the call layer keeps it beside the dialog). The user name
/// and session id are pinned from the first SDP written, because the far side of the relay may
/// change its own (after a transfer, say) while this leg's dialog goes on; the version starts
/// at that SDP's and wraps at `u64::MAX` (peers compare versions for change, not order).
///
/// It holds a copy of the last body, SRTP keys included; its `Debug` prints neither.
#[derive(Clone, Default)]
pub struct LegOrigin {
    state: Option<LegState>,
}

#[derive(Clone)]
struct LegState {
    username: String,
    session_id: String,
    version: u64,
    /// The last body written, without the version digits; they were at `split`.
    last: Vec<u8>,
    split: usize,
}

/// What [`LegOrigin::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegWrite {
    /// The `o=` version written.
    pub version: u64,
    /// The body differs from the last one written on this leg (always true for the first).
    pub changed: bool,
}

impl LegOrigin {
    /// A leg on which nothing has been sent yet.
    pub fn new() -> Self {
        LegOrigin::default()
    }

    /// The version of the last body written, if any.
    pub fn version(&self) -> Option<u64> {
        self.state.as_ref().map(|s| s.version)
    }

    /// Appends `sdp` to `out` as [`Sdp::write`] does, with the `o=` line this leg needs: user
    /// name and session id pinned, the address from `sdp` (see [`Sdp::set_origin_address`]),
    /// the version bumped only if the rest of the body differs from the last one written.
    /// Call it for the bodies actually sent on the leg, in order.
    pub fn write(&mut self, sdp: &Sdp, out: &mut Vec<u8>) -> LegWrite {
        let start = out.len();
        let o = &sdp.origin;
        let (username, session_id, version) = match &self.state {
            Some(s) => (s.username.as_str(), s.session_id.as_str(), s.version),
            None => (o.username.as_str(), o.session_id.as_str(), o.version),
        };
        let mut span = None;
        sdp.write_lines(out, |out, _| {
            out.extend_from_slice(format!("o={username} {session_id} ").as_bytes());
            let at = out.len();
            out.extend_from_slice(version.to_string().as_bytes());
            span = Some((at, out.len()));
            out.extend_from_slice(format!(" IN {} {}", o.addr_type.as_str(), o.address).as_bytes());
        });
        let (a, b) = span.unwrap_or((start, start));
        let written = version;
        let (version, changed) = match &self.state {
            None => (version, true),
            Some(s) => {
                let same =
                    s.last.get(..s.split) == Some(&out[start..a]) && s.last.get(s.split..) == Some(&out[b..]);
                if same { (s.version, false) } else { (s.version.wrapping_add(1), true) }
            }
        };
        let mut b = b;
        if version != written {
            let digits = version.to_string();
            out.splice(a..b, digits.bytes());
            b = a + digits.len();
        }
        let mut last = Vec::with_capacity(out.len() - start - (b - a));
        last.extend_from_slice(&out[start..a]);
        last.extend_from_slice(&out[b..]);
        self.state = Some(LegState {
            username: username.to_owned(),
            session_id: session_id.to_owned(),
            version,
            last,
            split: a - start,
        });
        LegWrite { version, changed }
    }
}

impl fmt::Debug for LegOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LegOrigin");
        if let Some(s) = &self.state {
            d.field("session_id", &s.session_id).field("version", &s.version);
        }
        d.finish()
    }
}
