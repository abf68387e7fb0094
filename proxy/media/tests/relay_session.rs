//! The media session on a virtual clock: latching against spoofers, byte-identical audio at
//! exactly the look-behind, in-band and RFC 4733 digits removed toward the agent and reported
//! once, sequence numbers without gaps, loss and reordering, the media timeout.

use std::net::SocketAddr;
use std::time::Duration;
use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent, Law};
use tonewall_media::relay::{
    Component, DropReason, LegId, MediaSession, PayloadTypes, RelayEvent, Remote, SessionConfig, Verdict,
};
use tonewall_media::rfc4733::{EventSender, SenderConfig};
use tonewall_media::rtp::{self, RtpHeader};

const CARRIER: &str = "192.0.2.10:30000";
const AGENT: &str = "198.51.100.20:40000";
const TE: u8 = 101;
const SSRC: u32 = 0xc0ffee;
/// The default look-behind in samples (20 ms).
const DELAY: usize = 160;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn session() -> MediaSession {
    let mut s = MediaSession::new(ms(0), SessionConfig::default());
    let pts = PayloadTypes { telephone_event: Some(TE), red: None };
    s.signal(LegId::A, &Remote { rtp: Some(addr(CARRIER)), rtcp: None, rtcp_mux: false, pts });
    s.signal(LegId::B, &Remote { rtp: Some(addr(AGENT)), rtcp: None, rtcp_mux: false, pts });
    s
}

fn packet(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    rtp::write_header(&mut p, marker, pt, seq, ts, SSRC);
    p.extend_from_slice(payload);
    p
}

/// Caller audio: low noise, with DTMF keys at the given (start ms, duration ms), µ-law.
fn caller_audio(total_ms: usize, keys: &[(Digit, usize, usize)], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0.0; synth::ms(total_ms as f64)];
    synth::add_noise(&mut buf, -40.0, &mut rng);
    for &(d, start, dur) in keys {
        let s = synth::ms(start as f64);
        synth::add_dtmf(&mut buf[s..s + synth::ms(dur as f64)], d, -10.0, 0.0, (0.0, 0.0), &mut rng);
    }
    synth::to_i16(&buf).iter().map(|&x| Law::Ulaw.encode(x)).collect()
}

struct Out {
    /// Forwarded packets in order, as the agent receives them.
    packets: Vec<Vec<u8>>,
    events: Vec<RelayEvent>,
    drops: Vec<DropReason>,
}

/// Sends each packet from `from` on leg A at 20 ms pacing; collects what reaches the agent.
fn run(s: &mut MediaSession, from: &str, packets: &[(u64, Vec<u8>)]) -> Out {
    let mut out = Out { packets: vec![], events: vec![], drops: vec![] };
    for (at, p) in packets {
        let mut buf = p.clone();
        buf.resize(p.len() + 64, 0);
        match s.handle_packet(ms(*at), LegId::A, Component::Rtp, addr(from), &mut buf, p.len()) {
            Verdict::Forward { leg, socket, to, len } => {
                assert_eq!((leg, socket, to), (LegId::B, Component::Rtp, addr(AGENT)));
                out.packets.push(buf[..len].to_vec());
            }
            Verdict::Drop(r) => out.drops.push(r),
        }
        s.handle_timeout(ms(*at));
        while let Some(e) = s.poll_event() {
            out.events.push(e);
        }
    }
    out
}

fn audio_packets(audio: &[u8], first_seq: u16, first_ts: u32) -> Vec<(u64, Vec<u8>)> {
    audio
        .chunks(160)
        .enumerate()
        .map(|(i, c)| {
            (
                i as u64 * 20,
                packet(0, i == 0, first_seq.wrapping_add(i as u16), first_ts.wrapping_add(160 * i as u32), c),
            )
        })
        .collect()
}

fn payloads(packets: &[Vec<u8>]) -> Vec<u8> {
    packets.iter().flat_map(|p| p[RtpHeader::parse(p).expect("rtp").payload()].to_vec()).collect()
}

fn digits(events: &[RelayEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RelayEvent::Digit { digit, .. } => Some(digit.reveal().as_char()),
            _ => None,
        })
        .collect()
}

/// Digits a maximum-sensitivity detector finds in µ-law audio.
fn detect(audio: &[u8]) -> usize {
    let mut d = Detector::new(&DetectorConfig::max_sensitivity());
    let pcm: Vec<i16> = audio.iter().map(|&c| Law::Ulaw.decode(c)).collect();
    d.push(&pcm);
    d.finish();
    std::iter::from_fn(|| d.poll_event()).filter(|e| matches!(e, DtmfEvent::DigitStart { .. })).count()
}

fn key(c: char) -> Digit {
    Digit::from_char(c).expect("key")
}

#[test]
fn speech_passes_byte_identical_at_exactly_the_look_behind() {
    let mut s = session();
    let audio = caller_audio(2000, &[], 1);
    let out = run(&mut s, CARRIER, &audio_packets(&audio, 65500, 4_294_960_000));
    assert!(out.drops.is_empty(), "{:?}", out.drops);
    assert_eq!(out.packets.len(), 100);
    let heard = payloads(&out.packets);
    // The first look-behind is the masker's idle fill; after it, the caller's bytes, unchanged.
    assert_eq!(&heard[DELAY..], &audio[..audio.len() - DELAY]);
    // Headers untouched: sequence numbers wrap through 65535, timestamps through 2^32.
    for (i, p) in out.packets.iter().enumerate() {
        let h = RtpHeader::parse(p).expect("rtp");
        assert_eq!(h.seq, 65500u16.wrapping_add(i as u16));
        assert_eq!(h.timestamp, 4_294_960_000u32.wrapping_add(160 * i as u32));
    }
    assert!(digits(&out.events).is_empty());
}

#[test]
fn inband_digits_are_masked_and_reported_once() {
    let mut s = session();
    let keys = [(key('4'), 300, 80), (key('1'), 500, 60), (key('1'), 700, 45), (key('#'), 907, 120)];
    let audio = caller_audio(1500, &keys, 2);
    assert_eq!(detect(&audio), 4, "the test signal has four presses");
    let out = run(&mut s, CARRIER, &audio_packets(&audio, 1, 0));
    let heard = payloads(&out.packets);
    assert_eq!(detect(&heard), 0, "the agent hears no digit");
    assert_eq!(digits(&out.events), "411#");
    assert!(s.masked_samples(LegId::A) > 0);
    // Outside the masked spans, the audio is the caller's own.
    assert_eq!(&heard[DELAY..DELAY + 2000], &audio[..2000]);
}

#[test]
fn rfc4733_events_are_removed_and_the_sequence_stays_gapless() {
    let mut s = session();
    let audio = caller_audio(1000, &[], 3);
    let mut packets = audio_packets(&audio, 100, 8000);
    // A press of '7' at 200 ms for 100 ms sent as events in place of audio (as most phones do),
    // plus the triple end packet.
    let mut tx = EventSender::new(SenderConfig::default());
    let start_ts = 8000 + 200 * 8;
    tx.press(key('7'), start_ts, 800).expect("press");
    let mut events = vec![];
    let mut elapsed = 0;
    while let Some(next) = tx.next_send() {
        elapsed = elapsed.max(next);
        let e = tx.poll_packet(elapsed).expect("due");
        events.push(e);
    }
    // Replace audio packets 10..15 by the event packets, keep the rest; the sender numbers
    // packets in the order it sends them.
    let mut wire: Vec<(u64, Vec<u8>)> =
        packets.drain(..).enumerate().filter(|(i, _)| !(10..15).contains(i)).map(|(_, p)| p).collect();
    for e in &events {
        wire.push((200 + e.send_at / 8, packet(TE, e.marker, 0, e.timestamp, &e.payload())));
    }
    wire.sort_by_key(|(at, _)| *at);
    for (i, (_, p)) in wire.iter_mut().enumerate() {
        rtp::set_seq(p, 100 + i as u16);
    }
    let out = run(&mut s, CARRIER, &wire);
    assert_eq!(digits(&out.events), "7");
    assert_eq!(out.drops.iter().filter(|r| **r == DropReason::DtmfEvent).count(), events.len());
    // No event reaches the agent, and its sequence numbers have no gap.
    let mut last = None;
    for p in &out.packets {
        let h = RtpHeader::parse(p).expect("rtp");
        assert_ne!(h.pt, TE);
        if let Some(l) = last {
            assert_eq!(h.seq, u16::wrapping_add(l, 1));
        }
        last = Some(h.seq);
    }
    assert_eq!(out.packets.len(), 45, "{:?}", out.drops);
}

#[test]
fn the_same_press_as_tone_and_event_is_one_digit() {
    let mut s = session();
    let audio = caller_audio(1000, &[(key('9'), 400, 100)], 4);
    let mut wire = audio_packets(&audio, 1, 0);
    let mut tx = EventSender::new(SenderConfig::default());
    tx.press(key('9'), 400 * 8, 800).expect("press");
    let mut seq = 1000u16;
    while let Some(next) = tx.next_send() {
        let e = tx.poll_packet(next).expect("due");
        wire.push((400 + e.send_at / 8, packet(TE, e.marker, seq, e.timestamp, &e.payload())));
        seq += 1;
    }
    wire.sort_by_key(|(at, _)| *at);
    let out = run(&mut s, CARRIER, &wire);
    assert_eq!(digits(&out.events), "9");
    assert_eq!(detect(&payloads(&out.packets)), 0);
}

#[test]
fn spoofed_packets_never_reach_the_agent_nor_capture_the_stream() {
    let mut s = session();
    let audio = caller_audio(600, &[], 5);
    let genuine = audio_packets(&audio, 1, 0);
    let spoof = packet(0, false, 2, 160, &[0x55; 160]);
    let mut wire = vec![(0, spoof.clone())]; // before the peer is learned
    wire.extend(genuine[..10].iter().cloned());
    wire.push((200, spoof.clone())); // during
    wire.extend(genuine[10..].iter().cloned());
    wire.push((600, spoof)); // after
    let mut out = Out { packets: vec![], events: vec![], drops: vec![] };
    for (at, p) in &wire {
        let from = if p[12] == 0x55 { "203.0.113.66:30000" } else { CARRIER };
        let o = run(&mut s, from, &[(*at, p.clone())]);
        out.packets.extend(o.packets);
        out.drops.extend(o.drops);
        out.events.extend(o.events);
    }
    assert_eq!(out.drops, vec![DropReason::Spoofed; 3]);
    assert_eq!(out.packets.len(), genuine.len());
    assert!(payloads(&out.packets).iter().all(|&b| b != 0x55 || audio.contains(&0x55)));
    assert_eq!(s.learned(LegId::A), Some(addr(CARRIER)));
    assert_eq!(s.counters(LegId::A).dropped[DropReason::Spoofed.index()], 3);
    // Strict latching: the carrier's own host from another port is refused too.
    let o = run(&mut s, "192.0.2.10:30002", &[(620, packet(0, false, 40, 6400, &[0; 160]))]);
    assert_eq!(o.drops, vec![DropReason::Spoofed]);
}

#[test]
fn loss_keeps_the_delay_and_late_packets_are_dropped() {
    let mut s = session();
    let audio = caller_audio(1000, &[], 6);
    let mut wire = audio_packets(&audio, 1, 0);
    wire.remove(20);
    // Packet 31 arrives after 32.
    wire.swap(30, 31);
    let out = run(&mut s, CARRIER, &wire);
    assert_eq!(out.drops, vec![DropReason::Late]);
    let heard = payloads(&out.packets);
    // Up to the loss: exact. The lost packet's samples are silence on the agent's timeline, and
    // after it the caller's audio continues at the same delay (packet 32 in the slot before 31).
    let lost_at = 20 * 160;
    assert_eq!(&heard[DELAY..lost_at], &audio[..lost_at - DELAY]);
    // Input packet k ≥ 21 (output packet k − 1) carries the audio of input packet k − 1.
    assert!(out.packets[20][12..].iter().all(|&b| b == 0xff), "the lost slot is silence");
    for k in 22..31 {
        let out_payload = &out.packets[k - 1][12..];
        assert_eq!(out_payload, &audio[(k - 1) * 160..k * 160], "packet {k}");
    }
}

#[test]
fn the_agent_direction_passes_through_untouched() {
    let mut s = session();
    // The agent's phone sends a key (the agent direction is not masked by default).
    let audio = caller_audio(800, &[(key('5'), 200, 100)], 7);
    let mut buf = vec![0u8; 300];
    let mut heard = vec![];
    for (i, c) in audio.chunks(160).enumerate() {
        let p = packet(0, false, i as u16, 160 * i as u32, c);
        buf[..p.len()].copy_from_slice(&p);
        match s.handle_packet(ms(20 * i as u64), LegId::B, Component::Rtp, addr(AGENT), &mut buf, p.len()) {
            Verdict::Forward { leg, to, len, .. } => {
                assert_eq!((leg, to), (LegId::A, addr(CARRIER)));
                assert_eq!(&buf[..len], &p[..]);
                heard.extend_from_slice(&buf[12..len]);
            }
            Verdict::Drop(r) => panic!("dropped {r:?}"),
        }
    }
    assert_eq!(heard, audio);
    assert!(std::iter::from_fn(|| s.poll_event()).all(|e| !matches!(e, RelayEvent::Digit { .. })));
}

#[test]
fn unblocking_dtmf_lets_events_through() {
    let mut s = session();
    s.set_masking(LegId::A, false);
    let p = packet(TE, true, 1, 0, &[5, 10, 0, 160]);
    let out = run(&mut s, CARRIER, &[(0, p.clone())]);
    assert_eq!(out.packets, vec![p]);
}

#[test]
fn a_masked_direction_forwards_only_what_it_can_inspect() {
    let mut s = session();
    let audio = caller_audio(100, &[], 10);
    let mut wire = audio_packets(&audio, 1, 0);
    // G.729 (18), a telephone-event under a payload type nobody negotiated (96), comfort noise.
    wire.push((100, packet(18, false, 6, 800, &[1; 20])));
    wire.push((120, packet(96, true, 7, 960, &[1, 0x8a, 0, 160])));
    wire.push((140, packet(13, false, 8, 1120, &[40])));
    let out = run(&mut s, CARRIER, &wire);
    assert_eq!(out.drops, vec![DropReason::Unmaskable, DropReason::Unmaskable]);
    assert_eq!(out.packets.len(), 6);
    assert_eq!(RtpHeader::parse(&out.packets[5]).expect("rtp").pt, 13);
    // Unmasked, the same packets pass.
    let mut s = session();
    s.set_masking(LegId::A, false);
    assert!(run(&mut s, CARRIER, &wire).drops.is_empty());
}

#[test]
fn media_timeout_fires_once_and_resumes() {
    let mut s =
        MediaSession::new(ms(0), SessionConfig { media_timeout: ms(1000), ..SessionConfig::default() });
    s.signal(LegId::A, &Remote { rtp: Some(addr(CARRIER)), ..Remote::default() });
    assert_eq!(s.poll_timeout(), Some(ms(1000)));
    s.handle_timeout(ms(999));
    assert!(s.poll_event().is_none());
    s.handle_timeout(ms(1000));
    s.handle_timeout(ms(1500));
    assert!(matches!(s.poll_event(), Some(RelayEvent::MediaTimeout)));
    assert!(s.poll_event().is_none());
    let mut buf = packet(0, false, 1, 0, &[0xff; 160]);
    let len = buf.len();
    s.handle_packet(ms(2000), LegId::A, Component::Rtp, addr(CARRIER), &mut buf, len);
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e, RelayEvent::MediaResumed)), "{events:?}");
    assert_eq!(s.poll_timeout(), Some(ms(3000)));
}

#[test]
fn captured_digits_print_as_a_mask() {
    let mut s = session();
    let audio = caller_audio(600, &[(key('8'), 100, 100)], 8);
    let out = run(&mut s, CARRIER, &audio_packets(&audio, 1, 0));
    assert_eq!(digits(&out.events), "8");
    let printed = format!("{:?}", out.events);
    assert!(!printed.contains('8'), "{printed}");
}

#[test]
fn malformed_and_rtcp_packets() {
    let mut s = session();
    let mut buf = [0u8; 64];
    buf[0] = 0x40;
    assert_eq!(
        s.handle_packet(ms(0), LegId::A, Component::Rtp, addr(CARRIER), &mut buf, 20),
        Verdict::Drop(DropReason::Malformed)
    );
    // RTCP on the RTCP socket goes to the agent's RTCP port (RTP port + 1 unless signalled).
    let mut s = MediaSession::new(ms(0), SessionConfig::default());
    s.signal(
        LegId::A,
        &Remote { rtp: Some(addr(CARRIER)), rtcp: Some(addr("192.0.2.10:30001")), ..Remote::default() },
    );
    s.signal(LegId::B, &Remote { rtp: Some(addr(AGENT)), rtcp_mux: true, ..Remote::default() });
    let mut rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
    assert_eq!(
        s.handle_packet(ms(0), LegId::A, Component::Rtcp, addr("192.0.2.10:30001"), &mut rr, 8),
        Verdict::Forward { leg: LegId::B, socket: Component::Rtp, to: addr(AGENT), len: 8 }
    );
    // With rtcp-mux on the agent leg, its RTCP arrives on the RTP socket and goes to the
    // carrier's RTCP port.
    assert_eq!(
        s.handle_packet(ms(0), LegId::B, Component::Rtp, addr(AGENT), &mut rr, 8),
        Verdict::Forward { leg: LegId::A, socket: Component::Rtcp, to: addr("192.0.2.10:30001"), len: 8 }
    );
}

#[test]
fn a_session_is_small() {
    let mut s = session();
    // Once audio has flowed, the masked direction holds its masker (detector, look-behind ring),
    // the telephone-event receiver and the digit merger. The budget is 16 KiB per stream.
    let audio = caller_audio(200, &[], 9);
    run(&mut s, CARRIER, &audio_packets(&audio, 1, 0));
    let bytes = s.footprint();
    println!("media session: {bytes} bytes");
    assert!(bytes <= 16 * 1024, "{bytes} bytes");
    // A session that masks neither direction is a fraction of that.
    let bare = MediaSession::new(ms(0), SessionConfig { mask_a_to_b: false, ..SessionConfig::default() });
    assert!(bare.footprint() < bytes / 4, "{} vs {bytes}", bare.footprint());
}

mod rtcp_relay {
    use super::*;
    use tonewall_media::quality::MosConfig;
    use tonewall_media::rtcp::{self, NtpTime, Report, ReportBlock, Rules, SenderInfo};

    fn report(ssrc: u32, info: Option<SenderInfo>, blocks: &[ReportBlock]) -> Vec<u8> {
        let r = Report { ssrc, sender_info: info, blocks, cname: Some(b"x@example") };
        let mut out = vec![0u8; r.len() + 64];
        let n = r.write(&mut out).expect("write");
        out.truncate(n);
        out
    }

    fn send(s: &mut MediaSession, at: u64, leg: LegId, from: &str, p: &[u8]) -> Option<Vec<u8>> {
        let mut buf = p.to_vec();
        buf.resize(p.len() + 64, 0);
        match s.handle_packet(ms(at), leg, Component::Rtcp, addr(from), &mut buf, p.len()) {
            Verdict::Forward { len, .. } => Some(buf[..len].to_vec()),
            Verdict::Drop(_) => None,
        }
    }

    fn session() -> MediaSession {
        let mut s = MediaSession::new(ms(0), SessionConfig::default());
        let pts = PayloadTypes { telephone_event: Some(TE), red: None };
        let rtcp_a = Some(addr("192.0.2.10:30001"));
        let rtcp_b = Some(addr("198.51.100.20:40001"));
        s.signal(LegId::A, &Remote { rtp: Some(addr(CARRIER)), rtcp: rtcp_a, rtcp_mux: false, pts });
        s.signal(LegId::B, &Remote { rtp: Some(addr(AGENT)), rtcp: rtcp_b, rtcp_mux: false, pts });
        s
    }

    #[test]
    fn counts_and_sequence_numbers_stay_consistent_when_events_are_removed() {
        let mut s = session();
        // Ten audio packets, then three telephone-event packets the relay removes.
        let audio = caller_audio(200, &[], 12);
        let mut wire = audio_packets(&audio, 500, 0);
        for k in 0..3u16 {
            let d = 160 * (k + 1);
            wire.push((
                200 + 20 * k as u64,
                packet(TE, k == 0, 510 + k, 1600, &[3, 10, (d >> 8) as u8, d as u8]),
            ));
        }
        run(&mut s, CARRIER, &wire);
        // The carrier reports 13 packets sent; the agent must read 10.
        let ntp = NtpTime::new(3_900_000_000, 0x8000_0000);
        let info = SenderInfo { ntp, rtp_timestamp: 2000, packet_count: 13, octet_count: 160 * 10 + 12 };
        let sr = report(SSRC, Some(info), &[]);
        let out = send(&mut s, 300, LegId::A, "192.0.2.10:30001", &sr).expect("forwarded");
        let c = rtcp::parse(&out, Rules::ReducedSize).expect("still valid RTCP");
        let p = c.packets().next().expect("SR");
        let tonewall_media::rtcp::Packet::Sr(sr) = p else { panic!("not an SR") };
        assert_eq!((sr.sender_info().packet_count, sr.sender_info().octet_count), (10, 1600));
        // The agent saw sequence numbers 500..=509 and reports 509; the carrier sent 512.
        let block = ReportBlock {
            ssrc: SSRC,
            fraction_lost: 0,
            cumulative_lost: 0,
            extended_highest_seq: 509,
            jitter: 3,
            lsr: ntp.compact(),
            dlsr: 65536 / 20, // 50 ms
        };
        let rr = report(0xa9e47, None, &[block]);
        let out = send(&mut s, 400, LegId::B, "198.51.100.20:40001", &rr).expect("forwarded");
        let c = rtcp::parse(&out, Rules::ReducedSize).expect("valid");
        let tonewall_media::rtcp::Packet::Rr(rr) = c.packets().next().expect("RR") else {
            panic!("not an RR")
        };
        assert_eq!(rr.report_blocks().next().expect("block").extended_highest_seq, 512);
        // The agent answered the SR the relay forwarded 100 ms earlier after holding it 50 ms:
        // 50 ms round trip between the relay and the agent.
        let q = s.quality(LegId::B, &MosConfig::default());
        let rtt = q.rtt_ms.expect("rtt");
        assert!((rtt - 50.0).abs() < 1.0, "{rtt}");
    }

    #[test]
    fn quality_counts_loss_and_garbage_rtcp_is_dropped() {
        let mut s = session();
        let audio = caller_audio(400, &[], 13);
        let mut wire = audio_packets(&audio, 1, 0);
        wire.remove(7);
        wire.remove(12);
        run(&mut s, CARRIER, &wire);
        let q = s.quality(LegId::A, &MosConfig::default());
        assert_eq!((q.packets, q.lost), (18, 2));
        assert!(q.mos > 3.0 && q.mos < 4.41, "{}", q.mos);
        // RTCP that fails RFC 3550's checks never reaches the other side.
        let mut bad = report(1, None, &[]);
        bad[11] += 9; // the SDES length now runs past the datagram
        assert_eq!(send(&mut s, 500, LegId::A, "192.0.2.10:30001", &bad), None);
        assert_eq!(s.counters(LegId::A).dropped[DropReason::Malformed.index()], 1);
    }
}

#[test]
fn garbage_from_the_signalled_host_does_not_pin_the_latch() {
    use tonewall_media::relay::LatchPolicy;
    let mut s = MediaSession::new(
        ms(0),
        SessionConfig { latch: LatchPolicy::SignaledHost, ..SessionConfig::default() },
    );
    let pts = PayloadTypes { telephone_event: Some(TE), red: None };
    s.signal(LegId::A, &Remote { rtp: Some(addr(CARRIER)), rtcp: None, rtcp_mux: false, pts });
    s.signal(LegId::B, &Remote { rtp: Some(addr(AGENT)), rtcp: None, rtcp_mux: false, pts });
    // A stranger on the carrier's host (another port) gets there first, with garbage.
    let stranger = "192.0.2.10:31111";
    let mut junk = [0x40u8; 40];
    assert_eq!(
        s.handle_packet(ms(0), LegId::A, Component::Rtp, addr(stranger), &mut junk, 40),
        Verdict::Drop(DropReason::Malformed)
    );
    assert_eq!(s.learned(LegId::A), None, "garbage teaches the latch nothing");
    // The carrier's first valid packet (from a NAT-translated port) is learned, and the
    // stranger's valid packets are refused from then on.
    let nat = "192.0.2.10:40404";
    let out = run(&mut s, nat, &[(20, packet(0, true, 1, 0, &[0xd5; 160]))]);
    assert_eq!(out.packets.len(), 1);
    assert_eq!(s.learned(LegId::A), Some(addr(nat)));
    let out = run(&mut s, stranger, &[(40, packet(0, false, 2, 160, &[0xd5; 160]))]);
    assert_eq!(out.drops, vec![DropReason::Spoofed]);
}

#[test]
fn reordering_around_a_removed_event_never_repeats_a_sequence_number() {
    let mut s = session();
    let audio = caller_audio(200, &[], 14);
    let a = |i: usize| packet(0, false, 100 + i as u16, 160 * i as u32, &audio[160 * i..160 * (i + 1)]);
    let wire = vec![
        (0, a(0)),
        (20, a(1)),
        (40, packet(TE, true, 103, 480, &[5, 10, 0, 160])), // an event overtakes audio 102
        (45, a(2)),                                         // arrives after it: must not reuse 101
        (60, a(4)),
        (80, a(5)),
    ];
    let out = run(&mut s, CARRIER, &wire);
    let seqs: Vec<u16> = out.packets.iter().map(|p| RtpHeader::parse(p).expect("rtp").seq).collect();
    // Strictly increasing: the late audio is dropped (a gap the receiver treats as loss), never
    // renumbered onto a number it already got.
    assert_eq!(seqs, vec![100, 101, 103, 104]);
    assert_eq!(out.drops, vec![DropReason::DtmfEvent, DropReason::Late]);
}

#[test]
fn a_source_that_jumps_back_restarts_instead_of_going_silent() {
    let mut s = session();
    let audio = caller_audio(1000, &[], 15);
    let mut wire = audio_packets(&audio[..8000], 5000, 800_000);
    // Same SSRC, sequence and timestamp far back (a media server switch behind an SBC).
    wire.extend(audio_packets(&audio[..8000], 10, 1000).into_iter().map(|(at, p)| (at + 1000, p)));
    let out = run(&mut s, CARRIER, &wire);
    assert!(out.drops.is_empty(), "{:?}", out.drops);
    assert_eq!(out.packets.len(), 100);
}

mod sip_info {
    use super::*;
    use tonewall_media::merge::Transport;

    /// Digits and the transport that reported each first.
    fn reported(events: &[RelayEvent]) -> Vec<(char, Transport)> {
        events
            .iter()
            .filter_map(|e| match e {
                RelayEvent::Digit { digit, transport } => Some((digit.reveal().as_char(), *transport)),
                _ => None,
            })
            .collect()
    }

    /// Sends `packets` (20 ms apart from `at` 0) and hands the session each INFO `(at ms, key,
    /// duration)` between the packets, as the worker would when it arrives.
    fn run_with_infos(s: &mut MediaSession, packets: &[(u64, Vec<u8>)], infos: &[(u64, char, u32)]) -> Out {
        let mut out = Out { packets: vec![], events: vec![], drops: vec![] };
        let mut infos = infos.iter().peekable();
        for (at, p) in packets {
            while let Some(&&(t, k, d)) = infos.peek().filter(|i| i.0 <= *at) {
                s.sip_info_digit(ms(t), LegId::A, key(k), Some(d));
                out.events.extend(std::iter::from_fn(|| s.poll_event()));
                infos.next();
            }
            let o = run(s, CARRIER, &[(*at, p.clone())]);
            out.packets.extend(o.packets);
            out.events.extend(o.events);
            out.drops.extend(o.drops);
        }
        for &(t, k, d) in infos {
            s.sip_info_digit(ms(t), LegId::A, key(k), Some(d));
            out.events.extend(std::iter::from_fn(|| s.poll_event()));
        }
        out
    }

    #[test]
    fn an_info_alone_is_one_digit_from_sip_info() {
        let mut s = session();
        let audio = caller_audio(600, &[], 20);
        let out = run_with_infos(&mut s, &audio_packets(&audio, 1, 0), &[(300, '5', 160)]);
        assert_eq!(reported(&out.events), vec![('5', Transport::SipInfo)]);
        // Before any audio too: placed at the start of the timeline.
        let mut s = session();
        s.sip_info_digit(ms(0), LegId::A, key('#'), None);
        assert_eq!(
            reported(&std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>()),
            vec![('#', Transport::SipInfo)]
        );
    }

    #[test]
    fn tones_then_the_info_of_the_same_press_is_one_digit() {
        // The tone from 300 to 400 ms; the INFO arrives at key-up, and up to 150 ms later.
        for late in [0, 50, 100, 150] {
            let mut s = session();
            let audio = caller_audio(1000, &[(key('7'), 300, 100)], 21);
            let out = run_with_infos(&mut s, &audio_packets(&audio, 1, 0), &[(400 + late, '7', 100)]);
            assert_eq!(reported(&out.events), vec![('7', Transport::InBand)], "INFO {late} ms late");
            assert_eq!(detect(&payloads(&out.packets)), 0);
        }
    }

    #[test]
    fn events_then_the_info_of_the_same_press_is_one_digit() {
        let mut s = session();
        let audio = caller_audio(1000, &[], 22);
        let mut wire = audio_packets(&audio, 1, 0);
        let mut tx = EventSender::new(SenderConfig::default());
        tx.press(key('3'), 400 * 8, 800).expect("press");
        let mut seq = 1000u16;
        while let Some(next) = tx.next_send() {
            let e = tx.poll_packet(next).expect("due");
            wire.push((400 + e.send_at / 8, packet(TE, e.marker, seq, e.timestamp, &e.payload())));
            seq += 1;
        }
        wire.sort_by_key(|(at, _)| *at);
        let out = run_with_infos(&mut s, &wire, &[(550, '3', 100)]);
        assert_eq!(reported(&out.events), vec![('3', Transport::Rfc4733)]);
    }

    #[test]
    fn the_info_then_tones_of_the_same_press_is_one_digit_and_the_tones_are_masked() {
        // The INFO arrives at key-down or up to 150 ms before the tones reach the relay.
        for early in [0, 50, 100, 150] {
            let mut s = session();
            let audio = caller_audio(1000, &[(key('9'), 400, 120)], 23);
            let out = run_with_infos(&mut s, &audio_packets(&audio, 1, 0), &[(400 - early, '9', 120)]);
            assert_eq!(reported(&out.events), vec![('9', Transport::SipInfo)], "INFO {early} ms early");
            assert_eq!(detect(&audio), 1);
            assert_eq!(detect(&payloads(&out.packets)), 0, "the agent hears no digit");
            assert!(s.masked_samples(LegId::A) >= 120 * 8);
        }
    }

    #[test]
    fn two_presses_are_two_digits() {
        // Different keys: each once, whichever transport was first.
        let mut s = session();
        let audio = caller_audio(1500, &[(key('1'), 300, 100), (key('2'), 800, 100)], 24);
        let out = run_with_infos(&mut s, &audio_packets(&audio, 1, 0), &[(280, '1', 100), (950, '2', 100)]);
        assert_eq!(reported(&out.events), vec![('1', Transport::SipInfo), ('2', Transport::InBand)]);
        // The same key twice, 600 ms apart, each as tones and INFO: two digits.
        let mut s = session();
        let audio = caller_audio(1500, &[(key('4'), 300, 100), (key('4'), 900, 100)], 25);
        let out = run_with_infos(&mut s, &audio_packets(&audio, 1, 0), &[(420, '4', 100), (1020, '4', 100)]);
        assert_eq!(reported(&out.events), vec![('4', Transport::InBand), ('4', Transport::InBand)]);
        // Two INFOs of one key are two presses, however close: SIP INFO itself says so.
        let mut s = session();
        let audio = caller_audio(600, &[], 26);
        let out = run_with_infos(&mut s, &audio_packets(&audio, 1, 0), &[(200, '8', 100), (260, '8', 100)]);
        assert_eq!(reported(&out.events), vec![('8', Transport::SipInfo), ('8', Transport::SipInfo)]);
    }

    #[test]
    fn an_unmasked_direction_reports_its_info_as_it_comes() {
        let mut s = session();
        assert!(!s.masking(LegId::B));
        s.sip_info_digit(ms(100), LegId::B, key('6'), Some(100));
        s.sip_info_digit(ms(150), LegId::B, key('6'), Some(100));
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(reported(&events), vec![('6', Transport::SipInfo), ('6', Transport::SipInfo)]);
    }

    #[test]
    fn a_new_source_keeps_tones_and_info_on_one_timeline() {
        // Two seconds of one SSRC, then another (a new masker, whose detector counts from 0):
        // a press on the new source still meets its INFO.
        let mut s = session();
        let first = caller_audio(2000, &[], 27);
        let mut wire = audio_packets(&first, 1, 0);
        let second = caller_audio(1000, &[(key('0'), 300, 100)], 28);
        for (at, mut p) in audio_packets(&second, 5000, 90_000) {
            p[8..12].copy_from_slice(&0xbeefu32.to_be_bytes());
            wire.push((at + 2000, p));
        }
        let out = run_with_infos(&mut s, &wire, &[(2450, '0', 100)]);
        assert_eq!(reported(&out.events), vec![('0', Transport::InBand)]);
    }
}

#[test]
fn a_packet_of_another_ssrc_is_dropped_until_that_ssrc_proves_a_new_source() {
    let mut s = session();
    let audio = caller_audio(1000, &[], 7);
    let mut packets = audio_packets(&audio, 100, 8000);
    // Single packets of another stream, from the latched address, interleaved with the caller's:
    // a tone burst that would otherwise reach the agent between two masked packets.
    let tone = caller_audio(20, &[(key('5'), 0, 20)], 8);
    for (n, at) in [(0u16, 205u64), (5, 405), (9, 605)] {
        let mut p = packet(0, false, 7000 + n, 99_000, &tone);
        p[8..12].copy_from_slice(&0xbad5_5e1du32.to_be_bytes());
        packets.push((at, p));
    }
    packets.sort_by_key(|p| p.0);
    let out = run(&mut s, CARRIER, &packets);
    assert_eq!(out.drops, vec![DropReason::WrongSsrc; 3], "each stray packet dropped and counted");
    assert_eq!(out.packets.len(), 50, "the caller's stream is untouched");
    assert!(out.packets.iter().all(|p| RtpHeader::parse(p).expect("rtp").ssrc == SSRC));

    // A real change of source (a new SSRC sending in sequence) takes over after one packet.
    let more = caller_audio(200, &[], 9);
    let next: Vec<(u64, Vec<u8>)> = audio_packets(&more, 500, 50_000)
        .into_iter()
        .map(|(at, mut p)| {
            p[8..12].copy_from_slice(&0x0000_beefu32.to_be_bytes());
            (1000 + at, p)
        })
        .collect();
    let out = run(&mut s, CARRIER, &next);
    assert_eq!(out.drops, vec![DropReason::WrongSsrc], "only the first packet waits on probation");
    assert_eq!(out.packets.len(), next.len() - 1);
}

/// What an I/O loop prefetches for a packet: the masking state of a masked direction (and,
/// once audio has built a masker, its look-behind ring); nothing for a direction not masked.
#[test]
fn hot_spans_name_the_masked_directions_state() {
    let mut s = session();
    s.set_masking(LegId::B, false);
    let spans = |s: &MediaSession, leg| {
        let mut v = vec![];
        s.hot_spans(leg, |at, len| v.push((at as usize, len)));
        v
    };
    assert!(spans(&s, LegId::B).is_empty(), "B→A is not masked");
    let before = spans(&s, LegId::A);
    assert!(!before.is_empty() && before.iter().all(|&(at, len)| at != 0 && len > 0));
    let audio = caller_audio(200, &[], 3);
    run(&mut s, CARRIER, &audio_packets(&audio, 1, 0));
    let after = spans(&s, LegId::A);
    assert_eq!(after.len(), before.len() + 1, "the masker's ring is among them once it exists");
}
