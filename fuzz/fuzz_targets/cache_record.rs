//! Fuzz target: the disk record decoder of the web cache, and a decode → encode → decode
//! round trip of whatever it accepts.
#![no_main]

use http_cache::entry::{decode_record, encode_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((meta, body)) = decode_record(data) {
        let encoded = encode_record(&meta, body);
        let (again, again_body) = decode_record(&encoded).expect("re-encoded record decodes");
        assert_eq!(again, meta);
        assert_eq!(again_body, body);
    }
});
