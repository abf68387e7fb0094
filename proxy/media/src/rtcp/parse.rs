//! The compound-packet parser: checks once, then hands out views that cannot fail.

use super::other::{self, App, Bye, ExtendedReport, Feedback, Unknown};
use super::report::{self, ReceiverReport, SenderReport};
use super::sdes::{self, Sdes};
use super::{Error, Header, PacketType, Rules};

/// A checked compound (or reduced-size) RTCP packet. Iterate [`Compound::packets`] for its
/// packets in order. Borrows the datagram; allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compound<'a> {
    bytes: &'a [u8],
}

/// Checks a datagram as RTCP under `rules` (see the [module docs](super) for every check) and
/// returns it as a [`Compound`], or the first fault found.
pub fn parse(bytes: &[u8], rules: Rules) -> Result<Compound<'_>, Error> {
    validate(bytes, rules)?;
    Ok(Compound { bytes })
}

pub(super) fn validate(bytes: &[u8], rules: Rules) -> Result<(), Error> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = bytes.get(offset..).unwrap_or_default();
        let Some(&[b0, b1, b2, b3]) = rest.get(..Header::LEN) else {
            return Err(Error::Truncated { offset, needed: Header::LEN, available: rest.len() });
        };
        let version = b0 >> 6;
        if version != Header::VERSION {
            return Err(Error::BadVersion { offset, version });
        }
        let header = Header::from_bytes([b0, b1, b2, b3]);
        let len = header.packet_len();
        let Some(packet) = rest.get(..len) else {
            return Err(Error::Truncated { offset, needed: len, available: rest.len() });
        };
        let first = offset == 0;
        let last = len == rest.len();
        if first && rules == Rules::Compound {
            if !matches!(header.packet_type, PacketType::SR | PacketType::RR) {
                return Err(Error::NotReportFirst { packet_type: header.packet_type });
            }
            if header.padding {
                return Err(Error::BadPadding { offset });
            }
        }
        if header.padding && !last {
            return Err(Error::BadPadding { offset });
        }
        let Some(content) = content_len(packet, header) else {
            return Err(Error::BadPadding { offset });
        };
        let body = packet.get(Header::LEN..content).unwrap_or_default();
        if !body_fits(header, body) {
            return Err(Error::BadLength { offset, packet_type: header.packet_type });
        }
        offset += len;
    }
    Ok(())
}

/// Octets of `packet` before its padding, or `None` when the padding count is zero or eats
/// into the header.
pub(super) fn content_len(packet: &[u8], header: Header) -> Option<usize> {
    if !header.padding {
        return Some(packet.len());
    }
    let pad = usize::from(*packet.last()?);
    (pad > 0 && pad <= packet.len() - Header::LEN).then(|| packet.len() - pad)
}

/// Whether a packet's body (after the header, before padding) holds what its header says.
fn body_fits(header: Header, body: &[u8]) -> bool {
    let count = usize::from(header.count);
    match header.packet_type {
        PacketType::SR => body.len() >= report::SR_FIXED + count * report::BLOCK_LEN,
        PacketType::RR => body.len() >= report::RR_FIXED + count * report::BLOCK_LEN,
        PacketType::SDES => sdes::fits(body, count),
        PacketType::BYE => other::bye_fits(body, count),
        PacketType::APP => body.len() >= other::APP_FIXED,
        PacketType::RTPFB | PacketType::PSFB => body.len() >= other::FEEDBACK_FIXED,
        PacketType::XR => other::xr_fits(body),
        _ => true,
    }
}

impl<'a> Compound<'a> {
    /// A view of octets that passed [`validate`] (and were at most edited in place since).
    pub(super) fn from_checked(bytes: &'a [u8]) -> Compound<'a> {
        Compound { bytes }
    }

    /// The packets, in order.
    pub fn packets(&self) -> Packets<'a> {
        Packets { rest: self.bytes }
    }

    /// The whole datagram.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The SSRC of the first packet (the sender of the compound, for SR/RR-led compounds).
    pub fn ssrc(&self) -> Option<u32> {
        self.packets().next().and_then(|p| p.ssrc())
    }

    /// The first CNAME in the compound's SDES packets, if any.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.packets().find_map(|p| match p {
            Packet::Sdes(s) => s.chunks().find_map(|c| c.cname()),
            _ => None,
        })
    }
}

/// The packets of a [`Compound`], in order.
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = Packet<'a>;

    fn next(&mut self) -> Option<Packet<'a>> {
        let &[b0, b1, b2, b3, ..] = self.rest else {
            return None;
        };
        let header = Header::from_bytes([b0, b1, b2, b3]);
        let len = header.packet_len().min(self.rest.len());
        let (packet, rest) = self.rest.split_at(len);
        self.rest = rest;
        let content = content_len(packet, header).unwrap_or(len);
        Some(Packet::new(Raw { bytes: packet, content, header }))
    }
}

/// One packet of a compound, as the type its header names. Each variant is a view over the
/// packet's octets; [`Packet::bytes`] gives them whole, for forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet<'a> {
    /// Sender report.
    Sr(SenderReport<'a>),
    /// Receiver report.
    Rr(ReceiverReport<'a>),
    /// Source description.
    Sdes(Sdes<'a>),
    /// Goodbye.
    Bye(Bye<'a>),
    /// Application-defined.
    App(App<'a>),
    /// Transport-layer feedback (RFC 4585).
    RtpFb(Feedback<'a>),
    /// Payload-specific feedback (RFC 4585).
    PsFb(Feedback<'a>),
    /// Extended report (RFC 3611).
    Xr(ExtendedReport<'a>),
    /// Any other type (IJ, RSI, IDMS…): header and body only.
    Other(Unknown<'a>),
}

impl<'a> Packet<'a> {
    pub(super) fn new(raw: Raw<'a>) -> Packet<'a> {
        match raw.header.packet_type {
            PacketType::SR => Packet::Sr(SenderReport { raw }),
            PacketType::RR => Packet::Rr(ReceiverReport { raw }),
            PacketType::SDES => Packet::Sdes(Sdes { raw }),
            PacketType::BYE => Packet::Bye(Bye { raw }),
            PacketType::APP => Packet::App(App { raw }),
            PacketType::RTPFB => Packet::RtpFb(Feedback { raw }),
            PacketType::PSFB => Packet::PsFb(Feedback { raw }),
            PacketType::XR => Packet::Xr(ExtendedReport { raw }),
            _ => Packet::Other(Unknown { raw }),
        }
    }

    fn raw(&self) -> &Raw<'a> {
        match self {
            Packet::Sr(p) => &p.raw,
            Packet::Rr(p) => &p.raw,
            Packet::Sdes(p) => &p.raw,
            Packet::Bye(p) => &p.raw,
            Packet::App(p) => &p.raw,
            Packet::RtpFb(p) | Packet::PsFb(p) => &p.raw,
            Packet::Xr(p) => &p.raw,
            Packet::Other(p) => &p.raw,
        }
    }

    /// The common header.
    pub fn header(&self) -> Header {
        self.raw().header
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        self.raw().header.packet_type
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw().bytes
    }

    /// The packet's body: after the header, before any padding.
    pub fn body(&self) -> &'a [u8] {
        self.raw().body()
    }

    /// The SSRC of the packet's sender, for the types that start with one (SR, RR, APP,
    /// RTPFB, PSFB, XR); SDES and BYE name sources in their chunks and lists instead.
    pub fn ssrc(&self) -> Option<u32> {
        match self {
            Packet::Sr(_)
            | Packet::Rr(_)
            | Packet::App(_)
            | Packet::RtpFb(_)
            | Packet::PsFb(_)
            | Packet::Xr(_) => Some(super::be32(self.body(), 0)),
            _ => None,
        }
    }
}

/// The octets of one checked packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Raw<'a> {
    /// The whole packet, padding included.
    pub(super) bytes: &'a [u8],
    /// Octets before the padding.
    pub(super) content: usize,
    pub(super) header: Header,
}

impl<'a> Raw<'a> {
    pub(super) fn body(&self) -> &'a [u8] {
        self.bytes.get(Header::LEN..self.content).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A minimal RR (no blocks) from SSRC 1, and an SDES chunk for SSRC 1 with CNAME "ab".
    const RR: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0, 1];
    const SDES: [u8; 12] = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, b'a', b'b'];

    fn sdes_terminated() -> [u8; 16] {
        // The chunk needs its null item: 4 (ssrc) + 2 + 2 + 1 null → 12, padded to 12 → length 3.
        [0x81, 202, 0, 3, 0, 0, 0, 1, 1, 2, b'a', b'b', 0, 0, 0, 0]
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn a_compound_walks_in_order() {
        let sdes = sdes_terminated();
        let buf = cat(&[&RR, &sdes]);
        let c = parse(&buf, Rules::Compound).expect("valid");
        let types: Vec<PacketType> = c.packets().map(|p| p.packet_type()).collect();
        assert_eq!(types, [PacketType::RR, PacketType::SDES]);
        assert_eq!(c.ssrc(), Some(1));
        assert_eq!(c.cname(), Some(&b"ab"[..]));
        let bytes: Vec<&[u8]> = c.packets().map(|p| p.bytes()).collect();
        assert_eq!(bytes, [&RR[..], &sdes[..]]);
    }

    #[test]
    fn refuses_what_a2_refuses() {
        assert_eq!(parse(&[], Rules::Compound), Err(Error::Empty));
        // Version 1.
        let mut v1 = RR;
        v1[0] = 0x40;
        assert_eq!(parse(&v1, Rules::Compound), Err(Error::BadVersion { offset: 0, version: 1 }));
        // Second packet's version wrong.
        let mut second = sdes_terminated();
        second[0] = 0xC1;
        assert_eq!(
            parse(&cat(&[&RR, &second]), Rules::Compound),
            Err(Error::BadVersion { offset: 8, version: 3 })
        );
        // First packet not SR/RR.
        let sdes = sdes_terminated();
        assert_eq!(
            parse(&sdes, Rules::Compound),
            Err(Error::NotReportFirst { packet_type: PacketType::SDES })
        );
        assert!(parse(&sdes, Rules::ReducedSize).is_ok());
        // Length says more than there is; trailing octets that are no header.
        assert_eq!(
            parse(&RR[..6], Rules::Compound),
            Err(Error::Truncated { offset: 0, needed: 8, available: 6 })
        );
        assert_eq!(
            parse(&cat(&[&RR, &[0x80, 201]]), Rules::Compound),
            Err(Error::Truncated { offset: 8, needed: 4, available: 2 })
        );
        assert_eq!(
            parse(&SDES, Rules::Compound),
            Err(Error::NotReportFirst { packet_type: PacketType::SDES })
        );
        // The SDES chunk lacks its terminating null item.
        assert_eq!(
            parse(&cat(&[&RR, &SDES]), Rules::Compound),
            Err(Error::BadLength { offset: 8, packet_type: PacketType::SDES })
        );
    }

    #[test]
    fn padding_only_on_the_last_packet() {
        // An RR padded by 4 octets (count 4), then nothing: fine as reduced-size, not as the
        // first packet of a full compound (A.2 wants P clear there).
        let padded = [0xA0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4];
        assert_eq!(parse(&padded, Rules::Compound), Err(Error::BadPadding { offset: 0 }));
        let c = parse(&padded, Rules::ReducedSize).expect("valid");
        let p = c.packets().next().expect("one");
        assert_eq!((p.bytes().len(), p.body().len()), (12, 4));
        // Padding on the SDES that ends the compound: fine.
        let mut sdes = sdes_terminated().to_vec();
        sdes[0] |= 0x20;
        sdes[3] += 1;
        sdes.extend_from_slice(&[0, 0, 0, 4]);
        let buf = cat(&[&RR, &sdes]);
        let c = parse(&buf, Rules::Compound).expect("valid");
        assert_eq!(c.cname(), Some(&b"ab"[..]));
        // The same padded SDES followed by another packet: refused.
        let buf = cat(&[&RR, &sdes, &RR]);
        assert_eq!(parse(&buf, Rules::Compound), Err(Error::BadPadding { offset: 8 }));
        // Count zero, or larger than the body.
        for count in [0, 9] {
            let p = [0xA0, 201, 0, 1, 0, 0, 0, count];
            assert_eq!(parse(&p, Rules::ReducedSize), Err(Error::BadPadding { offset: 0 }));
        }
    }

    #[test]
    fn report_counts_must_fit() {
        // RR claiming one block but holding none.
        let rr = [0x81, 201, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            parse(&rr, Rules::Compound),
            Err(Error::BadLength { offset: 0, packet_type: PacketType::RR })
        );
        // SR without its sender info.
        let sr = [0x80, 200, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            parse(&sr, Rules::Compound),
            Err(Error::BadLength { offset: 0, packet_type: PacketType::SR })
        );
    }
}
