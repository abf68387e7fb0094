//! RFC 2198 redundant audio (`audio/red`), as far as telephone-events need it.
//!
//! Senders that fear loss wrap each telephone-event payload in RED, repeating earlier reports
//! in the same packet. The payload starts with one header per block and then the blocks' data:
//!
//! ```text
//!  redundant block header (4 octets)          primary header (1 octet)
//!  |F=1| block PT | timestamp offset | length |    |F=0| block PT |
//!    1      7            14              10          1      7
//! ```
//!
//! A redundant block's timestamp is the packet's timestamp minus its offset; the primary block
//! takes the packet's timestamp and whatever data is left. The same report arriving once as
//! redundancy and once as primary is one report: the receiver dedupes it like any repeat.

use super::Error;

/// Octets in a redundant block header.
const REDUNDANT_HEADER: usize = 4;
/// Largest timestamp offset a header can carry (14 bits).
pub const MAX_OFFSET: u16 = (1 << 14) - 1;
/// Largest redundant block a header can describe (10 bits).
pub const MAX_BLOCK_LEN: usize = (1 << 10) - 1;

/// One block of a RED payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// The block's payload type.
    pub pt: u8,
    /// The block's RTP timestamp: the packet's minus the offset (wrapping).
    pub timestamp: u32,
    /// The timestamp offset from the header; 0 for the primary block.
    pub offset: u16,
    /// The block's data.
    pub payload: &'a [u8],
    /// Whether this is the primary (newest, last) block.
    pub primary: bool,
}

/// A checked RED payload. Iterate it (or call [`RedPayload::blocks`]) for the blocks in packet
/// order, redundant ones first and the primary last. Borrows the payload; allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct RedPayload<'a> {
    headers: &'a [u8],
    data: &'a [u8],
    timestamp: u32,
}

/// Checks the headers of a RED payload carried in a packet with RTP timestamp `timestamp`.
///
/// Every header must lie inside the payload, there must be a primary header, and the redundant
/// blocks' lengths must fit in what follows the headers; otherwise nothing is returned, so a
/// caller never acts on half a packet.
pub fn parse(payload: &[u8], timestamp: u32) -> Result<RedPayload<'_>, Error> {
    let mut i = 0;
    let mut needed = 0usize;
    loop {
        let Some(&first) = payload.get(i) else {
            return Err(Error::RedHeaderTruncated);
        };
        if first & 0x80 == 0 {
            i += 1;
            break;
        }
        let Some(h) = payload.get(i..i + REDUNDANT_HEADER) else {
            return Err(Error::RedHeaderTruncated);
        };
        needed += block_len(h);
        i += REDUNDANT_HEADER;
    }
    let (headers, data) = payload.split_at(i);
    if needed > data.len() {
        return Err(Error::RedBlockTruncated { needed, available: data.len() });
    }
    Ok(RedPayload { headers, data, timestamp })
}

fn block_len(h: &[u8]) -> usize {
    match *h {
        [_, _, b2, b3, ..] => (usize::from(b2 & 0x03) << 8) | usize::from(b3),
        _ => 0,
    }
}

fn block_offset(h: &[u8]) -> u16 {
    match *h {
        [_, b1, b2, ..] => (u16::from(b1) << 6) | u16::from(b2 >> 2),
        _ => 0,
    }
}

impl<'a> RedPayload<'a> {
    /// The blocks in packet order.
    pub fn blocks(&self) -> RedBlocks<'a> {
        RedBlocks { headers: self.headers, data: self.data, timestamp: self.timestamp }
    }

    /// Number of blocks, the primary included.
    pub fn len(&self) -> usize {
        // Checked in `parse`: redundant headers are 4 octets, the primary header 1.
        self.headers.len().saturating_sub(1) / REDUNDANT_HEADER + 1
    }

    /// Always false: a checked payload has a primary block, possibly of zero octets.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl<'a> IntoIterator for RedPayload<'a> {
    type Item = RedBlock<'a>;
    type IntoIter = RedBlocks<'a>;

    fn into_iter(self) -> RedBlocks<'a> {
        self.blocks()
    }
}

/// Iterator over the blocks of a [`RedPayload`].
#[derive(Clone, Debug)]
pub struct RedBlocks<'a> {
    headers: &'a [u8],
    data: &'a [u8],
    timestamp: u32,
}

impl<'a> Iterator for RedBlocks<'a> {
    type Item = RedBlock<'a>;

    fn next(&mut self) -> Option<RedBlock<'a>> {
        let &first = self.headers.first()?;
        if first & 0x80 == 0 {
            self.headers = &[];
            return Some(RedBlock {
                pt: first & 0x7F,
                timestamp: self.timestamp,
                offset: 0,
                payload: core::mem::take(&mut self.data),
                primary: true,
            });
        }
        let h = self.headers.get(..REDUNDANT_HEADER)?;
        let len = block_len(h).min(self.data.len());
        let offset = block_offset(h);
        let (payload, rest) = self.data.split_at(len);
        self.data = rest;
        self.headers = self.headers.get(REDUNDANT_HEADER..).unwrap_or(&[]);
        Some(RedBlock {
            pt: first & 0x7F,
            timestamp: self.timestamp.wrapping_sub(u32::from(offset)),
            offset,
            payload,
            primary: false,
        })
    }
}

/// A redundant block to write with [`write()`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedundantBlock<'a> {
    /// The block's payload type (0–127).
    pub pt: u8,
    /// How far the block's timestamp lies before the packet's (at most [`MAX_OFFSET`]).
    pub offset: u32,
    /// The block's data (at most [`MAX_BLOCK_LEN`] octets).
    pub payload: &'a [u8],
}

/// Writes a RED payload: `redundant` blocks (oldest first, as senders list them), then the
/// primary block. Returns the octets written.
pub fn write(
    redundant: &[RedundantBlock<'_>],
    primary_pt: u8,
    primary: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    if primary_pt > 0x7F {
        return Err(Error::PayloadTypeTooLarge { pt: primary_pt });
    }
    let mut needed = 1 + primary.len();
    for b in redundant {
        if b.pt > 0x7F {
            return Err(Error::PayloadTypeTooLarge { pt: b.pt });
        }
        if b.offset > u32::from(MAX_OFFSET) {
            return Err(Error::RedOffsetTooLarge { offset: b.offset });
        }
        if b.payload.len() > MAX_BLOCK_LEN {
            return Err(Error::RedBlockTooLong { len: b.payload.len() });
        }
        needed += REDUNDANT_HEADER + b.payload.len();
    }
    let Some(out) = out.get_mut(..needed) else {
        return Err(Error::BufferTooSmall { needed });
    };
    let mut at = 0;
    for b in redundant {
        // Bounds were checked above; the casts cannot truncate.
        let offset = b.offset as u16;
        let len = b.payload.len() as u16;
        out[at..at + REDUNDANT_HEADER].copy_from_slice(&[
            0x80 | b.pt,
            (offset >> 6) as u8,
            (((offset & 0x3F) as u8) << 2) | ((len >> 8) as u8 & 0x03),
            len as u8,
        ]);
        at += REDUNDANT_HEADER;
    }
    out[at] = primary_pt;
    at += 1;
    for b in redundant {
        out[at..at + b.payload.len()].copy_from_slice(b.payload);
        at += b.payload.len();
    }
    out[at..at + primary.len()].copy_from_slice(primary);
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_2198_example_layout() {
        // RFC 2198 §3 example shape: one redundant block (PT 0, offset 0x3FFF, 4 octets) and a
        // primary of PT 101 with 4 octets.
        let payload = [
            0x80, 0xFF, 0xFC, 0x04, // F=1, PT 0, offset 0x3FFF, len 4
            101,  // F=0, PT 101
            1, 2, 3, 4, // redundant data
            5, 6, 7, 8, // primary data
        ];
        let red = parse(&payload, 100_000).expect("valid");
        assert_eq!(red.len(), 2);
        let blocks: Vec<RedBlock<'_>> = red.blocks().collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].pt, 0);
        assert_eq!(blocks[0].offset, 0x3FFF);
        assert_eq!(blocks[0].timestamp, 100_000 - 0x3FFF);
        assert_eq!(blocks[0].payload, &[1, 2, 3, 4]);
        assert!(!blocks[0].primary);
        assert_eq!(blocks[1].pt, 101);
        assert_eq!(blocks[1].timestamp, 100_000);
        assert_eq!(blocks[1].payload, &[5, 6, 7, 8]);
        assert!(blocks[1].primary);
    }

    #[test]
    fn timestamps_wrap() {
        let mut buf = [0u8; 16];
        let n = write(
            &[RedundantBlock { pt: 101, offset: 320, payload: &[1, 2, 3, 4] }],
            101,
            &[5, 6, 7, 8],
            &mut buf,
        )
        .expect("fits");
        let red = parse(&buf[..n], 100).expect("valid");
        let first = red.blocks().next().expect("a block");
        assert_eq!(first.timestamp, 100u32.wrapping_sub(320));
    }

    #[test]
    fn write_then_parse_round_trips() {
        let a = [9u8; 4];
        let b = [7u8; 8];
        let redundant = [
            RedundantBlock { pt: 101, offset: 640, payload: &a },
            RedundantBlock { pt: 101, offset: 320, payload: &b },
        ];
        let mut buf = [0u8; 64];
        let n = write(&redundant, 101, &[1, 2, 3, 4], &mut buf).expect("fits");
        assert_eq!(n, 4 + 4 + 1 + 4 + 8 + 4);
        let red = parse(&buf[..n], 10_000).expect("valid");
        let got: Vec<(u8, u32, &[u8], bool)> =
            red.into_iter().map(|b| (b.pt, b.timestamp, b.payload, b.primary)).collect();
        assert_eq!(
            got,
            vec![
                (101, 10_000 - 640, &a[..], false),
                (101, 10_000 - 320, &b[..], false),
                (101, 10_000, &[1u8, 2, 3, 4][..], true),
            ]
        );
    }

    #[test]
    fn refuses_truncated_headers_and_blocks() {
        assert_eq!(parse(&[], 0).err(), Some(Error::RedHeaderTruncated));
        // A redundant header cut short.
        assert_eq!(parse(&[0x80, 0, 0], 0).err(), Some(Error::RedHeaderTruncated));
        // Redundant headers only, no primary header.
        assert_eq!(parse(&[0x80, 0, 0, 0], 0).err(), Some(Error::RedHeaderTruncated));
        // A block longer than the data.
        assert_eq!(
            parse(&[0x80, 0, 0, 8, 101, 1, 2, 3], 0).err(),
            Some(Error::RedBlockTruncated { needed: 8, available: 3 })
        );
        // A lone primary header is valid, with an empty primary block.
        let red = parse(&[101], 0).expect("valid");
        let only = red.blocks().next().expect("primary");
        assert!(only.primary && only.payload.is_empty());
    }

    #[test]
    fn writer_checks_field_widths() {
        let mut buf = [0u8; 2048];
        let long = [0u8; MAX_BLOCK_LEN + 1];
        let block = |pt, offset, payload| RedundantBlock { pt, offset, payload };
        assert_eq!(
            write(&[block(101, 1 << 14, &[])], 101, &[], &mut buf),
            Err(Error::RedOffsetTooLarge { offset: 1 << 14 })
        );
        assert_eq!(
            write(&[block(101, 0, &long)], 101, &[], &mut buf),
            Err(Error::RedBlockTooLong { len: 1024 })
        );
        assert_eq!(
            write(&[block(128, 0, &[])], 101, &[], &mut buf),
            Err(Error::PayloadTypeTooLarge { pt: 128 })
        );
        assert_eq!(write(&[], 200, &[], &mut buf), Err(Error::PayloadTypeTooLarge { pt: 200 }));
        assert_eq!(write(&[], 101, &[1, 2, 3, 4], &mut buf[..4]), Err(Error::BufferTooSmall { needed: 5 }));
    }
}
