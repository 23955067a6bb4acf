//! Nothing accepted is lost: messages are sent in a loop while `applayer mail serve` is killed
//! with SIGKILL at random moments and restarted; every message that got its `250` after DATA
//! must reach the mailbox in the end (at-least-once: duplicates allowed, losses not).

use crate::scratch;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HOST: &str = "127.77.3.1";
const SMTP: &str = "127.77.3.1:2525";

/// A pseudo-random number from the standard library's per-process hash keys.
fn random(seed: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(seed);
    hasher.finish()
}

fn start(dir: &Path) -> Child {
    let listen = |port: u16| format!("{HOST}:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_applayer"))
        .args([
            "mail",
            "serve",
            "--domain",
            "hamburger.edu",
            "--data-dir",
            "data",
        ])
        .args(["--user", "bob:burgers", "--hostname", "mail.hamburger.edu"])
        .args(["--smtp", &listen(2525), "--submission", &listen(2587)])
        .args(["--submissions", &listen(2465), "--pop3", &listen(2110)])
        .args(["--pop3s", &listen(2995)])
        .args(["--imap", &listen(2143), "--imaps", &listen(2993)])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run applayer");
    let started = Instant::now();
    while TcpStream::connect(SMTP).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the mail server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Reads one (possibly multi-line) reply; its code, or None when the connection broke.
fn reply(reader: &mut BufReader<TcpStream>) -> Option<u16> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line.len() < 4 {
            return None;
        }
        if line.as_bytes()[3] == b' ' {
            return line[..3].parse().ok();
        }
    }
}

/// One SMTP session sending messages numbered from `next` until the server goes away or
/// `stop` is set; the numbers of the messages that got `250` after DATA go to `accepted`.
fn session(next: &mut u64, stop: &AtomicBool, accepted: &Mutex<BTreeSet<u64>>) {
    let Ok(stream) = TcpStream::connect(SMTP) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    if reply(&mut reader) != Some(220) {
        return;
    }
    if writer.write_all(b"EHLO crash.test\r\n").is_err() || reply(&mut reader) != Some(250) {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        let n = *next;
        *next += 1;
        let commands = b"MAIL FROM:<alice@crepes.fr>\r\nRCPT TO:<bob@hamburger.edu>\r\nDATA\r\n";
        if writer.write_all(commands).is_err()
            || reply(&mut reader) != Some(250)
            || reply(&mut reader) != Some(250)
            || reply(&mut reader) != Some(354)
        {
            return;
        }
        let body = format!(
            "From: <alice@crepes.fr>\r\nTo: <bob@hamburger.edu>\r\nSubject: crash-token-{n}-end\r\n\r\n{}\r\n.\r\n",
            "Bonjour Bob. ".repeat(1 + (n % 50) as usize)
        );
        if writer.write_all(body.as_bytes()).is_err() {
            return;
        }
        match reply(&mut reader) {
            Some(250) => {
                accepted.lock().unwrap().insert(n);
            }
            _ => return,
        }
    }
}

/// The message numbers in Bob's Maildir (`new/` and `cur/`).
fn delivered(dir: &Path) -> BTreeSet<u64> {
    let mailbox = dir.join("data/mail/hamburger.edu/bob");
    let mut found = BTreeSet::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(mailbox.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for piece in text.split("crash-token-").skip(1) {
                if let Some((number, _)) = piece.split_once("-end") {
                    if let Ok(n) = number.parse() {
                        found.insert(n);
                    }
                }
            }
        }
    }
    found
}

#[test]
fn sigkill_at_random_moments_loses_no_accepted_message() {
    let dir = scratch("mail-crash");
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let mut next = 0;
    const ROUNDS: u64 = 8;
    for round in 0..ROUNDS {
        let mut child = start(&dir);
        let stop = Arc::new(AtomicBool::new(false));
        // Two clients at once, so kills land in the middle of group commits too.
        let clients: Vec<_> = (0..2u64)
            .map(|client| {
                let (stop, accepted) = (stop.clone(), accepted.clone());
                let mut next = next + client * 1_000_000;
                std::thread::spawn(move || {
                    let started = Instant::now();
                    while !stop.load(Ordering::SeqCst)
                        && started.elapsed() < Duration::from_secs(10)
                    {
                        session(&mut next, &stop, &accepted);
                    }
                })
            })
            .collect();
        // 50 to 549 ms into the round: during sessions, fsyncs, deliveries.
        std::thread::sleep(Duration::from_millis(50 + random(round) % 500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            client.join().unwrap();
        }
        next += 10_000_000;
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() as u64 >= ROUNDS,
        "too few messages accepted to test anything: {}",
        accepted.len()
    );
    // The last start recovers the queue and delivers what was accepted and not yet delivered.
    let mut child = start(&dir);
    let started = Instant::now();
    let missing = loop {
        let missing: Vec<u64> = accepted.difference(&delivered(&dir)).copied().collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "{} messages accepted over {ROUNDS} kills, {} delivered",
        accepted.len(),
        delivered(&dir).len()
    );
    assert!(
        missing.is_empty(),
        "{} of {} accepted messages were lost: {:?}",
        missing.len(),
        accepted.len(),
        &missing[..missing.len().min(20)]
    );
}
