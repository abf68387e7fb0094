//! Whole calls through the B2BUA core on virtual time: a scripted carrier and agent exchange
//! real SIP bytes with it, and a recording media plane stands in for the relay.
#![allow(clippy::unwrap_used)]

use rand::SeedableRng;
use rand::rngs::StdRng;
use regex_lite::Regex;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tonewall_call::routing::{Destination, Group, Route, Router, Strategy, Trunk};
use tonewall_call::{B2bua, CallEvent, CoreConfig, Listener, Listeners, Outcome, RouteSource, Side};
use tonewall_media::anchor::{Anchor, AnchorConfig, Cidr, SrtpPolicy};
use tonewall_media::relay::LegId;
use tonewall_sip::digest::{self, ClientSecret, Credentials};
use tonewall_sip::message::{Message, Method, Request, Response, parse};
use tonewall_sip::transaction::{Target, Transport};

use tonewall_call::fuzzing::Plane;

const CARRIER: &str = "192.0.2.10:5060";
const AGENT: &str = "10.1.0.20:5070";
const OFFER: &str = "v=0\r\no=c 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=a 7 7 IN IP4 10.1.0.20\r\ns=-\r\nc=IN IP4 10.1.0.20\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

struct World {
    core: B2bua,
    plane: Plane,
    rng: StdRng,
    now: Duration,
    /// Everything the core sent: (to, message).
    sent: Vec<(SocketAddr, Message)>,
    /// What it sent that does not parse (a 400 copying a broken header), as text.
    unparsed: Vec<String>,
    /// Where it sent CRLF keep-alives.
    keepalives: Vec<SocketAddr>,
    events: Vec<CallEvent>,
    /// The listener inputs arrive at (`None`: unknown, as from a single-socket shell).
    local: Option<SocketAddr>,
    /// Every transmit's (to, the listener it leaves from).
    froms: Vec<(SocketAddr, Option<SocketAddr>)>,
}

fn world() -> World {
    world_with(Vec::new())
}

/// A world whose agents `alice` and `bob` may register (password: the user name reversed,
/// with a canary), routes 4000 to a fixed URI, 4001 to alice, 4100 to the group of both.
fn world_with(agents: Vec<Credentials>) -> World {
    world_with_trunk(agents, Trunk::default())
}

/// [`world_with`], with the carrier trunk's limits from `limits` (its name and network fixed).
fn world_with_trunk(agents: Vec<Credentials>, limits: Trunk) -> World {
    world_on(agents, limits, vec![Listener::at(Transport::Udp, "203.0.113.1:5060".parse().unwrap())], None)
}

/// [`world_with_trunk`] listening on `listeners`.
fn world_on(
    agents: Vec<Credentials>,
    limits: Trunk,
    listeners: Vec<Listener>,
    route_source: Option<RouteSource>,
) -> World {
    let mut rng = StdRng::seed_from_u64(3261);
    let anchor = Anchor::new(AnchorConfig {
        advertised: [IpAddr::from([203, 0, 113, 1]), IpAddr::from([10, 1, 0, 1])],
        mask_a_to_b: true,
        mask_b_to_a: false,
        srtp: [SrtpPolicy::Mirror, SrtpPolicy::Mirror],
        agent_networks: vec![],
    });
    let router = Router::new(
        vec![Trunk {
            name: "carrier".into(),
            networks: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            ..limits
        }],
        vec![
            Route {
                name: "support".into(),
                pattern: Regex::new("^(?:4000)$").unwrap(),
                to: Destination::Uri(format!("sip:agent@{AGENT}")),
                codecs: vec![],
            },
            Route {
                name: "alice".into(),
                pattern: Regex::new("^(?:4001)$").unwrap(),
                to: Destination::Agent("alice".into()),
                codecs: vec![],
            },
            Route {
                name: "alaw".into(),
                pattern: Regex::new("^(?:4200)$").unwrap(),
                to: Destination::Uri(format!("sip:agent@{AGENT}")),
                codecs: vec!["pcma".into(), "telephone-event".into()],
            },
            Route {
                name: "g729".into(),
                pattern: Regex::new("^(?:4300)$").unwrap(),
                to: Destination::Uri(format!("sip:agent@{AGENT}")),
                codecs: vec!["G729".into()],
            },
            Route {
                name: "team".into(),
                pattern: Regex::new("^(?:4100)$").unwrap(),
                to: Destination::Group("team".into()),
                codecs: vec![],
            },
        ],
        vec![Group {
            name: "team".into(),
            members: vec!["alice".into(), "bob".into()],
            strategy: Strategy::RoundRobin,
        }],
    );
    let config =
        CoreConfig { listeners: Listeners(listeners), route_source, agents, ..CoreConfig::default() };
    let core = B2bua::new(config, anchor, router, &mut rng);
    World {
        core,
        plane: Plane::default(),
        rng,
        now: Duration::ZERO,
        sent: Vec::new(),
        unparsed: Vec::new(),
        keepalives: Vec::new(),
        events: Vec::new(),
        local: None,
        froms: Vec::new(),
    }
}

impl World {
    fn input(&mut self, from: &str, bytes: &str) {
        let source =
            Target { transport: Transport::Udp, addr: from.parse().unwrap(), conn: None, local: self.local };
        self.core.handle_input(self.now, &mut self.plane, &mut self.rng, source, bytes.as_bytes());
        self.drain();
    }
    fn drain(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            self.froms.push((t.target.addr, t.target.local));
            if t.bytes == b"\r\n\r\n" {
                self.keepalives.push(t.target.addr);
                continue;
            }
            match parse(&t.bytes) {
                Ok(m) => self.sent.push((t.target.addr, m)),
                Err(_) => self.unparsed.push(String::from_utf8_lossy(&t.bytes).into_owned()),
            }
        }
        while let Some(e) = self.core.poll_event(&mut self.plane) {
            self.events.push(e);
        }
    }
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.core.poll_timeout().filter(|&t| t <= end) {
            self.now = t.max(self.now);
            self.core.handle_timeout(self.now, &mut self.plane);
            self.drain();
        }
        self.now = end;
    }
    /// Messages sent to `to` since the last call, removed from the log.
    fn take(&mut self, to: &str) -> Vec<Message> {
        let to: SocketAddr = to.parse().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(a, _)| *a == to);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }
    fn request_to(&mut self, to: &str) -> Request {
        let msgs = self.take(to);
        let reqs: Vec<Request> = msgs
            .into_iter()
            .filter_map(|m| match m {
                Message::Request(r) => Some(r),
                Message::Response(_) => None,
            })
            .collect();
        assert_eq!(reqs.len(), 1, "one request to {to}: {reqs:?}");
        reqs.into_iter().next().unwrap()
    }
    fn statuses_to(&mut self, to: &str) -> Vec<u16> {
        self.take(to)
            .into_iter()
            .filter_map(|m| match m {
                Message::Response(r) => Some(r.status),
                Message::Request(_) => None,
            })
            .collect()
    }
}

fn invite(branch: &str, body: &str) -> String {
    let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
    format!(
        "INVITE sip:4000@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: \"Caller\" <sip:+15550100@192.0.2.10>;tag=c1\r\nTo: <sip:4000@203.0.113.1>\r\n\
         Call-ID: carrier-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@192.0.2.10:5060>\r\n\
         Record-Route: <sip:192.0.2.10;lr>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Builds the agent's response to `req` (its tag `a1`, its Contact).
fn agent_response(req: &Request, status: u16, body: &str) -> String {
    let mut r: Response = req.response(status, tonewall_sip::message::reason_phrase(status), Some("a1"));
    r.headers.push("Contact", format!("<sip:agent@{AGENT}>"));
    if !body.is_empty() {
        r.headers.push("Content-Type", "application/sdp");
        r.body = body.as_bytes().to_vec();
    }
    String::from_utf8(r.to_bytes()).unwrap()
}

/// A carrier request within the dialog (To carries Tonewall's tag from `ok`).
fn carrier_in_dialog(method: &str, cseq: u32, ok_to: &str, branch: &str, body: &str) -> String {
    let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
    format!(
        "{method} sip:tonewall@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: \"Caller\" <sip:+15550100@192.0.2.10>;tag=c1\r\nTo: {ok_to}\r\n\
         Call-ID: carrier-call-1\r\nCSeq: {cseq} {method}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Runs a call up to the carrier's ACK; returns the agent's INVITE and the To of the carrier's 200.
fn answered_call(w: &mut World) -> (Request, String) {
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    let inv = w.request_to(AGENT);
    w.input(AGENT, &agent_response(&inv, 180, ""));
    assert_eq!(w.statuses_to(CARRIER), vec![180]);
    w.input(AGENT, &agent_response(&inv, 200, ANSWER));
    let ack = w.request_to(AGENT);
    assert_eq!(ack.method, Method::Ack);
    let msgs = w.take(CARRIER);
    let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
    assert_eq!(ok.status, 200);
    let to = ok.headers.get("To").unwrap().to_string();
    w.input(CARRIER, &carrier_in_dialog("ACK", 1, &to, "z9hG4bKack1", ""));
    assert!(w.take(AGENT).is_empty(), "the agent was ACKed already");
    (inv, to)
}

#[test]
fn an_answered_call_hides_each_side_from_the_other_and_anchors_media() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    let inv = w.request_to(AGENT);
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    let text = String::from_utf8(inv.to_bytes()).unwrap();
    // Topology hiding: nothing of the carrier's addresses, Call-ID or tags reaches the agent.
    for secret in ["192.0.2.10", "carrier-call-1", "tag=c1", "z9hG4bKinv1"] {
        assert!(!text.contains(secret), "{secret} leaked to the agent:\n{text}");
    }
    assert!(text.contains("+15550100"), "the caller's number is kept for the agent's display");
    assert_eq!(inv.uri, format!("sip:agent@{AGENT}"));
    assert_eq!(inv.headers.values("Via").count(), 1);
    let body = String::from_utf8(inv.body.clone()).unwrap();
    assert!(body.contains("c=IN IP4 10.1.0.1"), "SDP points the agent at the relay:\n{body}");
    assert!(!body.contains("telephone-event"), "no telephone-event toward a masked agent");
    assert!(w.plane.masking.contains(&(1, LegId::A, true)), "the carrier's direction is masked");

    w.input(AGENT, &agent_response(&inv, 200, ANSWER));
    w.request_to(AGENT); // ACK
    let msgs = w.take(CARRIER);
    let [Message::Response(ok)] = &msgs[..] else { panic!() };
    let text = String::from_utf8(ok.to_bytes()).unwrap();
    for secret in ["10.1.0.20", "tag=a1", inv.call_id()] {
        assert!(!text.contains(secret), "{secret} leaked to the carrier:\n{text}");
    }
    assert!(text.contains("c=IN IP4 203.0.113.1"));
    assert_eq!(ok.call_id(), "carrier-call-1");
    assert!(ok.to().unwrap().tag().is_some());
    assert!(ok.headers.get("Contact").unwrap().contains("203.0.113.1"));
    assert!(matches!(w.events[..], [CallEvent::Answered { .. }]));
}

#[test]
fn bye_from_the_carrier_ends_both_legs_and_releases_media() {
    let mut w = world();
    let (_, to) = answered_call(&mut w);
    w.advance(Duration::from_secs(30));
    w.input(CARRIER, &carrier_in_dialog("BYE", 2, &to, "z9hG4bKbye1", ""));
    assert_eq!(w.statuses_to(CARRIER), vec![200]);
    let bye = w.request_to(AGENT);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.to().unwrap().tag(), Some("a1"));
    assert_eq!(bye.uri, format!("sip:agent@{AGENT}"));
    let Some(CallEvent::Ended(record)) = w.events.pop() else { panic!() };
    assert_eq!((record.outcome, record.ended_by), (Outcome::Completed, Some(Side::Carrier)));
    assert_eq!(record.talk, Some(Duration::from_secs(30)));
    assert!(record.media.is_some());
    assert!(w.plane.live.is_empty(), "relay sessions removed");
    assert_eq!(w.core.calls(), 0);
    // A second BYE is for no dialog.
    w.input(CARRIER, &carrier_in_dialog("BYE", 3, &to, "z9hG4bKbye2", ""));
    assert_eq!(w.statuses_to(CARRIER), vec![481]);
}

#[test]
fn bye_from_the_agent_reaches_the_carrier_on_its_dialog() {
    let mut w = world();
    let (inv, _) = answered_call(&mut w);
    let bye = format!(
        "BYE sip:tonewall@10.1.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKab\r\nMax-Forwards: 70\r\n\
         From: {};tag=a1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        inv.headers.get("To").unwrap(),
        inv.headers.get("From").unwrap(),
        inv.call_id()
    );
    w.input(AGENT, &bye);
    assert_eq!(w.statuses_to(AGENT), vec![200]);
    let out = w.request_to(CARRIER);
    assert_eq!(out.method, Method::Bye);
    assert_eq!(out.call_id(), "carrier-call-1");
    assert_eq!(out.to().unwrap().tag(), Some("c1"));
    assert_eq!(out.uri, "sip:carrier@192.0.2.10:5060", "sent to the carrier's Contact");
    assert_eq!(out.headers.get("Route"), Some("<sip:192.0.2.10;lr>"), "through the carrier's route set");
    let Some(CallEvent::Ended(record)) = w.events.pop() else { panic!() };
    assert_eq!(record.ended_by, Some(Side::Agent));
}

#[test]
fn cancel_before_answer_gives_487_and_cancels_the_agent_after_its_provisional() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    let inv = w.request_to(AGENT);
    w.take(CARRIER);
    let cancel =
        invite("z9hG4bKinv1", "").replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL");
    w.input(CARRIER, &cancel);
    let mut st = w.statuses_to(CARRIER);
    st.sort();
    assert_eq!(st, vec![200, 487]);
    assert!(w.take(AGENT).is_empty(), "no CANCEL before a provisional response (RFC 3261 §9.1)");
    w.input(AGENT, &agent_response(&inv, 180, ""));
    let c = w.request_to(AGENT);
    assert_eq!(c.method, Method::Cancel);
    assert_eq!(c.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    assert!(w.statuses_to(CARRIER).is_empty(), "nothing more for the carrier");
    let Some(CallEvent::Ended(record)) = w.events.pop() else { panic!() };
    assert_eq!((record.outcome, record.status), (Outcome::Cancelled, 487));
    assert!(w.plane.live.is_empty());
    // The agent answers anyway (the race RFC 3261 §9.1 allows): it is ACKed and hung up on.
    w.input(AGENT, &agent_response(&inv, 200, ANSWER));
    let methods: Vec<Method> = w
        .take(AGENT)
        .into_iter()
        .filter_map(|m| if let Message::Request(r) = m { Some(r.method) } else { None })
        .collect();
    assert!(methods.contains(&Method::Ack) && methods.contains(&Method::Bye), "{methods:?}");
}

#[test]
fn failures_are_relayed_and_timeouts_become_408() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    let inv = w.request_to(AGENT);
    w.take(CARRIER);
    w.input(AGENT, &agent_response(&inv, 486, ""));
    assert_eq!(w.statuses_to(CARRIER), vec![486]);
    let ack = w.request_to(AGENT);
    assert_eq!(ack.method, Method::Ack, "the transaction layer ACKs the 486");
    let Some(CallEvent::Ended(record)) = w.events.pop() else { panic!() };
    assert_eq!(record.outcome, Outcome::Busy);

    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv2", OFFER));
    w.take(AGENT);
    w.take(CARRIER);
    w.advance(Duration::from_secs(40));
    assert!(w.statuses_to(CARRIER).contains(&408));
    let Some(CallEvent::Ended(record)) = w.events.pop() else { panic!() };
    assert_eq!(record.outcome, Outcome::Timeout);
    assert!(w.plane.live.is_empty());
}

#[test]
fn a_reinvite_for_hold_crosses_with_its_sdp_rewritten() {
    let mut w = world();
    let (_, to) = answered_call(&mut w);
    let hold = OFFER.replace("a=sendrecv", "a=sendonly").replace("o=c 1 1", "o=c 1 2");
    w.input(CARRIER, &carrier_in_dialog("INVITE", 2, &to, "z9hG4bKre1", &hold));
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    let re = w.request_to(AGENT);
    assert_eq!(re.method, Method::Invite);
    assert_eq!(re.to().unwrap().tag(), Some("a1"));
    assert_eq!(re.cseq().unwrap().seq, 2);
    let body = String::from_utf8(re.body.clone()).unwrap();
    assert!(body.contains("a=sendonly") && body.contains("c=IN IP4 10.1.0.1"), "{body}");
    // Glare: another INVITE while this one runs gets 491.
    w.input(CARRIER, &carrier_in_dialog("INVITE", 3, &to, "z9hG4bKre2", &hold));
    assert_eq!(w.statuses_to(CARRIER), vec![100, 491]);
    w.input(AGENT, &agent_response(&re, 200, &ANSWER.replace("a=sendrecv", "a=recvonly")));
    assert_eq!(w.request_to(AGENT).method, Method::Ack);
    let msgs = w.take(CARRIER);
    let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
    assert_eq!((ok.status, ok.cseq().unwrap().seq), (200, 2));
    assert!(String::from_utf8(ok.body.clone()).unwrap().contains("a=recvonly"));
    assert_eq!(w.plane.live.len(), 1, "the same relay session carries on");
}

#[test]
fn a_late_offer_is_answered_in_the_acks() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv1", ""));
    let inv = w.request_to(AGENT);
    assert!(inv.body.is_empty());
    w.take(CARRIER);
    // The agent offers in its 200; the carrier answers in its ACK.
    w.input(AGENT, &agent_response(&inv, 200, ANSWER));
    assert!(w.take(AGENT).is_empty(), "the agent's ACK waits for the carrier's answer");
    let msgs = w.take(CARRIER);
    let [Message::Response(ok)] = &msgs[..] else { panic!() };
    assert!(String::from_utf8(ok.body.clone()).unwrap().contains("c=IN IP4 203.0.113.1"));
    let to = ok.headers.get("To").unwrap().to_string();
    let answer = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 0");
    w.input(CARRIER, &carrier_in_dialog("ACK", 1, &to, "z9hG4bKack", &answer));
    let ack = w.request_to(AGENT);
    assert_eq!(ack.method, Method::Ack);
    assert!(String::from_utf8(ack.body).unwrap().contains("c=IN IP4 10.1.0.1"));
}

#[test]
fn strangers_unknown_numbers_and_garbage_get_clear_answers() {
    let mut w = world();
    w.input("198.51.100.9:5060", &invite("z9hG4bKx", OFFER).replace("192.0.2.10", "198.51.100.9"));
    assert_eq!(w.statuses_to("198.51.100.9:5060"), vec![100, 403]);
    w.input(CARRIER, &invite("z9hG4bKy", OFFER).replace("sip:4000@", "sip:5555@"));
    assert_eq!(w.statuses_to(CARRIER), vec![100, 404]);
    w.input(CARRIER, &invite("z9hG4bKz", OFFER).replace("Max-Forwards: 70", "Max-Forwards: 0"));
    assert_eq!(w.statuses_to(CARRIER), vec![483], "refused statelessly, before any transaction");
    // A request whose CSeq cannot be read is answered 400 with the reason, statelessly.
    w.input(CARRIER, &invite("z9hG4bKw", OFFER).replace("CSeq: 1 INVITE", "CSeq: one INVITE"));
    assert!(w.take(CARRIER).is_empty());
    let [r] = &w.unparsed[..] else { panic!("{:?}", w.unparsed) };
    assert!(r.starts_with("SIP/2.0 400 Bad CSeq Header\r\n"), "{r}");
    assert!(r.contains("CSeq: one INVITE\r\n") && r.contains("branch=z9hG4bKw"), "{r}");
    // Binary noise gets nothing and breaks nothing.
    w.input(CARRIER, "\u{1}\u{2}garbage");
    assert!(w.take(CARRIER).is_empty());
    assert_eq!(w.core.counters().malformed, 2);
    w.input(CARRIER, "OPTIONS sip:203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo\r\nFrom: <sip:c@192.0.2.10>;tag=1\r\nTo: <sip:203.0.113.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(w.statuses_to(CARRIER), vec![200]);
    assert_eq!(w.core.calls(), 0);
}

const ALICE_PASSWORD: &str = "canary-pw-4111111111111111";

fn agents() -> Vec<Credentials> {
    vec![
        Credentials::from_password("alice", "tonewall", ALICE_PASSWORD),
        Credentials::from_password("bob", "tonewall", "bob-password"),
    ]
}

fn register(user: &str, from: &str, contact: &str, cseq: u32, auth: Option<&str>) -> String {
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKreg{cseq}{user}\r\nMax-Forwards: 70\r\n\
         From: <sip:{user}@203.0.113.1>;tag=r{user}\r\nTo: <sip:{user}@203.0.113.1>\r\nCall-ID: reg-{user}\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <{contact}>\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

/// Registers `user` from `from` with a digest answer to the core's challenge; returns the 200.
fn registered(w: &mut World, user: &str, password: &str, from: &str, contact: &str) -> Response {
    w.input(from, &register(user, from, contact, 1, None));
    let msgs = w.take(from);
    let [Message::Response(challenge)] = &msgs[..] else { panic!("{msgs:?}") };
    assert_eq!(challenge.status, 401);
    let offers: Vec<&str> = challenge.headers.all("WWW-Authenticate").collect();
    assert_eq!(offers.len(), 2);
    assert!(offers[0].contains("algorithm=SHA-256") && offers[1].contains("algorithm=MD5"), "{offers:?}");
    let auth = digest::respond(
        offers[0],
        ClientSecret::Password { user, password },
        "REGISTER",
        "sip:203.0.113.1",
        "c0ffee",
        1,
    )
    .unwrap();
    w.input(from, &register(user, from, contact, 2, Some(&auth)));
    let msgs = w.take(from);
    let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
    ok.clone()
}

#[test]
fn agents_register_with_digest_and_calls_reach_them_where_they_registered_from() {
    let mut w = world_with(agents());
    // alice is behind NAT: her Contact names a private address, her packets come from 10.1.0.20.
    let ok = registered(&mut w, "alice", ALICE_PASSWORD, AGENT, "sip:alice@192.168.1.5:5060");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.get("Contact"), Some("<sip:alice@192.168.1.5:5060>;expires=600"));
    assert_eq!(w.core.registrations(), 1);
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER).replace("sip:4000@", "sip:4001@"));
    let inv = w.request_to(AGENT);
    assert_eq!(inv.uri, "sip:alice@192.168.1.5:5060", "Request-URI is the registered contact");
    // Registrations lapse: after expiry the agent is unavailable.
    w.advance(Duration::from_secs(601));
    w.input(
        CARRIER,
        &invite("z9hG4bKinv2", OFFER)
            .replace("carrier-call-1", "carrier-call-2")
            .replace("sip:4000@", "sip:4001@"),
    );
    assert!(w.statuses_to(CARRIER).contains(&480));
}

/// A REGISTER captured on the wire and sent again (same nonce and count, a new transaction)
/// is challenged anew, not obeyed: it would move the agent's calls to the replayer's port.
/// The agent's own next REGISTER on that nonce, counting up, is taken.
#[test]
fn a_replayed_register_is_challenged_not_obeyed() {
    let mut w = world_with(agents());
    w.input(AGENT, &register("alice", AGENT, "sip:alice@192.168.1.5:5060", 1, None));
    let msgs = w.take(AGENT);
    let [Message::Response(challenge)] = &msgs[..] else { panic!("{msgs:?}") };
    let offer = challenge.headers.all("WWW-Authenticate").next().unwrap().to_string();
    let answer = |nc: u32| {
        digest::respond(
            &offer,
            ClientSecret::Password { user: "alice", password: ALICE_PASSWORD },
            "REGISTER",
            "sip:203.0.113.1",
            "c0ffee",
            nc,
        )
        .unwrap()
    };
    let first = answer(1);
    w.input(AGENT, &register("alice", AGENT, "sip:alice@192.168.1.5:5060", 2, Some(&first)));
    assert_eq!(w.statuses_to(AGENT), vec![200]);
    // The replay: another branch (cseq 3 gives one), the same Authorization. Contact moved.
    let replay = register("alice", AGENT, "sip:evil@192.168.1.66:5060", 3, Some(&first));
    w.input(AGENT, &replay);
    let msgs = w.take(AGENT);
    let [Message::Response(r)] = &msgs[..] else { panic!("{msgs:?}") };
    assert_eq!(r.status, 401, "a replay gets a new challenge");
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER).replace("sip:4000@", "sip:4001@"));
    assert_eq!(w.request_to(AGENT).uri, "sip:alice@192.168.1.5:5060", "the binding did not move");
    // The real client counts up on the same nonce: accepted.
    w.input(AGENT, &register("alice", AGENT, "sip:alice@192.168.1.5:5060", 4, Some(&answer(2))));
    assert_eq!(w.statuses_to(AGENT), vec![200]);
}

/// Agents registered over UDP get a CRLFCRLF every 30 s at the address their REGISTER came
/// from, so their NAT keeps the mapping calls reach them through; none once they are gone.
#[test]
fn agents_behind_nat_get_keepalives_while_registered() {
    let mut w = world_with(agents());
    w.advance(Duration::from_secs(100));
    assert!(w.keepalives.is_empty(), "nobody registered, nothing sent");
    registered(&mut w, "alice", ALICE_PASSWORD, AGENT, "sip:alice@192.168.1.5:5060");
    w.advance(Duration::from_secs(95));
    let to_alice = w.keepalives.iter().filter(|&&a| a == AGENT.parse::<SocketAddr>().unwrap()).count();
    assert!((3..=4).contains(&to_alice), "{:?}", w.keepalives);
    assert_eq!(to_alice, w.keepalives.len(), "only to registered agents: {:?}", w.keepalives);
    // The binding lapses after 600 s: the keep-alives stop with it.
    w.advance(Duration::from_secs(600));
    let before = w.keepalives.len();
    w.advance(Duration::from_secs(120));
    assert_eq!(w.keepalives.len(), before);
}

/// Agents stored with an MD5 HA1 only (as a legacy user database keeps them) cannot answer a
/// SHA-256 challenge: offering SHA-256 first would make every RFC 8760 client (which takes the
/// topmost algorithm it supports) fail, and count as failures toward blocking the agent's
/// address. The offer is the same for every user name, so it tells nothing about who exists.
#[test]
fn agents_with_only_md5_hashes_are_challenged_with_md5_only() {
    let ha1 = "c4af3ef1bd8c09e91c8e1c1fba5db70b"; // MD5("alice:tonewall:hunter-27-x")
    let mut w = world_with(vec![Credentials::from_ha1("alice", "tonewall", Some(ha1), None).unwrap()]);
    for user in ["alice", "mallory"] {
        w.input(AGENT, &register(user, AGENT, "sip:x@10.1.0.20:5070", 1, None));
        let msgs = w.take(AGENT);
        let [Message::Response(challenge)] = &msgs[..] else { panic!("{msgs:?}") };
        let offers: Vec<&str> = challenge.headers.all("WWW-Authenticate").collect();
        assert_eq!(offers.len(), 1, "{user}: {offers:?}");
        assert!(offers[0].contains("algorithm=MD5"), "{offers:?}");
    }
    w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20:5070", 1, None));
    let msgs = w.take(AGENT);
    let [Message::Response(challenge)] = &msgs[..] else { panic!("{msgs:?}") };
    let auth = digest::respond(
        challenge.headers.get("WWW-Authenticate").unwrap(),
        ClientSecret::Password { user: "alice", password: "hunter-27-x" },
        "REGISTER",
        "sip:203.0.113.1",
        "c0ffee",
        1,
    )
    .unwrap();
    w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20:5070", 2, Some(&auth)));
    assert_eq!(w.statuses_to(AGENT), [200]);
    assert_eq!(w.core.registrations(), 1);
}

#[test]
fn a_group_hunts_past_the_busy_agent() {
    let mut w = world_with(agents());
    registered(&mut w, "alice", ALICE_PASSWORD, AGENT, "sip:alice@10.1.0.20:5070");
    registered(&mut w, "bob", "bob-password", "10.1.0.21:5070", "sip:bob@10.1.0.21:5070");
    w.input(CARRIER, &invite("z9hG4bKg1", OFFER).replace("sip:4000@", "sip:4100@"));
    let first = w.request_to(AGENT);
    assert_eq!(first.uri, "sip:alice@10.1.0.20:5070");
    let second = invite("z9hG4bKg2", OFFER)
        .replace("sip:4000@", "sip:4100@")
        .replace("carrier-call-1", "carrier-call-2");
    w.input(CARRIER, &second);
    assert_eq!(w.request_to("10.1.0.21:5070").uri, "sip:bob@10.1.0.21:5070", "alice is on a call");
    let third = invite("z9hG4bKg3", OFFER)
        .replace("sip:4000@", "sip:4100@")
        .replace("carrier-call-1", "carrier-call-3");
    w.take(CARRIER);
    w.input(CARRIER, &third);
    assert_eq!(w.statuses_to(CARRIER), vec![100, 486], "everyone is busy");
}

#[test]
fn wrong_passwords_are_refused_then_the_source_is_blocked_and_nothing_leaks() {
    let mut w = world_with(agents());
    for attempt in 0..5 {
        w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20", 10 + attempt * 2, None));
        let msgs = w.take(AGENT);
        let [Message::Response(ch)] = &msgs[..] else { panic!() };
        let offer = ch.headers.get("WWW-Authenticate").unwrap().to_string();
        let auth = digest::respond(
            &offer,
            ClientSecret::Password { user: "alice", password: "guess" },
            "REGISTER",
            "sip:203.0.113.1",
            "c",
            1,
        )
        .unwrap();
        w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20", 11 + attempt * 2, Some(&auth)));
        assert_eq!(w.statuses_to(AGENT), vec![403]);
    }
    // Blocked: no answer at all, even with the right password.
    w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20", 99, None));
    assert!(w.take(AGENT).is_empty());
    assert_eq!(w.core.registrations(), 0);
    // Other sources are not affected.
    assert_eq!(
        registered(&mut w, "bob", "bob-password", "10.1.0.21:5070", "sip:bob@10.1.0.21:5070").status,
        200
    );
    let debug = format!("{:?}", agents());
    assert!(!debug.contains(ALICE_PASSWORD) && !debug.contains("4111111111111111"));
}

#[test]
fn an_invite_flood_from_a_stranger_gets_503_and_a_trunk_is_not_limited() {
    let mut w = world();
    const STRANGER: &str = "198.51.100.9:5060";
    let mut statuses = Vec::new();
    for i in 0..60 {
        let inv = invite(&format!("z9hG4bKf{i}"), OFFER)
            .replace("carrier-call-1", &format!("flood-{i}"))
            .replace("192.0.2.10", "198.51.100.9");
        w.input(STRANGER, &inv);
        statuses.extend(w.statuses_to(STRANGER));
    }
    let limited = statuses.iter().filter(|&&s| s == 503).count();
    let refused = statuses.iter().filter(|&&s| s == 403).count();
    assert!(limited >= 30 && refused >= 10, "burst refused 403, the rest limited: {statuses:?}");
    // Tokens come back with time.
    w.advance(Duration::from_secs(2));
    w.take(STRANGER); // the final responses' retransmissions (the stranger never ACKs them)
    w.input(
        STRANGER,
        &invite("z9hG4bKlate", OFFER).replace("carrier-call-1", "late").replace("192.0.2.10", "198.51.100.9"),
    );
    assert_eq!(w.statuses_to(STRANGER), vec![100, 403]);
    // The trunk places 300 calls at once: none is rate limited.
    for i in 0..300 {
        let inv = invite(&format!("z9hG4bKt{i}"), OFFER).replace("carrier-call-1", &format!("trunk-{i}"));
        w.input(CARRIER, &inv);
    }
    assert!(!w.statuses_to(CARRIER).contains(&503));
    assert_eq!(w.core.calls(), 300);
}

#[test]
fn a_trunk_over_its_call_limit_or_call_rate_gets_503() {
    let call =
        |i: usize| invite(&format!("z9hG4bKl{i}"), OFFER).replace("carrier-call-1", &format!("lim-{i}"));
    // At most two calls up at once: the third waits for one to end.
    let mut w = world_with_trunk(vec![], Trunk { max_calls: Some(2), ..Trunk::default() });
    for i in 0..3 {
        w.input(CARRIER, &call(i));
    }
    assert_eq!(w.statuses_to(CARRIER), vec![100, 100, 100, 503]);
    assert_eq!(w.core.calls(), 2);
    let rejected = w.events.iter().any(|e| {
        matches!(e, CallEvent::Ended(r) if r.status == 503 && r.trunk == "carrier" && r.outcome == Outcome::Rejected)
    });
    assert!(rejected, "the refusal is recorded against the trunk: {:?}", w.events);
    // The agent refuses the first call: a slot frees, and the next INVITE goes through.
    let invites = w.take(AGENT);
    let Some(Message::Request(inv)) = invites.first() else { panic!("{invites:?}") };
    let inv = inv.clone();
    w.input(AGENT, &agent_response(&inv, 486, ""));
    w.take(CARRIER);
    w.input(CARRIER, &call(3));
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    assert_eq!(w.core.calls(), 2);

    // Three calls a second: a burst of five gets three through, then 503 with Retry-After.
    let mut w = world_with_trunk(vec![], Trunk { calls_per_second: Some(3), ..Trunk::default() });
    for i in 0..5 {
        w.input(CARRIER, &call(i));
    }
    let answers = w.take(CARRIER);
    let limited: Vec<&Response> = answers
        .iter()
        .filter_map(|m| match m {
            Message::Response(r) if r.status == 503 => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!((w.core.calls(), limited.len()), (3, 2));
    assert!(limited.iter().all(|r| r.headers.get("Retry-After") == Some("1")), "{limited:?}");
    // A second later there is room again.
    w.advance(Duration::from_secs(1));
    w.take(CARRIER);
    w.input(CARRIER, &call(9));
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    assert_eq!(w.core.calls(), 4);
}

#[test]
fn a_trunk_with_a_tls_name_is_taken_only_over_tls() {
    let mut w =
        world_with_trunk(vec![], Trunk { tls_name: Some("sbc.carrier.test".into()), ..Trunk::default() });
    w.input(CARRIER, &invite("z9hG4bKudp", OFFER));
    let answers = w.take(CARRIER);
    let [Message::Response(trying), Message::Response(r)] = &answers[..] else { panic!("{answers:?}") };
    assert_eq!((trying.status, r.status, r.reason.as_str()), (100, 403, "TLS Required"));
    assert_eq!(w.core.calls(), 0);
    // Over TLS (the transport layer has checked the certificate) the call goes on.
    let source =
        Target { transport: Transport::Tls, addr: CARRIER.parse().unwrap(), conn: Some(7), local: None };
    let inv = invite("z9hG4bKtls", OFFER).replace("SIP/2.0/UDP", "SIP/2.0/TLS");
    w.core.handle_input(w.now, &mut w.plane, &mut w.rng, source, inv.as_bytes());
    w.drain();
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    assert_eq!(w.core.calls(), 1);
}

#[test]
fn sip_info_digits_are_taken_answered_and_never_forwarded() {
    let mut w = world();
    let (_, to) = answered_call(&mut w);
    let info = |cseq: u32, ct: &str, body: &str| {
        carrier_in_dialog("INFO", cseq, &to, &format!("z9hG4bKinfo{cseq}"), "").replace(
            "Content-Length: 0\r\n\r\n",
            &format!("Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        )
    };
    w.input(CARRIER, &info(2, "application/dtmf-relay", "Signal=4\r\nDuration=160\r\n"));
    assert_eq!(w.statuses_to(CARRIER), vec![200]);
    w.input(CARRIER, &info(3, "application/dtmf", "1"));
    assert_eq!(w.statuses_to(CARRIER), vec![200]);
    assert!(w.take(AGENT).is_empty(), "the agent never sees a DTMF INFO");
    let digits: Vec<char> = w
        .plane
        .info
        .iter()
        .map(|(_, leg, d)| {
            assert_eq!(*leg, LegId::A, "from the carrier's leg");
            d.as_char()
        })
        .collect();
    assert_eq!(digits, vec!['4', '1']);
    w.input(CARRIER, &info(4, "application/dtmf-relay", "Signal=\r\n"));
    assert_eq!(w.statuses_to(CARRIER), vec![400]);
    // Any other body from the caller stays at Tonewall: it could carry digits in a format
    // Tonewall does not read (default deny toward the agent).
    w.input(CARRIER, &info(5, "application/vnd.nortelnetworks.digits", "d=4111111111"));
    assert_eq!(w.statuses_to(CARRIER), vec![415]);
    assert!(w.take(AGENT).is_empty());
}

#[test]
fn a_bye_in_the_early_dialog_ends_the_invite_too() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    let inv = w.request_to(AGENT);
    w.input(AGENT, &agent_response(&inv, 180, ""));
    let msgs = w.take(CARRIER);
    let ringing = msgs.iter().find_map(|m| match m {
        Message::Response(r) if r.status == 180 => Some(r.clone()),
        _ => None,
    });
    let to = ringing.unwrap().headers.get("To").unwrap().to_string();
    w.input(CARRIER, &carrier_in_dialog("BYE", 2, &to, "z9hG4bKeb", ""));
    let mut st = w.statuses_to(CARRIER);
    st.sort();
    assert_eq!(st, vec![200, 487], "the BYE's 200 and the INVITE's final response");
    assert_eq!(w.request_to(AGENT).method, Method::Cancel);
    w.advance(Duration::from_secs(40));
    assert_eq!(w.core.transactions(), 0, "nothing left waiting");
}

#[test]
fn offers_are_cut_to_the_codecs_the_route_allows() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKc1", OFFER).replace("sip:4000@", "sip:4200@"));
    let inv = w.request_to(AGENT);
    let body = String::from_utf8(inv.body).unwrap();
    let m = body.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(m.ends_with("RTP/AVP 8"), "PCMA only (no PCMU; no telephone-event toward a masked agent): {m}");
    assert!(!body.contains("PCMU"), "{body}");
    // A route whose codecs the caller does not offer refuses the call, and anchors nothing.
    w.input(
        CARRIER,
        &invite("z9hG4bKc2", OFFER).replace("sip:4000@", "sip:4300@").replace("carrier-call-1", "c2"),
    );
    assert!(w.statuses_to(CARRIER).contains(&488));
    assert!(w.take(AGENT).is_empty());
    assert_eq!(w.plane.live.len(), 1, "only the first call's media");
}

/// From the review of the first version: what a stranger on the network could do with guessed
/// identifiers, and what an impatient or lossy peer met.
mod hardening {
    use super::*;

    const STRANGER: &str = "198.51.100.7:5060";

    #[test]
    fn a_forged_200_from_a_stranger_is_ignored() {
        let mut w = world();
        w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
        let inv = w.request_to(AGENT);
        w.take(CARRIER);
        // The stranger somehow knows the branch and Call-ID: still not the agent's address.
        w.input(STRANGER, &agent_response(&inv, 200, &ANSWER.replace("10.1.0.20", "198.51.100.7")));
        assert!(w.take(CARRIER).is_empty(), "no 200 reaches the carrier");
        assert!(w.take(STRANGER).is_empty(), "no ACK goes to the stranger");
        assert!(!w.events.iter().any(|e| matches!(e, CallEvent::Answered { .. })));
    }

    #[test]
    fn ids_are_not_guessable_from_the_last_ones() {
        let mut w = world();
        w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
        let a = w.request_to(AGENT);
        w.input(CARRIER, &invite("z9hG4bKinv2", OFFER).replace("carrier-call-1", "carrier-call-2"));
        let b = w.request_to(AGENT);
        let (ca, cb) = (a.call_id().to_string(), b.call_id().to_string());
        let common = ca.chars().zip(cb.chars()).take_while(|(x, y)| x == y).count();
        assert!(common < 4, "Call-IDs share no prefix a counter would leave: {ca} {cb}");
        assert!(ca.len() >= 24, "96 bits at least: {ca}");
    }

    #[test]
    fn requests_in_a_dialog_need_its_tags_and_its_peer() {
        let mut w = world();
        let (_, to) = answered_call(&mut w);
        let before = w.core.transactions();
        // Right Call-ID, wrong To tag: no dialog of ours.
        let forged = carrier_in_dialog("BYE", 2, "<sip:4000@203.0.113.1>;tag=guess", "z9hG4bKf1", "");
        w.input(CARRIER, &forged);
        assert_eq!(w.statuses_to(CARRIER), vec![481]);
        // Right tags, from a stranger's address: neither.
        w.input(STRANGER, &carrier_in_dialog("BYE", 3, &to, "z9hG4bKf2", ""));
        assert_eq!(w.statuses_to(STRANGER), vec![481]);
        assert!(w.take(AGENT).is_empty(), "the agent's leg is untouched");
        assert_eq!(w.core.calls(), 1);
        assert_eq!(w.core.transactions(), before, "answered statelessly: nothing kept");
    }

    #[test]
    fn an_agent_may_ring_past_timer_b_until_the_ring_timeout() {
        let mut w = world();
        w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
        let inv = w.request_to(AGENT);
        w.input(AGENT, &agent_response(&inv, 180, ""));
        w.take(CARRIER);
        w.advance(Duration::from_secs(60));
        assert!(w.statuses_to(CARRIER).is_empty(), "still ringing after 60 s (Timer B stops at the 180)");
        assert_eq!(w.core.calls(), 1);
        w.advance(Duration::from_secs(61));
        let st = w.statuses_to(CARRIER);
        assert!(!st.is_empty() && st.iter().all(|&s| s == 480), "the ring timeout (120 s) gives up: {st:?}");
        let sent = w.take(AGENT);
        assert!(
            !sent.is_empty()
                && sent.iter().all(|m| matches!(m, Message::Request(r) if r.method == Method::Cancel)),
            "and the agent is cancelled (with its retransmissions): {sent:?}"
        );
        w.advance(Duration::from_secs(40));
        assert_eq!(w.core.transactions(), 0, "the unanswered CANCELled INVITE ends after 64·T1");
    }

    #[test]
    fn a_lost_ack_is_resent_and_a_second_answering_fork_is_hung_up() {
        let mut w = world();
        let (inv, _) = answered_call(&mut w);
        w.input(AGENT, &agent_response(&inv, 200, ANSWER));
        assert_eq!(w.request_to(AGENT).method, Method::Ack, "the 200 came again: our ACK is resent");
        let fork = agent_response(&inv, 200, ANSWER).replace("tag=a1", "tag=fork2");
        w.input(AGENT, &fork);
        let methods: Vec<Method> = w
            .take(AGENT)
            .into_iter()
            .filter_map(|m| if let Message::Request(r) = m { Some(r.method) } else { None })
            .collect();
        assert_eq!(methods, vec![Method::Ack, Method::Bye], "the other phone is ACKed and hung up");
    }

    #[test]
    fn the_carrier_keeps_its_route_and_learns_nothing_of_the_agent() {
        let mut w = world();
        w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
        let inv = w.request_to(AGENT);
        w.take(CARRIER);
        let ok = agent_response(&inv, 200, ANSWER).replace(
            "Content-Type",
            "Warning: 399 pbx-7.internal \"agent 10.1.0.20 busy\"\r\nSupported: 100rel, replaces\r\nServer: AgentPhone 1.0\r\nContent-Type",
        );
        w.input(AGENT, &ok);
        let msgs = w.take(CARRIER);
        let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
        assert_eq!(ok.headers.get("Record-Route"), Some("<sip:192.0.2.10;lr>"), "RFC 3261 §12.1.1");
        let text = String::from_utf8(ok.to_bytes()).unwrap();
        for leak in ["pbx-7", "AgentPhone", "100rel", "Warning"] {
            assert!(!text.contains(leak), "{leak} crossed:\n{text}");
        }
    }

    #[test]
    fn a_reinvite_crossing_when_the_call_ends_gets_its_final_answer() {
        let mut w = world();
        let (inv, to) = answered_call(&mut w);
        w.input(CARRIER, &carrier_in_dialog("INVITE", 2, &to, "z9hG4bKre1", OFFER));
        w.request_to(AGENT);
        w.take(CARRIER);
        let bye = format!(
            "BYE sip:tonewall@10.1.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKab\r\nMax-Forwards: 70\r\n\
             From: {};tag=a1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
            inv.headers.get("To").unwrap(),
            inv.headers.get("From").unwrap(),
            inv.call_id()
        );
        w.input(AGENT, &bye);
        assert!(w.statuses_to(CARRIER).contains(&487), "the re-INVITE is answered");
        w.advance(Duration::from_secs(70));
        assert_eq!(w.core.transactions(), 0);
    }

    #[test]
    fn the_same_call_id_twice_is_a_merged_request() {
        let mut w = world();
        w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
        w.take(CARRIER);
        w.input(CARRIER, &invite("z9hG4bKinv2", OFFER));
        assert!(w.statuses_to(CARRIER).contains(&482));
        assert_eq!(w.core.calls(), 1);
    }
}

#[test]
fn a_nonce_fetched_from_one_address_is_refused_from_another() {
    let mut w = world_with(agents());
    w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20", 1, None));
    let msgs = w.take(AGENT);
    let [Message::Response(ch)] = &msgs[..] else { panic!() };
    let offer = ch.headers.get("WWW-Authenticate").unwrap().to_string();
    // Even with the right password, the answer spent from another address only gets a new
    // challenge: no registration, and no failure charged to either address.
    let auth = digest::respond(
        &offer,
        ClientSecret::Password { user: "alice", password: ALICE_PASSWORD },
        "REGISTER",
        "sip:203.0.113.1",
        "c",
        1,
    )
    .unwrap();
    const ELSEWHERE: &str = "10.1.0.99:5070";
    w.input(ELSEWHERE, &register("alice", ELSEWHERE, "sip:alice@10.1.0.99", 2, Some(&auth)));
    assert_eq!(w.statuses_to(ELSEWHERE), vec![401]);
    assert_eq!(w.core.registrations(), 0);
    // From the address that fetched it, it works.
    w.input(AGENT, &register("alice", AGENT, "sip:alice@10.1.0.20", 3, Some(&auth)));
    assert_eq!(w.statuses_to(AGENT), vec![200]);
}

#[test]
fn a_cancelled_reinvite_is_cancelled_on_the_other_leg_and_its_487_comes_back() {
    let mut w = world();
    let (_, to) = answered_call(&mut w);
    let hold = OFFER.replace("a=sendrecv", "a=sendonly");
    w.input(CARRIER, &carrier_in_dialog("INVITE", 2, &to, "z9hG4bKre1", &hold));
    let re = w.request_to(AGENT);
    w.take(CARRIER);
    w.input(AGENT, &agent_response(&re, 180, ""));
    w.take(CARRIER);
    let cancel = carrier_in_dialog("CANCEL", 2, &to, "z9hG4bKre1", "");
    w.input(CARRIER, &cancel);
    assert_eq!(w.statuses_to(CARRIER), vec![200], "the CANCEL is answered");
    let c = w.request_to(AGENT);
    assert_eq!(
        (c.method.clone(), c.top_via().unwrap().branch()),
        (Method::Cancel, re.top_via().unwrap().branch())
    );
    w.input(AGENT, &agent_response(&re, 487, ""));
    assert_eq!(w.statuses_to(CARRIER), vec![487], "the re-INVITE's answer");
    assert_eq!(w.core.calls(), 1, "the call itself goes on");
}

#[test]
fn an_unreachable_agent_fails_the_call_at_once() {
    let mut w = world();
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    let _ = w.request_to(AGENT);
    w.take(CARRIER);
    // The I/O shell reports the agent unreachable (a refused connection, say): no 32 s wait.
    let agent = Target { transport: Transport::Udp, addr: AGENT.parse().unwrap(), conn: None, local: None };
    w.core.transport_failed(w.now, &mut w.plane, agent);
    w.drain();
    assert_eq!(w.statuses_to(CARRIER), vec![408]);
    let Some(CallEvent::Ended(record)) = w.events.pop() else { panic!() };
    assert_eq!(record.outcome, Outcome::Timeout);
    assert!(w.plane.live.is_empty());
    // A failure toward someone else touches nothing.
    w.input(CARRIER, &invite("z9hG4bKinv2", OFFER).replace("carrier-call-1", "c2"));
    w.take(CARRIER);
    let other =
        Target { transport: Transport::Udp, addr: "10.9.9.9:5060".parse().unwrap(), conn: None, local: None };
    w.core.transport_failed(w.now, &mut w.plane, other);
    w.drain();
    assert!(w.statuses_to(CARRIER).is_empty());
    assert_eq!(w.core.calls(), 1);
}

/// RFC 3261 §12.2 within a dialog: target refreshes, the peer's CSeq order, route sets (loose
/// and strict), and BYEs crossing on the wire.
mod in_dialog {
    use super::*;

    /// An agent request within the agent leg's dialog of `inv` (the agent's tag `a1`), with
    /// `extra` header lines (each ending in CRLF) and an SDP `body`.
    fn agent_in_dialog(
        inv: &Request,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        format!(
            "{method} sip:tonewall@10.1.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: {};tag=a1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             {extra}{ct}Content-Length: {}\r\n\r\n{body}",
            inv.headers.get("To").unwrap(),
            inv.headers.get("From").unwrap(),
            inv.call_id(),
            body.len()
        )
    }

    /// The carrier's or agent's response to a request Tonewall sent it, with a Contact.
    fn response_with_contact(req: &Request, status: u16, contact: &str, body: &str) -> String {
        let mut r = req.response(status, tonewall_sip::message::reason_phrase(status), None);
        r.headers.push("Contact", format!("<{contact}>"));
        if !body.is_empty() {
            r.headers.push("Content-Type", "application/sdp");
            r.body = body.as_bytes().to_vec();
        }
        String::from_utf8(r.to_bytes()).unwrap()
    }

    fn with_contact(request: &str, contact: &str) -> String {
        request.replacen("Call-ID:", &format!("Contact: <{contact}>\r\nCall-ID:"), 1)
    }

    /// Ends the call from the relay's side (media timeout): Tonewall hangs up both legs, so both
    /// remote targets show in one go. Returns (BYE to the carrier, BYE to the agent).
    fn hang_up_both(w: &mut World) -> (Request, Request) {
        let session = w.plane.live[0];
        w.core.media_timeout(w.now, session);
        w.drain();
        let (to_carrier, to_agent) = (w.request_to(CARRIER), w.request_to(AGENT));
        assert_eq!((&to_carrier.method, &to_agent.method), (&Method::Bye, &Method::Bye));
        (to_carrier, to_agent)
    }

    fn text(m: &impl ToBytes) -> String {
        String::from_utf8(m.bytes()).unwrap()
    }

    trait ToBytes {
        fn bytes(&self) -> Vec<u8>;
    }
    impl ToBytes for Request {
        fn bytes(&self) -> Vec<u8> {
            self.to_bytes()
        }
    }
    impl ToBytes for Response {
        fn bytes(&self) -> Vec<u8> {
            self.to_bytes()
        }
    }

    const CARRIER_MOVED: &str = "sip:carrier-moved@192.0.2.77:5080";
    const AGENT_MOVED: &str = "sip:agent-moved@10.1.0.20:5090";

    #[test]
    fn a_reinvite_and_its_2xx_refresh_each_remote_target_but_not_the_flows() {
        let mut w = world();
        let (_, to) = answered_call(&mut w);
        // The carrier's re-INVITE names a new Contact (RFC 3261 §12.2.2: the UAS takes it).
        let re = with_contact(&carrier_in_dialog("INVITE", 2, &to, "z9hG4bKre1", OFFER), CARRIER_MOVED);
        w.input(CARRIER, &re);
        assert_eq!(w.statuses_to(CARRIER), vec![100]);
        let re = w.request_to(AGENT);
        assert_eq!(re.uri, format!("sip:agent@{AGENT}"), "the agent's target is unchanged so far");
        let sent = text(&re);
        assert!(!sent.contains("carrier-moved") && !sent.contains("192.0.2.77"), "leaked:\n{sent}");
        assert_eq!(re.headers.get("Contact"), Some("<sip:tonewall@203.0.113.1:5060>"), "Tonewall's own");
        // The agent's 2xx names a new Contact too (§12.2.1.2: the UAC takes it).
        w.input(AGENT, &response_with_contact(&re, 200, AGENT_MOVED, ANSWER));
        assert_eq!(w.request_to(AGENT).method, Method::Ack);
        let msgs = w.take(CARRIER);
        let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
        let sent = text(ok);
        assert!(!sent.contains("agent-moved") && !sent.contains(":5090"), "leaked:\n{sent}");
        w.input(CARRIER, &carrier_in_dialog("ACK", 2, &to, "z9hG4bKack2", ""));
        // Later requests name the new targets, and still go where each peer's messages come from.
        let (to_carrier, to_agent) = hang_up_both(&mut w);
        assert_eq!(to_carrier.uri, CARRIER_MOVED);
        assert_eq!(to_agent.uri, AGENT_MOVED);
        assert_eq!(to_carrier.headers.get("Route"), Some("<sip:192.0.2.10;lr>"), "the route set stays");
        assert!(to_agent.headers.get("Route").is_none());
    }

    #[test]
    fn an_update_and_its_2xx_refresh_the_targets_and_tonewalls_2xx_names_tonewall() {
        let mut w = world();
        let (inv, _) = answered_call(&mut w);
        // A session refresh UPDATE from the agent with a new Contact (RFC 3311 §5.2).
        let extra = format!("Contact: <{AGENT_MOVED}>\r\n");
        w.input(AGENT, &agent_in_dialog(&inv, "UPDATE", 1, "z9hG4bKup1", &extra, ""));
        let up = w.request_to(CARRIER);
        assert_eq!(up.method, Method::Update);
        assert_eq!(up.uri, "sip:carrier@192.0.2.10:5060");
        assert!(!text(&up).contains("agent-moved"));
        assert!(up.headers.get("Contact").unwrap().contains("203.0.113.1"));
        // The carrier's 2xx moves the carrier leg's target (RFC 3311 §5.1).
        w.input(CARRIER, &response_with_contact(&up, 200, CARRIER_MOVED, ""));
        let msgs = w.take(AGENT);
        let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
        assert_eq!(ok.status, 200);
        assert_eq!(ok.headers.get("Contact"), Some("<sip:tonewall@203.0.113.1:5060>"), "{ok:?}");
        assert!(!text(ok).contains("carrier-moved"));
        let (to_carrier, to_agent) = hang_up_both(&mut w);
        assert_eq!((to_carrier.uri.as_str(), to_agent.uri.as_str()), (CARRIER_MOVED, AGENT_MOVED));
    }

    #[test]
    fn an_unusable_contact_leaves_the_target_alone() {
        let mut w = world();
        let (inv, _) = answered_call(&mut w);
        // Another scheme, and two targets at once (which one would it be?): the last good one stays.
        let unusable = [
            "Contact: <sip:a@10.1.0.20:5091>, <sip:b@10.1.0.20:5092>\r\n",
            "Contact: <tel:+15550100>\r\n",
            "Contact: <urn:service:sos>\r\n",
        ];
        for (i, contact) in unusable.into_iter().enumerate() {
            let seq = 1 + i as u32;
            w.input(AGENT, &agent_in_dialog(&inv, "UPDATE", seq, &format!("z9hG4bKbad{i}"), contact, ""));
            let Some(up) = w.take(CARRIER).into_iter().find_map(|m| match m {
                Message::Request(r) => Some(r),
                Message::Response(_) => None,
            }) else {
                panic!("{contact}: the UPDATE itself is relayed: {:?}", w.take(AGENT));
            };
            w.input(CARRIER, &String::from_utf8(up.response(200, "OK", None).to_bytes()).unwrap());
            w.take(AGENT);
        }
        let (_, to_agent) = hang_up_both(&mut w);
        assert_eq!(to_agent.uri, format!("sip:agent@{AGENT}"));
    }

    #[test]
    fn a_request_below_the_peers_last_cseq_gets_500_and_changes_nothing() {
        let mut w = world();
        let (inv, to) = answered_call(&mut w);
        let info = carrier_in_dialog("INFO", 5, &to, "z9hG4bKinfo5", "").replace(
            "Content-Length: 0\r\n\r\n",
            "Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=4\r\nDuration=160\r\n",
        );
        w.input(CARRIER, &info);
        assert_eq!(w.statuses_to(CARRIER), vec![200]);
        // Its retransmission (same CSeq, same branch) is absorbed: the 200 again, no second digit.
        w.input(CARRIER, &info);
        assert_eq!(w.statuses_to(CARRIER), vec![200]);
        assert_eq!(w.plane.info.len(), 1);
        // A re-INVITE numbered below: out of order (RFC 3261 §12.2.2).
        let re = with_contact(&carrier_in_dialog("INVITE", 3, &to, "z9hG4bKold", OFFER), CARRIER_MOVED);
        w.input(CARRIER, &re);
        let msgs = w.take(CARRIER);
        let finals: Vec<&Response> = msgs
            .iter()
            .filter_map(|m| match m {
                Message::Response(r) if r.status >= 200 => Some(r),
                _ => None,
            })
            .collect();
        let [r] = &finals[..] else { panic!("{msgs:?}") };
        assert_eq!((r.status, r.reason.as_str()), (500, "CSeq Out Of Order"));
        assert!(r.headers.get("Retry-After").is_none(), "not a retry-later condition");
        assert!(w.take(AGENT).is_empty(), "nothing relayed");
        // So is a BYE numbered below: the call goes on.
        w.input(CARRIER, &carrier_in_dialog("BYE", 4, &to, "z9hG4bKbye4", ""));
        assert_eq!(w.statuses_to(CARRIER), vec![500]);
        assert!(w.take(AGENT).is_empty());
        assert_eq!(w.core.calls(), 1);
        // Numbered above, it works, and the refused re-INVITE's Contact was never taken.
        w.input(CARRIER, &carrier_in_dialog("INVITE", 6, &to, "z9hG4bKnew", OFFER));
        let re = w.request_to(AGENT);
        assert_eq!(re.method, Method::Invite);
        w.input(AGENT, &agent_response(&re, 200, ANSWER));
        w.take(AGENT);
        w.take(CARRIER);
        w.input(CARRIER, &carrier_in_dialog("ACK", 6, &to, "z9hG4bKack6", ""));
        // The agent's own numbers are checked on its leg the same way (its first sets the start).
        w.input(AGENT, &agent_in_dialog(&inv, "UPDATE", 10, "z9hG4bKa10", "", ""));
        let up = w.request_to(CARRIER);
        w.input(CARRIER, &String::from_utf8(up.response(200, "OK", None).to_bytes()).unwrap());
        assert_eq!(w.statuses_to(AGENT), vec![200]);
        w.input(AGENT, &agent_in_dialog(&inv, "BYE", 9, "z9hG4bKa9", "", ""));
        assert_eq!(w.statuses_to(AGENT), vec![500]);
        assert_eq!(w.core.calls(), 1);
        let (to_carrier, _) = hang_up_both(&mut w);
        assert_eq!(to_carrier.uri, "sip:carrier@192.0.2.10:5060");
    }

    #[test]
    fn a_uac_route_set_is_the_record_route_reversed_loose_routed() {
        let mut w = world();
        w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
        let inv = w.request_to(AGENT);
        w.take(CARRIER);
        let ok = agent_response(&inv, 200, ANSWER).replacen(
            "Contact:",
            "Record-Route: <sip:10.1.0.30;lr>, <sip:10.1.0.31;lr>\r\nContact:",
            1,
        );
        w.input(AGENT, &ok);
        let ack = w.request_to(AGENT);
        let routes: Vec<&str> = ack.headers.values("Route").collect();
        assert_eq!(routes, vec!["<sip:10.1.0.31;lr>", "<sip:10.1.0.30;lr>"], "ACK: {ack:?}");
        let msgs = w.take(CARRIER);
        let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
        assert!(!text(ok).contains("10.1.0.3"), "the agent side's proxies stay on its side");
        let to = ok.headers.get("To").unwrap().to_string();
        w.input(CARRIER, &carrier_in_dialog("ACK", 1, &to, "z9hG4bKack1", ""));
        w.input(CARRIER, &carrier_in_dialog("BYE", 2, &to, "z9hG4bKbye", ""));
        let bye = w.request_to(AGENT);
        assert_eq!(bye.uri, format!("sip:agent@{AGENT}"), "loose routing: the remote target");
        let routes: Vec<&str> = bye.headers.values("Route").collect();
        assert_eq!(routes, vec!["<sip:10.1.0.31;lr>", "<sip:10.1.0.30;lr>"]);
        assert_eq!(bye.headers.all("Route").count(), 2, "one Route line per entry");
    }

    #[test]
    fn behind_a_strict_router_the_request_uri_is_the_route_and_the_target_the_last_route() {
        let mut w = world();
        let strict = invite("z9hG4bKinv1", OFFER).replace(
            "Record-Route: <sip:192.0.2.10;lr>",
            "Record-Route: <sip:192.0.2.10:5060;transport=udp>, <sip:192.0.2.11;lr>",
        );
        w.input(CARRIER, &strict);
        let inv = w.request_to(AGENT);
        w.take(CARRIER);
        w.input(AGENT, &agent_response(&inv, 200, ANSWER));
        w.take(AGENT);
        let msgs = w.take(CARRIER);
        let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
        let to = ok.headers.get("To").unwrap().to_string();
        w.input(CARRIER, &carrier_in_dialog("ACK", 1, &to, "z9hG4bKack1", ""));
        // The agent hangs up: Tonewall's BYE to the carrier follows RFC 3261 §12.2.1.1.
        w.input(AGENT, &agent_in_dialog(&inv, "BYE", 1, "z9hG4bKab", "", ""));
        let bye = w.request_to(CARRIER);
        assert_eq!(bye.uri, "sip:192.0.2.10:5060;transport=udp");
        let routes: Vec<&str> = bye.headers.values("Route").collect();
        assert_eq!(routes, vec!["<sip:192.0.2.11;lr>", "<sip:carrier@192.0.2.10:5060>"]);
    }

    /// Both sides hang up at once, in either order: each BYE is answered 200 (the BYEs crossed;
    /// the dialog lives until ours is answered), the call ends once, its media goes once.
    #[test]
    fn crossing_byes_are_both_answered_and_end_the_call_once() {
        for carrier_first in [true, false] {
            let mut w = world();
            let (inv, to) = answered_call(&mut w);
            let carrier_bye = carrier_in_dialog("BYE", 2, &to, "z9hG4bKcb", "");
            let agent_bye = agent_in_dialog(&inv, "BYE", 1, "z9hG4bKab", "", "");
            let (first, second) = if carrier_first {
                ((CARRIER, AGENT), (AGENT, CARRIER))
            } else {
                ((AGENT, CARRIER), (CARRIER, AGENT))
            };
            let bye_of = |peer: &str| if peer == CARRIER { carrier_bye.clone() } else { agent_bye.clone() };
            w.input(first.0, &bye_of(first.0));
            assert_eq!(w.statuses_to(first.0), vec![200]);
            let ours = w.request_to(first.1);
            assert_eq!(ours.method, Method::Bye);
            // The other side's BYE was already on its way: it crosses ours.
            w.input(second.0, &bye_of(second.0));
            assert_eq!(w.statuses_to(second.0), vec![200], "a crossing BYE gets 200, not 481");
            assert!(w.take(first.0).is_empty() && w.take(first.1).is_empty(), "nothing more sent");
            // Its retransmission gets the same 200 from its transaction.
            w.input(second.0, &bye_of(second.0));
            assert_eq!(w.statuses_to(second.0), vec![200]);
            // Any other request on the closing leg: the session is over.
            let info = if second.0 == AGENT {
                agent_in_dialog(&inv, "INFO", 2, "z9hG4bKai", "", "")
            } else {
                carrier_in_dialog("OPTIONS", 3, &to, "z9hG4bKco", "")
            };
            w.input(second.0, &info);
            assert_eq!(w.statuses_to(second.0), vec![481]);
            // Our BYE is answered: the dialog is gone, a new BYE is for no dialog.
            let answer = String::from_utf8(ours.response(200, "OK", None).to_bytes()).unwrap();
            w.input(second.0, &answer);
            assert!(w.take(second.0).is_empty());
            let again =
                bye_of(second.0).replace("z9hG4bK", "z9hG4bKnew").replace("CSeq: 1 BYE", "CSeq: 3 BYE");
            let again = again.replace("CSeq: 2 BYE", "CSeq: 3 BYE");
            w.input(second.0, &again);
            assert_eq!(w.statuses_to(second.0), vec![481]);
            // And the first BYE's copy, after its call ended, still gets its 200, not a 481.
            w.input(first.0, &bye_of(first.0));
            assert_eq!(w.statuses_to(first.0), vec![200], "a retransmission, answered by its transaction");
            let ended: Vec<_> = w.events.iter().filter(|e| matches!(e, CallEvent::Ended(_))).collect();
            assert_eq!(ended.len(), 1, "the call ended once");
            let Some(CallEvent::Ended(record)) = ended.first() else { panic!() };
            let by = if carrier_first { Side::Carrier } else { Side::Agent };
            assert_eq!((record.outcome, record.ended_by), (Outcome::Completed, Some(by)));
            assert_eq!(w.plane.removed.len(), 1, "the media session removed once");
            assert!(w.plane.live.is_empty());
            assert_eq!(w.core.calls(), 0);
            w.advance(Duration::from_secs(40));
            assert_eq!(w.core.transactions(), 0, "nothing left waiting");
        }
    }

    /// The leg we hang up on stays closing only while our BYE runs: if the peer never answers,
    /// the BYE times out and its BYE afterwards is for no dialog.
    #[test]
    fn a_closing_leg_is_forgotten_when_our_bye_times_out() {
        let mut w = world();
        let (inv, to) = answered_call(&mut w);
        w.input(CARRIER, &carrier_in_dialog("BYE", 2, &to, "z9hG4bKcb", ""));
        w.take(CARRIER);
        w.take(AGENT);
        w.advance(Duration::from_secs(33));
        w.take(AGENT);
        w.input(AGENT, &agent_in_dialog(&inv, "BYE", 1, "z9hG4bKlate", "", ""));
        assert_eq!(w.statuses_to(AGENT), vec![481]);
    }
}

/// A Tonewall on two interfaces, carriers on one and agents on the other: each side is
/// answered from, and told (Via, Contact) about, the listener it talks to.
#[test]
fn a_multi_homed_tonewall_talks_to_each_side_from_its_own_listener() {
    let public: SocketAddr = "203.0.113.1:5060".parse().unwrap();
    let private: SocketAddr = "10.1.0.1:5060".parse().unwrap();
    let mut w = world_on(
        agents(),
        Trunk::default(),
        vec![Listener::at(Transport::Udp, public), Listener::at(Transport::Udp, private)],
        None,
    );
    // alice registers on the private listener.
    w.local = Some(private);
    assert_eq!(registered(&mut w, "alice", ALICE_PASSWORD, AGENT, "sip:alice@10.1.0.20:5060").status, 200);
    assert!(w.froms.iter().all(|&(_, from)| from == Some(private)), "{:?}", w.froms);
    w.froms.clear();
    // The carrier calls on the public one.
    w.local = Some(public);
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER).replace("sip:4000@", "sip:4001@"));
    assert_eq!(w.statuses_to(CARRIER), vec![100]);
    let inv = w.request_to(AGENT);
    assert!(inv.headers.get("Via").unwrap().contains("10.1.0.1:5060"), "{inv:?}");
    assert!(inv.headers.get("Contact").unwrap().contains("10.1.0.1:5060"), "{inv:?}");
    w.local = Some(private);
    w.input(AGENT, &agent_response(&inv, 200, ANSWER));
    let msgs = w.take(CARRIER);
    let [Message::Response(ok)] = &msgs[..] else { panic!("{msgs:?}") };
    assert!(ok.headers.get("Contact").unwrap().contains("203.0.113.1:5060"), "{ok:?}");
    let agent: SocketAddr = AGENT.parse().unwrap();
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    for &(to, from) in &w.froms {
        let want = if to == agent {
            private
        } else if to == carrier {
            public
        } else {
            continue;
        };
        assert_eq!(from, Some(want), "a message to {to}");
    }
    // The agent hangs up: the BYE toward the carrier leaves from the public listener.
    w.froms.clear();
    let bye = format!(
        "BYE sip:tonewall@10.1.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKbye9\r\nMax-Forwards: 70\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        agent_to_with_tag(&inv),
        inv.headers.get("From").unwrap(),
        inv.call_id()
    );
    w.input(AGENT, &bye);
    let to_carrier: Vec<_> = w.froms.iter().filter(|(to, _)| *to == carrier).collect();
    assert!(
        !to_carrier.is_empty() && to_carrier.iter().all(|(_, from)| *from == Some(public)),
        "{:?}",
        w.froms
    );
}

/// The To of `inv` with the agent's tag `a1`, as the agent writes its From in a BYE.
fn agent_to_with_tag(inv: &Request) -> String {
    format!("{};tag=a1", inv.headers.get("To").unwrap())
}

/// A route's fixed URI never sent us anything: with several listeners, its INVITE leaves from
/// the one on the address the host's routing table would send from (asked of the shell).
#[test]
fn a_fixed_uri_is_called_from_the_listener_its_route_goes_out_of() {
    let public: SocketAddr = "203.0.113.1:5060".parse().unwrap();
    let private: SocketAddr = "10.1.0.1:5060".parse().unwrap();
    let listeners = vec![Listener::at(Transport::Udp, public), Listener::at(Transport::Udp, private)];
    let agent_net = |ip: IpAddr| -> Option<IpAddr> {
        let internal = matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 10);
        Some(if internal { IpAddr::from([10, 1, 0, 1]) } else { IpAddr::from([203, 0, 113, 1]) })
    };
    let mut w =
        world_on(Vec::new(), Trunk::default(), listeners.clone(), Some(RouteSource(Box::new(agent_net))));
    w.local = Some(public);
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    let inv = w.request_to(AGENT);
    assert!(inv.headers.get("Via").unwrap().contains("10.1.0.1:5060"), "{inv:?}");
    let agent: SocketAddr = AGENT.parse().unwrap();
    assert!(w.froms.iter().any(|&(to, from)| to == agent && from == Some(private)), "{:?}", w.froms);
    // Without the shell's answer: the first listener, as with one.
    let mut w = world_on(Vec::new(), Trunk::default(), listeners, None);
    w.input(CARRIER, &invite("z9hG4bKinv1", OFFER));
    assert!(w.request_to(AGENT).headers.get("Via").unwrap().contains("203.0.113.1:5060"));
}

/// Two TCP listeners on one address: a call that came in on the second is answered with the
/// second in Contact (the first listener on the same IP must not win).
#[test]
fn a_stream_is_answered_with_the_listener_it_came_in_at() {
    let first: SocketAddr = "203.0.113.1:5060".parse().unwrap();
    let second: SocketAddr = "203.0.113.1:5080".parse().unwrap();
    let listeners = vec![
        Listener::at(Transport::Udp, first),
        Listener::at(Transport::Tcp, first),
        Listener::at(Transport::Tcp, second),
    ];
    let mut w = world_on(Vec::new(), Trunk::default(), listeners, None);
    let carrier = Target {
        transport: Transport::Tcp,
        addr: CARRIER.parse().unwrap(),
        conn: Some(4),
        local: Some(second),
    };
    let offer = invite("z9hG4bKtcp1", OFFER).replace("SIP/2.0/UDP 192.0.2.10", "SIP/2.0/TCP 192.0.2.10");
    w.core.handle_input(w.now, &mut w.plane, &mut w.rng, carrier, offer.as_bytes());
    w.drain();
    let inv = w.request_to(AGENT);
    w.input(AGENT, &agent_response(&inv, 200, ANSWER));
    let msgs = w.take(CARRIER);
    let ok = msgs
        .iter()
        .find_map(|m| match m {
            Message::Response(r) if r.status == 200 => Some(r),
            _ => None,
        })
        .expect("the 200");
    let contact = ok.headers.get("Contact").unwrap();
    assert!(contact.contains("203.0.113.1:5080;transport=tcp"), "{contact}");
}
