//! rtpengine's "ng" control protocol, sans-IO, so that Kamailio's and OpenSIPS's `rtpengine`
//! modules can drive a Tonewall media node unchanged.
//!
//! ```text
//!  Kamailio ──UDP "<cookie> <bencoded dict>"──► driver ──► NgServer::handle_datagram(now, peer, …)
//!                                                             │ bencode::decode → Request::parse
//!                                                             ▼
//!                                                  MediaControl (the relay): offer, answer,
//!                                                  delete, query, block_dtmf, list
//!                                                             │ SdpOut / CallStats / ControlError
//!  Kamailio ◄──UDP "<cookie> <bencoded dict>"── driver ◄──────┘ (cached by cookie for 30 s)
//! ```
//!
//! - [`bencode`]: a borrowed decoder (strict on numbers, lenient on key order) and an encoder.
//! - [`command`]: requests as typed values.
//! - [`reply`]: what the relay returns, and rtpengine's reply shapes.
//! - [`server`]: [`NgServer`], the cookie framing and the retransmission cache, and the
//!   [`MediaControl`] trait the relay implements.
//!
//! # Supported
//!
//! Commands `ping`, `offer`, `answer`, `delete`, `query`, `block DTMF`, `unblock DTMF`,
//! `list`. Every other rtpengine command (`start recording`, `play DTMF`, `block media`, …)
//! gets the error "Unsupported command '…'"; a name rtpengine does not know gets
//! "Unrecognized command".
//!
//! Typed keys (any spelling rtpengine accepts: see [`command`]): `call-id`, `from-tag`,
//! `to-tag`, `via-branch`, `sdp`, `flags`, `replace`, `direction`, `transport-protocol`,
//! `rtcp-mux`, `ICE`, `SDES`, `DTLS`, `address family`, `received from`, `media address`,
//! `address`, `delete delay`, `label`, `record call`, `codec` (`strip`, `offer`,
//! `transcode`, `mask`, `set`, `except`, `accept`, `consume`), `supports`, `limit`.
//!
//! Typed flags: those of [`Flag`], plus the prefixed ones that fill a typed key
//! (`replace-…`, `SDES-…`, `rtcp-mux-…`, `codec-<op>-…`, `transcode-…`) and `record-call`.
//!
//! Whether the relay honours a typed option is the relay's business: this module only
//! promises that it reaches the relay intact. `load limit` in `supports` is honoured here: a
//! [`ControlError::SessionLimit`] becomes a `load limit` result for such controllers.
//!
//! # Accepted and ignored
//!
//! - `sip-message-type` (newer Kamailio sends it with every request): dropped silently.
//! - Typed keys that do not belong to the command (Kamailio's `rtpengine_manage()` repeats
//!   `ICE` and `transport-protocol` on `delete`): dropped silently.
//! - Everything else — unknown keys (`T.38`, `TOS`, `repacketize`, `rtpp-flags`, a
//!   `key=value` of the operator's own), unknown flags, unknown `codec` entries — is accepted
//!   and kept in the request's [`Unknown`] for the caller to warn about.
//! - `ping` ignores every key but `command`.
//!
//! # What this module does not do
//!
//! No sockets, clocks or threads; no SDP parsing or rewriting (SDP is opaque octets here); no
//! JSON documents, TCP or WebSocket transports; no parsing of the `rtpp-flags` string; no
//! load-balancing decisions. It never logs: errors are typed and counted, and neither errors
//! nor `Debug` output carry SDP text (it may hold SRTP keys).

pub mod bencode;
pub mod command;
pub mod reply;
pub mod server;

pub use bencode::{DecodeError, Dict, Encoder, Limits, Value};
pub use command::{
    AddressFamily, AnswerRequest, CallId, CodecOptions, Command, DeleteRequest, Dtls, DtmfRequest, Flag, Ice,
    ListRequest, OfferRequest, QueryRequest, Replace, Request, RequestError, RtcpMux, Sdes, Sdp, Tag,
    TransportProtocol, Unknown, ViaBranch,
};
pub use reply::{
    CallStats, ControlError, Counters, DELETE_NOT_FOUND, MediaStats, SdpOut, StreamKind, StreamQuality,
    StreamStats, TagStats, Totals,
};
pub use server::{MediaControl, NgConfig, NgServer, NgStats};
