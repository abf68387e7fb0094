//! Real-world bodies (carrier, WebRTC, IPv6, hold, SDES), every rewrite, every error.

use super::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A carrier offer as SBCs send it: LF-only line ends, a trailing blank, an unknown attribute,
/// session-level `c=`, telephone-event next to G.711 and G.729.
const CARRIER: &str = "v=0
o=- 1737468000 1737468000 IN IP4 203.0.113.10
s=SBC call
c=IN IP4 203.0.113.10
b=AS:84
t=0 0
m=audio 16384 RTP/AVP 0 8 18 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20 \t
a=maxptime:40
a=X-carrier-trace:7f3a
a=sendrecv
";

/// A browser offer: ICE, DTLS, BUNDLE, rtcp-mux with the dummy `a=rtcp:9`, audio and video.
const WEBRTC: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0 1\r
a=extmap-allow-mixed\r
a=msid-semantic: WMS stream\r
a=ice-options:trickle\r
a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2\r
m=audio 50000 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r
c=IN IP4 198.51.100.7\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0\r
a=candidate:1853887674 1 udp 1518280447 198.51.100.7 50000 typ srflx raddr 192.168.0.196 rport 46243\r
a=end-of-candidates\r
a=ice-ufrag:EsAw\r
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r
a=setup:actpass\r
a=mid:0\r
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
a=sendrecv\r
a=msid:stream track0\r
a=rtcp-mux\r
a=rtpmap:111 opus/48000/2\r
a=rtcp-fb:111 transport-cc\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:63 red/48000/2\r
a=fmtp:63 111/111\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:13 CN/8000\r
a=rtpmap:110 telephone-event/48000\r
a=rtpmap:126 telephone-event/8000\r
a=ssrc:3907 cname:abcd\r
m=video 50000 UDP/TLS/RTP/SAVPF 96 97\r
c=IN IP4 198.51.100.7\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:EsAw\r
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r
a=setup:actpass\r
a=mid:1\r
a=recvonly\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:96 VP8/90000\r
a=rtcp-fb:96 nack pli\r
a=rtpmap:97 rtx/90000\r
a=fmtp:97 apt=96\r
";

/// IPv6, `a=rtcp` with its own address, media-level `c=` only.
const IPV6: &str = "v=0\r
o=agent 42 7 IN IP6 2001:db8::10\r
s=-\r
t=0 0\r
m=audio 30000 RTP/AVP 8 101\r
c=IN IP6 2001:db8::10\r
a=rtcp:30011 IN IP6 2001:db8::20\r
a=rtpmap:101 Telephone-Event/8000\r
";

/// Two streams, the second rejected; session `c=` with a media-level override; static payload
/// types without `a=rtpmap`.
const MULTI: &str = "v=0\r
o=pbx 1 1 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=0 0\r
a=sendonly\r
m=audio 4000 RTP/AVP 0 8\r
m=video 0 RTP/AVP 31\r
c=IN IP4 192.0.2.99\r
a=rtpmap:31 H261/90000\r
a=ice-ufrag:zzzz\r
m=audio 4002 RTP/AVP 0\r
c=IN IP4 192.0.2.2\r
a=recvonly\r
";

/// RFC 2543 hold: the connection address is 0.0.0.0.
const HOLD_2543: &str = "v=0\r
o=- 5 6 IN IP4 192.0.2.5\r
s=-\r
c=IN IP4 0.0.0.0\r
t=0 0\r
m=audio 7000 RTP/AVP 0\r
";

/// SDES-SRTP offer with two suites (RFC 4568 §9.1-style).
const CRYPTO: &str = "v=0\r
o=sam 2890844526 2890842807 IN IP4 192.0.2.10\r
s=SRTP Discussion\r
c=IN IP4 192.0.2.12\r
t=0 0\r
m=audio 49170 RTP/SAVP 0\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32\r
a=ptime:20\r
";

const KEY1: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
const KEY2: &str = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj";

fn parse(s: &str) -> Sdp {
    match Sdp::parse(s.as_bytes()) {
        Ok(sdp) => sdp,
        Err(e) => panic!("{e}"),
    }
}

fn text(sdp: &Sdp) -> String {
    let mut out = Vec::new();
    sdp.write(&mut out);
    String::from_utf8(out).expect("UTF-8")
}

/// The body with CRLF line ends and no blank line: what an untouched SDP must write.
fn crlf(s: &str) -> String {
    s.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect()
}

fn err(s: &str) -> Error {
    match Sdp::parse(s.as_bytes()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

fn line_err(line: usize, problem: LineError) -> Error {
    Error::Line { line, problem }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const RELAY: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

// ---------------------------------------------------------------- parsing and reading

#[test]
fn untouched_bodies_write_back_byte_for_byte() {
    for body in [CARRIER, WEBRTC, IPV6, MULTI, HOLD_2543, CRYPTO] {
        let sdp = parse(body);
        assert_eq!(text(&sdp), crlf(body));
        assert_eq!(parse(&text(&sdp)), sdp, "parse → write → parse is the same structure");
    }
    // CRLF in, the very same bytes out; the trailing tab and blank of `a=ptime` survive.
    assert_eq!(text(&parse(WEBRTC)), WEBRTC);
    assert!(text(&parse(CARRIER)).contains("a=ptime:20 \t\r\n"));
}

#[test]
fn carrier_offer_reads() {
    let sdp = parse(CARRIER);
    let o = sdp.origin();
    assert_eq!((o.username(), o.session_id(), o.version()), ("-", "1737468000", 1737468000));
    assert_eq!((o.addr_type(), o.ip()), (AddrType::Ip4, Some(v4(203, 0, 113, 10))));
    assert_eq!(sdp.connection(), Some(Connection::new(v4(203, 0, 113, 10))));
    assert_eq!(sdp.media().len(), 1);
    let m = &sdp.media()[0];
    assert_eq!((m.media_type(), m.port(), m.port_count()), ("audio", 16384, None));
    assert_eq!((m.proto(), m.proto_str()), (Some(Proto::RtpAvp), "RTP/AVP"));
    assert_eq!(m.formats().collect::<Vec<_>>(), ["0", "8", "18", "101"]);
    let names: Vec<_> = m.codecs().map(|c| (c.pt, c.name, c.clock_rate)).collect();
    assert_eq!(
        names,
        [(0, "PCMU", 8000), (8, "PCMA", 8000), (18, "G729", 8000), (101, "telephone-event", 8000)]
    );
    let te: Vec<_> = m.telephone_events().map(|c| (c.pt, c.clock_rate)).collect();
    assert_eq!(te, [(101, 8000)]);
    assert_eq!(m.fmtp(101), Some("0-16"));
    assert_eq!(m.fmtp(18), Some("annexb=no"));
    assert_eq!(m.fmtp(0), None);
    assert_eq!((m.ptime(), m.maxptime()), (Some(20), Some(40)));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(m.connection(), None);
    assert!(!m.rtcp_mux() && m.rtcp().is_none() && m.crypto().next().is_none());
    let attrs: Vec<_> = m.attributes().map(|a| a.name).collect();
    assert_eq!(attrs[8], "X-carrier-trace", "unknown attributes kept in order");
    let e = sdp.endpoints(0).expect("endpoints");
    assert_eq!(e.rtp, "203.0.113.10:16384".parse().expect("addr"));
    assert_eq!(e.rtcp, Some("203.0.113.10:16385".parse().expect("addr")), "RTCP on port + 1");
    assert!(!e.rtcp_mux && !e.hold);
    assert_eq!(sdp.endpoints(1), None);
}

#[test]
fn webrtc_offer_reads() {
    let sdp = parse(WEBRTC);
    assert_eq!(sdp.ice_options(), Some("trickle"));
    assert_eq!(sdp.fingerprints().count(), 1);
    assert!(sdp.fingerprints().all(|f| f.starts_with("sha-256 19:E2")));
    assert!(!sdp.ice_lite() && sdp.connection().is_none());
    let a = &sdp.media()[0];
    assert_eq!(a.proto(), Some(Proto::UdpTlsRtpSavpf));
    assert!(a.proto().is_some_and(|p| p.is_dtls() && p.is_secure() && p.has_feedback()));
    assert_eq!(a.candidates().count(), 2);
    assert!(a.end_of_candidates());
    assert_eq!(a.ice_ufrag(), Some("EsAw"));
    assert_eq!(a.ice_pwd().map(|p| p.expose()), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
    assert_eq!(a.setup(), Some(Setup::ActPass));
    assert_eq!(a.rtcp(), Some(Rtcp { port: 9, address: Some(v4(0, 0, 0, 0)) }));
    let te: Vec<_> = a.telephone_events().map(|c| (c.pt, c.clock_rate)).collect();
    assert_eq!(te, [(110, 48000), (126, 8000)], "one telephone-event per clock rate");
    assert_eq!(a.codec(111), Some(Codec { pt: 111, name: "opus", clock_rate: 48000, channels: Some(2) }));
    let e = sdp.endpoints(0).expect("endpoints");
    assert!(e.rtcp_mux);
    assert_eq!(e.rtcp, Some(e.rtp), "rtcp-mux wins over the dummy a=rtcp:9");
    assert_eq!(sdp.media_direction(1), Some(Direction::RecvOnly));
    assert_eq!(sdp.media_direction(0), Some(Direction::SendRecv));
}

#[test]
fn ipv6_and_rtcp_with_address() {
    let sdp = parse(IPV6);
    assert_eq!(sdp.origin().addr_type(), AddrType::Ip6);
    let m = &sdp.media()[0];
    let v6: IpAddr = "2001:db8::10".parse().expect("addr");
    let v6b: IpAddr = "2001:db8::20".parse().expect("addr");
    assert_eq!(m.connection(), Some(Connection::new(v6)));
    assert_eq!(m.rtcp(), Some(Rtcp { port: 30011, address: Some(v6b) }));
    let e = sdp.endpoints(0).expect("endpoints");
    assert_eq!(e.rtp, SocketAddr::new(v6, 30000));
    assert_eq!(e.rtcp, Some(SocketAddr::new(v6b, 30011)));
    // Found by name whatever its case; PCMA is known from the static table.
    assert_eq!(m.telephone_events().map(|c| c.pt).collect::<Vec<_>>(), [101]);
    assert_eq!(m.codec(8).map(|c| c.name), Some("PCMA"));
}

#[test]
fn session_and_media_level_connections_directions_and_rejected_streams() {
    let sdp = parse(MULTI);
    assert_eq!(sdp.media().len(), 3);
    assert_eq!(sdp.endpoints(0).map(|e| e.rtp), Some("192.0.2.1:4000".parse().expect("addr")));
    assert_eq!(sdp.endpoints(1), None, "rejected");
    assert_eq!(sdp.endpoints(2).map(|e| e.rtp), Some("192.0.2.2:4002".parse().expect("addr")));
    assert!(sdp.media()[1].is_rejected());
    assert_eq!(sdp.direction(), Some(Direction::SendOnly));
    assert_eq!(sdp.media_direction(0), Some(Direction::SendOnly), "inherited from the session");
    assert_eq!(sdp.media_direction(2), Some(Direction::RecvOnly));
    assert_eq!(sdp.media_direction(3), None);
    let m = &sdp.media()[0];
    let codecs: Vec<_> = m.codecs().map(|c| (c.pt, c.name)).collect();
    assert_eq!(codecs, [(0, "PCMU"), (8, "PCMA")], "static types without a=rtpmap");
    // No direction anywhere: sendrecv.
    assert_eq!(
        parse(CARRIER.replace("a=sendrecv\n", "").as_str()).media_direction(0),
        Some(Direction::SendRecv)
    );
}

#[test]
fn hold_in_both_styles() {
    let sdp = parse(HOLD_2543);
    let e = sdp.endpoints(0).expect("endpoints");
    assert!(e.hold && sdp.connection().is_some_and(|c| c.is_hold()));
    let sdp = parse(&CARRIER.replace("a=sendrecv", "a=sendonly"));
    assert_eq!(sdp.media_direction(0), Some(Direction::SendOnly));
    assert!(!sdp.endpoints(0).expect("endpoints").hold);
}

#[test]
fn crypto_values_are_kept_raw_and_never_shown() {
    let sdp = parse(CRYPTO);
    let m = &sdp.media()[0];
    let values: Vec<_> = m.crypto().map(|c| c.expose()).collect();
    assert_eq!(values.len(), 2);
    assert!(values[0].starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:") && values[0].contains(KEY1));
    let debug = format!(
        "{sdp:?} {m:?} {:?} {:?}",
        m.crypto().collect::<Vec<_>>(),
        m.attributes().collect::<Vec<_>>()
    );
    for secret in [KEY1, KEY2, "inline:"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("a=crypto:<redacted>"));
    assert!(debug.contains("a=ptime:20"), "the rest is shown");
    // ICE passwords and the o= user name too.
    let debug = format!("{:?}", parse(WEBRTC));
    assert!(!debug.contains("P2uYro0UCOQ4zxjKXaWCBui1") && debug.contains("a=ice-pwd:<redacted>"));
    let debug = format!("{:?} {:?}", parse(MULTI), parse(MULTI).origin());
    assert!(!debug.contains("pbx"), "{debug}");
    let debug =
        format!("{:?}", parse(&CARRIER.replace("s=SBC call", "s=-\nk=clear:SECRETKEY\np=+1 555 0100")));
    assert!(!debug.contains("SECRETKEY") && !debug.contains("555"), "{debug}");
}

#[test]
fn lenient_where_carriers_are_sloppy() {
    // Lower-case proto, fractional ptime, unknown line type, blank lines, no final line end.
    let body = "v=0\n\no=- 1 1 IN IP4 192.0.2.1\ns=-\nx=vendor-thing\nt=0 0\nm=audio 5004 rtp/avp 0\na=ptime:20.5\n\n  \na=sendrecv";
    let sdp = parse(body);
    let m = &sdp.media()[0];
    assert_eq!((m.proto(), m.proto_str()), (Some(Proto::RtpAvp), "rtp/avp"));
    assert_eq!(m.ptime(), None);
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(text(&sdp), crlf(body));
    // A rejected stream without formats is tolerated.
    assert!(Sdp::parse(b"v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 0 RTP/AVP\n").is_ok());
    // Multicast is parsed and flagged, not refused.
    let sdp = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 224.2.17.12/127/3\nm=audio 5004 RTP/AVP 0\n");
    let c = sdp.connection().expect("c=");
    assert!(c.is_multicast() && c.ttl == Some(127) && c.count == Some(3));
    assert!(sdp.endpoints(0).is_some_and(|e| e.multicast && !e.hold));
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_name_the_line_and_the_problem() {
    let ok = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n";
    let cases: &[(&str, Error)] = &[
        ("", Error::Empty),
        ("\n\n", Error::Empty),
        ("s=-\n", line_err(1, LineError::ExpectedVersion)),
        ("v=1\n", line_err(1, LineError::ExpectedVersion)),
        ("v=0\ns=-\n", Error::NoOrigin),
        ("v=0\nv=0\n", line_err(2, LineError::DuplicateVersion)),
        ("v=0\no=- 1 1 IN IP4 1.2.3.4\no=- 1 1 IN IP4 1.2.3.4\n", line_err(3, LineError::DuplicateOrigin)),
        ("v=0\no=- 1 IN IP4 1.2.3.4\n", line_err(2, LineError::OriginFields)),
        ("v=0\no=- 1 x1 IN IP4 1.2.3.4\n", line_err(2, LineError::OriginVersion)),
        ("v=0\no=- 1 99999999999999999999 IN IP4 1.2.3.4\n", line_err(2, LineError::OriginVersion)),
        ("v=0\no=- 1 1 ATM IP4 1.2.3.4\n", line_err(2, LineError::NetworkType)),
        ("v=0\no=- 1 1 IN IPX 1.2.3.4\n", line_err(2, LineError::AddressType)),
        ("v=0\n\nhello\n", line_err(3, LineError::NotTypeValue)),
        ("v=0\nA=x\n", line_err(2, LineError::NotTypeValue)),
        ("v=0\na=x\0y\n", line_err(2, LineError::ControlCharacter)),
        ("v=0\na=x\ry\n", line_err(2, LineError::ControlCharacter)),
        ("v=0\ns=\u{85}\n", line_err(2, LineError::ControlCharacter)),
    ];
    for (body, want) in cases {
        assert_eq!(&err(body), want, "{body:?}");
    }
    assert_eq!(Sdp::parse(b"v=0\ns=\xff\xfe\n"), Err(line_err(2, LineError::NotUtf8)));

    let media: &[(&str, LineError)] = &[
        ("c=IN IP4 not-an-ip", LineError::ConnectionAddress),
        ("c=IN IP4 host.example.com", LineError::ConnectionAddress),
        ("c=IN IP4 2001:db8::1", LineError::ConnectionAddress),
        ("c=IN IP6 192.0.2.1", LineError::ConnectionAddress),
        ("c=IN IP4", LineError::ConnectionFields),
        ("c=IN IP4 224.2.1.1/300", LineError::ConnectionSuffix),
        ("c=IN IP6 ff15::1/3/4", LineError::ConnectionSuffix),
        ("m=audio", LineError::MediaFields),
        ("m=audio 70000 RTP/AVP 0", LineError::MediaPort),
        ("m=audio -1 RTP/AVP 0", LineError::MediaPort),
        ("m=audio 5004/0 RTP/AVP 0", LineError::MediaPortCount),
        ("m=audio 5004/x RTP/AVP 0", LineError::MediaPortCount),
        ("m=audio 5004 RTP/AVP", LineError::MediaFormats),
        ("a=rtcp:65536", LineError::RtcpPort),
        ("a=rtcp:", LineError::RtcpPort),
        ("a=rtcp:5005 IN IP4", LineError::RtcpAddress),
        ("a=rtcp:5005 IN IP4 example.com", LineError::RtcpAddress),
        ("a=rtpmap:200 PCMU/8000", LineError::Rtpmap),
        ("a=rtpmap:0 PCMU", LineError::Rtpmap),
        ("a=rtpmap:0 PCMU/0", LineError::Rtpmap),
        ("a=rtpmap:0 /8000", LineError::Rtpmap),
        ("a=rtpmap:0 PCMU/8000/1/2", LineError::Rtpmap),
        ("o=- 1 1 IN IP4 192.0.2.1", LineError::OriginInMedia),
    ];
    for (line, problem) in media {
        let body = format!("{ok}m=audio 5004 RTP/AVP 0\na=sendrecv\n{line}\n");
        assert_eq!(err(&body), line_err(7, *problem), "{line}");
    }
    let dup_c = format!("{ok}c=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\n");
    assert_eq!(err(&dup_c), line_err(6, LineError::DuplicateConnection));
    // Several c= in one media section are legal (multicast layers).
    assert!(
        Sdp::parse(format!("{ok}m=audio 1 RTP/AVP 0\nc=IN IP4 1.2.3.4\nc=IN IP4 1.2.3.5\n").as_bytes())
            .is_ok()
    );
}

#[test]
fn limits_are_enforced() {
    let limits = Limits { max_bytes: 200, max_lines: 6, max_media: 2 };
    let base = "v=0\no=- 1 1 IN IP4 192.0.2.1\n";
    let big = format!("{base}s={}\n", "x".repeat(200));
    assert_eq!(Sdp::parse_with(big.as_bytes(), &limits), Err(Error::TooLarge { len: big.len(), max: 200 }));
    let lines = format!("{base}s=-\n\nt=0 0\na=1\na=2\na=3\n");
    assert_eq!(Sdp::parse_with(lines.as_bytes(), &limits), Err(Error::TooManyLines { line: 8, max: 6 }));
    let media = format!("{base}m=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\nm=audio 3 RTP/AVP 0\n");
    assert_eq!(Sdp::parse_with(media.as_bytes(), &limits), Err(Error::TooManyMedia { line: 5, max: 2 }));
    assert!(Sdp::parse_with(format!("{base}m=audio 1 RTP/AVP 0\n").as_bytes(), &limits).is_ok());
    let huge = "a=x\n".repeat(20_000);
    assert!(matches!(Sdp::parse(format!("{base}{huge}").as_bytes()), Err(Error::TooLarge { .. })));
}

#[test]
fn errors_never_quote_the_body() {
    for line in [
        "a=rtcp:inline:WVNfX19zZW1jdGwgKCkgewkyMjA7",
        "a=rtpmap:inline:WVNfX19zZW1jdGwgKCkgewkyMjA7",
        "m=audio inline:WVNfX19zZW1jdGwgKCkgewkyMjA7",
        "c=IN IP4 WVNfX19zZW1jdGwgKCkgewkyMjA7",
        "WVNfX19zZW1jdGwgKCkgewkyMjA7",
    ] {
        let e = err(&format!("v=0\no=- 1 1 IN IP4 192.0.2.1\n{line}\n"));
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("WVNf"), "{shown}");
        assert!(shown.starts_with("line 3: "), "{shown}");
    }
}

// ---------------------------------------------------------------- rewriting

const SMALL: &str = "v=0\r
o=- 10 20 IN IP4 192.0.2.1\r
s=-\r
c=IN IP4 192.0.2.1\r
t=0 0\r
m=audio 4000 RTP/AVP 0 8 101\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=sendrecv\r
";

/// Rewrites SMALL and returns the body.
fn rewrite(f: impl FnOnce(&mut Sdp)) -> String {
    let mut sdp = parse(SMALL);
    f(&mut sdp);
    let out = text(&sdp);
    assert_eq!(text(&parse(&out)), out, "a rewritten body parses and writes back the same");
    out
}

#[test]
fn set_connection_and_origin_addresses() {
    let out = rewrite(|s| {
        s.set_connection_address(RELAY);
        s.set_origin_address(RELAY);
    });
    assert_eq!(out, SMALL.replace("192.0.2.1", "10.0.0.1"));

    // IPv6 relay: both address type and address change.
    let v6: IpAddr = "2001:db8::1".parse().expect("addr");
    let out = rewrite(|s| {
        s.set_connection_address(v6);
        s.set_origin_address(v6);
    });
    assert!(out.contains("o=- 10 20 IN IP6 2001:db8::1\r\n") && out.contains("c=IN IP6 2001:db8::1\r\n"));

    // Session and media levels are kept consistent; a rejected stream is left alone.
    let mut sdp = parse(MULTI);
    sdp.set_connection_address(RELAY);
    let out = text(&sdp);
    assert_eq!(out.matches("c=IN IP4 10.0.0.1").count(), 2, "{out}");
    assert!(out.contains("m=video 0 RTP/AVP 31\r\nc=IN IP4 192.0.2.99\r\n"));
    assert_eq!(sdp.endpoints(2).map(|e| e.rtp.ip()), Some(RELAY));

    // No session c=: every stream in use gets one, after its m= (and i=) line.
    let mut sdp = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 5000 RTP/AVP 0\ni=voice\na=sendrecv\nm=audio 0 RTP/AVP 0\n",
    );
    sdp.set_connection_address(RELAY);
    assert_eq!(
        text(&sdp),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nm=audio 5000 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 10.0.0.1\r\na=sendrecv\r\nm=audio 0 RTP/AVP 0\r\n"
    );

    // RFC 2543 hold stays hold, in the relay's family.
    let mut sdp = parse(HOLD_2543);
    sdp.set_connection_address(RELAY);
    assert_eq!(text(&sdp), HOLD_2543);
    sdp.set_connection_address("2001:db8::1".parse().expect("addr"));
    assert!(text(&sdp).contains("c=IN IP6 ::\r\n"));
    assert!(sdp.endpoints(0).is_some_and(|e| e.hold));

    // Per media: a media-level c= overrides the session's.
    let out = rewrite(|s| s.media_mut()[0].set_connection_address(RELAY));
    assert!(out.contains("m=audio 4000 RTP/AVP 0 8 101\r\nc=IN IP4 10.0.0.1\r\n"));
}

#[test]
fn set_port_proto_and_reject() {
    let out = rewrite(|s| {
        s.media_mut()[0].set_port(30000);
        s.media_mut()[0].set_proto(Proto::RtpSavp);
    });
    assert_eq!(out, SMALL.replace("m=audio 4000 RTP/AVP", "m=audio 30000 RTP/SAVP"));
    let out = rewrite(|s| s.media_mut()[0].reject());
    assert_eq!(out, SMALL.replace("m=audio 4000", "m=audio 0"));
    // The port count survives a port change.
    let mut sdp = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 5000/2 rtp/avp 0\n");
    sdp.media_mut()[0].set_port(6000);
    sdp.media_mut()[0].set_proto(Proto::RtpAvp);
    assert!(text(&sdp).contains("m=audio 6000/2 rtp/avp 0\r\n"), "same proto in another case: untouched");
}

#[test]
fn set_and_remove_rtcp_and_mux() {
    let out = rewrite(|s| s.media_mut()[0].set_rtcp(4001, None));
    assert_eq!(out, format!("{SMALL}a=rtcp:4001\r\n"));
    let out = rewrite(|s| s.media_mut()[0].set_rtcp(4001, Some(RELAY)));
    assert!(out.ends_with("a=rtcp:4001 IN IP4 10.0.0.1\r\n"));
    let v6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut sdp = parse(WEBRTC);
    sdp.media_mut()[0].set_rtcp(50001, Some(v6));
    let out = text(&sdp);
    assert!(
        out.contains("c=IN IP4 198.51.100.7\r\na=rtcp:50001 IN IP6 ::1\r\na=candidate"),
        "replaced in place"
    );
    assert_eq!(out.matches("a=rtcp:").count(), 2);
    sdp.media_mut()[0].remove_rtcp();
    sdp.media_mut()[0].set_rtcp_mux(false);
    let m = &sdp.media()[0];
    assert!(m.rtcp().is_none() && !m.rtcp_mux());
    let e = sdp.endpoints(0).expect("endpoints");
    assert_eq!(e.rtcp.map(|a| a.port()), Some(50001), "port + 1 again");

    let out = rewrite(|s| s.media_mut()[0].set_rtcp_mux(true));
    assert_eq!(out, format!("{SMALL}a=rtcp-mux\r\n"));
    let mut sdp = parse(&format!("{SMALL}a=rtcp-mux\r\na=rtcp-mux-only\r\n"));
    sdp.media_mut()[0].set_rtcp_mux(true);
    assert_eq!(text(&sdp).matches("a=rtcp-mux\r\n").count(), 1, "not added twice");
    sdp.media_mut()[0].set_rtcp_mux(false);
    assert_eq!(text(&sdp), SMALL);
}

#[test]
fn replace_crypto() {
    let mut sdp = parse(CRYPTO);
    let ours = "1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:4";
    sdp.media_mut()[0].set_crypto(&[ours]).expect("valid");
    let out = text(&sdp);
    assert!(!out.contains(KEY1) && !out.contains(KEY2));
    assert!(out.contains(&format!("m=audio 49170 RTP/SAVP 0\r\na=crypto:{ours}\r\na=ptime:20\r\n")), "{out}");
    // Injection through a value is refused and nothing changes.
    let before = text(&sdp);
    for bad in ["1 X inline:A\r\na=sendonly", "", "  ", "1 X\ninline"] {
        assert_eq!(sdp.media_mut()[0].set_crypto(&[bad]), Err(RewriteError::BadValue));
    }
    assert_eq!(text(&sdp), before);
    // None: all removed; on a body without crypto, appended.
    sdp.media_mut()[0].set_crypto::<&str>(&[]).expect("valid");
    assert!(sdp.media()[0].crypto().next().is_none());
    let out = rewrite(|s| s.media_mut()[0].set_crypto(&[ours, ours]).expect("valid"));
    assert_eq!(out, format!("{SMALL}a=crypto:{ours}\r\na=crypto:{ours}\r\n"));
}

#[test]
fn remove_payload_types_and_keep_codecs() {
    // telephone-event stripped toward an agent: format, rtpmap and fmtp all go.
    let out = rewrite(|s| {
        let m = &mut s.media_mut()[0];
        let te: Vec<u8> = m.telephone_events().map(|c| c.pt).collect();
        assert_eq!(m.remove_payload_types(&te), Ok(1));
    });
    assert_eq!(
        out,
        "v=0\r\no=- 10 20 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=sendrecv\r\n"
    );

    let mut sdp = parse(WEBRTC);
    let m = &mut sdp.media_mut()[0];
    assert_eq!(m.keep_codecs(&["pcmu", "TELEPHONE-EVENT"]), Ok(5));
    assert_eq!(m.formats().collect::<Vec<_>>(), ["0", "110", "126"]);
    let out = text(&sdp);
    for gone in ["a=rtpmap:111", "a=fmtp:111", "a=rtcp-fb:111", "a=rtpmap:63", "a=rtpmap:9 ", "a=rtpmap:13"] {
        assert!(!out.contains(gone), "{gone}");
    }
    assert!(out.contains("a=rtpmap:0 PCMU/8000\r\na=rtpmap:110"));
    assert!(out.contains("a=rtcp-fb:96 nack pli"), "the video section is untouched");

    // Nothing would be left: refused, unchanged.
    let mut sdp = parse(SMALL);
    assert_eq!(sdp.media_mut()[0].remove_payload_types(&[0, 8, 101]), Err(RewriteError::NoFormatsLeft));
    assert_eq!(sdp.media_mut()[0].keep_codecs(&["G722"]), Err(RewriteError::NoFormatsLeft));
    assert_eq!(text(&sdp), SMALL);
    // Nothing to remove: nothing changes.
    assert_eq!(sdp.media_mut()[0].remove_payload_types(&[96]), Ok(0));
    assert_eq!(sdp.media_mut()[0].keep_codecs(&["PCMU", "PCMA", "telephone-event"]), Ok(0));
    assert_eq!(text(&sdp), SMALL);
    // A dynamic type without rtpmap has no name: it goes; non-RTP formats stay.
    let mut sdp = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 5000 RTP/AVP 0 96\nm=image 6000 udptl t38\n");
    assert_eq!(sdp.media_mut()[0].keep_codecs(&["PCMU"]), Ok(1));
    assert_eq!(sdp.media_mut()[1].keep_codecs(&["PCMU"]), Ok(0));
    assert!(text(&sdp).contains("m=audio 5000 RTP/AVP 0\r\nm=image 6000 udptl t38\r\n"));
}

#[test]
fn remove_ice_and_dtls() {
    let mut sdp = parse(WEBRTC);
    sdp.remove_ice();
    sdp.remove_dtls();
    let out = text(&sdp);
    for gone in ["candidate", "ice-", "end-of-candidates", "fingerprint", "setup"] {
        assert!(!out.contains(gone), "{gone}");
    }
    for kept in
        ["a=group:BUNDLE 0 1", "a=mid:0", "a=extmap:1", "a=msid:", "a=rtcp-mux", "a=ssrc:", "a=rtcp-rsize"]
    {
        assert!(out.contains(kept), "{kept}");
    }
    assert_eq!(out.lines().count(), WEBRTC.lines().count() - 11);
    assert!(sdp.ice_options().is_none() && sdp.media()[1].ice_ufrag().is_none());
}

#[test]
fn set_direction() {
    let out = rewrite(|s| s.media_mut()[0].set_direction(Direction::SendOnly));
    assert_eq!(out, SMALL.replace("a=sendrecv", "a=sendonly"));
    let mut sdp = parse(MULTI);
    sdp.media_mut()[0].set_direction(Direction::Inactive);
    assert_eq!(sdp.media_direction(0), Some(Direction::Inactive));
    assert!(text(&sdp).contains("m=audio 4000 RTP/AVP 0 8\r\na=inactive\r\nm=video"));
    // Duplicates collapse to one.
    let mut sdp = parse(&format!("{SMALL}a=recvonly\r\n"));
    sdp.media_mut()[0].set_direction(Direction::SendRecv);
    assert_eq!(text(&sdp), SMALL);
}

#[test]
fn a_rejected_stream_stays_rejected_and_untouched() {
    let mut sdp = parse(MULTI);
    let before = sdp.media()[1].clone();
    sdp.set_connection_address(RELAY);
    sdp.remove_ice();
    sdp.remove_dtls();
    let m = &mut sdp.media_mut()[1];
    m.set_port(40000);
    m.set_proto(Proto::RtpSavp);
    m.set_connection_address(RELAY);
    m.set_rtcp(40001, None);
    m.set_rtcp_mux(true);
    m.set_crypto(&["1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"]).expect("valid");
    assert_eq!(m.remove_payload_types(&[31]), Ok(0));
    assert_eq!(m.keep_codecs(&["PCMU"]), Ok(0));
    m.set_direction(Direction::Inactive);
    m.reject();
    assert_eq!(sdp.media()[1], before);
    assert!(text(&sdp).contains(
        "m=video 0 RTP/AVP 31\r\nc=IN IP4 192.0.2.99\r\na=rtpmap:31 H261/90000\r\na=ice-ufrag:zzzz\r\n"
    ));
}

#[test]
fn rewriting_twice_is_rewriting_once() {
    let ops = |s: &mut Sdp| {
        s.set_connection_address(RELAY);
        s.set_origin_address(RELAY);
        s.remove_ice();
        s.remove_dtls();
        for m in s.media_mut() {
            m.set_port(20000);
            m.set_proto(Proto::RtpAvp);
            m.set_rtcp(20001, Some(RELAY));
            m.set_rtcp_mux(false);
            m.set_direction(Direction::SendRecv);
            let _ = m.keep_codecs(&["PCMU", "PCMA"]);
        }
    };
    for body in [CARRIER, WEBRTC, IPV6, MULTI, HOLD_2543, CRYPTO] {
        let mut sdp = parse(body);
        ops(&mut sdp);
        let once = text(&sdp);
        ops(&mut sdp);
        assert_eq!(text(&sdp), once);
        assert_eq!(parse(&once), sdp);
    }
}

// ---------------------------------------------------------------- per-leg origin

#[test]
fn leg_origin_versions_follow_rfc3264() {
    let mut leg = LegOrigin::new();
    assert_eq!(leg.version(), None);
    let mut sdp = parse(SMALL);
    sdp.set_origin_address(RELAY);
    let mut out = Vec::new();
    assert_eq!(leg.write(&sdp, &mut out), LegWrite { version: 20, changed: true });
    let first = String::from_utf8(out.clone()).expect("UTF-8");
    assert!(first.contains("o=- 10 20 IN IP4 10.0.0.1\r\n"));

    // The same body again (a re-INVITE refresh, or the far side bumping its own version
    // without a change): same version, same bytes.
    let mut again = parse(&SMALL.replace(" 20 IN", " 21 IN"));
    again.set_origin_address(RELAY);
    let mut out2 = Vec::new();
    assert_eq!(leg.write(&again, &mut out2), LegWrite { version: 20, changed: false });
    assert_eq!(out2, out);

    // A change: version + 1, exactly once.
    again.media_mut()[0].set_direction(Direction::SendOnly);
    let mut out3 = b"prefix".to_vec();
    assert_eq!(leg.write(&again, &mut out3), LegWrite { version: 21, changed: true });
    let third = String::from_utf8(out3[6..].to_vec()).expect("UTF-8");
    assert!(third.contains("o=- 10 21 IN IP4 10.0.0.1\r\n") && third.contains("a=sendonly"));
    assert_eq!(leg.write(&again, &mut Vec::new()), LegWrite { version: 21, changed: false });
    assert_eq!(leg.version(), Some(21));

    // The far side changes its o= user and session (a transfer): this leg's stay pinned,
    // and going back to the earlier body is a change too.
    let mut other = parse(&SMALL.replace("o=- 10 20", "o=bob 999 5"));
    other.set_origin_address(RELAY);
    let mut out4 = Vec::new();
    assert_eq!(leg.write(&other, &mut out4), LegWrite { version: 22, changed: true });
    let fourth = String::from_utf8(out4).expect("UTF-8");
    assert_eq!(fourth, first.replace(" 20 IN", " 22 IN"));
    assert!(!format!("{leg:?}").contains("192.0.2.1"));
}

#[test]
fn leg_origin_handles_digit_growth_and_wrap() {
    let mut leg = LegOrigin::new();
    let mut sdp = parse(&SMALL.replace(" 20 IN", " 9 IN"));
    let mut out = Vec::new();
    leg.write(&sdp, &mut out);
    sdp.media_mut()[0].set_port(5000);
    out.clear();
    assert_eq!(leg.write(&sdp, &mut out).version, 10);
    let body = String::from_utf8(out.clone()).expect("UTF-8");
    assert!(body.contains("o=- 10 10 IN IP4") && body.ends_with("a=sendrecv\r\n"));
    assert_eq!(Sdp::parse(&out).map(|s| s.origin().version()), Ok(10));
    out.clear();
    assert_eq!(leg.write(&sdp, &mut out), LegWrite { version: 10, changed: false });

    let mut leg = LegOrigin::new();
    let mut sdp = parse(&SMALL.replace(" 20 IN", &format!(" {} IN", u64::MAX)));
    leg.write(&sdp, &mut Vec::new());
    sdp.media_mut()[0].set_port(5000);
    assert_eq!(leg.write(&sdp, &mut Vec::new()).version, 0);
}
