//! The `applayer dns serve` command: the authoritative server.

use anyhow::Context;
use dns_proto::Name;
use dns_server::{Acl, DnsServerConfig, RrlConfig, TsigKey, ZoneConfig, ZoneSource};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `applayer dns serve`.
///
/// Example: `applayer dns serve --zone umass.edu.zone --zone com=tld/com.db
/// --listen 127.0.0.1:5300 --key registrar=BASE64 --allow-update com=registrar
/// --data-dir ./applayer-data/dns`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A zone file, as FILE or ORIGIN=FILE (without ORIGIN: the file's `$ORIGIN`, else its
    /// name: `umass.edu.zone`, `db.umass.edu`). Repeat for more zones.
    #[arg(long = "zone", value_name = "[ORIGIN=]FILE")]
    zones: Vec<String>,

    /// A secondary zone pulled by AXFR from its primary: ORIGIN=ADDR (for example
    /// `umass.edu=127.0.0.2:53`). Refreshed per the SOA and on NOTIFY.
    #[arg(long = "secondary", value_name = "ORIGIN=ADDR")]
    secondaries: Vec<String>,

    /// Address to serve on, UDP and TCP (repeatable). Default 127.0.0.1:5300, so no root is
    /// needed; use 127.0.0.1:53 as root for a real port-53 server.
    #[arg(long = "listen", value_name = "ADDR", value_parser = super::addr_parser(5300))]
    listen: Vec<SocketAddr>,

    /// A TSIG key (HMAC-SHA256): NAME=BASE64SECRET (repeatable).
    #[arg(long = "key", value_name = "NAME=SECRET")]
    keys: Vec<String>,

    /// Allow DNS UPDATE to a zone from a key name or an address: ZONE=KEY|IP (repeatable).
    #[arg(long = "allow-update", value_name = "ZONE=WHO")]
    allow_update: Vec<String>,

    /// Allow AXFR of a zone to a key name or an address: ZONE=KEY|IP (repeatable).
    #[arg(long = "allow-transfer", value_name = "ZONE=WHO")]
    allow_transfer: Vec<String>,

    /// Send NOTIFY for a zone to a secondary when it changes: ZONE=ADDR (repeatable).
    #[arg(long = "notify", value_name = "ZONE=ADDR")]
    notify: Vec<String>,

    /// Turn round-robin rotation off for a zone (repeatable).
    #[arg(long = "no-round-robin", value_name = "ZONE")]
    no_round_robin: Vec<String>,

    /// Where updated zones are persisted, so a restart keeps dynamic updates.
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Response rate limiting: identical responses per second per client /24.
    #[arg(long = "rrl", value_name = "PER_SECOND")]
    rrl: Option<u32>,

    /// With --rrl: every Nth limited response is sent truncated instead of dropped (0: drop all).
    #[arg(long = "rrl-slip", value_name = "N", default_value_t = 2)]
    rrl_slip: u32,
}

fn split_pair<'a>(text: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    text.split_once('=')
        .with_context(|| format!("{what} {text:?}: expected LEFT=RIGHT"))
}

fn parse_name(text: &str) -> anyhow::Result<Name> {
    text.parse::<Name>()
        .map_err(|error| anyhow::anyhow!("bad name {text:?}: {error}"))
}

/// Builds the server configuration from the command line.
fn config(args: Args) -> anyhow::Result<DnsServerConfig> {
    let mut config = DnsServerConfig {
        reload_on_sighup: true,
        data_dir: args.data_dir,
        ..DnsServerConfig::default()
    };
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    for key in &args.keys {
        let (name, secret) = split_pair(key, "--key")?;
        let key = TsigKey::from_base64(name, secret)
            .with_context(|| format!("--key {name}: bad name or base64 secret"))?;
        config.keys.push(key);
    }
    for zone in &args.zones {
        let zone_config = match zone.split_once('=') {
            Some((origin, path)) => ZoneConfig::file(path, Some(parse_name(origin)?)),
            None => ZoneConfig::file(zone, None),
        };
        config.zones.push(zone_config);
    }
    for secondary in &args.secondaries {
        let (origin, primary) = split_pair(secondary, "--secondary")?;
        let primary = super::socket_addr(primary, 53)
            .map_err(|error| anyhow::anyhow!("--secondary {secondary}: {error}"))?;
        config
            .zones
            .push(ZoneConfig::secondary(parse_name(origin)?, primary));
    }
    anyhow::ensure!(
        !config.zones.is_empty(),
        "no zones: give at least one --zone FILE or --secondary ORIGIN=ADDR"
    );
    // Options naming a zone need its origin; a file zone's origin is known once loaded, so
    // resolve it now the same way the server will.
    let mut origins = Vec::new();
    for zone in &config.zones {
        origins.push(match &zone.source {
            ZoneSource::File { path, origin } => match origin {
                Some(origin) => origin.clone(),
                None => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    dns_server::store::guess_origin(path, &text).with_context(|| {
                        format!(
                            "{}: cannot tell the zone's origin; write --zone ORIGIN=FILE",
                            path.display()
                        )
                    })?
                }
            },
            ZoneSource::Secondary { origin, .. } => origin.clone(),
            _ => anyhow::bail!("unexpected zone source"),
        });
    }
    let zone_index = |origin: &str| -> anyhow::Result<usize> {
        let origin = parse_name(origin)?;
        origins
            .iter()
            .position(|known| known == &origin)
            .with_context(|| format!("{origin} is not one of the served zones"))
    };
    let key_names: Vec<Name> = config.keys.iter().map(|key| key.name.clone()).collect();
    let add_to_acl = |acl: &mut Acl, who: &str| -> anyhow::Result<()> {
        if let Ok(address) = who.parse::<IpAddr>() {
            acl.addresses.push(address);
            return Ok(());
        }
        let name = parse_name(who)?;
        anyhow::ensure!(
            key_names.contains(&name),
            "{who} is neither an address nor a --key name"
        );
        acl.keys.push(name);
        Ok(())
    };
    for entry in &args.allow_update {
        let (zone, who) = split_pair(entry, "--allow-update")?;
        let index = zone_index(zone)?;
        add_to_acl(&mut config.zones[index].policy.allow_update, who)?;
    }
    for entry in &args.allow_transfer {
        let (zone, who) = split_pair(entry, "--allow-transfer")?;
        let index = zone_index(zone)?;
        add_to_acl(&mut config.zones[index].policy.allow_transfer, who)?;
    }
    for entry in &args.notify {
        let (zone, target) = split_pair(entry, "--notify")?;
        let index = zone_index(zone)?;
        let target = super::socket_addr(target, 53)
            .map_err(|error| anyhow::anyhow!("--notify {entry}: {error}"))?;
        config.zones[index].notify.push(target);
    }
    for zone in &args.no_round_robin {
        let index = zone_index(zone)?;
        config.zones[index].policy.round_robin = false;
    }
    if let Some(rate) = args.rrl {
        config.rrl = Some(RrlConfig {
            responses_per_second: rate,
            slip: args.rrl_slip,
        });
    }
    Ok(config)
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config(args)?;
    let zones = config.zones.len();
    let server = dns_server::bind(config)
        .await
        .context("starting the authoritative server")?;
    for address in server.local_addrs() {
        tracing::info!(%address, zones, "authoritative DNS serving on UDP and TCP");
    }
    server
        .run(netio::shutdown_on_signals())
        .await
        .context("serving DNS")?;
    Ok(ExitCode::SUCCESS)
}
