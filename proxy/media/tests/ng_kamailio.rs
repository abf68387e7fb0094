//! Compatibility with what Kamailio really sends: the datagrams its `rtpengine` module (5.6.3)
//! sent during two sipp calls, captured by `tests/data/ng/capture.sh`, parsed and driven
//! through `NgServer`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tonewall_media::fuzzing::FakeRelay;
use tonewall_media::ng::bencode::{self, Value};
use tonewall_media::ng::{
    AddressFamily, CallId, Command, Dtls, Flag, Ice, NgServer, Replace, Request, RtcpMux, Sdes, Tag,
    TransportProtocol, ViaBranch,
};

/// A fixture's octets, kept for the whole test run (requests borrow from them).
fn fixture(name: &str) -> &'static [u8] {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/ng/kamailio-5.6", name].iter().collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).leak()
}

/// Splits a datagram, checks the body is canonical bencode (decode → encode gives it back),
/// and returns the cookie and the body.
fn split(datagram: &[u8]) -> (&[u8], &[u8]) {
    let sp = datagram.iter().position(|&b| b == b' ').expect("a cookie");
    let (cookie, body) = (&datagram[..sp], &datagram[sp + 1..]);
    let value = bencode::decode(body).expect("bencode");
    let mut out = Vec::new();
    value.encode(&mut out);
    assert_eq!(out, body, "Kamailio's bencode round-trips");
    (cookie, body)
}

fn parse(datagram: &[u8]) -> Request<'_> {
    let (_, body) = split(datagram);
    Request::parse(bencode::decode(body).expect("bencode")).expect("a request")
}

const CALL_1: CallId<'static> = CallId(b"1-12817@127.0.0.1");
const CALL_2: CallId<'static> = CallId(b"2-12817@127.0.0.1");
const CALLER: Tag<'static> = Tag(b"12817SIPpTag001");
const CALLEE: Tag<'static> = Tag(b"12815SIPpTag011");

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

#[test]
fn cookies_are_server_id_pid_counter() {
    let d = fixture("01-ping.bin");
    let (cookie, _) = split(d);
    assert_eq!(cookie, b"0_12810_0");
    assert_eq!(parse(d), Request::Ping);
}

#[test]
fn dictionary_keys_arrive_unsorted() {
    let d = fixture("02-offer.bin");
    let (_, body) = split(d);
    let Ok(Value::Dict(dict)) = bencode::decode(body) else { panic!("a dictionary") };
    let keys: Vec<&[u8]> = dict.iter().map(|(k, _)| k).collect();
    assert_eq!(keys[..2], [&b"supports"[..], b"sdp"]);
    assert_eq!(keys.last(), Some(&&b"command"[..]), "the command comes last");
    assert!(keys.windows(2).any(|w| w[0] > w[1]), "not in bencode's sorted order");
}

#[test]
fn offer_with_many_flags() {
    let d = fixture("02-offer.bin");
    let Request::Offer(r) = parse(d) else { panic!("an offer") };
    assert_eq!(r.call_id, CALL_1);
    assert_eq!(r.from_tag, CALLER);
    assert_eq!(r.to_tag, None);
    assert_eq!(r.via_branch, Some(ViaBranch(b"z9hG4bK-12817-1-0")));
    assert!(r.sdp.0.starts_with(b"v=0\r\no=user1 ") && r.sdp.0.len() == 130);
    assert_eq!(r.flags, [Flag::TrustAddress, Flag::Symmetric]);
    assert_eq!(r.replace, [Replace::Origin, Replace::SessionConnection]);
    assert_eq!(r.direction, ["external", "internal"]);
    assert_eq!(r.transport_protocol, Some(TransportProtocol::RtpAvp));
    assert_eq!(r.rtcp_mux, [RtcpMux::Demux]);
    assert_eq!(r.ice, Some(Ice::Remove));
    assert_eq!(r.sdes, [Sdes::Off]);
    assert_eq!(r.dtls, Some(Dtls::Off));
    assert_eq!(r.address_family, Some(AddressFamily::Ip4));
    assert_eq!(r.received_from, Some(localhost()));
    assert_eq!(r.media_address, Some(localhost()));
    assert_eq!(r.label, Some("caller"));
    assert_eq!(r.record_call, Some(true));
    assert_eq!(r.codec.strip, ["G729"]);
    assert_eq!(r.codec.mask, ["PCMA"]);
    assert_eq!(r.codec.transcode, ["PCMU"]);
    assert!(r.supports_load_limit());
    // The config's own inventions travel as an unknown flag and an unknown key=value; both
    // reach the caller for a warning.
    assert_eq!(r.unknown.flags, [&b"tonewall-unknown-flag"[..]]);
    assert_eq!(r.unknown.keys, [(&b"tonewall-unknown-key"[..], Value::Bytes(b"42"))]);
}

#[test]
fn answer_on_the_200_ok() {
    let Request::Answer(r) = parse(fixture("03-answer.bin")) else { panic!("an answer") };
    assert_eq!((r.call_id, r.from_tag, r.to_tag), (CALL_1, CALLER, Some(CALLEE)));
    // `via-branch=1` on a reply is Kamailio's own Via, not the caller's: the offer and the
    // answer of one leg carry different branches.
    assert!(r.via_branch.is_some_and(|b| b.0.starts_with(b"z9hG4bK") && b.0 != b"z9hG4bK-12817-1-0"));
    assert_eq!(r.rtcp_mux, [RtcpMux::Reject]);
    assert_eq!(r.label, Some("callee"));
    assert!(r.unknown.is_empty(), "{:?}", r.unknown);
}

#[test]
fn dtmf_blocking_without_a_from_tag() {
    for (file, command) in
        [("04-block_DTMF.bin", Command::BlockDtmf), ("05-unblock_DTMF.bin", Command::UnblockDtmf)]
    {
        let req = parse(fixture(file));
        assert_eq!(req.command(), command);
        let (Request::BlockDtmf(r) | Request::UnblockDtmf(r)) = req else { panic!("{file}") };
        assert_eq!(r.call_id, CALL_1);
        // Not `directional`: the whole call.
        assert_eq!((r.from_tag, r.to_tag, r.flags.len()), (None, None, 0));
        assert!(r.unknown.is_empty());
    }
}

#[test]
fn query_and_its_retransmission() {
    let (first, again) = (fixture("06-query.bin"), fixture("07-query.bin"));
    assert_eq!(first, again, "Kamailio resends the same octets, same cookie");
    let Request::Query(r) = parse(first) else { panic!("a query") };
    assert_eq!((r.call_id, r.from_tag, r.to_tag), (CALL_1, Some(CALLER), Some(CALLEE)));
}

#[test]
fn delete_delay_arrives_twice_in_two_spellings() {
    let d = fixture("08-delete.bin");
    let (_, body) = split(d);
    let Ok(Value::Dict(dict)) = bencode::decode(body) else { panic!("a dictionary") };
    assert_eq!(dict.get(b"delete delay"), Some(&Value::Int(0)));
    assert_eq!(dict.get(b"delete-delay"), Some(&Value::Bytes(b"0")));
    let Request::Delete(r) = parse(d) else { panic!("a delete") };
    assert_eq!((r.call_id, r.from_tag, r.to_tag), (CALL_1, Some(CALLER), None));
    assert_eq!(r.delete_delay, Some(Duration::ZERO));
    assert!(r.unknown.is_empty());
}

#[test]
fn rtpengine_manage_on_the_second_call() {
    let Request::Offer(r) = parse(fixture("09-offer.bin")) else { panic!("an offer") };
    assert_eq!(r.call_id, CALL_2);
    assert_eq!(r.transport_protocol, Some(TransportProtocol::RtpSavp));
    assert_eq!(r.sdes, [Sdes::Other("unencrypted_srtp")]);
    assert_eq!(r.rtcp_mux, [RtcpMux::Offer]);
    assert_eq!(r.ice, Some(Ice::Force));
    assert_eq!(r.codec.offer, ["PCMA"]);
    assert_eq!(r.via_branch, None);
    let Request::Answer(r) = parse(fixture("10-answer.bin")) else { panic!("an answer") };
    assert_eq!(r.transport_protocol, Some(TransportProtocol::RtpAvp));
    // manage() repeats the offer's flags on the BYE's delete; they are dropped quietly.
    let Request::Delete(r) = parse(fixture("11-delete.bin")) else { panic!("a delete") };
    assert_eq!(r.call_id, CALL_2);
    assert!(r.unknown.is_empty());
}

#[test]
fn both_calls_through_the_server_with_one_query_despite_the_retransmission() {
    let names = [
        "01-ping.bin",
        "02-offer.bin",
        "03-answer.bin",
        "04-block_DTMF.bin",
        "05-unblock_DTMF.bin",
        "06-query.bin",
        "07-query.bin",
        "08-delete.bin",
        "09-offer.bin",
        "10-answer.bin",
        "11-delete.bin",
    ];
    let kamailio = SocketAddr::from(([127, 0, 0, 1], 25060));
    let mut server = NgServer::default();
    let mut relay = FakeRelay::default();
    let mut replies = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let d = fixture(name);
        let mut out = Vec::new();
        // Kamailio resent the query after its 500 ms timeout.
        let now = Duration::from_millis(1000 * i as u64 - if *name == "07-query.bin" { 500 } else { 0 });
        assert!(server.handle_datagram(now, kamailio, d, &mut relay, &mut out), "{name}");
        let (cookie, _) = split(d);
        let (reply_cookie, reply) = split(&out);
        assert_eq!(reply_cookie, cookie);
        let Ok(Value::Dict(reply)) = bencode::decode(reply) else { panic!("{name}") };
        let result = reply.get(b"result").and_then(Value::as_bytes);
        let expected: &[u8] = if i == 0 { b"pong" } else { b"ok" };
        assert_eq!(result, Some(expected), "{name}: {reply:?}");
        replies.push(out);
    }
    assert_eq!(replies[5], replies[6], "the retransmission got the first reply");
    let commands: Vec<Command> = relay.calls.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        commands,
        [
            Command::Offer,
            Command::Answer,
            Command::BlockDtmf,
            Command::UnblockDtmf,
            Command::Query,
            Command::Delete,
            Command::Offer,
            Command::Answer,
            Command::Delete,
        ],
        "the query ran once"
    );
    let stats = server.stats();
    assert_eq!((stats.retransmissions, stats.malformed, stats.dropped, stats.failed), (1, 0, 0, 0));
    // The offer's reply warns about the config's unknown flag and key.
    let (_, offer_reply) = split(&replies[1]);
    let Ok(Value::Dict(offer_reply)) = bencode::decode(offer_reply) else { panic!("offer reply") };
    assert!(offer_reply.get(b"warning").is_some());
}
