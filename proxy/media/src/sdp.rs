//! SDP (RFC 8866) for media anchoring: parse an offer or answer, read what the relay needs,
//! rewrite it to point at the relay, write it out.
//!
//! ```text
//!  body (&[u8], CRLF or LF) ──Sdp::parse──► Sdp { session lines, Media { m= line, lines } × n }
//!                                              │ read: origin, c=, per media port/proto/codecs,
//!                                              │       a=rtcp, rtcp-mux, direction, crypto, ICE,
//!                                              │       DTLS, Sdp::endpoints (where to send)
//!                                              ▼ rewrite: Sdp / Media setters (see below)
//!  CRLF body ◄── Sdp::write(&mut Vec<u8>)  or  LegOrigin::write (o= pinned per leg, version
//!                                              bumped only when the body changed, RFC 3264 §8)
//! ```
//!
//! # Lines are kept, not re-rendered
//!
//! Every line is stored as received next to what the relay understood of it, in its original
//! order, and written back as it was unless an operation changed it. So a rewrite with no
//! operation reproduces the body byte for byte (line ends become CRLF, blank lines are
//! dropped), and an attribute the relay has never heard of reaches the other side untouched.
//! Most SDP crates parse into a struct and render a canonical form, which loses or reorders what
//! they do not model; the WebRTC-oriented ones (`webrtc-sdp`, webrtc-rs `sdp`, str0m's) also
//! enforce line order, warn on or drop what they do not know, or expect ICE and DTLS to be
//! there, which carrier bodies break. rtpengine copies the received body and splices its edits
//! in, for the same reason this module keeps lines.
//!
//! # Rewriting
//!
//! [`Sdp::set_connection_address`] (session and media level together), [`Sdp::set_origin_address`],
//! [`Sdp::remove_ice`], [`Sdp::remove_dtls`], and per media [`Media::set_port`],
//! [`Media::set_proto`], [`Media::set_rtcp`] / [`Media::remove_rtcp`], [`Media::set_rtcp_mux`],
//! [`Media::set_crypto`], [`Media::remove_payload_types`], [`Media::keep_codecs`],
//! [`Media::set_direction`], [`Media::reject`]. A rejected stream (port 0) stays rejected and
//! untouched: every media operation leaves it alone (RFC 3264 §6, §8.2).
//!
//! ```
//! use tonewall_media::sdp::{LegOrigin, Sdp};
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! let offer = b"v=0\no=- 1 1 IN IP4 203.0.113.10\ns=-\nc=IN IP4 203.0.113.10\nt=0 0\n\
//!               m=audio 16384 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n";
//! let mut sdp = Sdp::parse(offer)?;
//! let far = sdp.endpoints(0).expect("a stream in use"); // where the carrier wants its RTP
//! assert_eq!(far.rtp.port(), 16384);
//!
//! let relay = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
//! sdp.set_connection_address(relay);
//! sdp.set_origin_address(relay);
//! let audio = &mut sdp.media_mut()[0];
//! audio.set_port(30000);
//! let events: Vec<u8> = audio.telephone_events().map(|c| c.pt).collect();
//! audio.remove_payload_types(&events)?; // the agent gets no RFC 4733 digits
//!
//! let mut agent_leg = LegOrigin::new(); // kept with the agent's dialog
//! let mut body = Vec::new();
//! agent_leg.write(&sdp, &mut body);
//! assert_eq!(
//!     body,
//!     b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Secrets
//!
//! An SDP can carry SRTP master keys (`a=crypto ... inline:`), MIKEY (`a=key-mgmt`), ICE
//! passwords and a clear-text `k=`, plus phone numbers in `o=`, `u=`, `e=`, `p=`. Errors carry a
//! line number and what is wrong, never line text; `Debug` of [`Sdp`] and [`Media`] prints
//! `<redacted>` for those values; key values come out as [`Secret`]. There is no `Display`:
//! [`Sdp::write`] is the one way to get the text, meant for the wire.
//!
//! # What this module does not do
//!
//! No offer/answer negotiation (it does not pick codecs or match answers to offers), no
//! RFC 4568 crypto parsing (values are kept raw), no ICE or DTLS, no host name resolution
//! (`c=` must be an IP literal), no multicast relaying (multicast is parsed and flagged), no
//! BUNDLE or `a=group` handling, and it does not follow RTX/RED `apt=` links when it removes a
//! payload type. It allocates per SDP, which is signaling, never per packet.

pub(crate) mod parse;
mod rewrite;
mod types;

#[cfg(test)]
mod tests;

pub use parse::{Error, Limits, LineError};
pub use rewrite::{LegOrigin, LegWrite, RewriteError};
pub use types::{
    AddrType, Codec, Connection, Direction, Endpoints, Origin, Proto, Rtcp, Secret, Setup, static_codec,
};

use core::fmt;
use parse::{Attr, Kind, Line, MediaLine};
use std::net::SocketAddr;

/// A parsed session description: the session part and its media sections, every line kept in
/// order.
///
/// Equality compares the lines as written and as understood, so two bodies that differ only in
/// line ends and blank lines are equal.
#[derive(Clone, PartialEq, Eq)]
pub struct Sdp {
    pub(crate) origin: Origin,
    /// Session-level lines; the `o=` line is a [`Kind::Origin`] marker whose `raw` is kept in
    /// step with `origin`.
    pub(crate) session: Vec<Line>,
    pub(crate) media: Vec<Media>,
}

/// One media section: its `m=` line and the lines after it up to the next `m=`.
#[derive(Clone, PartialEq, Eq)]
pub struct Media {
    pub(crate) m: MediaLine,
    pub(crate) m_raw: String,
    pub(crate) lines: Vec<Line>,
}

/// An attribute as written: `a=<name>[:<value>]`.
///
/// Its `Debug` hides the value of `crypto`, `key-mgmt` and `ice-pwd`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The name, as written.
    pub name: &'a str,
    /// The value after the colon, trailing blanks trimmed; empty for a flag attribute.
    pub value: &'a str,
    secret: bool,
}

impl fmt::Debug for Attribute<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Debug = if self.secret { &Secret(self.value) } else { &self.value };
        f.debug_struct("Attribute").field("name", &self.name).field("value", value).finish()
    }
}

fn attributes(lines: &[Line]) -> impl Iterator<Item = Attribute<'_>> {
    lines.iter().filter_map(|l| {
        l.attr().map(|a| Attribute { name: l.attr_name(), value: l.attr_value(), secret: a.is_secret() })
    })
}

fn attr_values<'a>(lines: &'a [Line], want: &'a Attr) -> impl Iterator<Item = &'a str> + 'a {
    lines.iter().filter(move |l| l.attr() == Some(want)).map(Line::attr_value)
}

fn direction_in(lines: &[Line]) -> Option<Direction> {
    lines.iter().find_map(|l| match l.attr() {
        Some(Attr::Direction(d)) => Some(*d),
        _ => None,
    })
}

fn connection_in(lines: &[Line]) -> Option<Connection> {
    lines.iter().find_map(|l| match l.kind {
        Kind::Connection(c) => Some(c),
        _ => None,
    })
}

fn setup_in(lines: &[Line]) -> Option<Setup> {
    attr_values(lines, &Attr::Setup).next().and_then(Setup::parse)
}

impl Sdp {
    /// Parses a body with the default [`Limits`].
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        parse::parse(body, &Limits::default())
    }

    /// Parses a body with explicit limits.
    pub fn parse_with(body: &[u8], limits: &Limits) -> Result<Self, Error> {
        parse::parse(body, limits)
    }

    /// The `o=` line.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The session-level `c=` line, if any.
    pub fn connection(&self) -> Option<Connection> {
        connection_in(&self.session)
    }

    /// The session-level direction attribute, if any (the default for every media section).
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.session)
    }

    /// The media sections, in order.
    pub fn media(&self) -> &[Media] {
        &self.media
    }

    /// The media sections, to rewrite them.
    pub fn media_mut(&mut self) -> &mut [Media] {
        &mut self.media
    }

    /// Session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        attributes(&self.session)
    }

    /// Session-level `a=ice-ufrag` (each media section may override it).
    pub fn ice_ufrag(&self) -> Option<&str> {
        attr_values(&self.session, &Attr::IceUfrag).next()
    }

    /// Session-level `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<Secret<'_>> {
        attr_values(&self.session, &Attr::IcePwd).next().map(Secret)
    }

    /// Session-level `a=ice-options`.
    pub fn ice_options(&self) -> Option<&str> {
        attr_values(&self.session, &Attr::IceOptions).next()
    }

    /// `a=ice-lite` (session level only, RFC 8839 §5.3).
    pub fn ice_lite(&self) -> bool {
        self.session.iter().any(|l| l.attr() == Some(&Attr::IceLite))
    }

    /// Session-level `a=fingerprint` values (`<hash-func> <fingerprint>`).
    pub fn fingerprints(&self) -> impl Iterator<Item = &str> {
        attr_values(&self.session, &Attr::Fingerprint)
    }

    /// Session-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        setup_in(&self.session)
    }

    /// The direction media section `index` is in: its own attribute, else the session's, else
    /// `sendrecv` (RFC 8866 §6.7). `None` when there is no such section.
    pub fn media_direction(&self, index: usize) -> Option<Direction> {
        let m = self.media.get(index)?;
        Some(m.direction().or(self.direction()).unwrap_or_default())
    }

    /// Where the remote side of media section `index` receives RTP and RTCP, as its SDP says.
    /// `None` when there is no such section, the stream is rejected (port 0), or neither the
    /// section nor the session has a `c=` line.
    pub fn endpoints(&self, index: usize) -> Option<Endpoints> {
        let m = self.media.get(index)?;
        if m.is_rejected() {
            return None;
        }
        let conn = m.connection().or(self.connection())?;
        let rtp = SocketAddr::new(conn.address, m.port());
        let rtcp_mux = m.rtcp_mux();
        let rtcp = if rtcp_mux {
            Some(rtp)
        } else if let Some(r) = m.rtcp() {
            Some(SocketAddr::new(r.address.unwrap_or(conn.address), r.port))
        } else {
            m.port().checked_add(1).map(|p| SocketAddr::new(conn.address, p))
        };
        Some(Endpoints { rtp, rtcp, rtcp_mux, hold: conn.is_hold(), multicast: conn.is_multicast() })
    }

    /// Appends the body to `out`, every line ended by CRLF. The result can exceed the
    /// [`Limits`] the input was parsed with (CRLF line ends, lines added by rewrites).
    pub fn write(&self, out: &mut Vec<u8>) {
        self.write_lines(out, |out, raw| out.extend_from_slice(raw.as_bytes()));
    }

    /// Writes every line; the `o=` line through `origin`.
    pub(crate) fn write_lines(&self, out: &mut Vec<u8>, mut origin: impl FnMut(&mut Vec<u8>, &str)) {
        let line = |out: &mut Vec<u8>, raw: &str| {
            out.extend_from_slice(raw.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        for l in &self.session {
            if l.kind == Kind::Origin {
                origin(out, &l.raw);
                out.extend_from_slice(b"\r\n");
            } else {
                line(out, &l.raw);
            }
        }
        for m in &self.media {
            line(out, &m.m_raw);
            for l in &m.lines {
                line(out, &l.raw);
            }
        }
    }
}

impl Media {
    /// `<media>`: `audio`, `video`, `image`, `application`, …
    pub fn media_type(&self) -> &str {
        &self.m.media
    }

    /// The `m=` port. 0 means the stream is rejected or disabled.
    pub fn port(&self) -> u16 {
        self.m.port
    }

    /// `<port>/<count>`'s count, when given.
    pub fn port_count(&self) -> Option<u16> {
        self.m.port_count
    }

    /// Port 0: the stream is rejected (in an answer) or disabled (in an offer).
    pub fn is_rejected(&self) -> bool {
        self.m.port == 0
    }

    /// The transport protocol, when it is one the relay knows.
    pub fn proto(&self) -> Option<Proto> {
        Proto::parse(&self.m.proto)
    }

    /// The transport protocol as written.
    pub fn proto_str(&self) -> &str {
        &self.m.proto
    }

    /// The `m=` format list as written, in order.
    pub fn formats(&self) -> impl Iterator<Item = &str> {
        self.m.formats.iter().map(String::as_str)
    }

    /// The formats that are RTP payload types (numbers up to 127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats().filter_map(pt_of)
    }

    /// The first media-level `c=` line, if any (the session's applies otherwise).
    pub fn connection(&self) -> Option<Connection> {
        connection_in(&self.lines)
    }

    /// The codec of payload type `pt`: its `a=rtpmap` here, else its RFC 3551 static
    /// assignment. Whether `pt` is in the format list is not checked.
    pub fn codec(&self, pt: u8) -> Option<Codec<'_>> {
        self.rtpmap(pt).or_else(|| static_codec(pt))
    }

    fn rtpmap(&self, pt: u8) -> Option<Codec<'_>> {
        self.lines.iter().find_map(|l| match l.attr() {
            Some(&Attr::Rtpmap { pt: p, clock_rate, channels }) if p == pt => {
                let name = l.attr_value().split_ascii_whitespace().nth(1)?.split('/').next()?;
                Some(Codec { pt, name, clock_rate, channels })
            }
            _ => None,
        })
    }

    /// The codecs of the format list, in order; payload types with neither `a=rtpmap` nor a
    /// static assignment are skipped.
    pub fn codecs(&self) -> impl Iterator<Item = Codec<'_>> {
        self.payload_types().filter_map(|pt| self.codec(pt))
    }

    /// The RFC 4733 `telephone-event` payload types of the format list (found by name,
    /// case-insensitively), with their clock rates: there may be one per rate.
    pub fn telephone_events(&self) -> impl Iterator<Item = Codec<'_>> {
        self.codecs().filter(Codec::is_telephone_event)
    }

    /// The `a=fmtp` parameters of payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.lines.iter().find_map(|l| match l.attr() {
            Some(&Attr::Fmtp(Some(p))) if p == pt => {
                Some(l.attr_value().split_once(char::is_whitespace).map_or("", |(_, v)| v.trim_start()))
            }
            _ => None,
        })
    }

    /// `a=ptime`, in milliseconds, when it is a whole number.
    pub fn ptime(&self) -> Option<u32> {
        self.lines.iter().find_map(|l| match l.attr() {
            Some(&Attr::Ptime(p)) => p,
            _ => None,
        })
    }

    /// `a=maxptime`, in milliseconds, when it is a whole number.
    pub fn maxptime(&self) -> Option<u32> {
        self.lines.iter().find_map(|l| match l.attr() {
            Some(&Attr::MaxPtime(p)) => p,
            _ => None,
        })
    }

    /// `a=rtcp` (RFC 3605).
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.lines.iter().find_map(|l| match l.attr() {
            Some(&Attr::Rtcp(r)) => Some(r),
            _ => None,
        })
    }

    /// `a=rtcp-mux` is present (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.lines.iter().any(|l| l.attr() == Some(&Attr::RtcpMux))
    }

    /// This section's own direction attribute; see [`Sdp::media_direction`] for the one in
    /// force.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.lines)
    }

    /// The `a=crypto` values (RFC 4568), raw and in order: `<tag> <suite> <key-params> …`.
    pub fn crypto(&self) -> impl Iterator<Item = Secret<'_>> {
        attr_values(&self.lines, &Attr::Crypto).map(Secret)
    }

    /// `a=candidate` values, in order.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        attr_values(&self.lines, &Attr::Candidate)
    }

    /// `a=end-of-candidates` is present (RFC 8840).
    pub fn end_of_candidates(&self) -> bool {
        self.lines.iter().any(|l| l.attr() == Some(&Attr::EndOfCandidates))
    }

    /// Media-level `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&str> {
        attr_values(&self.lines, &Attr::IceUfrag).next()
    }

    /// Media-level `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<Secret<'_>> {
        attr_values(&self.lines, &Attr::IcePwd).next().map(Secret)
    }

    /// Media-level `a=ice-options`.
    pub fn ice_options(&self) -> Option<&str> {
        attr_values(&self.lines, &Attr::IceOptions).next()
    }

    /// Media-level `a=fingerprint` values.
    pub fn fingerprints(&self) -> impl Iterator<Item = &str> {
        attr_values(&self.lines, &Attr::Fingerprint)
    }

    /// Media-level `a=setup`, when it is one of the four RFC 4145 values.
    pub fn setup(&self) -> Option<Setup> {
        setup_in(&self.lines)
    }

    /// This section's attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        attributes(&self.lines)
    }
}

/// A format token that is an RTP payload type.
fn pt_of(f: &str) -> Option<u8> {
    parse::parse_digits::<u8>(f).filter(|&p| p <= 127)
}

/// A line for `Debug`: secrets and personal data replaced.
struct Shown<'a>(&'a Line);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.0;
        match &l.kind {
            Kind::Key => f.write_str("k=<redacted>"),
            // The user name may be a phone number; the rest identifies the session.
            Kind::Origin => write!(f, "o=<redacted> {}", l.value().split_once(' ').map_or("", |(_, r)| r)),
            Kind::Attr(a) if a.is_secret() => write!(f, "a={}:<redacted>", l.attr_name()),
            Kind::Other if matches!(l.raw.as_bytes().first(), Some(b'u' | b'e' | b'p')) => {
                write!(f, "{}=<redacted>", &l.raw[..1])
            }
            _ => f.write_str(&l.raw),
        }
    }
}

impl fmt::Debug for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for l in &self.session {
            list.entry(&Shown(l));
        }
        for m in &self.media {
            list.entry(m);
        }
        list.finish()
    }
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entry(&format_args!("{}", self.m_raw));
        for l in &self.lines {
            list.entry(&Shown(l));
        }
        list.finish()
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Shown(self).fmt(f)
    }
}
