#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

const ADMIT: Decision = Decision::Admit;
const LIMITED: Decision = Decision::Reject(RejectReason::RateLimited);
const BLOCKED: Decision = Decision::Reject(RejectReason::Blocked);

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn small() -> GuardConfig {
    GuardConfig {
        invite: RateLimit { per_second: 2, burst: 3 },
        register: RateLimit { per_second: 1, burst: 1 },
        ..GuardConfig::default()
    }
}

#[test]
fn burst_then_refill_on_virtual_time() {
    let mut g = Guard::new(small());
    let a = ip(1);
    let t0 = secs(100);
    for _ in 0..3 {
        assert_eq!(g.check(t0, a, Kind::Invite), ADMIT);
    }
    assert_eq!(g.check(t0, a, Kind::Invite), LIMITED, "burst spent");
    assert_eq!(g.check(t0 + ms(499), a, Kind::Invite), LIMITED, "2/s: a token takes 500 ms");
    assert_eq!(g.check(t0 + ms(500), a, Kind::Invite), ADMIT);
    assert_eq!(g.check(t0 + ms(500), a, Kind::Invite), LIMITED);
    // Partial refills accumulate rather than being lost between checks.
    assert_eq!(g.check(t0 + ms(750), a, Kind::Invite), LIMITED);
    assert_eq!(g.check(t0 + ms(1000), a, Kind::Invite), ADMIT);
    // A long idle refills to the burst, not beyond.
    let later = t0 + secs(3600);
    let admitted = (0..10).filter(|_| g.check(later, a, Kind::Invite) == ADMIT).count();
    assert_eq!(admitted, 3);
}

#[test]
fn kinds_and_sources_have_separate_buckets() {
    let mut g = Guard::new(small());
    let t = secs(1);
    assert_eq!(g.check(t, ip(1), Kind::Register), ADMIT);
    assert_eq!(g.check(t, ip(1), Kind::Register), LIMITED);
    assert_eq!(g.check(t, ip(1), Kind::Invite), ADMIT, "REGISTER flood does not spend INVITE tokens");
    assert_eq!(g.check(t, ip(1), Kind::Other), ADMIT);
    assert_eq!(g.check(t, ip(2), Kind::Register), ADMIT, "another source has its own bucket");
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(g.check(t, v6, Kind::Register), ADMIT);
}

#[test]
fn zero_rate_admits_only_the_burst() {
    let mut g = Guard::new(GuardConfig { other: RateLimit { per_second: 0, burst: 1 }, ..small() });
    assert_eq!(g.check(secs(0), ip(1), Kind::Other), ADMIT);
    assert_eq!(g.check(secs(1_000_000), ip(1), Kind::Other), LIMITED);
}

#[test]
fn table_stays_bounded_under_100k_spoofed_sources() {
    let mut g = Guard::new(GuardConfig::default());
    let real = ip(0xff_ffff);
    for _ in 0..20 {
        assert_eq!(g.check(secs(0), real, Kind::Invite), ADMIT);
    }
    assert_eq!(g.check(secs(0), real, Kind::Invite), LIMITED);
    for n in 0..100_000 {
        g.check(secs(1) + ms(u64::from(n)), ip(n), Kind::Invite);
        assert!(g.tracked_sources() <= 10_000);
    }
    assert!(g.tracked_sources() > 8_000, "eviction frees an eighth, not everything");
    // The most recent sources survive; the oldest were evicted.
    let now = secs(1) + ms(99_999);
    assert_eq!(g.check(now, ip(99_999), Kind::Invite), ADMIT);
    assert_eq!(g.sources.get(&ip(99_999)).map(|s| s.buckets[0].milli_tokens), Some(18 * MILLI));
    assert!(!g.sources.contains_key(&ip(0)));
}

#[test]
fn failures_block_then_unblock() {
    let mut g = Guard::new(GuardConfig::default());
    let a = ip(1);
    for i in 0..4 {
        assert!(!g.auth_failed(secs(i), a));
    }
    assert_eq!(g.check(secs(5), a, Kind::Register), ADMIT, "four failures are not enough");
    assert!(g.auth_failed(secs(5), a), "the fifth within 60 s blocks");
    assert!(g.is_blocked(secs(5), a));
    for kind in [Kind::Invite, Kind::Register, Kind::Other] {
        assert_eq!(g.check(secs(6), a, kind), BLOCKED);
    }
    assert_eq!(g.check(secs(6), ip(2), Kind::Invite), ADMIT, "only that source");
    assert!(!g.auth_failed(secs(100), a), "already blocked");
    assert_eq!(g.check(secs(304), a, Kind::Register), BLOCKED);
    assert_eq!(g.check(secs(305), a, Kind::Register), ADMIT, "the block lasts 300 s");
    assert!(!g.is_blocked(secs(305), a));
    assert!(!g.auth_failed(secs(306), a), "the count starts over after a block");
}

#[test]
fn failures_outside_the_window_do_not_add_up() {
    let mut g = Guard::new(GuardConfig::default());
    let a = ip(1);
    for i in 0..20 {
        // Four failures per minute, each minute a new window.
        assert!(!g.auth_failed(secs(60 * (i / 4) + i % 4), a), "failure {i}");
    }
    // A block that lapsed without any check in between does not stick either.
    let mut g = Guard::new(GuardConfig { auth_failures: 1, ..GuardConfig::default() });
    assert!(g.auth_failed(secs(0), a));
    assert!(g.auth_failed(secs(300), a), "a fresh failure after the block blocks again");
}

#[test]
fn success_clears_the_count() {
    let mut g = Guard::new(GuardConfig::default());
    let a = ip(1);
    for i in 0..4 {
        g.auth_failed(secs(i), a);
    }
    g.auth_succeeded(a);
    for i in 4..8 {
        assert!(!g.auth_failed(secs(i), a));
    }
    assert!(g.auth_failed(secs(8), a));
    g.auth_succeeded(a);
    assert!(g.is_blocked(secs(9), a), "success does not lift a block");
}

#[test]
fn spoofed_flood_does_not_evict_blocks() {
    let mut g = Guard::new(GuardConfig { max_sources: 100, auth_failures: 1, ..GuardConfig::default() });
    let attacker = ip(0xff_ffff);
    assert!(g.auth_failed(secs(0), attacker));
    for n in 0..10_000 {
        g.check(secs(1), ip(n), Kind::Invite);
    }
    assert_eq!(g.check(secs(2), attacker, Kind::Invite), BLOCKED);
    // The failure table is bounded too, and prefers to drop lapsed windows over blocks.
    for n in 0..10_000 {
        g.auth_failed(secs(3) + ms(u64::from(n)), ip(n));
        assert!(g.failures.len() <= 100);
    }
    assert!(g.failures.len() <= 100);
}

#[test]
fn call_limit() {
    let mut calls = CallLimit::new(2);
    assert!(calls.try_acquire() && calls.try_acquire());
    assert!(!calls.try_acquire(), "third call gets 503");
    assert_eq!(calls.active(), 2);
    calls.release();
    assert!(calls.try_acquire());
    calls.release();
    calls.release();
    calls.release();
    assert_eq!(calls.active(), 0, "extra releases do not go negative");
    assert!(!CallLimit::new(0).try_acquire());
}
