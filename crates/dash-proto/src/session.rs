//! The playback session machine that the real player and the simulator share: download
//! results and the time go in, actions come out (fetch segment k at quality q before a
//! deadline, wait, done). It keeps the buffer (filled by segments, drained in real time once
//! playing), startup, stalls, retries at a lower quality after failures, and the log that QoE
//! and the plot read.

use crate::abr::{Abr, AbrContext, Download, DownloadOutcome};
use crate::mpd::Track;

/// What the content offers: the ladder, the segment durations, and the sizes if known.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    ladder: Vec<f64>,
    durations: Vec<f64>,
    sizes: Option<Vec<Vec<u64>>>,
}

/// Content that cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// No qualities.
    #[error("the ladder is empty")]
    EmptyLadder,
    /// A bit rate that is negative, not finite, or lower than the one before.
    #[error("the ladder is not ascending finite bit rates (quality {quality})")]
    BadLadder {
        /// The first quality at fault.
        quality: usize,
    },
    /// A segment duration that is not a positive number.
    #[error("segment {index} has no positive duration")]
    BadDuration {
        /// The segment.
        index: usize,
    },
    /// The size table does not have one row per segment and one column per quality.
    #[error("the size table is {rows} rows, expected {segments} of {qualities} sizes")]
    BadSizes {
        /// Rows given.
        rows: usize,
        /// Segments.
        segments: usize,
        /// Qualities.
        qualities: usize,
    },
}

impl Content {
    /// Content from a ladder (bits/s, ascending), per-segment durations (seconds) and
    /// optionally per-segment, per-quality sizes in bytes (`sizes[k][q]`).
    pub fn new(
        ladder: Vec<f64>,
        durations: Vec<f64>,
        sizes: Option<Vec<Vec<u64>>>,
    ) -> Result<Content, ContentError> {
        if ladder.is_empty() {
            return Err(ContentError::EmptyLadder);
        }
        let mut previous = 0.0;
        for (quality, rate) in ladder.iter().enumerate() {
            if !rate.is_finite() || *rate < previous {
                return Err(ContentError::BadLadder { quality });
            }
            previous = *rate;
        }
        if let Some(index) = durations.iter().position(|d| !(d.is_finite() && *d > 0.0)) {
            return Err(ContentError::BadDuration { index });
        }
        if let Some(sizes) = &sizes {
            if sizes.len() != durations.len() || sizes.iter().any(|row| row.len() != ladder.len()) {
                return Err(ContentError::BadSizes {
                    rows: sizes.len(),
                    segments: durations.len(),
                    qualities: ladder.len(),
                });
            }
        }
        Ok(Content {
            ladder,
            durations,
            sizes,
        })
    }

    /// `count` segments of `duration` seconds at every bit rate of `ladder`.
    pub fn uniform(ladder: Vec<f64>, duration: f64, count: usize) -> Result<Content, ContentError> {
        Content::new(ladder, vec![duration; count], None)
    }

    /// The content of an MPD's video track (sizes unknown).
    pub fn from_track(track: &Track) -> Result<Content, ContentError> {
        Content::new(track.ladder(), track.durations(), None)
    }

    /// Bit rates in bits/s, ascending.
    pub fn ladder(&self) -> &[f64] {
        &self.ladder
    }

    /// Segment durations in seconds.
    pub fn durations(&self) -> &[f64] {
        &self.durations
    }

    /// The size table, if known.
    pub fn sizes(&self) -> Option<&[Vec<u64>]> {
        self.sizes.as_deref()
    }

    /// The number of segments.
    pub fn segment_count(&self) -> usize {
        self.durations.len()
    }

    /// The total media duration in seconds.
    pub fn total_duration(&self) -> f64 {
        self.durations.iter().sum()
    }

    /// The size of segment `index` at `quality` in bytes: known, or bit rate × duration.
    pub fn size(&self, index: usize, quality: usize) -> u64 {
        if let Some(size) = self
            .sizes
            .as_ref()
            .and_then(|sizes| sizes.get(index))
            .and_then(|row| row.get(quality))
        {
            return *size;
        }
        let rate = self.ladder.get(quality).copied().unwrap_or(0.0);
        let duration = self.durations.get(index).copied().unwrap_or(0.0);
        (rate * duration / 8.0).round() as u64
    }
}

/// How the session behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// The most media (seconds) buffered ahead; the next request waits until it fits.
    pub max_buffer: f64,
    /// Playback starts (and resumes after a stall) once this many segments are buffered.
    pub startup_segments: usize,
    /// A request's deadline is `max(min_timeout, timeout_factor × segment duration)` away.
    pub timeout_factor: f64,
    /// The shortest deadline, in seconds.
    pub min_timeout: f64,
    /// Failed attempts of one segment before the session gives up.
    pub max_retries: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_buffer: 30.0,
            startup_segments: 1,
            timeout_factor: 3.0,
            min_timeout: 8.0,
            max_retries: 5,
        }
    }
}

/// What the driver should do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Fetch this segment now.
    Request(Request),
    /// Nothing to do until `until` (session seconds) or until the pending download ends;
    /// then call [`Session::handle_timeout`] (or the download's handler) and poll again.
    Wait {
        /// When to poll again.
        until: f64,
    },
    /// The session is over.
    Done(Outcome),
}

/// A segment to fetch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// The segment's index (0-based, in [`Content::durations`]).
    pub index: usize,
    /// The quality (index into the ladder).
    pub quality: usize,
    /// Abandon the download if it has not completed by then (session seconds) and report
    /// [`Failure::Timeout`].
    pub deadline: f64,
}

/// Why a download failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server or the connection failed.
    Error,
    /// The body ended before its length.
    Truncated,
    /// The deadline passed.
    Timeout,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every segment was downloaded.
    Finished,
    /// A segment failed `max_retries + 1` times.
    GaveUp {
        /// The segment.
        index: usize,
        /// The last failure.
        failure: Failure,
    },
}

/// One segment as delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkRecord {
    /// The segment's index.
    pub index: usize,
    /// The quality it arrived at.
    pub quality: usize,
    /// That quality's bit rate (bits/s).
    pub bitrate: f64,
    /// Bytes.
    pub bytes: u64,
    /// When it was requested (the successful attempt).
    pub requested_at: f64,
    /// When its last byte arrived.
    pub finished_at: f64,
    /// Buffer level just before it arrived.
    pub buffer_before: f64,
    /// Buffer level just after.
    pub buffer_after: f64,
}

/// A playback stall after startup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    /// When the buffer ran dry.
    pub start: f64,
    /// When playback resumed.
    pub end: f64,
}

/// What happened in a session: the input of QoE and the plot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionLog {
    /// The delivered segments in order.
    pub chunks: Vec<ChunkRecord>,
    /// Every download attempt, failed ones included.
    pub downloads: Vec<Download>,
    /// Stalls after startup.
    pub stalls: Vec<Stall>,
    /// When playback started (session seconds from the first request).
    pub startup_delay: Option<f64>,
    /// (time, buffer level) at every change of slope, for plotting.
    pub buffer_samples: Vec<(f64, f64)>,
    /// When playback of the last segment ends (known once every segment is in).
    pub playback_end: Option<f64>,
    /// How it ended, once it has.
    pub outcome: Option<Outcome>,
    /// The ladder (bits/s), for readers of the log.
    pub ladder: Vec<f64>,
    /// The total media duration (seconds).
    pub media_duration: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Startup,
    Playing,
    Stalled { since: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    request: Request,
    requested_at: f64,
    /// Whether the deadline is an abandonment deadline (shorter than the timeout).
    abandon: bool,
}

/// The session machine. Drive it like this:
///
/// ```text
/// loop {
///     match session.poll_action(now) {
///         Action::Request(r) => start fetching segment r.index at r.quality; when it
///             completes call handle_downloaded(now, bytes), when it fails handle_failed(..),
///             and if r.deadline passes first, abandon it and call handle_timeout(now),
///         Action::Wait { until } => sleep until `until` (or the download's end), then
///             handle_timeout(now),
///         Action::Done(outcome) => break,
///     }
/// }
/// ```
///
/// Time is session seconds (the driver's clock minus the start), never read here.
pub struct Session {
    config: SessionConfig,
    content: Content,
    abr: Box<dyn Abr>,
    now: f64,
    buffer: f64,
    phase: Phase,
    next: usize,
    pending: Option<Pending>,
    quality_cap: Option<usize>,
    retries: u32,
    delayed: Option<(usize, f64)>,
    last_quality: Option<usize>,
    log: SessionLog,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("abr", &self.abr.name())
            .field("now", &self.now)
            .field("buffer", &self.buffer)
            .field("phase", &self.phase)
            .field("next", &self.next)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session at time 0 with nothing buffered.
    pub fn new(config: SessionConfig, content: Content, abr: Box<dyn Abr>) -> Session {
        let log = SessionLog {
            ladder: content.ladder.clone(),
            media_duration: content.total_duration(),
            buffer_samples: vec![(0.0, 0.0)],
            ..SessionLog::default()
        };
        let mut session = Session {
            config,
            content,
            abr,
            now: 0.0,
            buffer: 0.0,
            phase: Phase::Startup,
            next: 0,
            pending: None,
            quality_cap: None,
            retries: 0,
            delayed: None,
            last_quality: None,
            log,
        };
        if session.content.segment_count() == 0 {
            session.log.outcome = Some(Outcome::Finished);
            session.log.playback_end = Some(0.0);
        }
        session
    }

    /// The buffer level in seconds (as of the last call).
    pub fn buffer_level(&self) -> f64 {
        self.buffer
    }

    /// Whether playback is running (started and not stalled).
    pub fn is_playing(&self) -> bool {
        self.phase == Phase::Playing
    }

    /// The log so far.
    pub fn log(&self) -> &SessionLog {
        &self.log
    }

    /// The log, ending the session.
    pub fn into_log(self) -> SessionLog {
        self.log
    }

    /// The content being played.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// The algorithm's name.
    pub fn abr_name(&self) -> &'static str {
        self.abr.name()
    }

    /// Moves time forward to `now`, draining the buffer while playing.
    fn advance(&mut self, now: f64) {
        // Time never runs backwards, and a NaN changes nothing.
        if now.is_nan() || now <= self.now {
            return;
        }
        if self.phase == Phase::Playing {
            let elapsed = now - self.now;
            if self.buffer > elapsed {
                self.buffer -= elapsed;
            } else {
                let dry = self.now + self.buffer;
                self.buffer = 0.0;
                self.log.buffer_samples.push((dry, 0.0));
                self.phase = Phase::Stalled { since: dry };
            }
        }
        self.now = now;
    }

    fn sample(&mut self) {
        self.log.buffer_samples.push((self.now, self.buffer));
    }

    fn finished(&self) -> bool {
        self.log.outcome.is_some()
    }

    /// The pending download completed with `bytes` at `now`.
    pub fn handle_downloaded(&mut self, now: f64, bytes: u64) {
        self.advance(now);
        let Some(pending) = self.pending.take() else {
            return;
        };
        let request = pending.request;
        self.log.downloads.push(Download {
            index: request.index,
            quality: request.quality,
            bytes,
            seconds: self.now - pending.requested_at,
            finished_at: self.now,
            outcome: DownloadOutcome::Complete,
        });
        let duration = self.content.durations[request.index];
        let before = self.buffer;
        self.sample();
        self.buffer += duration;
        self.sample();
        self.log.chunks.push(ChunkRecord {
            index: request.index,
            quality: request.quality,
            bitrate: self.content.ladder[request.quality],
            bytes,
            requested_at: pending.requested_at,
            finished_at: self.now,
            buffer_before: before,
            buffer_after: self.buffer,
        });
        self.last_quality = Some(request.quality);
        self.next = request.index + 1;
        self.quality_cap = None;
        self.retries = 0;
        let all_in = self.next >= self.content.segment_count();
        let enough = self.buffer + 1e-9 >= duration * self.config.startup_segments.max(1) as f64;
        match self.phase {
            Phase::Startup if enough || all_in => {
                self.phase = Phase::Playing;
                self.log.startup_delay = Some(self.now);
            }
            Phase::Stalled { since } if enough || all_in => {
                self.log.stalls.push(Stall {
                    start: since,
                    end: self.now,
                });
                self.phase = Phase::Playing;
            }
            _ => {}
        }
        if all_in {
            self.log.outcome = Some(Outcome::Finished);
            let end = self.now + self.buffer;
            self.log.playback_end = Some(end);
            self.log.buffer_samples.push((end, 0.0));
        }
    }

    /// The pending download failed at `now` after `bytes` arrived.
    pub fn handle_failed(&mut self, now: f64, bytes: u64, failure: Failure) {
        self.advance(now);
        let Some(pending) = self.pending.take() else {
            return;
        };
        let request = pending.request;
        self.log.downloads.push(Download {
            index: request.index,
            quality: request.quality,
            bytes,
            seconds: self.now - pending.requested_at,
            finished_at: self.now,
            outcome: DownloadOutcome::Failed,
        });
        self.sample();
        // Try again lower: the failure is news about the path the estimate has not taken in.
        // An abandoned download (see `deadline`) retries at the lowest quality: only that one
        // is sure to arrive before the buffer runs out.
        self.quality_cap = Some(if pending.abandon && failure == Failure::Timeout {
            0
        } else {
            request.quality.saturating_sub(1)
        });
        self.retries += 1;
        if self.retries > self.config.max_retries {
            self.log.outcome = Some(Outcome::GaveUp {
                index: request.index,
                failure,
            });
        }
    }

    /// Time has moved to `now`; a pending download past its deadline counts as timed out
    /// (with no bytes: call [`Session::handle_failed`] instead if the count is known).
    pub fn handle_timeout(&mut self, now: f64) {
        self.advance(now);
        if let Some(pending) = self.pending {
            if self.now >= pending.request.deadline {
                self.handle_failed(now, 0, Failure::Timeout);
            }
        }
    }

    /// The next action at `now`.
    pub fn poll_action(&mut self, now: f64) -> Action {
        self.advance(now);
        if let Some(outcome) = self.log.outcome {
            return Action::Done(outcome);
        }
        if let Some(pending) = self.pending {
            return Action::Wait {
                until: pending.request.deadline,
            };
        }
        let index = self.next;
        let duration = self.content.durations[index];
        if let Some((delayed, until)) = self.delayed {
            if delayed == index && until > self.now {
                return Action::Wait { until };
            }
        }
        // The buffer is full: wait until the next segment fits.
        // (A microsecond of slack, so rounding cannot turn one wait into endless tiny ones.)
        if self.phase == Phase::Playing && self.buffer + duration > self.config.max_buffer + 1e-6 {
            let wait = self.buffer + duration - self.config.max_buffer;
            return Action::Wait {
                until: self.now + wait,
            };
        }
        let rebuffer_count =
            self.log.stalls.len() + usize::from(matches!(self.phase, Phase::Stalled { .. }));
        let ctx = AbrContext {
            now: self.now,
            ladder: &self.content.ladder,
            durations: &self.content.durations[index..],
            sizes: self.content.sizes.as_deref().map(|sizes| &sizes[index..]),
            buffer_level: self.buffer,
            max_buffer: self.config.max_buffer,
            last_quality: self.last_quality,
            history: &self.log.downloads,
            segment_index: index,
            playing: self.phase == Phase::Playing,
            rebuffer_count,
        };
        let decision = self.abr.choose(&ctx);
        let top = self.content.ladder.len() - 1;
        let quality = decision
            .quality
            .min(top)
            .min(self.quality_cap.unwrap_or(top));
        // A pause the algorithm asks for, once per segment and only while playing (a pause
        // that drains nothing would never end).
        if decision.delay > 1e-3
            && decision.delay.is_finite()
            && self.phase == Phase::Playing
            && self.delayed.is_none_or(|(delayed, _)| delayed != index)
        {
            let until = self.now + decision.delay.min(self.buffer);
            self.delayed = Some((index, until));
            return Action::Wait { until };
        }
        let (timeout, abandon) = self.deadline(index, quality);
        let request = Request {
            index,
            quality,
            deadline: self.now + timeout,
        };
        self.pending = Some(Pending {
            request,
            requested_at: self.now,
            abandon,
        });
        Action::Request(request)
    }

    /// Seconds until the request for segment `index` at `quality` is abandoned, and whether
    /// that is sooner than the plain timeout.
    ///
    /// The plain timeout is `max(min_timeout, timeout_factor × duration)`. Above the lowest
    /// quality, while playing, the download is abandoned sooner, as dash.js's
    /// AbandonRequestsRule and BOLA-E's abandonment do, and retried at the lowest quality.
    /// Those rules watch the download's progress; this machine learns of a download only
    /// when it ends, so it says in advance when to give up: if the download of `S_q` bytes
    /// is not done after `x` seconds, the path gave it less than `S_q / x`, so the segment at
    /// the lowest quality would take at least `x S_0 / S_q`; `x = B / (1 + S_0 / S_q)` for a
    /// buffer of `B` s is the latest moment that retry could still arrive in time, and a
    /// quarter of a segment is kept back for the round trip and the slower path. It never
    /// abandons sooner than half a segment, nor sooner than 1.5 times what this download
    /// should take at the last measured throughput (the algorithm chose it knowing that, and
    /// a download abandoned just before its end is the worst of both).
    fn deadline(&self, index: usize, quality: usize) -> (f64, bool) {
        let duration = self.content.durations[index];
        let timeout = (self.config.timeout_factor * duration).max(self.config.min_timeout);
        let rate = self
            .log
            .downloads
            .iter()
            .rev()
            .find(|d| d.outcome == DownloadOutcome::Complete)
            .and_then(Download::throughput);
        let (Some(rate), true) = (rate, quality > 0 && self.phase == Phase::Playing) else {
            return (timeout, false);
        };
        let (lowest, size) = (
            self.content.size(index, 0) as f64,
            self.content.size(index, quality) as f64,
        );
        if size <= 0.0 {
            return (timeout, false);
        }
        let spare = self.buffer / (1.0 + lowest / size) - 0.25 * duration;
        let floor = (0.5 * duration).max(1.5 * size * 8.0 / rate);
        let abandon_after = spare.max(floor);
        if abandon_after < timeout {
            (abandon_after, true)
        } else {
            (timeout, false)
        }
    }

    /// Whether the session is over.
    pub fn is_done(&self) -> bool {
        self.finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abr::{Decision, Throughput};

    /// Always asks for one quality.
    struct Fixed(usize);
    impl Abr for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn choose(&mut self, _: &AbrContext<'_>) -> Decision {
            Decision {
                quality: self.0,
                delay: 0.0,
                reason: "fixed",
            }
        }
    }

    fn content() -> Content {
        Content::uniform(vec![1e6, 2e6, 4e6], 4.0, 10).unwrap()
    }

    fn request(action: Action) -> Request {
        match action {
            Action::Request(request) => request,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn startup_stall_and_end() {
        let mut session = Session::new(SessionConfig::default(), content(), Box::new(Fixed(2)));
        let first = request(session.poll_action(0.0));
        assert_eq!((first.index, first.quality), (0, 2));
        assert!(matches!(session.poll_action(0.5), Action::Wait { .. }));
        session.handle_downloaded(2.0, 2_000_000);
        assert_eq!(session.log().startup_delay, Some(2.0));
        assert!(session.is_playing());
        let second = request(session.poll_action(2.0));
        assert_eq!(second.index, 1);
        // 4 s buffered at 2.0, the next segment arrives at 9.0: stalled from 6.0 to 9.0.
        session.handle_downloaded(9.0, 2_000_000);
        assert_eq!(
            session.log().stalls,
            [Stall {
                start: 6.0,
                end: 9.0
            }]
        );
        assert_eq!(session.buffer_level(), 4.0);
    }

    #[test]
    fn full_buffer_waits() {
        let config = SessionConfig {
            max_buffer: 10.0,
            ..SessionConfig::default()
        };
        let mut session = Session::new(config, content(), Box::new(Fixed(0)));
        let mut now = 0.0;
        for _ in 0..2 {
            request(session.poll_action(now));
            now += 0.1;
            session.handle_downloaded(now, 500_000);
        }
        // 8 s buffered minus 0.1 s played; a third segment does not fit in 10 s.
        match session.poll_action(now) {
            Action::Wait { until } => assert!((until - (now + 1.9)).abs() < 1e-9, "{until}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_step_down_and_finally_give_up() {
        let mut session = Session::new(SessionConfig::default(), content(), Box::new(Fixed(2)));
        let first = request(session.poll_action(0.0));
        session.handle_timeout(first.deadline);
        let retry = request(session.poll_action(first.deadline));
        assert_eq!((retry.index, retry.quality), (0, 1));
        session.handle_failed(retry.deadline - 1.0, 10, Failure::Truncated);
        let mut now = retry.deadline;
        let mut qualities = vec![];
        loop {
            match session.poll_action(now) {
                Action::Request(r) => {
                    qualities.push(r.quality);
                    now = r.deadline;
                    session.handle_timeout(now);
                }
                Action::Done(outcome) => {
                    assert_eq!(
                        outcome,
                        Outcome::GaveUp {
                            index: 0,
                            failure: Failure::Timeout
                        }
                    );
                    break;
                }
                Action::Wait { until } => now = until,
            }
        }
        assert_eq!(qualities, [0, 0, 0, 0]);
    }

    #[test]
    fn a_whole_session_with_a_real_rule_ends() {
        let mut session = Session::new(
            SessionConfig::default(),
            content(),
            Box::new(Throughput::default()),
        );
        let mut now = 0.0;
        let mut steps = 0;
        loop {
            let action = session.poll_action(now);
            steps += 1;
            assert!(steps < 1000);
            match action {
                Action::Request(r) => {
                    let bytes = session.content().size(r.index, r.quality);
                    now += bytes as f64 * 8.0 / 3e6;
                    session.handle_downloaded(now, bytes);
                }
                Action::Wait { until } => now = until,
                Action::Done(outcome) => {
                    assert_eq!(outcome, Outcome::Finished);
                    break;
                }
            }
        }
        let log = session.log();
        assert_eq!(log.chunks.len(), 10);
        assert!(log.stalls.is_empty());
        assert_eq!(log.chunks[9].quality, 1);
    }

    #[test]
    fn content_is_checked() {
        assert_eq!(
            Content::new(vec![], vec![1.0], None),
            Err(ContentError::EmptyLadder)
        );
        assert_eq!(
            Content::new(vec![2.0, 1.0], vec![1.0], None),
            Err(ContentError::BadLadder { quality: 1 })
        );
        assert_eq!(
            Content::new(vec![1.0], vec![1.0, f64::NAN], None),
            Err(ContentError::BadDuration { index: 1 })
        );
        assert!(Content::new(vec![1.0], vec![1.0], Some(vec![vec![1, 2]])).is_err());
    }
}
