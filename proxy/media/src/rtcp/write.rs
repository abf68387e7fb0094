//! The writer for the RTCP a relay sends itself: an SR or RR with report blocks, followed by an
//! SDES CNAME, as RFC 3550 §6.1 requires of every compound packet.
//!
//! ```text
//!  Report { ssrc, sender_info: Some(..) } ─► SR(RC) | SSRC | sender info | blocks
//!  Report { ssrc, sender_info: None }     ─► RR(RC) | SSRC |               blocks
//!  cname: Some(..)                        ─►   + SDES(SC=1) | SSRC | CNAME len value | 0-pad
//! ```

use super::report::{BLOCK_LEN, RR_FIXED, ReportBlock, SR_FIXED, SenderInfo};
use super::sdes::SdesItem;
use super::{Error, Header, PacketType};

/// One SR or RR, and the relay's CNAME, to be written as one compound packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report<'a> {
    /// The SSRC the relay sends as.
    pub ssrc: u32,
    /// `Some` for an SR (the relay sent media since its last report), `None` for an RR.
    pub sender_info: Option<SenderInfo>,
    /// Report blocks, at most [`Report::MAX_BLOCKS`].
    pub blocks: &'a [ReportBlock],
    /// The CNAME for an SDES packet after the report; `None` writes the report alone (for
    /// callers that add their own SDES). At most 255 octets.
    pub cname: Option<&'a [u8]>,
}

impl Report<'_> {
    /// Most report blocks one SR or RR carries (the 5-bit count).
    pub const MAX_BLOCKS: usize = 31;

    /// Octets [`Report::write`] writes.
    pub fn len(&self) -> usize {
        let fixed = if self.sender_info.is_some() { SR_FIXED } else { RR_FIXED };
        Header::LEN + fixed + self.blocks.len() * BLOCK_LEN + self.cname.map_or(0, sdes_len)
    }

    /// Always false: a report is at least a header and an SSRC.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the compound packet into the start of `out`; returns the octets written.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, Error> {
        if self.blocks.len() > Self::MAX_BLOCKS {
            return Err(Error::TooManyReportBlocks { count: self.blocks.len() });
        }
        if let Some(cname) = self.cname
            && cname.len() > usize::from(u8::MAX)
        {
            return Err(Error::ItemTooLong { len: cname.len() });
        }
        let needed = self.len();
        let Some(out) = out.get_mut(..needed) else {
            return Err(Error::BufferTooSmall { needed });
        };
        let (packet_type, fixed) = match self.sender_info {
            Some(_) => (PacketType::SR, SR_FIXED),
            None => (PacketType::RR, RR_FIXED),
        };
        let report_len = Header::LEN + fixed + self.blocks.len() * BLOCK_LEN;
        let (report, sdes) = out.split_at_mut(report_len);
        let mut w = Writer { out: report, pos: 0 };
        w.put(&header(packet_type, self.blocks.len(), report_len).to_bytes());
        w.put(&self.ssrc.to_be_bytes());
        if let Some(info) = &self.sender_info {
            w.put(&info.to_bytes());
        }
        for block in self.blocks {
            w.put(&block.to_bytes());
        }
        if let Some(cname) = self.cname {
            let mut w = Writer { out: sdes, pos: 0 };
            w.put(&header(PacketType::SDES, 1, sdes_len(cname)).to_bytes());
            w.put(&self.ssrc.to_be_bytes());
            w.put(&[SdesItem::CNAME, cname.len() as u8]);
            w.put(cname);
            // The null item and its padding: the rest of the packet is already sized for it.
            w.fill_zero();
        }
        Ok(needed)
    }
}

/// Octets of an SDES packet with one chunk holding one CNAME item of `cname`.
fn sdes_len(cname: &[u8]) -> usize {
    // Header, SSRC, type and length octets, the value, at least one null octet, padded.
    Header::LEN + 4 + (2 + cname.len() + 1).next_multiple_of(4)
}

fn header(packet_type: PacketType, count: usize, len: usize) -> Header {
    Header { padding: false, count: count as u8, packet_type, length: (len / 4 - 1) as u16 }
}

/// Appends to a buffer sized beforehand.
struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }

    fn fill_zero(&mut self) {
        if let Some(rest) = self.out.get_mut(self.pos..) {
            rest.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NtpTime, Packet, Rules, parse};
    use super::*;

    fn block(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 12,
            cumulative_lost: -3,
            extended_highest_seq: 0x2_FFFF,
            jitter: 31,
            lsr: 0xAABB_CCDD,
            dlsr: 0x0000_8000,
        }
    }

    #[test]
    fn writes_an_rr_with_cname_byte_for_byte() {
        let blocks = [block(0x0102_0304)];
        let r = Report { ssrc: 0x1122_3344, sender_info: None, blocks: &blocks, cname: Some(b"relay") };
        let mut out = [0xEEu8; 64];
        assert_eq!(r.write(&mut out), Ok(r.len()));
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x81, 201, 0x00, 0x07, 0x11, 0x22, 0x33, 0x44,
            0x01, 0x02, 0x03, 0x04, 12, 0xFF, 0xFF, 0xFD, 0x00, 0x02, 0xFF, 0xFF,
            0x00, 0x00, 0x00, 31, 0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0x00, 0x80, 0x00,
            0x81, 202, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 1, 5, b'r', b'e', b'l', b'a', b'y', 0,
        ];
        assert_eq!(&out[..r.len()], expected);
        assert_eq!(out[r.len()], 0xEE, "nothing written past the end");
    }

    #[test]
    fn an_sr_reads_back() {
        let blocks = [block(1), block(2)];
        let info = SenderInfo {
            ntp: NtpTime::new(0xE100_0000, 0x4000_0000),
            rtp_timestamp: 8000,
            packet_count: 50,
            octet_count: 8000,
        };
        for cname in [None, Some(&b""[..]), Some(&b"abc"[..]), Some(&b"abcd"[..]), Some(&[b'z'; 255][..])] {
            let r = Report { ssrc: 9, sender_info: Some(info), blocks: &blocks, cname };
            let mut out = vec![0u8; r.len()];
            assert_eq!(r.write(&mut out), Ok(out.len()));
            let c = parse(&out, Rules::Compound).expect("what we write parses");
            let Some(Packet::Sr(sr)) = c.packets().next() else { panic!("SR first") };
            assert_eq!((sr.ssrc(), sr.sender_info()), (9, info));
            assert_eq!(sr.report_blocks().collect::<Vec<_>>(), blocks);
            assert_eq!(c.cname(), cname);
            assert_eq!(c.packets().count(), 1 + usize::from(cname.is_some()));
        }
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let blocks = [block(1); 32];
        let r = Report { ssrc: 1, sender_info: None, blocks: &blocks, cname: None };
        assert_eq!(r.write(&mut [0u8; 1024]), Err(Error::TooManyReportBlocks { count: 32 }));
        let long = [b'a'; 256];
        let r = Report { ssrc: 1, sender_info: None, blocks: &[], cname: Some(&long) };
        assert_eq!(r.write(&mut [0u8; 1024]), Err(Error::ItemTooLong { len: 256 }));
        let r = Report { ssrc: 1, sender_info: None, blocks: &blocks[..31], cname: Some(b"x") };
        assert_eq!(r.len(), 8 + 31 * 24 + 12);
        assert_eq!(r.write(&mut [0u8; 100]), Err(Error::BufferTooSmall { needed: r.len() }));
        let mut out = vec![0u8; r.len()];
        assert_eq!(r.write(&mut out), Ok(r.len()));
        assert!(parse(&out, Rules::Compound).is_ok());
    }
}
