//! Fuzz target: the world-file checker reports problems for any text and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(error) = world::World::parse(text, "fuzz.toml") {
            assert!(!error.problems.is_empty());
        }
    }
});
