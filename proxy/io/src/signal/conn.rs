//! TCP and TLS connections: the table of open ones, and the task that runs one (read, frame,
//! deliver, answer keep-alives; write its queue in order; close when idle or unframeable).

use super::{ConnId, Inbound, SignalStats, Transport};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::{Instant, timeout, timeout_at};
use tonewall_sip::framing::{Frame, StreamFramer};

/// While the core's queue is full, a stream stops reading and retries this often. Polling is
/// crude but keeps the core's side a plain `std::sync::mpsc` receiver.
const BACKPRESSURE_RETRY: Duration = Duration::from_millis(2);

/// Limits from the configuration, as the connection tasks need them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub max_message: usize,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_source: usize,
    pub max_pending_write: usize,
}

/// State shared by the dispatcher, the listeners and every connection task.
pub(super) struct Shared {
    pub limits: Limits,
    pub stats: Arc<SignalStats>,
    inbound: SyncSender<Inbound>,
    table: Mutex<Table>,
    next_id: AtomicU64,
    /// When the core thread serves UDP itself ([`super::CoreIo`]), it sleeps in its own poller:
    /// a message queued for it must wake that too.
    core: Option<super::direct::CoreWaker>,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<ConnId, Entry>,
    /// The newest live connection to each peer, for reuse by sends without a usable `conn`.
    by_peer: HashMap<(Transport, SocketAddr), ConnId>,
    /// Accepted connections open per source address.
    accepted_from: HashMap<std::net::IpAddr, usize>,
}

struct Entry {
    transport: Transport,
    peer: SocketAddr,
    /// It connected to us (counted against its source's limit).
    accepted: bool,
    writer: Writer,
}

/// The sending end of one connection's write queue, bounded in bytes.
#[derive(Clone)]
pub(super) struct Writer {
    tx: UnboundedSender<Vec<u8>>,
    pending: Arc<AtomicUsize>,
    limit: usize,
}

/// Why a message could not be queued; the message comes back.
pub(super) enum QueueError {
    /// The queue holds `max_pending_write` bytes already: the peer is not reading.
    Full,
    /// The connection task has ended.
    Closed(Vec<u8>),
}

impl Writer {
    /// Queues `bytes` behind everything queued before (writes to one connection are ordered).
    pub fn queue(&self, bytes: Vec<u8>) -> Result<(), QueueError> {
        let len = bytes.len();
        let before = self.pending.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) > self.limit {
            self.pending.fetch_sub(len, Ordering::Relaxed);
            return Err(QueueError::Full);
        }
        self.tx.send(bytes).map_err(|e| {
            self.pending.fetch_sub(len, Ordering::Relaxed);
            QueueError::Closed(e.0)
        })
    }
}

/// A connection's slot in the table. Dropping it frees the slot, so a task that is cancelled
/// (runtime shutdown) or fails early cannot leak one.
pub(super) struct Registration {
    pub id: ConnId,
    pub writer: Writer,
    rx: UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
}

impl Registration {
    /// Gives up on the connection: frees its slot, then counts whatever was queued as failed.
    pub fn abandon(mut self) {
        self.shared.remove(self.id);
        self.rx.close();
        while let Ok(_lost) = self.rx.try_recv() {
            SignalStats::add(&self.shared.stats.send_failures);
        }
    }
}

impl Registration {
    /// Tells the core that sending to `dest` failed (see [`Inbound::send_failed`]).
    pub fn notify_failure(&self, transport: Transport, dest: SocketAddr) {
        self.shared.notify_failure(transport, dest);
    }

    /// The counters, for tasks that hold only the registration.
    pub fn stats(&self) -> &SignalStats {
        &self.shared.stats
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.remove(self.id);
    }
}

/// Who a connection is, for delivery and logs.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConnInfo {
    pub transport: Transport,
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl Shared {
    pub fn new(
        limits: Limits,
        stats: Arc<SignalStats>,
        inbound: SyncSender<Inbound>,
        core: Option<super::direct::CoreWaker>,
    ) -> Self {
        Shared {
            limits,
            stats,
            inbound,
            table: Mutex::new(Table::default()),
            next_id: AtomicU64::new(1),
            core,
        }
    }

    /// Queues a message for the core, waking it where it waits in its own poller.
    fn queue(&self, message: Inbound) -> Result<(), TrySendError<Inbound>> {
        self.inbound.try_send(message)?;
        if let Some(core) = &self.core {
            core.wake();
        }
        Ok(())
    }

    /// Queues a [`Inbound::send_failed`] notice for the core (dropped if its queue is full:
    /// the transaction's own timer still ends it).
    pub fn notify_failure(&self, transport: Transport, dest: SocketAddr) {
        let unspecified: SocketAddr =
            if dest.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let notice = Inbound {
            transport,
            local: unspecified,
            source: dest,
            conn: None,
            bytes: Vec::new(),
            send_failed: true,
        };
        if self.queue(notice).is_err() {
            SignalStats::add(&self.stats.inbound_dropped);
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Nothing panics while holding the lock; if something did, the table is still consistent
        // (every update is a single insert or remove), so carry on rather than fail every send.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot for a new connection to or from `peer` (`accepted`: it connected to us),
    /// or `None` at `max_connections` or, for accepted ones, `max_connections_per_source`.
    pub fn register(
        self: &Arc<Self>,
        transport: Transport,
        peer: SocketAddr,
        accepted: bool,
    ) -> Option<Registration> {
        let mut table = self.table();
        if table.by_id.len() >= self.limits.max_connections {
            return None;
        }
        if accepted {
            let n = table.accepted_from.entry(peer.ip()).or_default();
            if *n >= self.limits.max_connections_per_source {
                return None;
            }
            *n += 1;
        }
        let id = ConnId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = unbounded_channel();
        let writer =
            Writer { tx, pending: Arc::new(AtomicUsize::new(0)), limit: self.limits.max_pending_write };
        table.by_id.insert(id, Entry { transport, peer, accepted, writer: writer.clone() });
        table.by_peer.insert((transport, peer), id);
        self.stats.open_connections.store(table.by_id.len() as u64, Ordering::Relaxed);
        Some(Registration { id, writer, rx, shared: Arc::clone(self) })
    }

    /// Frees a connection's slot; harmless if it is already free.
    pub fn remove(&self, id: ConnId) {
        let mut table = self.table();
        if let Some(entry) = table.by_id.remove(&id) {
            if entry.accepted
                && let Some(n) = table.accepted_from.get_mut(&entry.peer.ip())
            {
                *n -= 1;
                if *n == 0 {
                    table.accepted_from.remove(&entry.peer.ip());
                }
            }
            let key = (entry.transport, entry.peer);
            if table.by_peer.get(&key) == Some(&id) {
                table.by_peer.remove(&key);
            }
        }
        self.stats.open_connections.store(table.by_id.len() as u64, Ordering::Relaxed);
    }

    /// The connection to write to: `conn` if it is open and of `transport`, else the newest one
    /// of `transport` to `dest`.
    pub fn writer_for(
        &self,
        transport: Transport,
        conn: Option<ConnId>,
        dest: SocketAddr,
    ) -> Option<(ConnId, Writer)> {
        let table = self.table();
        let named =
            conn.and_then(|id| table.by_id.get(&id).filter(|e| e.transport == transport).map(|e| (id, e)));
        let found = named.or_else(|| {
            let id = *table.by_peer.get(&(transport, dest))?;
            table.by_id.get(&id).map(|e| (id, e))
        });
        found.map(|(id, entry)| (id, entry.writer.clone()))
    }

    /// Hands a datagram's message to the core, dropping it if the core is behind (UDP senders
    /// retransmit).
    pub fn deliver_or_drop(&self, message: Inbound) {
        match self.queue(message) {
            Ok(()) => SignalStats::add(&self.stats.received),
            Err(_) => SignalStats::add(&self.stats.inbound_dropped),
        }
    }

    /// Hands a stream message to the core, waiting while its queue is full: dropping one would
    /// lose it for good (nothing retransmits over a reliable transport), and while we wait the
    /// connection is not read, so TCP flow control slows the peer down.
    async fn deliver_waiting(&self, mut message: Inbound) {
        loop {
            match self.queue(message) {
                Ok(()) => return SignalStats::add(&self.stats.received),
                Err(TrySendError::Full(back)) => {
                    message = back;
                    tokio::time::sleep(BACKPRESSURE_RETRY).await;
                }
                Err(TrySendError::Disconnected(_)) => return SignalStats::add(&self.stats.inbound_dropped),
            }
        }
    }
}

/// Runs an established connection (TCP, or TLS after its handshake) until the peer closes it,
/// it cannot be framed, a write fails or it is idle for `idle_timeout`. A peer's half-close
/// (EOF on read) closes the whole connection; SIP peers do not half-close to await an answer.
pub(super) async fn run<S>(info: ConnInfo, stream: S, mut registration: Registration)
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let shared = Arc::clone(&registration.shared);
    let (id, idle) = (registration.id, shared.limits.idle_timeout);
    let start = Instant::now();
    // Milliseconds since `start` of the last byte read or written, shared by both halves.
    let last_io = AtomicU64::new(0);
    let touch = || last_io.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    let idle_deadline = || start + Duration::from_millis(last_io.load(Ordering::Relaxed)) + idle;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = registration.writer.clone();

    let reading = async {
        let mut framer = StreamFramer::new(shared.limits.max_message);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match timeout_at(idle_deadline(), rd.read(&mut buf)).await {
                Ok(Ok(0)) => return,
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return log(&info, id, format_args!("read failed: {e}")),
                // A write may have moved the deadline while the read waited.
                Err(_) if Instant::now() < idle_deadline() => continue,
                Err(_) => return SignalStats::add(&shared.stats.idle_closed),
            };
            touch();
            framer.push(&buf[..n]);
            while let Some(frame) = framer.next() {
                match frame {
                    Ok(Frame::Message(bytes)) => {
                        let message = Inbound {
                            transport: info.transport,
                            local: info.local,
                            source: info.peer,
                            conn: Some(id),
                            bytes,
                            send_failed: false,
                        };
                        shared.deliver_waiting(message).await;
                    }
                    // RFC 5626 §4.4.1: the pong is one CRLF, queued behind earlier writes.
                    Ok(Frame::KeepAlivePing) => {
                        let _ = writer.queue(b"\r\n".to_vec());
                    }
                    Ok(Frame::Pong) => {}
                    Err(e) => {
                        SignalStats::add(&shared.stats.framing_errors);
                        return log(&info, id, format_args!("closing: {e}"));
                    }
                }
            }
        }
    };
    let rx = &mut registration.rx;
    // True when the connection ends because a write failed: what was being written is lost.
    let writing = async {
        while let Some(bytes) = rx.recv().await {
            // A peer that takes nothing for a whole idle period is as good as gone.
            let written = timeout(idle, async {
                wr.write_all(&bytes).await?;
                wr.flush().await
            })
            .await;
            writer.pending.fetch_sub(bytes.len(), Ordering::Relaxed);
            match written {
                Ok(Ok(())) => touch(),
                Ok(Err(e)) => {
                    log(&info, id, format_args!("write failed: {e}"));
                    return true;
                }
                Err(_) => {
                    log(&info, id, format_args!("write timed out"));
                    return true;
                }
            }
        }
        false
    };
    let write_failed = tokio::select! {
        () = reading => false,
        failed = writing => failed,
    };
    // Free the slot first so no more sends are queued here, then count what never went out.
    shared.remove(id);
    registration.rx.close();
    let mut lost = 0;
    while let Ok(_lost) = registration.rx.try_recv() {
        SignalStats::add(&shared.stats.send_failures);
        lost += 1;
    }
    // Messages lost on a reliable transport are never retransmitted: tell the core, so the
    // transactions toward this peer fail now rather than at their 32 s timers.
    if write_failed || lost > 0 {
        shared.notify_failure(info.transport, info.peer);
    }
    // TLS: send close_notify; TCP: FIN. Best effort, briefly.
    let _ = timeout(Duration::from_secs(1), wr.shutdown()).await;
}

/// Logs a connection event. Never message bytes: they may hold credentials or digits.
pub(super) fn log(info: &ConnInfo, id: ConnId, what: std::fmt::Arguments<'_>) {
    eprintln!("tonewall signal: {} {id} {} -> {}: {what}", info.transport, info.peer, info.local);
}
