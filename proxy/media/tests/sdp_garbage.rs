//! The SDP parser and rewriter on seeded random bodies, on stable Rust: plausible SDPs built
//! from real-world lines (some subtly wrong), then mangled. The cargo-fuzz target `sdp_parse`
//! in `proxy/fuzz` checks the same invariants (`tonewall_media::fuzzing::sdp`) with coverage
//! guidance.

use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;
use tonewall_media::sdp::Sdp;

const SESSION: &[&str] = &[
    "s=-",
    "s=SBC call",
    "c=IN IP4 203.0.113.10",
    "c=IN IP4 0.0.0.0",
    "c=IN IP6 2001:db8::10",
    "c=IN IP4 224.2.17.12/127/3",
    "t=0 0",
    "b=AS:84",
    "a=sendonly",
    "a=recvonly",
    "a=ice-lite",
    "a=ice-options:trickle",
    "a=ice-ufrag:EsAw",
    "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
    "a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04",
    "a=group:BUNDLE 0 1",
    "k=clear:SECRETSECRETSECRET",
    "x=vendor",
];

const MEDIA: &[&str] = &[
    "m=audio 16384 RTP/AVP 0 8 18 101",
    "m=audio 0 RTP/AVP 0",
    "m=audio 50000 UDP/TLS/RTP/SAVPF 111 0 8 126",
    "m=audio 49170 RTP/SAVP 0 101",
    "m=audio 5004/2 rtp/avp 8",
    "m=video 0 RTP/AVP 31",
    "m=video 51372 RTP/AVPF 96 97",
    "m=image 6000 udptl t38",
    "m=audio 65535 RTP/AVP 101",
];

const MEDIA_LINES: &[&str] = &[
    "c=IN IP4 198.51.100.7",
    "c=IN IP4 0.0.0.0",
    "c=IN IP6 ::",
    "i=voice",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:101 telephone-event/8000",
    "a=rtpmap:126 Telephone-Event/8000",
    "a=fmtp:101 0-16",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=ptime:20",
    "a=ptime:20.5",
    "a=maxptime:40",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp:30011 IN IP6 2001:db8::20",
    "a=rtcp:16385",
    "a=rtcp-mux",
    "a=rtcp-mux-only",
    "a=sendrecv",
    "a=sendonly",
    "a=inactive",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj",
    "a=key-mgmt:mikey AQAFgM0XflABAAAAAAAAAAAAAAsAyONQ6gAAAAAJAAAQbb",
    "a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host",
    "a=end-of-candidates",
    "a=ice-ufrag:EsAw",
    "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
    "a=setup:actpass",
    "a=fingerprint:sha-256 19:E2:1C:3B",
    "a=mid:0",
    "a=X-carrier-trace:7f3a",
    // Subtly wrong.
    "a=rtpmap:200 PCMU/8000",
    "a=rtcp:70000",
    "c=IN IP4 host.example",
    "m=audio x RTP/AVP 0",
    "o=- 1 1 IN IP4 192.0.2.1",
];

fn body(rng: &mut Rng) -> Vec<u8> {
    let mut lines: Vec<String> =
        vec!["v=0".into(), format!("o=- {} {} IN IP4 192.0.2.1", rng.below(1000), rng.below(20))];
    for _ in 0..rng.below(5) {
        lines.push(SESSION[rng.below(SESSION.len())].into());
    }
    for _ in 0..rng.below(4) {
        lines.push(MEDIA[rng.below(MEDIA.len())].into());
        for _ in 0..rng.below(8) {
            // Mostly valid lines; the last five are wrong.
            let n = if rng.below(10) == 0 { MEDIA_LINES.len() } else { MEDIA_LINES.len() - 5 };
            lines.push(MEDIA_LINES[rng.below(n)].into());
        }
    }
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        match rng.below(8) {
            0 => out.extend_from_slice(b" \t\n"),
            1 => out.extend_from_slice(b"\n\n"),
            2 | 3 => out.push(b'\n'),
            _ => out.extend_from_slice(b"\r\n"),
        }
    }
    out
}

fn mangle(rng: &mut Rng, b: &mut Vec<u8>) {
    if b.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(b.len());
        match rng.below(5) {
            0 => b[i] = rng.next_u64() as u8,
            1 => b[i] = b"0123456789 :/=\r\n"[rng.below(16)],
            2 => {
                let end = (i + rng.below(16)).min(b.len());
                b.drain(i..end);
            }
            3 => b.insert(i, b"\x00\xff\r\x85"[rng.below(4)]),
            _ => {
                let end = (i + rng.below(40)).min(b.len());
                let chunk = b[i..end].to_vec();
                b.splice(i..i, chunk);
            }
        }
        if b.is_empty() {
            return;
        }
    }
}

#[test]
fn plausible_bodies_round_trip_and_rewrite() {
    let mut rng = Rng::new(8866);
    let mut ok = 0;
    for _ in 0..20_000 {
        let b = body(&mut rng);
        ok += Sdp::parse(&b).is_ok() as usize;
        fuzzing::sdp(&b);
    }
    assert!(ok > 10_000, "{ok}");
}

#[test]
fn mangled_bodies_never_panic() {
    let mut rng = Rng::new(4566);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let mut b = body(&mut rng);
        mangle(&mut rng, &mut b);
        match Sdp::parse(&b) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        fuzzing::sdp(&b);
    }
    assert!(ok > 2_000 && err > 2_000, "{ok} {err}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(3264);
    for _ in 0..20_000 {
        let n = rng.below(200);
        let mut b: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
        if rng.below(2) == 0 {
            b.splice(0..0, b"v=0\no=- 1 1 IN IP4 192.0.2.1\n".iter().copied());
        }
        fuzzing::sdp(&b);
    }
}
