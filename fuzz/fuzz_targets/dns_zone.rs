//! Fuzz target: the zone-file parser never panics, and what it accepts round-trips as text.
#![no_main]

use dns_proto::zone::{no_includes, parse_zone, to_text};
use dns_proto::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin: Name = "example.com".parse().expect("constant");
    if let Ok(zone) = parse_zone(text, &origin, "fuzz", &mut no_includes) {
        let written = to_text(&zone.origin, &zone.records);
        let again = parse_zone(&written, &origin, "fuzz", &mut no_includes)
            .expect("our own zone text parses");
        assert_eq!(again, zone);
    }
});
