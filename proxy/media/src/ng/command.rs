//! ng requests as typed values: a decoded bencode dictionary in, a [`Request`] out.
//!
//! ```text
//!  Value::Dict ──Request::parse──► Request::{Ping, Offer, Answer, Delete, Query,
//!                                           BlockDtmf, UnblockDtmf, List}
//!                                   each with the keys and flags it uses, typed, and
//!                                   Unknown { keys, flags } for everything else
//! ```
//!
//! # Spelling
//!
//! rtpengine accepts most keys and flags in several spellings (`received from`,
//! `received-from`; `call-id`, `call ID`; `ICE`, `ice`), and Kamailio uses them
//! interchangeably: its module sends `received-from` while rtpengine's docs say `received
//! from`, and a `delete-delay=0` flag arrives as both `"delete delay": 0` and
//! `"delete-delay": "0"` in the same dictionary. So keys, flags and keyword values are compared
//! ASCII-case-insensitively with space, `_` and `-` equal. Where a single-valued key appears
//! twice (in any spelling) the last value wins, as in rtpengine, and the lists that flags also
//! feed (`flags`, `replace`, `rtcp-mux`, `SDES`, `codec`) add up; but the keys that say which
//! call and party a request is about (`command`, `call-id`, `from-tag`, `to-tag`,
//! `via-branch`, `sdp`) are refused when repeated rather than guessed at.
//!
//! # Values
//!
//! Identifiers (call-id, tags, via-branch) and the SDP stay octets, as sent. A list-valued key
//! also accepts a string of comma-separated items, as rtpengine does. A known key with a value
//! of the wrong type or an unparsable address is an error, not a silent default: a Kamailio
//! config that asks for something Tonewall cannot read should fail loudly.
//!
//! # What this module does not do
//!
//! It does not act on anything (that is the relay behind [`super::MediaControl`]), does not
//! look inside the SDP, and does not parse the `rtpp-flags` string newer Kamailio versions can
//! send instead of a dictionary (it is kept in [`Unknown::keys`] for the caller to report).

use super::bencode::{Dict, Value};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// A SIP Call-ID, as the request carried it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallId<'a>(pub &'a [u8]);

/// A SIP From or To tag, as the request carried it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag<'a>(pub &'a [u8]);

/// A Via branch (or Kamailio's "extra id"), which tells the branches of a forked call apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViaBranch<'a>(pub &'a [u8]);

/// An SDP body, opaque here. Its `Debug` shows only the length: SDP can carry SRTP master keys
/// (`a=crypto`), and a request gets logged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sdp<'a>(pub &'a [u8]);

macro_rules! octets_debug {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "(\"{}\")"), self.0.escape_ascii())
            }
        }
    )*};
}
octets_debug!(CallId, Tag, ViaBranch);

impl fmt::Debug for Sdp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sdp(<{} octets>)", self.0.len())
    }
}

/// The ng commands this module parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `ping`: liveness; Kamailio sends one when it starts and when it re-enables a node.
    Ping,
    /// `offer`: the SDP offer of a call or re-INVITE.
    Offer,
    /// `answer`: the SDP answer.
    Answer,
    /// `delete`: the call (or a branch or party of it) has ended.
    Delete,
    /// `query`: statistics of a call.
    Query,
    /// `block DTMF`: stop forwarding RFC 4733 events for a call or party.
    BlockDtmf,
    /// `unblock DTMF`: resume forwarding them.
    UnblockDtmf,
    /// `list`: the call-ids of active calls.
    List,
}

impl Command {
    /// Every command, in declaration order (for per-command counters).
    pub const ALL: [Command; 8] = [
        Command::Ping,
        Command::Offer,
        Command::Answer,
        Command::Delete,
        Command::Query,
        Command::BlockDtmf,
        Command::UnblockDtmf,
        Command::List,
    ];

    /// The command's name on the wire, as rtpengine spells it.
    pub fn name(self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::Offer => "offer",
            Command::Answer => "answer",
            Command::Delete => "delete",
            Command::Query => "query",
            Command::BlockDtmf => "block DTMF",
            Command::UnblockDtmf => "unblock DTMF",
            Command::List => "list",
        }
    }

    /// The command a name denotes, in any of the accepted spellings.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|c| norm_eq(name, c.name()))
    }

    /// Its index in [`Command::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Commands rtpengine defines that Tonewall does not implement: they get an "Unsupported
/// command" error rather than "Unrecognized command", so an operator can tell a typo from a
/// missing feature.
const RTPENGINE_COMMANDS: &[&str] = &[
    "start recording",
    "stop recording",
    "pause recording",
    "block media",
    "unblock media",
    "silence media",
    "unsilence media",
    "start forwarding",
    "stop forwarding",
    "play media",
    "stop media",
    "play DTMF",
    "statistics",
    "publish",
    "subscribe request",
    "subscribe answer",
    "unsubscribe",
    "inject start",
    "inject stop",
    "connect",
    "create",
    "create answer",
    "mesh",
];

/// Why a request dictionary is not a request this module can hand on. The `Display` text is
/// what goes into the reply's `error-reason`, worded as rtpengine words it where it has a
/// wording; no variant carries request octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The bencoded document is not a dictionary.
    #[error("Could not decode bencode dictionary")]
    NotADictionary,
    /// There is no `command` key.
    #[error("Dictionary contains no key \"command\"")]
    MissingCommand,
    /// The command is not one rtpengine knows.
    #[error("Unrecognized command")]
    UnrecognizedCommand,
    /// The command is one of rtpengine's that Tonewall does not implement.
    #[error("Unsupported command '{command}'")]
    UnsupportedCommand {
        /// The command, as rtpengine spells it.
        command: &'static str,
    },
    /// A key the command needs is absent.
    #[error("{}", missing_reason(key))]
    MissingKey {
        /// The key, canonically spelled.
        key: &'static str,
    },
    /// A known key holds the wrong type of value.
    #[error("Value of '{key}' must be a {expected}")]
    WrongType {
        /// The key, canonically spelled.
        key: &'static str,
        /// What it must hold.
        expected: &'static str,
    },
    /// A known key's value cannot be read (an address that does not parse, a negative delay,
    /// text that is not UTF-8, a third interface in `direction`).
    #[error("Invalid value of '{key}'")]
    BadValue {
        /// The key, canonically spelled.
        key: &'static str,
    },
    /// A key that identifies the call or party appears twice.
    #[error("Key '{key}' given more than once")]
    DuplicateKey {
        /// The key, canonically spelled.
        key: &'static str,
    },
}

fn missing_reason(key: &str) -> String {
    match key {
        "sdp" => "No SDP body in message".to_owned(),
        key => format!("No {key} in message"),
    }
}

/// One parsed request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// `ping`; any other keys are ignored.
    Ping,
    /// `offer`.
    Offer(OfferRequest<'a>),
    /// `answer` ([`OfferRequest::to_tag`] is always present).
    Answer(AnswerRequest<'a>),
    /// `delete`.
    Delete(DeleteRequest<'a>),
    /// `query`.
    Query(QueryRequest<'a>),
    /// `block DTMF`.
    BlockDtmf(DtmfRequest<'a>),
    /// `unblock DTMF`.
    UnblockDtmf(DtmfRequest<'a>),
    /// `list`.
    List(ListRequest),
}

/// Keys and flags a request carried that this module does not know, or does not use for its
/// command's parameters, so that the caller can warn about them ("the relay ignored
/// `T.38=decode`") instead of silently doing less than asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unknown<'a> {
    /// Unknown keys with their values, in request order. Unknown entries of the `codec`
    /// dictionary appear as one `codec` key whose dictionary holds just those entries.
    pub keys: Vec<(&'a [u8], Value<'a>)>,
    /// Unknown entries of the `flags` list, in request order.
    pub flags: Vec<&'a [u8]>,
}

impl Unknown<'_> {
    /// Whether nothing was left unknown.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.flags.is_empty()
    }
}

/// `offer` and `answer`: the SDP to rewrite and how.
///
/// In an answer, rtpengine's convention holds: `from_tag` is still the tag of the party that
/// made the offer (the SIP From tag on an initial INVITE) and `to_tag` the answering party's.
/// Kamailio swaps the SIP tags itself when the callee re-INVITEs.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OfferRequest<'a> {
    /// `call-id`.
    pub call_id: CallId<'a>,
    /// `from-tag`: the offering party.
    pub from_tag: Tag<'a>,
    /// `to-tag`: the answering party; absent in an initial offer, always present in an answer.
    pub to_tag: Option<Tag<'a>>,
    /// `via-branch`, which tells forked branches apart.
    pub via_branch: Option<ViaBranch<'a>>,
    /// `sdp`.
    pub sdp: Sdp<'a>,
    /// Known entries of `flags`, in order.
    pub flags: Vec<Flag>,
    /// `replace` (and `replace-…` flags): which SDP fields to overwrite.
    pub replace: Vec<Replace<'a>>,
    /// `direction`: the interface names media enters and leaves by (at most two).
    pub direction: Vec<&'a str>,
    /// `transport-protocol`: the protocol of the rewritten SDP's m= lines.
    pub transport_protocol: Option<TransportProtocol<'a>>,
    /// `rtcp-mux` (and `rtcp-mux-…` flags).
    pub rtcp_mux: Vec<RtcpMux<'a>>,
    /// `ICE`.
    pub ice: Option<Ice<'a>>,
    /// `SDES` (and `SDES-…` flags).
    pub sdes: Vec<Sdes<'a>>,
    /// `DTLS`.
    pub dtls: Option<Dtls<'a>>,
    /// `address family` of the rewritten SDP.
    pub address_family: Option<AddressFamily<'a>>,
    /// `received from`: where the SIP message came from (Kamailio always sends it).
    pub received_from: Option<IpAddr>,
    /// `media address`: the address to advertise instead of the relay's own.
    pub media_address: Option<IpAddr>,
    /// `label` of the offering (or answering) party.
    pub label: Option<&'a str>,
    /// `record call` (or the `record-call` flag).
    pub record_call: Option<bool>,
    /// `codec` (and `codec-…`/`transcode-…` flags).
    pub codec: CodecOptions<'a>,
    /// `supports`: protocol features the controller understands (Kamailio: `load limit`).
    pub supports: Vec<&'a str>,
    /// Everything not listed above.
    pub unknown: Unknown<'a>,
}

/// `answer` carries what `offer` does.
pub type AnswerRequest<'a> = OfferRequest<'a>;

impl OfferRequest<'_> {
    /// Whether `flags` holds `flag`.
    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }

    /// Whether the controller handles a `load limit` result (and tries another node).
    pub fn supports_load_limit(&self) -> bool {
        self.supports.iter().any(|s| norm_eq(s.as_bytes(), "load-limit"))
    }
}

/// `delete`: end a call, a branch or a party.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeleteRequest<'a> {
    /// `call-id`.
    pub call_id: CallId<'a>,
    /// `from-tag`: with `to_tag`, which party (rtpengine deletes the whole call without it).
    pub from_tag: Option<Tag<'a>>,
    /// `to-tag` (Kamailio sends it only with the `to-tag` flag).
    pub to_tag: Option<Tag<'a>>,
    /// `via-branch`: delete just this branch of a forked call.
    pub via_branch: Option<ViaBranch<'a>>,
    /// Known entries of `flags` (`fatal`, `fast`, `to-tag`, …).
    pub flags: Vec<Flag>,
    /// `delete delay`: keep the call this long before removing it (zero: at once; absent:
    /// the relay's default).
    pub delete_delay: Option<Duration>,
    /// `label` of the party to delete.
    pub label: Option<&'a str>,
    /// Everything not listed above that is not a known offer/answer key either (Kamailio's
    /// `rtpengine_manage()` repeats offer flags such as `ICE` on the delete; those are dropped
    /// silently).
    pub unknown: Unknown<'a>,
}

impl DeleteRequest<'_> {
    /// Whether `flags` holds `flag`.
    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// `query`: statistics of a call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct QueryRequest<'a> {
    /// `call-id`.
    pub call_id: CallId<'a>,
    /// `from-tag`, to narrow the statistics to a party.
    pub from_tag: Option<Tag<'a>>,
    /// `to-tag`.
    pub to_tag: Option<Tag<'a>>,
    /// `via-branch`.
    pub via_branch: Option<ViaBranch<'a>>,
    /// Everything unknown (see [`DeleteRequest::unknown`]).
    pub unknown: Unknown<'a>,
}

/// `block DTMF` and `unblock DTMF`: the whole call, or one party chosen by tag (with the
/// `directional` flag), label or SDP media address.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DtmfRequest<'a> {
    /// `call-id`.
    pub call_id: CallId<'a>,
    /// `from-tag` (Kamailio sends it only with the `directional` flag).
    pub from_tag: Option<Tag<'a>>,
    /// `to-tag`.
    pub to_tag: Option<Tag<'a>>,
    /// `label` of the party.
    pub label: Option<&'a str>,
    /// `address`: the party whose SDP advertises this media address.
    pub address: Option<IpAddr>,
    /// Known entries of `flags` (`directional`, `all`).
    pub flags: Vec<Flag>,
    /// Everything unknown (see [`DeleteRequest::unknown`]).
    pub unknown: Unknown<'a>,
}

impl DtmfRequest<'_> {
    /// Whether `flags` holds `flag`.
    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// `list`: active call-ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListRequest {
    /// `limit`: at most this many (rtpengine's default is 32).
    pub limit: u32,
}

/// rtpengine's default `list` limit.
pub const DEFAULT_LIST_LIMIT: u32 = 32;

/// Entries of the `flags` list this module knows. Flags with a value part (`replace-origin`,
/// `SDES-off`, `codec-strip-PCMA`, …) go to their own fields instead; `record-call` goes to
/// `record_call`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flag {
    /// `trust-address`: use the SDP's addresses, not the SIP source address.
    TrustAddress,
    /// `symmetric`: send media back to where it comes from (rtpengine's default).
    Symmetric,
    /// `asymmetric`: do not learn endpoints from received media.
    Asymmetric,
    /// `strict-source`: drop media from any other source once learned.
    StrictSource,
    /// `media-handover`: let a new source take over a stream.
    MediaHandover,
    /// `port-latching`: keep the endpoint first learned.
    PortLatching,
    /// `no-port-latching`.
    NoPortLatching,
    /// `loop-protect`: recognise SDP this relay already rewrote.
    LoopProtect,
    /// `directional`: the from-tag selects one direction (DTMF blocking).
    Directional,
    /// `all`: every party (unblocking).
    All,
    /// `fatal`: a failed delete is an error, not a warning.
    Fatal,
    /// `fast`: no statistics in the delete reply.
    Fast,
    /// `to-tag`: honour the to-tag on delete.
    ToTag,
    /// `fragment`: the SDP is a trickle-ICE fragment.
    Fragment,
    /// `early-media`.
    EarlyMedia,
    /// `inactive`: mark the media inactive.
    Inactive,
    /// `original-sendrecv`: keep the SDP direction attribute.
    OriginalSendrecv,
    /// `generate-mid`.
    GenerateMid,
    /// `strip-extmap`.
    StripExtmap,
    /// `no-rtcp-attribute`.
    NoRtcpAttribute,
    /// `full-rtcp-attribute`.
    FullRtcpAttribute,
    /// `generate-RTCP`.
    GenerateRtcp,
    /// `ICE-reject`.
    IceReject,
    /// `pierce-NAT`.
    PierceNat,
    /// `single-codec`.
    SingleCodec,
    /// `reorder-codecs`.
    ReorderCodecs,
    /// `always-transcode`.
    AlwaysTranscode,
    /// `allow-transcoding`.
    AllowTranscoding,
    /// `block-DTMF`: block RFC 4733 events from the start.
    BlockDtmf,
    /// `detect-DTMF`.
    DetectDtmf,
    /// `inject-DTMF`.
    InjectDtmf,
    /// `unidirectional`.
    Unidirectional,
    /// `no-jitter-buffer`.
    NoJitterBuffer,
}

/// Spellings of [`Flag`]s, canonical first.
const FLAGS: &[(&str, Flag)] = &[
    ("trust-address", Flag::TrustAddress),
    ("symmetric", Flag::Symmetric),
    ("asymmetric", Flag::Asymmetric),
    ("strict-source", Flag::StrictSource),
    ("media-handover", Flag::MediaHandover),
    ("port-latching", Flag::PortLatching),
    ("no-port-latching", Flag::NoPortLatching),
    ("loop-protect", Flag::LoopProtect),
    ("directional", Flag::Directional),
    ("all", Flag::All),
    ("fatal", Flag::Fatal),
    ("fast", Flag::Fast),
    ("to-tag", Flag::ToTag),
    ("fragment", Flag::Fragment),
    ("early-media", Flag::EarlyMedia),
    ("inactive", Flag::Inactive),
    ("original-sendrecv", Flag::OriginalSendrecv),
    ("generate-mid", Flag::GenerateMid),
    ("strip-extmap", Flag::StripExtmap),
    ("no-rtcp-attribute", Flag::NoRtcpAttribute),
    ("full-rtcp-attribute", Flag::FullRtcpAttribute),
    ("generate-rtcp", Flag::GenerateRtcp),
    ("ice-reject", Flag::IceReject),
    ("reject-ice", Flag::IceReject),
    ("pierce-nat", Flag::PierceNat),
    ("single-codec", Flag::SingleCodec),
    ("reorder-codecs", Flag::ReorderCodecs),
    ("always-transcode", Flag::AlwaysTranscode),
    ("allow-transcoding", Flag::AllowTranscoding),
    ("block-dtmf", Flag::BlockDtmf),
    ("detect-dtmf", Flag::DetectDtmf),
    ("inject-dtmf", Flag::InjectDtmf),
    ("unidirectional", Flag::Unidirectional),
    ("no-jitter-buffer", Flag::NoJitterBuffer),
];

impl Flag {
    /// The flag's canonical spelling.
    pub fn name(self) -> &'static str {
        FLAGS.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }
}

/// Declares a keyword enum: known values (several spellings each, canonical first) and
/// `Other` with the value as sent.
macro_rules! keywords {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = [$($word:literal),+],)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name<'a> {
            $($(#[$vm])* $variant,)+
            /// A value this module does not know, as sent.
            Other(&'a str),
        }

        impl<'a> $name<'a> {
            /// The keyword a value denotes (any accepted spelling), or `Other`.
            pub fn parse(s: &'a str) -> Self {
                $(if [$($word),+].iter().any(|w| norm_eq(s.as_bytes(), w)) {
                    return Self::$variant;
                })+
                Self::Other(s)
            }

            /// The canonical spelling (or the value as sent, for `Other`).
            pub fn as_str(&self) -> &'a str {
                match self {
                    $(Self::$variant => [$($word),+][0],)+
                    Self::Other(s) => s,
                }
            }
        }
    };
}

keywords! {
    /// An entry of `replace`: which SDP field to overwrite with the relay's own value.
    Replace {
        /// `origin`: the o= line's address.
        Origin = ["origin"],
        /// `origin-full`: the whole o= line.
        OriginFull = ["origin-full"],
        /// `session-connection`: the session-level c= line.
        SessionConnection = ["session-connection"],
        /// `sdp-version`: bump the o= version when the SDP changed.
        SdpVersion = ["sdp-version", "SDP-version"],
        /// `force-increment-sdp-version`.
        ForceIncrementSdpVersion = ["force-increment-sdp-version"],
        /// `username`: the o= username.
        Username = ["username"],
        /// `session-name`: the s= line.
        SessionName = ["session-name"],
        /// `zero-address`: replace 0.0.0.0 too.
        ZeroAddress = ["zero-address"],
    }
}

keywords! {
    /// An entry of `rtcp-mux`.
    RtcpMux {
        /// `offer`: offer RTCP multiplexing.
        Offer = ["offer"],
        /// `demux`: demultiplex toward the other side.
        Demux = ["demux"],
        /// `accept`: accept it if offered.
        Accept = ["accept"],
        /// `reject`: refuse it.
        Reject = ["reject"],
        /// `require`: insist on it.
        Require = ["require"],
    }
}

keywords! {
    /// The value of `ICE`.
    Ice {
        /// `remove`: strip ICE attributes.
        Remove = ["remove"],
        /// `force`: add ICE.
        Force = ["force"],
        /// `default`.
        Default = ["default"],
        /// `force-relay`.
        ForceRelay = ["force-relay"],
        /// `optional`.
        Optional = ["optional"],
    }
}

keywords! {
    /// The value of `DTLS`.
    Dtls {
        /// `off`: no DTLS-SRTP.
        Off = ["off", "no", "disable", "disabled"],
        /// `passive`.
        Passive = ["passive"],
        /// `active`.
        Active = ["active"],
    }
}

keywords! {
    /// The value of `transport-protocol`.
    TransportProtocol {
        /// `RTP/AVP`.
        RtpAvp = ["RTP/AVP"],
        /// `RTP/SAVP`.
        RtpSavp = ["RTP/SAVP"],
        /// `RTP/AVPF`.
        RtpAvpf = ["RTP/AVPF"],
        /// `RTP/SAVPF`.
        RtpSavpf = ["RTP/SAVPF"],
        /// `UDP/TLS/RTP/SAVP`.
        UdpTlsRtpSavp = ["UDP/TLS/RTP/SAVP"],
        /// `UDP/TLS/RTP/SAVPF`.
        UdpTlsRtpSavpf = ["UDP/TLS/RTP/SAVPF"],
    }
}

keywords! {
    /// The value of `address family`.
    AddressFamily {
        /// `IP4`.
        Ip4 = ["IP4"],
        /// `IP6`.
        Ip6 = ["IP6"],
    }
}

/// An entry of `SDES` (or an `SDES-…` flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sdes<'a> {
    /// `off`: no SDES-SRTP.
    Off,
    /// `no-<suite>`: do not offer this crypto suite.
    No(&'a str),
    /// `only-<suite>`: offer only this crypto suite.
    Only(&'a str),
    /// Anything else (`unencrypted_srtp`, `pad`, `static`, `nonew`, …), as sent.
    Other(&'a str),
}

impl<'a> Sdes<'a> {
    /// The entry a value denotes.
    pub fn parse(s: &'a str) -> Self {
        if norm_eq(s.as_bytes(), "off") || norm_eq(s.as_bytes(), "no") {
            Sdes::Off
        } else if let Some(rest) = strip_norm_prefix(s, "no-") {
            Sdes::No(rest)
        } else if let Some(rest) = strip_norm_prefix(s, "only-") {
            Sdes::Only(rest)
        } else {
            Sdes::Other(s)
        }
    }
}

/// The `codec` dictionary: codec names per manipulation, in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodecOptions<'a> {
    /// `strip`: remove these codecs.
    pub strip: Vec<&'a str>,
    /// `offer`: offer these (re-adding stripped ones).
    pub offer: Vec<&'a str>,
    /// `transcode`: offer these and transcode to them.
    pub transcode: Vec<&'a str>,
    /// `mask`: remove toward the other side but accept from this one.
    pub mask: Vec<&'a str>,
    /// `set`: codec parameters to set.
    pub set: Vec<&'a str>,
    /// `except`: codecs no manipulation applies to.
    pub except: Vec<&'a str>,
    /// `accept`: accept these in an answer.
    pub accept: Vec<&'a str>,
    /// `consume`.
    pub consume: Vec<&'a str>,
}

impl CodecOptions<'_> {
    /// Whether no manipulation was asked for.
    pub fn is_empty(&self) -> bool {
        self.strip.is_empty()
            && self.offer.is_empty()
            && self.transcode.is_empty()
            && self.mask.is_empty()
            && self.set.is_empty()
            && self.except.is_empty()
            && self.accept.is_empty()
            && self.consume.is_empty()
    }
}

impl<'a> CodecOptions<'a> {
    fn list(&mut self, key: &[u8]) -> Option<&mut Vec<&'a str>> {
        Some(match () {
            () if norm_eq(key, "strip") => &mut self.strip,
            () if norm_eq(key, "offer") => &mut self.offer,
            () if norm_eq(key, "transcode") => &mut self.transcode,
            () if norm_eq(key, "mask") => &mut self.mask,
            () if norm_eq(key, "set") => &mut self.set,
            () if norm_eq(key, "except") => &mut self.except,
            () if norm_eq(key, "accept") => &mut self.accept,
            () if norm_eq(key, "consume") => &mut self.consume,
            () => return None,
        })
    }
}

/// Whether `raw` and `name` spell the same word, ignoring ASCII case and treating space, `_`
/// and `-` as equal.
pub(crate) fn norm_eq(raw: &[u8], name: &str) -> bool {
    raw.len() == name.len() && raw.iter().zip(name.bytes()).all(|(&r, c)| norm(r) == norm(c))
}

fn norm(b: u8) -> u8 {
    match b {
        b' ' | b'_' => b'-',
        b => b.to_ascii_lowercase(),
    }
}

/// `s` without a prefix spelled `canon` (see [`norm_eq`]).
fn strip_norm_prefix<'s>(s: &'s str, canon: &str) -> Option<&'s str> {
    let head = s.as_bytes().get(..canon.len())?;
    // The prefix is ASCII, so a match ends on a character boundary.
    if norm_eq(head, canon) { s.get(canon.len()..) } else { None }
}

/// Keys a request may carry that need no field: known, used by no command here, not worth a
/// warning.
const QUIET_KEYS: &[&str] = &["sip-message-type"];

/// Keys whose duplicates are refused (index = bit in `Params::seen`).
const IDENTITY_KEYS: [&str; 6] = ["command", "call-id", "from-tag", "to-tag", "via-branch", "sdp"];

/// Everything a request said, before it is sorted into the command's request type.
#[derive(Default)]
struct Params<'a> {
    seen: u8,
    call_id: Option<CallId<'a>>,
    from_tag: Option<Tag<'a>>,
    to_tag: Option<Tag<'a>>,
    via_branch: Option<ViaBranch<'a>>,
    sdp: Option<Sdp<'a>>,
    flags: Vec<Flag>,
    replace: Vec<Replace<'a>>,
    direction: Vec<&'a str>,
    transport_protocol: Option<TransportProtocol<'a>>,
    rtcp_mux: Vec<RtcpMux<'a>>,
    ice: Option<Ice<'a>>,
    sdes: Vec<Sdes<'a>>,
    dtls: Option<Dtls<'a>>,
    address_family: Option<AddressFamily<'a>>,
    received_from: Option<IpAddr>,
    media_address: Option<IpAddr>,
    address: Option<IpAddr>,
    delete_delay: Option<Duration>,
    label: Option<&'a str>,
    record_call: Option<bool>,
    codec: CodecOptions<'a>,
    supports: Vec<&'a str>,
    limit: Option<u32>,
    unknown: Unknown<'a>,
}

impl<'a> Request<'a> {
    /// Parses a decoded request: the command, the keys it needs, everything else typed or
    /// kept in [`Unknown`].
    pub fn parse(value: Value<'a>) -> Result<Self, RequestError> {
        let Value::Dict(dict) = value else {
            return Err(RequestError::NotADictionary);
        };
        let command = command_of(&dict)?;
        if command == Command::Ping {
            return Ok(Request::Ping);
        }
        let mut p = Params::default();
        for (key, value) in dict.into_entries() {
            p.entry(key, value)?;
        }
        if command == Command::List {
            return Ok(Request::List(ListRequest { limit: p.limit.unwrap_or(DEFAULT_LIST_LIMIT) }));
        }
        let call_id = need(p.call_id, "call-id")?;
        Ok(match command {
            // Both returned above; kept total without a panic path.
            Command::Ping => Request::Ping,
            Command::List => Request::List(ListRequest { limit: DEFAULT_LIST_LIMIT }),
            Command::Offer | Command::Answer => {
                let sdp = need(p.sdp, "sdp")?;
                let from_tag = need(p.from_tag, "from-tag")?;
                if command == Command::Answer && p.to_tag.is_none() {
                    return Err(RequestError::MissingKey { key: "to-tag" });
                }
                let req = OfferRequest {
                    call_id,
                    from_tag,
                    to_tag: p.to_tag,
                    via_branch: p.via_branch,
                    sdp,
                    flags: p.flags,
                    replace: p.replace,
                    direction: p.direction,
                    transport_protocol: p.transport_protocol,
                    rtcp_mux: p.rtcp_mux,
                    ice: p.ice,
                    sdes: p.sdes,
                    dtls: p.dtls,
                    address_family: p.address_family,
                    received_from: p.received_from,
                    media_address: p.media_address,
                    label: p.label,
                    record_call: p.record_call,
                    codec: p.codec,
                    supports: p.supports,
                    unknown: p.unknown,
                };
                if command == Command::Offer { Request::Offer(req) } else { Request::Answer(req) }
            }
            Command::Delete => Request::Delete(DeleteRequest {
                call_id,
                from_tag: p.from_tag,
                to_tag: p.to_tag,
                via_branch: p.via_branch,
                flags: p.flags,
                delete_delay: p.delete_delay,
                label: p.label,
                unknown: p.unknown,
            }),
            Command::Query => Request::Query(QueryRequest {
                call_id,
                from_tag: p.from_tag,
                to_tag: p.to_tag,
                via_branch: p.via_branch,
                unknown: p.unknown,
            }),
            Command::BlockDtmf | Command::UnblockDtmf => {
                let req = DtmfRequest {
                    call_id,
                    from_tag: p.from_tag,
                    to_tag: p.to_tag,
                    label: p.label,
                    address: p.address,
                    flags: p.flags,
                    unknown: p.unknown,
                };
                if command == Command::BlockDtmf {
                    Request::BlockDtmf(req)
                } else {
                    Request::UnblockDtmf(req)
                }
            }
        })
    }

    /// The request's command.
    pub fn command(&self) -> Command {
        match self {
            Request::Ping => Command::Ping,
            Request::Offer(_) => Command::Offer,
            Request::Answer(_) => Command::Answer,
            Request::Delete(_) => Command::Delete,
            Request::Query(_) => Command::Query,
            Request::BlockDtmf(_) => Command::BlockDtmf,
            Request::UnblockDtmf(_) => Command::UnblockDtmf,
            Request::List(_) => Command::List,
        }
    }

    /// The call the request is about (none for `ping` and `list`).
    pub fn call_id(&self) -> Option<CallId<'a>> {
        match self {
            Request::Ping | Request::List(_) => None,
            Request::Offer(r) | Request::Answer(r) => Some(r.call_id),
            Request::Delete(r) => Some(r.call_id),
            Request::Query(r) => Some(r.call_id),
            Request::BlockDtmf(r) | Request::UnblockDtmf(r) => Some(r.call_id),
        }
    }

    /// What the request carried that this module left untyped (empty for `ping` and `list`).
    pub fn unknown(&self) -> Option<&Unknown<'a>> {
        match self {
            Request::Ping | Request::List(_) => None,
            Request::Offer(r) | Request::Answer(r) => Some(&r.unknown),
            Request::Delete(r) => Some(&r.unknown),
            Request::Query(r) => Some(&r.unknown),
            Request::BlockDtmf(r) | Request::UnblockDtmf(r) => Some(&r.unknown),
        }
    }
}

fn need<T>(value: Option<T>, key: &'static str) -> Result<T, RequestError> {
    value.ok_or(RequestError::MissingKey { key })
}

/// The `command` of a request dictionary (the last one, should there be several: the
/// duplicate is refused later).
fn command_of(dict: &Dict<'_>) -> Result<Command, RequestError> {
    let mut found = None;
    for (key, value) in dict.iter() {
        if norm_eq(key, "command") {
            found = Some(value);
        }
    }
    let name = found.ok_or(RequestError::MissingCommand)?;
    let name = name.as_bytes().ok_or(RequestError::WrongType { key: "command", expected: "string" })?;
    if let Some(c) = Command::from_name(name) {
        return Ok(c);
    }
    match RTPENGINE_COMMANDS.iter().find(|c| norm_eq(name, c)) {
        Some(command) => Err(RequestError::UnsupportedCommand { command }),
        None => Err(RequestError::UnrecognizedCommand),
    }
}

fn text<'a>(value: &Value<'a>, key: &'static str) -> Result<&'a str, RequestError> {
    let b = value.as_bytes().ok_or(RequestError::WrongType { key, expected: "string" })?;
    std::str::from_utf8(b).map_err(|_| RequestError::BadValue { key })
}

fn octets<'a>(value: &Value<'a>, key: &'static str) -> Result<&'a [u8], RequestError> {
    value.as_bytes().ok_or(RequestError::WrongType { key, expected: "string" })
}

/// The items of a list-valued key: a list of strings, or one string of comma-separated items.
fn text_list<'a>(value: &Value<'a>, key: &'static str) -> Result<Vec<&'a str>, RequestError> {
    match value {
        Value::List(items) => items.iter().map(|v| text(v, key)).collect(),
        Value::Bytes(_) => {
            Ok(text(value, key)?.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
        }
        _ => Err(RequestError::WrongType { key, expected: "list" }),
    }
}

/// A non-negative integer, given as an integer or a decimal string (Kamailio sends both).
fn count(value: &Value<'_>, key: &'static str) -> Result<u64, RequestError> {
    match value {
        Value::Int(i) => u64::try_from(*i).map_err(|_| RequestError::BadValue { key }),
        Value::Bytes(_) => text(value, key)?.trim().parse().map_err(|_| RequestError::BadValue { key }),
        _ => Err(RequestError::WrongType { key, expected: "integer" }),
    }
}

/// An IP address; an IPv6 one may come in brackets (`[::1]`), as SIP writes it.
fn ip(value: &Value<'_>, key: &'static str) -> Result<IpAddr, RequestError> {
    let s = text(value, key)?.trim();
    let s = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(s);
    s.parse().map_err(|_| RequestError::BadValue { key })
}

fn yes_no(value: &Value<'_>, key: &'static str) -> Result<bool, RequestError> {
    if let Value::Int(i) = value {
        return Ok(*i != 0);
    }
    let s = text(value, key)?;
    if ["yes", "on", "true", "1", "start"].iter().any(|w| norm_eq(s.as_bytes(), w)) {
        Ok(true)
    } else if ["no", "off", "false", "0", "stop"].iter().any(|w| norm_eq(s.as_bytes(), w)) {
        Ok(false)
    } else {
        Err(RequestError::BadValue { key })
    }
}

/// `received from`: `[family, address]` as Kamailio sends it, or just the address.
fn received_from(value: &Value<'_>, key: &'static str) -> Result<IpAddr, RequestError> {
    let (family, addr) = match value {
        Value::List(items) => match items.as_slice() {
            [family, addr] => (Some(text(family, key)?), ip(addr, key)?),
            _ => return Err(RequestError::BadValue { key }),
        },
        _ => (None, ip(value, key)?),
    };
    let family_matches = match family.map(AddressFamily::parse) {
        None => true,
        Some(AddressFamily::Ip4) => addr.is_ipv4(),
        Some(AddressFamily::Ip6) => addr.is_ipv6(),
        Some(AddressFamily::Other(_)) => false,
    };
    if family_matches { Ok(addr) } else { Err(RequestError::BadValue { key }) }
}

impl<'a> Params<'a> {
    fn once(&mut self, key: &'static str) -> Result<(), RequestError> {
        let bit = IDENTITY_KEYS.iter().position(|k| *k == key).map_or(0, |i| 1u8 << i);
        if self.seen & bit != 0 {
            return Err(RequestError::DuplicateKey { key });
        }
        self.seen |= bit;
        Ok(())
    }

    fn entry(&mut self, raw: &'a [u8], value: Value<'a>) -> Result<(), RequestError> {
        let k = |canon: &str| norm_eq(raw, canon);
        if k("command") {
            self.once("command")?;
        } else if k("call-id") {
            self.once("call-id")?;
            self.call_id = Some(CallId(octets(&value, "call-id")?));
        } else if k("from-tag") {
            self.once("from-tag")?;
            self.from_tag = Some(Tag(octets(&value, "from-tag")?));
        } else if k("to-tag") {
            self.once("to-tag")?;
            self.to_tag = Some(Tag(octets(&value, "to-tag")?));
        } else if k("via-branch") {
            self.once("via-branch")?;
            self.via_branch = Some(ViaBranch(octets(&value, "via-branch")?));
        } else if k("sdp") {
            self.once("sdp")?;
            self.sdp = Some(Sdp(octets(&value, "sdp")?));
        } else if k("flags") {
            for flag in text_list(&value, "flags")? {
                self.flag(flag)?;
            }
        } else if k("replace") {
            self.replace.extend(text_list(&value, "replace")?.into_iter().map(Replace::parse));
        } else if k("direction") {
            self.direction = text_list(&value, "direction")?;
            if self.direction.len() > 2 {
                return Err(RequestError::BadValue { key: "direction" });
            }
        } else if k("transport-protocol") {
            self.transport_protocol = Some(TransportProtocol::parse(text(&value, "transport-protocol")?));
        } else if k("rtcp-mux") {
            self.rtcp_mux.extend(text_list(&value, "rtcp-mux")?.into_iter().map(RtcpMux::parse));
        } else if k("ice") {
            self.ice = Some(Ice::parse(text(&value, "ICE")?));
        } else if k("sdes") {
            self.sdes.extend(text_list(&value, "SDES")?.into_iter().map(Sdes::parse));
        } else if k("dtls") {
            self.dtls = Some(Dtls::parse(text(&value, "DTLS")?));
        } else if k("address-family") {
            self.address_family = Some(AddressFamily::parse(text(&value, "address family")?));
        } else if k("received-from") {
            self.received_from = Some(received_from(&value, "received from")?);
        } else if k("media-address") {
            self.media_address = Some(ip(&value, "media address")?);
        } else if k("address") {
            self.address = Some(ip(&value, "address")?);
        } else if k("delete-delay") {
            let secs = count(&value, "delete delay")?;
            self.delete_delay = Some(Duration::from_secs(secs));
        } else if k("label") {
            self.label = Some(text(&value, "label")?);
        } else if k("record-call") {
            self.record_call = Some(yes_no(&value, "record call")?);
        } else if k("codec") {
            self.codec(raw, value)?;
        } else if k("supports") {
            self.supports = text_list(&value, "supports")?;
        } else if k("limit") {
            let n = count(&value, "limit")?;
            self.limit = Some(
                u32::try_from(n).ok().filter(|&n| n > 0).ok_or(RequestError::BadValue { key: "limit" })?,
            );
        } else if !QUIET_KEYS.iter().any(|q| k(q)) {
            self.unknown.keys.push((raw, value));
        }
        Ok(())
    }

    fn flag(&mut self, flag: &'a str) -> Result<(), RequestError> {
        let b = flag.as_bytes();
        if let Some((_, f)) = FLAGS.iter().find(|(name, _)| norm_eq(b, name)) {
            self.flags.push(*f);
        } else if norm_eq(b, "record-call") {
            self.record_call = Some(true);
        } else if let Some(rest) = strip_norm_prefix(flag, "replace-") {
            self.replace.push(Replace::parse(rest));
        } else if let Some(rest) = strip_norm_prefix(flag, "sdes-") {
            self.sdes.push(Sdes::parse(rest));
        } else if let Some(rest) = strip_norm_prefix(flag, "rtcp-mux-") {
            self.rtcp_mux.push(RtcpMux::parse(rest));
        } else if let Some(rest) = strip_norm_prefix(flag, "transcode-") {
            self.codec.transcode.push(rest);
        } else if let Some((list, rest)) =
            strip_norm_prefix(flag, "codec-").and_then(|r| r.split_once('-')).and_then(|(op, rest)| {
                let list = self.codec.list(op.as_bytes())?;
                Some((list, rest))
            })
        {
            list.push(rest);
        } else {
            self.unknown.flags.push(b);
        }
        Ok(())
    }

    fn codec(&mut self, raw: &'a [u8], value: Value<'a>) -> Result<(), RequestError> {
        let Value::Dict(dict) = value else {
            return Err(RequestError::WrongType { key: "codec", expected: "dictionary" });
        };
        let mut unknown = Dict::new();
        for (op, items) in dict.into_entries() {
            match self.codec.list(op) {
                Some(list) => list.extend(text_list(&items, "codec")?),
                None => unknown.push(op, items),
            }
        }
        if !unknown.is_empty() {
            self.unknown.keys.push((raw, Value::Dict(unknown)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &'static str) -> Value<'static> {
        Value::Bytes(v.as_bytes())
    }

    fn l(items: &[&'static str]) -> Value<'static> {
        Value::List(items.iter().map(|i| s(i)).collect())
    }

    fn dict(entries: Vec<(&'static str, Value<'static>)>) -> Value<'static> {
        Value::Dict(entries.into_iter().map(|(k, v)| (k.as_bytes(), v)).collect())
    }

    fn offer(extra: Vec<(&'static str, Value<'static>)>) -> Result<Request<'static>, RequestError> {
        let mut e =
            vec![("command", s("offer")), ("call-id", s("c1")), ("from-tag", s("ft")), ("sdp", s("v=0\r\n"))];
        e.extend(extra);
        Request::parse(dict(e))
    }

    fn offer_ok(extra: Vec<(&'static str, Value<'static>)>) -> OfferRequest<'static> {
        match offer(extra) {
            Ok(Request::Offer(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn minimal_offer() {
        let r = offer_ok(vec![]);
        assert_eq!(r.call_id, CallId(b"c1"));
        assert_eq!(r.from_tag, Tag(b"ft"));
        assert_eq!(r.to_tag, None);
        assert_eq!(r.sdp, Sdp(b"v=0\r\n"));
        assert!(r.unknown.is_empty() && r.flags.is_empty() && r.codec.is_empty());
    }

    #[test]
    fn each_command_and_what_it_needs() {
        let base = |cmd: &'static str| vec![("command", s(cmd)), ("call-id", s("c"))];
        assert_eq!(Request::parse(dict(vec![("command", s("ping"))])), Ok(Request::Ping));
        // A ping ignores everything else, even a malformed call-id.
        assert_eq!(
            Request::parse(dict(vec![("command", s("ping")), ("call-id", Value::Int(1))])),
            Ok(Request::Ping)
        );
        let r = Request::parse(dict(base("delete"))).expect("delete");
        assert_eq!(r.command(), Command::Delete);
        assert_eq!(r.call_id(), Some(CallId(b"c")));
        assert_eq!(Request::parse(dict(base("query"))).map(|r| r.command()), Ok(Command::Query));
        assert_eq!(Request::parse(dict(base("block DTMF"))).map(|r| r.command()), Ok(Command::BlockDtmf));
        assert_eq!(Request::parse(dict(base("unblock DTMF"))).map(|r| r.command()), Ok(Command::UnblockDtmf));
        assert_eq!(
            Request::parse(dict(vec![("command", s("list")), ("limit", Value::Int(5))])),
            Ok(Request::List(ListRequest { limit: 5 }))
        );
        assert_eq!(
            Request::parse(dict(vec![("command", s("list"))])),
            Ok(Request::List(ListRequest { limit: DEFAULT_LIST_LIMIT }))
        );
        let no_call = |cmd| Request::parse(dict(vec![("command", s(cmd)), ("from-tag", s("f"))]));
        for cmd in ["offer", "answer", "delete", "query", "block DTMF", "unblock DTMF"] {
            assert_eq!(no_call(cmd), Err(RequestError::MissingKey { key: "call-id" }), "{cmd}");
        }
        let mut answer = base("answer");
        answer.extend([("from-tag", s("f")), ("sdp", s("v=0"))]);
        assert_eq!(Request::parse(dict(answer.clone())), Err(RequestError::MissingKey { key: "to-tag" }));
        answer.push(("to-tag", s("t")));
        assert!(
            matches!(Request::parse(dict(answer)), Ok(Request::Answer(r)) if r.to_tag == Some(Tag(b"t")))
        );
        let mut no_sdp = base("offer");
        no_sdp.push(("from-tag", s("f")));
        let err = Request::parse(dict(no_sdp)).expect_err("no sdp");
        assert_eq!(err, RequestError::MissingKey { key: "sdp" });
        assert_eq!(err.to_string(), "No SDP body in message");
        let mut no_from = base("offer");
        no_from.push(("sdp", s("v=0")));
        assert_eq!(
            Request::parse(dict(no_from)).map_err(|e| e.to_string()),
            Err("No from-tag in message".into())
        );
    }

    #[test]
    fn commands_that_are_not_supported_or_not_known() {
        let cmd = |c: Value<'static>| Request::parse(dict(vec![("command", c), ("call-id", s("c"))]));
        assert_eq!(cmd(s("play DTMF")), Err(RequestError::UnsupportedCommand { command: "play DTMF" }));
        assert_eq!(
            cmd(s("start-recording")),
            Err(RequestError::UnsupportedCommand { command: "start recording" })
        );
        assert_eq!(cmd(s("frobnicate")), Err(RequestError::UnrecognizedCommand));
        assert_eq!(cmd(Value::Int(1)), Err(RequestError::WrongType { key: "command", expected: "string" }));
        assert_eq!(Request::parse(dict(vec![("call-id", s("c"))])), Err(RequestError::MissingCommand));
        assert_eq!(Request::parse(Value::List(vec![])), Err(RequestError::NotADictionary));
        assert_eq!(Request::parse(s("offer")), Err(RequestError::NotADictionary));
        // Spellings.
        assert_eq!(cmd(s("Block-DTMF")).map(|r| r.command()), Ok(Command::BlockDtmf));
        assert_eq!(cmd(s("unblock_dtmf")).map(|r| r.command()), Ok(Command::UnblockDtmf));
        for c in Command::ALL {
            assert_eq!(Command::from_name(c.name().as_bytes()), Some(c));
            assert_eq!(Command::ALL[c.index()], c);
        }
    }

    #[test]
    fn keys_in_any_spelling() {
        let r = Request::parse(dict(vec![
            ("Command", s("offer")),
            ("call ID", s("c")),
            ("from_tag", s("f")),
            ("SDP", s("v=0")),
            ("received from", l(&["IP6", "::1"])),
            ("address-family", s("ip6")),
            ("Media-Address", s("192.0.2.7")),
            ("ice", s("Remove")),
        ]));
        let Ok(Request::Offer(r)) = r else { panic!("{r:?}") };
        assert_eq!(r.call_id, CallId(b"c"));
        assert_eq!(r.received_from, Some("::1".parse().expect("ip")));
        assert_eq!(r.address_family, Some(AddressFamily::Ip6));
        assert_eq!(r.media_address, Some("192.0.2.7".parse().expect("ip")));
        assert_eq!(r.ice, Some(Ice::Remove));
    }

    #[test]
    fn identity_keys_may_not_repeat_other_keys_last_wins() {
        assert_eq!(offer(vec![("call id", s("c2"))]), Err(RequestError::DuplicateKey { key: "call-id" }));
        assert_eq!(offer(vec![("SDP", s("v=1"))]), Err(RequestError::DuplicateKey { key: "sdp" }));
        assert_eq!(offer(vec![("command", s("offer"))]), Err(RequestError::DuplicateKey { key: "command" }));
        let r = offer_ok(vec![("label", s("a")), ("label", s("b"))]);
        assert_eq!(r.label, Some("b"));
        // Kamailio's `delete-delay=0` sends both spellings, an integer and a string.
        let r = Request::parse(dict(vec![
            ("command", s("delete")),
            ("call-id", s("c")),
            ("delete delay", Value::Int(0)),
            ("delete-delay", s("7")),
        ]));
        let Ok(Request::Delete(r)) = r else { panic!("{r:?}") };
        assert_eq!(r.delete_delay, Some(Duration::from_secs(7)));
    }

    #[test]
    fn flags_known_prefixed_and_unknown() {
        let r = offer_ok(vec![(
            "flags",
            l(&[
                "trust-address",
                "Strict source",
                "record-call",
                "replace-origin",
                "SDES-no-AES_CM_128_HMAC_SHA1_32",
                "SDES-off",
                "rtcp-mux-demux",
                "codec-strip-G729",
                "codec-mask-PCMA",
                "transcode-PCMU",
                "codec-frob-X",
                "no-such-flag",
                "block-DTMF",
            ]),
        )]);
        assert_eq!(r.flags, [Flag::TrustAddress, Flag::StrictSource, Flag::BlockDtmf]);
        assert!(r.has_flag(Flag::BlockDtmf) && !r.has_flag(Flag::Fatal));
        assert_eq!(r.record_call, Some(true));
        assert_eq!(r.replace, [Replace::Origin]);
        assert_eq!(r.sdes, [Sdes::No("AES_CM_128_HMAC_SHA1_32"), Sdes::Off]);
        assert_eq!(r.rtcp_mux, [RtcpMux::Demux]);
        assert_eq!(r.codec.strip, ["G729"]);
        assert_eq!(r.codec.mask, ["PCMA"]);
        assert_eq!(r.codec.transcode, ["PCMU"]);
        assert_eq!(r.unknown.flags, [&b"codec-frob-X"[..], b"no-such-flag"]);
        for (name, flag) in FLAGS {
            assert!(norm_eq(flag.name().as_bytes(), name) || *flag == Flag::IceReject, "{name}");
        }
    }

    #[test]
    fn typed_keys() {
        let r = offer_ok(vec![
            ("replace", l(&["origin", "session-connection", "something-new"])),
            ("direction", l(&["external", "internal"])),
            ("transport-protocol", s("RTP/SAVPF")),
            ("rtcp-mux", s("offer,accept")),
            ("SDES", l(&["unencrypted_srtp", "only-AES_CM_128_HMAC_SHA1_80"])),
            ("DTLS", s("off")),
            ("record call", s("no")),
            (
                "codec",
                dict(vec![
                    ("strip", l(&["all"])),
                    ("offer", l(&["PCMU", "telephone-event"])),
                    ("frob", l(&["x"])),
                ]),
            ),
            ("supports", l(&["load limit"])),
            ("T.38", l(&["decode"])),
        ]);
        assert_eq!(r.replace, [Replace::Origin, Replace::SessionConnection, Replace::Other("something-new")]);
        assert_eq!(r.direction, ["external", "internal"]);
        assert_eq!(r.transport_protocol, Some(TransportProtocol::RtpSavpf));
        assert_eq!(r.transport_protocol.map(|t| t.as_str()), Some("RTP/SAVPF"));
        assert_eq!(r.rtcp_mux, [RtcpMux::Offer, RtcpMux::Accept]);
        assert_eq!(r.sdes, [Sdes::Other("unencrypted_srtp"), Sdes::Only("AES_CM_128_HMAC_SHA1_80")]);
        assert_eq!(r.dtls, Some(Dtls::Off));
        assert_eq!(r.record_call, Some(false));
        assert_eq!(r.codec.strip, ["all"]);
        assert_eq!(r.codec.offer, ["PCMU", "telephone-event"]);
        assert!(r.supports_load_limit());
        // Unknown keys keep their values; an unknown codec entry stays under "codec".
        assert_eq!(r.unknown.keys.len(), 2);
        assert_eq!(r.unknown.keys[0].0, b"codec");
        assert_eq!(r.unknown.keys[0].1.as_dict().and_then(|d| d.get(b"frob")), Some(&l(&["x"])));
        assert_eq!(r.unknown.keys[1], (&b"T.38"[..], l(&["decode"])));
    }

    #[test]
    fn bad_values_are_errors() {
        let bad = |k: &'static str, v: Value<'static>| offer(vec![(k, v)]);
        assert_eq!(
            bad("received-from", l(&["IP4", "::1"])),
            Err(RequestError::BadValue { key: "received from" })
        );
        assert_eq!(bad("received-from", l(&["IP4"])), Err(RequestError::BadValue { key: "received from" }));
        assert_eq!(
            bad("received-from", l(&["IPX", "1.2.3.4"])),
            Err(RequestError::BadValue { key: "received from" })
        );
        assert!(bad("received-from", s("1.2.3.4")).is_ok());
        assert!(matches!(bad("received-from", l(&["IP6", "[2001:db8::5]"])), Ok(Request::Offer(r))
            if r.received_from == Some("2001:db8::5".parse().expect("ip"))));
        assert_eq!(
            bad("media address", s("[192.0.2.1")),
            Err(RequestError::BadValue { key: "media address" })
        );
        assert_eq!(
            bad("media address", s("example.com")),
            Err(RequestError::BadValue { key: "media address" })
        );
        assert_eq!(bad("direction", l(&["a", "b", "c"])), Err(RequestError::BadValue { key: "direction" }));
        assert_eq!(bad("delete delay", Value::Int(-1)), Err(RequestError::BadValue { key: "delete delay" }));
        assert_eq!(bad("delete delay", s("soon")), Err(RequestError::BadValue { key: "delete delay" }));
        assert_eq!(bad("record call", s("maybe")), Err(RequestError::BadValue { key: "record call" }));
        assert_eq!(bad("label", Value::Bytes(b"\xff")), Err(RequestError::BadValue { key: "label" }));
        assert_eq!(
            bad("flags", Value::Int(3)),
            Err(RequestError::WrongType { key: "flags", expected: "list" })
        );
        assert_eq!(
            bad("flags", Value::List(vec![Value::Int(3)])),
            Err(RequestError::WrongType { key: "flags", expected: "string" })
        );
        assert_eq!(
            bad("codec", l(&[])),
            Err(RequestError::WrongType { key: "codec", expected: "dictionary" })
        );
        assert_eq!(bad("from-tag2", Value::Int(3)).map(|_| ()), Ok(()), "unknown keys take any type");
        assert_eq!(
            Request::parse(dict(vec![("command", s("list")), ("limit", Value::Int(0))])),
            Err(RequestError::BadValue { key: "limit" })
        );
        assert_eq!(
            Request::parse(dict(vec![("command", s("offer")), ("call-id", Value::Int(1))])),
            Err(RequestError::WrongType { key: "call-id", expected: "string" })
        );
    }

    #[test]
    fn dtmf_request_selectors() {
        let r = Request::parse(dict(vec![
            ("command", s("block DTMF")),
            ("call-id", s("c")),
            ("from-tag", s("f")),
            ("flags", l(&["directional"])),
            ("address", s("198.51.100.1")),
            ("label", s("caller")),
        ]));
        let Ok(Request::BlockDtmf(r)) = r else { panic!("{r:?}") };
        assert_eq!(r.from_tag, Some(Tag(b"f")));
        assert!(r.has_flag(Flag::Directional));
        assert_eq!(r.address, Some("198.51.100.1".parse().expect("ip")));
        assert_eq!(r.label, Some("caller"));
    }

    #[test]
    fn keywords_parse_any_spelling() {
        assert_eq!(TransportProtocol::parse("rtp/avp"), TransportProtocol::RtpAvp);
        assert_eq!(TransportProtocol::parse("UDP/TLS/RTP/SAVPF"), TransportProtocol::UdpTlsRtpSavpf);
        assert_eq!(TransportProtocol::parse("TCP/MSRP"), TransportProtocol::Other("TCP/MSRP"));
        assert_eq!(Replace::parse("session connection"), Replace::SessionConnection);
        assert_eq!(Replace::parse("SDP-version").as_str(), "sdp-version");
        assert_eq!(Dtls::parse("no"), Dtls::Off);
        assert_eq!(Ice::parse("force_relay"), Ice::ForceRelay);
        assert_eq!(Sdes::parse("no"), Sdes::Off);
        assert_eq!(Sdes::parse("No-AEAD_AES_256_GCM"), Sdes::No("AEAD_AES_256_GCM"));
        // A prefix match needs the whole prefix; multi-byte text is not split.
        assert_eq!(Sdes::parse("nö"), Sdes::Other("nö"));
        assert_eq!(strip_norm_prefix("ré-x", "re-"), None);
    }

    #[test]
    fn debug_never_shows_sdp() {
        let r = offer_ok(vec![]);
        let secret = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        let mut r2 = r.clone();
        r2.sdp = Sdp(secret.as_bytes());
        let shown = format!("{r2:?}");
        assert!(!shown.contains("inline"), "{shown}");
        assert!(shown.contains(&format!("Sdp(<{} octets>)", secret.len())));
        assert!(format!("{:?}", r.call_id).contains("c1"));
    }
}
