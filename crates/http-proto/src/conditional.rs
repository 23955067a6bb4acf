//! Conditional requests (RFC 9110 §13), the one place for them: the precondition order of
//! §13.2.2 (the origin server's files and PUTs use it) and If-Range (§13.1.5, the origin's
//! ranges and the cache's stored ranges use it).

use crate::{EntityTag, EtagList, HeaderMap, HttpDate, Method, RequestHead};

/// The outcome of evaluating a request's preconditions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Go on with the request.
    Proceed,
    /// 304 Not Modified (GET and HEAD).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// RFC 9110 §13.2.2: evaluates If-Match, If-Unmodified-Since, If-None-Match and
/// If-Modified-Since in that order. `current` is `None` when the resource does not exist.
pub fn evaluate_preconditions(
    head: &RequestHead,
    current: Option<(&EntityTag, HttpDate)>,
) -> Precondition {
    let headers = &head.headers;
    let etag = current.map(|(etag, _)| etag);
    let modified = current.map(|(_, date)| date);
    // Step 1 and 2: If-Match, else If-Unmodified-Since.
    if headers.contains("if-match") {
        if let Some(list) = EtagList::parse(headers.get_all("if-match")) {
            if !list.matches_strong(etag) {
                return Precondition::Failed;
            }
        }
    } else if let (Some(since), Some(modified)) = (
        headers.get("if-unmodified-since").and_then(HttpDate::parse),
        modified,
    ) {
        if modified > since {
            return Precondition::Failed;
        }
    }
    // Step 3 and 4: If-None-Match, else If-Modified-Since (GET and HEAD only).
    if matches!(head.method, Method::Get | Method::Head) {
        if client_copy_current(headers, etag, modified) {
            return Precondition::NotModified;
        }
    } else if headers.contains("if-none-match")
        && EtagList::parse(headers.get_all("if-none-match"))
            .is_some_and(|list| list.matches_weak(etag))
    {
        return Precondition::Failed;
    }
    Precondition::Proceed
}

/// RFC 9110 §13.2.2 steps 3 and 4 for a GET or HEAD: whether the client's own validators say
/// its copy is current (a 304): `If-None-Match` by weak comparison with `etag`, or, only
/// without it, `If-Modified-Since` against `last_modified`. An origin passes its file's
/// validators; a cache passes the stored response's (RFC 9111 §4.3.2: its Last-Modified,
/// else its Date, else when it was received).
pub fn client_copy_current(
    headers: &HeaderMap,
    etag: Option<&EntityTag>,
    last_modified: Option<HttpDate>,
) -> bool {
    if headers.contains("if-none-match") {
        return EtagList::parse(headers.get_all("if-none-match"))
            .is_some_and(|list| list.matches_weak(etag));
    }
    match (
        headers.get("if-modified-since").and_then(HttpDate::parse),
        last_modified,
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// RFC 9110 §13.1.5: whether a range request's `If-Range` value holds for a representation
/// with entity tag `etag` and `last_modified`: an entity tag must match strongly (a weak one
/// never does), a date must be exactly the Last-Modified date.
pub fn if_range_holds(
    value: &str,
    etag: Option<&EntityTag>,
    last_modified: Option<HttpDate>,
) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match (EntityTag::parse(value), etag) {
            (Some(wanted), Some(current)) => wanted.strong_eq(current),
            _ => false,
        };
    }
    match (HttpDate::parse(value), last_modified) {
        (Some(wanted), Some(current)) => wanted == current,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_range_needs_a_strong_match_or_the_exact_date() {
        let strong = EntityTag::parse("\"v1\"").expect("tag");
        let weak = EntityTag::parse("W/\"v1\"").expect("tag");
        let date = HttpDate::parse("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert!(if_range_holds("\"v1\"", Some(&strong), None));
        assert!(!if_range_holds("\"v2\"", Some(&strong), None));
        assert!(
            !if_range_holds("W/\"v1\"", Some(&weak), None),
            "weak never matches"
        );
        assert!(!if_range_holds("\"v1\"", Some(&weak), None));
        assert!(!if_range_holds("\"v1\"", None, Some(date)));
        assert!(if_range_holds(
            "Sun, 06 Nov 1994 08:49:37 GMT",
            None,
            Some(date)
        ));
        assert!(!if_range_holds(
            "Sun, 06 Nov 1994 08:49:38 GMT",
            None,
            Some(date)
        ));
        assert!(
            !if_range_holds("\"broken", Some(&strong), Some(date)),
            "a malformed tag is not a date"
        );
        assert!(!if_range_holds("garbage", Some(&strong), Some(date)));
    }
}
