//! Fuzz target: the response-head parser for GET and HEAD requests.
#![no_main]

use http_proto::{parse_response, Limits, Method};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = parse_response(data, &limits, &Method::Get);
    let _ = parse_response(data, &limits, &Method::Head);
});
