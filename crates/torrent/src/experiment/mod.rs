//! The distribution-time experiment of the textbook (§2.5.1): one file from one server to `N`
//! peers, client-server (our web server, `N` clients of `applayer web get`) and P2P (our
//! tracker, our client seeding, `N` of our clients), over real rate limits in network
//! namespaces ([`lab`]), measuring the time until the last peer has the whole file, beside the
//! fluid bounds ([`bounds`]); [`plot`] draws the textbook's figure from the measurements.
//!
//! Host 0 is the server (upload shaped to `u_s`, download not shaped); hosts 1..=N are the
//! peers (upload `u`, download `d`). Each run starts its servers first and waits until they
//! are ready (the seed has checked its data and announced), then starts the `N` clients at
//! once: the clock runs from then until the last one has the file, whose SHA-1 is checked.
//! The programs run are the `applayer` binary's own commands (`web serve`, `web get`,
//! `torrent tracker`, `torrent seed`, `torrent get --seed --json`); every log goes to
//! `OUT/logs/`.

pub mod bounds;
pub mod lab;
pub mod plot;

use bounds::Params;
use lab::{Lab, Link};
use sha1::{Digest, Sha1};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

/// How to run the experiment.
#[derive(Clone, Debug)]
pub struct ExperimentConfig {
    /// The `applayer` binary (its commands are the hosts' programs).
    pub program: PathBuf,
    /// The numbers of peers, one pair of runs each.
    pub peers: Vec<usize>,
    /// The size and the rates.
    pub params: Params,
    /// The torrent's piece size (default: `torrent create`'s choice).
    pub piece_length: Option<u64>,
    /// Where the table, the JSON, the plot and the logs go.
    pub out: PathBuf,
    /// The namespaces' name prefix.
    pub prefix: String,
    /// Run only one of the two ways.
    pub only: Option<Way>,
}

/// Client-server or P2P.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// Our web server to `N` HTTP clients.
    ClientServer,
    /// Our seed and tracker to `N` of our BitTorrent clients.
    P2p,
}

/// One measured distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The number of peers.
    pub n: usize,
    /// The fluid bound, seconds.
    pub bound: f64,
    /// The time until the last peer had the file, seconds.
    pub measured: f64,
    /// When each peer had it, seconds.
    pub per_peer: Vec<f64>,
}

impl Run {
    /// One progress line: `N=4   P2P           19.70 s   bound   17.90 s   ×1.101`.
    pub fn line(&self, way: &str) -> String {
        format!(
            "N={:<3} {way:<13} {:7.2} s   bound {:7.2} s   ×{:.3}",
            self.n,
            self.measured,
            self.bound,
            self.ratio()
        )
    }

    /// How far the measurement is above its bound (1.0: on it).
    pub fn ratio(&self) -> f64 {
        self.measured / self.bound
    }
}

/// What the experiment measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The size and the rates.
    pub params: Params,
    /// The client-server runs, by N.
    pub client_server: Vec<Run>,
    /// The P2P runs, by N.
    pub p2p: Vec<Run>,
}

/// Why the experiment stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The namespaces could not be made.
    #[error(transparent)]
    Lab(#[from] lab::LabError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// Which.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A program did not get ready, or did not finish, in time.
    #[error("{0} (see the logs)")]
    Timeout(String),
    /// A program ended before it had done its part.
    #[error("{0} (see the logs)")]
    Ended(String),
    /// A peer's copy is not the file.
    #[error("{0}: the copy's SHA-1 differs from the file's")]
    Corrupt(String),
    /// The torrent could not be made.
    #[error("making the torrent: {0}")]
    Create(#[from] crate::CreateError),
    /// Nothing to do.
    #[error("{0}")]
    Invalid(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExperimentError {
    let what = what.into();
    move |source| ExperimentError::Io { what, source }
}

const FILE_NAME: &str = "distributed.bin";
const TRACKER_PORT: u16 = 6969;
const PEER_PORT: u16 = 6881;

/// Runs the experiment: for each N (ascending), a client-server run and a P2P run. `say`
/// gets one line per step. Writes `results.txt`, `results.json` and
/// `distribution-time.svg` into `config.out`.
pub async fn run(
    config: &ExperimentConfig,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Report, ExperimentError> {
    let mut peers = config.peers.clone();
    peers.sort_unstable();
    peers.dedup();
    let Some(&most) = peers.last() else {
        return Err(ExperimentError::Invalid("no numbers of peers".into()));
    };
    if peers[0] == 0 || most > 200 {
        return Err(ExperimentError::Invalid(
            "the numbers of peers must be between 1 and 200".into(),
        ));
    }
    if config.params.size == 0 {
        return Err(ExperimentError::Invalid("the file is empty".into()));
    }
    let params = config.params;
    let mut links = vec![Link {
        up: Some(params.server_up),
        down: None,
    }];
    links.extend((0..most).map(|_| Link {
        up: Some(params.peer_up),
        down: Some(params.peer_down),
    }));
    let work = config.out.join("work");
    let logs = config.out.join("logs");
    for dir in [&work, &logs] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
    }
    say(format!(
        "building {} namespaces ({} peers, server up {}, peers up {} down {})",
        most + 2,
        most,
        plot::rate(params.server_up),
        plot::rate(params.peer_up),
        plot::rate(params.peer_down)
    ));
    let lab = Lab::build(&config.prefix, &links)?;
    let server_dir = work.join("server");
    std::fs::create_dir_all(&server_dir).map_err(io_error("creating the server's folder"))?;
    let data = server_dir.join(FILE_NAME);
    let digest = write_random(&data, params.size)?;
    let tracker = format!("http://{}:{TRACKER_PORT}/announce", Lab::addr_of(0));
    let torrent_bytes = crate::create(
        &data,
        &crate::CreateOptions {
            trackers: vec![vec![tracker]],
            piece_length: config.piece_length,
            ..crate::CreateOptions::default()
        },
    )?;
    let torrent = work.join(format!("{FILE_NAME}.torrent"));
    std::fs::write(&torrent, torrent_bytes).map_err(io_error("writing the torrent"))?;
    let mut ctx = Context {
        config,
        lab: &lab,
        work,
        logs,
        data,
        torrent,
        digest,
    };
    let mut report = Report {
        params,
        client_server: Vec::new(),
        p2p: Vec::new(),
    };
    for &n in &peers {
        if config.only != Some(Way::P2p) {
            let per_peer = ctx.client_server(n).await?;
            let run = finish(n, params.client_server(n), per_peer);
            say(run.line("client-server"));
            report.client_server.push(run);
        }
        if config.only != Some(Way::ClientServer) {
            let per_peer = ctx.p2p(n).await?;
            let run = finish(n, params.p2p(n), per_peer);
            say(run.line("P2P"));
            report.p2p.push(run);
        }
    }
    let work = std::mem::take(&mut ctx.work);
    drop(ctx);
    drop(lab);
    let _ = std::fs::remove_dir_all(&work);
    write_out(&config.out, &report)?;
    Ok(report)
}

fn finish(n: usize, bound: f64, per_peer: Vec<f64>) -> Run {
    let measured = per_peer.iter().copied().fold(0.0, f64::max);
    Run {
        n,
        bound,
        measured,
        per_peer,
    }
}

fn write_out(out: &Path, report: &Report) -> Result<(), ExperimentError> {
    let files = [
        ("results.txt", plot::table(report)),
        ("results.json", plot::json(report)),
        ("distribution-time.svg", plot::svg(report)),
    ];
    for (name, text) in files {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(io_error(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// Writes `size` random bytes to `path`; returns their SHA-1.
fn write_random(path: &Path, size: u64) -> Result<[u8; 20], ExperimentError> {
    use rand::RngCore;
    let mut file = std::fs::File::create(path).map_err(io_error("creating the file"))?;
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut hasher = Sha1::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let take = left.min(chunk.len() as u64) as usize;
        rng.fill_bytes(&mut chunk[..take]);
        hasher.update(&chunk[..take]);
        file.write_all(&chunk[..take])
            .map_err(io_error("writing the file"))?;
        left -= take as u64;
    }
    Ok(hasher.finalize().into())
}

use rand::SeedableRng;

fn digest_of(path: &Path) -> std::io::Result<[u8; 20]> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha1::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&chunk[..read]);
    }
}

struct Context<'a> {
    config: &'a ExperimentConfig,
    lab: &'a Lab,
    work: PathBuf,
    logs: PathBuf,
    data: PathBuf,
    torrent: PathBuf,
    digest: [u8; 20],
}

/// A started program: its handle and its output lines.
struct Program {
    _child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    name: String,
}

impl Context<'_> {
    /// Starts `args` on host `k`; its standard output and standard error come back as lines
    /// and go to its log.
    fn start(&self, k: usize, name: &str, args: &[&str]) -> Result<Program, ExperimentError> {
        let log_path = self.logs.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(io_error(format!("creating {}", log_path.display())))?;
        let err_log = log.try_clone().map_err(io_error("the log"))?;
        let mut command = self.lab.command(k, &self.config.program);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(io_error(format!(
            "starting {name} in {}",
            self.lab.namespace(k)
        )))?;
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward_lines(stdout, log, tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_lines(stderr, err_log, tx));
        }
        Ok(Program {
            _child: child,
            lines,
            name: name.to_owned(),
        })
    }

    fn peer_dir(&self, k: usize) -> Result<PathBuf, ExperimentError> {
        let dir = self.work.join(format!("peer{k}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        Ok(dir)
    }

    fn check_copies(&self, n: usize) -> Result<(), ExperimentError> {
        for k in 1..=n {
            let copy = self.work.join(format!("peer{k}")).join(FILE_NAME);
            let digest =
                digest_of(&copy).map_err(io_error(format!("reading {}", copy.display())))?;
            if digest != self.digest {
                return Err(ExperimentError::Corrupt(copy.display().to_string()));
            }
        }
        Ok(())
    }

    fn limit(&self, bound: f64) -> Duration {
        Duration::from_secs_f64(bound * 4.0 + 30.0)
    }

    /// Our web server on host 0 and `n` clients; when each had the file, seconds.
    async fn client_server(&mut self, n: usize) -> Result<Vec<f64>, ExperimentError> {
        let server_dir = self.data.parent().unwrap_or(Path::new(".")).to_owned();
        let listen = format!("{}:80", Lab::addr_of(0));
        let root = server_dir.display().to_string();
        let mut server = self.start(
            0,
            &format!("cs{n}-server"),
            &[
                "web",
                "serve",
                "--root",
                &root,
                "--listen",
                &listen,
                "--no-access-log",
            ],
        )?;
        wait_for(&mut server, Duration::from_secs(10), |line| {
            line.starts_with("serving")
        })
        .await?;
        let url = format!("http://{}/{FILE_NAME}", Lab::addr_of(0));
        let mut clients = Vec::new();
        for k in 1..=n {
            let output = self.peer_dir(k)?.join(FILE_NAME).display().to_string();
            let mut command = self.lab.command(k, &self.config.program);
            let log_path = self.logs.join(format!("cs{n}-client{k}.log"));
            let log = std::fs::File::create(&log_path)
                .map_err(io_error(format!("creating {}", log_path.display())))?;
            command
                .args([
                    "web",
                    "get",
                    &url,
                    "--no-objects",
                    "--timeout",
                    "3600",
                    "-o",
                    &output,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            clients.push((k, command));
        }
        let started = Instant::now();
        let mut running = tokio::task::JoinSet::new();
        for (k, mut command) in clients {
            let child = command
                .spawn()
                .map_err(io_error(format!("starting client {k}")))?;
            running.spawn(async move {
                let mut child = child;
                let status = child.wait().await;
                (k, status, started.elapsed().as_secs_f64())
            });
        }
        let limit = self.limit(self.config.params.client_server(n));
        let mut times = vec![0.0; n];
        let deadline = tokio::time::Instant::now() + limit;
        while let Some(done) = tokio::time::timeout_at(deadline, running.join_next())
            .await
            .map_err(|_| {
                ExperimentError::Timeout(format!("N={n}: the HTTP clients took over {limit:?}"))
            })?
        {
            let Ok((k, status, seconds)) = done else {
                return Err(ExperimentError::Ended("a client task".into()));
            };
            match status {
                Ok(status) if status.success() => times[k - 1] = seconds,
                _ => {
                    return Err(ExperimentError::Ended(format!(
                        "N={n}: client {k} failed ({status:?})"
                    )))
                }
            }
        }
        drop(server);
        self.check_copies(n)?;
        Ok(times)
    }

    /// Our tracker and seed on host 0 and `n` of our clients, which seed as they download;
    /// when each had the file, seconds.
    async fn p2p(&mut self, n: usize) -> Result<Vec<f64>, ExperimentError> {
        let server = Lab::addr_of(0);
        let tracker_listen = format!("{server}:{TRACKER_PORT}");
        let mut tracker = self.start(
            0,
            &format!("p2p{n}-tracker"),
            &[
                "torrent",
                "tracker",
                "--listen",
                &tracker_listen,
                "--no-udp",
                "--interval",
                "60",
            ],
        )?;
        wait_for(&mut tracker, Duration::from_secs(10), |line| {
            line.starts_with("tracker: http")
        })
        .await?;
        let torrent = self.torrent.display().to_string();
        let data = self.data.display().to_string();
        let seed_listen = format!("{server}:{PEER_PORT}");
        let mut seed = self.start(
            0,
            &format!("p2p{n}-seed"),
            &[
                "torrent",
                "seed",
                &torrent,
                "--data",
                &data,
                "--listen",
                &seed_listen,
                "--json",
            ],
        )?;
        let announced = wait_for(&mut seed, Duration::from_secs(30), |line| {
            line.contains("\"event\":\"tracker\"")
        })
        .await?;
        if announced.contains("\"error\"") {
            return Err(ExperimentError::Ended(format!(
                "N={n}: the seed could not announce: {announced}"
            )));
        }
        let mut commands = Vec::new();
        for k in 1..=n {
            let out = self.peer_dir(k)?.display().to_string();
            let listen = format!("{}:{PEER_PORT}", Lab::addr_of(k));
            commands.push((k, out, listen));
        }
        let started = Instant::now();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut peers = Vec::new();
        for (k, out, listen) in commands {
            let mut peer = self.start(
                k,
                &format!("p2p{n}-peer{k}"),
                &[
                    "torrent", "get", &torrent, "--out", &out, "--seed", "--json", "--listen",
                    &listen,
                ],
            )?;
            let done_tx = done_tx.clone();
            let mut lines = std::mem::replace(&mut peer.lines, mpsc::unbounded_channel().1);
            tokio::spawn(async move {
                while let Some(line) = lines.recv().await {
                    if line.contains("\"event\":\"complete\"") {
                        let _ = done_tx.send((k, Some(started.elapsed().as_secs_f64())));
                        // Keep reading so the pipe never fills.
                        while lines.recv().await.is_some() {}
                        return;
                    }
                }
                let _ = done_tx.send((k, None));
            });
            peers.push(peer);
        }
        drop(done_tx);
        let limit = self.limit(self.config.params.p2p(n));
        let deadline = tokio::time::Instant::now() + limit;
        let mut times = vec![0.0; n];
        let mut left = n;
        while left > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Err(_) => {
                    return Err(ExperimentError::Timeout(format!(
                        "N={n}: {left} peers had not the file after {limit:?}"
                    )))
                }
                Ok(None) => return Err(ExperimentError::Ended("the peers' watchers".into())),
                Ok(Some((k, Some(seconds)))) => {
                    times[k - 1] = seconds;
                    left -= 1;
                }
                Ok(Some((k, None))) => {
                    return Err(ExperimentError::Ended(format!(
                        "N={n}: peer {k} ended before it had the file"
                    )))
                }
            }
        }
        drop(peers);
        drop(seed);
        drop(tracker);
        self.check_copies(n)?;
        Ok(times)
    }
}

/// Copies a child's output lines to its log and to `tx`.
async fn forward_lines(
    output: impl AsyncRead + Unpin,
    mut log: std::fs::File,
    tx: mpsc::UnboundedSender<String>,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let _ = log.write_all(format!("{line}\n").as_bytes());
        let _ = tx.send(line);
    }
}

/// Waits for an output line of `program` that `wanted` accepts; returns it.
async fn wait_for(
    program: &mut Program,
    limit: Duration,
    wanted: impl Fn(&str) -> bool,
) -> Result<String, ExperimentError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, program.lines.recv()).await {
            Err(_) => {
                return Err(ExperimentError::Timeout(format!(
                    "{} was not ready after {limit:?}",
                    program.name
                )))
            }
            Ok(None) => {
                return Err(ExperimentError::Ended(format!(
                    "{} ended before it was ready",
                    program.name
                )))
            }
            Ok(Some(line)) if wanted(&line) => return Ok(line),
            Ok(Some(_)) => {}
        }
    }
}
