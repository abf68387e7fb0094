//! Batched UDP on Linux through `nix`'s safe wrappers of `recvmmsg` and `sendmmsg`: one system
//! call moves up to [`BATCH`] datagrams. Buffers are allocated once per batch object; nothing
//! allocates per packet.
//!
//! Receive batches can ask the kernel for each datagram's arrival time (`SO_TIMESTAMPNS`,
//! `CLOCK_REALTIME`), so one-way latency does not include the time a packet waited in the
//! socket while the generator was busy sending.

use nix::cmsg_space;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg, setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{SystemTime, UNIX_EPOCH};

/// Datagrams per system call.
pub const BATCH: usize = 64;
/// Bytes kept of each datagram (RTP here is 172 bytes; anything longer is truncated).
pub const SLOT: usize = 512;

/// Now, `CLOCK_REALTIME`, in nanoseconds: the clock `SO_TIMESTAMPNS` uses.
pub fn realtime_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A non-blocking UDP socket bound to `addr`, with large buffers (forced past `rmem_max` when
/// the process may) and, if `timestamps`, kernel receive timestamps.
pub fn udp_socket(addr: SocketAddrV4, buffer_bytes: usize, timestamps: bool) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(addr)?;
    sock.set_nonblocking(true)?;
    if setsockopt(&sock, sockopt::RcvBufForce, &buffer_bytes).is_err() {
        let _ = setsockopt(&sock, sockopt::RcvBuf, &buffer_bytes);
    }
    if setsockopt(&sock, sockopt::SndBufForce, &buffer_bytes).is_err() {
        let _ = setsockopt(&sock, sockopt::SndBuf, &buffer_bytes);
    }
    if timestamps {
        setsockopt(&sock, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)?;
    }
    Ok(sock)
}

/// Up to [`BATCH`] received datagrams, their sources and arrival times.
pub struct RecvBatch {
    bufs: Box<[u8]>,
    hdrs: MultiHeaders<SockaddrIn>,
    lens: [usize; BATCH],
    from: [SocketAddrV4; BATCH],
    rx_ns: [u64; BATCH],
    n: usize,
    /// Datagrams longer than [`SLOT`] (truncated).
    pub truncated: u64,
}

impl RecvBatch {
    /// An empty batch; `timestamps` must match the socket's `SO_TIMESTAMPNS` setting.
    pub fn new(timestamps: bool) -> Self {
        let cmsg = timestamps.then(|| cmsg_space!(TimeSpec));
        RecvBatch {
            bufs: vec![0; BATCH * SLOT].into_boxed_slice(),
            hdrs: MultiHeaders::preallocate(BATCH, cmsg),
            lens: [0; BATCH],
            from: [SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0); BATCH],
            rx_ns: [0; BATCH],
            n: 0,
            truncated: 0,
        }
    }

    /// Reads what is waiting on `sock`, without blocking: the number of datagrams, 0 when none.
    /// Arrival times are the kernel's when the socket has timestamps on, else now.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        self.n = 0;
        let mut chunks = self.bufs.chunks_exact_mut(SLOT);
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] = std::array::from_fn(|_| {
            // BATCH chunks of SLOT bytes exist by construction.
            [IoSliceMut::new(chunks.next().unwrap_or_default())]
        });
        let res = recvmmsg(sock.as_raw_fd(), &mut self.hdrs, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None);
        let msgs = match res {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let fallback = realtime_ns();
        let mut n = 0;
        for m in msgs {
            let mut ts = fallback;
            if let Ok(cmsgs) = m.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmTimestampns(t) = c {
                        ts = (t.tv_sec() as u64).wrapping_mul(1_000_000_000).wrapping_add(t.tv_nsec() as u64);
                    }
                }
            }
            if m.flags.contains(MsgFlags::MSG_TRUNC) || m.bytes > SLOT {
                self.truncated += 1;
            }
            self.lens[n] = m.bytes.min(SLOT);
            self.from[n] =
                m.address.map_or(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0), Into::into);
            self.rx_ns[n] = ts;
            n += 1;
        }
        self.n = n;
        Ok(n)
    }

    /// Datagrams in the batch.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Datagram `i`: bytes, source, arrival time (realtime ns).
    pub fn get(&self, i: usize) -> (&[u8], SocketAddrV4, u64) {
        (&self.bufs[i * SLOT..i * SLOT + self.lens[i]], self.from[i], self.rx_ns[i])
    }

    /// Source of datagram `i`.
    pub fn source(&self, i: usize) -> SocketAddrV4 {
        self.from[i]
    }

    /// Sends every datagram of the batch, unchanged, from `sock` to `to`. Returns how many went.
    pub fn forward(&self, sock: &UdpSocket, to: SocketAddrV4, hdrs: &mut MultiHeaders<SockaddrIn>) -> usize {
        let iovs: [[IoSlice<'_>; 1]; BATCH] =
            std::array::from_fn(|i| [IoSlice::new(&self.bufs[i * SLOT..i * SLOT + self.lens[i]])]);
        let addrs = [Some(SockaddrIn::from(to)); BATCH];
        send_all(sock, hdrs, &iovs[..self.n], &addrs[..self.n])
    }
}

/// Headers for [`RecvBatch::forward`] and [`SendBatch`].
pub fn send_headers() -> MultiHeaders<SockaddrIn> {
    MultiHeaders::preallocate(BATCH, None)
}

/// `sendmmsg` until all went or the socket refuses; returns how many went.
fn send_all(
    sock: &UdpSocket,
    hdrs: &mut MultiHeaders<SockaddrIn>,
    iovs: &[[IoSlice<'_>; 1]],
    addrs: &[Option<SockaddrIn>],
) -> usize {
    let mut done = 0;
    while done < iovs.len() {
        match sendmmsg(sock.as_raw_fd(), hdrs, &iovs[done..], &addrs[done..], [], MsgFlags::MSG_DONTWAIT) {
            Ok(r) => {
                let n = r.count();
                if n == 0 {
                    break;
                }
                done += n;
            }
            Err(nix::errno::Errno::EINTR) => {}
            // EAGAIN (socket buffer full) or a refused destination: the rest are lost.
            Err(_) => break,
        }
    }
    done
}

/// Up to [`BATCH`] datagrams built in place, then sent with one `sendmmsg`.
pub struct SendBatch {
    bufs: Box<[u8]>,
    lens: [usize; BATCH],
    to: [Option<SockaddrIn>; BATCH],
    n: usize,
    hdrs: MultiHeaders<SockaddrIn>,
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            bufs: vec![0; BATCH * SLOT].into_boxed_slice(),
            lens: [0; BATCH],
            to: [None; BATCH],
            n: 0,
            hdrs: send_headers(),
        }
    }
}

impl SendBatch {
    /// Datagrams waiting.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whether the batch is full (flush before pushing more).
    pub fn is_full(&self) -> bool {
        self.n == BATCH
    }

    /// The buffer of the next datagram; call [`SendBatch::commit`] with its length to keep it.
    pub fn next_buf(&mut self) -> &mut [u8] {
        let at = self.n.min(BATCH - 1) * SLOT;
        &mut self.bufs[at..at + SLOT]
    }

    /// Keeps the datagram written into [`SendBatch::next_buf`].
    pub fn commit(&mut self, len: usize, to: SocketAddrV4) {
        if self.n < BATCH {
            self.lens[self.n] = len.min(SLOT);
            self.to[self.n] = Some(to.into());
            self.n += 1;
        }
    }

    /// Sends what waits from `sock`; returns how many went. The batch is empty afterwards.
    pub fn flush(&mut self, sock: &UdpSocket) -> usize {
        if self.n == 0 {
            return 0;
        }
        let bufs = &self.bufs;
        let lens = &self.lens;
        let iovs: [[IoSlice<'_>; 1]; BATCH] =
            std::array::from_fn(|i| [IoSlice::new(&bufs[i * SLOT..i * SLOT + lens[i]])]);
        let sent = send_all(sock, &mut self.hdrs, &iovs[..self.n], &self.to[..self.n]);
        self.n = 0;
        sent
    }
}
