//! SIP transports: UDP, TCP and TLS over IPv4 and IPv6, moving whole messages as bytes.
//!
//! ```text
//!  core thread ── SignalHandle::send(Outbound) ──► command queue ──► signal thread (tokio, 1 thread)
//!                                                                    ├ UDP sockets: send_to / recv_from
//!                                                                    ├ TCP/TLS listeners: accept (+ TLS handshake)
//!                                                                    └ connections: StreamFramer, writer queue
//!  core thread ◄── Receiver<Inbound> (bounded) ◄──────────────────── one message per datagram / frame
//! ```
//!
//! With [`start_direct`] the core thread serves the UDP sockets itself through [`CoreIo`]
//! (`recvfrom` and `sendto` on the core's own thread, no hop), and the signal thread keeps
//! only TCP and TLS; `tonewall serve` runs this way.
//!
//! The outside is synchronous so a sans-IO core loop can pump it from a plain thread:
//! [`SignalHandle::send`] never blocks and the inbound side is a `std::sync::mpsc` receiver
//! (`recv_timeout` fits a loop that also has timers). Inside, one tokio thread owns every
//! socket. Stream connections are cut into messages by [`tonewall_sip::framing::StreamFramer`];
//! CRLFCRLF keep-alives are answered with CRLF here and never reach the core.
//!
//! Connections: an [`Outbound`] goes to the connection named by `conn` while it lives, else to
//! any live connection of that transport to `dest` (accepted or dialled), else a new one is
//! dialled; replies on a dialled connection arrive as [`Inbound`] with its [`ConnId`]. Memory is
//! bounded: at most [`SignalConfig::max_connections`] connections, at most
//! [`SignalConfig::max_pending_write`] bytes queued per connection, at most
//! [`SignalConfig::inbound_queue`] messages waiting for the core (UDP drops past it, streams stop
//! reading until there is room, which pushes back on the peer through TCP flow control).
//!
//! What it does not do: parse SIP (it never looks past the framing), DNS or RFC 3263 (targets are
//! socket addresses), report transport errors to the core (they are counted in [`SignalStats`]
//! and logged without message bytes), send keep-alive pings of its own, or WebSocket.

mod conn;
mod direct;
mod driver;
mod tls;

pub use direct::CoreIo;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A SIP transport, named as in the Via header's sent-protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams: one message per datagram, no connection.
    Udp,
    /// A TCP connection carrying framed messages.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2), framed like TCP.
    Tls,
}

impl Transport {
    /// Whether messages on this transport travel over a connection (and so have a [`ConnId`]).
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        })
    }
}

/// One TCP or TLS connection, accepted or dialled. Ids are never reused within a process, so a
/// stale id names a dead connection rather than someone else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// The number inside, for logs and metrics, and for sans-IO cores that keep it as a number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id a core kept as a number ([`ConnId::get`]). A number that names no live
    /// connection only makes the send fall back to the destination address.
    pub fn from_raw(id: u64) -> ConnId {
        ConnId(id)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Where to listen and how to behave.
#[derive(Clone, Debug)]
pub struct SignalConfig {
    /// UDP addresses to bind (port 0 picks one; see [`SignalHandle::local_addrs`]). IPv6 sockets
    /// are IPv6-only, so `0.0.0.0:5060` and `[::]:5060` can both be listed.
    pub udp: Vec<SocketAddr>,
    /// TCP listening addresses.
    pub tcp: Vec<SocketAddr>,
    /// TLS listening addresses; they need `tls_cert` and `tls_key`.
    pub tls: Vec<SocketAddr>,
    /// PEM certificate chain presented by the TLS listeners (leaf first), and as the client
    /// certificate when we dial out over TLS and the server asks for one.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates. When set, TLS clients (trunks) may present a certificate, which must
    /// then verify against these; clients without one are still accepted.
    pub tls_client_ca: Option<PathBuf>,
    /// Trunks that must prove who they are over TLS: a TLS connection from one of an
    /// identity's networks is closed unless its client certificate (verified against
    /// `tls_client_ca`) is valid for that identity's name. Connections from elsewhere are as
    /// without this. Needs `tls_client_ca`.
    pub tls_identities: Vec<TlsIdentity>,
    /// PEM CA certificates that servers we dial over TLS (agents) must chain to. `None`: we do
    /// not dial out over TLS at all (such sends fail and are counted) — trusting nothing is
    /// safer than guessing a trust store, and there is no system store in this build.
    pub tls_roots: Option<PathBuf>,
    /// Largest message, headers and body, on any transport; bigger ones close the connection
    /// (streams) or are dropped (UDP).
    pub max_message: usize,
    /// A connection with nothing read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Most TCP and TLS connections open at once, accepted and dialled together; further
    /// accepts are closed at once and further dials fail.
    pub max_connections: usize,
    /// Most connections accepted from one IP address at once, so that one host cannot take
    /// every slot (agents behind one NAT share an address: size it for the largest such site).
    pub max_connections_per_source: usize,
    /// Most bytes queued for one connection and not yet taken by the kernel; sends beyond it
    /// are dropped and counted, so a peer that stops reading cannot grow our memory.
    pub max_pending_write: usize,
    /// Most inbound messages waiting for the core.
    pub inbound_queue: usize,
}

/// A peer that must present a client certificate valid for `name` when it connects over TLS
/// from one of `networks` (see [`SignalConfig::tls_identities`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TlsIdentity {
    /// Where the peer connects from.
    pub networks: Vec<tonewall_media::anchor::Cidr>,
    /// A DNS name (or IP address) its certificate's subject alternative names must cover.
    pub name: String,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            udp: Vec::new(),
            tcp: Vec::new(),
            tls: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_identities: Vec::new(),
            tls_roots: None,
            max_message: tonewall_sip::framing::DEFAULT_MAX_MESSAGE,
            // Longer than the usual 30–120 s client keep-alive interval (RFC 5626 §4.4.1 suggests
            // 95–120 s for CRLF pings), so a flow that keeps itself alive stays open.
            idle_timeout: Duration::from_secs(300),
            max_connections: 10_000,
            max_connections_per_source: 1_000,
            max_pending_write: 1024 * 1024,
            inbound_queue: 8192,
        }
    }
}

/// A message received, as bytes: one datagram or one framed stream message.
#[derive(Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The transport it came over.
    pub transport: Transport,
    /// Our address it arrived at: the UDP socket's bound address (so `0.0.0.0:5060` for a
    /// wildcard bind; pass it back as [`Outbound::local`] to answer from the same socket), or the
    /// connection's local end.
    pub local: SocketAddr,
    /// The peer's address (for Via `received`/`rport`).
    pub source: SocketAddr,
    /// The connection it came on; `None` for UDP.
    pub conn: Option<ConnId>,
    /// The whole message.
    pub bytes: Vec<u8>,
    /// Not a message but a notice: a send to `source` over `transport` failed (the connection
    /// was refused, its TLS handshake failed, no slot or no trust roots), and `bytes` is empty.
    /// A core treats its transactions toward that address as failed at once (RFC 3261 §17.1.4)
    /// instead of waiting out their timers.
    pub send_failed: bool,
}

/// Message bytes may hold credentials or captured digits: `Debug` shows only their length.
impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("transport", &self.transport)
            .field("local", &self.local)
            .field("source", &self.source)
            .field("conn", &self.conn)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The transport to send over.
    pub transport: Transport,
    /// Where to: the datagram's destination, or the connection's peer.
    pub dest: SocketAddr,
    /// UDP: send from the socket bound to this address (the one a request came in on, so the
    /// response leaves from where the client sent to). TCP/TLS dials: the local IP to dial from.
    /// `None`, or an address we have no socket on: the first socket of `dest`'s address family.
    pub local: Option<SocketAddr>,
    /// TCP/TLS: this connection if it is still open, else any connection to `dest`, else a
    /// new one. Ignored for UDP.
    pub conn: Option<ConnId>,
    /// TLS dials: the name sent as SNI and checked against the server's certificate; `None`
    /// uses `dest`'s IP address (the certificate must then name that IP).
    pub server_name: Option<String>,
    /// The whole message.
    pub bytes: Vec<u8>,
}

impl Outbound {
    /// A message to `dest` over `transport`, with no preference for socket or connection.
    pub fn new(transport: Transport, dest: SocketAddr, bytes: Vec<u8>) -> Self {
        Outbound { transport, dest, local: None, conn: None, server_name: None, bytes }
    }

    /// A message back to where `inbound` came from, over the same transport, socket and
    /// connection (RFC 3261 §18.2.2: responses go back over the request's connection).
    pub fn reply_to(inbound: &Inbound, bytes: Vec<u8>) -> Self {
        Outbound {
            transport: inbound.transport,
            dest: inbound.source,
            local: Some(inbound.local),
            conn: inbound.conn,
            server_name: None,
            bytes,
        }
    }
}

/// Message bytes may hold credentials or captured digits: `Debug` shows only their length.
impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("transport", &self.transport)
            .field("dest", &self.dest)
            .field("local", &self.local)
            .field("conn", &self.conn)
            .field("server_name", &self.server_name)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// Counters for the binary to publish. Monotonic unless noted.
#[derive(Debug, Default)]
pub struct SignalStats {
    /// Messages delivered to the core.
    pub received: AtomicU64,
    /// Messages handed to a socket or a connection's write queue.
    pub sent: AtomicU64,
    /// Messages that could not be sent: no socket for the address family, the kernel refused,
    /// the connection could not be dialled or closed first, its write queue was full.
    pub send_failures: AtomicU64,
    /// Inbound messages dropped: the core's queue was full (UDP) or the core is gone, or a
    /// datagram was larger than `max_message`.
    pub inbound_dropped: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections dialled (attempts).
    pub dialled: AtomicU64,
    /// Connections refused because `max_connections` were open.
    pub refused: AtomicU64,
    /// Connections closed because their stream could not be framed (oversize, no or bad
    /// Content-Length).
    pub framing_errors: AtomicU64,
    /// TLS handshakes that failed or timed out, either direction.
    pub tls_handshake_failures: AtomicU64,
    /// TLS connections closed because the peer's certificate was missing or not valid for the
    /// name its [`TlsIdentity`] requires.
    pub tls_identity_refused: AtomicU64,
    /// Connections closed for being idle.
    pub idle_closed: AtomicU64,
    /// Connections open now (a gauge).
    pub open_connections: AtomicU64,
}

impl SignalStats {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The sending side and the facts of a running signal layer. Cloning is cheap; when the last
/// clone is dropped the signal thread stops and closes every socket and connection.
#[derive(Clone)]
pub struct SignalHandle {
    commands: tokio::sync::mpsc::UnboundedSender<Outbound>,
    local_addrs: Arc<Vec<(Transport, SocketAddr)>>,
    stats: Arc<SignalStats>,
}

impl fmt::Debug for SignalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandle").field("local_addrs", &self.local_addrs).finish_non_exhaustive()
    }
}

impl SignalHandle {
    /// Queues a message; never blocks. Whatever goes wrong later is counted in
    /// [`SignalStats::send_failures`] and logged; the core learns of it the SIP way (a timeout).
    pub fn send(&self, message: Outbound) {
        if self.commands.send(message).is_err() {
            // The signal thread is gone (it only stops when every handle is dropped, or on a panic).
            SignalStats::add(&self.stats.send_failures);
        }
    }

    /// Every listening socket with the address it is actually bound to (port 0 resolved), in
    /// configuration order: UDP, then TCP, then TLS.
    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        self.local_addrs.as_ref().clone()
    }

    /// The counters.
    pub fn stats(&self) -> &SignalStats {
        &self.stats
    }
}

/// The UDP socket a message leaves from: the one bound to `message.local` if there is one,
/// else the first of the destination's address family.
fn udp_socket_for<'a, S>(sockets: &'a [(SocketAddr, S)], message: &Outbound) -> Option<&'a S> {
    let family = |a: &SocketAddr| a.is_ipv4() == message.dest.is_ipv4();
    let named = message.local.and_then(|l| sockets.iter().find(|(a, _)| *a == l && family(a)));
    named.or_else(|| sockets.iter().find(|(a, _)| family(a))).map(|(_, s)| s)
}

/// Binds every configured socket, loads the TLS material and starts the signal thread. Errors
/// here name the address that would not bind or the file that is wrong; nothing is running if
/// this fails.
pub fn start(config: SignalConfig) -> io::Result<(SignalHandle, std::sync::mpsc::Receiver<Inbound>)> {
    driver::start(config, false).map(|(handle, inbound, _)| (handle, inbound))
}

/// Like [`start`], but the core thread serves the UDP sockets itself, through the returned
/// [`CoreIo`]: datagrams go from the kernel to the core and back without a hop through the
/// signal thread. That hop is two cross-thread wakes per burst, which at a few thousand
/// messages a second cost more CPU than the messages themselves. TCP and TLS stay on the
/// signal thread; their messages still arrive on the receiver, and wake [`CoreIo::wait`].
/// [`SignalHandle::send`] of a UDP message fails (counted): send those with
/// [`CoreIo::send_udp`].
pub fn start_direct(
    config: SignalConfig,
) -> io::Result<(SignalHandle, std::sync::mpsc::Receiver<Inbound>, CoreIo)> {
    let (handle, inbound, io) = driver::start(config, true)?;
    let io = io.ok_or_else(|| io::Error::other("direct UDP not set up"))?;
    Ok((handle, inbound, io))
}
