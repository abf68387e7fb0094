//! The invariants the fuzz targets check, as plain functions: `proxy/fuzz` runs them with
//! coverage guidance (nightly), and `tests/rfc4733_garbage.rs` runs them on seeded random bytes
//! in every `cargo test`. One copy, so the two cannot drift apart. Not part of the API (the
//! same arrangement as str0m's `_internal_test_exports`); every function panics on a broken
//! invariant, which is its job.

use crate::recording::{
    self, CHUNK_META_LEN, Channel, HEADER_LEN, KeyRing, ReadError, ReadOptions, RecordingKey,
    RecordingParams, TAG_LEN, Writer, WriterStats,
};
use crate::rfc4733::red::{self, RedundantBlock};
use crate::rfc4733::{Error, EventReceiver, EventReport, ReceiverEvent, RtpMeta, payload};
use std::time::Duration;
use tonewall_dsp::Law;

/// The telephone-event and RFC 2198 parsers on arbitrary bytes: never panic, refuse exactly
/// what is malformed, and whatever parses writes back to the same octets.
pub fn payloads(data: &[u8]) {
    // telephone-event: any non-empty multiple of 4 octets is valid and round-trips.
    match payload::parse(data) {
        Ok(reports) => {
            assert!(!data.is_empty() && data.len().is_multiple_of(4));
            let reports: Vec<EventReport> = reports.collect();
            assert_eq!(reports.len(), data.len() / 4);
            let mut out = vec![0u8; data.len()];
            assert_eq!(payload::write(&reports, &mut out), Ok(data.len()));
            assert_eq!(out, data, "parse then write gives back the octets");
            for r in &reports {
                assert!(r.volume <= 63);
                assert_eq!(r.digit().is_some(), r.event < 16);
            }
        }
        Err(Error::Empty) => assert!(data.is_empty()),
        Err(Error::Truncated { len }) => assert!(len == data.len() && !len.is_multiple_of(4)),
        Err(e) => panic!("unexpected error {e:?}"),
    }

    // RFC 2198: blocks tile the payload, timestamps follow the offsets, and the writer
    // reproduces the octets.
    let ts = data.get(..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if let Ok(parsed) = red::parse(data, ts) {
        let blocks: Vec<_> = parsed.blocks().collect();
        assert_eq!(blocks.len(), parsed.len());
        let Some((primary, redundant)) = blocks.split_last() else {
            panic!("a parsed RED payload has a primary block");
        };
        assert!(primary.primary && primary.timestamp == ts && primary.offset == 0);
        let total: usize = blocks.iter().map(|b| b.payload.len()).sum();
        assert_eq!(total + 4 * redundant.len() + 1, data.len());
        let redundant: Vec<RedundantBlock<'_>> = redundant
            .iter()
            .map(|b| {
                assert!(!b.primary);
                assert_eq!(b.timestamp, ts.wrapping_sub(u32::from(b.offset)));
                RedundantBlock { pt: b.pt, offset: u32::from(b.offset), payload: b.payload }
            })
            .collect();
        let mut out = vec![0u8; data.len()];
        assert_eq!(red::write(&redundant, primary.pt, primary.payload, &mut out), Ok(data.len()));
        assert_eq!(out, data, "parse then write gives back the octets");
    }
}

/// The receiver driven by a packet stream decoded from arbitrary bytes, six at a time:
/// several SSRCs; timestamps that repeat, step by segment lengths, jump back and wrap; packed
/// reports; RED; timer calls; immediate replays. Invariants:
///
/// - no panic, and every well-formed packet is accepted;
/// - press ids are unique, at most one press is open between calls, and every `Press` is followed by exactly
///   one `PressEnd` with its id (after `finish`);
/// - a packet replayed at once yields no event (a RED replay, no new press);
/// - the timer is armed exactly while a press is open, and never overdue after a call;
/// - the output queue never overflows, and the statistics agree with the events.
pub fn receiver_stream(data: &[u8]) {
    let mut rx = EventReceiver::default();
    let mut open: Vec<u64> = Vec::new();
    let mut seen: Vec<u64> = Vec::new();
    let mut now = Duration::ZERO;
    let mut ts: u32 = 0;
    let mut last: Option<(RtpMeta, Vec<u8>, Option<u8>)> = None;

    // Drains the receiver, checking pairing; returns (presses, events) seen.
    let mut drain = |rx: &mut EventReceiver| -> (usize, usize) {
        let (mut presses, mut events) = (0, 0);
        while let Some(ev) = rx.poll_event() {
            events += 1;
            match ev {
                ReceiverEvent::Press { id, .. } => {
                    assert!(!seen.contains(&id), "press id reused");
                    seen.push(id);
                    open.push(id);
                    presses += 1;
                }
                ReceiverEvent::PressEnd { id, .. } => {
                    let Some(i) = open.iter().position(|&o| o == id) else {
                        panic!("PressEnd without an open Press");
                    };
                    open.remove(i);
                }
            }
        }
        assert!(open.len() <= 1, "at most one press open between calls");
        (presses, events)
    };

    let mut it = data.chunks_exact(6);
    while let Some(&[a, b, c, d, e, f]) = it.next() {
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
                let mut payload = Vec::new();
                for chunk in it.by_ref().take(1 + usize::from(e % 3)) {
                    payload.extend_from_slice(&chunk[..4]);
                    let n = payload.len();
                    payload[n - 4] %= 18; // mostly keys, sometimes flash and friends
                }
                if payload.is_empty() {
                    break;
                }
                let meta = RtpMeta { ssrc, seq: 0, timestamp: ts, marker: e & 0x80 != 0 };
                if let Err(err) = rx.handle_packet(now, meta, &payload) {
                    panic!("a well-formed payload was refused: {err}");
                }
                last = Some((meta, payload, None));
            }
            5 => {
                // Raw bytes as RED: mostly refused, sometimes valid.
                let len = usize::from(b % 24);
                let payload: Vec<u8> = it.by_ref().take(len.div_ceil(6)).flatten().copied().collect();
                let meta = RtpMeta { ssrc: 1, seq: 0, timestamp: ts, marker: false };
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
                drain(&mut rx);
                if let Some((meta, payload, red_pt)) = &last {
                    let r = match red_pt {
                        Some(pt) => rx.handle_red(now, *meta, payload, *pt),
                        None => rx.handle_packet(now, *meta, payload),
                    };
                    assert!(r.is_ok(), "a packet accepted once is accepted again");
                    let (presses, events) = drain(&mut rx);
                    assert_eq!(presses, 0, "a replayed packet made a new press");
                    if red_pt.is_none() {
                        assert_eq!(events, 0, "a replayed packet made an event");
                    }
                }
            }
        }
        drain(&mut rx);
        assert_eq!(rx.poll_timeout().is_some(), rx.press_active());
        if let Some(at) = rx.poll_timeout() {
            assert!(at > now, "an overdue timer survived a call at `now`");
        }
    }
    rx.finish();
    drain(&mut rx);
    assert!(open.is_empty() && !rx.press_active(), "presses left open");
    let stats = rx.stats();
    assert_eq!(stats.overflowed, 0);
    assert_eq!(stats.presses as usize, seen.len());
    assert!(stats.presses <= stats.reports);
}

/// The fixed key of the recording fuzz target (never a real key: it is in the source).
pub fn recording_fuzz_key() -> RecordingKey {
    RecordingKey::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11)))
}

/// The key's bytes as hex: what must never appear in an error or `Debug` output.
fn recording_key_canary() -> String {
    (0..32u8).map(|i| format!("{:02x}", i.wrapping_mul(37).wrapping_add(11))).collect()
}

/// The recording reader with a fixed key, on arbitrary bytes and on mutated genuine recordings.
///
/// - `data` read as a file: never a panic, only errors (a chunk without the key cannot be
///   forged), except that a lone header reads as an empty incomplete recording when asked to;
/// - `data` run as a program of pushes (five bytes each, until a byte ≡ 7 mod 8 leads one): the
///   recording made reads back complete, with the writer's counts;
/// - the rest of `data` as mutations of that file (four bytes each: a flipped bit, a cut, a chunk
///   removed, duplicated, swapped with the next or replaced by the same chunk of another
///   recording under the same key, bytes appended): every mutated file is refused, with the
///   error its mutation calls for; with `allow_incomplete` only a verified prefix of the genuine
///   file is ever accepted;
/// - no error text or `Debug` contains the key.
pub fn recording_read(data: &[u8]) {
    let ring = KeyRing::from(recording_fuzz_key());
    let canary = recording_key_canary();
    let strict = ReadOptions { allow_incomplete: false, max_samples: 8000 * 3600 };
    let lenient = ReadOptions { allow_incomplete: true, ..strict };
    let no_key = |e: &ReadError| {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(&canary[..8]), "key material in an error: {text}");
    };

    match recording::read(data, &ring, &strict) {
        Ok(_) => panic!("arbitrary bytes read as a complete recording"),
        Err(e) => no_key(&e),
    }
    if let Ok(d) = recording::read(data, &ring, &lenient) {
        assert!(!d.complete && d.chunks == 0 && d.frames() == 0 && d.verified_len == HEADER_LEN);
    }

    let (program, mutations) = split_program(data);
    let (file, stats) = record_program(program, [1; 8]);
    let d = match recording::read(&file, &ring, &strict) {
        Ok(d) => d,
        Err(e) => panic!("a genuine recording was refused: {e}"),
    };
    assert!(d.complete && d.verified_len == file.len());
    assert_eq!((d.recorded, d.chunks), (stats.samples, stats.chunks));
    assert_eq!(d.channels[0].len(), d.channels[1].len());
    assert!(d.recorded.iter().all(|&r| r <= d.frames() as u64));
    assert!(!format!("{d:?}").contains(&canary[..8]));

    let spans = chunk_spans(&file);
    let (other, _) = record_program(program, [2; 8]);
    let other_spans = chunk_spans(&other);
    for m in mutations.chunks_exact(4).take(24) {
        let pos = usize::from(u16::from_be_bytes([m[1], m[2]])) % file.len();
        let k = usize::from(m[1]) % spans.len();
        let mut bad = file.clone();
        let expect: fn(&ReadError) -> bool = match m[0] % 7 {
            0 => {
                bad[pos] ^= 1 << (m[3] % 8);
                |_| true
            }
            1 => {
                bad.truncate(pos);
                if pos < HEADER_LEN {
                    |e| matches!(e, ReadError::TruncatedHeader { .. })
                } else {
                    |e| matches!(e, ReadError::Truncated { .. })
                }
            }
            2 => {
                bad.drain(spans[k].clone());
                |e| matches!(e, ReadError::OutOfOrder { .. } | ReadError::Truncated { inside: false, .. })
            }
            3 => {
                let copy = file[spans[k].clone()].to_vec();
                bad.splice(spans[k].end..spans[k].end, copy);
                |e| matches!(e, ReadError::OutOfOrder { .. } | ReadError::TrailingData { .. })
            }
            4 if k + 1 < spans.len() => {
                let (a, b) = (spans[k].clone(), spans[k + 1].clone());
                let mut swapped = file[b.clone()].to_vec();
                swapped.extend_from_slice(&file[a.clone()]);
                bad.splice(a.start..b.end, swapped);
                |e| matches!(e, ReadError::OutOfOrder { .. })
            }
            5 if k < other_spans.len() => {
                bad.splice(spans[k].clone(), other[other_spans[k].clone()].iter().copied());
                |e| matches!(e, ReadError::Foreign { .. })
            }
            _ => {
                bad.extend_from_slice(&m[1..]);
                |e| matches!(e, ReadError::TrailingData { .. })
            }
        };
        if bad == file {
            continue;
        }
        match recording::read(&bad, &ring, &strict) {
            Ok(_) => panic!("a mutated recording (mutation {m:?}) was accepted"),
            Err(e) => {
                no_key(&e);
                assert!(expect(&e), "mutation {m:?} gave {e:?}");
            }
        }
        if let Ok(d) = recording::read(&bad, &ring, &lenient) {
            assert!(!d.complete, "a mutated recording read as complete");
            assert_eq!(bad[..d.verified_len], file[..d.verified_len], "unverified bytes accepted");
        }
    }
}

/// Splits fuzz input into a push program and mutations: the program ends after the first
/// five-byte op whose first byte is 7 mod 8 (or at the end of the input).
fn split_program(data: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    while at + 5 <= data.len() {
        at += 5;
        if data[at - 5] % 8 == 7 {
            break;
        }
    }
    data.split_at(at.min(data.len()))
}

/// Runs a push program (see [`recording_read`]) on a writer with the fuzz key.
fn record_program(program: &[u8], nonce_prefix: [u8; 8]) -> (Vec<u8>, WriterStats) {
    let key = recording_fuzz_key();
    let params = RecordingParams {
        call_start: Duration::from_secs(1_700_000_000),
        salt: [nonce_prefix[0]; 32],
        nonce_prefix,
    };
    let mut w = Writer::new(&key, &params, Duration::from_secs(5));
    let mut file = Vec::new();
    let mut now = Duration::from_secs(5);
    let mut ts = [0u32, 0x8000_0000];
    let mut last = [0usize; 2];
    let mut payload = [0u8; 512];
    for (i, op) in program.chunks_exact(5).enumerate() {
        let [a, b, c, d, e] = [op[0], op[1], op[2], op[3], op[4]];
        match a % 8 {
            6 => now += Duration::from_millis(u64::from(d) * 100),
            7 => break,
            _ => {
                let ch = usize::from(b & 1);
                let law = if b & 2 == 0 { Law::Ulaw } else { Law::Alaw };
                let ssrc = [1u32, 2, 3][usize::from(b >> 2) % 3];
                ts[ch] = match c % 4 {
                    0 => ts[ch].wrapping_add(last[ch] as u32),
                    1 => ts[ch].wrapping_add(last[ch] as u32 + u32::from(d) * 8),
                    2 => ts[ch].wrapping_sub(u32::from(d)),
                    _ => u32::from_be_bytes([d, e, c, a]),
                };
                now += Duration::from_millis(u64::from(e % 64));
                let n = 1 + usize::from(d) * 2 % payload.len();
                for (j, p) in payload[..n].iter_mut().enumerate() {
                    *p = (i * 31 + j * 7) as u8;
                }
                w.push(Channel::ALL[ch], law, ssrc, ts[ch], now, &payload[..n]);
                last[ch] = n;
                if b & 0x80 == 0 {
                    w.poll_chunk(&mut file);
                }
            }
        }
    }
    let stats = w.finish(&mut file);
    (file, stats)
}

/// Byte ranges of the chunks of a genuine recording, in order.
fn chunk_spans(file: &[u8]) -> Vec<core::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut at = HEADER_LEN;
    while at + CHUNK_META_LEN <= file.len() {
        let len = u32::from_be_bytes([file[at + 16], file[at + 17], file[at + 18], file[at + 19]]) as usize;
        let end = at + CHUNK_META_LEN + len + TAG_LEN;
        spans.push(at..end);
        at = end;
    }
    spans
}
