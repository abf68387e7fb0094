//! The bare forwarding floor: what this machine costs per relayed packet with no relay logic.
//!
//! Binds `2 × --pairs` UDP ports from `--base`, pairs `base+2i` with `base+2i+1`, learns each
//! port's peer from its first datagram, and forwards every datagram received on one port of a
//! pair out of the other port to that port's peer. epoll + `recvmmsg`/`sendmmsg`, no parsing.
//! Runs until killed, or `--seconds`.
//!
//! `rtp_floor --base 30000 --pairs 1000 [--bind 127.0.0.1] [--seconds S]`

use clap::Parser;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use tonewall_bench::relay::net::{RecvBatch, send_headers, udp_socket};

#[derive(Parser)]
#[command(about = "Bare UDP forwarding floor: port pairs, learn peers, forward (epoll + recvmmsg/sendmmsg)")]
struct Args {
    /// First port; pair i is (base+2i, base+2i+1).
    #[arg(long)]
    base: u16,
    /// Number of port pairs (one per call).
    #[arg(long)]
    pairs: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: Ipv4Addr,
    /// Exit after this many seconds (default: run until killed).
    #[arg(long)]
    seconds: Option<f64>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let n = usize::from(args.pairs) * 2;
    let socks = (0..n)
        .map(|i| udp_socket(SocketAddrV4::new(args.bind, args.base + i as u16), 1 << 20, false))
        .collect::<std::io::Result<Vec<_>>>()?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    for (i, s) in socks.iter().enumerate() {
        epoll.add(s, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))?;
    }
    let mut peer: Vec<Option<SocketAddrV4>> = vec![None; n];
    let (mut batch, mut hdrs) = (RecvBatch::new(false), send_headers());
    let mut events = vec![EpollEvent::empty(); 256];
    let end = args.seconds.map(|s| Instant::now() + Duration::from_secs_f64(s));
    eprintln!(
        "rtp_floor: {} pairs on {}:{}..{}",
        args.pairs,
        args.bind,
        args.base,
        args.base as usize + n - 1
    );
    while end.is_none_or(|e| Instant::now() < e) {
        let ready = epoll.wait(&mut events, 100u16)?;
        for ev in &events[..ready] {
            let i = ev.data() as usize;
            // Level-triggered: one batch per wake-up is enough, more comes back as ready.
            if batch.recv(&socks[i])? == 0 {
                continue;
            }
            peer[i].get_or_insert(batch.source(0));
            if let Some(to) = peer[i ^ 1] {
                batch.forward(&socks[i ^ 1], to, &mut hdrs);
            }
        }
    }
    Ok(())
}
