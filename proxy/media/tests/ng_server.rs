//! `NgServer` behaviour: framing, the retransmission cache, error replies and rtpengine's
//! reply shapes, on virtual time with a fake relay.

use std::net::SocketAddr;
use std::time::Duration;
use tonewall_media::fuzzing::FakeRelay;
use tonewall_media::ng::bencode::{self, Dict, Value};
use tonewall_media::ng::{
    CallStats, Command, ControlError, Counters, Encoder, MediaStats, NgConfig, NgServer, StreamKind,
    StreamStats, TagStats, Totals,
};

const KAMAILIO: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5060);
const OTHER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5062);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `<cookie> <bencoded dict>` from key/value pairs (string values).
fn datagram(cookie: &str, entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("{cookie} ").into_bytes();
    let mut enc = Encoder::new(&mut out);
    enc.begin_dict();
    for (k, v) in entries {
        enc.entry_bytes(k, v.as_bytes());
    }
    enc.end();
    out
}

fn offer(cookie: &str, call: &str) -> Vec<u8> {
    datagram(cookie, &[("command", "offer"), ("call-id", call), ("from-tag", "ft"), ("sdp", "v=0\r\n")])
}

struct Harness {
    server: NgServer,
    relay: FakeRelay,
    out: Vec<u8>,
}

impl Harness {
    fn new(config: NgConfig) -> Self {
        Self { server: NgServer::new(config), relay: FakeRelay::default(), out: Vec::new() }
    }

    /// Sends a datagram; returns the reply (cookie checked and stripped) decoded, if any.
    fn send(&mut self, now: Duration, peer: SocketAddr, d: &[u8]) -> Option<Dict<'_>> {
        if !self.server.handle_datagram(now, peer, d, &mut self.relay, &mut self.out) {
            assert!(self.out.is_empty());
            return None;
        }
        let sp = d.iter().position(|&b| b == b' ').expect("a cookie");
        assert_eq!(&self.out[..=sp], &d[..=sp], "reply starts with the cookie");
        match bencode::decode(&self.out[sp + 1..]) {
            Ok(Value::Dict(dict)) => Some(dict),
            other => panic!("{other:?}"),
        }
    }
}

fn text<'a>(d: &'a Dict<'_>, key: &str) -> &'a str {
    let b = d.get(key.as_bytes()).and_then(Value::as_bytes).unwrap_or_else(|| panic!("no {key} in {d:?}"));
    std::str::from_utf8(b).expect("utf-8")
}

fn int(d: &Dict<'_>, key: &str) -> i64 {
    d.get(key.as_bytes()).and_then(Value::as_int).unwrap_or_else(|| panic!("no {key} in {d:?}"))
}

fn dict<'a, 'b>(d: &'a Dict<'b>, key: &str) -> &'a Dict<'b> {
    d.get(key.as_bytes()).and_then(Value::as_dict).unwrap_or_else(|| panic!("no {key} in {d:?}"))
}

#[test]
fn ping_gets_pong() {
    let mut h = Harness::new(NgConfig::default());
    let r = h.send(secs(1), KAMAILIO, b"5323_1 d7:command4:pinge").expect("reply");
    assert_eq!(text(&r, "result"), "pong");
    assert_eq!(r.len(), 1);
    assert_eq!(h.out, b"5323_1 d6:result4:ponge", "the example in rtpengine's docs");
    assert!(h.relay.calls.is_empty());
    assert_eq!(h.server.stats().commands[Command::Ping.index()], 1);
}

#[test]
fn offer_reply_carries_the_relays_sdp_and_warning() {
    let mut h = Harness::new(NgConfig::default());
    let r = h.send(secs(1), KAMAILIO, &offer("c1", "call-a")).expect("reply");
    assert_eq!(text(&r, "result"), "ok");
    assert_eq!(text(&r, "sdp"), "v=0\r\ns=tonewall\r\nv=0\r\n");
    assert!(r.get(b"warning").is_none());
    assert_eq!(h.relay.calls, [(Command::Offer, b"call-a".to_vec())]);

    let unusual = datagram(
        "c2",
        &[
            ("command", "offer"),
            ("call-id", "call-b"),
            ("from-tag", "ft"),
            ("sdp", "v=0"),
            ("T.38", "decode"),
        ],
    );
    let r = h.send(secs(2), KAMAILIO, &unusual).expect("reply");
    assert_eq!(text(&r, "warning"), "unknown keys or flags ignored");
}

#[test]
fn a_retransmission_gets_the_cached_reply_and_runs_once() {
    let mut h = Harness::new(NgConfig::default());
    h.send(secs(1), KAMAILIO, &offer("k1", "call-a")).expect("reply");
    let first = h.out.clone();
    // Kamailio resends after rtpengine_tout_ms, up to rtpengine_retr times.
    for t in [2, 3, 4, 5] {
        h.send(secs(t), KAMAILIO, &offer("k1", "call-a")).expect("reply");
        assert_eq!(h.out, first);
    }
    assert_eq!(h.relay.calls.len(), 1, "the offer ran once");
    assert_eq!(h.server.stats().retransmissions, 4);

    // The cookie is the key: a retransmission is recognised whatever its body says, as in
    // rtpengine.
    h.send(secs(6), KAMAILIO, &datagram("k1", &[("command", "delete"), ("call-id", "call-a")]))
        .expect("reply");
    assert_eq!(h.out, first);
    assert_eq!(h.relay.calls.len(), 1);

    // The same cookie from another proxy is another request.
    h.send(secs(6), OTHER, &offer("k1", "call-b")).expect("reply");
    assert_eq!(h.relay.calls.len(), 2);
}

#[test]
fn cached_replies_expire_after_the_ttl() {
    let mut h = Harness::new(NgConfig { cache_ttl: secs(30), ..NgConfig::default() });
    let d = datagram("q1", &[("command", "query"), ("call-id", "nope")]);
    h.send(secs(100), KAMAILIO, &d).expect("reply");
    assert_eq!(h.server.cached_replies(), 1);
    h.send(secs(129), KAMAILIO, &d).expect("reply");
    assert_eq!(h.relay.calls.len(), 1, "still cached just before 30 s");
    h.send(secs(130), KAMAILIO, &d).expect("reply");
    assert_eq!(h.relay.calls.len(), 2, "expired at 30 s: run again");
    // Expired entries are purged as datagrams come in.
    h.send(secs(200), KAMAILIO, b"x d7:command4:pinge").expect("reply");
    assert_eq!(h.server.cached_replies(), 0);
}

#[test]
fn the_cache_is_bounded_in_entries_and_octets() {
    let mut h = Harness::new(NgConfig { cache_entries: 3, ..NgConfig::default() });
    for i in 0..5 {
        h.send(secs(1), KAMAILIO, &offer(&format!("e{i}"), "call")).expect("reply");
    }
    assert_eq!(h.server.cached_replies(), 3);
    assert_eq!(h.server.stats().evicted, 2);
    // The oldest went first: e0 runs again, e4 does not.
    let before = h.relay.calls.len();
    h.send(secs(2), KAMAILIO, &offer("e4", "call")).expect("reply");
    assert_eq!(h.relay.calls.len(), before);
    h.send(secs(2), KAMAILIO, &offer("e0", "call")).expect("reply");
    assert_eq!(h.relay.calls.len(), before + 1);

    let reply_len = h.out.len();
    let mut h = Harness::new(NgConfig { cache_bytes: 2 * reply_len + 1, ..NgConfig::default() });
    for i in 0..4 {
        h.send(secs(1), KAMAILIO, &offer(&format!("e{i}"), "call")).expect("reply");
    }
    assert_eq!(h.server.cached_replies(), 2);
    // A reply larger than the whole cache is not cached at all.
    let mut h = Harness::new(NgConfig { cache_bytes: 10, ..NgConfig::default() });
    h.send(secs(1), KAMAILIO, &offer("big", "call")).expect("reply");
    assert_eq!(h.server.cached_replies(), 0);
}

#[test]
fn datagrams_without_a_cookie_get_no_reply() {
    let mut h = Harness::new(NgConfig { max_cookie_len: 8, ..NgConfig::default() });
    for d in [&b""[..], b"d7:command4:pinge", b" d7:command4:pinge", b"123456789 d7:command4:pinge"] {
        assert!(h.send(secs(1), KAMAILIO, d).is_none(), "{}", d.escape_ascii());
    }
    assert_eq!(h.server.stats().dropped, 4);
    // Eight octets is fine; so is an empty body (an error reply).
    assert!(h.send(secs(1), KAMAILIO, b"12345678 d7:command4:pinge").is_some());
    let r = h.send(secs(1), KAMAILIO, b"abc ").expect("reply");
    assert_eq!(text(&r, "result"), "error");
}

#[test]
fn malformed_requests_get_error_replies_that_are_not_cached() {
    let mut h = Harness::new(NgConfig::default());
    let cases: &[(&[u8], &str)] = &[
        (b"a1 d7:command4:pinge\n", "Could not decode bencode dictionary (trailing data at offset 17)"),
        (b"a2 not bencode", "Could not decode bencode dictionary (unexpected octet at offset 0)"),
        (b"a3 i42e", "Could not decode bencode dictionary"),
        (b"a3j {\"command\":\"ping\"}", "JSON documents are not supported; send bencode"),
        (b"a4 d7:call-id1:ce", "Dictionary contains no key \"command\""),
        (b"a5 d7:command10:frobnicate7:call-id1:ce", "Unrecognized command"),
        (b"a6 d7:command10:play media7:call-id1:ce", "Unsupported command 'play media'"),
        (b"a7 d7:command5:querye", "No call-id in message"),
        (b"a8 d7:command5:offer7:call-id1:c8:from-tag1:fe", "No SDP body in message"),
        (b"a9 d7:command5:query7:call-id1:c7:call-id1:de", "Key 'call-id' given more than once"),
    ];
    for (d, reason) in cases {
        let r = h.send(secs(1), KAMAILIO, d).expect("reply");
        assert_eq!(text(&r, "result"), "error");
        assert_eq!(text(&r, "error-reason"), *reason);
        assert_eq!(r.len(), 2, "nothing but result and error-reason");
    }
    assert_eq!(h.server.stats().malformed, cases.len() as u64);
    assert_eq!(h.server.cached_replies(), 0);
    assert!(h.relay.calls.is_empty());
}

#[test]
fn error_reasons_never_carry_request_text() {
    let mut h = Harness::new(NgConfig::default());
    let secret = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let d = datagram(
        "s1",
        &[("command", "offer"), ("call-id", "c"), ("from-tag", "f"), ("sdp", secret), ("sdp", secret)],
    );
    h.send(secs(1), KAMAILIO, &d).expect("reply");
    let mut truncated = d.clone();
    truncated.truncate(d.len() - 30);
    h.send(secs(1), KAMAILIO, &truncated).expect("reply");
    let shown = String::from_utf8_lossy(&h.out);
    assert!(!shown.contains("inline") && !shown.contains("crypto"), "{shown}");
    h.relay.fail_with = Some(ControlError::BadSdp);
    let d = datagram("s2", &[("command", "offer"), ("call-id", "c"), ("from-tag", "f"), ("sdp", secret)]);
    let r = h.send(secs(1), KAMAILIO, &d).expect("reply");
    assert_eq!(text(&r, "error-reason"), "Failed to parse SDP");
}

#[test]
fn relay_errors_in_rtpengines_words() {
    let mut h = Harness::new(NgConfig::default());
    let r = h
        .send(secs(1), KAMAILIO, &datagram("r1", &[("command", "query"), ("call-id", "nope")]))
        .expect("reply");
    assert_eq!((text(&r, "result"), text(&r, "error-reason")), ("error", "Unknown call-id"));
    h.relay.fail_with = Some(ControlError::OutOfPorts);
    let r = h.send(secs(1), KAMAILIO, &offer("r2", "c")).expect("reply");
    assert_eq!(text(&r, "error-reason"), "Ran out of ports");
    assert_eq!(h.server.stats().failed, 2);
    // An error reached at the relay is cached like any reply: the retransmission does not
    // allocate on a second try.
    h.relay.fail_with = None;
    let r = h.send(secs(2), KAMAILIO, &offer("r2", "c")).expect("reply");
    assert_eq!(text(&r, "result"), "error");
}

#[test]
fn session_limit_is_a_load_limit_result_for_controllers_that_support_it() {
    let mut h = Harness::new(NgConfig::default());
    h.relay.fail_with = Some(ControlError::SessionLimit);
    let mut d = b"l1 d8:supportsl10:load limite".to_vec();
    d.extend_from_slice(&offer("", "c")[1..][1..]); // the offer's entries after its `d`
    let r = h.send(secs(1), KAMAILIO, &d).expect("reply");
    assert_eq!((text(&r, "result"), text(&r, "message")), ("load limit", "Parallel session limit reached"));
    let r = h.send(secs(1), KAMAILIO, &offer("l2", "c")).expect("reply");
    assert_eq!((text(&r, "result"), text(&r, "error-reason")), ("error", "Parallel session limit reached"));
}

#[test]
fn delete_of_an_unknown_call_is_a_warning_unless_fatal() {
    let mut h = Harness::new(NgConfig::default());
    let r = h
        .send(secs(1), KAMAILIO, &datagram("d1", &[("command", "delete"), ("call-id", "nope")]))
        .expect("reply");
    assert_eq!((text(&r, "result"), text(&r, "warning")), ("ok", "Call-ID not found or tags didn't match"));
    let r =
        h.send(secs(1), KAMAILIO, b"d2 d7:command6:delete7:call-id4:nope5:flagsl5:fatalee").expect("reply");
    assert_eq!(
        (text(&r, "result"), text(&r, "error-reason")),
        ("error", "Call-ID not found or tags didn't match")
    );
}

fn sample_stats() -> CallStats {
    let stream = |kind, port: u16, packets| StreamStats {
        kind,
        local_port: Some(30_000 + port),
        endpoint: Some(SocketAddr::from(([192, 0, 2, 10], 40_000 + port))),
        advertised_endpoint: Some("[2001:db8::1]:7078".parse().expect("addr")),
        last_packet: Some(secs(1_700_000_060)),
        flags: vec!["filled", "confirmed"],
        stats: Counters { packets, bytes: packets * 172, errors: 1 },
        quality: None,
    };
    let mut stats = CallStats {
        created: secs(1_700_000_000),
        last_signal: Duration::from_millis(1_700_000_001_900),
        tags: vec![
            TagStats {
                tag: b"caller-tag".to_vec(),
                label: Some("caller".into()),
                created: secs(1_700_000_000),
                in_dialogue_with: Some(b"callee-tag".to_vec()),
                medias: vec![MediaStats {
                    index: 1,
                    media_type: "audio".into(),
                    protocol: Some("RTP/AVP".into()),
                    flags: vec!["initialized"],
                    streams: vec![stream(StreamKind::Rtp, 0, 100), stream(StreamKind::Rtcp, 1, 3)],
                }],
            },
            TagStats { tag: Vec::new(), ..TagStats::default() },
        ],
        totals: Totals::default(),
    };
    stats.totals = stats.sum_streams();
    stats
}

#[test]
fn query_and_delete_report_statistics_in_rtpengines_shape() {
    let mut h = Harness::new(NgConfig::default());
    h.relay.stats = sample_stats();
    h.send(secs(1), KAMAILIO, &offer("o1", "call")).expect("reply");
    let r = h
        .send(secs(2), KAMAILIO, &datagram("q1", &[("command", "query"), ("call-id", "call")]))
        .expect("reply");
    assert_eq!(text(&r, "result"), "ok");
    assert_eq!(int(&r, "created"), 1_700_000_000);
    assert_eq!(int(&r, "last signal"), 1_700_000_001, "whole seconds");
    let tags = dict(&r, "tags");
    assert_eq!(tags.len(), 2);
    let caller = dict(tags, "caller-tag");
    assert_eq!(text(caller, "tag"), "caller-tag");
    assert_eq!(text(caller, "label"), "caller");
    assert_eq!(text(caller, "in dialogue with"), "callee-tag");
    let medias = caller.get(b"medias").and_then(Value::as_list).expect("medias");
    let media = medias[0].as_dict().expect("media");
    assert_eq!((int(media, "index"), text(media, "type"), text(media, "protocol")), (1, "audio", "RTP/AVP"));
    let streams = media.get(b"streams").and_then(Value::as_list).expect("streams");
    assert_eq!(streams.len(), 2);
    let rtp = streams[0].as_dict().expect("stream");
    assert_eq!(int(rtp, "local port"), 30_000);
    let ep = dict(rtp, "endpoint");
    assert_eq!((text(ep, "family"), text(ep, "address"), int(ep, "port")), ("IPv4", "192.0.2.10", 40_000));
    let adv = dict(rtp, "advertised endpoint");
    assert_eq!((text(adv, "family"), text(adv, "address"), int(adv, "port")), ("IPv6", "2001:db8::1", 7078));
    assert_eq!(int(rtp, "last packet"), 1_700_000_060);
    let flags: Vec<&[u8]> = rtp
        .get(b"flags")
        .and_then(Value::as_list)
        .expect("flags")
        .iter()
        .filter_map(Value::as_bytes)
        .collect();
    assert_eq!(flags, [&b"RTP"[..], b"filled", b"confirmed"]);
    let s = dict(rtp, "stats");
    assert_eq!((int(s, "packets"), int(s, "bytes"), int(s, "errors")), (100, 17_200, 1));
    let rtcp = streams[1].as_dict().expect("stream");
    assert_eq!(rtcp.get(b"flags").and_then(Value::as_list).and_then(|l| l[0].as_bytes()), Some(&b"RTCP"[..]));
    // The side that has not answered yet: an empty tag, as in rtpengine.
    assert_eq!(int(dict(tags, ""), "created"), 0);
    let totals = dict(&r, "totals");
    let t_rtp = dict(totals, "RTP");
    assert_eq!((int(t_rtp, "packets"), int(t_rtp, "bytes"), int(t_rtp, "errors")), (100, 17_200, 1));
    let t_rtcp = dict(totals, "RTCP");
    assert_eq!((int(t_rtcp, "packets"), int(t_rtcp, "bytes")), (3, 516));

    let r = h
        .send(secs(3), KAMAILIO, &datagram("d1", &[("command", "delete"), ("call-id", "call")]))
        .expect("reply");
    assert_eq!(text(&r, "result"), "ok");
    assert_eq!(int(dict(dict(&r, "totals"), "RTP"), "packets"), 100);
}

#[test]
fn delete_with_fast_omits_statistics() {
    let mut h = Harness::new(NgConfig::default());
    h.relay.stats = sample_stats();
    h.send(secs(1), KAMAILIO, &offer("o1", "call")).expect("reply");
    let r =
        h.send(secs(2), KAMAILIO, b"d1 d7:command6:delete7:call-id4:call5:flagsl4:fastee").expect("reply");
    assert_eq!(r.len(), 1);
    assert_eq!(text(&r, "result"), "ok");
}

#[test]
fn counters_saturate_at_the_bencode_integer_range() {
    let mut h = Harness::new(NgConfig::default());
    h.relay.stats.totals.rtp = Counters { packets: u64::MAX, bytes: 1 << 63, errors: 0 };
    h.send(secs(1), KAMAILIO, &offer("o1", "call")).expect("reply");
    let r = h
        .send(secs(2), KAMAILIO, &datagram("q1", &[("command", "query"), ("call-id", "call")]))
        .expect("reply");
    let rtp = dict(dict(&r, "totals"), "RTP");
    assert_eq!((int(rtp, "packets"), int(rtp, "bytes")), (i64::MAX, i64::MAX));
}

#[test]
fn block_and_unblock_dtmf_reply_ok() {
    let mut h = Harness::new(NgConfig::default());
    h.send(secs(1), KAMAILIO, &offer("o1", "call")).expect("reply");
    for (cookie, cmd) in [("b1", "block DTMF"), ("b2", "unblock DTMF")] {
        let r = h
            .send(secs(2), KAMAILIO, &datagram(cookie, &[("command", cmd), ("call-id", "call")]))
            .expect("reply");
        assert_eq!(r.len(), 1);
        assert_eq!(text(&r, "result"), "ok");
    }
    let commands: Vec<Command> = h.relay.calls.iter().map(|(c, _)| *c).collect();
    assert_eq!(commands, [Command::Offer, Command::BlockDtmf, Command::UnblockDtmf]);
}

#[test]
fn list_is_limited_and_optional_for_the_relay() {
    let mut h = Harness::new(NgConfig::default());
    for (i, call) in ["a", "b", "c"].iter().enumerate() {
        h.send(secs(1), KAMAILIO, &offer(&format!("o{i}"), call)).expect("reply");
    }
    let r = h.send(secs(2), KAMAILIO, b"l1 d7:command4:list5:limiti2ee").expect("reply");
    let calls: Vec<&[u8]> =
        r.get(b"calls").and_then(Value::as_list).expect("calls").iter().filter_map(Value::as_bytes).collect();
    assert_eq!(calls, [&b"a"[..], b"b"]);

    struct NoList;
    impl tonewall_media::ng::MediaControl for NoList {
        fn offer(
            &mut self,
            _: Duration,
            _: &tonewall_media::ng::OfferRequest<'_>,
        ) -> Result<tonewall_media::ng::SdpOut, ControlError> {
            Err(ControlError::Internal)
        }
        fn answer(
            &mut self,
            _: Duration,
            _: &tonewall_media::ng::OfferRequest<'_>,
        ) -> Result<tonewall_media::ng::SdpOut, ControlError> {
            Err(ControlError::Internal)
        }
        fn delete(
            &mut self,
            _: Duration,
            _: &tonewall_media::ng::DeleteRequest<'_>,
        ) -> Result<CallStats, ControlError> {
            Err(ControlError::Internal)
        }
        fn query(
            &mut self,
            _: Duration,
            _: &tonewall_media::ng::QueryRequest<'_>,
        ) -> Result<CallStats, ControlError> {
            Err(ControlError::Internal)
        }
        fn block_dtmf(
            &mut self,
            _: Duration,
            _: &tonewall_media::ng::DtmfRequest<'_>,
            _: bool,
        ) -> Result<(), ControlError> {
            Err(ControlError::Internal)
        }
    }
    let mut server = NgServer::default();
    let mut out = Vec::new();
    assert!(server.handle_datagram(secs(1), KAMAILIO, b"l2 d7:command4:liste", &mut NoList, &mut out));
    assert_eq!(out, b"l2 d6:result5:error12:error-reason17:Unsupported: liste");
}

#[test]
fn an_oversized_reply_becomes_an_error() {
    let mut h = Harness::new(NgConfig { max_reply_len: 40, ..NgConfig::default() });
    let r = h.send(secs(1), KAMAILIO, &offer("o1", "call")).expect("reply");
    assert_eq!(text(&r, "error-reason"), "Reply too large");
    assert_eq!(h.server.stats().oversized, 1);
    assert_eq!(h.relay.calls.len(), 1);
    // Its retransmission gets the same error, without a second offer.
    h.send(secs(2), KAMAILIO, &offer("o1", "call")).expect("reply");
    assert_eq!(h.relay.calls.len(), 1);
}

#[test]
fn time_going_backwards_does_not_break_the_cache() {
    let mut h = Harness::new(NgConfig { cache_entries: 2, ..NgConfig::default() });
    h.send(secs(100), KAMAILIO, &offer("t1", "c")).expect("reply");
    h.send(secs(10), KAMAILIO, &offer("t2", "c")).expect("reply");
    h.send(secs(10), KAMAILIO, &offer("t1", "c")).expect("reply");
    assert_eq!(h.relay.calls.len(), 2, "t1 still cached");
    for i in 0..50 {
        h.send(secs(200 - i), KAMAILIO, &offer(&format!("x{}", i % 5), "c")).expect("reply");
    }
    assert!(h.server.cached_replies() <= 2);
}
