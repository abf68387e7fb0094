//! Fuzz-style tests of the ng control protocol on stable Rust: random bytes, random requests
//! built from the protocol's own vocabulary, and mutations of the datagrams Kamailio really
//! sends, through the bencode decoder and through `NgServer`. The cargo-fuzz targets `bencode`
//! and `ng_datagram` in `proxy/fuzz` check the same invariants (`tonewall_media::fuzzing`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;
use tonewall_media::ng::{Encoder, NgServer, Value};

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ng/kamailio-5.6");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("fixture dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).expect("fixture")).collect()
}

const KEYS: &[&str] = &[
    "command",
    "call-id",
    "from-tag",
    "to-tag",
    "via-branch",
    "sdp",
    "flags",
    "replace",
    "direction",
    "transport-protocol",
    "rtcp-mux",
    "ICE",
    "SDES",
    "DTLS",
    "address family",
    "received-from",
    "media address",
    "address",
    "delete delay",
    "label",
    "record call",
    "codec",
    "supports",
    "limit",
    "strip",
    "T.38",
];

const WORDS: &[&str] = &[
    "offer",
    "answer",
    "delete",
    "query",
    "ping",
    "list",
    "block DTMF",
    "unblock DTMF",
    "play DTMF",
    "IP4",
    "IP6",
    "127.0.0.1",
    "::1",
    "RTP/AVP",
    "origin",
    "trust-address",
    "fatal",
    "fast",
    "load limit",
    "codec-strip-PCMA",
    "SDES-off",
    "yes",
    "0",
    "c1",
    "c2",
    "tag",
    "v=0\r\n",
];

/// A random value from the protocol's vocabulary, so that most requests get past the decoder
/// and deep into request parsing and the server.
fn value(rng: &mut Rng, depth: usize) -> Value<'static> {
    match rng.below(if depth > 3 { 3 } else { 6 }) {
        0 | 1 => Value::Bytes(WORDS[rng.below(WORDS.len())].as_bytes()),
        2 => Value::Int(rng.next_u64() as i64 % 100 - 5),
        3 | 4 => Value::List((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => Value::Dict(
            (0..rng.below(5))
                .map(|_| (KEYS[rng.below(KEYS.len())].as_bytes(), value(rng, depth + 1)))
                .collect(),
        ),
    }
}

fn request(rng: &mut Rng) -> Vec<u8> {
    let mut entries: Vec<(&'static [u8], Value<'static>)> = vec![
        (b"command", Value::Bytes(WORDS[rng.below(8)].as_bytes())),
        (b"call-id", Value::Bytes([&b"c1"[..], b"c2"][rng.below(2)])),
    ];
    // Mostly the identity keys offer and answer need, so that many requests get through.
    for (key, v) in [("from-tag", "f"), ("to-tag", "t"), ("sdp", "v=0\r\n")] {
        if rng.below(8) != 0 {
            entries.push((key.as_bytes(), Value::Bytes(v.as_bytes())));
        }
    }
    for _ in 0..rng.below(6) {
        entries.push((KEYS[rng.below(KEYS.len())].as_bytes(), value(rng, 1)));
    }
    let mut out = format!("{} ", rng.below(50)).into_bytes();
    Encoder::new(&mut out).value(&Value::Dict(entries.into_iter().collect()));
    out
}

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(3) {
        if d.is_empty() {
            break;
        }
        let i = rng.below(d.len());
        match rng.below(4) {
            0 => d[i] = rng.next_u64() as u8,
            1 => d.truncate(i),
            2 => {
                d.remove(i);
            }
            _ => d.insert(i, b"0123456789ilde: "[rng.below(16)]),
        }
    }
    d
}

#[test]
fn bencode_is_total_and_round_trips_on_random_bytes() {
    let mut rng = Rng::new(0xBE4C);
    for _ in 0..50_000 {
        fuzzing::bencode(&bytes(&mut rng, 40));
    }
}

#[test]
fn bencode_round_trips_random_documents() {
    let mut rng = Rng::new(0xD1C7);
    for _ in 0..20_000 {
        let v = value(&mut rng, 0);
        let mut out = Vec::new();
        v.encode(&mut out);
        fuzzing::bencode(&out);
        assert_eq!(tonewall_media::ng::bencode::decode(&out).as_ref(), Ok(&v));
    }
}

#[test]
fn server_survives_random_requests() {
    let mut rng = Rng::new(0x4E47);
    for _ in 0..3_000 {
        let datagrams: Vec<Vec<u8>> = (0..1 + rng.below(8)).map(|_| request(&mut rng)).collect();
        fuzzing::ng_datagrams(&datagrams.join(&0u8));
    }
}

#[test]
fn random_requests_reach_the_relay() {
    // The generator is only useful if many requests get past parsing.
    let mut rng = Rng::new(0x4E47);
    let mut server = NgServer::default();
    let mut relay = fuzzing::FakeRelay::default();
    let peer = SocketAddr::from(([127, 0, 0, 1], 5060));
    let mut out = Vec::new();
    for i in 0..2_000u64 {
        server.handle_datagram(Duration::from_secs(i), peer, &request(&mut rng), &mut relay, &mut out);
    }
    let stats = server.stats();
    let reached: u64 = stats.commands.iter().sum();
    assert!(reached > 500 && stats.malformed > 200, "{stats:?}");
    assert!(stats.commands.iter().all(|&n| n > 0), "every command reached the relay: {stats:?}");
}

#[test]
fn server_survives_mutated_kamailio_datagrams() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 10);
    let mut rng = Rng::new(0x5060);
    for _ in 0..3_000 {
        let datagrams: Vec<Vec<u8>> = (0..1 + rng.below(4))
            .map(|_| {
                let f = &fixtures[rng.below(fixtures.len())];
                mutate(&mut rng, f)
            })
            .collect();
        for d in &datagrams {
            if let Some(sp) = d.iter().position(|&b| b == b' ') {
                fuzzing::bencode(&d[sp + 1..]);
            }
        }
        fuzzing::ng_datagrams(&datagrams.join(&0u8));
    }
    // And the real ones, unmutated, as one session.
    fuzzing::ng_datagrams(&fixtures.join(&0u8));
}

#[test]
fn server_survives_random_bytes() {
    let mut rng = Rng::new(0xF00D);
    for _ in 0..5_000 {
        let mut d = bytes(&mut rng, 120);
        if d.len() > 3 && rng.below(2) == 0 {
            d[rng.below(3)] = b' ';
        }
        fuzzing::ng_datagrams(&d);
    }
}
