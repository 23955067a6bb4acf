//! Fuzz target: Cache-Control and CDN-Cache-Control (RFC 9213, an RFC 8941 sf-dictionary)
//! parsing, and the reuse decision over arbitrary directives.
#![no_main]

use http_cache::directives::CacheControl;
use http_cache::freshness::{from_unix_seconds, CacheKind};
use http_cache::policy::{decide_reuse, stale_if_error_allows, RequestFacts, StoredFreshness};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (request, response) = data.split_at(split);
    let request = RequestFacts { method: "GET".into(), control: CacheControl::parse([request]), ..Default::default() };
    // The response line as Cache-Control, and as a targeted field when it is a valid one.
    let controls = [Some(CacheControl::parse([response])), CacheControl::parse_targeted([response])];
    for response in controls.iter().flatten() {
        let lifetime = response.max_age.unwrap_or(0);
        let stored = StoredFreshness::new(response, response.s_maxage.unwrap_or(0), from_unix_seconds(1_000_000), lifetime);
        for now in [0, 999_999, 1_000_000, 1_000_100, u32::MAX as u64] {
            let now = from_unix_seconds(now);
            for kind in [CacheKind::Shared, CacheKind::CdnEdge] {
                let _ = decide_reuse(&request, &stored, kind, now);
                let _ = stale_if_error_allows(&request, &stored, kind, now);
            }
        }
    }
});
