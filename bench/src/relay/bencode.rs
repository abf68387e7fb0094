//! A small bencode encoder and decoder, enough for rtpengine's "ng" control protocol.
//!
//! The bench keeps its own copy so that it can drive any relay without depending on the product's
//! ng module (written elsewhere). Dictionaries keep their pairs in a `Vec` and are sorted by key
//! when encoded, as bencode requires.

/// Deepest nesting the decoder accepts: ng messages are two or three levels deep.
const MAX_DEPTH: usize = 32;

/// One bencode value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i<digits>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l…e`
    List(Vec<Value>),
    /// `d…e`, keys are byte strings.
    Dict(Vec<(Vec<u8>, Value)>),
}

/// Why a byte string is not bencode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended inside a value.
    #[error("bencode: input ends inside a value")]
    Truncated,
    /// A byte that cannot start or continue a value here.
    #[error("bencode: unexpected byte at offset {0}")]
    Unexpected(usize),
    /// An integer or length that does not fit.
    #[error("bencode: number out of range at offset {0}")]
    Range(usize),
    /// Nesting deeper than the decoder accepts.
    #[error("bencode: nested too deeply")]
    TooDeep,
}

impl Value {
    /// A byte-string value from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Dict(pairs.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect())
    }

    /// A list of byte strings.
    pub fn str_list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::str(s)).collect())
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(items) => {
                out.push(b'l');
                for v in items {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(pairs) => {
                let mut sorted: Vec<&(Vec<u8>, Value)> = pairs.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'd');
                for (k, v) in sorted {
                    Value::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one value from the start of `input`; returns it and the bytes it took.
    pub fn decode(input: &[u8]) -> Result<(Value, usize), Error> {
        let mut pos = 0;
        let v = decode_at(input, &mut pos, 0)?;
        Ok((v, pos))
    }

    /// The value under `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a byte string (lossy).
    pub fn as_str(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
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
}

fn byte(input: &[u8], pos: usize) -> Result<u8, Error> {
    input.get(pos).copied().ok_or(Error::Truncated)
}

/// Reads ASCII digits (with an optional leading '-' when `signed`) up to `end`.
fn number(input: &[u8], pos: &mut usize, end: u8, signed: bool) -> Result<i64, Error> {
    let start = *pos;
    let mut neg = false;
    if signed && byte(input, *pos)? == b'-' {
        neg = true;
        *pos += 1;
    }
    let digits_at = *pos;
    let mut v: i64 = 0;
    loop {
        let c = byte(input, *pos)?;
        if c == end {
            break;
        }
        if !c.is_ascii_digit() {
            return Err(Error::Unexpected(*pos));
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add(i64::from(c - b'0'))).ok_or(Error::Range(start))?;
        *pos += 1;
    }
    if *pos == digits_at {
        return Err(Error::Unexpected(*pos));
    }
    *pos += 1; // the terminator
    Ok(if neg { -v } else { v })
}

fn decode_at(input: &[u8], pos: &mut usize, depth: usize) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    match byte(input, *pos)? {
        b'i' => {
            *pos += 1;
            Ok(Value::Int(number(input, pos, b'e', true)?))
        }
        b'0'..=b'9' => {
            let at = *pos;
            let len = usize::try_from(number(input, pos, b':', false)?).map_err(|_| Error::Range(at))?;
            let end = pos.checked_add(len).ok_or(Error::Range(at))?;
            let b = input.get(*pos..end).ok_or(Error::Truncated)?.to_vec();
            *pos = end;
            Ok(Value::Bytes(b))
        }
        b'l' => {
            *pos += 1;
            let mut items = Vec::new();
            while byte(input, *pos)? != b'e' {
                items.push(decode_at(input, pos, depth + 1)?);
            }
            *pos += 1;
            Ok(Value::List(items))
        }
        b'd' => {
            *pos += 1;
            let mut pairs = Vec::new();
            while byte(input, *pos)? != b'e' {
                let key = match decode_at(input, pos, depth + 1)? {
                    Value::Bytes(k) => k,
                    _ => return Err(Error::Unexpected(*pos)),
                };
                let v = decode_at(input, pos, depth + 1)?;
                pairs.push((key, v));
            }
            *pos += 1;
            Ok(Value::Dict(pairs))
        }
        _ => Err(Error::Unexpected(*pos)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorts_keys() {
        let v = Value::dict([
            ("sdp", Value::str("v=0\r\n")),
            ("command", Value::str("offer")),
            ("flags", Value::str_list(&["detect DTMF"])),
            ("delay-buffer", Value::Int(-20)),
        ]);
        let b = v.to_bytes();
        assert_eq!(
            b,
            b"d7:command5:offer12:delay-bufferi-20e5:flagsl11:detect DTMFe3:sdp5:v=0\r\ne".to_vec()
        );
        let (back, used) = Value::decode(&b).expect("decodes");
        assert_eq!(used, b.len());
        assert_eq!(back.get("command").and_then(|c| c.as_str()).as_deref(), Some("offer"));
        assert_eq!(back.get("delay-buffer").and_then(Value::as_int), Some(-20));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [&b""[..], b"i12", b"5:ab", b"d3:keyi1e", b"x", b"i-e", b"99999999999999999999:", b"l"] {
            assert!(Value::decode(bad).is_err(), "{bad:?}");
        }
        let deep = vec![b'l'; 100];
        assert_eq!(Value::decode(&deep), Err(Error::TooDeep));
    }
}
