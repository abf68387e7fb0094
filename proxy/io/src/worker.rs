//! One relay worker: a thread that owns its sessions and their sockets, and pumps them.
//!
//! Nothing is shared per packet: a session lives on exactly one worker, which alone reads its
//! sockets, so the hot path takes no lock. The control side talks to a worker through a command
//! queue and a waker; the worker answers through channels the command carries.

use crate::recorder::RecordingMsg;
use crate::sys::{self, BUF, RecvBatch};
use crate::wheel::Wheel;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};
use tonewall_dsp::Digit;
use tonewall_media::relay::{
    Component, DropReason, LegId, MediaSession, RelayEvent, Remote, SessionReport, Verdict,
};
use tonewall_media::srtp::SrtpContext;

/// Identifies a session across the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// New SRTP contexts for a leg: inbound, outbound; `None` keeps the current one.
pub(crate) type SrtpUpdate = (Option<Option<SrtpContext>>, Option<Option<SrtpContext>>);

/// What a worker can be asked to do.
pub(crate) enum Command {
    /// The session's four sockets (leg A RTP, RTCP, leg B RTP, RTCP) arrive separately, on the
    /// worker's descriptor socket, tagged with the id (see [`sys::send_fds`]).
    Add {
        id: SessionId,
        session: Box<MediaSession>,
        /// The resting sockets to take instead ([`Command::Report`]'s `keep`), if any.
        reuse: Option<u64>,
        placed: Placed,
    },
    Signal {
        id: SessionId,
        leg: LegId,
        remote: Remote,
    },
    Mask {
        id: SessionId,
        from: LegId,
        on: bool,
    },
    SipInfo {
        id: SessionId,
        from: LegId,
        digit: Digit,
        duration_ms: Option<u32>,
    },
    Srtp {
        id: SessionId,
        leg: LegId,
        keys: Box<SrtpUpdate>,
    },
    Record {
        id: SessionId,
        writer: Box<tonewall_media::recording::Writer>,
    },
    Report {
        id: SessionId,
        remove: bool,
        /// With `remove`: keep the session's sockets open and registered, resting under this
        /// number until an `Add` reuses them or a `Close` ends them.
        keep: Option<u64>,
        reply: Sender<Option<(SessionReport, Placed)>>,
    },
    /// Closes resting sockets.
    Close {
        slot: u64,
    },
    Stop,
}

/// Where a session's ports are: told to its worker with the session, and given back at its
/// removal, so that its sockets can rest for a later session on the same addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placed {
    pub ports: [crate::relay::LegPorts; 2],
    /// Which of the relay's addresses each leg's ports are on.
    pub sides: [usize; 2],
}

/// Totals of one worker, read by metrics without stopping it.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Datagrams received.
    pub received: AtomicU64,
    /// Datagrams forwarded.
    pub forwarded: AtomicU64,
    /// Datagrams dropped, by [`DropReason::index`].
    pub dropped: [AtomicU64; DropReason::ALL.len()],
    /// Datagrams on a port with no session (after deletion, races).
    pub stray: AtomicU64,
    /// Datagrams too large for the receive buffers.
    pub oversized: AtomicU64,
    /// Send errors (peer unreachable, buffer full).
    pub send_errors: AtomicU64,
    /// Sessions now on this worker.
    pub sessions: AtomicU64,
}

/// Where a session's events go: the session, the event.
pub type EventSink = Sender<(SessionId, RelayEvent)>;

struct Sock {
    socket: UdpSocket,
    /// The session's key, or [`RESTING`].
    session: usize,
    leg: LegId,
    component: Component,
}

struct Entry {
    id: SessionId,
    session: Box<MediaSession>,
    /// Socket slab keys by [leg][component].
    socks: [[Option<usize>; 2]; 2],
    /// The earliest time a wheel entry is pending for, to avoid scheduling duplicates.
    scheduled: Option<Duration>,
    placed: Placed,
}

/// The session key of a resting socket: no session's, so what arrives on it counts as stray.
const RESTING: usize = usize::MAX;

const WAKER: Token = Token(usize::MAX);
/// The socket sessions' descriptors arrive on.
const FDS: Token = Token(usize::MAX - 1);
/// Receive batches per socket per round: 4 × 16 datagrams.
const MAX_ROUNDS: usize = 4;
const TICK: Duration = Duration::from_millis(10);
/// How long received sockets wait for their session's `Add` before they are closed.
const ORPHAN_SOCKETS: Duration = Duration::from_secs(10);

pub(crate) struct Worker {
    poll: Poll,
    /// Where sessions' recording bytes go (the recorder thread), if recording is configured.
    recordings: Option<Sender<RecordingMsg>>,
    commands: Receiver<Command>,
    events_out: EventSink,
    stats: Arc<WorkerStats>,
    socks: Slab<Sock>,
    sessions: Slab<Entry>,
    by_id: std::collections::HashMap<SessionId, usize>,
    wheel: Wheel,
    /// Sessions whose timers are due (kept to reuse its allocation).
    due: Vec<usize>,
    /// Sockets with datagrams still waiting after a round's share.
    backlog: Vec<usize>,
    /// The sockets a wake serves, in order (kept to reuse its allocation).
    ready_keys: Vec<usize>,
    epoch: Instant,
    /// See [`crate::RelayConfig::coalesce`].
    coalesce: Duration,
    /// Cleared before each drain of the command queue (see `Relay::send`).
    woken: Arc<std::sync::atomic::AtomicBool>,
    /// Where the control side sends each new session's sockets (see [`sys::send_fds`]).
    fds_in: mio::net::UnixDatagram,
    /// Descriptors received, by session, until that session's `Add` command is taken.
    /// (When they arrived, so that sockets whose command never comes are not held for good.)
    arrived: std::collections::HashMap<SessionId, (Duration, Vec<std::os::fd::OwnedFd>)>,
    /// Told once the worker's descriptor table is settled: `true` if it has one of its own.
    ready: Option<std::sync::mpsc::SyncSender<bool>>,
    /// Sockets of ended sessions kept for the next ones, by the number the control side gave
    /// them: socket slab keys by [leg][component]. See `crate::relay::Recycle`.
    resting: std::collections::HashMap<u64, [[Option<usize>; 2]; 2]>,
    /// See [`Links::held`].
    held: Arc<AtomicU64>,
}

/// A wake that handled fewer datagrams than this is "quiet": the worker waits
/// [`crate::RelayConfig::coalesce`] before the next poll.
const QUIET: u64 = 8;

/// What connects a worker to the control side.
pub(crate) struct Links {
    pub commands: Receiver<Command>,
    pub events_out: EventSink,
    pub stats: Arc<WorkerStats>,
    pub recordings: Option<Sender<RecordingMsg>>,
    pub woken: Arc<std::sync::atomic::AtomicBool>,
    /// The receiving end of the socket new sessions' descriptors come on.
    pub fds_in: std::os::unix::net::UnixDatagram,
    /// Told once the worker's descriptor table is settled.
    pub ready: std::sync::mpsc::SyncSender<bool>,
    /// Socket sets in the worker's table (see `WorkerHandle::held`): the worker counts out.
    pub held: Arc<AtomicU64>,
}

impl Worker {
    pub(crate) fn new(links: Links, epoch: Instant, coalesce: Duration) -> io::Result<(Worker, Arc<Waker>)> {
        let Links { commands, events_out, stats, recordings, woken, fds_in, ready, held } = links;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        fds_in.set_nonblocking(true)?;
        let mut fds_in = mio::net::UnixDatagram::from_std(fds_in);
        poll.registry().register(&mut fds_in, FDS, Interest::READABLE)?;
        let worker = Worker {
            poll,
            recordings,
            commands,
            events_out,
            stats,
            socks: Slab::with_capacity(1024),
            sessions: Slab::with_capacity(512),
            by_id: Default::default(),
            wheel: Wheel::new(TICK, 1024),
            due: Vec::with_capacity(64),
            backlog: Vec::with_capacity(16),
            ready_keys: Vec::with_capacity(1024),
            epoch,
            coalesce,
            woken,
            fds_in,
            arrived: Default::default(),
            ready: Some(ready),
            resting: Default::default(),
            held,
        };
        Ok((worker, waker))
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The descriptors the worker keeps when it takes a table of its own: its poller and its
    /// descriptor socket.
    pub(crate) fn descriptors(&self) -> [std::os::fd::RawFd; 2] {
        use std::os::fd::AsRawFd;
        [self.poll.as_raw_fd(), self.fds_in.as_raw_fd()]
    }

    pub(crate) fn run(mut self) -> io::Result<()> {
        // A table of its own: this worker's sockets count against the descriptor limit apart
        // from every other worker's (see `sys::own_fd_table`). It keeps only its poller and
        // its descriptor socket; the waker's eventfd stays open in the control side's table,
        // which is enough for the poller to keep watching it.
        let private = sys::own_fd_table(&self.descriptors())?;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(private);
        }
        let mut events = Events::with_capacity(1024);
        let mut batch = RecvBatch::new();
        loop {
            let now = self.now();
            // Sockets left with datagrams waiting (see `drain_socket`) are served next round
            // without sleeping.
            let timeout =
                if self.backlog.is_empty() { self.wheel.next_wake(now) } else { Some(Duration::ZERO) };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = self.now();
            // Commands first: whatever the control side queued before a packet was sent (a new
            // session, its peer's address) applies to that packet.
            if !self.handle_commands(now)? {
                return Ok(());
            }
            let backlog = std::mem::take(&mut self.backlog);
            let before = self.stats.received.load(Ordering::Relaxed);
            let mut ready = std::mem::take(&mut self.ready_keys);
            ready.clear();
            ready.extend(backlog.iter().copied().chain(events.iter().map(|e| e.token().0)));
            for &key in ready.iter().take(2) {
                self.prefetch(key, false);
            }
            for (j, &key) in ready.iter().enumerate() {
                // While this socket's system calls run, the caches fetch what the next sockets'
                // datagrams will touch: two ahead the session, one ahead the state it points to
                // (found through the session, which has arrived by then).
                if let Some(&next) = ready.get(j + 2) {
                    self.prefetch(next, false);
                }
                if let Some(&next) = ready.get(j + 1) {
                    self.prefetch(next, true);
                }
                if key == WAKER.0 {
                    continue;
                }
                if key == FDS.0 {
                    // A sender may be waiting for room in the descriptor queue (it holds ten).
                    self.take_descriptors(now);
                    continue;
                }
                self.drain_socket(now, key, &mut batch);
            }
            self.ready_keys = ready;
            let mut due = std::mem::take(&mut self.due);
            self.wheel.expire(now, |k| due.push(k));
            for k in due.drain(..) {
                if let Some(e) = self.sessions.get_mut(k) {
                    e.scheduled = None;
                    e.session.handle_timeout(now);
                }
                self.after(k);
            }
            self.due = due;
            let handled = self.stats.received.load(Ordering::Relaxed) - before;
            if !self.coalesce.is_zero() && handled > 0 && handled < QUIET && self.backlog.is_empty() {
                // Let datagrams gather in the sockets' queues (the kernel keeps them) so that the
                // next wake serves many sockets at once. The timer wheel's resolution is 10 ms,
                // so this delays no timer that matters.
                // Parked rather than asleep: a caller waiting for an answer (`Relay::report`,
                // `remove`) unparks it, so a call's end is not held up by the coalescing.
                std::thread::park_timeout(self.coalesce);
            }
        }
    }

    /// Has the state a datagram on socket `key` will touch fetched into the caches: the session
    /// itself, or with `deep` what it points to (see [`MediaSession::hot_spans`]; that reads
    /// the session, so it should be in the caches by then).
    fn prefetch(&self, key: usize, deep: bool) {
        if let Some(sock) = self.socks.get(key)
            && let Some(entry) = self.sessions.get(sock.session)
        {
            if deep {
                entry.session.hot_spans(sock.leg, sys::prefetch);
            } else {
                sys::prefetch((&*entry.session as *const MediaSession).cast(), size_of::<MediaSession>());
            }
        }
    }

    /// Reads everything waiting on a socket and handles it. Edge-triggered: a batch shorter than
    /// [`sys::BATCH`] means the queue was empty, and a datagram arriving later raises a new event.
    fn drain_socket(&mut self, now: Duration, key: usize, batch: &mut RecvBatch) {
        for round in 0.. {
            if round == MAX_ROUNDS {
                // A flood on one port must not starve the worker's other sessions: come back to
                // this socket after the others (edge-triggered, so it is remembered here).
                if !self.backlog.contains(&key) {
                    self.backlog.push(key);
                }
                return;
            }
            let Some(sock) = self.socks.get(key) else { return };
            let n = match sys::recv_batch(&sock.socket, batch) {
                Ok(n) => n,
                // An error report (only with IP_RECVERR or on a connected socket, neither of
                // which this is), consumed by this read: datagrams may be queued behind it, and
                // edge-triggered readiness would not report them again, so read on (the round
                // limit still applies).
                Err(_) => continue,
            };
            let (s, leg, component) = (sock.session, sock.leg, sock.component);
            self.stats.received.fetch_add(n as u64, Ordering::Relaxed);
            // What to send, in order: (socket key, datagram index, length, destination).
            let mut out: [(usize, usize, usize, Option<std::net::SocketAddr>); sys::BATCH] =
                [(0, 0, 0, None); sys::BATCH];
            let mut n_out = 0;
            for i in 0..n {
                let (len, Some(from)) = (batch.lens[i], batch.from[i]) else { continue };
                if len > BUF {
                    self.stats.oversized.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Some(entry) = self.sessions.get_mut(s) else {
                    self.stats.stray.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                match entry.session.handle_packet(now, leg, component, from, &mut batch.bufs[i], len) {
                    Verdict::Forward { leg, socket, to, len } => {
                        match entry.socks[leg.index()][socket as usize] {
                            Some(k) => {
                                out[n_out] = (k, i, len, Some(to));
                                n_out += 1;
                            }
                            None => {
                                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Verdict::Drop(r) => {
                        self.stats.dropped[r.index()].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // Runs of datagrams for one socket leave in one sendmmsg.
            let mut at = 0;
            while at < n_out {
                let k = out[at].0;
                let end = at + out[at..n_out].iter().take_while(|o| o.0 == k).count();
                let mut msgs: [(&[u8], std::net::SocketAddr); sys::BATCH] =
                    [(&[], std::net::SocketAddr::from(([0, 0, 0, 0], 0))); sys::BATCH];
                for (m, &(_, i, len, to)) in msgs.iter_mut().zip(&out[at..end]) {
                    if let Some(to) = to {
                        *m = (&batch.bufs[i][..len], to);
                    }
                }
                let (sent, failed) = match self.socks.get(k) {
                    Some(o) => sys::send_batch(&o.socket, &msgs[..end - at]),
                    None => (0, end - at),
                };
                self.stats.forwarded.fetch_add(sent as u64, Ordering::Relaxed);
                self.stats.send_errors.fetch_add(failed as u64, Ordering::Relaxed);
                at = end;
            }
            self.after(s);
            if n < sys::BATCH {
                return;
            }
        }
    }

    /// After a session did something: hand its events on and make sure its next timer is on the
    /// wheel.
    fn after(&mut self, k: usize) {
        let Some(e) = self.sessions.get_mut(k) else { return };
        while let Some(ev) = e.session.poll_event() {
            let _ = self.events_out.send((e.id, ev));
        }
        if let Some(rec) = &self.recordings {
            // About once a second per direction: a sealed chunk (allocated here, off the per
            // packet path).
            let mut bytes = Vec::new();
            if e.session.poll_recording(&mut bytes) {
                let _ = rec.send(RecordingMsg::Data(e.id, bytes));
            }
        }
        if let Some(at) = e.session.poll_timeout()
            && e.scheduled.is_none_or(|s| at < s)
        {
            e.scheduled = Some(at);
            self.wheel.schedule(at, k);
        }
    }

    /// Applies queued commands; false when told to stop.
    fn handle_commands(&mut self, now: Duration) -> io::Result<bool> {
        // A swap, not a store: reading the flag a sender set orders its command before the
        // drain below.
        self.woken.swap(false, Ordering::SeqCst);
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::Add { id, session, reuse: Some(slot), placed } => {
                    if let Err(e) = self.add_resting(id, session, slot, placed) {
                        self.held.fetch_sub(1, Ordering::Relaxed);
                        eprintln!("relay: session {} not started: {e}", id.0);
                    }
                }
                Command::Add { id, session, reuse: None, placed } => {
                    if !self.arrived.contains_key(&id) {
                        // Sent before the command, so waiting in the queue by now.
                        self.take_descriptors(now);
                    }
                    let fds = self.arrived.remove(&id).map(|(_, fds)| fds).unwrap_or_default();
                    // A socket the poller refuses fails this session only, not the worker.
                    if let Err(e) = self.add(id, session, fds, placed) {
                        self.held.fetch_sub(1, Ordering::Relaxed);
                        eprintln!("relay: session {} not started: {e}", id.0);
                    }
                }
                Command::Signal { id, leg, remote } => {
                    if let Some(&k) = self.by_id.get(&id) {
                        self.sessions[k].session.signal(leg, &remote);
                    }
                }
                Command::Srtp { id, leg, keys } => {
                    if let Some(&k) = self.by_id.get(&id) {
                        let (inbound, outbound) = *keys;
                        self.sessions[k].session.update_srtp(leg, inbound, outbound);
                    }
                }
                Command::Record { id, writer } => {
                    if let Some(&k) = self.by_id.get(&id) {
                        self.sessions[k].session.start_recording(*writer);
                    }
                }
                Command::Mask { id, from, on } => {
                    if let Some(&k) = self.by_id.get(&id) {
                        self.sessions[k].session.set_masking(from, on);
                    }
                }
                Command::SipInfo { id, from, digit, duration_ms } => {
                    if let Some(&k) = self.by_id.get(&id) {
                        self.sessions[k].session.sip_info_digit(now, from, digit, duration_ms);
                        // The digit leaves now, not with the session's next packet.
                        self.after(k);
                    }
                }
                Command::Report { id, remove, keep, reply } => {
                    let report = self.by_id.get(&id).map(|&k| (self.report(k), self.sessions[k].placed));
                    if remove && let Some(k) = self.by_id.remove(&id) {
                        self.remove(k, keep);
                    }
                    let _ = reply.send(report);
                }
                Command::Close { slot } => {
                    if let Some(socks) = self.resting.remove(&slot) {
                        socks.into_iter().flatten().flatten().for_each(|sk| self.close_socket(sk));
                        self.held.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Command::Stop => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Reads every descriptor message waiting.
    fn take_descriptors(&mut self, now: Duration) {
        // Sockets whose `Add` has not come in this long never will (its sender failed between
        // the two sends): close them, freeing their ports.
        if !self.arrived.is_empty() {
            self.arrived.retain(|_, (at, _)| now.saturating_sub(*at) < ORPHAN_SOCKETS);
        }
        let mut fds = Vec::with_capacity(sys::MAX_FDS);
        loop {
            match sys::recv_fds(&self.fds_in, &mut fds) {
                Ok(Some(tag)) => {
                    self.arrived.insert(SessionId(tag), (now, std::mem::take(&mut fds)));
                }
                Ok(None) => return,
                Err(e) => {
                    // A message cut short: its descriptors (closed with `fds`) are lost, and
                    // its session starts without ports (its `Add` says so).
                    eprintln!("relay: session sockets not received: {e}");
                    fds.clear();
                }
            }
        }
    }

    fn add(
        &mut self,
        id: SessionId,
        session: Box<MediaSession>,
        fds: Vec<std::os::fd::OwnedFd>,
        placed: Placed,
    ) -> io::Result<()> {
        if fds.len() != sys::MAX_FDS {
            return Err(io::Error::other(format!("{} of its 4 sockets arrived", fds.len())));
        }
        let mut fds = fds.into_iter().map(std::net::UdpSocket::from);
        let mut sockets: [[Option<std::net::UdpSocket>; 2]; 2] = Default::default();
        for leg in &mut sockets {
            *leg = [fds.next(), fds.next()];
        }
        let k = self.sessions.insert(Entry { id, session, socks: [[None; 2]; 2], scheduled: None, placed });
        if let Err(e) = self.register(k, sockets) {
            // Undo what was registered: the ports close with their sockets.
            let entry = self.sessions.remove(k);
            for sk in entry.socks.into_iter().flatten().flatten() {
                let mut s = self.socks.remove(sk);
                let _ = self.poll.registry().deregister(&mut s.socket);
            }
            return Err(e);
        }
        self.started(id, k);
        Ok(())
    }

    /// Session `k`, its sockets in place, is known by `id` and counted.
    fn started(&mut self, id: SessionId, k: usize) {
        self.by_id.insert(id, k);
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        self.after(k);
    }

    fn register(&mut self, k: usize, sockets: [[Option<std::net::UdpSocket>; 2]; 2]) -> io::Result<()> {
        for (leg, comps) in [LegId::A, LegId::B].into_iter().zip(sockets) {
            for (component, sock) in [Component::Rtp, Component::Rtcp].into_iter().zip(comps) {
                let Some(sock) = sock else { continue };
                sock.set_nonblocking(true)?;
                let mut socket = UdpSocket::from_std(sock);
                let entry = self.socks.vacant_entry();
                self.poll.registry().register(&mut socket, Token(entry.key()), Interest::READABLE)?;
                let sk = entry.key();
                entry.insert(Sock { socket, session: k, leg, component });
                self.sessions[k].socks[leg.index()][component as usize] = Some(sk);
            }
        }
        Ok(())
    }

    fn report(&self, k: usize) -> SessionReport {
        self.sessions[k].session.report()
    }

    /// Ends session `k`: its sockets close, or rest under `keep` for a later session.
    fn remove(&mut self, k: usize, keep: Option<u64>) {
        let mut e = self.sessions.remove(k);
        let mut bytes = Vec::new();
        if e.session.finish_recording(&mut bytes)
            && let Some(rec) = &self.recordings
        {
            let _ = rec.send(RecordingMsg::End(e.id, bytes));
        }
        match keep {
            Some(slot) => {
                // Still registered: what arrives while they rest is read and counted as stray,
                // so their queues hold nothing old when a session takes them.
                for sk in e.socks.iter().flatten().flatten() {
                    self.socks[*sk].session = RESTING;
                }
                self.resting.insert(slot, e.socks);
            }
            None => {
                e.socks.into_iter().flatten().flatten().for_each(|sk| self.close_socket(sk));
                self.held.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    }

    fn close_socket(&mut self, sk: usize) {
        let mut s = self.socks.remove(sk);
        let _ = self.poll.registry().deregister(&mut s.socket);
    }

    /// Starts a session on the sockets resting under `slot`. Nothing old waits in their queues:
    /// they stayed registered while resting, so what arrived was read as stray. (A straggler
    /// that lands in the very wake the session starts in meets the new session's latch.)
    fn add_resting(
        &mut self,
        id: SessionId,
        session: Box<MediaSession>,
        slot: u64,
        placed: Placed,
    ) -> io::Result<()> {
        let socks = self
            .resting
            .remove(&slot)
            .ok_or_else(|| io::Error::other(format!("no resting sockets numbered {slot}")))?;
        let k = self.sessions.insert(Entry { id, session, socks, scheduled: None, placed });
        for sk in socks.iter().flatten().flatten() {
            self.socks[*sk].session = k;
        }
        self.started(id, k);
        Ok(())
    }
}
