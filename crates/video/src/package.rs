//! `video package`: drives `ffmpeg` to encode a ladder of H.264 + AAC representations with
//! aligned key frames into fragmented MP4 segments, reads back what it made (codecs from the
//! init segments, exact segment spans from `tfdt`/`trun`, sizes), checks the segments line up
//! across the ladder, and writes the MPD itself with `dash_proto`.

use crate::mp4;
use dash_proto::mpd::{
    AdaptationSet, FrameRate, Mpd, Period, Presentation, Representation, SegmentTemplate,
    TimelineEntry,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What to encode.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A media file ffmpeg can read.
    File(PathBuf),
    /// ffmpeg's `testsrc2` pattern with a 440 Hz tone, this many seconds long.
    TestPattern {
        /// Its length in seconds.
        seconds: u32,
    },
}

/// How the MPD lists the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// SegmentTemplate with `$Number$` and a constant duration.
    #[default]
    Number,
    /// SegmentTemplate with a SegmentTimeline of the segments' exact spans.
    Timeline,
}

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Target video bit rate in bits/s.
    pub bitrate: u32,
    /// Picture height (the width keeps 16:9, even).
    pub height: u32,
}

impl Rung {
    /// A rung for a bit rate, its height the one commonly paired with it.
    pub fn for_bitrate(bitrate: u32) -> Rung {
        let height = match bitrate {
            0..=499_999 => 180,
            500_000..=999_999 => 360,
            1_000_000..=1_499_999 => 480,
            1_500_000..=2_399_999 => 540,
            2_400_000..=3_999_999 => 720,
            _ => 1080,
        };
        Rung { bitrate, height }
    }

    fn width(&self) -> u32 {
        // 16:9 rounded to an even number, as H.264 with 4:2:0 wants.
        (self.height * 16 / 9 + 1) & !1
    }
}

/// The ladder of the issue and of common practice: 300k to 4300k.
pub fn default_ladder() -> Vec<Rung> {
    [300_000, 750_000, 1_200_000, 1_850_000, 2_850_000, 4_300_000]
        .into_iter()
        .map(Rung::for_bitrate)
        .collect()
}

/// Parses `300k,750k,1.2M,2850000`.
pub fn parse_ladder(text: &str) -> Result<Vec<Rung>, String> {
    let mut ladder = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (number, scale) = match item.as_bytes().last() {
            Some(b'k' | b'K') => (&item[..item.len() - 1], 1e3),
            Some(b'm' | b'M') => (&item[..item.len() - 1], 1e6),
            _ => (item, 1.0),
        };
        let value: f64 = number
            .parse()
            .map_err(|_| format!("bad bit rate {item:?} (use 300k, 1.2M or 300000)"))?;
        let bits = value * scale;
        if !(50_000.0..=100_000_000.0).contains(&bits) {
            return Err(format!("bit rate {item:?} outside 50k..100M"));
        }
        ladder.push(Rung::for_bitrate(bits.round() as u32));
    }
    if ladder.is_empty() {
        return Err("the ladder is empty".into());
    }
    ladder.sort_by_key(|r| r.bitrate);
    ladder.dedup_by_key(|r| r.bitrate);
    Ok(ladder)
}

/// What `package` is asked to do.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// The input.
    pub source: Source,
    /// The output directory (created).
    pub out: PathBuf,
    /// The video ladder.
    pub ladder: Vec<Rung>,
    /// Target segment duration.
    pub segment: Duration,
    /// Number or timeline addressing.
    pub addressing: Addressing,
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
    /// x264 preset (`veryfast` by default: packaging speed over compression).
    pub preset: String,
    /// Frames per second of the output.
    pub frame_rate: u32,
}

impl PackageOptions {
    /// Defaults for a source and an output directory.
    pub fn new(source: Source, out: impl Into<PathBuf>) -> PackageOptions {
        PackageOptions {
            source,
            out: out.into(),
            ladder: default_ladder(),
            segment: Duration::from_secs(4),
            addressing: Addressing::Number,
            ffmpeg: PathBuf::from("ffmpeg"),
            preset: "veryfast".into(),
            frame_rate: 30,
        }
    }
}

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// ffmpeg could not be started.
    #[error("cannot run {program}: {source} (install the Debian package ffmpeg)")]
    Spawn {
        /// The program.
        program: String,
        /// The error.
        source: std::io::Error,
    },
    /// ffmpeg failed; its last lines of output.
    #[error("ffmpeg failed ({status}): {stderr}")]
    Ffmpeg {
        /// Its exit status.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A segment ffmpeg wrote is not the fragmented MP4 we asked for.
    #[error("{path}: {source}")]
    Mp4 {
        /// The file.
        path: PathBuf,
        /// The error.
        source: mp4::Mp4Error,
    },
    /// The output does not hold what an MPD could describe.
    #[error("{0}")]
    Output(String),
}

/// One representation as packaged.
#[derive(Debug, Clone, PartialEq)]
pub struct Packaged {
    /// Representation@id.
    pub id: String,
    /// `video` or `audio`.
    pub content_type: &'static str,
    /// The codec string.
    pub codecs: String,
    /// The bandwidth written in the MPD (the peak segment rate, bits/s).
    pub bandwidth: u32,
    /// The mean rate over the segments, bits/s.
    pub average: u32,
    /// Picture size.
    pub width: Option<u16>,
    /// Picture size.
    pub height: Option<u16>,
    /// Number of media segments.
    pub segments: usize,
    /// Bytes of media segments.
    pub bytes: u64,
}

/// What `package` made.
#[derive(Debug, Clone)]
pub struct PackageReport {
    /// The MPD's path.
    pub mpd: PathBuf,
    /// Duration of the presentation.
    pub duration: Duration,
    /// Every representation, video first.
    pub representations: Vec<Packaged>,
}

/// The MPD's file name in the output directory.
pub const MPD_NAME: &str = "manifest.mpd";
const INIT_TEMPLATE: &str = "init-$RepresentationID$.m4s";
const MEDIA_TEMPLATE: &str = "chunk-$RepresentationID$-$Number%05d$.m4s";

/// Encodes and packages; the MPD is `out/manifest.mpd`.
pub fn package(options: &PackageOptions) -> Result<PackageReport, PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    std::fs::create_dir_all(&options.out).map_err(io(&options.out))?;
    let segment_seconds = options.segment.as_secs_f64().max(0.5);
    let with_audio = match &options.source {
        Source::TestPattern { .. } => true,
        Source::File(path) => has_audio(path),
    };
    let mut command = Command::new(&options.ffmpeg);
    command.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    match &options.source {
        Source::TestPattern { seconds } => {
            let seconds = (*seconds).max(1);
            command.args([
                "-f",
                "lavfi",
                "-i",
                &format!(
                    "testsrc2=size=1920x1080:rate={}:duration={seconds}",
                    options.frame_rate
                ),
                "-f",
                "lavfi",
                "-i",
                &format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
            ]);
        }
        Source::File(path) => {
            command.arg("-i").arg(path);
        }
    }
    let audio_input = match options.source {
        Source::TestPattern { .. } => "1:a",
        Source::File(_) => "0:a",
    };
    for _ in &options.ladder {
        command.args(["-map", "0:v:0"]);
    }
    if with_audio {
        command.args(["-map", audio_input]);
    }
    // Aligned key frames: a forced IDR at every segment boundary and no scene-cut ones, so
    // every rung cuts at the same times and a player may switch at any segment.
    let gop = (segment_seconds * f64::from(options.frame_rate)).round() as u32;
    command.args([
        "-c:v",
        "libx264",
        "-preset",
        &options.preset,
        "-profile:v",
        "main",
        "-pix_fmt",
        "yuv420p",
        "-r",
        &options.frame_rate.to_string(),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        &format!("expr:gte(t,n_forced*{segment_seconds})"),
        "-x264-params",
        &format!("keyint={gop}:min-keyint={gop}"),
    ]);
    for (i, rung) in options.ladder.iter().enumerate() {
        let bitrate = rung.bitrate;
        command.args([
            &format!("-b:v:{i}"),
            &bitrate.to_string(),
            &format!("-maxrate:v:{i}"),
            &(bitrate / 10 * 11).to_string(),
            &format!("-bufsize:v:{i}"),
            &(bitrate * 2).to_string(),
            &format!("-filter:v:{i}"),
            &format!("scale={}:{},setdar=16/9", rung.width(), rung.height),
        ]);
    }
    if with_audio {
        command.args(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]);
    }
    let scratch = options.out.join(".ffmpeg.mpd");
    command.args([
        "-f",
        "dash",
        "-seg_duration",
        &segment_seconds.to_string(),
        "-use_template",
        "1",
        "-use_timeline",
        "0",
        "-init_seg_name",
        INIT_TEMPLATE,
        "-media_seg_name",
        MEDIA_TEMPLATE,
        "-adaptation_sets",
        if with_audio {
            "id=0,streams=v id=1,streams=a"
        } else {
            "id=0,streams=v"
        },
    ]);
    command.arg(&scratch);
    let output = command.output().map_err(|source| PackageError::Spawn {
        program: options.ffmpeg.display().to_string(),
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(PackageError::Ffmpeg {
            status: output.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        });
    }
    // ffmpeg's own manifest is not ours: the MPD below is written from the segments.
    let _ = std::fs::remove_file(&scratch);

    let video_count = options.ladder.len();
    let total = video_count + usize::from(with_audio);
    let mut reads = Vec::new();
    for index in 0..total {
        reads.push(read_representation(&options.out, index)?);
    }
    // Segment alignment across the video ladder: the same spans in every rung.
    let first = &reads[0];
    for read in &reads[1..video_count] {
        let spans = |r: &ReadBack| {
            r.spans
                .iter()
                .map(|&(t, _)| t as f64 / f64::from(r.info.timescale))
                .collect::<Vec<_>>()
        };
        let (a, b) = (spans(first), spans(read));
        if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 0.05) {
            return Err(PackageError::Output(format!(
                "representation {} is not cut at the same times as representation 0",
                read.id
            )));
        }
    }
    let duration_seconds =
        first.spans.iter().map(|&(_, d)| d).sum::<u64>() as f64 / f64::from(first.info.timescale);
    let duration = Duration::from_secs_f64(duration_seconds);

    let mut packaged = Vec::new();
    let mut video = AdaptationSet {
        id: Some(0),
        content_type: Some("video".into()),
        mime_type: Some("video/mp4".into()),
        segment_alignment: true,
        frame_rate: Some(FrameRate {
            numerator: options.frame_rate,
            denominator: None,
        }),
        ..AdaptationSet::default()
    };
    let mut audio = AdaptationSet {
        id: Some(1),
        content_type: Some("audio".into()),
        mime_type: Some("audio/mp4".into()),
        segment_alignment: true,
        ..AdaptationSet::default()
    };
    for (index, read) in reads.iter().enumerate() {
        let is_video = index < video_count;
        // Audio may end in a sliver of a segment past the video (encoder priming); the
        // presentation is as long as the video, so such a tail is left out.
        let spans: Vec<(u64, u64)> = if is_video {
            read.spans.clone()
        } else {
            let end = (duration_seconds * f64::from(read.info.timescale)) as u64;
            let mut spans: Vec<(u64, u64)> = read
                .spans
                .iter()
                .copied()
                .filter(|&(t, _)| t < end.saturating_sub(1))
                .collect();
            if spans.is_empty() {
                spans = read.spans.clone();
            }
            spans
        };
        let timescale = read.info.timescale;
        let mut peak = 0f64;
        let mut bytes = 0u64;
        for (&(_, ticks), &size) in spans.iter().zip(&read.sizes) {
            let seconds = ticks as f64 / f64::from(timescale);
            bytes += size;
            // A short last segment says little about the rate.
            if seconds >= segment_seconds * 0.5 {
                peak = peak.max(size as f64 * 8.0 / seconds);
            }
        }
        let media_seconds: f64 =
            spans.iter().map(|&(_, d)| d as f64).sum::<f64>() / f64::from(timescale);
        let average = (bytes as f64 * 8.0 / media_seconds.max(0.001)) as u32;
        if peak == 0.0 {
            peak = f64::from(average);
        }
        let bandwidth = ((peak / 1000.0).ceil() * 1000.0) as u32;
        let template = match options.addressing {
            Addressing::Number => SegmentTemplate {
                timescale: Some(timescale),
                duration: Some((segment_seconds * f64::from(timescale)).round() as u32),
                start_number: Some(1),
                initialization: Some(INIT_TEMPLATE.into()),
                media: Some(MEDIA_TEMPLATE.into()),
                ..SegmentTemplate::default()
            },
            Addressing::Timeline => SegmentTemplate {
                timescale: Some(timescale),
                start_number: Some(1),
                initialization: Some(INIT_TEMPLATE.into()),
                media: Some(MEDIA_TEMPLATE.into()),
                timeline: Some(timeline(&spans)),
                ..SegmentTemplate::default()
            },
        };
        let representation = Representation {
            id: read.id.clone(),
            bandwidth,
            width: read.info.width.map(u32::from),
            height: read.info.height.map(u32::from),
            codecs: Some(read.info.codecs.clone()),
            audio_sampling_rate: (!is_video).then_some(timescale),
            segment_template: Some(template),
            ..Representation::default()
        };
        packaged.push(Packaged {
            id: read.id.clone(),
            content_type: if is_video { "video" } else { "audio" },
            codecs: read.info.codecs.clone(),
            bandwidth,
            average,
            width: read.info.width,
            height: read.info.height,
            segments: spans.len(),
            bytes,
        });
        if is_video {
            video.max_width = video.max_width.max(representation.width);
            video.max_height = video.max_height.max(representation.height);
            video.representations.push(representation);
        } else {
            audio.representations.push(representation);
        }
    }
    // The ladder in ascending bandwidth, as players expect it.
    video.representations.sort_by_key(|r| r.bandwidth);
    let mut adaptation_sets = vec![video];
    if with_audio {
        adaptation_sets.push(audio);
    }
    let max_segment = reads
        .iter()
        .flat_map(|r| {
            r.spans
                .iter()
                .map(move |&(_, d)| d as f64 / f64::from(r.info.timescale))
        })
        .fold(0f64, f64::max);
    let mpd = Mpd {
        presentation: Presentation::Static,
        profiles: "urn:mpeg:dash:profile:isoff-live:2011".into(),
        media_presentation_duration: Some(duration),
        min_buffer_time: Duration::from_secs_f64(segment_seconds * 2.0),
        max_segment_duration: Some(Duration::from_secs_f64(
            (max_segment * 1000.0).ceil() / 1000.0,
        )),
        periods: vec![Period {
            id: Some("0".into()),
            start: Some(Duration::ZERO),
            adaptation_sets,
            ..Period::default()
        }],
        ..Mpd::default()
    };
    let path = options.out.join(MPD_NAME);
    std::fs::write(&path, mpd.encode()).map_err(io(&path))?;
    Ok(PackageReport {
        mpd: path,
        duration,
        representations: packaged,
    })
}

/// Runs of equal durations as S elements (`t` on the first only).
fn timeline(spans: &[(u64, u64)]) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = Vec::new();
    let mut expected = None;
    for &(t, d) in spans {
        match entries.last_mut() {
            Some(last) if last.d == d && expected == Some(t) => last.r += 1,
            _ => entries.push(TimelineEntry {
                t: (expected != Some(t)).then_some(t),
                d,
                r: 0,
            }),
        }
        expected = Some(t + d);
    }
    entries
}

/// What one representation's files hold.
struct ReadBack {
    id: String,
    info: mp4::TrackInfo,
    /// (start, duration) in ticks, per media segment.
    spans: Vec<(u64, u64)>,
    sizes: Vec<u64>,
}

fn read_representation(dir: &Path, index: usize) -> Result<ReadBack, PackageError> {
    let id = index.to_string();
    let init_path = dir.join(INIT_TEMPLATE.replace("$RepresentationID$", &id));
    let init = std::fs::read(&init_path).map_err(|source| PackageError::Io {
        path: init_path.clone(),
        source,
    })?;
    let info = mp4::track_info(&init).map_err(|source| PackageError::Mp4 {
        path: init_path.clone(),
        source,
    })?;
    let mut spans = Vec::new();
    let mut sizes = Vec::new();
    for number in 1.. {
        let path = dir.join(format!("chunk-{id}-{number:05}.m4s"));
        let Ok(data) = std::fs::read(&path) else {
            break;
        };
        let span = mp4::fragment_span(&data).map_err(|source| PackageError::Mp4 {
            path: path.clone(),
            source,
        })?;
        spans.push(span);
        sizes.push(data.len() as u64);
    }
    if spans.is_empty() {
        return Err(PackageError::Output(format!(
            "ffmpeg wrote no segments for representation {id}"
        )));
    }
    Ok(ReadBack {
        id,
        info,
        spans,
        sizes,
    })
}

/// Whether a file has an audio stream (asks `ffprobe`; no answer means no).
fn has_audio(path: &Path) -> bool {
    Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=index",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .map(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_parse_with_units() {
        let ladder = parse_ladder("750k, 300k,1.2M").unwrap();
        let rates: Vec<u32> = ladder.iter().map(|r| r.bitrate).collect();
        assert_eq!(rates, [300_000, 750_000, 1_200_000]);
        assert_eq!(ladder[2].height, 480);
        assert_eq!(ladder[2].width(), 854);
        assert!(parse_ladder("fast").is_err());
        assert!(parse_ladder("").is_err());
        assert!(parse_ladder("1k").is_err());
    }

    #[test]
    fn equal_spans_fold_into_repeats() {
        let spans = [(0, 4), (4, 4), (8, 4), (12, 2)];
        let entries = timeline(&spans);
        assert_eq!(
            entries,
            [
                TimelineEntry {
                    t: Some(0),
                    d: 4,
                    r: 2
                },
                TimelineEntry {
                    t: None,
                    d: 2,
                    r: 0
                }
            ]
        );
    }
}
