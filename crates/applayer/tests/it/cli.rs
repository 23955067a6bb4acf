//! The command line end to end: version, argument errors, the world and the sockets scenario.

use crate::{applayer, scratch};
use std::path::Path;

#[test]
fn version_and_help() {
    let dir = scratch("version");
    let out = applayer(&dir, &["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("applayer "));
    let out = applayer(&dir, &["world", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["up", "check", "example", "trace", "status", "down"] {
        assert!(
            help.contains(command),
            "world --help lacks {command}:\n{help}"
        );
    }
}

#[test]
fn bad_arguments_give_one_line_and_exit_2() {
    let dir = scratch("badargs");
    for args in [
        &["world", "bogus"][..],
        &["socket", "udp-server", "--loss", "2"],
        &["socket", "tcp-client", "not-an-address"],
        &["--no-such-flag"],
    ] {
        let out = applayer(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("applayer: "), "{args:?}: {stderr}");
    }
}

#[test]
fn torrent_create_then_info_and_magnet() {
    let dir = scratch("torrent");
    std::fs::create_dir_all(dir.join("share/sub")).unwrap();
    std::fs::write(dir.join("share/a.txt"), vec![b'a'; 40_000]).unwrap();
    std::fs::write(dir.join("share/sub/b.txt"), b"bee").unwrap();
    let out = applayer(
        &dir,
        &[
            "torrent",
            "create",
            "share",
            "-t",
            "http://127.0.0.1:6969/announce",
            "-s",
            "16K",
            "-o",
            "share.torrent",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(made.contains("2 files, 3 pieces of 16.00 KiB"), "{made}");
    let out = applayer(&dir, &["torrent", "info", "share.torrent"]);
    let info = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    for line in [
        "  Name: share",
        "  Piece Count: 3",
        "  Total Size: 40.00 kB",
        "  http://127.0.0.1:6969/announce",
        "  share/a.txt (40.00 kB)",
        "  share/sub/b.txt (0.00 kB)",
    ] {
        assert!(
            info.lines().any(|l| l == line),
            "missing {line:?} in\n{info}"
        );
    }
    let hash = info
        .lines()
        .find_map(|l| l.strip_prefix("  Hash: "))
        .expect("a hash line")
        .to_string();
    assert!(made.contains(&hash));
    let out = applayer(&dir, &["torrent", "info", "--magnet", "share.torrent"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("magnet:?xt=urn:btih:{hash}&dn=share&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce")
    );
    // A file that is not a torrent: one clear line, exit 1.
    std::fs::write(dir.join("junk.torrent"), b"d4:spami1e").unwrap();
    let out = applayer(&dir, &["torrent", "info", "junk.torrent"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not bencode"), "{stderr}");
}

#[test]
fn invalid_world_file_reports_every_error() {
    let dir = scratch("badworld");
    std::fs::write(
        dir.join("w.toml"),
        "[[host]]\nname = \"a\"\naddress = \"8.8.8.8\"\n[[host]]\nname = \"b\"\naddress = \"127.0.0.9\"\n  [[host.service]]\n  kind = \"gopher\"\n",
    )
    .unwrap();
    let out = applayer(&dir, &["world", "check", "--world", "w.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("w.toml:3: address 8.8.8.8 is not a loopback address"),
        "{stderr}"
    );
    assert!(
        stderr.contains("w.toml:8: unknown service kind `gopher`"),
        "{stderr}"
    );
}

#[test]
fn world_check_passes_and_sockets_scenario_draws_its_exchanges() {
    let dir = scratch("world");
    let out = applayer(
        &dir,
        &["world", "check", "--port-offset", "21000", "--block", "202"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PASS  gaia.cs.umass.edu"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // The terminal shows the PASS lines and a summary; the servers' log lines go to a file.
    let passes = stdout
        .lines()
        .filter(|line| line.starts_with("PASS"))
        .count();
    assert_eq!(
        stdout.lines().last(),
        Some(format!("{passes} passed, 0 failed").as_str()),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("INFO"),
        "log lines on the terminal:\n{stderr}"
    );
    let log = std::fs::read_to_string(dir.join("applayer-data/check.log")).unwrap();
    assert!(log.contains("INFO") && log.contains("zone loaded"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in the log file");

    let out = applayer(
        &dir,
        &[
            "scenario",
            "run",
            "sockets",
            "--port-offset",
            "21000",
            "--block",
            "202",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("got \"THE QUICK BROWN FOX\""), "{stdout}");
    let header = stdout
        .lines()
        .find(|line| line.starts_with(' ') && line.contains("cse.nyu.edu"))
        .unwrap_or_default();
    assert!(header.contains("gaia.cs.umass.edu"), "{stdout}");
    assert!(
        stdout.contains(">|   1. +") && stdout.contains("|<-"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tcp-upper \"the quick brown fox\""),
        "{stdout}"
    );
    assert!(stdout.contains("udp-ping \"PING 1"), "{stdout}");

    // The recording stays in the data dir for `world trace`.
    let out = applayer(
        &dir,
        &[
            "world",
            "trace",
            "--file",
            "applayer-data/scenario-sockets.jsonl",
            "--proto",
            "udp-upper",
            "--block",
            "202",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert_eq!(
        stdout
            .lines()
            .filter(|line| line.contains("udp-upper"))
            .count(),
        2,
        "{stdout}"
    );
}

#[test]
fn world_up_status_and_down() {
    let dir = scratch("up");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_applayer"))
        .args(["world", "up", "--port-offset", "22000", "--block", "203"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.join("applayer-data/world.pid");
    let started = std::time::Instant::now();
    while !pid_file.exists() {
        assert!(started.elapsed().as_secs() < 20, "world did not come up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = applayer(&dir, &["world", "status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("up (pid"),
        "{stdout}"
    );
    assert!(stdout.contains("a.root-servers.net"), "{stdout}");
    let out = applayer(&dir, &["world", "down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "world up exited with {status}");
    let out = applayer(&dir, &["world", "status"]);
    assert_eq!(out.status.code(), Some(3));
}

/// Runs `applayer scenario run NAME` in its own address block and returns its output.
fn scenario(name: &str, block: &str) -> String {
    let dir = scratch(&format!("scenario-{name}"));
    let out = applayer(
        &dir,
        &[
            "scenario",
            "run",
            name,
            "--block",
            block,
            "--port-offset",
            "23000",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn dns_scenario_draws_the_iterative_chain_then_the_cache() {
    let out = scenario("dns", "204");
    let steps: Vec<&str> = out.split("\n\n").collect();
    // Step 1: the eight messages of the textbook: host -> local -> root -> TLD -> authoritative.
    let first = out.split("2. Same query again").next().unwrap();
    for host in [
        "dns.nyu.edu",
        "a.root-servers.net",
        "a.edu-servers.net",
        "dns.umass.edu",
    ] {
        assert!(first.contains(host), "step 1 lacks {host}:\n{out}");
    }
    assert!(
        first.contains("   8. +"),
        "step 1 has not 8 messages:\n{out}"
    );
    assert!(
        !first.contains("   9. +"),
        "step 1 has more than 8 messages:\n{out}"
    );
    assert!(first.contains("NOERROR 127.204.3.10"), "{out}");
    // Step 2: answered from the cache, two messages, no root.
    let second = out
        .split("2. Same query again")
        .nth(1)
        .unwrap()
        .split("3. Another")
        .next()
        .unwrap();
    assert!(
        second.contains("   2. +") && !second.contains("   3. +"),
        "{second}"
    );
    assert!(!second.contains("a.root-servers.net"), "{second}");
    // Step 3: the root is bypassed.
    let third = out.split("3. Another").nth(1).unwrap();
    assert!(
        third.contains("a.edu-servers.net") && !third.contains("a.root-servers.net"),
        "{third}"
    );
    assert!(steps.len() > 3);
}

#[test]
fn web_scenario_counts_connections_and_round_trips() {
    let out = scenario("web", "205");
    assert!(
        out.contains("11 objects, 12568 bytes, 11 TCP connection(s), 22 round trips"),
        "{out}"
    );
    assert!(
        out.contains("11 objects, 12568 bytes, 1 TCP connection(s), 12 round trips"),
        "{out}"
    );
    assert!(out.contains("1 TCP connection(s), 3 round trips"), "{out}");
    assert!(out.contains("http GET /someDepartment/pic10.jpg"), "{out}");
}

#[test]
fn cookies_scenario_sets_then_recognises_the_id() {
    let out = scenario("cookies", "206");
    assert!(out.contains("Set-Cookie: id="), "{out}");
    assert!(out.contains("page: Welcome, new visitor"), "{out}");
    assert!(out.contains("page: Welcome back, visitor"), "{out}");
}

#[test]
fn web_cache_scenario_shows_miss_hit_304_and_200() {
    let out = scenario("web-cache", "207");
    for (step, verdict) in [
        ("1.", "X-Cache: MISS"),
        ("2.", "X-Cache: HIT"),
        ("3.", "X-Cache: REVALIDATED"),
        ("4.", "X-Cache: MISS"),
    ] {
        let section = out.split(&format!("\n{step} ")).nth(1).unwrap_or_default();
        let first_line = section.lines().nth(1).unwrap_or_default();
        assert!(
            first_line.contains(verdict),
            "step {step} expected {verdict}:\n{out}"
        );
    }
    assert!(out.contains("http 304 Not Modified"), "{out}");
}

#[test]
fn registrar_scenario_makes_a_new_domain_resolve() {
    let out = scenario("registrar", "208");
    let before = out.split("\n2. ").next().unwrap();
    assert!(
        before.contains("for www.networkutopia.com: NXDOMAIN"),
        "{out}"
    );
    assert!(out.contains("dns UPDATE SOA? com."), "{out}");
    let after = out.split("\n3. ").nth(1).unwrap_or_default();
    assert!(after.contains("NOERROR 127.208.8.10"), "{out}");
    assert!(after.contains("dns1.networkutopia.com"), "{out}");
}

/// Kills a child process when dropped, so a failing test leaves no server behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `applayer dns serve` with one zone file on `listen`.
fn dns_serve(dir: &Path, zone_file: &str, origin: &str, text: &str, listen: &str) -> Killed {
    std::fs::write(dir.join(zone_file), text).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_applayer"))
        .args(["dns", "serve", "--zone"])
        .arg(format!("{origin}={}", dir.join(zone_file).display()))
        .args(["--listen", listen])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Killed(child)
}

/// `+trace` from a root server that gives no address for its own name (the name is in a zone
/// below the root, with no glue in the root zone): the trace resolves the name iteratively from
/// that server, as `dig +trace` does, and goes on.
#[test]
fn trace_resolves_root_server_names_that_come_without_glue() {
    let dir = scratch("trace-noglue");
    let port = 24_053;
    let root = dns_serve(
        &dir,
        "root.zone",
        ".",
        "$TTL 3600\n@ SOA a.root.test. admin.test. 1 3600 600 604800 60\n\
         @ NS a.root.test.\ntest. NS ns1.test.\nns1.test. A 127.0.24.2\n",
        &format!("127.0.24.1:{port}"),
    );
    let tld = dns_serve(
        &dir,
        "test.zone",
        "test",
        "$TTL 3600\n@ SOA ns1.test. admin.test. 1 3600 600 604800 60\n\
         @ NS ns1.test.\nns1 A 127.0.24.2\na.root A 127.0.24.1\nwww A 127.0.24.80\n",
        &format!("127.0.24.2:{port}"),
    );
    let server = format!("@127.0.24.1:{port}");
    let mut out = applayer(&dir, &["dns", "query", "www.test", "+trace", &server]);
    // The servers may still be loading their zones.
    for _ in 0..50 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        out = applayer(&dir, &["dns", "query", "www.test", "+trace", &server]);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("from 127.0.24.1#24053(a.root.test.)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("www.test.\t3600\tIN\tA\t127.0.24.80"),
        "{stdout}"
    );
    drop((root, tld));
}

/// Seed §2.3: Alice's message goes through her server, the MX lookup and Bob's server.
#[test]
fn mail_scenario_relays_alice_to_bob_by_mx() {
    let out = scenario("mail", "209");
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    assert!(out.contains("dns MX? hamburger.edu."), "{out}");
    assert!(out.contains("smtp AUTH PLAIN <redacted>"), "{out}");
    assert!(out.contains("smtp EHLO mail.crepes.fr"), "{out}");
    // Alice's two submissions and the two relays, each with STARTTLS.
    assert_eq!(
        out.matches("smtp 220 2.0.0 Ready to start TLS").count(),
        4,
        "{out}"
    );
    assert!(out.contains("and put it in"), "{out}");
    // The world's zones publish crepes.fr's DKIM key and SPF policy; Bob's server checks both.
    assert!(
        out.contains("Authentication-Results: mail.hamburger.edu;"),
        "{out}"
    );
    assert!(out.contains("dkim=pass"), "{out}");
    assert!(out.contains("header.d=crepes.fr"), "{out}");
    assert!(out.contains("spf=pass"), "{out}");
    // Bob pulls it with POP3 (STLS, keep), the message folded into one line.
    assert!(
        out.contains("Bob's user agent downloads his mail with POP3"),
        "{out}"
    );
    assert!(out.contains("  C: STLS\n"), "{out}");
    assert!(out.contains("  C: PASS ********\n"), "{out}");
    assert!(out.contains("lines of the message)\n"), "{out}");
    assert!(out.contains("pop3 RETR 1"), "{out}");
    assert!(!out.contains("C: PASS burgers"), "{out}");
    // Then with IMAP: downloaded (kept on the server), found by SEARCH, moved to a folder.
    assert!(out.contains("reads it with IMAP"), "{out}");
    assert!(out.contains("C: a2 STARTTLS"), "{out}");
    assert!(
        out.contains("UID FETCH 1:* (UID FLAGS BODY.PEEK[])"),
        "{out}"
    );
    assert!(out.contains("S: * SEARCH 1\n"), "{out}");
    assert!(out.contains("C: a7 UID MOVE 1 \"Crepes\""), "{out}");
    assert!(out.contains("OK MOVE completed"), "{out}");
    // And on the web mail page: a session cookie, the folder, the message.
    assert!(out.contains("on the web mail page (HTTP)"), "{out}");
    assert!(
        out.contains("/login (user=bob, password ********) -> 303"),
        "{out}"
    );
    assert!(
        out.contains("/folder?f=Crepes (cookie sent) -> 200"),
        "{out}"
    );
    assert!(out.contains("http POST /login"), "{out}");
    assert!(!out.contains("password=burgers"), "{out}");
    // Part two: Bob's server down, the message waits with its retry time, then is delivered.
    assert!(out.contains("mail.hamburger.edu goes down"), "{out}");
    assert!(
        out.contains("could not connect; the message stays queued"),
        "{out}"
    );
    // The retry is due a minute after the failed try: "in 1m", or "in 5Ns" when the
    // listing comes a second or more after it.
    assert!(
        out.lines().any(|line| line.ends_with("  alice@crepes.fr")
            && (line.contains(" in 1m ") || line.contains(" in 5"))),
        "{out}"
    );
    assert!(
        out.contains("bob@hamburger.edu (connect to mail.hamburger.edu["),
        "{out}"
    );
    assert!(out.contains("mail.hamburger.edu comes back"), "{out}");
    assert!(
        out.contains("(ok 1 entries due now) retried at once"),
        "{out}"
    );
    let header = out
        .lines()
        .find(|line| {
            line.starts_with("  mail.crepes.fr")
                && line.contains("mail.hamburger.edu")
                && !line.contains('|')
        })
        .unwrap_or_default();
    assert!(header.contains("dns.hamburger.edu"), "{out}");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// `mail send` composes a MIME message with an attachment, submits it over implicit TLS with
/// AUTH and prints the seed's `S:`/`C:` dialogue with `-v`; `mail queue` lists the message
/// waiting for a next hop that is down, `--flush` retries it, `--delete` drops it.
#[test]
fn mail_send_with_attachment_and_the_queue_commands() {
    let dir = scratch("mail-queue");
    let mail = |args: &[&str]| {
        let out = applayer(&dir, args);
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_applayer"))
        .args([
            "mail",
            "serve",
            "--domain",
            "crepes.fr",
            "--data-dir",
            "crepes",
            "--user",
            "alice:pw",
            "--smtp",
            "127.77.0.1:2525",
            "--submission",
            "127.77.0.1:2587",
            "--submissions",
            "127.77.0.1:2465",
            "--pop3",
            "127.77.0.1:2110",
            "--pop3s",
            "127.77.0.1:2995",
            "--imap",
            "127.77.0.1:2143",
            "--imaps",
            "127.77.0.1:2993",
            "--route",
            // Nobody listens there: the message stays queued.
            "hamburger.edu=127.77.0.2:2525",
            // Made at start (it does not exist yet), then signs Alice's message.
            "--dkim-key",
            "crepes.fr:s1:dkim.key",
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(child);
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect("127.77.0.1:2465").is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(dir.join("recette.pdf"), b"%PDF-1.4 crepes").unwrap();
    let (code, out) = mail(&[
        "mail",
        "send",
        "--server",
        "127.77.0.1:2465",
        "--tls",
        "--cafile",
        "crepes/ca/ca.pem",
        "--tls-name",
        "mail.crepes.fr",
        "--auth",
        "alice:pw",
        "--from",
        "alice@crepes.fr",
        "--to",
        "bob@hamburger.edu",
        "--subject",
        "recette",
        "--body",
        "Voilà.\n.dot",
        "--attach",
        "recette.pdf",
        "-v",
    ]);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "S: 220 mail.crepes.fr",
        "C: EHLO localhost",
        "C: MAIL FROM:<alice@crepes.fr>",
        "C: RCPT TO:<bob@hamburger.edu>",
        "C: DATA",
        "C: Content-Type: application/pdf",
        "C: ..dot",
        "C: .",
        "sent <bob@hamburger.edu>: 250 2.0.0 Ok: queued as ",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let key = std::fs::read_to_string(dir.join("dkim.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    let signed = walk(&dir.join("crepes").join("queue"))
        .into_iter()
        .filter_map(|path| std::fs::read(path).ok())
        .any(|data| {
            let text = String::from_utf8_lossy(&data);
            text.contains("DKIM-Signature:")
                && text.contains("d=crepes.fr")
                && text.contains("s=s1")
        });
    assert!(signed, "no signed message in the queue");
    // The relay has failed once by now (connection refused) and waits minutes to retry.
    let started = std::time::Instant::now();
    let listing = loop {
        let (code, out) = mail(&["mail", "queue", "--data-dir", "crepes"]);
        assert_eq!(code, Some(0), "{out}");
        if out.contains("Connection refused")
            || started.elapsed() > std::time::Duration::from_secs(10)
        {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(listing.contains("alice@crepes.fr"), "{listing}");
    assert!(
        listing.contains("bob@hamburger.edu (connect to"),
        "{listing}"
    );
    assert!(listing.contains("-- 2 Kbytes in 1 Request."), "{listing}");
    let id = listing
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (code, out) = mail(&["mail", "queue", "--data-dir", "crepes", "--flush"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok 1 entries due now"), "{out}");
    // The flushed attempt may be in flight: delete answers busy then; try again.
    let started = std::time::Instant::now();
    loop {
        let (code, out) = mail(&["mail", "queue", "--data-dir", "crepes", "--delete", &id]);
        if code == Some(0) {
            assert!(out.contains(&format!("ok {id} deleted")), "{out}");
            break;
        }
        assert!(out.contains("busy"), "{out}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_, out) = mail(&["mail", "queue", "--data-dir", "crepes"]);
    assert!(out.contains("Mail queue is empty"), "{out}");
    let (code, out) = mail(&["mail", "queue", "--data-dir", "crepes", "--delete", &id]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no such entry"), "{out}");
}

#[test]
fn p2p_scenario_trades_pieces_between_peers() {
    let out = scenario("p2p", "210");
    assert!(
        out.contains("1. The seed registers with the tracker"),
        "{out}"
    );
    assert!(out.contains("2. Four peers join and trade pieces"), "{out}");
    // Each peer got all 8 pieces, each from someone; the seed's uplink is slow, so some came
    // from other peers.
    let mut from_peers = 0;
    for name in ["alice", "bob", "carol", "dave"] {
        let line = out
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no pieces line for {name}:\n{out}"));
        let pieces: Vec<&str> = line.split_whitespace().skip(1).collect();
        assert_eq!(pieces.len(), 8, "{line}");
        let mut indexes: Vec<&str> = pieces
            .iter()
            .map(|p| p.split('←').next().unwrap())
            .collect();
        indexes.sort_unstable();
        assert_eq!(indexes, ["0", "1", "2", "3", "4", "5", "6", "7"], "{line}");
        from_peers += pieces.iter().filter(|p| !p.ends_with("←seed")).count();
    }
    assert!(from_peers > 0, "every piece came from the seed:\n{out}");
    assert!(out.contains("bittorrent piece "), "{out}");
    assert!(out.contains("bittorrent handshake"), "{out}");
    assert!(out.contains("GET /announce?info_hash="), "{out}");
    // The drawing leaves out the haves and requests.
    assert!(
        !out.lines()
            .any(|line| line.contains("bittorrent have ") && !line.contains("have all")),
        "{out}"
    );
    assert!(!out.contains("bittorrent request "), "{out}");
}

/// Whether ffmpeg is on the PATH; under CI it must be.
fn has_ffmpeg() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("ffmpeg").is_file()));
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffmpeg not found (required when CI=true)"
        );
        eprintln!("skipped: ffmpeg not found");
    }
    found
}

#[test]
fn video_scenario_routes_viewers_to_clusters_and_fails_over() {
    if !has_ffmpeg() {
        return;
    }
    let out = scenario("video", "211");
    let step = |number: usize| {
        let start = out
            .find(&format!("\n{number}. "))
            .unwrap_or_else(|| panic!("no step {number}:\n{out}"));
        let end = out[start + 1..]
            .find(&format!("\n{}. ", number + 1))
            .map_or(out.len(), |end| start + 1 + end);
        &out[start..end]
    };
    // The name is an alias of KingCDN's, whose server picks the cluster in NYU's network.
    let resolved = step(2);
    assert!(
        resolved.contains("NOERROR CNAME a1105.kingcdn.com., A 127.211.10.1"),
        "{resolved}"
    );
    assert!(resolved.contains("cluster enter-deep"), "{resolved}");
    for host in ["dns.nyu.edu", "dns.netcinema.com", "dns.kingcdn.com"] {
        assert!(resolved.contains(host), "step 2 lacks {host}:\n{resolved}");
    }
    // The first viewer's segments miss at the edges; the throughput rule adapts to the drop.
    let played = step(3);
    assert!(played.contains("X-Cache: MISS"), "{played}");
    assert!(played.contains("played to the end"), "{played}");
    assert!(!played.contains(" 0 switch(es)"), "{played}");
    assert!(played.contains("www.netcinema.com"), "{played}");
    // The second viewer gets the other cluster.
    let second = step(4);
    assert!(
        second.contains("A 127.211.10.2") && !second.contains("A 127.211.10.1,"),
        "{second}"
    );
    // The deep cluster goes down: NYU is answered the other cluster, and plays from its cache.
    let failover = step(5);
    assert!(failover.contains("A 127.211.10.2"), "{failover}");
    let replay = step(6);
    assert!(replay.contains("X-Cache: HIT"), "{replay}");
    assert!(replay.contains("played to the end"), "{replay}");
    // The health monitor's probes are left out of the drawings.
    assert!(!out.contains("http GET /health.txt"), "{out}");
}
