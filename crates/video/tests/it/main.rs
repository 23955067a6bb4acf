//! The video drivers end to end: ffmpeg packages a test pattern, xmllint checks our MPD
//! against the DASH schema, our web server serves it, and the player plays it with every
//! ABR algorithm, through a missing segment and a malformed MPD.

use dash_proto::mpd::Mpd;
use dash_proto::session::SessionConfig;
use dash_proto::trace::Trace;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use video::package::{self, Addressing, PackageOptions, Source};
use video::player::{self, PlayOptions};

/// A program on PATH; under CI its absence fails the test, elsewhere it skips it.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found (required when CI is set)"
        );
        eprintln!("skipped: {name} not found");
    }
    found
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("applayer-video-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One packaged test pattern shared by the tests (8 s, three rungs, 2 s segments): the site
/// root, with the presentation under `video/`.
fn packaged() -> Option<&'static Path> {
    static SITE: OnceLock<Option<PathBuf>> = OnceLock::new();
    SITE.get_or_init(|| {
        tool("ffmpeg")?;
        let site = temp_dir("site");
        let mut options =
            PackageOptions::new(Source::TestPattern { seconds: 8 }, site.join("video"));
        options.ladder = package::parse_ladder("300k,1200k,2850k").unwrap();
        options.segment = Duration::from_secs(2);
        options.preset = "ultrafast".into();
        let report = package::package(&options).expect("packaging works");
        assert_eq!(report.representations.len(), 4, "{report:?}");
        Some(site)
    })
    .as_deref()
}

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dash-proto/test-data/schema/DASH-MPD.xsd")
}

fn xmllint_valid(mpd: &Path) {
    let Some(xmllint) = tool("xmllint") else {
        return;
    };
    let output = std::process::Command::new(xmllint)
        .args(["--noout", "--schema"])
        .arg(schema())
        .arg(mpd)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn packaging_makes_a_valid_mpd_of_aligned_segments() {
    let Some(site) = packaged() else { return };
    let mpd_path = site.join("video").join(package::MPD_NAME);
    xmllint_valid(&mpd_path);
    let mpd = Mpd::decode(&std::fs::read(&mpd_path).unwrap()).unwrap();
    let track = mpd
        .video_track("http://example.com/video/manifest.mpd")
        .unwrap();
    assert_eq!(track.qualities.len(), 3);
    let ladder = track.ladder();
    assert!(ladder.windows(2).all(|w| w[0] < w[1]), "{ladder:?}");
    // Each rung's measured peak is near what it was asked for.
    for (got, asked) in ladder.iter().zip([300e3, 1200e3, 2850e3]) {
        assert!(
            *got > asked * 0.7 && *got < asked * 1.6,
            "{got} for {asked}"
        );
    }
    for quality in &track.qualities {
        assert_eq!(quality.segments.len(), 4);
        for segment in &quality.segments {
            let name = segment.url.rsplit('/').next().unwrap();
            assert!(site.join("video").join(name).is_file(), "{name}");
        }
    }
    let video = &mpd.periods[0].adaptation_sets[0];
    for representation in &video.representations {
        assert!(
            representation
                .codecs
                .as_deref()
                .unwrap()
                .starts_with("avc1."),
            "{representation:?}"
        );
    }
    assert_eq!(
        mpd.periods[0].adaptation_sets[1].representations[0]
            .codecs
            .as_deref(),
        Some("mp4a.40.2")
    );
}

#[test]
fn a_timeline_mpd_lists_the_exact_spans() {
    if tool("ffmpeg").is_none() {
        return;
    }
    let dir = temp_dir("timeline");
    let mut options = PackageOptions::new(Source::TestPattern { seconds: 5 }, &dir);
    options.ladder = package::parse_ladder("300k,750k").unwrap();
    options.segment = Duration::from_secs(2);
    options.addressing = Addressing::Timeline;
    options.preset = "ultrafast".into();
    package::package(&options).unwrap();
    let path = dir.join(package::MPD_NAME);
    xmllint_valid(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("<SegmentTimeline>"), "{text}");
    let mpd = Mpd::parse(&text).unwrap();
    let track = mpd.video_track("http://example.com/manifest.mpd").unwrap();
    let durations = track.durations();
    // 5 s in 2 s segments: 2, 2, then the 1 s left.
    assert_eq!(durations.len(), 3, "{durations:?}");
    assert!(
        (durations.iter().sum::<f64>() - 5.0).abs() < 0.1,
        "{durations:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Serves `root` with our web server on 127.0.0.1; the address and the server's stopper.
async fn serve(root: &Path) -> (std::net::SocketAddr, netio::Shutdown) {
    let mut config = web::WebServerConfig::new(root);
    config.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.drain_timeout = Duration::from_secs(1);
    let server = web::bind(config).await.unwrap();
    let addr = server.local_addrs()[0];
    let shutdown = netio::Shutdown::new();
    let stop = shutdown.clone();
    tokio::spawn(async move { server.run(stop).await });
    (addr, shutdown)
}

fn options(abr: &str, trace: Option<Trace>) -> PlayOptions {
    PlayOptions {
        abr: abr.into(),
        trace,
        session: SessionConfig {
            min_timeout: 3.0,
            ..SessionConfig::default()
        },
        resolver: Arc::new(netio::resolve::SystemResolver),
        max_segments: None,
        latency: Duration::ZERO,
        source: None,
        http2: false,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_algorithm_plays_the_packaged_video() {
    let Some(site) = packaged() else { return };
    runtime().block_on(async {
        let (addr, _shutdown) = serve(site).await;
        let url = format!("http://{addr}/video/manifest.mpd");
        // 20 Mbit/s, then 1 Mbit/s for 2 s, then 20 again: every algorithm climbs, and the
        // dip is there to react to.
        let trace = Trace::parse("0 20\n1.5 1\n3.5 20\n").unwrap();
        let runs = dash_proto::abr::NAMES.map(|name| {
            let url = url.clone();
            let options = options(name, Some(trace.clone()));
            async move { (name, player::play(&url, &options).await) }
        });
        let [a, b, c, d] = runs;
        let results = tokio::join!(a, b, c, d);
        for (name, result) in [results.0, results.1, results.2, results.3] {
            let report = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let summary = &report.summary;
            assert!(summary.finished, "{name}: {summary:?}");
            assert_eq!(summary.chunks, 4, "{name}");
            assert_eq!(report.connections, 1, "{name}: one keep-alive connection");
            assert!(
                report.fetches.iter().all(|f| f.status == 200),
                "{name}: {:?}",
                report.fetches
            );
            // Init segments come before the first segment of each quality used.
            let mut seen = std::collections::HashSet::new();
            for fetch in &report.fetches {
                match fetch.quality {
                    Some(q) => assert!(seen.contains(&q), "{name}: q{q} before its init"),
                    None => {
                        let id: usize = fetch
                            .url
                            .rsplit('-')
                            .next()
                            .unwrap()
                            .trim_end_matches(".m4s")
                            .parse()
                            .unwrap();
                        seen.insert(id);
                    }
                }
            }
            assert!(summary.average_bitrate_mbps > 0.3, "{name}: {summary:?}");
        }
    });
}

/// The same presentation over HTTP/2 (h2c with prior knowledge to our server): one
/// connection, a stream per request, the same QoE bookkeeping; and a segment that never comes
/// over HTTP/2 is abandoned like one over HTTP/1.1.
#[test]
fn the_player_speaks_http2_to_our_server() {
    let Some(site) = packaged() else { return };
    runtime().block_on(async {
        let (addr, _shutdown) = serve(site).await;
        let url = format!("http://{addr}/video/manifest.mpd");
        let mut options = options("bola", Some(Trace::parse("0 6\n").unwrap()));
        options.http2 = true;
        let report = player::play(&url, &options).await.unwrap();
        assert!(report.summary.finished, "{:?}", report.summary);
        assert_eq!(report.summary.chunks, 4);
        assert_eq!(report.connections, 1, "{:?}", report.fetches);
        assert!(
            report.fetches.iter().all(|f| f.status == 200),
            "{:?}",
            report.fetches
        );
        let bytes: u64 = report.log.chunks.iter().map(|c| c.bytes).sum();
        assert!(bytes > 100_000, "{bytes}");
        // It is HTTP/2 on the wire: a server that speaks only HTTP/1.1 cannot answer it.
        let http1_only = faulty_server(site.to_path_buf()).await;
        let url = format!("http://{http1_only}/video/manifest.mpd");
        let mut strict = options.clone();
        strict.trace = None;
        strict.session.min_timeout = 1.0;
        let result = tokio::time::timeout(Duration::from_secs(20), player::play(&url, &strict))
            .await
            .expect("no hang");
        assert!(result.is_err(), "an HTTP/1.1 server answered HTTP/2");
    });
}

#[test]
fn a_missing_segment_is_retried_lower_and_the_session_finishes() {
    let Some(site) = packaged() else { return };
    // A copy of the site without the top quality's second segment.
    let copy = temp_dir("missing");
    std::fs::create_dir_all(copy.join("video")).unwrap();
    for entry in std::fs::read_dir(site.join("video")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join("video").join(entry.file_name())).unwrap();
    }
    std::fs::remove_file(copy.join("video/chunk-2-00002.m4s")).unwrap();
    std::fs::remove_file(copy.join("video/chunk-2-00003.m4s")).unwrap();
    runtime().block_on(async {
        let (addr, _shutdown) = serve(&copy).await;
        let url = format!("http://{addr}/video/manifest.mpd");
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            player::play(&url, &options("throughput", None)),
        )
        .await
        .expect("the player does not hang")
        .unwrap();
        assert!(report.summary.finished, "{:?}", report.summary);
        assert!(
            report.fetches.iter().any(|f| f.status == 404),
            "{:?}",
            report.fetches
        );
        assert!(report.summary.failures >= 1, "{:?}", report.summary);
        // Every segment was delivered at some quality.
        let mut delivered: Vec<usize> = report.log.chunks.iter().map(|c| c.index).collect();
        delivered.sort();
        assert_eq!(delivered, [0, 1, 2, 3]);
    });
    let _ = std::fs::remove_dir_all(copy);
}

#[test]
fn a_malformed_mpd_is_an_error_with_its_line() {
    let dir = temp_dir("malformed");
    std::fs::write(
        dir.join("bad.mpd"),
        "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\">\n<Period>\n<AdaptationSet>\n<Representation id=\"0\">\n</Period>\n</MPD>\n",
    )
    .unwrap();
    runtime().block_on(async {
        let (addr, _shutdown) = serve(&dir).await;
        let url = format!("http://{addr}/bad.mpd");
        let error = player::play(&url, &options("bola", None))
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("line"), "{text}");
        let missing = format!("http://{addr}/none.mpd");
        let error = player::play(&missing, &options("bola", None))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("404"), "{error}");
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// A server of the packaged files that breaks two of the top quality's segments: one is cut
/// off mid-body (the connection closes), the other never comes (headers, then silence).
async fn faulty_server(root: PathBuf) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let root = root.clone();
            tokio::spawn(async move {
                let mut input = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    // One request at a time, keep-alive.
                    let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => input.extend_from_slice(&buf[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&input[..end]).into_owned();
                    input.drain(..end + 4);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let file = root.join(path.trim_start_matches('/'));
                    let Ok(body) = std::fs::read(&file) else {
                        let _ = socket
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        continue;
                    };
                    let header = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: video/mp4\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(header.as_bytes()).await;
                    if path.ends_with("chunk-2-00002.m4s") {
                        let _ = socket.write_all(&body[..body.len() / 2]).await;
                        return; // cut off
                    }
                    if path.ends_with("chunk-2-00003.m4s") {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return; // never comes
                    }
                    if socket.write_all(&body).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn truncated_and_stalled_segments_are_retried_lower_never_hung_on() {
    let Some(site) = packaged() else { return };
    runtime().block_on(async {
        let addr = faulty_server(site.to_path_buf()).await;
        let url = format!("http://{addr}/video/manifest.mpd");
        let mut options = options("throughput", None);
        options.session.min_timeout = 1.5;
        options.session.timeout_factor = 1.0;
        let started = std::time::Instant::now();
        let report = tokio::time::timeout(Duration::from_secs(40), player::play(&url, &options))
            .await
            .expect("the player does not hang")
            .unwrap();
        let errors: Vec<&str> = report
            .fetches
            .iter()
            .filter_map(|f| f.error.as_deref())
            .collect();
        assert!(report.summary.finished, "{:?} {errors:?}", report.summary);
        let mut delivered: Vec<usize> = report.log.chunks.iter().map(|c| c.index).collect();
        delivered.sort();
        assert_eq!(delivered, [0, 1, 2, 3], "{errors:?}");
        // Whichever broken segment the algorithm asked for failed and was fetched again lower.
        for chunk in &report.log.chunks {
            if chunk.index == 1 || chunk.index == 2 {
                let asked_top = report.fetches.iter().any(|f| {
                    f.quality == Some(2)
                        && f.url
                            .ends_with(&format!("chunk-2-{:05}.m4s", chunk.index + 1))
                });
                if asked_top {
                    assert!(chunk.quality < 2, "{chunk:?}");
                }
            }
        }
        // On loopback the algorithm climbs to the top at once, so it meets both.
        assert!(
            errors.iter().any(|e| e.contains("closed"))
                && errors.iter().any(|e| e.contains("timed out")),
            "{errors:?} {:?}",
            report.fetches
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    });
}
