//! Interop harness: third-party DNS servers (NSD, Knot, Unbound) on temporary configs, serving a
//! small root/TLD/authoritative hierarchy on distinct 127.x.y.z addresses.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether an interop test may run: returns `false` (after printing `skipped: ...`) when `tool`
/// is missing and CI is unset; panics when CI is set, because CI must run every interop test.
pub(crate) fn have_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(tool).is_file();
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} not found, and CI is set"
    );
    eprintln!("skipped: {tool} not found");
    false
}

/// Whether port 53 can be bound here (root, or a lowered unprivileged port start).
pub(crate) fn port_53_available() -> bool {
    let ip = Ipv4Addr::new(127, 53, 255, 254);
    match UdpSocket::bind((ip, 53)) {
        Ok(_) => true,
        Err(error) => error.kind() == std::io::ErrorKind::AddrInUse,
    }
}

/// For tests that need port 53 (Unbound always queries port 53): whether it is available;
/// prints `skipped` when not, and fails when CI is set.
pub(crate) fn can_bind_53() -> bool {
    if port_53_available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "cannot bind port 53, and CI is set"
    );
    eprintln!("skipped: cannot bind port 53 (not root)");
    false
}

/// A full path to a system binary that may live in /usr/sbin (outside a normal user's PATH).
fn tool_path(tool: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(tool);
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from(tool)
    }
}

/// A fresh /24-ish block of loopback addresses for one test: `127.<p>.<n>.x`, distinct between
/// the tests of this process and (most likely) between processes.
pub(crate) fn fresh_net() -> [u8; 3] {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    [
        127,
        100 + (pid % 100) as u8,
        ((pid / 100) as u8).wrapping_add((n * 7) as u8),
    ]
}

/// The address `net.x`.
pub(crate) fn ip(net: [u8; 3], host: u8) -> Ipv4Addr {
    Ipv4Addr::new(net[0], net[1], net[2], host)
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// Creates `/tmp/dnsres-<pid>-<n>-<tag>`.
    pub(crate) fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dnsres-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// Writes `name` inside the directory and returns its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One zone of a hierarchy: its origin (`"."`, `"com."`), the server address and the zone text.
#[derive(Clone, Debug)]
pub(crate) struct ZoneSpec {
    /// The zone's origin, absolute, e.g. `"umass.edu."`.
    pub(crate) origin: String,
    /// Which server serves it (index into [`Hierarchy::servers`]).
    pub(crate) server: usize,
    /// RFC 1035 master-file text.
    pub(crate) text: String,
}

/// A small DNS tree: root on `.1`, TLDs on `.2`, authoritative zones on `.3`, on port `port`.
///
/// Contents (what the tests expect):
/// - `gaia.cs.umass.edu A 128.119.245.12`, `www.umass.edu CNAME gaia.cs.umass.edu`,
///   `umass.edu MX 10 mail.umass.edu`, `mail.umass.edu A 128.119.245.13`;
/// - `www.example.com CNAME gaia.cs.umass.edu` (a CNAME across zones), `a.example.com A 10.0.0.1`;
/// - `host.other.com A 10.0.0.2` where `other.com` is served by `ns.umass.edu` (no glue in com:
///   the resolver must resolve the name server's address first);
/// - `txt.example.com TXT "hello"`; NXDOMAIN for `nope.example.com`; NODATA for `a.example.com AAAA`.
#[derive(Clone, Debug)]
pub(crate) struct Hierarchy {
    /// Server addresses, index 0 = root, 1 = TLD, 2 = authoritative.
    pub(crate) servers: Vec<SocketAddr>,
    /// The zones.
    pub(crate) zones: Vec<ZoneSpec>,
}

impl Hierarchy {
    /// The standard test tree on `net` and `port`.
    pub(crate) fn standard(net: [u8; 3], port: u16) -> Hierarchy {
        let root = ip(net, 1);
        let tld = ip(net, 2);
        let auth = ip(net, 3);
        let soa = |origin: &str| {
            format!(
                "$TTL 3600\n{origin} IN SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 300\n"
            )
            .replace("ns..", "ns.")
            .replace("hostmaster..", "hostmaster.")
        };
        let root_text = format!(
            "{}. IN NS a.root-servers.test.\na.root-servers.test. IN A {root}\n\
             com. IN NS a.gtld.test.\nedu. IN NS a.gtld.test.\na.gtld.test. IN A {tld}\n",
            soa(".")
        );
        let com_text = format!(
            "{}com. IN NS a.gtld.test.\n\
             example.com. IN NS ns1.example.com.\nns1.example.com. IN A {auth}\n\
             other.com. IN NS ns.umass.edu.\n",
            soa("com.")
        );
        let edu_text = format!(
            "{}edu. IN NS a.gtld.test.\n\
             umass.edu. IN NS dns.umass.edu.\ndns.umass.edu. IN A {auth}\n",
            soa("edu.")
        );
        let umass_text = format!(
            "{}umass.edu. IN NS dns.umass.edu.\ndns.umass.edu. IN A {auth}\nns.umass.edu. IN A {auth}\n\
             gaia.cs.umass.edu. IN A 128.119.245.12\nwww.umass.edu. IN CNAME gaia.cs.umass.edu.\n\
             umass.edu. IN MX 10 mail.umass.edu.\nmail.umass.edu. IN A 128.119.245.13\n",
            soa("umass.edu.")
        );
        let example_text = format!(
            "{}example.com. IN NS ns1.example.com.\nns1.example.com. IN A {auth}\n\
             www.example.com. IN CNAME gaia.cs.umass.edu.\na.example.com. IN A 10.0.0.1\n\
             txt.example.com. IN TXT \"hello\"\n",
            soa("example.com.")
        );
        let other_text = format!(
            "{}other.com. IN NS ns.umass.edu.\nhost.other.com. IN A 10.0.0.2\n",
            soa("other.com.")
        );
        let zone = |origin: &str, server: usize, text: String| ZoneSpec {
            origin: origin.to_string(),
            server,
            text,
        };
        Hierarchy {
            servers: vec![
                SocketAddr::new(root.into(), port),
                SocketAddr::new(tld.into(), port),
                SocketAddr::new(auth.into(), port),
            ],
            zones: vec![
                zone(".", 0, root_text),
                zone("com.", 1, com_text),
                zone("edu.", 1, edu_text),
                zone("umass.edu.", 2, umass_text),
                zone("example.com.", 2, example_text),
                zone("other.com.", 2, other_text),
            ],
        }
    }

    /// The root hints for this tree in the resolver's hints format (a master-file fragment).
    pub(crate) fn root_hints(&self) -> String {
        format!(
            ". 3600000 IN NS a.root-servers.test.\na.root-servers.test. 3600000 IN A {}\n",
            self.servers[0].ip()
        )
    }

    /// The zones served by server `index`.
    pub(crate) fn zones_of(&self, index: usize) -> impl Iterator<Item = &ZoneSpec> {
        self.zones.iter().filter(move |zone| zone.server == index)
    }
}

/// File name for a zone origin.
fn zone_file_name(origin: &str) -> String {
    if origin == "." {
        "root.zone".to_string()
    } else {
        format!("{}zone", origin)
    }
}

/// Which third-party authoritative server to run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Third {
    /// NLnet Labs NSD.
    Nsd,
    /// CZ.NIC Knot DNS.
    Knot,
}

/// A child process killed (by its own pid) on drop, with its temp dir.
pub(crate) struct Running {
    child: Child,
    /// The configuration and zone directory.
    _dir: TempDir,
    /// The log file the process writes.
    pub(crate) log: PathBuf,
}

impl Running {
    /// The process's log so far (for failure messages).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `which` serving `zones` on `addr`, and waits until it answers.
pub(crate) fn start_third(which: Third, addr: SocketAddr, zones: &[&ZoneSpec]) -> Running {
    let dir = TempDir::new(match which {
        Third::Nsd => "nsd",
        Third::Knot => "knot",
    });
    let root = dir.0.display().to_string();
    for zone in zones {
        dir.write(&zone_file_name(&zone.origin), &zone.text);
    }
    let (program, args, config) = match which {
        Third::Nsd => {
            let mut config = format!(
                "server:\n  ip-address: {}@{}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{root}\"\n  \
                 pidfile: \"{root}/nsd.pid\"\n  xfrdfile: \"{root}/xfrd.state\"\n  zonelistfile: \"{root}/zone.list\"\n  \
                 database: \"\"\n  server-count: 1\n  verbosity: 1\nremote-control:\n  control-enable: no\n",
                addr.ip(),
                addr.port()
            );
            for zone in zones {
                config.push_str(&format!(
                    "zone:\n  name: \"{}\"\n  zonefile: \"{}\"\n",
                    zone.origin,
                    zone_file_name(&zone.origin)
                ));
            }
            let conf = dir.write("nsd.conf", &config);
            (
                "nsd",
                vec![
                    "-d".to_string(),
                    "-c".to_string(),
                    conf.display().to_string(),
                ],
                config,
            )
        }
        Third::Knot => {
            let mut config = format!(
                "server:\n    listen: {}@{}\n    rundir: \"{root}\"\n    background-workers: 1\n    \
                 udp-workers: 1\n    tcp-workers: 1\ncontrol:\n    listen: \"{root}/knot.sock\"\n\
                 database:\n    storage: \"{root}/db\"\nlog:\n  - target: stderr\n    any: info\n\
                 template:\n  - id: default\n    storage: \"{root}\"\n    zonefile-sync: -1\n    \
                 journal-content: none\nzone:\n",
                addr.ip(),
                addr.port()
            );
            for zone in zones {
                config.push_str(&format!(
                    "  - domain: \"{}\"\n    file: \"{}\"\n",
                    zone.origin,
                    zone_file_name(&zone.origin)
                ));
            }
            let conf = dir.write("knot.conf", &config);
            (
                "knotd",
                vec!["-c".to_string(), conf.display().to_string()],
                config,
            )
        }
    };
    let log = dir.0.join("server.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(tool_path(program))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
    let running = Running {
        child,
        _dir: dir,
        log,
    };
    if !wait_answers(addr, Duration::from_secs(10)) {
        panic!(
            "{program} did not answer on {addr}\nconfig:\n{config}\nlog:\n{}",
            running.log_text()
        );
    }
    running
}

/// Starts the third-party server `which` for every server of `tree`.
pub(crate) fn start_tree(which: Third, tree: &Hierarchy) -> Vec<Running> {
    (0..tree.servers.len())
        .map(|index| {
            let zones: Vec<&ZoneSpec> = tree.zones_of(index).collect();
            start_third(which, tree.servers[index], &zones)
        })
        .collect()
}

/// Starts Unbound on `addr` (port 53 only), recursing from `root_hints` (a hints-file text), with
/// no DNSSEC validation and localhost queries allowed.
pub(crate) fn start_unbound(addr: SocketAddr, root_hints: &str) -> Running {
    let dir = TempDir::new("unbound");
    let root = dir.0.display().to_string();
    dir.write("root.hints", root_hints);
    let config = format!(
        "server:\n  interface: {}@{}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  \
         directory: \"{root}\"\n  pidfile: \"{root}/unbound.pid\"\n  root-hints: \"{root}/root.hints\"\n  \
         do-not-query-localhost: no\n  do-ip6: no\n  num-threads: 1\n  use-syslog: no\n  \
         logfile: \"\"\n  verbosity: 1\n  access-control: 127.0.0.0/8 allow\n  \
         module-config: \"iterator\"\n  qname-minimisation: no\n  harden-referral-path: no\n  \
         target-fetch-policy: \"0 0 0 0 0\"\n  minimal-responses: yes\n\
         remote-control:\n  control-enable: no\n",
        addr.ip(),
        addr.port()
    );
    let conf = dir.write("unbound.conf", &config);
    let log = dir.0.join("server.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(tool_path("unbound"))
        .args(["-d", "-c", &conf.display().to_string()])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start unbound: {error}"));
    let running = Running {
        child,
        _dir: dir,
        log,
    };
    if !wait_answers(addr, Duration::from_secs(10)) {
        panic!(
            "unbound did not answer on {addr}\nconfig:\n{config}\nlog:\n{}",
            running.log_text()
        );
    }
    running
}

/// Sends a fixed probe (`. SOA`, no recursion) until something answers or `limit` passes.
/// The probe is a constant byte string, not an encoder: the harness must not depend on the code
/// under test to tell whether a third-party server is up.
pub(crate) fn wait_answers(addr: SocketAddr, limit: Duration) -> bool {
    const PROBE: [u8; 17] = [0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1];
    let deadline = Instant::now() + limit;
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
    while Instant::now() < deadline {
        if socket.send_to(&PROBE, addr).is_ok() {
            let mut buf = [0u8; 4096];
            if let Ok((len, from)) = socket.recv_from(&mut buf) {
                if from == addr && len >= 12 && buf[..2] == PROBE[..2] {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs the dnspython oracle on `message`: returns its JSON summary of the decoded message, or
/// an error string. `None` when python3 with dnspython is missing (and CI unset).
pub(crate) fn dnspython_decode(message: &[u8]) -> Option<Result<serde_json::Value, String>> {
    let python = ["/usr/bin/python3", "python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import dns.message"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false)
    });
    let Some(python) = python else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with dnspython not found, and CI is set"
        );
        eprintln!("skipped: python3-dnspython not found");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/oracle.py");
    let hex: String = message.iter().map(|byte| format!("{byte:02x}")).collect();
    let output = Command::new(python)
        .arg(script)
        .arg(hex)
        .output()
        .expect("run oracle");
    if !output.status.success() {
        return Some(Err(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    Some(serde_json::from_slice(&output.stdout).map_err(|error| error.to_string()))
}
