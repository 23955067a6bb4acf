//! A small network of Linux network namespaces: one per host, each joined by a veth pair to a
//! bridge in a core namespace, with real rate limits (`tbf`) on each host's access link: its
//! upload shaped on its own side of the pair, its download on the bridge's side. Built with
//! `ip` and `tc` (iproute2), so it needs root; torn down when dropped.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;

/// One host's access link (bits per second; `None`: not shaped).
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    /// The host's upload rate.
    pub up: Option<u64>,
    /// The host's download rate.
    pub down: Option<u64>,
}

/// A namespace could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command failed (its stderr).
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// `ip` could not be run at all.
    #[error("cannot run `ip` (iproute2; the experiment needs root): {0}")]
    Spawn(std::io::Error),
    /// More hosts than the /24 holds.
    #[error("{0} hosts: at most 250")]
    TooMany(usize),
}

/// The network; host `k` is namespace `PREFIX-hK` at `10.77.0.(K+1)`.
#[derive(Debug)]
pub struct Lab {
    core: String,
    hosts: Vec<String>,
}

impl Lab {
    /// Builds the namespaces, the bridge and the shaped links (any left by an earlier run
    /// with the same prefix are removed first).
    pub fn build(prefix: &str, links: &[Link]) -> Result<Lab, LabError> {
        if links.len() > 250 {
            return Err(LabError::TooMany(links.len()));
        }
        remove_stale(prefix);
        let mut lab = Lab {
            core: format!("{prefix}-core"),
            hosts: Vec::new(),
        };
        let core = lab.core.clone();
        ip(&["netns", "add", &core])?;
        ip(&["-n", &core, "link", "set", "lo", "up"])?;
        ip(&["-n", &core, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &core, "link", "set", "br0", "up"])?;
        for (k, link) in links.iter().enumerate() {
            let ns = format!("{prefix}-h{k}");
            ip(&["netns", "add", &ns])?;
            lab.hosts.push(ns.clone());
            let port = format!("v{k}");
            ip(&[
                "-n", &core, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &core, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &core, "link", "set", &port, "up"])?;
            let addr = format!("{}/24", Self::addr_of(k));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            if let Some(rate) = link.up {
                shape(&ns, "eth0", rate)?;
            }
            if let Some(rate) = link.down {
                shape(&core, &port, rate)?;
            }
        }
        Ok(lab)
    }

    /// Host `k`'s address.
    pub fn addr_of(k: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, k as u8 + 1)
    }

    /// Host `k`'s namespace name.
    pub fn namespace(&self, k: usize) -> &str {
        &self.hosts[k]
    }

    /// A command that runs `program` inside host `k` (killed when its handle is dropped).
    pub fn command(&self, k: usize, program: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command
            .args(["netns", "exec", &self.hosts[k]])
            .arg(program)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of each veth pair, and so the pair.
        for ns in self.hosts.iter().chain(std::iter::once(&self.core)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Shapes what leaves `dev` in `ns` to `rate` bits/s: a token bucket of 10 ms of tokens (at
/// least two full frames) and a queue of at most 100 ms, as `tc-tbf(8)` suggests.
fn shape(ns: &str, dev: &str, rate: u64) -> Result<(), LabError> {
    let burst = (rate / 8 / 100).max(2 * 1514);
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            &format!("{rate}bit"),
            "burst",
            &burst.to_string(),
            "latency",
            "100ms",
        ],
    )
}

fn remove_stale(prefix: &str) {
    let Ok(listing) = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    else {
        return;
    };
    let start = format!("{prefix}-");
    for line in String::from_utf8_lossy(&listing.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if name.starts_with(&start) {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

fn ip(args: &[&str]) -> Result<(), LabError> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), LabError> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(LabError::Spawn)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
