//! Fuzz target: the request-head parser, and a parse → encode → parse round trip.
#![no_main]

use http_proto::{parse_request, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(Some(parsed)) = parse_request(data, &limits) {
        let mut encoded = Vec::new();
        parsed.head.encode(&mut encoded);
        let again = parse_request(&encoded, &limits)
            .expect("re-encoded head parses")
            .expect("re-encoded head is complete");
        assert_eq!(again.head, parsed.head);
        assert_eq!(again.body, parsed.body);
    }
});
