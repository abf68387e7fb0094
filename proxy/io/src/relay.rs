//! The relay: worker threads, and the handle the control side (ng, SIP) drives them with.

use crate::ports::PortPool;
use crate::recorder::{self, RecorderStats};
use crate::worker::{Command, EventSink, Links, Placed, SessionId, Worker, WorkerStats};
use mio::Waker;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tonewall_dsp::Digit;
use tonewall_media::relay::{
    LatchPolicy, LegId, MediaSession, RelayEvent, Remote, SessionConfig, SessionReport,
};
use tonewall_media::srtp::SrtpContext;

/// Relay settings.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Worker threads (one per core is the intent); at least 1.
    pub workers: usize,
    /// Address of each leg's ports: leg A (carrier-facing) and leg B (agent-facing).
    pub addresses: [IpAddr; 2],
    /// Port range for RTP/RTCP pairs, inclusive; RTP on even ports.
    pub ports: (u16, u16),
    /// Per-session settings.
    pub session: SessionConfig,
    /// Directory for call recordings; `None`: recording is off.
    pub recording_dir: Option<std::path::PathBuf>,
    /// After a wake that found only a few datagrams, a worker waits this long before polling
    /// again, so that the next wake finds many. At moderate rates (a few hundred streams) each
    /// packet otherwise costs a wake of its own, which is most of its CPU; the price is up to
    /// this much added latency. Zero turns it off.
    pub coalesce: Duration,
    /// Whether an ended session's sockets are kept for the next session.
    pub recycle: Recycle,
}

/// Keeping an ended session's four sockets open for a later session on the same worker, instead
/// of closing them and binding fresh ones.
///
/// A call's sockets cost more to set up and tear down than the whole of its signalling's parse:
/// two `socket` and `bind` calls per leg and the descriptors' passage to the worker when the
/// call starts, four `epoll_ctl` and `close` calls when it ends. A recycled set needs none of
/// them, only a read of whatever its ports received since.
///
/// The ports of a recycled set are reused after `rest` instead of after a full turn of the port
/// range, so a peer of the ended call that keeps sending for longer than `rest` reaches the new
/// call's ports. Under the strict latch it is refused there unless it is the new call's
/// signalled peer; under `SignaledHost` a straggler from the signalled host (a carrier's media
/// gateway, on another port) could be learned, and under `InsecureFirstSource` anyone: choose a
/// longer rest with those (see `tonewall_media::relay::LatchPolicy`). A set that has not
/// finished resting is taken only under the strict latch, and only when the alternative is
/// refusing the call (its worker out of descriptors or ports). Sets resting ten times `rest`
/// (at least 20 s) close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recycle {
    /// How long a set rests before a new session may take it (unless its worker has no room
    /// for fresh sockets: then the oldest set is taken at once).
    pub rest: Duration,
    /// Sets kept per worker, at most; 0 turns recycling off. Resting sockets count against the
    /// worker's descriptor table like a session's.
    pub max: usize,
}

impl Recycle {
    /// Every ended session's sockets close.
    pub const OFF: Recycle = Recycle { rest: Duration::ZERO, max: 0 };
}

impl Default for RelayConfig {
    fn default() -> Self {
        let lo = IpAddr::from([127, 0, 0, 1]);
        RelayConfig {
            workers: 1,
            addresses: [lo, lo],
            ports: (30000, 39999),
            session: SessionConfig::default(),
            recording_dir: None,
            coalesce: Duration::ZERO,
            recycle: Recycle::OFF,
        }
    }
}

struct WorkerHandle {
    commands: Sender<Command>,
    /// Where new sessions' sockets go, to land in the worker's own descriptor table.
    fds_out: std::os::unix::net::UnixDatagram,
    waker: Arc<Waker>,
    /// Set when the worker has been woken and has not yet taken its commands: a burst of
    /// commands (a call's setup is several) costs one wake, not one each.
    woken: Arc<AtomicBool>,
    stats: Arc<WorkerStats>,
    /// Sessions created on this worker and not yet removed, and sets of sockets resting there:
    /// four sockets each in its table. The control side counts a session in when it creates
    /// one; the worker counts sockets out when it closes them (a session removed, a resting
    /// set closed, a session it could not start), so no path the control side cannot see (an
    /// answer that came too late) leaves the count wrong.
    held: Arc<AtomicU64>,
    /// Socket sets resting on this worker, oldest first.
    resting: Mutex<std::collections::VecDeque<Resting>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// An ended session's sockets, kept by its worker for the next session (see [`Recycle`]).
struct Resting {
    /// The worker's name for the set.
    slot: u64,
    ports: [LegPorts; 2],
    /// Which address each leg's ports are on (see [`Relay::create_facing`]).
    sides: [usize; 2],
    /// When the set's session ended, on the relay's clock.
    since: Duration,
}

/// The relay's addresses for one leg of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegPorts {
    /// RTP (and muxed RTCP).
    pub rtp: SocketAddr,
    /// RTCP.
    pub rtcp: SocketAddr,
}

/// A running relay. Dropping it stops the workers.
pub struct Relay {
    config: RelayConfig,
    workers: Vec<WorkerHandle>,
    next_id: AtomicU64,
    ports: [Mutex<PortPool>; 2],
    epoch: Instant,
    recorder_stats: Arc<RecorderStats>,
    /// Whether every worker keeps its sockets in a descriptor table of its own.
    private_tables: bool,
    /// The soft descriptor limit when the relay started.
    fd_limit: u64,
    /// Numbers for resting socket sets.
    next_slot: AtomicU64,
}

/// A lock whose holder panicked still guards plain data (queues of ports): take it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Descriptors of a worker's table that are not its sessions' sockets: standard streams, its
/// poller and descriptor socket, and room for what a session's setup holds for a moment.
const TABLE_RESERVE: u64 = 16;

impl Relay {
    /// Starts the workers. Events of every session arrive on the returned receiver.
    pub fn start(config: RelayConfig) -> io::Result<(Relay, Receiver<(SessionId, RelayEvent)>)> {
        let (events_tx, events_rx): (EventSink, _) = mpsc::channel();
        let epoch = Instant::now();
        let recorder_stats = Arc::new(RecorderStats::default());
        let recordings = match &config.recording_dir {
            Some(dir) => {
                let (tx, rx) = mpsc::channel();
                let (dir, stats) = (dir.clone(), Arc::clone(&recorder_stats));
                std::thread::Builder::new()
                    .name("recorder".into())
                    .spawn(move || recorder::run(dir, rx, stats))?;
                Some(tx)
            }
            None => None,
        };
        let mut workers = Vec::new();
        let mut private_tables = true;
        for i in 0..config.workers.max(1) {
            let (tx, rx) = mpsc::channel();
            let stats = Arc::new(WorkerStats::default());
            let woken = Arc::new(AtomicBool::new(false));
            let (fds_out, fds_in) = std::os::unix::net::UnixDatagram::pair()?;
            let held = Arc::new(AtomicU64::new(0));
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let links = Links {
                commands: rx,
                events_out: events_tx.clone(),
                stats: Arc::clone(&stats),
                recordings: recordings.clone(),
                woken: Arc::clone(&woken),
                fds_in,
                ready: ready_tx,
                held: Arc::clone(&held),
            };
            let (worker, waker) = Worker::new(links, epoch, config.coalesce)?;
            // What the worker keeps; once it has a table of its own, this table's copies of
            // them are left over, and closed (so a worker that is gone refuses sockets
            // rather than queueing them for nobody).
            let copies = worker.descriptors();
            let thread =
                std::thread::Builder::new().name(format!("relay-{i}")).spawn(move || worker.run())?;
            // One worker at a time, so no worker's copy of the table holds another's.
            match ready_rx.recv_timeout(Duration::from_secs(5)) {
                Ok(true) => copies.into_iter().for_each(crate::sys::close_copy),
                Ok(false) => private_tables = false,
                Err(_) => {
                    // Gone before it ran (its error is the thread's result) or stuck: a relay
                    // with a worker that takes no sessions must not start.
                    let why = match thread.join() {
                        Ok(Err(e)) => e.to_string(),
                        _ => "did not start".to_string(),
                    };
                    return Err(io::Error::other(format!("relay worker {i}: {why}")));
                }
            }
            // A worker that stops taking sessions (stuck, or gone: then the send fails at
            // once) fails `create` after this long instead of blocking it for good.
            fds_out.set_write_timeout(Some(Duration::from_secs(2)))?;
            workers.push(WorkerHandle {
                commands: tx,
                fds_out,
                waker,
                woken,
                stats,
                held,
                resting: Mutex::new(Default::default()),
                thread: Some(thread),
            });
        }
        let pool = |ip| Mutex::new(PortPool::new(ip, config.ports));
        let ports = [pool(config.addresses[0]), pool(config.addresses[1])];
        let fd_limit = crate::sys::fd_soft_limit().unwrap_or(1024);
        let relay = Relay {
            config,
            workers,
            next_id: AtomicU64::new(1),
            ports,
            epoch,
            recorder_stats,
            private_tables,
            fd_limit,
            next_slot: AtomicU64::new(1),
        };
        Ok((relay, events_rx))
    }

    /// Time since the relay started: the `now` its sessions run on.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn worker(&self, id: SessionId) -> &WorkerHandle {
        &self.workers[(id.0 % self.workers.len() as u64) as usize]
    }

    fn send(&self, id: SessionId, cmd: Command) {
        Self::send_to(self.worker(id), cmd);
    }

    fn send_to(w: &WorkerHandle, cmd: Command) {
        // The worker clears `woken` before it drains the queue (SeqCst on both sides): either
        // it sees this command in that drain, or this swap sees `false` and wakes it again.
        if w.commands.send(cmd).is_ok() && !w.woken.swap(true, Ordering::SeqCst) {
            let _ = w.waker.wake();
        }
    }

    /// Creates a session with fresh ports on both legs, with the relay's session settings.
    pub fn create(&self) -> io::Result<(SessionId, [LegPorts; 2])> {
        self.create_with(self.config.session.clone())
    }

    /// The relay's session settings.
    pub fn session_config(&self) -> &SessionConfig {
        &self.config.session
    }

    /// Creates a session with fresh ports on both legs.
    pub fn create_with(&self, config: SessionConfig) -> io::Result<(SessionId, [LegPorts; 2])> {
        self.create_facing(config, [0, 1])
    }

    /// Creates a session whose leg i has its ports on the address of side `sides[i]` (0: the
    /// carrier-facing address, 1: the agent-facing one).
    pub fn create_facing(
        &self,
        config: SessionConfig,
        sides: [usize; 2],
    ) -> io::Result<(SessionId, [LegPorts; 2])> {
        let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let worker = self.worker(id);
        let sides = sides.map(|s| s.min(1));
        let now = self.now();
        self.expire_resting(worker, now);
        // Sockets that have rested long enough: no system call at all.
        if let Some(r) = self.take_resting(worker, sides, now, false) {
            return Ok(self.hand_over(id, config, r.ports, sides, Some(r.slot)));
        }
        // Under the strict latch a set that has not finished resting is safe to take when the
        // alternative is a refusal: a straggler of its old call is refused unless it is the new
        // call's signalled peer. Under looser policies it could be learned.
        let unrested_ok = config.latch == LatchPolicy::Strict;
        // A worker's table that cannot take four more sockets would fail the session after
        // its ports were already promised: refuse it here, while the caller can still say no.
        // (With one shared table, binding the sockets fails instead.)
        let held = worker.held.fetch_add(1, Ordering::Relaxed) + 1;
        if self.private_tables && held * 4 + TABLE_RESERVE > self.fd_limit {
            if unrested_ok && let Some(r) = self.take_resting(worker, sides, now, true) {
                worker.held.fetch_sub(1, Ordering::Relaxed);
                return Ok(self.hand_over(id, config, r.ports, sides, Some(r.slot)));
            }
            // Close a resting set (of other addresses, or too young) and go on: it is closed
            // before the new sockets are taken, and the table's reserve holds both meanwhile.
            if !Self::close_oldest_resting(&mut lock(&worker.resting), worker) {
                worker.held.fetch_sub(1, Ordering::Relaxed);
                return Err(io::Error::other(format!(
                    "relay worker full: {} sessions use its {} descriptors",
                    held - 1,
                    self.fd_limit
                )));
            }
        }
        match self.bind_and_send(worker, id, sides) {
            Ok(ports) => Ok(self.hand_over(id, config, ports, sides, None)),
            Err(e) => {
                worker.held.fetch_sub(1, Ordering::Relaxed);
                // Out of ports or descriptors while sets rest (they keep theirs): one of them
                // rather than a refusal, or else one closed so that the next call finds room.
                if unrested_ok && let Some(r) = self.take_resting(worker, sides, now, true) {
                    return Ok(self.hand_over(id, config, r.ports, sides, Some(r.slot)));
                }
                Self::close_oldest_resting(&mut lock(&worker.resting), worker);
                Err(e)
            }
        }
    }

    /// Closes sets that have rested far longer than needed: at a quiet time they would hold
    /// their ports and descriptors for nothing.
    fn expire_resting(&self, worker: &WorkerHandle, now: Duration) {
        let recycle = self.config.recycle;
        if recycle.max == 0 {
            return;
        }
        let old = (recycle.rest * 10).max(Duration::from_secs(20));
        let mut resting = lock(&worker.resting);
        while resting.front().is_some_and(|r| now.saturating_sub(r.since) > old) {
            Self::close_oldest_resting(&mut resting, worker);
        }
    }

    /// Has `worker` close its oldest resting set (which counts itself out of `held`); false
    /// if none rests.
    fn close_oldest_resting(
        resting: &mut std::collections::VecDeque<Resting>,
        worker: &WorkerHandle,
    ) -> bool {
        let Some(r) = resting.pop_front() else { return false };
        Self::send_to(worker, Command::Close { slot: r.slot });
        true
    }

    /// The oldest set resting on `worker` with its legs on `sides`, if it has rested long enough
    /// (or in any case with `any`).
    fn take_resting(
        &self,
        worker: &WorkerHandle,
        sides: [usize; 2],
        now: Duration,
        any: bool,
    ) -> Option<Resting> {
        if self.config.recycle.max == 0 {
            return None;
        }
        // Sets whose legs are on the same addresses either way round serve either way round.
        let same = |a: usize, b: usize| self.config.addresses[a] == self.config.addresses[b];
        let fits = |r: &Resting| (0..2).all(|leg| same(r.sides[leg], sides[leg]));
        let mut resting = lock(&worker.resting);
        // Oldest first: once one is too young, so are the rest.
        let i = resting
            .iter()
            .take_while(|r| any || now.saturating_sub(r.since) >= self.config.recycle.rest)
            .position(fits)?;
        resting.remove(i)
    }

    /// Binds fresh ports for a session and sends their sockets to `worker`'s table.
    fn bind_and_send(
        &self,
        worker: &WorkerHandle,
        id: SessionId,
        sides: [usize; 2],
    ) -> io::Result<[LegPorts; 2]> {
        use std::os::fd::AsFd;
        let mut sockets: Vec<UdpSocket> = Vec::with_capacity(4);
        let mut ports = [LegPorts {
            rtp: SocketAddr::from(([0, 0, 0, 0], 0)),
            rtcp: SocketAddr::from(([0, 0, 0, 0], 0)),
        }; 2];
        for (leg, &side) in sides.iter().enumerate() {
            let pool = &self.ports[side];
            let (rtp, rtcp, port) = lock(pool).pair()?;
            let ip = self.config.addresses[side];
            ports[leg] = LegPorts { rtp: SocketAddr::new(ip, port), rtcp: SocketAddr::new(ip, port + 1) };
            sockets.extend([rtp, rtcp]);
        }
        // The sockets go to the worker's own descriptor table; this table's copies close when
        // `sockets` drops, so they count against this table's limit only for this moment.
        let fds: Vec<_> = sockets.iter().map(|s| s.as_fd()).collect();
        crate::sys::send_fds(&worker.fds_out, id.0, &fds)
            .map_err(|e| io::Error::new(e.kind(), format!("relay worker not taking sessions: {e}")))?;
        Ok(ports)
    }

    /// Hands the worker a new session on the sockets it was sent, or on resting ones.
    fn hand_over(
        &self,
        id: SessionId,
        config: SessionConfig,
        ports: [LegPorts; 2],
        sides: [usize; 2],
        reuse: Option<u64>,
    ) -> (SessionId, [LegPorts; 2]) {
        let session = Box::new(MediaSession::new(self.now(), config));
        self.send(id, Command::Add { id, session, reuse, placed: Placed { ports, sides } });
        (id, ports)
    }

    /// Signalling said where `leg`'s peer is.
    pub fn signal(&self, id: SessionId, leg: LegId, remote: Remote) {
        self.send(id, Command::Signal { id, leg, remote });
    }

    /// Keys `leg` for SRTP (see [`MediaSession::set_srtp`]).
    pub fn set_srtp(
        &self,
        id: SessionId,
        leg: LegId,
        inbound: Option<SrtpContext>,
        outbound: Option<SrtpContext>,
    ) {
        self.update_srtp(id, leg, Some(inbound), Some(outbound));
    }

    /// Replaces only the contexts given (see [`MediaSession::update_srtp`]).
    pub fn update_srtp(
        &self,
        id: SessionId,
        leg: LegId,
        inbound: Option<Option<SrtpContext>>,
        outbound: Option<Option<SrtpContext>>,
    ) {
        self.send(id, Command::Srtp { id, leg, keys: Box::new((inbound, outbound)) });
    }

    /// Records the session from now on into a file of its own (when the relay has a recording
    /// directory; otherwise the writer is dropped and nothing is recorded).
    pub fn record(&self, id: SessionId, writer: tonewall_media::recording::Writer) -> bool {
        if self.config.recording_dir.is_none() {
            return false;
        }
        self.send(id, Command::Record { id, writer: Box::new(writer) });
        true
    }

    /// The recorder's counters.
    pub fn recorder_stats(&self) -> &RecorderStats {
        &self.recorder_stats
    }

    /// Masks what arrives on `from`, or stops masking it.
    pub fn set_masking(&self, id: SessionId, from: LegId, on: bool) {
        self.send(id, Command::Mask { id, from, on });
    }

    /// A key press `from`'s party sent in a SIP INFO, with the duration its body gave (ms).
    /// The owning worker hands it to [`MediaSession::sip_info_digit`] at its own `now`, so it
    /// is placed on the stream's timeline between the packets around it; the digit, unless the
    /// stream already reported that press, comes out of the relay's event channel as a
    /// [`RelayEvent::Digit`] with transport `SipInfo`. Nothing happens for an unknown session.
    pub fn sip_info(&self, id: SessionId, from: LegId, digit: Digit, duration_ms: Option<u32>) {
        self.send(id, Command::SipInfo { id, from, digit, duration_ms });
    }

    /// The session's figures; `None` if it does not exist.
    pub fn report(&self, id: SessionId) -> Option<SessionReport> {
        self.ask(id, false, None).map(|(report, _)| report)
    }

    /// Removes the session and returns its final figures. Its ports close, or rest for a later
    /// session (see [`Recycle`]).
    pub fn remove(&self, id: SessionId) -> Option<SessionReport> {
        let worker = self.worker(id);
        let recycle = self.config.recycle;
        let keep = (recycle.max > 0).then(|| {
            // A full queue gives way: its oldest set closes, this one rests (so that sets of
            // addresses no call asks for any more do not hold the queue for good).
            let mut resting = lock(&worker.resting);
            while resting.len() >= recycle.max && Self::close_oldest_resting(&mut resting, worker) {}
            self.next_slot.fetch_add(1, Ordering::Relaxed)
        });
        // The worker counts the sockets out of `held` when it closes them.
        match (self.ask(id, true, keep), keep) {
            (Some((report, placed)), Some(slot)) => {
                let Placed { ports, sides } = placed;
                lock(&worker.resting).push_back(Resting { slot, ports, sides, since: self.now() });
                Some(report)
            }
            (Some((report, _)), None) => Some(report),
            (None, Some(slot)) => {
                // Unknown, or no answer in time: if the worker kept sockets, they close.
                self.send(id, Command::Close { slot });
                None
            }
            (None, None) => None,
        }
    }

    /// How many more sessions the fullest worker can take before its descriptor table is full
    /// (with one shared table, the whole relay's: other descriptors of the process count
    /// there too, so it is an upper bound). What a NOC alerts on before calls get 503.
    pub fn session_headroom(&self) -> u64 {
        let per_table = self.fd_limit.saturating_sub(TABLE_RESERVE) / 4;
        // Resting sockets give way to a new session when a table is full.
        let held = self.workers.iter().map(|w| {
            let resting = lock(&w.resting).len() as u64;
            w.held.load(Ordering::Relaxed).saturating_sub(resting)
        });
        if self.private_tables {
            held.map(|h| per_table.saturating_sub(h)).min().unwrap_or(0)
        } else {
            per_table.saturating_sub(held.sum())
        }
    }

    /// Whether each worker keeps its sessions' sockets in a descriptor table of its own (see
    /// `sys::own_fd_table`); `false` where the platform or a sandbox refused it, and then the
    /// whole relay shares the process's descriptor limit.
    pub fn private_fd_tables(&self) -> bool {
        self.private_tables
    }

    fn ask(&self, id: SessionId, remove: bool, keep: Option<u64>) -> Option<(SessionReport, Placed)> {
        let (tx, rx) = mpsc::channel();
        self.send(id, Command::Report { id, remove, keep, reply: tx });
        // The caller waits: a worker resting between polls (see `RelayConfig::coalesce`)
        // answers now rather than after its rest.
        if let Some(t) = &self.worker(id).thread {
            t.thread().unpark();
        }
        rx.recv_timeout(Duration::from_secs(5)).ok().flatten()
    }

    /// Per-worker totals.
    pub fn stats(&self) -> impl Iterator<Item = &WorkerStats> {
        self.workers.iter().map(|w| &*w.stats)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.commands.send(Command::Stop);
            let _ = w.waker.wake();
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}
