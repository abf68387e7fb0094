//! RTCP (RFC 3550 §6) over borrowed bytes: a validating parser of compound packets, views of
//! every packet type, in-place editors for the fields a relay rewrites, a writer for the SR or
//! RR the relay sends itself, and the RTCP-mux test of RFC 5761.
//!
//! ```text
//!  datagram ──demux()──► Rtcp ──parse(bytes, Rules)──► Compound ──packets()──► Packet
//!                                  │ every check up front:             Sr / Rr / Sdes / Bye / App
//!                                  │ version, lengths, padding,        RtpFb / PsFb / Xr / Other
//!                                  │ first packet, inner structure
//!           parse_mut(&mut bytes)──┴─► CompoundMut ──► PacketMut ──► SenderReportMut (counts, SSRC)
//!                                                                  └► ReportBlockMut (seq, lost)
//!  Report { ssrc, sender_info, blocks, cname } ──write(&mut out)──► SR|RR + SDES CNAME
//! ```
//!
//! # Validation
//!
//! [`parse`] checks the whole compound packet before handing out anything, so a caller never
//! forwards or edits half of a malformed one. It applies the checks of RFC 3550 Appendix A.2 —
//! every packet has version 2, the first is an SR or RR with its padding bit clear, and the
//! length fields add up to the datagram's length — under [`Rules::Compound`]; under
//! [`Rules::ReducedSize`] (RFC 5506) the first packet may be of any type and a lone packet may be
//! padded. In both, padding is allowed only on the last packet (RFC 3550 §6.4.1) and its count
//! must lie inside the packet. Then the inner structure of the types it decodes must fit the
//! packet's length: SR and RR report blocks, SDES chunks and items (null-padded to a 32-bit
//! boundary), BYE sources and reason, the fixed fields of APP and feedback packets, and XR
//! blocks, which must tile the packet. After that, every view reads without failing.
//!
//! # Zero allocation
//!
//! Views borrow the datagram; iterators walk it; values such as [`ReportBlock`] are small `Copy`
//! structs decoded on the fly. Editors write into the caller's buffer; the writer into a buffer
//! the caller provides.
//!
//! # What this module does not do
//!
//! It does not decrypt or authenticate SRTCP (hand it the plaintext compound without the SRTCP
//! trailer), schedule RTCP (the §6.3 interval rules), decode feedback FCI (NACK bitmaps, PLI,
//! FIR, REMB) or XR block bodies beyond their headers, or keep statistics (that is
//! [`crate::quality`]). Editing never changes a packet's length; removing or inserting packets is
//! the caller's job (copy the [`Packet::bytes`] it keeps).

mod edit;
mod other;
mod parse;
mod report;
mod sdes;
mod write;

pub use edit::{
    CompoundMut, PacketMut, PacketsMut, ReportBlockMut, ReportBlocksMut, SenderReportMut, parse_mut,
};
pub use other::{App, Bye, ExtendedReport, Feedback, Ssrcs, Unknown, XrBlock, XrBlocks};
pub use parse::{Compound, Packet, Packets, parse};
pub use report::{ReceiverReport, ReportBlock, ReportBlocks, SenderInfo, SenderReport};
pub use sdes::{Sdes, SdesChunk, SdesChunks, SdesItem, SdesItems};
pub use write::Report;

use core::fmt;
use core::time::Duration;

/// Why an RTCP packet was refused, or could not be written.
///
/// Offsets count octets from the start of the compound packet. No variant carries packet
/// octets: SDES items and BYE reasons are personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram has no octets.
    #[error("RTCP packet is empty")]
    Empty,
    /// A packet header, or the packet its length field announces, runs past the end of the
    /// datagram (the length fields do not add up to the datagram's length, RFC 3550 A.2).
    #[error("RTCP packet at octet {offset} needs {needed} octets but {available} remain")]
    Truncated {
        /// Where the packet starts.
        offset: usize,
        /// Octets the header or its length field asks for.
        needed: usize,
        /// Octets left in the datagram from `offset`.
        available: usize,
    },
    /// The version field is not 2.
    #[error("RTCP packet at octet {offset} has version {version}, not 2")]
    BadVersion {
        /// Where the packet starts.
        offset: usize,
        /// The version found.
        version: u8,
    },
    /// Under [`Rules::Compound`], the first packet is not an SR or RR (RFC 3550 §6.1, A.2).
    #[error("compound RTCP packet starts with packet type {packet_type}, not SR or RR")]
    NotReportFirst {
        /// The first packet's type.
        packet_type: PacketType,
    },
    /// The padding bit is set on a packet that is not the last, on the first packet of a full
    /// compound, or the padding count is zero or larger than the packet's body.
    #[error("RTCP packet at octet {offset} has bad padding")]
    BadPadding {
        /// Where the packet starts.
        offset: usize,
    },
    /// The packet's length does not fit what its header and contents say: report blocks or BYE
    /// sources beyond the end, SDES chunks that overrun or leave octets over, an APP or feedback
    /// packet shorter than its fixed fields, XR blocks that do not tile the packet.
    #[error("RTCP {packet_type} packet at octet {offset} does not fit its length")]
    BadLength {
        /// Where the packet starts.
        offset: usize,
        /// Its type.
        packet_type: PacketType,
    },
    /// The output buffer is too small for what is being written.
    #[error("output buffer too small: {needed} octets needed")]
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
    },
    /// More report blocks than the 5-bit count of one SR or RR can say.
    #[error("{count} report blocks; one SR or RR carries at most 31")]
    TooManyReportBlocks {
        /// Blocks asked for.
        count: usize,
    },
    /// An SDES item longer than its 8-bit length field can say.
    #[error("SDES item of {len} octets; at most 255 fit")]
    ItemTooLong {
        /// The item's length.
        len: usize,
    },
}

/// Which validity rules [`parse`] applies to the first packet of a datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rules {
    /// RFC 3550 A.2: a compound packet starting with an SR or RR whose padding bit is clear.
    /// What every RTP/AVP stack sends.
    #[default]
    Compound,
    /// RFC 5506 reduced-size RTCP, negotiated with `a=rtcp-rsize`: any packet type may come
    /// first, and a datagram may hold a single (padded) packet, such as a lone PLI.
    ReducedSize,
}

/// An RTCP packet type, the second octet of the common header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketType(pub u8);

impl PacketType {
    /// Sender report (RFC 3550 §6.4.1).
    pub const SR: PacketType = PacketType(200);
    /// Receiver report (RFC 3550 §6.4.2).
    pub const RR: PacketType = PacketType(201);
    /// Source description (RFC 3550 §6.5).
    pub const SDES: PacketType = PacketType(202);
    /// Goodbye (RFC 3550 §6.6).
    pub const BYE: PacketType = PacketType(203);
    /// Application-defined (RFC 3550 §6.7).
    pub const APP: PacketType = PacketType(204);
    /// Transport-layer feedback (RFC 4585 §6.2): NACK, TMMBR, transport-cc.
    pub const RTPFB: PacketType = PacketType(205);
    /// Payload-specific feedback (RFC 4585 §6.3): PLI, SLI, RPSI, FIR, REMB.
    pub const PSFB: PacketType = PacketType(206);
    /// Extended report (RFC 3611).
    pub const XR: PacketType = PacketType(207);

    /// The RFC's abbreviation, if the type is one this module decodes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            PacketType::SR => "SR",
            PacketType::RR => "RR",
            PacketType::SDES => "SDES",
            PacketType::BYE => "BYE",
            PacketType::APP => "APP",
            PacketType::RTPFB => "RTPFB",
            PacketType::PSFB => "PSFB",
            PacketType::XR => "XR",
            _ => return None,
        })
    }
}

impl fmt::Debug for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "PacketType({})", self.0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The 4-octet common header every RTCP packet starts with (RFC 3550 §6.4.1).
///
/// ```text
///   0                   1                   2                   3
///  |V=2|P|  count  |      PT       |             length            |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The P bit: the packet ends with padding whose last octet is its count.
    pub padding: bool,
    /// The 5-bit field after P: report count (SR, RR), source count (SDES, BYE), subtype (APP),
    /// feedback message type FMT (RTPFB, PSFB); reserved in XR.
    pub count: u8,
    /// The packet type.
    pub packet_type: PacketType,
    /// The length field: the packet's length in 32-bit words minus one, header and padding
    /// included.
    pub length: u16,
}

impl Header {
    /// Octets in the header.
    pub const LEN: usize = 4;
    /// The only RTP/RTCP version.
    pub const VERSION: u8 = 2;

    /// Decodes a header. The version is not kept: [`parse`] refuses anything but 2.
    pub fn from_bytes(b: [u8; 4]) -> Header {
        Header {
            padding: b[0] & 0x20 != 0,
            count: b[0] & 0x1F,
            packet_type: PacketType(b[1]),
            length: u16::from_be_bytes([b[2], b[3]]),
        }
    }

    /// Encodes the header with version 2; only the low 5 bits of `count` are written.
    pub fn to_bytes(self) -> [u8; 4] {
        let l = self.length.to_be_bytes();
        [
            (Self::VERSION << 6) | (u8::from(self.padding) << 5) | (self.count & 0x1F),
            self.packet_type.0,
            l[0],
            l[1],
        ]
    }

    /// The packet's length in octets, header and padding included.
    pub fn packet_len(self) -> usize {
        (usize::from(self.length) + 1) * 4
    }
}

/// An NTP timestamp (RFC 5905 format, as in the SR): seconds since 1900 in the high 32 bits,
/// the fraction of a second in the low 32. Arithmetic wraps, so the 2036 era change is harmless
/// to differences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// From whole seconds since 1900 and a binary fraction of a second.
    pub const fn new(seconds: u32, fraction: u32) -> NtpTime {
        NtpTime(((seconds as u64) << 32) | fraction as u64)
    }

    /// Whole seconds since 1900 (modulo 2^32).
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction of a second, in units of 2^-32 s.
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The middle 32 bits, in units of 2^-16 s: what report blocks carry as LSR and what
    /// [`round_trip`] compares against (RFC 3550 §6.4.1).
    pub const fn compact(self) -> u32 {
        (self.0 >> 16) as u32
    }

    /// This time plus `d` (wrapping), to sub-nanosecond precision.
    pub fn wrapping_add(self, d: Duration) -> NtpTime {
        NtpTime(self.0.wrapping_add(ntp_units(d)))
    }

    /// This time minus `d` (wrapping).
    pub fn wrapping_sub(self, d: Duration) -> NtpTime {
        NtpTime(self.0.wrapping_sub(ntp_units(d)))
    }
}

/// `d` in units of 2^-32 s, modulo 2^64.
fn ntp_units(d: Duration) -> u64 {
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (d.as_secs() << 32).wrapping_add(frac)
}

/// Converts a span in 2^-16 s units (the unit of LSR, DLSR and compact NTP) to a [`Duration`].
pub fn compact_to_duration(v: u32) -> Duration {
    let secs = u64::from(v >> 16);
    let nanos = (u64::from(v & 0xFFFF) * 1_000_000_000) >> 16;
    Duration::from_secs(secs) + Duration::from_nanos(nanos)
}

/// Converts a [`Duration`] to 2^-16 s units (DLSR), truncating; saturates at `u32::MAX`
/// (18.2 hours).
pub fn duration_to_compact(d: Duration) -> u32 {
    let v = (u128::from(d.as_secs()) << 16) + ((u128::from(d.subsec_nanos()) << 16) / 1_000_000_000);
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The relay's wallclock, as the driver maps it: `ntp` is the NTP time at the instant `at` of
/// the driver's monotonic clock (the `now` every call takes). The I/O layer reads the system
/// clock once to build it; nothing here reads a clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NtpClock {
    /// An instant on the driver's clock.
    pub at: Duration,
    /// The NTP time at that instant.
    pub ntp: NtpTime,
}

impl NtpClock {
    /// The NTP time at `now` on the driver's clock.
    pub fn ntp(&self, now: Duration) -> NtpTime {
        match now.checked_sub(self.at) {
            Some(ahead) => self.ntp.wrapping_add(ahead),
            None => self.ntp.wrapping_sub(self.at - now),
        }
    }
}

/// Round-trip time from a report block that answers one of our SRs (RFC 3550 §6.4.1):
/// `A − LSR − DLSR`, where `A` is when the block arrived (as NTP). `None` when the block carries
/// no LSR (the peer has seen no SR from us yet) or the result is negative (clock steps, or a
/// block that answers someone else's SR).
pub fn round_trip(arrival: NtpTime, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = arrival.compact().wrapping_sub(lsr).wrapping_sub(dlsr);
    (rtt < 0x8000_0000).then(|| compact_to_duration(rtt))
}

/// What a datagram on a port shared by RTP and RTCP is (RFC 5761 §4, with the first-octet
/// ranges of RFC 7983).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Demux {
    /// Version 2 and a second octet outside 192–223: an RTP packet.
    Rtp,
    /// Version 2 and a second octet in 192–223: RTCP. RTP payload types 64–95 would collide
    /// with this range, which is why RFC 5761 forbids them on a muxed session.
    Rtcp,
    /// Not RTP or RTCP: shorter than two octets or first octet outside 128–191 (STUN, DTLS,
    /// ZRTP, TURN channels, garbage).
    Other,
}

/// Classifies a datagram received on an RTCP-mux port. Looks at two octets; validates nothing
/// further.
pub fn demux(datagram: &[u8]) -> Demux {
    match *datagram {
        [first, second, ..] if (128..=191).contains(&first) => {
            if (192..=223).contains(&second) {
                Demux::Rtcp
            } else {
                Demux::Rtp
            }
        }
        _ => Demux::Other,
    }
}

/// Big-endian u32 at `at`; 0 past the end (callers read only validated offsets).
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    match at.checked_add(4).and_then(|end| b.get(at..end)) {
        Some(&[a, b1, c, d]) => u32::from_be_bytes([a, b1, c, d]),
        _ => 0,
    }
}

/// Writes a big-endian u32 at `at`; nothing past the end (callers write only validated offsets).
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(dst) = at.checked_add(4).and_then(|end| b.get_mut(at..end)) {
        dst.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header::from_bytes([0x81, 200, 0x00, 0x0C]);
        assert_eq!(h, Header { padding: false, count: 1, packet_type: PacketType::SR, length: 12 });
        assert_eq!(h.packet_len(), 52);
        assert_eq!(h.to_bytes(), [0x81, 200, 0x00, 0x0C]);
        let h = Header::from_bytes([0xBF, 206, 0xFF, 0xFF]);
        assert!(h.padding);
        assert_eq!((h.count, h.packet_len()), (31, 0x10000 * 4));
        assert_eq!(h.to_bytes(), [0xBF, 206, 0xFF, 0xFF]);
    }

    #[test]
    fn packet_types_print_their_names() {
        assert_eq!(format!("{:?}", PacketType::RTPFB), "RTPFB");
        assert_eq!(format!("{}", PacketType(195)), "PacketType(195)");
    }

    #[test]
    fn rfc3550_round_trip_example() {
        // RFC 3550 §6.4.1, Figure 2: the SR left at 0xb44db705:20000000 (LSR 0xb7052000), the
        // peer held it for 5.25 s (DLSR 0x00054000), and its RR arrived at compact 0xb7108000.
        let sent = NtpTime::new(0xb44d_b705, 0x2000_0000);
        assert_eq!(sent.compact(), 0xb705_2000);
        let arrival = NtpTime::new(0xb44d_b710, 0x8000_0000);
        assert_eq!(round_trip(arrival, sent.compact(), 0x0005_4000), Some(Duration::from_millis(6125)));
        // No LSR yet, or an answer to an SR sent after the block arrived: no figure.
        assert_eq!(round_trip(arrival, 0, 0x0005_4000), None);
        assert_eq!(round_trip(arrival, 0xb711_0000, 0), None);
    }

    #[test]
    fn ntp_clock_maps_driver_time() {
        let clock = NtpClock { at: Duration::from_secs(10), ntp: NtpTime::new(1000, 0) };
        assert_eq!(clock.ntp(Duration::from_millis(10_500)), NtpTime::new(1000, 0x8000_0000));
        assert_eq!(clock.ntp(Duration::from_millis(9_750)), NtpTime::new(999, 0xC000_0000));
        // Wraps across the 2036 era boundary.
        let clock = NtpClock { at: Duration::ZERO, ntp: NtpTime::new(u32::MAX, 0) };
        assert_eq!(clock.ntp(Duration::from_secs(2)), NtpTime::new(1, 0));
    }

    #[test]
    fn compact_units_convert_both_ways() {
        assert_eq!(compact_to_duration(0x0005_4000), Duration::from_millis(5250));
        assert_eq!(duration_to_compact(Duration::from_millis(5250)), 0x0005_4000);
        assert_eq!(duration_to_compact(Duration::from_secs(1 << 20)), u32::MAX);
        // 1/65536 s is 15258.789 ns: truncation in both directions.
        assert_eq!(compact_to_duration(1), Duration::from_nanos(15_258));
        assert_eq!(duration_to_compact(Duration::from_nanos(15_258)), 0);
    }

    #[test]
    fn demux_follows_rfc5761() {
        assert_eq!(demux(&[0x80, 0x00]), Demux::Rtp); // PCMU
        assert_eq!(demux(&[0x80, 0xE5, 0, 0]), Demux::Rtp); // marker + PT 101
        assert_eq!(demux(&[0x81, 200]), Demux::Rtcp);
        assert_eq!(demux(&[0x80, 192]), Demux::Rtcp);
        assert_eq!(demux(&[0x80, 223]), Demux::Rtcp);
        assert_eq!(demux(&[0x80, 224]), Demux::Rtp);
        assert_eq!(demux(&[0x00, 0x01, 0x00, 0x00]), Demux::Other); // STUN binding request
        assert_eq!(demux(&[22, 0xFE, 0xFD]), Demux::Other); // DTLS handshake
        assert_eq!(demux(&[0x80]), Demux::Other);
        assert_eq!(demux(&[]), Demux::Other);
    }
}
