//! UDP served by the core thread itself (see [`super::start_direct`]): a poller over the UDP
//! sockets that the signal thread also wakes when it queues a stream message.

use super::{Outbound, SignalStats, Transport};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WAKER: Token = Token(usize::MAX);
/// Datagrams one socket gets per wake before the others have their turn.
const MAX_PER_WAKE: usize = 64;
/// The largest UDP payload: SIP over UDP may exceed a relay buffer's 2 KiB (big SDP), and
/// `max_message` decides what is too big, not the buffer.
const MAX_DATAGRAM: usize = 65_535;

/// Wakes the core's poller at most once per drain of its queue.
#[derive(Clone)]
pub(super) struct CoreWaker {
    waker: Arc<Waker>,
    /// Set when woken and not yet cleared by the core (see [`CoreIo::clear_wake`]): a burst of
    /// stream messages costs one wake, not one each.
    woken: Arc<AtomicBool>,
}

impl CoreWaker {
    pub(super) fn wake(&self) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }
}

/// The core thread's side of the transports: its UDP sockets, read and written directly, and
/// the wait for them and for stream messages.
pub struct CoreIo {
    poll: Poll,
    events: Events,
    udp: Vec<(SocketAddr, UdpSocket)>,
    buf: Vec<u8>,
    woken: Arc<AtomicBool>,
    /// Sockets left with datagrams after their share of a wake: served next, without waiting.
    backlog: Vec<usize>,
    stats: Arc<SignalStats>,
    max_message: usize,
}

impl std::fmt::Debug for CoreIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<_> = self.udp.iter().map(|(a, _)| a).collect();
        f.debug_struct("CoreIo").field("udp", &addrs).finish_non_exhaustive()
    }
}

impl CoreIo {
    pub(super) fn new(
        sockets: Vec<std::net::UdpSocket>,
        stats: Arc<SignalStats>,
        max_message: usize,
    ) -> io::Result<(CoreIo, CoreWaker)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut udp = Vec::with_capacity(sockets.len());
        for (i, socket) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let local = socket.local_addr()?;
            let mut socket = UdpSocket::from_std(socket);
            poll.registry().register(&mut socket, Token(i), Interest::READABLE)?;
            udp.push((local, socket));
        }
        let woken = Arc::new(AtomicBool::new(false));
        let io = CoreIo {
            poll,
            events: Events::with_capacity(64),
            udp,
            buf: vec![0; MAX_DATAGRAM],
            woken: Arc::clone(&woken),
            backlog: Vec::new(),
            stats,
            max_message,
        };
        Ok((io, CoreWaker { waker, woken }))
    }

    /// Waits until datagrams or stream messages may be waiting, or `timeout` passes (`None`:
    /// no limit). Then call [`CoreIo::receive`] and [`CoreIo::clear_wake`] and drain the
    /// inbound receiver, in that order.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = if self.backlog.is_empty() { timeout } else { Some(Duration::ZERO) };
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        }
    }

    /// Reads the datagrams waiting on the sockets the last [`CoreIo::wait`] reported, handing
    /// each message to `f` as (source, local address, bytes). Returns how many it handed on.
    /// CRLF keep-alives and datagrams over `max_message` are dropped here.
    pub fn receive(&mut self, mut f: impl FnMut(SocketAddr, SocketAddr, &[u8])) -> usize {
        let mut ready = std::mem::take(&mut self.backlog);
        for e in self.events.iter() {
            let i = e.token().0;
            if i < self.udp.len() && !ready.contains(&i) {
                ready.push(i);
            }
        }
        let mut handed = 0;
        for &i in &ready {
            let (local, socket) = &self.udp[i];
            let mut drained = false;
            for _ in 0..MAX_PER_WAKE {
                let (n, source) = match socket.recv_from(&mut self.buf) {
                    Ok(received) => received,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        drained = true;
                        break;
                    }
                    // An error report (only with IP_RECVERR, or on a connected socket, neither
                    // of which this is) is taken by the read; datagrams may be queued behind it.
                    Err(_) => continue,
                };
                let payload = &self.buf[..n];
                if n > self.max_message {
                    SignalStats::add(&self.stats.inbound_dropped);
                } else if payload.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    // CRLF keep-alives get no answer and are not messages.
                } else {
                    SignalStats::add(&self.stats.received);
                    f(source, *local, payload);
                    handed += 1;
                }
            }
            if !drained {
                self.backlog.push(i);
            }
        }
        handed
    }

    /// Clears the wake flag; call it before draining the inbound receiver, so that a message
    /// queued after the drain wakes the next [`CoreIo::wait`].
    pub fn clear_wake(&self) {
        // A swap, not a store: reading the flag the signal thread set orders its message
        // before the drain that follows.
        self.woken.swap(false, Ordering::SeqCst);
    }

    /// Sends a UDP message from the socket bound to `message.local` if there is one, else from
    /// the first socket of the destination's address family. Failures are counted and logged,
    /// as on the signal thread.
    pub fn send_udp(&self, message: &Outbound) {
        debug_assert_eq!(message.transport, Transport::Udp);
        let Some(socket) = super::udp_socket_for(&self.udp, message) else {
            SignalStats::add(&self.stats.send_failures);
            eprintln!(
                "tonewall signal: UDP send to {} failed: no UDP socket of that address family",
                message.dest
            );
            return;
        };
        match socket.send_to(&message.bytes, message.dest) {
            Ok(_) => SignalStats::add(&self.stats.sent),
            Err(e) => {
                SignalStats::add(&self.stats.send_failures);
                eprintln!("tonewall signal: UDP send to {} failed: {e}", message.dest);
            }
        }
    }
}
