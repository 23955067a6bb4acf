//! Repository rules that review would miss: every Rust file says what it holds,
//! ARCHITECTURE.md's list of crate edges is the manifests' truth, and the crates that say they
//! are sans-IO do no I/O.

use crate::repo_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name.starts_with("target-")) {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let root = repo_root();
    let mut files = Vec::new();
    for top in ["crates", "fuzz", "xtask"] {
        rust_files(&root.join(top), &mut files);
    }
    assert!(
        files.len() > 10,
        "found only {} files under {}",
        files.len(),
        root.display()
    );
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these files do not start with a `//!` line saying what they hold:\n{}",
        offenders.join("\n")
    );
}

/// The workspace crates a manifest's `[dependencies]` names (dev- and build-dependencies not
/// counted): keys like `web.workspace = true` or `web = { path = ... }`.
fn manifest_edges(text: &str, crates: &BTreeSet<String>) -> BTreeSet<String> {
    let mut in_dependencies = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if !in_dependencies || line.starts_with('#') || line.is_empty() {
            continue;
        }
        let key = line
            .split(['=', '.'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if crates.contains(key) {
            found.insert(key.to_string());
        }
    }
    found
}

#[test]
fn architecture_edges_match_the_manifests() {
    let root = repo_root();
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(crates.len() > 10, "{crates:?}");
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("read");
    let block = architecture
        .split("```edges\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has an ```edges block");
    let mut drawn: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in block.lines().filter(|line| !line.trim().is_empty()) {
        let (name, deps) = line
            .split_once("->")
            .unwrap_or_else(|| panic!("not `crate -> deps`: {line:?}"));
        let deps: BTreeSet<String> = deps.split_whitespace().map(str::to_string).collect();
        assert!(
            drawn.insert(name.trim().to_string(), deps).is_none(),
            "{name} is listed twice"
        );
    }
    let mut problems = Vec::new();
    for name in &crates {
        let manifest = std::fs::read_to_string(root.join("crates").join(name).join("Cargo.toml"))
            .expect("read");
        let actual = manifest_edges(&manifest, &crates);
        match drawn.get(name) {
            None => problems.push(format!("{name}: not in the edges list")),
            Some(listed) if *listed != actual => problems.push(format!(
                "{name}: listed {listed:?}, the manifest has {actual:?}"
            )),
            Some(_) => {}
        }
    }
    for name in drawn.keys().filter(|name| !crates.contains(*name)) {
        problems.push(format!("{name}: listed, but there is no crates/{name}"));
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's edges disagree with the manifests:\n{}",
        problems.join("\n")
    );
}

#[test]
fn manifest_edges_read_both_spellings() {
    let crates: BTreeSet<String> = ["web", "netio", "tls"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let text = "[package]\nname = \"x\"\n[dependencies]\nweb.workspace = true\nnetio = { path = \"../netio\" }\nserde = \"1\"\n[dev-dependencies]\ntls.workspace = true\n";
    let found: Vec<String> = manifest_edges(text, &crates).into_iter().collect();
    assert_eq!(found, ["netio", "web"]);
}

/// The crates whose docs promise sans-IO: no sockets, files, clocks, tasks or randomness.
const SANS_IO: &[&str] = &[
    "dns-proto",
    "h2-proto",
    "http-proto",
    "http-cache",
    "smtp-proto",
    "pop3-proto",
    "imap-proto",
    "webmail",
    "bt-proto",
    "dash-proto",
];

/// What doing I/O looks like in code (tests, after `#[cfg(test)]`, and doc lines are not
/// read).
const IO_MARKS: &[&str] = &[
    "tokio::",
    "netio::",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::fs",
    "File::open",
    "Instant::now()",
    "SystemTime::now()",
    "rand::",
    "std::thread::spawn",
];

#[test]
fn sans_io_crates_do_no_io() {
    let root = repo_root();
    let mut problems = Vec::new();
    for name in SANS_IO {
        let dir = root.join("crates").join(name);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        let deps: BTreeSet<String> = ["tokio", "netio", "rand", "rusqlite"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for dep in manifest_edges(&manifest, &deps) {
            problems.push(format!("{name}: depends on {dep}"));
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            if file.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (number, line) in code.lines().enumerate() {
                let trimmed = line.trim_start();
                if trimmed.starts_with("//") {
                    continue;
                }
                if let Some(mark) = IO_MARKS.iter().find(|mark| line.contains(*mark)) {
                    problems.push(format!(
                        "{}:{}: {mark}",
                        file.strip_prefix(&root).unwrap_or(&file).display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "sans-IO crates doing I/O:\n{}",
        problems.join("\n")
    );
}
