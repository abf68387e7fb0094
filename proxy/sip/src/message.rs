//! SIP messages (RFC 3261 §7): parsing from bytes, the few typed views a B2BUA needs, and writing.
//!
//! A message keeps its headers in order as (name, value) pairs, the value as received with line
//! folding undone. Typed views ([`Via`], [`NameAddr`], [`CSeq`], [`Uri`]) are parsed on demand,
//! so a header the proxy never reads costs nothing beyond its bytes and an unknown header is
//! carried through untouched. Content-Length is framing: it is not kept among the headers, and
//! writing always emits the body's length, so a parsed message writes back to itself.
//!
//! Parsing is strict where a wrong guess would be harmful (start line, the headers every
//! transaction is keyed on — Via, From, To, Call-ID, CSeq, Max-Forwards — and Content-Length,
//! each to RFC 3261's grammar as RFC 4475 tortures it) and tolerant where RFC 3261 §7.3.1 asks
//! for it (whitespace around the colon, folded lines, case of header names, compact forms, bare
//! LF). Bytes that are not UTF-8 become U+FFFD rather than an error.
//! What it does not do: the checks that depend on Tonewall's role (416, 420, 483… in
//! [`crate::validate`]) or on the dialog (those are the caller's).

use std::fmt;

/// Why bytes are not a SIP message. The text is safe to put in a 400's reason phrase: it names
/// what is wrong, never echoes the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No blank line ends the header section.
    #[error("Incomplete Header Section")]
    Incomplete,
    /// The first line is neither a request line nor a status line.
    #[error("Bad Start Line")]
    StartLine,
    /// The SIP version is not SIP/2.0.
    #[error("Unsupported SIP Version")]
    Version,
    /// A header line has no name or colon, or a name with characters a token cannot have.
    #[error("Bad Header Line")]
    HeaderLine,
    /// A header the transaction layer needs is missing.
    #[error("Missing {0} Header")]
    Missing(&'static str),
    /// A header that may appear once appears with different values, or cannot be parsed.
    #[error("Bad {0} Header")]
    BadHeader(&'static str),
    /// Content-Length says more bytes than the message has.
    #[error("Content-Length Exceeds Body")]
    ShortBody,
    /// The Request-URI cannot be parsed.
    #[error("Bad Request-URI")]
    RequestUri,
    /// The method is not one this element knows and the CSeq names another. RFC 4475 §3.1.2.18
    /// prefers 501 to 400 here: the element cannot tell a new method's rules from a mistake.
    #[error("Unknown Method")]
    UnknownMethod,
}

impl ParseError {
    /// The status a server answers a request with when parsing fails this way (RFC 3261 §8.2,
    /// RFC 4475 §3.1.2): 505 for another SIP version, 501 for an unknown method whose CSeq does
    /// not match, 400 for everything else. A response that fails to parse is dropped instead.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Version => 505,
            ParseError::UnknownMethod => 501,
            _ => 400,
        }
    }
}

/// A request method (RFC 3261 §7.1 and the extensions a contact center sees).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// An extension method, case preserved (methods are case-sensitive).
    Other(String),
}

impl Method {
    /// The method of a token (case-sensitive, as RFC 3261 §7.1 says).
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        }
    }

    /// A bounded label for metrics: the method's name, or `other` for extension methods (whose
    /// names a peer chooses, so they must not become label values).
    pub fn label(&self) -> &'static str {
        match self {
            Method::Other(_) => "other",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(s) => s,
            known => known.label(),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names with a compact form or that the proxy reads; everything else keeps its spelling.
const COMPACT: &[(&str, &str)] = &[
    ("v", "Via"),
    ("f", "From"),
    ("t", "To"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("e", "Content-Encoding"),
    ("k", "Supported"),
    ("s", "Subject"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
];

/// The canonical spelling of well-known header names, so lookups compare one way.
const CANONICAL: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Max-Forwards",
    "Route",
    "Record-Route",
    "Expires",
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Require",
    "Proxy-Require",
    "Supported",
    "Allow",
    "User-Agent",
    "Server",
];

fn canonical_name(name: &str) -> String {
    if name.len() == 1
        && let Some((_, long)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name))
    {
        return (*long).to_string();
    }
    match CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        Some(c) => (*c).to_string(),
        None => name.to_string(),
    }
}

/// One header line: its name (canonical spelling for well-known names) and its value with
/// folding undone and surrounding whitespace trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The name; compare with [`Header::is`].
    pub name: String,
    /// The value as received.
    pub value: String,
}

impl Header {
    /// Whether this header is `name` (case-insensitive; compact forms were expanded on parse).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Headers in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|h| h.is(name)).map(|h| h.value.as_str())
    }

    /// Every header line named `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |h| h.is(name)).map(|h| h.value.as_str())
    }

    /// Every comma-separated value of every `name` line, in order (for Via, Route, Contact…).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.all(name).flat_map(split_list)
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header { name: canonical_name(name), value: value.into() });
    }

    /// Puts a header first (a new top Via).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(0, Header { name: canonical_name(name), value: value.into() });
    }

    /// Replaces every `name` line with one line (or appends it).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|h| h.is(name)) {
            Some(i) => {
                self.0[i].value = value;
                let mut n = 0;
                self.0.retain(|h| {
                    !h.is(name) || {
                        n += 1;
                        n == 1
                    }
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every `name` line.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.is(name));
    }

    /// Removes the first value of `name` (the top Via), splitting a comma list if needed.
    pub fn pop_first_value(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|h| h.is(name))?;
        let values = split_list(&self.0[i].value);
        let first = values.first().map(|s| s.to_string())?;
        if values.len() == 1 {
            self.0.remove(i);
        } else {
            self.0[i].value = values[1..].join(", ");
        }
        Some(first)
    }
}

/// Splits a header value at top-level commas (not inside quotes or `<>`), trimming each part
/// and skipping empty ones.
pub fn split_list(value: &str) -> Vec<&str> {
    list_parts(value).into_iter().filter(|p| !p.is_empty()).collect()
}

/// Like [`split_list`], but `None` when an element is empty (`a,,b` or a trailing comma): the
/// grammar of every list header has no empty elements.
pub fn split_list_checked(value: &str) -> Option<Vec<&str>> {
    let parts = list_parts(value);
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

fn list_parts(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI as written.
    pub uri: String,
    /// Headers in order.
    pub headers: Headers,
    /// The body (Content-Length bytes of it).
    pub body: Vec<u8>,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100–699.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// Writes the message (see [`Request::write`]).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write(out),
            Message::Response(r) => r.write(out),
        }
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        self.write(&mut out);
        out
    }
}

fn write_headers(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    for h in headers.0.iter().filter(|h| !h.is("Content-Length")) {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

impl Request {
    /// A request with no headers yet.
    pub fn new(method: Method, uri: impl Into<String>) -> Request {
        Request { method, uri: uri.into(), headers: Headers::default(), body: Vec::new() }
    }

    /// Writes the request; Content-Length is always the body's length.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{} {} SIP/2.0\r\n", self.method, self.uri).as_bytes());
        write_headers(&self.headers, &self.body, out);
    }

    /// The request as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write(&mut out);
        out
    }

    /// The response to this request that RFC 3261 §8.2.6.2 describes: Via, From, To (with
    /// `to_tag` added when the request's To has none), Call-ID and CSeq copied.
    pub fn response(&self, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::default();
        for h in &self.headers.0 {
            if h.is("Via") || h.is("From") || h.is("Call-ID") || h.is("CSeq") {
                headers.0.push(h.clone());
            } else if h.is("To") {
                let mut value = h.value.clone();
                if let (Some(tag), Ok(to)) = (to_tag, NameAddr::parse(&h.value))
                    && to.param("tag").is_none()
                    && status > 100
                {
                    value.push_str(";tag=");
                    value.push_str(tag);
                }
                headers.0.push(Header { name: "To".into(), value });
            }
        }
        Response { status, reason: reason.to_string(), headers, body: Vec::new() }
    }
}

impl Response {
    /// Writes the response; Content-Length is always the body's length.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("SIP/2.0 {} {}\r\n", self.status, self.reason).as_bytes());
        write_headers(&self.headers, &self.body, out);
    }

    /// The response as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write(&mut out);
        out
    }
}

/// The typed views of the headers every message has, for requests and responses alike.
macro_rules! header_views {
    ($ty:ty) => {
        impl $ty {
            /// The top Via.
            pub fn top_via(&self) -> Option<Via> {
                self.headers.values("Via").next().and_then(|v| Via::parse(v).ok())
            }

            /// The CSeq.
            pub fn cseq(&self) -> Option<CSeq> {
                self.headers.get("CSeq").and_then(CSeq::parse)
            }

            /// The Call-ID.
            pub fn call_id(&self) -> &str {
                self.headers.get("Call-ID").unwrap_or("")
            }

            /// The From header.
            pub fn from(&self) -> Option<NameAddr> {
                self.headers.get("From").and_then(|v| NameAddr::parse(v).ok())
            }

            /// The To header.
            pub fn to(&self) -> Option<NameAddr> {
                self.headers.get("To").and_then(|v| NameAddr::parse(v).ok())
            }
        }
    };
}

header_views!(Request);
header_views!(Response);

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// The header section cut into its start line and header lines (folding undone), and the rest.
pub(crate) struct Head<'a> {
    /// The start line.
    pub(crate) start: String,
    /// Header lines, continuation lines joined to theirs.
    pub(crate) lines: Vec<String>,
    /// The bytes after the blank line.
    pub(crate) rest: &'a [u8],
}

/// Splits `bytes` into the start line, the header lines (folding undone) and what follows.
///
/// Bytes that are not UTF-8 (RFC 3261 §25 allows only UTF-8 in header values) become U+FFFD:
/// a B2BUA re-originates every message, and what it sends must be well-formed even when a
/// legacy peer wrote a Latin-1 display name. Lines end at LF; one CR before it is dropped.
pub(crate) fn split_head(bytes: &[u8]) -> Result<Head<'_>, ParseError> {
    // Leading CRLFs are keep-alive noise (RFC 3261 §7.5).
    let mut i = 0;
    while i < bytes.len() && (bytes[i] == b'\r' || bytes[i] == b'\n') {
        i += 1;
    }
    let mut start: Option<String> = None;
    let mut lines: Vec<String> = Vec::new();
    loop {
        let rest = &bytes[i..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(ParseError::Incomplete);
        };
        let mut line = &rest[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        i += nl + 1;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if start.is_none() {
            start = Some(text.into_owned());
        } else if line[0] == b' ' || line[0] == b'\t' {
            // A folded continuation: one space stands for the line break (§7.3.1). The start
            // line cannot be folded.
            let last = lines.last_mut().ok_or(ParseError::StartLine)?;
            last.push(' ');
            last.push_str(text.trim());
        } else {
            lines.push(text.into_owned());
        }
    }
    Ok(Head { start: start.ok_or(ParseError::Incomplete)?, lines, rest: &bytes[i..] })
}

/// One header line as (name, value), or why it is not one.
pub(crate) fn header_line(line: &str) -> Result<Header, ParseError> {
    let colon = line.find(':').ok_or(ParseError::HeaderLine)?;
    let name = line[..colon].trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return Err(ParseError::HeaderLine);
    }
    Ok(Header { name: canonical_name(name), value: line[colon + 1..].trim().to_string() })
}

/// What a start line says.
enum StartLine {
    Request(Method, String),
    Response(u16, String),
}

fn start_line(start: &str) -> Result<StartLine, ParseError> {
    if let Some(status_line) = start.strip_prefix("SIP/") {
        let mut parts = status_line.splitn(3, ' ');
        if parts.next() != Some("2.0") {
            return Err(ParseError::Version);
        }
        let code = parts.next().unwrap_or("");
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StartLine);
        }
        let status: u16 = code.parse().map_err(|_| ParseError::StartLine)?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::StartLine);
        }
        return Ok(StartLine::Response(status, parts.next().unwrap_or("").to_string()));
    }
    // Exactly one SP between the three elements and none after (RFC 4475 §3.1.2.9, §3.1.2.10).
    let mut parts = start.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    if !is_token(method) || !version.starts_with("SIP/") {
        return Err(ParseError::StartLine);
    }
    if version != "SIP/2.0" {
        return Err(ParseError::Version);
    }
    request_uri(uri)?;
    Ok(StartLine::Request(Method::from_token(method), uri.to_string()))
}

/// A Request-URI must be an absolute URI (no `<>`, no LWS: RFC 4475 §3.1.2.7, §3.1.2.8); a SIP
/// or SIPS one must parse. Another scheme passes here: it is well-formed, and the answer to it
/// (416) is the validator's.
fn request_uri(uri: &str) -> Result<(), ParseError> {
    match Uri::parse(uri) {
        Ok(_) | Err(UriError::Scheme) => Ok(()),
        Err(UriError::Syntax) => Err(ParseError::RequestUri),
    }
}

/// Parses one whole message (a datagram, or a frame cut from a stream).
///
/// For a datagram RFC 3261 §18.3 applies: bytes past Content-Length are ignored, fewer bytes
/// than Content-Length make the message invalid, and without Content-Length the body is the rest.
/// Content-Length is framing, not content: it is not kept among the headers, and writing emits
/// the body's true length. So `parse(write(m)) == m` for every parsed `m`.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let head = split_head(bytes)?;
    let start = start_line(&head.start)?;
    let mut headers = Headers::default();
    for line in &head.lines {
        headers.0.push(header_line(line)?);
    }
    let body = match content_length(&headers)? {
        Some(n) if n > head.rest.len() => return Err(ParseError::ShortBody),
        Some(n) => head.rest[..n].to_vec(),
        None => head.rest.to_vec(),
    };
    headers.remove("Content-Length");
    check_common(&headers)?;
    match start {
        StartLine::Response(status, reason) => {
            Ok(Message::Response(Response { status, reason, headers, body }))
        }
        StartLine::Request(method, uri) => {
            let request = Request { method, uri, headers, body };
            let cseq = request.cseq().ok_or(ParseError::BadHeader("CSeq"))?;
            if cseq.method != request.method {
                return Err(match request.method {
                    Method::Other(_) => ParseError::UnknownMethod,
                    _ => ParseError::BadHeader("CSeq"),
                });
            }
            Ok(Message::Request(request))
        }
    }
}

/// Content-Length (digits only), which may appear more than once only with the same value
/// (RFC 4475 §3.1.2.3 `ncl`, §3.3.9 `mcl01`).
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for v in headers.all("Content-Length") {
        let n = digits::<usize>(v).ok_or(ParseError::BadHeader("Content-Length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::BadHeader("Content-Length"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// A decimal number of ASCII digits only (`str::parse` would also take a sign), in range.
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// The headers every message needs before a transaction can be found for it (§8.1.1), and
/// the single-valued ones it must not carry twice (RFC 4475 §3.3.8).
fn check_common(headers: &Headers) -> Result<(), ParseError> {
    let single = |name: &'static str| -> Result<Option<&str>, ParseError> {
        let mut values = headers.all(name);
        let Some(first) = values.next() else { return Ok(None) };
        if values.any(|v| v != first) {
            return Err(ParseError::BadHeader(name));
        }
        Ok(Some(first))
    };
    let required = |name: &'static str| single(name)?.ok_or(ParseError::Missing(name));
    let call_id = required("Call-ID")?;
    if call_id.is_empty() || call_id.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(ParseError::BadHeader("Call-ID"));
    }
    CSeq::parse(required("CSeq")?).ok_or(ParseError::BadHeader("CSeq"))?;
    NameAddr::parse(required("From")?).map_err(|_| ParseError::BadHeader("From"))?;
    NameAddr::parse(required("To")?).map_err(|_| ParseError::BadHeader("To"))?;
    let mut vias = 0;
    for line in headers.all("Via") {
        // Every Via is copied into responses; an empty element (`,,`) or a bad one is a 400
        // (RFC 4475 §3.1.2.1).
        for via in split_list_checked(line).ok_or(ParseError::BadHeader("Via"))? {
            Via::parse(via).map_err(|_| ParseError::BadHeader("Via"))?;
            vias += 1;
        }
    }
    if vias == 0 {
        return Err(ParseError::Missing("Via"));
    }
    if let Some(mf) = single("Max-Forwards")? {
        digits::<u8>(mf).ok_or(ParseError::BadHeader("Max-Forwards"))?;
    }
    Ok(())
}

/// A CSeq header: sequence number and method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (< 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1 INVITE`.
    pub fn parse(value: &str) -> Option<CSeq> {
        let mut parts = value.split_whitespace();
        let (Some(seq), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let seq: u32 = digits(seq)?;
        if seq >= 1 << 31 || !is_token(method) {
            return None;
        }
        Some(CSeq { seq, method: Method::from_token(method) })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `;name=value` parameters in order; names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// Header parameters (`generic-param`, RFC 3261 §25.1): `token [= token / host /
    /// quoted-string]`, LWS allowed around `=` and `;`. An empty parameter (`;;`) is an error
    /// (RFC 4475 §3.1.2.1).
    fn parse_header(s: &str) -> Result<Params, UriError> {
        let mut out = Vec::new();
        for part in split_unquoted(s, ';') {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part.trim(), None),
            };
            if !is_token(name) {
                return Err(UriError::Syntax);
            }
            if let Some(v) = value
                && !(quoted_string_len(v) == Some(v.len())
                    || !v.is_empty() && v.bytes().all(|b| is_token_char(b) || b"[]:".contains(&b)))
            {
                return Err(UriError::Syntax);
            }
            out.push((name.to_string(), value.map(str::to_string)));
        }
        Ok(Params(out))
    }

    /// URI parameters (`uri-parameter`, RFC 3261 §25.1): `pname [= pvalue]`, both non-empty
    /// strings of `paramchar`, no whitespace.
    fn parse_uri(s: &str) -> Result<Params, UriError> {
        let mut out = Vec::new();
        for part in s.split(';') {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (part, None),
            };
            if name.is_empty() || !uri_chars(name, PARAM_CHARS) {
                return Err(UriError::Syntax);
            }
            if let Some(v) = value
                && (v.is_empty() || !uri_chars(v, PARAM_CHARS))
            {
                return Err(UriError::Syntax);
            }
            out.push((name.to_string(), value.map(str::to_string)));
        }
        Ok(Params(out))
    }

    /// The value of `name` (`Some("")` for a flag parameter such as `;lr`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Sets or adds `name`.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        match self.0.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(p) => p.1 = value.map(str::to_string),
            None => self.0.push((name.to_string(), value.map(str::to_string))),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// The length of the quoted-string `s` starts with (RFC 3261 §25.1: `qdtext` is LWS, printable
/// ASCII but `"` and `\`, or UTF-8; `quoted-pair` escapes any ASCII but CR and LF), or `None`
/// when `s` does not start with a complete one.
fn quoted_string_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some(i + 1),
            '\\' => {
                let (_, e) = chars.next()?;
                if !e.is_ascii() || e == '\r' || e == '\n' {
                    return None;
                }
            }
            ' ' | '\t' => {}
            c if c.is_ascii_control() => return None,
            _ => {}
        }
    }
    None
}

/// Characters a SIP URI's user part may hold besides `unreserved` and escapes.
const USER_CHARS: &[u8] = b"&=+$,;?/";
/// … its password.
const PASSWORD_CHARS: &[u8] = b"&=+$,";
/// … a URI parameter's name or value.
const PARAM_CHARS: &[u8] = b"[]/:&+$";
/// … a header name or value in `?headers`, with the separators `=` and `&`.
const HEADER_CHARS: &[u8] = b"[]/?:+$=&";
/// … the part of any absolute URI after its scheme (`reserved` plus `#` for fragments).
const ABSOLUTE_CHARS: &[u8] = b";/?:@&=+$,#[]";

/// Whether `s` is made of `unreserved` characters, `%HH` escapes and `extra` (RFC 3261 §25.1).
fn uri_chars(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                    return false;
                }
                i += 3;
                continue;
            }
            c if c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c) || extra.contains(&c) => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

/// `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`.
fn is_scheme(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// A SIP or SIPS URI (RFC 3261 §19.1); other schemes keep only their text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    /// `sip` or `sips`, lower-cased.
    pub scheme: String,
    /// The user part, as written (escapes kept; it may hold `;`, `?` and `/`).
    pub user: Option<String>,
    /// The password after the user and a `:` (deprecated by RFC 3261 §19.1.1, still legal).
    pub password: Option<String>,
    /// The host: a name, an IPv4 address, or an IPv6 reference with its brackets.
    pub host: String,
    /// The port.
    pub port: Option<u16>,
    /// URI parameters.
    pub params: Params,
    /// `?headers`, as written, without the `?`.
    pub headers: Option<String>,
}

impl Uri {
    /// Parses a `sip:`/`sips:` URI; a well-formed URI of another scheme is [`UriError::Scheme`],
    /// which the caller answers 416 when it is a Request-URI.
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let (scheme, rest) = s.split_once(':').ok_or(UriError::Syntax)?;
        if !is_scheme(scheme) {
            return Err(UriError::Syntax);
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return Err(if !rest.is_empty() && uri_chars(rest, ABSOLUTE_CHARS) {
                UriError::Scheme
            } else {
                UriError::Syntax
            });
        }
        // No '@' may follow the host (parameters and headers escape it), so the user part ends at
        // the last '@'; it may itself hold ';' and '?' (RFC 4475 §3.1.1.2, §3.1.1.10).
        let (userinfo, rest) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                if user.is_empty()
                    || !uri_chars(user, USER_CHARS)
                    || password.is_some_and(|p| !uri_chars(p, PASSWORD_CHARS))
                {
                    return Err(UriError::Syntax);
                }
                (Some(user.to_string()), password.map(str::to_string))
            }
        };
        let (rest, headers) = match rest.split_once('?') {
            Some((r, h)) => {
                let fields_ok = h.split('&').all(|f| {
                    f.split_once('=').is_some_and(|(n, v)| {
                        !n.is_empty() && uri_chars(n, HEADER_CHARS) && uri_chars(v, HEADER_CHARS)
                    })
                });
                if !fields_ok {
                    return Err(UriError::Syntax);
                }
                (r, Some(h.to_string()))
            }
            None => (rest, None),
        };
        let (hostport, params) = match rest.split_once(';') {
            Some((h, p)) => (h, Params::parse_uri(p)?),
            None => (rest, Params::default()),
        };
        let (host, port) = split_hostport(hostport).ok_or(UriError::Syntax)?;
        Ok(Uri { scheme, user, password, host, port, params, headers })
    }

    /// The host without IPv6 brackets, for address parsing.
    pub fn host_unbracketed(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

/// Why a URI is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Not a URI at all.
    #[error("malformed URI")]
    Syntax,
    /// A well-formed URI of a scheme other than sip/sips (RFC 3261 §8.2.2.1: 416).
    #[error("unsupported URI scheme")]
    Scheme,
}

/// `host[:port]` with IPv6 references in brackets; no whitespace anywhere.
fn split_hostport(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &s[..end + 2];
        rest[..end].parse::<std::net::Ipv6Addr>().ok()?;
        match &rest[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty()
        || !host.starts_with('[')
            && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    let port = match port {
        Some(p) => Some(digits::<u16>(p).filter(|&p| p != 0)?),
        None => None,
    };
    Some((host.to_string(), port))
}

/// Whether `uri` is a URI a name-addr may hold: a valid SIP/SIPS URI or a well-formed URI of
/// another scheme (RFC 4475 §3.3.4: unknown schemes in To, From and Contact are legal).
fn header_uri_ok(uri: &str) -> bool {
    matches!(Uri::parse(uri), Ok(_) | Err(UriError::Scheme))
}

/// A display name: a quoted-string, or tokens separated by LWS (RFC 4475 §3.1.2.15: a comma
/// in an unquoted one is an error).
fn display_name_ok(d: &str) -> bool {
    if d.starts_with('"') {
        quoted_string_len(d) == Some(d.len())
    } else {
        d.split([' ', '\t']).filter(|w| !w.is_empty()).all(is_token)
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, as written (quotes kept).
    pub display: Option<String>,
    /// The URI text (any scheme; parse with [`Uri::parse`] when needed).
    pub uri: String,
    /// Header parameters (`tag`, `expires`, `lr` on a Route's URI stays in `uri`).
    pub params: Params,
    /// Whether the URI was in angle brackets (then its own parameters stay with it).
    pub angle: bool,
}

impl NameAddr {
    /// Parses one value (not a comma list).
    pub fn parse(value: &str) -> Result<NameAddr, UriError> {
        let value = value.trim();
        if value == "*" {
            return Ok(NameAddr { display: None, uri: "*".into(), params: Params::default(), angle: false });
        }
        let lt = {
            // The first '<' outside a quoted display name.
            let mut quoted = false;
            let mut escaped = false;
            let mut found = None;
            for (i, c) in value.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' && quoted {
                    escaped = true;
                } else if c == '"' {
                    quoted = !quoted;
                } else if c == '<' && !quoted {
                    found = Some(i);
                    break;
                }
            }
            if quoted {
                return Err(UriError::Syntax);
            }
            found
        };
        if let Some(lt) = lt {
            let gt = value[lt..].find('>').ok_or(UriError::Syntax)? + lt;
            let display = value[..lt].trim();
            // No LWS inside the brackets (RFC 4475 §3.1.2.14).
            let uri = &value[lt + 1..gt];
            if !display_name_ok(display) || !header_uri_ok(uri) {
                return Err(UriError::Syntax);
            }
            let after = value[gt + 1..].trim_start();
            let params = match after.strip_prefix(';') {
                Some(p) => Params::parse_header(p)?,
                None if after.is_empty() => Params::default(),
                None => return Err(UriError::Syntax),
            };
            let display = (!display.is_empty()).then(|| display.to_string());
            return Ok(NameAddr { display, uri: uri.to_string(), params, angle: true });
        }
        // addr-spec: parameters after the URI belong to the header (§20.10), and a URI with
        // ',', '?' or ';' of its own must be in brackets (RFC 4475 §3.1.2.13).
        let (uri, params) = match value.split_once(';') {
            Some((u, p)) => (u.trim(), Params::parse_header(p)?),
            None => (value, Params::default()),
        };
        if uri.contains([',', '?']) || !header_uri_ok(uri) {
            return Err(UriError::Syntax);
        }
        Ok(NameAddr { display: None, uri: uri.to_string(), params, angle: false })
    }

    /// A header parameter (`tag`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// One Via value (RFC 3261 §20.42).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`… upper-cased.
    pub transport: String,
    /// The sent-by host.
    pub host: String,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Parameters: `branch`, `received`, `rport`, `maddr`…
    pub params: Params,
}

impl Via {
    /// Parses `SIP/2.0/UDP host:port;branch=z9hG4bK…`, with the LWS the grammar allows around
    /// `/`, `:`, `;` and `=` (RFC 4475 §3.1.1.1).
    pub fn parse(value: &str) -> Result<Via, UriError> {
        let value = value.trim();
        let (head, params) = match value.split_once(';') {
            Some((h, p)) => (h, Params::parse_header(p)?),
            None => (value, Params::default()),
        };
        let mut parts = head.splitn(3, '/');
        let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(UriError::Syntax);
        };
        if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
            return Err(UriError::Syntax);
        }
        let rest = rest.trim_start();
        let (transport, sent_by) = rest.split_once([' ', '\t']).ok_or(UriError::Syntax)?;
        if !is_token(transport) {
            return Err(UriError::Syntax);
        }
        let sent_by = sent_by.split(':').map(str::trim).collect::<Vec<_>>().join(":");
        let (host, port) = split_hostport(&sent_by).ok_or(UriError::Syntax)?;
        Ok(Via { transport: transport.to_ascii_uppercase(), host, port, params })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:4000@tonewall.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds ;rport\r\n\
v: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx\r\n\
Max-Forwards: 70\r\n\
To: <sip:4000@tonewall.example>\r\n\
f: \"Carrier, Inc\" <sip:+15550100@carrier.example;user=phone>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:carrier@192.0.2.1>\r\n\
Subject: folded\r\n  across lines\r\n\
Content-Type: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\r\nignored";

    #[test]
    fn parses_a_request_with_compact_forms_folding_and_trailing_bytes() {
        let Message::Request(r) = parse(INVITE).unwrap() else { panic!("not a request") };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri, "sip:4000@tonewall.example");
        assert_eq!(r.body, b"v=0\r");
        assert_eq!(r.call_id(), "a84b4c76e66710@pc33");
        assert_eq!(r.headers.get("subject"), Some("folded across lines"));
        let via = r.top_via().unwrap();
        assert_eq!(
            (via.host.as_str(), via.port, via.branch()),
            ("192.0.2.1", Some(5060), Some("z9hG4bK776asdhds"))
        );
        assert_eq!(via.params.get("rport"), Some(""));
        let second = Via::parse(r.headers.values("Via").nth(1).unwrap()).unwrap();
        assert_eq!((second.transport.as_str(), second.host.as_str()), ("TCP", "[2001:db8::1]"));
        let from = r.from().unwrap();
        assert_eq!(from.tag(), Some("1928301774"));
        assert_eq!(from.display.as_deref(), Some("\"Carrier, Inc\""));
        let uri = Uri::parse(&from.uri).unwrap();
        assert_eq!((uri.user.as_deref(), uri.params.get("user")), (Some("+15550100"), Some("phone")));
        assert_eq!(r.cseq().unwrap(), CSeq { seq: 314159, method: Method::Invite });
    }

    #[test]
    fn writes_what_it_parses_and_fixes_content_length() {
        let Message::Request(mut r) = parse(INVITE).unwrap() else { panic!() };
        r.body = b"v=0\r\n".to_vec();
        let bytes = r.to_bytes();
        assert!(bytes.windows(19).any(|w| w == b"Content-Length: 5\r\n"));
        let Message::Request(again) = parse(&bytes).unwrap() else { panic!() };
        assert_eq!(again.body, r.body);
        assert_eq!(again.headers.get("From"), r.headers.get("From"));
        assert_eq!(again.headers.values("Via").count(), 2);
    }

    #[test]
    fn responses_copy_the_transaction_headers_and_add_a_to_tag() {
        let Message::Request(r) = parse(INVITE).unwrap() else { panic!() };
        let resp = r.response(486, reason_phrase(486), Some("tw1"));
        let Message::Response(back) = parse(&resp.to_bytes()).unwrap() else { panic!() };
        assert_eq!(back.status, 486);
        assert_eq!(back.to().unwrap().tag(), Some("tw1"));
        assert_eq!(back.headers.values("Via").count(), 2);
        assert_eq!(back.cseq().unwrap().seq, 314159);
        // A 100 never carries a tag.
        assert_eq!(r.response(100, "Trying", Some("x")).to().unwrap().tag(), None);
    }

    #[test]
    fn rejects_what_a_transaction_cannot_be_keyed_on() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", ParseError::Incomplete),
            (b"INVITE sip:a@b SIP/7.0\r\n\r\n", ParseError::Version),
            (b"INVITE  sip:a@b SIP/2.0\r\n\r\n", ParseError::StartLine),
            (b"SIP/2.0 99 Odd\r\n\r\n", ParseError::StartLine),
            (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", ParseError::BadHeader("CSeq")),
            (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCSeq: 1 OPTIONS\r\n\r\n", ParseError::Missing("Call-ID")),
            (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9\r\n\r\nshort", ParseError::ShortBody),
            (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nBad Header: y\r\n\r\n", ParseError::HeaderLine),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse(bytes).unwrap_err(), *want, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn uris_and_name_addrs() {
        let u = Uri::parse("sips:alice;day=tue@[2001:db8::10]:5061;transport=tls?subject=x").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice;day=tue"));
        assert_eq!(
            (u.host.as_str(), u.port, u.host_unbracketed()),
            ("[2001:db8::10]", Some(5061), "2001:db8::10")
        );
        assert_eq!(u.params.get("transport"), Some("tls"));
        assert_eq!(u.to_string(), "sips:alice;day=tue@[2001:db8::10]:5061;transport=tls?subject=x");
        assert_eq!(Uri::parse("tel:+1555").unwrap_err(), UriError::Scheme);
        assert_eq!(Uri::parse("sip:a@b:99999").unwrap_err(), UriError::Syntax);
        let n = NameAddr::parse("sip:bob@example.com;tag=7").unwrap();
        assert_eq!((n.uri.as_str(), n.tag()), ("sip:bob@example.com", Some("7")));
        let n = NameAddr::parse("\"a <b>\" <sip:x@y;lr>;expires=60").unwrap();
        assert_eq!((n.uri.as_str(), n.param("expires")), ("sip:x@y;lr", Some("60")));
        assert!(NameAddr::parse("\"unterminated <sip:x@y>").is_err());
        assert_eq!(
            split_list("<sip:a@b;x=1>, \"c, d\" <sip:e@f>,sip:g@h"),
            vec!["<sip:a@b;x=1>", "\"c, d\" <sip:e@f>", "sip:g@h"]
        );
    }

    #[test]
    fn grammar_corners_rfc_4475_does_not_cover() {
        // Signs are not digits; empty parameters are not parameters; a start line is not folded.
        let base = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\
From: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";
        let with = |extra: &str| format!("{base}{extra}\r\n");
        assert!(parse(with("").as_bytes()).is_ok());
        assert_eq!(parse(with("l: +0\r\n").as_bytes()), Err(ParseError::BadHeader("Content-Length")));
        assert_eq!(
            parse(with("Max-Forwards: +7\r\n").as_bytes()),
            Err(ParseError::BadHeader("Max-Forwards"))
        );
        assert_eq!(parse(with("Via: SIP/2.0/UDP h:+5\r\n").as_bytes()), Err(ParseError::BadHeader("Via")));
        assert_eq!(parse(with("Via: SIP/2.0/UDP h;\r\n").as_bytes()), Err(ParseError::BadHeader("Via")));
        assert_eq!(parse(with("Via: SIP/2.0/UDP h,\r\n").as_bytes()), Err(ParseError::BadHeader("Via")));
        let folded = base.replacen("SIP/2.0\r\n", "SIP/2.0\r\n more\r\n", 1) + "\r\n";
        assert_eq!(parse(folded.as_bytes()), Err(ParseError::StartLine));
        // Content-Length is framing: gone from the headers, written as the body's length.
        let Message::Request(r) = parse(with("Content-Length: 0\r\n").as_bytes()).unwrap() else { panic!() };
        assert_eq!(r.headers.get("Content-Length"), None);
        assert_eq!(parse(&r.to_bytes()), Ok(Message::Request(r)));
        // The status a server answers each parse failure with.
        assert_eq!(
            [ParseError::Version, ParseError::UnknownMethod, ParseError::ShortBody].map(|e| e.status()),
            [505, 501, 400]
        );
        let u = Uri::parse("sip:alice:secret@example.com").unwrap();
        assert_eq!((u.user.as_deref(), u.password.as_deref()), (Some("alice"), Some("secret")));
        assert_eq!(u.to_string(), "sip:alice:secret@example.com");
        for bad in
            ["sip:a@b;", "sip:a@b;;lr", "sip:a@b;x=", "sip:a b@c", "sip:%4@b", "sip:a@b?x", "<sip:a@b>"]
        {
            assert_eq!(Uri::parse(bad), Err(UriError::Syntax), "{bad}");
        }
        assert!(NameAddr::parse("<sip:a@b>;").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a@b>").is_err());
        assert!(NameAddr::parse("< sip:a@b>").is_err());
    }

    #[test]
    fn header_editing() {
        let mut h = Headers::default();
        h.push("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2");
        h.push_front("Via", "SIP/2.0/UDP c;branch=z9hG4bK3");
        assert_eq!(h.values("via").count(), 3);
        assert_eq!(h.pop_first_value("Via").unwrap(), "SIP/2.0/UDP c;branch=z9hG4bK3");
        assert_eq!(h.pop_first_value("Via").unwrap(), "SIP/2.0/UDP a;branch=z9hG4bK1");
        assert_eq!(h.values("Via").collect::<Vec<_>>(), vec!["SIP/2.0/UDP b;branch=z9hG4bK2"]);
        h.push("Route", "<sip:r1;lr>");
        h.push("Route", "<sip:r2;lr>");
        h.set("Route", "<sip:only;lr>");
        assert_eq!(h.all("Route").collect::<Vec<_>>(), vec!["<sip:only;lr>"]);
    }
}
