//! One leg's dialog (RFC 3261 §12): what the B2BUA needs to send requests within it.

use tonewall_sip::message::{Method, Request, split_list};
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
    /// The peer's Contact URI: the Request-URI of requests in the dialog.
    pub remote_target: String,
    /// Route headers for requests in the dialog, in order.
    pub route_set: Vec<String>,
    /// Our last CSeq number in the dialog.
    pub local_cseq: u32,
    /// The flow requests in the dialog go over (symmetric: where the peer's messages came from).
    pub target: Target,
}

impl Dialog {
    /// A request in the dialog with the next CSeq (or `cseq` when given: ACK and CANCEL reuse the
    /// INVITE's). The caller adds Via (and Contact for target-refreshing requests).
    pub fn request(&mut self, method: Method, cseq: Option<u32>) -> Request {
        let seq = match cseq {
            Some(n) => n,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let mut r = Request::new(method.clone(), self.remote_target.clone());
        r.headers.push("Max-Forwards", "70");
        r.headers.push("From", self.local.clone());
        r.headers.push("To", self.remote.clone());
        r.headers.push("Call-ID", self.call_id.clone());
        r.headers.push("CSeq", format!("{seq} {method}"));
        for route in &self.route_set {
            r.headers.push("Route", route.clone());
        }
        r
    }
}

/// The route set from Record-Route values: as is on the UAS side, reversed on the UAC side.
pub fn route_set(record_route: &[String], reverse: bool) -> Vec<String> {
    let mut v: Vec<String> = record_route.iter().flat_map(|v| split_list(v)).map(str::to_string).collect();
    if reverse {
        v.reverse();
    }
    v
}
