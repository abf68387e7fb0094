//! In-place editors: the fields a relay rewrites when it changes a stream on the way.
//!
//! A relay that drops packets toward one side (RFC 4733 events removed toward an agent) and
//! renumbers the rest must make the RTCP agree: the SR it forwards counts the packets and
//! octets the receiver actually gets, and the report blocks coming back speak of the original
//! numbering again. A relay that hides topology rewrites SSRCs. All of that is a fixed-size
//! field overwritten in place: no packet changes length, nothing is copied.
//!
//! ```text
//!  parse_mut(buf) ─► CompoundMut ─ packets() ─► PacketMut ─ sender_report() ─► SenderReportMut
//!                        │                          │                           set_packet_count…
//!                        │                          └ report_blocks() ─► ReportBlockMut
//!                        └ map_ssrcs(f): every SSRC field it knows        set_extended_highest_seq…
//! ```

use super::parse::{self, Packet, Raw, content_len};
use super::report::{BLOCK_LEN, RR_FIXED, ReportBlock, SR_FIXED, SenderInfo, lost_word};
use super::{Compound, Error, Header, NtpTime, PacketType, Rules, be32, other, put32, sdes};
use core::slice::ChunksExactMut;

/// A checked compound RTCP packet in a mutable buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct CompoundMut<'a> {
    bytes: &'a mut [u8],
}

/// Checks `bytes` exactly as [`parse`](super::parse) does and returns it for editing.
pub fn parse_mut(bytes: &mut [u8], rules: Rules) -> Result<CompoundMut<'_>, Error> {
    parse::validate(bytes, rules)?;
    Ok(CompoundMut { bytes })
}

impl<'a> CompoundMut<'a> {
    /// The packets, in order, for editing.
    pub fn packets(&mut self) -> PacketsMut<'_> {
        PacketsMut { rest: &mut *self.bytes }
    }

    /// A read-only view of the (possibly edited) compound.
    pub fn as_compound(&self) -> Compound<'_> {
        // The editors never change a length, count or padding octet, so the check still holds.
        Compound::from_checked(self.bytes)
    }

    /// Replaces every SSRC field by `f(old)`: the sender SSRC of SR, RR, APP, RTPFB, PSFB
    /// and XR; the source of every report block; every SDES chunk; every BYE source; the media
    /// source of feedback (including the 0 some FMTs put there); and the source fields of the
    /// XR blocks of RFC 3611 (loss and duplicate RLE, receipt times, statistics summary, VoIP
    /// metrics, and each DLRR sub-block). SSRCs inside feedback FCI (FIR, TMMBR, REMB) and
    /// unknown XR blocks are left as they are.
    pub fn map_ssrcs(&mut self, mut f: impl FnMut(u32) -> u32) {
        for mut packet in self.packets() {
            packet.map_ssrcs(&mut f);
        }
    }

    /// The whole datagram.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }
}

/// The packets of a [`CompoundMut`], in order.
#[derive(Debug)]
pub struct PacketsMut<'a> {
    rest: &'a mut [u8],
}

impl<'a> Iterator for PacketsMut<'a> {
    type Item = PacketMut<'a>;

    fn next(&mut self) -> Option<PacketMut<'a>> {
        let &[b0, b1, b2, b3, ..] = &*self.rest else {
            return None;
        };
        let header = Header::from_bytes([b0, b1, b2, b3]);
        let rest = core::mem::take(&mut self.rest);
        let len = header.packet_len().min(rest.len());
        let (packet, rest) = rest.split_at_mut(len);
        self.rest = rest;
        let content = content_len(packet, header).unwrap_or(len);
        Some(PacketMut { bytes: packet, content, header })
    }
}

/// One packet of a [`CompoundMut`].
#[derive(Debug, PartialEq, Eq)]
pub struct PacketMut<'a> {
    bytes: &'a mut [u8],
    content: usize,
    header: Header,
}

impl<'a> PacketMut<'a> {
    /// The common header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// A read-only view of the packet as it is now.
    pub fn view(&self) -> Packet<'_> {
        Packet::new(Raw { bytes: self.bytes, content: self.content, header: self.header })
    }

    /// The packet's body for writing: after the header, before any padding.
    fn body_mut(&mut self) -> &mut [u8] {
        self.bytes.get_mut(Header::LEN..self.content).unwrap_or_default()
    }

    /// The sender-report editor, if this packet is an SR.
    pub fn sender_report(&mut self) -> Option<SenderReportMut<'_>> {
        let count = self.header.count;
        (self.header.packet_type == PacketType::SR).then(|| SenderReportMut { body: self.body_mut(), count })
    }

    /// The report blocks of an SR or RR, for editing; none for other types.
    pub fn report_blocks(&mut self) -> ReportBlocksMut<'_> {
        let fixed = match self.header.packet_type {
            PacketType::SR => SR_FIXED,
            PacketType::RR => RR_FIXED,
            _ => return ReportBlocksMut::empty(),
        };
        let count = self.header.count;
        blocks_mut(self.body_mut(), fixed, count)
    }

    /// Rewrites the sender SSRC of an SR, RR, APP, RTPFB, PSFB or XR; returns whether the
    /// packet has one.
    pub fn set_sender_ssrc(&mut self, ssrc: u32) -> bool {
        let has = self.view().ssrc().is_some();
        if has {
            put32(self.body_mut(), 0, ssrc);
        }
        has
    }

    /// Replaces every SSRC field of this packet that [`CompoundMut::map_ssrcs`] lists.
    pub fn map_ssrcs(&mut self, mut f: impl FnMut(u32) -> u32) {
        let header = self.header;
        let count = usize::from(header.count);
        let body = self.body_mut();
        match header.packet_type {
            PacketType::SR | PacketType::RR => {
                let fixed = if header.packet_type == PacketType::SR { SR_FIXED } else { RR_FIXED };
                remap(body, 0, &mut f);
                for i in 0..count {
                    remap(body, fixed + i * BLOCK_LEN, &mut f);
                }
            }
            PacketType::SDES => {
                let mut pos = 0;
                for _ in 0..count {
                    let Some(end) = sdes::chunk_end(body, pos) else { break };
                    remap(body, pos, &mut f);
                    pos = end;
                }
            }
            PacketType::BYE => {
                for i in 0..count {
                    remap(body, 4 * i, &mut f);
                }
            }
            PacketType::APP => remap(body, 0, &mut f),
            PacketType::RTPFB | PacketType::PSFB => {
                remap(body, 0, &mut f);
                remap(body, 4, &mut f);
            }
            PacketType::XR => {
                remap(body, 0, &mut f);
                map_xr_blocks(body, &mut f);
            }
            _ => {}
        }
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }
}

/// Replaces the SSRC at `at` by `f(old)`.
fn remap(body: &mut [u8], at: usize, f: &mut impl FnMut(u32) -> u32) {
    put32(body, at, f(be32(body, at)));
}

/// Maps the source SSRCs inside the XR blocks of `body` (after the reporter's SSRC).
fn map_xr_blocks(body: &mut [u8], f: &mut impl FnMut(u32) -> u32) {
    let mut pos = 4;
    while let Some(len) = body.get(pos..).and_then(other::xr_block_len) {
        let Some(block) = body.get_mut(pos..pos + len) else { break };
        match block.first().copied() {
            // RLE, receipt times, statistics summary and VoIP metrics start with the source.
            Some(1 | 2 | 3 | 6 | 7) if len >= 8 => remap(block, 4, f),
            // DLRR: sub-blocks of SSRC, LRR, DLRR.
            Some(5) => {
                let mut sub = 4;
                while sub + 12 <= len {
                    remap(block, sub, f);
                    sub += 12;
                }
            }
            _ => {}
        }
        pos += len;
    }
}

/// Editor of an SR's sender fields and blocks.
#[derive(Debug, PartialEq, Eq)]
pub struct SenderReportMut<'a> {
    body: &'a mut [u8],
    count: u8,
}

impl SenderReportMut<'_> {
    /// The sender info as it is now.
    pub fn sender_info(&self) -> SenderInfo {
        match self.body.get(4..SR_FIXED).and_then(|b| <&[u8; 20]>::try_from(b).ok()) {
            Some(b) => SenderInfo::from_bytes(b),
            None => SenderInfo::default(),
        }
    }

    /// Rewrites the sender SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        put32(self.body, 0, ssrc);
    }

    /// Rewrites the NTP timestamp.
    pub fn set_ntp(&mut self, ntp: NtpTime) {
        put32(self.body, 4, ntp.seconds());
        put32(self.body, 8, ntp.fraction());
    }

    /// Rewrites the RTP timestamp (a relay that shifts the stream's timestamps must shift this
    /// one too).
    pub fn set_rtp_timestamp(&mut self, ts: u32) {
        put32(self.body, 12, ts);
    }

    /// Rewrites the sender's packet count (packets the receiver is sent, not those the source
    /// sent, once the relay drops some).
    pub fn set_packet_count(&mut self, count: u32) {
        put32(self.body, 16, count);
    }

    /// Rewrites the sender's payload octet count.
    pub fn set_octet_count(&mut self, count: u32) {
        put32(self.body, 20, count);
    }

    /// The SR's report blocks, for editing.
    pub fn report_blocks(&mut self) -> ReportBlocksMut<'_> {
        blocks_mut(self.body, SR_FIXED, self.count)
    }
}

fn blocks_mut(body: &mut [u8], fixed: usize, count: u8) -> ReportBlocksMut<'_> {
    let end = fixed + usize::from(count) * BLOCK_LEN;
    ReportBlocksMut { chunks: body.get_mut(fixed..end).unwrap_or_default().chunks_exact_mut(BLOCK_LEN) }
}

/// The report blocks of an SR or RR, for editing.
#[derive(Debug)]
pub struct ReportBlocksMut<'a> {
    chunks: ChunksExactMut<'a, u8>,
}

impl ReportBlocksMut<'_> {
    fn empty() -> Self {
        ReportBlocksMut { chunks: <&mut [u8]>::default().chunks_exact_mut(BLOCK_LEN) }
    }
}

impl<'a> Iterator for ReportBlocksMut<'a> {
    type Item = ReportBlockMut<'a>;

    fn next(&mut self) -> Option<ReportBlockMut<'a>> {
        let chunk = self.chunks.next()?;
        <&mut [u8; 24]>::try_from(chunk).ok().map(|bytes| ReportBlockMut { bytes })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for ReportBlocksMut<'_> {}

/// Editor of one report block.
#[derive(Debug, PartialEq, Eq)]
pub struct ReportBlockMut<'a> {
    bytes: &'a mut [u8; 24],
}

impl ReportBlockMut<'_> {
    /// The block as it is now.
    pub fn get(&self) -> ReportBlock {
        ReportBlock::from_bytes(self.bytes)
    }

    /// Overwrites the whole block (clamping the cumulative loss to 24 bits).
    pub fn set(&mut self, block: &ReportBlock) {
        *self.bytes = block.to_bytes();
    }

    /// Rewrites the source SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        put32(self.bytes, 0, ssrc);
    }

    /// Rewrites the fraction lost, keeping the cumulative loss.
    pub fn set_fraction_lost(&mut self, fraction: u8) {
        self.bytes[4] = fraction;
    }

    /// Rewrites the cumulative loss (clamped to 24 bits), keeping the fraction lost.
    pub fn set_cumulative_lost(&mut self, lost: i32) {
        let word = lost_word(self.bytes[4], lost);
        put32(self.bytes, 4, word);
    }

    /// Rewrites the extended highest sequence number received.
    pub fn set_extended_highest_seq(&mut self, seq: u32) {
        put32(self.bytes, 8, seq);
    }

    /// Rewrites the interarrival jitter.
    pub fn set_jitter(&mut self, jitter: u32) {
        put32(self.bytes, 12, jitter);
    }

    /// Rewrites LSR and DLSR (a relay that answers SRs itself).
    pub fn set_lsr_dlsr(&mut self, lsr: u32, dlsr: u32) {
        put32(self.bytes, 16, lsr);
        put32(self.bytes, 20, dlsr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    fn sr_sdes_bye() -> Vec<u8> {
        let mut b = vec![0x81, 200, 0, 12, 0, 0, 0, 0x11];
        b.extend_from_slice(&[0xE0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 100, 0, 0, 0x3E, 0x80]);
        b.extend_from_slice(&ReportBlock { ssrc: 0x22, fraction_lost: 5, cumulative_lost: 3,
            extended_highest_seq: 0x1_0010, jitter: 7, lsr: 1, dlsr: 2 }.to_bytes());
        b.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 0x11, 1, 1, b'x', 0]);
        b.extend_from_slice(&[0x81, 203, 0, 1, 0, 0, 0, 0x11]);
        b
    }

    #[test]
    fn rewrites_sender_counts_and_block_fields() {
        let mut buf = sr_sdes_bye();
        let mut c = parse_mut(&mut buf, Rules::Compound).expect("valid");
        for mut p in c.packets() {
            if let Some(mut sr) = p.sender_report() {
                assert_eq!(sr.sender_info().packet_count, 100);
                sr.set_packet_count(97);
                sr.set_octet_count(15_520);
                for mut b in sr.report_blocks() {
                    b.set_extended_highest_seq(0x1_000D);
                    b.set_cumulative_lost(-1);
                }
            }
        }
        let c = c.as_compound();
        let Some(Packet::Sr(sr)) = c.packets().next() else { panic!("SR") };
        let info = sr.sender_info();
        assert_eq!((info.packet_count, info.octet_count), (97, 15_520));
        let block = sr.report_blocks().next().expect("a block");
        assert_eq!(
            (block.extended_highest_seq, block.cumulative_lost, block.fraction_lost),
            (0x1_000D, -1, 5)
        );
        assert_eq!((block.jitter, block.lsr, block.dlsr), (7, 1, 2));
    }

    #[test]
    fn maps_every_ssrc_and_back() {
        let original = sr_sdes_bye();
        let mut buf = original.clone();
        let mut c = parse_mut(&mut buf, Rules::Compound).expect("valid");
        c.map_ssrcs(|s| s ^ 0xA5A5_0000);
        let ssrcs: Vec<u32> = {
            let c = c.as_compound();
            let mut v = Vec::new();
            for p in c.packets() {
                match p {
                    Packet::Sr(sr) => {
                        v.push(sr.ssrc());
                        v.extend(sr.report_blocks().map(|b| b.ssrc));
                    }
                    Packet::Sdes(s) => v.extend(s.chunks().map(|c| c.ssrc)),
                    Packet::Bye(b) => v.extend(b.sources()),
                    _ => {}
                }
            }
            v
        };
        assert_eq!(ssrcs, [0xA5A5_0011, 0xA5A5_0022, 0xA5A5_0011, 0xA5A5_0011]);
        assert_eq!(c.as_compound().cname(), Some(&b"x"[..]));
        c.map_ssrcs(|s| s ^ 0xA5A5_0000);
        assert_eq!(c.bytes(), &original[..]);
    }

    #[test]
    fn maps_xr_and_feedback_sources() {
        #[rustfmt::skip]
        let mut buf = vec![
            0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0,    // NACK from 1 about 2
            0x80, 207, 0, 7, 0, 0, 0, 1,                            // XR from 1
            5, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 9,         // DLRR about 3
            7, 0, 0, 1, 0, 0, 0, 4,                                 // (short) VoIP metrics about 4
        ];
        let mut c = parse_mut(&mut buf, Rules::ReducedSize).expect("valid");
        let mut seen = Vec::new();
        c.map_ssrcs(|s| {
            seen.push(s);
            s + 100
        });
        assert_eq!(seen, [1, 2, 1, 3, 4]);
        // LRR/DLRR and the NACK FCI untouched.
        assert_eq!(&c.bytes()[12..16], &[0, 5, 0, 0]);
        assert_eq!(&c.bytes()[32..40], &[0, 0, 0, 9, 0, 0, 0, 9]);
        let mut packets = c.packets();
        let mut nack = packets.next().expect("NACK");
        assert!(nack.set_sender_ssrc(7));
        assert_eq!(nack.view().ssrc(), Some(7));
        assert_eq!(nack.report_blocks().count(), 0);
        assert!(nack.sender_report().is_none());
    }
}
