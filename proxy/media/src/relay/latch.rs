//! Which source may send on a leg: symmetric RTP latching without RTP bleed.
//!
//! A relay port is reachable by anyone. Relays that latch onto "the first packet from anywhere"
//! (rtpengine's default, Asterisk's old `nat=yes`) let a scanner that hits the port first capture
//! the stream — and with it the caller's card number — or inject audio. Here the peer is learned
//! only within a policy tied to what signalling said, and once learned it never changes until
//! signalling says something new ([`Latch::signal`]).

use std::net::SocketAddr;

/// How a leg learns where its peer sends from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatchPolicy {
    /// Only the address and port the SDP signalled. The default: nothing else can speak.
    #[default]
    Strict,
    /// The first packet from the signalled host (any port) fixes the port: for peers behind a
    /// port-translating NAT that keeps their public address in the SDP.
    SignaledHost,
    /// The first packet from anywhere fixes the peer. Needed only for peers whose SDP names a
    /// private address; a scanner that hits the port before the peer captures the stream, hence
    /// the name.
    InsecureFirstSource,
}

/// Latch state of one leg's component (RTP or RTCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latch {
    policy: LatchPolicy,
    signaled: Option<SocketAddr>,
    learned: Option<SocketAddr>,
}

/// The verdict on a packet's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// From the peer, which was already known.
    Known,
    /// From the peer, learned by this packet.
    Learned,
    /// Not from the peer: drop it.
    Refused,
}

impl Latch {
    /// A latch with nothing signalled yet.
    pub fn new(policy: LatchPolicy) -> Self {
        Latch { policy, signaled: None, learned: None }
    }

    /// Signalling named `addr` (or nothing: hold with `c=0.0.0.0`, port 0, no answer yet).
    /// A change forgets what was learned; the same address again keeps it.
    pub fn signal(&mut self, addr: Option<SocketAddr>) {
        let addr = addr.map(canonical).filter(|a| !a.ip().is_unspecified() && a.port() != 0);
        if addr != self.signaled {
            self.signaled = addr;
            self.learned = None;
        }
    }

    /// Decides on a packet from `source`, without learning anything: the caller learns with
    /// [`Latch::admit`] once the packet has proved valid.
    pub fn check(&self, source: SocketAddr) -> Admit {
        let source = canonical(source);
        if let Some(peer) = self.learned {
            return if peer == source { Admit::Known } else { Admit::Refused };
        }
        let ok = match (self.policy, self.signaled) {
            (LatchPolicy::Strict, Some(s)) => s == source,
            (LatchPolicy::SignaledHost, Some(s)) => s.ip() == source.ip(),
            (LatchPolicy::InsecureFirstSource, _) => true,
            (_, None) => false,
        };
        if ok { Admit::Learned } else { Admit::Refused }
    }

    /// Decides on a packet from `source` and learns it if the policy allows.
    pub fn admit(&mut self, source: SocketAddr) -> Admit {
        let verdict = self.check(source);
        if verdict == Admit::Learned {
            self.learned = Some(canonical(source));
        }
        verdict
    }

    /// Where to send toward this peer: the learned source, else the signalled address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.learned.or(self.signaled)
    }

    /// The learned peer, if any.
    pub fn learned(&self) -> Option<SocketAddr> {
        self.learned
    }
}

/// An IPv4 peer seen through a dual-stack socket arrives as `::ffff:a.b.c.d`: compare it as
/// the IPv4 address the SDP names.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn strict_admits_only_the_signalled_address() {
        let mut l = Latch::new(LatchPolicy::Strict);
        assert_eq!(l.admit(a("10.0.0.1:4000")), Admit::Refused, "nothing signalled yet");
        l.signal(Some(a("10.0.0.1:4000")));
        assert_eq!(l.admit(a("10.0.0.1:4002")), Admit::Refused);
        assert_eq!(l.admit(a("10.0.0.9:4000")), Admit::Refused);
        assert_eq!(l.admit(a("10.0.0.1:4000")), Admit::Learned);
        assert_eq!(l.admit(a("10.0.0.1:4000")), Admit::Known);
        assert_eq!(l.admit(a("10.0.0.9:4000")), Admit::Refused);
    }

    #[test]
    fn signaled_host_learns_the_port_once() {
        let mut l = Latch::new(LatchPolicy::SignaledHost);
        l.signal(Some(a("10.0.0.1:4000")));
        assert_eq!(l.destination(), Some(a("10.0.0.1:4000")));
        assert_eq!(l.admit(a("10.0.0.2:5000")), Admit::Refused);
        assert_eq!(l.admit(a("10.0.0.1:5000")), Admit::Learned);
        assert_eq!(l.destination(), Some(a("10.0.0.1:5000")));
        // A spoofer on the same host but another port cannot take over.
        assert_eq!(l.admit(a("10.0.0.1:4000")), Admit::Refused);
    }

    #[test]
    fn checking_learns_nothing_and_mapped_addresses_match() {
        let mut l = Latch::new(LatchPolicy::SignaledHost);
        l.signal(Some(a("10.0.0.1:4000")));
        assert_eq!(l.check(a("10.0.0.1:5000")), Admit::Learned);
        assert_eq!(l.learned(), None, "check alone learns nothing");
        assert_eq!(l.admit(a("[::ffff:10.0.0.1]:5002")), Admit::Learned);
        assert_eq!(l.learned(), Some(a("10.0.0.1:5002")));
        assert_eq!(l.check(a("10.0.0.1:5002")), Admit::Known);
    }

    #[test]
    fn insecure_first_source_still_never_relatches() {
        let mut l = Latch::new(LatchPolicy::InsecureFirstSource);
        assert_eq!(l.admit(a("192.0.2.7:9")), Admit::Learned);
        assert_eq!(l.admit(a("192.0.2.8:9")), Admit::Refused);
    }

    #[test]
    fn new_signalling_resets_what_was_learned() {
        let mut l = Latch::new(LatchPolicy::SignaledHost);
        l.signal(Some(a("10.0.0.1:4000")));
        assert_eq!(l.admit(a("10.0.0.1:5000")), Admit::Learned);
        l.signal(Some(a("10.0.0.1:4000")));
        assert_eq!(l.learned(), Some(a("10.0.0.1:5000")), "same SDP again keeps the latch");
        l.signal(Some(a("10.0.0.3:4000")));
        assert_eq!(l.learned(), None);
        assert_eq!(l.admit(a("10.0.0.1:5000")), Admit::Refused);
        // Hold: nothing may send.
        l.signal(Some(a("0.0.0.0:4000")));
        assert_eq!(l.destination(), None);
        assert_eq!(l.admit(a("10.0.0.3:4000")), Admit::Refused);
    }
}
