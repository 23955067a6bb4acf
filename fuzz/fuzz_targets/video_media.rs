//! Fuzz target: the player's and packager's readers of outside bytes never panic: the ISO BMFF
//! reader (an init segment's codec and timescale, a fragment's span) and the bandwidth-trace
//! reader; a trace that reads answers its time questions with finite, ordered numbers.
#![no_main]

use dash_proto::trace::Trace;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = video::mp4::track_info(data);
    let _ = video::mp4::fragment_span(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(trace) = Trace::parse(text) {
            let end = trace.finish_time(0.0, 8e6);
            assert!(end >= 0.0, "a transfer ends before it starts: {end}");
            let _ = trace.rate_at(1e6);
            let _ = trace.bits_between(0.0, 10.0);
        }
    }
});
