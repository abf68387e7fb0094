//! Offer/answer through the anchor, against a recording media plane: ports in the SDP each
//! party receives, codecs filtered toward the agent, parties placed by tag, o= versions per
//! leg, rejected streams, refusals that change nothing.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tonewall_dsp::Digit;
use tonewall_media::anchor::{
    Anchor, AnchorConfig, AnchorError, LegAddrs, MediaPlane, OfferOptions, SrtpPolicy,
};
use tonewall_media::relay::{LegId, Remote, SessionReport};
use tonewall_media::sdp::Sdp;
use tonewall_media::srtp::SrtpContext;

/// Records what the anchor asked of the relay; allocates ports like the relay does.
#[derive(Default)]
struct Plane {
    next: u64,
    live: Vec<u64>,
    signals: Vec<(u64, LegId, Remote)>,
    masking: Vec<(u64, LegId, bool)>,
    /// (session, leg, inbound replaced (keyed?), outbound replaced (keyed?))
    srtp: Vec<(u64, LegId, Option<bool>, Option<bool>)>,
    sides: Vec<[usize; 2]>,
    out_of_ports: bool,
    /// SIP INFO digits: (session, leg, key, duration).
    infos: Vec<(u64, LegId, char, Option<u32>)>,
}

fn addrs(ip: [u8; 4], port: u16) -> LegAddrs {
    LegAddrs { rtp: SocketAddr::from((ip, port)), rtcp: SocketAddr::from((ip, port + 1)) }
}

impl MediaPlane for Plane {
    fn create(&mut self, _now: Duration, sides: [usize; 2]) -> std::io::Result<(u64, [LegAddrs; 2])> {
        self.sides.push(sides);
        if self.out_of_ports {
            return Err(std::io::ErrorKind::AddrInUse.into());
        }
        self.next += 1;
        self.live.push(self.next);
        let p = 30000 + 4 * self.next as u16;
        Ok((self.next, [addrs([10, 0, 0, 1], p), addrs([10, 1, 0, 1], p + 2)]))
    }
    fn signal(&mut self, id: u64, leg: LegId, remote: Remote) {
        self.signals.push((id, leg, remote));
    }
    fn set_masking(&mut self, id: u64, from: LegId, on: bool) {
        self.masking.push((id, from, on));
    }
    fn remove(&mut self, id: u64) -> Option<SessionReport> {
        let had = self.live.contains(&id);
        self.live.retain(|&l| l != id);
        had.then(SessionReport::default)
    }
    fn report(&mut self, id: u64) -> Option<SessionReport> {
        self.live.contains(&id).then(SessionReport::default)
    }
    fn update_srtp(
        &mut self,
        id: u64,
        leg: LegId,
        inbound: Option<Option<SrtpContext>>,
        outbound: Option<Option<SrtpContext>>,
    ) {
        self.srtp.push((id, leg, inbound.map(|c| c.is_some()), outbound.map(|c| c.is_some())));
    }
    fn sip_info(&mut self, id: u64, from: LegId, digit: Digit, duration_ms: Option<u32>) {
        self.infos.push((id, from, digit.as_char(), duration_ms));
    }
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(4568)
}

const CARRIER_OFFER: &str = "v=0\r\n\
o=carrier 1000 1000 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 18 0 8 101\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n";

const AGENT_ANSWER: &str = "v=0\r\n\
o=agent 77 77 IN IP4 198.51.100.20\r\n\
s=-\r\n\
c=IN IP4 198.51.100.20\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtcp:40005\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n";

fn anchor() -> Anchor {
    Anchor::new(AnchorConfig {
        advertised: [IpAddr::from([203, 0, 113, 1]), IpAddr::from([10, 1, 0, 1])],
        mask_a_to_b: true,
        mask_b_to_a: false,
        srtp: [SrtpPolicy::Mirror, SrtpPolicy::Mirror],
        agent_networks: vec![],
    })
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf-8")
}

#[test]
fn offer_and_answer_point_each_party_at_the_relay() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let to_agent = a
        .offer(
            ms(0),
            &mut plane,
            &mut rng(),
            b"call-1",
            b"tag-c",
            CARRIER_OFFER.as_bytes(),
            OfferOptions::default(),
        )
        .expect("offer");
    let sdp = text(&to_agent);
    // Toward the agent: the agent-side address and ports, G.711 only, no telephone-event.
    assert!(sdp.contains("c=IN IP4 10.1.0.1\r\n"), "{sdp}");
    assert!(sdp.contains("o=carrier 1000 1000 IN IP4 10.1.0.1\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 30006 RTP/AVP 0 8\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtcp:30007\r\n"), "{sdp}");
    assert!(!sdp.contains("telephone-event") && !sdp.contains("G729") && !sdp.contains("101"), "{sdp}");
    assert!(sdp.contains("m=video 0 RTP/AVP 96\r\n"), "the rejected stream stays rejected");
    assert_eq!(plane.live, vec![1], "one session: the rejected stream gets none");
    // The relay knows where the carrier is and which PT its events use; A → B is masked.
    let (id, leg, remote) = plane.signals[0];
    assert_eq!((id, leg), (1, LegId::A));
    assert_eq!(remote.rtp, Some(SocketAddr::from(([192, 0, 2, 10], 30000))));
    assert_eq!(remote.rtcp, Some(SocketAddr::from(([192, 0, 2, 10], 30001))));
    assert_eq!(remote.pts.telephone_event, Some(101));
    assert!(plane.masking.contains(&(1, LegId::A, true)) && plane.masking.contains(&(1, LegId::B, false)));

    let to_carrier = a
        .answer(ms(10), &mut plane, b"call-1", b"tag-a", AGENT_ANSWER.as_bytes(), OfferOptions::default())
        .expect("answer");
    let sdp = text(&to_carrier);
    assert!(sdp.contains("c=IN IP4 203.0.113.1\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 30004 RTP/AVP 0\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtcp:30005\r\n"), "{sdp}");
    assert!(!sdp.contains("198.51.100.20"), "the agent's address is hidden: {sdp}");
    let (_, leg, remote) = plane.signals[1];
    assert_eq!(leg, LegId::B);
    assert_eq!(remote.rtcp, Some(SocketAddr::from(([198, 51, 100, 20], 40005))));
    Sdp::parse(&to_carrier).expect("what we send parses");

    // A re-INVITE from the agent (hold): placed on leg B by its tag, answered through A's ports.
    let hold = AGENT_ANSWER.replace("a=sendrecv", "a=sendonly").replace("77 77", "77 78");
    let to_carrier2 = a
        .offer(ms(20), &mut plane, &mut rng(), b"call-1", b"tag-a", hold.as_bytes(), OfferOptions::default())
        .expect("re-offer");
    let sdp2 = text(&to_carrier2);
    assert!(sdp2.contains("m=audio 30004 RTP/AVP 0\r\n") && sdp2.contains("a=sendonly"), "{sdp2}");
    // Leg A's o= line: same session, version one up because the body changed.
    assert!(sdp.contains("o=agent 77 77 IN IP4 203.0.113.1"), "{sdp}");
    assert!(sdp2.contains("o=agent 77 78 IN IP4 203.0.113.1"), "{sdp2}");
    assert_eq!(plane.signals[2].1, LegId::B);
    assert_eq!(plane.live, vec![1], "no new session for a re-offer");

    let report = a.delete(&mut plane, b"call-1").expect("delete");
    assert_eq!(report.tags, [Some(b"tag-c".to_vec()), Some(b"tag-a".to_vec())]);
    assert_eq!(report.streams.len(), 2);
    assert!(plane.live.is_empty());
    assert_eq!(a.delete(&mut plane, b"call-1").map(|_| ()), Err(AnchorError::UnknownCall));
}

#[test]
fn an_offer_without_g711_is_refused_and_changes_nothing() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let g729 = CARRIER_OFFER.replace("m=audio 30000 RTP/AVP 18 0 8 101", "m=audio 30000 RTP/AVP 18 101");
    let g729 = g729.replace("a=rtpmap:0 PCMU/8000\r\n", "").replace("a=rtpmap:8 PCMA/8000\r\n", "");
    let e = a.offer(ms(0), &mut plane, &mut rng(), b"c", b"t", g729.as_bytes(), OfferOptions::default());
    assert!(matches!(e, Err(AnchorError::Unacceptable(_))), "{e:?}");
    assert!(plane.live.is_empty() && plane.signals.is_empty());
}

#[test]
fn parties_are_known_by_tag() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let o = OfferOptions::default();
    assert_eq!(
        a.answer(ms(0), &mut plane, b"nope", b"x", AGENT_ANSWER.as_bytes(), o).map(|_| ()),
        Err(AnchorError::UnknownCall)
    );
    a.offer(ms(0), &mut plane, &mut rng(), b"c", b"t1", CARRIER_OFFER.as_bytes(), o).expect("offer");
    a.answer(ms(0), &mut plane, b"c", b"t2", AGENT_ANSWER.as_bytes(), o).expect("answer");
    // A third party cannot re-offer into the call.
    assert_eq!(
        a.offer(ms(0), &mut plane, &mut rng(), b"c", b"t3", CARRIER_OFFER.as_bytes(), o).map(|_| ()),
        Err(AnchorError::UnknownParty)
    );
    assert!(matches!(
        a.offer(ms(0), &mut plane, &mut rng(), b"c", b"t1", b"garbage", o),
        Err(AnchorError::BadSdp(_))
    ));
    // block/unblock DTMF by tag.
    a.block_dtmf(&mut plane, b"c", Some(b"t2"), true).expect("block");
    assert_eq!(plane.masking.last(), Some(&(1, LegId::B, true)));
    a.block_dtmf(&mut plane, b"c", Some(b"t1"), false).expect("unblock");
    assert_eq!(plane.masking.last(), Some(&(1, LegId::A, false)));
    assert_eq!(a.block_dtmf(&mut plane, b"c", Some(b"t9"), true), Err(AnchorError::UnknownParty));
}

#[test]
fn nat_source_address_and_hold_and_ports_exhausted() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let nat =
        OfferOptions { source_address: Some(IpAddr::from([203, 0, 113, 50])), ..OfferOptions::default() };
    a.offer(ms(0), &mut plane, &mut rng(), b"c", b"t1", CARRIER_OFFER.as_bytes(), nat).expect("offer");
    assert_eq!(plane.signals[0].2.rtp, Some(SocketAddr::from(([203, 0, 113, 50], 30000))));
    // RFC 2543 hold: nothing may send on the leg.
    let held = CARRIER_OFFER.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
    let sdp = a
        .offer(ms(5), &mut plane, &mut rng(), b"c", b"t1", held.as_bytes(), OfferOptions::default())
        .expect("hold");
    assert_eq!(plane.signals[1].2.rtp, None);
    assert!(text(&sdp).contains("c=IN IP4 0.0.0.0"), "hold passes on: {}", text(&sdp));
    let mut full = Plane { out_of_ports: true, ..Plane::default() };
    assert_eq!(
        a.offer(ms(0), &mut full, &mut rng(), b"d", b"t1", CARRIER_OFFER.as_bytes(), OfferOptions::default())
            .map(|_| ()),
        Err(AnchorError::OutOfPorts)
    );
}

const SRTP_OFFER: &str = "v=0\r\n\
o=carrier 1000 1000 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 30000 RTP/SAVP 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIz\r\n";

#[test]
fn srtp_is_terminated_per_leg_and_keys_never_cross() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let o = OfferOptions::default();
    let to_agent =
        text(&a.offer(ms(0), &mut plane, &mut rng(), b"s", b"c", SRTP_OFFER.as_bytes(), o).expect("offer"));
    // The carrier's keys are the relay's to use, never the agent's to see; the carrier's
    // leg is keyed (inbound now, outbound with the relay's own key); mirror policy: the agent
    // is offered SRTP too, with a fresh key of the relay's.
    assert!(!to_agent.contains("NzB4d1BI") && !to_agent.contains("QUJDREVG"), "{to_agent}");
    assert!(to_agent.contains("m=audio 30006 RTP/SAVP 0\r\n"), "{to_agent}");
    assert_eq!(to_agent.matches("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:").count(), 1, "{to_agent}");
    // Carrier leg keyed both ways; the relay's key toward the agent installed once.
    assert_eq!(plane.srtp, vec![(1, LegId::A, Some(true), Some(true)), (1, LegId::B, None, Some(true))]);
    // The agent accepts the relay's key and sends its own.
    let agent_key = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:YWdlbnRhZ2VudGFnZW50YWdlbnRhZ2VudGFnZW50";
    let answer = format!(
        "v=0\r\no=agent 7 7 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n\
         m=audio 40000 RTP/SAVP 0\r\n{agent_key}\r\n"
    );
    let to_carrier = text(&a.answer(ms(1), &mut plane, b"s", b"a", answer.as_bytes(), o).expect("answer"));
    // The agent's key: inbound only; the relay's outbound context toward it stays.
    assert_eq!(plane.srtp.last(), Some(&(1, LegId::B, Some(true), None)));
    // The carrier gets the relay's key for its leg, answering its preferred offer (tag 2, the
    // 80-bit suite), and not the agent's.
    assert!(to_carrier.contains("m=audio 30004 RTP/SAVP 0\r\n"), "{to_carrier}");
    assert!(to_carrier.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:"), "{to_carrier}");
    assert!(!to_carrier.contains("YWdlbnRh"), "{to_carrier}");
    // The same answer again (Kamailio re-sends on a retransmitted 200): same keys, same SDP.
    let updates = plane.srtp.len();
    let again = text(&a.answer(ms(2), &mut plane, b"s", b"a", answer.as_bytes(), o).expect("answer again"));
    assert_eq!(again, to_carrier);
    assert_eq!(plane.srtp.len(), updates, "same keys: no context rebuilt");
    // The agent re-keys in a later answer: only its inbound context changes. Rebuilding the
    // relay's outbound one under the same key would restart its indices: keystream reuse.
    let rekey = answer
        .replace("YWdlbnRhZ2VudGFnZW50YWdlbnRhZ2VudGFnZW50", "bmV3a2V5bmV3a2V5bmV3a2V5bmV3a2V5bmV3a2V5");
    a.answer(ms(3), &mut plane, b"s", b"a", rekey.as_bytes(), o).expect("re-keyed answer");
    assert_eq!(plane.srtp.last(), Some(&(1, LegId::B, Some(true), None)));
    assert_eq!(plane.srtp.len(), updates + 1);
}

#[test]
fn no_key_crosses_in_any_section() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let o = OfferOptions::default();
    // Keys at session level, a MIKEY line, an ICE password, a k= line, and a rejected SRTP
    // video stream with its own a=crypto: none may reach the agent.
    let offer = SRTP_OFFER
        .replace("t=0 0\r\n", "k=clear:S3KR1TK3Y\r\na=key-mgmt:mikey QU1JS0VZTUlLRVk=\r\na=ice-pwd:icepasswordicepassword\r\nt=0 0\r\n")
        + "m=video 0 RTP/SAVP 96\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:VklERU9LRVlWSURFT0tFWVZJREVPS0VZVklERU8x\r\n";
    let out = text(&a.offer(ms(0), &mut plane, &mut rng(), b"k", b"c", offer.as_bytes(), o).expect("offer"));
    for secret in ["NzB4d1BI", "QUJDREVG", "S3KR1TK3Y", "QU1JS0VZ", "icepassword", "VklERU9LRVk"] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
    assert!(out.contains("m=video 0 RTP/SAVP 96\r\n"), "the rejected stream stays rejected: {out}");
}

#[test]
fn a_refused_offer_leaves_no_call_behind() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let o = OfferOptions::default();
    let g729 = CARRIER_OFFER.replace("RTP/AVP 18 0 8 101", "RTP/AVP 18 101");
    let g729 = g729.replace("a=rtpmap:0 PCMU/8000\r\n", "").replace("a=rtpmap:8 PCMA/8000\r\n", "");
    for i in 0..100u32 {
        let id = format!("flood-{i}");
        assert!(a.offer(ms(0), &mut plane, &mut rng(), id.as_bytes(), b"t", g729.as_bytes(), o).is_err());
    }
    let mut full = Plane { out_of_ports: true, ..Plane::default() };
    assert!(a.offer(ms(0), &mut full, &mut rng(), b"full", b"t", CARRIER_OFFER.as_bytes(), o).is_err());
    assert_eq!(a.calls(), 0);
}

#[test]
fn srtp_policy_is_enforced() {
    let mut a = Anchor::new(AnchorConfig {
        advertised: [IpAddr::from([203, 0, 113, 1]), IpAddr::from([10, 1, 0, 1])],
        mask_a_to_b: true,
        mask_b_to_a: false,
        srtp: [SrtpPolicy::Off, SrtpPolicy::Sdes],
        agent_networks: vec![],
    });
    let mut plane = Plane::default();
    let o = OfferOptions::default();
    // The carrier leg is plain only: an SRTP offer from it is refused.
    assert!(matches!(
        a.offer(ms(0), &mut plane, &mut rng(), b"p", b"c", SRTP_OFFER.as_bytes(), o),
        Err(AnchorError::Unacceptable(_))
    ));
    // A plain offer goes to the agent as SRTP; a plain answer from the agent is refused.
    let to_agent = text(
        &a.offer(ms(0), &mut plane, &mut rng(), b"q", b"c", CARRIER_OFFER.as_bytes(), o).expect("offer"),
    );
    assert!(
        to_agent.contains("RTP/SAVP") && to_agent.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80"),
        "{to_agent}"
    );
    assert!(matches!(
        a.answer(ms(1), &mut plane, b"q", b"a", AGENT_ANSWER.as_bytes(), o),
        Err(AnchorError::Unacceptable(_))
    ));
    // An SRTP answer with a key for a suite the relay did not offer is refused as well.
    let wrong = AGENT_ANSWER.replace("RTP/AVP 0", "RTP/SAVP 0").replace(
        "a=sendrecv",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:YWdlbnRhZ2VudGFnZW50YWdlbnRhZ2VudGFnZW50",
    );
    assert!(matches!(
        a.answer(ms(1), &mut plane, b"q", b"a", wrong.as_bytes(), o),
        Err(AnchorError::Unacceptable(_))
    ));
}

#[test]
fn an_offer_from_the_agents_network_makes_its_leg_the_agent_side() {
    use tonewall_media::anchor::Cidr;
    let mut a = Anchor::new(AnchorConfig {
        advertised: [IpAddr::from([203, 0, 113, 1]), IpAddr::from([10, 1, 0, 1])],
        mask_a_to_b: true,
        mask_b_to_a: false,
        srtp: [SrtpPolicy::Mirror, SrtpPolicy::Mirror],
        agent_networks: vec![Cidr::parse("198.51.100.0/24").expect("cidr")],
    });
    let mut plane = Plane::default();
    let o = OfferOptions::default();
    // The agent offers first (it calls out, or its 200 carries the offer of a delayed-offer
    // call): its leg A faces the agent side.
    let to_carrier = text(
        &a.offer(ms(0), &mut plane, &mut rng(), b"out", b"agent", AGENT_ANSWER.as_bytes(), o).expect("offer"),
    );
    assert_eq!(plane.sides, vec![[1, 0]]);
    // What the carrier sends (leg B now) is masked, what the agent sends (leg A) is not.
    assert!(plane.masking.contains(&(1, LegId::B, true)) && plane.masking.contains(&(1, LegId::A, false)));
    // The carrier is offered the carrier-facing address, G.711 only (it must send G.711).
    assert!(to_carrier.contains("c=IN IP4 203.0.113.1"), "{to_carrier}");
    let answer =
        text(&a.answer(ms(1), &mut plane, b"out", b"carrier", CARRIER_OFFER.as_bytes(), o).expect("answer"));
    assert!(answer.contains("c=IN IP4 10.1.0.1"), "the agent gets the agent-facing address: {answer}");
    // The control protocol can say it outright (ng `direction`), before any address rule.
    let mut plane3 = Plane::default();
    let said = OfferOptions { offerer_side: Some(1), ..OfferOptions::default() };
    a.offer(ms(0), &mut plane3, &mut rng(), b"said", b"x", CARRIER_OFFER.as_bytes(), said).expect("offer");
    assert_eq!(plane3.sides, vec![[1, 0]]);
    // Without the networks, the first offerer is the carrier, as before.
    let (mut b, mut plane2) = (anchor(), Plane::default());
    b.offer(ms(0), &mut plane2, &mut rng(), b"in", b"c", CARRIER_OFFER.as_bytes(), o).expect("offer");
    assert_eq!(plane2.sides, vec![[0, 1]]);
    // CIDR parsing and matching.
    let net = Cidr::parse("10.1.0.0/16").expect("cidr");
    assert!(
        net.contains("10.1.200.3".parse().expect("ip")) && !net.contains("10.2.0.1".parse().expect("ip"))
    );
    assert!(net.contains("::ffff:10.1.0.9".parse().expect("ip")), "IPv4-mapped matches");
    assert!(Cidr::parse("2001:db8::/32").expect("cidr").contains("2001:db8:1::1".parse().expect("ip")));
    assert!(Cidr::parse("10.0.0.0/33").is_none() && Cidr::parse("ten").is_none());
    assert!(Cidr::parse("0.0.0.0/0").expect("cidr").contains("192.0.2.1".parse().expect("ip")));
}

#[test]
fn the_latest_forked_answer_takes_the_leg() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let o = OfferOptions::default();
    a.offer(ms(0), &mut plane, &mut rng(), b"f", b"c", CARRIER_OFFER.as_bytes(), o).expect("offer");
    // Two forks answer (183 with SDP from two phones, then a 200 from the second): the relay's
    // B leg follows the latest, so media reaches the phone that answered.
    a.answer(ms(1), &mut plane, b"f", b"fork-1", AGENT_ANSWER.as_bytes(), o).expect("fork 1");
    let other = AGENT_ANSWER.replace("198.51.100.20", "198.51.100.21");
    a.answer(ms(2), &mut plane, b"f", b"fork-2", other.as_bytes(), o).expect("fork 2");
    let (_, leg, remote) = plane.signals.last().copied().expect("signalled");
    assert_eq!((leg, remote.rtp), (LegId::B, Some(SocketAddr::from(([198, 51, 100, 21], 40000)))));
    let report = a.query(&mut plane, b"f").expect("query");
    assert_eq!(report.tags[1].as_deref(), Some(&b"fork-2"[..]));
    assert_eq!(plane.live.len(), 1, "the forks share the call's one session");
}

#[test]
fn sip_info_digits_go_to_the_first_live_audio_stream_of_the_sending_party() {
    let (mut a, mut plane) = (anchor(), Plane::default());
    let o = OfferOptions::default();
    let five = Digit::from_char('5').expect("key");
    assert_eq!(a.sip_info(&mut plane, b"c", b"t1", five, None), Err(AnchorError::UnknownCall));
    // Video first (a live stream, session 1), then a rejected audio stream, then audio
    // (session 2).
    let offer = CARRIER_OFFER
        .replace("m=video 0 RTP/AVP 96\r\n", "m=audio 0 RTP/AVP 0\r\nm=audio 30010 RTP/AVP 0\r\n")
        .replace("m=audio 30000 RTP/AVP 18 0 8 101", "m=video 30000 RTP/AVP 96")
        .replace("a=rtpmap:18 G729/8000\r\n", "a=rtpmap:96 H264/90000\r\n");
    a.offer(ms(0), &mut plane, &mut rng(), b"c", b"t1", offer.as_bytes(), o).expect("offer");
    assert_eq!(plane.live, vec![1, 2]);
    a.sip_info(&mut plane, b"c", b"t1", five, Some(160)).expect("carrier's INFO");
    assert_eq!(plane.infos, vec![(2, LegId::A, '5', Some(160))]);
    assert_eq!(a.sip_info(&mut plane, b"c", b"t2", five, None), Err(AnchorError::UnknownParty));
    let answer = "v=0\r\no=agent 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n\
        m=video 40000 RTP/AVP 96\r\nm=audio 0 RTP/AVP 0\r\nm=audio 40002 RTP/AVP 0\r\n";
    a.answer(ms(10), &mut plane, b"c", b"t2", answer.as_bytes(), o).expect("answer");
    let hash = Digit::from_char('#').expect("key");
    a.sip_info(&mut plane, b"c", b"t2", hash, None).expect("agent's INFO");
    assert_eq!(plane.infos[1], (2, LegId::B, '#', None));
    // A call with no audio on the relay has nowhere to merge the digit.
    let video_only = "v=0\r\no=x 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
        m=video 30000 RTP/AVP 96\r\nm=audio 0 RTP/AVP 0\r\n";
    a.offer(ms(0), &mut plane, &mut rng(), b"v", b"t", video_only.as_bytes(), o).expect("offer");
    assert_eq!(a.sip_info(&mut plane, b"v", b"t", five, None), Err(AnchorError::NoAudio));
    assert_eq!(plane.infos.len(), 2);
}
