//! RFC 4475 (SIP torture test messages): each of the 49 reference messages through
//! `validate::screen`, as Tonewall (a B2BUA) receiving it over UDP, with the outcome the RFC's
//! text asks of such an element; and the typed views of the valid ones.
//!
//! The messages live in `tests/data/rfc4475/` (one file each, byte for byte from the RFC). A
//! missing file fails the tests: they must not pass by testing nothing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use tonewall_sip::message::{Message, Method, NameAddr, Request, Response, Uri, Via, parse};
use tonewall_sip::validate::{Verdict, screen};

/// What Tonewall does with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Passed on to the transaction layer.
    Accept,
    /// Answered with this status; the reason phrase contains the text.
    Reject(u16, &'static str),
    /// Discarded without an answer.
    Drop,
}
use Outcome::{Accept, Drop, Reject};

/// Every file, its RFC 4475 section, and the outcome. Where the RFC allows a choice the
/// comment says which one Tonewall takes and why.
const TABLE: &[(&str, Outcome)] = &[
    // §3.1.1 valid messages: all parse and are accepted.
    ("wsinv", Accept),      // 3.1.1.1 short tortuous INVITE (LWS, folding, compact forms)
    ("intmeth", Accept),    // 3.1.1.2 wide range of valid characters (method support is the call layer's)
    ("esc01", Accept),      // 3.1.1.3 valid use of the % escaping mechanism
    ("escnull", Accept),    // 3.1.1.4 escaped nulls in URIs
    ("esc02", Accept),      // 3.1.1.5 use of % when it is not an escape
    ("lwsdisp", Accept),    // 3.1.1.6 message with no LWS between display name and <
    ("longreq", Accept),    // 3.1.1.7 long values in header fields
    ("dblreq", Accept),     // 3.1.1.8 extra trailing octets in a UDP datagram: ignored
    ("semiuri", Accept),    // 3.1.1.9 semicolon-separated parameters in URI user part
    ("transports", Accept), // 3.1.1.10 varied and unknown transport types
    ("mpart01", Accept),    // 3.1.1.11 multipart MIME message
    ("unreason", Accept),   // 3.1.1.12 unusual reason phrase (UTF-8)
    ("noreason", Accept),   // 3.1.1.13 empty reason phrase
    // §3.1.2 invalid messages.
    ("badinv01", Reject(400, "Bad Via Header")), // 3.1.2.1 extraneous header field separators
    ("clerr", Reject(400, "Content-Length Exceeds Body")), // 3.1.2.2 Content-Length larger than message
    ("ncl", Reject(400, "Bad Content-Length Header")), // 3.1.2.3 negative Content-Length
    ("scalar02", Reject(400, "Bad CSeq Header")), // 3.1.2.4 request scalar fields with overlarge values
    ("scalarlg", Drop),                          // 3.1.2.5 response scalar fields with overlarge values
    ("quotbal", Reject(400, "Bad To Header")),   // 3.1.2.6 unterminated quoted string in display name
    ("ltgtruri", Reject(400, "Bad Request-URI")), // 3.1.2.7 <> enclosing Request-URI (rejected, not repaired)
    ("lwsruri", Reject(400, "Bad Start Line")),  // 3.1.2.8 malformed SIP Request-URI (embedded LWS)
    ("lwsstart", Reject(400, "Bad Start Line")), // 3.1.2.9 multiple SP in Request-Line (rejected: allowed)
    ("trws", Reject(400, "Bad Start Line")),     // 3.1.2.10 SP at end of Request-Line (rejected: allowed)
    ("escruri", Reject(400, "Headers in Request-URI")), // 3.1.2.11 escaped headers in Request-URI (rejected: allowed)
    ("baddate", Accept), // 3.1.2.12 non-GMT Date: Tonewall never reads Date, so the RFC says not to reject
    ("regbadct", Reject(400, "Bad Contact Header")), // 3.1.2.13 name-addr URI with '?' not in <>
    ("badaspec", Reject(400, "Bad To Header")), // 3.1.2.14 spaces within addr-spec (inside <>)
    ("baddn", Reject(400, "Bad From Header")), // 3.1.2.15 non-token characters in display name
    ("badvers", Reject(505, "Unsupported SIP Version")), // 3.1.2.16 unknown protocol version
    ("mismatch01", Reject(400, "Bad CSeq Header")), // 3.1.2.17 start line and CSeq method mismatch
    ("mismatch02", Reject(501, "Unknown Method")), // 3.1.2.18 unknown method, CSeq mismatch: 501 preferred
    ("bigcode", Drop),   // 3.1.2.19 overlarge response code
    // §3.2 transaction layer.
    ("badbranch", Reject(400, "Transaction Identifier")), // 3.2.1 branch is the bare magic cookie (reject, not 2543 fallback)
    // §3.3 application layer.
    ("insuf", Reject(400, "Missing Call-ID Header")), // 3.3.1 missing required header fields
    ("unkscm", Reject(416, "Unsupported URI Scheme")), // 3.3.2 Request-URI with unknown scheme
    ("novelsc", Reject(416, "Unsupported URI Scheme")), // 3.3.3 known but atypical scheme: never served, so 416
    ("unksm2", Reject(400, "Address of Record")), // 3.3.4 unknown schemes in headers: parses; as registrar 400 (To not a SIP AOR)
    ("bext01", Reject(420, "Bad Extension")), // 3.3.5 Require/Proxy-Require: UAS role, Require lists unknown tags
    ("invut", Reject(415, "Unsupported Media Type")), // 3.3.6 unknown Content-Type: the B2BUA is an endpoint for the offer
    ("regaut01", Accept), // 3.3.7 unknown Authorization scheme: well-formed; the registrar challenges
    ("multi01", Reject(400, "Bad Call-ID Header")), // 3.3.8 multiple values in single-value fields
    ("mcl01", Reject(400, "Bad Content-Length Header")), // 3.3.9 multiple Content-Length values
    ("bcast", Drop),      // 3.3.10 200 OK with a broadcast second Via (§8.1.3.3)
    ("zeromf", Reject(483, "Too Many Hops")), // 3.3.11 Max-Forwards 0: the OPTIONS is for a user, so it would be relayed
    ("cparam01", Accept),                     // 3.3.12 REGISTER with a Contact header parameter
    ("cparam02", Accept),                     // 3.3.13 REGISTER with a url-parameter
    ("regescrt", Accept),                     // 3.3.14 REGISTER with a URL-escaped header in Contact
    ("sdp01", Reject(406, "Not Acceptable")), // 3.3.15 Accept without SDP: 406 (400 also allowed)
    // §3.4 backward compatibility.
    ("inv2543", Accept), // 3.4.1 RFC 2543 syntax: no branch, no From tag, no Max-Forwards
];

fn torture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475")
}

fn load(name: &str) -> Vec<u8> {
    let path = torture_dir().join(format!("{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn outcome(verdict: &Verdict) -> Outcome {
    match verdict {
        Verdict::Accept(_) => Accept,
        Verdict::Respond(r) => Reject(r.status, ""),
        Verdict::Drop(_) => Drop,
    }
}

#[test]
fn every_file_is_in_the_table_once() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(torture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = TABLE.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(listed.len(), TABLE.len(), "a file is listed twice");
    assert_eq!(on_disk, listed);
    assert_eq!(on_disk.len(), 49);
}

#[test]
fn every_message_gets_the_outcome_rfc_4475_names() {
    let mut wrong = Vec::new();
    for &(file, want) in TABLE {
        let verdict = screen(&load(file), Some("tw-tag"));
        let got = outcome(&verdict);
        let ok = match (want, &verdict) {
            (Reject(status, text), Verdict::Respond(r)) => r.status == status && r.reason.contains(text),
            _ => got == want,
        };
        if !ok {
            wrong.push(format!("{file}: want {want:?}, got {verdict:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn rejections_are_answers_the_client_can_match() {
    for &(file, want) in TABLE {
        let Reject(status, _) = want else { continue };
        let Verdict::Respond(r) = screen(&load(file), Some("tw-tag")) else { panic!("{file}") };
        // The Via lines come back so the client can match the answer to its request; the
        // answer to a request that parsed is itself a valid response.
        assert!(r.status == status && r.headers.values("Via").count() >= 1, "{file}");
        if parse(&load(file)).is_ok() {
            let again = parse(&r.to_bytes());
            assert!(
                again.as_ref().is_ok_and(|m| matches!(m, Message::Response(x) if x.status == status)),
                "{file}: {again:?}"
            );
        }
    }
    let Verdict::Respond(r) = screen(&load("bext01"), None) else { panic!() };
    assert_eq!(r.headers.get("Unsupported"), Some("nothingSupportsThis, nothingSupportsThisEither"));
    let Verdict::Respond(r) = screen(&load("invut"), Some("t")) else { panic!() };
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    assert_eq!(r.to().unwrap().tag(), Some("t"));
}

fn request(file: &str) -> Request {
    match parse(&load(file)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{file}: {other:?}"),
    }
}

fn response(file: &str) -> Response {
    match parse(&load(file)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{file}: {other:?}"),
    }
}

fn vias(r: &Request) -> Vec<Via> {
    r.headers.values("Via").map(|v| Via::parse(v).unwrap()).collect()
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

#[test]
fn wsinv_whitespace_folding_and_compact_forms() {
    let r = request("wsinv");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.to().unwrap().tag(), Some("1918181833n"));
    let from = r.from().unwrap();
    assert_eq!((from.display.as_deref(), from.tag()), (Some(r#""J Rosenberg \\\"""#), Some("98asjd8")));
    assert_eq!(r.headers.get("Max-Forwards"), Some("0068"));
    assert_eq!(r.cseq().unwrap().seq, 9);
    let v = vias(&r);
    let got: Vec<_> = v.iter().map(|v| (v.transport.as_str(), v.host.as_str(), v.branch())).collect();
    assert_eq!(
        got,
        vec![
            ("UDP", "192.0.2.2", Some("390skdjuw")),
            ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8")),
            ("UDP", "192.168.255.111", Some("z9hG4bK30239")),
        ]
    );
    let contact = NameAddr::parse(r.headers.get("Contact").unwrap()).unwrap();
    assert_eq!(contact.display.as_deref(), Some(r#""Quoted string \"\"""#));
    assert_eq!(
        (contact.param("newparam"), contact.param("secondparam"), contact.param("q")),
        (Some("newvalue"), Some(""), Some("0.33"))
    );
    assert_eq!(r.headers.get("Subject"), Some(""));
    assert_eq!(r.headers.get("NewFangledHeader"), Some("newfangled value continued newfangled value"));
    assert_eq!(r.body.len(), 150);
    assert_eq!(uri(&r.uri).params.get("unknownparam"), Some(""));
}

#[test]
fn intmeth_unusual_characters() {
    let r = request("intmeth");
    assert_eq!(r.method, Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into()));
    let u = uri(&r.uri);
    assert_eq!(u.user.as_deref(), Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
    assert_eq!(u.password.as_deref(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
    assert_eq!(u.host, "example.com");
    let to = r.to().unwrap();
    assert_eq!(to.display.as_deref(), Some("\"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f\""));
    assert_eq!(uri(&to.uri).user, u.user);
    let from = r.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(from.param("fromParam''~+*_!.-%"), Some("\"работающий\""));
    assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(r.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(r.headers.get("extensionHeader-!.%*+_`'~"), Some("\u{feff}大停電"));
}

#[test]
fn escapes_stay_as_written() {
    let r = request("esc01");
    let u = uri(&r.uri);
    assert_eq!((u.user.as_deref(), u.host.as_str()), (Some("sips%3Auser%40example.com"), "example.net"));
    assert_eq!(uri(&r.to().unwrap().uri).user.as_deref(), Some("%75se%72"));
    assert_eq!(uri(&r.from().unwrap().uri).user.as_deref(), Some("I%20have%20spaces"));
    let contact = uri(&NameAddr::parse(r.headers.get("Contact").unwrap()).unwrap().uri);
    assert_eq!(contact.user.as_deref(), Some("cal%6Cer"));
    assert_eq!(
        (contact.params.get("%6C%72"), contact.params.get("n%61me")),
        (Some(""), Some("v%61lue%25%34%31"))
    );

    let r = request("escnull");
    assert_eq!(uri(&r.to().unwrap().uri).user.as_deref(), Some("null-%00-null"));
    assert_eq!(uri(&r.from().unwrap().uri).user.as_deref(), Some("null-%00-null"));
    let users: Vec<_> =
        r.headers.values("Contact").map(|c| uri(&NameAddr::parse(c).unwrap().uri).user.unwrap()).collect();
    assert_eq!(users, vec!["%00", "%00%00"]);

    let r = request("esc02");
    assert_eq!(r.method, Method::Other("RE%47IST%45R".into()));
    assert_eq!(r.from().unwrap().display.as_deref(), Some("\"%Z%45\""));
    assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK209%fzsnel234"));
    // `C%6Fntact` is another header, not Contact.
    assert_eq!(r.headers.values("Contact").count(), 2);
    assert_eq!(r.headers.get("C%6Fntact"), Some("<sip:alias2@host2.example.com>"));
}

#[test]
fn display_names_long_headers_and_datagram_tails() {
    let r = request("lwsdisp");
    assert_eq!(r.from().unwrap().display.as_deref(), Some("caller"));

    let r = request("longreq");
    let v = vias(&r);
    assert_eq!(v.len(), 34);
    assert_eq!(v[0].host, "sip33.example.com");
    assert_eq!(v[33].params.get("received"), Some("192.0.2.5"));
    assert!(v[33].branch().unwrap().starts_with("verylonglong") && v[33].branch().unwrap().len() > 200);
    let to = r.to().unwrap();
    assert!(to.display.unwrap().contains("extremeextreme"));
    assert_eq!(uri(&to.uri).port, Some(6000));
    assert!(r.from().unwrap().tag().unwrap().len() > 100);
    assert_eq!(r.body.len(), 150);

    // Only the first message of the datagram counts; the INVITE after it is ignored.
    let r = request("dblreq");
    assert_eq!((&r.method, r.body.len()), (&Method::Register, 0));
    assert_eq!(r.call_id(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
}

#[test]
fn semicolons_in_the_user_part_and_transports() {
    let r = request("semiuri");
    let u = uri(&r.uri);
    assert_eq!((u.user.as_deref(), u.host.as_str()), (Some("user;par=u%40example.net"), "example.com"));
    assert!(u.params.0.is_empty());
    assert_eq!(r.headers.values("Accept").count(), 6);

    let r = request("transports");
    let got: Vec<_> = vias(&r).into_iter().map(|v| (v.transport, v.host)).collect();
    let want: Vec<_> = [("UDP", "t1"), ("SCTP", "t2"), ("TLS", "t3"), ("UNKNOWN", "t4"), ("TCP", "t5")]
        .iter()
        .map(|(t, h)| (t.to_string(), format!("{h}.example.com")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn multipart_body_and_reason_phrases() {
    let r = request("mpart01");
    assert_eq!(r.method, Method::Message);
    assert_eq!(r.body.len(), 553);
    assert!(r.body.ends_with(b"--7a9cbec02ceef655--\r\n"));

    let r = response("unreason");
    assert_eq!(r.status, 200);
    assert_eq!(r.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    assert_eq!(r.body.len(), 154);

    let r = response("noreason");
    assert_eq!((r.status, r.reason.as_str()), (100, ""));
}

#[test]
fn register_contacts_and_legacy_requests() {
    // A Contact without <> gives its parameters to the header; with <> to the URI.
    let r = request("cparam01");
    let c = NameAddr::parse(r.headers.get("Contact").unwrap()).unwrap();
    assert_eq!((c.uri.as_str(), c.param("unknownparam")), ("sip:+19725552222@gw1.example.net", Some("")));
    let r = request("cparam02");
    let c = NameAddr::parse(r.headers.get("Contact").unwrap()).unwrap();
    assert!(c.params.0.is_empty());
    assert_eq!(uri(&c.uri).params.get("unknownparam"), Some(""));

    let r = request("regescrt");
    let c = NameAddr::parse(r.headers.get("Contact").unwrap()).unwrap();
    assert_eq!(uri(&c.uri).headers.as_deref(), Some("Route=%3Csip:sip.example.com%3E"));

    let r = request("inv2543");
    let via = r.top_via().unwrap();
    assert_eq!((via.host.as_str(), via.branch()), ("iftgw.example.com", None));
    assert_eq!(r.from().unwrap().tag(), None);
    assert_eq!(r.headers.get("Max-Forwards"), None);
    assert!(r.body.starts_with(b"v=0"));

    // Unknown schemes in To, From and Contact parse (the registrar refuses the AOR).
    let r = request("unksm2");
    assert_eq!(r.to().unwrap().uri, "isbn:2983792873");
    assert_eq!(r.from().unwrap().uri, "http://www.example.com");
}

#[test]
fn accepted_messages_write_back_to_themselves() {
    for &(file, want) in TABLE {
        let Ok(m) = parse(&load(file)) else { continue };
        let bytes = m.to_bytes();
        assert_eq!(parse(&bytes).as_ref(), Ok(&m), "{file}");
        if want == Accept {
            // Content-Length is the body's, wherever the original had it or not.
            let cl = format!("Content-Length: {}\r\n\r\n", body_len(&m));
            assert!(bytes.windows(cl.len()).any(|w| w == cl.as_bytes()), "{file}");
        }
    }
}

fn body_len(m: &Message) -> usize {
    match m {
        Message::Request(r) => r.body.len(),
        Message::Response(r) => r.body.len(),
    }
}

#[test]
fn header_bytes_that_are_not_utf8_become_replacement_characters() {
    // A legacy PBX writing a Latin-1 display name ("José"): the message is still served, and
    // what Tonewall writes is UTF-8.
    let mut bytes = load("lwsdisp");
    let at = bytes.windows(6).position(|w| w == b"caller").unwrap();
    bytes.splice(at..at + 6, b"\"Jos\xe9\" ".iter().copied());
    let Ok(Message::Request(r)) = parse(&bytes) else { panic!("{}", String::from_utf8_lossy(&bytes)) };
    assert_eq!(r.from().unwrap().display.as_deref(), Some("\"Jos\u{fffd}\""));
    let out = r.to_bytes();
    assert!(std::str::from_utf8(&out).is_ok());
    assert_eq!(parse(&out), Ok(Message::Request(r)));
}
