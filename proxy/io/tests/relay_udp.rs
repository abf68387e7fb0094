//! Real UDP through the relay on loopback: a carrier and an agent socket, a call between them,
//! in-band and RFC 4733 digits from the carrier, a spoofer, and what the agent receives.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent, Law};
use tonewall_io::{Relay, RelayConfig};
use tonewall_media::relay::{LegId, PayloadTypes, RelayEvent, Remote};
use tonewall_media::rfc4733::{EventSender, SenderConfig};
use tonewall_media::rtp::{self, RtpHeader};

const TE: u8 = 101;

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    s
}

fn packet(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    rtp::write_header(&mut p, marker, pt, seq, ts, 0xfeed);
    p.extend_from_slice(payload);
    p
}

fn key(c: char) -> Digit {
    Digit::from_char(c).expect("key")
}

fn detect(audio: &[u8]) -> usize {
    let mut d = Detector::new(&DetectorConfig::max_sensitivity());
    let pcm: Vec<i16> = audio.iter().map(|&c| Law::Ulaw.decode(c)).collect();
    d.push(&pcm);
    d.finish();
    std::iter::from_fn(|| d.poll_event()).filter(|e| matches!(e, DtmfEvent::DigitStart { .. })).count()
}

fn remote(s: &UdpSocket) -> Remote {
    Remote {
        rtp: Some(s.local_addr().expect("addr")),
        rtcp: None,
        rtcp_mux: false,
        pts: PayloadTypes { telephone_event: Some(TE), red: None },
    }
}

#[test]
fn a_call_through_the_relay_reaches_the_agent_masked() {
    let config = RelayConfig { ports: (41000, 41999), ..RelayConfig::default() };
    let (relay, events) = Relay::start(config).expect("relay");
    let (carrier, agent, spoofer) = (socket(), socket(), socket());
    let (id, ports) = relay.create().expect("session");
    relay.signal(id, LegId::A, remote(&carrier));
    relay.signal(id, LegId::B, remote(&agent));
    let (to_a, to_b): (SocketAddr, SocketAddr) = (ports[0].rtp, ports[1].rtp);
    assert_ne!(to_a, to_b);

    // Carrier audio: 1.6 s of noise with the in-band key '5' at 300 ms and the key '2' sent as
    // RFC 4733 events at 900 ms (in place of audio).
    let mut rng = Rng::new(11);
    let mut buf = vec![0.0; synth::ms(1600.0)];
    synth::add_noise(&mut buf, -40.0, &mut rng);
    let s = synth::ms(300.0);
    synth::add_dtmf(&mut buf[s..s + synth::ms(80.0)], key('5'), -8.0, 0.0, (0.0, 0.0), &mut rng);
    let audio: Vec<u8> = synth::to_i16(&buf).iter().map(|&x| Law::Ulaw.encode(x)).collect();
    let mut tx = EventSender::new(SenderConfig::default());
    tx.press(key('2'), 900 * 8, 640).expect("press");
    let mut wire: Vec<(u64, u8, bool, u32, Vec<u8>)> = audio
        .chunks(160)
        .enumerate()
        .filter(|(i, _)| !(45..49).contains(i))
        .map(|(i, c)| (i as u64 * 160, 0, i == 0, 160 * i as u32, c.to_vec()))
        .collect();
    while let Some(at) = tx.next_send() {
        let e = tx.poll_packet(at).expect("due");
        wire.push((900 * 8 + at, TE, e.marker, e.timestamp, e.payload().to_vec()));
    }
    wire.sort_by_key(|w| w.0);

    let mut heard = vec![];
    let mut received = 0;
    let mut last_seq: Option<u16> = None;
    for (i, (_, pt, marker, ts, payload)) in wire.iter().enumerate() {
        let p = packet(*pt, *marker, 1000 + i as u16, *ts, payload);
        carrier.send_to(&p, to_a).expect("send");
        if i % 10 == 5 {
            // A spoofer sprays the carrier-side port, and the agent-side port too.
            spoofer.send_to(&packet(0, false, 7, 7, &[0x55; 160]), to_a).expect("spoof");
            spoofer.send_to(&packet(0, false, 7, 7, &[0x55; 160]), to_b).expect("spoof");
        }
        if *pt == TE {
            continue;
        }
        let mut r = [0u8; 2048];
        let (n, from) = agent.recv_from(&mut r).expect("the agent receives each audio packet");
        assert_eq!(from, to_b, "media comes from the relay's agent-side port");
        let h = RtpHeader::parse(&r[..n]).expect("rtp");
        assert_ne!(h.pt, TE, "no telephone-event reaches the agent");
        assert!(r[h.payload()].iter().any(|&b| b != 0x55) || heard.is_empty());
        if let Some(l) = last_seq {
            assert_eq!(h.seq, l.wrapping_add(1), "no sequence gap");
        }
        last_seq = Some(h.seq);
        heard.extend_from_slice(&r[h.payload()]);
        received += 1;
    }
    assert_eq!(received, 76);
    assert_eq!(detect(&heard), 0, "the agent hears no digit");
    assert!(!heard.windows(160).any(|w| w == [0x55; 160]), "nothing of the spoofer's");
    // The agent talks back: untouched, from the carrier-side port.
    let back = packet(0, true, 1, 0, &audio[..160]);
    agent.send_to(&back, to_b).expect("send");
    let mut r = [0u8; 2048];
    let (n, from) = carrier.recv_from(&mut r).expect("carrier receives");
    assert_eq!((&r[..n], from), (&back[..], to_a));

    // Digits came out as events, once each, in order.
    let mut got = String::new();
    while let Ok((sid, e)) = events.recv_timeout(Duration::from_millis(700)) {
        assert_eq!(sid, id);
        if let RelayEvent::Digit { digit, .. } = e {
            got.push(digit.reveal().as_char());
        }
    }
    assert_eq!(got, "52");
    let report = relay.remove(id).expect("report");
    assert_eq!(report.counters[0].dropped[tonewall_media::relay::DropReason::Spoofed.index()], 8);
    assert_eq!(report.counters[1].dropped[tonewall_media::relay::DropReason::Spoofed.index()], 8);
    assert_eq!(
        report.learned,
        [Some(carrier.local_addr().expect("a")), Some(agent.local_addr().expect("a"))]
    );
    assert!(report.masked_samples[0] > 0);
    // The ports are closed with the session.
    assert!(relay.report(id).is_none());
    UdpSocket::bind(to_a).expect("port released");
}

/// SRTP toward the agent: the carrier speaks plain RTP, the agent SRTP (keys as SDES would give
/// them). The agent decrypts what it gets with the relay's key; what it sends back, encrypted
/// with its own key, reaches the carrier in the clear; tampered and replayed SRTP is dropped.
#[test]
fn srtp_on_the_agent_side() {
    use tonewall_media::srtp::{Direction, MasterKey, SrtpContext, Suite};
    let config = RelayConfig { ports: (42000, 42999), ..RelayConfig::default() };
    let (relay, _events) = Relay::start(config).expect("relay");
    let (carrier, agent, spoofer) = (socket(), socket(), socket());
    let (id, ports) = relay.create().expect("session");
    relay.signal(id, LegId::A, remote(&carrier));
    relay.signal(id, LegId::B, remote(&agent));
    let relay_key = MasterKey::new(Suite::AesCm128HmacSha1_80, &[7; 16], &[9; 14]).expect("key");
    let agent_key = MasterKey::new(Suite::AesCm128HmacSha1_80, &[1; 16], &[2; 14]).expect("key");
    relay.set_srtp(
        id,
        LegId::B,
        Some(SrtpContext::new(Direction::Inbound, &agent_key)),
        Some(SrtpContext::new(Direction::Outbound, &relay_key)),
    );
    // The agent's own contexts: it decrypts with the relay's key, encrypts with its own.
    let mut agent_rx = SrtpContext::new(Direction::Inbound, &relay_key);
    let mut agent_tx = SrtpContext::new(Direction::Outbound, &agent_key);

    let mut rng = Rng::new(12);
    let mut buf = vec![0.0; synth::ms(800.0)];
    synth::add_noise(&mut buf, -40.0, &mut rng);
    let s = synth::ms(200.0);
    synth::add_dtmf(&mut buf[s..s + synth::ms(90.0)], key('8'), -8.0, 0.0, (0.0, 0.0), &mut rng);
    let audio: Vec<u8> = synth::to_i16(&buf).iter().map(|&x| Law::Ulaw.encode(x)).collect();
    let mut heard = vec![];
    for (i, c) in audio.chunks(160).enumerate() {
        carrier.send_to(&packet(0, i == 0, i as u16, 160 * i as u32, c), ports[0].rtp).expect("send");
        let mut r = [0u8; 2048];
        let (n, _) = agent.recv_from(&mut r).expect("the agent receives");
        assert!(n > 12 + 160, "an auth tag is appended");
        assert_ne!(&r[12..172], c, "the payload is encrypted");
        let n = agent_rx.unprotect_rtp(&mut r, n).expect("authentic SRTP under the relay's key");
        let h = RtpHeader::parse(&r[..n]).expect("rtp");
        heard.extend_from_slice(&r[h.payload()]);
    }
    assert_eq!(detect(&heard), 0, "masked under the encryption too");
    assert_eq!(&heard[160..1600], &audio[..1440], "and otherwise the carrier's audio");

    // Agent → carrier: decrypted by the relay.
    let plain = packet(0, false, 77, 7700, &[0x42; 160]);
    let mut p = plain.clone();
    p.resize(256, 0);
    let n = agent_tx.protect_rtp(&mut p, plain.len()).expect("protect");
    agent.send_to(&p[..n], ports[1].rtp).expect("send");
    let mut r = [0u8; 2048];
    let (m, _) = carrier.recv_from(&mut r).expect("carrier receives");
    assert_eq!(&r[..m], &plain[..], "the carrier gets plain RTP");
    // The same packet again (a replay), a tampered one, and a spoofer's: none gets through.
    agent.send_to(&p[..n], ports[1].rtp).expect("replay");
    let next = packet(0, false, 78, 7860, &[0x42; 160]);
    let mut t = next.clone();
    t.resize(256, 0);
    let tn = agent_tx.protect_rtp(&mut t, next.len()).expect("protect");
    t[20] ^= 1;
    agent.send_to(&t[..tn], ports[1].rtp).expect("tampered");
    spoofer.send_to(&p[..n], ports[1].rtp).expect("spoof");
    assert!(carrier.recv_from(&mut r).is_err(), "nothing more reaches the carrier");
    let report = relay.remove(id).expect("report");
    let dropped = report.counters[1].dropped;
    use tonewall_media::relay::DropReason;
    assert_eq!(
        (
            dropped[DropReason::Replayed.index()],
            dropped[DropReason::Unauthenticated.index()],
            dropped[DropReason::Spoofed.index()]
        ),
        (1, 1, 1)
    );
}

/// IPv6 on both legs (when the host has ::1), and a carrier-facing IPv4 leg with an agent-facing
/// IPv6 one: the relay bridges the families.
#[test]
fn ipv6_legs_and_mixed_families() {
    use std::net::IpAddr;
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: nothing to test");
        return;
    }
    let v6: IpAddr = "::1".parse().expect("addr");
    let v4: IpAddr = "127.0.0.1".parse().expect("addr");
    for (a, b) in [(v6, v6), (v4, v6)] {
        let config = RelayConfig { addresses: [a, b], ports: (45000, 45999), ..RelayConfig::default() };
        let (relay, _events) = Relay::start(config).expect("relay");
        let bind = |ip: IpAddr| {
            let s = UdpSocket::bind((ip, 0)).expect("bind");
            s.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
            s
        };
        let (carrier, agent) = (bind(a), bind(b));
        let (id, ports) = relay.create().expect("session");
        assert_eq!((ports[0].rtp.ip(), ports[1].rtp.ip()), (a, b));
        relay.signal(id, LegId::A, remote(&carrier));
        relay.signal(id, LegId::B, remote(&agent));
        for i in 0..10u16 {
            let p = packet(0, false, i, 160 * u32::from(i), &[0x40 + i as u8; 160]);
            carrier.send_to(&p, ports[0].rtp).expect("send");
            let mut r = [0u8; 512];
            let (n, from) = agent.recv_from(&mut r).expect("agent receives");
            assert_eq!(from, ports[1].rtp);
            assert_eq!(RtpHeader::parse(&r[..n]).expect("rtp").seq, i);
            let back = packet(0, false, i, 160 * u32::from(i), &[0x21; 160]);
            agent.send_to(&back, ports[1].rtp).expect("send");
            let (n, from) = carrier.recv_from(&mut r).expect("carrier receives");
            assert_eq!((&r[..n], from), (&back[..], ports[0].rtp));
        }
        let report = relay.remove(id).expect("report");
        assert_eq!(report.counters[0].forwarded, 10);
        assert_eq!(report.counters[1].forwarded, 10);
    }
}

#[test]
fn sip_info_digits_leave_on_the_event_channel_once_per_press() {
    use tonewall_media::merge::Transport;
    let config = RelayConfig { ports: (44000, 44999), ..RelayConfig::default() };
    let (relay, events) = Relay::start(config).expect("relay");
    let (carrier, agent) = (socket(), socket());
    let (id, ports) = relay.create().expect("session");
    relay.signal(id, LegId::A, remote(&carrier));
    relay.signal(id, LegId::B, remote(&agent));

    // An INFO before any audio: reported at once, from SIP INFO.
    relay.sip_info(id, LegId::A, key('1'), Some(100));
    let (sid, e) = events.recv_timeout(Duration::from_secs(2)).expect("the INFO's digit");
    assert_eq!(sid, id);
    let RelayEvent::Digit { digit, transport } = e else { panic!("not a digit: {e:?}") };
    assert_eq!((digit.reveal().as_char(), transport), ('1', Transport::SipInfo));

    // Audio with the key '5' in-band at 300 ms; its INFO comes after the tone, with the packet
    // at 500 ms: the same press, reported once (in-band was first). Then an INFO of '9' alone.
    let mut rng = Rng::new(12);
    let mut buf = vec![0.0; synth::ms(800.0)];
    synth::add_noise(&mut buf, -40.0, &mut rng);
    let s = synth::ms(300.0);
    synth::add_dtmf(&mut buf[s..s + synth::ms(80.0)], key('5'), -8.0, 0.0, (0.0, 0.0), &mut rng);
    let audio: Vec<u8> = synth::to_i16(&buf).iter().map(|&x| Law::Ulaw.encode(x)).collect();
    let mut heard = vec![];
    for (i, c) in audio.chunks(160).enumerate() {
        if i == 25 {
            relay.sip_info(id, LegId::A, key('5'), Some(80));
        }
        carrier.send_to(&packet(0, i == 0, 1 + i as u16, 160 * i as u32, c), ports[0].rtp).expect("send");
        let mut r = [0u8; 2048];
        let (n, _) = agent.recv_from(&mut r).expect("the agent receives each packet");
        heard.extend_from_slice(&r[RtpHeader::parse(&r[..n]).expect("rtp").payload()]);
    }
    relay.sip_info(id, LegId::A, key('9'), None);
    assert_eq!(detect(&heard), 0, "the tones are masked");
    let mut got = vec![];
    while let Ok((_, e)) = events.recv_timeout(Duration::from_millis(700)) {
        if let RelayEvent::Digit { digit, transport } = e {
            got.push((digit.reveal().as_char(), transport));
        }
    }
    assert_eq!(got, vec![('5', Transport::InBand), ('9', Transport::SipInfo)]);
}

/// An ended call's sockets rest, then carry the next call on the same ports: what was sent to
/// them in between is read and dropped, a set still resting is not taken, and a full pool of
/// resting sets closes its oldest.
#[test]
fn sockets_of_an_ended_call_rest_then_carry_the_next() {
    use tonewall_io::Recycle;
    let rest = Duration::from_millis(300);
    let config =
        RelayConfig { ports: (47000, 47999), recycle: Recycle { rest, max: 2 }, ..RelayConfig::default() };
    let (relay, _events) = Relay::start(config).expect("relay");
    let (carrier, agent, old_peer) = (socket(), socket(), socket());
    let received = |relay: &Relay| {
        relay.stats().map(|s| s.stray.load(std::sync::atomic::Ordering::Relaxed)).sum::<u64>()
    };
    let call = |relay: &Relay, from: &UdpSocket, seq: u16| {
        let (id, ports) = relay.create().expect("session");
        relay.signal(id, LegId::A, remote(from));
        relay.signal(id, LegId::B, remote(&agent));
        let p = packet(0, true, seq, 160, &[0x55; 160]);
        from.send_to(&p, ports[0].rtp).expect("send");
        let mut r = [0u8; 512];
        let (n, src) = agent.recv_from(&mut r).expect("the agent receives the call's media");
        assert_eq!((RtpHeader::parse(&r[..n]).expect("rtp").seq, src), (seq, ports[1].rtp));
        (id, ports)
    };

    let (first, first_ports) = call(&relay, &old_peer, 1);
    assert!(relay.remove(first).is_some());
    // The old call's peer keeps sending after the call ended: the resting sockets take it.
    for seq in 2..6 {
        old_peer.send_to(&packet(0, false, seq, 160, &[0x55; 160]), first_ports[0].rtp).expect("send");
    }
    // Still resting: the next call gets fresh ports.
    let (second, second_ports) = call(&relay, &carrier, 10);
    assert_ne!(second_ports, first_ports);
    std::thread::sleep(rest + Duration::from_millis(50));
    // Rested: the next call takes the first call's ports.
    let (third, third_ports) = call(&relay, &carrier, 20);
    assert_eq!(third_ports, first_ports, "the rested set is reused");
    let mut r = [0u8; 512];
    assert!(agent.recv_from(&mut r).is_err(), "nothing of the old call reaches the new call's agent");
    assert_eq!(received(&relay), 4, "the stragglers were read and dropped as strays");
    // The ports answer only the new call's peer.
    old_peer.send_to(&packet(0, false, 7, 160, &[0x55; 160]), third_ports[0].rtp).expect("send");
    assert!(agent.recv_from(&mut r).is_err(), "the old peer is refused by the latch");

    // Two sets may rest: when a third call ends, the oldest set closes and the newest rests.
    let (fourth, fourth_ports) = call(&relay, &carrier, 30);
    for id in [second, third, fourth] {
        assert!(relay.remove(id).is_some());
    }
    let freed = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        UdpSocket::bind(second_ports[0].rtp).is_ok()
    });
    assert!(freed, "the oldest resting set was closed");
    assert!(UdpSocket::bind(fourth_ports[0].rtp).is_err(), "the newest set rests, keeping its ports");
}

/// Resting sets keep their ports. When the range has no free pair left, a call takes a set
/// that has not finished resting (under the strict latch) rather than being refused; under a
/// looser latch it is refused, and a resting set closes so that the next call finds room.
#[test]
fn a_range_held_by_resting_sets_still_takes_calls() {
    use tonewall_io::Recycle;
    use tonewall_media::relay::{LatchPolicy, SessionConfig};
    // Four pairs on one address: two sessions.
    let recycle = Recycle { rest: Duration::from_secs(60), max: 64 };
    let config = RelayConfig { ports: (48100, 48107), recycle, ..RelayConfig::default() };
    let (relay, _events) = Relay::start(config).expect("relay");
    let (a, a_ports) = relay.create().expect("first");
    let (b, b_ports) = relay.create().expect("second");
    assert!(relay.create().is_err(), "the range is full");
    assert!(relay.remove(a).is_some() && relay.remove(b).is_some());
    let (_, ports) = relay.create().expect("a resting set rather than a refusal");
    assert!(ports == a_ports || ports == b_ports, "{ports:?}");
    let loose = SessionConfig { latch: LatchPolicy::SignaledHost, ..relay.session_config().clone() };
    assert!(relay.create_with(loose.clone()).is_err(), "no set that has not rested under a loose latch");
    // The refusal closed the other resting set (the worker does it a moment later).
    let fresh = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(20));
        relay.create_with(loose.clone()).ok()
    });
    assert!(fresh.is_some(), "room again once the resting set closed");
}
