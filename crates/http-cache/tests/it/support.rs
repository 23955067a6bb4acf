//! Helpers shared by the conformance tests.

use http_cache::directives::CacheControl;
use http_cache::fields::HeaderMap;
use http_cache::freshness::{from_unix_seconds, CacheKind};
use http_cache::policy::{
    check_storable, NotStorable, RequestFacts, ResponseFacts, StoredFreshness,
};
use std::time::SystemTime;

/// A fixed instant plus `seconds`.
pub(crate) fn at(seconds: u64) -> SystemTime {
    from_unix_seconds(1_600_000_000 + seconds)
}

/// A field list from pairs.
pub(crate) fn fields(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs.iter().copied().collect()
}

/// A request with `method` and `Cache-Control: control`.
pub(crate) fn request(method: &str, control: &str) -> RequestFacts {
    RequestFacts {
        method: method.into(),
        control: CacheControl::parse_str(control),
        ..Default::default()
    }
}

/// Storability of a response with `status` and `Cache-Control: control` to a GET in a shared
/// cache.
pub(crate) fn storable(status: u16, control: &str) -> Result<(), NotStorable> {
    storable_for(&request("GET", ""), status, control, false)
}

/// Storability for a given request.
pub(crate) fn storable_for(
    request: &RequestFacts,
    status: u16,
    control: &str,
    has_expires: bool,
) -> Result<(), NotStorable> {
    let control = CacheControl::parse_str(control);
    let response = ResponseFacts {
        status,
        control: &control,
        has_expires,
        vary_star: false,
    };
    check_storable(request, &response, CacheKind::Shared)
}

/// A stored response received at `at(0)` with age 0, `Cache-Control: control` and `lifetime`.
pub(crate) fn stored(control: &str, lifetime: u64) -> StoredFreshness {
    StoredFreshness::new(&CacheControl::parse_str(control), 0, at(0), lifetime)
}
