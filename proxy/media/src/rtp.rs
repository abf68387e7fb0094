//! RTP fixed header (RFC 3550 §5.1), read and patched in place.
//!
//! The relay touches every packet of every call, so this is a view over the caller's bytes:
//! [`RtpHeader::parse`] validates the header and returns the fields and where the payload lies;
//! the `set_*` functions patch a header in place. Nothing is copied or allocated.
//!
//! What it does not do: no header-extension interpretation (RFC 8285 elements are carried
//! through untouched), no CSRC list access beyond its length, no RTCP (see the RTCP module).

use thiserror::Error;

/// Length of the fixed RTP header.
pub const FIXED_HEADER: usize = 12;

/// Why a datagram is not a valid RTP packet.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the fixed header, its CSRC list or its header extension.
    #[error("RTP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("RTP version is not 2")]
    Version,
    /// The padding count is zero or reaches into the header.
    #[error("RTP padding length invalid")]
    Padding,
}

/// The fields of an RTP header, and where its payload lies in the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp, in units of the payload type's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Offset of the payload: fixed header, CSRCs and extension.
    pub payload_offset: usize,
    /// Payload length, padding excluded.
    pub payload_len: usize,
    /// Padding octets at the end (0 when the P bit is clear).
    pub padding: usize,
}

impl RtpHeader {
    /// Validates `packet` as an RTP packet and reads its header.
    pub fn parse(packet: &[u8]) -> Result<RtpHeader, RtpError> {
        let Some(fixed) = packet.first_chunk::<FIXED_HEADER>() else {
            return Err(RtpError::Truncated);
        };
        if fixed[0] >> 6 != 2 {
            return Err(RtpError::Version);
        }
        let csrc = (fixed[0] & 0x0f) as usize;
        let mut offset = FIXED_HEADER + 4 * csrc;
        if fixed[0] & 0x10 != 0 {
            // Extension: 16-bit profile, 16-bit length in 32-bit words.
            let Some(ext) = packet.get(offset..offset + 4) else {
                return Err(RtpError::Truncated);
            };
            offset += 4 + 4 * u16::from_be_bytes([ext[2], ext[3]]) as usize;
        }
        if offset > packet.len() {
            return Err(RtpError::Truncated);
        }
        let padding = if fixed[0] & 0x20 != 0 {
            let n = packet[packet.len() - 1] as usize;
            if n == 0 || offset + n > packet.len() {
                return Err(RtpError::Padding);
            }
            n
        } else {
            0
        };
        Ok(RtpHeader {
            marker: fixed[1] & 0x80 != 0,
            pt: fixed[1] & 0x7f,
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            payload_offset: offset,
            payload_len: packet.len() - offset - padding,
            padding,
        })
    }

    /// The payload range within the packet.
    pub fn payload(&self) -> core::ops::Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
}

/// Writes the sequence number of the RTP packet in `packet` (at least [`FIXED_HEADER`] long).
#[inline]
pub fn set_seq(packet: &mut [u8], seq: u16) {
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
}

/// Writes the timestamp of the RTP packet in `packet`.
#[inline]
pub fn set_timestamp(packet: &mut [u8], ts: u32) {
    packet[4..8].copy_from_slice(&ts.to_be_bytes());
}

/// Writes the SSRC of the RTP packet in `packet`.
#[inline]
pub fn set_ssrc(packet: &mut [u8], ssrc: u32) {
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Writes a fixed header (version 2, no padding, extension or CSRCs) into `packet[..12]`.
pub fn write_header(packet: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    packet[0] = 0x80;
    packet[1] = (pt & 0x7f) | if marker { 0x80 } else { 0 };
    set_seq(packet, seq);
    set_timestamp(packet, ts);
    set_ssrc(packet, ssrc);
}

/// Whether a datagram on an rtcp-mux port is RTCP rather than RTP (RFC 5761 §4: the second
/// octet of RTCP is a packet type 192–223, which would be RTP payload types 64–95 with the
/// marker set, a range RTP avoids for this reason).
#[inline]
pub fn is_rtcp(packet: &[u8]) -> bool {
    matches!(packet.get(1), Some(192..=223))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, extra: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![first, 0x80 | 8, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef];
        p.extend_from_slice(extra);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn parses_the_fixed_header() {
        let p = packet(0x80, &[], &[1, 2, 3]);
        let h = RtpHeader::parse(&p).expect("valid");
        assert_eq!(
            h,
            RtpHeader {
                marker: true,
                pt: 8,
                seq: 0x1234,
                timestamp: 0x1000,
                ssrc: 0xdead_beef,
                payload_offset: 12,
                payload_len: 3,
                padding: 0
            }
        );
        assert_eq!(&p[h.payload()], &[1, 2, 3]);
    }

    #[test]
    fn skips_csrcs_and_extension_and_padding() {
        // Two CSRCs, an extension of one word, payload 5 octets, padding 3.
        let mut extra = vec![0u8; 8];
        extra.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
        let p = packet(0x80 | 0x20 | 0x10 | 2, &extra, &[7, 7, 7, 7, 7, 0, 0, 3]);
        let h = RtpHeader::parse(&p).expect("valid");
        assert_eq!((h.payload_offset, h.payload_len, h.padding), (12 + 8 + 8, 5, 3));
        assert_eq!(&p[h.payload()], &[7; 5]);
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(RtpHeader::parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(RtpHeader::parse(&packet(0x40, &[], &[])), Err(RtpError::Version));
        // CSRC count beyond the packet.
        assert_eq!(RtpHeader::parse(&packet(0x8f, &[], &[0; 8])), Err(RtpError::Truncated));
        // Extension header cut short, and extension length beyond the packet.
        assert_eq!(RtpHeader::parse(&packet(0x90, &[], &[0xbe])), Err(RtpError::Truncated));
        assert_eq!(RtpHeader::parse(&packet(0x90, &[0xbe, 0xde, 0, 9], &[])), Err(RtpError::Truncated));
        // Padding of zero, and padding reaching into the header.
        assert_eq!(RtpHeader::parse(&packet(0xa0, &[], &[1, 0])), Err(RtpError::Padding));
        assert_eq!(RtpHeader::parse(&packet(0xa0, &[], &[1, 9])), Err(RtpError::Padding));
        // Padding exactly the payload is fine: an empty payload.
        assert_eq!(RtpHeader::parse(&packet(0xa0, &[], &[0, 2])).map(|h| h.payload_len), Ok(0));
    }

    #[test]
    fn patches_in_place() {
        let mut p = packet(0x80, &[], &[1]);
        set_seq(&mut p, 7);
        set_timestamp(&mut p, 99);
        set_ssrc(&mut p, 5);
        let h = RtpHeader::parse(&p).expect("valid");
        assert_eq!((h.seq, h.timestamp, h.ssrc, h.marker, h.pt), (7, 99, 5, true, 8));
        let mut q = [0u8; 12];
        write_header(&mut q, false, 101, 1, 2, 3);
        let h = RtpHeader::parse(&q).expect("valid");
        assert_eq!((h.marker, h.pt, h.seq, h.timestamp, h.ssrc, h.payload_len), (false, 101, 1, 2, 3, 0));
    }

    #[test]
    fn demultiplexes_rtcp() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x80, 201]));
        assert!(!is_rtcp(&[0x80, 0]));
        assert!(!is_rtcp(&[0x80, 0x80 | 101]));
        assert!(!is_rtcp(&[0x80]));
    }
}
