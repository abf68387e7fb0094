//! The invariants the fuzz targets check, as plain functions: `proxy/fuzz` runs them with
//! coverage guidance (nightly), and `tests/rfc4733_garbage.rs` runs them on seeded random bytes
//! in every `cargo test`. One copy, so the two cannot drift apart. Not part of the API (the
//! same arrangement as str0m's `_internal_test_exports`); every function panics on a broken
//! invariant, which is its job.

use crate::rfc4733::red::{self, RedundantBlock};
use crate::rfc4733::{Error, EventReceiver, EventReport, ReceiverEvent, RtpMeta, payload};
use std::time::Duration;

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

/// The RTP header parser on arbitrary bytes: never panics; whatever parses lies inside the
/// packet, and patching a parsed header changes exactly the patched fields.
pub fn rtp_header(data: &[u8]) {
    use crate::rtp::{self, RtpError, RtpHeader};
    match RtpHeader::parse(data) {
        Ok(h) => {
            assert!(h.payload_offset >= rtp::FIXED_HEADER);
            assert_eq!(h.payload_offset + h.payload_len + h.padding, data.len());
            assert!(h.pt < 128);
            let mut p = data.to_vec();
            rtp::set_seq(&mut p, h.seq.wrapping_add(1));
            rtp::set_ssrc(&mut p, !h.ssrc);
            let g = RtpHeader::parse(&p).expect("patched header still parses");
            assert_eq!(
                (g.seq, g.ssrc, g.timestamp, g.pt),
                (h.seq.wrapping_add(1), !h.ssrc, h.timestamp, h.pt)
            );
            assert_eq!(&p[g.payload()], &data[h.payload()]);
        }
        Err(RtpError::Truncated) => {}
        Err(RtpError::Version) => assert!(data.len() >= 12 && data[0] >> 6 != 2),
        Err(RtpError::Padding) => assert!(data[0] & 0x20 != 0),
    }
}

/// A media session driven by a datagram stream decoded from arbitrary bytes: packets on both
/// legs, from the peers and from a spoofer, valid and garbled RTP, telephone-events, RTCP. The
/// invariants: no panic; nothing from the spoofer is ever forwarded; a forwarded packet goes to
/// the other leg's peer and is no longer than what came in; no telephone-event leaves toward the
/// answerer while A → B is masked; the counters add up.
///
/// Stream format, one record per 4-byte header plus payload: byte 0 = flags (bit 0 leg B,
/// bit 1 spoofer, bit 2 RTCP socket, bits 3–4 kind: audio / event / raw / rtcp), byte 1 = payload
/// length / 2, bytes 2–3 = sequence delta and timestamp step selector; then the payload bytes.
pub fn relay_stream(data: &[u8]) {
    use crate::relay::{Component, LegId, MediaSession, PayloadTypes, Remote, SessionConfig, Verdict};
    use crate::rtp::{self, RtpHeader};
    use std::net::SocketAddr;
    let a: SocketAddr = SocketAddr::from(([192, 0, 2, 1], 4000));
    let b: SocketAddr = SocketAddr::from(([198, 51, 100, 2], 5000));
    let spoofer: SocketAddr = SocketAddr::from(([203, 0, 113, 9], 4000));
    let pts = PayloadTypes { telephone_event: Some(101), red: None };
    let mut s = MediaSession::new(Duration::ZERO, SessionConfig::default());
    s.signal(LegId::A, &Remote { rtp: Some(a), rtcp: None, rtcp_mux: true, pts });
    s.signal(LegId::B, &Remote { rtp: Some(b), rtcp: None, rtcp_mux: false, pts });
    let (mut seq, mut ts, mut now) = ([0u16; 2], [0u32; 2], Duration::ZERO);
    let mut rest = data;
    let mut buf = [0u8; 1500];
    let mut sent = [0u64; 2];
    while let Some((head, tail)) = rest.split_first_chunk::<4>() {
        let len = (head[1] as usize * 2).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let leg = if head[0] & 1 == 0 { LegId::A } else { LegId::B };
        let from = if head[0] & 2 != 0 {
            spoofer
        } else if leg == LegId::A {
            a
        } else {
            b
        };
        let socket = if head[0] & 4 != 0 { Component::Rtcp } else { Component::Rtp };
        let i = leg.index();
        seq[i] = seq[i].wrapping_add(u16::from(head[2] % 4));
        ts[i] = ts[i].wrapping_add(u32::from(head[3]) * 40);
        now += Duration::from_millis(u64::from(head[3] % 64));
        let n = match (head[0] >> 3) & 3 {
            0 | 1 => {
                let pt = if (head[0] >> 3) & 3 == 0 { head[3] & 8 } else { 101 };
                rtp::write_header(&mut buf, head[2] & 0x80 != 0, pt, seq[i], ts[i], 7);
                buf[12..12 + len].copy_from_slice(payload);
                12 + len
            }
            2 => {
                buf[..len].copy_from_slice(payload);
                len
            }
            _ => {
                buf[..4].copy_from_slice(&[0x80, 200, 0, 1]);
                buf[4..4 + len].copy_from_slice(payload);
                4 + len
            }
        };
        let input = buf[..n].to_vec();
        s.handle_timeout(now);
        match s.handle_packet(now, leg, socket, from, &mut buf, n) {
            Verdict::Forward { leg: out, to, len, .. } => {
                assert_ne!(from, spoofer, "a spoofed packet was forwarded");
                assert_eq!(out, leg.other());
                assert_eq!(to, if out == LegId::A { a } else { b });
                assert!(len <= n);
                sent[i] += 1;
                if out == LegId::B
                    && s.masking(LegId::A)
                    && !rtp::is_rtcp(&buf[..len])
                    && socket == Component::Rtp
                    && let Ok(h) = RtpHeader::parse(&buf[..len])
                {
                    assert_ne!(h.pt, 101, "a telephone-event reached the answerer");
                    assert_eq!(h.payload_len, RtpHeader::parse(&input).map_or(0, |g| g.payload_len));
                }
            }
            Verdict::Drop(_) => {}
        }
        while s.poll_event().is_some() {}
    }
    for leg in [LegId::A, LegId::B] {
        let c = s.counters(leg);
        assert_eq!(c.forwarded, sent[leg.index()]);
    }
}
