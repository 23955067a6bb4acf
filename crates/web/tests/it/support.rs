//! Test support: a server on 127.0.0.1:0 over a temporary document root, raw HTTP exchanges,
//! and third-party tool lookup.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh empty directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "applayer-web-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn write(&self, relative: &str, content: &[u8]) {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The seed's pages: a base page with 10 JPEG objects, and somedir/page.html.
pub(crate) fn seed_site(dir: &TempDir) {
    let mut html = String::from("<html><head><title>Department</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n</head><body>\n");
    for index in 1..=10 {
        html.push_str(&format!(
            "<img src=\"img{index}.jpg\" alt=\"picture {index}\">\n"
        ));
        dir.write(
            &format!("someDepartment/img{index}.jpg"),
            &vec![index as u8; 1000 + index * 100],
        );
    }
    html.push_str("<script src=\"/js/app.js\"></script>\n</body></html>\n");
    dir.write("someDepartment/home.index", html.as_bytes());
    dir.write("someDepartment/style.css", b"body { color: black }\n");
    dir.write("js/app.js", b"console.log('hi');\n");
    dir.write(
        "somedir/page.html",
        b"<html><body>Hello from someschool</body></html>\n",
    );
    dir.write("index.html", b"<html><body>root index</body></html>\n");
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    dir.write("big.bin", &big);
}

/// A running server; shut down on drop.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// The HTTPS address, when the configuration asked for one.
    pub(crate) tls_addr: Option<SocketAddr>,
    shutdown: netio::Shutdown,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(config: web::WebServerConfig) -> Server {
        let (sender, receiver) = std::sync::mpsc::channel();
        let shutdown = netio::Shutdown::new();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server = web::bind(config).await.unwrap();
                sender
                    .send((server.local_addrs()[0], server.tls_addrs().first().copied()))
                    .unwrap();
                server.run(stop).await.unwrap();
            });
        });
        let (addr, tls_addr) = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
        Server {
            addr,
            tls_addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// A server for `root` on 127.0.0.1:0 with short timeouts, plus any tweaks.
    pub(crate) fn with(root: &Path, tweak: impl FnOnce(&mut web::WebServerConfig)) -> Server {
        let mut config = web::WebServerConfig::new(root);
        config.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.drain_timeout = Duration::from_secs(2);
        tweak(&mut config);
        Server::start(config)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends `request` on a new connection, half-closes, and reads everything until the server
/// closes (bounded by a timeout).
pub(crate) fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The path of a third-party tool, or `None` (the caller prints "skipped"); with `CI` set a
/// missing tool fails the test.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found (required when CI is set)"
        );
        eprintln!("skipped: {name} not found");
    }
    found
}

/// Runs a command with a timeout; returns (status success, stdout, stderr).
pub(crate) fn run(command: &mut std::process::Command) -> (bool, String, String) {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .expect("tool runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
