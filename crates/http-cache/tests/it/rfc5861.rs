//! RFC 5861 (HTTP Cache-Control Extensions for Stale Content).

use crate::support::*;
use http_cache::freshness::CacheKind;
use http_cache::policy::{decide_reuse, is_error_status, stale_if_error_allows, Reuse};

mod s3_stale_while_revalidate {
    use super::*;

    /// "When present in an HTTP response, the stale-while-revalidate Cache-Control extension
    /// indicates that caches MAY serve the response in which it appears after it becomes
    /// stale, up to the indicated number of seconds." ... "If a cached response is served
    /// stale due to the presence of this extension, the cache SHOULD attempt to revalidate it
    /// while still serving stale responses".
    #[test]
    fn serves_stale_within_window_and_revalidates() {
        let entry = stored("max-age=60, stale-while-revalidate=30", 60);
        let get = request("GET", "");
        assert_eq!(
            decide_reuse(&get, &entry, CacheKind::Shared, at(10)),
            Reuse::Serve {
                age: 10,
                stale: false
            }
        );
        assert_eq!(
            decide_reuse(&get, &entry, CacheKind::Shared, at(90)),
            Reuse::ServeStaleAndRevalidate { age: 90 }
        );
        assert_eq!(
            decide_reuse(&get, &entry, CacheKind::Shared, at(91)),
            Reuse::Revalidate
        );
    }
}

mod s4_stale_if_error {
    use super::*;

    /// "The stale-if-error Cache-Control extension indicates that when an error is
    /// encountered, a cached stale response MAY be used to satisfy the request" ... "an error
    /// is any situation that would result in a 500, 502, 503, or 504 HTTP response status
    /// code being returned."
    #[test]
    fn stale_within_window_on_error() {
        let entry = stored("max-age=60, stale-if-error=100", 60);
        let get = request("GET", "");
        assert!(stale_if_error_allows(
            &get,
            &entry,
            CacheKind::Shared,
            at(160)
        ));
        assert!(!stale_if_error_allows(
            &get,
            &entry,
            CacheKind::Shared,
            at(161)
        ));
        for status in [500, 502, 503, 504] {
            assert!(is_error_status(status));
        }
        assert!(!is_error_status(404));
    }

    /// §4: "Its value indicates the upper limit to staleness; when the cached response is more
    /// stale than the indicated amount, the cached response SHOULD NOT be used" and the
    /// directive may also appear in a request.
    #[test]
    fn request_directive_and_absence() {
        let entry = stored("max-age=60", 60);
        assert!(!stale_if_error_allows(
            &request("GET", ""),
            &entry,
            CacheKind::Shared,
            at(61)
        ));
        assert!(stale_if_error_allows(
            &request("GET", "stale-if-error=10"),
            &entry,
            CacheKind::Shared,
            at(70)
        ));
        assert!(!stale_if_error_allows(
            &request("GET", "stale-if-error=10"),
            &entry,
            CacheKind::Shared,
            at(71)
        ));
    }
}
