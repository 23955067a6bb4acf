//! The tracker server: HTTP announce and scrape (BEP 3, BEP 23, BEP 48) and a status page,
//! served by our web server with the tracker mounted as a `web::App`, and the UDP tracker
//! protocol (BEP 15) on a UDP socket; both over one `bt_proto::tracker::Tracker`. Silent
//! peers are forgotten every 30 s.

use bt_proto::tracker::{
    encode_announce_reply, encode_failure, encode_scrape, parse_announce_query, parse_scrape_query,
    Tracker, TrackerConfig,
};
use bt_proto::udp_tracker;
use http_proto::{ResponseHead, StatusCode};
use netio::wire::{self, Dir};
use netio::Shutdown;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;

/// Where and how the tracker serves.
#[derive(Clone, Debug)]
pub struct TrackerServerConfig {
    /// The HTTP listener (announce URL `http://ADDR/announce`), if any.
    pub http: Option<SocketAddr>,
    /// The UDP listener (`udp://ADDR`), if any.
    pub udp: Option<SocketAddr>,
    /// The swarms' settings.
    pub tracker: TrackerConfig,
}

impl Default for TrackerServerConfig {
    fn default() -> Self {
        TrackerServerConfig {
            http: Some(SocketAddr::from(([127, 0, 0, 1], 6969))),
            udp: Some(SocketAddr::from(([127, 0, 0, 1], 6969))),
            tracker: TrackerConfig::default(),
        }
    }
}

struct Shared {
    tracker: Mutex<Tracker>,
    secret: [u8; 32],
}

impl Shared {
    fn tracker(&self) -> MutexGuard<'_, Tracker> {
        self.tracker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A bound tracker, ready to [`run`](TrackerServer::run).
pub struct TrackerServer {
    web: Option<web::WebServer>,
    udp: Option<UdpSocket>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TrackerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackerServer")
            .field("http", &self.http_addr())
            .field("udp", &self.udp_addr())
            .finish()
    }
}

/// Binds the listeners.
pub async fn bind(config: TrackerServerConfig) -> io::Result<TrackerServer> {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let shared = Arc::new(Shared {
        tracker: Mutex::new(Tracker::new(config.tracker.clone())),
        secret,
    });
    let web = match config.http {
        Some(addr) => {
            // The tracker answers every path, so the document root is never read.
            let root: PathBuf = std::env::temp_dir();
            let mut web_config = web::WebServerConfig::new(root);
            web_config.listen = vec![addr];
            web_config.autoindex = false;
            web_config.apps.push(web::AppMount {
                prefix: String::new(),
                app: Arc::new(TrackerApp {
                    shared: shared.clone(),
                }),
            });
            Some(web::bind(web_config).await?)
        }
        None => None,
    };
    let udp = match config.udp {
        Some(addr) => Some(UdpSocket::bind(addr).await?),
        None => None,
    };
    Ok(TrackerServer { web, udp, shared })
}

impl TrackerServer {
    /// The HTTP listener's address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.web
            .as_ref()
            .and_then(|web| web.local_addrs().first().copied())
    }

    /// The UDP socket's address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|udp| udp.local_addr().ok())
    }

    /// Serves until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> io::Result<()> {
        let shared = self.shared.clone();
        let expiry = {
            let shutdown = shutdown.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = shutdown.triggered() => return,
                        _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    }
                    shared.tracker().expire(now());
                }
            }
        };
        let udp = {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            async move {
                match self.udp {
                    Some(socket) => serve_udp(socket, shared, shutdown).await,
                    None => Ok(()),
                }
            }
        };
        let http = async move {
            match self.web {
                Some(web) => web.run(shutdown).await,
                None => Ok(()),
            }
        };
        let ((), udp, http) = tokio::join!(expiry, udp, http);
        udp?;
        http
    }
}

async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>, shutdown: Shutdown) -> io::Result<()> {
    let local = socket.local_addr()?;
    let mut buffer = vec![0u8; 2048];
    loop {
        let (len, from) = tokio::select! {
            _ = shutdown.triggered() => return Ok(()),
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(error) => {
                    tracing::debug!("udp tracker receive: {error}");
                    continue;
                }
            },
        };
        let packet = &buffer[..len];
        if wire::enabled() {
            wire::emit(
                "tracker",
                Dir::Recv,
                local,
                from,
                &udp_tracker::describe(packet),
            );
        }
        let reply = udp_tracker::handle(
            &mut shared.tracker(),
            &shared.secret,
            packet,
            from,
            now(),
            rand::random(),
        );
        if let Some(reply) = reply {
            if wire::enabled() {
                wire::emit(
                    "tracker",
                    Dir::Send,
                    local,
                    from,
                    &format!("{} bytes", reply.len()),
                );
            }
            if let Err(error) = socket.send_to(&reply, from).await {
                tracing::debug!(%from, "udp tracker send: {error}");
            }
        }
    }
}

struct TrackerApp {
    shared: Arc<Shared>,
}

fn answer(status: StatusCode, content_type: &str, body: Vec<u8>) -> (ResponseHead, Vec<u8>) {
    let head = ResponseHead::new(status)
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-store");
    (head, body)
}

impl web::App for TrackerApp {
    fn max_body(&self) -> usize {
        0
    }

    fn call(&self, request: web::AppRequest) -> web::AppFuture {
        let shared = self.shared.clone();
        Box::pin(async move {
            let query = request.head.target.query().unwrap_or("");
            match request.head.target.path() {
                "/announce" => match parse_announce_query(query, request.peer.ip()) {
                    Ok((announce, compact)) => {
                        let reply = shared.tracker().announce(&announce, now(), rand::random());
                        match reply {
                            Ok(reply) => answer(
                                StatusCode::OK,
                                "text/plain",
                                encode_announce_reply(&reply, compact),
                            ),
                            Err(error) => answer(
                                StatusCode::OK,
                                "text/plain",
                                encode_failure(&error.to_string()),
                            ),
                        }
                    }
                    // BEP 3: failures are a 200 with `failure reason`, which clients show.
                    Err(error) => answer(
                        StatusCode::OK,
                        "text/plain",
                        encode_failure(&error.to_string()),
                    ),
                },
                "/scrape" => match parse_scrape_query(query) {
                    Ok(hashes) => {
                        let tracker = shared.tracker();
                        let files: Vec<_> = if hashes.is_empty() {
                            tracker.torrents().into_iter().take(1000).collect()
                        } else {
                            hashes
                                .iter()
                                .take(udp_tracker::MAX_SCRAPE)
                                .map(|hash| (*hash, tracker.stats(hash)))
                                .collect()
                        };
                        answer(StatusCode::OK, "text/plain", encode_scrape(&files))
                    }
                    Err(error) => answer(
                        StatusCode::OK,
                        "text/plain",
                        encode_failure(&error.to_string()),
                    ),
                },
                "/" => answer(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    status_page(&shared.tracker()).into_bytes(),
                ),
                _ => answer(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
            }
        })
    }
}

/// The status page: every torrent with its seeders, leechers and completions.
fn status_page(tracker: &Tracker) -> String {
    let torrents = tracker.torrents();
    let mut rows = String::new();
    for (hash, stats) in &torrents {
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            bt_proto::hex(hash),
            stats.complete,
            stats.incomplete,
            stats.downloaded
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>applayer tracker</title></head>\n\
         <body><h1>Tracker</h1><p>{} torrents; announce at <code>/announce</code>, scrape at \
         <code>/scrape</code>.</p>\n<table>\n<tr><th>info-hash</th><th>seeders</th><th>leechers</th>\
         <th>completed</th></tr>\n{rows}</table></body></html>\n",
        torrents.len()
    )
}
