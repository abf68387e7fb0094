//! Stream framing: cuts a TCP or TLS byte stream into whole SIP messages (RFC 3261 §18.3) and
//! RFC 5626 §4.4.1 CRLF keep-alives.
//!
//! ```text
//!  bytes (any split) ─► push ─► StreamFramer ─► next ─► Frame::Message(headers + body)
//!                                                     ├► Frame::KeepAlivePing  (CRLFCRLF: answer "\r\n")
//!                                                     ├► Frame::Pong           (lone CRLF)
//!                                                     └► FramingError          (close the connection)
//! ```
//!
//! A stream has no datagram boundaries, so the only way to know where a message ends is the
//! end of its header section (the first empty line) plus its `Content-Length`; that is why a
//! stream message without `Content-Length` is an error here, not a zero-length body.
//!
//! What it does not do: parse the start line or any header other than `Content-Length` (the
//! message parser does that on the bytes of a [`Frame::Message`]), decode bodies, or framing for
//! UDP (each datagram is one message; no framer needed). Line ends are strict CRLF, as RFC 3261
//! §7 writes them; a header section ended by bare LFs never completes and hits the size limit.
//!
//! The ambiguity between a keep-alive ping (CRLFCRLF) and a pong (CRLF) is resolved by what
//! follows: a CRLF at the very end of the buffered bytes is held until the next byte shows
//! whether it is half of a ping, so a split ping is still one ping. The cost is that a lone pong
//! is reported only when more bytes arrive; the shell only answers pings, so nothing waits on it.

use std::fmt;

/// The largest message the framer accepts unless told otherwise (headers and body together).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// One unit cut from a stream.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete SIP message: its header section (through the empty line) and exactly
    /// `Content-Length` body bytes.
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive (RFC 5626 §4.4.1): the peer wants a single CRLF back.
    KeepAlivePing,
    /// A lone CRLF between messages: the answer to a ping we sent, or a stray line end that
    /// RFC 3261 §7.5 says to ignore before a start line.
    Pong,
}

/// The bytes of a message may hold credentials or captured digits (INFO bodies), so `Debug`
/// prints only their length.
impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Message(bytes) => write!(f, "Message(<{} bytes>)", bytes.len()),
            Frame::KeepAlivePing => f.write_str("KeepAlivePing"),
            Frame::Pong => f.write_str("Pong"),
        }
    }
}

/// Why a stream can no longer be framed. Every variant is fatal for the connection: once the
/// message boundary is lost there is no safe place to resume, so the shell closes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A message's header section has no `Content-Length`, which streams require (RFC 3261 §18.3).
    #[error("stream message without Content-Length")]
    MissingContentLength,
    /// A `Content-Length` value that is not a decimal number that fits in memory.
    #[error("invalid Content-Length value")]
    InvalidContentLength,
    /// Two `Content-Length` headers with different values: the boundary is ambiguous, and
    /// guessing would let a peer smuggle a message past whatever checks the first reading.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// The header section plus the declared body is larger than the limit.
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Header section plus declared body, in bytes (saturated at `usize::MAX`).
        size: usize,
        /// The framer's limit.
        max: usize,
    },
    /// More than the limit was buffered without finding the empty line that ends the headers.
    #[error("header section longer than {max} bytes")]
    HeadersTooLong {
        /// The framer's limit.
        max: usize,
    },
}

/// Cuts a byte stream into [`Frame`]s. Feed it with [`push`](Self::push), then call
/// [`next`](Self::next) until it returns `None` before pushing again (or keep pushing: frames
/// wait in the buffer, but the buffer then grows with whatever was pushed).
///
/// After an error the framer is finished: `next` returns `None` and `push` discards, because the
/// stream cannot be resynchronised.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max: usize,
    /// How far `buf` has been searched for the end of the header section, so bytes arriving one
    /// at a time cost linear, not quadratic, time.
    scanned: usize,
    /// Total length (headers + body) of the message at the front, once its headers are complete.
    pending: Option<usize>,
    failed: bool,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new(DEFAULT_MAX_MESSAGE)
    }
}

impl StreamFramer {
    /// A framer accepting messages of up to `max_message` bytes (headers and body).
    pub fn new(max_message: usize) -> Self {
        StreamFramer { buf: Vec::new(), max: max_message, scanned: 0, pending: None, failed: false }
    }

    /// The limit on one message, headers and body together.
    pub fn max_message(&self) -> usize {
        self.max
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes. Does no work beyond copying; [`next`](Self::next) does the cutting.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete frame, `None` if more bytes are needed, or an error after which the
    /// connection must be closed.
    #[allow(clippy::should_implement_trait)] // not an Iterator: `None` means "not yet", not "done"
    pub fn next(&mut self) -> Option<Result<Frame, FramingError>> {
        if self.failed {
            return None;
        }
        match self.cut() {
            Ok(frame) => frame.map(Ok),
            Err(e) => {
                self.failed = true;
                self.buf = Vec::new();
                Some(Err(e))
            }
        }
    }

    fn cut(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.pending.is_none() {
            // Between messages: CRLFs are keep-alives, never the start of a message.
            if self.buf.starts_with(b"\r\n") {
                return Ok(match self.buf.get(2..4) {
                    Some(b"\r\n") => {
                        self.consume(4);
                        Some(Frame::KeepAlivePing)
                    }
                    // Fewer than four bytes: the CRLF may be half a ping; wait for more.
                    None => None,
                    Some(_) => {
                        self.consume(2);
                        Some(Frame::Pong)
                    }
                });
            }
            if self.buf.len() == 1 && self.buf[0] == b'\r' {
                return Ok(None);
            }
            let Some(headers_end) = self.find_headers_end() else {
                if self.buf.len() > self.max {
                    return Err(FramingError::HeadersTooLong { max: self.max });
                }
                return Ok(None);
            };
            let body = content_length(&self.buf[..headers_end])?;
            let size = headers_end.saturating_add(body);
            if size > self.max {
                return Err(FramingError::MessageTooLarge { size, max: self.max });
            }
            self.pending = Some(size);
        }
        match self.pending {
            Some(size) if self.buf.len() >= size => {
                let rest = self.buf.split_off(size);
                let message = std::mem::replace(&mut self.buf, rest);
                self.pending = None;
                self.scanned = 0;
                Ok(Some(Frame::Message(message)))
            }
            _ => Ok(None),
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scanned = 0;
    }

    /// The length of the header section including its closing empty line, if it is complete.
    fn find_headers_end(&mut self) -> Option<usize> {
        // Resume three bytes back: the terminator may straddle the previous push.
        let from = self.scanned.saturating_sub(3);
        let found = self.buf[from..].windows(4).position(|w| w == b"\r\n\r\n");
        self.scanned = self.buf.len();
        found.map(|i| from + i + 4)
    }
}

/// The body length declared by a complete header section (start line included).
fn content_length(headers: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    // Logical header lines: a line starting with SP or HTAB continues the previous one (RFC 3261
    // §7.3.1), so a value folded onto the next line is still read whole.
    let mut lines = headers.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).skip(1);
    let mut current: Option<Vec<u8>> = None;
    loop {
        let line = lines.next();
        if let Some(l) = line
            && matches!(l.first(), Some(b' ' | b'\t'))
        {
            if let Some(c) = current.as_mut() {
                c.push(b' ');
                c.extend_from_slice(l);
            }
            continue;
        }
        if let Some(header) = current.take()
            && let Some(value) = content_length_value(&header)?
        {
            match found {
                Some(prev) if prev != value => return Err(FramingError::ConflictingContentLength),
                _ => found = Some(value),
            }
        }
        match line {
            None => break,
            Some([]) => continue,
            // Only Content-Length lines need to be kept for unfolding; others are skipped cheaply.
            Some(l) => current = is_content_length_name(l).then(|| l.to_vec()),
        }
    }
    found.ok_or(FramingError::MissingContentLength)
}

fn is_content_length_name(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
    let name = line[..colon].trim_ascii();
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
}

/// The value of a header line if it is `Content-Length` (or its compact form `l`).
fn content_length_value(line: &[u8]) -> Result<Option<usize>, FramingError> {
    if !is_content_length_name(line) {
        return Ok(None);
    }
    let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
    let value = line[colon + 1..].trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(FramingError::InvalidContentLength);
    }
    value
        .iter()
        .try_fold(0usize, |n, &d| n.checked_mul(10)?.checked_add(usize::from(d - b'0')))
        .map(Some)
        .ok_or(FramingError::InvalidContentLength)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK74bf9\r\n\
        Max-Forwards: 70\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 10\r\n\
        \r\n\
        v=0\r\no=x\r\n";

    const OPTIONS: &[u8] = b"OPTIONS sip:carol@example.com SIP/2.0\r\n\
        l  :  0 \r\n\
        Call-ID: a84b4c76e66710\r\n\
        \r\n";

    fn all(framer: &mut StreamFramer) -> Vec<Result<Frame, FramingError>> {
        std::iter::from_fn(|| framer.next()).collect()
    }

    /// Feeds `input` in the given chunks, draining after each, and returns every frame.
    fn frames_in_chunks(input: &[u8], cuts: &[usize], max: usize) -> Vec<Result<Frame, FramingError>> {
        let mut framer = StreamFramer::new(max);
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            framer.push(&input[at..cut]);
            out.extend(all(&mut framer));
            at = cut;
        }
        out
    }

    fn msg(bytes: &[u8]) -> Result<Frame, FramingError> {
        Ok(Frame::Message(bytes.to_vec()))
    }

    #[test]
    fn one_message_whole() {
        let mut f = StreamFramer::default();
        f.push(INVITE);
        assert_eq!(all(&mut f), vec![msg(INVITE)]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn the_body_is_exactly_content_length_bytes() {
        let mut f = StreamFramer::default();
        let mut input = INVITE.to_vec();
        input.extend_from_slice(b"OPT");
        f.push(&input);
        assert_eq!(all(&mut f), vec![msg(INVITE)]);
        assert_eq!(f.buffered(), 3, "the next message's first bytes stay buffered");
    }

    #[test]
    fn split_at_every_position_gives_the_same_frames() {
        let mut input = b"\r\n\r\n".to_vec();
        input.extend_from_slice(INVITE);
        input.extend_from_slice(b"\r\n\r\n");
        input.extend_from_slice(OPTIONS);
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(INVITE);
        let expected = vec![
            Ok(Frame::KeepAlivePing),
            msg(INVITE),
            Ok(Frame::KeepAlivePing),
            msg(OPTIONS),
            Ok(Frame::Pong),
            msg(INVITE),
        ];
        assert_eq!(frames_in_chunks(&input, &[], DEFAULT_MAX_MESSAGE), expected);
        for cut in 0..=input.len() {
            assert_eq!(frames_in_chunks(&input, &[cut], DEFAULT_MAX_MESSAGE), expected, "cut at {cut}");
        }
        for a in 0..=input.len() {
            for b in (a..=input.len()).step_by(7) {
                assert_eq!(frames_in_chunks(&input, &[a, b], DEFAULT_MAX_MESSAGE), expected, "cuts {a},{b}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut input = INVITE.to_vec();
        input.extend_from_slice(OPTIONS);
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(frames_in_chunks(&input, &cuts, DEFAULT_MAX_MESSAGE), vec![msg(INVITE), msg(OPTIONS)]);
    }

    #[test]
    fn pipelined_messages_in_one_push() {
        let mut f = StreamFramer::default();
        let input = [INVITE, OPTIONS, INVITE].concat();
        f.push(&input);
        assert_eq!(all(&mut f), vec![msg(INVITE), msg(OPTIONS), msg(INVITE)]);
    }

    #[test]
    fn keep_alives_between_messages() {
        let mut f = StreamFramer::default();
        f.push(&[b"\r\n\r\n\r\n\r\n", INVITE, b"\r\n\r\n"].concat());
        assert_eq!(
            all(&mut f),
            vec![Ok(Frame::KeepAlivePing), Ok(Frame::KeepAlivePing), msg(INVITE), Ok(Frame::KeepAlivePing)]
        );
    }

    #[test]
    fn a_ping_split_in_two_is_one_ping() {
        let mut f = StreamFramer::default();
        f.push(b"\r\n");
        assert_eq!(f.next(), None, "a lone trailing CRLF may be half a ping");
        f.push(b"\r");
        assert_eq!(f.next(), None);
        f.push(b"\n");
        assert_eq!(all(&mut f), vec![Ok(Frame::KeepAlivePing)]);
    }

    #[test]
    fn a_lone_crlf_before_a_message_is_a_pong_and_the_message_still_frames() {
        let mut f = StreamFramer::default();
        f.push(&[b"\r\n", OPTIONS].concat());
        assert_eq!(all(&mut f), vec![Ok(Frame::Pong), msg(OPTIONS)]);
        // Three CRLFs: a ping, then a lone CRLF.
        f.push(&[b"\r\n\r\n\r\n", OPTIONS].concat());
        assert_eq!(all(&mut f), vec![Ok(Frame::KeepAlivePing), Ok(Frame::Pong), msg(OPTIONS)]);
    }

    #[test]
    fn content_length_forms() {
        for header in [
            "Content-Length: 3",
            "content-length:3",
            "CONTENT-LENGTH \t:  3  ",
            "l: 3",
            "L :3",
            "Content-Length:\r\n  3",
            "Content-Length: 003",
        ] {
            let m = format!("MESSAGE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n{header}\r\nFrom: x\r\n\r\nabc");
            let mut f = StreamFramer::default();
            f.push(m.as_bytes());
            f.push(b"MESSAGE");
            assert_eq!(all(&mut f), vec![msg(m.as_bytes())], "{header:?}");
        }
    }

    #[test]
    fn similar_names_are_not_content_length() {
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Lengthy: 3\r\nLength: 4\r\nX-L: 5\r\n\r\n";
        let mut f = StreamFramer::default();
        f.push(m);
        assert_eq!(all(&mut f), vec![Err(FramingError::MissingContentLength)]);
    }

    #[test]
    fn the_start_line_is_not_a_header() {
        // A request URI containing "l:" must not be read as a compact Content-Length.
        let m = b"l:5 sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let mut f = StreamFramer::default();
        f.push(m);
        assert_eq!(all(&mut f), vec![msg(m)]);
    }

    #[test]
    fn missing_content_length_is_an_error() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n");
        assert_eq!(all(&mut f), vec![Err(FramingError::MissingContentLength)]);
        // The framer is finished: nothing more comes out, even for a valid message.
        f.push(OPTIONS);
        assert_eq!(f.next(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn invalid_content_length_is_an_error() {
        for value in ["", "abc", "-1", "+3", "1 2", "3,3", "0x10", "99999999999999999999999999"] {
            let m = format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {value}\r\n\r\n");
            let mut f = StreamFramer::default();
            f.push(m.as_bytes());
            assert_eq!(all(&mut f), vec![Err(FramingError::InvalidContentLength)], "{value:?}");
        }
    }

    #[test]
    fn duplicate_content_length_must_agree() {
        let same = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab";
        let mut f = StreamFramer::default();
        f.push(same);
        assert_eq!(all(&mut f), vec![msg(same)]);

        let conflicting = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 0\r\n\r\nab";
        let mut f = StreamFramer::default();
        f.push(conflicting);
        assert_eq!(all(&mut f), vec![Err(FramingError::ConflictingContentLength)]);
    }

    #[test]
    fn oversize_message_is_refused_before_its_body_arrives() {
        let head = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n";
        let mut f = StreamFramer::new(head.len() + 999);
        f.push(head);
        assert_eq!(
            all(&mut f),
            vec![Err(FramingError::MessageTooLarge { size: head.len() + 1000, max: head.len() + 999 })]
        );
        // Exactly at the limit is fine.
        let mut f = StreamFramer::new(head.len() + 1000);
        let whole = [&head[..], &[b'x'; 1000]].concat();
        f.push(&whole);
        assert_eq!(all(&mut f), vec![msg(&whole)]);
    }

    #[test]
    fn a_huge_declared_length_does_not_overflow() {
        let m = format!("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n", usize::MAX);
        let mut f = StreamFramer::default();
        f.push(m.as_bytes());
        assert_eq!(
            all(&mut f),
            vec![Err(FramingError::MessageTooLarge { size: usize::MAX, max: DEFAULT_MAX_MESSAGE })]
        );
    }

    #[test]
    fn headers_without_an_end_are_refused_past_the_limit() {
        let mut f = StreamFramer::new(100);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
        assert_eq!(f.next(), None);
        for _ in 0..20 {
            f.push(b"X-Pad: 1\r\n");
        }
        assert_eq!(all(&mut f), vec![Err(FramingError::HeadersTooLong { max: 100 })]);
        // Bare-LF line ends never end the headers either.
        let mut f = StreamFramer::new(100);
        f.push(&b"OPTIONS sip:a@b SIP/2.0\nContent-Length: 0\n\n".repeat(4));
        assert_eq!(all(&mut f), vec![Err(FramingError::HeadersTooLong { max: 100 })]);
    }

    #[test]
    fn debug_does_not_print_message_bytes() {
        let secret = b"INFO sip:a@b SIP/2.0\r\nContent-Length: 7\r\n\r\nSignal=";
        let shown = format!("{:?}", Frame::Message(secret.to_vec()));
        assert_eq!(shown, format!("Message(<{} bytes>)", secret.len()));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator (no rand dependency in the sans-IO crate): every byte
        // drawn from an alphabet rich in the framer's delimiters.
        let alphabet = b"\r\n:lL0123456789 \tContent-Length\x00\xff";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut f = StreamFramer::new(256);
            for _ in 0..40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let len = (state % 24) as usize;
                let chunk: Vec<u8> = (0..len)
                    .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i) % alphabet.len()])
                    .collect();
                f.push(&chunk);
                while let Some(frame) = f.next() {
                    if let Ok(Frame::Message(m)) = frame {
                        assert!(m.len() <= 256);
                        assert!(m.windows(4).any(|w| w == b"\r\n\r\n"));
                    }
                }
            }
        }
    }
}
