//! `video play`: the adaptive player. It fetches the MPD, then runs `dash_proto`'s session
//! machine with the chosen ABR algorithm in real time: each segment requested at the quality
//! the algorithm picks (its init segment first when the quality is new), abandoned at the
//! machine's deadline, paced by a bandwidth trace when one is given; a failed, truncated or
//! slow segment is reported to the machine, which retries lower. `simulate` runs the same
//! machine over the trace in virtual time.

use crate::fetch::{Bottleneck, FetchError, Fetcher};
use dash_proto::abr;
use dash_proto::mpd::{Mpd, Track};
use dash_proto::qoe::Summary;
use dash_proto::session::{Action, Content, Failure, Session, SessionConfig, SessionLog};
use dash_proto::simulate::{simulate, SimConfig};
use dash_proto::trace::Trace;
use netio::resolve::Resolve;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to play and how.
#[derive(Clone)]
pub struct PlayOptions {
    /// The ABR algorithm's name (one of [`abr::NAMES`]).
    pub abr: String,
    /// Pace downloads to this trace.
    pub trace: Option<Trace>,
    /// The session machine's settings.
    pub session: SessionConfig,
    /// How host names are resolved (the system's, or the world's DNS).
    pub resolver: Arc<dyn Resolve>,
    /// Stop after this many segments (a short look at a long presentation).
    pub max_segments: Option<usize>,
    /// Added to each request before its first byte (a path's round trip; with a trace).
    pub latency: Duration,
    /// The local address the player's connections leave from (a world host's), if any.
    pub source: Option<std::net::IpAddr>,
    /// HTTP/2 (h2c with prior knowledge) instead of HTTP/1.1.
    pub http2: bool,
}

/// One request the player made.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Seconds since the session began, when the request was sent.
    pub at: f64,
    /// The URL.
    pub url: String,
    /// The status (0 when it failed before one came).
    pub status: u16,
    /// Body bytes.
    pub bytes: u64,
    /// How long it took, seconds.
    pub seconds: f64,
    /// The quality, for media segments.
    pub quality: Option<usize>,
    /// The cache's verdict (`X-Cache`), when the server said.
    pub cache: Option<String>,
    /// The failure, if it failed.
    pub error: Option<String>,
}

/// What a session did.
#[derive(Debug, Clone)]
pub struct PlayReport {
    /// The algorithm.
    pub abr: &'static str,
    /// The machine's record.
    pub log: SessionLog,
    /// Its QoE.
    pub summary: Summary,
    /// Every request, in order.
    pub fetches: Vec<Fetch>,
    /// TCP connections opened.
    pub connections: u64,
}

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlayError {
    /// The MPD could not be fetched.
    #[error("fetching the MPD {url}: {error}")]
    Manifest {
        /// Its URL.
        url: String,
        /// Why.
        error: String,
    },
    /// The MPD is malformed or describes nothing playable.
    #[error("{url}: {error}")]
    Mpd {
        /// Its URL.
        url: String,
        /// Why (with its line).
        error: String,
    },
    /// No such ABR algorithm.
    #[error("unknown ABR algorithm {0:?} (one of: {names})", names = abr::NAMES.join(", "))]
    Abr(String),
}

/// A trace as the fetcher's bottleneck.
struct TraceLink(Trace);

impl Bottleneck for TraceLink {
    fn arrival(&self, start: f64, bytes: u64) -> f64 {
        self.0.finish_time(start, bytes as f64 * 8.0)
    }
}

/// Fetches and parses the MPD; its video track, the content model and the MPD itself.
pub async fn load(
    fetcher: &mut Fetcher,
    url: &str,
    max_segments: Option<usize>,
) -> Result<(Mpd, Track, Content), PlayError> {
    let fetched = fetcher
        .get(url, None, true, Duration::from_secs(10))
        .await
        .map_err(|error| PlayError::Manifest {
            url: url.to_string(),
            error: error.to_string(),
        })?;
    if fetched.status != 200 {
        return Err(PlayError::Manifest {
            url: url.to_string(),
            error: format!("status {}", fetched.status),
        });
    }
    let mpd_error = |error: String| PlayError::Mpd {
        url: url.to_string(),
        error,
    };
    let mpd = Mpd::decode(&fetched.body).map_err(|e| mpd_error(e.to_string()))?;
    let mut track = mpd.video_track(url).map_err(|e| mpd_error(e.to_string()))?;
    if let Some(max) = max_segments {
        for quality in &mut track.qualities {
            quality.segments.truncate(max.max(1));
        }
    }
    let content = Content::from_track(&track).map_err(|e| mpd_error(e.to_string()))?;
    Ok((mpd, track, content))
}

/// Plays `url` to the end (or until the machine gives up).
pub async fn play(url: &str, options: &PlayOptions) -> Result<PlayReport, PlayError> {
    let algorithm =
        abr::by_name(&options.abr).ok_or_else(|| PlayError::Abr(options.abr.clone()))?;
    let bottleneck = options
        .trace
        .clone()
        .map(|trace| Box::new(TraceLink(trace)) as Box<dyn Bottleneck>);
    let mut fetcher = Fetcher::new(options.resolver.clone(), bottleneck);
    fetcher.source = options.source;
    fetcher.http2 = options.http2;
    let (_, track, content) = load(&mut fetcher, url, options.max_segments).await?;
    fetcher.latency = options.latency;
    // The session's clock starts with the first segment request; the MPD is not part of it
    // (as startup delay is measured by dash.js).
    fetcher.reset_epoch();
    let epoch = Instant::now();
    let clock = || epoch.elapsed().as_secs_f64();
    let mut session = Session::new(options.session, content, algorithm);
    let abr = session.abr_name();
    let mut fetches = Vec::new();
    let mut initialized: HashSet<usize> = HashSet::new();
    // Each step either makes a request or waits until a time the machine names; the bound
    // keeps a machine bug from becoming a hang.
    let max_retries = options.session.max_retries as usize + 2;
    let limit = 16 * (track.qualities.first().map_or(0, |q| q.segments.len()) + 1) * max_retries;
    for _ in 0..limit {
        let now = clock();
        match session.poll_action(now) {
            Action::Request(request) => {
                let remaining = (request.deadline - now).max(0.05);
                let mut deadline = Instant::now() + Duration::from_secs_f64(remaining);
                let Some(list) = track.qualities.get(request.quality) else {
                    session.handle_failed(clock(), 0, Failure::Error);
                    continue;
                };
                if !initialized.contains(&request.quality) {
                    if let Some(init) = &list.initialization {
                        let at = clock();
                        let left = deadline.saturating_duration_since(Instant::now());
                        let started = Instant::now();
                        let result = fetcher
                            .get(init, None, false, left.max(Duration::from_millis(50)))
                            .await;
                        // The machine's deadline is the media segment's: the init segment
                        // a switch costs does not eat into it.
                        deadline += started.elapsed();
                        let ok = matches!(&result, Ok(f) if f.status == 200);
                        fetches.push(record(at, init, None, &result, clock()));
                        if !ok {
                            session.handle_failed(clock(), 0, failure_of(&result));
                            continue;
                        }
                        initialized.insert(request.quality);
                    }
                }
                let Some(segment) = list.segments.get(request.index) else {
                    session.handle_failed(clock(), 0, Failure::Error);
                    continue;
                };
                let at = clock();
                let left = deadline.saturating_duration_since(Instant::now());
                let result = fetcher
                    .get(
                        &segment.url,
                        None,
                        false,
                        left.max(Duration::from_millis(50)),
                    )
                    .await;
                fetches.push(record(
                    at,
                    &segment.url,
                    Some(request.quality),
                    &result,
                    clock(),
                ));
                match &result {
                    Ok(fetched) if fetched.status == 200 || fetched.status == 206 => {
                        session.handle_downloaded(clock(), fetched.bytes);
                    }
                    Ok(fetched) => session.handle_failed(clock(), fetched.bytes, Failure::Error),
                    Err(error) => {
                        // What did arrive tells the estimators how far the path fell.
                        let bytes = match error {
                            FetchError::Truncated { got, .. } => *got,
                            _ => fetcher.received,
                        };
                        session.handle_failed(clock(), bytes, failure_of(&result));
                    }
                }
            }
            Action::Wait { until } => {
                let wait = (until - now).clamp(0.0, 5.0);
                tokio::time::sleep(Duration::from_secs_f64(wait.max(0.001))).await;
                session.handle_timeout(clock());
            }
            Action::Done(_) => break,
        }
    }
    let log = session.into_log();
    let summary = Summary::of(&log);
    Ok(PlayReport {
        abr,
        log,
        summary,
        fetches,
        connections: fetcher.connections,
    })
}

/// The content with every segment's real size (by HEAD), so a simulation downloads what
/// the real player would.
pub async fn with_sizes(
    fetcher: &mut Fetcher,
    track: &Track,
    content: &Content,
) -> Result<Content, PlayError> {
    let count = content.segment_count();
    let mut sizes = vec![vec![0u64; track.qualities.len()]; count];
    for (quality, list) in track.qualities.iter().enumerate() {
        for (index, segment) in list.segments.iter().take(count).enumerate() {
            let size = fetcher
                .size(&segment.url, Duration::from_secs(10))
                .await
                .map_err(|error| PlayError::Manifest {
                    url: segment.url.clone(),
                    error: error.to_string(),
                })?;
            sizes[index][quality] = size.unwrap_or_else(|| content.size(index, quality));
        }
    }
    Content::new(
        content.ladder().to_vec(),
        content.durations().to_vec(),
        Some(sizes),
    )
    .map_err(|error| PlayError::Mpd {
        url: String::new(),
        error: error.to_string(),
    })
}

/// Runs the same machine over the trace in virtual time (no network after the MPD).
pub fn simulate_session(
    content: &Content,
    trace: &Trace,
    algorithm: &str,
    config: &SimConfig,
) -> Result<(SessionLog, Summary), PlayError> {
    let abr = abr::by_name(algorithm).ok_or_else(|| PlayError::Abr(algorithm.to_string()))?;
    let log = simulate(content, trace, abr, config);
    let summary = Summary::of(&log);
    Ok((log, summary))
}

fn failure_of<T>(result: &Result<T, FetchError>) -> Failure {
    match result {
        Err(FetchError::Timeout(_)) => Failure::Timeout,
        Err(FetchError::Truncated { .. }) => Failure::Truncated,
        _ => Failure::Error,
    }
}

fn record(
    at: f64,
    url: &str,
    quality: Option<usize>,
    result: &Result<crate::fetch::Fetched, FetchError>,
    end: f64,
) -> Fetch {
    match result {
        Ok(fetched) => Fetch {
            at,
            url: url.to_string(),
            status: fetched.status,
            bytes: fetched.bytes,
            seconds: fetched.elapsed.as_secs_f64(),
            quality,
            cache: fetched.cache.clone(),
            error: None,
        },
        Err(error) => Fetch {
            at,
            url: url.to_string(),
            status: 0,
            bytes: 0,
            seconds: end - at,
            quality,
            cache: None,
            error: Some(error.to_string()),
        },
    }
}
