//! The control endpoint: one request datagram in, at most one reply datagram out, with
//! rtpengine's retransmission cache.
//!
//! ```text
//!  "<cookie> <bencode>" ─► split cookie ─► cache hit? ──yes──► cached reply (op not run again)
//!                              │ no cookie: dropped    │ no
//!                              ▼                       ▼
//!                         (no reply)         decode ─► Request::parse ─► MediaControl
//!                                                 │ error                 │ result
//!                                                 ▼                       ▼
//!                               "<cookie> d6:result5:error…e"   "<cookie> d6:result2:ok…e"
//!                                                                     └─► cache (cookie, peer)
//! ```
//!
//! # Why a cache
//!
//! Kamailio sends a request over UDP, waits `rtpengine_tout_ms` (1 s by default) and sends the
//! same datagram again, same cookie, up to `rtpengine_retr` times. If only the reply was lost,
//! running the request again would allocate a second set of ports for an `offer` (and the SDP
//! Kamailio finally uses would not match the first) or report a second `delete` as unknown.
//! rtpengine therefore remembers replies by cookie and answers a repeat from memory; so does
//! [`NgServer`], for the requests that reached the relay. Errors found before that (not
//! bencode, unknown command) cost nothing to recompute and are not cached, so garbage cannot
//! push real replies out.
//!
//! The key is the cookie *and* the sender's address: Kamailio's cookies are
//! `<server id>_<pid>_<counter>`, and two proxies with the same (default) server id restarted
//! alike would otherwise collide. Entries live [`NgConfig::cache_ttl`] (30 s: longer than
//! Kamailio's whole retry span) and the cache is bounded in entries and in octets; the oldest
//! go first.
//!
//! Note that a cookie is per *request datagram*: a 200 OK that the UAS retransmits makes
//! Kamailio send a new `answer` with a new cookie, so the relay must still treat a repeated
//! answer with the same SDP as harmless (rtpengine does).
//!
//! # Driving
//!
//! Unlike the media state machines, there is no output queue to drain: the protocol is one
//! reply per request and the relay answers synchronously through [`MediaControl`], so
//! [`NgServer::handle_datagram`] writes the reply (if any) into the caller's buffer and is
//! done. Expired cache entries are dropped on the next datagram; no timer is needed.
//!
//! # What this module does not do
//!
//! No sockets (the driver receives and sends), no clock (`now` comes in), no JSON documents, no
//! TCP/WebSocket framing (rtpengine's other ng transports), no logging: it counts in
//! [`NgStats`] and leaves the words to the driver.

use super::bencode::{self, Encoder, Limits};
use super::command::{
    Command, DeleteRequest, DtmfRequest, Flag, ListRequest, OfferRequest, QueryRequest, Request,
};
use super::reply::{self, CallStats, ControlError, DELETE_NOT_FOUND, SdpOut};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// The seam to the media relay: what each command asks of it. The relay implements this;
/// [`NgServer`] parses, calls and writes the reply.
///
/// Requests borrow from the datagram; copy what must outlive the call. `now` is the driver's
/// monotonic time, as everywhere in this crate.
pub trait MediaControl {
    /// An SDP offer: create or update the call and party, allocate media, return the SDP to
    /// forward.
    fn offer(&mut self, now: Duration, req: &OfferRequest<'_>) -> Result<SdpOut, ControlError>;

    /// An SDP answer (`req.to_tag` is present).
    fn answer(&mut self, now: Duration, req: &OfferRequest<'_>) -> Result<SdpOut, ControlError>;

    /// End the call (or the branch or party the request names) and return its final
    /// statistics. [`ControlError::UnknownCall`] becomes a warning unless the request has the
    /// `fatal` flag.
    fn delete(&mut self, now: Duration, req: &DeleteRequest<'_>) -> Result<CallStats, ControlError>;

    /// Statistics of a call.
    fn query(&mut self, now: Duration, req: &QueryRequest<'_>) -> Result<CallStats, ControlError>;

    /// Block (`block` true) or unblock RFC 4733 events for the call or the party named.
    fn block_dtmf(&mut self, now: Duration, req: &DtmfRequest<'_>, block: bool) -> Result<(), ControlError>;

    /// Call-ids of active calls, at most `req.limit`. Optional: the default says unsupported.
    fn list(&mut self, now: Duration, req: &ListRequest) -> Result<Vec<Vec<u8>>, ControlError> {
        let _ = (now, req);
        Err(ControlError::Unsupported { what: "list" })
    }
}

/// Settings of an [`NgServer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NgConfig {
    /// Bounds on the bencoded part of a request.
    pub limits: Limits,
    /// Longest cookie accepted, in octets; a datagram with a longer one is dropped like one
    /// without (its reply could not be matched or cached sensibly). Kamailio's are under 34.
    pub max_cookie_len: usize,
    /// How long a reply stays cached for retransmissions (rtpengine: 30 s).
    pub cache_ttl: Duration,
    /// Most replies cached at once.
    pub cache_entries: usize,
    /// Most octets of replies cached at once (replies to `offer` carry SDP).
    pub cache_bytes: usize,
    /// Largest reply datagram; a bigger one is replaced by an error reply (it could not be
    /// sent over UDP). The default is the largest UDP payload over IPv4.
    pub max_reply_len: usize,
}

impl Default for NgConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_cookie_len: 64,
            cache_ttl: Duration::from_secs(30),
            cache_entries: 4096,
            cache_bytes: 8 << 20,
            max_reply_len: 65_507,
        }
    }
}

/// Counters for metrics; labels derived from them stay bounded ([`Command::index`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NgStats {
    /// Datagrams handed in.
    pub datagrams: u64,
    /// Datagrams without a usable cookie: no reply.
    pub dropped: u64,
    /// Retransmissions answered from the cache.
    pub retransmissions: u64,
    /// Requests refused before reaching the relay (not bencode, not a request): error reply.
    pub malformed: u64,
    /// Requests parsed, per command ([`Command::index`]); all but `ping` reached the relay.
    pub commands: [u64; Command::ALL.len()],
    /// Requests the relay answered with an error.
    pub failed: u64,
    /// Replies too large to send, replaced by an error.
    pub oversized: u64,
    /// Cached replies pushed out by the size bounds before they expired.
    pub evicted: u64,
}

/// The ng control endpoint: owns the reply cache, turns request datagrams into reply
/// datagrams by way of a [`MediaControl`].
#[derive(Debug)]
pub struct NgServer {
    config: NgConfig,
    cache: ReplyCache,
    stats: NgStats,
}

impl Default for NgServer {
    fn default() -> Self {
        Self::new(NgConfig::default())
    }
}

impl NgServer {
    /// A server with these settings.
    pub fn new(config: NgConfig) -> Self {
        Self { config, cache: ReplyCache::default(), stats: NgStats::default() }
    }

    /// Handles one datagram from `peer`. Returns whether `out` (cleared first) now holds a
    /// reply to send back to `peer`; it always does unless the datagram has no usable cookie.
    /// A reply always starts with the request's cookie and a space.
    pub fn handle_datagram<C: MediaControl + ?Sized>(
        &mut self,
        now: Duration,
        peer: SocketAddr,
        datagram: &[u8],
        control: &mut C,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        self.stats.datagrams += 1;
        self.cache.purge(now);
        let Some(sp) = datagram.iter().position(|&b| b == b' ') else {
            self.stats.dropped += 1;
            return false;
        };
        if sp == 0 || sp > self.config.max_cookie_len {
            self.stats.dropped += 1;
            return false;
        }
        let (cookie, body) = (&datagram[..sp], &datagram[sp + 1..]);
        if let Some(reply) = self.cache.get(now, peer, cookie) {
            out.extend_from_slice(reply);
            self.stats.retransmissions += 1;
            return true;
        }
        out.extend_from_slice(cookie);
        out.push(b' ');
        let executed = self.reply(now, body, control, out);
        if out.len() > self.config.max_reply_len {
            self.stats.oversized += 1;
            out.truncate(sp + 1);
            write_error(out, "Reply too large");
        }
        if executed {
            self.stats.evicted +=
                self.cache.insert(now + self.config.cache_ttl, peer, cookie, out, &self.config);
        }
        true
    }

    /// Counters so far.
    pub fn stats(&self) -> &NgStats {
        &self.stats
    }

    /// Replies cached now (expired ones may linger until the next datagram).
    pub fn cached_replies(&self) -> usize {
        self.cache.map.len()
    }

    /// Writes the reply dictionary after the cookie; returns whether the relay was called
    /// (and the reply may be cached).
    fn reply<C: MediaControl + ?Sized>(
        &mut self,
        now: Duration,
        body: &[u8],
        control: &mut C,
        out: &mut Vec<u8>,
    ) -> bool {
        let request = match bencode::decode_with(body, &self.config.limits) {
            Ok(value) => Request::parse(value),
            Err(_) if body.first() == Some(&b'{') => {
                // rtpengine also takes JSON; say so rather than name an octet.
                self.stats.malformed += 1;
                write_error(out, "JSON documents are not supported; send bencode");
                return false;
            }
            Err(e) => {
                self.stats.malformed += 1;
                write_error(out, &format!("Could not decode bencode dictionary ({e})"));
                return false;
            }
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                self.stats.malformed += 1;
                write_error(out, &e.to_string());
                return false;
            }
        };
        let command = request.command();
        self.stats.commands[command.index()] += 1;
        if command == Command::Ping {
            Encoder::new(out).begin_dict().entry_bytes("result", b"pong").end();
            return false;
        }
        let ok = match &request {
            Request::Ping => Ok(()),
            Request::Offer(r) => sdp_reply(out, control.offer(now, r)),
            Request::Answer(r) => sdp_reply(out, control.answer(now, r)),
            Request::Delete(r) => delete_reply(out, r, control.delete(now, r)),
            Request::Query(r) => control.query(now, r).map(|stats| {
                let mut enc = Encoder::new(out);
                enc.begin_dict().entry_bytes("result", b"ok");
                reply::write_stats(&mut enc, &stats);
                enc.end();
            }),
            Request::BlockDtmf(r) => control.block_dtmf(now, r, true).map(|()| write_ok(out)),
            Request::UnblockDtmf(r) => control.block_dtmf(now, r, false).map(|()| write_ok(out)),
            Request::List(r) => control.list(now, r).map(|calls| {
                let mut enc = Encoder::new(out);
                enc.begin_dict().entry_bytes("result", b"ok").bytes(b"calls").begin_list();
                for call in calls.iter().take(r.limit as usize) {
                    enc.bytes(call);
                }
                enc.end().end();
            }),
        };
        if let Err(e) = ok {
            self.stats.failed += 1;
            let load_limit = matches!(&request, Request::Offer(r) if r.supports_load_limit());
            if e == ControlError::SessionLimit && load_limit {
                Encoder::new(out)
                    .begin_dict()
                    .entry_bytes("result", b"load limit")
                    .entry_bytes("message", e.to_string().as_bytes())
                    .end();
            } else {
                write_error(out, &e.to_string());
            }
        }
        true
    }
}

fn write_ok(out: &mut Vec<u8>) {
    Encoder::new(out).begin_dict().entry_bytes("result", b"ok").end();
}

fn write_error(out: &mut Vec<u8>, reason: &str) {
    Encoder::new(out)
        .begin_dict()
        .entry_bytes("result", b"error")
        .entry_bytes("error-reason", reason.as_bytes())
        .end();
}

fn sdp_reply(out: &mut Vec<u8>, r: Result<SdpOut, ControlError>) -> Result<(), ControlError> {
    let sdp = r?;
    let mut enc = Encoder::new(out);
    enc.begin_dict().entry_bytes("result", b"ok").entry_bytes("sdp", &sdp.sdp);
    if let Some(w) = sdp.warning {
        enc.entry_bytes("warning", w.as_bytes());
    }
    enc.end();
    Ok(())
}

fn delete_reply(
    out: &mut Vec<u8>,
    req: &DeleteRequest<'_>,
    r: Result<CallStats, ControlError>,
) -> Result<(), ControlError> {
    match r {
        Ok(stats) => {
            let mut enc = Encoder::new(out);
            enc.begin_dict().entry_bytes("result", b"ok");
            if !req.has_flag(Flag::Fast) {
                reply::write_stats(&mut enc, &stats);
            }
            enc.end();
            Ok(())
        }
        Err(ControlError::UnknownCall) if req.has_flag(Flag::Fatal) => {
            write_error(out, DELETE_NOT_FOUND);
            Ok(())
        }
        Err(ControlError::UnknownCall) => {
            Encoder::new(out)
                .begin_dict()
                .entry_bytes("result", b"ok")
                .entry_bytes("warning", DELETE_NOT_FOUND.as_bytes())
                .end();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Replies by (peer, cookie), oldest first out.
#[derive(Debug, Default)]
struct ReplyCache {
    map: HashMap<Box<[u8]>, CacheEntry>,
    /// Keys in insertion order with their expiry and the sequence number of the entry they
    /// were inserted for (an entry replaced later leaves a stale item here, skipped on pop).
    order: VecDeque<(Duration, u64, Box<[u8]>)>,
    bytes: usize,
    seq: u64,
    /// Scratch space for lookup keys, so that a lookup does not allocate.
    scratch: Vec<u8>,
}

#[derive(Debug)]
struct CacheEntry {
    reply: Box<[u8]>,
    expires: Duration,
    seq: u64,
}

impl ReplyCache {
    /// Writes the lookup key of (peer, cookie) into `scratch`: address family, address, port,
    /// cookie; unambiguous because the first octet fixes the address length.
    fn key(&mut self, peer: SocketAddr, cookie: &[u8]) {
        let k = &mut self.scratch;
        k.clear();
        match peer {
            SocketAddr::V4(a) => {
                k.push(4);
                k.extend_from_slice(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                k.push(6);
                k.extend_from_slice(&a.ip().octets());
            }
        }
        k.extend_from_slice(&peer.port().to_be_bytes());
        k.extend_from_slice(cookie);
    }

    fn get(&mut self, now: Duration, peer: SocketAddr, cookie: &[u8]) -> Option<&[u8]> {
        self.key(peer, cookie);
        self.map.get(self.scratch.as_slice()).filter(|e| now < e.expires).map(|e| &*e.reply)
    }

    /// Drops expired entries from the front.
    fn purge(&mut self, now: Duration) {
        while let Some((expires, _, _)) = self.order.front() {
            if *expires > now {
                break;
            }
            self.pop_front();
        }
    }

    /// Removes the oldest item; returns whether it removed a live entry.
    fn pop_front(&mut self) -> bool {
        let Some((_, seq, key)) = self.order.pop_front() else {
            return false;
        };
        if self.map.get(&key).is_some_and(|e| e.seq == seq)
            && let Some(e) = self.map.remove(&key)
        {
            self.bytes -= e.reply.len();
            return true;
        }
        false
    }

    /// Caches `reply` until `expires`, evicting the oldest entries to stay within bounds;
    /// returns how many live entries were evicted.
    fn insert(
        &mut self,
        expires: Duration,
        peer: SocketAddr,
        cookie: &[u8],
        reply: &[u8],
        config: &NgConfig,
    ) -> u64 {
        if config.cache_entries == 0 || reply.len() > config.cache_bytes {
            return 0;
        }
        self.key(peer, cookie);
        let key: Box<[u8]> = self.scratch.as_slice().into();
        if let Some(old) = self.map.remove(&key) {
            // An expired entry not yet purged (time went backwards, or it sat behind newer
            // ones); its order item goes stale.
            self.bytes -= old.reply.len();
        }
        let mut evicted = 0;
        // Stale order items count too, so that the queue stays bounded whatever `now` does.
        while !self.order.is_empty()
            && (self.map.len() >= config.cache_entries
                || self.order.len() >= config.cache_entries.saturating_mul(2)
                || self.bytes + reply.len() > config.cache_bytes)
        {
            evicted += u64::from(self.pop_front());
        }
        self.seq += 1;
        self.bytes += reply.len();
        self.order.push_back((expires, self.seq, key.clone()));
        self.map.insert(key, CacheEntry { reply: reply.into(), expires, seq: self.seq });
        evicted
    }
}
