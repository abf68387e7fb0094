//! What the end-to-end tests that drive `tonewall serve` with real peers (Kamailio, sipp) share:
//! child processes killed on drop, the carrier's canary RTP as a pcap for sipp, the checks that
//! no digit reaches the agent, metrics scraping with `promtool`, and the canary search in every
//! output. Each test binary uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent, Law};
use tonewall_media::rfc4733::{EventSender, SenderConfig};
use tonewall_media::rtp;

/// A child process, killed when the test ends (passing or not), so no server outlives it.
pub struct Proc(pub Child);

impl Proc {
    /// Waits for the process to exit, killing it after `timeout` (then `None`).
    pub fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }

    /// Whether it has exited already.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Its children first: Kamailio forks its workers, which would outlive their parent and
        // keep the test's ports (and a share of the machine) after the test.
        let _ = Command::new("pkill").args(["-KILL", "-P", &self.0.id().to_string()]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its stdout and stderr in `log/NAME.log`.
pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
    let out = std::fs::File::create(log.join(format!("{name}.log"))).expect("log");
    let err = out.try_clone().expect("log");
    let child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("{name} must be installed (.ci/run installs it): {e}"));
    Proc(child)
}

/// What a process started by [`spawn`] in `dir` printed.
pub fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// A fresh, empty directory for one test's files and logs.
pub fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tonewall-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// A pcap (Ethernet/IPv4/UDP) of the carrier's RTP, one packet per `(ms, rtp)` entry; sipp's
/// `play_pcap_audio` sends the UDP payloads with this timing from its media port.
pub fn write_pcap(path: &Path, packets: &[(u64, Vec<u8>)]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (ms, rtp) in packets {
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(rtp);
        f.extend_from_slice(&((ms / 1000) as u32).to_le_bytes());
        f.extend_from_slice(&(((ms % 1000) * 1000) as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&frame);
    }
    std::fs::write(path, f).expect("pcap");
}

/// A DTMF key.
pub fn key(c: char) -> Digit {
    Digit::from_char(c).expect("key")
}

/// The canary digits of [`carrier_rtp`], in the order they are pressed.
pub const CANARY: &str = "472";

/// 3 s of carrier audio with '4' and '7' in-band, and '2' as telephone-events at 2 s.
pub fn carrier_rtp() -> Vec<(u64, Vec<u8>)> {
    let mut rng = Rng::new(4702);
    let mut buf = vec![0.0; synth::ms(3000.0)];
    synth::add_noise(&mut buf, -40.0, &mut rng);
    for (k, at) in [('4', 500.0), ('7', 1000.0)] {
        let s = synth::ms(at);
        synth::add_dtmf(&mut buf[s..s + synth::ms(100.0)], key(k), -8.0, 0.0, (0.0, 0.0), &mut rng);
    }
    let audio: Vec<u8> = synth::to_i16(&buf).iter().map(|&x| Law::Ulaw.encode(x)).collect();
    let mut wire: Vec<(u64, u8, bool, u32, Vec<u8>)> = audio
        .chunks(160)
        .enumerate()
        .filter(|(i, _)| !(100..105).contains(i))
        .map(|(i, c)| (i as u64 * 20, 0, i == 0, 160 * i as u32, c.to_vec()))
        .collect();
    let mut tx = EventSender::new(SenderConfig::default());
    tx.press(key('2'), 2000 * 8, 800).expect("press");
    while let Some(at) = tx.next_send() {
        let e = tx.poll_packet(at).expect("due");
        wire.push((2000 + at / 8, 101, e.marker, e.timestamp, e.payload().to_vec()));
    }
    wire.sort_by_key(|w| w.0);
    wire.iter()
        .enumerate()
        .map(|(i, (ms, pt, marker, ts, payload))| {
            let mut p = vec![0u8; 12];
            rtp::write_header(&mut p, *marker, *pt, 1000 + i as u16, *ts, 0x4242);
            p.extend_from_slice(payload);
            (*ms, p)
        })
        .collect()
}

/// An agent (sipp uas) that answers one call and takes its BYE: its 200 names `agent_media` as
/// its media port (a socket of the test, or nothing). With `offer` (a
/// delayed offer) the 200 offers what a phone offers, G.711 and telephone-event; otherwise it
/// answers PCMU.
pub fn sipp_agent_xml(agent_media: u16, offer: bool) -> String {
    let formats = if offer {
        "0 8 101\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16"
    } else {
        "0\na=rtpmap:0 PCMU/8000"
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=agent 7 7 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio {agent_media} RTP/AVP {formats}
]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#
    )
}

/// Panics if the most sensitive detector finds any key press in `ulaw` audio.
pub fn assert_no_digit_heard(ulaw: &[u8]) {
    let mut d = Detector::new(&DetectorConfig::max_sensitivity());
    d.push(&ulaw.iter().map(|&c| Law::Ulaw.decode(c)).collect::<Vec<_>>());
    d.finish();
    assert!(
        std::iter::from_fn(|| d.poll_event()).all(|e| !matches!(e, DtmfEvent::DigitStart { .. })),
        "the agent hears no digit"
    );
}

/// The value of the first sample whose line starts with `name` (labels included).
pub fn metric(body: &str, name: &str) -> u64 {
    try_metric(body, name).unwrap_or_else(|| panic!("{name} in metrics:\n{body}"))
}

/// As [`metric`], `None` when absent.
pub fn try_metric(body: &str, name: &str) -> Option<u64> {
    body.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

/// The body of `GET /metrics` on `127.0.0.1:port`.
pub fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("http");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Panics unless `promtool check metrics` accepts the exposition.
pub fn promtool_check(metrics: &str) {
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
}

/// Panics if `text` shows any of `digits` as digits: spaced, in a list, or after a word that
/// would name them; with `bare`, also run together or quoted one by one (for logs: metrics are
/// full of numbers and `le="4"` buckets).
pub fn assert_no_canary(what: &str, text: &str, digits: &str, bare: bool) {
    let list: Vec<String> = digits.chars().map(String::from).collect();
    let joined = list.concat();
    let mut needles = vec![
        list.join(" "),
        list.join(","),
        list.join(", "),
        format!("\"{joined}\""),
        format!("'{joined}'"),
        format!("={joined}"),
    ];
    if bare {
        needles.push(joined.clone());
    }
    for d in &list {
        if bare {
            // Metrics have label values such as le="4".
            needles.extend([format!("\"{d}\""), format!("'{d}'")]);
        }
        needles.extend([
            format!("digit {d}"),
            format!("digit: {d}"),
            format!("digit={d}"),
            format!("Digit({d}"),
            format!("Signal={d}"),
            format!("key {d}"),
        ]);
    }
    for n in needles.iter().filter(|n| n.len() > 1) {
        assert!(!text.contains(n.as_str()), "a canary ({n}) leaked into {what}:\n{text}");
    }
}
