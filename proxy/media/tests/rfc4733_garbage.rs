//! Fuzz-style tests on stable Rust: seeded random bytes into the parsers and the receiver.
//! The cargo-fuzz targets in `proxy/fuzz` check the same invariants with coverage guidance.

mod common;

use common::*;
use std::time::Duration;
use tonewall_dsp::synth::Rng;
use tonewall_media::rfc4733::red::{self, RedundantBlock};
use tonewall_media::rfc4733::{Error, EventReceiver, EventReport, ReceiverEvent, RtpMeta, payload};

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn payload_parse_is_total_and_round_trips() {
    let mut rng = Rng::new(0x4733);
    for _ in 0..20_000 {
        let b = bytes(&mut rng, 40);
        match payload::parse(&b) {
            Ok(reports) => {
                assert!(!b.is_empty() && b.len().is_multiple_of(4));
                let reports: Vec<EventReport> = reports.collect();
                assert_eq!(reports.len(), b.len() / 4);
                let mut out = vec![0u8; b.len()];
                assert_eq!(payload::write(&reports, &mut out), Ok(b.len()));
                assert_eq!(out, b, "parse then write gives back the octets");
            }
            Err(Error::Empty) => assert!(b.is_empty()),
            Err(Error::Truncated { len }) => assert!(len == b.len() && !len.is_multiple_of(4)),
            Err(e) => panic!("unexpected error {e:?}"),
        }
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
        let ts = rng.next_u64() as u32;
        let Ok(parsed) = red::parse(&b, ts) else {
            continue;
        };
        valid += 1;
        let blocks: Vec<_> = parsed.blocks().collect();
        assert_eq!(blocks.len(), parsed.len());
        let (primary, redundant) = blocks.split_last().expect("a primary block");
        assert!(primary.primary && primary.timestamp == ts);
        let redundant: Vec<RedundantBlock<'_>> = redundant
            .iter()
            .map(|r| {
                assert!(!r.primary);
                assert_eq!(r.timestamp, ts.wrapping_sub(u32::from(r.offset)));
                RedundantBlock { pt: r.pt, offset: u32::from(r.offset), payload: r.payload }
            })
            .collect();
        let mut out = vec![0u8; b.len()];
        assert_eq!(red::write(&redundant, primary.pt, primary.payload, &mut out), Ok(b.len()));
        assert_eq!(out, b, "parse then write gives back the octets");
    }
    assert!(valid > 1000, "{valid}");
}

/// Decodes a byte stream into receiver calls, the same way the `rfc4733_receiver` fuzz target
/// does, and checks the receiver's invariants along the way.
fn drive_bytes(data: &[u8]) {
    let mut rx = EventReceiver::default();
    let mut events: Vec<ReceiverEvent> = Vec::new();
    let mut now = Duration::ZERO;
    let mut ts: u32 = 0;
    let mut last: Option<(RtpMeta, Vec<u8>, bool)> = None;
    let mut it = data.chunks(6);
    while let Some(op) = it.next() {
        let [a, b, c, d, e, f] = match *op {
            [a, b, c, d, e, f] => [a, b, c, d, e, f],
            _ => break,
        };
        let replay = a % 8 == 7;
        if !replay {
            // Time moves on; a replay is only "immediate" right after its packet.
            now += Duration::from_millis(u64::from(f % 64));
            last = None;
        }
        match a % 8 {
            0..=4 => {
                let ssrc = [1u32, 2, 3, u32::MAX][usize::from(b & 3)];
                ts = match c % 4 {
                    0 => ts,
                    1 => ts.wrapping_add(u32::from(d) * 16),
                    2 => ts.wrapping_add(0xFFFF - u32::from(d) * 4),
                    _ => ts.wrapping_sub(u32::from(d) * 64),
                };
                let n = 1 + usize::from(e % 3);
                let mut payload = Vec::new();
                for chunk in it.by_ref().take(n) {
                    let mut r = [0u8; 4];
                    for (o, x) in r.iter_mut().zip(chunk) {
                        *o = *x;
                    }
                    r[0] %= 18; // mostly keys, sometimes flash and friends
                    payload.extend_from_slice(&r);
                }
                if payload.is_empty() {
                    break;
                }
                let meta = RtpMeta { ssrc, seq: 0, timestamp: ts, marker: e & 0x80 != 0 };
                rx.handle_packet(now, meta, &payload).expect("well-formed");
                last = Some((meta, payload, false));
            }
            5 => {
                let len = usize::from(b % 24);
                let payload: Vec<u8> = it.by_ref().take(len.div_ceil(6)).flatten().copied().collect();
                let meta = RtpMeta { ssrc: 1, seq: 0, timestamp: ts, marker: false };
                if rx.handle_red(now, meta, &payload, c & 0x7F).is_ok() {
                    last = Some((meta, payload, true));
                }
            }
            6 => {
                now += Duration::from_millis(u64::from(b) * 10);
                rx.handle_timeout(now);
            }
            _ => {
                // Replay the last packet at once (same `now`): it must change nothing visible.
                events.extend(std::iter::from_fn(|| rx.poll_event()));
                if let Some((meta, payload, is_red)) = &last {
                    let r = if *is_red {
                        rx.handle_red(now, *meta, payload, c & 0x7F)
                    } else {
                        rx.handle_packet(now, *meta, payload)
                    };
                    if r.is_ok() && !*is_red {
                        assert_eq!(rx.poll_event(), None, "a replayed packet made an event");
                    }
                }
            }
        }
        events.extend(std::iter::from_fn(|| rx.poll_event()));
        assert_eq!(rx.poll_timeout().is_some(), rx.press_active());
        if let Some(at) = rx.poll_timeout() {
            assert!(at > now, "an overdue timer survived a call at `now`");
        }
    }
    rx.finish();
    events.extend(std::iter::from_fn(|| rx.poll_event()));
    assert!(!rx.press_active());
    assert_paired(&events);
    let stats = rx.stats();
    assert_eq!(stats.overflowed, 0);
    assert_eq!(
        stats.presses as usize,
        events.iter().filter(|e| matches!(e, ReceiverEvent::Press { .. })).count()
    );
    assert!(stats.presses <= stats.reports);
}

#[test]
fn receiver_survives_random_packet_streams() {
    let mut rng = Rng::new(0xD7_F0);
    for _ in 0..3_000 {
        let data = bytes(&mut rng, 600);
        drive_bytes(&data);
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
