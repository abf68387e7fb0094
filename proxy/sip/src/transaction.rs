//! RFC 3261 §17 transactions, client and server, INVITE and non-INVITE, with RFC 6026's Accepted
//! states — as one sans-IO table that the call layer drives.
//!
//! The call layer hands in what arrived ([`Transactions::receive_request`],
//! [`Transactions::receive_response`]) and what it wants sent ([`Transactions::send_request`],
//! [`Transactions::respond`]); the layer absorbs retransmissions, retransmits over UDP, sends the
//! ACK of a non-2xx final response itself, and tells the caller what is new. Then the caller
//! drains [`Transactions::poll_transmit`] (bytes for the wire) and [`Transactions::poll_event`]
//! (timeouts), and calls [`Transactions::handle_timeout`] at [`Transactions::poll_timeout`].
//! `handle_timeout` is safe to call early or twice: timers that are not due do nothing.
//!
//! Timers are named after RFC 3261 §17 (A–K) and RFC 6026 (L, M); [`Timer`] indexes the table.
//! A 2xx to an INVITE is retransmitted here (Timer G's schedule) until its ACK arrives, which
//! is matched by Call-ID and CSeq: the call layer only sees the ACK once.
//!
//! What it does not do: dialogs, routing, or building requests (the call layer's), DNS and
//! connection management (the I/O shell's). Over reliable transports nothing is retransmitted
//! and the wait states end at once, as §17 says.

use crate::message::{Method, Request, Response, parse};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so requests and final responses are retransmitted.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Whether the transport delivers reliably (no retransmissions, RFC 3261 §17.1.1.2).
    pub fn reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The name in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The transport a Via or `transport=` parameter names.
    pub fn from_name(name: &str) -> Option<Transport> {
        match name.to_ascii_uppercase().as_str() {
            "UDP" => Some(Transport::Udp),
            "TCP" => Some(Transport::Tcp),
            "TLS" => Some(Transport::Tls),
            _ => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_name())
    }
}

/// Where bytes go (or came from): a transport, an address, and the connection when there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The transport.
    pub transport: Transport,
    /// The peer's address.
    pub addr: SocketAddr,
    /// The connection the message came on, for replies over the same connection.
    pub conn: Option<u64>,
    /// Our address the message came in at (a UDP listener's bound address, a connection's
    /// local end): replies and later requests to this peer leave from it, so a multi-homed
    /// Tonewall answers each side from the interface that side talks to. `None`: the first
    /// listener of the transport and address family.
    pub local: Option<SocketAddr>,
}

/// The timer values (RFC 3261 §17.1.1.1 and Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Longest retransmit interval of non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// How long a message may stay in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

/// The transaction timers, after the RFCs' names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// INVITE client: retransmit the request.
    A,
    /// INVITE client: give up waiting for a response.
    B,
    /// INVITE client: absorb retransmitted non-2xx responses.
    D,
    /// Non-INVITE client: retransmit the request.
    E,
    /// Non-INVITE client: give up waiting for a final response.
    F,
    /// INVITE server: retransmit the final response.
    G,
    /// INVITE server: give up waiting for the ACK.
    H,
    /// INVITE server: absorb retransmitted ACKs.
    I,
    /// Non-INVITE server: absorb retransmitted requests.
    J,
    /// Non-INVITE client: absorb retransmitted responses.
    K,
    /// INVITE server, Accepted: absorb retransmitted INVITEs after a 2xx (RFC 6026).
    L,
    /// INVITE client, Accepted: pass retransmitted 2xx responses up (RFC 6026).
    M,
}

/// A transaction's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// What a received request means.
#[derive(Debug)]
pub enum Incoming {
    /// A new request: a server transaction was made for it (an INVITE's 100 Trying is already
    /// queued). ACKs that match no transaction also come here, with no transaction (`None`).
    New(Option<TxId>, Request),
    /// The ACK of a 2xx this layer was retransmitting: retransmissions stopped. The call layer
    /// sees it once (it may carry the answer of a late offer).
    AckOf2xx(TxId, Request),
    /// A retransmission or the ACK of a non-2xx: handled here, nothing for the call layer.
    Absorbed,
}

/// What a received response means.
#[derive(Debug)]
pub enum Received {
    /// A response of the client transaction for the call layer (a 2xx retransmission is
    /// passed up again so that the caller can resend its ACK: `retransmission` is set).
    Response {
        /// The transaction.
        tx: TxId,
        /// The response.
        response: Response,
        /// Whether this is a retransmitted 2xx (resend the ACK; do not act again).
        retransmission: bool,
    },
    /// Matches no transaction: RFC 3261 §17.1.3 says drop it (a stray 2xx is the caller's to ACK).
    Stray(Response),
    /// A retransmission handled here.
    Absorbed,
}

/// Something that happened without a message arriving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A client transaction got no final response in time (Timer B or F): act as on a 408.
    Timeout(TxId),
    /// A server INVITE transaction's final response was never ACKed (Timer H or, for a 2xx,
    /// Timer L): the call layer ends the dialog.
    NoAck(TxId),
}

/// Bytes to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub target: Target,
    /// The message.
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the RFC's own four names
enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

struct Tx {
    kind: Kind,
    state: State,
    target: Target,
    key: Key,
    /// Client: the request (for retransmission and the ACK of a non-2xx).
    request: Option<Request>,
    /// Client: the request's bytes; server: the last response's bytes.
    bytes: Vec<u8>,
    /// The current retransmission interval (A, E, G).
    interval: Duration,
    /// Deadlines of the two timers a transaction may run at once: [retransmit, lifetime].
    deadlines: [Option<(Timer, Duration)>; 2],
    /// For an accepted server INVITE: the Call-ID and CSeq its 2xx's ACK carries.
    ack_key: Option<(String, u32)>,
    /// A client INVITE the call layer has cancelled: its lifetime (Timer B) stays armed.
    cancelled: bool,
}

impl Tx {
    /// Lets go of the request and the bytes once nothing will be retransmitted: a finished
    /// transaction lingers for up to 32 s (Timers D, J, L, M) only to absorb copies, and
    /// holding a whole parsed request that long is most of a busy endpoint's memory.
    fn shed(&mut self) {
        self.request = None;
        self.bytes = Vec::new();
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    client: bool,
    branch: String,
    /// Server side: the top Via's sent-by (RFC 3261 §17.2.3).
    sent_by: String,
    /// INVITE for INVITE and ACK; the request's method otherwise.
    method: Method,
}

/// All transactions of one SIP endpoint.
pub struct Transactions {
    config: TimerConfig,
    /// Boxed: the tables grow while a busy endpoint warms up (finished transactions linger
    /// 32 s), and a rehash then moves pointers instead of 360-byte transactions.
    txs: HashMap<u64, Box<Tx>>,
    by_key: HashMap<Key, u64>,
    /// Accepted server INVITEs by (Call-ID, CSeq), to match the ACK of their 2xx.
    accepted: HashMap<(String, u32), u64>,
    heap: BinaryHeap<Reverse<(Duration, u64, Timer)>>,
    next_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

fn key_method(m: &Method) -> Method {
    if *m == Method::Ack { Method::Invite } else { m.clone() }
}

/// The server-side key of a request, with an RFC 2543 fallback for branches without the magic
/// cookie (§17.2.3 lets us match those by the request's identifying headers).
fn server_key(req: &Request) -> Option<Key> {
    let via = req.top_via()?;
    let sent_by = format!("{}:{}", via.host, via.port.unwrap_or(0));
    let branch = match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => b.to_string(),
        _ => {
            let from_tag = req.from().and_then(|f| f.tag().map(str::to_string)).unwrap_or_default();
            format!("2543|{}|{}|{}|{}", req.call_id(), req.cseq()?.seq, from_tag, req.uri)
        }
    };
    Some(Key { client: false, branch, sent_by, method: key_method(&req.method) })
}

/// Where a response to a request from `source` goes (RFC 3261 §18.2.2, RFC 3581 rport): back on
/// the connection for streams; over UDP to the source address, at the Via's port unless rport.
fn response_target(req: &Request, source: Target) -> Target {
    if source.transport.reliable() {
        return source;
    }
    let Some(via) = req.top_via() else { return source };
    if via.params.get("rport").is_some() {
        return source;
    }
    let port = via.port.unwrap_or(5060);
    Target { addr: SocketAddr::new(source.addr.ip(), port), ..source }
}

impl Transactions {
    /// No transactions.
    pub fn new(config: TimerConfig) -> Self {
        Transactions {
            config,
            txs: HashMap::new(),
            by_key: HashMap::new(),
            accepted: HashMap::new(),
            heap: BinaryHeap::new(),
            next_id: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Transactions alive now (including those absorbing retransmissions).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Each live transaction's kind, state and armed timers (for diagnostics and tests).
    pub fn describe(&self) -> Vec<String> {
        self.txs
            .iter()
            .map(|(id, t)| {
                format!("{id}: {:?} {:?} {:?} method {:?}", t.kind, t.state, t.deadlines, t.key.method)
            })
            .collect()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn arm(&mut self, id: u64, slot: usize, timer: Timer, at: Duration) {
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.deadlines[slot] = Some((timer, at));
            self.heap.push(Reverse((at, id, timer)));
        }
    }

    fn insert(&mut self, tx: Tx) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.by_key.insert(tx.key.clone(), id);
        self.txs.insert(id, Box::new(tx));
        id
    }

    fn terminate(&mut self, id: u64) {
        if let Some(tx) = self.txs.remove(&id) {
            self.by_key.remove(&tx.key);
            if let Some(k) = tx.ack_key {
                self.accepted.remove(&k);
            }
        }
    }

    fn send(&mut self, target: Target, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { target, bytes });
    }

    /// Whether `req`, arriving from `source`, is a copy of the request of a server transaction
    /// alive now: a retransmission, which [`Transactions::receive_request`] would absorb and
    /// answer with the transaction's last response. It makes no transaction. The call layer asks
    /// before answering a request statelessly (a BYE's copy after its dialog ended must get its
    /// 200 again, not a 481); the source must be the one the transaction answers, so a copy
    /// from anyone else is no retransmission (and makes no resend toward the real peer).
    pub fn is_retransmission(&self, req: &Request, source: IpAddr) -> bool {
        server_key(req)
            .and_then(|key| self.by_key.get(&key))
            .and_then(|id| self.txs.get(id))
            .is_some_and(|tx| tx.target.addr.ip().to_canonical() == source.to_canonical())
    }

    /// A request arrived from `source`.
    pub fn receive_request(&mut self, now: Duration, req: Request, source: Target) -> Incoming {
        if req.method == Method::Ack {
            // The ACK of a 2xx: a new transaction's branch, matched by Call-ID and CSeq.
            if let Some(cseq) = req.cseq()
                && let Some(&id) = self.accepted.get(&(req.call_id().to_string(), cseq.seq))
            {
                if let Some(tx) = self.txs.get_mut(&id)
                    && tx.state == State::Accepted
                    && tx.deadlines[0].is_some()
                {
                    // First ACK: stop retransmitting; stay Accepted to absorb INVITE copies.
                    tx.deadlines[0] = None;
                    tx.shed();
                    return Incoming::AckOf2xx(TxId(id), req);
                }
                return Incoming::Absorbed;
            }
        }
        let Some(key) = server_key(&req) else { return Incoming::New(None, req) };
        if let Some(&id) = self.by_key.get(&key) {
            let Some(tx) = self.txs.get_mut(&id) else { return Incoming::Absorbed };
            if req.method == Method::Ack {
                if tx.kind == Kind::ServerInvite && tx.state == State::Completed {
                    tx.state = State::Confirmed;
                    tx.deadlines = [None, None];
                    tx.shed();
                    let reliable = tx.target.transport.reliable();
                    let wait = if reliable { Duration::ZERO } else { self.config.t4 };
                    self.arm(id, 1, Timer::I, now + wait);
                }
                return Incoming::Absorbed;
            }
            // A retransmitted request: repeat the last response, if any (§17.2.1, §17.2.2).
            if !tx.bytes.is_empty() && tx.state != State::Accepted {
                let (target, bytes) = (tx.target, tx.bytes.clone());
                self.send(target, bytes);
            }
            return Incoming::Absorbed;
        }
        if req.method == Method::Ack {
            // An ACK for no transaction of ours: the call layer's (e.g. a 2xx we did not send).
            return Incoming::New(None, req);
        }
        let target = response_target(&req, source);
        let invite = req.method == Method::Invite;
        let mut tx = Tx {
            kind: if invite { Kind::ServerInvite } else { Kind::ServerNonInvite },
            state: if invite { State::Proceeding } else { State::Trying },
            target,
            key,
            request: None,
            bytes: Vec::new(),
            interval: self.config.t1,
            deadlines: [None, None],
            ack_key: None,
            cancelled: false,
        };
        if invite {
            // 100 Trying at once: a B2BUA always takes time to reach the other leg (§17.2.1).
            tx.bytes = req.response(100, "Trying", None).to_bytes();
            self.send(target, tx.bytes.clone());
        }
        let id = self.insert(tx);
        Incoming::New(Some(TxId(id)), req)
    }

    /// The call layer's response in server transaction `tx`. Unknown or finished transactions
    /// ignore it (the response would be a protocol error; nothing is sent).
    pub fn respond(&mut self, now: Duration, tx: TxId, response: &Response) -> bool {
        let id = tx.0;
        let Some(t) = self.txs.get_mut(&id) else { return false };
        let final_ = response.status >= 200;
        if !matches!(t.state, State::Proceeding | State::Trying) {
            return false;
        }
        t.bytes = response.to_bytes();
        let (target, bytes) = (t.target, t.bytes.clone());
        let reliable = target.transport.reliable();
        let kind = t.kind;
        if final_ {
            t.deadlines = [None, None];
            t.interval = self.config.t1;
        }
        self.send(target, bytes);
        if !final_ {
            if let Some(t) = self.txs.get_mut(&id) {
                t.state = State::Proceeding;
            }
            return true;
        }
        let t1 = self.config.t1;
        match (kind, response.status) {
            (Kind::ServerInvite, 200..=299) => {
                let ack_key =
                    response.cseq().map(|c| (response.call_id().to_string(), c.seq)).unwrap_or_default();
                if let Some(t) = self.txs.get_mut(&id) {
                    t.state = State::Accepted;
                    t.ack_key = Some(ack_key.clone());
                }
                self.accepted.insert(ack_key, id);
                // The 2xx is retransmitted until its ACK over UDP (RFC 3261 §13.3.1.4); a
                // stream delivers it, but the ACK is still awaited (Timer L says when to give up).
                if !reliable {
                    self.arm(id, 0, Timer::G, now + t1);
                } else if let Some(t) = self.txs.get_mut(&id) {
                    // Mark "waiting for ACK" without retransmitting.
                    t.deadlines[0] = Some((Timer::G, Duration::MAX));
                }
                self.arm(id, 1, Timer::L, now + 64 * t1);
            }
            (Kind::ServerInvite, _) => {
                if let Some(t) = self.txs.get_mut(&id) {
                    t.state = State::Completed;
                }
                if !reliable {
                    self.arm(id, 0, Timer::G, now + t1);
                }
                self.arm(id, 1, Timer::H, now + 64 * t1);
            }
            _ => {
                if let Some(t) = self.txs.get_mut(&id) {
                    t.state = State::Completed;
                }
                let wait = if reliable { Duration::ZERO } else { 64 * t1 };
                self.arm(id, 1, Timer::J, now + wait);
            }
        }
        true
    }

    /// The server INVITE transaction a CANCEL refers to (RFC 3261 §9.2), if it still runs and
    /// has not sent a final response.
    pub fn invite_for_cancel(&self, cancel: &Request) -> Option<TxId> {
        let mut key = server_key(cancel)?;
        key.method = Method::Invite;
        let id = *self.by_key.get(&key)?;
        let tx = self.txs.get(&id)?;
        matches!(tx.state, State::Proceeding).then_some(TxId(id))
    }

    /// Sends `request` to `target` in a new client transaction. The request's top Via must
    /// carry a unique `z9hG4bK` branch. ACKs are not transactions: send them with
    /// [`Transactions::send_stateless`].
    pub fn send_request(&mut self, now: Duration, request: Request, target: Target) -> TxId {
        let branch = request.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
        let invite = request.method == Method::Invite;
        let key = Key { client: true, branch, sent_by: String::new(), method: key_method(&request.method) };
        let bytes = request.to_bytes();
        let t1 = self.config.t1;
        let tx = Tx {
            kind: if invite { Kind::ClientInvite } else { Kind::ClientNonInvite },
            state: if invite { State::Calling } else { State::Trying },
            target,
            key,
            request: Some(request),
            bytes: bytes.clone(),
            interval: t1,
            deadlines: [None, None],
            ack_key: None,
            cancelled: false,
        };
        let id = self.insert(tx);
        self.send(target, bytes);
        if !target.transport.reliable() {
            self.arm(id, 0, if invite { Timer::A } else { Timer::E }, now + t1);
        }
        self.arm(id, 1, if invite { Timer::B } else { Timer::F }, now + 64 * t1);
        TxId(id)
    }

    /// The call layer sent a CANCEL for client INVITE transaction `tx`: if no final response
    /// comes within 64·T1 the transaction ends as timed out (RFC 3261 §9.1), even in
    /// Proceeding, where Timer B no longer runs.
    pub fn cancelled(&mut self, now: Duration, tx: TxId) {
        let t1 = self.config.t1;
        if let Some(t) = self.txs.get_mut(&tx.0)
            && t.kind == Kind::ClientInvite
            && matches!(t.state, State::Calling | State::Proceeding)
            && !t.cancelled
        {
            t.cancelled = true;
            self.arm(tx.0, 1, Timer::B, now + 64 * t1);
        }
    }

    /// Sends bytes outside any transaction (an ACK for a 2xx, a stateless reply).
    pub fn send_stateless(&mut self, target: Target, bytes: Vec<u8>) {
        self.send(target, bytes);
    }

    /// A response arrived from `source`: taken only if it comes from the address its request
    /// went to (its IP: a peer may answer from another port), so that no one else can answer
    /// for a peer by guessing a branch. Anything else is [`Received::Stray`].
    pub fn receive_response_from(
        &mut self,
        now: Duration,
        response: Response,
        source: std::net::IpAddr,
    ) -> Received {
        let from_target = response
            .top_via()
            .zip(response.cseq())
            .and_then(|(via, cseq)| {
                let key = Key {
                    client: true,
                    branch: via.branch().unwrap_or("").to_string(),
                    sent_by: String::new(),
                    method: key_method(&cseq.method),
                };
                self.by_key.get(&key).and_then(|id| self.txs.get(id))
            })
            .is_none_or(|tx| tx.target.addr.ip().to_canonical() == source.to_canonical());
        if !from_target {
            return Received::Stray(response);
        }
        self.receive_response(now, response)
    }

    /// A response arrived (from a source already checked, or in tests).
    pub fn receive_response(&mut self, now: Duration, response: Response) -> Received {
        let Some(via) = response.top_via() else { return Received::Stray(response) };
        let Some(cseq) = response.cseq() else { return Received::Stray(response) };
        let key = Key {
            client: true,
            branch: via.branch().unwrap_or("").to_string(),
            sent_by: String::new(),
            method: key_method(&cseq.method),
        };
        let Some(&id) = self.by_key.get(&key) else { return Received::Stray(response) };
        let t1 = self.config.t1;
        let Some(tx) = self.txs.get_mut(&id) else { return Received::Stray(response) };
        let reliable = tx.target.transport.reliable();
        let status = response.status;
        match (tx.kind, tx.state) {
            (Kind::ClientInvite, State::Calling | State::Proceeding) => {
                if status < 200 {
                    // Timer A stops, and so does B: it bounds Calling only (§17.1.1.2). How long
                    // a phone may ring is the call layer's decision.
                    tx.state = State::Proceeding;
                    tx.deadlines[0] = None;
                    if !tx.cancelled {
                        tx.deadlines[1] = None;
                    }
                } else if status < 300 {
                    tx.state = State::Accepted;
                    tx.deadlines = [None, None];
                    tx.shed();
                    self.arm(id, 1, Timer::M, now + 64 * t1);
                } else {
                    let ack = self.ack_for(id, &response);
                    if let Some(tx) = self.txs.get_mut(&id) {
                        tx.state = State::Completed;
                        tx.deadlines = [None, None];
                        tx.shed();
                        tx.bytes = ack.clone();
                        let target = tx.target;
                        self.send(target, ack);
                    }
                    // Timer D: at least 32 s over UDP, zero over streams (§17.1.1.2).
                    let wait = if reliable { Duration::ZERO } else { Duration::from_secs(32).max(64 * t1) };
                    self.arm(id, 1, Timer::D, now + wait);
                }
                Received::Response { tx: TxId(id), response, retransmission: false }
            }
            (Kind::ClientInvite, State::Accepted) if (200..300).contains(&status) => {
                Received::Response { tx: TxId(id), response, retransmission: true }
            }
            (Kind::ClientInvite, State::Completed) if status >= 300 => {
                let (target, ack) = (tx.target, tx.bytes.clone());
                self.send(target, ack);
                Received::Absorbed
            }
            (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                if status < 200 {
                    tx.state = State::Proceeding;
                } else {
                    tx.state = State::Completed;
                    tx.deadlines = [None, None];
                    tx.shed();
                    let wait = if reliable { Duration::ZERO } else { self.config.t4 };
                    self.arm(id, 1, Timer::K, now + wait);
                }
                Received::Response { tx: TxId(id), response, retransmission: false }
            }
            _ => Received::Absorbed,
        }
    }

    /// The ACK of a non-2xx final response, built from the original request (§17.1.1.3).
    fn ack_for(&self, id: u64, response: &Response) -> Vec<u8> {
        let Some(req) = self.txs.get(&id).and_then(|t| t.request.as_ref()) else { return Vec::new() };
        let mut ack = Request::new(Method::Ack, req.uri.clone());
        if let Some(via) = req.headers.values("Via").next() {
            ack.headers.push("Via", via);
        }
        for name in ["Max-Forwards", "From"] {
            if let Some(v) = req.headers.get(name) {
                ack.headers.push(name, v);
            }
        }
        if let Some(to) = response.headers.get("To") {
            ack.headers.push("To", to);
        }
        ack.headers.push("Call-ID", req.call_id());
        if let Some(c) = req.cseq() {
            ack.headers.push("CSeq", format!("{} ACK", c.seq));
        }
        for route in req.headers.all("Route") {
            ack.headers.push("Route", route);
        }
        ack.to_bytes()
    }

    /// The transport failed toward a client transaction's target: it ends as if timed out.
    pub fn transport_error(&mut self, tx: TxId) {
        if let Some(t) = self.txs.get(&tx.0)
            && matches!(t.kind, Kind::ClientInvite | Kind::ClientNonInvite)
            && matches!(t.state, State::Calling | State::Trying | State::Proceeding)
        {
            self.terminate(tx.0);
            self.events.push_back(TxEvent::Timeout(tx));
        }
    }

    /// Sending to `addr` over `transport` failed (a refused connection, a failed handshake):
    /// every client transaction still waiting on that peer ends as timed out (RFC 3261 §17.1.4),
    /// now rather than at Timer B or F.
    pub fn transport_failed(&mut self, transport: Transport, addr: SocketAddr) {
        let failed: Vec<u64> = self
            .txs
            .iter()
            .filter(|(_, t)| t.target.transport == transport && t.target.addr == addr)
            .map(|(&id, _)| id)
            .collect();
        for id in failed {
            self.transport_error(TxId(id));
        }
    }

    /// The earliest time [`Transactions::handle_timeout`] has work.
    pub fn poll_timeout(&mut self) -> Option<Duration> {
        while let Some(Reverse((at, id, timer))) = self.heap.peek().copied() {
            if self.is_live(id, timer, at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    fn is_live(&self, id: u64, timer: Timer, at: Duration) -> bool {
        self.txs.get(&id).is_some_and(|t| t.deadlines.iter().flatten().any(|&(tm, d)| tm == timer && d == at))
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(Reverse((at, id, timer))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if !self.is_live(id, timer, at) {
                continue;
            }
            self.fire(now, id, timer);
        }
    }

    fn fire(&mut self, now: Duration, id: u64, timer: Timer) {
        let t2 = self.config.t2;
        let Some(tx) = self.txs.get_mut(&id) else { return };
        match timer {
            Timer::A | Timer::E | Timer::G => {
                let (target, bytes) = (tx.target, tx.bytes.clone());
                // A doubles without bound (§17.1.1.2); E in Proceeding and G cap at T2.
                tx.interval = match timer {
                    Timer::A => tx.interval * 2,
                    Timer::E if tx.state == State::Proceeding => t2,
                    _ => (tx.interval * 2).min(t2),
                };
                let next = now + tx.interval;
                tx.deadlines[0] = None;
                self.send(target, bytes);
                self.arm(id, 0, timer, next);
            }
            Timer::B | Timer::F => {
                self.terminate(id);
                self.events.push_back(TxEvent::Timeout(TxId(id)));
            }
            Timer::H => {
                self.terminate(id);
                self.events.push_back(TxEvent::NoAck(TxId(id)));
            }
            Timer::L => {
                // Still retransmitting the 2xx (no ACK came): the dialog must end.
                let unacked = tx.deadlines[0].is_some();
                self.terminate(id);
                if unacked {
                    self.events.push_back(TxEvent::NoAck(TxId(id)));
                }
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::M => self.terminate(id),
        }
    }

    /// The next message to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
}

/// Parses bytes of a transmit again (for tests and tools that inspect what was sent).
pub fn parse_transmit(t: &Transmit) -> Option<crate::message::Message> {
    parse(&t.bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn request(method: Method) -> Request {
        let text = format!(
            "{m} sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKshed\r\n\
             From: <sip:c@127.0.0.1>;tag=f\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: shed\r\n\
             CSeq: 1 {m}\r\nMax-Forwards: 70\r\n\r\n",
            m = method.as_str()
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Finished transactions linger for Timers D, J, L and M holding nothing but their key
    /// (and, for a non-INVITE server, the response copies get again).
    #[test]
    fn finished_transactions_let_go_of_their_messages() {
        let target = Target {
            transport: Transport::Udp,
            addr: SocketAddr::from(([127, 0, 0, 1], 5070)),
            conn: None,
            local: None,
        };
        let held = |t: &Transactions, id: TxId| {
            let tx = &t.txs[&id.0];
            (tx.request.is_some(), tx.bytes.len())
        };
        for method in [Method::Invite, Method::Bye] {
            let mut t = Transactions::new(TimerConfig::default());
            let id = t.send_request(Duration::ZERO, request(method.clone()), target);
            assert!(held(&t, id).0, "{method:?}: kept for retransmission");
            let ok = request(method.clone()).response(200, "OK", None);
            assert!(matches!(t.receive_response(Duration::ZERO, ok), Received::Response { .. }));
            assert_eq!(held(&t, id), (false, 0), "{method:?}: nothing held after the final response");
        }
        // Server side: an INVITE's 2xx is held until its ACK, a BYE's 200 for its copies.
        let mut t = Transactions::new(TimerConfig::default());
        let Incoming::New(Some(id), req) = t.receive_request(Duration::ZERO, request(Method::Bye), target)
        else {
            panic!("a new transaction")
        };
        assert!(t.respond(Duration::ZERO, id, &req.response(200, "OK", None)));
        assert!(held(&t, id).1 > 0, "the BYE's 200 is kept for its copies");
        let Incoming::New(Some(id), invite) =
            t.receive_request(Duration::ZERO, request(Method::Invite), target)
        else {
            panic!("a new transaction")
        };
        assert!(t.respond(Duration::ZERO, id, &invite.response(200, "OK", Some("t"))));
        assert!(held(&t, id).1 > 0, "the INVITE's 2xx is kept for retransmission until its ACK");
        let mut ack = request(Method::Ack);
        ack.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKack");
        assert!(matches!(t.receive_request(Duration::ZERO, ack, target), Incoming::AckOf2xx(..)));
        assert_eq!(held(&t, id), (false, 0), "nothing held once the ACK came");
    }
}
