//! Platform calls the standard library does not offer: batched receive (`recvmmsg`).
//!
//! The only `unsafe` in this crate. Linux only, which is where the relay runs; elsewhere the
//! batch degrades to one `recv_from` per call.

#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;

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

#[cfg(test)]
mod tests {
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
