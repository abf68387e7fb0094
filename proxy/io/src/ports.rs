//! RTP/RTCP port pairs from a configured range.
//!
//! RTP takes an even port and RTCP the next odd one (RFC 3550 §11), so peers that ignore
//! `a=rtcp` still find RTCP. The pool walks the range round-robin, so a port just released (and
//! maybe still receiving a stray packet of its old call) is the last to be reused.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Allocates pairs on one address.
pub struct PortPool {
    ip: IpAddr,
    lo: u16,
    hi: u16,
    next: u16,
}

impl PortPool {
    /// A pool over `range` (inclusive) on `ip`.
    pub fn new(ip: IpAddr, range: (u16, u16)) -> Self {
        // Even RTP ports from 1024 up, RTCP on the next one, nothing past 65535.
        let lo = range.0.clamp(1024, 65534).next_multiple_of(2).min(65534);
        let hi = range.1.clamp(lo + 1, 65535);
        PortPool { ip, lo, hi, next: lo }
    }

    /// Binds the next free even/odd pair; the third value is the RTP port (RTCP's is the next),
    /// so callers need not ask the kernel what they bound.
    pub fn pair(&mut self) -> io::Result<(UdpSocket, UdpSocket, u16)> {
        let pairs = ((self.hi - self.lo) / 2 + 1) as usize;
        for _ in 0..pairs {
            let p = self.next;
            // In u32: at the top of the range p + 3 would overflow a u16.
            self.next = if u32::from(p) + 3 > u32::from(self.hi) { self.lo } else { p + 2 };
            // A busy port is skipped; anything else (out of descriptors, no such address)
            // would fail on every port, and is what the caller needs to hear.
            let bind = |port| match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(None),
                Err(e) => Err(e),
            };
            let Some(rtp) = bind(p)? else { continue };
            let Some(rtcp) = bind(p + 1)? else { continue };
            return Ok((rtp, rtcp, p));
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, "no free RTP port pair in the configured range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_of_the_port_space_wraps_without_overflow() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut pool = PortPool::new(ip, (65530, 65535));
        let mut seen = vec![];
        for _ in 0..4 {
            if let Ok((rtp, _rtcp, port)) = pool.pair() {
                assert_eq!(rtp.local_addr().expect("addr").port(), port);
                seen.push(rtp.local_addr().expect("addr").port());
            }
        }
        assert!(seen.iter().all(|p| (65530..=65534).contains(p) && p % 2 == 0), "{seen:?}");
        // Nothing below 1024 even when asked.
        let pool = PortPool::new(ip, (0, 10));
        assert!(pool.lo >= 1024 && pool.hi > pool.lo);
    }

    #[test]
    fn pairs_are_even_odd_and_skip_busy_ports() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut pool = PortPool::new(ip, (47101, 47110));
        let (a, b, port) = pool.pair().expect("pair");
        assert_eq!(port, 47102);
        assert_eq!(a.local_addr().expect("addr").port(), 47102);
        assert_eq!(b.local_addr().expect("addr").port(), 47103);
        // Someone else holds 47105: the pair 47104/47105 is skipped.
        let _busy = UdpSocket::bind((ip, 47105)).expect("bind");
        let (c, _d, _) = pool.pair().expect("pair");
        assert_eq!(c.local_addr().expect("addr").port(), 47106);
        let _e = pool.pair().expect("pair");
        // 47110 has no odd partner in range; the pool wraps and finds only busy pairs.
        let err = pool.pair().map(|_| ()).expect_err("exhausted");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(a);
        drop(b);
        assert_eq!(pool.pair().expect("freed").0.local_addr().expect("addr").port(), 47102);
    }
}
