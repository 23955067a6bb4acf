//! The `applayer dns query` command: a dig-like client.

use anyhow::Context;
use dns_client::dig::{
    format_message, format_reply, format_short, format_trace_step, format_when, DigReply,
};
use dns_client::{query_full, QueryOptions};
use dns_proto::{Name, RecordType};
use dns_resolver::net::trace;
use dns_resolver::{Options, Transport};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `applayer dns query`.
#[derive(clap::Args, Debug)]
#[command(allow_hyphen_values = false)]
pub(crate) struct Args {
    /// dig-style words: `NAME [TYPE] [@SERVER] [+tcp] [+norecurse] [+trace] [+short]`.
    #[arg(value_name = "NAME [TYPE] [@SERVER] [+OPTION]", required = true)]
    words: Vec<String>,
    /// Server port.
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: Option<u16>,
    /// Root hints for +trace (default: ask the server for the root name servers, as dig does).
    #[arg(long, value_name = "FILE")]
    root_hints: Option<PathBuf>,
    /// Seconds to wait for each try.
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    timeout: u64,
}

#[derive(Debug, Default)]
struct Plan {
    name: Option<Name>,
    rtype: Option<RecordType>,
    server: Option<IpAddr>,
    /// A port given with the server (`@IP:PORT`, `@[V6]:PORT`, or kdig's `@IP#PORT`).
    server_port: Option<u16>,
    tcp: bool,
    norecurse: bool,
    trace: bool,
    short: bool,
}

fn plan(words: &[String]) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    for word in words {
        if let Some(server) = word.strip_prefix('@') {
            let (ip, port) = server_words(server)
                .map_err(|error| anyhow::anyhow!("bad server address {server:?}: {error}"))?;
            plan.server = Some(ip);
            plan.server_port = port;
        } else if let Some(option) = word.strip_prefix('+') {
            match option {
                "tcp" | "vc" => plan.tcp = true,
                "notcp" | "novc" => plan.tcp = false,
                "norecurse" | "norec" => plan.norecurse = true,
                "recurse" | "rec" => plan.norecurse = false,
                "trace" => plan.trace = true,
                "notrace" => plan.trace = false,
                "short" => plan.short = true,
                "noshort" => plan.short = false,
                other => anyhow::bail!("unknown option +{other}"),
            }
        } else if plan.rtype.is_none()
            && (plan.name.is_some() || !word.bytes().any(|byte| byte.is_ascii_lowercase()))
            && word.parse::<RecordType>().is_ok()
        {
            // dig reads a type mnemonic anywhere (`dig NS .`); a lower-case word before the
            // name is taken as the name (`a.example`).
            plan.rtype = word.parse().ok();
        } else if plan.name.is_none() {
            plan.name =
                Some(Name::parse(word, None).with_context(|| format!("bad name {word:?}"))?);
        } else if plan.rtype.is_none() {
            plan.rtype = Some(
                word.parse()
                    .with_context(|| format!("unknown type {word:?}"))?,
            );
        } else {
            anyhow::bail!("unexpected argument {word:?}");
        }
    }
    Ok(plan)
}

/// `@`'s address: `IP`, `[V6]` (no port: `-p` or 53), `IP:PORT`, `[V6]:PORT` or `IP#PORT`.
fn server_words(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let text = match text.rsplit_once('#') {
        Some((ip, port)) if !ip.contains(':') || ip.starts_with('[') => {
            format!("{ip}:{port}")
        }
        Some((ip, port)) => format!("[{ip}]:{port}"),
        None => text.to_string(),
    };
    let addr = super::socket_addr(&text, 53)?;
    Ok((addr.ip(), Some(addr.port())))
}

/// The first `nameserver` of /etc/resolv.conf, else 127.0.0.1 (as dig does).
fn default_server() -> IpAddr {
    std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split_whitespace();
                (fields.next() == Some("nameserver"))
                    .then(|| fields.next().and_then(|ip| ip.parse().ok()))
                    .flatten()
            })
        })
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn now_text() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    format_when(seconds)
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args.words)?;
    let name = plan.name.clone().unwrap_or_else(Name::root);
    let rtype = plan.rtype.unwrap_or(if plan.name.is_some() {
        RecordType::A
    } else {
        RecordType::NS
    });
    // `-p` wins over a port given with `@`, as the later word would in dig.
    let port = args.port.or(plan.server_port).unwrap_or(53);
    let server = SocketAddr::new(plan.server.unwrap_or_else(default_server), port);
    let options = QueryOptions {
        recursion_desired: !plan.norecurse,
        tcp: plan.tcp,
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..QueryOptions::default()
    };
    if plan.trace {
        return run_trace(&args, &plan, name, rtype, server, &options).await;
    }
    let reply = query_full(server, &name, rtype, &options)
        .await
        .with_context(|| format!("query to {server} failed"))?;
    if plan.short {
        print!("{}", format_short(&reply.message));
    } else {
        let dig = DigReply {
            message: &reply.message,
            size: reply.size,
            elapsed: reply.elapsed,
            server,
            tcp: reply.transport == Transport::Tcp,
        };
        print!("{}", format_reply(&args.words.join(" "), &dig, &now_text()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `+trace`: the root servers (from `--root-hints`, else asked of the server), then every step
/// of the iterative resolution.
async fn run_trace(
    args: &Args,
    plan: &Plan,
    name: Name,
    rtype: RecordType,
    server: SocketAddr,
    options: &QueryOptions,
) -> anyhow::Result<ExitCode> {
    let upstream_port = server.port();
    let hints = match &args.root_hints {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            dns_resolver::hints::parse_hints(&text, upstream_port).map_err(|errors| {
                anyhow::anyhow!(
                    "{}",
                    errors
                        .iter()
                        .map(|error| error.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?
        }
        None => {
            // As dig does: ask the server for the root's name servers, then their addresses.
            let roots = query_full(server, &Name::root(), RecordType::NS, options)
                .await
                .with_context(|| format!("cannot get the root servers from {server}"))?;
            if !plan.short {
                print!(
                    "{}",
                    format_trace_step(
                        &roots.message,
                        roots.size,
                        server,
                        &server.ip(),
                        roots.elapsed
                    )
                );
            }
            let mut hints = Vec::new();
            for record in &roots.message.answers {
                let dns_proto::Rdata::Ns(root) = &record.rdata else {
                    continue;
                };
                let mut addresses = addresses_of(&roots.message, root);
                if addresses.is_empty() {
                    addresses = root_server_addresses(server, root, options).await;
                }
                hints.extend(
                    addresses
                        .into_iter()
                        .map(|ip| (root.clone(), SocketAddr::new(ip, upstream_port))),
                );
            }
            anyhow::ensure!(
                !hints.is_empty(),
                "{server} named no root server that could be resolved"
            );
            hints
        }
    };
    let options = Options {
        root_hints: hints,
        upstream_port,
        upstream_timeout: options.timeout,
        question_timeout: options.timeout * 10,
        // The trace prints the servers' records as they come: keep the names readable.
        case_randomization: false,
        ..Options::default()
    };
    let (steps, answer) = trace(&name, rtype, options).await.context("trace failed")?;
    for step in &steps {
        match &step.reply {
            Some(reply) if !plan.short => {
                print!(
                    "{}",
                    format_trace_step(
                        reply,
                        step.size,
                        step.server,
                        &step.server_name,
                        step.elapsed
                    )
                );
            }
            Some(_) => {}
            None => println!(
                ";; no reply from {}#{}({}) for {} {}\n",
                step.server.ip(),
                step.server.port(),
                step.server_name,
                step.question.name,
                step.question.qtype
            ),
        }
    }
    if plan.short {
        print!("{}", format_short(&answer));
    } else if answer.rcode != dns_proto::Rcode::NOERROR || answer.answers.is_empty() {
        print!("{}", format_message(&answer));
    }
    Ok(ExitCode::SUCCESS)
}

/// The A and AAAA records for `owner` in a message's answer and additional sections.
fn addresses_of(message: &dns_proto::Message, owner: &Name) -> Vec<IpAddr> {
    message
        .answers
        .iter()
        .chain(&message.additional)
        .filter(|record| &record.name == owner)
        .filter_map(|record| match &record.rdata {
            dns_proto::Rdata::A(ip) => Some(IpAddr::V4(*ip)),
            dns_proto::Rdata::Aaaa(ip) => Some(IpAddr::V6(*ip)),
            _ => None,
        })
        .collect()
}

/// The addresses of a root server whose glue did not come with the root NS answer: first
/// asked of the server (a recursive server answers), then, as `dig +trace` does, resolved
/// iteratively starting at the server itself (an authoritative root server refers the
/// question down to the zone that holds the name).
async fn root_server_addresses(
    server: SocketAddr,
    root: &Name,
    options: &QueryOptions,
) -> Vec<IpAddr> {
    if let Ok(reply) = query_full(server, root, RecordType::A, options).await {
        let addresses = addresses_of(&reply.message, root);
        if !addresses.is_empty() {
            return addresses;
        }
    }
    let iterate = Options {
        root_hints: vec![(root.clone(), server)],
        upstream_port: server.port(),
        upstream_timeout: options.timeout,
        question_timeout: options.timeout * 10,
        ..Options::default()
    };
    match trace(root, RecordType::A, iterate).await {
        Ok((_, answer)) => addresses_of(&answer, root),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dig_words_are_understood() {
        let words: Vec<String> = [
            "gaia.cs.umass.edu",
            "MX",
            "@127.0.0.53",
            "+tcp",
            "+norec",
            "+short",
        ]
        .iter()
        .map(|w| w.to_string())
        .collect();
        let parsed = plan(&words).unwrap();
        assert_eq!(parsed.name.unwrap().to_string(), "gaia.cs.umass.edu.");
        assert_eq!(parsed.rtype, Some(RecordType::MX));
        assert_eq!(parsed.server, Some("127.0.0.53".parse().unwrap()));
        assert!(parsed.tcp && parsed.norecurse && parsed.short && !parsed.trace);
        assert!(plan(&["a".to_string(), "+bogus".to_string()]).is_err());
        let swapped = plan(&["NS".to_string(), ".".to_string()]).unwrap();
        assert_eq!(
            (swapped.rtype, swapped.name),
            (Some(RecordType::NS), Some(Name::root()))
        );
        assert!(plan(&["a".to_string(), "A".to_string(), "extra".to_string()]).is_err());
    }

    #[test]
    fn server_words_take_a_port() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(server_words("127.0.1.1"), Ok((ip("127.0.1.1"), None)));
        assert_eq!(server_words("::1"), Ok((ip("::1"), None)));
        assert_eq!(server_words("[::1]"), Ok((ip("::1"), None)));
        assert_eq!(
            server_words("127.0.1.1:10053"),
            Ok((ip("127.0.1.1"), Some(10053)))
        );
        assert_eq!(
            server_words("127.0.1.1#10053"),
            Ok((ip("127.0.1.1"), Some(10053)))
        );
        assert_eq!(server_words("[::1]:5353"), Ok((ip("::1"), Some(5353))));
        assert_eq!(server_words("::1#5353"), Ok((ip("::1"), Some(5353))));
        assert!(server_words("127.0.1.1:port").is_err());
        assert!(server_words("ns.example").is_err());
        let parsed = plan(&["a.example".to_string(), "@127.0.0.2:5300".to_string()]).unwrap();
        assert_eq!(parsed.server_port, Some(5300));
    }
}
