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

/// SRTP and SRTCP unprotect on arbitrary bytes under a fixed key, and protect → unprotect on
/// the same bytes taken as plain RTP/RTCP. The first octet picks the suite. Invariants:
///
/// - no panic; any `Ok` length is at most the input length, and a failed unprotect leaves
///   the buffer as it was;
/// - whatever protects unprotects to the same octets, at `len + overhead`;
/// - the protected packet with any one bit flipped does not unprotect;
/// - the genuine packet, delivered again, is a replay.
///
/// Returns how many round trips ran (0 to 2), so a driver can check it reaches them.
pub fn srtp_unprotect(data: &[u8]) -> usize {
    use crate::srtp::{Direction, MasterKey, SrtpContext, SrtpError, Suite};

    let Some((&pick, pkt)) = data.split_first() else { return 0 };
    let mut round_trips = 0;
    let suite = Suite::ALL[usize::from(pick) % Suite::ALL.len()];
    let n = suite.master_key_len() + suite.master_salt_len();
    let key_salt: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let Ok(key) = MasterKey::from_key_salt(suite, &key_salt) else { panic!("fixed key fits {suite:?}") };

    // Raw bytes as SRTP / SRTCP.
    for rtcp in [false, true] {
        let mut rx = SrtpContext::new(Direction::Inbound, &key);
        let mut buf = pkt.to_vec();
        let r =
            if rtcp { rx.unprotect_rtcp(&mut buf, pkt.len()) } else { rx.unprotect_rtp(&mut buf, pkt.len()) };
        match r {
            Ok(m) => assert!(m <= pkt.len()),
            Err(_) => assert_eq!(buf, pkt, "a refused packet is left untouched"),
        }
        // And never beyond `len` when the buffer is larger.
        let mut big = pkt.to_vec();
        big.extend_from_slice(&[0xA5; 40]);
        let mut rx = SrtpContext::new(Direction::Inbound, &key);
        let r =
            if rtcp { rx.unprotect_rtcp(&mut big, pkt.len()) } else { rx.unprotect_rtp(&mut big, pkt.len()) };
        if let Ok(m) = r {
            assert!(m <= pkt.len());
        }
        assert_eq!(&big[pkt.len()..], &[0xA5; 40], "nothing written past len");
    }

    // The same bytes as plain RTP / RTCP: protect, unprotect, tamper, replay.
    for rtcp in [false, true] {
        let mut tx = SrtpContext::new(Direction::Outbound, &key);
        let overhead = if rtcp { tx.rtcp_overhead() } else { tx.rtp_overhead() };
        let mut buf = pkt.to_vec();
        buf.resize(pkt.len() + overhead, 0);
        let r = if rtcp { tx.protect_rtcp(&mut buf, pkt.len()) } else { tx.protect_rtp(&mut buf, pkt.len()) };
        let Ok(n) = r else { continue };
        assert_eq!(n, pkt.len() + overhead);
        let protected = buf.clone();
        let unprotect = |rx: &mut SrtpContext, b: &mut [u8]| {
            if rtcp { rx.unprotect_rtcp(b, n) } else { rx.unprotect_rtp(b, n) }
        };

        let bit = data.iter().fold(7usize, |h, &b| h.wrapping_mul(31).wrapping_add(usize::from(b))) % (8 * n);
        let mut bad = protected.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let mut rx = SrtpContext::new(Direction::Inbound, &key);
        assert!(unprotect(&mut rx, &mut bad).is_err(), "bit {bit} flipped, still accepted ({suite:?})");

        let mut rx = SrtpContext::new(Direction::Inbound, &key);
        assert_eq!(unprotect(&mut rx, &mut buf), Ok(pkt.len()));
        assert_eq!(&buf[..pkt.len()], pkt, "round trip ({suite:?}, rtcp {rtcp})");
        let mut again = protected;
        assert!(matches!(unprotect(&mut rx, &mut again), Err(SrtpError::Replayed { .. })));
        round_trips += 1;
    }
    round_trips
}

/// The `a=crypto` parser on arbitrary text: never panics; whatever parses formats to text
/// that parses back equal, and formatting is a fixed point from then on.
pub fn sdes_crypto(data: &[u8]) {
    use crate::srtp::CryptoAttribute;

    let text = String::from_utf8_lossy(data);
    let Ok(attr) = CryptoAttribute::parse(&text) else { return };
    let sdp = attr.to_sdp_value();
    match CryptoAttribute::parse(&sdp) {
        Ok(again) => {
            assert!(again == attr, "format then parse gives back the attribute");
            assert_eq!(again.to_sdp_value(), sdp);
        }
        Err(e) => panic!("formatted attribute does not parse: {e}"),
    }
    assert!(!attr.keys().is_empty());
    let _ = attr.check_usable();
}
