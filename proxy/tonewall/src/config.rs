//! Configuration: embedded defaults, then a TOML file, then `TONEWALL_*` environment variables.
//!
//! Every field has a default, so `tonewall serve` runs with no file at all. Errors in the file
//! name the file and line (`tonewall.toml:12: unknown field `port_mn``); errors in the
//! environment name the variable. Options that weaken security say so in their names.
//!
//! Environment variables use `__` between sections: `TONEWALL_MEDIA__PORT_MIN=40000`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tonewall_dsp::{MaskerConfig, Substitute};
use tonewall_io::{Recycle, RelayConfig};
use tonewall_media::anchor::SrtpPolicy;
use tonewall_media::relay::{LatchPolicy, SessionConfig};

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The media relay.
    pub media: Media,
    /// The rtpengine-compatible control protocol ("ng"), for Kamailio/OpenSIPS.
    pub ng: Ng,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Call recordings (encrypted at rest; what the agent heard, after masking).
    pub recording: Recording,
    /// SIP signaling: listeners, trunks, routes, agents.
    pub sip: Sip,
}

/// `[sip]`: the B2BUA between carriers and agents. With every listener list empty, Tonewall runs
/// as a media node only (driven over `[ng]`, as rtpengine is).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sip {
    /// UDP listen addresses.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    pub tcp: Vec<SocketAddr>,
    /// TLS listen addresses (needs `tls_cert` and `tls_key`).
    pub tls: Vec<SocketAddr>,
    /// The address peers reach Tonewall's SIP at, written in Via and Contact, when it is not the
    /// bound one (behind 1:1 NAT, or listening on a wildcard address).
    pub advertised: Option<IpAddr>,
    /// Per listening address, what Via and Contact say for the listeners bound to it, where
    /// listeners on several addresses need different answers: `[sip.advertise]` with
    /// `"10.0.0.5" = "203.0.113.5"` for a carrier-facing interface behind 1:1 NAT, while the
    /// agent-facing one keeps its own address. Listeners not named here use `advertised`.
    pub advertise: std::collections::BTreeMap<IpAddr, IpAddr>,
    /// PEM certificate chain for TLS.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for TLS.
    pub tls_key: Option<std::path::PathBuf>,
    /// PEM CA certificates: trunks may present client certificates signed by them (optional).
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// PEM CA certificates that agents' TLS servers are checked against when Tonewall connects
    /// out to them.
    pub tls_roots: Option<std::path::PathBuf>,
    /// Digest realm for agents' REGISTERs.
    pub realm: String,
    /// Calls at once; INVITEs beyond get 503.
    pub max_calls: usize,
    /// Seconds an agent may ring before the call is given up (480 to the carrier, CANCEL to the
    /// agent).
    pub ring_timeout_s: u64,
    /// Seconds between keep-alives (CRLFCRLF datagrams) to each agent registered over UDP, so
    /// the NAT in front of it keeps the mapping calls reach it through; 0: none.
    pub nat_keepalive_s: u64,
    /// INVITEs per second per source address (with a burst of twice that); more get 503.
    pub invite_rate: f64,
    /// REGISTERs per second per source address; more are dropped.
    pub register_rate: f64,
    /// Failed authentications within a minute before a source is blocked for five minutes.
    pub auth_failures_before_block: u32,
    /// Carrier trunks: the only sources allowed to send INVITEs.
    pub trunks: Vec<TrunkConfig>,
    /// Routes, tried in order.
    pub routes: Vec<RouteConfig>,
    /// Agent groups.
    pub groups: Vec<GroupConfig>,
    /// Agents that may REGISTER.
    pub agents: Vec<AgentConfig>,
}

impl Sip {
    /// What Via and Contact say for a listener bound to `bound` when it is not `bound` itself
    /// (see [`Sip::advertise`] and [`Sip::advertised`]).
    pub fn advertised_ip(&self, bound: IpAddr) -> Option<IpAddr> {
        self.advertise.get(&bound).copied().or(self.advertised)
    }
}

impl Default for Sip {
    fn default() -> Self {
        let lo = SocketAddr::from(([127, 0, 0, 1], 5060));
        Sip {
            udp: vec![lo],
            tcp: vec![lo],
            tls: Vec::new(),
            advertised: None,
            advertise: Default::default(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_roots: None,
            realm: "tonewall".into(),
            max_calls: 10_000,
            ring_timeout_s: 120,
            nat_keepalive_s: 30,
            invite_rate: 100.0,
            register_rate: 20.0,
            auth_failures_before_block: 5,
            trunks: vec![TrunkConfig {
                name: "local".into(),
                networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
                max_calls: None,
                calls_per_second: None,
                tls_name: None,
            }],
            routes: Vec::new(),
            groups: Vec::new(),
            agents: Vec::new(),
        }
    }
}

/// `[[sip.trunks]]`: a carrier, recognised by where its INVITEs come from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Name in logs and metrics.
    pub name: String,
    /// Source networks (`192.0.2.0/24`, `2001:db8::/32`, or one address).
    pub networks: Vec<String>,
    /// Calls of this trunk up at once (its contract's channels); more get 503. Unset: only
    /// `[sip] max_calls` applies.
    #[serde(default)]
    pub max_calls: Option<usize>,
    /// New calls per second from this trunk (burst: one second's worth); more get 503 with
    /// `Retry-After: 1`. Unset: unlimited.
    #[serde(default)]
    pub calls_per_second: Option<u32>,
    /// The name (DNS, or IP address) the trunk's TLS client certificate must be valid for.
    /// Set, its INVITEs are taken only over TLS, and a TLS connection from its networks whose
    /// certificate (verified against `tls_client_ca`) does not cover this name is closed.
    #[serde(default)]
    pub tls_name: Option<String>,
}

/// `[[sip.routes]]`: calls whose dialled user matches go somewhere.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name in logs and metrics (defaults to the pattern).
    #[serde(default)]
    pub name: Option<String>,
    /// A regular expression matched against the whole Request-URI user (`4[0-9]{3}`, `.*`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// `agent:NAME`, `group:NAME`, or a SIP URI with an IP address (`sip:pbx@10.0.0.9:5060`).
    pub to: String,
    /// Codecs the route allows (`["PCMU", "PCMA", "telephone-event"]`): every SDP offer of its
    /// calls is cut to these. Empty (the default): no restriction beyond masking's G.711.
    #[serde(default)]
    pub codecs: Vec<String>,
}

/// `[[sip.groups]]`: agents that share calls.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The name routes use (`group:NAME`).
    pub name: String,
    /// Agent user names.
    pub members: Vec<String>,
    /// `round-robin` (default) or `least-recent`.
    #[serde(default)]
    pub strategy: StrategyName,
}

/// Group strategies in the file.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// The next idle agent in turn.
    #[default]
    RoundRobin,
    /// The idle agent whose last call ended longest ago.
    LeastRecent,
}

/// `[[sip.agents]]`: an agent's SIP account. Give `ha1_sha256` (and `ha1_md5` for phones
/// without SHA-256), hex of H(user:realm:password), so no password sits in the file; `password`
/// is accepted and hashed at start, then forgotten.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The user name (the address-of-record's user part).
    pub user: String,
    /// Plain password (hashed at start; prefer the ha1 fields).
    #[serde(default)]
    pub password: Option<String>,
    /// Hex SHA-256 of `user:realm:password`.
    #[serde(default)]
    pub ha1_sha256: Option<String>,
    /// Hex MD5 of `user:realm:password`.
    #[serde(default)]
    pub ha1_md5: Option<String>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never print.
        f.debug_struct("AgentConfig").field("user", &self.user).finish_non_exhaustive()
    }
}

/// `[recording]`: where and with which key calls are recorded.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Recording {
    /// Directory for recordings; none (the default) turns recording off.
    pub dir: Option<std::path::PathBuf>,
    /// The AES-256 key file (`tonewall recording keygen`); required with `dir`.
    pub key_file: Option<std::path::PathBuf>,
    /// Record every call; otherwise only calls whose ng offer says `record call: yes`.
    pub all_calls: bool,
}

/// `[media]`: where media is anchored and how it is masked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Media {
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Address of the carrier-facing ports (leg A, the offerer's side).
    pub carrier_address: IpAddr,
    /// Address of the agent-facing ports (leg B, the answerer's side).
    pub agent_address: IpAddr,
    /// Address written into SDP for the carrier side, if not the bound one (behind 1:1 NAT).
    pub carrier_advertised: Option<IpAddr>,
    /// Address written into SDP for the agent side, if not the bound one.
    pub agent_advertised: Option<IpAddr>,
    /// Lowest port of the RTP/RTCP range (default 20000). A call takes two pairs: one on each
    /// side's address.
    pub port_min: u16,
    /// Highest port of the range (default 59999).
    pub port_max: u16,
    /// Look-behind of the masker, ms (12–100): the audio delay toward the agent.
    pub lookbehind_ms: u32,
    /// What replaces a DTMF tone: "tone" (flat 500 Hz), "silence" or "noise".
    pub substitute: SubstituteName,
    /// Who may send on a leg: "strict" (the SDP's address and port), "signaled-host" (the SDP's
    /// host, any port: NAT), or "insecure-first-source" (anyone first: RTP bleed is possible).
    pub latch: LatchName,
    /// Seconds without RTP on a call before it is reported as dead.
    pub media_timeout_s: u64,
    /// Also mask what the agent sends toward the caller.
    pub mask_agent_to_caller: bool,
    /// SRTP toward carriers: "mirror" (as the carrier offers), "sdes" (always, keys in
    /// `a=crypto`), or "off" (plain RTP only).
    pub carrier_srtp: SrtpName,
    /// SRTP toward agents, as `carrier_srtp`.
    pub agent_srtp: SrtpName,
    /// Networks the agents are in (`10.1.0.0/16`, `2001:db8::/32`). A call first offered from one
    /// of them (an agent calling out, or a delayed offer where the agent's 200 carries it) has
    /// its sides known by address; without it the first offerer is taken to be the carrier.
    pub agent_networks: Vec<String>,
    /// The ng `direction` interface name of the carrier side (rtpengine's `interface` names, as
    /// Kamailio's `direction=` flags send them): an offer whose first direction is this comes
    /// from a carrier.
    pub carrier_interface: String,
    /// The ng `direction` interface name of the agent side.
    pub agent_interface: String,
    /// Microseconds a relay worker waits after a quiet wake (few packets) before polling again,
    /// so that it serves many streams per wake: less CPU per packet at moderate load, at the
    /// price of up to this much added audio latency (within the look-behind budget). 0 is off.
    pub coalesce_us: u32,
    /// Socket sets (a call's four relay sockets) each relay worker keeps open after their call
    /// ends, for a later call: saves binding, passing, registering and closing four sockets per
    /// call. 0 closes every call's sockets at its end.
    pub recycle_sockets: u32,
    /// Milliseconds a kept set rests before a new call takes its ports, so that stragglers of the
    /// old call arrive while nobody listens (a worker out of descriptors takes one at once).
    pub recycle_rest_ms: u32,
}

/// SRTP policy names in the file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SrtpName {
    /// As the party offers.
    Mirror,
    /// Always SRTP (SDES).
    Sdes,
    /// Never SRTP.
    Off,
}

impl From<SrtpName> for SrtpPolicy {
    fn from(n: SrtpName) -> SrtpPolicy {
        match n {
            SrtpName::Mirror => SrtpPolicy::Mirror,
            SrtpName::Sdes => SrtpPolicy::Sdes,
            SrtpName::Off => SrtpPolicy::Off,
        }
    }
}

impl Default for Media {
    fn default() -> Self {
        let lo = IpAddr::from([127, 0, 0, 1]);
        Media {
            workers: 0,
            carrier_address: lo,
            agent_address: lo,
            carrier_advertised: None,
            agent_advertised: None,
            // 20 000 RTP/RTCP pairs: [sip] max_calls (10 000) calls even with both legs on one
            // address, as on the loopback defaults.
            port_min: 20000,
            port_max: 59999,
            lookbehind_ms: 20,
            substitute: SubstituteName::Tone,
            latch: LatchName::Strict,
            media_timeout_s: 60,
            mask_agent_to_caller: false,
            carrier_srtp: SrtpName::Mirror,
            agent_srtp: SrtpName::Mirror,
            agent_networks: Vec::new(),
            carrier_interface: "external".into(),
            agent_interface: "internal".into(),
            coalesce_us: 1000,
            recycle_sockets: 1024,
            recycle_rest_ms: 2000,
        }
    }
}

/// Substitute names in the file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SubstituteName {
    /// Flat 500 Hz tone.
    Tone,
    /// Digital silence.
    Silence,
    /// Comfort noise.
    Noise,
}

/// Latch policy names in the file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LatchName {
    /// Only the signalled address and port.
    Strict,
    /// The signalled host, any port.
    SignaledHost,
    /// Whoever sends first (RTP bleed possible).
    InsecureFirstSource,
}

/// `[ng]`: the rtpengine-compatible control listener.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Ng {
    /// UDP address to listen on for ng commands; none by default. rtpengine's usual port is 2223.
    pub listen: Option<SocketAddr>,
    /// Who may send ng commands (networks, `10.0.0.5` or `10.0.0.0/24`): the SIP proxies. Empty
    /// means loopback only. Anyone who can speak ng can unblock DTMF or redirect a call's media.
    pub allow: Vec<String>,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// HTTP address serving `/metrics`; none to disable.
    pub listen: Option<SocketAddr>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))) }
    }
}

/// A configuration error, already phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Defaults, overlaid with `file` (if given) and the environment, then validated.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut text = None;
        if let Some(path) = file {
            let t = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
            // Parse once with spans, for errors that point at the line.
            if let Err(e) = toml::from_str::<Config>(&t) {
                let line = e.span().map_or(1, |s| line_at(&t, s.start));
                return Err(ConfigError(format!("{}:{line}: {}", path.display(), e.message())));
            }
            figment = figment.merge(Toml::string(&t));
            text = Some((path, t));
        }
        // Only `TONEWALL_<SECTION>__<KEY>` variables: others that merely share the prefix (a
        // script's TONEWALL_BIN, say) are not configuration.
        figment = figment.merge(Env::prefixed("TONEWALL_").filter(|k| k.as_str().contains("__")).split("__"));
        let config: Config = figment.extract().map_err(|e| ConfigError(format!("environment: {e}")))?;
        config.validate().map_err(|(section, key, what)| {
            let at = match &text {
                Some((path, t)) => format!("{}:{}", path.display(), line_of_key(t, section, key)),
                None => format!("{section}.{key}"),
            };
            ConfigError(format!("{at}: {what}"))
        })?;
        Ok(config)
    }

    /// Checks what types cannot: returns (section, key, what is wrong).
    fn validate(&self) -> Result<(), (&'static str, &'static str, String)> {
        let m = &self.media;
        if m.port_min < 1024 {
            return Err((
                "media",
                "port_min",
                format!("{} is a privileged port; use 1024 or above", m.port_min),
            ));
        }
        if m.port_min > m.port_max || m.port_max - m.port_min < 3 {
            return Err((
                "media",
                "port_max",
                format!("port range {}–{} must hold at least two RTP/RTCP pairs", m.port_min, m.port_max),
            ));
        }
        if !(12..=100).contains(&m.lookbehind_ms) {
            return Err(("media", "lookbehind_ms", format!("{} ms is outside 12–100 ms", m.lookbehind_ms)));
        }
        if m.coalesce_us > 5000 {
            return Err((
                "media",
                "coalesce_us",
                format!("{} µs: at most 5000 (5 ms of added latency)", m.coalesce_us),
            ));
        }
        if m.recycle_sockets > 65_536 {
            return Err(("media", "recycle_sockets", format!("{}: at most 65536 sets", m.recycle_sockets)));
        }
        if !(100..=600_000).contains(&m.recycle_rest_ms) {
            return Err((
                "media",
                "recycle_rest_ms",
                format!("{} ms is outside 100 ms – 10 minutes", m.recycle_rest_ms),
            ));
        }
        if !(1..=86_400).contains(&m.media_timeout_s) {
            return Err(("media", "media_timeout_s", "must be between 1 second and 1 day".into()));
        }
        if let Some(bad) = m.agent_networks.iter().find(|n| tonewall_media::anchor::Cidr::parse(n).is_none())
        {
            return Err(("media", "agent_networks", format!("`{bad}` is not a network (address/prefix)")));
        }
        if let Some(bad) = self.ng.allow.iter().find(|n| tonewall_media::anchor::Cidr::parse(n).is_none()) {
            return Err(("ng", "allow", format!("`{bad}` is not a network (address/prefix)")));
        }
        self.validate_sip()?;
        if self.recording.dir.is_some() && self.recording.key_file.is_none() {
            return Err((
                "recording",
                "dir",
                "recording needs a key_file (tonewall recording keygen)".into(),
            ));
        }
        Ok(())
    }

    fn validate_sip(&self) -> Result<(), (&'static str, &'static str, String)> {
        let s = &self.sip;
        for (key, list) in [("udp", &s.udp), ("tcp", &s.tcp), ("tls", &s.tls)] {
            if let Some(a) =
                list.iter().find(|a| a.ip().is_unspecified() && s.advertised_ip(a.ip()).is_none())
            {
                // Via, Contact and the agent leg's From name the listening address: 0.0.0.0
                // there would send the other side's requests nowhere.
                return Err((
                    "sip",
                    key,
                    format!("{a}: a wildcard address needs sip.advertised (the address peers reach)"),
                ));
            }
        }
        let bound = || s.udp.iter().chain(&s.tcp).chain(&s.tls).map(|a| a.ip());
        if let Some(ip) = s.advertise.keys().find(|ip| !bound().any(|b| b == **ip)) {
            // The table's header: its keys are addresses, quoted.
            return Err(("sip.advertise", "", format!("{ip} is not the address of any listener")));
        }
        if !s.tls.is_empty() && (s.tls_cert.is_none() || s.tls_key.is_none()) {
            return Err(("sip", "tls", "TLS listeners need tls_cert and tls_key".into()));
        }
        for t in &s.trunks {
            if let Some(bad) = t.networks.iter().find(|n| tonewall_media::anchor::Cidr::parse(n).is_none()) {
                return Err((
                    "sip.trunks",
                    "networks",
                    format!("trunk `{}`: `{bad}` is not a network", t.name),
                ));
            }
            if let Some(name) = &t.tls_name {
                if s.tls.is_empty() || s.tls_client_ca.is_none() {
                    return Err((
                        "sip.trunks",
                        "tls_name",
                        format!("trunk `{}`: tls_name needs TLS listeners and tls_client_ca", t.name),
                    ));
                }
                if rustls_pki_types::ServerName::try_from(name.as_str()).is_err() {
                    return Err((
                        "sip.trunks",
                        "tls_name",
                        format!("trunk `{}`: `{name}` is not a DNS name or IP address", t.name),
                    ));
                }
            }
            if t.max_calls == Some(0) {
                return Err((
                    "sip.trunks",
                    "max_calls",
                    format!("trunk `{}`: 0 calls would refuse them all", t.name),
                ));
            }
            if t.calls_per_second == Some(0) {
                return Err((
                    "sip.trunks",
                    "calls_per_second",
                    format!("trunk `{}`: 0 calls per second would refuse them all", t.name),
                ));
            }
        }
        for r in &s.routes {
            if let Err(e) = regex_lite::Regex::new(&r.pattern) {
                return Err(("sip.routes", "match", format!("route pattern `{}`: {e}", r.pattern)));
            }
            if let Some(bad) = r.codecs.iter().find(|c| {
                c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            }) {
                return Err((
                    "sip.routes",
                    "codecs",
                    format!("route `{}`: `{bad}` is not a codec name", r.pattern),
                ));
            }
            if let Some(g) = r.to.strip_prefix("group:") {
                if !s.groups.iter().any(|x| x.name == g) {
                    return Err(("sip.routes", "to", format!("route to unknown group `{g}`")));
                }
            } else if let Some(a) = r.to.strip_prefix("agent:") {
                if !s.agents.iter().any(|x| x.user == a) {
                    return Err(("sip.routes", "to", format!("route to unknown agent `{a}`")));
                }
            } else if tonewall_call::routing::uri_target(&r.to).is_none() {
                return Err((
                    "sip",
                    "to",
                    format!("`{}` is not agent:NAME, group:NAME or a sip: URI with an IP address", r.to),
                ));
            }
        }
        for g in &s.groups {
            if let Some(m) = g.members.iter().find(|m| !s.agents.iter().any(|a| &a.user == *m)) {
                return Err(("sip.groups", "members", format!("group `{}`: unknown agent `{m}`", g.name)));
            }
        }
        for a in &s.agents {
            if a.password.is_none() && a.ha1_sha256.is_none() && a.ha1_md5.is_none() {
                return Err(("sip.agents", "user", format!("agent `{}` has no password or ha1", a.user)));
            }
            let hex_ok = |h: &Option<String>, n: usize| {
                h.as_ref().is_none_or(|h| h.len() == n && h.bytes().all(|b| b.is_ascii_hexdigit()))
            };
            if !hex_ok(&a.ha1_sha256, 64) || !hex_ok(&a.ha1_md5, 32) {
                return Err((
                    "sip.agents",
                    "user",
                    format!("agent `{}`: ha1 values are hex digests", a.user),
                ));
            }
        }
        if s.nat_keepalive_s > 3600 {
            return Err(("sip", "nat_keepalive_s", "at most an hour (0 turns keep-alives off)".into()));
        }
        if !(1..=3600).contains(&s.ring_timeout_s) {
            return Err(("sip", "ring_timeout_s", "must be between 1 second and 1 hour".into()));
        }
        if !(s.invite_rate > 0.0 && s.register_rate > 0.0) {
            return Err(("sip", "invite_rate", "rates must be positive".into()));
        }
        Ok(())
    }

    /// The media anchor's settings (shared by the ng listener and the SIP side).
    pub fn anchor(&self) -> tonewall_media::anchor::AnchorConfig {
        let m = &self.media;
        tonewall_media::anchor::AnchorConfig {
            advertised: [
                m.carrier_advertised.unwrap_or(m.carrier_address),
                m.agent_advertised.unwrap_or(m.agent_address),
            ],
            mask_a_to_b: true,
            mask_b_to_a: m.mask_agent_to_caller,
            srtp: [m.carrier_srtp.into(), m.agent_srtp.into()],
            agent_networks: m
                .agent_networks
                .iter()
                .filter_map(|n| tonewall_media::anchor::Cidr::parse(n))
                .collect(),
        }
    }

    /// The relay's settings.
    pub fn relay(&self) -> RelayConfig {
        let m = &self.media;
        let workers = if m.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            m.workers
        };
        RelayConfig {
            workers,
            addresses: [m.carrier_address, m.agent_address],
            ports: (m.port_min, m.port_max),
            session: SessionConfig {
                latch: match m.latch {
                    LatchName::Strict => LatchPolicy::Strict,
                    LatchName::SignaledHost => LatchPolicy::SignaledHost,
                    LatchName::InsecureFirstSource => LatchPolicy::InsecureFirstSource,
                },
                masker: MaskerConfig {
                    lookbehind_ms: m.lookbehind_ms,
                    substitute: match m.substitute {
                        SubstituteName::Tone => Substitute::FlatTone,
                        SubstituteName::Silence => Substitute::Silence,
                        SubstituteName::Noise => Substitute::ComfortNoise,
                    },
                    ..MaskerConfig::default()
                },
                mask_a_to_b: true,
                mask_b_to_a: m.mask_agent_to_caller,
                media_timeout: Duration::from_secs(m.media_timeout_s),
            },
            recording_dir: self.recording.dir.clone(),
            coalesce: Duration::from_micros(m.coalesce_us.into()),
            recycle: Recycle {
                rest: Duration::from_millis(m.recycle_rest_ms.into()),
                max: m.recycle_sockets as usize,
            },
        }
    }
}

/// 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The line where `key` is set inside `[section]`, or the section header, or 1.
fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let mut in_section = false;
    let mut header = 1;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_section = l.trim_matches(|c| c == '[' || c == ']').trim() == section;
            if in_section {
                header = i + 1;
            }
        } else if in_section && l.split('=').next().is_some_and(|k| k.trim() == key) {
            return i + 1;
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!("tonewall-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path =
            dir.join(format!("{:x}.toml", text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()));
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let r =
            Config::load(Some(&path)).map_err(|e| e.to_string().replace(&path.display().to_string(), "F"));
        let _ = std::fs::remove_file(&path);
        r
    }

    #[test]
    fn defaults_run_without_a_file() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(c, Config::default());
        let r = c.relay();
        assert!(r.workers >= 1);
        assert!(r.session.mask_a_to_b && !r.session.mask_b_to_a);
        assert_eq!(r.session.latch, LatchPolicy::Strict);
    }

    #[test]
    fn a_file_overrides_defaults() {
        let c = load("[media]\nport_min = 40000\nport_max = 40100\nlatch = \"signaled-host\"\n\n[ng]\nlisten = \"127.0.0.1:2223\"\n")
            .expect("valid");
        assert_eq!((c.media.port_min, c.media.port_max), (40000, 40100));
        assert_eq!(c.media.latch, LatchName::SignaledHost);
        assert_eq!(c.ng.listen, Some("127.0.0.1:2223".parse().expect("addr")));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = load("[media]\nport_min = 40000\nport_mn = 3\n").expect_err("unknown field");
        assert!(e.starts_with("F:3: unknown field `port_mn`"), "{e}");
        let e = load("[media]\n\nlookbehind_ms = \"x\"\n").expect_err("bad type");
        assert!(e.starts_with("F:3: "), "{e}");
        let e = load("[media]\nport_min = 5000\nport_max = 4000\n").expect_err("bad range");
        assert_eq!(e, "F:3: port range 5000–4000 must hold at least two RTP/RTCP pairs");
        let e = load("[media]\nlookbehind_ms = 5\n").expect_err("out of range");
        assert_eq!(e, "F:2: 5 ms is outside 12–100 ms");
        let e = load("[media]\nrecycle_sockets = 8\nrecycle_rest_ms = 10\n").expect_err("short rest");
        assert_eq!(e, "F:3: 10 ms is outside 100 ms – 10 minutes");
        let c = load("[media]\nrecycle_sockets = 0\n").expect("recycling off");
        assert_eq!(c.relay().recycle.max, 0);
        let e = load("[media\n").expect_err("syntax");
        assert!(e.starts_with("F:1: "), "{e}");
        let e = load("[sip]\nudp = [\"0.0.0.0:5060\"]\n").expect_err("wildcard");
        assert_eq!(e, "F:2: 0.0.0.0:5060: a wildcard address needs sip.advertised (the address peers reach)");
        load("[sip]\nudp = [\"0.0.0.0:5060\"]\nadvertised = \"192.0.2.10\"\n").expect("advertised");
        let trunk = "[[sip.trunks]]\nname = \"c\"\nnetworks = [\"192.0.2.0/24\"]\n";
        let e = load(&format!("{trunk}max_calls = 0\n")).expect_err("zero calls");
        assert_eq!(e, "F:4: trunk `c`: 0 calls would refuse them all");
        let e = load(&format!("{trunk}tls_name = \"sbc.carrier.example\"\n")).expect_err("no TLS");
        assert_eq!(e, "F:4: trunk `c`: tls_name needs TLS listeners and tls_client_ca");
        let two = "[sip]\nudp = [\"10.0.0.5:5060\", \"10.1.0.10:5060\"]\n\n[sip.advertise]\n";
        let c = load(&format!("{two}\"10.0.0.5\" = \"203.0.113.5\"\n")).expect("per-listener advertised");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(c.sip.advertised_ip(ip("10.0.0.5")), Some(ip("203.0.113.5")));
        assert_eq!(c.sip.advertised_ip(ip("10.1.0.10")), None, "the agent side keeps its own address");
        let e = load(&format!("{two}\"10.9.9.9\" = \"203.0.113.5\"\n")).expect_err("no such listener");
        assert_eq!(e, "F:4: 10.9.9.9 is not the address of any listener");
        let wild = "[sip]\nudp = [\"0.0.0.0:5060\"]\n\n[sip.advertise]\n\"0.0.0.0\" = \"192.0.2.1\"\n";
        load(wild).expect("a wildcard listener advertised per address");
        let c = load(&format!("{trunk}max_calls = 30\ncalls_per_second = 5\n")).expect("limits");
        assert_eq!((c.sip.trunks[0].max_calls, c.sip.trunks[0].calls_per_second), (Some(30), Some(5)));
    }
}
