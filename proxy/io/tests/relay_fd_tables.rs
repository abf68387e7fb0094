//! Each relay worker keeps its sessions' sockets in a descriptor table of its own, so the
//! relay holds more sockets than one table may: here the soft descriptor limit is lowered to
//! 300 and the relay carries 100 sessions (400 sockets) on two workers, with media on the
//! first and the last. A process-wide table would refuse the 75th session.
//!
//! A test binary of its own: the limit is process-wide.

use std::net::UdpSocket;
use std::time::Duration;
use tonewall_io::{Relay, RelayConfig};
use tonewall_media::relay::{LegId, PayloadTypes, Remote};
use tonewall_media::rtp;

const LIMIT: u64 = 300;
const SESSIONS: usize = 100;

fn remote(s: &UdpSocket) -> Remote {
    Remote {
        rtp: Some(s.local_addr().expect("addr")),
        rtcp: None,
        rtcp_mux: false,
        pts: PayloadTypes { telephone_event: None, red: None },
    }
}

/// Descriptors open in this process's (the control side's) table.
fn open_here() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc").count()
}

#[test]
fn workers_hold_more_sockets_than_one_table_may() {
    if !tonewall_io::sys::can_own_fd_table() {
        // Not Linux, or a sandbox refusing unshare(CLONE_FILES): the relay runs on one shared
        // table there, which the other relay tests cover.
        eprintln!("skipped: threads cannot take descriptor tables of their own here");
        return;
    }
    assert_eq!(tonewall_io::sys::set_fd_soft_limit(LIMIT).expect("setrlimit"), LIMIT);
    let config = RelayConfig { workers: 2, ports: (46000, 46999), ..RelayConfig::default() };
    let (relay, _events) = Relay::start(config).expect("relay");
    let carrier = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let agent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    agent.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");

    // Each worker's table holds (300 − 16) / 4 = 71 sessions.
    assert_eq!(relay.session_headroom(), 71);
    for round in 0..2 {
        let mut sessions = vec![];
        for _ in 0..SESSIONS {
            let (id, ports) = relay.create().expect("a session's sockets beyond the shared limit");
            relay.signal(id, LegId::A, remote(&carrier));
            relay.signal(id, LegId::B, remote(&agent));
            sessions.push((id, ports));
        }
        // Sessions alternate between the two workers: the fuller has 50.
        assert_eq!(relay.session_headroom(), 71 - 50);
        // 400 sockets are open, none of them here.
        assert!(open_here() < 60, "round {round}: {} descriptors in the control side's table", open_here());
        for &(id, ports) in [sessions[0], sessions[SESSIONS - 1]].iter() {
            let mut p = vec![0u8; 12 + 160];
            rtp::write_header(&mut p, true, 0, 1, 160, 0xabc);
            carrier.send_to(&p, ports[0].rtp).expect("send");
            let mut r = [0u8; 2048];
            let (n, from) = agent.recv_from(&mut r).expect("the agent receives the session's media");
            assert_eq!((n, from), (p.len(), ports[1].rtp), "session {id:?}");
        }
        // Removing the sessions closes their sockets in the workers' tables: the second round
        // finds room again, and the ports are free.
        for (id, ports) in sessions {
            assert!(relay.remove(id).is_some());
            UdpSocket::bind(ports[0].rtp).expect("port released");
        }
    }

    // A worker whose table has no room for four more sockets refuses the session up front
    // (before any port is promised in an SDP), and takes sessions again once some end.
    assert!(relay.private_fd_tables());
    let mut sessions = vec![];
    let refused = loop {
        match relay.create() {
            Ok((id, _)) => sessions.push(id),
            Err(e) => break e,
        }
        assert!(sessions.len() <= 1000, "no limit reached");
    };
    assert!(refused.to_string().contains("relay worker full"), "{refused}");
    // Each worker holds (300 − 16) / 4 = 71 sessions; the first refusal comes when one is full.
    assert!((71..=142).contains(&sessions.len()), "{} sessions", sessions.len());
    let last = sessions.pop().expect("one");
    assert!(relay.remove(last).is_some());
    let mut again = 0;
    while relay.create().is_ok() {
        again += 1;
    }
    assert!(again >= 1, "room again after a removal");

    drop(relay);

    // With recycling, a full worker gives a new call the sockets of one that just ended, rested
    // or not, instead of refusing it; headroom counts resting sets as room.
    let recycle = tonewall_io::Recycle { rest: Duration::from_secs(60), max: 1000 };
    let config = RelayConfig { workers: 1, ports: (46000, 46999), recycle, ..RelayConfig::default() };
    let (relay, _events) = Relay::start(config).expect("relay");
    let mut sessions = vec![];
    while let Ok((id, ports)) = relay.create() {
        sessions.push((id, ports));
    }
    assert_eq!(sessions.len(), 71);
    assert_eq!(relay.session_headroom(), 0);
    let (ended, ended_ports) = sessions.pop().expect("one");
    assert!(relay.remove(ended).is_some());
    assert_eq!(relay.session_headroom(), 1, "a resting set is room");
    let (id, ports) = relay.create().expect("the resting set, though it has not rested");
    assert_eq!(ports, ended_ports);
    relay.signal(id, LegId::A, remote(&carrier));
    relay.signal(id, LegId::B, remote(&agent));
    let mut p = vec![0u8; 12 + 160];
    rtp::write_header(&mut p, true, 0, 1, 160, 0xabc);
    carrier.send_to(&p, ports[0].rtp).expect("send");
    let mut r = [0u8; 2048];
    let (n, from) = agent.recv_from(&mut r).expect("media on the reused set");
    assert_eq!((n, from), (p.len(), ports[1].rtp));
    assert!(relay.create().is_err(), "full again");
}
