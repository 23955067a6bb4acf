//! Range requests (RFC 9110 §14): the Range header, Content-Range, and multipart/byteranges
//! framing.

use std::fmt;
use std::ops::Range;

/// The most ranges a request may ask for before the Range header is ignored (RFC 9110 §14.2
/// lets a server ignore or refuse many small or overlapping ranges, a denial-of-service
/// vector).
pub const MAX_RANGES: usize = 32;

/// One `range-spec` of a `bytes=` Range header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ByteRangeSpec {
    /// `first-last` (inclusive).
    FromTo(u64, u64),
    /// `first-`
    From(u64),
    /// `-suffix`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRangeSpec {
    /// The half-open byte range this spec selects in a representation of `len` bytes, or
    /// `None` if it is unsatisfiable.
    pub fn resolve(self, len: u64) -> Option<Range<u64>> {
        match self {
            ByteRangeSpec::FromTo(first, last) if first < len => {
                Some(first..last.saturating_add(1).min(len))
            }
            ByteRangeSpec::From(first) if first < len => Some(first..len),
            ByteRangeSpec::Suffix(n) if n > 0 && len > 0 => Some(len.saturating_sub(n)..len),
            _ => None,
        }
    }
}

impl fmt::Display for ByteRangeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteRangeSpec::FromTo(first, last) => write!(f, "{first}-{last}"),
            ByteRangeSpec::From(first) => write!(f, "{first}-"),
            ByteRangeSpec::Suffix(n) => write!(f, "-{n}"),
        }
    }
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses a Range header value of the `bytes` unit. `None` if it is malformed, uses another
/// unit, or asks for more than [`MAX_RANGES`] ranges: the server then ignores it and sends the
/// whole representation.
pub fn parse_range(value: &str) -> Option<Vec<ByteRangeSpec>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        let (first, last) = element.split_once('-')?;
        let spec = match (first.trim(), last.trim()) {
            ("", suffix) => ByteRangeSpec::Suffix(number(suffix)?),
            (first, "") => ByteRangeSpec::From(number(first)?),
            (first, last) => {
                let (first, last) = (number(first)?, number(last)?);
                if last < first {
                    return None;
                }
                ByteRangeSpec::FromTo(first, last)
            }
        };
        specs.push(spec);
        if specs.len() > MAX_RANGES {
            return None;
        }
    }
    (!specs.is_empty()).then_some(specs)
}

/// What a server does with a Range header for a representation of a given length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header: send 200 with the whole representation.
    Full,
    /// Send 206 with these ranges (one: a single part; several: multipart/byteranges).
    Partial(Vec<Range<u64>>),
    /// Send 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Decides the answer to `Range: value` for a representation of `len` bytes. Satisfiable
/// ranges are kept in request order; overlapping or adjacent ones are merged (RFC 9110 §14.2
/// allows coalescing) so that a client cannot make the server send the same bytes many times.
pub fn evaluate_range(value: &str, len: u64) -> RangeOutcome {
    let Some(specs) = parse_range(value) else {
        return RangeOutcome::Full;
    };
    let mut ranges: Vec<Range<u64>> = specs.iter().filter_map(|s| s.resolve(len)).collect();
    if ranges.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    if ranges.len() > 1 {
        let mut sorted = ranges.clone();
        sorted.sort_by_key(|r| r.start);
        let overlapping = sorted.windows(2).any(|w| w[1].start <= w[0].end);
        if overlapping {
            let mut merged: Vec<Range<u64>> = Vec::new();
            for range in sorted {
                match merged.last_mut() {
                    Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                    _ => merged.push(range),
                }
            }
            ranges = merged;
        }
    }
    RangeOutcome::Partial(ranges)
}

/// `bytes first-last/len` for a Content-Range header.
pub fn content_range(range: &Range<u64>, len: u64) -> String {
    format!(
        "bytes {}-{}/{}",
        range.start,
        range.end.saturating_sub(1),
        len
    )
}

/// `bytes */len`, for a 416 response.
pub fn content_range_unsatisfied(len: u64) -> String {
    format!("bytes */{len}")
}

/// A parsed Content-Range header (for clients and caches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentRange {
    /// The bytes enclosed, half-open; `None` for `bytes */len`.
    pub range: Option<Range<u64>>,
    /// The complete length, if known.
    pub complete_len: Option<u64>,
}

impl ContentRange {
    /// Parses `bytes first-last/len`, `bytes first-last/*` or `bytes */len`.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes ")?;
        let (range, complete) = rest.split_once('/')?;
        let complete_len = match complete.trim() {
            "*" => None,
            digits => Some(number(digits)?),
        };
        let range = match range.trim() {
            "*" => None,
            spec => {
                let (first, last) = spec.split_once('-')?;
                let (first, last) = (number(first)?, number(last)?);
                if last < first || complete_len.is_some_and(|len| last >= len) {
                    return None;
                }
                Some(first..last + 1)
            }
        };
        if range.is_none() && complete_len.is_none() {
            return None;
        }
        Some(ContentRange {
            range,
            complete_len,
        })
    }
}

/// The head of one part of a multipart/byteranges body (RFC 9110 §14.6), starting with the
/// boundary delimiter line.
pub fn multipart_part_head(
    boundary: &str,
    content_type: Option<&str>,
    range: &Range<u64>,
    len: u64,
) -> String {
    let mut head = format!("\r\n--{boundary}\r\n");
    if let Some(content_type) = content_type {
        head.push_str("Content-Type: ");
        head.push_str(content_type);
        head.push_str("\r\n");
    }
    head.push_str("Content-Range: ");
    head.push_str(&content_range(range, len));
    head.push_str("\r\n\r\n");
    head
}

/// The closing delimiter of a multipart/byteranges body.
pub fn multipart_end(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// The Content-Length of a multipart/byteranges body made of these parts.
pub fn multipart_len(
    boundary: &str,
    content_type: Option<&str>,
    ranges: &[Range<u64>],
    len: u64,
) -> u64 {
    ranges
        .iter()
        .map(|range| {
            multipart_part_head(boundary, content_type, range, len).len() as u64 + range.end
                - range.start
        })
        .sum::<u64>()
        + multipart_end(boundary).len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn rfc_9110_examples() {
        // RFC 9110 §14.1.2 examples for a 10000-byte representation.
        let check = |value: &str, expected: RangeOutcome| {
            assert_eq!(evaluate_range(value, 10_000), expected, "{value}");
        };
        check("bytes=0-499", RangeOutcome::Partial(vec![0..500]));
        check("bytes=500-999", RangeOutcome::Partial(vec![500..1000]));
        check("bytes=-500", RangeOutcome::Partial(vec![9500..10_000]));
        check("bytes=9500-", RangeOutcome::Partial(vec![9500..10_000]));
        check(
            "bytes=0-0,-1",
            RangeOutcome::Partial(vec![0..1, 9999..10_000]),
        );
        check(
            "bytes= 0-999, 4500-5499, -1000",
            RangeOutcome::Partial(vec![0..1000, 4500..5500, 9000..10_000]),
        );
        check(
            "bytes=500-600,601-999",
            RangeOutcome::Partial(vec![500..1000]),
        );
        check(
            "bytes=500-700,601-999",
            RangeOutcome::Partial(vec![500..1000]),
        );
        check("bytes=10000-", RangeOutcome::Unsatisfiable);
        check("bytes=-0", RangeOutcome::Unsatisfiable);
        check("bytes=0-99999", RangeOutcome::Partial(vec![0..10_000]));
        check("bytes=5-1", RangeOutcome::Full);
        check("items=0-1", RangeOutcome::Full);
        check("bytes=x-1", RangeOutcome::Full);
        check(
            &format!("bytes={}", vec!["1-2"; 40].join(",")),
            RangeOutcome::Full,
        );
    }

    #[test]
    fn content_range_round_trip() {
        assert_eq!(content_range(&(0..500), 1234), "bytes 0-499/1234");
        assert_eq!(
            ContentRange::parse("bytes 0-499/1234"),
            Some(ContentRange {
                range: Some(0..500),
                complete_len: Some(1234)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes */1234"),
            Some(ContentRange {
                range: None,
                complete_len: Some(1234)
            })
        );
        assert_eq!(ContentRange::parse("bytes 0-1234/1234"), None);
        assert_eq!(ContentRange::parse("bytes */*"), None);
    }

    #[test]
    fn multipart_length_matches() {
        let ranges = [0..10, 20..30];
        let mut body = String::new();
        for range in &ranges {
            body.push_str(&multipart_part_head("B", Some("text/plain"), range, 100));
            body.push_str(&"x".repeat(10));
        }
        body.push_str(&multipart_end("B"));
        assert_eq!(
            multipart_len("B", Some("text/plain"), &ranges, 100),
            body.len() as u64
        );
    }
}
