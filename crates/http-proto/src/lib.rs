//! Sans-IO HTTP/1.0 and HTTP/1.1 (RFC 9110, RFC 9112): heads, field maps, strict incremental
//! parsers, body framing, dates, entity tags and URIs.
//!
//! # Contract
//!
//! Nothing here reads a clock, touches a socket or a file, or panics on network input. Parsers
//! take the bytes buffered so far and return `Ok(None)` while a message is incomplete. Errors
//! carry the status a server answers with; after any parse error the connection must close.
//!
//! # Run loop of a server connection
//!
//! ```
//! use http_proto::{parse_request, BodyDecoder, Limits, ResponseHead, StatusCode};
//! let limits = Limits::default();
//! let mut buffer: Vec<u8> = b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".to_vec();
//! // 1. read into `buffer` until the head parses
//! let parsed = parse_request(&buffer, &limits).unwrap().expect("complete head");
//! buffer.drain(..parsed.len);
//! // 2. decode the body as it arrives
//! let mut decoder = BodyDecoder::with_limit(parsed.body, limits.max_body);
//! let mut body = Vec::new();
//! let used = decoder.decode_into(&buffer, &mut body).unwrap();
//! buffer.drain(..used);
//! assert!(decoder.is_done());
//! // 3. answer; the rest of `buffer` is the next (pipelined) request
//! let mut out = Vec::new();
//! ResponseHead::new(StatusCode::CREATED).header("Content-Length", "0").encode(&mut out);
//! assert_eq!(body, b"abc");
//! ```

pub mod body;
pub mod conditional;
pub mod conn;
pub mod cookie;
pub mod date;
pub mod etag;
pub mod head;
pub mod header;
pub mod mime;
pub mod parse;
pub mod range;
pub mod response;
pub mod types;
pub mod uri;

pub use body::{
    content_length, encode_chunk, encode_chunk_size, encode_last_chunk, request_body_kind,
    response_body_kind, BodyDecoder, BodyError, BodyKind, BodyStep,
};
pub use conn::{AbortReason, ConnConfig, ServerConn, ServerEvent, Timeouts};
pub use cookie::{parse_cookie_header, CookieJar, SetCookie};
pub use date::{fmt_http_date, parse_http_date, HttpDate};
pub use etag::{EntityTag, EtagList};
pub use head::{RequestHead, ResponseHead};
pub use header::{is_hop_by_hop, HeaderMap, HOP_BY_HOP};
pub use mime::media_type_for;
pub use parse::{parse_request, parse_response, Limits, ParseError, Parsed};
pub use range::{evaluate_range, ContentRange, RangeOutcome};
pub use response::{Progress, ResponseError, ResponseReader};
pub use types::{Method, StatusCode, Version};
pub use uri::{percent_decode, RequestTarget, Uri, UriError};
