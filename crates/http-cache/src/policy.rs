//! Whether a response may be stored (RFC 9111 §3), and whether a stored response may be
//! reused for a request now (§4, §4.2.4, RFC 5861).

use crate::directives::{CacheControl, FieldScope};
use crate::freshness::{current_age, CacheKind};
use std::time::SystemTime;

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
pub const HEURISTICALLY_CACHEABLE: &[u16] =
    &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// Status codes whose caching rules this cache implements in full, so it "understands" them
/// (RFC 9111 §3, §5.2.2.3). 206 is absent: partial responses are not stored.
pub const UNDERSTOOD_STATUSES: &[u16] = &[
    200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 451, 500, 501, 502,
    503, 504,
];

/// Whether `method` is safe (RFC 9110 §9.2.1); methods of unknown safety count as unsafe.
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// What a cache needs to know about a request.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    /// The request method, as sent (methods are case-sensitive).
    pub method: String,
    /// The request's `Cache-Control`.
    pub control: CacheControl,
    /// `Pragma: no-cache` without any `Cache-Control` field (RFC 9111 §5.4).
    pub pragma_no_cache: bool,
    /// Whether an `Authorization` field is present.
    pub has_authorization: bool,
}

impl RequestFacts {
    /// Whether the client asked for validation (`no-cache`, or the HTTP/1.0 `Pragma`).
    pub fn wants_validation(&self) -> bool {
        self.control.no_cache.is_some() || self.pragma_no_cache
    }
}

/// Why a response was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStorable {
    /// Only GET responses are stored.
    Method,
    /// 1xx and other non-final statuses.
    StatusNotFinal,
    /// 206, 304, or a status with `must-understand` that this cache does not implement.
    StatusNotUnderstood,
    /// `no-store` in the request.
    RequestNoStore,
    /// `no-store` in the response.
    ResponseNoStore,
    /// Unqualified `private` in a shared cache.
    Private,
    /// The request carried `Authorization` and the response does not allow shared reuse.
    Authorization,
    /// `Vary: *` can never match a later request.
    VaryStar,
    /// No explicit freshness, not `public`, and the status is not heuristically cacheable.
    NoFreshnessInformation,
}

impl NotStorable {
    /// A short lowercase reason for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStorable::Method => "method not cacheable",
            NotStorable::StatusNotFinal => "status not final",
            NotStorable::StatusNotUnderstood => "status not understood",
            NotStorable::RequestNoStore => "request no-store",
            NotStorable::ResponseNoStore => "response no-store",
            NotStorable::Private => "private",
            NotStorable::Authorization => "authorization",
            NotStorable::VaryStar => "vary *",
            NotStorable::NoFreshnessInformation => "no freshness information",
        }
    }
}

/// The facts of a response that storability depends on.
#[derive(Clone, Copy, Debug)]
pub struct ResponseFacts<'a> {
    /// The status code.
    pub status: u16,
    /// The response's `Cache-Control`.
    pub control: &'a CacheControl,
    /// Whether an `Expires` field is present (valid or not).
    pub has_expires: bool,
    /// Whether `Vary` lists `*`.
    pub vary_star: bool,
}

/// RFC 9111 §3: "A cache MUST NOT store a response to a request unless: ...".
pub fn check_storable(
    request: &RequestFacts,
    response: &ResponseFacts<'_>,
    kind: CacheKind,
) -> Result<(), NotStorable> {
    let control = response.control;
    // "the request method is understood by the cache": this cache stores GET only.
    if request.method != "GET" {
        return Err(NotStorable::Method);
    }
    // "the response status code is final".
    if response.status < 200 || response.status > 999 {
        return Err(NotStorable::StatusNotFinal);
    }
    // "if the response status code is 206 or 304, or the must-understand cache directive is
    // present: the cache understands the response status code".
    if response.status == 206 || response.status == 304 {
        return Err(NotStorable::StatusNotUnderstood);
    }
    if control.must_understand && !UNDERSTOOD_STATUSES.contains(&response.status) {
        return Err(NotStorable::StatusNotUnderstood);
    }
    // §5.2.1.5: request no-store; "the no-store cache directive is not present in the response".
    // must-understand with an understood status overrides no-store (§5.2.2.3 is designed to be
    // sent together with no-store as a fallback for older caches).
    if request.control.no_store {
        return Err(NotStorable::RequestNoStore);
    }
    if control.no_store
        && !(control.must_understand && UNDERSTOOD_STATUSES.contains(&response.status))
    {
        return Err(NotStorable::ResponseNoStore);
    }
    // "if the cache is shared: the private response directive is either not present or allows
    // a shared cache to store a modified response".
    if kind.is_shared() && control.private == Some(FieldScope::All) {
        return Err(NotStorable::Private);
    }
    // §3.5: Authorization: shared reuse only with must-revalidate, public or s-maxage.
    if kind.is_shared()
        && request.has_authorization
        && !(control.must_revalidate || control.public || control.s_maxage.is_some())
    {
        return Err(NotStorable::Authorization);
    }
    if response.vary_star {
        return Err(NotStorable::VaryStar);
    }
    // "the response contains at least one of: public, private (private cache), Expires,
    // max-age, s-maxage (shared cache), ... a status code that is heuristically cacheable".
    let explicit = control.public
        || (!kind.is_shared() && control.private.is_some())
        || response.has_expires
        || control.max_age.is_some()
        || (kind.is_shared() && control.s_maxage.is_some())
        || HEURISTICALLY_CACHEABLE.contains(&response.status);
    if !explicit {
        return Err(NotStorable::NoFreshnessInformation);
    }
    Ok(())
}

/// The reuse-relevant facts of a stored response, computed once when it is stored or
/// freshened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFreshness {
    /// `corrected_initial_age` (§4.2.3).
    pub corrected_initial_age: u64,
    /// When the response (or its last validation) was received.
    pub response_time: SystemTime,
    /// The freshness lifetime in seconds (§4.2.1).
    pub lifetime: u64,
    /// Unqualified `no-cache`: every reuse needs validation (§5.2.2.4).
    pub no_cache: bool,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8), or `s-maxage` which implies it (§5.2.2.10).
    pub proxy_revalidate: bool,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
    /// Marked invalid by an unsafe request (§4.4): validation is mandatory.
    pub invalidated: bool,
}

impl StoredFreshness {
    /// From the stored response's `Cache-Control`, its corrected initial age, response time and
    /// lifetime.
    pub fn new(
        control: &CacheControl,
        corrected_initial_age: u64,
        response_time: SystemTime,
        lifetime: u64,
    ) -> Self {
        Self {
            corrected_initial_age,
            response_time,
            lifetime,
            no_cache: control.no_cache == Some(FieldScope::All),
            must_revalidate: control.must_revalidate,
            proxy_revalidate: control.proxy_revalidate || control.s_maxage.is_some(),
            stale_while_revalidate: control.stale_while_revalidate,
            stale_if_error: control.stale_if_error,
            invalidated: false,
        }
    }

    /// The current age at `now` (§4.2.3).
    pub fn age(&self, now: SystemTime) -> u64 {
        current_age(self.corrected_initial_age, self.response_time, now)
    }

    /// Whether the response is fresh at `now`: `freshness_lifetime > current_age` (§4.2).
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.lifetime > self.age(now)
    }

    /// Whether an explicit directive forbids serving it stale (§4.2.4).
    pub fn stale_forbidden(&self, kind: CacheKind) -> bool {
        self.no_cache || self.must_revalidate || (kind.is_shared() && self.proxy_revalidate)
    }
}

/// What to do with a stored response for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Serve it without contacting the origin; `age` goes in the `Age` field.
    Serve {
        /// The current age.
        age: u64,
        /// Whether it is stale (allowed by the client's max-stale).
        stale: bool,
    },
    /// Serve it stale now and revalidate in the background (RFC 5861 §3).
    ServeStaleAndRevalidate {
        /// The current age.
        age: u64,
    },
    /// Forward a conditional request first (§4.3).
    Revalidate,
}

/// RFC 9111 §4: may the stored response be reused for this request at `now`?
pub fn decide_reuse(
    request: &RequestFacts,
    stored: &StoredFreshness,
    kind: CacheKind,
    now: SystemTime,
) -> Reuse {
    // §4: no reuse of a no-cache response without validation; §4.4: invalidated entries need
    // validation; §5.2.1.4: the client's no-cache asks for validation too.
    if stored.invalidated || stored.no_cache || request.wants_validation() {
        return Reuse::Revalidate;
    }
    let age = stored.age(now);
    let lifetime = stored.lifetime;
    // §5.2.1.1: the client prefers a response no older than max-age.
    let age_acceptable = request.control.max_age.is_none_or(|max_age| age <= max_age);
    if lifetime > age {
        // §5.2.1.3: min-fresh asks for at least that many seconds of remaining freshness.
        let remaining = lifetime - age;
        if request
            .control
            .min_fresh
            .is_some_and(|min_fresh| remaining < min_fresh)
        {
            return Reuse::Revalidate;
        }
        if !age_acceptable {
            return Reuse::Revalidate;
        }
        return Reuse::Serve { age, stale: false };
    }
    // Stale. §4.2.4: "A cache MUST NOT generate a stale response if it is prohibited by an
    // explicit in-protocol directive".
    if stored.stale_forbidden(kind) || request.control.min_fresh.is_some() || !age_acceptable {
        return Reuse::Revalidate;
    }
    let staleness = age - lifetime;
    // §4.2.4: stale responses only when "explicitly permitted by the client or origin server".
    if request
        .control
        .max_stale
        .is_some_and(|max_stale| max_stale.allows(staleness))
    {
        return Reuse::Serve { age, stale: true };
    }
    if stored
        .stale_while_revalidate
        .is_some_and(|window| staleness <= window)
    {
        return Reuse::ServeStaleAndRevalidate { age };
    }
    Reuse::Revalidate
}

/// RFC 5861 §4 (and §4.2.4 of RFC 9111): may the stored response be served stale because the
/// origin failed (connection error, timeout, or a 500/502/503/504 answer)?
pub fn stale_if_error_allows(
    request: &RequestFacts,
    stored: &StoredFreshness,
    kind: CacheKind,
    now: SystemTime,
) -> bool {
    if stored.stale_forbidden(kind) {
        return false;
    }
    let age = stored.age(now);
    let staleness = age.saturating_sub(stored.lifetime);
    let response_allows = stored
        .stale_if_error
        .is_some_and(|window| staleness <= window);
    // RFC 5861 §4: stale-if-error may also come in the request.
    let request_allows = request
        .control
        .stale_if_error
        .is_some_and(|window| staleness <= window);
    let client_allows = request
        .control
        .max_stale
        .is_some_and(|max_stale| max_stale.allows(staleness));
    response_allows || request_allows || client_allows
}

/// RFC 5861 §4: the statuses that count as an error for `stale-if-error`.
pub fn is_error_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// §4.4: whether a response to `method` with `status` invalidates stored responses: the method
/// is unsafe (or of unknown safety) and the status is a non-error (2xx or 3xx).
pub fn invalidates(method: &str, status: u16) -> bool {
    !is_safe_method(method) && (200..400).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::from_unix_seconds;

    fn at(seconds: u64) -> SystemTime {
        from_unix_seconds(1_000_000 + seconds)
    }

    fn get() -> RequestFacts {
        RequestFacts {
            method: "GET".into(),
            ..Default::default()
        }
    }

    fn stored(control: &str, lifetime: u64) -> StoredFreshness {
        StoredFreshness::new(&CacheControl::parse_str(control), 0, at(0), lifetime)
    }

    #[test]
    fn fresh_then_stale() {
        let entry = stored("max-age=10", 10);
        assert_eq!(
            decide_reuse(&get(), &entry, CacheKind::Shared, at(9)),
            Reuse::Serve {
                age: 9,
                stale: false
            }
        );
        assert_eq!(
            decide_reuse(&get(), &entry, CacheKind::Shared, at(10)),
            Reuse::Revalidate
        );
    }

    #[test]
    fn swr_window() {
        let entry = stored("max-age=10, stale-while-revalidate=5", 10);
        assert_eq!(
            decide_reuse(&get(), &entry, CacheKind::Shared, at(15)),
            Reuse::ServeStaleAndRevalidate { age: 15 }
        );
        assert_eq!(
            decide_reuse(&get(), &entry, CacheKind::Shared, at(16)),
            Reuse::Revalidate
        );
    }

    #[test]
    fn storable_basics() {
        let control = CacheControl::parse_str("max-age=5");
        let response = ResponseFacts {
            status: 200,
            control: &control,
            has_expires: false,
            vary_star: false,
        };
        assert_eq!(check_storable(&get(), &response, CacheKind::Shared), Ok(()));
        let post = RequestFacts {
            method: "POST".into(),
            ..Default::default()
        };
        assert_eq!(
            check_storable(&post, &response, CacheKind::Shared),
            Err(NotStorable::Method)
        );
    }

    #[test]
    fn interim_statuses_are_never_stored() {
        // RFC 9111 §3: "the response status code is final"; 1xx (100 Continue, 103 Early
        // Hints, ...) never are, whatever their directives say (on an edge too).
        for status in [100, 101, 102, 103, 199] {
            for directives in [
                "max-age=60",
                "public, max-age=60",
                "max-age=60, must-understand",
            ] {
                let control = CacheControl::parse_str(directives);
                let response = ResponseFacts {
                    status,
                    control: &control,
                    has_expires: true,
                    vary_star: false,
                };
                for kind in [CacheKind::Shared, CacheKind::CdnEdge, CacheKind::Private] {
                    assert_eq!(
                        check_storable(&get(), &response, kind),
                        Err(NotStorable::StatusNotFinal),
                        "{status} {directives}"
                    );
                }
            }
        }
    }
}
