//! The `applayer dns register` command: the registrar.

use anyhow::Context;
use dns_client::registrar::{validate, RegisterError, Registration};
use dns_proto::tsig::TsigKey;
use dns_proto::Name;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `applayer dns register`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The domain to register (`networkutopia.com`).
    #[arg(value_name = "DOMAIN")]
    domain: String,
    /// A name server: `NAME=IP` (with glue, for a server inside the domain) or `NAME`.
    #[arg(long = "ns", value_name = "NAME[=IP]", required = true)]
    name_servers: Vec<String>,
    /// The TLD's primary server, which accepts the UPDATE.
    #[arg(long, default_value = "127.0.0.1:53", value_name = "ADDR", value_parser = super::addr_parser(53))]
    tld_server: SocketAddr,
    /// The TSIG key the TLD gave the registrar: `NAME:BASE64SECRET` (HMAC-SHA256).
    #[arg(long, value_name = "NAME:BASE64SECRET")]
    key: Option<String>,
    /// The zone to update (default: the domain's parent, i.e. its TLD).
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// TTL of the NS and glue records.
    #[arg(long, default_value_t = 172_800, value_name = "SECONDS")]
    ttl: u32,
}

fn parse_name_server(text: &str) -> anyhow::Result<(Name, Option<IpAddr>)> {
    let (name, ip) = match text.split_once('=') {
        Some((name, ip)) => (
            name,
            Some(
                ip.parse::<IpAddr>()
                    .with_context(|| format!("bad address in --ns {text:?}"))?,
            ),
        ),
        None => (text, None),
    };
    let name = Name::parse(name, None).with_context(|| format!("bad name in --ns {text:?}"))?;
    Ok((name, ip))
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let domain =
        Name::parse(&args.domain, None).with_context(|| format!("bad domain {:?}", args.domain))?;
    let name_servers = args
        .name_servers
        .iter()
        .map(|text| parse_name_server(text))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut registration = Registration::new(domain, name_servers);
    registration.ttl = args.ttl;
    if let Some(zone) = &args.zone {
        registration.zone =
            Name::parse(zone, None).with_context(|| format!("bad zone {zone:?}"))?;
    }
    validate(&registration)?;
    let key = match &args.key {
        Some(text) => {
            // NAME:SECRET (as in the brief) or NAME=SECRET (as `dns serve --key` takes it;
            // base64 padding is `=`, so split at the first one).
            let (name, secret) = text
                .split_once(':')
                .or_else(|| text.split_once('='))
                .context("--key must be NAME:BASE64SECRET")?;
            Some(TsigKey::from_base64(name, secret).context("bad --key")?)
        }
        None => None,
    };
    match dns_client::register(
        args.tld_server,
        &registration,
        key.as_ref(),
        Duration::from_secs(5),
    )
    .await
    {
        Ok(()) => {
            println!(
                "registered {} in {} at {}: {} name server(s){}",
                registration.domain,
                registration.zone,
                args.tld_server,
                registration.name_servers.len(),
                if key.is_some() { ", TSIG-signed" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(RegisterError::Exists { domain }) => {
            eprintln!(
                "applayer: {domain} is already registered in {}; nothing changed",
                registration.zone
            );
            Ok(ExitCode::from(3))
        }
        Err(error) => Err(error)
            .with_context(|| format!("registering {} at {}", registration.domain, args.tld_server)),
    }
}
