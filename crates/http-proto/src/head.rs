//! Request and response heads: the start line plus the header fields, and their encoders.

use crate::header::HeaderMap;
use crate::types::{Method, StatusCode, Version};
use crate::uri::RequestTarget;
use std::fmt;

/// A request line and its header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The parsed request-target.
    pub target: RequestTarget,
    /// The version.
    pub version: Version,
    /// The header fields, in order.
    pub headers: HeaderMap,
}

impl RequestHead {
    /// A request with no header fields yet.
    pub fn new(method: Method, target: RequestTarget, version: Version) -> RequestHead {
        RequestHead {
            method,
            target,
            version,
            headers: HeaderMap::new(),
        }
    }

    /// An HTTP/1.1 request for an origin-form target such as `/index.html?x=1` (which must
    /// start with `/`; anything else becomes `/`).
    pub fn origin(method: Method, path_and_query: &str) -> RequestHead {
        let target = match path_and_query.split_once('?') {
            Some((path, query)) => RequestTarget::Origin {
                path: path.to_owned(),
                query: Some(query.to_owned()),
            },
            None => RequestTarget::Origin {
                path: path_and_query.to_owned(),
                query: None,
            },
        };
        let target = match &target {
            RequestTarget::Origin { path, .. } if path.starts_with('/') => target,
            _ => RequestTarget::Origin {
                path: "/".into(),
                query: None,
            },
        };
        RequestHead::new(method, target, Version::Http11)
    }

    /// Adds a header line (builder style).
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> RequestHead {
        self.headers.append(name, value);
        self
    }

    /// Whether the client asked to close after this exchange (RFC 9112 §9.3): `Connection:
    /// close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub fn wants_close(&self) -> bool {
        if self.headers.has_token("connection", "close") {
            return true;
        }
        self.version == Version::Http10 && !self.headers.has_token("connection", "keep-alive")
    }

    /// Whether the request carries `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11 && self.headers.has_token("expect", "100-continue")
    }

    /// Writes the request line, the fields and the empty line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(64 + self.headers.encoded_len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.encode(out);
        out.extend_from_slice(b"\r\n");
    }

    /// One line for the timeline: `GET /somedir/page.html HTTP/1.1 host=www.someschool.edu`.
    pub fn summary(&self) -> String {
        match self.headers.get("host") {
            Some(host) => format!(
                "{} {} {} host={}",
                self.method, self.target, self.version, host
            ),
            None => format!("{} {} {}", self.method, self.target, self.version),
        }
    }
}

impl fmt::Display for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.method, self.target, self.version)
    }
}

/// A status line and its header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The version.
    pub version: Version,
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase (informational only).
    pub reason: String,
    /// The header fields, in order.
    pub headers: HeaderMap,
}

impl ResponseHead {
    /// An HTTP/1.1 response with the standard reason phrase and no fields.
    pub fn new(status: StatusCode) -> ResponseHead {
        ResponseHead {
            version: Version::Http11,
            status,
            reason: status.reason().to_owned(),
            // Room for a typical file response's fields without regrowing.
            headers: HeaderMap::with_capacity(8),
        }
    }

    /// Adds a header line (builder style).
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> ResponseHead {
        self.headers.append(name, value);
        self
    }

    /// Writes the status line, the fields and the empty line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(32 + self.reason.len() + self.headers.encoded_len());
        encode_status_line(self.version, self.status, &self.reason, out);
        self.headers.encode(out);
        out.extend_from_slice(b"\r\n");
    }

    /// One line for the timeline: `200 OK len=6821 type=text/html`.
    pub fn summary(&self) -> String {
        let mut text = format!("{} {}", self.status, self.reason);
        if let Some(length) = self.headers.get("content-length") {
            text.push_str(" len=");
            text.push_str(length);
        } else if self.headers.has_token("transfer-encoding", "chunked") {
            text.push_str(" chunked");
        }
        if let Some(kind) = self.headers.get("content-type") {
            text.push_str(" type=");
            text.push_str(kind.split(';').next().unwrap_or(kind).trim());
        }
        text
    }

    /// Whether the connection must close after this response: `Connection: close`, or an
    /// HTTP/1.0 response without `Connection: keep-alive`.
    pub fn wants_close(&self) -> bool {
        if self.headers.has_token("connection", "close") {
            return true;
        }
        self.version == Version::Http10 && !self.headers.has_token("connection", "keep-alive")
    }
}

impl fmt::Display for ResponseHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.version, self.status, self.reason)
    }
}

/// `HTTP/1.1 200 OK\r\n`: a status line, with the status's own reason phrase in place of
/// one that would break the line.
pub fn encode_status_line(version: Version, status: StatusCode, reason: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(version.as_str().as_bytes());
    out.push(b' ');
    let code = status.as_u16();
    out.extend_from_slice(&[
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        b' ',
    ]);
    // The reason phrase must not break the line.
    if reason
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
    {
        out.extend_from_slice(reason.as_bytes());
    } else {
        out.extend_from_slice(status.reason().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_seed_request() {
        let request = RequestHead::origin(Method::Get, "/somedir/page.html")
            .header("Host", "www.someschool.edu")
            .header("Connection", "close")
            .header("User-agent", "Mozilla/5.0")
            .header("Accept-language", "fr");
        let mut out = Vec::new();
        request.encode(&mut out);
        assert_eq!(
            out,
            b"GET /somedir/page.html HTTP/1.1\r\nHost: www.someschool.edu\r\nConnection: close\r\n\
User-agent: Mozilla/5.0\r\nAccept-language: fr\r\n\r\n"
        );
        assert!(request.wants_close());
        assert_eq!(
            request.summary(),
            "GET /somedir/page.html HTTP/1.1 host=www.someschool.edu"
        );
    }

    #[test]
    fn encodes_the_seed_response() {
        let response = ResponseHead::new(StatusCode::OK)
            .header("Connection", "close")
            .header("Date", "Tue, 18 Aug 2015 15:44:04 GMT")
            .header("Content-Length", "6821")
            .header("Content-Type", "text/html");
        let mut out = Vec::new();
        response.encode(&mut out);
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nConnection: close\r\n"));
        assert!(out.ends_with(b"Content-Type: text/html\r\n\r\n"));
        assert_eq!(response.summary(), "200 OK len=6821 type=text/html");
    }
}
