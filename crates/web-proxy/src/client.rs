//! A small client for self-checks and tests: one GET through a proxy (absolute-form request,
//! one connection), returning status, fields and body.

use http_proto::{HeaderMap, Limits, Method, Progress, ResponseHead, ResponseReader};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response received through the proxy.
#[derive(Clone, Debug)]
pub struct ProxiedResponse {
    /// The response head.
    pub head: ResponseHead,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl ProxiedResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }

    /// The `X-Cache` value (`HIT`, `MISS`, `REVALIDATED`, `STALE`), if any.
    pub fn cache_status(&self) -> Option<&str> {
        self.head.headers.get("x-cache")
    }

    /// The fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }
}

/// Why a GET through the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The URL is not an absolute `http://` URL.
    #[error("bad URL: {0}")]
    Url(http_proto::UriError),
    /// Connecting, sending or receiving failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The response was malformed or cut short.
    #[error("bad response: {0}")]
    Response(http_proto::ResponseError),
    /// The connection closed before a response head.
    #[error("the proxy closed the connection without a response")]
    NoResponse,
    /// No complete response within the timeout.
    #[error("proxy did not answer in time")]
    Timeout,
}

impl From<http_proto::UriError> for GetError {
    fn from(error: http_proto::UriError) -> Self {
        GetError::Url(error)
    }
}

impl From<http_proto::ResponseError> for GetError {
    fn from(error: http_proto::ResponseError) -> Self {
        GetError::Response(error)
    }
}

/// Sends `GET url` (an absolute `http://` URL) with the extra `headers` through the proxy at
/// `proxy`, and reads the whole response, all within `timeout`.
pub async fn get_via(
    proxy: SocketAddr,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<ProxiedResponse, GetError> {
    get_via_from(None, proxy, url, headers, timeout).await
}

/// [`get_via`] from the local address `source` when given (a world host's own address).
pub async fn get_via_from(
    source: Option<std::net::IpAddr>,
    proxy: SocketAddr,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<ProxiedResponse, GetError> {
    match tokio::time::timeout(timeout, request_via(source, proxy, "GET", url, headers)).await {
        Ok(result) => result,
        Err(_) => Err(GetError::Timeout),
    }
}

async fn request_via(
    source: Option<std::net::IpAddr>,
    proxy: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<ProxiedResponse, GetError> {
    let uri = http_proto::Uri::parse(url)?;
    let mut request = format!(
        "{method} {url} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        uri.authority()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = netio::resolve::connect_from(source, proxy).await?;
    stream.write_all(request.as_bytes()).await?;
    let method = http_proto::Method::parse(method).unwrap_or(Method::Get);
    let mut reader = ResponseReader::new(&method, Limits::default());
    let mut buffer = Vec::new();
    let mut body = Vec::new();
    let mut head = None;
    loop {
        match reader.advance(&mut buffer, &mut body)? {
            Progress::Head(got) => head = Some(got),
            Progress::Done => break,
            Progress::NeedMore => {
                if stream.read_buf(&mut buffer).await? == 0 {
                    reader.finish_at_eof()?;
                    break;
                }
            }
        }
    }
    let head = head.ok_or(GetError::NoResponse)?;
    Ok(ProxiedResponse { head, body })
}
