//! Body framing (RFC 9112 §6-§7): which framing a message uses, incremental body decoders for
//! Content-Length, chunked (with trailers) and close-delimited bodies, and the chunked encoder.

use crate::head::{RequestHead, ResponseHead};
use crate::header::HeaderMap;
use crate::parse::ParseError;
use crate::types::{Method, StatusCode, Version};
use std::ops::Range;

/// How a message body is delimited.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all (requests without framing headers; HEAD, 1xx, 204, 304 responses).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding, possibly followed by trailer fields.
    Chunked,
    /// Everything until the connection closes (responses only).
    CloseDelimited,
}

impl BodyKind {
    /// Whether no body bytes follow the head.
    pub fn is_empty(self) -> bool {
        matches!(self, BodyKind::Empty | BodyKind::Length(0))
    }
}

/// Parses every Content-Length line; all values (including comma-separated repeats, RFC 9110
/// §8.6) must be the same decimal number.
pub fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ParseError> {
    let mut length = None;
    for value in headers.get_all("content-length") {
        for element in value.split(',') {
            let element = element.trim_matches([' ', '\t']);
            if element.is_empty()
                || element.len() > 19
                || !element.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(ParseError::BadContentLength);
            }
            let number: u64 = element.parse().map_err(|_| ParseError::BadContentLength)?;
            match length {
                Some(previous) if previous != number => return Err(ParseError::BadContentLength),
                _ => length = Some(number),
            }
        }
    }
    Ok(length)
}

/// Where `chunked` sits in the Transfer-Encoding list.
enum Coding {
    None,
    /// The list ends with one `chunked` and has no other codings.
    Chunked,
    /// The list ends with `chunked` after other codings we do not implement.
    ChunkedAfterOthers,
    /// `chunked` is missing from the end, repeated, or the list is malformed.
    Invalid,
}

fn transfer_coding(headers: &HeaderMap) -> Coding {
    if !headers.contains("transfer-encoding") {
        return Coding::None;
    }
    let codings: Vec<&str> = headers.list("transfer-encoding").collect();
    let Some((last, before)) = codings.split_last() else {
        return Coding::Invalid;
    };
    // A token is required: this refuses obfuscations such as `chunked;x`, `"chunked"`, or
    // `chunked\x0b` (the last already fails field-value validation).
    if !codings.iter().all(|c| crate::header::is_token(c)) {
        return Coding::Invalid;
    }
    if !last.eq_ignore_ascii_case("chunked")
        || before.iter().any(|c| c.eq_ignore_ascii_case("chunked"))
    {
        return Coding::Invalid;
    }
    if before.is_empty() {
        Coding::Chunked
    } else {
        Coding::ChunkedAfterOthers
    }
}

/// The framing of a request body (RFC 9112 §6.3), refusing everything a front end and a back
/// end might read differently:
///
/// - Transfer-Encoding together with Content-Length (400);
/// - Transfer-Encoding in an HTTP/1.0 request (400);
/// - Transfer-Encoding whose final coding is not a single `chunked` (400), or with other
///   codings before it (501);
/// - Content-Length that is malformed or whose repeated values differ (400);
/// - a declared length above `max_body` (413).
pub fn request_body_kind(head: &RequestHead, max_body: u64) -> Result<BodyKind, ParseError> {
    let has_length = head.headers.contains("content-length");
    match transfer_coding(&head.headers) {
        Coding::None => {}
        _ if has_length => return Err(ParseError::ContentLengthAndTransferEncoding),
        _ if head.version == Version::Http10 => return Err(ParseError::BadTransferEncoding),
        Coding::Chunked => return Ok(BodyKind::Chunked),
        Coding::ChunkedAfterOthers => return Err(ParseError::UnsupportedTransferCoding),
        Coding::Invalid => return Err(ParseError::BadTransferEncoding),
    }
    match content_length(&head.headers)? {
        None | Some(0) => Ok(BodyKind::Empty),
        Some(len) if len > max_body => Err(ParseError::BodyTooLarge { len, max: max_body }),
        Some(len) => Ok(BodyKind::Length(len)),
    }
}

/// The framing of a response body (RFC 9112 §6.3) given the method of the request it answers.
pub fn response_body_kind(
    request_method: &Method,
    head: &ResponseHead,
) -> Result<BodyKind, ParseError> {
    if *request_method == Method::Head || head.status.forbids_body() {
        return Ok(BodyKind::Empty);
    }
    if *request_method == Method::Connect && head.status.is_success() {
        // The connection becomes a tunnel; there is no HTTP body.
        return Ok(BodyKind::Empty);
    }
    let has_length = head.headers.contains("content-length");
    match transfer_coding(&head.headers) {
        Coding::None => {}
        // RFC 9112 §6.3 allows Transfer-Encoding to override, but calls it a sign of
        // smuggling or splitting; a cache must not store such a response, so refuse it.
        _ if has_length => return Err(ParseError::ContentLengthAndTransferEncoding),
        Coding::Chunked | Coding::ChunkedAfterOthers => return Ok(BodyKind::Chunked),
        Coding::Invalid => return Ok(BodyKind::CloseDelimited),
    }
    match content_length(&head.headers)? {
        Some(0) => Ok(BodyKind::Empty),
        Some(len) => Ok(BodyKind::Length(len)),
        None => Ok(BodyKind::CloseDelimited),
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// A chunk-size line is malformed (not hex, too long, bad extension, no CRLF).
    #[error("malformed chunk size line")]
    ChunkSize,
    /// The CRLF after a chunk's data is missing.
    #[error("missing crlf after chunk data")]
    ChunkEnd,
    /// The trailer section is malformed or too large.
    #[error("malformed trailer section: {0}")]
    Trailer(ParseError),
    /// The body exceeds the limit.
    #[error("body exceeds the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The connection closed before the body was complete.
    #[error("connection closed before the end of the body")]
    Incomplete,
}

impl BodyError {
    /// The status a server answers with (400, or 413 for [`BodyError::TooLarge`]).
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::CONTENT_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// What one [`BodyDecoder::decode`] call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyStep {
    /// Bytes of input used (framing and data); continue with `&input[consumed..]`.
    pub consumed: usize,
    /// Where the body data produced by this call lies in the input (may be empty).
    pub data: Range<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Length { remaining: u64 },
    Close,
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailers,
    Done,
}

const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

/// An incremental body decoder. Feed it the bytes after the head; it hands back slices of the
/// input that are body data, without copying.
///
/// ```
/// use http_proto::{BodyDecoder, BodyKind};
/// let mut decoder = BodyDecoder::new(BodyKind::Chunked);
/// let mut body = Vec::new();
/// let used = decoder.decode_into(b"5\r\nhello\r\n0\r\n\r\nNEXT", &mut body).unwrap();
/// assert_eq!((body.as_slice(), used, decoder.is_done()), (&b"hello"[..], 15, true));
/// ```
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    max: u64,
    received: u64,
    line: Vec<u8>,
    trailers: HeaderMap,
}

impl BodyDecoder {
    /// A decoder without a size limit.
    pub fn new(kind: BodyKind) -> BodyDecoder {
        BodyDecoder::with_limit(kind, u64::MAX)
    }

    /// A decoder that fails with [`BodyError::TooLarge`] once more than `max` data bytes arrive.
    pub fn with_limit(kind: BodyKind, max: u64) -> BodyDecoder {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(remaining) => State::Length { remaining },
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::CloseDelimited => State::Close,
        };
        BodyDecoder {
            state,
            max,
            received: 0,
            line: Vec::new(),
            trailers: HeaderMap::new(),
        }
    }

    /// Whether the whole body has been decoded; later bytes belong to the next message.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Data bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// For a Content-Length body, the data bytes still expected.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The trailer fields of a chunked body (empty until it is done).
    pub fn trailers(&self) -> &HeaderMap {
        &self.trailers
    }

    /// Takes the trailer fields out.
    pub fn take_trailers(&mut self) -> HeaderMap {
        std::mem::take(&mut self.trailers)
    }

    /// The peer closed the connection: fine for a close-delimited body (it is now done),
    /// an error for any unfinished other body.
    pub fn handle_eof(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(BodyError::Incomplete),
        }
    }

    fn count(&mut self, len: usize) -> Result<(), BodyError> {
        self.received = self.received.saturating_add(len as u64);
        if self.received > self.max {
            return Err(BodyError::TooLarge { max: self.max });
        }
        Ok(())
    }

    /// Decodes from the start of `input`: consumes framing bytes until it reaches data (which
    /// it returns as a range of `input`), the end of the input, or the end of the body.
    /// Call again with `&input[step.consumed..]` while that is non-empty and the body is not
    /// done; a step that consumes nothing means "need more input".
    pub fn decode(&mut self, input: &[u8]) -> Result<BodyStep, BodyError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => {
                    return Ok(BodyStep {
                        consumed: pos,
                        data: pos..pos,
                    })
                }
                State::Close => {
                    let len = input.len() - pos;
                    self.count(len)?;
                    return Ok(BodyStep {
                        consumed: input.len(),
                        data: pos..input.len(),
                    });
                }
                State::Length { remaining } | State::ChunkData { remaining } => {
                    let available = (input.len() - pos) as u64;
                    let take = remaining.min(available) as usize;
                    let left = remaining - take as u64;
                    self.count(take)?;
                    self.state = match (&self.state, left) {
                        (State::Length { .. }, 0) => State::Done,
                        (State::Length { .. }, _) => State::Length { remaining: left },
                        (_, 0) => State::ChunkDataEnd,
                        (_, _) => State::ChunkData { remaining: left },
                    };
                    return Ok(BodyStep {
                        consumed: pos + take,
                        data: pos..pos + take,
                    });
                }
                State::ChunkSize | State::ChunkDataEnd | State::Trailers => {
                    if pos == input.len() {
                        return Ok(BodyStep {
                            consumed: pos,
                            data: pos..pos,
                        });
                    }
                    let limit = if self.state == State::Trailers {
                        MAX_TRAILERS
                    } else {
                        MAX_CHUNK_LINE
                    };
                    let Some(offset) = input[pos..].iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(&input[pos..]);
                        if self.line.len() > limit {
                            return Err(self.line_error());
                        }
                        return Ok(BodyStep {
                            consumed: input.len(),
                            data: input.len()..input.len(),
                        });
                    };
                    self.line.extend_from_slice(&input[pos..=pos + offset]);
                    pos += offset + 1;
                    if self.line.len() > limit {
                        return Err(self.line_error());
                    }
                    self.finish_line()?;
                }
            }
        }
    }

    fn line_error(&self) -> BodyError {
        match self.state {
            State::Trailers => BodyError::Trailer(ParseError::HeadersTooLarge),
            State::ChunkDataEnd => BodyError::ChunkEnd,
            _ => BodyError::ChunkSize,
        }
    }

    /// Handles a complete line (ending in LF) accumulated in `self.line`.
    fn finish_line(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::ChunkDataEnd => {
                // RFC 9112 §7.1: chunk-data is followed by exactly CRLF.
                if self.line != b"\r\n" {
                    return Err(BodyError::ChunkEnd);
                }
                self.line.clear();
                self.state = State::ChunkSize;
            }
            State::ChunkSize => {
                let size = parse_chunk_size(&self.line).ok_or(BodyError::ChunkSize)?;
                self.line.clear();
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    if self.received.saturating_add(size) > self.max {
                        return Err(BodyError::TooLarge { max: self.max });
                    }
                    State::ChunkData { remaining: size }
                };
            }
            State::Trailers => {
                let section = &self.line;
                let ends = section == b"\r\n"
                    || section.ends_with(b"\r\n\r\n")
                    || section.ends_with(b"\n\r\n");
                if ends {
                    self.trailers =
                        crate::parse::parse_trailer_section(section).map_err(BodyError::Trailer)?;
                    self.line = Vec::new();
                    self.state = State::Done;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Decodes as much of `input` as belongs to the body, appending the data to `out`;
    /// returns the bytes consumed (the rest is the next message).
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut pos = 0;
        while pos < input.len() && !self.is_done() {
            let step = self.decode(&input[pos..])?;
            out.extend_from_slice(&input[pos..][step.data]);
            if step.consumed == 0 {
                break;
            }
            pos += step.consumed;
        }
        if !self.is_done() && pos == input.len() {
            // A zero-length tail can still finish an empty trailer state; nothing to do.
        }
        Ok(pos)
    }
}

/// `chunk-size [ chunk-ext ] CRLF`, strict: hex digits (at most 16), optional extensions of
/// visible characters, and CRLF (a bare LF is refused, as is a CR anywhere else).
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n")?;
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits_end == 0 || digits_end > 16 {
        return None;
    }
    let mut size: u64 = 0;
    for &digit in &line[..digits_end] {
        let value = (digit as char).to_digit(16)?;
        size = size.checked_mul(16)?.checked_add(u64::from(value))?;
    }
    let rest = &line[digits_end..];
    let ext = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map(|i| &rest[i..]);
    match ext {
        None if rest.is_empty() => Some(size),
        None => None,
        Some(ext) => {
            let valid = ext.first() == Some(&b';')
                && ext
                    .iter()
                    .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
            valid.then_some(size)
        }
    }
}

/// Writes one chunk (size line, data, CRLF). Empty data writes nothing: an empty chunk would
/// end the body; use [`encode_last_chunk`] for that.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    encode_chunk_size(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes only the size line of a chunk of `len` bytes, for callers that write the data
/// themselves (followed by CRLF).
pub fn encode_chunk_size(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
}

/// Writes the last chunk with optional trailer fields and the final CRLF.
pub fn encode_last_chunk(trailers: Option<&HeaderMap>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    if let Some(trailers) = trailers {
        trailers.encode(out);
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, usize, bool), BodyError> {
        let mut decoder = BodyDecoder::new(kind);
        let mut out = Vec::new();
        let used = decoder.decode_into(input, &mut out)?;
        Ok((out, used, decoder.is_done()))
    }

    #[test]
    fn content_length_bodies() {
        assert_eq!(
            decode_all(BodyKind::Length(5), b"helloGET").unwrap(),
            (b"hello".to_vec(), 5, true)
        );
        assert_eq!(
            decode_all(BodyKind::Length(9), b"hello").unwrap(),
            (b"hello".to_vec(), 5, false)
        );
        let mut decoder = BodyDecoder::new(BodyKind::Length(9));
        assert_eq!(decoder.handle_eof(), Err(BodyError::Incomplete));
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nX";
        let mut decoder = BodyDecoder::new(BodyKind::Chunked);
        let mut out = Vec::new();
        let used = decoder.decode_into(input, &mut out).unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(used, input.len() - 1);
        assert!(decoder.is_done());
        assert_eq!(decoder.trailers().get("expires"), Some("never"));
    }

    #[test]
    fn chunked_byte_by_byte() {
        let input = b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        let mut decoder = BodyDecoder::new(BodyKind::Chunked);
        let mut out = Vec::new();
        for byte in input.chunks(1) {
            assert_eq!(decoder.decode_into(byte, &mut out).unwrap(), 1);
        }
        assert!(decoder.is_done());
        assert_eq!(out, b"0123456789abc");
        assert_eq!(decoder.trailers().get("t"), Some("1"));
    }

    #[test]
    fn strict_chunk_lines() {
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"-5\r\nhello\r\n",
            b"0x5\r\nhello\r\n",
            b"5 x\r\nhello\r\n",
            b"5;a\rb\r\nhello\r\n",
            b"11111111111111111\r\n",
            b"\r\n",
            b"0\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(
                decode_all(BodyKind::Chunked, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn limits_apply_to_chunked_bodies() {
        let mut decoder = BodyDecoder::with_limit(BodyKind::Chunked, 4);
        let mut out = Vec::new();
        assert_eq!(
            decoder.decode_into(b"5\r\nhello\r\n", &mut out),
            Err(BodyError::TooLarge { max: 4 })
        );
    }

    #[test]
    fn close_delimited_until_eof() {
        let mut decoder = BodyDecoder::new(BodyKind::CloseDelimited);
        let mut out = Vec::new();
        decoder.decode_into(b"abc", &mut out).unwrap();
        assert!(!decoder.is_done());
        decoder.handle_eof().unwrap();
        assert!(decoder.is_done());
        assert_eq!(out, b"abc");
    }

    #[test]
    fn chunk_encoding_round_trips() {
        let mut out = Vec::new();
        encode_chunk(b"hello world, this is long", &mut out);
        encode_chunk(b"", &mut out);
        let mut trailers = HeaderMap::new();
        trailers.append("Digest", "x");
        encode_last_chunk(Some(&trailers), &mut out);
        assert!(out.starts_with(b"19\r\nhello"));
        let (body, used, done) = decode_all(BodyKind::Chunked, &out).unwrap();
        assert_eq!(
            (body.as_slice(), used, done),
            (&b"hello world, this is long"[..], out.len(), true)
        );
    }
}
