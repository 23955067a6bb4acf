//! Validation (RFC 9111 §4.3): conditional requests from stored validators, freshening a stored
//! response with a 304, and answering a client's own conditional request from the store.

use crate::fields::{not_stored, FieldList, Fields};
use http_proto::{EntityTag, EtagList};

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
pub fn conditional_fields(stored: &[(String, Vec<u8>)]) -> FieldList {
    let mut fields = FieldList::new();
    if let Some(etag) = stored.field("etag") {
        fields.push(("If-None-Match".to_string(), etag.to_vec()));
    }
    if let Some(last_modified) = stored.field("last-modified") {
        fields.push(("If-Modified-Since".to_string(), last_modified.to_vec()));
    }
    fields
}

fn parse_etag(tag: &[u8]) -> Option<EntityTag> {
    EntityTag::parse(std::str::from_utf8(tag).ok()?)
}

/// Weak comparison of two entity-tags (RFC 9110 §8.8.3.2); invalid tags never match.
pub fn etag_weak_eq(left: &[u8], right: &[u8]) -> bool {
    matches!((parse_etag(left), parse_etag(right)), (Some(left), Some(right)) if left.weak_eq(&right))
}

/// Strong comparison (RFC 9110 §8.8.3.2): both strong and equal.
pub fn etag_strong_eq(left: &[u8], right: &[u8]) -> bool {
    matches!((parse_etag(left), parse_etag(right)), (Some(left), Some(right)) if left.strong_eq(&right))
}

/// Whether `If-None-Match` field values (`*` or lists of entity-tags) match `etag` by weak
/// comparison (RFC 9110 §13.1.2).
pub fn if_none_match_matches(if_none_match: &[&[u8]], etag: Option<&[u8]>) -> bool {
    let texts: Vec<&str> = if_none_match
        .iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .collect();
    let Some(list) = EtagList::parse(texts) else {
        return false;
    };
    list.matches_weak(etag.and_then(parse_etag).as_ref())
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
pub fn freshen_target(
    stored: &[(String, Vec<u8>)],
    not_modified: &[(String, Vec<u8>)],
) -> FreshenTarget {
    let stored_etag = stored.field("etag");
    match not_modified.field("etag") {
        Some(new_etag) => {
            let weak = parse_etag(new_etag).is_none_or(|tag| tag.weak);
            let matches = match stored_etag {
                Some(stored_etag) if weak => etag_weak_eq(stored_etag, new_etag),
                Some(stored_etag) => etag_strong_eq(stored_etag, new_etag),
                None => false,
            };
            if matches {
                FreshenTarget::Update
            } else {
                FreshenTarget::Mismatch
            }
        }
        None => match (
            not_modified.field("last-modified"),
            stored.field("last-modified"),
        ) {
            (Some(new), Some(old)) if new.trim_ascii() != old.trim_ascii() => {
                FreshenTarget::Mismatch
            }
            _ => FreshenTarget::Update,
        },
    }
}

/// RFC 9111 §4.3.4: "the cache MUST use the header fields provided in the 304 (Not Modified)
/// response to replace all instances of the corresponding header fields in the stored response",
/// except the fields of [`NOT_UPDATED`] and those never stored (§3.1). Fields new in the 304 are
/// appended.
pub fn freshen_fields(stored: &mut FieldList, not_modified: &[(String, Vec<u8>)]) {
    let connection = crate::fields::list_members(not_modified.field_values("connection"));
    let updatable = |name: &str| {
        let lower = name.to_ascii_lowercase();
        !NOT_UPDATED.contains(&lower.as_str())
            && !not_stored(&lower)
            && !connection.contains(&lower)
    };
    let mut replaced: Vec<String> = Vec::new();
    for (name, value) in not_modified {
        if !updatable(name) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if !replaced.contains(&lower) {
            crate::fields::remove(stored, name);
            replaced.push(lower);
        }
        stored.push((name.clone(), value.clone()));
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

/// RFC 9111 §4.3.2: evaluate `If-None-Match` (and, only without it, `If-Modified-Since`) of a
/// request against the stored response. `parse_date` turns an HTTP-date into seconds since the
/// epoch; `received` is when the response was stored (case 3 of §4.3.2).
pub fn evaluate_client_conditions(
    request: &impl Fields,
    stored: &[(String, Vec<u8>)],
    received_unix: u64,
    parse_date: impl Fn(&[u8]) -> Option<u64>,
) -> ClientCondition {
    let if_none_match = request.field_values("if-none-match");
    if !if_none_match.is_empty() {
        let etag = stored.field("etag");
        return if if_none_match_matches(&if_none_match, etag) {
            ClientCondition::NotModified
        } else {
            ClientCondition::SendFull
        };
    }
    let Some(since) = request.field("if-modified-since").and_then(&parse_date) else {
        return ClientCondition::SendFull;
    };
    let reference = match stored.field("last-modified").and_then(&parse_date) {
        Some(last_modified) => last_modified,
        None => stored
            .field("date")
            .and_then(&parse_date)
            .unwrap_or(received_unix),
    };
    if reference <= since {
        ClientCondition::NotModified
    } else {
        ClientCondition::SendFull
    }
}

/// The fields of a 304 sent from the store (RFC 9110 §15.4.5: the fields that a 200 would
/// have carried among Cache-Control, Content-Location, Date, ETag, Expires, Vary, plus
/// Last-Modified as a convenience).
pub fn not_modified_fields(stored: &[(String, Vec<u8>)]) -> FieldList {
    const KEEP: &[&str] = &[
        "cache-control",
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
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> FieldList {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn etag_comparisons() {
        assert!(etag_weak_eq(b"W/\"a\"", b"\"a\""));
        assert!(!etag_strong_eq(b"W/\"a\"", b"\"a\""));
        assert!(etag_strong_eq(b"\"a\"", b" \"a\""));
        assert!(if_none_match_matches(&[b"\"x\", W/\"a\""], Some(b"\"a\"")));
        assert!(if_none_match_matches(&[b"*"], Some(b"\"a\"")));
        assert!(!if_none_match_matches(&[b"\"x,y\""], Some(b"\"x\"")));
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
