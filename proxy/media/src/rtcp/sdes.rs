//! Source description (RFC 3550 §6.5): chunks of items, each chunk for one source.
//!
//! ```text
//!  chunk: | SSRC/CSRC | type | len | value… | type | len | value… | 0 | 0-pad to 32 bits |
//! ```
//!
//! A chunk's item list ends with a null octet (type 0), followed by more null octets up to the
//! next 32-bit boundary; a chunk with no items is the SSRC and four null octets. Values are
//! personal data (names, e-mail, phone numbers): nothing here prints them.

use super::be32;
use super::parse::Raw;
use core::fmt;

/// Octets of the SSRC/CSRC that opens a chunk.
const CHUNK_SSRC: usize = 4;

/// Whether `body` holds exactly `count` well-formed chunks.
pub(super) fn fits(body: &[u8], count: usize) -> bool {
    let mut pos = 0;
    for _ in 0..count {
        match chunk_end(body, pos) {
            Some(end) => pos = end,
            None => return false,
        }
    }
    pos == body.len()
}

/// Where the chunk starting at `start` ends (a 32-bit boundary), or `None` if it does not end
/// inside `body` or its null padding is not null.
pub(super) fn chunk_end(body: &[u8], start: usize) -> Option<usize> {
    let mut pos = start.checked_add(CHUNK_SSRC)?;
    if pos > body.len() {
        return None;
    }
    loop {
        match *body.get(pos)? {
            0 => {
                let end = (pos + 1).next_multiple_of(4);
                let pad = body.get(pos..end)?;
                return pad.iter().all(|&b| b == 0).then_some(end);
            }
            _ => {
                let len = usize::from(*body.get(pos + 1)?);
                pos += 2 + len;
                if pos > body.len() {
                    return None;
                }
            }
        }
    }
}

/// A source-description packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sdes<'a> {
    pub(super) raw: Raw<'a>,
}

impl<'a> Sdes<'a> {
    /// The chunks, one per source, as many as the header counts.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks { body: self.raw.body(), pos: 0, left: self.raw.header.count }
    }

    /// The packet's octets, header and padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw.bytes
    }
}

/// The chunks of an SDES packet, in order.
#[derive(Clone, Debug)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    pos: usize,
    left: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.left == 0 {
            return None;
        }
        let end = chunk_end(self.body, self.pos)?;
        let chunk = self.body.get(self.pos..end)?;
        self.left -= 1;
        self.pos = end;
        Some(SdesChunk { ssrc: be32(chunk, 0), items: chunk.get(CHUNK_SSRC..).unwrap_or_default() })
    }
}

/// One chunk: a source and its items.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The SSRC or CSRC described.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The chunk's items, in order, up to the null item.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { rest: self.items }
    }

    /// The value of the first CNAME item, if any.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|i| i.kind == SdesItem::CNAME).map(|i| i.value)
    }
}

impl fmt::Debug for SdesChunk<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdesChunk").field("ssrc", &self.ssrc).field("items", &self.items().count()).finish()
    }
}

/// The items of a chunk.
#[derive(Clone, Debug)]
pub struct SdesItems<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (&kind, rest) = self.rest.split_first()?;
        if kind == 0 {
            self.rest = &[];
            return None;
        }
        let (&len, rest) = rest.split_first()?;
        let value = rest.get(..usize::from(len))?;
        self.rest = rest.get(usize::from(len)..).unwrap_or_default();
        Some(SdesItem { kind, value })
    }
}

/// One SDES item. `Debug` shows the type and length, never the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type: 1 CNAME … 8 PRIV (RFC 3550 §6.5), others from later RFCs.
    pub kind: u8,
    /// The value's octets (UTF-8 text for the RFC 3550 types; PRIV keeps its prefix inside).
    pub value: &'a [u8],
}

impl SdesItem<'_> {
    /// Canonical end-point identifier, the one item every compound must carry.
    pub const CNAME: u8 = 1;
    /// User name.
    pub const NAME: u8 = 2;
    /// E-mail address.
    pub const EMAIL: u8 = 3;
    /// Phone number.
    pub const PHONE: u8 = 4;
    /// Geographic location.
    pub const LOC: u8 = 5;
    /// Application or tool name.
    pub const TOOL: u8 = 6;
    /// Notice or status.
    pub const NOTE: u8 = 7;
    /// Private extension.
    pub const PRIV: u8 = 8;
}

impl fmt::Debug for SdesItem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdesItem").field("kind", &self.kind).field("len", &self.value.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Packet, Rules, parse};
    use super::*;

    #[test]
    fn chunk_boundaries() {
        // No items: SSRC and one null word.
        assert!(fits(&[0, 0, 0, 1, 0, 0, 0, 0], 1));
        // Only the SSRC: no terminating null.
        assert!(!fits(&[0, 0, 0, 1], 1));
        // Item ending exactly on a boundary still needs a whole null word after it.
        assert!(!fits(&[0, 0, 0, 1, 1, 2, b'a', b'b'], 1));
        assert!(fits(&[0, 0, 0, 1, 1, 2, b'a', b'b', 0, 0, 0, 0], 1));
        // Non-null padding, octets left over, or a value past the end: refused.
        assert!(!fits(&[0, 0, 0, 1, 1, 0, 0, 5], 1));
        assert!(fits(&[0, 0, 0, 1, 1, 0, 0, 0], 1));
        assert!(fits(&[0, 0, 0, 1, 1, 1, b'a', 0], 1));
        assert!(!fits(&[0, 0, 0, 1, 1, 1, b'a', 0, 0, 0, 0, 0], 1));
        assert!(!fits(&[0, 0, 0, 1, 1, 9, b'a', 0], 1));
        // Zero chunks: empty body only.
        assert!(fits(&[], 0));
        assert!(!fits(&[0, 0, 0, 0], 0));
    }

    #[test]
    fn reads_two_chunks_and_hides_values() {
        #[rustfmt::skip]
        let buf = [
            0x80, 201, 0, 1, 0, 0, 0, 7, // RR from 7
            0x82, 202, 0, 7,
            0, 0, 0, 7, 1, 4, b'u', b'@', b'h', b'x', 6, 1, b't', 0, 0, 0,
            0, 0, 0, 9, 2, 3, b'B', b'o', b'b', 0, 0, 0,
        ];
        let c = parse(&buf, Rules::Compound).expect("valid");
        let Some(Packet::Sdes(s)) = c.packets().nth(1) else { panic!("SDES") };
        let chunks: Vec<SdesChunk<'_>> = s.chunks().collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].ssrc, chunks[0].cname()), (7, Some(&b"u@hx"[..])));
        let items: Vec<(u8, &[u8])> = chunks[0].items().map(|i| (i.kind, i.value)).collect();
        assert_eq!(items, [(SdesItem::CNAME, &b"u@hx"[..]), (SdesItem::TOOL, &b"t"[..])]);
        assert_eq!((chunks[1].ssrc, chunks[1].cname()), (9, None));
        let shown = format!("{:?} {:?}", chunks[1], chunks[1].items().next());
        assert!(!shown.contains("Bob") && !shown.contains("66, 111"), "{shown}");
    }
}
