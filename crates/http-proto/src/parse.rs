//! Incremental, strict parsers for request and response heads (RFC 9112 §2-§5).
//!
//! Both parsers take the bytes buffered so far and return `Ok(None)` while the head is
//! incomplete, so the caller reads more and calls again. On success they return the head, the
//! number of bytes it took and the framing of the body that follows. Errors map to the status a
//! server answers with ([`ParseError::status`]); after any of them the connection must close.

use crate::body::{request_body_kind, response_body_kind, BodyKind};
use crate::head::{RequestHead, ResponseHead};
use crate::header::{is_tchar, HeaderMap};
use crate::types::{Method, StatusCode, Version};
use crate::uri::{is_valid_authority, RequestTarget};

/// Size limits for parsing. Exceeding one is an error with its own status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (start line) in bytes; longer gets 414.
    pub max_request_line: usize,
    /// Largest head (start line plus fields) in bytes; larger gets 431.
    pub max_head_bytes: usize,
    /// Most header lines; more gets 431.
    pub max_headers: usize,
    /// Largest request body in bytes; larger gets 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head_bytes: 32 * 1024,
            max_headers: 100,
            max_body: 64 * 1024 * 1024,
        }
    }
}

/// Why a message was refused. Every variant means "close the connection after answering".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The request line is longer than the limit.
    #[error("request line longer than {max} bytes")]
    RequestLineTooLong {
        /// The limit.
        max: usize,
    },
    /// The head is larger than the limit, or has too many fields.
    #[error("header section larger than the limits")]
    HeadersTooLarge,
    /// The declared body is larger than the limit.
    #[error("body of {len} bytes exceeds the limit of {max}")]
    BodyTooLarge {
        /// The declared or received length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The request line is not `method SP target SP version`.
    #[error("malformed request line")]
    BadRequestLine,
    /// The status line is not `version SP code SP reason`.
    #[error("malformed status line")]
    BadStatusLine,
    /// The version is not `HTTP/x.y`.
    #[error("malformed http version")]
    BadVersion,
    /// A well-formed version other than 1.0 and 1.1.
    #[error("unsupported http version")]
    UnsupportedVersion,
    /// The request target is malformed or does not fit the method.
    #[error("malformed request target")]
    BadTarget,
    /// A field name is empty, not a token, or followed by whitespace before the colon.
    #[error("malformed header field name")]
    BadHeaderName,
    /// A field value holds a control character.
    #[error("invalid character in header field value")]
    BadHeaderValue,
    /// A line starts with whitespace (obsolete line folding, RFC 9112 §5.2).
    #[error("obsolete line folding")]
    ObsFold,
    /// A CR not followed by LF.
    #[error("bare carriage return")]
    BareCr,
    /// An HTTP/1.1 request without Host, or with several, or with a malformed one.
    #[error("missing, repeated or malformed host header")]
    BadHost,
    /// Content-Length is not a number, or its values differ.
    #[error("invalid or conflicting content-length")]
    BadContentLength,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: a smuggling sign).
    #[error("both content-length and transfer-encoding")]
    ContentLengthAndTransferEncoding,
    /// Transfer-Encoding that does not end in a single `chunked`, or in an HTTP/1.0 request.
    #[error("invalid transfer-encoding")]
    BadTransferEncoding,
    /// A transfer coding other than chunked.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
}

impl ParseError {
    /// The status a server answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::RequestLineTooLong { .. } => StatusCode::URI_TOO_LONG,
            ParseError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ParseError::BodyTooLarge { .. } => StatusCode::CONTENT_TOO_LARGE,
            ParseError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A parsed head with the framing of what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<H> {
    /// The head.
    pub head: H,
    /// Bytes of input the head took (including any leading empty lines and the final empty
    /// line); the body starts there.
    pub len: usize,
    /// How the body is delimited.
    pub body: BodyKind,
}

fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Finds the end of a head starting at `start`: the index just past its empty line.
fn find_head_end(buf: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        let newline = pos + find_byte(&buf[pos..], b'\n')?;
        let line = &buf[pos..newline];
        if (line.is_empty() || line == b"\r") && pos > start {
            return Some(newline + 1);
        }
        pos = newline + 1;
    }
}

/// Splits a head into lines without terminators; rejects a CR that is not the last byte of
/// its line.
fn lines(head: &[u8]) -> impl Iterator<Item = Result<&[u8], ParseError>> {
    head.split(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if find_byte(line, b'\r').is_some() {
            Err(ParseError::BareCr)
        } else {
            Ok(line)
        }
    })
}

fn parse_version(text: &[u8]) -> Result<Version, ParseError> {
    match text {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(ParseError::UnsupportedVersion)
        }
        _ => Err(ParseError::BadVersion),
    }
}

/// The bytes a field value may hold (RFC 9110 §5.5): field-vchar, SP, HTAB and obs-text; as a
/// table, so the check is one load per byte without branches.
static FIELD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = byte == 0x09 || (byte >= 0x20 && byte != 0x7f);
        byte += 1;
    }
    table
};

/// Refuses (rather than strips) anything but field-value bytes: CTLs, NUL, DEL, a bare CR.
fn check_field_value(bytes: &[u8]) -> Result<(), ParseError> {
    if bytes
        .iter()
        .fold(true, |ok, &b| ok & FIELD_BYTE[b as usize])
    {
        return Ok(());
    }
    Err(match bytes.iter().find(|&&b| !FIELD_BYTE[b as usize]) {
        Some(b'\r') => ParseError::BareCr,
        _ => ParseError::BadHeaderValue,
    })
}

/// A checked field value as text: obs-text that is not UTF-8 is kept readable rather than
/// refused.
fn value_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn field_value(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, ParseError> {
    check_field_value(bytes)?;
    Ok(value_text(bytes))
}

/// A head's bytes with, when the whole head is UTF-8 (nearly always), the same as text: a
/// part of it is then text by slicing, without checking its bytes again.
#[derive(Clone, Copy)]
struct HeadText<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> HeadText<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        HeadText {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    /// `part` (a slice of the head) as text, if it can be had by slicing.
    fn slice(&self, part: &'a [u8]) -> Option<&'a str> {
        let start = (part.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        self.text?.get(start..start + part.len())
    }

    fn value(&self, part: &'a [u8]) -> std::borrow::Cow<'a, str> {
        match self.slice(part) {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None => value_text(part),
        }
    }
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Whether obsolete line folding is refused (requests) or replaced by a space (responses,
/// RFC 9112 §5.2).
#[derive(Copy, Clone, PartialEq, Eq)]
enum Folding {
    Reject,
    Unfold,
}

fn parse_fields<'a>(
    head: HeadText<'a>,
    lines: impl Iterator<Item = Result<&'a [u8], ParseError>>,
    limits: &Limits,
    folding: Folding,
) -> Result<HeaderMap, ParseError> {
    let mut headers = HeaderMap::with_capacity(12);
    for line in lines {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            match folding {
                Folding::Reject => return Err(ParseError::ObsFold),
                Folding::Unfold => {
                    let more = trim_ows(line);
                    check_field_value(more)?;
                    if !headers.continue_last_value(&head.value(more)) {
                        return Err(ParseError::ObsFold);
                    }
                    continue;
                }
            }
        }
        let colon = find_byte(line, b':').ok_or(ParseError::BadHeaderName)?;
        let name = &line[..colon];
        // RFC 9112 §5.1: no whitespace between the name and the colon.
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ParseError::BadHeaderName);
        }
        let value = trim_ows(&line[colon + 1..]);
        check_field_value(value)?;
        let value = head.value(value);
        // The name is ASCII (all tchar).
        let name = match head.slice(name) {
            Some(name) => name,
            None => std::str::from_utf8(name).map_err(|_| ParseError::BadHeaderName)?,
        };
        if headers.len() >= limits.max_headers {
            return Err(ParseError::HeadersTooLarge);
        }
        headers.append_parsed(name, &value);
    }
    Ok(headers)
}

/// Parses a chunked body's trailer section (field lines and the final empty line).
pub(crate) fn parse_trailer_section(section: &[u8]) -> Result<HeaderMap, ParseError> {
    let limits = Limits::default();
    parse_fields(
        HeadText::new(section),
        lines(section),
        &limits,
        Folding::Reject,
    )
}

fn skip_empty_lines(buf: &[u8]) -> usize {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    let mut start = 0;
    loop {
        match &buf[start..] {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            _ => return start,
        }
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` if the head is not complete yet (call again with more bytes), and the
/// errors of RFC 9112's strict parsing otherwise: invalid characters, obs-fold, bare CR, a
/// missing or repeated Host in HTTP/1.1, smuggling-prone framing (see
/// [`request_body_kind`]), and the size limits.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<Parsed<RequestHead>>, ParseError> {
    let start = skip_empty_lines(buf);
    if start > limits.max_request_line {
        return Err(ParseError::BadRequestLine);
    }
    let Some(end) = find_head_end(buf, start) else {
        let first_line_done = find_byte(&buf[start..], b'\n').is_some();
        if !first_line_done && buf.len() - start > limits.max_request_line {
            return Err(ParseError::RequestLineTooLong {
                max: limits.max_request_line,
            });
        }
        if buf.len() > limits.max_head_bytes {
            return Err(ParseError::HeadersTooLarge);
        }
        return Ok(None);
    };
    let head_bytes = &buf[start..end];
    let head_text = HeadText::new(head_bytes);
    let mut lines = lines(head_bytes);
    let request_line = lines.next().ok_or(ParseError::BadRequestLine)??;
    if request_line.len() > limits.max_request_line {
        return Err(ParseError::RequestLineTooLong {
            max: limits.max_request_line,
        });
    }
    if end - start > limits.max_head_bytes {
        return Err(ParseError::HeadersTooLarge);
    }
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequestLine);
    };
    let method = std::str::from_utf8(method)
        .ok()
        .and_then(Method::parse)
        .ok_or(ParseError::BadRequestLine)?;
    let version = parse_version(version)?;
    let target = std::str::from_utf8(target)
        .ok()
        .and_then(|text| RequestTarget::parse(&method, text).ok())
        .ok_or(ParseError::BadTarget)?;
    let headers = parse_fields(head_text, lines, limits, Folding::Reject)?;
    // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host, and to any
    // request with more than one Host line or an invalid Host value.
    {
        let mut hosts = headers.get_all("host");
        match (hosts.next(), hosts.next()) {
            (None, _) if version == Version::Http11 => return Err(ParseError::BadHost),
            (Some(_), Some(_)) => return Err(ParseError::BadHost),
            (Some(host), None) if !host.is_empty() && !is_valid_authority(host) => {
                return Err(ParseError::BadHost)
            }
            _ => {}
        }
    }
    let head = RequestHead {
        method,
        target,
        version,
        headers,
    };
    let body = request_body_kind(&head, limits.max_body)?;
    Ok(Some(Parsed {
        head,
        len: end,
        body,
    }))
}

/// Parses a response head from the start of `buf`; `request_method` is the method of the
/// request it answers (a response to HEAD has no body).
///
/// Interim 1xx responses are returned like any other (their body is [`BodyKind::Empty`]); the
/// caller keeps reading for the final response. Obsolete line folding is replaced by a space.
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
    request_method: &Method,
) -> Result<Option<Parsed<ResponseHead>>, ParseError> {
    let Some(end) = find_head_end(buf, 0) else {
        if buf.len() > limits.max_head_bytes {
            return Err(ParseError::HeadersTooLarge);
        }
        return Ok(None);
    };
    if end > limits.max_head_bytes {
        return Err(ParseError::HeadersTooLarge);
    }
    let head_text = HeadText::new(&buf[..end]);
    let mut lines = lines(&buf[..end]);
    let status_line = lines.next().ok_or(ParseError::BadStatusLine)??;
    let (version, rest) = match find_byte(status_line, b' ') {
        Some(space) => (&status_line[..space], &status_line[space + 1..]),
        None => return Err(ParseError::BadStatusLine),
    };
    let version = parse_version(version)?;
    let (code, reason) = match rest {
        [a, b, c] => ([*a, *b, *c], &[][..]),
        [a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
        _ => return Err(ParseError::BadStatusLine),
    };
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadStatusLine);
    }
    let code = code
        .iter()
        .fold(0u16, |acc, digit| acc * 10 + u16::from(digit - b'0'));
    let status = StatusCode::from_u16(code).ok_or(ParseError::BadStatusLine)?;
    let reason = field_value(reason).map_err(|_| ParseError::BadStatusLine)?;
    let headers = parse_fields(head_text, lines, limits, Folding::Unfold)?;
    let head = ResponseHead {
        version,
        status,
        reason: reason.into_owned(),
        headers,
    };
    let body = response_body_kind(request_method, &head)?;
    Ok(Some(Parsed {
        head,
        len: end,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Result<Option<Parsed<RequestHead>>, ParseError> {
        parse_request(text.as_bytes(), &Limits::default())
    }

    #[test]
    fn obs_text_values_are_kept_whether_or_not_the_head_is_utf8() {
        let limits = Limits::default();
        // UTF-8 obs-text: taken as is, and the other fields with it.
        let utf8 = "HTTP/1.1 200 OK\r\nX-Name: caf\u{e9}\r\nB: c\r\n\r\n";
        let parsed = parse_response(utf8.as_bytes(), &limits, &Method::Get)
            .unwrap()
            .unwrap();
        let fields: Vec<_> = parsed.head.headers.iter().collect();
        assert_eq!(fields, [("X-Name", "caf\u{e9}"), ("B", "c")]);
        // Latin-1 obs-text (not UTF-8): kept readable, and the other fields unharmed.
        let latin1 = b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nB: c\r\n\r\n";
        let parsed = parse_response(latin1, &limits, &Method::Get)
            .unwrap()
            .unwrap();
        let fields: Vec<_> = parsed.head.headers.iter().collect();
        assert_eq!(fields, [("X-Name", "caf\u{fffd}"), ("B", "c")]);
        // Control bytes are refused, a bare CR as such.
        for (bad, error) in [
            (&b"X: a\x01b"[..], ParseError::BadHeaderValue),
            (b"X: a\x7fb", ParseError::BadHeaderValue),
            (b"X: a\rb", ParseError::BareCr),
        ] {
            let mut text = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
            text.extend_from_slice(bad);
            text.extend_from_slice(b"\r\n\r\n");
            assert_eq!(parse_request(&text, &limits), Err(error));
        }
    }

    #[test]
    fn responses_unfold_obs_fold_and_requests_refuse_it() {
        let text = b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\tthree \r\nB: c\r\n\r\n";
        let parsed = parse_response(text, &Limits::default(), &Method::Get)
            .unwrap()
            .unwrap();
        let fields: Vec<_> = parsed.head.headers.iter().collect();
        assert_eq!(fields, [("X-A", "one two three"), ("B", "c")]);
        let leading = b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n";
        assert_eq!(
            parse_response(leading, &Limits::default(), &Method::Get),
            Err(ParseError::ObsFold)
        );
        assert_eq!(
            request("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n"),
            Err(ParseError::ObsFold)
        );
    }

    #[test]
    fn parses_the_seed_request_incrementally() {
        let text =
            "GET /somedir/page.html HTTP/1.1\r\nHost: www.someschool.edu\r\nConnection: close\r\n\
User-agent: Mozilla/5.0\r\nAccept-language: fr\r\n\r\nNEXT";
        for cut in 0..text.len() - 4 {
            assert_eq!(request(&text[..cut]), Ok(None), "cut at {cut}");
        }
        let parsed = request(text).unwrap().unwrap();
        assert_eq!(parsed.len, text.len() - 4);
        assert_eq!(parsed.head.method, Method::Get);
        assert_eq!(parsed.head.target.path(), "/somedir/page.html");
        assert_eq!(parsed.head.headers.get("user-agent"), Some("Mozilla/5.0"));
        assert_eq!(parsed.body, BodyKind::Empty);
        assert!(parsed.head.wants_close());
    }

    #[test]
    fn accepts_bare_lf_and_leading_empty_lines() {
        let parsed = request("\r\n\nGET / HTTP/1.0\nHost: a\n\n")
            .unwrap()
            .unwrap();
        assert_eq!(parsed.head.version, Version::Http10);
        assert_eq!(parsed.len, 3 + 15 + 8 + 1);
    }

    #[test]
    fn limits_have_their_statuses() {
        let limits = Limits {
            max_request_line: 20,
            max_head_bytes: 64,
            max_headers: 2,
            max_body: 10,
        };
        let check = |text: &str, status: u16| {
            let error = parse_request(text.as_bytes(), &limits).unwrap_err();
            assert_eq!(error.status().as_u16(), status, "{text:?}");
        };
        check("GET /aaaaaaaaaaaaaaaaaaaaaaaa", 414);
        check("GET /aaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", 414);
        check(
            &format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(60)),
            431,
        );
        check("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 431);
        check(
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
            413,
        );
        check("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    }

    #[test]
    fn parses_responses() {
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: a\r\n  b\r\n\r\nhello";
        let parsed = parse_response(text, &Limits::default(), &Method::Get)
            .unwrap()
            .unwrap();
        assert_eq!(parsed.head.status, StatusCode::OK);
        assert_eq!(parsed.body, BodyKind::Length(5));
        assert_eq!(parsed.head.headers.get("x"), Some("a b"));
        let head = parse_response(text, &Limits::default(), &Method::Head)
            .unwrap()
            .unwrap();
        assert_eq!(head.body, BodyKind::Empty);
        let bare = parse_response(b"HTTP/1.0 404\r\n\r\n", &Limits::default(), &Method::Get)
            .unwrap()
            .unwrap();
        assert_eq!(bare.head.reason, "");
        assert_eq!(bare.body, BodyKind::CloseDelimited);
        assert!(
            parse_response(b"HTTP/1.1 20 OK\r\n\r\n", &Limits::default(), &Method::Get).is_err()
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n", &Limits::default(), &Method::Get),
            Ok(None)
        );
    }
}
