//! Fuzz target: TSIG verification of arbitrary bytes never panics.
#![no_main]

use dns_proto::tsig::{verify, TsigKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = TsigKey::from_base64("fuzz-key", "AAECAwQFBgcICQoLDA0ODw==").expect("constant");
    let _ = verify(data, |name| (name == &key.name).then_some(&key), 1_700_000_000, None);
});
