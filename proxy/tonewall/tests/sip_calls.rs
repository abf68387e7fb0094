//! `tonewall serve` as the B2BUA between a carrier and agents, end to end: the real binary on
//! loopback, sipp as the carrier (and as some agents), and agents written here where the test
//! must see what reaches them (the INVITE's addresses, re-INVITEs, a TLS connection).
//!
//! ```text
//!  sipp (carrier) ──SIP/UDP──► tonewall serve ──SIP/UDP or TLS──► agent (sipp, or this test)
//!     │ RTP (pcap, canary digits)   │ relay                           │
//!     └───────────────────────► masked ─────────────────────────► agent media socket (this test)
//! ```
//!
//! Every test runs its own Tonewall on its own ports (`Ports`), so they run in parallel; every
//! test ends by checking the metrics with `promtool` and searching Tonewall's output and metrics
//! for the digits that were pressed.

mod common;

use common::{
    CANARY, Proc, assert_no_canary, assert_no_digit_heard, carrier_rtp, log, metric, promtool_check, scrape,
    sipp_agent_xml, spawn, try_metric, workdir, write_pcap,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonewall_media::rtp::{self, RtpHeader};

/// The ports of one test: Tonewall's SIP (UDP) and TLS listeners and metrics, the carrier's SIP
/// and media ports, the agent's SIP and media ports, and Tonewall's relay range.
#[derive(Clone, Copy)]
struct Ports(u16);

impl Ports {
    fn sip(self) -> u16 {
        self.0
    }
    fn tls(self) -> u16 {
        self.0 + 1
    }
    fn metrics(self) -> u16 {
        self.0 + 2
    }
    fn carrier(self) -> u16 {
        self.0 + 3
    }
    fn agent(self) -> u16 {
        self.0 + 4
    }
    fn agent_media(self) -> u16 {
        self.0 + 10
    }
    fn carrier_media(self) -> u16 {
        self.0 + 20
    }
    fn relay(self) -> (u16, u16) {
        (self.0 + 100, self.0 + 199)
    }
}

/// Where a UDP agent at the test's agent port is reached.
fn udp_agent(p: Ports) -> String {
    format!("sip:agent@127.0.0.1:{}", p.agent())
}

/// The test certificates (see `proxy/io/tests/data/README.md`).
fn tls_data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../io/tests/data").join(file)
}

/// A running `tonewall serve`.
struct Tonewall {
    proc: Proc,
    dir: PathBuf,
    p: Ports,
}

impl Tonewall {
    /// Starts Tonewall with one trunk (`carrier`: 127.0.0.1 only) and one route (`4000` to
    /// `route_to`); `sip_keys` go into `[sip]`, `tables` after it. Returns once it answers
    /// OPTIONS.
    fn start(dir: &Path, p: Ports, route_to: &str, sip_keys: &str, tables: &str) -> Tonewall {
        let (min, max) = p.relay();
        // One UDP listener on 127.0.0.1 unless `sip_keys` names them.
        let udp = if sip_keys.contains("udp = ") {
            String::new()
        } else {
            format!("udp = [\"127.0.0.1:{}\"]", p.sip())
        };
        let config = format!(
            "[media]\nport_min = {min}\nport_max = {max}\nworkers = 1\n\n\
             [metrics]\nlisten = \"127.0.0.1:{}\"\n\n\
             [sip]\n{udp}\ntcp = []\n{sip_keys}\n\n\
             [[sip.trunks]]\nname = \"carrier\"\nnetworks = [\"127.0.0.1/32\"]\n\n\
             [[sip.routes]]\nname = \"support\"\nmatch = \"4000\"\nto = \"{route_to}\"\n\n{tables}\n",
            p.metrics(),
        );
        std::fs::write(dir.join("tonewall.toml"), &config).expect("config");
        let proc = spawn(
            "tonewall",
            Command::new(env!("CARGO_BIN_EXE_tonewall"))
                .args(["serve", "--config"])
                .arg(dir.join("tonewall.toml")),
            dir,
        );
        let mut tw = Tonewall { proc, dir: dir.to_path_buf(), p };
        for _ in 0..50 {
            if options(p) == Some(200) {
                return tw;
            }
            assert!(tw.proc.exited().is_none(), "tonewall serve exited:\n{}", log(dir, "tonewall"));
        }
        panic!("tonewall serve does not answer OPTIONS:\n{}", log(dir, "tonewall"));
    }

    fn metrics(&self) -> String {
        scrape(self.p.metrics())
    }

    /// The metrics once `ready` holds of them (the SIP counters are synced every 200 ms), or
    /// after 5 s as they are.
    fn metrics_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let m = self.metrics();
            if ready(&m) || started.elapsed() > Duration::from_secs(5) {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops Tonewall after the checks every test makes: the metrics pass `promtool`, and
    /// neither they nor anything Tonewall printed show the `canaries` (digit strings; secrets
    /// such as passwords go in `secrets`). Returns what it printed and the last metrics.
    fn finish(mut self, canaries: &[&str], secrets: &[&str]) -> (String, String) {
        let metrics = self.metrics();
        promtool_check(&metrics);
        assert!(self.proc.exited().is_none(), "tonewall serve died:\n{}", log(&self.dir, "tonewall"));
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
        let printed = log(&self.dir, "tonewall");
        for digits in canaries {
            assert_no_canary("tonewall's output", &printed, digits, true);
            assert_no_canary("the metrics", &metrics, digits, false);
        }
        for secret in secrets {
            assert!(!printed.contains(secret), "a secret leaked into tonewall's output:\n{printed}");
            assert!(!metrics.contains(secret), "a secret leaked into the metrics");
        }
        // Passed: the logs are not needed any more.
        let _ = std::fs::remove_dir_all(&self.dir);
        (printed, metrics)
    }
}

/// Sends an OPTIONS to Tonewall from a fresh socket; the status of the answer.
fn options(p: Ports) -> Option<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let port = s.local_addr().expect("addr").port();
    let req = format!(
        "OPTIONS sip:tonewall@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ping{port};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p{port}\r\nTo: <sip:tonewall@127.0.0.1>\r\nCall-ID: ping-{port}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sip = p.sip()
    );
    s.send_to(req.as_bytes(), ("127.0.0.1", p.sip())).expect("send");
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).ok()?;
    Msg::parse(&buf[..n])?.status()
}

// ---------------------------------------------------------------------------------------------
// sipp

/// Writes a sipp scenario into `dir` and runs it (one call, traces in `dir`).
fn sipp(dir: &Path, name: &str, xml: &str, args: &[String]) -> Proc {
    std::fs::write(dir.join(format!("{name}.xml")), xml).expect("scenario");
    spawn(
        name,
        Command::new("sipp")
            .current_dir(dir)
            .arg("-sf")
            .arg(format!("{name}.xml"))
            .args(["-m", "1", "-nostdin", "-timeout", "30", "-trace_err", "-trace_msg"])
            .args(args),
        dir,
    )
}

/// The carrier: sipp calling `4000` at Tonewall from its own address (`-i 127.0.0.1` unless
/// `ip` says otherwise), its Call-IDs starting `carrier-` so the agent side can look for them.
fn carrier(dir: &Path, p: Ports, xml: &str, ip: &str) -> Proc {
    let args: Vec<String> = [
        format!("127.0.0.1:{}", p.sip()),
        "-s".into(),
        "4000".into(),
        "-i".into(),
        ip.into(),
        "-p".into(),
        p.carrier().to_string(),
        "-mp".into(),
        p.carrier_media().to_string(),
        "-cid_str".into(),
        "carrier-%u-%p@%s".into(),
    ]
    .into();
    sipp(dir, "carrier", xml, &args)
}

/// Everything a sipp run left in `dir`: its output, errors and message trace.
fn sipp_logs(dir: &Path, name: &str) -> String {
    let mut text = log(dir, name);
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&format!("{name}_")) && file.ends_with(".log") {
            text.push_str(&format!("\n==== {file}\n"));
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

/// The messages a sipp run traced (`-trace_msg`).
fn sipp_trace(dir: &Path, name: &str) -> String {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .filter(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            f.starts_with(&format!("{name}_")) && f.ends_with("_messages.log")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

/// Waits for a sipp run and panics, with its logs and Tonewall's, unless its call succeeded.
fn succeeds(proc: &mut Proc, dir: &Path, name: &str) {
    match proc.wait_for(Duration::from_secs(40)) {
        Some(s) if s.success() => {}
        status => panic!(
            "sipp {name} failed ({status:?}):\n{}\n==== tonewall:\n{}",
            sipp_logs(dir, name),
            log(dir, "tonewall")
        ),
    }
}

/// A sipp scenario for the carrier, built step by step.
struct Scenario(String);

impl Scenario {
    fn new() -> Scenario {
        Scenario("<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"carrier\">\n".into())
    }

    /// A request. `in_dialog` puts the agent's tag in To; `same_tx` reuses the Via (and To) of
    /// the last response: CANCEL, and the ACK of a non-2xx final response.
    fn request(
        mut self,
        method: &str,
        cseq: u32,
        in_dialog: bool,
        same_tx: bool,
        body: Option<(&str, &str)>,
    ) -> Self {
        let via = if same_tx {
            "[last_Via:]".to_string()
        } else {
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]".to_string()
        };
        let to = if same_tx && method == "ACK" {
            "[last_To:]".to_string()
        } else {
            format!(
                "To: <sip:[service]@[remote_ip]:[remote_port]>{}",
                if in_dialog { "[peer_tag_param]" } else { "" }
            )
        };
        let body = body.map_or("Content-Length: 0\n\n".to_string(), |(ctype, b)| {
            format!("Content-Type: {ctype}\nContent-Length: [len]\n\n{b}")
        });
        let retrans = if method == "ACK" { "" } else { " retrans=\"500\"" };
        self.0.push_str(&format!(
            "  <send{retrans}><![CDATA[\n\
             {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n\
             {via}\n\
             From: \"Carrier\" <sip:carrier@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n\
             {to}\n\
             Call-ID: [call_id]\n\
             CSeq: {cseq} {method}\n\
             Contact: <sip:carrier@[local_ip]:[local_port]>\n\
             Max-Forwards: 70\n\
             {body}]]></send>\n"
        ));
        self
    }

    /// The INVITE, offering the carrier's media port with `direction`.
    fn invite(self, cseq: u32, in_dialog: bool, direction: &str) -> Self {
        let sdp = carrier_sdp(cseq, direction);
        self.request("INVITE", cseq, in_dialog, false, Some(("application/sdp", &sdp)))
    }

    /// A response, maybe optional.
    fn expect(mut self, status: u16, optional: bool) -> Self {
        let opt = if optional { " optional=\"true\"" } else { "" };
        self.0.push_str(&format!("  <recv response=\"{status}\"{opt}/>\n"));
        self
    }

    /// Provisional responses, then the 200.
    fn answered(self) -> Self {
        self.expect(100, true).expect(180, true).expect(183, true).expect(200, false)
    }

    /// A request from Tonewall, answered 200.
    fn answer_request(mut self, method: &str) -> Self {
        self.0.push_str(&format!(
            "  <recv request=\"{method}\"/>\n  <send><![CDATA[\n\
             SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n\
             Content-Length: 0\n\n]]></send>\n"
        ));
        self
    }

    fn pause(mut self, ms: u32) -> Self {
        self.0.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n"));
        self
    }

    fn play(mut self, pcap: &Path) -> Self {
        self.0.push_str(&format!(
            "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
            pcap.display()
        ));
        self
    }

    /// BYE, answered 200.
    fn bye(self, cseq: u32) -> Self {
        self.request("BYE", cseq, true, false, None).expect(200, false)
    }

    fn build(mut self) -> String {
        self.0.push_str("</scenario>\n");
        self.0
    }
}

/// The carrier's SDP (sipp fills in its media address and port).
fn carrier_sdp(version: u32, direction: &str) -> String {
    format!(
        "v=0\no=carrier 1 {version} IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\n\
         t=0 0\nm=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\n\
         a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na={direction}\n"
    )
}

/// A call that is answered and hung up by the carrier after `talk_ms`.
fn simple_call(talk_ms: u32) -> String {
    Scenario::new()
        .invite(1, false, "sendrecv")
        .answered()
        .request("ACK", 1, true, false, None)
        .pause(talk_ms)
        .bye(2)
        .build()
}

// ---------------------------------------------------------------------------------------------
// A SIP agent of the test's own, over UDP or TLS

/// A SIP message as text, split just enough for the checks here (independently of Tonewall's
/// parser).
#[derive(Clone, Debug)]
struct Msg {
    raw: String,
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Msg {
    fn parse(bytes: &[u8]) -> Option<Msg> {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let start = lines.next()?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (long_name(n.trim()), v.trim().to_string()))
            .collect();
        let body = body.to_string();
        Some(Msg { raw, start, headers, body })
    }

    fn all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn get(&self, name: &str) -> &str {
        self.all(name).first().copied().unwrap_or_else(|| panic!("{name} in\n{}", self.raw))
    }

    /// The method of a request, `""` for a response.
    fn method(&self) -> &str {
        if self.start.starts_with("SIP/2.0") { "" } else { self.start.split(' ').next().unwrap_or("") }
    }

    fn status(&self) -> Option<u16> {
        self.start.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }

    /// The URI inside the first Contact.
    fn contact_uri(&self) -> String {
        let c = self.get("contact");
        c.split('<').nth(1).and_then(|r| r.split('>').next()).unwrap_or(c).to_string()
    }
}

fn long_name(n: &str) -> String {
    match n.to_ascii_lowercase().as_str() {
        "v" => "via".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "i" => "call-id".into(),
        "m" => "contact".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        other => other.to_string(),
    }
}

/// The media address an SDP names (`c=` and the first `m=audio` port).
fn sdp_addr(sdp: &str) -> SocketAddr {
    let ip = sdp
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("c=IN IP4 "))
        .unwrap_or_else(|| panic!("c= in {sdp}"));
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("m=audio in {sdp}"));
    SocketAddr::new(ip.parse().expect("IPv4 address"), port)
}

/// The SDP's direction attribute, if any.
fn sdp_direction(sdp: &str) -> Option<&str> {
    sdp.lines().map(str::trim_end).find_map(|l| {
        l.strip_prefix("a=").filter(|a| ["sendrecv", "sendonly", "recvonly", "inactive"].contains(a))
    })
}

/// The agent's SDP, naming its media socket.
fn agent_sdp(media: u16, version: u32, direction: &str) -> String {
    format!(
        "v=0\r\no=agent 7 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    )
}

type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Where a message came from, and where its answer goes.
#[derive(Clone)]
enum Peer {
    Udp(SocketAddr),
    Tls(Arc<Mutex<TlsStream>>),
}

/// An agent: a SIP endpoint answering Tonewall as the test tells it to.
struct Agent {
    rx: Receiver<(Peer, Msg)>,
    udp: Option<UdpSocket>,
    port: u16,
    transport: &'static str,
    tag: String,
    stop: Arc<AtomicBool>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Agent {
    /// An agent on UDP `port`.
    fn udp(port: u16) -> Agent {
        let socket = UdpSocket::bind(("127.0.0.1", port)).expect("agent SIP port");
        socket.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let reader = socket.try_clone().expect("clone");
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !done.load(Ordering::Relaxed) {
                if let Ok((n, from)) = reader.recv_from(&mut buf)
                    && let Some(m) = Msg::parse(&buf[..n])
                    && tx.send((Peer::Udp(from), m)).is_err()
                {
                    return;
                }
            }
        });
        Agent { rx, udp: Some(socket), port, transport: "udp", tag: format!("agent{port}"), stop }
    }

    /// An agent behind a TLS listener on `port`, with the test server certificate.
    fn tls(port: u16) -> Agent {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls_data("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(tls_data("server.key")).expect("server.key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("certificate and key"),
        );
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("agent TLS port");
        listener.set_nonblocking(true).expect("nonblocking");
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        tcp.set_nonblocking(false).expect("blocking");
                        tcp.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
                        let conn = rustls::ServerConnection::new(Arc::clone(&config)).expect("tls");
                        let stream = Arc::new(Mutex::new(rustls::StreamOwned::new(conn, tcp)));
                        let (tx, done) = (tx.clone(), Arc::clone(&done));
                        std::thread::spawn(move || tls_reader(stream, tx, done));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Agent { rx, udp: None, port, transport: "tls", tag: format!("agent{port}"), stop }
    }

    /// The next message within `timeout`.
    fn recv(&self, timeout: Duration) -> Option<(Peer, Msg)> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next message, which must be a `method` request.
    fn expect(&self, method: &str) -> (Peer, Msg) {
        match self.recv(Duration::from_secs(10)) {
            Some((peer, m)) if m.method() == method => (peer, m),
            Some((_, m)) => panic!("the agent expected {method}, got:\n{}", m.raw),
            None => panic!("the agent got no {method}"),
        }
    }

    fn send(&self, peer: &Peer, text: &str) {
        match peer {
            Peer::Udp(to) => {
                self.udp.as_ref().expect("udp").send_to(text.as_bytes(), to).expect("send");
            }
            Peer::Tls(stream) => {
                let mut s = stream.lock().expect("lock");
                s.write_all(text.as_bytes()).expect("TLS write");
                s.flush().expect("flush");
            }
        }
    }

    fn contact(&self) -> String {
        match self.transport {
            "tls" => format!("<sip:agent@127.0.0.1:{};transport=tls>", self.port),
            _ => format!("<sip:agent@127.0.0.1:{}>", self.port),
        }
    }

    /// Answers `req`, with an SDP `body` if given.
    fn respond(&self, peer: &Peer, req: &Msg, status: u16, reason: &str, body: Option<&str>) {
        let mut r = format!("SIP/2.0 {status} {reason}\r\n");
        for v in req.all("via") {
            r.push_str(&format!("Via: {v}\r\n"));
        }
        let to = req.get("to");
        let tag =
            if to.contains("tag=") || status == 100 { String::new() } else { format!(";tag={}", self.tag) };
        r.push_str(&format!(
            "From: {}\r\nTo: {to}{tag}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
            req.get("from"),
            req.get("call-id"),
            req.get("cseq")
        ));
        if req.method() == "INVITE" && status > 100 {
            r.push_str(&format!("Contact: {}\r\n", self.contact()));
        }
        match body {
            Some(b) => r.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => r.push_str("Content-Length: 0\r\n\r\n"),
        }
        self.send(peer, &r);
    }

    /// A request within the dialog `invite` (received from Tonewall) made.
    fn request(&self, peer: &Peer, invite: &Msg, method: &str, cseq: u32) {
        let via_transport = if self.transport == "tls" { "TLS" } else { "UDP" };
        let r = format!(
            "{method} {} SIP/2.0\r\nVia: SIP/2.0/{via_transport} 127.0.0.1:{};branch=z9hG4bK-agent-{method}-{cseq}\r\n\
             From: {};tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            invite.contact_uri(),
            self.port,
            invite.get("to"),
            self.tag,
            invite.get("from"),
            invite.get("call-id"),
        );
        self.send(peer, &r);
    }
}

/// Reads SIP messages (framed by Content-Length) off a TLS connection until it closes.
fn tls_reader(stream: Arc<Mutex<TlsStream>>, tx: Sender<(Peer, Msg)>, done: Arc<AtomicBool>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16384];
    while !done.load(Ordering::Relaxed) {
        let read = stream.lock().expect("lock").read(&mut chunk);
        match read {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => return,
        }
        loop {
            while buf.starts_with(b"\r\n") {
                buf.drain(..2);
            }
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { break };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| long_name(n.trim()) == "content-length")
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() < end + 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..end + 4 + len).collect();
            if let Some(m) = Msg::parse(&msg)
                && tx.send((Peer::Tls(Arc::clone(&stream)), m)).is_err()
            {
                return;
            }
        }
    }
}

/// Answers an INVITE with 180 then 200 (SDP naming `media`), and takes the ACK.
fn answer(agent: &Agent, peer: &Peer, invite: &Msg, media: u16) {
    agent.respond(peer, invite, 180, "Ringing", None);
    agent.respond(peer, invite, 200, "OK", Some(&agent_sdp(media, 1, "sendrecv")));
    let (_, ack) = agent.expect("ACK");
    assert_eq!(ack.get("call-id"), invite.get("call-id"));
}

/// Takes the BYE of the call and answers 200.
fn take_bye(agent: &Agent) {
    let (peer, bye) = agent.expect("BYE");
    agent.respond(&peer, &bye, 200, "OK", None);
}

fn agent_rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    rtp::write_header(&mut p, seq == 0, 0, seq, 160 * u32::from(seq), 0xa9e7);
    p.extend_from_slice(&[0x33; 160]);
    p
}

// ---------------------------------------------------------------------------------------------
// The calls

/// A call answered by the agent: the carrier's audio (canary digits in-band and as RFC 4733
/// events) reaches the agent masked and without telephone-events; the agent's audio goes back
/// through the relay; the agent's INVITE shows nothing of the carrier's signalling.
#[test]
fn an_answered_call_carries_media_both_ways_and_the_agent_gets_no_digit() {
    let p = Ports(18000);
    let dir = workdir("sip-answered");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let agent = Agent::udp(p.agent());
    let media = UdpSocket::bind(("127.0.0.1", p.agent_media())).expect("agent media port");
    media.set_read_timeout(Some(Duration::from_millis(5))).expect("timeout");
    let pcap = dir.join("carrier.pcap");
    write_pcap(&pcap, &carrier_rtp());
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .answered()
        .request("ACK", 1, true, false, None)
        .play(&pcap)
        .pause(3800)
        .bye(2)
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.1");

    let (peer, invite) = agent.expect("INVITE");
    // Topology hiding: one Via (Tonewall's), and nothing of the carrier's addresses, Call-ID or
    // tags anywhere in the agent's INVITE.
    let vias = invite.all("via");
    assert_eq!(vias.len(), 1, "{}", invite.raw);
    assert!(vias[0].starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{};", p.sip())), "{}", invite.raw);
    for leak in [
        format!(":{}", p.carrier()),
        format!("m=audio {}", p.carrier_media()),
        "carrier-".to_string(),
        "SIPpTag".to_string(),
        "Carrier\"".to_string(),
    ] {
        assert!(!invite.raw.contains(&leak), "the agent's INVITE shows `{leak}`:\n{}", invite.raw);
    }
    assert!(!invite.body.contains("telephone-event"), "{}", invite.body);
    let relay = sdp_addr(&invite.body);
    answer(&agent, &peer, &invite, p.agent_media());

    // The agent listens, and talks for one second (50 packets) toward the relay.
    let (mut heard, mut pts, mut sent) = (Vec::new(), Vec::new(), 0u16);
    let started = Instant::now();
    let mut hung_up = None;
    while started.elapsed() < Duration::from_secs(25) {
        let mut buf = [0u8; 2048];
        if let Ok((n, from)) = media.recv_from(&mut buf) {
            assert_eq!(from, relay, "media comes from the address the INVITE offered");
            let h = RtpHeader::parse(&buf[..n]).expect("the agent receives RTP");
            pts.push(h.pt);
            heard.extend_from_slice(&buf[h.payload()]);
        }
        if sent < 50 && started.elapsed() >= Duration::from_millis(20 * u64::from(sent)) {
            media.send_to(&agent_rtp(sent), relay).expect("send");
            sent += 1;
        }
        if hung_up.is_none()
            && let Ok((peer, bye)) = agent.rx.try_recv()
        {
            assert_eq!(bye.method(), "BYE", "{}", bye.raw);
            agent.respond(&peer, &bye, 200, "OK", None);
            hung_up = Some(Instant::now());
        }
        if hung_up.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            break;
        }
    }
    assert!(hung_up.is_some(), "the agent got no BYE");
    succeeds(&mut caller, &dir, "carrier");
    // And the carrier saw nothing of the agent: its port, tag, Call-ID or media address.
    let trace = sipp_trace(&dir, "carrier");
    for leak in [
        format!(":{}", p.agent()),
        format!("m=audio {}", p.agent_media()),
        agent.tag.clone(),
        invite.get("call-id").to_string(),
    ] {
        assert!(!trace.contains(&leak), "the carrier saw `{leak}`:\n{trace}");
    }

    // The agent got the carrier's audio (minus the 5 packets the events replaced), only PCMU,
    // and no digit in it.
    assert!(pts.len() >= 140, "{} packets reached the agent", pts.len());
    assert!(pts.iter().all(|&pt| pt == 0), "only PCMU reaches the agent: {pts:?}");
    assert_no_digit_heard(&heard);
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_calls_total{outcome=\"completed\"").is_some());
    assert_eq!(metric(&m, "tonewall_dtmf_digits_total{transport=\"inband\"}"), 2, "{m}");
    assert_eq!(metric(&m, "tonewall_dtmf_digits_total{transport=\"rfc4733\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_calls_total{outcome=\"completed\",trunk=\"carrier\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_calls_active"), 0, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_sessions"), 0, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_packets_dropped_total{reason=\"spoofed\"}"), 0, "{m}");
    // Every forwarded packet not heard by the agent went the other way: the agent's 50.
    let forwarded = metric(&m, "tonewall_relay_packets_forwarded_total");
    assert_eq!(forwarded - pts.len() as u64, u64::from(sent), "{m}");
    // Each direction's stream was measured at the call's end (streams without packets are not).
    assert_eq!(metric(&m, "tonewall_stream_mos_count{side=\"carrier\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_stream_mos_count{side=\"agent\"}"), 1, "{m}");
    let (printed, _) = tw.finish(&[CANARY], &[]);
    assert!(printed.contains("m0 agent: 50 packets"), "the relay counted the agent's packets:\n{printed}");
    assert!(printed.contains("outcome completed status 200"), "{printed}");
}

/// The carrier gives up while the agent rings: it gets 200 for the CANCEL and 487 for the
/// INVITE; the agent gets a CANCEL of its own and answers 487 (sipp on both sides).
#[test]
fn a_cancel_before_the_answer_reaches_the_agent() {
    let p = Ports(18200);
    let dir = workdir("sip-cancel");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let agent_xml = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <recv request="CANCEL"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [last_cseq_number] INVITE
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>
"#;
    let mut agent = sipp(
        &dir,
        "agent",
        agent_xml,
        &["-i".into(), "127.0.0.1".into(), "-p".into(), p.agent().to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .expect(100, true)
        .expect(180, false)
        .request("CANCEL", 1, false, true, None)
        .expect(200, false)
        .expect(487, false)
        .request("ACK", 1, false, true, None)
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.1");
    succeeds(&mut caller, &dir, "carrier");
    succeeds(&mut agent, &dir, "agent");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_calls_total{outcome=\"cancelled\"").is_some());
    assert_eq!(metric(&m, "tonewall_calls_total{outcome=\"cancelled\",trunk=\"carrier\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_calls_active"), 0, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_sessions"), 0, "the media was released: {m}");
    tw.finish(&[], &[]);
}

/// The agent hangs up: the carrier gets a BYE and answers 200; the agent's BYE gets 200.
#[test]
fn the_agent_hangs_up() {
    let p = Ports(18400);
    let dir = workdir("sip-agent-bye");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let agent = Agent::udp(p.agent());
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .answered()
        .request("ACK", 1, true, false, None)
        .answer_request("BYE")
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.1");
    let (peer, invite) = agent.expect("INVITE");
    answer(&agent, &peer, &invite, p.agent_media());
    std::thread::sleep(Duration::from_millis(300));
    agent.request(&peer, &invite, "BYE", 1);
    match agent.recv(Duration::from_secs(10)) {
        Some((_, r)) => {
            assert_eq!(r.status(), Some(200), "{}", r.raw);
            assert_eq!(r.get("cseq"), "1 BYE");
        }
        None => panic!("the agent's BYE got no answer"),
    }
    succeeds(&mut caller, &dir, "carrier");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_calls_total{outcome=\"completed\"").is_some());
    assert_eq!(metric(&m, "tonewall_calls_total{outcome=\"completed\",trunk=\"carrier\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_sessions"), 0, "{m}");
    let (printed, _) = tw.finish(&[], &[]);
    assert!(printed.contains("hung up by agent"), "{printed}");
}

/// The carrier holds (re-INVITE, `a=sendonly`) and resumes (`a=sendrecv`): the agent gets each
/// re-INVITE in its own dialog, with the direction and the relay's address, and its 200s go back.
#[test]
fn hold_and_resume_from_the_carrier() {
    let p = Ports(18600);
    let dir = workdir("sip-hold");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let agent = Agent::udp(p.agent());
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .answered()
        .request("ACK", 1, true, false, None)
        .pause(200)
        .invite(2, true, "sendonly")
        .expect(100, true)
        .expect(200, false)
        .request("ACK", 2, true, false, None)
        .pause(200)
        .invite(3, true, "sendrecv")
        .expect(100, true)
        .expect(200, false)
        .request("ACK", 3, true, false, None)
        .pause(200)
        .bye(4)
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.1");
    let (peer, invite) = agent.expect("INVITE");
    let relay = sdp_addr(&invite.body);
    answer(&agent, &peer, &invite, p.agent_media());
    for (version, offered, answered) in [(2, "sendonly", "recvonly"), (3, "sendrecv", "sendrecv")] {
        let (peer, reinvite) = agent.expect("INVITE");
        assert_eq!(reinvite.get("call-id"), invite.get("call-id"), "the same dialog");
        assert!(reinvite.get("to").contains(&format!("tag={}", agent.tag)), "{}", reinvite.raw);
        assert_eq!(sdp_direction(&reinvite.body), Some(offered), "{}", reinvite.body);
        assert_eq!(sdp_addr(&reinvite.body), relay, "the relay's address again: {}", reinvite.body);
        agent.respond(&peer, &reinvite, 200, "OK", Some(&agent_sdp(p.agent_media(), version, answered)));
        let (_, ack) = agent.expect("ACK");
        assert!(ack.get("cseq").ends_with(" ACK"), "{}", ack.raw);
    }
    take_bye(&agent);
    succeeds(&mut caller, &dir, "carrier");
    // The carrier's side saw the agent's directions in the answers.
    let trace = sipp_trace(&dir, "carrier");
    assert!(trace.contains("a=recvonly"), "the hold was answered recvonly:\n{trace}");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_calls_total{outcome=\"completed\"").is_some());
    assert_eq!(metric(&m, "tonewall_sip_requests_total{method=\"INVITE\"}"), 3, "{m}");
    tw.finish(&[], &[]);
}

/// Over UDP, Tonewall retransmits: its INVITE to an agent that does not answer at once (Timer
/// A), and its 200 to a carrier that does not ACK at once.
#[test]
fn udp_retransmissions_both_ways() {
    let p = Ports(18800);
    let dir = workdir("sip-retransmit");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let agent = Agent::udp(p.agent());
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .expect(100, true)
        .expect(180, true)
        .expect(200, false)
        // sipp takes a retransmitted 200 as a retransmission (it cannot wait for one): it
        // waits before its ACK, long enough for Tonewall's first two retransmissions
        // (T1 = 500 ms, then 1 s), and the trace shows what came.
        .pause(2000)
        .request("ACK", 1, true, false, None)
        .pause(200)
        .bye(2)
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.1");
    let (_, first) = agent.expect("INVITE");
    let (peer, again) = agent.expect("INVITE");
    assert_eq!(again.raw, first.raw, "the retransmission is the same INVITE");
    agent.respond(&peer, &again, 200, "OK", Some(&agent_sdp(p.agent_media(), 1, "sendrecv")));
    agent.expect("ACK");
    take_bye(&agent);
    succeeds(&mut caller, &dir, "carrier");
    let trace = sipp_trace(&dir, "carrier");
    let oks = trace
        .split("message received")
        .filter(|m| m.contains("SIP/2.0 200 OK") && m.contains("1 INVITE"))
        .count();
    assert!(oks >= 2, "the carrier got the 200 of the INVITE again before it sent its ACK:\n{trace}");
    tw.finish(&[], &[]);
}

/// Toward the agent over TLS: Tonewall connects to the agent's TLS server (checked against
/// `tls_roots`), and the whole dialog runs over it.
#[test]
fn an_agent_over_tls() {
    let p = Ports(19000);
    let dir = workdir("sip-tls");
    let keys = format!(
        "tls = [\"127.0.0.1:{}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntls_roots = \"{}\"",
        p.tls(),
        tls_data("server.pem").display(),
        tls_data("server.key").display(),
        tls_data("ca.pem").display()
    );
    let route = format!("sip:agent@127.0.0.1:{};transport=tls", p.agent());
    let tw = Tonewall::start(&dir, p, &route, &keys, "");
    let agent = Agent::tls(p.agent());
    let mut caller = carrier(&dir, p, &simple_call(500), "127.0.0.1");
    let (peer, invite) = agent.expect("INVITE");
    let vias = invite.all("via");
    assert_eq!(vias.len(), 1, "{}", invite.raw);
    assert!(vias[0].starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{};", p.tls())), "{}", invite.raw);
    assert!(invite.get("contact").contains("transport=tls"), "{}", invite.raw);
    answer(&agent, &peer, &invite, p.agent_media());
    take_bye(&agent);
    succeeds(&mut caller, &dir, "carrier");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_calls_total{outcome=\"completed\"").is_some());
    assert_eq!(metric(&m, "tonewall_calls_total{outcome=\"completed\",trunk=\"carrier\"}"), 1, "{m}");
    // The transport's own figures: the connection to the agent was dialled, and carried messages both
    // ways (over UDP from the carrier, over TLS to and from the agent).
    let m = tw
        .metrics_when(|m| try_metric(m, "tonewall_sip_transport_events_total{event=\"dialled\"}").is_some());
    assert_eq!(metric(&m, "tonewall_sip_transport_events_total{event=\"dialled\"}"), 1, "{m}");
    assert!(metric(&m, "tonewall_sip_transport_events_total{event=\"received\"}") >= 4, "{m}");
    assert!(metric(&m, "tonewall_sip_transport_events_total{event=\"sent\"}") >= 4, "{m}");
    assert_eq!(metric(&m, "tonewall_sip_transport_events_total{event=\"tls_handshake_failed\"}"), 0, "{m}");
    tw.finish(&[], &[]);
}

/// SIP INFO key presses from the carrier are answered by Tonewall, counted, and never reach the
/// agent (a sipp agent fails on any message its scenario does not expect).
#[test]
fn sip_info_digits_stop_at_tonewall() {
    let p = Ports(19200);
    let dir = workdir("sip-info");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let mut agent = sipp(
        &dir,
        "agent",
        &sipp_agent_xml(p.agent_media(), false),
        &["-i".into(), "127.0.0.1".into(), "-p".into(), p.agent().to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .answered()
        .request("ACK", 1, true, false, None)
        .pause(300)
        .request("INFO", 2, true, false, Some(("application/dtmf-relay", "Signal=5\nDuration=160\n")))
        .expect(200, false)
        .pause(300)
        .request("INFO", 3, true, false, Some(("application/dtmf", "9")))
        .expect(200, false)
        .pause(300)
        .bye(4)
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.1");
    succeeds(&mut caller, &dir, "carrier");
    succeeds(&mut agent, &dir, "agent");
    let trace = sipp_trace(&dir, "agent");
    assert!(trace.contains("BYE sip:"), "{trace}");
    assert!(!trace.contains("INFO sip:"), "no INFO reached the agent:\n{trace}");
    let m =
        tw.metrics_when(|m| try_metric(m, "tonewall_dtmf_digits_total{transport=\"sip_info\"}") == Some(2));
    assert_eq!(metric(&m, "tonewall_dtmf_digits_total{transport=\"sip_info\"}"), 2, "{m}");
    assert_eq!(metric(&m, "tonewall_sip_requests_total{method=\"INFO\"}"), 2, "{m}");
    let (printed, _) = tw.finish(&["59"], &[]);
    assert!(printed.contains("2 SIP INFO key press(es)"), "{printed}");
}

/// An INVITE from outside every trunk's networks is refused with 403 and reaches no agent.
#[test]
fn an_invite_from_outside_the_trunks_gets_403() {
    let p = Ports(19400);
    let dir = workdir("sip-acl");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let agent = Agent::udp(p.agent());
    let xml = Scenario::new()
        .invite(1, false, "sendrecv")
        .expect(100, true)
        .expect(403, false)
        .request("ACK", 1, false, true, None)
        .build();
    let mut caller = carrier(&dir, p, &xml, "127.0.0.2");
    succeeds(&mut caller, &dir, "carrier");
    assert!(agent.recv(Duration::from_millis(500)).is_none(), "the agent got nothing");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_sip_responses_total{class=\"4xx\"}").is_some());
    assert_eq!(metric(&m, "tonewall_sip_responses_total{class=\"4xx\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_sessions"), 0, "no media for a refused call: {m}");
    assert_eq!(metric(&m, "tonewall_calls_active"), 0, "{m}");
    tw.finish(&[], &[]);
}

/// Garbage, a request with a broken CSeq (answered 400) and the RFC 4475 torture messages do
/// not stop Tonewall: an OPTIONS afterwards still gets 200.
#[test]
fn malformed_messages_leave_tonewall_answering() {
    let p = Ports(19600);
    let dir = workdir("sip-malformed");
    let tw = Tonewall::start(&dir, p, &udp_agent(p), "", "");
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let port = s.local_addr().expect("addr").port();
    let to = ("127.0.0.1", p.sip());
    s.send_to(b"\x00\x01\x02 not SIP at all \xff\xfe\r\n\r\n", to).expect("send");
    s.send_to(b"INVITE\r\n\r\n", to).expect("send");
    let bad_cseq = format!(
        "OPTIONS sip:tonewall@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-badcseq;rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=b1\r\nTo: <sip:tonewall@127.0.0.1>\r\nCall-ID: bad-cseq\r\n\
         CSeq: one OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    s.send_to(bad_cseq.as_bytes(), to).expect("send");
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("an answer to the broken CSeq");
    let r = Msg::parse(&buf[..n]).expect("a SIP response");
    assert_eq!(r.status(), Some(400), "{}", r.raw);
    assert_eq!(r.get("call-id"), "bad-cseq");

    // The RFC 4475 messages, kept with the SIP crate's tests.
    let torture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sip/tests/data/rfc4475");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&torture)
        .unwrap_or_else(|e| panic!("the RFC 4475 messages at {}: {e}", torture.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "{} torture messages in {}", files.len(), torture.display());
    for f in &files {
        s.send_to(&std::fs::read(f).expect("torture message"), to).expect("send");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(options(p), Some(200), "tonewall still answers:\n{}", log(&dir, "tonewall"));
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_sip_malformed_total").is_some_and(|n| n >= 3));
    assert!(metric(&m, "tonewall_sip_malformed_total") >= 3, "{m}");
    assert_eq!(metric(&m, "tonewall_calls_active"), 0, "{m}");
    tw.finish(&[], &[]);
}

/// An agent registers with digest authentication (sipp computes the response from the
/// password; Tonewall keeps only the HA1), then a call routed to `agent:alice` reaches it at the
/// address it registered from. Before it registers, the same call gets 480.
#[test]
fn a_registered_agent_gets_its_calls() {
    let p = Ports(19800);
    let dir = workdir("sip-register");
    let password = "hunter-27-x";
    // MD5("alice:tonewall:hunter-27-x")
    let ha1 = "c4af3ef1bd8c09e91c8e1c1fba5db70b";
    let tables = format!("[[sip.agents]]\nuser = \"alice\"\nha1_md5 = \"{ha1}\"\n");
    let tw = Tonewall::start(&dir, p, "agent:alice", "", &tables);

    let unavailable = Scenario::new()
        .invite(1, false, "sendrecv")
        .expect(100, true)
        .expect(480, false)
        .request("ACK", 1, false, true, None)
        .build();
    let mut caller = carrier(&dir, p, &unavailable, "127.0.0.1");
    succeeds(&mut caller, &dir, "carrier");

    let register = |cseq: u32, auth: &str| {
        format!(
            "  <send retrans=\"500\"><![CDATA[\n\
             REGISTER sip:tonewall SIP/2.0\n\
             Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             From: <sip:alice@tonewall>;tag=[pid]reg[call_number]\n\
             To: <sip:alice@tonewall>\n\
             Call-ID: [call_id]\n\
             CSeq: {cseq} REGISTER\n\
             Contact: <sip:alice@[local_ip]:[local_port]>\n\
             {auth}Expires: 600\n\
             Max-Forwards: 70\n\
             Content-Length: 0\n\n]]></send>\n"
        )
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"register\">\n{}  \
         <recv response=\"401\" auth=\"true\"/>\n{}  <recv response=\"200\"/>\n</scenario>\n",
        register(1, ""),
        register(2, &format!("[authentication username=alice password={password}]\n")),
    );
    let args = [
        format!("127.0.0.1:{}", p.sip()),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        p.agent().to_string(),
    ];
    let mut reg = sipp(&dir, "register", &xml, &args);
    succeeds(&mut reg, &dir, "register");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_sip_registrations") == Some(1));
    assert_eq!(metric(&m, "tonewall_sip_registrations"), 1, "{m}");

    // The agent answers on the address it registered from.
    let mut agent = sipp(
        &dir,
        "agent",
        &sipp_agent_xml(p.agent_media(), false),
        &["-i".into(), "127.0.0.1".into(), "-p".into(), p.agent().to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::rename(dir.join("carrier.log"), dir.join("carrier-480.log")).expect("rename");
    let mut caller = carrier(&dir, p, &simple_call(300), "127.0.0.1");
    succeeds(&mut caller, &dir, "carrier");
    succeeds(&mut agent, &dir, "agent");
    let m = tw.metrics_when(|m| try_metric(m, "tonewall_calls_total{outcome=\"completed\"").is_some());
    assert_eq!(metric(&m, "tonewall_calls_total{outcome=\"completed\",trunk=\"carrier\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_calls_total{outcome=\"rejected\",trunk=\"carrier\"}"), 1, "{m}");
    tw.finish(&[], &[password, ha1]);
}

/// A carrier trunk over mutual TLS (`tls_name`): from the trunk's network (127.0.0.2 here) a TLS
/// connection without a client certificate is closed, one with a certificate valid for the
/// trunk's name carries its INVITE into a call, and an INVITE over UDP is refused.
#[test]
fn a_trunk_over_mutual_tls() {
    let p = Ports(21000);
    let dir = workdir("sip-mtls");
    let keys = format!(
        "tls = [\"127.0.0.1:{}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntls_client_ca = \"{}\"",
        p.tls(),
        tls_data("server.pem").display(),
        tls_data("server.key").display(),
        tls_data("ca.pem").display()
    );
    let trunk = "[[sip.trunks]]\nname = \"mtls\"\nnetworks = [\"127.0.0.2/32\"]\ntls_name = \"trunk.test\"\n";
    let tw = Tonewall::start(&dir, p, &udp_agent(p), &keys, trunk);
    let agent = Agent::udp(p.agent());
    let invite = |transport: &str, port: u16| {
        format!(
            "INVITE sip:4000@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.2:{port};branch=z9hG4bK-m{port}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.2>;tag=m{port}\r\nTo: <sip:4000@127.0.0.1>\r\n\
             Call-ID: mtls-{port}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.2:{port}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            sip = p.sip(),
            len = CALLER_SDP.len(),
            sdp = CALLER_SDP
        )
    };

    // Over UDP from the trunk's network: refused, the trunk speaks TLS only.
    let udp = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    udp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let port = udp.local_addr().expect("addr").port();
    udp.send_to(invite("UDP", port).as_bytes(), ("127.0.0.1", p.sip())).expect("send");
    let mut buf = [0u8; 4096];
    let mut statuses = vec![];
    while let Ok(n) = udp.recv(&mut buf) {
        let m = Msg::parse(&buf[..n]).expect("a SIP response");
        statuses.push(m.status().expect("status"));
        if statuses.last() != Some(&100) {
            assert!(m.raw.starts_with("SIP/2.0 403 TLS Required"), "{}", m.raw);
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&403));

    // Over TLS, no client certificate: closed before anything is read.
    let mut anonymous = mtls_client(p.tls(), false);
    let _ = anonymous.write_all(invite("TLS", 1).as_bytes());
    let mut byte = [0u8; 1];
    let closed = match anonymous.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        // A read timeout means the connection is still open.
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    };
    assert!(closed, "a certificate-less connection from the trunk's network stays open");

    // With the trunk's certificate: the INVITE reaches the agent.
    let mut good = mtls_client(p.tls(), true);
    let port = good.sock.local_addr().expect("addr").port();
    good.write_all(invite("TLS", port).as_bytes()).expect("write");
    let (_, to_agent) = agent.expect("INVITE");
    assert!(to_agent.raw.contains("m=audio"), "the call's offer reached the agent:\n{}", to_agent.raw);
    let m = tw.metrics_when(|m| {
        try_metric(m, "tonewall_sip_transport_events_total{event=\"tls_identity_refused\"}") == Some(1)
    });
    assert_eq!(metric(&m, "tonewall_sip_transport_events_total{event=\"tls_identity_refused\"}"), 1, "{m}");
    // One call up on the one worker: its table's room, less that call.
    let headroom = metric(&m, "tonewall_relay_session_headroom");
    assert!(headroom > 100, "{m}");
    drop(good);
    drop(tw);
}

/// Tonewall on two UDP listeners (127.0.0.2 listed first, for the carriers; 127.0.0.1 for the
/// agents): the carrier is answered from the listener it called, and the agent, a route's fixed
/// URI that never sent anything, is called from the listener the host routes it through
/// (127.0.0.1), with that listener in Via and Contact — not from the first one.
#[test]
fn two_listeners_each_side_hears_from_its_own() {
    let p = Ports(21200);
    let dir = workdir("sip-multihomed");
    let listeners = format!("udp = [\"127.0.0.2:{sip}\", \"127.0.0.1:{sip}\"]", sip = p.sip());
    let tw = Tonewall::start(&dir, p, &udp_agent(p), &listeners, "");
    let agent = Agent::udp(p.agent());
    let carrier = UdpSocket::bind("127.0.0.1:0").expect("bind");
    carrier.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let port = carrier.local_addr().expect("addr").port();
    let public = SocketAddr::from(([127, 0, 0, 2], p.sip()));
    let internal = SocketAddr::from(([127, 0, 0, 1], p.sip()));
    let invite = format!(
        "INVITE sip:4000@127.0.0.2:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-mh\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=mh\r\nTo: <sip:4000@127.0.0.2>\r\n\
         Call-ID: multihomed\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{port}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        sip = p.sip(),
        len = CALLER_SDP.len(),
        sdp = CALLER_SDP
    );
    carrier.send_to(invite.as_bytes(), public).expect("send");
    let (peer, to_agent) = agent.expect("INVITE");
    let Peer::Udp(from) = peer else { panic!("over UDP") };
    assert_eq!(from, internal, "the agent is called from the listener its route goes out of");
    assert!(to_agent.get("via").contains(&internal.to_string()), "{}", to_agent.raw);
    assert!(to_agent.get("contact").contains(&internal.to_string()), "{}", to_agent.raw);
    agent.respond(&peer, &to_agent, 200, "OK", Some(&agent_sdp(p.agent_media(), 1, "sendrecv")));
    let mut buf = [0u8; 8192];
    loop {
        let (n, from) = carrier.recv_from(&mut buf).expect("the carrier's answers");
        assert_eq!(from, public, "the carrier hears from the listener it called");
        let m = Msg::parse(&buf[..n]).expect("a SIP response");
        if m.status() == Some(200) {
            assert!(m.get("contact").contains(&public.to_string()), "{}", m.raw);
            break;
        }
    }
    tw.finish(&[], &[]);
}

/// The carrier's offer in the hand-written INVITEs.
const CALLER_SDP: &str = "v=0\r\no=caller 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
                          m=audio 21050 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                          a=rtpmap:101 telephone-event/8000\r\n";

/// A TLS client connecting from 127.0.0.2, with the test client certificate (its name:
/// `trunk.test`) or none.
fn mtls_client(port: u16, with_cert: bool) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tls_data("ca.pem")).expect("ca.pem") {
        roots.add(cert.expect("certificate")).expect("root");
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
    let config = if with_cert {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls_data("client.pem"))
            .expect("client.pem")
            .collect::<Result<_, _>>()
            .expect("certificates");
        builder
            .with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(tls_data("client.key")).expect("key"))
            .expect("client cert")
    } else {
        builder.with_no_client_auth()
    };
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.bind(&"127.0.0.2:0".parse::<SocketAddr>().expect("addr").into()).expect("bind 127.0.0.2");
    socket.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into()).expect("connect");
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).expect("TLS handshake");
    }
    stream
}
