//! The invariants of `tonewall_sip::message` and `validate` on arbitrary bytes, shared by the
//! property test (`tests/message_props.rs`) and the cargo-fuzz target
//! (`proxy/fuzz/fuzz_targets/sip_message.rs`, which includes this file by path).
//!
//! - parsing never panics, and a parsed message writes back to itself: `parse(write(m)) == m`;
//! - every typed view of every header value (and of every list element) is total, and what
//!   parses prints back to the same value;
//! - `validate::screen` is total, and its answers parse as responses when the request parsed.

use tonewall_sip::message::{CSeq, Message, NameAddr, Uri, Via, parse, split_list, split_list_checked};
use tonewall_sip::validate::{Verdict, check_request, error_response, screen};

/// Checks every invariant on `bytes`; panics with the reason when one fails.
pub fn check(bytes: &[u8]) {
    let parsed = parse(bytes);
    match &parsed {
        Ok(m) => {
            let written = m.to_bytes();
            let again = parse(&written);
            assert_eq!(again.as_ref(), Ok(m), "write then parse changed the message");
            views(m);
            if let Message::Request(r) = m
                && let Err(rej) = check_request(r)
            {
                let resp = rej.response(r, Some("t"));
                assert!(
                    matches!(parse(&resp.to_bytes()), Ok(Message::Response(x)) if x.status == rej.status),
                    "the answer to a parsed request does not parse"
                );
            }
        }
        Err(e) => {
            let _ = error_response(bytes, e, Some("t"));
        }
    }
    match screen(bytes, Some("t")) {
        Verdict::Accept(m) => assert_eq!(parsed.as_ref(), Ok(&m)),
        Verdict::Respond(r) => {
            assert!(r.status >= 400 && r.headers.values("Via").count() > 0, "answer without Via: {r:?}")
        }
        Verdict::Drop(_) => {}
    }
}

fn views(m: &Message) {
    match m {
        Message::Request(r) => {
            let _ = (r.top_via(), r.cseq(), r.from(), r.to(), r.call_id());
            uri(&r.uri);
        }
        Message::Response(r) => {
            let _ = (r.top_via(), r.cseq(), r.to(), r.call_id());
        }
    }
    for h in &m.headers().0 {
        let _ = split_list_checked(&h.value);
        value(&h.value);
        for part in split_list(&h.value) {
            value(part);
        }
    }
}

fn value(v: &str) {
    uri(v);
    let _ = CSeq::parse(v);
    if let Ok(via) = Via::parse(v) {
        assert_eq!(Via::parse(&via.to_string()), Ok(via.clone()), "Via prints back differently: {via}");
    }
    if let Ok(n) = NameAddr::parse(v)
        && n.uri != "*"
    {
        let back = NameAddr::parse(&n.to_string()).expect("a name-addr prints as one");
        assert_eq!((&back.display, &back.uri, &back.params), (&n.display, &n.uri, &n.params));
        uri(&n.uri);
    }
}

fn uri(s: &str) {
    if let Ok(u) = Uri::parse(s) {
        assert_eq!(Uri::parse(&u.to_string()), Ok(u.clone()), "URI prints back differently: {u}");
    }
}
