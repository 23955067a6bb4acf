//! A stored response ([`Entry`]): its meta and the freshness facts derived from it, built from
//! `http_proto` heads, freshened by 304s, and turned back into a response head.

use crate::directives::{parse_delta, pragma_no_cache, CacheControl, FieldScope};
use crate::entry::EntryMeta;
use crate::fields::{remove, set, strip_for_storage, Fields};
use crate::freshness::{freshness_lifetime, AgeInputs, CacheKind, Expires, FreshnessInputs};
use crate::key::{selecting_values, vary_names, CacheKey};
use crate::policy::{
    check_storable, NotStorable, RequestFacts, ResponseFacts, StoredFreshness,
    HEURISTICALLY_CACHEABLE,
};
use crate::targeted::response_control;
use crate::validation::{freshen_fields, freshen_target, FreshenTarget};
use http_proto::{fmt_http_date, parse_http_date, RequestHead, ResponseHead};
use std::time::SystemTime;

/// The cache-relevant facts of a request head.
pub fn request_facts(request: &RequestHead) -> RequestFacts {
    let control_values = request.headers.field_values("cache-control");
    RequestFacts {
        method: request.method.as_str().to_string(),
        pragma_no_cache: control_values.is_empty()
            && pragma_no_cache(request.headers.field_values("pragma")),
        control: CacheControl::parse(control_values),
        has_authorization: request.headers.contains("authorization"),
    }
}

/// The `Cache-Control` of a field list (of a request, or of a response for a cache without
/// a target list: see [`response_control`]).
pub fn control_of(fields: &impl Fields) -> CacheControl {
    CacheControl::parse(fields.field_values("cache-control"))
}

/// RFC 9111 §3 for a request and the response head received for it, with the directives a
/// cache of `kind` obeys (RFC 9213 §2.1: a CDN edge's `CDN-Cache-Control` replaces
/// `Cache-Control` and `Expires`).
pub fn check_response_storable(
    request: &RequestFacts,
    response: &ResponseHead,
    kind: CacheKind,
) -> Result<(), NotStorable> {
    let selected = response_control(&response.headers, kind);
    let facts = ResponseFacts {
        status: response.status.as_u16(),
        control: &selected.control,
        has_expires: selected.honours_expires() && response.headers.contains("expires"),
        vary_star: vary_names(&response.headers).is_none(),
    };
    check_storable(request, &facts, kind)
}

fn parse_date_field(fields: &impl Fields, name: &str) -> Option<SystemTime> {
    let value = fields.field(name)?;
    parse_http_date(std::str::from_utf8(value).ok()?)
}

/// The `Age` field as `age_value` (§4.2.3), 0 when absent. RFC 9111 §5.1: `Age =
/// delta-seconds`; "a cache encountering a message with a list-based Age field value SHOULD
/// use the first member of the field value, discarding subsequent ones", and "if the field
/// value (after discarding additional members ...) is invalid (e.g., it contains something
/// other than a non-negative integer), a cache SHOULD ignore the field". So `10, 20` (or two
/// lines) is 10, and `abc`, `-1` or `1.5` count as no `Age` at all; a value too large for
/// delta-seconds is 2^31 (§1.2.2).
pub fn age_value(fields: &impl Fields) -> u64 {
    let Some(value) = fields.field("age") else {
        return 0;
    };
    let first = value.split(|&byte| byte == b',').next().unwrap_or_default();
    std::str::from_utf8(first)
        .ok()
        .and_then(|text| parse_delta(text.trim_matches([' ', '\t'])))
        .unwrap_or(0)
}

/// A stored response: what is kept (meta) and what reuse decisions need (freshness).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The stored meta (key, variant, status, fields, times, body length).
    pub meta: EntryMeta,
    /// The facts for [`crate::policy::decide_reuse`].
    pub freshness: StoredFreshness,
}

impl Entry {
    /// Builds the entry for a storable response: strips the fields that must not be stored
    /// (§3.1, qualified `private`/`no-cache`), adds `Date` when missing (RFC 9110 §6.6.1),
    /// and records the selecting request fields of `Vary` (§4.1).
    pub fn new(
        key: &CacheKey,
        request: &RequestHead,
        response: &ResponseHead,
        request_time: SystemTime,
        response_time: SystemTime,
        body_len: u64,
        kind: CacheKind,
    ) -> Entry {
        let mut fields = response.headers.clone();
        // The qualified private / no-cache of the directives this cache obeys name the fields
        // it must not store (a CDN edge's targeted field, else Cache-Control).
        let control = response_control(&fields, kind).control;
        let mut also = Vec::new();
        if let Some(FieldScope::Fields(names)) = &control.private {
            if kind.is_shared() {
                also.extend(names.iter().cloned());
            }
        }
        if let Some(FieldScope::Fields(names)) = &control.no_cache {
            also.extend(names.iter().cloned());
        }
        let age = age_value(&fields);
        strip_for_storage(&mut fields, &also);
        // The body is stored decoded and re-framed on every use.
        remove(&mut fields, "content-length");
        if !fields.has_field("date") || parse_date_field(&fields, "date").is_none() {
            set(&mut fields, "Date", &fmt_http_date(response_time));
        }
        let names = vary_names(&response.headers).unwrap_or_default();
        let meta = EntryMeta {
            key: key.as_str().to_string(),
            variant: selecting_values(&names, &request.headers),
            status: response.status.as_u16(),
            reason: response.reason.clone(),
            fields,
            request_time,
            response_time,
            age_value: age,
            body_len,
        };
        Entry::from_meta(meta, kind)
    }

    /// Recomputes the freshness facts of a stored meta (after loading it from disk).
    pub fn from_meta(meta: EntryMeta, kind: CacheKind) -> Entry {
        let freshness = freshness_of(&meta, kind);
        Entry { meta, freshness }
    }

    /// RFC 9111 §4.3.4: applies a 304 received at `response_time` for a request sent at
    /// `request_time`. Returns `false` (and changes nothing) when the 304's validator names a
    /// different representation.
    pub fn freshen(
        &mut self,
        not_modified: &ResponseHead,
        request_time: SystemTime,
        response_time: SystemTime,
        kind: CacheKind,
    ) -> bool {
        let update = &not_modified.headers;
        if freshen_target(&self.meta.fields, update) == FreshenTarget::Mismatch {
            return false;
        }
        let age = age_value(update);
        freshen_fields(&mut self.meta.fields, update);
        if !update.has_field("date") {
            set(&mut self.meta.fields, "Date", &fmt_http_date(response_time));
        }
        self.meta.request_time = request_time;
        self.meta.response_time = response_time;
        self.meta.age_value = age;
        self.freshness = freshness_of(&self.meta, kind);
        true
    }

    /// The stored fields.
    pub fn fields(&self) -> &http_proto::HeaderMap {
        &self.meta.fields
    }
}

/// Computes [`StoredFreshness`] from a stored meta (§4.2.1–§4.2.3).
pub fn freshness_of(meta: &EntryMeta, kind: CacheKind) -> StoredFreshness {
    let selected = response_control(&meta.fields, kind);
    let honours_expires = selected.honours_expires();
    let control = selected.control;
    let date = parse_date_field(&meta.fields, "date");
    let age_inputs = AgeInputs {
        age_value: meta.age_value,
        date_value: date,
        request_time: meta.request_time,
        response_time: meta.response_time,
    };
    // RFC 9213 §2.1: with a targeted field in use, Expires is ignored as Cache-Control is.
    let expires = if honours_expires && meta.fields.has_field("expires") {
        Some(match parse_date_field(&meta.fields, "expires") {
            Some(at) => Expires::At(at),
            None => Expires::Invalid,
        })
    } else {
        None
    };
    let inputs = FreshnessInputs {
        control: &control,
        expires,
        date: date.unwrap_or(meta.response_time),
        last_modified: parse_date_field(&meta.fields, "last-modified"),
        heuristic_allowed: HEURISTICALLY_CACHEABLE.contains(&meta.status) || control.public,
    };
    let lifetime = freshness_lifetime(&inputs, kind);
    StoredFreshness::new(
        &control,
        age_inputs.corrected_initial_age(),
        meta.response_time,
        lifetime.seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::DELTA_SECONDS_MAX;
    use crate::freshness::from_unix_seconds;
    use crate::policy::{decide_reuse, Reuse};
    use http_proto::{Method, StatusCode};

    #[test]
    fn entry_from_heads_and_freshen() {
        let t0 = from_unix_seconds(1_700_000_000);
        let request = RequestHead::origin(Method::Get, "/x")
            .header("Host", "h")
            .header("Accept", "text/html");
        let response = ResponseHead::new(StatusCode::OK)
            .header("Date", fmt_http_date(t0))
            .header("Cache-Control", "max-age=10, private=\"Set-Cookie\"")
            .header("Set-Cookie", "a=b")
            .header("ETag", "\"v1\"")
            .header("Vary", "Accept")
            .header("Content-Length", "3")
            .header("Connection", "keep-alive");
        let key = CacheKey::new("GET", "http", "h", "/x");
        let mut entry = Entry::new(&key, &request, &response, t0, t0, 3, CacheKind::Shared);
        assert!(!entry.fields().has_field("set-cookie"));
        assert!(!entry.fields().has_field("connection"));
        assert_eq!(
            entry.meta.variant,
            vec![("accept".to_string(), Some(b"text/html".to_vec()))]
        );
        let get = request_facts(&request);
        let later = t0 + std::time::Duration::from_secs(20);
        assert_eq!(
            decide_reuse(&get, &entry.freshness, CacheKind::Shared, later),
            Reuse::Revalidate
        );
        let not_modified = ResponseHead::new(StatusCode::NOT_MODIFIED)
            .header("Date", fmt_http_date(later))
            .header("ETag", "\"v1\"")
            .header("Cache-Control", "max-age=100");
        assert!(entry.freshen(&not_modified, later, later, CacheKind::Shared));
        assert_eq!(
            decide_reuse(&get, &entry.freshness, CacheKind::Shared, later),
            Reuse::Serve {
                age: 0,
                stale: false
            }
        );
        let other = ResponseHead::new(StatusCode::NOT_MODIFIED).header("ETag", "\"v2\"");
        assert!(!entry.freshen(&other, later, later, CacheKind::Shared));
    }

    #[test]
    fn missing_date_is_added() {
        let t0 = from_unix_seconds(1_700_000_000);
        let request = RequestHead::origin(Method::Get, "/").header("Host", "h");
        let response = ResponseHead::new(StatusCode::OK).header("Cache-Control", "max-age=60");
        let key = CacheKey::new("GET", "http", "h", "/");
        let entry = Entry::new(&key, &request, &response, t0, t0, 0, CacheKind::Shared);
        assert!(entry.fields().has_field("date"));
        assert!(entry.freshness.is_fresh(t0));
    }

    /// The `age_value` of a response with these `Age` lines.
    fn age_of(lines: &[&str]) -> u64 {
        let mut fields = http_proto::HeaderMap::new();
        for line in lines {
            fields.append("Age", *line);
        }
        age_value(&fields)
    }

    #[test]
    fn age_invalid_ignored_list_takes_first_huge_saturates() {
        // RFC 9111 §5.1: invalid values are ignored (as if no Age), the first member of a list
        // counts; §1.2.2: overflow is 2^31.
        for (lines, expected) in [
            (&[][..], 0),
            (&["30"][..], 30),
            (&[" 30 "][..], 30),
            (&["abc"][..], 0),
            (&["-1"][..], 0),
            (&["1.5"][..], 0),
            (&[""][..], 0),
            (&["10, 20"][..], 10),
            (&["10,abc"][..], 10),
            (&["abc, 10"][..], 0),
            (&["10", "20"][..], 10),
            (&["99999999999999999999999999"][..], DELTA_SECONDS_MAX),
            (&["2147483649"][..], DELTA_SECONDS_MAX),
        ] {
            assert_eq!(age_of(lines), expected, "Age {lines:?}");
        }
    }

    #[test]
    fn ignored_age_leaves_the_response_fresh_and_huge_age_makes_it_stale() {
        let t0 = from_unix_seconds(1_700_000_000);
        let request = RequestHead::origin(Method::Get, "/").header("Host", "h");
        let key = CacheKey::new("GET", "http", "h", "/");
        let entry_with_age = |age: &str| {
            let response = ResponseHead::new(StatusCode::OK)
                .header("Date", fmt_http_date(t0))
                .header("Cache-Control", "max-age=60")
                .header("Age", age);
            Entry::new(&key, &request, &response, t0, t0, 0, CacheKind::Shared)
        };
        for ignored in ["abc", "-1", "1.5"] {
            let entry = entry_with_age(ignored);
            assert_eq!(entry.meta.age_value, 0, "{ignored:?}");
            assert_eq!(entry.freshness.age(t0), 0, "{ignored:?}");
            assert!(entry.freshness.is_fresh(t0), "{ignored:?}");
        }
        let listed = entry_with_age("10, 20");
        assert_eq!(listed.freshness.age(t0), 10);
        let huge = entry_with_age("18446744073709551616");
        assert_eq!(huge.freshness.age(t0), DELTA_SECONDS_MAX);
        assert!(!huge.freshness.is_fresh(t0));
    }
}
