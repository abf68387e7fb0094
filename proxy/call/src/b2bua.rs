//! The B2BUA core: every SIP message in, messages out, calls joined leg to leg.
//!
//! Drive it like every sans-IO core here: [`B2bua::handle_input`] with each received message,
//! [`B2bua::handle_timeout`] at [`B2bua::poll_timeout`], then drain [`B2bua::poll_transmit`] and
//! [`B2bua::poll_event`] until both are empty.
//!
//! A call has two legs, each its own dialog: the carrier's (Tonewall is its UAS) and the agent's
//! (Tonewall is its UAC, with a fresh Call-ID, tags and Via: each side sees only Tonewall).
//! Every SDP crosses the media [`Anchor`], so media flows through the relay and the carrier's
//! direction is masked. Requests within a dialog (re-INVITE, UPDATE, INFO…) are relayed to the
//! other leg with their SDP rewritten, and their responses relayed back; SIP INFO digits from the
//! carrier are taken into the call's DTMF path and answered here, never forwarded.
//!
//! Each leg keeps RFC 3261 §12.2's rules on its own: a re-INVITE or UPDATE (or the 2xx to ours)
//! moves that leg's remote target, a request numbered below the peer's last CSeq gets 500, our
//! requests follow the leg's route set (loose, or strict behind an RFC 2543 router), and a BYE
//! crossing ours is answered 200 while ours runs. Requests still go over each leg's flow (where
//! its peer sends from), never to a host a Contact names: see [`Dialog::target`].

use crate::dialog::{Dialog, route_set};
use crate::routing::{Refusal, Router};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tonewall_media::anchor::{Anchor, AnchorError, CallReport, MediaPlane, OfferOptions};
use tonewall_sip::digest::{self, Algorithm, Authorization, Credentials, NonceSource, NonceStatus, Verdict};
use tonewall_sip::guard::{Decision, Guard, GuardConfig, Kind, RateLimit, RejectReason, TokenBucket};
use tonewall_sip::message::{self, Message, Method, NameAddr, Request, Response, Uri, reason_phrase};
use tonewall_sip::registrar::{
    ContactsRequest, Origin, RegisterError, RegisterRequest, Registrar, RegistrarConfig, RequestedContact,
    TransportKind,
};
use tonewall_sip::transaction::{
    Incoming, Received, Target, TimerConfig, Transactions, Transmit, Transport, TxEvent, TxId,
};
use tonewall_sip::validate::Verdict as Screened;

/// The two sides of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The carrier leg (the caller).
    Carrier,
    /// The agent leg.
    Agent,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }
    fn other(self) -> Side {
        match self {
            Side::Carrier => Side::Agent,
            Side::Agent => Side::Carrier,
        }
    }
    /// The party's tag in the anchor (fixed per leg: the anchor's parties are the legs).
    fn tag(self) -> &'static [u8] {
        match self {
            Side::Carrier => b"carrier",
            Side::Agent => b"agent",
        }
    }
    /// A label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Side::Carrier => "carrier",
            Side::Agent => "agent",
        }
    }
}

/// How a call ended (a bounded label set for metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered, then hung up by either side.
    Completed,
    /// The agent was busy (486/600) or every agent of the group was.
    Busy,
    /// The carrier cancelled before the answer.
    Cancelled,
    /// No response from the agent (Timer B) or no ACK from the carrier.
    Timeout,
    /// Refused before reaching an agent: not from a trunk, no route, no agent registered, overload.
    Rejected,
    /// The agent leg failed otherwise (4xx–6xx).
    Failed,
}

impl Outcome {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Busy => "busy",
            Outcome::Cancelled => "cancelled",
            Outcome::Timeout => "timeout",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

/// A call's record at its end: figures only, never a number or a digit.
#[derive(Clone, Debug)]
pub struct CallRecord {
    /// The call's id in this process.
    pub call: u64,
    /// The trunk it came from.
    pub trunk: String,
    /// The route it took, if routed.
    pub route: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The final status sent to the carrier (200 for answered calls).
    pub status: u16,
    /// Which side hung up (answered calls).
    pub ended_by: Option<Side>,
    /// Setup time: INVITE to answer.
    pub setup: Option<Duration>,
    /// Talk time: answer to end.
    pub talk: Option<Duration>,
    /// Digits taken from SIP INFO.
    pub info_digits: u32,
    /// The media figures, if media was anchored.
    pub media: Option<CallReport>,
}

/// What the core reports.
#[derive(Debug)]
pub enum CallEvent {
    /// A call was answered by its agent.
    Answered {
        /// The call.
        call: u64,
    },
    /// A call ended.
    Ended(Box<CallRecord>),
}

/// Counters for the NOC, by bounded labels.
#[derive(Clone, Debug, Default)]
pub struct SipCounters {
    /// Requests received, by method (other methods as `other`).
    pub requests: HashMap<&'static str, u64>,
    /// Responses sent by the core (not retransmissions), by class `1xx`…`6xx`.
    pub responses: HashMap<&'static str, u64>,
    /// Messages that failed to parse.
    pub malformed: u64,
}

/// Addresses Tonewall listens on, per transport: what Via and Contact say.
#[derive(Clone, Debug, Default)]
pub struct Listeners(pub Vec<Listener>);

/// One listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Its transport.
    pub transport: Transport,
    /// The address its socket is bound to (what [`Target::local`] names).
    pub bound: SocketAddr,
    /// The address peers reach it at, written in Via, Contact and Record-Route: the bound one,
    /// or the advertised one (1:1 NAT, a wildcard bind).
    pub advertised: SocketAddr,
}

impl Listener {
    /// A listener that peers reach at its bound address.
    pub fn at(transport: Transport, addr: SocketAddr) -> Listener {
        Listener { transport, bound: addr, advertised: addr }
    }
}

impl Listeners {
    /// The listener a new request to `target` leaves from, for a peer whose messages never came
    /// in at one (a route's fixed URI): the one bound to the address the host would send from
    /// (`source`, the routing table's answer), or a wildcard one of the same transport.
    fn for_source(&self, target: &Target, source: Option<IpAddr>) -> Option<SocketAddr> {
        let source = source?;
        let candidates = || self.0.iter().filter(|l| l.transport == target.transport);
        candidates()
            .find(|l| l.bound.ip() == source)
            .or_else(|| {
                candidates().find(|l| l.bound.ip().is_unspecified() && l.bound.is_ipv4() == source.is_ipv4())
            })
            .map(|l| l.bound)
    }

    /// Our address for a message to `target`: the listener it leaves from (the one its peer's
    /// messages came in at), else the first of the same transport and address family.
    fn local_for(&self, target: &Target) -> SocketAddr {
        let same = |l: &&Listener| l.transport == target.transport;
        let named = target.local.and_then(|local| {
            let listeners = || self.0.iter().filter(same);
            // The exact address first; then, for a stream whose local end is an ephemeral
            // port (an outgoing connection), a listener on its IP; then a wildcard listener of
            // its port and family.
            listeners().find(|l| l.bound == local).or_else(|| {
                let family = |l: &&Listener| l.bound.is_ipv4() == local.is_ipv4();
                let ip =
                    target.transport.reliable().then(|| listeners().find(|l| l.bound.ip() == local.ip()));
                ip.flatten().or_else(|| {
                    listeners()
                        .filter(family)
                        .find(|l| l.bound.ip().is_unspecified() && l.bound.port() == local.port())
                })
            })
        });
        named
            .or_else(|| self.0.iter().filter(same).find(|l| l.bound.is_ipv4() == target.addr.is_ipv4()))
            .or_else(|| self.0.iter().find(same))
            .or_else(|| self.0.first())
            .map(|l| l.advertised)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }
}

/// The core's settings.
#[derive(Debug)]
pub struct CoreConfig {
    /// Where Tonewall listens.
    pub listeners: Listeners,
    /// Transaction timers.
    pub timers: TimerConfig,
    /// Calls at once before new INVITEs get 503.
    pub max_calls: usize,
    /// The digest realm agents authenticate in; their addresses-of-record are `sip:user@realm`.
    pub realm: String,
    /// Agents' credentials (hashed).
    pub agents: Vec<Credentials>,
    /// Flood and scan protection.
    pub guard: GuardConfig,
    /// Registration limits.
    pub registrar: RegistrarConfig,
    /// How long an agent may ring before the call is given up (480 to the carrier, CANCEL to
    /// the agent): the call-level bound RFC 3261's Timer C gives a proxy.
    pub ring_timeout: Duration,
    /// How often each agent registered over UDP gets a keep-alive (a CRLFCRLF datagram, which
    /// SIP stacks ignore), so the NAT in front of it keeps its mapping and calls can reach it
    /// between its REGISTERs. `None`: none sent. Over TCP and TLS the agent's own connection
    /// keeps the mapping (and its CRLF pings are answered).
    pub nat_keepalive: Option<Duration>,
    /// Which of the host's addresses it would send from to reach an address: with several
    /// listeners, requests to a peer that never sent us anything (a route's fixed URI) leave
    /// from the listener on that address, as Kamailio's `mhomed` does. Asked once per call at
    /// most. `None`: such requests leave from the first listener of their transport and family.
    pub route_source: Option<RouteSource>,
}

/// See [`CoreConfig::route_source`]: the I/O shell's answer (a routing-table lookup), so that
/// the core stays free of I/O.
pub struct RouteSource(pub Box<dyn Fn(IpAddr) -> Option<IpAddr> + Send>);

impl std::fmt::Debug for RouteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteSource")
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            listeners: Listeners::default(),
            timers: TimerConfig::default(),
            max_calls: 10_000,
            realm: "tonewall".into(),
            agents: Vec::new(),
            guard: GuardConfig::default(),
            registrar: RegistrarConfig::default(),
            ring_timeout: Duration::from_secs(120),
            nat_keepalive: Some(Duration::from_secs(30)),
            route_source: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// INVITE sent to the agent, no final response yet.
    Proceeding,
    /// Answered; the carrier's ACK may still be due.
    Answered,
}

/// An INVITE (initial or re-INVITE) or other request crossing from one leg to the other.
#[derive(Clone, Debug)]
struct Relayed {
    call: u64,
    /// The side the request came from.
    from: Side,
    /// Its server transaction on that side.
    server: TxId,
    /// The request as received (for building responses to it).
    request: Request,
    /// Whether it carried an SDP offer (else the answerer offers and the ACK answers).
    offered: bool,
    /// A re-INVITE's copy as sent on the other leg (to CANCEL it there if the sender cancels).
    sent: Option<Request>,
}

#[derive(Clone, Debug)]
enum Pending {
    /// A request relayed across (initial INVITE, re-INVITE, UPDATE, INFO…).
    Relay(Relayed),
    /// A request of our own whose answer changes nothing (CANCEL, the BYE of a stray dialog).
    Own,
    /// Our BYE ending a leg of a call: when it is answered or times out, the leg's
    /// [`Closing`] state goes.
    Bye {
        /// The leg's Call-ID.
        call_id: String,
    },
    /// The INVITE of a call that ended before the agent answered: CANCEL it once a provisional
    /// response allows (unless sent already), and hang up if the agent answers anyway.
    Abandoned {
        /// Our INVITE.
        invite: Request,
        /// Where it went.
        target: Target,
        /// Whether the CANCEL is out.
        cancelled: bool,
    },
}

/// A leg of an ended call while our BYE on it runs. Its peer may have hung up at the same
/// moment (both BYEs crossing on the wire, RFC 5407's BYE/BYE race): the dialog is not gone
/// until our BYE is answered, so the peer's BYE is answered 200, not 481, and ends nothing more
/// (the call ended once, with our BYE). Any other request in it gets 481: the session is over
/// for us from the moment our BYE left (RFC 3261 §15.1.1). Kept no longer than the BYE's
/// transaction (64·T1 at most), so a flood of calls cannot grow it beyond their transactions.
struct Closing {
    side: Side,
    local_tag: String,
    remote_tag: Option<String>,
    /// Where the leg's peer sends from (the agent's address; the carrier's are its trunk's).
    peer: Target,
    /// Our BYE's client transaction.
    bye: TxId,
}

struct Call {
    id: u64,
    phase: Phase,
    trunk: String,
    route: Option<String>,
    agent: Option<String>,
    legs: [Dialog; 2],
    /// The carrier's initial INVITE and its server transaction.
    invite: Request,
    invite_tx: TxId,
    /// Our INVITE to the agent and its client transaction, while it runs.
    agent_invite: Option<(TxId, Request)>,
    provisional: bool,
    /// The route's codec allowlist (empty: any): every offer crossing the call is cut to it.
    codecs: Vec<String>,
    /// A relayed INVITE waiting for its ACK to complete (late offer): the 2xx from the other
    /// side, whose ACK carries the SDP of the ACK we receive.
    await_ack: Option<(Side, u32)>,
    /// The last ACK sent to each side, resent when that side retransmits its 2xx.
    last_ack: [Option<Vec<u8>>; 2],
    /// An INVITE transaction relayed across right now (glare gets 491).
    invite_in_progress: bool,
    started: Duration,
    answered: Option<Duration>,
    info_digits: u32,
    media: bool,
}

/// Nonce counts kept before expired ones are swept (each REGISTER answer adds at most one).
const NONCE_COUNTS_PRUNE_AT: usize = 4096;

/// One trunk's share of the core: its calls up now, and its call-rate bucket.
#[derive(Debug, Default)]
struct TrunkLoad {
    calls: usize,
    rate: Option<TokenBucket>,
}

/// The B2BUA.
pub struct B2bua {
    config: CoreConfig,
    tx: Transactions,
    anchor: Anchor,
    router: Router,
    calls: HashMap<u64, Call>,
    /// When the next NAT keep-alives go out (set at the first timer after start).
    next_keepalive: Option<Duration>,
    /// Per trunk (by name): calls up now, and the bucket of its call rate if it has one.
    trunk_load: HashMap<String, TrunkLoad>,
    /// (Call-ID of a leg) → (call, side).
    by_call_id: HashMap<String, (u64, Side)>,
    pending: HashMap<TxId, Pending>,
    /// Carrier INVITE server transactions of calls not yet answered, for CANCEL.
    invites: HashMap<TxId, u64>,
    next_call: u64,
    events: VecDeque<CallEvent>,
    counters: SipCounters,
    /// Fresh identifiers without a CSPRNG call each: HMAC-SHA-256 of a counter under a random
    /// key, so that no one can tell the next branch, tag or Call-ID from the last.
    id_key: Hmac<Sha256>,
    id_counter: u64,
    /// Agent legs of calls that ended lately (Call-ID → where their INVITE went), so that a late
    /// 2xx from one is ACKed and hung up; bounded (oldest forgotten first).
    ended_legs: HashMap<String, Target>,
    ended_order: VecDeque<String>,
    /// Legs of ended calls whose BYE from us still runs, by Call-ID.
    closing: HashMap<String, Closing>,
    /// When each unanswered call stops ringing (entries of calls gone are skipped when due).
    rings: BinaryHeap<Reverse<(Duration, u64)>>,
    registrar: Registrar,
    guard: Guard,
    nonces: NonceSource,
    /// The highest nonce count answered per nonce (see `fresh_nonce_count`).
    nonce_counts: HashMap<String, (u32, Duration)>,
    credentials: HashMap<String, Credentials>,
    /// The algorithms REGISTERs are challenged with, most preferred first.
    challenge_algorithms: Vec<Algorithm>,
}

impl B2bua {
    /// A core with no calls.
    pub fn new(
        config: CoreConfig,
        anchor: Anchor,
        router: Router,
        rng: &mut (impl CryptoRng + ?Sized),
    ) -> B2bua {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let mut config = config;
        // The credentials move into the table; the config keeps none.
        let credentials: HashMap<String, Credentials> =
            std::mem::take(&mut config.agents).into_iter().map(|c| (c.user().to_string(), c)).collect();
        // Only algorithms every agent can be verified with: a client takes the topmost it
        // supports, and an MD5-only user answering SHA-256 would fail (and count toward the
        // block). The same list for every user name, so the challenge tells nothing about who
        // exists; with no common algorithm (or no agents) both are offered.
        let mut challenge_algorithms: Vec<Algorithm> = [Algorithm::Sha256, Algorithm::Md5]
            .into_iter()
            .filter(|&a| credentials.values().all(|c| c.supports(a)))
            .collect();
        if challenge_algorithms.is_empty() {
            challenge_algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
        }
        B2bua {
            ended_legs: HashMap::new(),
            ended_order: VecDeque::new(),
            closing: HashMap::new(),
            rings: BinaryHeap::new(),
            registrar: Registrar::new(config.registrar.clone()),
            guard: Guard::new(config.guard.clone()),
            nonces: NonceSource::new(secret),
            nonce_counts: HashMap::new(),
            credentials,
            challenge_algorithms,
            tx: Transactions::new(config.timers),
            config,
            anchor,
            router,
            calls: HashMap::new(),
            next_keepalive: None,
            trunk_load: HashMap::new(),
            by_call_id: HashMap::new(),
            pending: HashMap::new(),
            invites: HashMap::new(),
            next_call: 1,
            events: VecDeque::new(),
            counters: SipCounters::default(),
            id_key: <Hmac<Sha256> as KeyInit>::new_from_slice(&seed).expect("HMAC takes any key length"),
            id_counter: 0,
        }
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The counters.
    pub fn counters(&self) -> &SipCounters {
        &self.counters
    }

    /// The routing state (agents' busy counts).
    pub fn router(&self) -> &Router {
        &self.router
    }

    fn fresh(&mut self) -> String {
        self.id_counter += 1;
        let mut mac = self.id_key.clone();
        mac.update(&self.id_counter.to_le_bytes());
        let bytes = mac.finalize().into_bytes();
        // 96 bits: unguessable, and short enough for tags and branches.
        bytes[..12].iter().fold(String::with_capacity(24), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    fn anchor_key(call: u64) -> Vec<u8> {
        format!("sip-{call}").into_bytes()
    }

    /// A message arrived from `source`.
    pub fn handle_input(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        source: Target,
        bytes: &[u8],
    ) {
        // Parsed and checked as RFC 3261 and RFC 4475 say; what fails is answered statelessly
        // (or dropped where no answer may be sent) before any state is touched.
        let tag = self.fresh();
        match tonewall_sip::validate::screen(bytes, Some(&tag)) {
            Screened::Accept(Message::Request(req)) => self.on_request(now, plane, rng, source, req),
            Screened::Accept(Message::Response(resp)) => self.on_response(now, plane, rng, source, resp),
            Screened::Respond(resp) => {
                if message::parse(bytes).is_err() {
                    self.counters.malformed += 1;
                }
                self.count_response(resp.status);
                let target = stateless_target(&resp, source);
                self.tx.send_stateless(target, resp.to_bytes());
            }
            Screened::Drop(_) => self.counters.malformed += 1,
        }
        // The first agent registered: its keep-alives start one period from now.
        if self.next_keepalive.is_none()
            && let Some(every) = self.config.nat_keepalive
            && !self.registrar.is_empty()
        {
            self.next_keepalive = Some(now + every);
        }
    }

    fn count_response(&mut self, status: u16) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            5 => "5xx",
            _ => "6xx",
        };
        *self.counters.responses.entry(class).or_default() += 1;
    }

    fn respond(&mut self, now: Duration, tx: TxId, resp: &Response) {
        if self.tx.respond(now, tx, resp) {
            self.count_response(resp.status);
        }
    }

    fn reply(&mut self, now: Duration, tx: TxId, req: &Request, status: u16, reason: &str) {
        let tag = self.fresh();
        let mut resp = req.response(status, reason, Some(&tag));
        if status == 405 || req.method == Method::Options {
            resp.headers.push("Allow", ALLOW);
        }
        self.respond(now, tx, &resp);
    }

    fn on_request(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        source: Target,
        req: Request,
    ) {
        let label = req.method.label();
        *self.counters.requests.entry(label).or_default() += 1;
        let ip = source.addr.ip();
        let in_dialog = req.to().is_some_and(|t| t.tag().is_some());
        // The guard comes before any state: a refused request leaves no transaction behind.
        // Trunks are known and trusted for volume (their calls are capped by max_calls) and are
        // never blocked (a spoofed source must not cut a carrier off); the per-source limits
        // are for everyone else: scanners, floods, agents.
        if req.method != Method::Ack && self.router.trunk_of(ip).is_none() {
            let kind = match req.method {
                Method::Invite if !in_dialog => Kind::Invite,
                Method::Register => Kind::Register,
                _ => Kind::Other,
            };
            match self.guard.check(now, ip, kind) {
                Decision::Admit => {}
                // A blocked scanner learns nothing: no answer at all.
                Decision::Reject(RejectReason::Blocked) => return,
                Decision::Reject(_) if kind == Kind::Invite => {
                    let mut resp = req.response(503, "Rate Limited", Some(&self.fresh()));
                    resp.headers.push("Retry-After", "5");
                    self.count_response(503);
                    let target = stateless_target(&resp, source);
                    return self.tx.send_stateless(target, resp.to_bytes());
                }
                Decision::Reject(_) => return,
            }
        }
        let mut crossing_bye = false;
        if in_dialog
            && req.method != Method::Ack
            && self.dialog_of(&req, ip).is_none()
            // A copy of a request already answered (a BYE whose 200 was lost, after its call
            // ended) goes on to its transaction, which repeats that answer.
            && !self.tx.is_retransmission(&req, ip)
        {
            if req.method == Method::Bye && self.closing_of(&req, ip) {
                // A BYE crossing ours on a leg we are closing: answered 200 (see `Closing`).
                crossing_bye = true;
            } else {
                // No dialog of ours (or not from its peer), or one we have hung up on: answered
                // without a transaction, so a flood of invented dialogs holds no memory (RFC 3261
                // §12.2.2).
                let resp = req.response(481, reason_phrase(481), None);
                self.count_response(481);
                let target = stateless_target(&resp, source);
                return self.tx.send_stateless(target, resp.to_bytes());
            }
        }
        match self.tx.receive_request(now, req, source) {
            Incoming::Absorbed => {}
            Incoming::AckOf2xx(_, ack) | Incoming::New(None, ack) => {
                if self.dialog_of(&ack, ip).is_some() {
                    self.on_ack(now, plane, ack)
                }
            }
            Incoming::New(Some(tx), req) => {
                if crossing_bye {
                    return self.reply(now, tx, &req, 200, "OK");
                }
                if in_dialog {
                    return self.on_in_dialog(now, plane, rng, tx, req);
                }
                match req.method {
                    Method::Register => self.on_register(now, source, tx, req),
                    Method::Invite => self.on_invite(now, plane, rng, source, tx, req),
                    Method::Cancel => self.on_cancel(now, tx, req),
                    Method::Options => self.reply(now, tx, &req, 200, "OK"),
                    Method::Bye | Method::Info | Method::Update | Method::Prack => {
                        self.reply(now, tx, &req, 481, reason_phrase(481))
                    }
                    Method::Other(_) => self.reply(now, tx, &req, 501, reason_phrase(501)),
                    _ => self.reply(now, tx, &req, 405, reason_phrase(405)),
                }
            }
        }
    }

    /// The call and side a request within a dialog belongs to: its Call-ID names a leg, its
    /// To tag is ours on that leg, its From tag the peer's, and it comes from that leg's peer
    /// (a trunk's network for the carrier, the agent's address for the agent). Anything else
    /// is no dialog of ours: guessing a Call-ID is not enough to end or steer a call.
    fn dialog_of(&self, req: &Request, source: std::net::IpAddr) -> Option<(u64, Side)> {
        let &(call_id, side) = self.by_call_id.get(req.call_id())?;
        let call = self.calls.get(&call_id)?;
        let leg = &call.legs[side.index()];
        let to_tag = req.to()?.tag().map(str::to_string);
        let from_tag = req.from()?.tag().map(str::to_string);
        if to_tag.as_deref() != Some(leg.local_tag.as_str()) {
            return None;
        }
        if leg.remote_tag.is_some() && from_tag != leg.remote_tag {
            return None;
        }
        let from_peer = match side {
            Side::Carrier => self.router.trunk_of(source).is_some(),
            Side::Agent => leg.target.addr.ip().to_canonical() == source.to_canonical(),
        };
        from_peer.then_some((call_id, side))
    }

    /// Whether a request names a leg we are closing (see [`Closing`]) and comes from its peer:
    /// the same checks as [`B2bua::dialog_of`], on what is left of the dialog.
    fn closing_of(&self, req: &Request, source: std::net::IpAddr) -> bool {
        let Some(leg) = self.closing.get(req.call_id()) else { return false };
        let to_tag = req.to().and_then(|t| t.tag().map(str::to_string));
        let from_tag = req.from().and_then(|f| f.tag().map(str::to_string));
        if to_tag.as_deref() != Some(leg.local_tag.as_str()) || from_tag != leg.remote_tag {
            return false;
        }
        match leg.side {
            Side::Carrier => self.router.trunk_of(source).is_some(),
            Side::Agent => leg.peer.addr.ip().to_canonical() == source.to_canonical(),
        }
    }

    fn via(&mut self, target: &Target) -> String {
        let local = self.config.listeners.local_for(target);
        format!("SIP/2.0/{} {};branch=z9hG4bK{};rport", target.transport, local, self.fresh())
    }

    fn contact(&self, target: &Target) -> String {
        let local = self.config.listeners.local_for(target);
        match target.transport {
            Transport::Udp => format!("<sip:tonewall@{local}>"),
            Transport::Tcp => format!("<sip:tonewall@{local};transport=tcp>"),
            Transport::Tls => format!("<sips:tonewall@{local};transport=tls>"),
        }
    }

    fn on_invite(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        source: Target,
        tx: TxId,
        req: Request,
    ) {
        let Some((trunk, trunk_calls, trunk_rate, tls_only)) = self
            .router
            .trunk_of(source.addr.ip())
            .map(|t| (t.name.clone(), t.max_calls, t.calls_per_second, t.tls_name.is_some()))
        else {
            return self.reply(now, tx, &req, 403, "Forbidden");
        };
        if tls_only && source.transport != Transport::Tls {
            return self.reply(now, tx, &req, 403, "TLS Required");
        }
        // Every refusal is a call record of its own, against the trunk.
        let rejected = |this: &mut Self, status: u16| {
            this.events.push_back(CallEvent::Ended(Box::new(CallRecord {
                call: 0,
                trunk: trunk.clone(),
                route: None,
                outcome: Outcome::Rejected,
                status,
                ended_by: None,
                setup: None,
                talk: None,
                info_digits: 0,
                media: None,
            })));
        };
        let refuse = |this: &mut Self, status: u16, reason: &str| {
            this.reply(now, tx, &req, status, reason);
            rejected(this, status);
        };
        // validate::screen has checked the scheme, Max-Forwards and Require already.
        let Ok(uri) = Uri::parse(&req.uri) else { return refuse(self, 400, "Bad Request-URI") };
        if self.by_call_id.contains_key(req.call_id()) {
            // The same call arriving again by another path (RFC 3261 §8.2.2.2: merged request).
            return refuse(self, 482, reason_phrase(482));
        }
        if self.calls.len() >= self.config.max_calls {
            return refuse(self, 503, "Call Limit Reached");
        }
        let load = self.trunk_load.entry(trunk.clone()).or_default();
        if trunk_calls.is_some_and(|max| load.calls >= max) {
            return refuse(self, 503, "Trunk Call Limit Reached");
        }
        if let Some(rate) = trunk_rate {
            let limit = RateLimit { per_second: rate, burst: rate.max(1) };
            if !load.rate.get_or_insert_with(|| TokenBucket::full(limit, now)).take(limit, now) {
                // The bucket has a token again within a second.
                let tag = self.fresh();
                let mut resp = req.response(503, "Trunk Rate Limited", Some(&tag));
                resp.headers.push("Retry-After", "1");
                self.respond(now, tx, &resp);
                return rejected(self, 503);
            }
        }
        let user = uri.user.clone().unwrap_or_default();
        let (registrar, realm) = (&self.registrar, &self.config.realm);
        let locate = |agent: &str| {
            let b = registrar.lookup(now, &format!("sip:{agent}@{realm}")).next()?;
            let transport = match b.origin.transport {
                TransportKind::Udp => Transport::Udp,
                TransportKind::Tcp => Transport::Tcp,
                TransportKind::Tls => Transport::Tls,
            };
            Some((
                b.uri.clone(),
                Target { transport, addr: b.origin.source, conn: b.origin.connection, local: b.origin.local },
            ))
        };
        let resolved = match self.router.resolve(now, &user, locate) {
            Ok(r) => r,
            Err(Refusal { status, reason }) => return refuse(self, status, reason),
        };
        let call_id = self.next_call;
        self.next_call += 1;
        let key = Self::anchor_key(call_id);
        let offered = !req.body.is_empty();
        let mut body = Vec::new();
        if offered {
            let Ok(offer) = restrict_codecs(&resolved.codecs, &req.body) else {
                return refuse(self, 488, "No Codec The Route Allows");
            };
            let options = OfferOptions { offerer_side: Some(0), ..OfferOptions::default() };
            match self.anchor.offer(now, plane, rng, &key, Side::Carrier.tag(), &offer, options) {
                Ok(sdp) => body = sdp,
                Err(e) => {
                    let (status, reason) = anchor_refusal(&e);
                    return refuse(self, status, reason);
                }
            }
        }
        // The carrier leg's dialog: Tonewall is its UAS.
        let a_tag = self.fresh();
        let carrier_contact = req
            .headers
            .values("Contact")
            .next()
            .and_then(|c| NameAddr::parse(c).ok())
            .map(|c| c.uri)
            .unwrap_or_else(|| req.from().map(|f| f.uri).unwrap_or_default());
        let record_route: Vec<String> = req.headers.all("Record-Route").map(str::to_string).collect();
        let carrier = Dialog {
            call_id: req.call_id().to_string(),
            local: format!("{};tag={a_tag}", req.headers.get("To").unwrap_or("")),
            remote: req.headers.get("From").unwrap_or("").to_string(),
            local_tag: a_tag,
            remote_tag: req.from().and_then(|f| f.tag().map(str::to_string)),
            remote_target: carrier_contact,
            route_set: route_set(&record_route, false),
            local_cseq: 0,
            // The INVITE's number: a later request of the carrier's must not go below it.
            remote_cseq: req.cseq().map(|c| c.seq),
            target: source,
        };
        // The agent leg: fresh Call-ID, our tag, our Via; the caller's user kept, its host hidden.
        let b_call_id = format!("{}@tonewall", self.fresh());
        let b_tag = self.fresh();
        let mut target = resolved.target;
        if target.local.is_none() && self.config.listeners.0.len() > 1 {
            let source = self.config.route_source.as_ref().and_then(|r| (r.0)(target.addr.ip()));
            target.local = self.config.listeners.for_source(&target, source);
        }
        let local = self.config.listeners.local_for(&target);
        let caller =
            req.from().and_then(|f| Uri::parse(&f.uri).ok()).and_then(|u| u.user).unwrap_or_default();
        let caller = if caller.is_empty() { "anonymous".to_string() } else { caller };
        let host = match local {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let mut agent = Dialog {
            call_id: b_call_id.clone(),
            local: format!("<sip:{caller}@{host}>;tag={b_tag}"),
            remote: format!("<{}>", resolved.uri),
            local_tag: b_tag,
            remote_tag: None,
            remote_target: resolved.uri.clone(),
            route_set: Vec::new(),
            local_cseq: 0,
            remote_cseq: None,
            target,
        };
        let mut invite = agent.request(Method::Invite, None);
        let max_forwards = req.headers.get("Max-Forwards").and_then(|m| m.parse::<u32>().ok()).unwrap_or(70);
        invite.headers.set("Max-Forwards", (max_forwards.min(70).saturating_sub(1)).to_string());
        let via = self.via(&target);
        invite.headers.push_front("Via", via);
        invite.headers.push("Contact", self.contact(&target));
        invite.headers.push("Allow", ALLOW);
        if offered {
            invite.headers.push("Content-Type", "application/sdp");
            invite.body = body;
        }
        let client = self.tx.send_request(now, invite.clone(), target);
        if let Some(a) = &resolved.agent {
            self.router.call_started(a);
        }
        self.pending.insert(
            client,
            Pending::Relay(Relayed {
                call: call_id,
                from: Side::Carrier,
                server: tx,
                request: req.clone(),
                offered,
                // The initial INVITE is cancelled through the call's own copy (`agent_invite`).
                sent: None,
            }),
        );
        self.invites.insert(tx, call_id);
        self.rings.push(Reverse((now + self.config.ring_timeout, call_id)));
        self.by_call_id.insert(carrier.call_id.clone(), (call_id, Side::Carrier));
        self.by_call_id.insert(b_call_id, (call_id, Side::Agent));
        self.trunk_load.entry(trunk.clone()).or_default().calls += 1;
        self.calls.insert(
            call_id,
            Call {
                id: call_id,
                phase: Phase::Proceeding,
                trunk,
                route: Some(resolved.route),
                agent: resolved.agent,
                legs: [carrier, agent],
                invite: req,
                invite_tx: tx,
                agent_invite: Some((client, invite)),
                provisional: false,
                codecs: resolved.codecs.clone(),
                await_ack: None,
                last_ack: [None, None],
                invite_in_progress: true,
                started: now,
                answered: None,
                info_digits: 0,
                media: offered,
            },
        );
    }

    /// Whether a verified answer's nonce count is new for its nonce (RFC 7616 §3.4: each
    /// request on a nonce counts up), and records it. Without qop (RFC 2069 answers carry no
    /// count) a nonce answers once. Entries go once their nonce has expired.
    fn fresh_nonce_count(&mut self, now: Duration, auth: &Authorization<'_>) -> bool {
        let nc = match &auth.nc {
            Some(nc) => match u32::from_str_radix(nc, 16) {
                Ok(n) if n > 0 => n,
                _ => return false,
            },
            None => 0,
        };
        let lifetime = NonceSource::DEFAULT_LIFETIME;
        if self.nonce_counts.len() >= NONCE_COUNTS_PRUNE_AT {
            self.nonce_counts.retain(|_, (_, seen)| now.saturating_sub(*seen) <= lifetime);
        }
        match self.nonce_counts.get_mut(auth.nonce.as_ref()) {
            Some((last, seen)) if auth.nc.is_some() && nc > *last => {
                *last = nc;
                *seen = now;
                true
            }
            Some(_) => false,
            None => {
                self.nonce_counts.insert(auth.nonce.to_string(), (nc, now));
                true
            }
        }
    }

    /// REGISTER from an agent (RFC 3261 §10.3), with digest authentication (RFC 8760).
    fn on_register(&mut self, now: Duration, source: Target, tx: TxId, req: Request) {
        let user = req.to().and_then(|t| Uri::parse(&t.uri).ok()).and_then(|u| u.user).unwrap_or_default();
        // Each nonce is salted with a MAC of the client's address: a nonce fetched from one
        // address is refused from another, so no one can spend failures (or replay a REGISTER)
        // in another address's name.
        let salt = self.address_salt(source.addr.ip());
        let challenge = |this: &mut Self, stale: bool| {
            let nonce = this.nonces.nonce(now, salt);
            let mut resp = req.response(401, reason_phrase(401), Some(&this.fresh()));
            for &algorithm in &this.challenge_algorithms {
                resp.headers.push(
                    "WWW-Authenticate",
                    digest::challenge(&this.config.realm, &nonce, algorithm, stale),
                );
            }
            this.respond(now, tx, &resp);
        };
        let Some(auth) = req.headers.get("Authorization").and_then(|a| Authorization::parse(a).ok()) else {
            return challenge(self, false);
        };
        if self.nonces.check(&auth.nonce, now) == NonceStatus::Forged
            || NonceSource::salt_of(&auth.nonce) != Some(salt)
        {
            return challenge(self, false);
        }
        // The digest-uri is not compared with the Request-URI: clients differ (sipp puts the
        // server's address there), and the hash covers it anyway.
        let verdict = match self.credentials.get(&user) {
            Some(creds) if auth.username == user.as_str() => {
                digest::verify(&auth, creds, req.method.as_str(), &self.nonces, now)
            }
            // Unknown users fail like wrong passwords: nothing tells a scanner which exist.
            _ => Verdict::Failed(digest::FailReason::WrongUser),
        };
        match verdict {
            Verdict::Ok if !self.fresh_nonce_count(now, &auth) => {
                // A captured REGISTER sent again (same nonce, no higher count): it could move
                // the agent's calls to the replayer's port. Not a failure of the agent's
                // password, so not counted toward blocking; a new challenge instead.
                return challenge(self, false);
            }
            Verdict::Ok => self.guard.auth_succeeded(source.addr.ip()),
            Verdict::Stale => return challenge(self, true),
            _ => {
                self.guard.auth_failed(now, source.addr.ip());
                return self.reply(now, tx, &req, 403, "Forbidden");
            }
        }
        let parsed: Vec<(String, Option<u32>)> = req
            .headers
            .values("Contact")
            .filter(|c| c.trim() != "*")
            .filter_map(|c| NameAddr::parse(c).ok())
            .map(|c| (c.uri.clone(), c.param("expires").and_then(|e| e.parse().ok())))
            .collect();
        let wildcard = req.headers.values("Contact").any(|c| c.trim() == "*");
        let list: Vec<RequestedContact<'_>> =
            parsed.iter().map(|(uri, expires)| RequestedContact { uri, expires: *expires }).collect();
        let contacts = if wildcard { ContactsRequest::Wildcard } else { ContactsRequest::List(&list) };
        let aor = format!("sip:{user}@{}", self.config.realm);
        let request = RegisterRequest {
            aor: &aor,
            call_id: req.call_id(),
            cseq: req.cseq().map_or(0, |c| c.seq),
            expires: req.headers.get("Expires").and_then(|e| e.trim().parse().ok()),
            contacts,
        };
        let transport = match source.transport {
            Transport::Udp => TransportKind::Udp,
            Transport::Tcp => TransportKind::Tcp,
            Transport::Tls => TransportKind::Tls,
        };
        let origin = Origin { source: source.addr, transport, connection: source.conn, local: source.local };
        match self.registrar.register(now, &request, origin) {
            Ok(bindings) => {
                let mut resp = req.response(200, "OK", Some(&self.fresh()));
                for b in &bindings {
                    resp.headers.push("Contact", format!("<{}>;expires={}", b.uri, b.expires_in(now)));
                }
                self.respond(now, tx, &resp);
            }
            Err(RegisterError::IntervalTooBrief { min }) => {
                let mut resp = req.response(423, reason_phrase(423), Some(&self.fresh()));
                resp.headers.push("Min-Expires", min.to_string());
                self.respond(now, tx, &resp);
            }
            Err(RegisterError::OutOfOrder) => self.reply(now, tx, &req, 500, "Out Of Order"),
            Err(RegisterError::TooManyBindings { .. }) => self.reply(now, tx, &req, 403, "Too Many Bindings"),
            Err(_) => self.reply(now, tx, &req, 400, "Bad Contact"),
        }
    }

    /// Transactions alive now (those absorbing retransmissions included).
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// The transaction layer's live transactions, described (for diagnostics and tests).
    pub fn describe_transactions(&self) -> Vec<String> {
        self.tx.describe()
    }

    /// Eight bytes of a MAC of an address under the core's secret key.
    fn address_salt(&self, ip: std::net::IpAddr) -> [u8; 8] {
        let mut mac = self.id_key.clone();
        mac.update(b"nonce-salt");
        match ip.to_canonical() {
            std::net::IpAddr::V4(a) => mac.update(&a.octets()),
            std::net::IpAddr::V6(a) => mac.update(&a.octets()),
        }
        let out = mac.finalize().into_bytes();
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&out[..8]);
        salt
    }

    /// Agents registered now.
    pub fn registrations(&self) -> usize {
        self.registrar.len()
    }

    fn on_cancel(&mut self, now: Duration, tx: TxId, req: Request) {
        let Some(invite_tx) = self.tx.invite_for_cancel(&req) else {
            return self.reply(now, tx, &req, 481, reason_phrase(481));
        };
        self.reply(now, tx, &req, 200, "OK");
        let Some(&call_id) = self.invites.get(&invite_tx) else { return };
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let invite = call.invite.clone();
        let tag = call.legs[0].local_tag.clone();
        // The caller is told at once; the agent's INVITE is cancelled as soon as RFC 3261 §9.1
        // allows (after a provisional response).
        self.respond(now, invite_tx, &invite.response(487, reason_phrase(487), Some(&tag)));
        self.finish(now, call_id, Outcome::Cancelled, 487, None);
    }

    /// Sends CANCEL for the agent's INVITE (its transaction stays to collect the 487).
    fn cancel_agent(&mut self, now: Duration, invite_tx: TxId, invite: &Request, target: Target) {
        self.tx.cancelled(now, invite_tx);
        let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
        for name in ["Via", "From", "To", "Call-ID"] {
            if let Some(v) = invite.headers.values(name).next() {
                cancel.headers.push(name, v);
            }
        }
        cancel.headers.push("Max-Forwards", "70");
        let seq = invite.cseq().map_or(1, |c| c.seq);
        cancel.headers.push("CSeq", format!("{seq} CANCEL"));
        for route in invite.headers.all("Route") {
            cancel.headers.push("Route", route);
        }
        self.send_own(now, cancel, target);
    }

    /// Sends a request of Tonewall's own whose answer changes nothing (BYE, CANCEL), with a new
    /// top Via unless it carries one (a CANCEL repeats its INVITE's).
    fn send_own(&mut self, now: Duration, mut request: Request, target: Target) {
        if request.headers.get("Via").is_none() {
            let via = self.via(&target);
            request.headers.push_front("Via", via);
        }
        let tx = self.tx.send_request(now, request, target);
        self.pending.insert(tx, Pending::Own);
    }

    fn on_response(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        source: Target,
        resp: Response,
    ) {
        match self.tx.receive_response_from(now, resp, source.addr.ip()) {
            Received::Response { response, retransmission: true, .. } => {
                self.on_2xx_again(now, &response);
            }
            Received::Response { tx, response, retransmission: false } => {
                let Some(pending) = self.pending.get(&tx).cloned() else { return };
                match pending {
                    Pending::Own => {
                        if response.status >= 200 {
                            self.pending.remove(&tx);
                        }
                    }
                    Pending::Bye { call_id } => {
                        if response.status >= 200 {
                            self.pending.remove(&tx);
                            self.bye_done(&call_id, tx);
                        }
                    }
                    Pending::Abandoned { invite, target, cancelled } => {
                        if response.status >= 200 {
                            self.pending.remove(&tx);
                        }
                        if response.status < 200 && !cancelled {
                            self.cancel_agent(now, tx, &invite, target);
                            self.pending.insert(tx, Pending::Abandoned { invite, target, cancelled: true });
                        } else if (200..300).contains(&response.status) {
                            self.ack_and_bye_stray(now, &response, target);
                        }
                    }
                    Pending::Relay(r) => self.on_relayed_response(now, plane, rng, tx, r, response),
                }
            }
            Received::Stray(resp) => {
                // A 2xx for an INVITE of a call that has ended (answered after its CANCEL, or
                // after the carrier went): acknowledged and hung up so the agent is not left
                // in a call. Only for agent legs we placed and only toward where we sent them:
                // a forged 2xx must not turn Tonewall into a packet cannon.
                let is_invite = resp.cseq().is_some_and(|c| c.method == Method::Invite);
                if is_invite
                    && (200..300).contains(&resp.status)
                    && let Some(&target) = self.ended_legs.get(resp.call_id())
                    && target.addr.ip().to_canonical() == source.addr.ip().to_canonical()
                {
                    self.ack_and_bye_stray(now, &resp, target);
                }
            }
            Received::Absorbed => {}
        }
    }

    /// A 2xx to an INVITE came again (RFC 6026: the client transaction passes copies up). Our
    /// ACK was lost: resend it. From a different phone (a fork answering too), it gets an ACK
    /// and a BYE: the call already has its agent.
    fn on_2xx_again(&mut self, now: Duration, response: &Response) {
        let Some(&(call_id, side)) = self.by_call_id.get(response.call_id()) else { return };
        let Some(call) = self.calls.get(&call_id) else { return };
        let leg = &call.legs[side.index()];
        let to_tag = response.to().and_then(|t| t.tag().map(str::to_string));
        if to_tag.is_some() && to_tag == leg.remote_tag {
            if let Some(ack) = call.last_ack[side.index()].clone() {
                let target = leg.target;
                self.tx.send_stateless(target, ack);
            }
        } else {
            let target = leg.target;
            self.ack_and_bye_stray(now, response, target);
        }
    }

    /// ACKs a 2xx that no call wants and hangs up its dialog.
    fn ack_and_bye_stray(&mut self, now: Duration, resp: &Response, target: Target) {
        let Some(contact) = resp.headers.values("Contact").next().and_then(|c| NameAddr::parse(c).ok())
        else {
            return;
        };
        let Some(seq) = resp.cseq().map(|c| c.seq) else { return };
        let mut d = Dialog {
            call_id: resp.call_id().to_string(),
            local: resp.headers.get("From").unwrap_or("").to_string(),
            remote: resp.headers.get("To").unwrap_or("").to_string(),
            local_tag: String::new(),
            remote_tag: None,
            remote_target: contact.uri,
            route_set: route_set(
                &resp.headers.all("Record-Route").map(str::to_string).collect::<Vec<_>>(),
                true,
            ),
            local_cseq: seq,
            remote_cseq: None,
            target,
        };
        let mut ack = d.request(Method::Ack, Some(seq));
        ack.headers.push_front("Via", self.via(&target));
        self.tx.send_stateless(target, ack.to_bytes());
        let bye = d.request(Method::Bye, None);
        self.send_own(now, bye, target);
    }

    fn on_relayed_response(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        client: TxId,
        r: Relayed,
        response: Response,
    ) {
        let Some(call) = self.calls.get_mut(&r.call) else {
            self.pending.remove(&client);
            return;
        };
        let to = r.from.other();
        let status = response.status;
        let is_invite = r.request.method == Method::Invite;
        let initial = is_invite && call.invite_tx == r.server;
        if status >= 200 {
            self.pending.remove(&client);
        }
        let Some(call) = self.calls.get_mut(&r.call) else { return };
        if initial && status < 200 {
            call.provisional = true;
        }
        if status == 100 {
            return;
        }
        // The answering side's dialog learns its tag, target and route set from 2xx/1xx.
        if initial && to == Side::Agent && status < 300 {
            let leg = &mut call.legs[1];
            if let Some(t) = response.to()
                && let Some(tag) = t.tag()
            {
                leg.remote_tag = Some(tag.to_string());
                leg.remote = response.headers.get("To").unwrap_or("").to_string();
            }
            if let Some(c) = response.headers.values("Contact").next().and_then(|c| NameAddr::parse(c).ok()) {
                leg.remote_target = c.uri;
            }
            let rr: Vec<String> = response.headers.all("Record-Route").map(str::to_string).collect();
            leg.route_set = route_set(&rr, true);
        } else if !initial
            && (200..300).contains(&status)
            && matches!(r.request.method, Method::Invite | Method::Update)
        {
            // The 2xx to a target refresh we sent carries the peer's Contact: its new remote
            // target (RFC 3261 §12.2.1.2, RFC 3311 §5.1). The route set stays.
            call.legs[to.index()].refresh_target(response.headers.values("Contact"));
        }
        let key = Self::anchor_key(r.call);
        // SDP across the anchor: an answer to the relayed offer, or (late offer) an offer.
        let mut body = Vec::new();
        let has_sdp = !response.body.is_empty() && is_sdp(&response.headers);
        if has_sdp && status < 300 {
            let result = if r.offered {
                self.anchor.answer(now, plane, &key, to.tag(), &response.body, OfferOptions::default())
            } else if status >= 200 {
                let options = OfferOptions { offerer_side: Some(to.index()), ..OfferOptions::default() };
                let codecs = self.calls.get(&r.call).map(|c| c.codecs.clone()).unwrap_or_default();
                match restrict_codecs(&codecs, &response.body) {
                    Ok(offer) => self.anchor.offer(now, plane, rng, &key, to.tag(), &offer, options),
                    Err(()) => Err(AnchorError::Unacceptable("no codec the route allows")),
                }
            } else {
                Ok(Vec::new())
            };
            match result {
                Ok(sdp) => body = sdp,
                Err(e) if status >= 200 => {
                    // The 2xx's SDP cannot be anchored: that leg is ACKed and hung up at once (it
                    // answered), the request fails, and the call ends.
                    let (st, _) = anchor_refusal(&e);
                    self.ack_side(now, r.call, to, &response, None);
                    self.bye_leg(now, r.call, to);
                    let resp = self.response_to(&r, st, Vec::new());
                    self.respond(now, r.server, &resp);
                    if !initial {
                        self.send_bye(now, r.call, r.from);
                    }
                    self.finish(now, r.call, Outcome::Failed, st, None);
                    return;
                }
                Err(_) => {}
            }
            if let Some(c) = self.calls.get_mut(&r.call) {
                c.media = true;
            }
        }
        if (200..300).contains(&status) && is_invite {
            if r.offered {
                self.ack_side(now, r.call, to, &response, None);
            } else if let Some(c) = self.calls.get_mut(&r.call) {
                // The ACK from the offerer's side carries the answer; ours follows it.
                c.await_ack = Some((to, response.cseq().map_or(1, |c| c.seq)));
            }
            if let Some(c) = self.calls.get_mut(&r.call) {
                c.invite_in_progress = false;
                if initial {
                    c.phase = Phase::Answered;
                    c.answered = Some(now);
                    c.agent_invite = None;
                    self.invites.remove(&r.server);
                    self.events.push_back(CallEvent::Answered { call: r.call });
                }
            }
        } else if status >= 300
            && is_invite
            && let Some(c) = self.calls.get_mut(&r.call)
        {
            c.invite_in_progress = false;
        }
        let mut out = self.response_to(&r, status, body);
        if r.request.method == Method::Update
            && (200..300).contains(&status)
            && let Some(target) = self.calls.get(&r.call).map(|c| c.legs[r.from.index()].target)
        {
            // A 2xx to UPDATE answers a target refresh: it names our own target (RFC 3311 §5.2),
            // never the other side's.
            out.headers.push("Contact", self.contact(&target));
        }
        if is_invite
            && status < 300
            && let Some(target) = self.calls.get(&r.call).map(|c| c.legs[r.from.index()].target)
        {
            out.headers.push("Contact", self.contact(&target));
            out.headers.push("Allow", ALLOW);
            if initial && status > 100 {
                // The UAS copies the Record-Route of the dialog-creating request into its
                // responses (RFC 3261 §12.1.1), so the carrier's proxies stay on the path.
                for rr in r.request.headers.all("Record-Route") {
                    out.headers.push("Record-Route", rr);
                }
            }
        }
        // Only what carries no address, no product name and no extension Tonewall does not
        // itself support: the retry hint. (Warning, Server, Supported, Require and the reason
        // phrase are the agent side's and stay there.)
        for v in response.headers.all("Retry-After") {
            out.headers.push("Retry-After", v);
        }
        self.respond(now, r.server, &out);
        if initial && status >= 300 {
            let outcome = match status {
                486 | 600 => Outcome::Busy,
                408 => Outcome::Timeout,
                _ => Outcome::Failed,
            };
            self.finish(now, r.call, outcome, status, None);
        }
    }

    /// The response to a relayed request, on its own side's dialog (our tag toward it).
    fn response_to(&self, r: &Relayed, status: u16, body: Vec<u8>) -> Response {
        let tag = self.calls.get(&r.call).map(|c| c.legs[r.from.index()].local_tag.clone());
        let status = match status {
            // An agent's authentication challenge means nothing to the carrier.
            401 | 407 => 503,
            s => s,
        };
        // The standard phrase: the other side's own text may name its hosts or people.
        let mut resp = r.request.response(status, reason_phrase(status), tag.as_deref());
        if !body.is_empty() {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = body;
        }
        resp
    }

    /// ACKs a 2xx on `side`'s dialog, with `body` (the answer of a late offer).
    fn ack_side(
        &mut self,
        _now: Duration,
        call_id: u64,
        side: Side,
        response: &Response,
        body: Option<Vec<u8>>,
    ) {
        let seq = response.cseq().map_or(1, |c| c.seq);
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let leg = &mut call.legs[side.index()];
        let target = leg.target;
        let mut ack = leg.request(Method::Ack, Some(seq));
        if let Some(to) = response.headers.get("To") {
            ack.headers.set("To", to);
        }
        if let Some(b) = body {
            ack.headers.push("Content-Type", "application/sdp");
            ack.body = b;
        }
        let via = self.via(&target);
        ack.headers.push_front("Via", via);
        let bytes = ack.to_bytes();
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.last_ack[side.index()] = Some(bytes.clone());
        }
        self.tx.send_stateless(target, bytes);
    }

    fn on_ack(&mut self, now: Duration, plane: &mut impl MediaPlane, ack: Request) {
        let Some(&(call_id, from)) = self.by_call_id.get(ack.call_id()) else { return };
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let Some((to, seq)) = call.await_ack else { return };
        if to != from.other() {
            return;
        }
        call.await_ack = None;
        // The late offer's answer crosses the anchor into the other side's ACK.
        let mut body = None;
        if !ack.body.is_empty() {
            let key = Self::anchor_key(call_id);
            if let Ok(sdp) =
                self.anchor.answer(now, plane, &key, from.tag(), &ack.body, OfferOptions::default())
            {
                body = Some(sdp);
            }
        }
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let leg = &mut call.legs[to.index()];
        let target = leg.target;
        let mut out = leg.request(Method::Ack, Some(seq));
        if let Some(b) = body {
            out.headers.push("Content-Type", "application/sdp");
            out.body = b;
        }
        out.headers.push_front("Via", self.via(&target));
        let bytes = out.to_bytes();
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.last_ack[to.index()] = Some(bytes.clone());
        }
        self.tx.send_stateless(target, bytes);
    }

    fn on_in_dialog(
        &mut self,
        now: Duration,
        plane: &mut impl MediaPlane,
        rng: &mut (impl CryptoRng + ?Sized),
        tx: TxId,
        req: Request,
    ) {
        let Some(&(call_id, from)) = self.by_call_id.get(req.call_id()) else {
            return self.reply(now, tx, &req, 481, reason_phrase(481));
        };
        if let Some(call) = self.calls.get_mut(&call_id) {
            let leg = &mut call.legs[from.index()];
            // RFC 3261 §12.2.2: a request numbered below the peer's last is out of order and
            // gets 500, changing nothing (no target refresh, no relay, no hang-up). CANCEL
            // reuses its INVITE's number, so it is not checked (nor remembered); ACK does not
            // come here.
            if req.method != Method::Cancel
                && let Some(cseq) = req.cseq()
                && !leg.accept_remote_cseq(cseq.seq)
            {
                return self.reply(now, tx, &req, 500, "CSeq Out Of Order");
            }
            // A target refresh (RFC 3261 §12.2.2 for re-INVITE, RFC 3311 §5.2 for UPDATE): its
            // Contact is the peer's new remote target, from receipt, whatever the request's
            // fate (a glare 491 or a refused offer does not move the peer back). It names our
            // later requests' Request-URI only; they still go over the leg's flow (see
            // `Dialog::target`), and it never crosses to the other leg (topology hiding).
            if matches!(req.method, Method::Invite | Method::Update) {
                leg.refresh_target(req.headers.values("Contact"));
            }
        }
        match req.method {
            Method::Bye => {
                self.reply(now, tx, &req, 200, "OK");
                self.send_bye(now, call_id, from.other());
                self.finish(now, call_id, Outcome::Completed, 200, Some(from));
            }
            Method::Info if from == Side::Carrier && is_dtmf_info(&req.headers) => {
                // The key press joins the call's DTMF path (merged with the same press's tones
                // or events in the relay) and is never forwarded to the agent.
                let content_type = req.headers.get("Content-Type").unwrap_or("");
                match tonewall_media::sipinfo::parse_dtmf_body(content_type, &req.body) {
                    Ok((digit, duration_ms)) => {
                        self.reply(now, tx, &req, 200, "OK");
                        if let Some(call) = self.calls.get_mut(&call_id) {
                            call.info_digits += 1;
                        }
                        let key = Self::anchor_key(call_id);
                        let _ = self.anchor.sip_info(plane, &key, Side::Carrier.tag(), digit, duration_ms);
                    }
                    Err(_) => self.reply(now, tx, &req, 400, "Bad DTMF Body"),
                }
            }
            Method::Info | Method::Message | Method::Notify | Method::Other(_) if from == Side::Carrier => {
                // Default deny toward the agent: a caller's body in a format Tonewall does not
                // read (a vendor's digit INFO, KPML in a NOTIFY, a MESSAGE) could carry a card
                // number, so none crosses. DTMF INFO is taken above.
                let tag = self.calls.get(&call_id).map(|c| c.legs[0].local_tag.clone());
                let mut resp = req.response(415, reason_phrase(415), tag.as_deref());
                resp.headers.push("Accept", "application/dtmf-relay, application/dtmf, application/sdp");
                self.respond(now, tx, &resp);
            }
            Method::Invite | Method::Update
                if from == Side::Carrier && !req.body.is_empty() && !is_sdp(&req.headers) =>
            {
                let tag = self.calls.get(&call_id).map(|c| c.legs[0].local_tag.clone());
                let mut resp = req.response(415, reason_phrase(415), tag.as_deref());
                resp.headers.push("Accept", "application/sdp");
                self.respond(now, tx, &resp);
            }
            Method::Invite
            | Method::Update
            | Method::Info
            | Method::Message
            | Method::Notify
            | Method::Refer
            | Method::Options
            | Method::Other(_) => {
                if matches!(req.method, Method::Refer) {
                    // Transfers are the flow engine's business, not the carrier's or the agent's.
                    return self.reply(now, tx, &req, 403, "Forbidden");
                }
                let is_invite = req.method == Method::Invite;
                let Some(call) = self.calls.get(&call_id) else {
                    return self.reply(now, tx, &req, 481, reason_phrase(481));
                };
                if is_invite && (call.invite_in_progress || call.phase != Phase::Answered) {
                    return self.reply(now, tx, &req, 491, reason_phrase(491));
                }
                let offered = !req.body.is_empty() && is_sdp(&req.headers);
                let mut body = req.body.clone();
                if offered {
                    let key = Self::anchor_key(call_id);
                    let Ok(offer) = restrict_codecs(&call.codecs, &req.body) else {
                        return self.reply(now, tx, &req, 488, "No Codec The Route Allows");
                    };
                    match self.anchor.offer(
                        now,
                        plane,
                        rng,
                        &key,
                        from.tag(),
                        &offer,
                        OfferOptions::default(),
                    ) {
                        Ok(sdp) => body = sdp,
                        Err(e) => {
                            let (status, reason) = anchor_refusal(&e);
                            return self.reply(now, tx, &req, status, reason);
                        }
                    }
                }
                let to = from.other();
                let Some(call) = self.calls.get_mut(&call_id) else { return };
                let leg = &mut call.legs[to.index()];
                let target = leg.target;
                let mut out = leg.request(req.method.clone(), None);
                if is_invite {
                    call.invite_in_progress = true;
                }
                out.headers.push_front("Via", self.via(&target));
                if matches!(req.method, Method::Invite | Method::Update) {
                    out.headers.push("Contact", self.contact(&target));
                }
                // What the body needs to be read, nothing else: no extension Tonewall does not
                // itself support (Require, Supported) crosses.
                for name in ["Content-Type", "Event", "Subscription-State"] {
                    if let Some(v) = req.headers.get(name) {
                        out.headers.push(name, v);
                    }
                }
                out.body = body;
                let sent = is_invite.then(|| out.clone());
                let client = self.tx.send_request(now, out, target);
                self.pending.insert(
                    client,
                    Pending::Relay(Relayed { call: call_id, from, server: tx, request: req, offered, sent }),
                );
            }
            Method::Prack => self.reply(now, tx, &req, 200, "OK"),
            Method::Cancel => {
                // A re-INVITE cancelled by its sender: the copy on the other leg is cancelled
                // too, and its 487 comes back as the answer to the original (RFC 3261 §9.2).
                let Some(invite_tx) = self.tx.invite_for_cancel(&req) else {
                    return self.reply(now, tx, &req, 481, reason_phrase(481));
                };
                self.reply(now, tx, &req, 200, "OK");
                let crossing = self.pending.iter().find_map(|(client, p)| match p {
                    Pending::Relay(r) if r.server == invite_tx => r.sent.clone().map(|s| (*client, s)),
                    _ => None,
                });
                if let Some((client, sent)) = crossing
                    && let Some(call) = self.calls.get(&call_id)
                {
                    let target = call.legs[from.other().index()].target;
                    self.cancel_agent(now, client, &sent, target);
                }
            }
            Method::Register | Method::Subscribe | Method::Publish => {
                self.reply(now, tx, &req, 405, reason_phrase(405))
            }
            Method::Ack => {}
        }
    }

    /// Hangs up `side` of an answered call (before the answer the legs end otherwise: the
    /// carrier's INVITE gets its final response and the agent's is cancelled; see `finish`).
    fn send_bye(&mut self, now: Duration, call_id: u64, side: Side) {
        if self.calls.get(&call_id).is_some_and(|c| c.phase == Phase::Answered) {
            self.bye_leg(now, call_id, side);
        }
    }

    /// Sends BYE on `side`'s dialog, whatever the call's phase (a leg that answered). The call
    /// ends right after (every caller finishes it); the leg stays [`Closing`] while the BYE runs.
    fn bye_leg(&mut self, now: Duration, call_id: u64, side: Side) {
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let leg = &mut call.legs[side.index()];
        let target = leg.target;
        let mut bye = leg.request(Method::Bye, None);
        let (leg_call_id, local_tag, remote_tag) =
            (leg.call_id.clone(), leg.local_tag.clone(), leg.remote_tag.clone());
        let via = self.via(&target);
        bye.headers.push_front("Via", via);
        let tx = self.tx.send_request(now, bye, target);
        self.pending.insert(tx, Pending::Bye { call_id: leg_call_id.clone() });
        self.closing.insert(leg_call_id, Closing { side, local_tag, remote_tag, peer: target, bye: tx });
    }

    /// Our BYE `tx` on leg `call_id` ended (answered or timed out): the leg is gone for good.
    fn bye_done(&mut self, call_id: &str, tx: TxId) {
        if self.closing.get(call_id).is_some_and(|c| c.bye == tx) {
            self.closing.remove(call_id);
        }
    }

    /// Ends a call: media released, the agent freed, the record out.
    fn finish(&mut self, now: Duration, call_id: u64, outcome: Outcome, status: u16, ended_by: Option<Side>) {
        let Some(call) = self.calls.remove(&call_id) else { return };
        if let Some(load) = self.trunk_load.get_mut(&call.trunk) {
            load.calls = load.calls.saturating_sub(1);
        }
        for leg in &call.legs {
            // Only this call's own entries (a Call-ID reused by another call stays its own).
            if self.by_call_id.get(&leg.call_id).is_some_and(|&(c, _)| c == call_id) {
                self.by_call_id.remove(&leg.call_id);
            }
        }
        self.ended_legs.insert(call.legs[1].call_id.clone(), call.legs[1].target);
        self.ended_order.push_back(call.legs[1].call_id.clone());
        while self.ended_order.len() > ENDED_LEGS {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended_legs.remove(&old);
            }
        }
        self.invites.remove(&call.invite_tx);
        // Requests of the call still crossing (a re-INVITE, an UPDATE) get their final answer
        // now: their transactions must end, and their senders learn the dialog is gone.
        let crossing: Vec<(TxId, Relayed)> = self
            .pending
            .iter()
            .filter_map(|(tx, p)| match p {
                Pending::Relay(r) if r.call == call_id && r.server != call.invite_tx => {
                    Some((*tx, r.clone()))
                }
                _ => None,
            })
            .collect();
        for (client, r) in crossing {
            self.pending.remove(&client);
            // Its copy on the other leg is left to end by itself (the BYE follows), within 64·T1.
            self.tx.cancelled(now, client);
            let status = if r.request.method == Method::Invite { 487 } else { 481 };
            let resp =
                r.request.response(status, reason_phrase(status), Some(&call.legs[r.from.index()].local_tag));
            if self.tx.respond(now, r.server, &resp) {
                self.count_response(status);
            }
        }
        if call.phase == Phase::Proceeding {
            // The carrier's INVITE still waits for its final response (the call ended another
            // way, e.g. a BYE in the early dialog): end it, or its transaction would never end.
            // Nothing is sent if it has one already.
            let resp = call.invite.response(487, reason_phrase(487), Some(&call.legs[0].local_tag));
            if self.tx.respond(now, call.invite_tx, &resp) {
                self.count_response(487);
            }
        }
        // An agent INVITE still running is cancelled (now, or after its first provisional).
        if let Some((client, invite)) = &call.agent_invite
            && self.pending.contains_key(client)
        {
            let target = call.legs[1].target;
            if call.provisional {
                self.cancel_agent(now, *client, invite, target);
            }
            self.pending.insert(
                *client,
                Pending::Abandoned { invite: invite.clone(), target, cancelled: call.provisional },
            );
        }
        if let Some(agent) = &call.agent {
            self.router.call_ended(now, agent);
        }
        self.pending_media_report(now, call, outcome, status, ended_by);
    }

    fn pending_media_report(
        &mut self,
        now: Duration,
        call: Call,
        outcome: Outcome,
        status: u16,
        ended_by: Option<Side>,
    ) {
        let record = CallRecord {
            call: call.id,
            trunk: call.trunk,
            route: call.route,
            outcome,
            status,
            ended_by,
            setup: call.answered.map(|a| a - call.started),
            talk: call.answered.map(|a| now.saturating_sub(a)),
            info_digits: call.info_digits,
            media: None,
        };
        self.events.push_back(CallEvent::Ended(Box::new(record)));
    }

    /// Releases a finished call's media (the record's figures).
    fn release_media(&mut self, plane: &mut impl MediaPlane, call_id: u64) -> Option<CallReport> {
        self.anchor.delete(plane, &Self::anchor_key(call_id)).ok()
    }

    /// The transport could not reach `target` (the I/O shell's notice): what was waiting on it
    /// fails now, as if its timer had run out (a call to an unreachable agent gets its 408 at
    /// once).
    pub fn transport_failed(&mut self, now: Duration, plane: &mut impl MediaPlane, target: Target) {
        self.tx.transport_failed(target.transport, target.addr);
        self.handle_timeout(now, plane);
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Duration, plane: &mut impl MediaPlane) {
        self.tx.handle_timeout(now);
        if self.registrar.poll_timeout().is_some_and(|t| t <= now) {
            self.registrar.expire(now);
        }
        self.send_keepalives(now);
        while let Some(&Reverse((at, call_id))) = self.rings.peek() {
            if at > now {
                break;
            }
            self.rings.pop();
            let Some(call) = self.calls.get(&call_id) else { continue };
            if call.phase != Phase::Proceeding {
                continue;
            }
            // Rang too long: the carrier hears 480 (from `finish`), the agent is cancelled.
            let resp = call.invite.response(480, "No Answer", Some(&call.legs[0].local_tag));
            let invite_tx = call.invite_tx;
            if self.tx.respond(now, invite_tx, &resp) {
                self.count_response(480);
            }
            self.finish(now, call_id, Outcome::Timeout, 480, None);
        }
        while let Some(event) = self.tx.poll_event() {
            match event {
                TxEvent::Timeout(client) => {
                    let r = match self.pending.remove(&client) {
                        Some(Pending::Relay(r)) => r,
                        Some(Pending::Bye { call_id }) => {
                            self.bye_done(&call_id, client);
                            continue;
                        }
                        _ => continue,
                    };
                    let initial = self.calls.get(&r.call).is_some_and(|c| c.invite_tx == r.server);
                    let resp = self.response_to(&r, 408, Vec::new());
                    self.respond(now, r.server, &resp);
                    if initial {
                        self.finish(now, r.call, Outcome::Timeout, 408, None);
                    } else if let Some(c) = self.calls.get_mut(&r.call) {
                        c.invite_in_progress = false;
                    }
                }
                TxEvent::NoAck(server) => {
                    // Our 2xx to the carrier was never acknowledged: the call cannot go on.
                    let call = self.calls.values().find(|c| c.invite_tx == server).map(|c| c.id);
                    if let Some(call_id) = call {
                        self.send_bye(now, call_id, Side::Agent);
                        self.send_bye(now, call_id, Side::Carrier);
                        self.finish(now, call_id, Outcome::Timeout, 408, None);
                    }
                }
            }
        }
        let _ = plane;
    }

    /// When [`B2bua::handle_timeout`] has work next.
    pub fn poll_timeout(&mut self) -> Option<Duration> {
        // Rings of calls that were answered or ended are dropped here, not left to wake us.
        while let Some(&Reverse((_, call_id))) = self.rings.peek() {
            if self.calls.get(&call_id).is_some_and(|c| c.phase == Phase::Proceeding) {
                break;
            }
            self.rings.pop();
        }
        let ring = self.rings.peek().map(|Reverse((at, _))| *at);
        let keepalive = self.next_keepalive.filter(|_| !self.registrar.is_empty());
        [self.tx.poll_timeout(), self.registrar.poll_timeout(), ring, keepalive].into_iter().flatten().min()
    }

    /// A CRLFCRLF to each agent registered over UDP, every `nat_keepalive` (once per address:
    /// several bindings behind one NAT mapping share it).
    fn send_keepalives(&mut self, now: Duration) {
        let Some(every) = self.config.nat_keepalive else { return };
        let due = *self.next_keepalive.get_or_insert(now + every);
        if now < due {
            return;
        }
        self.next_keepalive = Some(now + every);
        let mut sent = std::collections::HashSet::new();
        let targets: Vec<(std::net::SocketAddr, Option<std::net::SocketAddr>)> = self
            .registrar
            .bindings(now)
            .filter(|b| b.origin.transport == TransportKind::Udp)
            .map(|b| (b.origin.source, b.origin.local))
            .filter(|(a, _)| sent.insert(*a))
            .collect();
        for (addr, local) in targets {
            let target = Target { transport: Transport::Udp, addr, conn: None, local };
            self.tx.send_stateless(target, b"\r\n\r\n".to_vec());
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    /// The next event. Ended calls' media is released here, with the plane, so the record
    /// carries the media figures.
    pub fn poll_event(&mut self, plane: &mut impl MediaPlane) -> Option<CallEvent> {
        let mut event = self.events.pop_front()?;
        if let CallEvent::Ended(record) = &mut event
            && record.call != 0
        {
            record.media = self.release_media(plane, record.call);
        }
        Some(event)
    }

    /// The relay ended a call's media for lack of packets: hang up both legs.
    pub fn media_timeout(&mut self, now: Duration, session: u64) {
        let Some(key) = self.anchor.call_of_session(session) else { return };
        let Some(call_id) = std::str::from_utf8(&key).ok().and_then(|k| k.strip_prefix("sip-")?.parse().ok())
        else {
            return;
        };
        self.send_bye(now, call_id, Side::Agent);
        self.send_bye(now, call_id, Side::Carrier);
        self.finish(now, call_id, Outcome::Timeout, 200, None);
    }
}

/// How many ended calls' agent legs are remembered for late 2xx responses.
const ENDED_LEGS: usize = 4096;

/// Methods Tonewall accepts.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK";

fn is_sdp(headers: &message::Headers) -> bool {
    headers.get("Content-Type").is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/sdp"))
}

fn is_dtmf_info(headers: &message::Headers) -> bool {
    headers.get("Content-Type").is_some_and(|c| {
        let c = c.trim().to_ascii_lowercase();
        c.starts_with("application/dtmf-relay") || c.starts_with("application/dtmf")
    })
}

/// Cuts an SDP offer to a route's codecs (names compared without case): each audio section keeps
/// only those. An empty list allows everything; a section left with nothing is refused (488).
fn restrict_codecs(codecs: &[String], sdp: &[u8]) -> Result<Vec<u8>, ()> {
    if codecs.is_empty() {
        return Ok(sdp.to_vec());
    }
    // Unparsable SDP goes on to the anchor, which answers it with its own 400.
    let Ok(mut parsed) = tonewall_media::sdp::Sdp::parse(sdp) else { return Ok(sdp.to_vec()) };
    let names: Vec<&str> = codecs.iter().map(String::as_str).collect();
    for m in parsed.media_mut().iter_mut().filter(|m| !m.is_rejected() && m.media_type() == "audio") {
        m.keep_codecs(&names).map_err(|_| ())?;
    }
    let mut out = Vec::with_capacity(sdp.len());
    parsed.write(&mut out);
    Ok(out)
}

fn anchor_refusal(e: &AnchorError) -> (u16, &'static str) {
    match e {
        AnchorError::BadSdp(_) => (400, "Bad SDP"),
        AnchorError::Unacceptable(_) => (488, reason_phrase(488)),
        AnchorError::OutOfPorts => (503, "No Media Ports"),
        _ => (500, reason_phrase(500)),
    }
}

/// Where a stateless reply goes: the source, at the Via's port unless rport (like a transaction).
fn stateless_target(resp: &Response, source: Target) -> Target {
    if source.transport.reliable() {
        return source;
    }
    match resp.top_via() {
        Some(v) if v.params.get("rport").is_none() => {
            Target { addr: SocketAddr::new(source.addr.ip(), v.port.unwrap_or(5060)), ..source }
        }
        _ => source,
    }
}
