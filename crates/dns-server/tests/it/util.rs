//! Shared helpers: the test zone, queries, temporary folders, tool discovery.

use dns_proto::{Edns, Message, Name, Question, RecordType};
use dns_server::{Authority, Handled, RequestInfo, Transport, Zone, ZonePolicy};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The test zone file (every answer path).
pub(crate) const EXAMPLE_ZONE: &str = include_str!("../../test-data/example.com.zone");

pub(crate) fn name(text: &str) -> Name {
    text.parse().unwrap()
}

pub(crate) fn example_zone() -> Zone {
    Zone::parse_str(EXAMPLE_ZONE, &name("example.com"), "example.com.zone").unwrap()
}

pub(crate) fn authority(policy: ZonePolicy) -> Authority {
    let mut authority = Authority::new();
    authority.insert_zone(example_zone(), policy);
    authority
}

pub(crate) fn query(qname: &str, qtype: RecordType) -> Message {
    Message::query(4711, Question::new(name(qname), qtype), false)
}

pub(crate) fn query_edns(qname: &str, qtype: RecordType, udp_payload: u16) -> Message {
    let mut query = query(qname, qtype);
    query.edns = Some(Edns {
        udp_payload,
        ..Edns::default()
    });
    query
}

pub(crate) fn udp_info() -> RequestInfo {
    RequestInfo {
        peer: "127.0.0.1".parse().unwrap(),
        transport: Transport::Udp,
        now: 1_800_000_000,
    }
}

/// Sends `bytes` through `handle` over UDP and decodes the single reply.
pub(crate) fn exchange(authority: &Authority, bytes: &[u8], info: &RequestInfo) -> Message {
    match authority.handle(bytes, info) {
        Handled::Reply(reply) => Message::decode(&reply).unwrap(),
        other => panic!("expected one reply, got {other:?}"),
    }
}

/// A fresh empty folder under the system temp dir.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dns-server-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The path of a third-party tool, or `None` (after printing "skipped") when it is missing
/// and CI is unset. With CI set, a missing tool fails the test.
pub(crate) fn tool(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} not found, and CI is set"
        );
        println!("skipped: {program} not found");
    }
    found
}
