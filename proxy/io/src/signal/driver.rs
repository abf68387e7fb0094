//! The signal thread: binds sockets, runs the listeners and UDP receivers, and dispatches the
//! core's [`Outbound`] messages to sockets and connections (dialling when needed).

use super::conn::{self, ConnInfo, Limits, QueueError, Registration, Shared};
use super::tls::{self, TlsSetup};
use super::{CoreIo, Inbound, Outbound, SignalConfig, SignalHandle, SignalStats, TlsIdentity, Transport};
use rustls_pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Longest a TCP connect may take when dialling.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a TLS handshake may take, either direction: a peer that opens a connection and says
/// nothing holds a connection slot for at most this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn bind_error(transport: Transport, addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("binding {transport} {addr}: {e}"))
}

fn new_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        // IPv6-only, so an IPv4 socket on the same port can sit beside it.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Receive buffer asked for on SIP UDP sockets: a burst (a carrier failing over sends its
/// calls at once) waits in the kernel while the core is busy instead of being dropped. The
/// kernel grants at most `net.core.rmem_max` (often 208 KiB: raise it for busy trunks).
const UDP_RECV_BUFFER: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    // A smaller buffer than asked is no reason not to run.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    // Restarting while old connections sit in TIME_WAIT must not fail to bind.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn validate(config: &SignalConfig) -> io::Result<()> {
    if config.max_message == 0 || config.max_message > 16 << 20 {
        return Err(invalid(format!("max_message must be between 1 and 16 MiB, not {}", config.max_message)));
    }
    if config.max_pending_write < config.max_message {
        return Err(invalid("max_pending_write must be at least max_message".to_string()));
    }
    if config.max_connections == 0 || config.inbound_queue == 0 || config.idle_timeout.is_zero() {
        return Err(invalid("max_connections, inbound_queue and idle_timeout must not be zero".to_string()));
    }
    if !config.tls_identities.is_empty() && config.tls_client_ca.is_none() {
        return Err(invalid("TLS identities need tls_client_ca (to verify client certificates)".to_string()));
    }
    if let Some(bad) = config.tls_identities.iter().find(|i| ServerName::try_from(i.name.as_str()).is_err()) {
        return Err(invalid(format!("`{}` is not a DNS name or IP address", bad.name)));
    }
    Ok(())
}

pub(super) fn start(
    config: SignalConfig,
    direct: bool,
) -> io::Result<(SignalHandle, Receiver<Inbound>, Option<CoreIo>)> {
    validate(&config)?;
    let TlsSetup { acceptor, connector } = tls::setup(&config)?;

    let udp = config
        .udp
        .iter()
        .map(|&a| bind_udp(a).map_err(|e| bind_error(Transport::Udp, a, e)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut listeners = Vec::new();
    for (transport, addrs) in [(Transport::Tcp, &config.tcp), (Transport::Tls, &config.tls)] {
        for &a in addrs {
            listeners.push((transport, bind_tcp(a).map_err(|e| bind_error(transport, a, e))?));
        }
    }

    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    let stats = Arc::new(SignalStats::default());
    let (inbound_tx, inbound_rx) = mpsc::sync_channel(config.inbound_queue);
    let limits = Limits {
        max_message: config.max_message,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
        max_connections_per_source: config.max_connections_per_source,
        max_pending_write: config.max_pending_write,
    };
    let mut local_addrs = Vec::new();
    let mut udp_sockets = Vec::new();
    let identities = Arc::new(config.tls_identities.clone());
    // Served by the core thread itself: only their addresses are known here.
    let (core_io, core_waker, udp) = if direct {
        for socket in &udp {
            local_addrs.push((Transport::Udp, socket.local_addr()?));
        }
        let (io, waker) = CoreIo::new(udp, Arc::clone(&stats), config.max_message)?;
        (Some(io), Some(waker), Vec::new())
    } else {
        (None, None, udp)
    };
    let shared = Arc::new(Shared::new(limits, Arc::clone(&stats), inbound_tx, core_waker));
    {
        // Registering sockets with the reactor needs the runtime's context.
        let _context = runtime.enter();
        for socket in udp {
            let socket = Arc::new(UdpSocket::from_std(socket)?);
            let local = socket.local_addr()?;
            local_addrs.push((Transport::Udp, local));
            runtime.spawn(receive_udp(Arc::clone(&shared), Arc::clone(&socket), local));
            udp_sockets.push((local, socket));
        }
        for (transport, listener) in listeners {
            let listener = TcpListener::from_std(listener)?;
            local_addrs.push((transport, listener.local_addr()?));
            let acceptor = if transport == Transport::Tls { acceptor.clone() } else { None };
            runtime.spawn(accept(
                Arc::clone(&shared),
                listener,
                transport,
                acceptor,
                Arc::clone(&identities),
            ));
        }
    }

    let (commands, commands_rx) = unbounded_channel();
    let dispatcher = Dispatcher { shared, udp: udp_sockets, connector };
    std::thread::Builder::new()
        .name("tonewall-signal".to_string())
        .spawn(move || runtime.block_on(dispatcher.run(commands_rx)))?;
    let handle = SignalHandle { commands, local_addrs: Arc::new(local_addrs), stats };
    Ok((handle, inbound_rx, core_io))
}

/// Receives datagrams on one UDP socket for as long as the signal thread runs.
async fn receive_udp(shared: Arc<Shared>, socket: Arc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // Linux reports an earlier send's ICMP error on the next receive; nothing to do.
            Err(_) => continue,
        };
        let payload = &buf[..n];
        // CRLF keep-alives over UDP (RFC 5626 uses STUN there; these are a common habit) get
        // no answer and are not messages.
        if payload.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            continue;
        }
        if n > shared.limits.max_message {
            SignalStats::add(&shared.stats.inbound_dropped);
            continue;
        }
        let message = Inbound {
            transport: Transport::Udp,
            local,
            source,
            conn: None,
            bytes: payload.to_vec(),
            send_failed: false,
        };
        shared.deliver_or_drop(message);
    }
}

/// Accepts connections on one TCP or TLS listener.
async fn accept(
    shared: Arc<Shared>,
    listener: TcpListener,
    transport: Transport,
    tls: Option<TlsAcceptor>,
    identities: Arc<Vec<TlsIdentity>>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("tonewall signal: {transport} accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(registration) = shared.register(transport, peer, true) else {
            SignalStats::add(&shared.stats.refused);
            eprintln!("tonewall signal: {transport} {peer}: refused, connection limit reached");
            continue;
        };
        SignalStats::add(&shared.stats.accepted);
        let _ = stream.set_nodelay(true);
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(_) => continue,
        };
        let info = ConnInfo { transport, local, peer };
        match tls.clone() {
            None => {
                tokio::spawn(conn::run(info, stream, registration));
            }
            Some(acceptor) => {
                let stats = Arc::clone(&shared.stats);
                let identities = Arc::clone(&identities);
                tokio::spawn(async move {
                    match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let certificate = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
                            if let Err(why) = check_identity(&identities, peer.ip(), certificate) {
                                SignalStats::add(&stats.tls_identity_refused);
                                conn::log(&info, registration.id, format_args!("refused: {why}"));
                                return registration.abandon();
                            }
                            conn::run(info, stream, registration).await
                        }
                        failed => {
                            SignalStats::add(&stats.tls_handshake_failures);
                            let why = match failed {
                                Ok(Err(e)) => e.to_string(),
                                _ => "timed out".to_string(),
                            };
                            conn::log(&info, registration.id, format_args!("TLS handshake failed: {why}"));
                            registration.abandon();
                        }
                    }
                });
            }
        }
    }
}

/// Whether a TLS peer at `ip` may stay: if identities cover its address, its (already
/// chain-verified) certificate must be valid for one of their names.
fn check_identity(
    identities: &[TlsIdentity],
    ip: IpAddr,
    certificate: Option<&rustls_pki_types::CertificateDer<'_>>,
) -> Result<(), String> {
    let mut names = identities.iter().filter(|i| i.networks.iter().any(|n| n.contains(ip))).peekable();
    if names.peek().is_none() {
        return Ok(());
    }
    let Some(der) = certificate else { return Err("no client certificate".to_string()) };
    let cert = webpki::EndEntityCert::try_from(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    let mut wanted = Vec::new();
    for identity in names {
        let Ok(name) = ServerName::try_from(identity.name.as_str()) else { continue };
        if cert.verify_is_valid_for_subject_name(&name).is_ok() {
            return Ok(());
        }
        wanted.push(identity.name.as_str());
    }
    Err(format!("certificate not valid for {}", wanted.join(", ")))
}

/// Takes the core's outbound messages and sends each one.
struct Dispatcher {
    shared: Arc<Shared>,
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    connector: Option<TlsConnector>,
}

impl Dispatcher {
    /// Runs until every [`SignalHandle`] is dropped; returning ends the runtime and with it every
    /// socket and connection.
    async fn run(self, mut commands: UnboundedReceiver<Outbound>) {
        while let Some(message) = commands.recv().await {
            match message.transport {
                Transport::Udp => self.send_udp(message),
                Transport::Tcp | Transport::Tls => self.send_stream(message),
            }
        }
    }

    fn fail(&self, message: &Outbound, why: std::fmt::Arguments<'_>) {
        SignalStats::add(&self.shared.stats.send_failures);
        eprintln!("tonewall signal: {} send to {} failed: {why}", message.transport, message.dest);
        if message.transport.is_stream() {
            self.shared.notify_failure(message.transport, message.dest);
        }
    }

    fn send_udp(&self, message: Outbound) {
        let Some(socket) = super::udp_socket_for(&self.udp, &message) else {
            return self.fail(&message, format_args!("no UDP socket of that address family"));
        };
        match socket.try_send_to(&message.bytes, message.dest) {
            Ok(_) => SignalStats::add(&self.shared.stats.sent),
            Err(e) => self.fail(&message, format_args!("{e}")),
        }
    }

    fn send_stream(&self, mut message: Outbound) {
        // At most twice: a connection found here may have ended a moment ago.
        for _ in 0..2 {
            let Some((id, writer)) = self.shared.writer_for(message.transport, message.conn, message.dest)
            else {
                break;
            };
            match writer.queue(std::mem::take(&mut message.bytes)) {
                Ok(()) => return SignalStats::add(&self.shared.stats.sent),
                Err(QueueError::Full) => {
                    return self.fail(&message, format_args!("{id} has max_pending_write bytes queued"));
                }
                Err(QueueError::Closed(bytes)) => {
                    self.shared.remove(id);
                    message.bytes = bytes;
                }
            }
        }
        self.dial(message);
    }

    fn dial(&self, message: Outbound) {
        let tls = match message.transport {
            Transport::Tls => {
                let Some(connector) = self.connector.clone() else {
                    return self.fail(&message, format_args!("dialling TLS needs tls_roots"));
                };
                let name = match &message.server_name {
                    Some(name) => match ServerName::try_from(name.clone()) {
                        Ok(name) => name,
                        Err(_) => return self.fail(&message, format_args!("invalid server_name")),
                    },
                    None => ServerName::IpAddress(message.dest.ip().into()),
                };
                Some((connector, name))
            }
            _ => None,
        };
        let Some(registration) = self.shared.register(message.transport, message.dest, false) else {
            SignalStats::add(&self.shared.stats.refused);
            return self.fail(&message, format_args!("max_connections reached"));
        };
        let bind = message.local.map(|l| l.ip()).filter(|ip| ip.is_ipv4() == message.dest.is_ipv4());
        let (transport, dest) = (message.transport, message.dest);
        if registration.writer.queue(message.bytes).is_err() {
            // max_pending_write >= max_message is checked at start; only an oversized message
            // from the core lands here.
            SignalStats::add(&self.shared.stats.send_failures);
            return registration.abandon();
        }
        SignalStats::add(&self.shared.stats.sent);
        SignalStats::add(&self.shared.stats.dialled);
        tokio::spawn(dial(transport, dest, bind, tls, registration));
    }
}

/// Connects to `dest` (from `bind` if given), runs the TLS handshake if asked, then runs the
/// connection; on failure, everything queued for it is counted as failed.
async fn dial(
    transport: Transport,
    dest: SocketAddr,
    bind: Option<IpAddr>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    registration: Registration,
) {
    let connect = async {
        let socket = if dest.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = bind {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream: TcpStream = socket.connect(dest).await?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        io::Result::Ok((stream, local))
    };
    let unknown =
        SocketAddr::new(bind.unwrap_or(if dest.is_ipv4() { [0; 4].into() } else { [0u16; 8].into() }), 0);
    let (stream, local) = match timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(connected)) => connected,
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            let info = ConnInfo { transport, local: unknown, peer: dest };
            conn::log(&info, registration.id, format_args!("connect failed: {why}"));
            registration.notify_failure(transport, dest);
            return registration.abandon();
        }
    };
    let info = ConnInfo { transport, local, peer: dest };
    match tls {
        None => conn::run(info, stream, registration).await,
        Some((connector, name)) => match timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
            Ok(Ok(stream)) => conn::run(info, stream, registration).await,
            failed => {
                SignalStats::add(&registration.stats().tls_handshake_failures);
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                conn::log(&info, registration.id, format_args!("TLS handshake failed: {why}"));
                registration.notify_failure(transport, dest);
                registration.abandon();
            }
        },
    }
}
