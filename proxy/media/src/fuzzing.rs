//! The invariants the fuzz targets check, as plain functions: `proxy/fuzz` runs them with
//! coverage guidance (nightly), and `tests/rfc4733_garbage.rs` and `tests/ng_garbage.rs` run
//! them on seeded random bytes in every `cargo test`. One copy, so the two cannot drift apart. Not part of the API (the
//! same arrangement as str0m's `_internal_test_exports`); every function panics on a broken
//! invariant, which is its job.

use crate::ng;
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

/// The SDP parser and rewriter on arbitrary bytes. Invariants:
///
/// - no panic; an error names a line that exists, and `TooLarge`/`Empty`/`NoOrigin` only when
///   true;
/// - an untouched SDP writes back the input byte for byte, modulo CRLF line ends and blank
///   lines, and that output parses to the same structure;
/// - `Debug` never shows a secret value;
/// - a set of rewrites picked from a hash of the input yields a body that parses, shows exactly
///   the rewrites, leaves rejected streams identical, and is a fixed point (rewriting again
///   changes nothing);
/// - a leg's `o=` version stays put for an unchanged body and goes up by one for a changed one.
pub fn sdp(data: &[u8]) {
    use crate::sdp::{Error, Sdp};
    match Sdp::parse(data) {
        Ok(sdp) => {
            sdp_round_trip(data, &sdp);
            sdp_reading(&sdp);
            let rewritten = sdp_rewrite(&sdp, fnv(data));
            sdp_leg(&sdp, &rewritten);
        }
        Err(Error::TooLarge { len, max }) => assert!(len == data.len() && len > max),
        Err(Error::Empty) => assert!(data.split(|&b| b == b'\n').all(|l| blank(strip_cr(l)))),
        Err(Error::NoOrigin) => assert!(!data.split(|&b| b == b'\n').any(|l| l.starts_with(b"o="))),
        Err(
            Error::Line { line, .. } | Error::TooManyLines { line, .. } | Error::TooManyMedia { line, .. },
        ) => {
            let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
        }
    }
}

/// The SIP INFO DTMF body parser on arbitrary bytes (the first byte picks the Content-Type):
/// - it never panics, and refuses exactly the content types it does not read;
/// - `Ok` needs a non-blank body, and the digit and duration written back as a canonical
///   `application/dtmf-relay` body parse to the same;
/// - LF or CRLF line ends, and spaces around lines, do not change the answer;
/// - no error shows a digit of the body.
pub fn sip_info(data: &[u8]) {
    use crate::sipinfo::{SipInfoError, parse_dtmf_body};
    const TYPES: [&str; 6] = [
        "application/dtmf-relay",
        "application/dtmf",
        " Application/DTMF-Relay;charset=utf-8",
        "APPLICATION/DTMF ; x=y",
        "application/sdp",
        "text/plain",
    ];
    let Some((&pick, body)) = data.split_first() else { return };
    let content_type = TYPES[usize::from(pick) % TYPES.len()];
    let r = parse_dtmf_body(content_type, body);
    assert_eq!(r == Err(SipInfoError::UnsupportedType), usize::from(pick) % TYPES.len() >= 4);
    if let Ok((digit, duration)) = r {
        assert!(body.iter().any(|b| !b.is_ascii_whitespace()));
        let mut canonical = format!("Signal={}\r\n", digit.as_char());
        if let Some(ms) = duration {
            canonical.push_str(&format!("Duration={ms}\r\n"));
        }
        assert_eq!(parse_dtmf_body(TYPES[0], canonical.as_bytes()), Ok((digit, duration)));
    }
    if let Err(e) = r {
        let shown = format!("{e} {e:?}");
        assert!(!shown.bytes().any(|b| b.is_ascii_digit()), "{shown}");
    }
    let mut padded = Vec::with_capacity(body.len() * 2 + 2);
    padded.push(b' ');
    for &b in body {
        if b == b'\n' {
            padded.extend_from_slice(b" \r\n\t");
        } else {
            padded.push(b);
        }
    }
    padded.push(b'\t');
    assert_eq!(parse_dtmf_body(content_type, &padded), r, "line ends and padding change nothing");
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn blank(l: &[u8]) -> bool {
    l.iter().all(|&b| b == b' ' || b == b'\t')
}

/// Limits that let a rewritten body (CRLF, added lines) parse again.
const ROOMY: crate::sdp::Limits =
    crate::sdp::Limits { max_bytes: usize::MAX, max_lines: usize::MAX, max_media: usize::MAX };

fn sdp_write(sdp: &crate::sdp::Sdp) -> Vec<u8> {
    let mut out = Vec::new();
    sdp.write(&mut out);
    out
}

fn sdp_round_trip(data: &[u8], sdp: &crate::sdp::Sdp) {
    let mut want = Vec::with_capacity(data.len() + 64);
    for l in data.split(|&b| b == b'\n').map(strip_cr).filter(|l| !blank(l)) {
        want.extend_from_slice(l);
        want.extend_from_slice(b"\r\n");
    }
    let out = sdp_write(sdp);
    assert!(out == want, "an untouched SDP writes back its input");
    match crate::sdp::Sdp::parse_with(&out, &ROOMY) {
        Ok(again) => assert!(again == *sdp, "parse → write → parse changed the structure"),
        Err(e) => panic!("a written SDP does not parse: {e}"),
    }
}

fn sdp_reading(sdp: &crate::sdp::Sdp) {
    use crate::sdp::parse::Kind;
    for (i, m) in sdp.media().iter().enumerate() {
        let pts: Vec<u8> = m.payload_types().collect();
        assert!(m.codecs().all(|c| pts.contains(&c.pt)));
        assert!(m.telephone_events().all(|c| c.is_telephone_event()));
        assert!(sdp.media_direction(i).is_some());
        match sdp.endpoints(i) {
            Some(e) => {
                assert!(!m.is_rejected() && e.rtp.port() == m.port());
                if e.rtcp_mux {
                    assert_eq!(e.rtcp, Some(e.rtp));
                }
            }
            None => assert!(m.is_rejected() || (m.connection().is_none() && sdp.connection().is_none())),
        }
    }
    // Secrets: a value long enough to be recognisable, and found in no line that may be shown,
    // must not appear in Debug.
    let lines = || sdp.session.iter().chain(sdp.media.iter().flat_map(|m| m.lines.iter()));
    let secret = |l: &&crate::sdp::parse::Line| {
        matches!(&l.kind, Kind::Key) || l.attr().is_some_and(|a| a.is_secret())
    };
    let debug = format!("{sdp:?}");
    for s in lines().filter(secret) {
        let v = if s.kind == Kind::Key { s.value() } else { s.attr_value() };
        let shown = lines().filter(|l| !secret(l)).map(|l| l.raw.as_str());
        let shown_m = sdp.media.iter().map(|m| m.m_raw.as_str());
        let shown_o = sdp.origin().session_id().contains(v) || sdp.origin().address().contains(v);
        // Skip values that Debug's own punctuation could spell out.
        let ambiguous = ["<redacted>", ", ", "[", "]"].iter().any(|p| v.contains(p));
        if v.len() >= 12 && !ambiguous && !shown_o && !shown.chain(shown_m).any(|r| r.contains(v)) {
            assert!(!debug.contains(v), "a secret reached Debug");
        }
    }
}

/// Applies rewrites picked by `h`, checks them, and returns the rewritten SDP.
fn sdp_rewrite(sdp: &crate::sdp::Sdp, h: u64) -> crate::sdp::Sdp {
    use crate::sdp::{Direction, Proto, RewriteError, Sdp};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    let relay = if h & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
    };
    let dir = [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive]
        [(h >> 1) as usize & 3];
    let proto = [Proto::RtpAvp, Proto::RtpSavp, Proto::UdpTlsRtpSavpf, Proto::RtpAvpf][(h >> 3) as usize & 3];
    let crypto: &[&str] = match (h >> 5) & 3 {
        0 => &[],
        1 => &["1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0"],
        _ => &[
            "1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0",
            "2 AEAD_AES_256_GCM inline:x",
        ],
    };
    let (ice, dtls, mux, rtcp_addr, keep) =
        (h & 128 != 0, h & 256 != 0, h & 512 != 0, h & 1024 != 0, h & 2048 != 0);

    let ops = |s: &mut Sdp| -> Vec<Option<bool>> {
        s.set_connection_address(relay);
        s.set_origin_address(relay);
        if ice {
            s.remove_ice();
        }
        if dtls {
            s.remove_dtls();
        }
        let mut te_removed = Vec::new();
        for (i, m) in s.media_mut().iter_mut().enumerate() {
            let port = 20_000 + 2 * i as u16;
            m.set_port(port);
            m.set_proto(proto);
            m.set_rtcp(port + 1, rtcp_addr.then_some(relay));
            m.set_rtcp_mux(mux);
            assert_eq!(m.set_crypto(crypto), Ok(()));
            let te: Vec<u8> = m.telephone_events().map(|c| c.pt).collect();
            let removed = match m.remove_payload_types(&te) {
                Ok(_) => true,
                Err(RewriteError::NoFormatsLeft) => {
                    assert!(
                        m.payload_types().all(|p| te.contains(&p))
                            && m.formats().all(|f| f.parse::<u8>().is_ok())
                    );
                    false
                }
                Err(e) => panic!("{e:?}"),
            };
            te_removed.push((!m.is_rejected()).then_some(removed));
            if keep && m.keep_codecs(&["PCMU", "PCMA", "opus"]).is_err() {
                m.reject();
            }
            m.set_direction(dir);
        }
        te_removed
    };

    let mut s = sdp.clone();
    let te_removed = ops(&mut s);
    let out = sdp_write(&s);
    let parsed = match Sdp::parse_with(&out, &ROOMY) {
        Ok(p) => p,
        Err(e) => panic!("a rewritten SDP does not parse: {e}"),
    };
    assert!(parsed == s, "the rewritten structure survives write → parse");
    assert_eq!(s.origin().ip(), Some(relay));
    assert_eq!(s.media().len(), sdp.media().len());
    for (i, (m, before)) in s.media().iter().zip(sdp.media()).enumerate() {
        if before.is_rejected() {
            assert!(m == before, "a rejected stream was touched");
            continue;
        }
        if m.is_rejected() {
            assert!(keep, "only keep_codecs rejects");
            continue;
        }
        assert_eq!(m.port(), 20_000 + 2 * i as u16);
        assert!(m.proto().is_some_and(|p| p.as_str().eq_ignore_ascii_case(proto.as_str())));
        assert_eq!(m.rtcp().map(|r| (r.port, r.address)), Some((m.port() + 1, rtcp_addr.then_some(relay))));
        assert_eq!(m.rtcp_mux(), mux);
        assert!(m.crypto().map(|c| c.expose()).eq(crypto.iter().copied()));
        if te_removed[i] == Some(true) {
            assert_eq!(m.telephone_events().count(), 0);
        }
        if ice {
            assert!(m.ice_ufrag().is_none() && m.ice_pwd().is_none() && m.candidates().next().is_none());
        }
        if dtls {
            assert!(m.fingerprints().next().is_none() && m.setup().is_none());
        }
        assert_eq!(s.media_direction(i), Some(dir));
        let was = before.connection().or(sdp.connection());
        let e = s.endpoints(i).map(|e| e.rtp.ip());
        match was {
            Some(c) if c.is_hold() => assert!(e.is_some_and(|a| a.is_unspecified())),
            _ => assert_eq!(e, Some(relay)),
        }
    }
    // A fixed point: the same rewrites again change nothing.
    let mut twice = s.clone();
    ops(&mut twice);
    assert!(sdp_write(&twice) == out, "rewriting twice differs from rewriting once");
    s
}

fn sdp_leg(sdp: &crate::sdp::Sdp, rewritten: &crate::sdp::Sdp) {
    use crate::sdp::{LegOrigin, Sdp};
    let mut leg = LegOrigin::new();
    let v0 = sdp.origin().version();
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let first = leg.write(sdp, &mut a);
    assert!(first.changed && first.version == v0);
    let same = leg.write(sdp, &mut b);
    assert!(!same.changed && same.version == v0 && a == b);
    let next = leg.write(rewritten, &mut c);
    let no_o = |body: &[u8]| -> Vec<Vec<u8>> {
        body.split(|&x| x == b'\n').filter(|l| !l.starts_with(b"o=")).map(<[u8]>::to_vec).collect()
    };
    if no_o(&sdp_write(sdp)) != no_o(&sdp_write(rewritten)) {
        assert!(next.changed);
    }
    assert_eq!(next.version, if next.changed { v0.wrapping_add(1) } else { v0 });
    match Sdp::parse_with(&c, &ROOMY) {
        Ok(p) => {
            assert_eq!(p.origin().version(), next.version);
            assert_eq!(
                (p.origin().username(), p.origin().session_id()),
                (sdp.origin().username(), sdp.origin().session_id())
            );
        }
        Err(e) => panic!("a leg's body does not parse: {e}"),
    }
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

/// The RTCP parser, editors and writer on arbitrary bytes. Invariants:
///
/// - no panic; a full compound (A.2) always passes as reduced-size, and fails reduced-size
///   checks only for its first packet's type or padding;
/// - every error names a fault that is in the bytes (offset, version, type, padding bit);
/// - every packet lies inside the input, they tile it in order, padding only on the last, and
///   every view (blocks, chunks, items, sources, XR blocks, FCI) lies inside its packet and
///   agrees with the header's count;
/// - decoded fields encode back to the octets they came from;
/// - editing: an identity SSRC map changes nothing, a map and its inverse restore the input,
///   edited fields read back, and an edited compound still parses the same;
/// - an SR or RR with at most one CNAME, as the writer makes them, is rewritten byte for byte
///   from its parsed fields; and a report built from the bytes writes, parses back to the same
///   fields and rewrites identically.
pub fn rtcp(data: &[u8]) {
    use crate::rtcp::{Rules, parse};
    let strict = parse(data, Rules::Compound);
    let loose = parse(data, Rules::ReducedSize);
    for r in [&strict, &loose] {
        if let Err(e) = r {
            rtcp_error_is_in_the_bytes(data, e);
        }
    }
    match (&strict, &loose) {
        (Ok(_), Err(e)) => panic!("a full compound refused as reduced-size: {e}"),
        (Err(e), Ok(_)) => assert!(
            matches!(
                e,
                crate::rtcp::Error::NotReportFirst { .. } | crate::rtcp::Error::BadPadding { offset: 0 }
            ),
            "only the first packet's rules differ, got {e}"
        ),
        _ => {}
    }
    if let Ok(c) = &strict {
        let first = c.packets().next().expect("a parsed compound has a packet");
        assert!(matches!(first, crate::rtcp::Packet::Sr(_) | crate::rtcp::Packet::Rr(_)));
        assert!(!first.header().padding);
    }
    if let Ok(c) = loose {
        rtcp_views(data, &c);
        rtcp_edits(data);
        rtcp_rewrite(data, &c);
    }
    rtcp_build(data);
}

fn rtcp_error_is_in_the_bytes(data: &[u8], e: &crate::rtcp::Error) {
    use crate::rtcp::{Error, PacketType};
    match *e {
        Error::Empty => assert!(data.is_empty()),
        Error::Truncated { offset, needed, available } => {
            assert_eq!(offset + available, data.len());
            assert!(needed > available && offset.is_multiple_of(4));
        }
        Error::BadVersion { offset, version } => {
            assert_eq!(data.get(offset).map(|b| b >> 6), Some(version));
            assert_ne!(version, 2);
        }
        Error::BadPadding { offset } => assert_eq!(data.get(offset).map(|b| b & 0x20), Some(0x20)),
        Error::BadLength { offset, packet_type } => assert_eq!(data.get(offset + 1), Some(&packet_type.0)),
        Error::NotReportFirst { packet_type } => {
            assert_eq!(data.get(1), Some(&packet_type.0));
            assert!(packet_type != PacketType::SR && packet_type != PacketType::RR);
        }
        e => panic!("a parser error that only writers make: {e}"),
    }
}

/// Whether `inner` lies inside `outer`.
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fn rtcp_views(data: &[u8], c: &crate::rtcp::Compound<'_>) {
    use crate::rtcp::{Header, Packet, ReportBlock, SenderInfo};
    assert_eq!(c.bytes(), data);
    let _ = (c.ssrc(), c.cname());
    let n = c.packets().count();
    let mut offset = 0;
    for (i, p) in c.packets().enumerate() {
        let h = p.header();
        let bytes = p.bytes();
        assert_eq!(bytes.as_ptr(), data[offset..].as_ptr(), "packets tile the input in order");
        assert_eq!(bytes.len(), h.packet_len());
        assert_eq!(bytes.get(..4), Some(&h.to_bytes()[..]), "the header encodes back");
        let body = p.body();
        assert!(within(bytes, body));
        let pad = if h.padding {
            assert_eq!(i, n - 1, "padding only on the last packet");
            usize::from(*bytes.last().expect("non-empty"))
        } else {
            0
        };
        assert_eq!(body.len(), bytes.len() - Header::LEN - pad);
        let count = usize::from(h.count);
        let fixed_blocks = |blocks: crate::rtcp::ReportBlocks<'_>, fixed: usize| {
            assert_eq!(blocks.len(), count);
            for (k, b) in blocks.enumerate() {
                let at = fixed + k * ReportBlock::LEN;
                assert_eq!(body.get(at..at + ReportBlock::LEN), Some(&b.to_bytes()[..]));
            }
        };
        match p {
            Packet::Sr(sr) => {
                assert_eq!(body.get(4..24), Some(&sr.sender_info().to_bytes()[..]));
                assert_eq!(SenderInfo::LEN, 20);
                fixed_blocks(sr.report_blocks(), 24);
                assert_eq!(sr.extension().len(), body.len() - 24 - 24 * count);
            }
            Packet::Rr(rr) => {
                fixed_blocks(rr.report_blocks(), 4);
                assert_eq!(rr.extension().len(), body.len() - 4 - 24 * count);
            }
            Packet::Sdes(s) => {
                assert_eq!(s.chunks().count(), count);
                for chunk in s.chunks() {
                    for item in chunk.items() {
                        assert!(item.kind != 0 && within(body, item.value));
                    }
                }
            }
            Packet::Bye(b) => {
                assert_eq!(b.sources().len(), count);
                if let Some(reason) = b.reason() {
                    assert!(within(body, reason));
                }
            }
            Packet::App(a) => assert_eq!(a.data().len() + 8, body.len()),
            Packet::RtpFb(f) | Packet::PsFb(f) => assert_eq!(f.fci().len() + 8, body.len()),
            Packet::Xr(x) => {
                let total: usize = x.blocks().map(|b| 4 + b.body.len()).sum();
                assert_eq!(total + 4, body.len(), "XR blocks tile the packet");
                assert!(x.blocks().all(|b| within(body, b.body)));
            }
            Packet::Other(u) => assert_eq!(u.body(), body),
        }
        offset += bytes.len();
    }
    assert_eq!(offset, data.len(), "the lengths add up to the datagram");
}

fn rtcp_packet_types(c: &crate::rtcp::Compound<'_>) -> Vec<(crate::rtcp::PacketType, usize)> {
    c.packets().map(|p| (p.packet_type(), p.bytes().len())).collect()
}

fn rtcp_edits(data: &[u8]) {
    use crate::rtcp::{ReportBlock, Rules, parse, parse_mut};
    let shape = rtcp_packet_types(&parse(data, Rules::ReducedSize).expect("parsed before"));
    let mut buf = data.to_vec();
    let mut c = parse_mut(&mut buf, Rules::ReducedSize).expect("parse_mut agrees with parse");
    c.map_ssrcs(|s| s);
    assert_eq!(c.bytes(), data, "an identity map changes nothing");
    c.map_ssrcs(|s| s ^ 0x5A5A_A5A5);
    assert_eq!(rtcp_packet_types(&c.as_compound()), shape, "a mapped compound keeps its shape");
    assert!(parse(c.bytes(), Rules::ReducedSize).is_ok());
    c.map_ssrcs(|s| s ^ 0x5A5A_A5A5);
    assert_eq!(c.bytes(), data, "a map and its inverse restore the input");
    for mut p in c.packets() {
        if let Some(mut sr) = p.sender_report() {
            let info = sr.sender_info();
            sr.set_packet_count(!info.packet_count);
            sr.set_octet_count(info.octet_count.rotate_left(7));
            sr.set_rtp_timestamp(info.rtp_timestamp ^ 1);
            let now = sr.sender_info();
            assert_eq!(now.packet_count, !info.packet_count);
            assert_eq!(now.octet_count, info.octet_count.rotate_left(7));
            assert_eq!((now.rtp_timestamp, now.ntp), (info.rtp_timestamp ^ 1, info.ntp));
        }
        for mut b in p.report_blocks() {
            let old = b.get();
            b.set_extended_highest_seq(old.extended_highest_seq.wrapping_add(12));
            b.set_cumulative_lost(old.cumulative_lost.wrapping_mul(-3));
            let new = b.get();
            assert_eq!(new.extended_highest_seq, old.extended_highest_seq.wrapping_add(12));
            let clamped = old
                .cumulative_lost
                .wrapping_mul(-3)
                .clamp(ReportBlock::MIN_CUMULATIVE_LOST, ReportBlock::MAX_CUMULATIVE_LOST);
            assert_eq!(new.cumulative_lost, clamped);
            assert_eq!(
                (new.ssrc, new.fraction_lost, new.jitter, new.lsr, new.dlsr),
                (old.ssrc, old.fraction_lost, old.jitter, old.lsr, old.dlsr)
            );
            b.set(&old);
            assert_eq!(b.get(), old);
        }
    }
    assert_eq!(rtcp_packet_types(&c.as_compound()), shape, "an edited compound keeps its shape");
}

/// The parsed fields of an SR/RR (+ one-CNAME SDES) compound rewrite to the same octets.
fn rtcp_rewrite(data: &[u8], c: &crate::rtcp::Compound<'_>) {
    use crate::rtcp::{Packet, Report};
    let packets: Vec<Packet<'_>> = c.packets().collect();
    let (ssrc, sender_info, blocks, ext, padded) = match packets.first() {
        Some(p @ Packet::Sr(sr)) => (
            sr.ssrc(),
            Some(sr.sender_info()),
            sr.report_blocks().collect::<Vec<_>>(),
            sr.extension(),
            p.header().padding,
        ),
        Some(p @ Packet::Rr(rr)) => {
            (rr.ssrc(), None, rr.report_blocks().collect(), rr.extension(), p.header().padding)
        }
        _ => return,
    };
    if padded || !ext.is_empty() {
        return;
    }
    let cname = match &packets[1..] {
        [] => None,
        [sdes @ Packet::Sdes(s)] if !sdes.header().padding => {
            let chunks: Vec<_> = s.chunks().collect();
            match chunks.as_slice() {
                [ch] if ch.ssrc == ssrc && ch.items().count() == 1 => match ch.cname() {
                    Some(v) => Some(v),
                    None => return,
                },
                _ => return,
            }
        }
        _ => return,
    };
    let report = Report { ssrc, sender_info, blocks: &blocks, cname };
    let mut out = vec![0u8; report.len()];
    assert_eq!(report.write(&mut out), Ok(data.len()));
    assert_eq!(out, data, "write(parse(x)) gives back x");
}

/// A report decoded from arbitrary bytes: written, parsed back, rewritten.
fn rtcp_build(data: &[u8]) {
    use crate::rtcp::{Error, NtpTime, Packet, Report, ReportBlock, Rules, SenderInfo, parse};
    let mut rest = data;
    let mut take = |n: usize| -> Vec<u8> {
        let (a, b) = rest.split_at(n.min(rest.len()));
        rest = b;
        let mut v = a.to_vec();
        v.resize(n, 0);
        v
    };
    let word = |b: Vec<u8>| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let flags = take(1)[0];
    let ssrc = word(take(4));
    let sender_info = (flags & 1 != 0).then(|| SenderInfo {
        ntp: NtpTime(u64::from(word(take(4))) << 32 | u64::from(word(take(4)))),
        rtp_timestamp: word(take(4)),
        packet_count: word(take(4)),
        octet_count: word(take(4)),
    });
    let n = usize::from(flags >> 1) % 32;
    let blocks: Vec<ReportBlock> = (0..n)
        .map(|_| {
            let b: [u8; 24] = take(24).try_into().expect("24 octets");
            ReportBlock::from_bytes(&b)
        })
        .collect();
    let cname_len = usize::from(take(1)[0]);
    let cname_bytes = take(cname_len);
    let cname = (flags & 0x40 == 0).then_some(&cname_bytes[..]);
    let report = Report { ssrc, sender_info, blocks: &blocks, cname };
    let len = report.len();
    let mut out = vec![0u8; len + 3];
    assert_eq!(report.write(&mut out[..len - 1]), Err(Error::BufferTooSmall { needed: len }));
    assert_eq!(report.write(&mut out), Ok(len));
    assert_eq!(out[len..], [0, 0, 0], "nothing written past the report");
    let out = &out[..len];
    let c = parse(out, Rules::Compound).expect("what we write parses as a full compound");
    let first = c.packets().next().expect("a report");
    let (got_ssrc, got_info, got_blocks): (u32, Option<SenderInfo>, Vec<ReportBlock>) = match first {
        Packet::Sr(sr) => (sr.ssrc(), Some(sr.sender_info()), sr.report_blocks().collect()),
        Packet::Rr(rr) => (rr.ssrc(), None, rr.report_blocks().collect()),
        _ => panic!("the writer starts with an SR or RR"),
    };
    assert_eq!((got_ssrc, got_info, &got_blocks[..]), (ssrc, sender_info, &blocks[..]));
    assert_eq!(c.cname(), cname);
    rtcp_rewrite(out, &c);
}

/// [`crate::quality::StreamStats`] driven by a packet stream decoded from arbitrary bytes,
/// eight at a time: a few SSRCs; sequence numbers that step, repeat, go back a little or jump;
/// timestamps and arrival times that move unevenly; RTCP events in between. Invariants: no
/// panic; the packet and octet counts are exact; a counted in-order packet becomes the highest
/// sequence number; duplicates are counted; the snapshot's figures stay in range (lost within
/// expected, loss fraction 0 to 1, jitter and delay finite and non-negative, burst ratio at
/// least 1, MOS between 1 and 4.5).
pub fn stream_stats(data: &[u8]) {
    use crate::quality::{Arrival, MosConfig, PacketInfo, StreamStats};
    use crate::rtcp::{NtpClock, NtpTime, ReportBlock};
    let mut s = StreamStats::new(8000);
    let mos = MosConfig::default();
    let clock = NtpClock { at: Duration::ZERO, ntp: NtpTime::new(0xE000_0000, 0) };
    let (mut now, mut seq, mut ts) = (Duration::ZERO, 0u16, 0u32);
    let (mut packets, mut bytes, mut dups) = (0u64, 0u64, 0u64);
    for chunk in data.chunks_exact(8) {
        let &[a, b, c, d, e, f, g, h] = chunk else { continue };
        now += Duration::from_micros(u64::from(u16::from_be_bytes([b, c])) * 4);
        match a % 16 {
            0 => {
                let block = s.report_block(now);
                assert_eq!(block.is_some(), s.ssrc().is_some());
            }
            1 => {
                let ntp = clock.ntp(now);
                s.on_sr_sent(ntp);
                let lsr = if d & 1 == 0 { ntp.compact() } else { u32::from_be_bytes([e, f, g, h]) };
                let block = ReportBlock { lsr, dlsr: u32::from(e), ..ReportBlock::default() };
                if let Some(rtt) =
                    s.on_report_block(now + Duration::from_millis(u64::from(f)), &clock, &block)
                {
                    assert_eq!(s.rtt(), Some(rtcp_round(rtt)));
                }
            }
            2 => {
                let _ = s.on_sender_report(now, u32::from(d % 3), clock.ntp(now));
            }
            _ => {
                seq = match d % 8 {
                    0..=3 => seq.wrapping_add(1),
                    4 => seq.wrapping_add(u16::from(e % 8)),
                    5 => seq.wrapping_sub(u16::from(e % 8)),
                    6 => seq,
                    _ => u16::from_be_bytes([e, f]),
                };
                ts = ts.wrapping_add(if g % 4 == 0 { u32::from(h) * 40 } else { 160 });
                let p = PacketInfo {
                    ssrc: u32::from(a % 64 == 63),
                    seq,
                    timestamp: ts,
                    payload_len: usize::from(h),
                };
                packets += 1;
                bytes += u64::from(h);
                let arrival = s.on_packet(now, p);
                match arrival {
                    Arrival::InOrder | Arrival::Restart => {
                        assert_eq!(s.extended_max().map(|m| m.seq()), Some(seq));
                    }
                    Arrival::Duplicate => dups += 1,
                    _ => {}
                }
            }
        }
        let snap = s.snapshot(&mos);
        assert_eq!((snap.packets, snap.bytes, snap.duplicates), (packets, bytes, dups));
        assert!(snap.lost <= snap.expected);
        assert!((0.0..=1.0).contains(&snap.loss_fraction));
        assert!(snap.duplicates + snap.reordered <= snap.packets);
        assert!(snap.jitter_ms.is_finite() && snap.jitter_ms >= 0.0);
        assert!(snap.delay_ms.is_finite() && snap.delay_ms >= 0.0);
        assert!(snap.burst_ratio.is_finite() && snap.burst_ratio >= 1.0);
        assert!(snap.r_factor.is_finite());
        assert!((1.0..=4.5).contains(&snap.mos), "MOS {}", snap.mos);
        assert!(snap.rtt_ms.is_none_or(|r| r.is_finite() && r >= 0.0));
    }
}

/// An RTT as the statistics keep it: in 2^-16 s units.
fn rtcp_round(d: Duration) -> Duration {
    crate::rtcp::compact_to_duration(crate::rtcp::duration_to_compact(d))
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
