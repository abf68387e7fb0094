//! What a B2BUA does with a datagram before any transaction or dialog sees it: parse it, then
//! check the things RFC 3261 §8.2 and RFC 4475 ask of every request (Request-URI scheme,
//! Max-Forwards, Require, Contact, body type), and decide to accept, answer or drop.
//!
//! Why a separate step: [`message::parse`](crate::message::parse) only decides whether bytes are
//! a message; whether Tonewall will *serve* it depends on its role. Here the role is fixed: a
//! B2BUA that answers every request it cannot relay with the status RFC 4475 names, is the UAC
//! of every response it receives, and never answers an ACK or a response.
//!
//! What it does not do: method support (405/501 for methods the call layer lacks),
//! authentication, routing, or anything that needs dialog state.

use std::borrow::Cow;

use crate::message::{
    Header, Headers, Message, Method, NameAddr, ParseError, Request, Response, Uri, UriError, header_line,
    parse, split_head, split_list_checked,
};

/// The option tags Tonewall supports: a `Require` naming anything else gets 420. None yet: the
/// B2BUA does not refresh sessions (RFC 4028 `timer`) nor send reliable provisionals (`100rel`),
/// and claiming a tag commits it to the extension's procedures.
pub const SUPPORTED: &[&str] = &[];

/// Why a request is refused, and what to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The status code.
    pub status: u16,
    /// The reason phrase: names the problem, never echoes the request.
    pub reason: Cow<'static, str>,
    /// For a 420: the option tags to list in `Unsupported` (RFC 3261 §8.2.2.3).
    pub unsupported: Vec<String>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str) -> Rejection {
        Rejection { status, reason: Cow::Borrowed(reason), unsupported: Vec::new() }
    }

    /// The response to `request` (RFC 3261 §8.2.6), with `Unsupported` for a 420 and `Accept`
    /// for a 415 or 406 (the only body type Tonewall produces or relays is SDP).
    pub fn response(&self, request: &Request, to_tag: Option<&str>) -> Response {
        let mut response = request.response(self.status, &self.reason, to_tag);
        if !self.unsupported.is_empty() {
            response.headers.push("Unsupported", self.unsupported.join(", "));
        }
        if self.status == 415 || self.status == 406 {
            response.headers.push("Accept", "application/sdp");
        }
        response
    }
}

/// Checks a parsed request as a B2BUA receiving it (RFC 3261 §8.2, §16.3; RFC 4475 §3.2–§3.3),
/// with [`SUPPORTED`] as the extensions it knows.
///
/// `Err` names the answer; for an ACK the caller drops instead (an ACK is never answered).
pub fn check_request(request: &Request) -> Result<(), Rejection> {
    check_request_supporting(request, SUPPORTED)
}

/// [`check_request`] with the option tags the caller supports.
pub fn check_request_supporting(request: &Request, supported: &[&str]) -> Result<(), Rejection> {
    // §8.2.2.1: a scheme the element does not serve is 416 (RFC 4475 §3.3.2, §3.3.3).
    let uri = match Uri::parse(&request.uri) {
        Ok(uri) => uri,
        Err(UriError::Scheme) => return Err(Rejection::new(416, "Unsupported URI Scheme")),
        Err(_) => return Err(Rejection::new(400, "Bad Request-URI")),
    };
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI; a B2BUA must not act on them
    // nor pass them on (RFC 4475 §3.1.2.11).
    if uri.headers.is_some() {
        return Err(Rejection::new(400, "Headers in Request-URI"));
    }
    // RFC 4475 §3.2.1: the magic cookie alone claims an RFC 3261 branch but carries no
    // transaction identifier; refuse rather than guess.
    if request.top_via().is_some_and(|v| v.branch() == Some("z9hG4bK")) {
        return Err(Rejection::new(400, "Via Branch Has No Transaction Identifier"));
    }
    // §16.3 step 3: a request the B2BUA would relay to its other leg cannot go on with
    // Max-Forwards 0 (RFC 4475 §3.3.11). An OPTIONS to Tonewall itself (no user part) is
    // answered here, so it may arrive with 0.
    let mf = request.headers.get("Max-Forwards").and_then(|v| v.parse::<u8>().ok());
    if mf == Some(0) && !(request.method == Method::Options && uri.user.is_none()) {
        return Err(Rejection::new(483, "Too Many Hops"));
    }
    // §8.2.2.3: the B2BUA is the UAS for Require (RFC 4475 §3.3.5). CANCEL and ACK carry none
    // that matter (§9.1, §17.1.1.3).
    if !matches!(request.method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<String> = request
            .headers
            .values("Require")
            .filter(|tag| !supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
            .map(str::to_string)
            .collect();
        if !unsupported.is_empty() {
            return Err(Rejection { unsupported, ..Rejection::new(420, "Bad Extension") });
        }
    }
    check_contacts(request)?;
    // A REGISTER's To is the address of record: SIP or SIPS only (§10.3 step 3, RFC 4475 §3.3.4).
    if request.method == Method::Register && request.to().is_none_or(|to| Uri::parse(&to.uri).is_err()) {
        return Err(Rejection::new(400, "Address of Record Is Not a SIP URI"));
    }
    check_body(request)
}

/// Contact is the remote target of the dialog (or the binding of a REGISTER): every value must
/// parse, and `*` only alone in a REGISTER (§10.2.2; RFC 4475 §3.1.2.1, §3.1.2.13).
fn check_contacts(request: &Request) -> Result<(), Rejection> {
    let bad = || Rejection::new(400, "Bad Contact Header");
    let mut values = Vec::new();
    for line in request.headers.all("Contact") {
        values.extend(split_list_checked(line).ok_or_else(bad)?);
    }
    for value in &values {
        let contact = NameAddr::parse(value).map_err(|_| bad())?;
        if contact.uri == "*" && (request.method != Method::Register || values.len() != 1) {
            return Err(bad());
        }
    }
    Ok(())
}

/// The body of an INVITE is an offer the B2BUA must rewrite: SDP, or a multipart holding it
/// (RFC 4475 §3.3.6: 415 from an endpoint). An Accept without SDP in an INVITE asks for an
/// answer the B2BUA cannot give (RFC 4475 §3.3.15: 406). Any body needs a Content-Type (§7.4.1).
fn check_body(request: &Request) -> Result<(), Rejection> {
    let content_type = request.headers.get("Content-Type").map(media_type);
    if !request.body.is_empty() && content_type.is_none() {
        return Err(Rejection::new(400, "Missing Content-Type"));
    }
    if request.method != Method::Invite {
        return Ok(());
    }
    if let Some(ct) = content_type
        && !request.body.is_empty()
        && ct != "application/sdp"
        && !ct.starts_with("multipart/")
    {
        return Err(Rejection::new(415, "Unsupported Media Type"));
    }
    if request.headers.all("Accept").next().is_some() {
        let takes_sdp = request
            .headers
            .values("Accept")
            .map(media_type)
            .any(|range| matches!(range.as_str(), "application/sdp" | "application/*" | "*/*"));
        if !takes_sdp {
            return Err(Rejection::new(406, "Not Acceptable"));
        }
    }
    Ok(())
}

/// `type/subtype` of a media type or range, lower-cased, without parameters or whitespace.
fn media_type(value: &str) -> String {
    let ty = value.split(';').next().unwrap_or("");
    ty.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// Checks a parsed response as the UAC that sent its request: a B2BUA's requests carry one
/// Via, its own, so a response with more is not for it (RFC 3261 §8.1.3.3) — which is also
/// what keeps a forged second Via (a broadcast address, RFC 4475 §3.3.10) from being obeyed.
/// `Err` says why it is dropped.
pub fn check_response(response: &Response) -> Result<(), &'static str> {
    if response.headers.values("Via").count() != 1 {
        return Err("more than one Via in a response");
    }
    Ok(())
}

/// The answer to a request that failed to parse (RFC 3261 §8.2, RFC 4475 §3.1.2): status from
/// [`ParseError::status`], the error's text as the reason, and whatever Via, From, To, Call-ID
/// and CSeq lines can be read copied back so the client can match it.
///
/// `None` when nothing must be sent: the bytes are a response, an ACK, or have no Via to send
/// the answer along.
pub fn error_response(bytes: &[u8], err: &ParseError, to_tag: Option<&str>) -> Option<Response> {
    let head = split_head(bytes).ok()?;
    let method = head.start.split(' ').next().unwrap_or("");
    if head.start.starts_with("SIP/") || method == "ACK" {
        return None;
    }
    let lines: Vec<Header> = head.lines.iter().filter_map(|l| header_line(l).ok()).collect();
    let mut headers = Headers::default();
    for h in lines.iter().filter(|h| h.is("Via") && !h.value.is_empty()) {
        headers.0.push(h.clone());
    }
    if headers.0.is_empty() {
        return None;
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        if let Some(h) = lines.iter().find(|h| h.is(name)) {
            headers.0.push(h.clone());
        }
    }
    let status = err.status();
    let mut response = Response { status, reason: err.to_string(), headers, body: Vec::new() };
    if let Some(tag) = to_tag
        && let Some(to) = response.headers.0.iter_mut().find(|h| h.is("To"))
        && NameAddr::parse(&to.value).is_ok_and(|n| n.tag().is_none())
    {
        to.value.push_str(";tag=");
        to.value.push_str(tag);
    }
    Some(response)
}

/// What to do with one received datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the transaction layer.
    Accept(Message),
    /// Send this response (statelessly) and forget the request.
    Respond(Response),
    /// Discard it silently; the text says why, for a log line.
    Drop(&'static str),
}

/// Parses and checks one datagram: [`parse`], then [`check_request`] or [`check_response`],
/// turning each refusal into the answer RFC 4475 names (or a drop where none may be sent).
pub fn screen(bytes: &[u8], to_tag: Option<&str>) -> Verdict {
    match parse(bytes) {
        Err(err) => match error_response(bytes, &err, to_tag) {
            Some(response) => Verdict::Respond(response),
            None => Verdict::Drop("unparsable message that cannot be answered"),
        },
        Ok(Message::Request(request)) => match check_request(&request) {
            Ok(()) => Verdict::Accept(Message::Request(request)),
            Err(_) if request.method == Method::Ack => Verdict::Drop("invalid ACK"),
            Err(rejection) => Verdict::Respond(rejection.response(&request, to_tag)),
        },
        Ok(Message::Response(response)) => match check_response(&response) {
            Ok(()) => Verdict::Accept(Message::Response(response)),
            Err(why) => Verdict::Drop(why),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(start: &str, extra: &str, body: &str) -> Request {
        let method = start.split(' ').next().unwrap();
        let text = format!(
            "{start} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKv1\r\nTo: <sip:a@tonewall.example>\r\n\
From: <sip:c@carrier.example>;tag=1\r\nCall-ID: v1\r\nCSeq: 1 {method}\r\n{extra}\r\n{body}"
        );
        match parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    fn status(r: &Request) -> Option<u16> {
        check_request(r).err().map(|e| e.status)
    }

    #[test]
    fn the_role_decides_what_is_refused() {
        // Max-Forwards 0: relayed requests get 483, an OPTIONS to Tonewall itself is answered.
        assert_eq!(status(&request("OPTIONS sip:a@tonewall.example", "Max-Forwards: 0\r\n", "")), Some(483));
        assert_eq!(status(&request("OPTIONS sip:tonewall.example", "Max-Forwards: 0\r\n", "")), None);
        // Require: 420 unless the caller supports the tag; CANCEL's Require is not judged.
        let timer = request("INVITE sip:a@tonewall.example", "Require: timer\r\n", "");
        assert_eq!(status(&timer), Some(420));
        assert_eq!(check_request_supporting(&timer, &["timer"]), Ok(()));
        assert_eq!(status(&request("CANCEL sip:a@tonewall.example", "Require: timer\r\n", "")), None);
        // `*` is a Contact only alone in a REGISTER.
        assert_eq!(status(&request("INVITE sip:a@tonewall.example", "Contact: *\r\n", "")), Some(400));
        assert_eq!(
            status(&request("REGISTER sip:tonewall.example", "Contact: *\r\nExpires: 0\r\n", "")),
            None
        );
        // A body needs a type; an INVITE's must be one the B2BUA can rewrite.
        assert_eq!(status(&request("INFO sip:a@tonewall.example", "", "x")), Some(400));
        let multipart = "Content-Type: multipart/mixed;boundary=b\r\n";
        assert_eq!(status(&request("INVITE sip:a@tonewall.example", multipart, "x")), None);
        let any = "Accept: application/sdp;level=1, */*\r\n";
        assert_eq!(status(&request("INVITE sip:a@tonewall.example", any, "")), None);
        assert_eq!(status(&request("INVITE tel:+15550100", "", "")), Some(416));
    }

    #[test]
    fn acks_and_responses_are_never_answered() {
        let ack = b"ACK tel:+1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nTo: <sip:a@b>;tag=2\r\n\
From: <sip:c@d>;tag=1\r\nCall-ID: a\r\nCSeq: 1 ACK\r\n\r\n";
        assert_eq!(screen(ack, None), Verdict::Drop("invalid ACK"));
        let bad_ack = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCSeq: 1 ACK\r\n\r\n";
        assert!(matches!(screen(bad_ack, None), Verdict::Drop(_)));
        let response = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCSeq: x\r\n\r\n";
        assert!(matches!(screen(response, None), Verdict::Drop(_)));
        // No Via: nowhere to send an answer.
        let no_via = b"INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n";
        assert!(matches!(screen(no_via, None), Verdict::Drop(_)));
    }
}
