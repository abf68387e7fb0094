//! Flood and scan protection for the SIP port, sans-IO: the I/O or transaction layer asks
//! [`Guard::check`] before doing work for a request and reports authentication outcomes;
//! [`CallLimit`] caps concurrent calls.
//!
//! ```text
//!  request from ip ─► Guard::check(now, ip, kind) ─► Admit ─► handle (maybe 401 challenge)
//!                                                 └► Reject ─► drop silently (scanners learn nothing)
//!  digest Verdict::Failed ─► auth_failed(now, ip)  (N in a window ─► blocked for a while)
//!  digest Verdict::Ok     ─► auth_succeeded(ip)
//!  new INVITE ─► CallLimit::try_acquire ─► false ─► 503
//! ```
//!
//! Both per-source tables are bounded by [`GuardConfig::max_sources`]: when full, the eighth of
//! entries seen longest ago is dropped in one sweep, so a flood from spoofed addresses costs
//! amortised O(1) per packet and bounded memory. Blocks live in their own table, so such a flood
//! does not evict them; only authentication failures add to that table. A failure needs a nonce;
//! the B2BUA salts each with a MAC of the client's address (`NonceSource::salt_of`), so one
//! fetched from one address is refused from another, and it exempts its trunks from every check
//! here all the same (a caller must never block addresses it cannot afford to lose).
//!
//! What it does not do: global (all-sources) rate limits, allow-lists (a contact centre's agents
//! often share one NAT address: size the per-source limits for that, or exempt the address
//! before calling), or tell spoofed sources from real ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// A token bucket's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed back to back after idling.
    pub burst: u32,
}

/// All of the guard's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// INVITEs per source (default 10/s, burst 20): a trunk's call rate, not a dialler's.
    pub invite: RateLimit,
    /// REGISTERs per source (default 20/s, burst 100): many agents can share a NAT address and
    /// re-register together after it reboots; each REGISTER costs a challenge round trip.
    pub register: RateLimit,
    /// Every other method per source (default 50/s, burst 200): OPTIONS keep-alives and in-dialog
    /// requests of all the calls behind one address.
    pub other: RateLimit,
    /// Sources tracked at once per table (default 10 000); bounds memory under spoofed floods.
    pub max_sources: usize,
    /// Authentication failures that block a source (default 5)…
    pub auth_failures: u32,
    /// …within this window (default 60 s).
    pub auth_window: Duration,
    /// How long a blocked source is ignored (default 300 s).
    pub block_for: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            invite: RateLimit { per_second: 10, burst: 20 },
            register: RateLimit { per_second: 20, burst: 100 },
            other: RateLimit { per_second: 50, burst: 200 },
            max_sources: 10_000,
            auth_failures: 5,
            auth_window: Duration::from_secs(60),
            block_for: Duration::from_secs(300),
        }
    }
}

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An initial INVITE.
    Invite,
    /// A REGISTER.
    Register,
    /// Anything else (OPTIONS, in-dialog requests, …).
    Other,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The source exceeded its rate for this kind.
    RateLimited,
    /// The source failed authentication too often and is blocked.
    Blocked,
}

/// The outcome of [`Guard::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Admit,
    /// Drop the request without an answer.
    Reject(RejectReason),
}

/// Tokens are kept in thousandths so integer refill stays exact at low rates.
const MILLI: u64 = 1000;

/// A token bucket on virtual time: `limit.burst` tokens when full, refilled at
/// `limit.per_second`. The guard keeps one per source and kind; the B2BUA one per trunk.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    milli_tokens: u64,
    refilled_at: Duration,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(limit: RateLimit, now: Duration) -> TokenBucket {
        TokenBucket { milli_tokens: u64::from(limit.burst) * MILLI, refilled_at: now }
    }

    /// Takes a token if there is one (after refilling for the time since the last take).
    pub fn take(&mut self, limit: RateLimit, now: Duration) -> bool {
        let elapsed = now.saturating_sub(self.refilled_at);
        // Thousandths of a token earned: seconds × rate × 1000 = µs × rate / 1000.
        let earned = elapsed.as_micros() * u128::from(limit.per_second) / 1000;
        let cap = u64::from(limit.burst) * MILLI;
        self.milli_tokens =
            u64::try_from(u128::from(self.milli_tokens) + earned).unwrap_or(u64::MAX).min(cap);
        self.refilled_at = self.refilled_at.max(now);
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Source {
    buckets: [TokenBucket; 3],
    seen: Duration,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    window_start: Duration,
    blocked_until: Option<Duration>,
}

/// Per-source rate limits and authentication-failure blocking.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    sources: HashMap<IpAddr, Source>,
    failures: HashMap<IpAddr, Failures>,
}

/// Makes room in a full table by dropping the eighth of entries with the oldest `age` key.
fn evict_oldest<V>(map: &mut HashMap<IpAddr, V>, age: impl Fn(&V) -> Duration) {
    let mut by_age: Vec<(Duration, IpAddr)> = map.iter().map(|(ip, v)| (age(v), *ip)).collect();
    let n = (by_age.len() / 8).max(1);
    if n < by_age.len() {
        by_age.select_nth_unstable(n);
    }
    for (_, ip) in by_age.iter().take(n) {
        map.remove(ip);
    }
}

impl Guard {
    /// A guard with empty tables.
    pub fn new(config: GuardConfig) -> Guard {
        Guard { config, sources: HashMap::new(), failures: HashMap::new() }
    }

    /// Whether to handle a request of `kind` from `ip` at `now`. Blocked sources spend no tokens.
    pub fn check(&mut self, now: Duration, ip: IpAddr, kind: Kind) -> Decision {
        if let Some(f) = self.failures.get(&ip) {
            match f.blocked_until {
                Some(until) if now < until => return Decision::Reject(RejectReason::Blocked),
                Some(_) => {
                    self.failures.remove(&ip);
                }
                None => {}
            }
        }
        let c = &self.config;
        let limits = [c.invite, c.register, c.other];
        if !self.sources.contains_key(&ip) && self.sources.len() >= c.max_sources {
            evict_oldest(&mut self.sources, |s| s.seen);
        }
        let source = self
            .sources
            .entry(ip)
            .or_insert_with(|| Source { buckets: limits.map(|l| TokenBucket::full(l, now)), seen: now });
        source.seen = source.seen.max(now);
        let i = match kind {
            Kind::Invite => 0,
            Kind::Register => 1,
            Kind::Other => 2,
        };
        if source.buckets[i].take(limits[i], now) {
            Decision::Admit
        } else {
            Decision::Reject(RejectReason::RateLimited)
        }
    }

    /// Counts a failed authentication; returns `true` when this failure blocks the source.
    pub fn auth_failed(&mut self, now: Duration, ip: IpAddr) -> bool {
        let c = &self.config;
        if !self.failures.contains_key(&ip) && self.failures.len() >= c.max_sources {
            self.failures.retain(|_, f| match f.blocked_until {
                Some(until) => now < until,
                None => now.saturating_sub(f.window_start) < c.auth_window,
            });
            if self.failures.len() >= c.max_sources {
                evict_oldest(&mut self.failures, |f| f.blocked_until.unwrap_or(f.window_start));
            }
        }
        let f =
            self.failures.entry(ip).or_insert(Failures { count: 0, window_start: now, blocked_until: None });
        let lapsed = match f.blocked_until {
            Some(until) if now < until => return false,
            Some(_) => true,
            None => now.saturating_sub(f.window_start) >= c.auth_window,
        };
        if lapsed {
            *f = Failures { count: 0, window_start: now, blocked_until: None };
        }
        f.count += 1;
        if f.count >= c.auth_failures {
            f.blocked_until = Some(now + c.block_for);
            return true;
        }
        false
    }

    /// Clears the failure count of a source that has just authenticated (a block stays).
    pub fn auth_succeeded(&mut self, ip: IpAddr) {
        if self.failures.get(&ip).is_some_and(|f| f.blocked_until.is_none()) {
            self.failures.remove(&ip);
        }
    }

    /// Whether `ip` is blocked at `now`.
    pub fn is_blocked(&self, now: Duration, ip: IpAddr) -> bool {
        self.failures.get(&ip).and_then(|f| f.blocked_until).is_some_and(|until| now < until)
    }

    /// Sources currently tracked for rate limiting (at most [`GuardConfig::max_sources`]).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }
}

/// A process-wide cap on concurrent calls: past it, new INVITEs get 503 rather than degrading
/// every call in progress.
#[derive(Debug, Clone)]
pub struct CallLimit {
    max: usize,
    active: usize,
}

impl CallLimit {
    /// A limit of `max` concurrent calls.
    pub fn new(max: usize) -> CallLimit {
        CallLimit { max, active: 0 }
    }

    /// Takes a slot for a new call; `false` means overloaded (answer 503).
    #[must_use]
    pub fn try_acquire(&mut self) -> bool {
        if self.active < self.max {
            self.active += 1;
            true
        } else {
            false
        }
    }

    /// Returns a slot when a call that acquired one ends; extra releases are ignored.
    pub fn release(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    /// Calls holding a slot.
    pub fn active(&self) -> usize {
        self.active
    }
}

#[cfg(test)]
mod tests;
