//! Bandwidth traces: lines of `time_seconds Mbit/s` (with `#` comments and blank lines),
//! piecewise constant, looping when they end; and how long a download takes over one.

/// A trace line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceProblem {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A trace that cannot be used, with every problem and its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// Lines that do not parse.
    #[error("{}", .0.iter().map(|p| format!("line {}: {}", p.line, p.reason)).collect::<Vec<_>>().join("; "))]
    Lines(Vec<TraceProblem>),
    /// No samples at all.
    #[error("the trace has no samples")]
    Empty,
    /// Every sample is zero: nothing would ever download.
    #[error("the trace has no bandwidth")]
    NoBandwidth,
}

/// A piecewise-constant bandwidth over time that repeats with period [`Trace::period`].
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Start of each piece, seconds from the trace's start (the first is 0).
    times: Vec<f64>,
    /// Rate of each piece in bits/s.
    rates: Vec<f64>,
    period: f64,
    bits_per_period: f64,
}

impl Trace {
    /// A trace from `(time seconds, Mbit/s)` samples, times strictly increasing. Times are
    /// made relative to the first; the last sample lasts as long as the gap before it (1 s if
    /// it is the only one), then the trace starts over.
    pub fn from_samples(samples: &[(f64, f64)]) -> Result<Trace, TraceError> {
        let Some(first) = samples.first() else {
            return Err(TraceError::Empty);
        };
        let mut problems = Vec::new();
        for (index, pair) in samples.windows(2).enumerate() {
            if pair[1].0.is_nan() || pair[1].0 <= pair[0].0 {
                problems.push(TraceProblem {
                    line: index + 2,
                    reason: "time does not increase".into(),
                });
            }
        }
        for (index, (time, rate)) in samples.iter().enumerate() {
            if !(time.is_finite() && rate.is_finite() && *rate >= 0.0) {
                problems.push(TraceProblem {
                    line: index + 1,
                    reason: "not a finite time and non-negative rate".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(TraceError::Lines(problems));
        }
        Trace::build(
            samples
                .iter()
                .map(|(t, r)| (t - first.0, r * 1e6))
                .collect(),
        )
    }

    fn build(samples: Vec<(f64, f64)>) -> Result<Trace, TraceError> {
        let (times, rates): (Vec<f64>, Vec<f64>) = samples.into_iter().unzip();
        let last_gap = match times.len() {
            0 => return Err(TraceError::Empty),
            1 => 1.0,
            n => times[n - 1] - times[n - 2],
        };
        let period = times[times.len() - 1] + last_gap;
        let mut trace = Trace {
            times,
            rates,
            period,
            bits_per_period: 0.0,
        };
        trace.bits_per_period = (0..trace.times.len())
            .map(|i| trace.rates[i] * (trace.end_of(i) - trace.times[i]))
            .sum();
        if trace.bits_per_period <= 0.0 || !trace.bits_per_period.is_finite() {
            return Err(TraceError::NoBandwidth);
        }
        Ok(trace)
    }

    /// A constant rate in Mbit/s.
    pub fn constant(mbps: f64) -> Result<Trace, TraceError> {
        Trace::from_samples(&[(0.0, mbps)])
    }

    /// Parses the text format: `time_seconds Mbit/s` per line, `#` starts a comment.
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        let mut samples: Vec<(f64, f64)> = Vec::new();
        let mut problems = Vec::new();
        let mut previous: Option<f64> = None;
        for (number, line) in text.lines().enumerate() {
            let line_number = number + 1;
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split_whitespace().collect();
            let problem = |reason: String| TraceProblem {
                line: line_number,
                reason,
            };
            let [time, rate] = fields[..] else {
                problems.push(problem(format!(
                    "expected `time_seconds Mbit/s`, found {} fields",
                    fields.len()
                )));
                continue;
            };
            let (Ok(time), Ok(rate)) = (time.parse::<f64>(), rate.parse::<f64>()) else {
                problems.push(problem(format!("not two numbers: {content:?}")));
                continue;
            };
            if !(time.is_finite() && time >= 0.0) {
                problems.push(problem(format!("bad time {time}")));
                continue;
            }
            if !(rate.is_finite() && rate >= 0.0) {
                problems.push(problem(format!("bad rate {rate}")));
                continue;
            }
            if previous.is_some_and(|p| time <= p) {
                problems.push(problem(format!("time {time} does not increase")));
                continue;
            }
            previous = Some(time);
            samples.push((time, rate));
        }
        if !problems.is_empty() {
            return Err(TraceError::Lines(problems));
        }
        Trace::from_samples(&samples)
    }

    /// The length after which the trace repeats, seconds.
    pub fn period(&self) -> f64 {
        self.period
    }

    fn end_of(&self, piece: usize) -> f64 {
        self.times.get(piece + 1).copied().unwrap_or(self.period)
    }

    /// Which cycle and piece time `t` falls in.
    fn locate(&self, t: f64) -> (f64, usize) {
        let t = t.max(0.0);
        let cycle = (t / self.period).floor();
        let offset = t - cycle * self.period;
        let piece = self
            .times
            .partition_point(|start| *start <= offset)
            .saturating_sub(1);
        (cycle, piece)
    }

    /// The rate at time `t` in bits/s.
    pub fn rate_at(&self, t: f64) -> f64 {
        self.rates[self.locate(t).1]
    }

    /// When a transfer of `bits` that starts at `start` ends.
    pub fn finish_time(&self, start: f64, bits: f64) -> f64 {
        if bits.is_nan() || bits <= 0.0 {
            return start;
        }
        let (mut cycle, mut piece) = self.locate(start);
        let mut t = start.max(0.0);
        let mut remaining = bits;
        // Whole periods at once, so a huge transfer over a short trace stays cheap.
        let whole = (remaining / self.bits_per_period).floor() - 1.0;
        if whole > 0.0 {
            remaining -= whole * self.bits_per_period;
            cycle += whole;
            t += whole * self.period;
        }
        loop {
            let end = cycle * self.period + self.end_of(piece);
            let rate = self.rates[piece];
            let room = rate * (end - t).max(0.0);
            if room >= remaining && rate > 0.0 {
                return t + remaining / rate;
            }
            remaining -= room;
            t = t.max(end);
            piece += 1;
            if piece == self.times.len() {
                piece = 0;
                cycle += 1.0;
            }
        }
    }

    /// Bits transferable between `from` and `to`.
    pub fn bits_between(&self, from: f64, to: f64) -> f64 {
        if to.is_nan() || from.is_nan() || to <= from {
            return 0.0;
        }
        let (mut cycle, mut piece) = self.locate(from);
        let mut t = from.max(0.0);
        let mut bits = 0.0;
        let whole = ((to - t) / self.period).floor() - 1.0;
        if whole > 0.0 {
            bits += whole * self.bits_per_period;
            cycle += whole;
            t += whole * self.period;
        }
        while t < to {
            let end = (cycle * self.period + self.end_of(piece)).min(to);
            bits += self.rates[piece] * (end - t).max(0.0);
            t = t.max(end);
            piece += 1;
            if piece == self.times.len() {
                piece = 0;
                cycle += 1.0;
            }
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_loops() {
        let trace = Trace::parse("# steps\n0 1\n\n2 3 # up\n4 0.5\n").unwrap();
        assert_eq!(trace.period(), 6.0);
        assert_eq!(trace.rate_at(1.0), 1e6);
        assert_eq!(trace.rate_at(2.5), 3e6);
        assert_eq!(trace.rate_at(5.9), 0.5e6);
        assert_eq!(trace.rate_at(6.5), 1e6);
        // 1 Mbit in [0,1) ... 2 Mbit by t=2, then 3 Mbit/s.
        assert!((trace.finish_time(0.0, 5e6) - 3.0).abs() < 1e-9);
        assert!((trace.bits_between(0.0, 3.0) - 5e6).abs() < 1e-3);
        // Over many periods: 9 Mbit per 6 s period.
        assert!((trace.finish_time(0.0, 900e6) - 600.0).abs() < 1e-6);
    }

    #[test]
    fn every_bad_line_is_reported() {
        let error = Trace::parse("0 1\nx y\n1\n0 2\n3 -1\n").unwrap_err();
        let TraceError::Lines(problems) = &error else {
            panic!("{error:?}")
        };
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(error.to_string().starts_with("line 2: not two numbers"));
        assert_eq!(Trace::parse("# nothing\n"), Err(TraceError::Empty));
        assert_eq!(Trace::parse("0 0\n1 0\n"), Err(TraceError::NoBandwidth));
    }

    #[test]
    fn zero_stretches_are_waited_out() {
        let trace = Trace::parse("0 0\n1 8\n").unwrap();
        assert!((trace.finish_time(0.0, 8e6) - 2.0).abs() < 1e-9);
        assert!((trace.finish_time(0.5, 16e6) - 4.0).abs() < 1e-9);
    }
}
