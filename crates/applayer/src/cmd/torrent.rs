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
    }
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
