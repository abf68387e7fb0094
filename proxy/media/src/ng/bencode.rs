//! Bencode, the encoding of rtpengine's ng control protocol: a borrowed decoder and an encoder.
//!
//! ```text
//!  bytes ──decode──► Value<'a> { Bytes(&'a [u8]) | Int(i64) | List(Vec) | Dict(Dict) }
//!  Value ──encode──► bytes          Encoder ──► bytes (replies, without building a Value)
//! ```
//!
//! Byte strings borrow from the input: decoding a request allocates only the vectors that hold
//! list items and dictionary entries, never a copy of a string (the SDP in an `offer` is the
//! largest item and stays where the datagram put it).
//!
//! # Strict and lenient
//!
//! The decoder accepts exactly the canonical encoding of each item: no leading zeros in
//! integers or lengths, no `i-0e`, no empty integer, nothing after the top-level item. It is
//! therefore a bijection on what it accepts: encoding a decoded value gives back the input
//! octets, which the fuzz target checks. Limits on input length, nesting depth and item count
//! bound the work and memory any datagram can cost.
//!
//! It is lenient on one rule of the bencode specification: dictionary keys need not be sorted
//! or unique. Kamailio and rtpengine both write keys in the order they add them (rtpengine's
//! docs say so), so a strict decoder would refuse every real request. Entries keep their wire
//! order and duplicates, so that the round trip stays exact; [`Dict::get`] returns the first.
//!
//! # What this module does not do
//!
//! No JSON (rtpengine also accepts a JSON document; the Kamailio and OpenSIPS modules send
//! bencode), no streaming over several buffers, no interpretation of what the values mean
//! (that is [`super::command`]). Errors carry offsets and limits, never input octets.

use std::fmt;

/// A decoded bencode item, borrowing its byte strings from the input.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// A byte string (`4:spam`). Not necessarily UTF-8.
    Bytes(&'a [u8]),
    /// An integer (`i42e`).
    Int(i64),
    /// A list (`l…e`).
    List(Vec<Value<'a>>),
    /// A dictionary (`d…e`), entries in wire order.
    Dict(Dict<'a>),
}

/// A bencode dictionary: entries in the order they appeared, duplicates kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Dict<'a> {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the first entry whose key is `key`, compared octet for octet.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Appends an entry (keys are neither sorted nor deduplicated).
    pub fn push(&mut self, key: &'a [u8], value: Value<'a>) {
        self.entries.push((key, value));
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &Value<'a>)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// Number of entries, duplicates included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, moved out in order.
    pub fn into_entries(self) -> Vec<(&'a [u8], Value<'a>)> {
        self.entries
    }
}

impl<'a> FromIterator<(&'a [u8], Value<'a>)> for Dict<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a [u8], Value<'a>)>>(iter: I) -> Self {
        Self { entries: iter.into_iter().collect() }
    }
}

impl<'a> Value<'a> {
    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// A short name of the item's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bytes(_) => "string",
            Value::Int(_) => "integer",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }

    /// Appends the canonical encoding (dictionary entries in stored order) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut enc = Encoder::new(out);
        enc.value(self);
    }

    /// The length in octets of [`Value::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        match self {
            Value::Bytes(b) => decimal_len(b.len() as u64) + 1 + b.len(),
            Value::Int(i) => 2 + usize::from(*i < 0) + decimal_len(i.unsigned_abs()),
            Value::List(l) => 2 + l.iter().map(Value::encoded_len).sum::<usize>(),
            Value::Dict(d) => {
                2 + d
                    .iter()
                    .map(|(k, v)| decimal_len(k.len() as u64) + 1 + k.len() + v.encoded_len())
                    .sum::<usize>()
            }
        }
    }
}

/// Byte strings print escaped and cut short: a `Value` may hold an SDP body, and SDP can carry
/// SRTP keys (`a=crypto`), so `Debug` never shows more than the first few octets of a string.
impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bytes(b) if b.len() <= DEBUG_BYTES => write!(f, "\"{}\"", b.escape_ascii()),
            Value::Bytes(b) => write!(f, "<{} octets>", b.len()),
            Value::Int(i) => write!(f, "{i}"),
            Value::List(l) => f.debug_list().entries(l).finish(),
            Value::Dict(d) => fmt::Debug::fmt(d, f),
        }
    }
}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, v)| (k.escape_ascii().to_string(), v))).finish()
    }
}

/// Byte strings longer than this print as their length only (see `Debug for Value`).
const DEBUG_BYTES: usize = 64;

/// Bounds on what [`decode_with`] accepts, so that no input costs more than they allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest input in octets. The default, 65 535, is the largest UDP payload.
    pub max_len: usize,
    /// Deepest nesting of lists and dictionaries; the top-level item is depth 1. The default,
    /// 16, is well above what ng uses (a `codec` dictionary of lists is depth 3).
    pub max_depth: usize,
    /// Most items in total (every string, integer, list, dictionary and key counts one). The
    /// default, 8192, keeps a decoded datagram's vectors to a few hundred KiB.
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_len: 65_535, max_depth: 16, max_items: 8192 }
    }
}

/// Why an input is not one canonical bencode item. Offsets count from the start of the input
/// given to [`decode`]; no variant carries input octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than [`Limits::max_len`].
    #[error("bencode input of {len} octets exceeds the limit of {max}")]
    TooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends inside an item (or is empty).
    #[error("bencode input ends early at offset {offset}")]
    UnexpectedEnd {
        /// Where more input was needed.
        offset: usize,
    },
    /// An octet that cannot start or continue an item here.
    #[error("unexpected octet at offset {offset}")]
    UnexpectedByte {
        /// Offset of the octet.
        offset: usize,
    },
    /// An integer or string length with a leading zero (`i03e`, `03:abc`): not canonical.
    #[error("leading zero at offset {offset}")]
    LeadingZero {
        /// Offset of the zero.
        offset: usize,
    },
    /// `i-0e`: negative zero is not canonical.
    #[error("negative zero at offset {offset}")]
    NegativeZero {
        /// Offset of the `-`.
        offset: usize,
    },
    /// An integer with no digits (`ie`, `i-e`).
    #[error("integer without digits at offset {offset}")]
    EmptyInteger {
        /// Offset of the `i`.
        offset: usize,
    },
    /// An integer outside `i64`, or a string length beyond the input.
    #[error("number out of range at offset {offset}")]
    OutOfRange {
        /// Offset of the number's first digit.
        offset: usize,
    },
    /// A dictionary key that is not a byte string.
    #[error("dictionary key at offset {offset} is not a string")]
    NonStringKey {
        /// Offset of the key.
        offset: usize,
    },
    /// Lists and dictionaries nest deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {max} at offset {offset}")]
    TooDeep {
        /// Offset of the list or dictionary that went too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// More items than [`Limits::max_items`].
    #[error("more than {max} items (at offset {offset})")]
    TooManyItems {
        /// Offset of the first item over the limit.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// Octets after the top-level item.
    #[error("trailing data at offset {offset}")]
    TrailingData {
        /// Offset of the first octet after the item.
        offset: usize,
    },
}

impl DecodeError {
    /// The offset the error names (none for [`DecodeError::TooLong`], which is about the
    /// whole input).
    pub fn offset(&self) -> Option<usize> {
        match *self {
            DecodeError::TooLong { .. } => None,
            DecodeError::UnexpectedEnd { offset }
            | DecodeError::UnexpectedByte { offset }
            | DecodeError::LeadingZero { offset }
            | DecodeError::NegativeZero { offset }
            | DecodeError::EmptyInteger { offset }
            | DecodeError::OutOfRange { offset }
            | DecodeError::NonStringKey { offset }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::TooManyItems { offset, .. }
            | DecodeError::TrailingData { offset } => Some(offset),
        }
    }
}

/// Decodes exactly one item filling all of `input`, with the default [`Limits`].
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    decode_with(input, &Limits::default())
}

/// Decodes exactly one item filling all of `input`, within `limits`.
pub fn decode_with<'a>(input: &'a [u8], limits: &Limits) -> Result<Value<'a>, DecodeError> {
    if input.len() > limits.max_len {
        return Err(DecodeError::TooLong { len: input.len(), max: limits.max_len });
    }
    let mut d = Decoder { input, pos: 0, items: 0, limits };
    let value = d.value(1)?;
    if d.pos != input.len() {
        return Err(DecodeError::TrailingData { offset: d.pos });
    }
    Ok(value)
}

struct Decoder<'a, 'l> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    limits: &'l Limits,
}

impl<'a> Decoder<'a, '_> {
    fn peek(&self) -> Result<u8, DecodeError> {
        self.input.get(self.pos).copied().ok_or(DecodeError::UnexpectedEnd { offset: self.pos })
    }

    fn count(&mut self) -> Result<(), DecodeError> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(DecodeError::TooManyItems { offset: self.pos, max: self.limits.max_items });
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        self.count()?;
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            c @ (b'l' | b'd') => {
                if depth > self.limits.max_depth {
                    return Err(DecodeError::TooDeep { offset: self.pos, max: self.limits.max_depth });
                }
                self.pos += 1;
                if c == b'l' { self.list(depth).map(Value::List) } else { self.dict(depth).map(Value::Dict) }
            }
            _ => Err(DecodeError::UnexpectedByte { offset: self.pos }),
        }
    }

    fn list(&mut self, depth: usize) -> Result<Vec<Value<'a>>, DecodeError> {
        let mut items = Vec::new();
        while self.peek()? != b'e' {
            items.push(self.value(depth + 1)?);
        }
        self.pos += 1;
        Ok(items)
    }

    fn dict(&mut self, depth: usize) -> Result<Dict<'a>, DecodeError> {
        let mut entries = Vec::new();
        loop {
            match self.peek()? {
                b'e' => break,
                b'0'..=b'9' => {}
                _ => return Err(DecodeError::NonStringKey { offset: self.pos }),
            }
            self.count()?;
            let key = self.bytes()?;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        self.pos += 1;
        Ok(Dict { entries })
    }

    /// Reads canonical decimal digits up to `end`, returning the magnitude; the caller has
    /// checked that at least one digit is due.
    fn digits(&mut self, end: u8) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut n: u64 = 0;
        loop {
            let c = self.peek()?;
            match c {
                b'0'..=b'9' => {
                    if self.pos > start && n == 0 {
                        // A digit after a leading zero.
                        return Err(DecodeError::LeadingZero { offset: start });
                    }
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(c - b'0')))
                        .ok_or(DecodeError::OutOfRange { offset: start })?;
                    self.pos += 1;
                }
                _ if c == end && self.pos > start => {
                    self.pos += 1;
                    return Ok(n);
                }
                _ => return Err(DecodeError::UnexpectedByte { offset: self.pos }),
            }
        }
    }

    fn int(&mut self) -> Result<i64, DecodeError> {
        let at = self.pos;
        self.pos += 1; // 'i'
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        if !self.peek()?.is_ascii_digit() {
            return Err(if self.peek()? == b'e' {
                DecodeError::EmptyInteger { offset: at }
            } else {
                DecodeError::UnexpectedByte { offset: self.pos }
            });
        }
        let digits_at = self.pos;
        let magnitude = self.digits(b'e')?;
        if negative {
            if magnitude == 0 {
                return Err(DecodeError::NegativeZero { offset: digits_at - 1 });
            }
            // i64::MIN's magnitude is one more than i64::MAX.
            0i64.checked_sub_unsigned(magnitude).ok_or(DecodeError::OutOfRange { offset: digits_at })
        } else {
            i64::try_from(magnitude).map_err(|_| DecodeError::OutOfRange { offset: digits_at })
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let len = self.digits(b':')?;
        let rest = self.input.len() - self.pos;
        let len =
            usize::try_from(len).ok().filter(|&l| l <= rest).ok_or(DecodeError::OutOfRange { offset: at })?;
        let s = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(s)
    }
}

/// Writes bencode into a caller's buffer: replies are written this way without building a
/// [`Value`] first. The caller balances every `begin_*` with an [`Encoder::end`] and, inside a
/// dictionary, alternates keys and values; the encoder does not check.
pub struct Encoder<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Encoder<'o> {
    /// An encoder appending to `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out }
    }

    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.uint(b.len() as u64);
        self.out.push(b':');
        self.out.extend_from_slice(b);
        self
    }

    /// An integer.
    pub fn int(&mut self, i: i64) -> &mut Self {
        self.out.push(b'i');
        if i < 0 {
            self.out.push(b'-');
        }
        self.uint(i.unsigned_abs());
        self.out.push(b'e');
        self
    }

    /// Starts a list.
    pub fn begin_list(&mut self) -> &mut Self {
        self.out.push(b'l');
        self
    }

    /// Starts a dictionary.
    pub fn begin_dict(&mut self) -> &mut Self {
        self.out.push(b'd');
        self
    }

    /// Ends the innermost list or dictionary.
    pub fn end(&mut self) -> &mut Self {
        self.out.push(b'e');
        self
    }

    /// A dictionary entry whose value is a byte string.
    pub fn entry_bytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
        self.bytes(key.as_bytes()).bytes(value)
    }

    /// A dictionary entry whose value is an integer.
    pub fn entry_int(&mut self, key: &str, value: i64) -> &mut Self {
        self.bytes(key.as_bytes()).int(value)
    }

    /// Any decoded value.
    pub fn value(&mut self, v: &Value<'_>) -> &mut Self {
        match v {
            Value::Bytes(b) => self.bytes(b),
            Value::Int(i) => self.int(*i),
            Value::List(l) => {
                self.begin_list();
                for item in l {
                    self.value(item);
                }
                self.end()
            }
            Value::Dict(d) => {
                self.begin_dict();
                for (k, v) in d.iter() {
                    self.bytes(k).value(v);
                }
                self.end()
            }
        }
    }

    fn uint(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[i..]);
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) -> Value<'_> {
        let v = decode(input).unwrap_or_else(|e| panic!("{:?}: {e}", input.escape_ascii().to_string()));
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, input, "encode(decode(x)) == x");
        assert_eq!(v.encoded_len(), input.len());
        v
    }

    #[test]
    fn decodes_each_type() {
        assert_eq!(round_trip(b"4:spam"), Value::Bytes(b"spam"));
        assert_eq!(round_trip(b"0:"), Value::Bytes(b""));
        assert_eq!(round_trip(b"i0e"), Value::Int(0));
        assert_eq!(round_trip(b"i-42e"), Value::Int(-42));
        assert_eq!(round_trip(b"i9223372036854775807e"), Value::Int(i64::MAX));
        assert_eq!(round_trip(b"i-9223372036854775808e"), Value::Int(i64::MIN));
        assert_eq!(round_trip(b"le"), Value::List(vec![]));
        assert_eq!(round_trip(b"l4:spami7ee"), Value::List(vec![Value::Bytes(b"spam"), Value::Int(7)]));
        let d = round_trip(b"d3:cow3:moo4:spaml1:a1:bee");
        let d = d.as_dict().expect("dict");
        assert_eq!(d.get(b"cow"), Some(&Value::Bytes(b"moo")));
        assert_eq!(d.get(b"spam").and_then(Value::as_list).map(<[_]>::len), Some(2));
        assert_eq!(d.get(b"nope"), None);
    }

    #[test]
    fn the_ping_from_rtpengine_docs() {
        let v = round_trip(b"d7:command4:pinge");
        assert_eq!(v.as_dict().and_then(|d| d.get(b"command")), Some(&Value::Bytes(b"ping")));
    }

    #[test]
    fn unsorted_and_duplicate_keys_are_kept_in_order() {
        let v = round_trip(b"d1:bi1e1:ai2e1:bi3ee");
        let d = v.as_dict().expect("dict");
        let keys: Vec<&[u8]> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [&b"b"[..], b"a", b"b"]);
        assert_eq!(d.get(b"b"), Some(&Value::Int(1)), "get returns the first");
    }

    #[test]
    fn refuses_non_canonical_numbers() {
        assert_eq!(decode(b"i03e"), Err(DecodeError::LeadingZero { offset: 1 }));
        assert_eq!(decode(b"i-03e"), Err(DecodeError::LeadingZero { offset: 2 }));
        assert_eq!(decode(b"i00e"), Err(DecodeError::LeadingZero { offset: 1 }));
        assert_eq!(decode(b"i-0e"), Err(DecodeError::NegativeZero { offset: 1 }));
        assert_eq!(decode(b"ie"), Err(DecodeError::EmptyInteger { offset: 0 }));
        assert_eq!(decode(b"i-e"), Err(DecodeError::EmptyInteger { offset: 0 }));
        assert_eq!(decode(b"i+1e"), Err(DecodeError::UnexpectedByte { offset: 1 }));
        assert_eq!(decode(b"i1-e"), Err(DecodeError::UnexpectedByte { offset: 2 }));
        assert_eq!(decode(b"i9223372036854775808e"), Err(DecodeError::OutOfRange { offset: 1 }));
        assert_eq!(decode(b"i-9223372036854775809e"), Err(DecodeError::OutOfRange { offset: 2 }));
        assert_eq!(decode(b"i99999999999999999999999e"), Err(DecodeError::OutOfRange { offset: 1 }));
        assert_eq!(decode(b"03:abc"), Err(DecodeError::LeadingZero { offset: 0 }));
        assert_eq!(decode(b"00:"), Err(DecodeError::LeadingZero { offset: 0 }));
    }

    #[test]
    fn refuses_truncated_and_malformed_input() {
        assert_eq!(decode(b""), Err(DecodeError::UnexpectedEnd { offset: 0 }));
        assert_eq!(decode(b"i42"), Err(DecodeError::UnexpectedEnd { offset: 3 }));
        assert_eq!(decode(b"5:spam"), Err(DecodeError::OutOfRange { offset: 0 }));
        assert_eq!(decode(b"4spam"), Err(DecodeError::UnexpectedByte { offset: 1 }));
        assert_eq!(decode(b"99999999999999999999999:"), Err(DecodeError::OutOfRange { offset: 0 }));
        assert_eq!(decode(b"l4:spam"), Err(DecodeError::UnexpectedEnd { offset: 7 }));
        assert_eq!(decode(b"d3:cowe"), Err(DecodeError::UnexpectedByte { offset: 6 }));
        assert_eq!(decode(b"di1ei2ee"), Err(DecodeError::NonStringKey { offset: 1 }));
        assert_eq!(decode(b"dle"), Err(DecodeError::NonStringKey { offset: 1 }));
        assert_eq!(decode(b"x"), Err(DecodeError::UnexpectedByte { offset: 0 }));
        assert_eq!(decode(b"e"), Err(DecodeError::UnexpectedByte { offset: 0 }));
    }

    #[test]
    fn refuses_trailing_data_naming_its_offset() {
        assert_eq!(decode(b"d7:command4:pingee"), Err(DecodeError::TrailingData { offset: 17 }));
        assert_eq!(decode(b"d7:command4:pinge\n"), Err(DecodeError::TrailingData { offset: 17 }));
        assert_eq!(decode(b"i1ei2e"), Err(DecodeError::TrailingData { offset: 3 }));
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits { max_len: 10, max_depth: 2, max_items: 4 };
        assert_eq!(decode_with(b"ll0:ee", &limits).map(|v| v.encoded_len()), Ok(6));
        assert_eq!(decode_with(b"lllee", &limits), Err(DecodeError::TooDeep { offset: 2, max: 2 }));
        assert_eq!(decode_with(b"li1ei2ei3ee", &limits), Err(DecodeError::TooLong { len: 11, max: 10 }));
        assert_eq!(
            decode_with(b"li1ei2ei3e", &Limits { max_len: 100, ..limits }).err(),
            Some(DecodeError::UnexpectedEnd { offset: 10 })
        );
        assert_eq!(
            decode_with(b"li1ei2ei3ei4ee", &Limits { max_len: 100, ..limits }),
            Err(DecodeError::TooManyItems { offset: 10, max: 4 })
        );
        // Dictionary keys count as items.
        assert_eq!(
            decode_with(b"d1:ai1e1:bi2ee", &Limits { max_len: 100, ..limits }),
            Err(DecodeError::TooManyItems { offset: 10, max: 4 })
        );
        // The default depth limit stops a datagram of nested lists long before the stack.
        let deep = [&[b'l'; 10_000][..], &[b'e'; 10_000][..]].concat();
        assert!(matches!(decode(&deep), Err(DecodeError::TooDeep { max: 16, .. })));
    }

    #[test]
    fn encoder_writes_what_the_decoder_reads() {
        let mut out = Vec::new();
        Encoder::new(&mut out)
            .begin_dict()
            .entry_bytes("result", b"ok")
            .entry_int("created", 1_700_000_000)
            .entry_int("neg", -5)
            .bytes(b"l")
            .begin_list()
            .int(0)
            .bytes(b"")
            .end()
            .end();
        assert_eq!(out, b"d6:result2:ok7:createdi1700000000e3:negi-5e1:lli0e0:ee");
        round_trip(&out);
    }

    #[test]
    fn debug_hides_long_strings() {
        let sdp =
            b"v=0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
        let mut input = format!("d3:sdp{}:", sdp.len()).into_bytes();
        input.extend_from_slice(sdp);
        input.push(b'e');
        let v = decode(&input).expect("valid");
        let shown = format!("{v:?}");
        assert!(!shown.contains("inline"), "{shown}");
        assert!(shown.contains(&format!("<{} octets>", sdp.len())), "{shown}");
    }
}
