//! The parser: body → lines → session part and media sections, each line kept as written next
//! to what the relay understood of it.
//!
//! Lenient where carriers are sloppy (LF-only line ends, trailing blanks, blank lines, unknown
//! line types and attributes, lower-case tokens, odd `a=ptime` values), strict where a wrong
//! guess would misroute media or mis-handle digits (`o=`, `c=`, `m=`, `a=rtcp`, `a=rtpmap`).

use super::types::{AddrType, Connection, Direction, Origin, Rtcp};
use super::{Media, Sdp};
use std::net::IpAddr;

/// How much input the parser accepts. An SDP from a real device is a few kilobytes with a few
/// dozen lines; the defaults leave ample room (a browser offer with video, simulcast and many
/// candidates stays under 20 KiB) while bounding what a hostile peer can make us hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_bytes: usize,
    /// Most lines (blank lines not counted).
    pub max_lines: usize,
    /// Most `m=` sections.
    pub max_media: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 64 * 1024, max_lines: 2048, max_media: 64 }
    }
}

/// Why an SDP body was refused.
///
/// No variant carries text from the body: an SDP may hold SRTP master keys (`a=crypto`), ICE
/// passwords and phone numbers, and errors end up in logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is larger than [`Limits::max_bytes`].
    #[error("SDP body of {len} bytes is larger than the limit of {max}")]
    TooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body has more lines than [`Limits::max_lines`].
    #[error("line {line}: more than {max} lines")]
    TooManyLines {
        /// The first line over the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// The body has more `m=` sections than [`Limits::max_media`].
    #[error("line {line}: more than {max} media sections")]
    TooManyMedia {
        /// The `m=` line over the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// The body has no line at all.
    #[error("empty SDP body")]
    Empty,
    /// There is no `o=` line; the relay needs one to version what it sends.
    #[error("no o= line")]
    NoOrigin,
    /// One line is malformed.
    #[error("line {line}: {problem}")]
    Line {
        /// 1-based line number in the body as received (blank lines counted).
        line: usize,
        /// What is wrong with it.
        problem: LineError,
    },
}

/// What is wrong with one line. The messages name the field, never its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The line holds a control character (a stray CR, NUL, …); a peer that split lines on
    /// it would read a different SDP than we do.
    #[error("control character in line")]
    ControlCharacter,
    /// The line is not `<letter>=<value>`.
    #[error("not a <type>=<value> line")]
    NotTypeValue,
    /// The first line is not `v=0`.
    #[error("expected v=0 as the first line")]
    ExpectedVersion,
    /// A second `v=` line.
    #[error("second v= line")]
    DuplicateVersion,
    /// A second `o=` line.
    #[error("second o= line")]
    DuplicateOrigin,
    /// An `o=` line inside a media section.
    #[error("o= line in a media section")]
    OriginInMedia,
    /// A second `c=` line at session level.
    #[error("second c= line at session level")]
    DuplicateConnection,
    /// `o=` does not have its six fields.
    #[error("o= line does not have six fields")]
    OriginFields,
    /// The `o=` session version is not a number that fits in 64 bits.
    #[error("bad session version in o= line")]
    OriginVersion,
    /// The network type is not `IN`.
    #[error("network type is not IN")]
    NetworkType,
    /// The address type is not `IP4` or `IP6`.
    #[error("address type is not IP4 or IP6")]
    AddressType,
    /// `c=` does not have its three fields.
    #[error("c= line does not have three fields")]
    ConnectionFields,
    /// The `c=` address is not an IP literal of the stated type.
    #[error("bad address in c= line")]
    ConnectionAddress,
    /// The `c=` multicast TTL or address count is malformed.
    #[error("bad TTL or address count in c= line")]
    ConnectionSuffix,
    /// `m=` does not have media, port and proto.
    #[error("m= line does not have media, port and proto")]
    MediaFields,
    /// The `m=` port is not a number from 0 to 65535.
    #[error("bad port in m= line")]
    MediaPort,
    /// The `m=` port count (`port/count`) is malformed or zero.
    #[error("bad port count in m= line")]
    MediaPortCount,
    /// A used stream (port not 0) lists no format.
    #[error("no format in m= line")]
    MediaFormats,
    /// The `a=rtcp` port is not a number from 0 to 65535.
    #[error("bad port in a=rtcp")]
    RtcpPort,
    /// The `a=rtcp` address part is not `IN IP4|IP6 <IP literal>`.
    #[error("bad address in a=rtcp")]
    RtcpAddress,
    /// `a=rtpmap` is not `<pt> <name>/<clock rate>[/<channels>]` with a payload type up to
    /// 127.
    #[error("malformed a=rtpmap")]
    Rtpmap,
}

/// One line as received (without its line end) and what the relay understood of it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) raw: String,
    pub(crate) kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `v=`.
    Version,
    /// `o=`: the typed value lives in [`Sdp`], this marks where the line goes.
    Origin,
    /// `c=`.
    Connection(Connection),
    /// `i=`: kept apart because a media-level `c=` must come after it.
    Info,
    /// `k=` (obsolete; it can hold a clear-text key).
    Key,
    /// `a=`.
    Attr(Attr),
    /// Every other line (`s=`, `t=`, `b=`, `u=`, unknown letters…).
    Other,
}

/// The attributes the relay reads or rewrites; everything else is `Other` and kept as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Attr {
    Rtpmap {
        pt: u8,
        clock_rate: u32,
        channels: Option<u16>,
    },
    /// `a=fmtp:<format>`: the payload type when the format is a number.
    Fmtp(Option<u8>),
    /// `a=rtcp-fb:<pt>|*`: the payload type when not `*`.
    RtcpFb(Option<u8>),
    /// Lenient: a value that is not a whole number of milliseconds reads as `None`.
    Ptime(Option<u32>),
    MaxPtime(Option<u32>),
    Rtcp(Rtcp),
    RtcpMux,
    RtcpMuxOnly,
    Direction(Direction),
    Crypto,
    KeyMgmt,
    Candidate,
    RemoteCandidates,
    IceUfrag,
    IcePwd,
    IceOptions,
    IceLite,
    IceMismatch,
    IcePacing,
    EndOfCandidates,
    Fingerprint,
    Setup,
    TlsId,
    Other,
}

impl Attr {
    pub(crate) fn is_ice(&self) -> bool {
        matches!(
            self,
            Attr::Candidate
                | Attr::RemoteCandidates
                | Attr::IceUfrag
                | Attr::IcePwd
                | Attr::IceOptions
                | Attr::IceLite
                | Attr::IceMismatch
                | Attr::IcePacing
                | Attr::EndOfCandidates
        )
    }

    pub(crate) fn is_dtls(&self) -> bool {
        matches!(self, Attr::Fingerprint | Attr::Setup | Attr::TlsId)
    }

    /// Its value is a secret: never printed.
    pub(crate) fn is_secret(&self) -> bool {
        matches!(self, Attr::Crypto | Attr::KeyMgmt | Attr::IcePwd)
    }
}

impl Line {
    pub(crate) fn new(raw: String, kind: Kind) -> Self {
        Line { raw, kind }
    }

    /// The line's value: what follows `x=`, trailing blanks trimmed.
    pub(crate) fn value(&self) -> &str {
        self.raw.get(2..).unwrap_or("").trim_end()
    }

    pub(crate) fn attr(&self) -> Option<&Attr> {
        match &self.kind {
            Kind::Attr(a) => Some(a),
            _ => None,
        }
    }

    /// For `a=name:value`, the value (blanks around it trimmed); `""` for a flag attribute.
    pub(crate) fn attr_value(&self) -> &str {
        self.value().split_once(':').map_or("", |(_, v)| v.trim_start())
    }

    /// For `a=name[:value]`, the name.
    pub(crate) fn attr_name(&self) -> &str {
        let v = self.value();
        v.split_once(':').map_or(v, |(n, _)| n)
    }
}

/// The MIME-ish tokens of an `m=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MediaLine {
    pub(crate) media: String,
    pub(crate) port: u16,
    pub(crate) port_count: Option<u16>,
    pub(crate) proto: String,
    pub(crate) formats: Vec<String>,
}

impl MediaLine {
    pub(crate) fn to_line(&self) -> String {
        let mut s = format!("m={} {}", self.media, self.port);
        if let Some(n) = self.port_count {
            s.push_str(&format!("/{n}"));
        }
        s.push(' ');
        s.push_str(&self.proto);
        for f in &self.formats {
            s.push(' ');
            s.push_str(f);
        }
        s
    }
}

pub(crate) fn parse(body: &[u8], limits: &Limits) -> Result<Sdp, Error> {
    if body.len() > limits.max_bytes {
        return Err(Error::TooLarge { len: body.len(), max: limits.max_bytes });
    }
    let mut session: Vec<Line> = Vec::new();
    let mut media: Vec<Media> = Vec::new();
    let mut origin: Option<Origin> = None;
    let mut lines = 0usize;
    let mut session_c = false;

    for (i, mut bytes) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let err = |problem| Error::Line { line: line_no, problem };
        if let Some(b) = bytes.strip_suffix(b"\r") {
            bytes = b;
        }
        // Blank lines (and lines of blanks) carry nothing; carriers append them after the body.
        if bytes.iter().all(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        lines += 1;
        if lines > limits.max_lines {
            return Err(Error::TooManyLines { line: line_no, max: limits.max_lines });
        }
        let text = core::str::from_utf8(bytes).map_err(|_| err(LineError::NotUtf8))?;
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err(err(LineError::ControlCharacter));
        }
        let tb = text.as_bytes();
        // RFC 8866 §5: the type is one lower-case letter. An upper-case one is refused rather
        // than guessed at: a peer that ignores it would read a different SDP than we do.
        if tb.len() < 2 || !tb[0].is_ascii_lowercase() || tb[1] != b'=' {
            return Err(err(LineError::NotTypeValue));
        }
        let letter = tb[0];
        let value = text[2..].trim_end();
        if lines == 1 {
            if letter != b'v' || value != "0" {
                return Err(err(LineError::ExpectedVersion));
            }
            session.push(Line::new(text.to_owned(), Kind::Version));
            continue;
        }
        let in_media = !media.is_empty();
        let kind = match letter {
            b'v' => return Err(err(LineError::DuplicateVersion)),
            b'o' if in_media => return Err(err(LineError::OriginInMedia)),
            b'o' if origin.is_some() => return Err(err(LineError::DuplicateOrigin)),
            b'o' => {
                origin = Some(parse_origin(value).map_err(err)?);
                Kind::Origin
            }
            b'c' => {
                if !in_media {
                    if session_c {
                        return Err(err(LineError::DuplicateConnection));
                    }
                    session_c = true;
                }
                Kind::Connection(parse_connection(value).map_err(err)?)
            }
            b'i' => Kind::Info,
            b'k' => Kind::Key,
            b'a' => Kind::Attr(parse_attr(value).map_err(err)?),
            b'm' => {
                if media.len() == limits.max_media {
                    return Err(Error::TooManyMedia { line: line_no, max: limits.max_media });
                }
                let m = parse_media(value).map_err(err)?;
                media.push(Media { m, m_raw: text.to_owned(), lines: Vec::new() });
                continue;
            }
            _ => Kind::Other,
        };
        let line = Line::new(text.to_owned(), kind);
        match media.last_mut() {
            Some(m) => m.lines.push(line),
            None => session.push(line),
        }
    }
    if lines == 0 {
        return Err(Error::Empty);
    }
    let origin = origin.ok_or(Error::NoOrigin)?;
    Ok(Sdp { origin, session, media })
}

fn parse_origin(v: &str) -> Result<Origin, LineError> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let &[username, session_id, version, net, addr_type, address] = f.as_slice() else {
        return Err(LineError::OriginFields);
    };
    let version = parse_digits::<u64>(version).ok_or(LineError::OriginVersion)?;
    if !net.eq_ignore_ascii_case("IN") {
        return Err(LineError::NetworkType);
    }
    let addr_type = AddrType::parse(addr_type).ok_or(LineError::AddressType)?;
    Ok(Origin {
        username: username.to_owned(),
        session_id: session_id.to_owned(),
        version,
        addr_type,
        address: address.to_owned(),
    })
}

/// `IN IP4|IP6 <address>`: the IP literal, which must match the address type.
fn parse_address(net: &str, addr_type: &str, address: &str) -> Result<IpAddr, LineError> {
    if !net.eq_ignore_ascii_case("IN") {
        return Err(LineError::NetworkType);
    }
    let t = AddrType::parse(addr_type).ok_or(LineError::AddressType)?;
    match address.parse::<IpAddr>() {
        Ok(a) if AddrType::of(a) == t => Ok(a),
        _ => Err(LineError::ConnectionAddress),
    }
}

fn parse_connection(v: &str) -> Result<Connection, LineError> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let &[net, addr_type, address] = f.as_slice() else {
        return Err(LineError::ConnectionFields);
    };
    let mut parts = address.split('/');
    let ip = parts.next().unwrap_or("");
    let address = parse_address(net, addr_type, ip)?;
    let suffix: Vec<&str> = parts.collect();
    let bad = LineError::ConnectionSuffix;
    let (ttl, count) = match (address, suffix.as_slice()) {
        (_, []) => (None, None),
        (IpAddr::V4(_), [ttl]) => (Some(parse_digits(ttl).ok_or(bad)?), None),
        (IpAddr::V4(_), [ttl, n]) => (Some(parse_digits(ttl).ok_or(bad)?), Some(parse_digits(n).ok_or(bad)?)),
        (IpAddr::V6(_), [n]) => (None, Some(parse_digits(n).ok_or(bad)?)),
        _ => return Err(bad),
    };
    Ok(Connection { address, ttl, count })
}

fn parse_media(v: &str) -> Result<MediaLine, LineError> {
    let mut f = v.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(LineError::MediaFields);
    };
    let (port, port_count) = match port.split_once('/') {
        None => (port, None),
        Some((p, n)) => {
            let n: u16 = parse_digits(n).filter(|&n| n > 0).ok_or(LineError::MediaPortCount)?;
            (p, Some(n))
        }
    };
    let port: u16 = parse_digits(port).ok_or(LineError::MediaPort)?;
    let formats: Vec<String> = f.map(str::to_owned).collect();
    // RFC 3264 §6 keeps the formats of a rejected stream, but some devices drop them: only a
    // stream in use must say what it carries.
    if formats.is_empty() && port != 0 {
        return Err(LineError::MediaFormats);
    }
    Ok(MediaLine { media: media.to_owned(), port, port_count, proto: proto.to_owned(), formats })
}

fn parse_attr(v: &str) -> Result<Attr, LineError> {
    let (name, value) = match v.split_once(':') {
        Some((n, v)) => (n, v.trim()),
        None => (v, ""),
    };
    let lower = name.to_ascii_lowercase();
    let first_pt =
        || value.split_ascii_whitespace().next().and_then(parse_digits::<u8>).filter(|&p| p <= 127);
    Ok(match lower.as_str() {
        "rtpmap" => parse_rtpmap(value)?,
        "fmtp" => Attr::Fmtp(first_pt()),
        "rtcp-fb" => Attr::RtcpFb(first_pt()),
        "ptime" => Attr::Ptime(parse_digits(value)),
        "maxptime" => Attr::MaxPtime(parse_digits(value)),
        "rtcp" => Attr::Rtcp(parse_rtcp(value)?),
        "rtcp-mux" => Attr::RtcpMux,
        "rtcp-mux-only" => Attr::RtcpMuxOnly,
        "crypto" => Attr::Crypto,
        "key-mgmt" => Attr::KeyMgmt,
        "candidate" => Attr::Candidate,
        "remote-candidates" => Attr::RemoteCandidates,
        "ice-ufrag" => Attr::IceUfrag,
        "ice-pwd" => Attr::IcePwd,
        "ice-options" => Attr::IceOptions,
        "ice-lite" => Attr::IceLite,
        "ice-mismatch" => Attr::IceMismatch,
        "ice-pacing" => Attr::IcePacing,
        "end-of-candidates" => Attr::EndOfCandidates,
        "fingerprint" => Attr::Fingerprint,
        "setup" => Attr::Setup,
        "tls-id" => Attr::TlsId,
        _ => match Direction::parse(name) {
            Some(d) if value.is_empty() => Attr::Direction(d),
            _ => Attr::Other,
        },
    })
}

fn parse_rtpmap(v: &str) -> Result<Attr, LineError> {
    let bad = LineError::Rtpmap;
    let mut f = v.split_ascii_whitespace();
    let (Some(pt), Some(enc), None) = (f.next(), f.next(), f.next()) else {
        return Err(bad);
    };
    let pt: u8 = parse_digits(pt).filter(|&p| p <= 127).ok_or(bad)?;
    let mut parts = enc.split('/');
    let name = parts.next().unwrap_or("");
    let clock_rate: u32 = parts.next().and_then(parse_digits).filter(|&c| c > 0).ok_or(bad)?;
    let channels = match parts.next() {
        None => None,
        Some(c) => Some(parse_digits(c).ok_or(bad)?),
    };
    if name.is_empty() || parts.next().is_some() {
        return Err(bad);
    }
    Ok(Attr::Rtpmap { pt, clock_rate, channels })
}

fn parse_rtcp(v: &str) -> Result<Rtcp, LineError> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let Some((port, rest)) = f.split_first() else {
        return Err(LineError::RtcpPort);
    };
    let port: u16 = parse_digits(port).ok_or(LineError::RtcpPort)?;
    let address = match rest {
        [] => None,
        [net, t, a] => Some(parse_address(net, t, a).map_err(|_| LineError::RtcpAddress)?),
        _ => return Err(LineError::RtcpAddress),
    };
    Ok(Rtcp { port, address })
}

/// ASCII digits only (no sign, no blanks, no `+`), as SDP's grammar has them.
pub(crate) fn parse_digits<T: core::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
