//! URIs and request targets (RFC 9112 §3.2, RFC 3986), and percent-decoding.

use crate::types::Method;
use std::fmt;

/// Why a URI or request target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text is empty.
    #[error("empty uri")]
    Empty,
    /// The scheme is missing or not http/https.
    #[error("unsupported scheme")]
    Scheme,
    /// The authority (host and port) is malformed.
    #[error("malformed authority")]
    Authority,
    /// A character that no URI may hold.
    #[error("invalid character in uri")]
    Character,
    /// The target form does not fit the method (e.g. `*` with GET).
    #[error("request target form not allowed for this method")]
    Form,
}

/// An absolute `http` or `https` URI, as used by clients and in absolute-form targets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uri {
    /// `"http"` or `"https"`, lowercase.
    pub scheme: String,
    /// The host: a name (lowercased), an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
    /// The path, starting with `/` (an empty path becomes `/`).
    pub path: String,
    /// The query without the `?`.
    pub query: Option<String>,
}

impl Uri {
    /// Parses `http://host[:port][/path][?query][#fragment]` (the fragment is dropped;
    /// userinfo is refused, RFC 9110 §4.2.4).
    pub fn parse(text: &str) -> Result<Uri, UriError> {
        if text.is_empty() {
            return Err(UriError::Empty);
        }
        if !text.bytes().all(is_uri_char) {
            return Err(UriError::Character);
        }
        let (scheme, rest) = text.split_once("://").ok_or(UriError::Scheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(UriError::Scheme);
        }
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (host, port) = parse_authority(authority)?;
        let (path, query) = split_path_query(path_and_query);
        Ok(Uri {
            scheme,
            host,
            port,
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            query: query.map(str::to_owned),
        })
    }

    /// The port, or the scheme's default (80 for http, 443 for https).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// `host[:port]` as it goes in a Host header (IPv6 in brackets; the port only if given).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// The origin-form target: path and `?query`.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{}", self.path, query),
            None => self.path.clone(),
        }
    }

    /// Resolves a reference found in a page (absolute, scheme-relative `//host/x`, absolute
    /// path `/x`, or relative `x`, `../x`) against this base URI (RFC 3986 §5.2, simplified:
    /// dot segments are removed).
    pub fn join(&self, reference: &str) -> Result<Uri, UriError> {
        let reference = reference.trim();
        let reference = reference.split('#').next().unwrap_or("");
        if reference.contains("://") {
            return Uri::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Uri::parse(&format!("{}://{}", self.scheme, rest));
        }
        let mut joined = self.clone();
        if reference.is_empty() {
            return Ok(joined);
        }
        if !reference.bytes().all(is_uri_char) {
            return Err(UriError::Character);
        }
        let (path, query) = split_path_query(reference);
        joined.query = query.map(str::to_owned);
        if path.is_empty() {
            if query.is_none() {
                joined.query = self.query.clone();
            }
            return Ok(joined);
        }
        let merged = if path.starts_with('/') {
            path.to_owned()
        } else {
            let dir = match self.path.rfind('/') {
                Some(index) => &self.path[..=index],
                None => "/",
            };
            format!("{dir}{path}")
        };
        joined.path = remove_dot_segments(&merged);
        Ok(joined)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme,
            self.authority(),
            self.path_and_query()
        )
    }
}

/// RFC 3986 §5.2.4: removes `.` and `..` segments from an absolute path.
pub fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let trailing_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

fn split_path_query(text: &str) -> (&str, Option<&str>) {
    match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    }
}

/// Characters a URI may contain (RFC 3986 §2: unreserved, reserved, `%`).
fn is_uri_char(byte: u8) -> bool {
    matches!(byte, b'!' | b'#'..=b';' | b'=' | b'?'..=b'[' | b']' | b'_' | b'a'..=b'z' | b'~')
}

fn is_reg_name_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

/// Parses `host[:port]` (authority without userinfo), as in a Host header or authority-form
/// target. The host is lowercased; IPv6 literals lose their brackets.
pub fn parse_authority(text: &str) -> Result<(String, Option<u16>), UriError> {
    let (host, port) = split_authority(text)?;
    Ok((host.to_ascii_lowercase(), port))
}

/// Checks `host[:port]` as [`parse_authority`] does, without building the lowercased host.
pub(crate) fn is_valid_authority(text: &str) -> bool {
    split_authority(text).is_ok()
}

/// The host (as written, brackets removed) and port of `host[:port]`.
fn split_authority(text: &str) -> Result<(&str, Option<u16>), UriError> {
    if text.is_empty() || text.contains('@') {
        return Err(UriError::Authority);
    }
    let (host, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(UriError::Authority)?;
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(UriError::Authority);
        }
        let port = match after {
            "" => None,
            other => Some(other.strip_prefix(':').ok_or(UriError::Authority)?),
        };
        (inside, port)
    } else {
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if host.is_empty() || !host.bytes().all(is_reg_name_char) {
            return Err(UriError::Authority);
        }
        (host, port)
    };
    let port = match port_text {
        None | Some("") => None,
        Some(digits) => {
            if digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UriError::Authority);
            }
            Some(digits.parse::<u16>().map_err(|_| UriError::Authority)?)
        }
    };
    Ok((host, port))
}

/// The request-target of a request line (RFC 9112 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestTarget {
    /// `/path?query`, the usual form.
    Origin {
        /// The absolute path, still percent-encoded.
        path: String,
        /// The query without `?`.
        query: Option<String>,
    },
    /// `http://host/path`, sent to proxies.
    Absolute(Uri),
    /// `host:port`, only with CONNECT.
    Authority {
        /// The host.
        host: String,
        /// The port (required).
        port: u16,
    },
    /// `*`, only with OPTIONS.
    Asterisk,
}

impl RequestTarget {
    /// Parses a request-target and checks that its form fits `method`.
    pub fn parse(method: &Method, text: &str) -> Result<RequestTarget, UriError> {
        if text.is_empty() {
            return Err(UriError::Empty);
        }
        if !text.bytes().all(is_uri_char) || text.contains('#') {
            return Err(UriError::Character);
        }
        if *method == Method::Connect {
            let (host, port) = parse_authority(text)?;
            let port = port.ok_or(UriError::Authority)?;
            return Ok(RequestTarget::Authority { host, port });
        }
        if text == "*" {
            return if *method == Method::Options {
                Ok(RequestTarget::Asterisk)
            } else {
                Err(UriError::Form)
            };
        }
        if text.starts_with('/') {
            let (path, query) = split_path_query(text);
            return Ok(RequestTarget::Origin {
                path: path.to_owned(),
                query: query.map(str::to_owned),
            });
        }
        Uri::parse(text).map(RequestTarget::Absolute)
    }

    /// The path (`/` for authority and asterisk forms), still percent-encoded.
    pub fn path(&self) -> &str {
        match self {
            RequestTarget::Origin { path, .. } => path,
            RequestTarget::Absolute(uri) => &uri.path,
            RequestTarget::Authority { .. } | RequestTarget::Asterisk => "/",
        }
    }

    /// The query, if any.
    pub fn query(&self) -> Option<&str> {
        match self {
            RequestTarget::Origin { query, .. } => query.as_deref(),
            RequestTarget::Absolute(uri) => uri.query.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for RequestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestTarget::Origin { path, query } => match query {
                Some(query) => write!(f, "{path}?{query}"),
                None => f.write_str(path),
            },
            RequestTarget::Absolute(uri) => write!(f, "{uri}"),
            RequestTarget::Authority { host, port } if host.contains(':') => {
                write!(f, "[{host}]:{port}")
            }
            RequestTarget::Authority { host, port } => write!(f, "{host}:{port}"),
            RequestTarget::Asterisk => f.write_str("*"),
        }
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed. `+` is left alone (it only means
/// space in form bodies; see [`decode_form`]).
pub fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let high = hex_value(*bytes.get(index + 1)?)?;
            let low = hex_value(*bytes.get(index + 2)?)?;
            out.push(high << 4 | low);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    Some(out)
}

/// Encodes every byte outside the unreserved set and `/` as `%XX`.
pub fn percent_encode_path(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Parses an `application/x-www-form-urlencoded` body or query into name/value pairs
/// (`+` is a space; malformed escapes are kept literally).
pub fn decode_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_component(name), form_component(value))
        })
        .collect()
}

fn form_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    match percent_decode(&spaced) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => spaced,
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uris() {
        let uri = Uri::parse("http://WWW.SomeSchool.edu:8080/somedir/page.html?x=1#frag").unwrap();
        assert_eq!(uri.host, "www.someschool.edu");
        assert_eq!(uri.port, Some(8080));
        assert_eq!(uri.path, "/somedir/page.html");
        assert_eq!(uri.query.as_deref(), Some("x=1"));
        assert_eq!(
            uri.to_string(),
            "http://www.someschool.edu:8080/somedir/page.html?x=1"
        );
        let bare = Uri::parse("http://[::1]").unwrap();
        assert_eq!(bare.host, "::1");
        assert_eq!(bare.path, "/");
        assert_eq!(bare.authority(), "[::1]");
        assert_eq!(bare.port_or_default(), 80);
        assert!(Uri::parse("http://user@host/").is_err());
        assert!(Uri::parse("ftp://host/").is_err());
        assert!(Uri::parse("http://host:99999/").is_err());
        assert!(Uri::parse("http://ho st/").is_err());
    }

    #[test]
    fn joins_references() {
        let base = Uri::parse("http://a.com/dir/page.html").unwrap();
        let check = |reference: &str, expected: &str| {
            assert_eq!(
                base.join(reference).unwrap().to_string(),
                expected,
                "{reference}"
            );
        };
        check("img.jpg", "http://a.com/dir/img.jpg");
        check("../img.jpg", "http://a.com/img.jpg");
        check("/x/y.css", "http://a.com/x/y.css");
        check("//b.com/z.js", "http://b.com/z.js");
        check("http://c.org:81/v.mp4", "http://c.org:81/v.mp4");
        check("./a/./b/../c?q", "http://a.com/dir/a/c?q");
    }

    #[test]
    fn request_target_forms() {
        assert_eq!(
            RequestTarget::parse(&Method::Get, "/a%20b?x").unwrap(),
            RequestTarget::Origin {
                path: "/a%20b".into(),
                query: Some("x".into())
            }
        );
        assert!(matches!(
            RequestTarget::parse(&Method::Get, "http://h/p").unwrap(),
            RequestTarget::Absolute(_)
        ));
        assert_eq!(
            RequestTarget::parse(&Method::Connect, "h.com:443").unwrap(),
            RequestTarget::Authority {
                host: "h.com".into(),
                port: 443
            }
        );
        assert_eq!(
            RequestTarget::parse(&Method::Options, "*").unwrap(),
            RequestTarget::Asterisk
        );
        assert_eq!(RequestTarget::parse(&Method::Get, "*"), Err(UriError::Form));
        assert!(RequestTarget::parse(&Method::Get, "/a#b").is_err());
        assert!(RequestTarget::parse(&Method::Get, "a/b").is_err());
        assert!(RequestTarget::parse(&Method::Connect, "h.com").is_err());
    }

    #[test]
    fn percent_coding() {
        assert_eq!(percent_decode("/a%2e%2E/%41").unwrap(), b"/a../A");
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_encode_path(b"/a b/\xff"), "/a%20b/%FF");
        assert_eq!(
            decode_form("name=J%C3%A9+D&x&y=1"),
            [
                ("name".into(), "Jé D".into()),
                ("x".into(), "".into()),
                ("y".into(), "1".into())
            ]
        );
        assert_eq!(remove_dot_segments("/a/../../b/."), "/b/");
    }
}
