//! The `applayer torrent` commands: make a `.torrent` and describe one.

use anyhow::Context;
use bt_proto::magnet::Magnet;
use bt_proto::Metainfo;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `applayer torrent`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: TorrentCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TorrentCommand {
    /// Make a .torrent (BEP 3, v1) of a file or a folder.
    Create(CreateArgs),
    /// Describe a .torrent as transmission-show does (or print its magnet link).
    Info(InfoArgs),
    /// A tracker: HTTP announce/scrape and a status page, and the UDP tracker protocol.
    Tracker(TrackerArgs),
    /// Download a torrent (checking what is on disk first), then stop or `--seed`.
    Get(GetArgs),
    /// Seed a torrent from its files (checked first).
    Seed(SeedArgs),
    /// Measure client-server against P2P distribution time over rate-limited network
    /// namespaces (needs root), beside the fluid bounds; a table, JSON and an SVG plot.
    Experiment(ExperimentArgs),
}

/// Example: `applayer torrent experiment --peers 1,2,4,8 --size 64M --server-up 40mbit
/// --peer-up 20mbit --peer-down 1gbit --out experiment`.
#[derive(clap::Args, Debug)]
struct ExperimentArgs {
    /// The numbers of peers N (comma-separated or repeated); one client-server and one P2P
    /// run each.
    #[arg(long, value_name = "N", value_delimiter = ',', num_args = 1.., required = true)]
    peers: Vec<usize>,
    /// The file's size F (`64M`, `512K`).
    #[arg(long, value_name = "SIZE", value_parser = piece_size_any, default_value = "64M")]
    size: u64,
    /// The server's upload rate u_s (`40mbit`, `40M`: bits per second).
    #[arg(long = "server-up", value_name = "RATE", value_parser = rate, default_value = "40mbit")]
    server_up: u64,
    /// Each peer's upload rate u.
    #[arg(long = "peer-up", value_name = "RATE", value_parser = rate, default_value = "20mbit")]
    peer_up: u64,
    /// Each peer's download rate d.
    #[arg(long = "peer-down", value_name = "RATE", value_parser = rate, default_value = "1gbit")]
    peer_down: u64,
    /// The torrent's piece size (default: as `torrent create` picks).
    #[arg(long = "piece-size", value_name = "SIZE", value_parser = piece_size)]
    piece_size: Option<u64>,
    /// Run only one way.
    #[arg(long, value_enum)]
    only: Option<Way>,
    /// Where results.txt, results.json, distribution-time.svg and the logs go.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "experiment")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Way {
    /// Client-server only.
    Cs,
    /// P2P only.
    P2p,
}

fn rate(text: &str) -> Result<u64, String> {
    torrent::experiment::bounds::parse_rate(text)
        .ok_or_else(|| format!("`{text}` is not a rate (40mbit, 1gbit, 800kbit ...)"))
}

fn piece_size_any(text: &str) -> Result<u64, String> {
    web_proxy::parse_size(text).ok_or_else(|| format!("`{text}` is not a size (512K, 64M ...)"))
}

/// Example: `applayer torrent get video.torrent --out downloads`.
#[derive(clap::Args, Debug)]
struct GetArgs {
    /// The .torrent file, or a magnet link (its metadata fetched from peers, BEP 9).
    torrent: String,
    /// Where the files go (default: the current folder).
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Keep seeding once complete (until Ctrl-C).
    #[arg(long)]
    seed: bool,
    /// Where to listen for peers.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0", value_parser = super::addr_parser(6881))]
    listen: std::net::SocketAddr,
    /// A peer to try besides the tracker's (repeatable).
    #[arg(long = "peer", value_name = "ADDR", value_parser = super::addr_parser(6881))]
    peers: Vec<std::net::SocketAddr>,
    /// The most bytes per second sent to peers in all (`64K`, `1M`; default: no limit).
    #[arg(long = "upload-limit", value_name = "BYTES", value_parser = piece_size_any)]
    upload_limit: Option<u64>,
    /// One JSON object per event on standard output instead of the progress bar.
    #[arg(long)]
    json: bool,
}

/// Example: `applayer torrent seed video.torrent --data ./video.mp4`.
#[derive(clap::Args, Debug)]
struct SeedArgs {
    /// The .torrent file.
    torrent: PathBuf,
    /// The torrent's file or folder (or the folder holding it).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// Where to listen for peers.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0", value_parser = super::addr_parser(6881))]
    listen: std::net::SocketAddr,
    /// The most bytes per second sent to peers in all (`64K`, `1M`; default: no limit).
    #[arg(long = "upload-limit", value_name = "BYTES", value_parser = piece_size_any)]
    upload_limit: Option<u64>,
    /// One JSON object per event on standard output instead of progress lines.
    #[arg(long)]
    json: bool,
}

/// Example: `applayer torrent tracker --listen 127.0.0.1:6969`.
#[derive(clap::Args, Debug)]
struct TrackerArgs {
    /// The HTTP listener (announce URL `http://ADDR/announce`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:6969", value_parser = super::addr_parser(6969))]
    listen: std::net::SocketAddr,
    /// The UDP listener (`udp://ADDR`; default: the HTTP address).
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(6969))]
    udp: Option<std::net::SocketAddr>,
    /// No UDP listener.
    #[arg(long, conflicts_with = "udp")]
    no_udp: bool,
    /// Seconds between a client's announces.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    interval: u32,
}

/// Example: `applayer torrent create video.mp4 --tracker http://127.0.0.1:6969/announce`.
#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// The file or folder to share.
    path: PathBuf,
    /// A tracker's announce URL; each one is its own tier (BEP 12), in order (repeatable).
    #[arg(long = "tracker", short = 't', value_name = "URL")]
    trackers: Vec<String>,
    /// Bytes per piece, a power of two of at least 16K (`256K`, `1M`; default: the smallest
    /// that keeps the torrent under about 1,500 pieces).
    #[arg(long, short = 's', value_name = "SIZE", value_parser = piece_size)]
    piece_size: Option<u64>,
    /// A comment.
    #[arg(long, short = 'c')]
    comment: Option<String>,
    /// Mark it private (BEP 27: peers only from its trackers).
    #[arg(long, short = 'p')]
    private: bool,
    /// A web seed URL (BEP 19; repeatable).
    #[arg(long = "web-seed", short = 'w', value_name = "URL")]
    web_seeds: Vec<String>,
    /// Where to write it (default: NAME.torrent in the current folder).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Example: `applayer torrent info video.mp4.torrent`.
#[derive(clap::Args, Debug)]
struct InfoArgs {
    /// The .torrent file.
    file: PathBuf,
    /// Print only its magnet link.
    #[arg(long, short = 'm')]
    magnet: bool,
}

fn piece_size(text: &str) -> Result<u64, String> {
    web_proxy::parse_size(text).ok_or_else(|| format!("`{text}` is not a size (16K, 256K, 1M ...)"))
}

/// Runs `applayer torrent`.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        TorrentCommand::Create(args) => create(args),
        TorrentCommand::Info(args) => info(args),
        TorrentCommand::Tracker(args) => tracker(args).await,
        TorrentCommand::Get(args) => get(args).await,
        TorrentCommand::Seed(args) => seed(args).await,
        TorrentCommand::Experiment(args) => experiment(args).await,
    }
}

async fn experiment(args: ExperimentArgs) -> anyhow::Result<ExitCode> {
    use torrent::experiment::{self, bounds::Params};
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let config = experiment::ExperimentConfig {
        program: std::env::current_exe().context("finding the applayer binary")?,
        peers: args.peers,
        params: Params {
            size: args.size,
            server_up: args.server_up,
            peer_up: args.peer_up,
            peer_down: args.peer_down,
        },
        piece_length: args.piece_size,
        out: args.out.clone(),
        prefix: format!("alx{}", std::process::id()),
        only: args.only.map(|way| match way {
            Way::Cs => experiment::Way::ClientServer,
            Way::P2p => experiment::Way::P2p,
        }),
    };
    // Ctrl-C drops the run, and with it the namespaces and the programs in them.
    let mut say = |line: String| eprintln!("{line}");
    let report = tokio::select! {
        report = experiment::run(&config, &mut say) => report?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    };
    print!("{}", experiment::plot::table(&report));
    eprintln!(
        "wrote {0}/results.txt, {0}/results.json and {0}/distribution-time.svg",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    let options = torrent::CreateOptions {
        trackers: args.trackers.iter().map(|url| vec![url.clone()]).collect(),
        piece_length: args.piece_size,
        comment: args.comment,
        created_by: Some(format!("applayer/{}", env!("CARGO_PKG_VERSION"))),
        creation_date: Some(now),
        private: args.private,
        web_seeds: args.web_seeds,
    };
    let bytes = torrent::create(&args.path, &options)?;
    let meta = Metainfo::parse(&bytes).context("the torrent just made does not parse")?;
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.torrent", meta.info.name)));
    std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "{}: {} ({} files, {} pieces of {}), info-hash {}",
        output.display(),
        meta.info.name,
        meta.info.files.len(),
        meta.info.pieces.len(),
        bt_proto::show::mem(meta.info.piece_length),
        meta.info_hash_hex()
    );
    Ok(ExitCode::SUCCESS)
}

async fn tracker(args: TrackerArgs) -> anyhow::Result<ExitCode> {
    let interval = args.interval.max(1);
    let config = torrent::TrackerServerConfig {
        http: Some(args.listen),
        udp: (!args.no_udp).then(|| args.udp.unwrap_or(args.listen)),
        tracker: bt_proto::tracker::TrackerConfig {
            interval,
            min_interval: (interval / 4).max(1),
            peer_timeout: 2 * u64::from(interval) + 60,
            ..bt_proto::tracker::TrackerConfig::default()
        },
    };
    let server = torrent::bind_tracker(config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some(http) = server.http_addr() {
        eprintln!("tracker: http://{http}/announce (status page http://{http}/)");
    }
    if let Some(udp) = server.udp_addr() {
        eprintln!("tracker: udp://{udp}");
    }
    server.run(netio::shutdown_on_signals()).await?;
    Ok(ExitCode::SUCCESS)
}

fn read_torrent(path: &std::path::Path) -> anyhow::Result<Metainfo> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Metainfo::parse(&bytes).with_context(|| format!("{}", path.display()))
}

async fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let meta = if args.torrent.starts_with("magnet:") {
        let magnet = Magnet::parse(&args.torrent)?;
        let meta = torrent::magnet::fetch_metadata(&magnet, args.listen.port())
            .await
            .with_context(|| format!("metadata of {}", bt_proto::hex(&magnet.info_hash)))?;
        eprintln!(
            "{}: metadata from peers ({} bytes)",
            meta.info.name,
            meta.info_bytes.len()
        );
        meta
    } else {
        read_torrent(std::path::Path::new(&args.torrent))?
    };
    let config = torrent::client::ClientConfig {
        meta,
        dir: args.out,
        listen: args.listen,
        seed: args.seed,
        peers: args.peers,
        upload_limit: args.upload_limit,
    };
    drive(config, args.json).await
}

async fn seed(args: SeedArgs) -> anyhow::Result<ExitCode> {
    let meta = read_torrent(&args.torrent)?;
    // `--data` names the torrent's file or folder, or the folder holding it.
    let dir = if args.data.file_name().and_then(|n| n.to_str()) == Some(meta.info.name.as_str()) {
        args.data
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    } else {
        args.data
    };
    let config = torrent::client::ClientConfig {
        meta,
        dir,
        listen: args.listen,
        seed: true,
        peers: Vec::new(),
        upload_limit: args.upload_limit,
    };
    drive(config, args.json).await
}

/// Runs the client, showing its progress as a bar (or JSON lines).
async fn drive(config: torrent::client::ClientConfig, json: bool) -> anyhow::Result<ExitCode> {
    use torrent::client::Progress;
    let total = config.meta.info.total_length();
    let pieces = config.meta.info.pieces.len() as u64;
    let name = config.meta.info.name.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = netio::shutdown_on_signals();
    let client = tokio::spawn(torrent::client::run(config, tx, shutdown));
    let bar = (!json).then(|| {
        let bar = indicatif::ProgressBar::new(pieces);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} pieces, {binary_bytes_per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(name.clone());
        bar
    });
    let started = std::time::Instant::now();
    while let Some(event) = rx.recv().await {
        if json {
            let line = match &event {
                Progress::Checked { have, of } => {
                    serde_json::json!({"event": "checked", "have": have, "pieces": of})
                }
                Progress::Piece {
                    index,
                    have,
                    of,
                    downloaded,
                    peers,
                    from,
                } => serde_json::json!({
                    "event": "piece", "index": index, "have": have, "pieces": of,
                    "downloaded": downloaded, "peers": peers,
                    "from": from.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "rate": *downloaded as f64 / started.elapsed().as_secs_f64().max(0.001),
                }),
                Progress::BadPiece(index) => {
                    serde_json::json!({"event": "bad_piece", "index": index})
                }
                Progress::Complete => serde_json::json!({"event": "complete", "bytes": total}),
                Progress::Tracker(Ok(peers)) => {
                    serde_json::json!({"event": "tracker", "peers": peers})
                }
                Progress::Tracker(Err(error)) => {
                    serde_json::json!({"event": "tracker", "error": error})
                }
            };
            println!("{line}");
        } else if let Some(bar) = &bar {
            // Without a terminal the bar is hidden: the notable lines still go to stderr.
            let say = |line: String| {
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            };
            match &event {
                Progress::Checked { have, .. } => bar.set_position(*have as u64),
                Progress::Piece {
                    have,
                    downloaded,
                    peers,
                    ..
                } => {
                    bar.set_position(*have as u64);
                    bar.set_message(format!(
                        "{name} ({peers} peers, {} MB)",
                        downloaded / 1_000_000
                    ));
                }
                Progress::BadPiece(index) => say(format!(
                    "piece {index} failed its check; its senders are banned"
                )),
                Progress::Complete => say(format!("{name}: complete ({total} bytes)")),
                Progress::Tracker(Err(error)) => say(format!("tracker: {error}")),
                Progress::Tracker(Ok(_)) => {}
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    client.await.context("the client task failed")??;
    Ok(ExitCode::SUCCESS)
}

fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let meta = Metainfo::parse(&bytes).with_context(|| format!("{}", args.file.display()))?;
    if args.magnet {
        println!("{}", Magnet::of(&meta));
    } else {
        print!(
            "{}",
            bt_proto::show::transmission_show(&meta, &args.file.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
