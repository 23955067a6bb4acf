//! `applayer video`: DASH packaging (`package`, driving ffmpeg) and the adaptive player
//! (`play`, in real time over HTTP or `--simulate`d over a trace).

use anyhow::Context;
use dash_proto::qoe::Summary;
use dash_proto::session::SessionConfig;
use dash_proto::simulate::SimConfig;
use dash_proto::trace::Trace;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use video::package::{self, Addressing, PackageOptions, Source};
use video::player::{self, PlayOptions};

/// Arguments of `applayer video`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: VideoCommand,
}

#[derive(clap::Subcommand, Debug)]
enum VideoCommand {
    /// Encode a ladder (H.264 + AAC, aligned key frames) into fMP4 segments and write the MPD.
    Package(PackageArgs),
    /// Play an MPD with an ABR algorithm and report its QoE.
    Play(PlayArgs),
}

/// Example: `applayer video package --test-pattern 60 --out site/video`.
#[derive(clap::Args, Debug)]
struct PackageArgs {
    /// The input file (anything ffmpeg reads); or use `--test-pattern`.
    #[arg(
        required_unless_present = "test_pattern",
        conflicts_with = "test_pattern"
    )]
    input: Option<PathBuf>,
    /// Make the source with ffmpeg's testsrc2 and a tone, this many seconds long.
    #[arg(long = "test-pattern", value_name = "SECONDS")]
    test_pattern: Option<u32>,
    /// The output folder (the MPD is `manifest.mpd` in it).
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// The video bit rates (`300k,750k,1.2M`).
    #[arg(
        long,
        value_name = "RATES",
        default_value = "300k,750k,1200k,1850k,2850k,4300k"
    )]
    ladder: String,
    /// The segment duration (`4s`, `2`).
    #[arg(long, value_name = "SECONDS", default_value = "4s")]
    segment: String,
    /// List the segments in a SegmentTimeline (exact spans) instead of `$Number$` with a
    /// constant duration.
    #[arg(long)]
    timeline: bool,
    /// The x264 preset.
    #[arg(long, default_value = "veryfast")]
    preset: String,
}

/// Example: `applayer video play http://127.0.0.1:8080/video/manifest.mpd --abr bola`.
#[derive(clap::Args, Debug)]
struct PlayArgs {
    /// The MPD's URL.
    url: String,
    /// The ABR algorithm: throughput, bola, mpc or dynamic (dash.js's default).
    #[arg(long, default_value = "dynamic")]
    abr: String,
    /// A bandwidth trace (lines `SECONDS MBIT/S`): downloads are paced to it.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Run the session machine over the trace in virtual time (fetches the MPD only); with
    /// `--abr all`, every algorithm and the offline optimum side by side.
    #[arg(long, requires = "trace")]
    simulate: bool,
    /// Seconds from a request to its first byte: the simulator's, and added to each real
    /// request when a `--trace` is given.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.08)]
    rtt: f64,
    /// The most media buffered ahead, in seconds.
    #[arg(long = "max-buffer", value_name = "SECONDS", default_value_t = 30.0)]
    max_buffer: f64,
    /// Play only the first N segments.
    #[arg(long = "segments", value_name = "N")]
    segments: Option<usize>,
    /// Resolve names through this DNS server (the world's local DNS) instead of the system's.
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(53))]
    dns: Option<SocketAddr>,
    /// Write `qoe.json`, `session.svg` and `requests.txt` here.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Print the QoE as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Fetch over HTTP/2 (h2c with prior knowledge: one connection, a stream per request).
    #[arg(long)]
    http2: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        VideoCommand::Package(args) => run_package(args).await,
        VideoCommand::Play(args) => run_play(args).await,
    }
}

fn parse_seconds(text: &str) -> anyhow::Result<Duration> {
    let number = text.trim().trim_end_matches('s');
    let value: f64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a number of seconds"))?;
    if !(0.5..=60.0).contains(&value) {
        anyhow::bail!("--segment must be between 0.5 and 60 seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

async fn run_package(args: PackageArgs) -> anyhow::Result<ExitCode> {
    let source = match (args.input, args.test_pattern) {
        (Some(path), _) => Source::File(path),
        (None, Some(seconds)) => Source::TestPattern {
            seconds: seconds.clamp(1, 3600),
        },
        (None, None) => anyhow::bail!("give an input file or --test-pattern SECONDS"),
    };
    let mut options = PackageOptions::new(source, &args.out);
    options.ladder = package::parse_ladder(&args.ladder).map_err(anyhow::Error::msg)?;
    options.segment = parse_seconds(&args.segment)?;
    options.preset = args.preset;
    if args.timeline {
        options.addressing = Addressing::Timeline;
    }
    let report = tokio::task::spawn_blocking(move || package::package(&options))
        .await
        .context("the packager stopped")??;
    println!(
        "{}: {:.1} s, {} representations",
        report.mpd.display(),
        report.duration.as_secs_f64(),
        report.representations.len()
    );
    println!(
        "{:<4} {:<6} {:<12} {:>10} {:>10} {:>10} {:>9} {:>11}",
        "id", "type", "codecs", "size", "bandwidth", "average", "segments", "bytes"
    );
    for r in &report.representations {
        let size = match (r.width, r.height) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            _ => "-".into(),
        };
        println!(
            "{:<4} {:<6} {:<12} {:>10} {:>9}k {:>9}k {:>9} {:>11}",
            r.id,
            r.content_type,
            r.codecs,
            size,
            r.bandwidth / 1000,
            r.average / 1000,
            r.segments,
            r.bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_play(args: PlayArgs) -> anyhow::Result<ExitCode> {
    let trace = match &args.trace {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(Trace::parse(&text).with_context(|| format!("{}", path.display()))?)
        }
        None => None,
    };
    let session = SessionConfig {
        max_buffer: args.max_buffer.clamp(4.0, 600.0),
        ..SessionConfig::default()
    };
    let resolver: Arc<dyn netio::resolve::Resolve> = match args.dns {
        Some(server) => Arc::new(world::resolve::DnsResolve {
            server,
            timeout: Duration::from_secs(3),
            source: None,
        }),
        None => Arc::new(netio::resolve::SystemResolver),
    };
    if args.simulate {
        let Some(trace) = trace else {
            anyhow::bail!("--simulate needs --trace FILE");
        };
        let mut fetcher = video::fetch::Fetcher::new(resolver, None);
        let (_, track, content) = player::load(&mut fetcher, &args.url, args.segments).await?;
        // Real sizes, so each simulated download is as long as the real one would be.
        let content = player::with_sizes(&mut fetcher, &track, &content).await?;
        let config = SimConfig {
            rtt: args.rtt.clamp(0.0, 5.0),
            session,
        };
        let names: Vec<&str> = if args.abr == "all" {
            dash_proto::abr::NAMES.to_vec()
        } else {
            vec![args.abr.as_str()]
        };
        let mut rows = Vec::new();
        for name in &names {
            let (log, summary) = player::simulate_session(&content, &trace, name, &config)?;
            rows.push((name.to_string(), summary, log));
        }
        let optimum = dash_proto::optimum::optimum(&content, &trace, &config, 0.5);
        let table: Vec<(&str, &Summary)> = rows.iter().map(|(n, s, _)| (n.as_str(), s)).collect();
        if args.json {
            let json: Vec<serde_json::Value> = rows
                .iter()
                .map(|(n, s, _)| serde_json::json!({"abr": n, "qoe": s}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"simulated": json, "optimum_qoe": optimum.qoe})
            );
        } else {
            print!("{}", Summary::table(&table));
            println!(
                "offline optimum: QoE {:.2} (rebuffering {:.2} s)",
                optimum.qoe, optimum.rebuffer_seconds
            );
        }
        if let Some(dir) = &args.report {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, summary, log) in &rows {
                let svg = dash_proto::plot::svg(log, &format!("{name} (simulated)"));
                std::fs::write(dir.join(format!("{name}.svg")), svg)?;
                std::fs::write(
                    dir.join(format!("{name}.json")),
                    serde_json::to_string_pretty(summary)?,
                )?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let options = PlayOptions {
        abr: args.abr.clone(),
        trace,
        session,
        resolver,
        max_segments: args.segments,
        source: None,
        http2: args.http2,
        latency: if args.trace.is_some() {
            super::seconds(args.rtt.clamp(0.0, 5.0), "--rtt")?
        } else {
            Duration::ZERO
        },
    };
    let report = player::play(&args.url, &options).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"abr": report.abr, "qoe": report.summary, "requests": report.fetches.len(), "connections": report.connections})
        );
    } else {
        for fetch in &report.fetches {
            let quality = fetch
                .quality
                .map(|q| format!("q{q}"))
                .unwrap_or_else(|| "init".into());
            println!(
                "{:>7.2}s {:<5} {:>3} {:>9} B {:>6.3}s {:<6} {}{}",
                fetch.at,
                quality,
                fetch.status,
                fetch.bytes,
                fetch.seconds,
                fetch.cache.as_deref().unwrap_or("-"),
                fetch.url,
                fetch
                    .error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
        }
        print!("{}", Summary::table(&[(report.abr, &report.summary)]));
        println!(
            "{} requests over {} TCP connection(s)",
            report.fetches.len(),
            report.connections
        );
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(
            dir.join("qoe.json"),
            serde_json::to_string_pretty(&report.summary)?,
        )?;
        std::fs::write(
            dir.join("session.svg"),
            dash_proto::plot::svg(&report.log, &format!("{} from {}", report.abr, args.url)),
        )?;
        let lines: Vec<String> = report
            .fetches
            .iter()
            .map(|f| {
                format!(
                    "{:.3} {} {} {} {:.3}",
                    f.at, f.status, f.bytes, f.url, f.seconds
                )
            })
            .collect();
        std::fs::write(dir.join("requests.txt"), lines.join("\n") + "\n")?;
    }
    Ok(if report.summary.finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
