//! Bencode (BEP 3), strict: integers and string lengths in canonical form (no leading zeros,
//! no `-0`), dictionary keys sorted and unique, the whole input consumed, nesting bounded.
//! What BEP 3 calls "strings" are byte strings.

use std::collections::BTreeMap;
use std::ops::Range;

/// The deepest nesting accepted (lists and dictionaries).
pub const MAX_DEPTH: usize = 64;

/// A bencoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys in order.
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why bytes are not (strict) bencode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    /// The input ended inside a value.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte {byte:#04x} at {at}")]
    Unexpected {
        /// The byte.
        byte: u8,
        /// Where.
        at: usize,
    },
    /// An integer or length with a leading zero, `-0`, no digits, or out of range.
    #[error("non-canonical or out-of-range number at {0}")]
    Number(usize),
    /// Dictionary keys not in strictly increasing order (unsorted or repeated).
    #[error("dictionary keys unsorted or repeated at {0}")]
    KeyOrder(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Bytes after the value.
    #[error("trailing bytes at {0}")]
    Trailing(usize),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The byte string as UTF-8 text, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(dict) => Some(dict),
            _ => None,
        }
    }

    /// `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?.get(key.as_bytes())
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(bytes) => encode_bytes(bytes, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(dict) => {
                out.push(b'd');
                for (key, value) in dict {
                    encode_bytes(key, out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// A byte string value from text.
pub fn text(value: &str) -> Value {
    Value::Bytes(value.as_bytes().to_vec())
}

/// Where each top-level dictionary value's encoding lies, by key.
pub type Spans = BTreeMap<Vec<u8>, Range<usize>>;

/// Decodes exactly one value filling all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, BencodeError> {
    let (value, used) = decode_prefix(input)?;
    if used != input.len() {
        return Err(BencodeError::Trailing(used));
    }
    Ok(value)
}

/// Decodes one value at the start of `input`; returns it and the bytes it took (a peer wire
/// message may carry data after a bencoded dictionary, as BEP 9's do).
pub fn decode_prefix(input: &[u8]) -> Result<(Value, usize), BencodeError> {
    let mut decoder = Decoder {
        input,
        at: 0,
        spans: None,
    };
    let value = decoder.value(0)?;
    Ok((value, decoder.at))
}

/// Decodes a dictionary filling all of `input` and also returns where each top-level
/// value's encoding lies in `input` (the info-hash is the SHA-1 of the `info` value's bytes
/// exactly as they are in the file).
pub fn decode_with_spans(input: &[u8]) -> Result<(Value, Spans), BencodeError> {
    let mut decoder = Decoder {
        input,
        at: 0,
        spans: Some(BTreeMap::new()),
    };
    let value = decoder.value(0)?;
    if decoder.at != input.len() {
        return Err(BencodeError::Trailing(decoder.at));
    }
    Ok((value, decoder.spans.unwrap_or_default()))
}

struct Decoder<'a> {
    input: &'a [u8],
    at: usize,
    spans: Option<Spans>,
}

impl Decoder<'_> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input
            .get(self.at)
            .copied()
            .ok_or(BencodeError::Truncated(self.at))
    }

    fn value(&mut self, depth: usize) -> Result<Value, BencodeError> {
        if depth > MAX_DEPTH {
            return Err(BencodeError::TooDeep);
        }
        match self.peek()? {
            b'i' => {
                self.at += 1;
                let n = self.number(b'e', true)?;
                Ok(Value::Int(n))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?.to_vec())),
            b'l' => {
                self.at += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.at += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.at += 1;
                let top = depth == 0;
                let mut dict = BTreeMap::new();
                let mut last: Option<Vec<u8>> = None;
                while self.peek()? != b'e' {
                    let key_at = self.at;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(BencodeError::Unexpected {
                            byte: self.peek()?,
                            at: self.at,
                        });
                    }
                    let key = self.bytes()?.to_vec();
                    if last.as_ref().is_some_and(|last| *last >= key) {
                        return Err(BencodeError::KeyOrder(key_at));
                    }
                    let start = self.at;
                    let value = self.value(depth + 1)?;
                    if top {
                        if let Some(spans) = self.spans.as_mut() {
                            spans.insert(key.clone(), start..self.at);
                        }
                    }
                    last = Some(key.clone());
                    dict.insert(key, value);
                }
                self.at += 1;
                Ok(Value::Dict(dict))
            }
            byte => Err(BencodeError::Unexpected { byte, at: self.at }),
        }
    }

    /// A canonical decimal number ending at `end` (which is consumed).
    fn number(&mut self, end: u8, signed: bool) -> Result<i64, BencodeError> {
        let start = self.at;
        let negative = signed && self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let digits_at = self.at;
        let mut value: i64 = 0;
        loop {
            let byte = self.peek()?;
            if byte == end {
                break;
            }
            if !byte.is_ascii_digit() {
                return Err(BencodeError::Unexpected { byte, at: self.at });
            }
            let digit = i64::from(byte - b'0');
            value = value
                .checked_mul(10)
                .and_then(|v| {
                    if negative {
                        v.checked_sub(digit)
                    } else {
                        v.checked_add(digit)
                    }
                })
                .ok_or(BencodeError::Number(start))?;
            self.at += 1;
        }
        let digits = &self.input[digits_at..self.at];
        let leading_zero = digits.len() > 1 && digits[0] == b'0';
        let minus_zero = negative && digits == b"0";
        let canonical = !digits.is_empty() && !leading_zero && !minus_zero;
        if !canonical {
            return Err(BencodeError::Number(start));
        }
        self.at += 1;
        Ok(value)
    }

    fn bytes(&mut self) -> Result<&[u8], BencodeError> {
        let start = self.at;
        let len = self.number(b':', false)?;
        let len = usize::try_from(len).map_err(|_| BencodeError::Number(start))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.input.len())
            .ok_or(BencodeError::Truncated(self.input.len()))?;
        let bytes = &self.input[self.at..end];
        self.at = end;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep3_examples() {
        assert_eq!(decode(b"4:spam").unwrap(), text("spam"));
        assert_eq!(decode(b"i3e").unwrap(), Value::Int(3));
        assert_eq!(decode(b"i-3e").unwrap(), Value::Int(-3));
        assert_eq!(decode(b"i0e").unwrap(), Value::Int(0));
        assert_eq!(
            decode(b"l4:spam4:eggse").unwrap(),
            Value::List(vec![text("spam"), text("eggs")])
        );
        let dict = decode(b"d3:cow3:moo4:spam4:eggse").unwrap();
        assert_eq!(dict.get("cow"), Some(&text("moo")));
        assert_eq!(dict.encode(), b"d3:cow3:moo4:spam4:eggse");
        assert_eq!(decode(b"0:").unwrap(), Value::Bytes(vec![]));
    }

    #[test]
    fn strictness() {
        for bad in [
            &b"i03e"[..],
            b"i-0e",
            b"ie",
            b"i-e",
            b"03:abc",
            b"i1",
            b"5:abc",
            b"d4:spam1:a3:cow1:be",
            b"d3:cow1:a3:cow1:be",
            b"di1e1:ae",
            b"i3ee",
            b"x",
            b"i9223372036854775808e",
            b"",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap(),
            Value::Int(i64::MIN)
        );
        // A length far beyond the input is refused before anything is allocated for it.
        assert_eq!(
            decode(b"99999999999999:x"),
            Err(BencodeError::Truncated(16))
        );
        let deep = format!("{}{}", "l".repeat(MAX_DEPTH + 2), "e".repeat(MAX_DEPTH + 2));
        assert_eq!(decode(deep.as_bytes()), Err(BencodeError::TooDeep));
    }

    #[test]
    fn spans_of_top_level_values() {
        let input = b"d4:infod4:name1:xe3:numi7ee";
        let (_, spans) = decode_with_spans(input).unwrap();
        assert_eq!(&input[spans[&b"info".to_vec()].clone()], b"d4:name1:xe");
        assert_eq!(&input[spans[&b"num".to_vec()].clone()], b"i7e");
        let (value, used) = decode_prefix(b"d1:ai1eeREST").unwrap();
        assert_eq!((value.get("a"), used), (Some(&Value::Int(1)), 8));
    }
}
