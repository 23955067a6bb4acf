//! Real MPDs: ffmpeg's dash muxer output (with and without SegmentTimeline), a dash.js-style
//! MPD with prefixes and BaseURLs at every level, `$Time$` with `r="-1"`; errors with lines;
//! and the write → read round trip.

use crate::read;
use dash_proto::mpd::{Mpd, MpdError, Presentation};
use std::time::Duration;

#[test]
fn ffmpeg_segment_timeline() {
    let mpd = Mpd::parse(&read("mpd/ffmpeg-timeline.mpd")).unwrap();
    assert_eq!(mpd.presentation, Presentation::Static);
    assert_eq!(
        mpd.media_presentation_duration,
        Some(Duration::from_secs(9))
    );
    assert_eq!(mpd.min_buffer_time, Duration::from_secs(4));
    let track = mpd
        .video_track("http://127.0.0.1:8080/tl/manifest.mpd")
        .unwrap();
    assert_eq!(track.ladder(), [100_000.0, 300_000.0]);
    assert_eq!(track.durations(), [2.0, 2.0, 2.0, 2.0, 1.0]);
    let low = &track.qualities[0];
    assert_eq!(low.representation_id, "1");
    assert_eq!(
        low.initialization.as_deref(),
        Some("http://127.0.0.1:8080/tl/init-stream1.m4s")
    );
    assert_eq!(
        low.segments[4].url,
        "http://127.0.0.1:8080/tl/chunk-stream1-00005.m4s"
    );
    let audio = mpd.segment_list("http://h/a.mpd", 0, 1, 0).unwrap();
    assert_eq!(audio.segments.len(), 5);
    assert_eq!(audio.segments[1].time, 84_992);
    assert_eq!(audio.segments[3].time, 84_992 + 2 * 88_064);
    assert_eq!(
        mpd.periods[0].adaptation_sets[1].representations[0].audio_sampling_rate,
        Some(44_100)
    );
}

#[test]
fn ffmpeg_number_template() {
    let mpd = Mpd::parse(&read("mpd/ffmpeg-number.mpd")).unwrap();
    let list = mpd.segment_list("out/manifest.mpd", 0, 1, 0).unwrap();
    let urls: Vec<&str> = list.segments.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "out/chunk-1-00001.m4s",
            "out/chunk-1-00002.m4s",
            "out/chunk-1-00003.m4s",
            "out/chunk-1-00004.m4s",
            "out/chunk-1-00005.m4s"
        ]
    );
    assert_eq!(list.segments[4].duration, 1.0);
    // Two video adaptation sets: the first is the track.
    let track = mpd.video_track("out/manifest.mpd").unwrap();
    assert_eq!(track.adaptation_set, 0);
}

#[test]
fn dashjs_style_with_prefixes_and_base_urls() {
    let mpd = Mpd::parse(&read("mpd/dashjs-number.mpd")).unwrap();
    assert_eq!(
        mpd.media_presentation_duration,
        Some(Duration::from_secs(60))
    );
    assert_eq!(mpd.min_buffer_time, Duration::from_millis(1500));
    let track = mpd
        .video_track("https://other.example/manifest.mpd")
        .unwrap();
    assert_eq!(track.ladder(), [254_320.0, 2_471_214.0, 4_952_892.0]);
    assert_eq!(track.durations().len(), 15);
    assert_eq!(
        track.qualities[0].segments[0].url,
        "https://media.example.com/content/bbb/video/bbb_30fps_320x180_200k/seg-1.m4s?token=a&b=254320"
    );
    // Representation-level BaseURL "../hd/" climbs out of video/.
    assert_eq!(
        track.qualities[1].initialization.as_deref(),
        Some("https://media.example.com/content/bbb/hd/bbb_30fps_1280x720_2000k/init.mp4")
    );
    let set = &mpd.periods[0].adaptation_sets[0];
    assert!(set.segment_alignment);
    assert_eq!(set.frame_rate.map(|f| f.per_second()), Some(24.0));
    let audio = mpd.segment_list("x.mpd", 0, 1, 0).unwrap();
    // 60 s at 192512/48000 = 4.0107 s per segment: 15 segments, the last one shorter.
    assert_eq!(audio.segments.len(), 15);
    assert!(audio.segments[14].duration < 4.0);
    assert_eq!(
        audio.segments[2].url,
        "https://media.example.com/content/bbb/audio/003.m4s"
    );
}

#[test]
fn time_template_with_open_repeat() {
    let mpd = Mpd::parse(&read("mpd/timeline-time.mpd")).unwrap();
    let list = mpd
        .segment_list("http://h:81/a/b/manifest.mpd", 0, 0, 0)
        .unwrap();
    let urls: Vec<&str> = list.segments.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://h:81/vod/v1_0.m4s",
            "http://h:81/vod/v1_270000.m4s",
            "http://h:81/vod/v1_540000.m4s",
            "http://h:81/vod/v1_810000.m4s"
        ]
    );
}

#[test]
fn errors_name_the_line() {
    let good = read("mpd/dashjs-number.mpd");
    for (from, to, expected) in [
        (
            "bandwidth=\"254320\" ",
            "",
            "line 15: Representation without bandwidth",
        ),
        (
            "bandwidth=\"254320\"",
            "bandwidth=\"fast\"",
            "line 15: Representation@bandwidth is not valid: \"fast\"",
        ),
        (
            "minBufferTime=\"PT1.500S\"",
            "minBufferTime=\"1.5 seconds\"",
            "line 4: MPD@minBufferTime is not valid: \"1.5 seconds\"",
        ),
        (
            "</dash:AdaptationSet>\n    <dash:AdaptationSet",
            "</dash:Period>\n    <dash:AdaptationSet",
            "line 19, column 5: end tag </dash:Period> does not match <dash:AdaptationSet>",
        ),
        (
            "&amp; Buck",
            "& Buck",
            "line 8, column 44: `&` that starts no entity",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        assert_eq!(Mpd::parse(&bad).unwrap_err().to_string(), expected);
    }
    assert!(matches!(
        Mpd::parse("<html/>"),
        Err(MpdError::Structure { line: 1, .. })
    ));
    assert!(matches!(
        Mpd::decode(b"<MPD \xff/>"),
        Err(MpdError::Xml { .. })
    ));
}

#[test]
fn write_then_read_gives_the_same_model() {
    for file in [
        "mpd/ffmpeg-timeline.mpd",
        "mpd/ffmpeg-number.mpd",
        "mpd/dashjs-number.mpd",
        "mpd/timeline-time.mpd",
    ] {
        let mpd = Mpd::parse(&read(file)).unwrap();
        let written = mpd.encode();
        assert_eq!(
            Mpd::parse(&written).as_ref(),
            Ok(&mpd),
            "{file}:\n{written}"
        );
        assert_eq!(Mpd::parse(&written).unwrap().encode(), written, "{file}");
    }
}

/// What the fuzz target checks, over every prefix and many one-byte changes of the files:
/// no panic, and whatever reads writes back to the same model.
#[test]
fn prefixes_and_mutations_never_panic_and_round_trip() {
    let check = |bytes: &[u8]| {
        if let Ok(mpd) = Mpd::decode(bytes) {
            let written = mpd.encode();
            assert_eq!(Mpd::parse(&written).as_ref(), Ok(&mpd));
            let _ = mpd.video_track("http://h/m.mpd");
        }
    };
    for file in ["mpd/ffmpeg-timeline.mpd", "mpd/dashjs-number.mpd"] {
        let text = read(file).into_bytes();
        for end in 0..text.len() {
            check(&text[..end]);
        }
        for at in (0..text.len()).step_by(7) {
            for byte in [b'<', b'>', b'&', b'"', b'$', b'-', b'0', b'/', 0x80] {
                let mut changed = text.clone();
                changed[at] = byte;
                check(&changed);
            }
        }
    }
}
