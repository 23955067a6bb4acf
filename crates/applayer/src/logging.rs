//! Console logging, and the quiet mode of the world commands: their servers' log lines go to a
//! file under the data dir while the terminal shows only what a user reads (the host table,
//! PASS/FAIL lines) and one line per notable event (warnings and errors).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

/// The log format on standard error (or in the log file).
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Set once logs go to a file: the console layer then stays silent and the notable layer
/// speaks instead.
static REDIRECTED: AtomicBool = AtomicBool::new(false);
/// The file the log lines go to once redirected.
static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);
/// Whether `RUST_LOG` was set: the user asked for logs on the terminal.
static FROM_ENV: OnceLock<bool> = OnceLock::new();

const DEFAULT_FILTER: &str = "info,wire=off";

/// Console logging from `RUST_LOG` (default: `info` with the per-message `wire` events off; set
/// `RUST_LOG=info,wire=info` to see every message), plus the world's recorder, which sees
/// `wire` events whatever the console shows.
pub(crate) fn init(format: LogFormat) {
    let _ = FROM_ENV.set(std::env::var_os("RUST_LOG").is_some());
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let console = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let console = match format {
        LogFormat::Pretty => console.boxed(),
        LogFormat::Json => console.json().boxed(),
    };
    let to_file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(|| FileWriter);
    let to_file = match format {
        LogFormat::Pretty => to_file.boxed(),
        LogFormat::Json => to_file.json().boxed(),
    };
    // While redirected, warnings and errors still reach the terminal, one short line each.
    let notable = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .compact();
    tracing_subscriber::registry()
        .with(
            console
                .with_filter(filter())
                .with_filter(filter_fn(|_| !REDIRECTED.load(Ordering::Relaxed))),
        )
        .with(
            to_file
                .with_filter(filter())
                .with_filter(filter_fn(|_| REDIRECTED.load(Ordering::Relaxed))),
        )
        .with(notable.with_filter(filter_fn(|metadata| {
            REDIRECTED.load(Ordering::Relaxed)
                && *metadata.level() <= Level::WARN
                && metadata.target() != "wire"
        })))
        .with(world::trace::layer())
        .init();
}

/// Sends the log lines to `path` from now on (the previous file is kept as `*.prev.log`),
/// unless the user asked for them on the terminal (`verbose`, or `RUST_LOG` set). Returns
/// whether it did.
pub(crate) fn redirect_to(path: &Path, verbose: bool) -> std::io::Result<bool> {
    if verbose || FROM_ENV.get().copied().unwrap_or(true) {
        return Ok(false);
    }
    if path.exists() {
        let _ = std::fs::rename(path, path.with_extension("prev.log"));
    }
    let file = File::create(path)?;
    *LOG_FILE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(file);
    REDIRECTED.store(true, Ordering::Relaxed);
    Ok(true)
}

/// Whether log lines go to a file ([`redirect_to`] took them off the terminal).
pub(crate) fn is_redirected() -> bool {
    REDIRECTED.load(Ordering::Relaxed)
}

/// Writes to the log file, or nowhere when there is none.
struct FileWriter;

impl Write for FileWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut file = LOG_FILE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match file.as_mut() {
            // One log line is one write: lines from several threads never interleave.
            Some(file) => file.write_all(bytes).map(|()| bytes.len()),
            None => Ok(bytes.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut file = LOG_FILE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}
