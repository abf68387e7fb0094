//! The invariants the `b2bua` fuzz target checks, as a plain function: `proxy/fuzz` runs it with
//! coverage guidance (nightly) and `tests/b2bua_garbage.rs` runs it on mutated calls in every
//! `cargo test`, so the two cannot drift apart. Not part of the API; it panics on a broken
//! invariant, which is its job.

use crate::routing::{Destination, Route, Router, Trunk};
use crate::{B2bua, CoreConfig, Listener, Listeners};
use rand_core::{CryptoRng, RngCore};
use std::net::SocketAddr;
use std::time::Duration;
use tonewall_dsp::Digit;
use tonewall_media::anchor::{Anchor, AnchorConfig, Cidr, LegAddrs, MediaPlane, SrtpPolicy};
use tonewall_media::relay::{LegId, Remote, SessionReport};
use tonewall_media::srtp::SrtpContext;
use tonewall_sip::message::{self, Message, Method, Request, Response};
use tonewall_sip::transaction::{Target, Transport};

/// A media plane that hands out ports and records what the core asked of it: which sessions
/// live, masking switched, SIP INFO digits handed in. For this module and the scenario tests.
#[derive(Default)]
pub struct Plane {
    next: u64,
    /// Sessions alive.
    pub live: Vec<u64>,
    /// Every session removal asked for, in order (a session ended twice shows twice).
    pub removed: Vec<u64>,
    /// (session, leg, on) for each masking change.
    pub masking: Vec<(u64, LegId, bool)>,
    /// (session, leg, digit) for each SIP INFO digit.
    pub info: Vec<(u64, LegId, Digit)>,
}

impl MediaPlane for Plane {
    fn create(&mut self, _now: Duration, _sides: [usize; 2]) -> std::io::Result<(u64, [LegAddrs; 2])> {
        self.next += 1;
        self.live.push(self.next);
        // The carrier side's ports on 203.0.113.1, the agent side's on 10.1.0.1, as the anchor
        // configurations here advertise them.
        let port = 30000 + (self.next % 8000) as u16 * 4;
        let addrs = |ip: [u8; 4], p: u16| LegAddrs {
            rtp: SocketAddr::from((ip, p)),
            rtcp: SocketAddr::from((ip, p + 1)),
        };
        Ok((self.next, [addrs([203, 0, 113, 1], port), addrs([10, 1, 0, 1], port + 2)]))
    }
    fn signal(&mut self, _: u64, _: LegId, _: Remote) {}
    fn set_masking(&mut self, id: u64, from: LegId, on: bool) {
        self.masking.push((id, from, on));
    }
    fn remove(&mut self, id: u64) -> Option<SessionReport> {
        self.removed.push(id);
        let had = self.live.contains(&id);
        self.live.retain(|&l| l != id);
        had.then(SessionReport::default)
    }
    fn report(&mut self, id: u64) -> Option<SessionReport> {
        self.live.contains(&id).then(SessionReport::default)
    }
    fn update_srtp(
        &mut self,
        _: u64,
        _: LegId,
        _: Option<Option<SrtpContext>>,
        _: Option<Option<SrtpContext>>,
    ) {
    }
    fn sip_info(&mut self, id: u64, from: LegId, digit: Digit, _duration_ms: Option<u32>) {
        self.info.push((id, from, digit));
    }
}

/// A deterministic stand-in for the CSPRNG (keys made here protect nothing).
struct Counter(u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 56) as u8;
        }
    }
}

impl CryptoRng for Counter {}

/// Where the script's datagrams come from: the carrier (a trunk), the agent, a stranger.
pub const PEERS: [&str; 3] = ["192.0.2.10:5060", "10.1.0.20:5070", "198.51.100.9:5060"];

const ANSWER: &str = "v=0\r\no=a 1 1 IN IP4 10.1.0.20\r\ns=-\r\nc=IN IP4 10.1.0.20\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// The datagram a script step stands for. `@NNN` is that peer's response NNN to the last request
/// the core sent it (with an SDP answer on 18x/2xx when the request offered); `@ACK` and `@BYE`
/// are requests in the dialog of the last response the core sent it; anything else is sent as is.
fn datagram(bytes: &[u8], last_request: &Option<Request>, last_response: &Option<Response>) -> Vec<u8> {
    let Some(rest) = bytes.strip_prefix(b"@") else { return bytes.to_vec() };
    if rest.starts_with(b"ACK") || rest.starts_with(b"BYE") {
        let Some(r) = last_response else { return bytes.to_vec() };
        let method = if rest.starts_with(b"ACK") { Method::Ack } else { Method::Bye };
        let seq = r.cseq().map_or(1, |c| c.seq) + u32::from(method == Method::Bye);
        let mut req = Request::new(method.clone(), "sip:tonewall@203.0.113.1");
        req.headers.push("Via", format!("SIP/2.0/UDP {};branch=z9hG4bKs{seq}{}", PEERS[0], rest.len()));
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = r.headers.get(name) {
                req.headers.push(name, v);
            }
        }
        req.headers.push("CSeq", format!("{seq} {method}"));
        req.headers.push("Max-Forwards", "70");
        return req.to_bytes();
    }
    let Some(req) = last_request else { return bytes.to_vec() };
    let status: u16 = std::str::from_utf8(rest).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(200);
    let status = status.clamp(100, 699);
    let mut resp = req.response(status, "Scripted", Some("agent-tag"));
    resp.headers.push("Contact", format!("<sip:agent@{}>", PEERS[1]));
    if matches!(status, 180..=299) && !req.body.is_empty() && req.method == Method::Invite {
        resp.headers.push("Content-Type", "application/sdp");
        resp.body = ANSWER.as_bytes().to_vec();
    }
    resp.to_bytes()
}

/// Runs a script of datagrams through a B2BUA: each `(peer, ms, bytes)` arrives from
/// `PEERS[peer % 3]` after `ms` of virtual time (see `datagram` for the `@` steps). Checks: no panic; calls never outnumber the
/// INVITEs given; media sessions live only for calls in progress; and once every peer falls
/// silent, every transaction ends within RFC 3261's longest timer and, after BYE-less calls
/// are torn down by their own timers or remain answered, no transaction or registration timer
/// keeps the core busy forever.
pub fn b2bua_script(script: &[(u8, u16, Vec<u8>)]) {
    let mut rng = Counter(7);
    let anchor = Anchor::new(AnchorConfig {
        advertised: ["203.0.113.1".parse().expect("ip"), "10.1.0.1".parse().expect("ip")],
        mask_a_to_b: true,
        mask_b_to_a: false,
        srtp: [SrtpPolicy::Mirror, SrtpPolicy::Mirror],
        agent_networks: vec![],
    });
    let router = Router::new(
        vec![Trunk {
            name: "carrier".into(),
            networks: vec![Cidr::parse("192.0.2.0/24").expect("cidr")],
            ..Trunk::default()
        }],
        vec![Route {
            name: "all".into(),
            pattern: regex_lite::Regex::new("^(?:.*)$").expect("regex"),
            to: Destination::Uri(format!("sip:agent@{}", PEERS[1])),
            codecs: vec![],
        }],
        vec![],
    );
    let config = CoreConfig {
        listeners: Listeners(vec![Listener::at(Transport::Udp, "203.0.113.1:5060".parse().expect("addr"))]),
        ring_timeout: Duration::from_secs(30),
        ..CoreConfig::default()
    };
    let mut core = B2bua::new(config, anchor, router, &mut rng);
    let mut plane = Plane::default();
    let mut now = Duration::ZERO;
    let mut invites = 0;
    let mut last_request: [Option<Request>; 3] = Default::default();
    let mut last_response: [Option<Response>; 3] = Default::default();
    for (peer, ms, bytes) in script {
        now += Duration::from_millis(u64::from(*ms));
        core.handle_timeout(now, &mut plane);
        let p = usize::from(*peer) % 3;
        let addr: SocketAddr = PEERS[p].parse().expect("addr");
        let bytes = datagram(bytes, &last_request[p], &last_response[p]);
        invites += usize::from(bytes.starts_with(b"INVITE"));
        core.handle_input(
            now,
            &mut plane,
            &mut rng,
            Target { transport: Transport::Udp, addr, conn: None, local: None },
            &bytes,
        );
        while let Some(t) = core.poll_transmit() {
            assert!(!t.bytes.is_empty(), "nothing empty is sent");
            let Some(to) = PEERS.iter().position(|a| a.parse::<SocketAddr>().ok() == Some(t.target.addr))
            else {
                continue;
            };
            match message::parse(&t.bytes) {
                Ok(Message::Request(r)) => last_request[to] = Some(r),
                Ok(Message::Response(r)) => last_response[to] = Some(r),
                Err(_) => {}
            }
        }
        while core.poll_event(&mut plane).is_some() {}
        assert!(core.calls() <= invites, "a call without an INVITE");
        assert!(plane.live.len() <= core.calls(), "media left behind by an ended call");
    }
    // Silence: every call stops ringing within its ring timeout (30 s here), and every
    // transaction ends within 64 × T1 after that (CANCELled INVITEs, Timer D's 32 s).
    let end = now + Duration::from_secs(100);
    while let Some(at) = core.poll_timeout().filter(|&t| t <= end) {
        now = at.max(now);
        core.handle_timeout(now, &mut plane);
        while core.poll_transmit().is_some() {}
        while core.poll_event(&mut plane).is_some() {}
    }
    assert_eq!(
        core.transactions(),
        0,
        "every transaction ended once the peers fell silent: {:?} at {now:?}, next {:?}",
        core.describe_transactions(),
        core.poll_timeout()
    );
    assert!(plane.live.len() <= core.calls(), "media left behind by an ended call");
}
