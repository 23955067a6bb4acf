//! The algorithms simulated over the test traces: sessions end, QoE adds up, no algorithm
//! beats the offline optimum, and the optimum is exact against brute force on tiny cases.

use crate::read;
use dash_proto::abr::{by_name, Abr, AbrContext, Decision, NAMES};
use dash_proto::optimum::optimum;
use dash_proto::plot;
use dash_proto::qoe::{linear_qoe, Summary};
use dash_proto::session::{Content, Outcome, SessionConfig};
use dash_proto::simulate::{simulate, SimConfig};
use dash_proto::trace::Trace;

/// Pensieve's ladder, in bits/s.
const LADDER: [f64; 6] = [300e3, 750e3, 1_200e3, 1_850e3, 2_850e3, 4_300e3];

fn traces() -> Vec<(&'static str, Trace)> {
    let mut traces: Vec<(&str, Trace)> = ["steps-up", "steps-down", "3g"]
        .into_iter()
        .map(|name| {
            let trace = Trace::parse(&read(&format!("traces/{name}.txt")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, trace)
        })
        .collect();
    traces.push(("constant-2", Trace::constant(2.0).unwrap()));
    traces
}

/// Segment sizes that vary around the nominal bit rate (deterministically), as encoders'
/// do, so that the size table is exercised.
fn content(segments: usize) -> Content {
    let sizes = (0..segments)
        .map(|k| {
            let wobble = 1.0 + 0.25 * ((k as f64) * 1.7).sin();
            LADDER
                .iter()
                .map(|rate| (rate * 4.0 / 8.0 * wobble) as u64)
                .collect()
        })
        .collect();
    Content::new(LADDER.to_vec(), vec![4.0; segments], Some(sizes)).unwrap()
}

#[test]
fn every_algorithm_finishes_and_qoe_adds_up() {
    let content = content(40);
    for (trace_name, trace) in traces() {
        let mut rows = Vec::new();
        for name in NAMES {
            let log = simulate(
                &content,
                &trace,
                by_name(name).unwrap(),
                &SimConfig::default(),
            );
            assert_eq!(
                log.outcome,
                Some(Outcome::Finished),
                "{name} on {trace_name}"
            );
            let summary = Summary::of(&log);
            assert_eq!(summary.chunks, 40);
            // Startup plus stalls is exactly how much later than the media playback ends.
            let late = log.playback_end.unwrap() - content.total_duration();
            assert!(
                (late - summary.startup_delay - summary.rebuffer_seconds).abs() < 1e-6,
                "{name} on {trace_name}"
            );
            let bitrates: Vec<f64> = log.chunks.iter().map(|c| c.bitrate).collect();
            assert!((summary.qoe - linear_qoe(&bitrates, late)).abs() < 1e-6);
            // The buffer never exceeds its cap.
            assert!(log.buffer_samples.iter().all(|(_, b)| *b <= 30.0 + 1e-6));
            rows.push((name, summary));
        }
        let table: Vec<(&str, &Summary)> = rows.iter().map(|(n, s)| (*n, s)).collect();
        let text = Summary::table(&table);
        println!("{trace_name}\n{text}");
        assert_eq!(text.lines().count(), 1 + NAMES.len(), "{text}");
        let json = serde_json::to_string(&rows[0].1).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back.chunks, rows[0].1.chunks);
        assert!((back.qoe - rows[0].1.qoe).abs() < 1e-9);
    }
}

#[test]
fn no_algorithm_beats_the_optimum() {
    let content = content(30);
    let config = SimConfig::default();
    for (trace_name, trace) in traces() {
        let best = optimum(&content, &trace, &config, 0.05);
        for name in NAMES {
            let log = simulate(&content, &trace, by_name(name).unwrap(), &config);
            let summary = Summary::of(&log);
            assert!(
                summary.qoe <= best.qoe + 1e-9,
                "{name} on {trace_name}: {} > optimum {}",
                summary.qoe,
                best.qoe
            );
        }
        // The optimum's own sequence, played for real, scores (almost) what it promised.
        let played = simulate(
            &content,
            &trace,
            Box::new(Sequence(best.qualities.clone())),
            &config,
        );
        let summary = Summary::of(&played);
        assert!(summary.qoe <= best.qoe + 1e-9);
        assert!(best.qoe - summary.qoe < 0.05 * 30.0 * 4.3, "{trace_name}");
    }
}

/// Plays a given sequence of qualities.
struct Sequence(Vec<usize>);

impl Abr for Sequence {
    fn name(&self) -> &'static str {
        "sequence"
    }
    fn choose(&mut self, ctx: &AbrContext<'_>) -> Decision {
        Decision {
            quality: self.0.get(ctx.segment_index).copied().unwrap_or(0),
            delay: 0.0,
            reason: "given",
        }
    }
}

#[test]
fn the_optimum_is_exact_on_tiny_cases() {
    let ladder = vec![0.5e6, 1.5e6, 3e6];
    let config = SimConfig {
        rtt: 0.05,
        session: SessionConfig {
            max_buffer: 5.0,
            min_timeout: 1e9,
            ..SessionConfig::default()
        },
    };
    let traces = [
        Trace::parse("0 1\n3 4\n6 0.3\n9 2\n").unwrap(),
        Trace::parse("0 3\n2 0.2\n5 5\n").unwrap(),
        Trace::constant(1.4).unwrap(),
    ];
    for (index, trace) in traces.iter().enumerate() {
        let content = Content::uniform(ladder.clone(), 2.0, 5).unwrap();
        let mut brute = f64::NEG_INFINITY;
        let mut best_sequence = Vec::new();
        for code in 0..3usize.pow(5) {
            let sequence: Vec<usize> = (0..5).map(|k| code / 3usize.pow(k) % 3).collect();
            let log = simulate(
                &content,
                trace,
                Box::new(Sequence(sequence.clone())),
                &config,
            );
            let qoe = Summary::of(&log).qoe;
            if qoe > brute {
                brute = qoe;
                best_sequence = sequence;
            }
        }
        let best = optimum(&content, trace, &config, 0.0);
        assert!(
            (best.qoe - brute).abs() < 1e-9,
            "trace {index}: optimum {} ({:?}), brute force {brute} ({best_sequence:?})",
            best.qoe,
            best.qualities
        );
    }
}

#[test]
fn the_plot_shows_both_series_and_the_stalls() {
    let content = content(20);
    let trace = Trace::parse(&read("traces/3g.txt")).unwrap();
    let log = simulate(
        &content,
        &trace,
        by_name("throughput").unwrap(),
        &SimConfig::default(),
    );
    let svg = plot::svg(&log, "throughput <3g>");
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("class=\"bitrate\""));
    assert!(svg.contains("class=\"buffer\""));
    assert!(
        svg.contains("bitrate (Mbit/s)") && svg.contains("buffer (s)") && svg.contains("time (s)")
    );
    assert!(svg.contains("throughput &lt;3g&gt;"));
    assert_eq!(svg.matches("class=\"stall\"").count(), 2 * log.stalls.len());
    // A stall on a dead stretch, shaded.
    let trace = Trace::parse("0 2\n10 0.01\n40 2\n").unwrap();
    let log = simulate(
        &content,
        &trace,
        by_name("bola").unwrap(),
        &SimConfig::default(),
    );
    assert!(!log.stalls.is_empty());
    assert!(plot::svg(&log, "bola").contains("class=\"stall\""));
}
