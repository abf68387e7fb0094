//! One leg's dialog (RFC 3261 §12): what the B2BUA needs to send requests within it and to
//! check the requests its peer sends within it.
//!
//! It keeps the dialog state §12.1 lists (Call-ID, tags, remote target, route set, both CSeq
//! numbers) and builds requests from it, loose or strict routed as the route set asks
//! (§12.2.1.1). It does not match requests to dialogs, send anything, or decide what a request
//! means: the B2BUA core does.

use tonewall_sip::message::{Method, NameAddr, Request, Uri, split_list};
use tonewall_sip::transaction::Target;

/// A dialog as seen from Tonewall's side of one leg.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// The leg's Call-ID.
    pub call_id: String,
    /// Our URI with our tag, as a From/To value (`<sip:…>;tag=…`).
    pub local: String,
    /// The peer's URI with its tag, once known.
    pub remote: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag, once known.
    pub remote_tag: Option<String>,
    /// The peer's Contact URI: the Request-URI of requests in the dialog (or, behind a strict
    /// router, their last Route). Target refreshes replace it ([`Dialog::refresh_target`]).
    pub remote_target: String,
    /// Route headers for requests in the dialog, in order. Fixed when the dialog is made: target
    /// refreshes never change it (RFC 3261 §12.2.1.2).
    pub route_set: Vec<String>,
    /// Our last CSeq number in the dialog.
    pub local_cseq: u32,
    /// The peer's last CSeq number in the dialog (`None` until it sent a request in it: the
    /// called side's first request may start anywhere, RFC 3261 §12.2.2).
    pub remote_cseq: Option<u32>,
    /// The flow requests in the dialog go over (symmetric: where the peer's messages came from).
    ///
    /// Not the remote target's host, on purpose: peers sit behind NAT (an agent's Contact names
    /// a private address) and carriers send from an SBC whose Contact names another host. And a
    /// Contact is the peer's word, not its address: were packets routed by it, a target refresh
    /// naming a third party would turn Tonewall into a packet cannon. The remote target only
    /// names the request (its Request-URI), the flow decides where it goes; the route set's first
    /// hop is, in practice, that same address (the proxy the peer's messages come through).
    pub target: Target,
}

impl Dialog {
    /// A request in the dialog with the next CSeq (or `cseq` when given: ACK and CANCEL reuse the
    /// INVITE's). The caller adds Via (and Contact for target-refreshing requests).
    ///
    /// With a route set whose first entry has `lr` (a loose router, RFC 3261 §16.12) the
    /// Request-URI is the remote target and the route set goes in Route as it is. A first entry
    /// without `lr` is a strict router (RFC 2543), which routes by the Request-URI and would
    /// lose the remote target if it stayed there: the Request-URI becomes that entry's URI, the
    /// rest of the route set follows in Route, and the remote target is the last Route
    /// (§12.2.1.1).
    pub fn request(&mut self, method: Method, cseq: Option<u32>) -> Request {
        let seq = match cseq {
            Some(n) => n,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let strict = self.route_set.first().and_then(|first| strict_request_uri(first));
        let uri = strict.clone().unwrap_or_else(|| self.remote_target.clone());
        let mut r = Request::new(method.clone(), uri);
        r.headers.push("Max-Forwards", "70");
        r.headers.push("From", self.local.clone());
        r.headers.push("To", self.remote.clone());
        r.headers.push("Call-ID", self.call_id.clone());
        r.headers.push("CSeq", format!("{seq} {method}"));
        let routes = if strict.is_some() { &self.route_set[1..] } else { &self.route_set[..] };
        for route in routes {
            r.headers.push("Route", route.clone());
        }
        if strict.is_some() {
            r.headers.push("Route", format!("<{}>", self.remote_target));
        }
        r
    }

    /// A target refresh (re-INVITE, UPDATE, or the 2xx answering one we sent) carried
    /// `contact`: its URI becomes the remote target (RFC 3261 §12.2.1.2 and §12.2.2, RFC 3311
    /// §5). A Contact that is missing, `*`, a list, or not a SIP/SIPS URI changes nothing: a
    /// dialog must keep a target it can reach. Returns whether the target changed.
    pub fn refresh_target<'a>(&mut self, mut contacts: impl Iterator<Item = &'a str>) -> bool {
        let (Some(contact), None) = (contacts.next(), contacts.next()) else { return false };
        let Ok(parsed) = NameAddr::parse(contact) else { return false };
        if Uri::parse(&parsed.uri).is_err() || parsed.uri == self.remote_target {
            return false;
        }
        self.remote_target = parsed.uri;
        true
    }

    /// Whether the peer's request with CSeq number `seq` is in order, remembering it if so.
    ///
    /// RFC 3261 §12.2.2: a number lower than the last one is out of order (the caller answers
    /// 500 and changes nothing); equal or higher is in order. An equal number is a
    /// retransmission the transaction layer absorbed before it got here, or a CANCEL or ACK,
    /// which reuse their INVITE's number and are not checked (the caller skips them).
    pub fn accept_remote_cseq(&mut self, seq: u32) -> bool {
        if self.remote_cseq.is_some_and(|last| seq < last) {
            return false;
        }
        self.remote_cseq = Some(seq);
        true
    }
}

/// The Request-URI for a request whose first route is `route`, when that route is a strict
/// router (no `lr`): its URI without the parts a Request-URI may not hold (the `method`
/// parameter and headers, RFC 3261 §19.1.1). `None` for a loose router, and for a route that
/// does not parse (left as a Route: better a request a strict router may misroute than one
/// with a Request-URI that is no URI).
fn strict_request_uri(route: &str) -> Option<String> {
    let name_addr = NameAddr::parse(route).ok()?;
    let mut uri = Uri::parse(&name_addr.uri).ok()?;
    // In an addr-spec (no angle brackets) the parameters parse as the header's: `lr` there
    // still means a loose router.
    if uri.params.get("lr").is_some() || name_addr.param("lr").is_some() {
        return None;
    }
    uri.params.remove("method");
    uri.headers = None;
    Some(uri.to_string())
}

/// The route set from Record-Route values: as is on the UAS side, reversed on the UAC side.
pub fn route_set(record_route: &[String], reverse: bool) -> Vec<String> {
    let mut v: Vec<String> = record_route.iter().flat_map(|v| split_list(v)).map(str::to_string).collect();
    if reverse {
        v.reverse();
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tonewall_sip::transaction::Transport;

    fn dialog(route_set: &[&str]) -> Dialog {
        Dialog {
            call_id: "c".into(),
            local: "<sip:us@203.0.113.1>;tag=l".into(),
            remote: "<sip:peer@192.0.2.10>;tag=r".into(),
            local_tag: "l".into(),
            remote_tag: Some("r".into()),
            remote_target: "sip:peer@192.0.2.10:5060".into(),
            route_set: route_set.iter().map(|r| r.to_string()).collect(),
            local_cseq: 4,
            remote_cseq: None,
            target: Target {
                transport: Transport::Udp,
                addr: "192.0.2.10:5060".parse().unwrap(),
                conn: None,
                local: None,
            },
        }
    }

    fn routes(r: &Request) -> Vec<&str> {
        r.headers.values("Route").collect()
    }

    #[test]
    fn loose_routes_keep_the_target_as_request_uri() {
        let mut d = dialog(&["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        let r = d.request(Method::Bye, None);
        assert_eq!(r.uri, "sip:peer@192.0.2.10:5060");
        assert_eq!(routes(&r), vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        assert_eq!(r.cseq().unwrap().seq, 5);
        // ACK reuses the INVITE's number and does not move ours.
        assert_eq!(d.request(Method::Ack, Some(5)).cseq().unwrap().seq, 5);
        assert_eq!(d.local_cseq, 5);
    }

    #[test]
    fn a_strict_first_route_becomes_the_request_uri_without_what_a_request_uri_may_not_hold() {
        // RFC 3261 §12.2.1.1's example shape: route set (strict, loose), target appended last.
        let mut d =
            dialog(&["<sip:p1.example;method=INVITE;transport=tcp?Subject=x>", "<sip:p2.example;lr>"]);
        let r = d.request(Method::Invite, None);
        assert_eq!(r.uri, "sip:p1.example;transport=tcp", "method and headers stripped (§19.1.1)");
        assert_eq!(routes(&r), vec!["<sip:p2.example;lr>", "<sip:peer@192.0.2.10:5060>"]);
        // A single strict router: only the target in Route.
        let r = dialog(&["<sip:p1.example>"]).request(Method::Bye, None);
        assert_eq!((r.uri.as_str(), routes(&r)), ("sip:p1.example", vec!["<sip:peer@192.0.2.10:5060>"]));
    }

    #[test]
    fn lr_as_an_addr_spec_parameter_is_still_loose_and_an_unreadable_route_stays_a_route() {
        let r = dialog(&["sip:p1.example;lr"]).request(Method::Bye, None);
        assert_eq!((r.uri.as_str(), routes(&r)), ("sip:peer@192.0.2.10:5060", vec!["sip:p1.example;lr"]));
        let r = dialog(&["<not a uri>"]).request(Method::Bye, None);
        assert_eq!(r.uri, "sip:peer@192.0.2.10:5060");
    }

    #[test]
    fn remote_cseq_starts_anywhere_then_never_goes_back() {
        let mut d = dialog(&[]);
        assert!(d.accept_remote_cseq(7000), "the first number sets the start");
        assert!(d.accept_remote_cseq(7000), "equal is in order");
        assert!(!d.accept_remote_cseq(6999));
        assert_eq!(d.remote_cseq, Some(7000), "an out-of-order request changes nothing");
        assert!(d.accept_remote_cseq(7001));
        assert_eq!(d.remote_cseq, Some(7001));
    }

    #[test]
    fn only_one_sip_contact_refreshes_the_target() {
        let mut d = dialog(&[]);
        assert!(!d.refresh_target(std::iter::empty()));
        assert!(!d.refresh_target(["<tel:+15550100>"].into_iter()));
        assert!(!d.refresh_target(["<sip:a@h>", "<sip:b@h>"].into_iter()));
        assert!(!d.refresh_target(["<sip:peer@192.0.2.10:5060>"].into_iter()), "the same target");
        assert!(d.refresh_target(["\"P\" <sips:peer@192.0.2.99;transport=tls>;expires=60"].into_iter()));
        assert_eq!(d.remote_target, "sips:peer@192.0.2.99;transport=tls");
    }
}
