//! One module per command; each owns its clap arguments and an async `run` function.
//! `dns.rs` and `web.rs` only dispatch to their sub-commands.

pub(crate) mod cdn;
pub(crate) mod cdn_dns;
pub(crate) mod cdn_push;
pub(crate) mod dns;
pub(crate) mod dns_query;
pub(crate) mod dns_register;
pub(crate) mod dns_resolve;
pub(crate) mod dns_serve;
pub(crate) mod mail;
pub(crate) mod mail_fetch;
pub(crate) mod proxy;
pub(crate) mod scenario;
pub(crate) mod socket;
pub(crate) mod torrent;
pub(crate) mod video;
pub(crate) mod web;
pub(crate) mod web_get;
pub(crate) mod web_serve;
pub(crate) mod world;

/// A command-line number of seconds as a duration: a clear error, not a panic, for negative,
/// infinite or NaN values.
pub(crate) fn seconds(value: f64, what: &str) -> anyhow::Result<std::time::Duration> {
    use anyhow::Context;
    std::time::Duration::try_from_secs_f64(value)
        .with_context(|| format!("{what} must be a non-negative number of seconds"))
}

/// Reads `IP`, `IP:PORT`, `[V6]` or `[V6]:PORT` (a bare IPv6 address too), with `default_port`
/// when none is given: the one syntax of every address option (`--dns 127.0.5.3`,
/// `@127.0.1.1:10053`, `--tld-server [::1]:53`).
pub(crate) fn socket_addr(text: &str, default_port: u16) -> Result<std::net::SocketAddr, String> {
    use std::net::{IpAddr, SocketAddr};
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Some(inside) = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        if let Ok(ip) = inside.parse::<std::net::Ipv6Addr>() {
            return Ok(SocketAddr::new(IpAddr::V6(ip), default_port));
        }
    }
    if let Some((host, port)) = text.rsplit_once(':') {
        if host.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(format!("`{port}` is not a port number (0 to 65535)"));
        }
    }
    Err(format!(
        "`{text}` is not an address: give IP, IP:PORT or [IPv6]:PORT"
    ))
}

/// A clap value parser for [`socket_addr`] with a default port.
pub(crate) fn addr_parser(
    default_port: u16,
) -> impl Fn(&str) -> Result<std::net::SocketAddr, String> + Clone + Send + Sync + 'static {
    move |text: &str| socket_addr(text, default_port)
}

#[cfg(test)]
mod tests {
    use super::socket_addr;

    #[test]
    fn addresses_take_a_default_port() {
        let ok = |text: &str| socket_addr(text, 53).unwrap().to_string();
        assert_eq!(ok("127.0.5.3"), "127.0.5.3:53");
        assert_eq!(ok("127.0.5.3:10053"), "127.0.5.3:10053");
        assert_eq!(ok(" 127.0.0.1 "), "127.0.0.1:53");
        assert_eq!(ok("::1"), "[::1]:53");
        assert_eq!(ok("[::1]"), "[::1]:53");
        assert_eq!(ok("[2001:db8::1]:5353"), "[2001:db8::1]:5353");
        for bad in [
            "",
            "localhost",
            "127.0.0.1:99999",
            "127.0.0.1:x",
            "[::1",
            "1.2.3",
        ] {
            let error = socket_addr(bad, 53).unwrap_err();
            assert!(!error.is_empty(), "{bad}");
        }
        assert!(socket_addr("127.0.0.1:99999", 53)
            .unwrap_err()
            .contains("not a port"));
    }
}
