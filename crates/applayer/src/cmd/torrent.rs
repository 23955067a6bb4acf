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
