//! Who may call in, and where a call goes: trunks recognised by source network (the only
//! senders of INVITEs), routes matched on the dialled user, and agent groups that hunt for an
//! idle agent.

use regex_lite::Regex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tonewall_media::anchor::Cidr;
use tonewall_sip::message::Uri;
use tonewall_sip::transaction::{Target, Transport};

/// A carrier trunk: the networks its INVITEs come from, and what it may place.
#[derive(Clone, Debug, Default)]
pub struct Trunk {
    /// The name, used in logs and metrics labels.
    pub name: String,
    /// Source networks.
    pub networks: Vec<Cidr>,
    /// Calls of this trunk up at once; INVITEs beyond get 503. `None`: only the global
    /// `max_calls` applies. A contact centre sells capacity per carrier contract: one carrier
    /// must not take every agent line.
    pub max_calls: Option<usize>,
    /// New calls per second from this trunk (a burst of one second's worth); INVITEs beyond get
    /// 503 with Retry-After. `None`: unlimited (trunks are exempt from the per-source guard).
    pub calls_per_second: Option<u32>,
    /// The name its TLS client certificate must be valid for. Set, the trunk's INVITEs are
    /// taken only over TLS (others get 403): the transport layer has checked the certificate
    /// of every TLS connection from the trunk's networks, so an address alone, which a
    /// network path can forge for UDP, is not enough.
    pub tls_name: Option<String>,
}

/// Where a route sends its calls.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A registered agent, by user name (its address-of-record's user part).
    Agent(String),
    /// One of a group's agents.
    Group(String),
    /// A fixed SIP URI whose host is an IP address (no DNS in the core).
    Uri(String),
}

/// A route: calls whose dialled user matches `pattern` go to `to`.
#[derive(Clone, Debug)]
pub struct Route {
    /// The name, used in logs and metrics labels.
    pub name: String,
    /// Matched against the whole Request-URI user (anchored: `^(?:pattern)$`).
    pub pattern: Regex,
    /// Where matching calls go.
    pub to: Destination,
    /// Codecs the route allows, by name (`PCMU`, `PCMA`, `telephone-event`…); every offer
    /// crossing the call is cut to these. Empty: no restriction beyond the relay's own (G.711
    /// toward a masked party).
    pub codecs: Vec<String>,
}

/// How a group picks its agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The next idle agent after the last one picked.
    #[default]
    RoundRobin,
    /// The idle agent whose last call ended longest ago.
    LeastRecent,
}

/// An agent group.
#[derive(Clone, Debug)]
pub struct Group {
    /// The name routes refer to.
    pub name: String,
    /// Agent user names, in hunting order.
    pub members: Vec<String>,
    /// How the next agent is picked.
    pub strategy: Strategy,
}

/// The routing table and the agents' state it needs.
#[derive(Debug, Default)]
pub struct Router {
    trunks: Vec<Trunk>,
    routes: Vec<Route>,
    groups: Vec<Group>,
    /// Per group: index of the last member picked.
    cursor: HashMap<String, usize>,
    /// Calls each agent is on now.
    busy: HashMap<String, u32>,
    /// When each agent's last call ended.
    last_end: HashMap<String, Duration>,
}

/// Why a call cannot be routed: the status to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The SIP status.
    pub status: u16,
    /// The reason phrase.
    pub reason: &'static str,
}

/// A destination resolved to a place to send the INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The route's name.
    pub route: String,
    /// The agent's user name, when the route picked an agent (it counts as busy while the call lasts).
    pub agent: Option<String>,
    /// The Request-URI of the INVITE.
    pub uri: String,
    /// Where to send it.
    pub target: Target,
    /// The route's codec allowlist (empty: any).
    pub codecs: Vec<String>,
}

/// Where a URI with an IP host points: its port (5060/5061 by default) and its transport.
pub fn uri_target(uri: &str) -> Option<Target> {
    let u = Uri::parse(uri).ok()?;
    let ip: IpAddr = u.host_unbracketed().parse().ok()?;
    let transport = match u.params.get("transport").and_then(Transport::from_name) {
        Some(t) => t,
        None if u.scheme == "sips" => Transport::Tls,
        None => Transport::Udp,
    };
    let port = u.port.unwrap_or(if transport == Transport::Tls { 5061 } else { 5060 });
    Some(Target { transport, addr: std::net::SocketAddr::new(ip, port), conn: None, local: None })
}

impl Router {
    /// A router over the configured trunks, routes and groups.
    pub fn new(trunks: Vec<Trunk>, routes: Vec<Route>, groups: Vec<Group>) -> Router {
        Router { trunks, routes, groups, ..Router::default() }
    }

    /// The trunk a source address belongs to.
    pub fn trunk_of(&self, ip: IpAddr) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.networks.iter().any(|n| n.contains(ip)))
    }

    /// Resolves a dialled user. `locate` finds a registered agent's contact URI and target.
    pub fn resolve(
        &mut self,
        now: Duration,
        user: &str,
        mut locate: impl FnMut(&str) -> Option<(String, Target)>,
    ) -> Result<Resolved, Refusal> {
        let route = self
            .routes
            .iter()
            .find(|r| r.pattern.is_match(user))
            .ok_or(Refusal { status: 404, reason: "Not Found" })?;
        let name = route.name.clone();
        let codecs = route.codecs.clone();
        match &route.to {
            Destination::Uri(uri) => {
                let target = uri_target(uri).ok_or(Refusal { status: 500, reason: "Bad Route Target" })?;
                Ok(Resolved { route: name, agent: None, uri: uri.clone(), target, codecs })
            }
            Destination::Agent(agent) => {
                let (uri, target) =
                    locate(agent).ok_or(Refusal { status: 480, reason: "Temporarily Unavailable" })?;
                Ok(Resolved { route: name, agent: Some(agent.clone()), uri, target, codecs })
            }
            Destination::Group(group) => {
                let group = self
                    .groups
                    .iter()
                    .find(|g| &g.name == group)
                    .ok_or(Refusal { status: 500, reason: "Bad Route Target" })?;
                let n = group.members.len();
                let start = self.cursor.get(&group.name).map_or(0, |c| c + 1);
                let mut candidates: Vec<(usize, &String)> =
                    (0..n).map(|i| (start + i) % n).map(|i| (i, &group.members[i])).collect();
                if group.strategy == Strategy::LeastRecent {
                    candidates.sort_by_key(|(_, a)| self.last_end.get(*a).copied().unwrap_or_default());
                }
                let mut registered = false;
                for (i, agent) in candidates {
                    let Some((uri, target)) = locate(agent) else { continue };
                    registered = true;
                    if self.busy.get(agent).copied().unwrap_or(0) > 0 {
                        continue;
                    }
                    let agent = agent.clone();
                    self.cursor.insert(group.name.clone(), i);
                    let _ = now;
                    return Ok(Resolved { route: name, agent: Some(agent), uri, target, codecs });
                }
                Err(if registered {
                    Refusal { status: 486, reason: "Busy Here" }
                } else {
                    Refusal { status: 480, reason: "Temporarily Unavailable" }
                })
            }
        }
    }

    /// An agent took a call.
    pub fn call_started(&mut self, agent: &str) {
        *self.busy.entry(agent.to_string()).or_default() += 1;
    }

    /// An agent's call ended.
    pub fn call_ended(&mut self, now: Duration, agent: &str) {
        if let Some(n) = self.busy.get_mut(agent) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.busy.remove(agent);
            }
        }
        self.last_end.insert(agent.to_string(), now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn router() -> Router {
        let group = Group {
            name: "sales".into(),
            members: vec!["a".into(), "b".into(), "c".into()],
            strategy: Strategy::RoundRobin,
        };
        Router::new(
            vec![Trunk {
                name: "carrier".into(),
                networks: vec![Cidr::parse("192.0.2.0/24").unwrap()],
                ..Trunk::default()
            }],
            vec![
                Route {
                    name: "support".into(),
                    pattern: Regex::new("^(?:4[0-9]{3})$").unwrap(),
                    to: Destination::Group("sales".into()),
                    codecs: vec![],
                },
                Route {
                    name: "pbx".into(),
                    pattern: Regex::new("^(?:9.*)$").unwrap(),
                    to: Destination::Uri("sip:pbx@10.0.0.9:5080;transport=tcp".into()),
                    codecs: vec![],
                },
                Route {
                    name: "one".into(),
                    pattern: Regex::new("^(?:100)$").unwrap(),
                    to: Destination::Agent("a".into()),
                    codecs: vec![],
                },
            ],
            vec![group],
        )
    }

    fn locate(user: &str) -> Option<(String, Target)> {
        (user != "c").then(|| (format!("sip:{user}@10.0.0.1"), uri_target("sip:x@10.0.0.1:5070").unwrap()))
    }

    #[test]
    fn trunks_are_recognised_by_network() {
        let r = router();
        assert_eq!(r.trunk_of("192.0.2.77".parse().unwrap()).unwrap().name, "carrier");
        assert!(r.trunk_of("198.51.100.1".parse().unwrap()).is_none());
    }

    #[test]
    fn groups_hunt_round_robin_skipping_busy_and_unregistered_agents() {
        let mut r = router();
        let now = Duration::ZERO;
        let first = r.resolve(now, "4000", locate).unwrap();
        assert_eq!(first.agent.as_deref(), Some("a"));
        r.call_started("a");
        let second = r.resolve(now, "4001", locate).unwrap();
        assert_eq!(second.agent.as_deref(), Some("b"), "a is busy");
        r.call_started("b");
        assert_eq!(r.resolve(now, "4002", locate).unwrap_err().status, 486, "c is not registered");
        r.call_ended(now, "a");
        assert_eq!(r.resolve(now, "4002", locate).unwrap().agent.as_deref(), Some("a"));
    }

    #[test]
    fn fixed_uris_and_unknown_numbers() {
        let mut r = router();
        let pbx = r.resolve(Duration::ZERO, "9123", locate).unwrap();
        assert_eq!(pbx.target.transport, Transport::Tcp);
        assert_eq!(pbx.target.addr, "10.0.0.9:5080".parse().unwrap());
        assert_eq!(r.resolve(Duration::ZERO, "5555", locate).unwrap_err().status, 404);
        assert_eq!(r.resolve(Duration::ZERO, "100", |_| None).unwrap_err().status, 480);
    }

    #[test]
    fn least_recent_picks_the_agent_idle_longest() {
        let mut r = router();
        r.groups[0].strategy = Strategy::LeastRecent;
        r.call_ended(Duration::from_secs(10), "a");
        r.call_ended(Duration::from_secs(5), "b");
        assert_eq!(r.resolve(Duration::from_secs(11), "4000", locate).unwrap().agent.as_deref(), Some("b"));
    }
}
