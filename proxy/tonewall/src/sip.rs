//! The SIP side of `tonewall serve`: the transports (tonewall-io's signal shell) pumping the
//! B2BUA core (tonewall-call) on one thread, its media through the relay.
//!
//! ```text
//!  UDP/TCP/TLS ─► signal shell ─► Inbound ─┐
//!                                          ▼
//!   relay media timeouts ───────────► [sip thread] B2bua ──► Outbound ─► signal shell
//!                                          │ anchor (in-process, the relay as MediaPlane)
//!                                          ▼
//!                          call-end log line · Prometheus counters
//! ```
//!
//! One thread owns the core: no locks around call state. A core this size handles thousands of
//! messages per second on that thread; the relay's workers carry the media on the other cores.

use crate::config::{Config, StrategyName};
use crate::ng::{CallEndMetrics, RelayPlane, media_summary};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use regex_lite::Regex;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use tonewall_call::routing::{Destination, Group, Route, Router, Strategy, Trunk};
use tonewall_call::{B2bua, CallEvent, CallRecord, CoreConfig, Listener, Listeners, RouteSource};
use tonewall_io::signal::{self, ConnId, CoreIo, Inbound, Outbound, SignalConfig, SignalHandle};
use tonewall_io::{Relay, SessionId};
use tonewall_media::anchor::{Anchor, Cidr};
use tonewall_sip::digest::Credentials;
use tonewall_sip::guard::{GuardConfig, RateLimit};
use tonewall_sip::transaction::{Target, Transport};

/// A wake that handled fewer messages than this lets the next ones gather for [`COALESCE`].
const QUIET: usize = 4;
/// How long messages may gather: small beside SIP's own timers (T1 = 500 ms) and networks.
const COALESCE: Duration = Duration::from_millis(1);

/// Counters of the SIP side, registered once.
#[derive(Clone)]
pub struct SipMetrics {
    requests: IntCounterVec,
    responses: IntCounterVec,
    malformed: IntCounterVec,
    calls: IntCounterVec,
    active: IntGauge,
    registered: IntGauge,
    transport: IntCounterVec,
    connections: IntGauge,
}

impl SipMetrics {
    /// The metrics, registered in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<SipMetrics> {
        let requests = IntCounterVec::new(
            Opts::new("tonewall_sip_requests_total", "SIP requests received, by method."),
            &["method"],
        )?;
        let responses = IntCounterVec::new(
            Opts::new("tonewall_sip_responses_total", "SIP responses sent by Tonewall, by class."),
            &["class"],
        )?;
        let malformed = IntCounterVec::new(
            Opts::new("tonewall_sip_malformed_total", "SIP messages that did not parse."),
            &[],
        )?;
        let calls = IntCounterVec::new(
            Opts::new("tonewall_calls_total", "Calls ended, by outcome and trunk."),
            &["outcome", "trunk"],
        )?;
        let active = IntGauge::new("tonewall_calls_active", "Calls in progress.")?;
        let registered = IntGauge::new("tonewall_sip_registrations", "Agent registrations in force.")?;
        let transport = IntCounterVec::new(
            Opts::new(
                "tonewall_sip_transport_events_total",
                "SIP transport events: messages received and sent, failed sends, dropped inbound \
                 messages, connections accepted, dialled, refused, closed idle or unframeable, TLS \
                 handshakes failed, TLS peers refused for their certificate's name.",
            ),
            &["event"],
        )?;
        let connections = IntGauge::new("tonewall_sip_connections_open", "TCP and TLS connections open.")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(responses.clone()))?;
        registry.register(Box::new(malformed.clone()))?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(active.clone()))?;
        registry.register(Box::new(registered.clone()))?;
        registry.register(Box::new(transport.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        Ok(SipMetrics { requests, responses, malformed, calls, active, registered, transport, connections })
    }

    /// Brings the counters up to the core's (they only grow).
    fn sync(&self, core: &B2bua) {
        let c = core.counters();
        for (method, n) in &c.requests {
            let m = self.requests.with_label_values(&[method]);
            m.inc_by(n.saturating_sub(m.get()));
        }
        for (class, n) in &c.responses {
            let m = self.responses.with_label_values(&[class]);
            m.inc_by(n.saturating_sub(m.get()));
        }
        let m = self.malformed.with_label_values::<&str>(&[]);
        m.inc_by(c.malformed.saturating_sub(m.get()));
        self.active.set(core.calls() as i64);
        self.registered.set(core.registrations() as i64);
    }

    /// Brings the transport counters up to the signal layer's.
    fn sync_transport(&self, stats: &signal::SignalStats) {
        use std::sync::atomic::Ordering::Relaxed;
        for (event, counter) in [
            ("received", &stats.received),
            ("sent", &stats.sent),
            ("send_failed", &stats.send_failures),
            ("inbound_dropped", &stats.inbound_dropped),
            ("accepted", &stats.accepted),
            ("dialled", &stats.dialled),
            ("refused", &stats.refused),
            ("framing_error", &stats.framing_errors),
            ("idle_closed", &stats.idle_closed),
            ("tls_handshake_failed", &stats.tls_handshake_failures),
            ("tls_identity_refused", &stats.tls_identity_refused),
        ] {
            let m = self.transport.with_label_values(&[event]);
            m.inc_by(counter.load(Relaxed).saturating_sub(m.get()));
        }
        self.connections.set(stats.open_connections.load(Relaxed) as i64);
    }
}

fn to_sip(t: signal::Transport) -> Transport {
    match t {
        signal::Transport::Udp => Transport::Udp,
        signal::Transport::Tcp => Transport::Tcp,
        signal::Transport::Tls => Transport::Tls,
    }
}

fn to_io(t: Transport) -> signal::Transport {
    match t {
        Transport::Udp => signal::Transport::Udp,
        Transport::Tcp => signal::Transport::Tcp,
        Transport::Tls => signal::Transport::Tls,
    }
}

/// The router from the configuration (validated already).
fn router(config: &Config) -> Router {
    let s = &config.sip;
    let trunks = s
        .trunks
        .iter()
        .map(|t| Trunk {
            name: t.name.clone(),
            networks: t.networks.iter().filter_map(|n| Cidr::parse(n)).collect(),
            max_calls: t.max_calls,
            calls_per_second: t.calls_per_second,
            tls_name: t.tls_name.clone(),
        })
        .collect();
    let routes = s
        .routes
        .iter()
        .filter_map(|r| {
            let pattern = Regex::new(&format!("^(?:{})$", r.pattern)).ok()?;
            let to = if let Some(g) = r.to.strip_prefix("group:") {
                Destination::Group(g.to_string())
            } else if let Some(a) = r.to.strip_prefix("agent:") {
                Destination::Agent(a.to_string())
            } else {
                Destination::Uri(r.to.clone())
            };
            Some(Route {
                name: r.name.clone().unwrap_or_else(|| r.pattern.clone()),
                pattern,
                to,
                codecs: r.codecs.clone(),
            })
        })
        .collect();
    let groups = s
        .groups
        .iter()
        .map(|g| Group {
            name: g.name.clone(),
            members: g.members.clone(),
            strategy: match g.strategy {
                StrategyName::RoundRobin => Strategy::RoundRobin,
                StrategyName::LeastRecent => Strategy::LeastRecent,
            },
        })
        .collect();
    Router::new(trunks, routes, groups)
}

/// Agents' credentials, hashed; plain passwords from the file are hashed here and dropped.
fn credentials(config: &Config) -> Result<Vec<Credentials>, String> {
    let realm = &config.sip.realm;
    config
        .sip
        .agents
        .iter()
        .map(|a| match &a.password {
            Some(p) if a.ha1_md5.is_none() && a.ha1_sha256.is_none() => {
                Ok(Credentials::from_password(&a.user, realm, p))
            }
            _ => Credentials::from_ha1(&a.user, realm, a.ha1_md5.as_deref(), a.ha1_sha256.as_deref())
                .map_err(|e| format!("sip agent `{}`: {e}", a.user)),
        })
        .collect()
}

/// Whether the configuration asks for any SIP listener.
pub fn enabled(config: &Config) -> bool {
    let s = &config.sip;
    !(s.udp.is_empty() && s.tcp.is_empty() && s.tls.is_empty())
}

/// Starts the transports and the core's thread. Returns the bound addresses.
pub fn start(
    config: &Config,
    relay: Arc<Relay>,
    metrics: SipMetrics,
    call_end: CallEndMetrics,
    timeouts: Receiver<SessionId>,
) -> Result<Vec<(signal::Transport, std::net::SocketAddr)>, String> {
    let s = &config.sip;
    let signal_config = SignalConfig {
        udp: s.udp.clone(),
        tcp: s.tcp.clone(),
        tls: s.tls.clone(),
        tls_cert: s.tls_cert.clone(),
        tls_key: s.tls_key.clone(),
        tls_client_ca: s.tls_client_ca.clone(),
        tls_identities: s
            .trunks
            .iter()
            .filter_map(|t| {
                let name = t.tls_name.clone()?;
                let networks = t.networks.iter().filter_map(|n| Cidr::parse(n)).collect();
                Some(signal::TlsIdentity { networks, name })
            })
            .collect(),
        tls_roots: s.tls_roots.clone(),
        ..SignalConfig::default()
    };
    let (handle, inbound, io) = signal::start_direct(signal_config).map_err(|e| format!("sip: {e}"))?;
    let bound = handle.local_addrs();
    let rate = |per_second: f64| RateLimit {
        per_second: per_second.ceil() as u32,
        burst: (per_second * 2.0).ceil() as u32,
    };
    let core_config = CoreConfig {
        // What Via, Contact and the agent leg's From say: the bound address, or the advertised
        // one (1:1 NAT, or a wildcard bind), same port.
        listeners: Listeners(
            bound
                .iter()
                .map(|(t, a)| Listener {
                    transport: to_sip(*t),
                    bound: *a,
                    advertised: std::net::SocketAddr::new(
                        s.advertised_ip(a.ip()).unwrap_or(a.ip()),
                        a.port(),
                    ),
                })
                .collect(),
        ),
        route_source: Some(RouteSource(Box::new(route_source))),
        max_calls: s.max_calls,
        ring_timeout: Duration::from_secs(s.ring_timeout_s),
        nat_keepalive: (s.nat_keepalive_s > 0).then(|| Duration::from_secs(s.nat_keepalive_s)),
        realm: s.realm.clone(),
        agents: credentials(config)?,
        guard: GuardConfig {
            invite: rate(s.invite_rate),
            register: rate(s.register_rate),
            auth_failures: s.auth_failures_before_block,
            ..GuardConfig::default()
        },
        ..CoreConfig::default()
    };
    let anchor = Anchor::new(config.anchor());
    let router = router(config);
    std::thread::Builder::new()
        .name("sip".into())
        .spawn(move || {
            let links = Links { handle, io, inbound, timeouts };
            run(core_config, anchor, router, relay, links, metrics, call_end)
        })
        .map_err(|e| format!("sip thread: {e}"))?;
    Ok(bound)
}

/// What the SIP thread reads and writes: its UDP sockets directly, stream messages and media
/// timeouts from the other threads, and the signal thread for sending on streams.
struct Links {
    handle: SignalHandle,
    io: CoreIo,
    inbound: Receiver<Inbound>,
    timeouts: Receiver<SessionId>,
}

fn run(
    core_config: CoreConfig,
    anchor: Anchor,
    router: Router,
    relay: Arc<Relay>,
    links: Links,
    metrics: SipMetrics,
    call_end: CallEndMetrics,
) {
    let Links { handle, mut io, inbound, timeouts } = links;
    let start = Instant::now();
    let mut rng = rand::rng();
    let mut core = B2bua::new(core_config, anchor, router, &mut rng);
    let mut plane = RelayPlane(&relay);
    let mut last_sync = Instant::now();
    let mut log = String::new();
    let mut streams_lost = false;
    loop {
        let now = start.elapsed();
        // Wake for the core's next timer, and at least every 100 ms for media timeouts.
        let wait = core
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| t.saturating_sub(now))
            .min(Duration::from_millis(100));
        if let Err(e) = io.wait(Some(wait)) {
            eprintln!("sip: waiting for messages failed: {e}");
            std::thread::sleep(COALESCE);
        }
        // Everything waiting is handled before the timers: a burst is handled in one go, and
        // its replies leave together.
        let now = start.elapsed();
        let mut handled = io.receive(|source, local, bytes| {
            let source = Target { transport: Transport::Udp, addr: source, conn: None, local: Some(local) };
            core.handle_input(now, &mut plane, &mut rng, source, bytes);
        });
        io.clear_wake();
        loop {
            let msg = match inbound.try_recv() {
                Ok(msg) => msg,
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    // The signal thread is gone (it stops only on a panic): TCP and TLS with it.
                    if !streams_lost {
                        eprintln!("sip: the TCP/TLS transport thread stopped; UDP goes on");
                        streams_lost = true;
                    }
                    break;
                }
            };
            let source = Target {
                transport: to_sip(msg.transport),
                addr: msg.source,
                conn: msg.conn.map(ConnId::get),
                local: Some(msg.local),
            };
            if msg.send_failed {
                core.transport_failed(start.elapsed(), &mut plane, source);
            } else {
                core.handle_input(start.elapsed(), &mut plane, &mut rng, source, &msg.bytes);
            }
            handled += 1;
        }
        flush(&mut core, &handle, &io);
        if handled > 0 && handled < QUIET {
            // A quiet wake: let messages gather for a moment so that the next wake serves many
            // (a wake costs more than handling a message).
            std::thread::sleep(COALESCE);
        }
        let now = start.elapsed();
        while let Ok(session) = timeouts.try_recv() {
            core.media_timeout(now, session.0);
        }
        core.handle_timeout(now, &mut plane);
        flush(&mut core, &handle, &io);
        while let Some(event) = core.poll_event(&mut plane) {
            if let CallEvent::Ended(record) = event {
                call_ended(&record, &metrics, &call_end, &mut log);
            }
        }
        // The call-end lines of this wake leave together: one write of stderr (unbuffered) per
        // wake, not one per call, and none waits for a later wake.
        if !log.is_empty() {
            use std::io::Write as _;
            let _ = std::io::stderr().lock().write_all(log.as_bytes());
            log.clear();
        }
        if last_sync.elapsed() >= Duration::from_millis(200) {
            metrics.sync(&core);
            metrics.sync_transport(handle.stats());
            last_sync = Instant::now();
        }
    }
}

/// The address this host would send from to reach `dest`: a UDP socket "connected" to it sends
/// nothing, but the kernel picks its source by the routing table, as for a real send.
fn route_source(dest: std::net::IpAddr) -> Option<std::net::IpAddr> {
    let any: std::net::IpAddr = if dest.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = std::net::UdpSocket::bind((any, 0)).ok()?;
    socket.connect((dest, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// Sends what the core has to send: UDP from this thread, streams through the signal thread.
fn flush(core: &mut B2bua, handle: &SignalHandle, io: &CoreIo) {
    while let Some(t) = core.poll_transmit() {
        let mut out = Outbound::new(to_io(t.target.transport), t.target.addr, t.bytes);
        out.conn = t.target.conn.map(ConnId::from_raw);
        out.local = t.target.local;
        if out.transport == signal::Transport::Udp {
            io.send_udp(&out);
        } else {
            handle.send(out);
        }
    }
}

/// One line per call end, figures only: no numbers, URIs, Call-IDs or digits.
fn call_ended(record: &CallRecord, metrics: &SipMetrics, call_end: &CallEndMetrics, log: &mut String) {
    metrics.calls.with_label_values(&[record.outcome.label(), &record.trunk]).inc();
    let mut line = format!(
        "sip call end: call {} trunk {} route {} outcome {} status {}",
        record.call,
        record.trunk,
        record.route.as_deref().unwrap_or("-"),
        record.outcome.label(),
        record.status,
    );
    if let Some(setup) = record.setup {
        line.push_str(&format!(", setup {} ms", setup.as_millis()));
    }
    if let Some(talk) = record.talk {
        line.push_str(&format!(", talk {:.1} s", talk.as_secs_f64()));
    }
    if let Some(side) = record.ended_by {
        line.push_str(&format!(", hung up by {}", side.label()));
    }
    if record.info_digits > 0 {
        line.push_str(&format!(", {} SIP INFO key press(es)", record.info_digits));
    }
    if let Some(media) = &record.media {
        call_end.observe(media);
        line.push_str("; media ");
        line.push_str(&media_summary(media));
    }
    log.push_str(&line);
    log.push('\n');
}
