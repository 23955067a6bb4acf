//! Validation (RFC 9111 §4.3): conditional requests from stored validators, freshening a stored
//! response with a 304, and answering a client's own conditional request from the store.

use crate::fields::not_stored;
use http_proto::HeaderMap;
use http_proto::{EntityTag, HttpDate};
use std::time::SystemTime;

/// RFC 9111 §4.3.4: "Caches MUST NOT update the following header fields: Content-Encoding,
/// Content-Length, Content-MD5, Content-Range, ETag."
pub const NOT_UPDATED: &[&str] = &[
    "content-encoding",
    "content-length",
    "content-md5",
    "content-range",
    "etag",
];

/// The precondition fields a cache adds to a forwarded request to validate its stored response
/// (§4.3.1): `If-None-Match` from the stored `ETag`, `If-Modified-Since` from the stored
/// `Last-Modified`.
pub fn conditional_fields(stored: &HeaderMap) -> HeaderMap {
    let mut fields = HeaderMap::new();
    if let Some(etag) = stored.get("etag") {
        fields.append("If-None-Match", etag);
    }
    if let Some(last_modified) = stored.get("last-modified") {
        fields.append("If-Modified-Since", last_modified);
    }
    fields
}

fn etag_of(fields: &HeaderMap) -> Option<EntityTag> {
    fields.get("etag").and_then(EntityTag::parse)
}

/// Which stored response a 304 applies to (§4.3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreshenTarget {
    /// The 304 identifies the stored response: update it.
    Update,
    /// The 304 names a different representation: the stored response MUST NOT be updated.
    Mismatch,
}

/// RFC 9111 §4.3.4: "If the new response contains a strong validator ... If none of the stored
/// responses contain the same strong validator, then the cache MUST NOT use the new response to
/// update any stored responses." A weak validator must correspond; no validator updates a
/// stored response that lacks one too.
pub fn freshen_target(stored: &HeaderMap, not_modified: &HeaderMap) -> FreshenTarget {
    match not_modified.get("etag") {
        Some(new_etag) => {
            let matches = match (etag_of(stored), EntityTag::parse(new_etag)) {
                (Some(stored), Some(new)) if new.weak => stored.weak_eq(&new),
                (Some(stored), Some(new)) => stored.strong_eq(&new),
                _ => false,
            };
            if matches {
                FreshenTarget::Update
            } else {
                FreshenTarget::Mismatch
            }
        }
        None => match (
            not_modified.get("last-modified"),
            stored.get("last-modified"),
        ) {
            (Some(new), Some(old)) if new.trim() != old.trim() => FreshenTarget::Mismatch,
            _ => FreshenTarget::Update,
        },
    }
}

/// RFC 9111 §4.3.4: "the cache MUST use the header fields provided in the 304 (Not Modified)
/// response to replace all instances of the corresponding header fields in the stored response",
/// except the fields of [`NOT_UPDATED`] and those never stored (§3.1). Fields new in the 304 are
/// appended.
pub fn freshen_fields(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let connection = crate::fields::list_members(not_modified, "connection");
    let updatable = |name: &str| {
        let lower = name.to_ascii_lowercase();
        !NOT_UPDATED.contains(&lower.as_str())
            && !not_stored(&lower)
            && !connection.contains(&lower)
    };
    let mut replaced: Vec<String> = Vec::new();
    for (name, value) in not_modified.iter() {
        if !updatable(name) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if !replaced.contains(&lower) {
            crate::fields::remove(stored, name);
            replaced.push(lower);
        }
        stored.append(name, value);
    }
}

/// What a cache should answer to a client's own conditional GET/HEAD from a selected stored
/// 200 response (§4.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCondition {
    /// No applicable precondition, or it failed: send the stored response.
    SendFull,
    /// The client's copy is current: send 304 with the stored metadata.
    NotModified,
}

/// RFC 9111 §4.3.2: the client's `If-None-Match` (and, only without it,
/// `If-Modified-Since`) against the stored response: its ETag, and its Last-Modified, else its
/// Date, else `received` (when it was stored). The evaluation is http-proto's
/// [`client_copy_current`](http_proto::conditional::client_copy_current).
pub fn evaluate_client_conditions(
    request: &HeaderMap,
    stored: &HeaderMap,
    received: SystemTime,
) -> ClientCondition {
    let date = |name: &str| stored.get(name).and_then(HttpDate::parse);
    let reference = date("last-modified")
        .or_else(|| date("date"))
        .unwrap_or_else(|| HttpDate::from_system_time(received));
    if http_proto::conditional::client_copy_current(
        request,
        etag_of(stored).as_ref(),
        Some(reference),
    ) {
        ClientCondition::NotModified
    } else {
        ClientCondition::SendFull
    }
}

/// The fields of a 304 sent from the store (RFC 9110 §15.4.5: the fields that a 200 would
/// have carried among Cache-Control, Content-Location, Date, ETag, Expires, Vary, plus
/// Last-Modified as a convenience, and CDN-Cache-Control: metadata "for the purpose of
/// guiding cache updates", which a downstream CDN cache freshens with, RFC 9213 §3).
pub fn not_modified_fields(stored: &HeaderMap) -> HeaderMap {
    const KEEP: &[&str] = &[
        "cache-control",
        "cdn-cache-control",
        "content-location",
        "date",
        "etag",
        "expires",
        "vary",
        "last-modified",
    ];
    stored
        .iter()
        .filter(|(name, _)| KEEP.contains(&name.to_ascii_lowercase().as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().copied().collect()
    }

    #[test]
    fn conditional_from_validators() {
        let stored = list(&[
            ("ETag", "\"v1\""),
            ("Last-Modified", "Wed, 09 Sep 2015 09:23:24 GMT"),
        ]);
        assert_eq!(
            conditional_fields(&stored),
            list(&[
                ("If-None-Match", "\"v1\""),
                ("If-Modified-Since", "Wed, 09 Sep 2015 09:23:24 GMT")
            ])
        );
    }
}
