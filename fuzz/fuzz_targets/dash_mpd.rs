//! Fuzz target: the MPD reader never panics, and what it reads writes out and reads back to
//! the same model (and the same text); listing segments and resolving URLs never panic.
#![no_main]

use dash_proto::mpd::Mpd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mpd) = Mpd::decode(data) else {
        return;
    };
    let written = mpd.encode();
    let again = Mpd::parse(&written).expect("our own MPD reads back");
    assert_eq!(again, mpd, "write → read changes the model");
    assert_eq!(
        again.encode(),
        written,
        "write → read → write changes the text"
    );
    for (p, period) in mpd.periods.iter().enumerate().take(2) {
        for (a, set) in period.adaptation_sets.iter().enumerate().take(3) {
            for r in 0..set.representations.len().min(3) {
                let _ = mpd.segment_list("http://h/a/b/manifest.mpd", p, a, r);
            }
        }
    }
    let _ = mpd.video_track("manifest.mpd");
});
