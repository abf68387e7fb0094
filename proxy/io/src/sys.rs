//! Platform calls the standard library does not offer: batched receive and send (`recvmmsg`,
//! `sendmmsg`), a descriptor table per relay worker (`unshare(CLONE_FILES)`), and passing
//! sockets between threads' tables (`SCM_RIGHTS`).
//!
//! The only `unsafe` in this crate. Linux first, which is where the relay runs; elsewhere the
//! batch degrades to one `recv_from` per call and workers share the process's table.

#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;

/// Asks the CPU to start loading the `len` bytes at `at` into its caches, and returns at once.
/// A hint: it reads nothing the program sees, and never faults, whatever the address (so the
/// span may be stale). At most 8 KiB; nothing off x86-64.
pub(crate) fn prefetch(at: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if len > 0 {
        // Every line the span touches: from the one holding its first byte to the one holding
        // its last (a small field may straddle two).
        let first = at as usize & !63;
        let last = (at as usize).wrapping_add(len.min(8192) - 1) & !63;
        let lines = last.wrapping_sub(first) / 64 + 1;
        for i in 0..lines.min(129) {
            // SAFETY: PREFETCHT0 is a hint: it does not fault on any address and writes nothing.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    at.wrapping_add(first.wrapping_sub(at as usize).wrapping_add(i * 64)).cast(),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (at, len);
}

/// Datagrams received by one [`recv_batch`] call, at most.
pub const BATCH: usize = 16;
/// Receive buffer size: room for a jumbo RTP packet plus an SRTP tag and MKI.
pub const BUF: usize = 2048;

/// Receive buffers and the metadata of what landed in them, reused for every call.
pub struct RecvBatch {
    pub(crate) bufs: Box<[[u8; BUF]; BATCH]>,
    pub(crate) lens: [usize; BATCH],
    pub(crate) from: [Option<SocketAddr>; BATCH],
    #[cfg(target_os = "linux")]
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
}

impl RecvBatch {
    /// Buffers for one worker.
    pub fn new() -> Self {
        RecvBatch {
            bufs: Box::new([[0; BUF]; BATCH]),
            lens: [0; BATCH],
            from: [None; BATCH],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid (AF_UNSPEC) value.
            #[cfg(target_os = "linux")]
            addrs: Box::new(unsafe { std::mem::zeroed() }),
        }
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Receives up to [`BATCH`] datagrams from a non-blocking socket in one system call. Returns
/// how many arrived (0 when none were waiting). Datagram `i` is `bufs[i][..lens[i]]` from
/// `from[i]`; a datagram longer than [`BUF`] is truncated, and its length reported as `BUF + 1`
/// so the caller can drop it.
#[cfg(target_os = "linux")]
pub fn recv_batch(socket: &mio::net::UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: iovec, mmsghdr are plain old data; zeroed is a valid starting value, and every
    // pointer stored below points into `batch`, which outlives the call.
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..BATCH {
        iov[i].iov_base = batch.bufs[i].as_mut_ptr().cast();
        iov[i].iov_len = BUF;
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &mut iov[i];
        h.msg_iovlen = 1;
    }
    // SAFETY: `hdrs` holds BATCH initialised headers whose buffers (iov, names) are valid for
    // writes of the stated lengths for the duration of the call; the fd is open (borrowed).
    let n = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            hdrs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock { Ok(0) } else { Err(e) };
    }
    let n = n as usize;
    for i in 0..n {
        let truncated = hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        batch.lens[i] = if truncated { BUF + 1 } else { hdrs[i].msg_len as usize };
        batch.from[i] = to_socket_addr(&batch.addrs[i]);
    }
    Ok(n)
}

#[cfg(target_os = "linux")]
fn to_socket_addr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET) into the storage, which is
            // large and aligned enough for it.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6 (family AF_INET6).
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Sends `datagrams` (payload, destination) from one non-blocking socket with as few system
/// calls as the kernel allows (`sendmmsg`). Returns how many were sent; a datagram the kernel
/// refuses (unreachable, buffer full) is skipped and counted in the second value.
#[cfg(target_os = "linux")]
pub fn send_batch(socket: &mio::net::UdpSocket, datagrams: &[(&[u8], SocketAddr)]) -> (usize, usize) {
    use std::os::fd::AsRawFd;
    // One datagram (the usual case at 50 packets a second per socket): a plain sendto, without
    // setting up the message vectors.
    if let [(payload, to)] = datagrams {
        return if socket.send_to(payload, *to).is_ok() { (1, 0) } else { (0, 1) };
    }
    let n = datagrams.len().min(BATCH);
    // SAFETY: plain old data; zeroed is a valid starting value for each.
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, (payload, to)) in datagrams[..n].iter().enumerate() {
        let len = write_sockaddr(*to, &mut names[i]);
        // The kernel only reads through iov_base for sendmmsg; the cast drops const for the C type.
        iov[i].iov_base = payload.as_ptr() as *mut libc::c_void;
        iov[i].iov_len = payload.len();
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = len;
        h.msg_iov = &mut iov[i];
        h.msg_iovlen = 1;
    }
    let (mut sent, mut failed, mut at) = (0, 0, 0);
    while at < n {
        // SAFETY: hdrs[at..n] are initialised headers whose names and iovecs point into
        // `names`, `iov` and the caller's payloads, all alive for the call; the fd is borrowed.
        let r = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                hdrs[at..].as_mut_ptr(),
                (n - at) as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r > 0 {
            sent += r as usize;
            at += r as usize;
        } else {
            // The datagram at `at` was refused: skip it, try the rest.
            failed += 1;
            at += 1;
        }
    }
    (sent, failed)
}

#[cfg(target_os = "linux")]
fn write_sockaddr(addr: SocketAddr, ss: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Portable fallback: one datagram per call.
#[cfg(not(target_os = "linux"))]
pub fn send_batch(socket: &mio::net::UdpSocket, datagrams: &[(&[u8], SocketAddr)]) -> (usize, usize) {
    let sent = datagrams.iter().filter(|(p, to)| socket.send_to(p, *to).is_ok()).count();
    (sent, datagrams.len() - sent)
}

/// Portable fallback: one datagram per call.
#[cfg(not(target_os = "linux"))]
pub fn recv_batch(socket: &mio::net::UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    match socket.recv_from(&mut batch.bufs[0]) {
        Ok((len, from)) => {
            batch.lens[0] = len;
            batch.from[0] = Some(from);
            Ok(1)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// Gives the calling thread a descriptor table of its own and closes in it every descriptor
/// except the standard streams and `keep`.
///
/// Why: `RLIMIT_NOFILE` caps descriptor numbers per *table*, and the threads of a process
/// share one table. A relay worker holds four sockets per call, so a relay whose workers share
/// the process's table stops at a quarter of the limit's calls (5 000 under a hard limit of
/// 20 000, common in containers, where it cannot be raised). With a table per worker each
/// worker has the whole limit for its own sessions.
///
/// After this call the thread must use only descriptors it opens itself, `keep`, and 0–2;
/// descriptors other threads open later do not exist here, and the ones it inherited are
/// closed. Sockets reach it with [`send_fds`]. Returns `Ok(false)` where a private table is
/// not possible (not Linux, or refused by a sandbox): the thread then keeps sharing the
/// process's table, and everything still works within the process's limit.
pub(crate) fn own_fd_table(keep: &[std::os::fd::RawFd]) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: unshare(CLONE_FILES) copies the calling thread's descriptor table and
        // touches no memory of ours.
        if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
            return Ok(false);
        }
        let mut keep: Vec<libc::c_uint> =
            keep.iter().filter(|&&fd| fd > 2).map(|&fd| fd as libc::c_uint).collect();
        keep.sort_unstable();
        keep.dedup();
        // The table is private now, whatever follows: a copy left open is only a leak (it
        // keeps that file open while the worker runs), so it is reported, not fatal.
        let mut from: libc::c_uint = 3;
        for to in keep.iter().copied().chain([libc::c_uint::MAX]) {
            if let Err(e) = close_range(from, to) {
                eprintln!("relay: descriptors {from}..{to} of a worker's own table not closed: {e}");
            }
            from = to.saturating_add(1);
        }
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = keep;
        Ok(false)
    }
}

/// Whether threads here may take descriptor tables of their own (a relay worker does so at start): tried
/// on a short-lived thread of its own. Sandboxes (Docker's default seccomp profile without
/// `CAP_SYS_ADMIN`) refuse it; the relay then works within one table's limit.
pub fn can_own_fd_table() -> bool {
    #[cfg(target_os = "linux")]
    {
        std::thread::spawn(|| {
            // SAFETY: as in `own_fd_table`; this thread ends right after, with its table.
            unsafe { libc::unshare(libc::CLONE_FILES) == 0 }
        })
        .join()
        .unwrap_or(false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Closes descriptors `from..to` (`to` excluded) of the calling thread's private table.
#[cfg(target_os = "linux")]
fn close_range(from: libc::c_uint, to: libc::c_uint) -> io::Result<()> {
    if from >= to {
        return Ok(());
    }
    // SAFETY: only called on a table this thread alone uses, on descriptors no object of
    // this thread owns (see `own_fd_table`).
    let r = unsafe { libc::syscall(libc::SYS_close_range, from, to - 1, 0 as libc::c_uint) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(e);
    }
    // Before Linux 5.9: close what the table holds in the range, one by one.
    let open: Vec<libc::c_uint> = std::fs::read_dir("/proc/thread-self/fd")?
        .filter_map(|d| d.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| (from..to).contains(fd))
        .collect();
    for fd in open {
        // SAFETY: as above; the directory's own descriptor, listed too, is already closed.
        unsafe { libc::close(fd as libc::c_int) };
    }
    Ok(())
}

/// Closes this thread's copy of a descriptor another thread now owns in its private table
/// (see [`own_fd_table`]): the copy is left over from before that thread's table was split,
/// and no object here owns it.
pub(crate) fn close_copy(fd: std::os::fd::RawFd) {
    // SAFETY: the caller passes a number no object of this table owns (the object moved to
    // the thread that split its table off); closing it ends only this table's reference.
    unsafe {
        libc::close(fd);
    }
}

/// Most descriptors one [`send_fds`] message carries.
pub(crate) const MAX_FDS: usize = 4;

/// Control-message room for [`MAX_FDS`] descriptors, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// Sends `fds` with a tag over a Unix datagram socket (`SCM_RIGHTS`): the receiver gets
/// descriptors of its own for the same sockets, in its own table. The message holds a
/// reference while in flight, so the sender may close its copies at once.
pub(crate) fn send_fds(
    socket: &std::os::unix::net::UnixDatagram,
    tag: u64,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    assert!(fds.len() <= MAX_FDS, "at most {MAX_FDS} descriptors per message");
    let mut payload = tag.to_le_bytes();
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    let mut cbuf = CmsgBuf([0; 64]);
    let bytes = size_of_val(fds) as libc::c_uint;
    // SAFETY: msghdr is plain old data; the pointers set below point at `iov`, `payload` and
    // `cbuf`, alive for the call; CMSG_SPACE(4 fds) = 32 ≤ 64, so the header and data fit.
    let r = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(bytes) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(bytes) as _;
        let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
        for (i, fd) in fds.iter().enumerate() {
            data.add(i).write_unaligned(fd.as_raw_fd());
        }
        libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Receives one [`send_fds`] message if one is waiting (non-blocking): its tag, with the
/// descriptors appended to `fds` (close-on-exec). `Ok(None)`: nothing waiting.
pub(crate) fn recv_fds(
    socket: &mio::net::UnixDatagram,
    fds: &mut Vec<std::os::fd::OwnedFd>,
) -> io::Result<Option<u64>> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut payload = [0u8; 8];
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    let mut cbuf = CmsgBuf([0; 64]);
    // SAFETY: as in `send_fds`; the kernel writes at most `msg_controllen` bytes of control
    // data into `cbuf` and at most 8 bytes into `payload`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    #[cfg(target_os = "linux")]
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::MSG_DONTWAIT;
    // SAFETY: `msg` points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
    }
    // SAFETY: the kernel filled `msg`'s control area; the CMSG_* walk stays inside it, and
    // every descriptor an SCM_RIGHTS message carries is a new one in this table, ours to own.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<libc::c_int>();
                for i in 0..count {
                    fds.push(std::os::fd::OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if n as usize != payload.len() || msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated descriptor message"));
    }
    Ok(Some(u64::from_le_bytes(payload)))
}

/// Sets the soft limit on descriptor numbers (`RLIMIT_NOFILE`) to `want`, or as close as the
/// hard limit allows; returns the soft limit now in force. `tonewall serve` raises it to the
/// hard limit at start, as servers that hold a socket per port do: the soft default (often
/// 1 024) would cap a relay at a few hundred calls.
pub fn set_fd_soft_limit(want: u64) -> io::Result<u64> {
    let mut lim = get_fd_limits()?;
    lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
    // SAFETY: setrlimit reads one rlimit from `lim`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // What is in force now (some systems refuse an unlimited hard limit as the soft one).
    fd_soft_limit()
}

/// The soft limit on descriptor numbers (`RLIMIT_NOFILE`) now in force.
pub fn fd_soft_limit() -> io::Result<u64> {
    Ok(get_fd_limits()?.rlim_cur as u64)
}

fn get_fd_limits() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prefetch_of_any_address_is_harmless() {
        let data = [7u8; 300];
        super::prefetch(data.as_ptr(), data.len());
        // Null, unmapped, and a span running off the end of the address space: hints only.
        super::prefetch(std::ptr::null(), 4096);
        super::prefetch(usize::MAX as *const u8, 1 << 20);
        assert_eq!(data[299], 7);
    }

    use super::*;

    #[test]
    fn sends_a_batch_to_several_peers() {
        let tx = mio::net::UdpSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let rx: Vec<_> = (0..3).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
        let payloads: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; 20 + i as usize]).collect();
        let msgs: Vec<(&[u8], SocketAddr)> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_slice(), rx[i % 3].local_addr().expect("addr")))
            .collect();
        assert_eq!(send_batch(&tx, &msgs), (7, 0));
        for (i, p) in payloads.iter().enumerate() {
            let mut b = [0u8; 64];
            rx[i % 3].set_read_timeout(Some(std::time::Duration::from_millis(200))).expect("timeout");
            let (n, from) = rx[i % 3].recv_from(&mut b).expect("received");
            assert_eq!((&b[..n], from), (&p[..], tx.local_addr().expect("addr")));
        }
        // IPv6 destinations, when the host has ::1.
        if let (Ok(tx6), Ok(rx6)) = (
            mio::net::UdpSocket::bind("[::1]:0".parse().expect("addr")),
            std::net::UdpSocket::bind("[::1]:0"),
        ) {
            assert_eq!(send_batch(&tx6, &[(b"six", rx6.local_addr().expect("addr"))]), (1, 0));
            let mut b = [0u8; 8];
            let (n, _) = rx6.recv_from(&mut b).expect("received");
            assert_eq!(&b[..n], b"six");
        }
    }

    #[test]
    fn receives_a_batch_with_sources() {
        let rx = mio::net::UdpSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let tx4 = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        let mut batch = RecvBatch::new();
        assert_eq!(recv_batch(&rx, &mut batch).expect("recv"), 0, "nothing waiting");
        for i in 0..20u8 {
            tx4.send_to(&[i; 10], to).expect("send");
        }
        let mut got = vec![];
        while got.len() < 20 {
            let n = recv_batch(&rx, &mut batch).expect("recv");
            assert!(n <= BATCH);
            for i in 0..n {
                assert_eq!(batch.from[i], Some(tx4.local_addr().expect("addr")));
                got.push(batch.bufs[i][..batch.lens[i]].to_vec());
            }
        }
        assert_eq!(got, (0..20u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
        // IPv6, and an oversized datagram is flagged.
        if let Ok(rx6) = mio::net::UdpSocket::bind("[::1]:0".parse().expect("addr")) {
            let tx6 = std::net::UdpSocket::bind("[::1]:0").expect("bind");
            tx6.send_to(&[1; BUF + 100], rx6.local_addr().expect("addr")).expect("send");
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(recv_batch(&rx6, &mut batch).expect("recv"), 1);
            assert_eq!(batch.from[0], Some(tx6.local_addr().expect("addr")));
            assert_eq!(batch.lens[0], BUF + 1);
        }
    }
}
