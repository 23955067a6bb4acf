//! Reading one HTTP/1.x response off a byte buffer, sans-IO: the one response reader of the
//! workspace (the page-fetching client, the proxy's upstream side and its self-check client
//! use it). Interim 1xx responses are skipped (except `101`, which is the caller's to judge),
//! then the final head comes out, then the body is decoded as its framing says.
//!
//! ```text
//! let mut reader = ResponseReader::new(&method, limits);
//! loop {
//!     match reader.advance(&mut buf, &mut body)? {
//!         Progress::NeedMore => if read(&mut buf) == 0 { reader.finish_at_eof()?; break },
//!         Progress::Head(head) => { /* status, fields */ }
//!         Progress::Done => break,
//!     }
//! }
//! ```

use crate::body::{BodyDecoder, BodyError, BodyKind};
use crate::parse::{parse_response, Limits, ParseError};
use crate::{Method, ResponseHead};

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The head is malformed or over a limit.
    #[error("{0}")]
    Head(#[from] ParseError),
    /// The body's framing is broken or it is over its limit.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// The peer closed the connection before the head was complete.
    #[error("connection closed before a complete response head")]
    ClosedInHead,
}

/// What [`ResponseReader::advance`] got to.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The buffer holds no more of the response: read more (or call
    /// [`ResponseReader::finish_at_eof`] at end of stream).
    NeedMore,
    /// The final response head (1xx skipped, `101` given as it is); body bytes follow.
    Head(ResponseHead),
    /// The body is complete; what is left in the buffer belongs to the next response.
    Done,
}

enum Phase {
    Head,
    Body(BodyDecoder),
    Done,
}

/// One response being read.
pub struct ResponseReader {
    method: Method,
    limits: Limits,
    phase: Phase,
    body_kind: Option<BodyKind>,
    max_body: u64,
}

impl std::fmt::Debug for ResponseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseReader")
            .field("method", &self.method)
            .field("body_kind", &self.body_kind)
            .finish_non_exhaustive()
    }
}

impl ResponseReader {
    /// A reader for the response to a `method` request, heads bounded by `limits`.
    pub fn new(method: &Method, limits: Limits) -> ResponseReader {
        ResponseReader {
            method: method.clone(),
            limits,
            phase: Phase::Head,
            body_kind: None,
            max_body: u64::MAX,
        }
    }

    /// Bounds the decoded body (over it, [`BodyError::TooLarge`]).
    pub fn with_body_limit(mut self, max: u64) -> ResponseReader {
        self.max_body = max;
        self
    }

    /// How the body is delimited, once the head is read.
    pub fn body_kind(&self) -> Option<BodyKind> {
        self.body_kind
    }

    /// Takes what it can from the front of `buf` (removing it): interim heads, the final
    /// head, then body bytes appended to `body`.
    pub fn advance(
        &mut self,
        buf: &mut Vec<u8>,
        body: &mut Vec<u8>,
    ) -> Result<Progress, ResponseError> {
        loop {
            match &mut self.phase {
                Phase::Head => {
                    let Some(parsed) = parse_response(buf, &self.limits, &self.method)? else {
                        return Ok(Progress::NeedMore);
                    };
                    buf.drain(..parsed.len);
                    let code = parsed.head.status.as_u16();
                    if (100..200).contains(&code) && code != 101 {
                        continue;
                    }
                    self.body_kind = Some(parsed.body);
                    let decoder = BodyDecoder::with_limit(parsed.body, self.max_body);
                    self.phase = if decoder.is_done() {
                        Phase::Done
                    } else {
                        Phase::Body(decoder)
                    };
                    return Ok(Progress::Head(parsed.head));
                }
                Phase::Body(decoder) => {
                    let used = decoder.decode_into(buf, body)?;
                    buf.drain(..used);
                    if decoder.is_done() {
                        self.phase = Phase::Done;
                        return Ok(Progress::Done);
                    }
                    return Ok(Progress::NeedMore);
                }
                Phase::Done => return Ok(Progress::Done),
            }
        }
    }

    /// The stream ended: fine when the body ends at close (or is complete), an error inside
    /// the head or a length-delimited or chunked body.
    pub fn finish_at_eof(&mut self) -> Result<(), ResponseError> {
        match &mut self.phase {
            Phase::Head => Err(ResponseError::ClosedInHead),
            Phase::Body(decoder) => {
                decoder.handle_eof()?;
                self.phase = Phase::Done;
                Ok(())
            }
            Phase::Done => Ok(()),
        }
    }

    /// Whether the response is complete.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], method: Method, step: usize) -> (Vec<u16>, Vec<u8>, Vec<u8>) {
        let mut reader = ResponseReader::new(&method, Limits::default());
        let mut buf = Vec::new();
        let mut body = Vec::new();
        let mut heads = Vec::new();
        let mut fed = 0;
        loop {
            match reader.advance(&mut buf, &mut body).expect("reads") {
                Progress::Head(head) => heads.push(head.status.as_u16()),
                Progress::Done => break,
                Progress::NeedMore if fed < input.len() => {
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
                Progress::NeedMore => {
                    reader.finish_at_eof().expect("ends at close");
                    break;
                }
            }
        }
        (heads, body, buf)
    }

    #[test]
    fn interim_heads_skipped_bodies_decoded_byte_by_byte() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        for step in [1, 7, input.len()] {
            let (heads, body, rest) = read_all(input, Method::Get, step);
            assert_eq!(heads, [200]);
            assert_eq!(body, b"abc");
            assert!(
                b"HTTP/1.1 204 No Content\r\n\r\n".starts_with(&rest),
                "what is left is the next response's"
            );
        }
    }

    #[test]
    fn heads_and_closes() {
        // HEAD: no body whatever Content-Length says.
        let (heads, body, _) = read_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            Method::Head,
            5,
        );
        assert_eq!((heads, body), (vec![200], Vec::new()));
        // A body delimited by close ends at EOF; a short Content-Length one does not.
        let (_, body, _) = read_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close", Method::Get, 4);
        assert_eq!(body, b"until close");
        let mut reader = ResponseReader::new(&Method::Get, Limits::default());
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec();
        let mut body = Vec::new();
        assert!(matches!(
            reader.advance(&mut buf, &mut body),
            Ok(Progress::Head(_))
        ));
        assert_eq!(reader.advance(&mut buf, &mut body), Ok(Progress::NeedMore));
        assert!(reader.finish_at_eof().is_err());
        let mut reader = ResponseReader::new(&Method::Get, Limits::default());
        let mut buf = b"HTTP/1.1 200 O".to_vec();
        assert_eq!(reader.advance(&mut buf, &mut body), Ok(Progress::NeedMore));
        assert_eq!(reader.finish_at_eof(), Err(ResponseError::ClosedInHead));
        // 101 is handed over as it is.
        let mut reader = ResponseReader::new(&Method::Get, Limits::default());
        let mut buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n".to_vec();
        assert!(matches!(
            reader.advance(&mut buf, &mut body),
            Ok(Progress::Head(head)) if head.status.as_u16() == 101
        ));
        // A body limit.
        let mut reader = ResponseReader::new(&Method::Get, Limits::default()).with_body_limit(3);
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde".to_vec();
        let mut body = Vec::new();
        reader.advance(&mut buf, &mut body).expect("head");
        assert!(matches!(
            reader.advance(&mut buf, &mut body),
            Err(ResponseError::Body(_))
        ));
    }
}
