//! Adaptive bitrate algorithms behind one trait, [`Abr`]: [`Throughput`] (dash.js-style EWMA
//! of throughput), [`Bola`] (BOLA with the BOLA-E additions of dash.js: placeholder buffer,
//! oscillation cap, insufficient-buffer cap), [`RobustMpc`] (RobustMPC of Yin et al.) and
//! [`Dynamic`] (dash.js's DYNAMIC: throughput while the buffer is low, BOLA once it is high).
//! Every algorithm is deterministic: the same context sequence gives the same decisions.

/// How a download ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// The whole segment arrived.
    Complete,
    /// It failed or timed out after `bytes` arrived.
    Failed,
}

/// One finished (or abandoned) segment download.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Download {
    /// The segment's index.
    pub index: usize,
    /// The quality it was fetched at.
    pub quality: usize,
    /// Bytes received.
    pub bytes: u64,
    /// Seconds from the request to the last byte (or the failure).
    pub seconds: f64,
    /// When it ended, in session seconds.
    pub finished_at: f64,
    /// Whether it completed.
    pub outcome: DownloadOutcome,
}

impl Download {
    /// The measured throughput in bits/s, if the sample says anything.
    pub fn throughput(&self) -> Option<f64> {
        (self.bytes > 0 && self.seconds > 0.0).then(|| self.bytes as f64 * 8.0 / self.seconds)
    }
}

/// What an algorithm sees when it picks the next segment's quality.
#[derive(Debug, Clone, Copy)]
pub struct AbrContext<'a> {
    /// Session time in seconds.
    pub now: f64,
    /// Bit rates of the qualities in bits/s, ascending (quality 0 is the lowest).
    pub ladder: &'a [f64],
    /// Durations in seconds of the segments from the one being chosen to the end.
    pub durations: &'a [f64],
    /// Sizes in bytes, `sizes[k][q]`, of the segments from the one being chosen, if known.
    pub sizes: Option<&'a [Vec<u64>]>,
    /// Seconds of media buffered ahead of the playhead.
    pub buffer_level: f64,
    /// The most the session buffers, in seconds.
    pub max_buffer: f64,
    /// The quality of the previous segment, if any.
    pub last_quality: Option<usize>,
    /// Every download so far, oldest first (failed ones included).
    pub history: &'a [Download],
    /// Index of the segment being chosen.
    pub segment_index: usize,
    /// Whether playback has started.
    pub playing: bool,
    /// How many times playback has stalled after starting.
    pub rebuffer_count: usize,
}

impl AbrContext<'_> {
    /// The duration of the segment being chosen.
    pub fn segment_duration(&self) -> f64 {
        self.durations.first().copied().unwrap_or(0.0)
    }

    /// The size in bytes of segment `ahead` (0 = the one being chosen) at `quality`: known, or
    /// bit rate times duration.
    pub fn size(&self, ahead: usize, quality: usize) -> f64 {
        if let Some(size) = self
            .sizes
            .and_then(|sizes| sizes.get(ahead))
            .and_then(|row| row.get(quality))
        {
            return *size as f64;
        }
        let duration = self
            .durations
            .get(ahead)
            .copied()
            .unwrap_or_else(|| self.segment_duration());
        self.ladder.get(quality).copied().unwrap_or(0.0) * duration / 8.0
    }

    fn top(&self) -> usize {
        self.ladder.len().saturating_sub(1)
    }
}

/// An algorithm's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The quality to fetch.
    pub quality: usize,
    /// Seconds to wait before fetching (BOLA's pause when the buffer is above its target).
    pub delay: f64,
    /// A word on why, for logs.
    pub reason: &'static str,
}

impl Decision {
    fn now(quality: usize, reason: &'static str) -> Decision {
        Decision {
            quality,
            delay: 0.0,
            reason,
        }
    }
}

/// An adaptive bitrate algorithm.
pub trait Abr {
    /// Its name, as `--abr` spells it.
    fn name(&self) -> &'static str;
    /// Picks the quality of the next segment. `ctx.ladder` is never empty.
    fn choose(&mut self, ctx: &AbrContext<'_>) -> Decision;
}

/// The algorithms by name: `throughput`, `bola`, `mpc`, `dynamic`.
pub fn by_name(name: &str) -> Option<Box<dyn Abr>> {
    match name {
        "throughput" => Some(Box::new(Throughput::default())),
        "bola" => Some(Box::new(Bola::default())),
        "mpc" => Some(Box::new(RobustMpc::default())),
        "dynamic" => Some(Box::new(Dynamic::default())),
        _ => None,
    }
}

/// The names [`by_name`] knows.
pub const NAMES: [&str; 4] = ["throughput", "bola", "mpc", "dynamic"];

/// The highest quality whose bit rate is at most `bits_per_second` (0 if none is).
fn quality_below(ladder: &[f64], bits_per_second: f64) -> usize {
    ladder
        .iter()
        .rposition(|rate| *rate <= bits_per_second)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------

/// dash.js's throughput estimate: two exponentially weighted moving averages whose weights
/// decay with download *time* (half-lives of 3 s and 8 s), corrected for their zero start,
/// and the smaller of the two taken, so the estimate drops fast and climbs slowly.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputEstimator {
    fast_half_life: f64,
    slow_half_life: f64,
    fast: f64,
    slow: f64,
    weight: f64,
    seen: usize,
}

impl Default for ThroughputEstimator {
    fn default() -> Self {
        ThroughputEstimator::new(3.0, 8.0)
    }
}

impl ThroughputEstimator {
    /// An estimator with the given half-lives in seconds of download time.
    pub fn new(fast_half_life: f64, slow_half_life: f64) -> Self {
        ThroughputEstimator {
            fast_half_life,
            slow_half_life,
            fast: 0.0,
            slow: 0.0,
            weight: 0.0,
            seen: 0,
        }
    }

    /// Folds one sample in: `bits_per_second` measured over `seconds`.
    pub fn add(&mut self, bits_per_second: f64, seconds: f64) {
        if !(bits_per_second.is_finite() && seconds.is_finite() && seconds > 0.0) {
            return;
        }
        let fast = 0.5f64.powf(seconds / self.fast_half_life);
        let slow = 0.5f64.powf(seconds / self.slow_half_life);
        self.fast = fast * self.fast + (1.0 - fast) * bits_per_second;
        self.slow = slow * self.slow + (1.0 - slow) * bits_per_second;
        self.weight += seconds;
    }

    /// Folds in the downloads of `history` not seen yet (starting over if it got shorter).
    pub fn update(&mut self, history: &[Download]) {
        if history.len() < self.seen {
            *self = ThroughputEstimator::new(self.fast_half_life, self.slow_half_life);
        }
        for download in &history[self.seen..] {
            if let Some(rate) = download.throughput() {
                self.add(rate, download.seconds);
            }
        }
        self.seen = history.len();
    }

    /// The estimate in bits/s, once there is a sample.
    pub fn estimate(&self) -> Option<f64> {
        if self.weight <= 0.0 {
            return None;
        }
        let fast = self.fast / (1.0 - 0.5f64.powf(self.weight / self.fast_half_life));
        let slow = self.slow / (1.0 - 0.5f64.powf(self.weight / self.slow_half_life));
        Some(fast.min(slow))
    }
}

/// Throughput rule: the highest bit rate below the estimate times a safety factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// The estimator.
    pub estimator: ThroughputEstimator,
    /// The share of the estimate one may use (dash.js: 0.9).
    pub safety: f64,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput {
            estimator: ThroughputEstimator::default(),
            safety: 0.9,
        }
    }
}

impl Abr for Throughput {
    fn name(&self) -> &'static str {
        "throughput"
    }

    fn choose(&mut self, ctx: &AbrContext<'_>) -> Decision {
        self.estimator.update(ctx.history);
        match self.estimator.estimate() {
            None => Decision::now(0, "no throughput sample yet"),
            Some(estimate) => Decision::now(
                quality_below(ctx.ladder, estimate * self.safety),
                "throughput estimate",
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Where BOLA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BolaState {
    Startup,
    Steady,
}

/// BOLA (Spiteri, Urgaonkar, Sitaraman, "BOLA: Near-Optimal Bitrate Adaptation for Online
/// Videos", 2016) as dash.js runs it (BOLA-E, 2018).
///
/// Each quality m has utility `v_m = ln(S_m / S_1)` (shifted by 1 so the lowest is 1); BOLA
/// picks the m maximizing `(V (v_m + γp) − Q) / S_m` for buffer level Q. V and γp are set so
/// that the lowest quality wins below `minimum_buffer` and the highest one wins at the buffer
/// target. BOLA-E adds: a *placeholder* buffer at startup (so that BOLA starts at the
/// throughput-based quality instead of the lowest) that also grows by the time spent idle; an
/// oscillation cap (never switch up past both the previous quality and what the throughput
/// allows); an insufficient-buffer cap (when the buffer is low, only a quality whose download
/// fits in half of it); and a pause when the buffer is above the level where the chosen
/// quality stops being the best.
#[derive(Debug, Clone, PartialEq)]
pub struct Bola {
    /// The throughput estimator (for startup and the caps).
    pub estimator: ThroughputEstimator,
    /// Share of the throughput estimate one may use.
    pub safety: f64,
    /// Below this buffer level (seconds) BOLA picks the lowest quality (dash.js: 10).
    pub minimum_buffer: f64,
    /// The buffer target is at least this (dash.js's stable buffer time: 12).
    pub buffer_target: f64,
    state: BolaState,
    placeholder: f64,
    last_call: Option<f64>,
    rebuffers_seen: usize,
}

impl Default for Bola {
    fn default() -> Self {
        Bola {
            estimator: ThroughputEstimator::default(),
            safety: 0.9,
            minimum_buffer: 10.0,
            buffer_target: 12.0,
            state: BolaState::Startup,
            placeholder: 0.0,
            last_call: None,
            rebuffers_seen: 0,
        }
    }
}

/// V and γp for a ladder, and the utilities.
struct BolaParameters {
    utilities: Vec<f64>,
    gp: f64,
    v: f64,
}

impl Bola {
    fn parameters(&self, ctx: &AbrContext<'_>) -> Option<BolaParameters> {
        let lowest = *ctx.ladder.first()?;
        if ctx.ladder.len() < 2 || lowest <= 0.0 {
            return None;
        }
        let utilities: Vec<f64> = ctx
            .ladder
            .iter()
            .map(|rate| (rate / lowest).max(1.0).ln() + 1.0)
            .collect();
        let top = *utilities.last()?;
        if top <= 1.0 {
            return None;
        }
        // dash.js: the target grows with the ladder (2 s per level above 10 s), and cannot
        // exceed what the session will buffer.
        let target = self
            .buffer_target
            .max(self.minimum_buffer + 2.0 * ctx.ladder.len() as f64)
            .min(ctx.max_buffer.max(self.minimum_buffer + 1.0));
        // V (u_1 + γp) = minimum and V (u_M + γp) = target, with u_1 = 1 ... solved for γp, V
        // so that the scores of lowest and highest tie at those levels.
        let gp = (top - 1.0) / (target / self.minimum_buffer - 1.0);
        let v = self.minimum_buffer / gp;
        Some(BolaParameters { utilities, gp, v })
    }

    fn quality_for_buffer(parameters: &BolaParameters, ladder: &[f64], level: f64) -> usize {
        let mut best = 0;
        let mut best_score = f64::NEG_INFINITY;
        for (quality, (utility, rate)) in parameters.utilities.iter().zip(ladder).enumerate() {
            let score = (parameters.v * (utility + parameters.gp) - level) / rate;
            if score >= best_score {
                best_score = score;
                best = quality;
            }
        }
        best
    }

    /// The lowest buffer level at which BOLA would pick `quality` over every lower one.
    fn min_buffer_for(parameters: &BolaParameters, ladder: &[f64], quality: usize) -> f64 {
        let (rate, utility) = (ladder[quality], parameters.utilities[quality]);
        let mut level: f64 = 0.0;
        for (lower_rate, lower_utility) in ladder.iter().zip(&parameters.utilities).take(quality) {
            let (lower_rate, lower_utility) = (*lower_rate, *lower_utility);
            if lower_utility < utility && lower_rate < rate {
                let tie = parameters.v
                    * (parameters.gp
                        + (rate * lower_utility - lower_rate * utility) / (rate - lower_rate));
                level = level.max(tie);
            }
        }
        level
    }

    /// The buffer level above which `quality` is no longer BOLA's choice (it would rather wait).
    fn max_buffer_for(parameters: &BolaParameters, quality: usize) -> f64 {
        parameters.v * (parameters.utilities[quality] + parameters.gp)
    }
}

impl Abr for Bola {
    fn name(&self) -> &'static str {
        "bola"
    }

    fn choose(&mut self, ctx: &AbrContext<'_>) -> Decision {
        self.estimator.update(ctx.history);
        let Some(parameters) = self.parameters(ctx) else {
            return Decision::now(0, "one quality");
        };
        let throughput = self.estimator.estimate();
        let throughput_quality =
            throughput.map(|rate| quality_below(ctx.ladder, rate * self.safety));
        let idle = match (self.last_call, ctx.history.last()) {
            (Some(call), Some(last)) => ctx.now - call.max(last.finished_at),
            (Some(call), None) => ctx.now - call,
            _ => 0.0,
        };
        self.last_call = Some(ctx.now);
        if ctx.rebuffer_count > self.rebuffers_seen {
            // A stall: the placeholder must not lift quality any more.
            self.rebuffers_seen = ctx.rebuffer_count;
            self.placeholder = 0.0;
        }
        let level = ctx.buffer_level;
        if self.state == BolaState::Startup {
            let Some(quality) = throughput_quality else {
                return Decision::now(0, "bola startup: no throughput yet");
            };
            // Pretend there is enough buffer that BOLA itself would pick what the throughput
            // allows.
            self.placeholder =
                (Bola::min_buffer_for(&parameters, ctx.ladder, quality) - level).max(0.0);
            if level >= ctx.segment_duration() && ctx.playing {
                self.state = BolaState::Steady;
            }
            return Decision::now(quality, "bola startup: throughput");
        }
        self.placeholder += idle.max(0.0);
        // The placeholder never lifts the effective buffer above the top quality's level.
        let top_level = Bola::max_buffer_for(&parameters, ctx.top());
        self.placeholder = self.placeholder.min((top_level - level).max(0.0));
        let effective = level + self.placeholder;
        let mut quality = Bola::quality_for_buffer(&parameters, ctx.ladder, effective);
        let mut reason = "bola buffer";
        if let (Some(last), Some(allowed)) = (ctx.last_quality, throughput_quality) {
            // BOLA-O: do not climb past both the last quality and the throughput's.
            if quality > last && quality > allowed {
                quality = allowed.max(last);
                reason = "bola: oscillation cap";
            }
        }
        if let Some(rate) = throughput {
            // Insufficient buffer: the download must fit in half the buffer.
            let fits = (0..=quality)
                .rev()
                .find(|q| ctx.size(0, *q) * 8.0 / (rate * self.safety) <= 0.5 * level)
                .unwrap_or(0);
            if ctx.playing && level < ctx.segment_duration() * 2.0 && fits < quality {
                quality = fits;
                reason = "bola: insufficient buffer";
            }
        }
        let mut delay = (effective - Bola::max_buffer_for(&parameters, quality)).max(0.0);
        if delay <= self.placeholder {
            self.placeholder -= delay;
            delay = 0.0;
        } else {
            delay -= self.placeholder;
            self.placeholder = 0.0;
        }
        Decision {
            quality,
            delay,
            reason,
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// RobustMPC (Yin, Jindal, Sekar, Sinopoli, "A Control-Theoretic Approach for Dynamic
/// Adaptive Video Streaming over HTTP", SIGCOMM 2015), as in Pensieve's reference code: the
/// throughput predicted as the harmonic mean of the last 5 samples divided by one plus the
/// largest relative prediction error of the last 5, then every quality sequence over the
/// next `horizon` segments tried, the first step of the one with the best linear QoE taken.
#[derive(Debug, Clone, PartialEq)]
pub struct RobustMpc {
    /// Segments looked ahead (5).
    pub horizon: usize,
    /// Samples in the harmonic mean and in the error window (5).
    pub window: usize,
    /// QoE weight of a second of rebuffering per Mbit/s (4.3).
    pub rebuffer_penalty: f64,
    samples: Vec<f64>,
    errors: Vec<f64>,
    prediction: Option<f64>,
    seen: usize,
}

impl Default for RobustMpc {
    fn default() -> Self {
        RobustMpc {
            horizon: 5,
            window: 5,
            rebuffer_penalty: 4.3,
            samples: Vec::new(),
            errors: Vec::new(),
            prediction: None,
            seen: 0,
        }
    }
}

impl RobustMpc {
    fn update(&mut self, history: &[Download]) {
        if history.len() < self.seen {
            self.samples.clear();
            self.errors.clear();
            self.prediction = None;
            self.seen = 0;
        }
        for download in &history[self.seen..] {
            if let Some(rate) = download.throughput() {
                if let Some(predicted) = self.prediction {
                    self.errors.push((predicted - rate).abs() / rate);
                }
                self.samples.push(rate);
                let recent = &self.samples[self.samples.len().saturating_sub(self.window)..];
                let inverse: f64 = recent.iter().map(|r| 1.0 / r).sum();
                self.prediction = Some(recent.len() as f64 / inverse);
            }
        }
        self.seen = history.len();
    }

    /// The robust throughput prediction in bits/s.
    fn robust(&self) -> Option<f64> {
        let prediction = self.prediction?;
        let recent = &self.errors[self.errors.len().saturating_sub(self.window)..];
        let worst = recent.iter().copied().fold(0.0f64, f64::max);
        Some(prediction / (1.0 + worst))
    }
}

impl Abr for RobustMpc {
    fn name(&self) -> &'static str {
        "mpc"
    }

    fn choose(&mut self, ctx: &AbrContext<'_>) -> Decision {
        self.update(ctx.history);
        let Some(throughput) = self.robust() else {
            return Decision::now(0, "mpc: no throughput sample yet");
        };
        let qualities = ctx.ladder.len();
        let mut horizon = self.horizon.min(ctx.durations.len()).max(1);
        // A long ladder would make the exhaustive search explode: shorten the horizon instead.
        while horizon > 1 && qualities.saturating_pow(horizon as u32) > 50_000 {
            horizon -= 1;
        }
        let mut best = (f64::NEG_INFINITY, 0usize);
        let mut plan = vec![0usize; horizon];
        let combinations = qualities.saturating_pow(horizon as u32);
        let last = ctx.last_quality.unwrap_or(0);
        for combination in 0..combinations {
            let mut code = combination;
            for step in plan.iter_mut() {
                *step = code % qualities;
                code /= qualities;
            }
            let mut buffer = ctx.buffer_level;
            let mut previous = ctx.ladder[last];
            let mut reward = 0.0;
            for (ahead, quality) in plan.iter().enumerate() {
                let download = ctx.size(ahead, *quality) * 8.0 / throughput;
                let rebuffer = (download - buffer).max(0.0);
                buffer =
                    (buffer - download).max(0.0) + ctx.durations.get(ahead).copied().unwrap_or(0.0);
                let rate = ctx.ladder[*quality];
                reward +=
                    rate / 1e6 - self.rebuffer_penalty * rebuffer - (rate - previous).abs() / 1e6;
                previous = rate;
            }
            // Ties go to the first sequence found, which starts lowest: the cautious choice.
            if reward > best.0 {
                best = (reward, plan[0]);
            }
        }
        Decision::now(best.1, "mpc plan")
    }
}

// ---------------------------------------------------------------------------------------------

/// dash.js's DYNAMIC strategy: the throughput rule while the buffer is low, BOLA once the
/// buffer exceeds the stable buffer time (12 s), back to throughput when it falls to half
/// that: hysteresis so the two rules do not alternate.
#[derive(Debug, Clone, PartialEq)]
pub struct Dynamic {
    /// The throughput rule.
    pub throughput: Throughput,
    /// BOLA, kept up to date even while the throughput rule decides.
    pub bola: Bola,
    /// The buffer level (seconds) that switches BOLA on; half of it switches it off.
    pub switch_on: f64,
    using_bola: bool,
}

impl Default for Dynamic {
    fn default() -> Self {
        Dynamic {
            throughput: Throughput::default(),
            bola: Bola::default(),
            switch_on: 12.0,
            using_bola: false,
        }
    }
}

impl Dynamic {
    /// Whether BOLA decided the last time.
    pub fn using_bola(&self) -> bool {
        self.using_bola
    }
}

impl Abr for Dynamic {
    fn name(&self) -> &'static str {
        "dynamic"
    }

    fn choose(&mut self, ctx: &AbrContext<'_>) -> Decision {
        let threshold = if self.using_bola {
            0.5 * self.switch_on
        } else {
            self.switch_on
        };
        self.using_bola = ctx.buffer_level > threshold;
        let by_throughput = self.throughput.choose(ctx);
        let by_bola = self.bola.choose(ctx);
        if self.using_bola {
            by_bola
        } else {
            by_throughput
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [f64; 4] = [300e3, 750e3, 1_850e3, 4_300e3];

    fn context<'a>(history: &'a [Download], buffer: f64, durations: &'a [f64]) -> AbrContext<'a> {
        AbrContext {
            now: history.last().map_or(0.0, |d| d.finished_at),
            ladder: &LADDER,
            durations,
            sizes: None,
            buffer_level: buffer,
            max_buffer: 30.0,
            last_quality: history.last().map(|d| d.quality),
            history,
            segment_index: history.len(),
            playing: !history.is_empty(),
            rebuffer_count: 0,
        }
    }

    fn steady(rate: f64, count: usize) -> Vec<Download> {
        (0..count)
            .map(|index| Download {
                index,
                quality: 1,
                bytes: (rate / 8.0) as u64,
                seconds: 1.0,
                finished_at: index as f64 + 1.0,
                outcome: DownloadOutcome::Complete,
            })
            .collect()
    }

    #[test]
    fn estimator_converges_and_drops_fast() {
        let mut estimator = ThroughputEstimator::default();
        assert_eq!(estimator.estimate(), None);
        estimator.add(2e6, 1.0);
        // Zero-bias correction: one sample is the estimate.
        assert!((estimator.estimate().unwrap() - 2e6).abs() < 1.0);
        for _ in 0..5 {
            estimator.add(0.5e6, 1.0);
        }
        assert!(estimator.estimate().unwrap() < 1.0e6);
    }

    #[test]
    fn throughput_picks_below_the_estimate_with_safety() {
        let durations = [4.0; 10];
        let history = steady(2e6, 5);
        let mut rule = Throughput::default();
        // 0.9 × 2 Mbit/s = 1.8 Mbit/s: 750 kbit/s, not 1.85 Mbit/s.
        assert_eq!(rule.choose(&context(&history, 8.0, &durations)).quality, 1);
        let history = steady(5e6, 5);
        let mut rule = Throughput::default();
        assert_eq!(rule.choose(&context(&history, 8.0, &durations)).quality, 3);
        let mut rule = Throughput::default();
        assert_eq!(rule.choose(&context(&[], 0.0, &durations)).quality, 0);
    }

    #[test]
    fn bola_climbs_with_the_buffer() {
        let durations = [4.0; 10];
        let history = steady(20e6, 3);
        let mut bola = Bola::default();
        let ctx = context(&history, 0.0, &durations);
        let parameters = bola.parameters(&ctx).unwrap();
        assert_eq!(Bola::quality_for_buffer(&parameters, &LADDER, 0.0), 0);
        assert_eq!(Bola::quality_for_buffer(&parameters, &LADDER, 9.0), 0);
        assert_eq!(Bola::quality_for_buffer(&parameters, &LADDER, 19.0), 3);
        // Startup follows the throughput.
        assert_eq!(bola.choose(&ctx).quality, 3);
        for q in 1..LADDER.len() {
            let level = Bola::min_buffer_for(&parameters, &LADDER, q);
            assert_eq!(
                Bola::quality_for_buffer(&parameters, &LADDER, level + 1e-6),
                q
            );
        }
    }

    #[test]
    fn bola_waits_when_the_buffer_is_above_its_target() {
        let durations = [4.0; 10];
        let history = steady(20e6, 3);
        let mut bola = Bola::default();
        let _ = bola.choose(&context(&history, 8.0, &durations));
        let decision = bola.choose(&context(&history, 29.0, &durations));
        assert_eq!(decision.quality, 3);
        assert!(decision.delay > 0.0, "{decision:?}");
    }

    #[test]
    fn mpc_is_cautious_after_prediction_errors() {
        let durations = [4.0; 10];
        let history = steady(3e6, 6);
        let mut mpc = RobustMpc::default();
        let smooth = mpc.choose(&context(&history, 10.0, &durations)).quality;
        assert!(smooth >= 2, "{smooth}");
        let mut jumpy = steady(3e6, 6);
        jumpy[4].bytes /= 4;
        let mut mpc = RobustMpc::default();
        assert!(mpc.choose(&context(&jumpy, 10.0, &durations)).quality < smooth);
    }

    #[test]
    fn dynamic_switches_with_hysteresis() {
        let durations = [4.0; 10];
        let history = steady(3e6, 4);
        let mut dynamic = Dynamic::default();
        for (buffer, expected) in [
            (4.0, false),
            (11.0, false),
            (13.0, true),
            (7.0, true),
            (5.5, false),
            (10.0, false),
        ] {
            dynamic.choose(&context(&history, buffer, &durations));
            assert_eq!(dynamic.using_bola(), expected, "buffer {buffer}");
        }
    }

    #[test]
    fn names() {
        for name in NAMES {
            assert_eq!(by_name(name).unwrap().name(), name);
        }
        assert!(by_name("nope").is_none());
    }
}
