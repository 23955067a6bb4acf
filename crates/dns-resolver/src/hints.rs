//! Root hints: the root servers a resolver starts from, read from a `named.root`-style file.

use dns_proto::Name;
use std::net::{IpAddr, SocketAddr};

/// A problem in a hints file, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HintsError {
    /// A line could not be read.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No address record at all.
    #[error("no root server addresses in the hints")]
    Empty,
}

/// Parses root hints in the master-file format of IANA's `named.root`:
///
/// ```text
/// .                     3600000  IN  NS  a.root-servers.test.
/// a.root-servers.test.  3600000  IN  A   127.0.0.53
/// ```
///
/// Every A/AAAA record gives one root server (its owner is the server's name); NS lines and
/// comments (`;`) are skipped; TTL and class are optional. An address may carry a port as
/// `127.0.0.53#5353` (dig's notation); otherwise `port` is used. Reports every bad line.
pub fn parse_hints(text: &str, port: u16) -> Result<Vec<(Name, SocketAddr)>, Vec<HintsError>> {
    let mut hints = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split(';').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let mut rest = &fields[1..];
        // Optional TTL and class, in either order (RFC 1035 §5.1).
        while let Some(first) = rest.first() {
            let first_upper = first.to_ascii_uppercase();
            if first.bytes().all(|byte| byte.is_ascii_digit()) || first_upper == "IN" {
                rest = &rest[1..];
            } else {
                break;
            }
        }
        let bad = |reason: String| HintsError::Line { line, reason };
        let [rtype, value] = rest else {
            errors.push(bad(format!(
                "expected `NAME [TTL] [IN] TYPE VALUE`, got {content:?}"
            )));
            continue;
        };
        match rtype.to_ascii_uppercase().as_str() {
            "NS" => continue,
            "A" | "AAAA" => {}
            other => {
                errors.push(bad(format!("unexpected record type {other}")));
                continue;
            }
        }
        let name = match Name::parse(fields[0], Some(&Name::root())) {
            Ok(name) => name,
            Err(error) => {
                errors.push(bad(format!("bad name {:?}: {error}", fields[0])));
                continue;
            }
        };
        let (ip_text, port) = match value.split_once('#') {
            Some((ip, port_text)) => match port_text.parse::<u16>() {
                Ok(port) => (ip, port),
                Err(_) => {
                    errors.push(bad(format!("bad port {port_text:?}")));
                    continue;
                }
            },
            None => (*value, port),
        };
        match ip_text.parse::<IpAddr>() {
            Ok(ip) if ip.is_ipv4() == rtype.eq_ignore_ascii_case("A") => {
                hints.push((name, SocketAddr::new(ip, port)));
            }
            _ => errors.push(bad(format!("bad {rtype} address {ip_text:?}"))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if hints.is_empty() {
        return Err(vec![HintsError::Empty]);
    }
    Ok(hints)
}

/// Writes hints back in the `named.root` format (addresses on another port than `port`
/// get dig's `#port` suffix).
pub fn format_hints(hints: &[(Name, SocketAddr)], port: u16) -> String {
    let mut out = String::new();
    let mut seen: Vec<&Name> = Vec::new();
    for (name, _) in hints {
        if !seen.contains(&name) {
            seen.push(name);
            out.push_str(&format!(".\t3600000\tIN\tNS\t{name}\n"));
        }
    }
    for (name, addr) in hints {
        let rtype = if addr.is_ipv4() { "A" } else { "AAAA" };
        let suffix = if addr.port() == port {
            String::new()
        } else {
            format!("#{}", addr.port())
        };
        out.push_str(&format!(
            "{name}\t3600000\tIN\t{rtype}\t{}{suffix}\n",
            addr.ip()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_root_style() {
        let text = "; comment\n.  3600000 IN NS A.ROOT-SERVERS.NET.\n\
                    A.ROOT-SERVERS.NET. 3600000 A 198.41.0.4\nb.root. IN 60 A 127.0.0.2#5353\n\
                    c.root. AAAA ::1\n";
        let hints = parse_hints(text, 53).unwrap();
        assert_eq!(hints.len(), 3);
        assert_eq!(
            hints[0].0,
            Name::parse("a.root-servers.net.", None).unwrap()
        );
        assert_eq!(hints[0].1, "198.41.0.4:53".parse().unwrap());
        assert_eq!(hints[1].1, "127.0.0.2:5353".parse().unwrap());
        assert_eq!(hints[2].1, "[::1]:53".parse().unwrap());
        let again = parse_hints(&format_hints(&hints, 53), 53).unwrap();
        assert_eq!(again, hints);
    }

    #[test]
    fn reports_every_bad_line() {
        let errors = parse_hints(
            "a. A 1.2.3\nb. MX 10 c.\nc. A 10.0.0.1\nd. AAAA 10.0.0.1\n",
            53,
        )
        .unwrap_err();
        let lines: Vec<usize> = errors
            .iter()
            .map(|error| match error {
                HintsError::Line { line, .. } => *line,
                HintsError::Empty => 0,
            })
            .collect();
        assert_eq!(lines, vec![1, 2, 4]);
        assert_eq!(
            parse_hints("; nothing\n", 53).unwrap_err(),
            vec![HintsError::Empty]
        );
    }
}
