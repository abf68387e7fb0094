//! The telephone-event receiver driven by a packet stream decoded from arbitrary bytes
//! (several SSRCs, timestamps that repeat, step by segment lengths, jump back and wrap; packed
//! reports; RED; timer calls; immediate replays). Invariants:
//!
//! - no panic, and every call either accepts the packet or returns a typed error;
//! - every `Press` is followed by exactly one `PressEnd` with its id (after `finish`);
//! - a packet replayed at once never yields a new `Press` (dedupe on SSRC, timestamp, event);
//! - the timer is armed exactly while a press is open, and never overdue after a call;
//! - the output queue never overflows when drained after every call.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use tonewall_media::rfc4733::{EventReceiver, ReceiverEvent, RtpMeta};

fuzz_target!(|data: &[u8]| {
    let mut rx = EventReceiver::default();
    let mut open: Vec<u64> = Vec::new();
    let mut now = Duration::ZERO;
    let mut ts: u32 = 0;
    let mut last: Option<(RtpMeta, Vec<u8>, Option<u8>)> = None;

    let drain = |rx: &mut EventReceiver, open: &mut Vec<u64>| -> usize {
        let mut presses = 0;
        while let Some(ev) = rx.poll_event() {
            match ev {
                ReceiverEvent::Press { id, .. } => {
                    assert!(!open.contains(&id), "press id reused");
                    open.push(id);
                    presses += 1;
                }
                ReceiverEvent::PressEnd { id, .. } => {
                    let i = open
                        .iter()
                        .position(|&o| o == id)
                        .expect("end of an open press");
                    open.remove(i);
                }
                _ => {}
            }
        }
        presses
    };

    let mut it = data.chunks_exact(6);
    while let Some(&[a, b, c, d, e, f]) = it.next() {
        let replay = a % 8 == 7;
        if !replay {
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
                let mut payload = Vec::new();
                for chunk in it.by_ref().take(1 + usize::from(e % 3)) {
                    payload.extend_from_slice(&chunk[..4]);
                    let n = payload.len();
                    payload[n - 4] %= 18;
                }
                if payload.is_empty() {
                    break;
                }
                let meta = RtpMeta {
                    ssrc,
                    seq: 0,
                    timestamp: ts,
                    marker: e & 0x80 != 0,
                };
                rx.handle_packet(now, meta, &payload)
                    .expect("well-formed payload");
                last = Some((meta, payload, None));
            }
            5 => {
                // Raw bytes as RED: mostly refused, sometimes valid.
                let len = usize::from(b % 24);
                let payload: Vec<u8> = it
                    .by_ref()
                    .take(len.div_ceil(6))
                    .flatten()
                    .copied()
                    .collect();
                let meta = RtpMeta {
                    ssrc: 1,
                    seq: 0,
                    timestamp: ts,
                    marker: false,
                };
                let pt = c & 0x7F;
                if rx.handle_red(now, meta, &payload, pt).is_ok() {
                    last = Some((meta, payload, Some(pt)));
                }
            }
            6 => {
                now += Duration::from_millis(u64::from(b) * 10);
                rx.handle_timeout(now);
            }
            _ => {
                drain(&mut rx, &mut open);
                if let Some((meta, payload, red_pt)) = &last {
                    let r = match red_pt {
                        Some(pt) => rx.handle_red(now, *meta, payload, *pt),
                        None => rx.handle_packet(now, *meta, payload),
                    };
                    assert!(r.is_ok(), "a packet accepted once is accepted again");
                    assert_eq!(
                        drain(&mut rx, &mut open),
                        0,
                        "a replayed packet made a new press"
                    );
                }
            }
        }
        drain(&mut rx, &mut open);
        assert_eq!(rx.poll_timeout().is_some(), rx.press_active());
        assert!(open.len() <= 1, "at most one press open at a time");
        if let Some(at) = rx.poll_timeout() {
            assert!(at > now);
        }
    }
    rx.finish();
    drain(&mut rx, &mut open);
    assert!(open.is_empty() && !rx.press_active());
    assert_eq!(rx.stats().overflowed, 0);
});
