//! The two files of request routing, parsed from text: the clusters (TOML) and the coverage
//! zones (`PREFIX CLUSTER [LAT LON]` lines). Every problem is reported with its line.
//!
//! Clusters file:
//!
//! ```toml
//! [[cluster]]
//! name = "deep-east"           # what coverage lines and logs call it
//! addresses = ["127.0.20.1", "127.0.20.2", "::1"]   # answered as A / AAAA records
//! lat = 40.71                  # where the cluster is
//! lon = -74.01
//! capacity = 1000              # optional (default 1000), in the unit of its X-Load header
//! health_port = 80             # optional (default 80): where the monitor sends its GET
//! ```
//!
//! Coverage file, one entry a line, `#` starts a comment:
//!
//! ```text
//! 127.0.20.0/24  deep-east                # coverage zone: clients here go to deep-east
//! 127.0.21.0/24  deep-west  37.77 -122.42 # ... and they are at these coordinates
//! 127.0.30.0/24  -          48.86 2.35    # no coverage cluster, only a location
//! 2001:db8::/32  deep-east
//! ```

use crate::geo::GeoPoint;
use crate::prefix::{Prefix, PrefixTable};
use std::fmt;
use std::net::IpAddr;
use toml_edit::{Item, Value};

/// The default capacity of a cluster.
pub const DEFAULT_CAPACITY: f64 = 1000.0;

/// One cluster of CDN servers.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// Its name (unique).
    pub name: String,
    /// The members' addresses, answered as A and AAAA records.
    pub addresses: Vec<IpAddr>,
    /// Where it is.
    pub location: GeoPoint,
    /// How much load it takes, in the unit its health responses report (`X-Load`).
    pub capacity: f64,
    /// The TCP port of the members' HTTP health checks.
    pub health_port: u16,
}

/// What a coverage line says about a client prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// The cluster serving the prefix (an index into the clusters), if one is named.
    pub cluster: Option<usize>,
    /// Where the prefix's clients are, if given.
    pub location: Option<GeoPoint>,
    /// The line it came from.
    pub line: usize,
}

/// Problems in a file, each with its line (1-based; 0 for the file as a whole).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file's name as given.
    pub file: String,
    /// (line, message), in file order.
    pub problems: Vec<(usize, String)>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (line, message)) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{line}: {message}", self.file)?;
        }
        Ok(())
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> usize {
    let offset = span.map_or(0, |span| span.start).min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn span_of(item: &Item) -> Option<std::ops::Range<usize>> {
    match item {
        Item::Value(value) => value.span(),
        Item::Table(table) => table.span(),
        Item::ArrayOfTables(tables) => tables.span(),
        Item::None => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    value
        .as_float()
        .or_else(|| value.as_integer().map(|n| n as f64))
}

/// Parses a clusters file (see the module docs).
pub fn parse_clusters(text: &str, file: &str) -> Result<Vec<Cluster>, ConfigErrors> {
    let mut problems = Vec::new();
    let document = match toml_edit::Document::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let line = line_of(text, error.span());
            problems.push((line, format!("not valid TOML: {}", error.message())));
            return Err(ConfigErrors {
                file: file.to_string(),
                problems,
            });
        }
    };
    let mut clusters: Vec<Cluster> = Vec::new();
    for (key, item) in document.as_table().iter() {
        if key != "cluster" {
            problems.push((
                line_of(text, span_of(item)),
                format!("unknown key `{key}` (expected `[[cluster]]`)"),
            ));
        }
    }
    match document.as_table().get("cluster") {
        Some(Item::ArrayOfTables(tables)) => {
            for table in tables.iter() {
                let table_line = line_of(text, table.span());
                let mut problem = |item: Option<&Item>, message: String| {
                    let line = item
                        .and_then(span_of)
                        .map_or(table_line, |span| line_of(text, Some(span)));
                    problems.push((line, message));
                };
                let mut name = None;
                let mut addresses = Vec::new();
                let (mut lat, mut lon) = (None, None);
                let mut capacity = DEFAULT_CAPACITY;
                let mut health_port = 80;
                for (key, item) in table.iter() {
                    let value = item.as_value();
                    match key {
                        "name" => match value.and_then(Value::as_str) {
                            Some(text) if !text.is_empty() && !text.contains(char::is_whitespace) && text != "-" => {
                                name = Some(text.to_string())
                            }
                            _ => problem(Some(item), "`name` must be a non-empty string without spaces (and not `-`)".into()),
                        },
                        "addresses" => match value.and_then(Value::as_array) {
                            Some(array) => {
                                for element in array.iter() {
                                    match element.as_str().map(str::parse::<IpAddr>) {
                                        Some(Ok(address)) => addresses.push(address),
                                        _ => problem(Some(item), match element.as_str() {
                                            Some(text) => format!("`addresses`: {text:?} is not an IP address"),
                                            None => "`addresses` must hold strings".to_string(),
                                        }),
                                    }
                                }
                            }
                            None => problem(Some(item), "`addresses` must be an array of IP address strings".into()),
                        },
                        "lat" => match value.and_then(number) {
                            Some(n) if (-90.0..=90.0).contains(&n) => lat = Some(n),
                            _ => problem(Some(item), "`lat` must be a number from -90 to 90".into()),
                        },
                        "lon" => match value.and_then(number) {
                            Some(n) if (-180.0..=180.0).contains(&n) => lon = Some(n),
                            _ => problem(Some(item), "`lon` must be a number from -180 to 180".into()),
                        },
                        "capacity" => match value.and_then(number) {
                            Some(n) if n > 0.0 && n.is_finite() => capacity = n,
                            _ => problem(Some(item), "`capacity` must be a positive number".into()),
                        },
                        "health_port" => match value.and_then(Value::as_integer) {
                            Some(n) if (1..=65535).contains(&n) => health_port = n as u16,
                            _ => problem(Some(item), "`health_port` must be a port number (1-65535)".into()),
                        },
                        other => problem(Some(item), format!("unknown key `{other}` (expected name, addresses, lat, lon, capacity, health_port)")),
                    }
                }
                let Some(name) = name else {
                    problem(None, "a `[[cluster]]` needs a `name`".into());
                    continue;
                };
                if addresses.is_empty() {
                    problem(None, format!("cluster {name} has no `addresses`"));
                }
                if clusters.iter().any(|known| known.name == name) {
                    problem(None, format!("cluster {name} is defined twice"));
                }
                let location = match (lat, lon) {
                    (Some(lat), Some(lon)) => GeoPoint::new(lat, lon),
                    _ => {
                        problem(None, format!("cluster {name} needs `lat` and `lon`"));
                        None
                    }
                };
                if let (Some(location), false) = (location, addresses.is_empty()) {
                    clusters.push(Cluster {
                        name,
                        addresses,
                        location,
                        capacity,
                        health_port,
                    });
                }
            }
        }
        Some(item) => problems.push((
            line_of(text, span_of(item)),
            "`cluster` must be an array of tables (`[[cluster]]`)".into(),
        )),
        None => {}
    }
    if clusters.is_empty() && problems.is_empty() {
        problems.push((0, "no `[[cluster]]` defined".into()));
    }
    problems.sort_by_key(|(line, _)| *line);
    if problems.is_empty() {
        Ok(clusters)
    } else {
        Err(ConfigErrors {
            file: file.to_string(),
            problems,
        })
    }
}

/// Parses a coverage file (see the module docs) against the clusters it names.
pub fn parse_coverage(
    text: &str,
    file: &str,
    clusters: &[Cluster],
) -> Result<PrefixTable<Coverage>, ConfigErrors> {
    let mut problems = Vec::new();
    let mut table = PrefixTable::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("");
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 2 && fields.len() != 4 {
            problems.push((
                line,
                format!(
                    "expected `PREFIX CLUSTER` or `PREFIX CLUSTER LAT LON`, found {} fields",
                    fields.len()
                ),
            ));
            continue;
        }
        let prefix = match fields[0].parse::<Prefix>() {
            Ok(prefix) => Some(prefix),
            Err(error) => {
                problems.push((line, error.to_string()));
                None
            }
        };
        let cluster = match fields[1] {
            "-" => Ok(None),
            name => match clusters.iter().position(|cluster| cluster.name == name) {
                Some(index) => Ok(Some(index)),
                None => {
                    problems.push((line, format!("unknown cluster {name:?}")));
                    Err(())
                }
            },
        };
        let location = if fields.len() == 4 {
            match (fields[2].parse::<f64>(), fields[3].parse::<f64>()) {
                (Ok(lat), Ok(lon)) => match GeoPoint::new(lat, lon) {
                    Some(point) => Ok(Some(point)),
                    None => {
                        problems.push((line, format!("coordinates {lat} {lon} are out of range")));
                        Err(())
                    }
                },
                _ => {
                    problems.push((
                        line,
                        format!(
                            "{:?} {:?} are not a latitude and longitude",
                            fields[2], fields[3]
                        ),
                    ));
                    Err(())
                }
            }
        } else {
            Ok(None)
        };
        let (Some(prefix), Ok(cluster), Ok(location)) = (prefix, cluster, location) else {
            continue;
        };
        if cluster.is_none() && location.is_none() {
            problems.push((line, "`-` without coordinates says nothing".into()));
            continue;
        }
        if let Some(previous) = table.insert(
            prefix,
            Coverage {
                cluster,
                location,
                line,
            },
        ) {
            problems.push((
                line,
                format!("{prefix} is already on line {}", previous.line),
            ));
        }
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(ConfigErrors {
            file: file.to_string(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTERS: &str = r#"
[[cluster]]
name = "deep-east"
addresses = ["127.0.20.1", "127.0.20.2"]
lat = 40.71
lon = -74.01

[[cluster]]
name = "deep-west"
addresses = ["127.0.21.1", "::1"]
lat = 37.77
lon = -122.42
capacity = 50
health_port = 18080
"#;

    #[test]
    fn reads_a_clusters_file() {
        let clusters = parse_clusters(CLUSTERS, "clusters.toml").unwrap();
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[1].name, "deep-west");
        assert_eq!(clusters[1].addresses[1], "::1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (clusters[1].capacity, clusters[1].health_port),
            (50.0, 18080)
        );
        assert_eq!(
            (clusters[0].capacity, clusters[0].health_port),
            (DEFAULT_CAPACITY, 80)
        );
    }

    #[test]
    fn reports_every_bad_cluster_line() {
        let text = "[[cluster]]\nname = \"a\"\naddresses = [\"300.1.1.1\"]\nlat = 100\nlon = 0\ncolour = 1\n[[cluster]]\naddresses = [\"127.0.0.1\"]\n";
        let errors = parse_clusters(text, "c.toml").unwrap_err();
        let lines: Vec<usize> = errors.problems.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 1, 3, 4, 6, 7], "{errors}");
        assert!(errors.to_string().starts_with("c.toml:1: "), "{errors}");
        let errors = parse_clusters("[[cluster]\n", "c.toml").unwrap_err();
        assert!(errors.to_string().contains("not valid TOML"), "{errors}");
    }

    #[test]
    fn reads_a_coverage_file_and_reports_every_bad_line() {
        let clusters = parse_clusters(CLUSTERS, "clusters.toml").unwrap();
        let text = "# KingCDN coverage\n127.0.20.0/24 deep-east\n127.0.21.0/24 deep-west 37.7 -122.4 # west\n127.0.30.0/24 - 48.86 2.35\n2001:db8::/32 deep-east\n";
        let table = parse_coverage(text, "coverage", &clusters).unwrap();
        assert_eq!(table.len(), 4);
        let (_, entry) = table.longest_match("127.0.21.7".parse().unwrap()).unwrap();
        assert_eq!((entry.cluster, entry.line), (Some(1), 3));
        let bad = "127.0.20.0/24 nowhere\n127.0.20.1/24 deep-east\n\n10.0.0.0/8 deep-east 95 0\n10.0.0.0/8\n127.0.0.0/8 -\n127.0.20.0/24 deep-west\n";
        let errors = parse_coverage(bad, "coverage", &clusters).unwrap_err();
        let lines: Vec<usize> = errors.problems.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 2, 4, 5, 6], "{errors}");
    }
}
