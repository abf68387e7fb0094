//! What the relay hands back for a request, and how it is written in rtpengine's reply shape.
//!
//! ```text
//!  SdpOut ──► { "result": "ok", "sdp": …, "warning"? }
//!  CallStats ──► { "result": "ok", "created", "last signal",
//!                  "tags": { tag: { "tag", "label"?, "created", "in dialogue with"?,
//!                                   "medias": [ { "index", "type", "protocol"?, "flags",
//!                                                 "streams": [ { "local port"?, "endpoint"?,
//!                                                   "advertised endpoint"?, "last packet"?,
//!                                                   "flags", "stats" } ] } ] } },
//!                  "totals": { "RTP": stats, "RTCP": stats } }
//!  ControlError ──► { "result": "error", "error-reason": … }  (or "load limit")
//! ```
//!
//! Kamailio reads `sdp` from offer and answer replies, `totals` and `created` from query and
//! delete replies (its `$rtpstat` and the MOS statistics), and falls over to another node on
//! `load limit` or on the error reasons "Ran out of ports" and "Parallel session limit
//! reached", which is why those wordings are rtpengine's own.
//!
//! # What this module does not do
//!
//! No MOS, SSRC or per-codec statistics (rtpengine's `SSRC` dictionary), no `last redis
//! update`; times are whole seconds since the UNIX epoch as the relay reports them (no clock is
//! read here).

use super::bencode::Encoder;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The rewritten SDP of an `offer` or `answer`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SdpOut {
    /// The SDP to put into the SIP message.
    pub sdp: Vec<u8>,
    /// A non-fatal problem to report in the reply's `warning` (a fixed text, so that nothing
    /// from the SDP can leak through it).
    pub warning: Option<&'static str>,
}

/// Length only: the SDP may carry SRTP keys.
impl fmt::Debug for SdpOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdpOut")
            .field("sdp", &format_args!("<{} octets>", self.sdp.len()))
            .field("warning", &self.warning)
            .finish()
    }
}

/// Why the relay could not do what a request asked. The `Display` text is the reply's
/// `error-reason`, in rtpengine's words where Kamailio acts on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No call has this call-id (or the tags do not match one). On `delete` without the
    /// `fatal` flag this becomes a warning, as in rtpengine.
    #[error("Unknown call-id")]
    UnknownCall,
    /// The call exists but the tag, label or address names none of its parties.
    #[error("No such party in the call")]
    UnknownParty,
    /// The SDP does not parse.
    #[error("Failed to parse SDP")]
    BadSdp,
    /// The SDP parses but lacks what the operation needs (no media, no connection address).
    #[error("Incomplete SDP specification")]
    IncompleteSdp,
    /// No media ports are left. Kamailio tries its next node on this exact text.
    #[error("Ran out of ports")]
    OutOfPorts,
    /// The node takes no more calls. Sent as a `load limit` result to controllers that say
    /// they support it, as this text otherwise; Kamailio tries its next node on either.
    #[error("Parallel session limit reached")]
    SessionLimit,
    /// The request asks for something this relay does not do.
    #[error("Unsupported: {what}")]
    Unsupported {
        /// What, in a few words.
        what: &'static str,
    },
    /// The relay refuses the request by policy (for example plain RTP toward an agent that
    /// must get SRTP).
    #[error("{reason}")]
    Rejected {
        /// Why, in a fixed text.
        reason: &'static str,
    },
    /// Something failed inside the relay.
    #[error("Internal error")]
    Internal,
}

/// The warning rtpengine gives (and the error, with the `fatal` flag) when `delete` names no
/// call.
pub const DELETE_NOT_FOUND: &str = "Call-ID not found or tags didn't match";

/// Statistics of one call, as `query` and `delete` report them: per party (tag), per SDP
/// media, per stream (RTP and RTCP of a media are two streams).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// When the call was created, since the UNIX epoch.
    pub created: Duration,
    /// When the last offer, answer or other signalling request arrived, since the UNIX epoch.
    pub last_signal: Duration,
    /// The parties; one may have an empty tag (a side that has not answered yet).
    pub tags: Vec<TagStats>,
    /// Sums over all streams; [`CallStats::sum_streams`] computes them from `tags`.
    pub totals: Totals,
}

impl CallStats {
    /// Totals summed over every stream of every party, by stream kind.
    pub fn sum_streams(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.tags.iter().flat_map(|t| &t.medias).flat_map(|m| &m.streams) {
            let c = match s.kind {
                StreamKind::Rtp => &mut t.rtp,
                StreamKind::Rtcp => &mut t.rtcp,
            };
            c.packets = c.packets.saturating_add(s.stats.packets);
            c.bytes = c.bytes.saturating_add(s.stats.bytes);
            c.errors = c.errors.saturating_add(s.stats.errors);
        }
        t
    }
}

/// One party of a call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagStats {
    /// Its SIP tag (empty for a side that has not signalled one yet).
    pub tag: Vec<u8>,
    /// The label it was given in `offer` or `answer`.
    pub label: Option<String>,
    /// When it was first seen, since the UNIX epoch.
    pub created: Duration,
    /// The tag of the party it talks to.
    pub in_dialogue_with: Option<Vec<u8>>,
    /// Its SDP media sections, in SDP order.
    pub medias: Vec<MediaStats>,
}

/// One SDP media section (m= line) of a party.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Position in the SDP, from 1.
    pub index: u32,
    /// `audio`, `video`, …
    pub media_type: String,
    /// `RTP/AVP`, `RTP/SAVP`, … when known.
    pub protocol: Option<String>,
    /// Status flags (`initialized`, `rtcp-mux`, `SDES`, `DTLS-SRTP`, `ICE`, …).
    pub flags: Vec<&'static str>,
    /// The media's packet streams.
    pub streams: Vec<StreamStats>,
}

/// Whether a stream carries RTP or RTCP (rtpengine's first stream flag, and the `totals` key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// RTP.
    #[default]
    Rtp,
    /// RTCP.
    Rtcp,
}

/// One packet stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// RTP or RTCP.
    pub kind: StreamKind,
    /// The relay's port for it.
    pub local_port: Option<u16>,
    /// Where packets are sent (learned from received media, else advertised).
    pub endpoint: Option<SocketAddr>,
    /// What the party's SDP advertised.
    pub advertised_endpoint: Option<SocketAddr>,
    /// When the last packet arrived, since the UNIX epoch.
    pub last_packet: Option<Duration>,
    /// Further flags after `RTP`/`RTCP` (`filled`, `confirmed`, …).
    pub flags: Vec<&'static str>,
    /// Counters.
    pub stats: Counters,
    /// Receive quality of an RTP stream, when the relay has figures (Tonewall's addition:
    /// a `quality` dictionary that rtpengine's clients ignore).
    pub quality: Option<StreamQuality>,
}

/// Receive quality of a stream, as written into `query` and `delete` replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamQuality {
    /// Estimated MOS in tenths (rtpengine's unit): 44 is 4.4.
    pub mos_tenths: u8,
    /// Interarrival jitter, ms.
    pub jitter_ms: u32,
    /// Packets lost.
    pub lost: u64,
    /// Round trip between the relay and the party, µs, when measured.
    pub rtt_us: Option<u64>,
}

/// Packet counters of a stream, or totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets relayed.
    pub packets: u64,
    /// Octets relayed.
    pub bytes: u64,
    /// Packets dropped as malformed or unexpected.
    pub errors: u64,
}

/// `totals`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Over all RTP streams.
    pub rtp: Counters,
    /// Over all RTCP streams.
    pub rtcp: Counters,
}

/// Bencode integers are signed; counters past `i64::MAX` saturate.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn secs(d: Duration) -> i64 {
    int(d.as_secs())
}

/// Writes the statistics entries (everything but `result`) into the open reply dictionary.
pub(crate) fn write_stats(enc: &mut Encoder<'_>, stats: &CallStats) {
    enc.entry_int("created", secs(stats.created));
    enc.entry_int("last signal", secs(stats.last_signal));
    enc.bytes(b"tags").begin_dict();
    for tag in &stats.tags {
        enc.bytes(&tag.tag).begin_dict();
        enc.entry_bytes("tag", &tag.tag);
        if let Some(label) = &tag.label {
            enc.entry_bytes("label", label.as_bytes());
        }
        enc.entry_int("created", secs(tag.created));
        if let Some(other) = &tag.in_dialogue_with {
            enc.entry_bytes("in dialogue with", other);
        }
        enc.bytes(b"medias").begin_list();
        for media in &tag.medias {
            write_media(enc, media);
        }
        enc.end().end();
    }
    enc.end();
    enc.bytes(b"totals").begin_dict();
    write_counters(enc, "RTP", &stats.totals.rtp);
    write_counters(enc, "RTCP", &stats.totals.rtcp);
    enc.end();
}

fn write_media(enc: &mut Encoder<'_>, media: &MediaStats) {
    enc.begin_dict();
    enc.entry_int("index", i64::from(media.index));
    enc.entry_bytes("type", media.media_type.as_bytes());
    if let Some(p) = &media.protocol {
        enc.entry_bytes("protocol", p.as_bytes());
    }
    enc.bytes(b"flags").begin_list();
    for f in &media.flags {
        enc.bytes(f.as_bytes());
    }
    enc.end();
    enc.bytes(b"streams").begin_list();
    for s in &media.streams {
        enc.begin_dict();
        if let Some(port) = s.local_port {
            enc.entry_int("local port", i64::from(port));
        }
        if let Some(ep) = s.endpoint {
            write_endpoint(enc, "endpoint", ep);
        }
        if let Some(ep) = s.advertised_endpoint {
            write_endpoint(enc, "advertised endpoint", ep);
        }
        if let Some(t) = s.last_packet {
            enc.entry_int("last packet", secs(t));
        }
        enc.bytes(b"flags").begin_list();
        enc.bytes(match s.kind {
            StreamKind::Rtp => b"RTP",
            StreamKind::Rtcp => b"RTCP",
        });
        for f in &s.flags {
            enc.bytes(f.as_bytes());
        }
        enc.end();
        write_counters(enc, "stats", &s.stats);
        if let Some(q) = s.quality {
            enc.bytes(b"quality").begin_dict();
            enc.entry_int("MOS", i64::from(q.mos_tenths));
            enc.entry_int("jitter", i64::from(q.jitter_ms));
            enc.entry_int("packets lost", int(q.lost));
            if let Some(rtt) = q.rtt_us {
                enc.entry_int("round-trip time", int(rtt));
            }
            enc.end();
        }
        enc.end();
    }
    enc.end();
    enc.end();
}

fn write_endpoint(enc: &mut Encoder<'_>, key: &str, ep: SocketAddr) {
    enc.bytes(key.as_bytes()).begin_dict();
    enc.entry_bytes("family", if ep.is_ipv4() { b"IPv4" } else { b"IPv6" });
    enc.entry_bytes("address", ep.ip().to_string().as_bytes());
    enc.entry_int("port", i64::from(ep.port()));
    enc.end();
}

fn write_counters(enc: &mut Encoder<'_>, key: &str, c: &Counters) {
    enc.bytes(key.as_bytes()).begin_dict();
    enc.entry_int("packets", int(c.packets));
    enc.entry_int("bytes", int(c.bytes));
    enc.entry_int("errors", int(c.errors));
    enc.end();
}
