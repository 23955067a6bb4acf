//! The QoE benchmark's setting (bench/video-qoe.sh) in the simulator: the 60 s test pattern
//! (15 segments of 4 s, the packager's default ladder), the four traces of
//! `bench/video/traces`, an RTT of 80 ms; every algorithm against the offline optimum.

use dash_proto::abr::{by_name, NAMES};
use dash_proto::optimum::{optimum, Optimum};
use dash_proto::qoe::Summary;
use dash_proto::session::{Content, SessionConfig};
use dash_proto::simulate::{simulate, SimConfig};
use dash_proto::trace::Trace;
use std::path::PathBuf;

/// The packager's default ladder as the MPD states it (peak bandwidth), bits/s.
const LADDER: [f64; 6] = [326e3, 771e3, 1_231e3, 1_886e3, 2_905e3, 4_375e3];

fn bench_trace(name: &str) -> Trace {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/video/traces")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    Trace::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn config() -> SimConfig {
    SimConfig {
        rtt: 0.08,
        session: SessionConfig::default(),
    }
}

fn content() -> Content {
    let sizes = (0..15)
        .map(|_| {
            LADDER
                .iter()
                .map(|rate| (rate * 4.0 / 8.0) as u64)
                .collect()
        })
        .collect();
    Content::new(LADDER.to_vec(), vec![4.0; 15], Some(sizes)).unwrap()
}

/// Per trace: the summary of every algorithm (in `NAMES` order) and the optimum.
fn table() -> Vec<(&'static str, Vec<Summary>, Optimum)> {
    let content = content();
    let config = config();
    let mut rows = Vec::new();
    for name in ["3g", "dip", "steps-down", "steps-up"] {
        let trace = bench_trace(name);
        let best = optimum(&content, &trace, &config, 0.5);
        let chunks = content.segment_count() as f64;
        let mut scores = Vec::new();
        for abr in NAMES {
            let log = simulate(&content, &trace, by_name(abr).unwrap(), &config);
            let qualities: Vec<usize> = log.chunks.iter().map(|c| c.quality).collect();
            let summary = Summary::of(&log);
            println!(
                "{name:>10} {abr:>10} {:7.3}  {qualities:?} startup {:.2} rebuf {:.2} failures {}",
                summary.qoe_per_chunk,
                summary.startup_delay,
                summary.rebuffer_seconds,
                summary.failures
            );
            scores.push(summary);
        }
        println!(
            "{name:>10} {:>10} {:7.3}  {:?} rebuf {:.2}",
            "optimum",
            best.qoe / chunks,
            best.qualities,
            best.rebuffer_seconds
        );
        rows.push((name, scores, best));
    }
    rows
}

#[test]
fn bench_traces_against_the_optimum() {
    let rows = table();
    let content = content();
    let chunks = content.segment_count() as f64;
    print!("{:>10}", "trace");
    for name in NAMES {
        print!(" {name:>10}");
    }
    println!(" {:>10}", "optimum");
    for (name, summaries, best) in &rows {
        print!("{name:>10}");
        for summary in summaries {
            print!(" {:10.3}", summary.qoe_per_chunk);
        }
        println!(" {:10.3}", best.qoe / chunks);
    }
    for (name, summaries, best) in &rows {
        let trace = bench_trace(name);
        // The 0.5 s merging is a hair below the exact search, never above it (rounding the
        // times down, as the optimum once did, claimed 3.83 per chunk on dip.txt: 3.46 is
        // the truth).
        let exact = optimum(&content, &trace, &config(), 0.0);
        assert!(best.qoe <= exact.qoe + 1e-9, "{name}");
        assert!(exact.qoe - best.qoe < 0.02 * chunks, "{name}");
        for (abr, summary) in NAMES.iter().zip(summaries) {
            assert!(summary.finished, "{abr} on {name}");
            assert!(summary.qoe <= exact.qoe + 1e-9, "{abr} on {name}");
        }
    }
    let per_chunk = |trace: &str, abr: &str| {
        let (_, summaries, _) = rows.iter().find(|(name, _, _)| *name == trace).unwrap();
        let at = NAMES.iter().position(|name| *name == abr).unwrap();
        summaries[at].clone()
    };
    let best_of = |trace: &str| {
        NAMES
            .iter()
            .map(|abr| per_chunk(trace, abr).qoe_per_chunk)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let optimum_of = |trace: &str| {
        let (_, _, best) = rows.iter().find(|(name, _, _)| *name == trace).unwrap();
        best.qoe / chunks
    };
    // Abandonment: on dip.txt the throughput rule and DYNAMIC no longer ride a top-quality
    // download into the 1 Mbit/s stretch until its 12 s timeout (2.4 s of stall each).
    for abr in NAMES {
        let summary = per_chunk("dip", abr);
        assert_eq!(summary.rebuffer_seconds, 0.0, "{abr} on dip: {summary:?}");
    }
    for abr in ["throughput", "dynamic"] {
        assert!(per_chunk("dip", abr).qoe_per_chunk > 1.8, "{abr}");
    }
    // RobustMPC on 3g.txt: the download caught by a fade is given up after 6.3 s instead of
    // 12 s (it had 13.7 s of stall, -3.68 per chunk).
    let mpc = per_chunk("3g", "mpc");
    assert!(mpc.rebuffer_seconds < 8.0, "{mpc:?}");
    assert!(mpc.qoe_per_chunk > -2.0, "{mpc:?}");
    // Within 10% of the optimum where it is reachable online.
    for trace in ["3g", "steps-down"] {
        assert!(
            best_of(trace) >= 0.9 * optimum_of(trace),
            "{trace}: {} vs {}",
            best_of(trace),
            optimum_of(trace)
        );
    }
}
