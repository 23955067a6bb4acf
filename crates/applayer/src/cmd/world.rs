//! The `applayer world` commands: bring the mini-Internet up, check it, show it, trace it.

use anyhow::{bail, Context};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use world::run::{self, UpOptions};
use world::{trace, World};

/// Arguments of `applayer world`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: WorldCommand,
}

#[derive(clap::Subcommand, Debug)]
enum WorldCommand {
    /// Start every service of every host and run until Ctrl-C (or `applayer world down`).
    Up(UpArgs),
    /// Start the world, exercise each service once with its own client, print PASS/FAIL lines.
    Check(UpArgs),
    /// Print the default world's TOML (a starting point for your own world file).
    Example,
    /// Say whether a world is up (from its data dir) and show its hosts.
    Status(DataDirArgs),
    /// Stop the world running from this data dir.
    Down(DataDirArgs),
    /// Draw the recorded messages as a sequence diagram between named hosts.
    Trace(TraceArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct WorldArgs {
    /// World file (TOML); the embedded default world when absent.
    #[arg(long, value_name = "FILE")]
    pub(crate) world: Option<PathBuf>,
    /// Where the world keeps its state: the wire recording, the pid file, service data.
    #[arg(long, value_name = "DIR", default_value = "applayer-data")]
    pub(crate) data_dir: PathBuf,
    /// Added to standard ports below 1024 (53 -> 10053). Default: 0 as root, else 10000.
    #[arg(long)]
    pub(crate) port_offset: Option<u16>,
    /// Move every host from 127.0.N.H to 127.B.N.H, to run a second world beside another.
    #[arg(long, value_name = "B", value_parser = clap::value_parser!(u8).range(1..=254))]
    pub(crate) block: Option<u8>,
    /// Show the servers' log lines on the terminal instead of writing them to the data dir
    /// (`world.log` for `up`, `check.log`, `scenario-NAME.log`); `RUST_LOG` does the same.
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    world: WorldArgs,
}

#[derive(clap::Args, Debug)]
struct DataDirArgs {
    /// The world's data dir.
    #[arg(long, value_name = "DIR", default_value = "applayer-data")]
    data_dir: PathBuf,
}

#[derive(clap::Args, Debug)]
struct TraceArgs {
    /// World file used to name hosts; the default world when absent.
    #[arg(long, value_name = "FILE")]
    world: Option<PathBuf>,
    /// The world's data dir.
    #[arg(long, value_name = "DIR", default_value = "applayer-data")]
    data_dir: PathBuf,
    /// Only messages of this protocol (dns, http, tcp-upper ...).
    #[arg(long)]
    proto: Option<String>,
    /// Only the last N messages.
    #[arg(long)]
    last: Option<usize>,
    /// Read this recording instead of the data dir's trace.jsonl.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The address block the world ran in (as given to `up --block`).
    #[arg(long, value_name = "B", value_parser = clap::value_parser!(u8).range(1..=254))]
    block: Option<u8>,
}

/// Loads the world file, or the embedded default.
pub(crate) fn load_world(path: Option<&Path>) -> anyhow::Result<World> {
    match path {
        None => Ok(World::default_world()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            World::parse(&text, &path.display().to_string())
                .map_err(|error| anyhow::anyhow!("invalid world file:\n{error}"))
        }
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        WorldCommand::Up(args) => up(args.world).await,
        WorldCommand::Check(args) => check(args.world).await,
        WorldCommand::Example => {
            print!("{}", world::DEFAULT_WORLD);
            Ok(ExitCode::SUCCESS)
        }
        WorldCommand::Status(args) => status(&args.data_dir),
        WorldCommand::Down(args) => down(&args.data_dir).await,
        WorldCommand::Trace(args) => draw_trace(args),
    }
}

/// Starts the world with its recording on; the caller stops it.
pub(crate) async fn start(
    args: &WorldArgs,
    recording: &str,
) -> anyhow::Result<(World, run::Running, trace::RecordingGuard)> {
    let mut world = load_world(args.world.as_deref())?;
    if let Some(block) = args.block {
        world.relocate(block);
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data dir {}", args.data_dir.display()))?;
    let path = args.data_dir.join(recording);
    // Each run starts a fresh timeline; the previous one is kept beside it.
    if path.exists() {
        let _ = std::fs::rename(&path, path.with_extension("prev.jsonl"));
    }
    let guard = trace::start_recording(&path)
        .with_context(|| format!("cannot record to {}", path.display()))?;
    let log = match recording {
        "trace.jsonl" => args.data_dir.join("world.log"),
        other => args.data_dir.join(other).with_extension("log"),
    };
    crate::logging::redirect_to(&log, args.verbose)
        .with_context(|| format!("cannot write the log {}", log.display()))?;
    let options = UpOptions {
        port_offset: args.port_offset,
        data_dir: Some(state_dir(args, recording)?),
    };
    let running = run::start(&world, &options).await?;
    Ok((world, running, guard))
}

/// Where the services keep their state: `DATA_DIR/state` for `world up`; a fresh
/// `DATA_DIR/scratch` for checks and scenarios, so that they never change the real world's data
/// (a registration, say) and always start from the world file.
fn state_dir(args: &WorldArgs, recording: &str) -> anyhow::Result<PathBuf> {
    if recording == "trace.jsonl" {
        return Ok(args.data_dir.join("state"));
    }
    let scratch = args.data_dir.join("scratch");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot clear {}", scratch.display()))?;
    }
    Ok(scratch)
}

async fn up(args: WorldArgs) -> anyhow::Result<ExitCode> {
    let pid_file = args.data_dir.join("world.pid");
    if let Some(pid) = live_pid(&pid_file) {
        bail!(
            "a world is already up from {} (pid {pid}); stop it with `applayer world down`",
            args.data_dir.display()
        );
    }
    let shutdown = netio::shutdown_on_signals();
    let (world, running, _recording) = start(&args, "trace.jsonl").await?;
    let table = running.table(&world);
    std::fs::write(args.data_dir.join("world.txt"), &table)?;
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))?;
    println!(
        "world `{}` is up: {} hosts, {} services",
        world.name,
        world.hosts.len(),
        running.endpoints.len()
    );
    if running.port_offset != 0 {
        println!(
            "(not root: ports below 1024 are moved up by {})",
            running.port_offset
        );
    }
    println!("\n{table}");
    println!(
        "recording every message to {}; `applayer world trace` draws it",
        args.data_dir.join("trace.jsonl").display()
    );
    if crate::logging::is_redirected() {
        println!(
            "server logs go to {} (-v shows them here); Ctrl-C stops",
            args.data_dir.join("world.log").display()
        );
    } else {
        println!("Ctrl-C stops");
    }
    shutdown.triggered().await;
    let failures = running.stop().await;
    let _ = std::fs::remove_file(&pid_file);
    for failure in &failures {
        eprintln!("applayer: {failure}");
    }
    println!("world stopped");
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check(args: WorldArgs) -> anyhow::Result<ExitCode> {
    let (world, running, _recording) = start(&args, "check.jsonl").await?;
    println!(
        "checking world `{}`: {} hosts, {} services",
        world.name,
        world.hosts.len(),
        running.endpoints.len()
    );
    // The checks run from the loopback address every machine has.
    let client: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let results = run::check(&running, client).await;
    let mut failed = 0;
    for result in &results {
        let verdict = if result.passed { "PASS" } else { "FAIL" };
        failed += usize::from(!result.passed);
        println!(
            "{verdict}  {:<24} {:<12} {}",
            result.host, result.service, result.detail
        );
    }
    let failures = running.stop().await;
    for failure in &failures {
        println!("FAIL  {failure}");
    }
    println!(
        "{} passed, {} failed",
        results.len() - failed,
        failed + failures.len()
    );
    Ok(if failed == 0 && failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn live_pid(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// Whether process `pid` exists and has not exited (a zombie waiting for its parent has).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

fn status(data_dir: &Path) -> anyhow::Result<ExitCode> {
    match live_pid(&data_dir.join("world.pid")) {
        Some(pid) => {
            println!("up (pid {pid}, data dir {})\n", data_dir.display());
            if let Ok(table) = std::fs::read_to_string(data_dir.join("world.txt")) {
                print!("{table}");
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!("down (no world running from {})", data_dir.display());
            Ok(ExitCode::from(3))
        }
    }
}

async fn down(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let pid_file = data_dir.join("world.pid");
    let Some(pid) = live_pid(&pid_file) else {
        println!("no world running from {}", data_dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("could not signal pid {pid}");
    }
    for _ in 0..150 {
        if !alive(pid) {
            println!("world stopped (pid {pid})");
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("pid {pid} is still running 15 s after SIGTERM")
}

fn draw_trace(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let mut world = load_world(args.world.as_deref())?;
    if let Some(block) = args.block {
        world.relocate(block);
    }
    let path = args
        .file
        .unwrap_or_else(|| args.data_dir.join("trace.jsonl"));
    let records =
        trace::read_records(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut arrows = trace::arrows(&records, &world);
    if let Some(proto) = &args.proto {
        arrows.retain(|arrow| &arrow.proto == proto);
    }
    if let Some(last) = args.last {
        let skip = arrows.len().saturating_sub(last);
        arrows.drain(..skip);
    }
    print!("{}", trace::draw(&arrows));
    Ok(ExitCode::SUCCESS)
}
