//! Sans-IO message rewriting for the proxy: which URI a request targets, the request sent
//! upstream, the response head sent to the client, heads built from stored entries, and
//! error responses.

use http_cache::Entry;
use http_proto::{
    HeaderMap, Method, RequestHead, RequestTarget, ResponseHead, StatusCode, Uri, Version,
};

/// What the cache did for a request (`X-Cache`): the exchange machine's.
pub use http_cache::CacheStatus;

/// Request fields that commonly change what an origin (or a framework in front of it) answers
/// but are not part of the cache key: stripped before forwarding so that no client can poison
/// the cache for others with them (RFC 9111 §7.1).
pub const UNKEYED_REQUEST_FIELDS: &[&str] = &[
    "x-forwarded-host",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-host",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "forwarded",
];

/// Hop-by-hop fields: the one list, http-proto's.
pub use http_proto::HOP_BY_HOP;

/// Removes the hop-by-hop fields: `Connection` and every field it names, plus [`HOP_BY_HOP`].
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers.list("connection").map(str::to_string).collect();
    headers.retain(|name, _| !hop_by_hop(name, &named));
}

/// Whether `name` is a hop-by-hop field: one of [`HOP_BY_HOP`] or named by the message's
/// `Connection` (`named`).
fn hop_by_hop(name: &str, named: &[impl AsRef<str>]) -> bool {
    http_proto::is_hop_by_hop(name)
        || named
            .iter()
            .any(|listed| listed.as_ref().eq_ignore_ascii_case(name))
}

/// Why a request cannot be proxied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// No absolute URI and no usable Host: 400.
    NoHost,
    /// A scheme this proxy cannot reach (https without CONNECT): 501... answered as 502.
    Scheme,
}

/// The absolute target URI of a request (RFC 9112 §3.3): the absolute-form target itself, or
/// the origin-form path on the Host of the request. In reverse mode (`origin` set) a request
/// without Host gets the origin's authority.
pub fn target_uri(head: &RequestHead, origin: Option<&Uri>) -> Result<Uri, TargetError> {
    let uri = match &head.target {
        RequestTarget::Absolute(uri) => uri.clone(),
        RequestTarget::Origin { path, query } => {
            let authority = match head.headers.get("host").filter(|host| !host.is_empty()) {
                Some(host) => host.to_string(),
                None => match origin {
                    Some(origin) => origin.authority(),
                    None => return Err(TargetError::NoHost),
                },
            };
            let text = format!("http://{authority}{path}");
            let mut uri = Uri::parse(&text).map_err(|_| TargetError::NoHost)?;
            uri.query = query.clone();
            uri
        }
        RequestTarget::Authority { .. } | RequestTarget::Asterisk => {
            return Err(TargetError::NoHost)
        }
    };
    if uri.scheme != "http" && origin.is_none() {
        return Err(TargetError::Scheme);
    }
    Ok(uri)
}

/// The request sent upstream for `client` to `target`: origin-form, HTTP/1.1, hop-by-hop and
/// unkeyed fields removed, `Host` set to the target's authority, `Via` appended, the body
/// framing given by `body_len`. With `validators`, the client's own `If-None-Match` /
/// `If-Modified-Since` are replaced by the cache's (§4.3.1); with `strip_conditionals` they are
/// removed so that a full response can be stored.
pub fn upstream_request(
    client: &RequestHead,
    target: &Uri,
    via: &str,
    body_len: Option<u64>,
    validators: Option<&HeaderMap>,
    strip_conditionals: bool,
) -> RequestHead {
    let mut headers = client.headers.clone();
    let named: Vec<String> = headers.list("connection").map(str::to_string).collect();
    let replace_validators = strip_conditionals || validators.is_some();
    headers.retain(|name, _| forwarded(name, &named, replace_validators, strip_conditionals));
    let via_before: Vec<String> = client.headers.get_all("via").map(str::to_string).collect();
    if let Some(validators) = validators {
        for (name, value) in validators.iter() {
            headers.append(name, value);
        }
    }
    headers.append("Host", target.authority());
    for value in via_before {
        headers.append("Via", value);
    }
    append_via(&mut headers, client.version, via);
    match body_len {
        Some(len) if len > 0 || !matches!(client.method, Method::Get | Method::Head) => {
            headers.insert("Content-Length", len.to_string())
        }
        _ => {}
    }
    let mut head = RequestHead::origin(client.method.clone(), &target.path_and_query());
    head.headers = headers;
    head
}

/// [`upstream_request`] with `method` in place of the client's, encoded straight into `out`:
/// the same bytes as building that head and encoding it, without copying the client's fields
/// into a map first.
#[allow(clippy::too_many_arguments)]
pub fn encode_upstream_request(
    client: &RequestHead,
    target: &Uri,
    via: &str,
    body_len: Option<u64>,
    validators: Option<&HeaderMap>,
    strip_conditionals: bool,
    method: &Method,
    out: &mut Vec<u8>,
) {
    // Revalidations (validators from the store) and a via name the map would sanitise take
    // the general path.
    if validators.is_some() || !clean_via(via) {
        let mut head = upstream_request(
            client,
            target,
            via,
            body_len,
            validators,
            strip_conditionals,
        );
        head.method = method.clone();
        head.encode(out);
        return;
    }
    out.reserve(128 + client.headers.encoded_len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    if target.path.starts_with('/') {
        out.extend_from_slice(target.path.as_bytes());
        if let Some(query) = &target.query {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
    } else {
        out.push(b'/');
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let named: Vec<&str> = client.headers.list("connection").collect();
    for (name, value) in client.headers.iter() {
        // Without validators, only `strip_conditionals` replaces the client's own.
        if forwarded(name, &named, strip_conditionals, strip_conditionals) {
            field(out, name.as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"Host: ");
    let bracketed = target.host.contains(':');
    if bracketed {
        out.push(b'[');
    }
    out.extend_from_slice(target.host.as_bytes());
    if bracketed {
        out.push(b']');
    }
    if let Some(port) = target.port {
        out.push(b':');
        out.extend_from_slice(port.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\nVia: ");
    push_via(out, client.headers.get_all("via"), client.version, via);
    out.extend_from_slice(b"\r\n");
    match body_len {
        Some(len) if len > 0 || !matches!(client.method, Method::Get | Method::Head) => {
            field(out, b"Content-Length", len.to_string().as_bytes());
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// The value [`append_via`] makes, appended to `out`: the existing values joined by ", ", then
/// (after ", " if anything came before) our hop, with leading blanks trimmed as a map trims
/// them (`via` is clean, see [`clean_via`]).
fn push_via<'a>(
    out: &mut Vec<u8>,
    existing: impl Iterator<Item = &'a str>,
    version: Version,
    via: &str,
) {
    let start = out.len();
    for (index, value) in existing.enumerate() {
        if index > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(value.as_bytes());
    }
    if out.len() > start {
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(if version == Version::Http10 {
        b"1.0 "
    } else {
        b"1.1 "
    });
    out.extend_from_slice(via.as_bytes());
    let blanks = out[start..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    out.drain(start..start + blanks);
}

/// Whether a client request field goes on to the origin. Dropped in one pass: hop-by-hop
/// fields and those `Connection` names (`named`), unkeyed fields, framing, `Host` and `Via`
/// (rebuilt), and (when the cache validates or wants a full response) the client's own
/// preconditions.
fn forwarded(
    name: &str,
    named: &[impl AsRef<str>],
    replace_validators: bool,
    strip_conditionals: bool,
) -> bool {
    let is = |list: &[&str]| list.iter().any(|other| other.eq_ignore_ascii_case(name));
    !(hop_by_hop(name, named)
        || is(UNKEYED_REQUEST_FIELDS)
        || is(&["content-length", "expect", "host", "via"])
        || (replace_validators && is(&["if-none-match", "if-modified-since"]))
        || (strip_conditionals && is(&["if-range", "range"])))
}

/// Whether `via` goes into a field value unchanged (a map would trim or rewrite it).
fn clean_via(via: &str) -> bool {
    !via.is_empty()
        && !via.starts_with([' ', '\t'])
        && !via.ends_with([' ', '\t'])
        && !via.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

fn append_via(headers: &mut HeaderMap, version: Version, via: &str) {
    let hop = format!(
        "{} {via}",
        if version == Version::Http10 {
            "1.0"
        } else {
            "1.1"
        }
    );
    let existing: Vec<String> = headers.get_all("via").map(str::to_string).collect();
    headers.remove("via");
    let mut value = existing.join(", ");
    if !value.is_empty() {
        value.push_str(", ");
    }
    value.push_str(&hop);
    headers.append("Via", value);
}

/// The head sent to the client for a response from upstream: hop-by-hop fields and framing
/// removed (the driver frames the body), `Via` appended, `X-Cache` set, and `Date` added when
/// missing (RFC 9110 §6.6.1: a recipient with a clock forwarding a response without `Date`
/// appends one) from `received`.
pub fn client_response(
    upstream: &ResponseHead,
    via: &str,
    status: CacheStatus,
    received: std::time::SystemTime,
) -> ResponseHead {
    let mut head = ResponseHead::new(upstream.status);
    head.reason = upstream.reason.clone();
    head.headers = upstream.headers.clone();
    strip_hop_by_hop(&mut head.headers);
    head.headers.remove("content-length");
    head.headers.remove("x-cache");
    if !head.headers.contains("date") {
        head.headers
            .append("Date", http_proto::fmt_http_date(received));
    }
    append_via(&mut head.headers, upstream.version, via);
    head.headers.append("X-Cache", status.as_str());
    head
}

/// [`client_response`] encoded straight into `out`, followed by `extra` fields (which must not
/// be among the fields it keeps: the framing fields and `Connection`): the same bytes as
/// building that head, inserting `extra` and encoding it, without the intermediate map (a miss
/// would otherwise copy every upstream field twice).
pub fn encode_client_response(
    upstream: &ResponseHead,
    via: &str,
    status: CacheStatus,
    received: std::time::SystemTime,
    extra: &[(&str, &str)],
    out: &mut Vec<u8>,
) {
    // A via name that the map would sanitise (or refuse) takes the general path.
    if !clean_via(via) {
        let mut head = client_response(upstream, via, status, received);
        for (name, value) in extra {
            head.headers.insert(*name, *value);
        }
        head.encode(out);
        return;
    }
    out.reserve(64 + upstream.reason.len() + upstream.headers.encoded_len() + 64);
    http_proto::head::encode_status_line(Version::Http11, upstream.status, &upstream.reason, out);
    let named: Vec<&str> = upstream.headers.list("connection").collect();
    let kept = |name: &str| {
        !hop_by_hop(name, &named)
            && !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("x-cache")
    };
    let mut date = false;
    for (name, value) in upstream.headers.iter() {
        // Via goes last, with our hop.
        if !kept(name) || name.eq_ignore_ascii_case("via") {
            continue;
        }
        date |= name.eq_ignore_ascii_case("date");
        field(out, name.as_bytes(), value.as_bytes());
    }
    if !date {
        field(out, b"Date", http_proto::fmt_http_date(received).as_bytes());
    }
    out.extend_from_slice(b"Via: ");
    let existing = upstream
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("via") && kept(name))
        .map(|(_, value)| value);
    push_via(out, existing, upstream.version, via);
    out.extend_from_slice(b"\r\n");
    field(out, b"X-Cache", status.as_str().as_bytes());
    for (name, value) in extra {
        field(out, name.as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The status line of a stored entry.
pub fn stored_status_line(entry: &Entry, out: &mut Vec<u8>) {
    let status = entry.meta.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(format!("{status:03} ").as_bytes());
    let reason = entry.meta.reason.as_bytes();
    if reason
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
}

/// The stored fields of an entry plus `Via`, encoded once and reused for every hit; the driver
/// writes the status line before and `Age`, `X-Cache`, framing and the empty line after.
pub fn stored_fields_block(entry: &Entry, via: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut via_done = false;
    for (name, value) in entry.meta.fields.iter() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        if name.eq_ignore_ascii_case("via") && !via_done {
            out.extend_from_slice(b", 1.1 ");
            out.extend_from_slice(via.as_bytes());
            via_done = true;
        }
        out.extend_from_slice(b"\r\n");
    }
    if !via_done {
        out.extend_from_slice(b"Via: 1.1 ");
        out.extend_from_slice(via.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A 304 for a client whose own validators match the stored response (§4.3.2).
pub fn not_modified_from_store(entry: &Entry, via: &str, age: u64, status: CacheStatus) -> Vec<u8> {
    let mut head = ResponseHead::new(StatusCode::NOT_MODIFIED);
    head.headers = http_cache::validation::not_modified_fields(&entry.meta.fields);
    head.headers.append("Age", age.to_string());
    head.headers.append("Via", format!("1.1 {via}"));
    head.headers.append("X-Cache", status.as_str());
    let mut out = Vec::new();
    head.encode(&mut out);
    out
}

/// A small error response (`502 Bad Gateway` and friends) with a text body, closing or not.
pub fn error_response(status: StatusCode, message: &str, via: &str, close: bool) -> Vec<u8> {
    let body = format!("{} {}: {message}\n", status.as_u16(), status.reason());
    let mut head = ResponseHead::new(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Content-Length", body.len().to_string())
        .header("Cache-Control", "no-store")
        .header("Via", format!("1.1 {via}"))
        .header("X-Cache", CacheStatus::Miss.as_str());
    if close {
        head.headers.append("Connection", "close");
    }
    let mut out = Vec::new();
    head.encode(&mut out);
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RequestHead {
        http_proto::parse_request(text.as_bytes(), &http_proto::Limits::default())
            .unwrap()
            .unwrap()
            .head
    }

    #[test]
    fn absolute_and_origin_form_targets() {
        let forward =
            parse("GET http://Example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        assert_eq!(
            target_uri(&forward, None).unwrap().to_string(),
            "http://example.com:8080/a?b=1"
        );
        let reverse = parse("GET /x?y HTTP/1.1\r\nHost: site.example\r\n\r\n");
        let origin = Uri::parse("http://127.0.0.1:9000/").unwrap();
        let uri = target_uri(&reverse, Some(&origin)).unwrap();
        assert_eq!(
            (uri.host.as_str(), uri.path_and_query()),
            ("site.example", "/x?y".to_string())
        );
        let old = parse("GET /x HTTP/1.0\r\n\r\n");
        assert_eq!(target_uri(&old, None), Err(TargetError::NoHost));
        assert_eq!(
            target_uri(&old, Some(&origin)).unwrap().authority(),
            "127.0.0.1:9000"
        );
    }

    #[test]
    fn upstream_request_strips_hop_by_hop_and_unkeyed_fields() {
        let client = parse(
            "GET http://h/p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: x\r\n\
             X-Forwarded-Host: evil\r\nIf-None-Match: \"client\"\r\nAccept: */*\r\nVia: 1.0 other\r\n\r\n",
        );
        let target = target_uri(&client, None).unwrap();
        let validators: HeaderMap = [("If-None-Match", "\"ours\"")].into_iter().collect();
        let upstream =
            upstream_request(&client, &target, "applayer", None, Some(&validators), false);
        let mut bytes = Vec::new();
        upstream.encode(&mut bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("GET /p HTTP/1.1\r\n"), "{text}");
        for absent in [
            "X-Hop",
            "Proxy-Authorization",
            "X-Forwarded-Host",
            "\"client\"",
            "Connection",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        assert!(text.contains("If-None-Match: \"ours\""));
        assert!(text.contains("Via: 1.0 other, 1.1 applayer"));
        assert!(text.contains("Accept: */*"));
    }

    #[test]
    fn stored_prefix_has_via() {
        let request = parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let response = ResponseHead::new(StatusCode::OK).header("Content-Type", "text/plain");
        let key = http_cache::CacheKey::new("GET", "http", "h", "/a");
        let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let entry = Entry::new(
            &key,
            &request,
            &response,
            now,
            now,
            0,
            http_cache::CacheKind::Shared,
        );
        let mut prefix = Vec::new();
        stored_status_line(&entry, &mut prefix);
        prefix.extend_from_slice(&stored_fields_block(&entry, "applayer"));
        let prefix = String::from_utf8(prefix).unwrap();
        assert!(prefix.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(prefix.contains("Via: 1.1 applayer\r\n"));
    }

    #[test]
    fn encoded_client_response_is_the_built_head_byte_for_byte() {
        let received = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let upstreams: Vec<&[u8]> = vec![
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 30 Nov 2026 08:16:36 GMT\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\nETag: \"x\"\r\nCache-Control: no-store\r\n\r\n",
            b"HTTP/1.0 404 Not Here\r\nVia: 1.0 a, 1.1 b\r\nX-Cache: HIT\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nvia: 1.1 c\r\nKeep-Alive: timeout=5\r\n\r\n",
            b"HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\nContent-Range: bytes 0-1/10\r\nConnection: Date\r\nDate: Mon, 30 Nov 2026 08:16:36 GMT\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nVia:\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nVia:\r\n 1.0 a\r\nvia: \r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nVia:\r\nVia: 1.0 b\r\n\r\n",
        ];
        let extras: [&[(&str, &str)]; 3] = [
            &[],
            &[("Content-Length", "5")],
            &[("Transfer-Encoding", "chunked"), ("Connection", "close")],
        ];
        let limits = http_proto::Limits::default();
        for bytes in upstreams {
            let parsed = http_proto::parse_response(bytes, &limits, &Method::Get)
                .unwrap()
                .unwrap();
            for extra in extras {
                for via in ["applayer", " padded "] {
                    let mut built = client_response(&parsed.head, via, CacheStatus::Miss, received);
                    for (name, value) in extra {
                        built.headers.insert(*name, *value);
                    }
                    let mut expected = Vec::new();
                    built.encode(&mut expected);
                    let mut encoded = Vec::new();
                    encode_client_response(
                        &parsed.head,
                        via,
                        CacheStatus::Miss,
                        received,
                        extra,
                        &mut encoded,
                    );
                    assert_eq!(
                        String::from_utf8_lossy(&encoded),
                        String::from_utf8_lossy(&expected)
                    );
                }
            }
        }
    }

    #[test]
    fn encoded_upstream_request_is_the_built_head_byte_for_byte() {
        let clients = [
            "GET http://h/p?q=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: x\r\n\
             X-Forwarded-Host: evil\r\nIf-None-Match: \"client\"\r\nRange: bytes=0-1\r\nAccept: */*\r\nVia: 1.0 other\r\nvia: 1.1 more\r\n\r\n",
            "GET /plain HTTP/1.0\r\nHost: Example.COM:8080\r\nUser-Agent: t\r\n\r\n",
            "POST /form HTTP/1.1\r\nHost: [::1]:81\r\nContent-Length: 3\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\nabc",
            "DELETE /x HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Mon, 30 Nov 2026 08:16:36 GMT\r\n\r\n",
            "GET /p HTTP/1.1\r\nHost: h\r\nVia:\r\n\r\n",
            "GET /p HTTP/1.1\r\nHost: h\r\nVia:\r\nVia: 1.0 b\r\n\r\n",
        ];
        for text in clients {
            let client = parse(text);
            let target = target_uri(&client, None).unwrap();
            for body_len in [None, Some(0), Some(3)] {
                for strip in [false, true] {
                    for via in ["applayer", "padded "] {
                        for method in [Method::Get, client.method.clone()] {
                            let mut head =
                                upstream_request(&client, &target, via, body_len, None, strip);
                            head.method = method.clone();
                            let mut expected = Vec::new();
                            head.encode(&mut expected);
                            let mut encoded = Vec::new();
                            encode_upstream_request(
                                &client,
                                &target,
                                via,
                                body_len,
                                None,
                                strip,
                                &method,
                                &mut encoded,
                            );
                            assert_eq!(
                                String::from_utf8_lossy(&encoded),
                                String::from_utf8_lossy(&expected)
                            );
                        }
                    }
                }
            }
        }
    }
}
