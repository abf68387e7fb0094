//! `tonewall serve` as a media node: the real binary, driven over rtpengine's ng protocol,
//! carrying real RTP over loopback between a "carrier" and an "agent" socket, with canary digits
//! sent in-band and as RFC 4733 events and a spoofer on both ports. The agent must receive no
//! DTMF in any form, the metrics must pass `promtool check metrics`, and the digits must appear
//! in no output of the process.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent, Law};
use tonewall_media::rfc4733::{EventSender, SenderConfig};
use tonewall_media::rtp::{self, RtpHeader};

/// A small bencode writer for the test's requests.
enum B<'a> {
    S(&'a [u8]),
    L(Vec<B<'a>>),
    D(Vec<(&'a str, B<'a>)>),
}

fn benc(b: &B<'_>, out: &mut Vec<u8>) {
    match b {
        B::S(s) => {
            out.extend_from_slice(format!("{}:", s.len()).as_bytes());
            out.extend_from_slice(s);
        }
        B::L(items) => {
            out.push(b'l');
            items.iter().for_each(|i| benc(i, out));
            out.push(b'e');
        }
        B::D(entries) => {
            out.push(b'd');
            let mut e: Vec<_> = entries.iter().collect();
            e.sort_by_key(|(k, _)| *k);
            for (k, v) in e {
                benc(&B::S(k.as_bytes()), out);
                benc(v, out);
            }
            out.push(b'e');
        }
    }
}

struct Node {
    child: Child,
    ng: SocketAddr,
    metrics: SocketAddr,
    control: UdpSocket,
    cookie: u32,
}

/// A config for a node on ng port `base`: extra lines for `[media]` and `[ng]`, extra tables.
fn config(base: u16, media: &str, ng: &str, tables: &str) -> String {
    format!(
        "[media]\nport_min = {}\nport_max = {}\nworkers = 2\n{media}\n[ng]\nlisten = \"127.0.0.1:{base}\"\n{ng}\n[metrics]\nlisten = \"127.0.0.1:{}\"\n[sip]\nudp = []\ntcp = []\n{tables}",
        base + 10,
        base + 200,
        base + 1
    )
}

impl Node {
    /// Starts `tonewall serve` on ng port `base` (metrics `base + 1`, media from `base + 10`)
    /// and waits until it answers ping.
    fn start(name: &str, base: u16, media: &str, tables: &str) -> Node {
        let mut node = Node::spawn(name, base, &config(base, media, "", tables));
        for _ in 0..50 {
            if node.request(&B::D(vec![("command", B::S(b"ping"))])).is_some_and(|r| r.contains("pong")) {
                return node;
            }
        }
        panic!("tonewall serve did not answer ping");
    }

    /// Starts `tonewall serve` with `config`, without waiting for it.
    fn spawn(name: &str, base: u16, config: &str) -> Node {
        let path = workdir(name).join("tonewall.toml");
        std::fs::write(&path, config).expect("config");
        let child = Command::new(env!("CARGO_BIN_EXE_tonewall"))
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tonewall serve starts");
        let control = UdpSocket::bind("127.0.0.1:0").expect("bind");
        control.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let ng = SocketAddr::from(([127, 0, 0, 1], base));
        let metrics = SocketAddr::from(([127, 0, 0, 1], base + 1));
        Node { child, ng, metrics, control, cookie: 0 }
    }

    fn request(&mut self, body: &B<'_>) -> Option<String> {
        self.cookie += 1;
        let mut dgram = format!("t{} ", self.cookie).into_bytes();
        benc(body, &mut dgram);
        self.control.send_to(&dgram, self.ng).expect("send");
        let mut buf = [0u8; 65536];
        let n = self.control.recv(&mut buf).ok()?;
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(reply.starts_with(&format!("t{} ", self.cookie)), "{reply}");
        Some(reply)
    }

    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.metrics).expect("metrics endpoint");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read");
        let (head, body) = body.split_once("\r\n\r\n").expect("http");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_string()
    }

    /// Stops the process and returns everything it printed.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut printed = String::new();
        for pipe in [
            self.child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
            self.child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
        ]
        .into_iter()
        .flatten()
        {
            let mut p = pipe;
            let _ = p.read_to_string(&mut printed);
        }
        printed
    }
}

impl Drop for Node {
    /// A failing test must not leave a server holding the ports.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 4242 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    )
}

/// The `m=audio` port of an SDP inside an ng reply.
fn media_port(reply: &str) -> u16 {
    let m = reply.split("m=audio ").nth(1).expect("m= line in reply");
    m.split(' ').next().and_then(|p| p.parse().ok()).expect("port")
}

fn key(c: char) -> Digit {
    Digit::from_char(c).expect("key")
}

fn packet(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    rtp::write_header(&mut p, marker, pt, seq, ts, 0xabcd);
    p.extend_from_slice(payload);
    p
}

#[test]
fn a_media_node_masks_a_call_set_up_over_ng() {
    call_through_a_media_node(false);
}

/// The same with `agent_srtp = "sdes"`: the agent is offered SRTP with the relay's key and
/// answers with its own; it decrypts what it receives, and what it sends reaches the carrier in
/// the clear.
#[test]
fn a_media_node_speaks_srtp_to_the_agent() {
    call_through_a_media_node(true);
}

fn workdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tonewall-serve-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn tonewall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tonewall")).args(args).output().expect("tonewall runs")
}

fn call_through_a_media_node(srtp: bool) {
    use tonewall_media::srtp::{CryptoAttribute, Direction, MasterKey, SrtpContext, Suite};
    let (name, base, extra) =
        if srtp { ("srtp", 24900, "agent_srtp = \"sdes\"\n") } else { ("ng", 24600, "") };
    // The SRTP run also records the call (the ng offer asks for it).
    let dir = workdir(name);
    let (recordings, key_file) = (dir.join("recordings"), dir.join("rec.key"));
    let tables = if srtp {
        let _ = std::fs::remove_dir_all(&recordings);
        std::fs::create_dir_all(&recordings).expect("dir");
        let _ = std::fs::remove_file(&key_file);
        assert!(tonewall(&["recording", "keygen", key_file.to_str().expect("utf-8")]).status.success());
        format!("\n[recording]\ndir = \"{}\"\nkey_file = \"{}\"\n", recordings.display(), key_file.display())
    } else {
        String::new()
    };
    let mut node = Node::start(name, base, extra, &tables);
    let carrier = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let agent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let spoofer = UdpSocket::bind("127.0.0.1:0").expect("bind");
    agent.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let (cp, ap) = (carrier.local_addr().expect("a").port(), agent.local_addr().expect("a").port());

    let offer_sdp = sdp(cp);
    let offer = node
        .request(&B::D(vec![
            ("command", B::S(b"offer")),
            ("call-id", B::S(b"canary-call")),
            ("from-tag", B::S(b"carrier-tag")),
            ("sdp", B::S(offer_sdp.as_bytes())),
            ("flags", B::L(vec![B::S(b"trust-address")])),
            ("replace", B::L(vec![B::S(b"origin"), B::S(b"session-connection")])),
            ("record call", B::S(b"yes")),
        ]))
        .expect("offer reply");
    assert!(offer.contains("6:result2:ok"), "{offer}");
    assert!(!offer.contains("telephone-event"), "the agent is offered no telephone-event: {offer}");
    let to_b = media_port(&offer);
    // The agent's contexts: it decrypts with the key the relay offered, encrypts with its own.
    let agent_key = MasterKey::new(Suite::AesCm128HmacSha1_80, &[0x5a; 16], &[0xa5; 14]).expect("key");
    let mut agent_rx = None;
    let mut agent_tx = SrtpContext::new(Direction::Outbound, &agent_key);
    let mut answer_sdp = sdp(ap).replace(" 0 8 101", " 0");
    if srtp {
        assert!(offer.contains("RTP/SAVP"), "SRTP offered to the agent: {offer}");
        let line = offer
            .split("a=crypto:")
            .nth(1)
            .expect("a=crypto in the offer")
            .split("\r\n")
            .next()
            .expect("line");
        let relay_attr = CryptoAttribute::parse(line).expect("the relay's a=crypto parses");
        agent_rx = Some(SrtpContext::from_sdes(Direction::Inbound, &relay_attr).expect("usable"));
        let mine = CryptoAttribute::new(
            relay_attr.tag(),
            tonewall_media::srtp::KeyParam { key: agent_key.clone(), lifetime: None, mki: None },
        )
        .expect("attribute");
        answer_sdp = answer_sdp
            .replace("RTP/AVP 0", "RTP/SAVP 0")
            .replace("a=sendrecv\r\n", &format!("a=sendrecv\r\na=crypto:{}\r\n", mine.to_sdp_value()));
    } else {
        assert!(!offer.contains("a=crypto"), "{offer}");
    }
    let answer = node
        .request(&B::D(vec![
            ("command", B::S(b"answer")),
            ("call-id", B::S(b"canary-call")),
            ("from-tag", B::S(b"carrier-tag")),
            ("to-tag", B::S(b"agent-tag")),
            ("sdp", B::S(answer_sdp.as_bytes())),
        ]))
        .expect("answer reply");
    assert!(answer.contains("6:result2:ok"), "{answer}");
    let to_a = media_port(&answer);
    let (to_a, to_b): (SocketAddr, SocketAddr) =
        (format!("127.0.0.1:{to_a}").parse().expect("a"), format!("127.0.0.1:{to_b}").parse().expect("a"));

    // Canary digits: 9 7 in-band, 3 1 as events.
    let mut rng = Rng::new(97);
    let mut buf = vec![0.0; synth::ms(2400.0)];
    synth::add_noise(&mut buf, -42.0, &mut rng);
    for (k, at) in [('9', 300.0), ('7', 600.0)] {
        let s = synth::ms(at);
        synth::add_dtmf(&mut buf[s..s + synth::ms(90.0)], key(k), -9.0, 0.0, (0.0, 0.0), &mut rng);
    }
    let audio: Vec<u8> = synth::to_i16(&buf).iter().map(|&x| Law::Ulaw.encode(x)).collect();
    let mut wire: Vec<(u64, u8, bool, u32, Vec<u8>)> = audio
        .chunks(160)
        .enumerate()
        .filter(|(i, _)| !(50..55).contains(i) && !(80..85).contains(i))
        .map(|(i, c)| (i as u64 * 160, 0, false, 160 * i as u32, c.to_vec()))
        .collect();
    for (k, start) in [('3', 1000u32 * 8), ('1', 1600 * 8)] {
        let mut tx = EventSender::new(SenderConfig::default());
        tx.press(key(k), start, 800).expect("press");
        while let Some(at) = tx.next_send() {
            let e = tx.poll_packet(at).expect("due");
            wire.push((u64::from(start) + at, 101, e.marker, e.timestamp, e.payload().to_vec()));
        }
    }
    wire.sort_by_key(|w| w.0);
    let mut heard = vec![];
    let mut got = 0;
    for (i, (_, pt, marker, ts, payload)) in wire.iter().enumerate() {
        carrier.send_to(&packet(*pt, *marker, i as u16, *ts, payload), to_a).expect("send");
        if i % 20 == 3 {
            spoofer.send_to(&packet(0, false, 1, 1, &[0x55; 160]), to_a).expect("spoof");
            spoofer.send_to(&packet(0, false, 1, 1, &[0x55; 160]), to_b).expect("spoof");
        }
        if *pt != 0 {
            continue;
        }
        let mut r = [0u8; 2048];
        let (n, from) = match agent.recv_from(&mut r) {
            Ok(x) => x,
            Err(e) => panic!("packet {i}: the agent received nothing ({e}); metrics:\n{}", node.metrics()),
        };
        assert_eq!(from, to_b);
        let n = match agent_rx.as_mut() {
            Some(ctx) => ctx.unprotect_rtp(&mut r, n).expect("SRTP under the key the relay offered"),
            None => n,
        };
        let h = RtpHeader::parse(&r[..n]).expect("rtp");
        assert_eq!(h.pt, 0, "only audio reaches the agent");
        heard.extend_from_slice(&r[h.payload()]);
        got += 1;
        std::thread::sleep(Duration::from_micros(300));
    }
    assert_eq!(got, 110);
    let mut d = Detector::new(&DetectorConfig::max_sensitivity());
    d.push(&heard.iter().map(|&c| Law::Ulaw.decode(c)).collect::<Vec<_>>());
    d.finish();
    assert!(
        std::iter::from_fn(|| d.poll_event()).all(|e| !matches!(e, DtmfEvent::DigitStart { .. })),
        "the agent hears no digit"
    );
    assert!(!heard.windows(160).any(|w| w == [0x55; 160]), "nothing of the spoofer's");

    // The agent talks back: the carrier gets it in the clear, byte for byte.
    carrier.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let back = packet(0, true, 9, 90, &[0x33; 160]);
    let mut p = back.clone();
    p.resize(512, 0);
    let n = if srtp { agent_tx.protect_rtp(&mut p, back.len()).expect("protect") } else { back.len() };
    agent.send_to(&p[..n], to_b).expect("send");
    let mut r = [0u8; 2048];
    let (m, from) = carrier.recv_from(&mut r).expect("the carrier hears the agent");
    assert_eq!((&r[..m], from), (&back[..], to_a));

    // Metrics: valid exposition format, and the figures add up.
    std::thread::sleep(Duration::from_millis(600)); // event-receiver end timeouts
    let metrics = node.metrics();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    promtool.stdin.take().expect("stdin").write_all(metrics.as_bytes()).expect("write");
    let check = promtool.wait_with_output().expect("promtool");
    assert!(check.status.success(), "promtool: {}", String::from_utf8_lossy(&check.stderr));
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert_eq!(value("tonewall_relay_packets_forwarded_total"), 111);
    let spoofed = 2 * (0..wire.len()).filter(|i| i % 20 == 3).count() as u64;
    assert_eq!(value("tonewall_relay_packets_dropped_total{reason=\"spoofed\"}"), spoofed);
    assert!(value("tonewall_relay_packets_dropped_total{reason=\"dtmf_event\"}") >= 10);
    assert_eq!(value("tonewall_dtmf_digits_total{transport=\"inband\"}"), 2);
    assert_eq!(value("tonewall_dtmf_digits_total{transport=\"rfc4733\"}"), 2);
    assert_eq!(value("tonewall_relay_sessions"), 1);

    let query = node
        .request(&B::D(vec![("command", B::S(b"delete")), ("call-id", B::S(b"canary-call"))]))
        .expect("delete reply");
    assert!(query.contains("6:result2:ok"), "{query}");
    // The reply carries each stream's quality, and the NOC gets it as histograms.
    assert!(query.contains("7:qualityd3:MOSi4"), "MOS 4.x for a clean loopback call: {query}");
    let after = node.metrics();
    assert!(after.contains("tonewall_stream_mos_count{side=\"carrier\"} 1"), "{after}");
    std::thread::sleep(Duration::from_millis(300)); // the recorder closes the file
    let printed = node.stop();
    assert!(printed.contains("call end: 1 stream(s); m0 carrier: "), "{printed}");
    for canary in ["9731", "9 7 3 1", "9,7,3,1", "\"9\"", "'9'"] {
        assert!(!printed.contains(canary), "a canary leaked into the output: {printed}");
        assert!(!metrics.contains(canary), "a canary leaked into the metrics");
    }
    if srtp {
        // One recording: it decrypts to the call's audio (both directions), and holds no digit.
        let files: Vec<_> =
            std::fs::read_dir(&recordings).expect("dir").flatten().map(|e| e.path()).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let wav = dir.join("call.wav");
        let out = tonewall(&[
            "recording",
            "decrypt",
            files[0].to_str().expect("utf-8"),
            wav.to_str().expect("utf-8"),
            "--key-file",
            key_file.to_str().expect("utf-8"),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let wav_len = std::fs::metadata(&wav).expect("wav").len();
        // 2 channels × 16 bit × 8 kHz × ≥ 2 s of audio.
        assert!(wav_len > 2 * 2 * 8000 * 2, "{wav_len} bytes");
        let scan = tonewall(&["scan", "--sensitive", wav.to_str().expect("utf-8")]);
        assert_eq!(scan.status.code(), Some(0), "{}", String::from_utf8_lossy(&scan.stdout));
        let raw = std::fs::read(&files[0]).expect("recording");
        assert!(!raw.windows(160).any(|w| heard.windows(160).any(|h| h == w)), "the file is encrypted");
    }
}

/// A call whose BYE never comes (no `delete`) and whose media stops is ended by the media
/// timeout: its session is removed and its ports are closed, as rtpengine does. (Socket
/// recycling is off here: with it, the ports would rest for the next call instead.)
#[test]
fn a_call_without_media_is_ended_by_the_media_timeout() {
    let mut node = Node::start("timeout", 25200, "media_timeout_s = 1\nrecycle_sockets = 0\n", "");
    let offer = node
        .request(&B::D(vec![
            ("command", B::S(b"offer")),
            ("call-id", B::S(b"abandoned")),
            ("from-tag", B::S(b"c")),
            ("sdp", B::S(sdp(5000).as_bytes())),
        ]))
        .expect("offer reply");
    let port = media_port(&offer);
    let value = |m: &str, name: &str| -> Option<u64> {
        m.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    // The worker counts the session when it takes it, a moment after the offer's reply.
    let counted = (0..50).any(|_| {
        let one = value(&node.metrics(), "tonewall_relay_sessions") == Some(1);
        if !one {
            std::thread::sleep(Duration::from_millis(10));
        }
        one
    });
    assert!(counted, "the session is counted");
    let mut gone = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        if value(&node.metrics(), "tonewall_relay_sessions") == Some(0) {
            gone = true;
            break;
        }
    }
    assert!(gone, "the session outlived its media timeout");
    std::thread::sleep(Duration::from_millis(100));
    UdpSocket::bind(("127.0.0.1", port)).expect("the relay port is free again");
    let query = node
        .request(&B::D(vec![("command", B::S(b"query")), ("call-id", B::S(b"abandoned"))]))
        .expect("query reply");
    assert!(query.contains("error"), "the call is gone: {query}");
    let printed = node.stop();
    assert!(printed.contains("media timeout: call end: 1 stream(s)"), "{printed}");
}

/// ng answers only the sources `ng.allow` names: anyone else could unblock DTMF or redirect a
/// call's media.
#[test]
fn ng_answers_only_allowed_sources() {
    let mut node = Node::spawn("allow", 25300, &config(25300, "", "allow = [\"192.0.2.1\"]\n", ""));
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        assert_eq!(node.request(&B::D(vec![("command", B::S(b"ping"))])), None, "an outsider got an answer");
    }
    let printed = node.stop();
    assert!(printed.contains("refused from sources outside ng.allow"), "{printed}");
}
