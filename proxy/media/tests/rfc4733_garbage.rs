//! Fuzz-style tests on stable Rust: seeded random bytes into the parsers and the receiver.
//! The cargo-fuzz targets in `proxy/fuzz` check the same invariants with coverage guidance.

mod common;

use common::*;
use std::time::Duration;
use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;
use tonewall_media::rfc4733::EventReceiver;
use tonewall_media::rfc4733::red;

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn payload_parse_is_total_and_round_trips() {
    let mut rng = Rng::new(0x4733);
    for _ in 0..20_000 {
        fuzzing::payloads(&bytes(&mut rng, 40));
    }
}

#[test]
fn red_parse_is_total_and_round_trips() {
    let mut rng = Rng::new(2198);
    let mut valid = 0;
    for i in 0..50_000 {
        let mut b = bytes(&mut rng, 48);
        // Bias towards plausible headers: short blocks, a primary header soon.
        if i % 2 == 0 && b.len() > 4 {
            b[2] &= 0xFC;
            b[3] %= 8;
            b[4] &= 0x7F;
        }
        valid += red::parse(&b, 0).is_ok() as usize;
        fuzzing::payloads(&b);
    }
    assert!(valid > 1000, "{valid}");
}

#[test]
fn receiver_survives_random_packet_streams() {
    let mut rng = Rng::new(0xD7_F0);
    for _ in 0..3_000 {
        let data = bytes(&mut rng, 600);
        fuzzing::receiver_stream(&data);
    }
}

#[test]
fn receiver_refuses_random_bytes_without_panicking() {
    let mut rng = Rng::new(7);
    let mut rx = EventReceiver::default();
    for i in 0..50_000u64 {
        let b = bytes(&mut rng, 70);
        let m = meta(rng.below(3) as u32, i as u16, rng.next_u64() as u32, rng.below(2) == 0);
        let now = Duration::from_millis(i * 7);
        let _ = rx.handle_packet(now, m, &b);
        let _ = rx.handle_red(now, m, &b, 101);
        while rx.poll_event().is_some() {}
        rx.handle_timeout(now);
    }
    assert!(rx.stats().packets > 0 && rx.stats().malformed > 0);
}
