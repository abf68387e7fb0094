//! Sender and receiver reports (RFC 3550 §6.4): sender info and report blocks.
//!
//! ```text
//!  SR: header | SSRC of sender | NTP (8) | RTP ts | packet count | octet count | blocks | ext
//!  RR: header | SSRC of sender |                                               | blocks | ext
//!  report block (24 octets):
//!  | SSRC of source | fraction lost (8) cumulative lost (24, signed) | extended highest seq |
//!  | interarrival jitter | LSR | DLSR |
//! ```
//!
//! Decoding keeps every bit, so a block read and written back gives the same octets.

use super::parse::Raw;
use super::{Header, NtpTime, be32};
use core::slice::ChunksExact;

/// Octets in a report block.
pub(crate) const BLOCK_LEN: usize = 24;
/// Octets of an SR body before its report blocks: SSRC and sender info.
pub(crate) const SR_FIXED: usize = 4 + SenderInfo::LEN;
/// Octets of an RR body before its report blocks: SSRC.
pub(crate) const RR_FIXED: usize = 4;

/// The sender-info section of an SR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SenderInfo {
    /// Wallclock time when the report was sent.
    pub ntp: NtpTime,
    /// The same instant in the stream's RTP timestamp units.
    pub rtp_timestamp: u32,
    /// RTP data packets sent since the start of transmission (wraps).
    pub packet_count: u32,
    /// RTP payload octets sent since the start of transmission (wraps).
    pub octet_count: u32,
}

impl SenderInfo {
    /// Octets in the sender info.
    pub const LEN: usize = 20;

    /// Decodes sender info.
    pub fn from_bytes(b: &[u8; 20]) -> SenderInfo {
        SenderInfo {
            ntp: NtpTime((u64::from(be32(b, 0)) << 32) | u64::from(be32(b, 4))),
            rtp_timestamp: be32(b, 8),
            packet_count: be32(b, 12),
            octet_count: be32(b, 16),
        }
    }

    /// Encodes sender info.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.ntp.0.to_be_bytes());
        b[8..12].copy_from_slice(&self.rtp_timestamp.to_be_bytes());
        b[12..16].copy_from_slice(&self.packet_count.to_be_bytes());
        b[16..].copy_from_slice(&self.octet_count.to_be_bytes());
        b
    }
}

/// One reception report block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Packets lost in the last interval, as a fraction of those expected, in 1/256 units.
    pub fraction_lost: u8,
    /// Packets lost since reception began: expected minus received, so negative when
    /// duplicates outnumber losses. 24 bits on the wire; [`ReportBlock::to_bytes`] clamps to
    /// −2^23 ..= 2^23 − 1 (RFC 3550 A.3).
    pub cumulative_lost: i32,
    /// Highest sequence number received, with the count of wraps in the high 16 bits.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units (RFC 3550 A.8).
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from the source; 0 if none.
    pub lsr: u32,
    /// Delay from receiving that SR to sending this block, in 1/65536 s; 0 if none.
    pub dlsr: u32,
}

impl ReportBlock {
    /// Octets in a block.
    pub const LEN: usize = BLOCK_LEN;
    /// Largest cumulative loss the 24-bit field can carry.
    pub const MAX_CUMULATIVE_LOST: i32 = 0x7F_FFFF;
    /// Smallest (most negative) cumulative loss the field can carry.
    pub const MIN_CUMULATIVE_LOST: i32 = -0x80_0000;

    /// Decodes a block; the cumulative loss is sign-extended from 24 bits.
    pub fn from_bytes(b: &[u8; 24]) -> ReportBlock {
        let lost = be32(b, 4);
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost: ((lost << 8) as i32) >> 8,
            extended_highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            lsr: be32(b, 16),
            dlsr: be32(b, 20),
        }
    }

    /// Encodes the block, clamping the cumulative loss to 24 bits.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..4].copy_from_slice(&self.ssrc.to_be_bytes());
        b[4..8].copy_from_slice(&lost_word(self.fraction_lost, self.cumulative_lost).to_be_bytes());
        b[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        b[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        b[20..].copy_from_slice(&self.dlsr.to_be_bytes());
        b
    }
}

/// The second word of a report block: fraction lost and the clamped 24-bit cumulative loss.
pub(super) fn lost_word(fraction: u8, cumulative: i32) -> u32 {
    let c = cumulative.clamp(ReportBlock::MIN_CUMULATIVE_LOST, ReportBlock::MAX_CUMULATIVE_LOST);
    (u32::from(fraction) << 24) | (c as u32 & 0x00FF_FFFF)
}

/// A sender report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderReport<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> SenderReport<'a> {
    /// The common header; `count` is the number of report blocks.
    pub fn header(&self) -> Header {
        self.raw.header
    }

    /// The sender's SSRC.
    pub fn ssrc(&self) -> u32 {
        be32(self.raw.body(), 0)
    }

    /// The sender info.
    pub fn sender_info(&self) -> SenderInfo {
        match self.raw.body().get(4..SR_FIXED).and_then(|b| <&[u8; 20]>::try_from(b).ok()) {
            Some(b) => SenderInfo::from_bytes(b),
            None => SenderInfo::default(),
        }
    }

    /// The report blocks, as many as the header counts.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        blocks(self.raw.body(), SR_FIXED, self.raw.header.count)
    }

    /// Profile-specific extension octets after the report blocks (RFC 3550 §6.4.1), usually
    /// none.
    pub fn extension(&self) -> &'a [u8] {
        extension(self.raw.body(), SR_FIXED, self.raw.header.count)
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

/// A receiver report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> ReceiverReport<'a> {
    /// The common header; `count` is the number of report blocks.
    pub fn header(&self) -> Header {
        self.raw.header
    }

    /// The reporter's SSRC.
    pub fn ssrc(&self) -> u32 {
        be32(self.raw.body(), 0)
    }

    /// The report blocks, as many as the header counts.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        blocks(self.raw.body(), RR_FIXED, self.raw.header.count)
    }

    /// Profile-specific extension octets after the report blocks, usually none.
    pub fn extension(&self) -> &'a [u8] {
        extension(self.raw.body(), RR_FIXED, self.raw.header.count)
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

fn blocks(body: &[u8], fixed: usize, count: u8) -> ReportBlocks<'_> {
    let end = fixed + usize::from(count) * BLOCK_LEN;
    ReportBlocks { chunks: body.get(fixed..end).unwrap_or_default().chunks_exact(BLOCK_LEN) }
}

fn extension(body: &[u8], fixed: usize, count: u8) -> &[u8] {
    body.get(fixed + usize::from(count) * BLOCK_LEN..).unwrap_or_default()
}

/// The report blocks of an SR or RR, in order.
#[derive(Clone, Debug)]
pub struct ReportBlocks<'a> {
    chunks: ChunksExact<'a, u8>,
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let chunk = self.chunks.next()?;
        <&[u8; 24]>::try_from(chunk).ok().map(ReportBlock::from_bytes)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

#[cfg(test)]
mod tests {
    use super::super::{Packet, Rules, parse};
    use super::*;

    #[test]
    fn cumulative_loss_is_signed_24_bits() {
        let mut raw = [0u8; 24];
        raw[4..8].copy_from_slice(&[0x40, 0xFF, 0xFF, 0xFE]); // 64/256 lost, −2 cumulative
        let b = ReportBlock::from_bytes(&raw);
        assert_eq!((b.fraction_lost, b.cumulative_lost), (64, -2));
        assert_eq!(b.to_bytes(), raw);
        let big = ReportBlock { cumulative_lost: 50_000_000, ..b };
        assert_eq!(&big.to_bytes()[4..8], &[0x40, 0x7F, 0xFF, 0xFF]);
        let small = ReportBlock { cumulative_lost: i32::MIN, ..b };
        assert_eq!(&small.to_bytes()[4..8], &[0x40, 0x80, 0x00, 0x00]);
        assert_eq!(ReportBlock::from_bytes(&small.to_bytes()).cumulative_lost, -0x80_0000);
    }

    #[test]
    fn reads_an_sr_with_a_block_and_an_extension() {
        let info = SenderInfo {
            ntp: NtpTime::new(0xE000_0001, 0x8000_0000),
            rtp_timestamp: 160_000,
            packet_count: 1000,
            octet_count: 160_000,
        };
        let block = ReportBlock {
            ssrc: 0xCAFE,
            fraction_lost: 3,
            cumulative_lost: 17,
            extended_highest_seq: 0x0001_0005,
            jitter: 40,
            lsr: 0x1234_5678,
            dlsr: 0x0001_8000,
        };
        let mut buf = vec![0x81, 200, 0, 13];
        buf.extend_from_slice(&0xBEEFu32.to_be_bytes());
        buf.extend_from_slice(&info.to_bytes());
        buf.extend_from_slice(&block.to_bytes());
        buf.extend_from_slice(&[1, 2, 3, 4]); // profile-specific extension
        assert_eq!(buf.len(), 56);
        let c = parse(&buf, Rules::Compound).expect("valid");
        let Some(Packet::Sr(sr)) = c.packets().next() else { panic!("an SR") };
        assert_eq!(sr.ssrc(), 0xBEEF);
        assert_eq!(sr.sender_info(), info);
        assert_eq!(sr.report_blocks().collect::<Vec<_>>(), [block]);
        assert_eq!(sr.report_blocks().len(), 1);
        assert_eq!(sr.extension(), &[1, 2, 3, 4]);
    }
}
