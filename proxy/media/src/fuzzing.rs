//! The invariants the fuzz targets check, as plain functions: `proxy/fuzz` runs them with
//! coverage guidance (nightly), and `tests/rfc4733_garbage.rs` and `tests/ng_garbage.rs` run
//! them on seeded random bytes in every `cargo test`. One copy, so the two cannot drift apart. Not part of the API (the
//! same arrangement as str0m's `_internal_test_exports`); every function panics on a broken
//! invariant, which is its job.

use crate::ng;
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

/// A relay stand-in for the ng tests and fuzz targets: deterministic, remembers offered calls,
/// records every call it gets.
#[derive(Debug, Default)]
pub struct FakeRelay {
    /// (command, call-id) of every call, in order.
    pub calls: Vec<(ng::Command, Vec<u8>)>,
    /// Call-ids offered and not deleted.
    pub known: Vec<Vec<u8>>,
    /// When set, every call fails with this.
    pub fail_with: Option<ng::ControlError>,
    /// What `query` and `delete` report.
    pub stats: ng::CallStats,
}

impl FakeRelay {
    fn enter(&mut self, command: ng::Command, call_id: &[u8]) -> Result<bool, ng::ControlError> {
        self.calls.push((command, call_id.to_vec()));
        match self.fail_with {
            Some(e) => Err(e),
            None => Ok(self.known.iter().any(|k| k == call_id)),
        }
    }

    fn sdp(req: &ng::OfferRequest<'_>) -> ng::SdpOut {
        let mut sdp = b"v=0\r\ns=tonewall\r\n".to_vec();
        sdp.extend_from_slice(req.sdp.0);
        let warning = (!req.unknown.is_empty()).then_some("unknown keys or flags ignored");
        ng::SdpOut { sdp, warning }
    }
}

impl ng::MediaControl for FakeRelay {
    fn offer(&mut self, _: Duration, req: &ng::OfferRequest<'_>) -> Result<ng::SdpOut, ng::ControlError> {
        if !self.enter(ng::Command::Offer, req.call_id.0)? {
            self.known.push(req.call_id.0.to_vec());
        }
        Ok(Self::sdp(req))
    }

    fn answer(&mut self, _: Duration, req: &ng::OfferRequest<'_>) -> Result<ng::SdpOut, ng::ControlError> {
        match self.enter(ng::Command::Answer, req.call_id.0)? {
            true => Ok(Self::sdp(req)),
            false => Err(ng::ControlError::UnknownCall),
        }
    }

    fn delete(
        &mut self,
        _: Duration,
        req: &ng::DeleteRequest<'_>,
    ) -> Result<ng::CallStats, ng::ControlError> {
        match self.enter(ng::Command::Delete, req.call_id.0)? {
            true => {
                self.known.retain(|k| k != req.call_id.0);
                Ok(self.stats.clone())
            }
            false => Err(ng::ControlError::UnknownCall),
        }
    }

    fn query(&mut self, _: Duration, req: &ng::QueryRequest<'_>) -> Result<ng::CallStats, ng::ControlError> {
        match self.enter(ng::Command::Query, req.call_id.0)? {
            true => Ok(self.stats.clone()),
            false => Err(ng::ControlError::UnknownCall),
        }
    }

    fn block_dtmf(
        &mut self,
        _: Duration,
        req: &ng::DtmfRequest<'_>,
        block: bool,
    ) -> Result<(), ng::ControlError> {
        let command = if block { ng::Command::BlockDtmf } else { ng::Command::UnblockDtmf };
        match self.enter(command, req.call_id.0)? {
            true => Ok(()),
            false => Err(ng::ControlError::UnknownCall),
        }
    }

    fn list(&mut self, _: Duration, _: &ng::ListRequest) -> Result<Vec<Vec<u8>>, ng::ControlError> {
        self.enter(ng::Command::List, b"")?;
        Ok(self.known.clone())
    }
}

/// The bencode codec on arbitrary bytes: never panics; whatever decodes encodes back to the
/// same octets (the decoder accepts only canonical encodings) and decodes again to the same
/// value; errors name an offset inside the input; request parsing of any value is total.
pub fn bencode(data: &[u8]) {
    use ng::bencode::{DecodeError, decode};
    match decode(data) {
        Ok(value) => {
            let mut out = Vec::new();
            value.encode(&mut out);
            assert_eq!(out, data, "encode(decode(x)) == x");
            assert_eq!(value.encoded_len(), data.len());
            assert_eq!(decode(&out).as_ref(), Ok(&value));
            let _ = ng::Request::parse(value);
        }
        Err(DecodeError::TooLong { len, .. }) => assert_eq!(len, data.len()),
        Err(e) => {
            let offset = e.offset().unwrap_or(usize::MAX);
            assert!(offset <= data.len(), "{e} in {} octets", data.len());
            if let DecodeError::TrailingData { offset } = e {
                assert!(offset > 0 && offset < data.len());
                assert!(decode(&data[..offset]).is_ok(), "the prefix before trailing data decodes");
            }
        }
    }
}

/// Datagrams (the input split at NUL octets) through an [`ng::NgServer`] with a
/// [`FakeRelay`], on a clock that moves a few seconds per datagram, from two peers. Each
/// datagram is sent twice in a row, as a retransmission. Invariants:
///
/// - no panic; a reply exactly when the datagram has a cookie (a non-empty prefix of at most
///   64 octets before the first space), and the reply starts with that cookie and a space;
/// - the reply's body is a bencoded dictionary whose `result` is `ok`, `pong`, `error` (with
///   an `error-reason`) or `load limit`;
/// - the retransmission gets the identical reply and the relay is not called again.
pub fn ng_datagrams(data: &[u8]) {
    use ng::{NgConfig, NgServer, bencode};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    let config = NgConfig { cache_entries: 3, cache_bytes: 1 << 20, ..NgConfig::default() };
    let mut server = NgServer::new(config);
    let mut relay = FakeRelay::default();
    let peers =
        [SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)), SocketAddr::from((Ipv6Addr::LOCALHOST, 5060))];
    let mut now = Duration::from_secs(1);
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for (i, datagram) in data.split(|&b| b == 0).enumerate() {
        let peer = peers[i % 2];
        now += Duration::from_secs(u64::from(datagram.first().copied().unwrap_or(0) % 16));
        let replied = server.handle_datagram(now, peer, datagram, &mut relay, &mut first);
        let cookie =
            datagram.iter().position(|&b| b == b' ').filter(|&sp| sp > 0 && sp <= config.max_cookie_len);
        assert_eq!(replied, cookie.is_some(), "a reply exactly when there is a cookie");
        let Some(sp) = cookie else {
            assert!(first.is_empty());
            continue;
        };
        assert_eq!(&first[..=sp], &datagram[..=sp], "the reply starts with the cookie");
        let body = match bencode::decode(&first[sp + 1..]) {
            Ok(bencode::Value::Dict(d)) => d,
            other => panic!("reply body is not a dictionary: {other:?}"),
        };
        match body.get(b"result").and_then(bencode::Value::as_bytes) {
            Some(b"ok" | b"pong" | b"load limit") => {}
            Some(b"error") => assert!(body.get(b"error-reason").and_then(bencode::Value::as_bytes).is_some()),
            other => panic!("bad result {other:?}"),
        }
        let calls = relay.calls.len();
        assert!(server.handle_datagram(now, peer, datagram, &mut relay, &mut again));
        assert_eq!(first, again, "a retransmission gets the same reply");
        assert_eq!(relay.calls.len(), calls, "a retransmission does not run the request again");
    }
    let stats = server.stats();
    assert!(stats.retransmissions + stats.malformed + stats.dropped <= stats.datagrams);
}
