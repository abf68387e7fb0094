//! The packet types a relay forwards as they are: BYE, APP, RTPFB/PSFB and XR, checked by
//! structure and exposed by field, with their contents left undecoded.
//!
//! ```text
//!  BYE   (RFC 3550 §6.6): header(SC) | SSRC × SC | [len | reason… | null pad]
//!  APP   (RFC 3550 §6.7): header(subtype) | SSRC | name (4 ASCII) | data
//!  FB    (RFC 4585 §6.1): header(FMT) | SSRC of sender | SSRC of media source | FCI
//!  XR    (RFC 3611 §2):   header | SSRC | block…   block: | BT | type-specific | length | body |
//! ```

use super::parse::Raw;
use super::{Header, be32};
use core::fmt;
use core::slice::ChunksExact;

/// Octets of an APP body before its data: SSRC and name.
pub(super) const APP_FIXED: usize = 8;
/// Octets of a feedback body before its FCI: the two SSRCs.
pub(super) const FEEDBACK_FIXED: usize = 8;
/// Octets of an XR body before its blocks: the SSRC.
const XR_FIXED: usize = 4;
/// Octets of an XR block header.
const XR_BLOCK_HEADER: usize = 4;

/// Whether a BYE body holds `count` SSRCs and, after them, at most a reason padded to 32 bits.
pub(super) fn bye_fits(body: &[u8], count: usize) -> bool {
    let Some(rest) = body.get(count * 4..) else {
        return false;
    };
    match rest.split_first() {
        None => true,
        Some((&len, text)) => text.len().checked_sub(usize::from(len)).is_some_and(|left| left < 4),
    }
}

/// Whether an XR body holds its SSRC and blocks that end exactly where the body does.
pub(super) fn xr_fits(body: &[u8]) -> bool {
    let Some(mut rest) = body.get(XR_FIXED..) else {
        return false;
    };
    while !rest.is_empty() {
        let Some(len) = xr_block_len(rest) else {
            return false;
        };
        let Some(after) = rest.get(len..) else {
            return false;
        };
        rest = after;
    }
    true
}

/// Octets of the XR block at the start of `rest`, header included.
pub(super) fn xr_block_len(rest: &[u8]) -> Option<usize> {
    match *rest {
        [_, _, hi, lo, ..] => Some(XR_BLOCK_HEADER + 4 * usize::from(u16::from_be_bytes([hi, lo]))),
        _ => None,
    }
}

/// A goodbye: the sources leaving, and optionally why.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> Bye<'a> {
    /// The sources that leave, as many as the header counts.
    pub fn sources(&self) -> Ssrcs<'a> {
        let n = usize::from(self.raw.header.count) * 4;
        Ssrcs { chunks: self.raw.body().get(..n).unwrap_or_default().chunks_exact(4) }
    }

    /// The reason for leaving (UTF-8 text), if the packet has one.
    pub fn reason(&self) -> Option<&'a [u8]> {
        let rest = self.raw.body().get(usize::from(self.raw.header.count) * 4..)?;
        let (&len, text) = rest.split_first()?;
        text.get(..usize::from(len))
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

impl fmt::Debug for Bye<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The reason is free text from the far end: its length only.
        f.debug_struct("Bye")
            .field("sources", &self.sources().len())
            .field("reason_len", &self.reason().map(<[u8]>::len))
            .finish()
    }
}

/// SSRCs listed back to back.
#[derive(Clone, Debug)]
pub struct Ssrcs<'a> {
    chunks: ChunksExact<'a, u8>,
}

impl Iterator for Ssrcs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        self.chunks.next().map(|c| be32(c, 0))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for Ssrcs<'_> {}

/// An application-defined packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct App<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> App<'a> {
    /// The 5-bit subtype from the header's count field.
    pub fn subtype(&self) -> u8 {
        self.raw.header.count
    }

    /// The sender's SSRC.
    pub fn ssrc(&self) -> u32 {
        be32(self.raw.body(), 0)
    }

    /// The four-character name (ASCII by RFC; not checked).
    pub fn name(&self) -> [u8; 4] {
        be32(self.raw.body(), 4).to_be_bytes()
    }

    /// The application data.
    pub fn data(&self) -> &'a [u8] {
        self.raw.body().get(APP_FIXED..).unwrap_or_default()
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

/// A feedback message (RFC 4585): transport-layer (RTPFB: NACK, TMMBR…) or payload-specific
/// (PSFB: PLI, FIR, REMB…), by [`Feedback::fmt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feedback<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> Feedback<'a> {
    /// Generic NACK, an RTPFB `fmt` (RFC 4585 §6.2.1).
    pub const NACK: u8 = 1;
    /// Picture loss indication, a PSFB `fmt` (RFC 4585 §6.3.1).
    pub const PLI: u8 = 1;
    /// Full intra request, a PSFB `fmt` (RFC 5104 §4.3.1).
    pub const FIR: u8 = 4;
    /// Application layer feedback (REMB lives here), a PSFB `fmt` (RFC 4585 §6.4).
    pub const AFB: u8 = 15;

    /// The feedback message type FMT, from the header's count field.
    pub fn fmt(&self) -> u8 {
        self.raw.header.count
    }

    /// The SSRC of the packet's sender.
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.raw.body(), 0)
    }

    /// The SSRC of the media source the feedback is about (0 for some FMTs, such as FIR).
    pub fn media_ssrc(&self) -> u32 {
        be32(self.raw.body(), 4)
    }

    /// The feedback control information, undecoded.
    pub fn fci(&self) -> &'a [u8] {
        self.raw.body().get(FEEDBACK_FIXED..).unwrap_or_default()
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

/// An extended report (RFC 3611): the reporter's SSRC and report blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedReport<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> ExtendedReport<'a> {
    /// The reporter's SSRC.
    pub fn ssrc(&self) -> u32 {
        be32(self.raw.body(), 0)
    }

    /// The report blocks, in order.
    pub fn blocks(&self) -> XrBlocks<'a> {
        XrBlocks { rest: self.raw.body().get(XR_FIXED..).unwrap_or_default() }
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

/// The blocks of an XR packet.
#[derive(Clone, Debug)]
pub struct XrBlocks<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for XrBlocks<'a> {
    type Item = XrBlock<'a>;

    fn next(&mut self) -> Option<XrBlock<'a>> {
        let len = xr_block_len(self.rest)?;
        let block = self.rest.get(..len)?;
        self.rest = self.rest.get(len..).unwrap_or_default();
        let &[block_type, type_specific, ..] = block else {
            return None;
        };
        Some(XrBlock { block_type, type_specific, body: block.get(XR_BLOCK_HEADER..).unwrap_or_default() })
    }
}

/// One XR report block, undecoded past its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XrBlock<'a> {
    /// Block type BT: 1 loss RLE, 2 duplicate RLE, 3 receipt times, 4 receiver reference time,
    /// 5 DLRR, 6 statistics summary, 7 VoIP metrics (RFC 3611 §4), later types by registry.
    pub block_type: u8,
    /// The type-specific octet of the block header.
    pub type_specific: u8,
    /// The block's contents after its 4-octet header.
    pub body: &'a [u8],
}

impl XrBlock<'_> {
    /// Loss run-length encoding (RFC 3611 §4.1).
    pub const LOSS_RLE: u8 = 1;
    /// Duplicate run-length encoding (§4.2).
    pub const DUPLICATE_RLE: u8 = 2;
    /// Packet receipt times (§4.3).
    pub const RECEIPT_TIMES: u8 = 3;
    /// Receiver reference time (§4.4).
    pub const RECEIVER_REFERENCE_TIME: u8 = 4;
    /// Delay since last receiver report (§4.5).
    pub const DLRR: u8 = 5;
    /// Statistics summary (§4.6).
    pub const STATISTICS_SUMMARY: u8 = 6;
    /// VoIP metrics (§4.7).
    pub const VOIP_METRICS: u8 = 7;
}

/// A packet of a type this module does not decode, kept whole for forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unknown<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> Unknown<'a> {
    /// The common header.
    pub fn header(&self) -> Header {
        self.raw.header
    }

    /// The body: after the header, before any padding.
    pub fn body(&self) -> &'a [u8] {
        self.raw.body()
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Error, Packet, PacketType, Rules, parse};
    use super::*;

    #[test]
    fn bye_with_and_without_reason() {
        assert!(bye_fits(&[0, 0, 0, 1], 1));
        assert!(!bye_fits(&[0, 0, 0, 1], 2));
        assert!(bye_fits(&[0, 0, 0, 1, 3, b'e', b'n', b'd'], 1));
        assert!(bye_fits(&[0, 0, 0, 1, 2, b'o', b'k', 0], 1));
        assert!(!bye_fits(&[0, 0, 0, 1, 4, b'e', b'n', b'd'], 1));
        assert!(!bye_fits(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], 1));
        #[rustfmt::skip]
        let buf = [
            0x80, 201, 0, 1, 0, 0, 0, 5,
            0x82, 203, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 6, b'h', b'u', b'n', b'g', b' ', b'u', 0,
        ];
        let c = parse(&buf, Rules::Compound).expect("valid");
        let Some(Packet::Bye(bye)) = c.packets().nth(1) else { panic!("BYE") };
        assert_eq!(bye.sources().collect::<Vec<_>>(), [5, 6]);
        assert_eq!(bye.reason(), Some(&b"hung u"[..]));
        assert!(!format!("{bye:?}").contains("hung"));
    }

    #[test]
    fn feedback_app_and_xr_fields() {
        #[rustfmt::skip]
        let buf = [
            0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2,                // PLI from 1 about 2
            0x83, 204, 0, 3, 0, 0, 0, 1, b'q', b'o', b's', b'!', 9, 9, 9, 9, // APP subtype 3
            0x80, 207, 0, 5, 0, 0, 0, 1,                            // XR from 1
            4, 0, 0, 2, 0xE0, 0, 0, 1, 0x80, 0, 0, 0,               // RRT block
            9, 7, 0, 0,                                             // unknown empty block
        ];
        let c = parse(&buf, Rules::ReducedSize).expect("valid");
        let packets: Vec<Packet<'_>> = c.packets().collect();
        let Packet::PsFb(pli) = packets[0] else { panic!("PSFB") };
        assert_eq!(
            (pli.fmt(), pli.sender_ssrc(), pli.media_ssrc(), pli.fci()),
            (Feedback::PLI, 1, 2, &[][..])
        );
        let Packet::App(app) = packets[1] else { panic!("APP") };
        assert_eq!((app.subtype(), app.ssrc(), &app.name(), app.data()), (3, 1, b"qos!", &[9, 9, 9, 9][..]));
        let Packet::Xr(xr) = packets[2] else { panic!("XR") };
        let blocks: Vec<XrBlock<'_>> = xr.blocks().collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!((blocks[0].block_type, blocks[0].body.len()), (XrBlock::RECEIVER_REFERENCE_TIME, 8));
        assert_eq!((blocks[1].block_type, blocks[1].type_specific, blocks[1].body), (9, 7, &[][..]));
        assert_eq!(packets.iter().map(Packet::ssrc).collect::<Vec<_>>(), [Some(1); 3]);
    }

    #[test]
    fn short_fixed_fields_are_refused() {
        let pli = [0x81, 206, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            parse(&pli, Rules::ReducedSize),
            Err(Error::BadLength { offset: 0, packet_type: PacketType::PSFB })
        );
        // XR whose block says 2 words but has 1.
        let xr = [0x80, 207, 0, 3, 0, 0, 0, 1, 4, 0, 0, 2, 0, 0, 0, 0];
        assert_eq!(
            parse(&xr, Rules::ReducedSize),
            Err(Error::BadLength { offset: 0, packet_type: PacketType::XR })
        );
        // An unknown type is taken as it is.
        let ij = [0x81, 195, 0, 1, 0, 0, 0, 1];
        let c = parse(&ij, Rules::ReducedSize).expect("valid");
        let Some(Packet::Other(u)) = c.packets().next() else { panic!("other") };
        assert_eq!((u.header().packet_type, u.body()), (PacketType(195), &[0, 0, 0, 1][..]));
    }
}
