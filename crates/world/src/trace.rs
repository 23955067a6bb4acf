//! The wire timeline: every `wire` event recorded as a JSON line, and drawn back as a text
//! sequence diagram between named hosts.
//!
//! The binary installs [`layer`] in its subscriber once; nothing is written until
//! [`start_recording`] names a file, and while nothing records, `wire` events are disabled at
//! their call sites (one relaxed atomic load), so servers pay nothing for them.

use crate::World;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

/// One recorded message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireRecord {
    /// Seconds since the Unix epoch.
    pub ts: f64,
    /// Protocol, e.g. `dns`.
    pub proto: String,
    /// `send` or `recv`, seen from `local`.
    pub dir: String,
    /// The emitting side's address.
    pub local: String,
    /// The other side's address.
    pub peer: String,
    /// One-line summary of the message.
    pub summary: String,
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// How many records the current recording holds so far (scenarios mark their steps with it).
pub fn recorded() -> usize {
    WRITTEN.load(Ordering::SeqCst)
}
static SINK: Mutex<Option<std::io::LineWriter<std::fs::File>>> = Mutex::new(None);

/// The tracing layer that records `wire` events while a recording is on. Install it once, beside
/// the console layer.
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    RecorderLayer.with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
        metadata.target() == "wire" && RECORDING.load(Ordering::Relaxed)
    }))
}

/// Records wire events into `path` (appending) until the returned guard is dropped.
pub fn start_recording(path: &Path) -> std::io::Result<RecordingGuard> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    *SINK.lock().unwrap_or_else(|poison| poison.into_inner()) =
        Some(std::io::LineWriter::new(file));
    WRITTEN.store(0, Ordering::SeqCst);
    RECORDING.store(true, Ordering::Relaxed);
    tracing::callsite::rebuild_interest_cache();
    Ok(RecordingGuard { _private: () })
}

/// Stops the recording when dropped.
#[derive(Debug)]
pub struct RecordingGuard {
    _private: (),
}

impl Drop for RecordingGuard {
    fn drop(&mut self) {
        RECORDING.store(false, Ordering::Relaxed);
        let mut sink = SINK.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(mut writer) = sink.take() {
            let _ = writer.flush();
        }
    }
}

struct RecorderLayer;

#[derive(Default)]
struct Fields {
    proto: String,
    dir: String,
    local: String,
    peer: String,
    summary: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "proto" => self.proto = value,
            "dir" => self.dir = value,
            "local" => self.local = value,
            "peer" => self.peer = value,
            "summary" => self.summary = value,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for RecorderLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let record = WireRecord {
            ts: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs_f64())
                .unwrap_or(0.0),
            proto: fields.proto,
            dir: fields.dir,
            local: fields.local,
            peer: fields.peer,
            summary: fields.summary,
        };
        let Ok(line) = serde_json::to_string(&record) else {
            return;
        };
        let mut sink = SINK.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(writer) = sink.as_mut() {
            if writeln!(writer, "{line}").is_ok() {
                WRITTEN.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Reads a recording; lines that are not records (a torn last line) are skipped.
pub fn read_records(path: &Path) -> std::io::Result<Vec<WireRecord>> {
    let file = std::fs::File::open(path)?;
    let mut records = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        if let Ok(record) = serde_json::from_str::<WireRecord>(&line?) {
            records.push(record);
        }
    }
    Ok(records)
}

/// One arrow of the diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    /// Seconds since the first message.
    pub offset: f64,
    /// Sender's name.
    pub from: String,
    /// Receiver's name.
    pub to: String,
    /// Protocol.
    pub proto: String,
    /// Summary.
    pub summary: String,
}

/// Turns records into arrows: a message seen by both ends (a `send` and the matching `recv`)
/// becomes one arrow at the time it was sent; a message seen by one end only (a third-party
/// peer such as dig) becomes one arrow too. Addresses become host names where the world knows
/// them.
pub fn arrows(records: &[WireRecord], world: &World) -> Vec<Arrow> {
    const LOOKAHEAD: usize = 500;
    let mut consumed = vec![false; records.len()];
    let mut arrows = Vec::new();
    let start = records.first().map(|record| record.ts).unwrap_or(0.0);
    for (index, record) in records.iter().enumerate() {
        if consumed[index] {
            continue;
        }
        let (from, to) = if record.dir == "send" {
            let end = (index + 1 + LOOKAHEAD).min(records.len());
            if let Some(offset) = (index + 1..end).find(|&later| {
                let other = &records[later];
                !consumed[later]
                    && other.dir == "recv"
                    && other.proto == record.proto
                    && other.local == record.peer
                    && other.peer == record.local
            }) {
                consumed[offset] = true;
            }
            (&record.local, &record.peer)
        } else {
            (&record.peer, &record.local)
        };
        arrows.push(Arrow {
            offset: record.ts - start,
            from: name_of(from, world),
            to: name_of(to, world),
            proto: record.proto.clone(),
            summary: record.summary.clone(),
        });
    }
    arrows
}

fn name_of(address: &str, world: &World) -> String {
    match address.parse::<SocketAddr>() {
        Ok(socket) => world
            .host_name(socket.ip())
            .map(str::to_string)
            .unwrap_or_else(|| socket.ip().to_string()),
        Err(_) => address.to_string(),
    }
}

/// Draws arrows as a text sequence diagram: one column per host (in order of appearance), one
/// line per message, with its time offset, protocol and summary at the right.
pub fn draw(arrows: &[Arrow]) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    for arrow in arrows {
        for name in [arrow.from.as_str(), arrow.to.as_str()] {
            if !hosts.contains(&name) {
                hosts.push(name);
            }
        }
    }
    if hosts.is_empty() {
        return "(no messages recorded)\n".to_string();
    }
    let widths: Vec<usize> = hosts
        .iter()
        .map(|name| name.chars().count().max(14) + 4)
        .collect();
    let centers: Vec<usize> = widths
        .iter()
        .scan(0, |left, width| {
            let center = *left + width / 2;
            *left += width;
            Some(center)
        })
        .collect();
    let total: usize = widths.iter().sum();
    let mut out = String::new();
    let mut header = vec![' '; total];
    for (index, name) in hosts.iter().enumerate() {
        let len = name.chars().count();
        let begin = centers[index].saturating_sub(len / 2);
        for (offset, ch) in name.chars().enumerate() {
            if let Some(cell) = header.get_mut(begin + offset) {
                *cell = ch;
            }
        }
    }
    out.push_str(header.iter().collect::<String>().trim_end());
    out.push('\n');
    let lifelines = || {
        let mut line = vec![' '; total];
        for &center in &centers {
            line[center] = '|';
        }
        line
    };
    out.push_str(lifelines().iter().collect::<String>().trim_end());
    out.push('\n');
    for (number, arrow) in arrows.iter().enumerate() {
        let mut line = lifelines();
        let from = hosts
            .iter()
            .position(|name| *name == arrow.from)
            .unwrap_or(0);
        let to = hosts.iter().position(|name| *name == arrow.to).unwrap_or(0);
        let (a, b) = (centers[from], centers[to]);
        if a == b {
            // A host talking to itself: a short loop.
            for cell in line.iter_mut().skip(a + 1).take(3) {
                *cell = '-';
            }
            line[a + 4] = '+';
        } else {
            let (low, high) = (a.min(b), a.max(b));
            for cell in &mut line[low + 1..high] {
                *cell = '-';
            }
            if a < b {
                line[high - 1] = '>';
            } else {
                line[low + 1] = '<';
            }
        }
        let _ = writeln!(
            out,
            "{}  {:>2}. +{:.3}s {} {}",
            line.iter().collect::<String>().trim_end_matches(' '),
            number + 1,
            arrow.offset,
            arrow.proto,
            arrow.summary
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: f64, dir: &str, local: &str, peer: &str, summary: &str) -> WireRecord {
        WireRecord {
            ts,
            proto: "udp-upper".into(),
            dir: dir.into(),
            local: local.into(),
            peer: peer.into(),
            summary: summary.into(),
        }
    }

    fn tiny_world() -> World {
        World::parse(
            "[[host]]\nname = \"client\"\naddress = \"127.0.0.11\"\n[[host]]\nname = \"server\"\naddress = \"127.0.0.12\"\n",
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn both_ends_of_a_message_make_one_arrow() {
        let records = vec![
            record(
                10.0,
                "send",
                "127.0.0.11:5000",
                "127.0.0.12:12000",
                "\"hi\"",
            ),
            record(
                10.1,
                "recv",
                "127.0.0.12:12000",
                "127.0.0.11:5000",
                "\"hi\"",
            ),
            record(
                10.2,
                "send",
                "127.0.0.12:12000",
                "127.0.0.11:5000",
                "\"HI\"",
            ),
            record(
                10.3,
                "recv",
                "127.0.0.11:5000",
                "127.0.0.12:12000",
                "\"HI\"",
            ),
            // A third-party client the world does not know, seen by the server only.
            record(11.0, "recv", "127.0.0.12:12000", "127.0.0.1:999", "\"x\""),
        ];
        let arrows = arrows(&records, &tiny_world());
        let route: Vec<(&str, &str)> = arrows
            .iter()
            .map(|a| (a.from.as_str(), a.to.as_str()))
            .collect();
        assert_eq!(
            route,
            vec![
                ("client", "server"),
                ("server", "client"),
                ("127.0.0.1", "server")
            ]
        );
        assert!((arrows[1].offset - 0.2).abs() < 1e-9);
    }

    #[test]
    fn diagram_has_columns_and_arrows_both_ways() {
        let arrows = vec![
            Arrow {
                offset: 0.0,
                from: "client".into(),
                to: "server".into(),
                proto: "tcp-upper".into(),
                summary: "hello".into(),
            },
            Arrow {
                offset: 0.001,
                from: "server".into(),
                to: "client".into(),
                proto: "tcp-upper".into(),
                summary: "HELLO".into(),
            },
        ];
        let diagram = draw(&arrows);
        let lines: Vec<&str> = diagram.lines().collect();
        assert!(
            lines[0].contains("client") && lines[0].contains("server"),
            "{diagram}"
        );
        let client = lines[0].find("client").unwrap() + 3;
        let server = lines[0].find("server").unwrap() + 3;
        assert_eq!(lines[1].find('|'), Some(client), "{diagram}");
        assert_eq!(lines[1].rfind('|'), Some(server), "{diagram}");
        let forward = format!("|{}>|", "-".repeat(server - client - 2));
        let back = format!("|<{}|", "-".repeat(server - client - 2));
        assert_eq!(&lines[2][client..=server], forward, "{diagram}");
        assert!(
            lines[2].ends_with(" 1. +0.000s tcp-upper hello"),
            "{diagram}"
        );
        assert_eq!(&lines[3][client..=server], back, "{diagram}");
        assert!(
            lines[3].ends_with(" 2. +0.001s tcp-upper HELLO"),
            "{diagram}"
        );
    }

    #[test]
    fn recording_round_trips_through_a_file() {
        let dir = std::env::temp_dir().join(format!("applayer-trace-{}", std::process::id()));
        let path = dir.join("trace.jsonl");
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir_all(&dir).unwrap();
        let original = record(
            1.5,
            "send",
            "127.0.0.11:1",
            "127.0.0.12:2",
            "a \"quoted\" summary",
        );
        std::fs::write(
            &path,
            format!("{}\n{{torn", serde_json::to_string(&original).unwrap()),
        )
        .unwrap();
        assert_eq!(read_records(&path).unwrap(), vec![original]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
