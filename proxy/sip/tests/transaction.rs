//! RFC 3261 §17 transactions on virtual time: retransmission schedules, absorption of copies,
//! the ACK of non-2xx responses, 2xx retransmission until the ACK, and a whole INVITE exchange
//! over a link that loses and reorders messages.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;
use tonewall_sip::message::{Message, Method, Request, parse};
use tonewall_sip::transaction::{
    Incoming, Received, Target, TimerConfig, Transactions, Transport, TxEvent, TxId,
};

const MS: Duration = Duration::from_millis(1);

fn target(port: u16, transport: Transport) -> Target {
    Target { transport, addr: SocketAddr::from(([127, 0, 0, 1], port)), conn: None, local: None }
}

fn request(method: Method, branch: &str, cseq: u32) -> Request {
    let text = format!(
        "{m} sip:agent@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=f1\r\nTo: <sip:agent@127.0.0.1>\r\n\
         Call-ID: tx-test\r\nCSeq: {cseq} {m}\r\n\r\n",
        m = method.as_str()
    );
    match parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

/// Runs the layer's timers from `from` to `to` in 1 ms steps; returns the times of transmits.
fn run(tx: &mut Transactions, from: Duration, to: Duration) -> Vec<Duration> {
    let mut sent = Vec::new();
    let mut now = from;
    while now <= to {
        if tx.poll_timeout().is_some_and(|t| t <= now) {
            tx.handle_timeout(now);
            // Early or repeated calls change nothing.
            tx.handle_timeout(now);
        }
        while tx.poll_transmit().is_some() {
            sent.push(now);
        }
        now += MS;
    }
    sent
}

fn drain(tx: &mut Transactions) -> Vec<Message> {
    std::iter::from_fn(|| tx.poll_transmit()).map(|t| parse(&t.bytes).unwrap()).collect()
}

#[test]
fn invite_client_retransmits_on_timer_a_doubling_and_times_out_on_b() {
    let mut tx = Transactions::new(TimerConfig::default());
    let id =
        tx.send_request(Duration::ZERO, request(Method::Invite, "z9hG4bKa", 1), target(5070, Transport::Udp));
    let sent = run(&mut tx, Duration::ZERO, Duration::from_secs(40));
    let secs: Vec<u64> = sent.iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(secs, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(tx.poll_event(), Some(TxEvent::Timeout(id)));
    assert!(tx.is_empty());
}

#[test]
fn non_invite_client_caps_timer_e_at_t2_and_a_provisional_jumps_to_t2() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Bye, "z9hG4bKb", 2);
    let id = tx.send_request(Duration::ZERO, req.clone(), target(5070, Transport::Udp));
    let sent = run(&mut tx, Duration::ZERO, Duration::from_secs(33));
    let ms: Vec<u64> = sent.iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(ms, vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert_eq!(tx.poll_event(), Some(TxEvent::Timeout(id)));

    let mut tx = Transactions::new(TimerConfig::default());
    let id = tx.send_request(Duration::ZERO, req.clone(), target(5070, Transport::Udp));
    run(&mut tx, Duration::ZERO, 100 * MS);
    let trying = req.response(100, "Trying", None);
    assert!(matches!(tx.receive_response(100 * MS, trying), Received::Response { tx: t, .. } if t == id));
    let sent = run(&mut tx, 101 * MS, Duration::from_millis(9000));
    let ms: Vec<u64> = sent.iter().map(|d| d.as_millis() as u64).collect();
    // Timer E was armed for 500 ms; from then on every T2.
    assert_eq!(ms, vec![500, 4500, 8500]);
    let ok = req.response(200, "OK", Some("t"));
    assert!(matches!(tx.receive_response(9 * 1000 * MS, ok.clone()), Received::Response { .. }));
    // A copy of the final response is absorbed during Timer K, then the transaction is gone.
    assert!(matches!(tx.receive_response(9100 * MS, ok.clone()), Received::Absorbed));
    assert!(run(&mut tx, 9001 * MS, 15000 * MS).is_empty());
    assert!(tx.is_empty());
    assert!(matches!(tx.receive_response(15000 * MS, ok), Received::Stray(_)));
}

#[test]
fn a_non_2xx_final_response_is_acked_by_the_layer_and_copies_re_acked() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Invite, "z9hG4bKc", 7);
    let id = tx.send_request(Duration::ZERO, req.clone(), target(5070, Transport::Udp));
    drain(&mut tx);
    let busy = req.response(486, "Busy Here", Some("uas"));
    assert!(
        matches!(tx.receive_response(10 * MS, busy.clone()), Received::Response { tx: t, .. } if t == id)
    );
    let sent = drain(&mut tx);
    assert_eq!(sent.len(), 1);
    let Message::Request(ack) = &sent[0] else { panic!("not an ACK") };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.cseq().unwrap().seq, 7);
    assert_eq!(ack.to().unwrap().tag(), Some("uas"));
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKc"));
    // Timer A stopped: only the ACK is repeated, once per copy of the 486.
    assert!(matches!(tx.receive_response(600 * MS, busy), Received::Absorbed));
    assert_eq!(drain(&mut tx).len(), 1);
    assert!(run(&mut tx, 601 * MS, Duration::from_secs(40)).is_empty());
    assert!(tx.is_empty(), "Timer D ended the transaction");
}

#[test]
fn invite_server_sends_100_repeats_responses_to_copies_and_retransmits_a_failure_until_ack() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Invite, "z9hG4bKd", 1);
    let src = target(5070, Transport::Udp);
    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, req.clone(), src) else { panic!() };
    let sent = drain(&mut tx);
    assert!(matches!(&sent[..], [Message::Response(r)] if r.status == 100));
    assert!(matches!(tx.receive_request(200 * MS, req.clone(), src), Incoming::Absorbed));
    assert!(matches!(&drain(&mut tx)[..], [Message::Response(r)] if r.status == 100));
    assert!(tx.respond(300 * MS, id, &req.response(486, "Busy Here", Some("b"))));
    assert!(matches!(&drain(&mut tx)[..], [Message::Response(r)] if r.status == 486));
    let sent = run(&mut tx, 301 * MS, 2000 * MS);
    let ms: Vec<u64> = sent.iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(ms, vec![800, 1800], "Timer G doubles from T1");
    let mut ack = request(Method::Ack, "z9hG4bKd", 1);
    ack.headers.set("To", "<sip:agent@127.0.0.1>;tag=b");
    assert!(matches!(tx.receive_request(2000 * MS, ack.clone(), src), Incoming::Absorbed));
    assert!(
        run(&mut tx, 2001 * MS, 10_000 * MS).is_empty(),
        "no retransmissions once ACKed; Timer I ends it"
    );
    assert!(tx.is_empty());
    assert_eq!(tx.poll_event(), None);
}

#[test]
fn an_unacked_failure_ends_with_timer_h() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Invite, "z9hG4bKe", 1);
    let Incoming::New(Some(id), _) =
        tx.receive_request(Duration::ZERO, req.clone(), target(5070, Transport::Udp))
    else {
        panic!()
    };
    tx.respond(Duration::ZERO, id, &req.response(503, "Service Unavailable", Some("x")));
    let sent = run(&mut tx, Duration::ZERO, Duration::from_secs(33));
    // 1 (100) + 1 (503) + G at 0.5, 1.5, 3.5, 7.5, 11.5 … 31.5 s.
    assert_eq!(sent.len(), 2 + 10);
    assert_eq!(tx.poll_event(), Some(TxEvent::NoAck(id)));
}

#[test]
fn a_2xx_is_retransmitted_until_its_ack_which_the_caller_sees_once() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Invite, "z9hG4bKf", 3);
    let src = target(5070, Transport::Udp);
    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, req.clone(), src) else { panic!() };
    tx.respond(Duration::ZERO, id, &req.response(200, "OK", Some("a")));
    let sent = run(&mut tx, Duration::ZERO, 1600 * MS);
    assert_eq!(sent.len(), 4, "100, 200, and copies at 0.5 and 1.5 s");
    // A copy of the INVITE after the 2xx is absorbed without a reply (RFC 6026 Accepted).
    assert!(matches!(tx.receive_request(1600 * MS, req.clone(), src), Incoming::Absorbed));
    assert!(drain(&mut tx).is_empty());
    let mut ack = request(Method::Ack, "z9hG4bKnew", 3);
    ack.headers.set("To", "<sip:agent@127.0.0.1>;tag=a");
    assert!(matches!(tx.receive_request(1700 * MS, ack.clone(), src), Incoming::AckOf2xx(t, _) if t == id));
    assert!(matches!(tx.receive_request(1800 * MS, ack, src), Incoming::Absorbed));
    assert!(run(&mut tx, 1601 * MS, 40_000 * MS).is_empty());
    assert_eq!(tx.poll_event(), None);
    assert!(tx.is_empty());

    // Without an ACK the 2xx stops at Timer L and the call layer hears of it.
    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, req.clone(), src) else { panic!() };
    tx.respond(Duration::ZERO, id, &req.response(200, "OK", Some("a")));
    run(&mut tx, Duration::ZERO, Duration::from_secs(33));
    assert_eq!(tx.poll_event(), Some(TxEvent::NoAck(id)));
}

#[test]
fn streams_retransmit_nothing_and_wait_states_end_at_once() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Options, "z9hG4bKg", 1);
    let tcp = Target { conn: Some(9), ..target(5070, Transport::Tcp) };
    tx.send_request(Duration::ZERO, req.clone(), tcp);
    assert_eq!(run(&mut tx, Duration::ZERO, 10_000 * MS).len(), 1);
    tx.receive_response(10_000 * MS, req.response(200, "OK", Some("x")));
    run(&mut tx, 10_000 * MS, 10_001 * MS);
    assert!(tx.is_empty(), "Timer K is zero on a stream");

    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, req.clone(), tcp) else { panic!() };
    tx.respond(Duration::ZERO, id, &req.response(200, "OK", Some("y")));
    let sent = std::iter::from_fn(|| tx.poll_transmit()).collect::<Vec<_>>();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].target.conn, Some(9), "the reply goes back on the request's connection");
    run(&mut tx, Duration::ZERO, MS);
    assert!(tx.is_empty(), "Timer J is zero on a stream");
}

#[test]
fn responses_go_to_the_via_port_unless_rport_asks_for_the_source_port() {
    let mut tx = Transactions::new(TimerConfig::default());
    let req = request(Method::Options, "z9hG4bKh", 1);
    let natted = Target { addr: "198.51.100.7:40000".parse().unwrap(), ..target(0, Transport::Udp) };
    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, req.clone(), natted) else {
        panic!()
    };
    tx.respond(Duration::ZERO, id, &req.response(200, "OK", Some("x")));
    assert_eq!(tx.poll_transmit().unwrap().target.addr, "198.51.100.7:5070".parse().unwrap());

    let mut req = request(Method::Options, "z9hG4bKi", 1);
    req.headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bKi");
    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, req.clone(), natted) else {
        panic!()
    };
    tx.respond(Duration::ZERO, id, &req.response(200, "OK", Some("x")));
    assert_eq!(tx.poll_transmit().unwrap().target.addr, natted.addr);
}

#[test]
fn cancel_finds_its_invite_until_the_final_response() {
    let mut tx = Transactions::new(TimerConfig::default());
    let src = target(5070, Transport::Udp);
    let invite = request(Method::Invite, "z9hG4bKj", 1);
    let Incoming::New(Some(inv), _) = tx.receive_request(Duration::ZERO, invite.clone(), src) else {
        panic!()
    };
    let cancel = request(Method::Cancel, "z9hG4bKj", 1);
    let Incoming::New(Some(_), cancel) = tx.receive_request(MS, cancel, src) else {
        panic!("CANCEL is its own transaction")
    };
    assert_eq!(tx.invite_for_cancel(&cancel), Some(inv));
    tx.respond(2 * MS, inv, &invite.response(487, "Request Terminated", Some("z")));
    assert_eq!(tx.invite_for_cancel(&cancel), None);
}

/// A tiny deterministic PRNG for the lossy link.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// A UAC and a UAS over a link that drops `loss_pct` of the messages each way and delays each
/// by 5–80 ms (so messages overtake each other). The UAS answers 180 then 200; the UAC's core
/// ACKs every 2xx it is given. Returns (UAC saw 200, UAS saw the ACK, times UAS saw the ACK,
/// UAC timed out, UAS gave up on the ACK).
fn lossy_call(seed: u64, loss_pct: u64) -> (bool, bool, usize, bool, bool) {
    let uac_addr = target(5070, Transport::Udp);
    let uas_addr = target(5080, Transport::Udp);
    let mut uac = Transactions::new(TimerConfig::default());
    let mut uas = Transactions::new(TimerConfig::default());
    let mut rng = Lcg(seed);
    // (arrival time, to UAS?, bytes)
    let mut link: Vec<(Duration, bool, Vec<u8>)> = Vec::new();
    let invite = request(Method::Invite, "z9hG4bKlossy", 1);
    let client = uac.send_request(Duration::ZERO, invite, uas_addr);
    let (mut got_200, mut acks, mut timed_out, mut no_ack) = (false, 0, false, false);
    let mut server: Option<TxId> = None;
    let mut answer_at: Option<Duration> = None;
    let mut now = Duration::ZERO;
    while now < Duration::from_secs(70) {
        for (to_uas, side) in [(true, &mut uac), (false, &mut uas)] {
            side.handle_timeout(now);
            while let Some(t) = side.poll_transmit() {
                if rng.next() % 100 >= loss_pct {
                    link.push((now + Duration::from_millis(5 + rng.next() % 75), to_uas, t.bytes));
                }
            }
        }
        let (due, rest): (Vec<_>, Vec<_>) = link.drain(..).partition(|(at, _, _)| *at <= now);
        link = rest;
        for (_, to_uas, bytes) in due {
            match (to_uas, parse(&bytes).unwrap()) {
                (true, Message::Request(r)) => match uas.receive_request(now, r, uac_addr) {
                    Incoming::New(Some(id), r) if r.method == Method::Invite => {
                        server = Some(id);
                        answer_at = Some(now + Duration::from_millis(300));
                        uas.respond(now, id, &r.response(180, "Ringing", Some("uas")));
                    }
                    Incoming::AckOf2xx(..) => acks += 1,
                    _ => {}
                },
                (false, Message::Response(resp)) => {
                    if let Received::Response { tx, response, .. } = uac.receive_response(now, resp)
                        && tx == client
                        && response.status == 200
                    {
                        got_200 = true;
                        // The core ACKs every copy of the 2xx (RFC 3261 §13.2.2.4).
                        let mut ack = request(Method::Ack, &format!("z9hG4bKack{}", now.as_millis()), 1);
                        ack.headers.set("To", response.headers.get("To").unwrap());
                        uac.send_stateless(uas_addr, ack.to_bytes());
                    }
                }
                _ => {}
            }
        }
        if let (Some(id), Some(at)) = (server, answer_at)
            && now >= at
        {
            answer_at = None;
            let r = request(Method::Invite, "z9hG4bKlossy", 1);
            uas.respond(now, id, &r.response(200, "OK", Some("uas")));
        }
        while let Some(e) = uac.poll_event() {
            timed_out |= matches!(e, TxEvent::Timeout(_));
        }
        while let Some(e) = uas.poll_event() {
            no_ack |= matches!(e, TxEvent::NoAck(_));
        }
        now += MS;
    }
    (got_200, acks > 0, acks, timed_out, no_ack)
}

#[test]
fn an_invite_survives_loss_and_reordering() {
    for seed in 0..200 {
        let (got_200, acked, acks, timed_out, no_ack) = lossy_call(seed, 30);
        // With 30% loss and 7 tries each way, every call completes: both ends agree.
        assert!(got_200 && acked, "seed {seed}: 200 seen {got_200}, ACK seen {acked}");
        assert_eq!(acks, 1, "seed {seed}: the call layer sees the ACK once");
        assert!(!timed_out && !no_ack, "seed {seed}");
    }
    // With a dead link both ends give up on their timers instead of hanging.
    let (got_200, acked, _, timed_out, _) = lossy_call(1, 100);
    assert!(!got_200 && !acked && timed_out);
}

#[test]
fn a_retransmission_is_known_only_while_its_transaction_lives_and_only_from_its_source() {
    let mut tx = Transactions::new(TimerConfig::default());
    let bye = request(Method::Bye, "z9hG4bKr", 2);
    let src = target(5070, Transport::Udp);
    let local = src.addr.ip();
    let stranger: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    assert!(!tx.is_retransmission(&bye, local), "no transaction yet");
    let Incoming::New(Some(id), _) = tx.receive_request(Duration::ZERO, bye.clone(), src) else { panic!() };
    assert!(tx.is_retransmission(&bye, local));
    assert!(!tx.is_retransmission(&bye, stranger), "the same bytes from elsewhere are no copy");
    assert!(!tx.is_retransmission(&request(Method::Bye, "z9hG4bKother", 3), local), "a new request");
    assert!(tx.respond(Duration::ZERO, id, &bye.response(200, "OK", None)));
    assert!(tx.is_retransmission(&bye, local), "Timer J keeps it to answer copies");
    assert_eq!(tx.len(), 1, "asking made no transaction");
    run(&mut tx, Duration::ZERO, Duration::from_secs(33));
    assert!(!tx.is_retransmission(&bye, local), "gone after Timer J");
}
