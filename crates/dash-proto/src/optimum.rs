//! The offline optimum: the quality sequence maximizing the linear QoE over a known trace,
//! found by dynamic programming over (segment, last quality, time, buffer), for the same
//! session rules the simulator runs (startup after the first segment, the buffer cap, the
//! round-trip time per request).
//!
//! Why it is exact: with `E` the time the buffer would run dry, the rebuffering of a whole
//! session (startup included) is `E_end − media duration`, so the QoE of a sequence is its bit
//! rate and smoothness terms minus 4.3 × `E_end`. Downloads over a piecewise-constant trace
//! end no later when they start no later, so of two states after the same segment with the
//! same last quality, one that is no later in both the current time `t` and `E`, with no
//! less bit-rate-minus-smoothness, does at least as well in every future: the other can be
//! dropped. The labels that survive form a Pareto front per (segment, quality).
//!
//! The exact front can grow large on long sessions (40 segments over a 3G trace: seconds).
//! With `grid > 0`, states of the same quality whose `t` and `E` fall in the same
//! `grid`-second cell are merged, keeping the one with the most bit-rate-minus-smoothness;
//! times stay exact. The answer is then a sequence the simulator really plays to the QoE
//! given (timeouts aside), at most the true optimum and in practice within a hair of it;
//! `grid = 0` is exact. (Rounding the times down instead, as this once did, gives an upper
//! bound, but one that drifts by up to `grid` per segment: with a 0.5 s grid over 15
//! segments it claimed 3.83 per chunk on bench/video/traces/dip.txt, where the exact
//! optimum is 3.46 and the claimed sequence plays to 0.65.)

use crate::qoe::REBUFFER_PENALTY;
use crate::session::Content;
use crate::simulate::{download_finish, SimConfig};
use crate::trace::Trace;

/// The best sequence found.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimum {
    /// Its linear QoE (startup delay counted as rebuffering).
    pub qoe: f64,
    /// The quality of each segment.
    pub qualities: Vec<usize>,
    /// Its rebuffering seconds, startup included.
    pub rebuffer_seconds: f64,
    /// How many states the search kept, summed over segments (its cost).
    pub states: usize,
}

#[derive(Debug, Clone, Copy)]
struct Label {
    t: f64,
    e: f64,
    value: f64,
    quality: usize,
    parent: usize,
}

/// The `grid`-second cell of a time (0 when there is no grid).
fn cell(x: f64, grid: f64) -> i64 {
    if grid > 0.0 {
        // Saturating cast: times are finite and far below i64's range.
        (x / grid).floor() as i64
    } else {
        0
    }
}

/// Keeps, per quality, the labels no other label dominates; with `grid > 0`, also only the
/// best of those sharing a (`t`, `E`) cell.
fn prune(mut labels: Vec<Label>, qualities: usize, grid: f64) -> Vec<Label> {
    labels.sort_by(|a, b| {
        a.t.total_cmp(&b.t)
            .then(a.e.total_cmp(&b.e))
            .then(b.value.total_cmp(&a.value))
    });
    if grid > 0.0 {
        let mut best: std::collections::HashMap<(usize, i64, i64), Label> =
            std::collections::HashMap::new();
        for label in labels {
            let key = (label.quality, cell(label.t, grid), cell(label.e, grid));
            let slot = best.entry(key).or_insert(label);
            if label.value > slot.value {
                *slot = label;
            }
        }
        labels = best.into_values().collect();
        labels.sort_by(|a, b| {
            a.t.total_cmp(&b.t)
                .then(a.e.total_cmp(&b.e))
                .then(b.value.total_cmp(&a.value))
        });
    }
    let mut kept: Vec<Vec<Label>> = vec![Vec::new(); qualities];
    for label in labels {
        let front = &mut kept[label.quality];
        let dominated = front
            .iter()
            .any(|k| k.t <= label.t && k.e <= label.e && k.value >= label.value);
        if !dominated {
            front.push(label);
        }
    }
    kept.into_iter().flatten().collect()
}

/// The offline optimum of `content` over `trace` under `config` (whose `startup_segments`
/// is taken as 1 and whose timeouts are ignored: both can only lower a real session's QoE).
/// `grid` is the time resolution in seconds of the state merging (0 for exact; see the
/// module documentation).
pub fn optimum(content: &Content, trace: &Trace, config: &SimConfig, grid: f64) -> Optimum {
    let ladder = content.ladder();
    let durations = content.durations();
    let qualities = ladder.len();
    let total: f64 = content.total_duration();
    if durations.is_empty() {
        return Optimum {
            qoe: 0.0,
            qualities: Vec::new(),
            rebuffer_seconds: 0.0,
            states: 0,
        };
    }
    let mut layers: Vec<Vec<Label>> = Vec::with_capacity(durations.len());
    let first: Vec<Label> = (0..qualities)
        .map(|quality| {
            let f = download_finish(trace, 0.0, config.rtt, content.size(0, quality));
            Label {
                t: f,
                e: f + durations[0],
                value: ladder[quality] / 1e6,
                quality,
                parent: usize::MAX,
            }
        })
        .collect();
    layers.push(prune(first, qualities, grid));
    for (index, duration) in durations.iter().enumerate().skip(1) {
        let cap = config.session.max_buffer - duration;
        let previous = &layers[index - 1];
        let mut next = Vec::with_capacity(previous.len() * qualities);
        for (parent, label) in previous.iter().enumerate() {
            let buffer = (label.e - label.t).max(0.0);
            let start = if buffer > cap {
                label.t + (buffer - cap)
            } else {
                label.t
            };
            for quality in 0..qualities {
                let f = download_finish(trace, start, config.rtt, content.size(index, quality));
                let e = f.max(label.e) + duration;
                let value = label.value + ladder[quality] / 1e6
                    - (ladder[quality] - ladder[label.quality]).abs() / 1e6;
                next.push(Label {
                    t: f,
                    e,
                    value,
                    quality,
                    parent,
                });
            }
        }
        layers.push(prune(next, qualities, grid));
    }
    let states = layers.iter().map(Vec::len).sum();
    let score = |label: &Label| label.value - REBUFFER_PENALTY * (label.e - total);
    let last = layers.last().map(Vec::as_slice).unwrap_or(&[]);
    let Some((mut at, best)) = last
        .iter()
        .enumerate()
        .max_by(|a, b| score(a.1).total_cmp(&score(b.1)))
    else {
        return Optimum {
            qoe: f64::NEG_INFINITY,
            qualities: Vec::new(),
            rebuffer_seconds: 0.0,
            states,
        };
    };
    let mut sequence = vec![0; durations.len()];
    for layer in (0..durations.len()).rev() {
        let label = layers[layer][at];
        sequence[layer] = label.quality;
        at = label.parent;
    }
    Optimum {
        qoe: score(best),
        qualities: sequence,
        rebuffer_seconds: best.e - total,
        states,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_link_means_top_quality_throughout() {
        let content = Content::uniform(vec![1e6, 2e6], 2.0, 5).unwrap();
        let trace = Trace::constant(100.0).unwrap();
        let best = optimum(&content, &trace, &SimConfig::default(), 0.0);
        assert_eq!(best.qualities, [1; 5]);
        assert!(best.rebuffer_seconds < 0.2);
    }

    #[test]
    fn slow_link_means_low_quality() {
        let content = Content::uniform(vec![1e6, 8e6], 2.0, 4).unwrap();
        let trace = Trace::constant(1.5).unwrap();
        let best = optimum(&content, &trace, &SimConfig::default(), 0.0);
        assert_eq!(best.qualities, [0; 4]);
    }
}
