//! Fuzz target: the chunked body decoder, whole and split at every position of a second input.
#![no_main]

use http_proto::{BodyDecoder, BodyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut whole = BodyDecoder::with_limit(BodyKind::Chunked, 1 << 20);
    let mut whole_out = Vec::new();
    let whole_result = whole.decode_into(data, &mut whole_out);
    // Feeding the same bytes one at a time must give the same data.
    let mut split = BodyDecoder::with_limit(BodyKind::Chunked, 1 << 20);
    let mut split_out = Vec::new();
    let mut split_ok = true;
    for byte in data.chunks(1) {
        if split.is_done() {
            break;
        }
        if split.decode_into(byte, &mut split_out).is_err() {
            split_ok = false;
            break;
        }
    }
    if whole_result.is_ok() && split_ok {
        assert_eq!(whole_out, split_out);
        assert_eq!(whole.is_done(), split.is_done());
    }
});
