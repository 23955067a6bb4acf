//! Scenarios: the textbook's worked examples replayed on live servers of the world. Each runs
//! its exchanges with the real clients, and the caller draws the recorded messages.

use crate::run::Running;
use crate::World;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

/// A scenario's name and what it shows.
#[derive(Clone, Copy, Debug)]
pub struct ScenarioInfo {
    /// The name `applayer scenario run` takes.
    pub name: &'static str,
    /// One line on what it shows.
    pub about: &'static str,
}

/// Every scenario, in the seed's order.
pub const SCENARIOS: &[ScenarioInfo] = &[ScenarioInfo {
    name: "sockets",
    about: "seed §2.7: cse.nyu.edu sends a sentence to the uppercase servers of gaia.cs.umass.edu over TCP and UDP, then pings it",
}];

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// No such scenario.
    #[error("no scenario named `{0}` (see `applayer scenario list`)")]
    Unknown(String),
    /// The world lacks a host or service the scenario needs.
    #[error("the world has no {0}")]
    Missing(String),
    /// A step failed.
    #[error("{step}: {reason}")]
    Step {
        /// Which step.
        step: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// Runs scenario `name` against the running world and returns its narrative (what each step
/// did and saw). The caller records the wire events while it runs and draws them afterwards.
pub async fn run(name: &str, world: &World, running: &Running) -> Result<String, ScenarioError> {
    match name {
        "sockets" => sockets(world, running).await,
        other => Err(ScenarioError::Unknown(other.to_string())),
    }
}

fn host_address(world: &World, name: &str) -> Result<IpAddr, ScenarioError> {
    world
        .host(name)
        .map(|host| host.address)
        .ok_or_else(|| ScenarioError::Missing(format!("host {name}")))
}

async fn sockets(world: &World, running: &Running) -> Result<String, ScenarioError> {
    const WAIT: Duration = Duration::from_secs(3);
    let client = host_address(world, "cse.nyu.edu")?;
    let tcp = running
        .endpoint("gaia.cs.umass.edu", "tcp-upper")
        .ok_or_else(|| ScenarioError::Missing("tcp-upper service on gaia.cs.umass.edu".into()))?;
    let udp = running
        .endpoint("gaia.cs.umass.edu", "udp-upper")
        .ok_or_else(|| ScenarioError::Missing("udp-upper service on gaia.cs.umass.edu".into()))?;
    let step = |step: &'static str| {
        move |error: sockets::net::ClientError| ScenarioError::Step {
            step,
            reason: error.to_string(),
        }
    };
    let mut story = String::new();

    let sentence = b"the quick brown fox";
    let mut connection = sockets::net::TcpUpperClient::connect_from(Some(client), tcp, WAIT)
        .await
        .map_err(step("TCP connect"))?;
    let reply = connection
        .exchange(sentence)
        .await
        .map_err(step("TCP exchange"))?;
    drop(connection);
    let _ = writeln!(
        story,
        "TCP: cse.nyu.edu connected to {tcp}, sent \"{}\", got \"{}\"",
        String::from_utf8_lossy(sentence),
        String::from_utf8_lossy(&reply)
    );

    let reply = sockets::net::udp_exchange_from(Some(client), udp, sentence, WAIT, 2)
        .await
        .map_err(step("UDP exchange"))?;
    let _ = writeln!(
        story,
        "UDP: cse.nyu.edu sent one datagram to {udp}, got \"{}\" (no connection set up)",
        String::from_utf8_lossy(&reply)
    );

    let stats = sockets::net::udp_ping(
        Some(client),
        udp,
        3,
        Duration::from_millis(20),
        WAIT,
        |_| {},
    )
    .await
    .map_err(step("UDP ping"))?;
    let _ = writeln!(
        story,
        "UDP ping of {udp}: {}",
        stats.to_string().replace('\n', "; ")
    );
    Ok(story)
}
