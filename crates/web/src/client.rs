//! The page-fetching client (sans-IO parts): options, the report, finding the objects a page
//! references, the local cache's records, and round-trip accounting. The connections live in
//! `net::client`; [`get`] is the entry point.

use http_proto::{HeaderMap, Method, Uri};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::net::client::get;

/// How objects are fetched (the seed's §2.2.2 connection models).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new TCP connection per object, closed after it (HTTP/1.0 style): 2 RTTs per object.
    NonPersistent,
    /// One persistent connection per server, one request at a time (the default).
    Persistent,
    /// One persistent connection per server with all requests sent back to back.
    Pipeline,
    /// Up to this many persistent connections in parallel, as browsers do.
    Parallel(usize),
    /// HTTP/2 (h2 by ALPN for https, h2c with prior knowledge for http): one connection, the
    /// page, then every object at once on its own stream; pushed objects are taken as pushed.
    Http2,
}

/// Name resolution for the client is pluggable (the system's resolver, or the world's own
/// DNS); the trait lives in `netio` so that every client shares it.
pub use netio::resolve::{Resolve, SystemResolver};

/// What to fetch and how.
#[derive(Clone)]
pub struct FetchOptions {
    /// The connection model.
    pub mode: Mode,
    /// The method of the base request (objects are always fetched with GET).
    pub method: Method,
    /// Extra request header fields (`-H`).
    pub headers: HeaderMap,
    /// A request body (`-d`).
    pub body: Option<Vec<u8>>,
    /// Whether to fetch the objects the base page references.
    pub fetch_objects: bool,
    /// Send everything to this proxy (a web cache) in absolute form.
    pub proxy: Option<SocketAddr>,
    /// The local address connections leave from (`None`: the kernel's choice); the world
    /// uses a host's own address so that timelines name it.
    pub source: Option<std::net::IpAddr>,
    /// Name resolution.
    pub resolver: Arc<dyn Resolve>,
    /// A cookie jar file (Netscape format, as curl's), read before and written after.
    pub cookie_jar: Option<PathBuf>,
    /// A local cache directory: stored responses are revalidated with conditional GET.
    pub cache_dir: Option<PathBuf>,
    /// Keep the request and response heads of every exchange in the report (`-v`).
    pub record_heads: bool,
    /// How long one connection attempt or one response may take.
    pub timeout: Duration,
    /// The User-Agent.
    pub user_agent: String,
    /// The TLS client configuration for https URLs (`None`: https is refused).
    pub tls: Option<Arc<tls::rustls::ClientConfig>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mode: Mode::Persistent,
            method: Method::Get,
            headers: HeaderMap::new(),
            body: None,
            fetch_objects: true,
            proxy: None,
            source: None,
            resolver: Arc::new(SystemResolver),
            cookie_jar: None,
            cache_dir: None,
            record_heads: false,
            timeout: Duration::from_secs(30),
            user_agent: concat!("applayer/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls: None,
        }
    }
}

impl fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchOptions")
            .field("mode", &self.mode)
            .field("method", &self.method)
            .field("fetch_objects", &self.fetch_objects)
            .field("proxy", &self.proxy)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not an http URL we can fetch.
    #[error("bad url {url:?}: {error}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        error: http_proto::UriError,
    },
    /// An https URL without a TLS configuration, or through a proxy (which would need
    /// CONNECT).
    #[error("{0}: https needs a TLS configuration and no proxy")]
    Https(String),
    /// The name did not resolve.
    #[error("cannot resolve {host}: {error}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        error: std::io::Error,
    },
    /// Connecting, sending or receiving failed.
    #[error("{addr}: {error}")]
    Io {
        /// The server.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The response could not be parsed.
    #[error("{addr}: malformed response: {error}")]
    Response {
        /// The server.
        addr: SocketAddr,
        /// Why.
        error: http_proto::ResponseError,
    },
    /// The host name resolved to no address.
    #[error("cannot resolve {host}: no addresses")]
    NoAddress {
        /// The host.
        host: String,
    },
    /// Connecting, sending or the response took longer than the timeout.
    #[error("{addr}: {what} timeout")]
    Timeout {
        /// The server.
        addr: SocketAddr,
        /// `connect`, `send` or `response`.
        what: &'static str,
    },
    /// The server closed the connection before a response.
    #[error("{addr}: connection closed before a response")]
    Closed {
        /// The server.
        addr: SocketAddr,
    },
    /// A `101 Switching Protocols` nobody asked for.
    #[error("{addr}: unexpected 101 Switching Protocols")]
    UnexpectedSwitch {
        /// The server.
        addr: SocketAddr,
    },
}

/// How the local cache took part in fetching an object.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// No cache, or nothing stored.
    None,
    /// The stored copy was revalidated: the server answered 304 and the copy was used.
    Revalidated,
    /// The response was stored (new or changed).
    Stored,
}

/// One fetched object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectReport {
    /// Its URL.
    pub url: String,
    /// The status code of the response.
    pub status: u16,
    /// Body bytes received (0 for 304 and HEAD).
    pub bytes: u64,
    /// The content type.
    pub content_type: Option<String>,
    /// Which connection carried it (1-based, in the order they were opened).
    pub connection: usize,
    /// How the cache took part.
    pub cache: CacheUse,
    /// From sending the request to the end of the response.
    pub elapsed: Duration,
}

/// One exchange's heads, for `-v`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The request head as sent.
    pub request: String,
    /// The response head as received.
    pub response: String,
}

/// What a fetch did: the base page, the objects, and the cost in connections and RTTs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchReport {
    /// The base object first, then the referenced objects in page order.
    pub objects: Vec<ObjectReport>,
    /// The base response's head.
    pub base_head: http_proto::ResponseHead,
    /// The base response's body (the cached copy after a 304).
    pub base_body: Vec<u8>,
    /// TCP connections opened.
    pub connections: usize,
    /// Round trips on the critical path: one per TCP handshake, one per TLS handshake (TLS
    /// 1.3), and one per request wave
    /// (a pipelined batch counts once; parallel connections count their longest chain).
    pub round_trips: u32,
    /// Body bytes received, all objects.
    pub bytes: u64,
    /// Wall-clock time of the whole fetch.
    pub total: Duration,
    /// The heads of every exchange, when asked for.
    pub exchanges: Vec<Exchange>,
    /// HTTP/2 streams used (0 over HTTP/1.x).
    pub streams: usize,
    /// Objects the server pushed that were used.
    pub pushed: usize,
}

impl FetchReport {
    /// A multi-line human summary: one line per object, then the totals.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        for object in &self.objects {
            let cache = match object.cache {
                CacheUse::None => "",
                CacheUse::Revalidated => " (cache: revalidated)",
                CacheUse::Stored => " (cache: stored)",
            };
            text.push_str(&format!(
                "{:>3} {:>9} B  conn {:>2}  {:>8.1} ms  {}{}\n",
                object.status,
                object.bytes,
                object.connection,
                object.elapsed.as_secs_f64() * 1000.0,
                object.url,
                cache
            ));
        }
        let streams = if self.streams > 0 {
            format!("  h2 streams: {} (pushed {})", self.streams, self.pushed)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "objects: {}  bytes: {}  tcp connections: {}  round trips: {}{streams}  total: {:.1} ms\n",
            self.objects.len(),
            self.bytes,
            self.connections,
            self.round_trips,
            self.total.as_secs_f64() * 1000.0
        ));
        text
    }
}

/// Parses a URL for fetching; plain `host/path` gets `http://`.
pub fn parse_url(url: &str) -> Result<Uri, ClientError> {
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let uri = Uri::parse(&with_scheme).map_err(|error| ClientError::Url {
        url: url.to_owned(),
        error,
    })?;
    Ok(uri)
}

/// The URLs of the objects an HTML page references (img, script, link, source, video, audio,
/// embed, and `poster`), resolved against `base`, in page order without duplicates. Only http
/// URLs are kept (and https); comments are skipped.
pub fn referenced_objects(html: &str, base: &Uri) -> Vec<Uri> {
    let mut found: Vec<Uri> = Vec::new();
    let mut push = |reference: &str| {
        let reference = decode_entities(reference.trim());
        if reference.is_empty() || reference.starts_with("data:") || reference.starts_with('#') {
            return;
        }
        if let Ok(uri) = base.join(&reference) {
            if (uri.scheme == "http" || uri.scheme == "https") && !found.contains(&uri) {
                found.push(uri);
            }
        }
    };
    let bytes = html.as_bytes();
    let mut pos = 0;
    while let Some(offset) = html[pos..].find('<') {
        let start = pos + offset;
        if html[start..].starts_with("<!--") {
            pos = match html[start + 4..].find("-->") {
                Some(end) => start + 4 + end + 3,
                None => break,
            };
            continue;
        }
        let Some(end) = find_tag_end(bytes, start + 1) else {
            break;
        };
        let tag = &html[start + 1..end];
        pos = end + 1;
        let name_end = tag
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        let attributes = parse_attributes(&tag[name_end..]);
        let attribute = |wanted: &str| {
            attributes
                .iter()
                .find(|(n, _)| n == wanted)
                .map(|(_, v)| v.as_str())
        };
        match name.as_str() {
            "img" | "script" | "source" | "video" | "audio" | "embed" | "track" | "iframe" => {
                if let Some(src) = attribute("src") {
                    push(src);
                }
                if let Some(poster) = attribute("poster") {
                    push(poster);
                }
                if let Some(srcset) = attribute("srcset") {
                    for candidate in srcset.split(',') {
                        if let Some(url) = candidate.split_whitespace().next() {
                            push(url);
                        }
                    }
                }
            }
            "link" => {
                let rel = attribute("rel").unwrap_or("").to_ascii_lowercase();
                let wanted = rel.split_whitespace().any(|r| {
                    matches!(
                        r,
                        "stylesheet"
                            | "icon"
                            | "preload"
                            | "prefetch"
                            | "manifest"
                            | "modulepreload"
                    )
                });
                if wanted {
                    if let Some(href) = attribute("href") {
                        push(href);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// The end (`>`) of a tag starting at `from`, honouring quoted attribute values.
fn find_tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (index, &byte) in bytes.iter().enumerate().skip(from) {
        match (quote, byte) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'>') => return Some(index),
            _ => {}
        }
    }
    None
}

fn parse_attributes(text: &str) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        while index < chars.len() && (chars[index].is_whitespace() || chars[index] == '/') {
            index += 1;
        }
        let start = index;
        while index < chars.len()
            && !chars[index].is_whitespace()
            && chars[index] != '='
            && chars[index] != '/'
        {
            index += 1;
        }
        let name: String = chars[start..index]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        while index < chars.len() && chars[index].is_whitespace() {
            index += 1;
        }
        let mut value = String::new();
        if index < chars.len() && chars[index] == '=' {
            index += 1;
            while index < chars.len() && chars[index].is_whitespace() {
                index += 1;
            }
            if index < chars.len() && (chars[index] == '"' || chars[index] == '\'') {
                let quote = chars[index];
                index += 1;
                let value_start = index;
                while index < chars.len() && chars[index] != quote {
                    index += 1;
                }
                value = chars[value_start..index].iter().collect();
                index += 1;
            } else {
                let value_start = index;
                while index < chars.len() && !chars[index].is_whitespace() {
                    index += 1;
                }
                value = chars[value_start..index].iter().collect();
            }
        }
        if !name.is_empty() {
            attributes.push((name, value));
        } else if index == start {
            index += 1;
        }
    }
    attributes
}

fn decode_entities(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// A response kept in the client's cache directory, with its validators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRecord {
    /// The URL.
    pub url: String,
    /// The ETag, if the server sent one.
    pub etag: Option<String>,
    /// The Last-Modified date, if sent.
    pub last_modified: Option<String>,
    /// The content type.
    pub content_type: Option<String>,
}

impl CacheRecord {
    /// The metadata file's text: `key: value` lines.
    pub fn encode(&self) -> String {
        let mut text = format!("url: {}\n", self.url);
        if let Some(etag) = &self.etag {
            text.push_str(&format!("etag: {etag}\n"));
        }
        if let Some(date) = &self.last_modified {
            text.push_str(&format!("last-modified: {date}\n"));
        }
        if let Some(kind) = &self.content_type {
            text.push_str(&format!("content-type: {kind}\n"));
        }
        text
    }

    /// Reads a metadata file; `None` if it has no url line.
    pub fn decode(text: &str) -> Option<CacheRecord> {
        let mut record = CacheRecord {
            url: String::new(),
            etag: None,
            last_modified: None,
            content_type: None,
        };
        for line in text.lines() {
            let (key, value) = line.split_once(": ")?;
            match key {
                "url" => record.url = value.to_owned(),
                "etag" => record.etag = Some(value.to_owned()),
                "last-modified" => record.last_modified = Some(value.to_owned()),
                "content-type" => record.content_type = Some(value.to_owned()),
                _ => {}
            }
        }
        (!record.url.is_empty()).then_some(record)
    }

    /// The file-name stem for a URL in the cache directory (FNV-1a, 64 bits, in hex).
    pub fn key(url: &str) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in url.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_objects_of_a_page() {
        let base = Uri::parse("http://www.someSchool.edu/someDepartment/home.index").unwrap();
        let html = r#"<html><head>
<link rel="stylesheet" href="style.css"><link rel=alternate href="/feed">
<link rel="icon" href='/favicon.ico'>
<script src="/js/app.js"></script>
</head><body>
<!-- <img src="commented.jpg"> -->
<img src="img1.jpg" alt="a > b"><IMG SRC=img2.jpg>
<img src="img1.jpg">
<video poster="p.jpg"><source src="http://cdn.example.com/v.mp4" type="video/mp4"></video>
<img src="data:image/png;base64,xx"><img src="https://secure.example.com/x.png">
<img srcset="s1.jpg 1x, s2.jpg 2x">
<a href="other.html">not an object</a>
<img src="a.jpg?x=1&amp;y=2">
</body></html>"#;
        let found: Vec<String> = referenced_objects(html, &base)
            .iter()
            .map(Uri::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "http://www.someschool.edu/someDepartment/style.css",
                "http://www.someschool.edu/favicon.ico",
                "http://www.someschool.edu/js/app.js",
                "http://www.someschool.edu/someDepartment/img1.jpg",
                "http://www.someschool.edu/someDepartment/img2.jpg",
                "http://www.someschool.edu/someDepartment/p.jpg",
                "http://cdn.example.com/v.mp4",
                "https://secure.example.com/x.png",
                "http://www.someschool.edu/someDepartment/s1.jpg",
                "http://www.someschool.edu/someDepartment/s2.jpg",
                "http://www.someschool.edu/someDepartment/a.jpg?x=1&y=2",
            ]
        );
    }

    #[test]
    fn never_panics_on_broken_html() {
        let base = Uri::parse("http://a/").unwrap();
        for html in [
            "<",
            "<img src=\"x",
            "<img src='é",
            "<!-- ",
            "<é src=1>",
            "<img src= >",
            "<<>>",
            "<img =x>",
        ] {
            let _ = referenced_objects(html, &base);
        }
    }

    #[test]
    fn cache_records_round_trip() {
        let record = CacheRecord {
            url: "http://a/b".into(),
            etag: Some("\"x\"".into()),
            last_modified: Some("Tue, 18 Aug 2015 15:44:04 GMT".into()),
            content_type: None,
        };
        assert_eq!(CacheRecord::decode(&record.encode()), Some(record));
        assert_eq!(CacheRecord::key("http://a/b").len(), 16);
        assert_eq!(
            parse_url("www.someschool.edu/x").unwrap().host,
            "www.someschool.edu"
        );
        assert_eq!(parse_url("https://a/").unwrap().port_or_default(), 443);
    }
}
