//! Cache keys (RFC 9111 §2: method and target URI), secondary keys from `Vary` (§4.1), and the
//! URIs an unsafe request invalidates (§4.4).

use crate::fields::{list_members, Fields};
use http_proto::Uri;

/// The primary cache key: the request method and the normalised absolute target URI
/// (`http://host[:port]/path?query`, scheme and host lowercase, default port dropped).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of `method` on the origin `scheme://authority` and `path_and_query` (which must
    /// start with `/`, or be `*`).
    pub fn new(method: &str, scheme: &str, authority: &str, path_and_query: &str) -> Self {
        Self(format!(
            "{method} {}{path_and_query}",
            origin(scheme, authority)
        ))
    }

    /// The key as text: `GET http://host/path`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of `method` on an absolute URI.
    pub fn from_uri(method: &str, uri: &Uri) -> Self {
        let mut text = String::with_capacity(method.len() + 1 + uri_text_len(uri));
        text.push_str(method);
        text.push(' ');
        write_uri_text(uri, &mut text);
        Self(text)
    }

    /// Rebuilds a key from its text form (as stored on disk).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The target URI part of the key.
    pub fn uri(&self) -> &str {
        self.0.split_once(' ').map_or("", |(_, uri)| uri)
    }
}

/// `scheme://host[:port]` lowercase, without the scheme's default port.
pub fn origin(scheme: &str, authority: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let mut authority = authority.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    if !default.is_empty() && authority.ends_with(default) {
        authority.truncate(authority.len() - default.len());
    }
    format!("{scheme}://{authority}")
}

/// The selecting fields named by a response's `Vary` (lowercase, sorted, deduplicated), or
/// `None` for `Vary: *`, which never matches (§4.1).
pub fn vary_names(response: &http_proto::HeaderMap) -> Option<Vec<String>> {
    let mut names = list_members(response, "vary");
    if names.iter().any(|name| name == "*") {
        return None;
    }
    names.sort();
    names.dedup();
    Some(names)
}

/// The secondary key: each selecting field's normalised value in the request, `None` when
/// absent. Normalisation (§4.1): field lines combined with ", ", whitespace around list
/// commas removed, runs of whitespace collapsed.
pub fn selecting_values(names: &[String], request: &impl Fields) -> Vec<(String, Option<Vec<u8>>)> {
    names
        .iter()
        .map(|name| {
            let values = request.field_values(name);
            if values.is_empty() {
                return (name.clone(), None);
            }
            (name.clone(), Some(normalise(&values)))
        })
        .collect()
}

fn normalise(values: &[&[u8]]) -> Vec<u8> {
    let mut members: Vec<Vec<u8>> = Vec::new();
    for value in values {
        for member in value.split(|&b| b == b',') {
            let mut out = Vec::new();
            let mut space = false;
            for &byte in member.trim_ascii() {
                if byte == b' ' || byte == b'\t' {
                    space = true;
                    continue;
                }
                if space {
                    out.push(b' ');
                    space = false;
                }
                out.push(byte);
            }
            members.push(out);
        }
    }
    members.join(&b","[..])
}

/// Whether a request's selecting values match those stored with a response.
pub fn variant_matches(stored: &[(String, Option<Vec<u8>>)], request: &impl Fields) -> bool {
    let names: Vec<String> = stored.iter().map(|(name, _)| name.clone()).collect();
    selecting_values(&names, request).as_slice() == stored
}

/// The normalised text of an absolute URI as it appears in cache keys.
pub fn uri_text(uri: &Uri) -> String {
    let mut text = String::with_capacity(uri_text_len(uri));
    write_uri_text(uri, &mut text);
    text
}

/// About how long [`uri_text`] is (room to build it without regrowing).
fn uri_text_len(uri: &Uri) -> usize {
    uri.scheme.len()
        + 3
        + uri.host.len()
        + 2
        + 6
        + uri.path.len()
        + uri.query.as_ref().map_or(0, |query| 1 + query.len())
}

/// [`uri_text`] appended to `out`: `origin(scheme, authority)` then the path and query, built
/// in place (a cache lookup makes one per request).
fn write_uri_text(uri: &Uri, out: &mut String) {
    let start = out.len();
    out.push_str(&uri.scheme);
    out[start..].make_ascii_lowercase();
    let default = match &out[start..] {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    out.push_str("://");
    let host = out.len();
    let bracketed = uri.host.contains(':');
    if bracketed {
        out.push('[');
    }
    out.push_str(&uri.host);
    if bracketed {
        out.push(']');
    }
    out[host..].make_ascii_lowercase();
    if let Some(port) = uri.port {
        if Some(port) != default {
            use std::fmt::Write;
            let _ = write!(out, ":{port}");
        }
    }
    out.push_str(&uri.path);
    if let Some(query) = &uri.query {
        out.push('?');
        out.push_str(query);
    }
}

/// RFC 9111 §4.4: the URIs whose stored responses an unsafe request invalidates: the target
/// URI, and the `Location` / `Content-Location` URIs (resolved against the target) when they
/// have the same origin ("a cache MUST NOT trigger an invalidation under these conditions if
/// the origin of the URI to be invalidated differs from that of the target URI").
pub fn invalidation_uris(target: &Uri, response: &impl Fields) -> Vec<String> {
    let target_origin = origin(&target.scheme, &target.authority());
    let mut uris = vec![uri_text(target)];
    for name in ["location", "content-location"] {
        let Some(value) = response.field(name) else {
            continue;
        };
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        let Ok(resolved) = target.join(value) else {
            continue;
        };
        if origin(&resolved.scheme, &resolved.authority()) != target_origin {
            continue;
        }
        let text = uri_text(&resolved);
        if !uris.contains(&text) {
            uris.push(text);
        }
    }
    uris
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_proto::HeaderMap;

    #[test]
    fn uri_text_is_origin_then_path_and_query() {
        for text in [
            "http://WWW.Example.COM/a/B?x=Y",
            "http://example.com:80/",
            "http://example.com:8080/p",
            "http://example.com:443/",
            "https://example.com:443/s?q",
            "HTTP://Example.com:80/upper-scheme",
            "http://[::1]:8080/six",
            "http://[::1]:80/six-default",
        ] {
            let uri = Uri::parse(text).unwrap();
            let by_parts = format!(
                "{}{}",
                origin(&uri.scheme, &uri.authority()),
                uri.path_and_query()
            );
            assert_eq!(uri_text(&uri), by_parts, "{text}");
            assert_eq!(
                CacheKey::from_uri("GET", &uri).as_str(),
                format!("GET {by_parts}")
            );
        }
    }

    fn list(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().copied().collect()
    }

    #[test]
    fn keys_normalise_scheme_host_and_default_port() {
        assert_eq!(
            CacheKey::new("GET", "HTTP", "Example.COM:80", "/a?b").as_str(),
            "GET http://example.com/a?b"
        );
        assert_eq!(
            CacheKey::new("GET", "http", "h:8080", "/").uri(),
            "http://h:8080/"
        );
    }

    #[test]
    fn vary_star_and_names() {
        assert_eq!(vary_names(&list(&[("Vary", "*")])), None);
        assert_eq!(
            vary_names(&list(&[
                ("Vary", "Accept-Encoding, accept"),
                ("vary", "Accept")
            ])),
            Some(vec!["accept".into(), "accept-encoding".into()])
        );
    }

    #[test]
    fn selecting_values_normalise_whitespace_and_lines() {
        let names = vec!["accept".to_string()];
        let one = selecting_values(&names, &list(&[("Accept", "text/html,  text/plain")]));
        let two = selecting_values(
            &names,
            &list(&[("Accept", "text/html"), ("accept", " text/plain ")]),
        );
        assert_eq!(one, two);
        assert!(variant_matches(
            &one,
            &list(&[("accept", "text/html , text/plain")])
        ));
        assert!(!variant_matches(&one, &list(&[])));
    }

    #[test]
    fn invalidation_same_origin_only() {
        let response = list(&[
            ("Location", "http://other.example/x"),
            ("Content-Location", "/y#frag"),
        ]);
        let target = Uri::parse("http://h/a/b?q").unwrap();
        assert_eq!(
            invalidation_uris(&target, &response),
            vec!["http://h/a/b?q".to_string(), "http://h/y".to_string()]
        );
        let relative = list(&[("Location", "c")]);
        assert_eq!(
            invalidation_uris(&Uri::parse("http://h/a/b").unwrap(), &relative)[1],
            "http://h/a/c"
        );
    }
}
