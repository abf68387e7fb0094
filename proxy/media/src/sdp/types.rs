//! The typed values the relay reads out of an SDP: origin, connection, transport protocol,
//! direction, RTCP port, codecs, DTLS role, and a wrapper that keeps secrets out of `Debug`.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

/// The address type of an `o=`, `c=` or `a=rtcp` line (`IP4` or `IP6`; the network type is
/// always `IN`, nothing else is accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }

    /// The type of an address.
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() { AddrType::Ip4 } else { AddrType::Ip6 }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("IP4") {
            Some(AddrType::Ip4)
        } else if s.eq_ignore_ascii_case("IP6") {
            Some(AddrType::Ip6)
        } else {
            None
        }
    }
}

/// The `o=` line: who made the session description, and which version of it this is.
///
/// Its `Debug` hides the user name, which some user agents fill with a phone number.
#[derive(Clone, PartialEq, Eq)]
pub struct Origin {
    pub(crate) username: String,
    pub(crate) session_id: String,
    pub(crate) version: u64,
    pub(crate) addr_type: AddrType,
    pub(crate) address: String,
}

impl Origin {
    /// `<username>` (`-` when the user agent has none).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// `<sess-id>`, kept as text: RFC 8866 only says "numeric string", and carriers send
    /// values wider than 64 bits.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// `<sess-version>`, which RFC 3264 §8 makes increase by one with every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `IP4` or `IP6`.
    pub fn addr_type(&self) -> AddrType {
        self.addr_type
    }

    /// `<unicast-address>` as written: an IP literal or a host name (RFC 8866 allows both here).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The address, when it is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    pub(crate) fn to_line(&self) -> String {
        format!(
            "o={} {} {} IN {} {}",
            self.username,
            self.session_id,
            self.version,
            self.addr_type.as_str(),
            self.address
        )
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("username", &"<redacted>")
            .field("session_id", &self.session_id)
            .field("version", &self.version)
            .field("address", &self.address)
            .finish()
    }
}

/// A `c=` line: where media is sent (RFC 8866 §5.7). Only IP literals are accepted: a relay
/// that resolved host names would need a resolver, which a sans-IO crate does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The address.
    pub address: IpAddr,
    /// IPv4 multicast TTL (`/ttl`), when given.
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses (`/count`), when given.
    pub count: Option<u32>,
}

impl Connection {
    /// A plain unicast connection line for `address`.
    pub fn new(address: IpAddr) -> Self {
        Connection { address, ttl: None, count: None }
    }

    /// The address is multicast. A relay anchors unicast media only: callers refuse or flag
    /// such a stream, the parser keeps it so that the caller can say why.
    pub fn is_multicast(&self) -> bool {
        self.address.is_multicast()
    }

    /// `0.0.0.0` (or `::`): RFC 2543-style hold, "send nothing here". RFC 3264 §8.4 replaced it
    /// with `a=sendonly`, but carriers still send it.
    pub fn is_hold(&self) -> bool {
        self.address.is_unspecified()
    }

    pub(crate) fn to_line(self) -> String {
        let mut s = format!("c=IN {} {}", AddrType::of(self.address).as_str(), self.address);
        if let Some(ttl) = self.ttl {
            s.push_str(&format!("/{ttl}"));
        }
        if let Some(count) = self.count {
            s.push_str(&format!("/{count}"));
        }
        s
    }
}

/// The transport protocols of an `m=` line the relay knows. Anything else (`udptl`, `TCP/MSRP`,
/// …) is kept as written and reported as `None` by [`Media::proto`](super::Media::proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `RTP/AVP`: plain RTP (RFC 3551).
    RtpAvp,
    /// `RTP/AVPF`: RTP with RTCP feedback (RFC 4585).
    RtpAvpf,
    /// `RTP/SAVP`: SRTP, keys from SDES `a=crypto` (RFC 3711, RFC 4568).
    RtpSavp,
    /// `RTP/SAVPF`: SRTP with feedback.
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVP`: DTLS-SRTP (RFC 5764).
    UdpTlsRtpSavp,
    /// `UDP/TLS/RTP/SAVPF`: DTLS-SRTP with feedback, what browsers offer.
    UdpTlsRtpSavpf,
}

impl Proto {
    const ALL: [Proto; 6] = [
        Proto::RtpAvp,
        Proto::RtpAvpf,
        Proto::RtpSavp,
        Proto::RtpSavpf,
        Proto::UdpTlsRtpSavp,
        Proto::UdpTlsRtpSavpf,
    ];

    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpAvpf => "RTP/AVPF",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::RtpSavpf => "RTP/SAVPF",
            Proto::UdpTlsRtpSavp => "UDP/TLS/RTP/SAVP",
            Proto::UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
        }
    }

    /// Recognises a token; case-insensitive because some devices send `rtp/avp`.
    pub fn parse(s: &str) -> Option<Self> {
        Proto::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// Media is SRTP (SDES or DTLS keyed).
    pub fn is_secure(self) -> bool {
        !matches!(self, Proto::RtpAvp | Proto::RtpAvpf)
    }

    /// Keys come from a DTLS handshake rather than `a=crypto`.
    pub fn is_dtls(self) -> bool {
        matches!(self, Proto::UdpTlsRtpSavp | Proto::UdpTlsRtpSavpf)
    }

    /// The AVPF profile (RTCP feedback).
    pub fn has_feedback(self) -> bool {
        matches!(self, Proto::RtpAvpf | Proto::RtpSavpf | Proto::UdpTlsRtpSavpf)
    }
}

/// Media direction attributes (RFC 8866 §6.7). Absent everywhere means `sendrecv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`.
    #[default]
    SendRecv,
    /// `a=sendonly`: the side that wrote this SDP sends but does not receive (it holds).
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive]
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
    }
}

/// `a=rtcp` (RFC 3605): where RTCP goes when it is not on the RTP port + 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the connection address.
    pub address: Option<IpAddr>,
}

impl Rtcp {
    pub(crate) fn to_line(self) -> String {
        match self.address {
            None => format!("a=rtcp:{}", self.port),
            Some(a) => format!("a=rtcp:{} IN {} {}", self.port, AddrType::of(a).as_str(), a),
        }
    }
}

/// `a=setup` (RFC 4145, RFC 5763): which side opens the DTLS connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`: this side starts the handshake.
    Active,
    /// `passive`: this side waits for it.
    Passive,
    /// `actpass`: either; the answerer chooses (an offer's usual value).
    ActPass,
    /// `holdconn`: no connection for now.
    HoldConn,
}

impl Setup {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "active" => Some(Setup::Active),
            "passive" => Some(Setup::Passive),
            "actpass" => Some(Setup::ActPass),
            "holdconn" => Some(Setup::HoldConn),
            _ => None,
        }
    }
}

/// An RTP payload format: what `a=rtpmap` says, or the RFC 3551 static assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Codec<'a> {
    /// The payload type.
    pub pt: u8,
    /// The encoding name as written (`PCMU`, `telephone-event`, `opus`); compare it
    /// case-insensitively, as RFC 4855 §3 says.
    pub name: &'a str,
    /// RTP clock rate, Hz.
    pub clock_rate: u32,
    /// Encoding parameters (channels, for audio), when given.
    pub channels: Option<u16>,
}

impl Codec<'_> {
    /// This is RFC 4733 `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }
}

/// The static payload types of RFC 3551 tables 4 and 5 that user agents may leave without
/// `a=rtpmap` (RFC 8866 §6.6). Payload types 1, 2 and 19 are reserved and not listed.
const STATIC: [(u8, &str, u32, Option<u16>); 23] = [
    (0, "PCMU", 8000, Some(1)),
    (3, "GSM", 8000, Some(1)),
    (4, "G723", 8000, Some(1)),
    (5, "DVI4", 8000, Some(1)),
    (6, "DVI4", 16000, Some(1)),
    (7, "LPC", 8000, Some(1)),
    (8, "PCMA", 8000, Some(1)),
    (9, "G722", 8000, Some(1)),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, Some(1)),
    (12, "QCELP", 8000, Some(1)),
    (13, "CN", 8000, Some(1)),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, Some(1)),
    (16, "DVI4", 11025, Some(1)),
    (17, "DVI4", 22050, Some(1)),
    (18, "G729", 8000, Some(1)),
    (25, "CelB", 90000, None),
    (26, "JPEG", 90000, None),
    (28, "nv", 90000, None),
    (31, "H261", 90000, None),
    (32, "MPV", 90000, None),
    (34, "H263", 90000, None),
];

/// The RFC 3551 static assignment of `pt`, if it has one. (33, MP2T, is left out: it has no
/// channel count and nobody sends it to a contact center.)
pub fn static_codec(pt: u8) -> Option<Codec<'static>> {
    STATIC.iter().find(|s| s.0 == pt).map(|&(pt, name, clock_rate, channels)| Codec {
        pt,
        name,
        clock_rate,
        channels,
    })
}

/// The addresses a stream's remote side receives on, as far as its SDP tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// Where RTP goes: the media-level `c=` (else the session-level one) and the `m=` port.
    pub rtp: SocketAddr,
    /// Where RTCP goes: the RTP address when `a=rtcp-mux` is present, else `a=rtcp`'s port
    /// (and address, if it has one), else the RTP port + 1; `None` when the RTP port is 65535
    /// and nothing else was said.
    pub rtcp: Option<SocketAddr>,
    /// `a=rtcp-mux` is present. In an offer this is a proposal the answer may decline.
    pub rtcp_mux: bool,
    /// The address is `0.0.0.0` or `::` (RFC 2543 hold): send nothing.
    pub hold: bool,
    /// The address is multicast, which the relay does not anchor.
    pub multicast: bool,
}

/// A secret value borrowed from an SDP (`a=crypto`, `a=ice-pwd`, …): its `Debug` prints
/// `<redacted>`, and it has no `Display`, so it cannot end up in a log by accident. Call
/// [`expose`](Secret::expose) where the value is really needed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret<'a>(pub(crate) &'a str);

impl<'a> Secret<'a> {
    /// The value itself. Never log it.
    pub fn expose(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
