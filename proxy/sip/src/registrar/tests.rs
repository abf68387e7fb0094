#![allow(clippy::unwrap_used)]

use super::*;

const AOR: &str = "sip:alice@Example.COM";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn udp(port: u16) -> Origin {
    Origin {
        source: SocketAddr::from(([203, 0, 113, 7], port)),
        transport: TransportKind::Udp,
        connection: None,
        local: None,
    }
}

fn contact(uri: &str, expires: Option<u32>) -> RequestedContact<'_> {
    RequestedContact { uri, expires }
}

fn req<'a>(
    call_id: &'a str,
    cseq: u32,
    expires: Option<u32>,
    contacts: &'a [RequestedContact<'a>],
) -> RegisterRequest<'a> {
    RegisterRequest { aor: AOR, call_id, cseq, expires, contacts: ContactsRequest::List(contacts) }
}

fn uris<'a>(it: impl Iterator<Item = &'a Binding>) -> Vec<&'a str> {
    it.map(|b| b.uri.as_str()).collect()
}

#[test]
fn expiry_precedence_clamping_and_lapse() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let cs = [contact("sip:a@10.0.0.1", Some(120)), contact("sip:b@10.0.0.2", None)];
    let got = r.register(secs(0), &req("c1", 1, Some(600), &cs), udp(5060)).unwrap();
    let expiries: Vec<_> = got.iter().map(|b| (b.uri.as_str(), b.expires_in(secs(0)))).collect();
    assert_eq!(expiries, [("sip:b@10.0.0.2", 600), ("sip:a@10.0.0.1", 120)], "param beats header");

    let cs = [contact("sip:c@10.0.0.3", None)];
    let got = r.register(secs(0), &req("c2", 1, None, &cs), udp(5061)).unwrap();
    assert_eq!(got[0].expires_in(secs(0)), 3600, "default when neither says");
    let cs = [contact("sip:d@10.0.0.4", Some(86_400))];
    let got = r.register(secs(0), &req("c3", 1, None, &cs), udp(5062)).unwrap();
    assert_eq!(got[0].expires_in(secs(0)), 3600, "clamped to max");
    assert_eq!(got[0].expires_in(secs(10) + Duration::from_millis(1)), 3590, "rounded up");

    assert_eq!(uris(r.lookup(secs(119), AOR)).len(), 4);
    assert_eq!(uris(r.lookup(secs(120), AOR)), ["sip:d@10.0.0.4", "sip:c@10.0.0.3", "sip:b@10.0.0.2"]);
    assert_eq!(r.poll_timeout(), Some(secs(120)));
    r.expire(secs(120));
    assert_eq!(r.poll_timeout(), Some(secs(600)));
    r.expire(secs(3600));
    assert!(r.is_empty() && r.poll_timeout().is_none());
    assert_eq!(r.lookup(secs(0), AOR).count(), 0);
}

#[test]
fn too_brief_is_423_and_changes_nothing() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let cs = [contact("sip:a@10.0.0.1", None)];
    r.register(secs(0), &req("c1", 1, None, &cs), udp(1)).unwrap();
    let cs = [contact("sip:b@10.0.0.2", Some(300)), contact("sip:a@10.0.0.1", Some(59))];
    assert_eq!(
        r.register(secs(1), &req("c1", 2, None, &cs), udp(1)),
        Err(RegisterError::IntervalTooBrief { min: 60 })
    );
    assert_eq!(uris(r.lookup(secs(1), AOR)), ["sip:a@10.0.0.1"], "atomic: b was not added");
    let cs = [contact("sip:a@10.0.0.1", None)];
    assert_eq!(
        r.register(secs(1), &req("c1", 3, Some(30), &cs), udp(1)),
        Err(RegisterError::IntervalTooBrief { min: 60 }),
        "the Expires header is checked too"
    );
    let cs = [contact("sip:a@10.0.0.1", Some(60))];
    assert!(r.register(secs(1), &req("c1", 4, None, &cs), udp(1)).is_ok(), "the minimum itself is fine");
}

#[test]
fn expires_zero_removes_one_binding() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let cs = [contact("sip:a@10.0.0.1", None), contact("sip:b@10.0.0.2", None)];
    r.register(secs(0), &req("c1", 1, None, &cs), udp(1)).unwrap();
    let cs = [contact("sip:a@10.0.0.1", Some(0))];
    let got = r.register(secs(5), &req("c1", 2, Some(3600), &cs), udp(1)).unwrap();
    assert_eq!(uris(got.iter()), ["sip:b@10.0.0.2"]);
    let cs = [contact("sip:b@10.0.0.2", None)];
    let got = r.register(secs(6), &req("c1", 3, Some(0), &cs), udp(1)).unwrap();
    assert!(got.is_empty() && r.is_empty());
}

#[test]
fn query_returns_bindings_unchanged() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let cs = [contact("sip:a@10.0.0.1", None)];
    r.register(secs(0), &req("c1", 1, None, &cs), udp(1)).unwrap();
    let got = r.register(secs(100), &req("other", 1, None, &[]), udp(2)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expires_in(secs(100)), 3500);
    assert_eq!(got[0].origin, udp(1), "a query does not move the binding");
}

#[test]
fn out_of_order_cseq_is_500_per_call_id() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let cs = [contact("sip:a@10.0.0.1", None)];
    r.register(secs(0), &req("c1", 5, None, &cs), udp(1)).unwrap();
    assert_eq!(
        r.register(secs(1), &req("c1", 5, None, &cs), udp(1)),
        Err(RegisterError::OutOfOrder),
        "replay"
    );
    assert_eq!(
        r.register(secs(1), &req("c1", 4, None, &cs), udp(1)),
        Err(RegisterError::OutOfOrder),
        "reordered"
    );
    let got = r.register(secs(1), &req("c1", 6, Some(0), &cs), udp(1));
    assert_eq!(got, Ok(vec![]), "a higher CSeq is applied");
    r.register(secs(2), &req("c1", 7, None, &cs), udp(1)).unwrap();
    // A rebooted phone starts a new Call-ID with a low CSeq: that is allowed.
    let got = r.register(secs(3), &req("c2", 1, None, &cs), udp(9)).unwrap();
    assert_eq!((got.len(), got[0].origin), (1, udp(9)));
}

#[test]
fn wildcard_removes_all_only_with_expires_zero() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let cs = [contact("sip:a@10.0.0.1", None), contact("sip:b@10.0.0.2", None)];
    r.register(secs(0), &req("c1", 1, None, &cs), udp(1)).unwrap();
    let wildcard = |call_id, cseq, expires| RegisterRequest {
        aor: "SIP:alice@example.com",
        call_id,
        cseq,
        expires,
        contacts: ContactsRequest::Wildcard,
    };
    for expires in [None, Some(3600)] {
        assert_eq!(
            r.register(secs(1), &wildcard("c9", 1, expires), udp(1)),
            Err(RegisterError::InvalidWildcard)
        );
    }
    assert_eq!(r.register(secs(1), &wildcard("c1", 1, Some(0)), udp(1)), Err(RegisterError::OutOfOrder));
    assert_eq!(r.lookup(secs(1), AOR).count(), 2);
    assert_eq!(r.register(secs(1), &wildcard("c9", 1, Some(0)), udp(1)), Ok(vec![]));
    assert!(r.is_empty());
}

#[test]
fn too_many_bindings_is_refused_atomically() {
    let mut r = Registrar::new(RegistrarConfig { max_bindings_per_aor: 2, ..RegistrarConfig::default() });
    let cs = [contact("sip:a@h", None), contact("sip:b@h", None)];
    r.register(secs(0), &req("c1", 1, None, &cs), udp(1)).unwrap();
    let cs = [contact("sip:c@h", None)];
    assert_eq!(
        r.register(secs(1), &req("c2", 1, None, &cs), udp(1)),
        Err(RegisterError::TooManyBindings { max: 2 })
    );
    assert_eq!(uris(r.lookup(secs(1), AOR)), ["sip:b@h", "sip:a@h"]);
    // Replacing one in the same request fits.
    let cs = [contact("sip:a@h", Some(0)), contact("sip:c@h", None)];
    let got = r.register(secs(1), &req("c2", 2, None, &cs), udp(1)).unwrap();
    assert_eq!(uris(got.iter()), ["sip:c@h", "sip:b@h"]);
    // Expired bindings do not count against the limit.
    let cs = [contact("sip:d@h", None), contact("sip:e@h", None)];
    assert_eq!(r.register(secs(4000), &req("c3", 1, None, &cs), udp(1)).unwrap().len(), 2);
}

#[test]
fn nat_source_and_connection_are_remembered() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let behind_nat = [contact("sip:agent7@192.168.1.20:5060;transport=tcp", None)];
    let tls = Origin {
        source: SocketAddr::from(([198, 51, 100, 4], 41_234)),
        transport: TransportKind::Tls,
        connection: Some(77),
        local: Some(SocketAddr::from(([192, 0, 2, 1], 5061))),
    };
    r.register(secs(0), &req("c1", 1, None, &behind_nat), tls).unwrap();
    let b = r.lookup(secs(1), AOR).next().unwrap();
    assert_eq!(b.uri, "sip:agent7@192.168.1.20:5060;transport=tcp");
    assert_eq!(b.origin, tls, "reach the agent where its REGISTER came from, over its connection");

    // The agent's NAT mapping changes: the refresh moves the binding to the new source.
    let moved = Origin { connection: Some(78), source: SocketAddr::from(([198, 51, 100, 4], 50_000)), ..tls };
    r.register(secs(60), &req("c1", 2, None, &behind_nat), moved).unwrap();
    assert_eq!(r.lookup(secs(61), AOR).map(|b| b.origin).collect::<Vec<_>>(), [moved]);
}

#[test]
fn lookup_is_most_recent_first_and_aor_host_case_insensitive() {
    let mut r = Registrar::new(RegistrarConfig::default());
    for (i, uri) in ["sip:a@h", "sip:b@h", "sip:c@h"].into_iter().enumerate() {
        let cs = [contact(uri, None)];
        r.register(secs(i as u64), &req("c1", i as u32 + 1, None, &cs), udp(1)).unwrap();
    }
    let cs = [contact("sip:a@h", None)];
    r.register(secs(10), &req("c1", 10, None, &cs), udp(1)).unwrap();
    assert_eq!(uris(r.lookup(secs(11), "SIP:alice@example.com")), ["sip:a@h", "sip:c@h", "sip:b@h"]);
    assert_eq!(r.lookup(secs(11), "sip:Alice@example.com").count(), 0, "the user part is case-sensitive");
    assert_eq!(aor_key("sips:Bob@EX.com"), "sips:Bob@ex.com");
    assert_eq!(aor_key("sip:a@b@EX"), "sip:a@b@ex", "the host follows the last @");
    assert_eq!(aor_key("sip:EX.com"), "sip:ex.com");
}
