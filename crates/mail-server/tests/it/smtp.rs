//! Two mail servers on loopback, crepes.fr and hamburger.edu, driven by real clients
//! (Python's smtplib, swaks): submission with AUTH, relay to the next hop, Maildir delivery,
//! refusals, bounces and retries.

use crate::scratch;
use mail_server::{Listener, ListenerKind, MailConfig, Retry};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts a server on its own thread and runtime; returns its addresses by kind.
pub(crate) fn start(config: MailConfig) -> (Vec<(SocketAddr, ListenerKind)>, netio::Shutdown) {
    let shutdown = netio::Shutdown::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = mail_server::bind(config).await.unwrap();
            tx.send(server.local_addrs()).unwrap();
            server.run(stop).await.unwrap();
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).unwrap(), shutdown)
}

pub(crate) fn addr(addrs: &[(SocketAddr, ListenerKind)], kind: ListenerKind) -> SocketAddr {
    addrs.iter().find(|(_, k)| *k == kind).unwrap().0
}

pub(crate) fn config(host: &str, domain: &str, dir: &Path) -> MailConfig {
    let mut config = MailConfig::new(host, &[domain.to_string()], dir.to_path_buf());
    config.listeners = vec![
        Listener {
            addr: "127.0.0.1:0".parse().unwrap(),
            kind: ListenerKind::Smtp,
        },
        Listener {
            addr: "127.0.0.1:0".parse().unwrap(),
            kind: ListenerKind::Submission,
        },
    ];
    config.retry = Retry {
        min_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(1),
        lifetime: Duration::from_secs(600),
        delay_warning: None,
    };
    config
}

/// The files of a Maildir's `new/`, waiting up to 10 s for `count` of them.
pub(crate) fn wait_for_mail(maildir: &Path, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let mut texts: Vec<(PathBuf, String)> = std::fs::read_dir(maildir.join("new"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        (
                            e.path(),
                            std::fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if texts.len() >= count || started.elapsed() > Duration::from_secs(10) {
            texts.sort();
            return texts.into_iter().map(|(_, text)| text).collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn python(script: &str) -> Option<(bool, String)> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .ok()?;
    Some((
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    ))
}

pub(crate) fn tool_missing(name: &str) -> bool {
    let missing = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|out| !out.status.success())
        .unwrap_or(true);
    if missing {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("skipped: {name} is not installed");
    }
    missing
}

#[test]
fn alice_sends_to_bob_through_both_servers() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("alice-bob");
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.aliases.push(("info".into(), vec!["bob".into()]));
    let (hamburger_addrs, hamburger_stop) = start(hamburger);
    let mut crepes = config("mail.crepes.fr", "crepes.fr", &dir.join("crepes"));
    crepes.users.push(("alice".into(), "alicepw".into()));
    crepes.routes.push((
        "hamburger.edu".into(),
        addr(&hamburger_addrs, ListenerKind::Smtp),
    ));
    let (crepes_addrs, crepes_stop) = start(crepes);
    let submission = addr(&crepes_addrs, ListenerKind::Submission);

    // Python's smtplib: EHLO, AUTH PLAIN, a message to Bob, to an alias, and to nobody.
    let script = format!(
        r#"
import smtplib
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "alice@crepes.fr"
msg["To"] = "bob@hamburger.edu"
msg["Subject"] = "crepes"
msg.set_content("Hi Bob,\n.a line starting with a dot\nAlice\n")
with smtplib.SMTP("{ip}", {port}) as s:
    s.ehlo("alice-laptop.crepes.fr")
    assert s.has_extn("pipelining") and s.has_extn("8bitmime"), s.esmtp_features
    try:
        s.send_message(msg, "alice@crepes.fr", ["bob@hamburger.edu"])
        raise SystemExit("sent without AUTH")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 530, e
    s.login("alice", "alicepw")
    refused = s.send_message(msg, "alice@crepes.fr", ["bob@hamburger.edu", "info@hamburger.edu", "nobody@hamburger.edu"])
    assert refused == {{}}, refused
    try:
        s.send_message(msg, "carol@crepes.fr", ["bob@hamburger.edu"])
        raise SystemExit("sent as somebody else")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 553, e
print("ok")
"#,
        ip = submission.ip(),
        port = submission.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");

    // Bob gets two copies (direct and through the alias); the unknown user bounces to Alice.
    let bob = dir.join("hamburger/mail/hamburger.edu/bob");
    let mail = wait_for_mail(&bob, 2);
    assert_eq!(mail.len(), 2, "{mail:?}");
    for text in &mail {
        assert!(
            text.starts_with("Return-Path: <alice@crepes.fr>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Received: from alice-laptop.crepes.fr"),
            "{text}"
        );
        assert!(
            text.contains("by mail.crepes.fr (applayer) with ESMTPA"),
            "{text}"
        );
        assert!(
            text.contains("by mail.hamburger.edu (applayer) with ESMTP"),
            "{text}"
        );
        assert!(
            text.contains("\r\n.a line starting with a dot\r\n"),
            "{text}"
        );
        assert!(text.contains("Subject: crepes"), "{text}");
        // smtplib's message had neither; the submission server added them (RFC 6409 §8).
        assert!(text.contains("\r\nMessage-ID: <"), "{text}");
        assert!(text.contains("@mail.crepes.fr>\r\nDate: "), "{text}");
    }
    let alice = dir.join("crepes/mail/crepes.fr/alice");
    let bounces = wait_for_mail(&alice, 1);
    assert_eq!(bounces.len(), 1, "{bounces:?}");
    let bounce = &bounces[0];
    assert!(bounce.contains("Return-Path: <>"), "{bounce}");
    assert!(bounce.contains("multipart/report"), "{bounce}");
    assert!(
        bounce.contains("Final-Recipient: rfc822; nobody@hamburger.edu"),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.1.1"), "{bounce}");
    // Every entry left the queues.
    let started = Instant::now();
    while std::fs::read_dir(dir.join("crepes/queue/active"))
        .unwrap()
        .count()
        > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "crepes' queue did not drain"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    hamburger_stop.trigger();
    crepes_stop.trigger();
}

#[test]
fn no_open_relay_and_swaks_delivers() {
    if tool_missing("swaks") {
        return;
    }
    let dir = scratch("relay");
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    let (addrs, stop) = start(hamburger);
    let smtp = addr(&addrs, ListenerKind::Smtp);
    let server = format!("{}:{}", smtp.ip(), smtp.port());
    let swaks = |args: &[&str]| {
        let output = Command::new("swaks")
            .args([
                "--server",
                &server,
                "--helo",
                "client.example",
                "--timeout",
                "10",
            ])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    // To somebody elsewhere, from outside: refused.
    let (code, out) = swaks(&[
        "--from",
        "mallory@evil.example",
        "--to",
        "victim@elsewhere.example",
    ]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("554 5.7.1"), "{out}");
    // An unknown local user: 550 5.1.1.
    let (_, out) = swaks(&["--from", "a@b.example", "--to", "nobody@hamburger.edu"]);
    assert!(out.contains("550 5.1.1"), "{out}");
    // Pipelined, to Bob: queued, then in his Maildir.
    let (code, out) = swaks(&[
        "--from",
        "alice@crepes.fr",
        "--to",
        "bob@hamburger.edu",
        "--pipeline",
        "--header",
        "Subject: via swaks",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    let mail = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 1);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("Subject: via swaks"), "{}", mail[0]);
    // bob+Sent@ lands in his Sent folder (Maildir++ `.Sent/`), which every mailbox has;
    // bob+nosuch@ names no folder and goes to the INBOX (senders make no folders).
    for (to, subject) in [
        ("bob+sent@hamburger.edu", "to a folder"),
        ("bob+nosuch@hamburger.edu", "detail"),
    ] {
        let header = format!("Subject: {subject}");
        let (code, out) = swaks(&["--from", "alice@crepes.fr", "--to", to, "--header", &header]);
        assert_eq!(code, Some(0), "{out}");
    }
    let sent = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob/.Sent"), 1);
    assert!(sent[0].contains("Subject: to a folder"), "{}", sent[0]);
    assert!(
        sent[0].contains("Delivered-To: bob+sent@hamburger.edu"),
        "{}",
        sent[0]
    );
    let inbox = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 2);
    assert!(
        inbox.iter().any(|text| text.contains("Subject: detail")),
        "{inbox:?}"
    );
    assert!(!dir
        .join("hamburger/mail/hamburger.edu/bob/.nosuch")
        .exists());
    stop.trigger();
}

#[test]
fn a_deferred_message_is_retried_until_the_next_hop_answers() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("retry");
    // Reserve a port for hamburger.edu, then leave it closed for the first attempts.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hop = reserved.local_addr().unwrap();
    drop(reserved);
    let mut crepes = config("mail.crepes.fr", "crepes.fr", &dir.join("crepes"));
    crepes.users.push(("alice".into(), "alicepw".into()));
    crepes.routes.push(("hamburger.edu".into(), hop));
    // Warn at the first deferral (a world scaled to seconds; Postfix's delay_warning_time).
    crepes.retry.delay_warning = Some(Duration::ZERO);
    let (crepes_addrs, crepes_stop) = start(crepes);
    let submission = addr(&crepes_addrs, ListenerKind::Submission);
    let script = format!(
        r#"
import smtplib
with smtplib.SMTP("{ip}", {port}) as s:
    s.login("alice", "alicepw")
    s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"], b"Subject: later\r\n\r\nretry me\r\n")
"#,
        ip = submission.ip(),
        port = submission.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    // The first attempt finds nobody: the entry stays, with the reason in its state.
    let started = Instant::now();
    let state_dir = dir.join("crepes/queue/state");
    loop {
        let states: Vec<String> = std::fs::read_dir(&state_dir)
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        if states.iter().any(|state| state.contains("pending connect")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no deferral recorded: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.listeners = vec![Listener {
        addr: hop,
        kind: ListenerKind::Smtp,
    }];
    let (_, hamburger_stop) = start(hamburger);
    let mail = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 1);
    assert_eq!(mail.len(), 1, "the retry did not deliver");
    assert!(mail[0].contains("retry me"));
    // Alice was told once, while it waited, that it is delayed and still being retried.
    let warnings = wait_for_mail(&dir.join("crepes/mail/crepes.fr/alice"), 1);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("Action: delayed"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("Final-Recipient: rfc822; bob@hamburger.edu"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("Will-Retry-Until: "),
        "{}",
        warnings[0]
    );
    crepes_stop.trigger();
    hamburger_stop.trigger();
}

/// Both servers with certificates from one CA: Alice's client uses STARTTLS on 587 (AUTH is
/// offered only after it) and implicit TLS on 465; crepes.fr relays to hamburger.edu with
/// STARTTLS, verifying its certificate.
#[test]
fn starttls_submission_port_465_and_tls_between_servers() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("tls");
    let ca = tls::Ca::ephemeral("test world CA").unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.tls = Some(
        tls::server_config(
            vec![ca.issue(&["mail.hamburger.edu", "hamburger.edu"]).unwrap()],
            &[],
        )
        .unwrap(),
    );
    let (hamburger_addrs, hamburger_stop) = start(hamburger);
    let mut crepes = config("mail.crepes.fr", "crepes.fr", &dir.join("crepes"));
    crepes.users.push(("alice".into(), "alicepw".into()));
    crepes.listeners.push(Listener {
        addr: "127.0.0.1:0".parse().unwrap(),
        kind: ListenerKind::Submissions,
    });
    crepes.tls = Some(
        tls::server_config(
            vec![ca.issue(&["mail.crepes.fr", "127.0.0.1"]).unwrap()],
            &[],
        )
        .unwrap(),
    );
    crepes.client_tls = Some(tls::client_config(&[ca.cert_der()], &[]).unwrap());
    crepes.routes.push((
        "hamburger.edu".into(),
        addr(&hamburger_addrs, ListenerKind::Smtp),
    ));
    let (crepes_addrs, crepes_stop) = start(crepes);
    let submission = addr(&crepes_addrs, ListenerKind::Submission);
    let submissions = addr(&crepes_addrs, ListenerKind::Submissions);
    let script = format!(
        r#"
import smtplib, ssl
context = ssl.create_default_context(cafile="{ca}")
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.ehlo("alice-laptop")
    assert s.has_extn("starttls"), s.esmtp_features
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    s.starttls(context=context)
    s.ehlo("alice-laptop")
    assert s.has_extn("auth") and not s.has_extn("starttls"), s.esmtp_features
    s.login("alice", "alicepw")
    s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"], b"Subject: over starttls\r\n\r\nsecret crepes\r\n")
with smtplib.SMTP_SSL("127.0.0.1", {port465}, context=context) as s:
    s.login("alice", "alicepw")
    s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"], b"Subject: over 465\r\n\r\nimplicit\r\n")
print("ok")
"#,
        ca = dir.join("ca.pem").display(),
        port = submission.port(),
        port465 = submissions.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let mail = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 2);
    assert_eq!(mail.len(), 2, "{mail:?}");
    for text in &mail {
        assert!(
            text.contains("by mail.crepes.fr (applayer) with ESMTPSA"),
            "{text}"
        );
        assert!(
            text.contains("by mail.hamburger.edu (applayer) with ESMTPS id"),
            "{text}"
        );
    }
    crepes_stop.trigger();
    hamburger_stop.trigger();
}

/// The published SMTP smuggling payloads (SEC Consult, CVE-2023-51764/51765/51766): a
/// message whose data holds a false end (`<LF>.<LF>`, `<LF>.<CRLF>`, `<CR>.<CR>`, ...)
/// followed by a second, forged transaction. Each gets `550 5.5.2` and a closed connection,
/// and neither message reaches Bob: only `<CRLF>.<CRLF>` ends the data.
#[test]
fn smtp_smuggling_payloads_are_refused() {
    use std::io::{Read, Write};
    let dir = scratch("smuggling");
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    let (addrs, stop) = start(hamburger);
    let smtp = addr(&addrs, ListenerKind::Smtp);
    let false_ends: [&[u8]; 6] = [
        b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n",
    ];
    for false_end in false_ends {
        let mut payload = b"EHLO evil.example\r\nMAIL FROM:<mallory@evil.example>\r\n\
RCPT TO:<bob@hamburger.edu>\r\nDATA\r\n"
            .to_vec();
        payload.extend_from_slice(b"Subject: innocent\r\n\r\nhello");
        payload.extend_from_slice(false_end);
        payload.extend_from_slice(
            b"MAIL FROM:<ceo@hamburger.edu>\r\nRCPT TO:<bob@hamburger.edu>\r\nDATA\r\n\
Subject: smuggled\r\n\r\nwire the money\r\n.\r\n",
        );
        payload.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
        let mut stream = std::net::TcpStream::connect(smtp).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The greeting first, so the session reads our pipeline as one client would send it.
        let mut greeting = [0u8; 512];
        let _ = stream.read(&mut greeting).unwrap();
        stream.write_all(&payload).unwrap();
        let mut replies = Vec::new();
        let _ = stream.read_to_end(&mut replies);
        let replies = String::from_utf8_lossy(&replies).into_owned();
        assert!(
            replies.contains("550 5.5.2"),
            "{false_end:?} got no 550 5.5.2: {replies}"
        );
        assert!(
            !replies.contains("queued as"),
            "{false_end:?} was queued: {replies}"
        );
    }
    // Nothing at all was delivered, a legitimate message afterwards is.
    let mut stream = std::net::TcpStream::connect(smtp).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut greeting = [0u8; 512];
    let _ = stream.read(&mut greeting).unwrap();
    stream
        .write_all(
            b"EHLO good.example\r\nMAIL FROM:<alice@crepes.fr>\r\nRCPT TO:<bob@hamburger.edu>\r\n\
DATA\r\nSubject: fine\r\n\r\nhello\r\n.\r\nQUIT\r\n",
        )
        .unwrap();
    let mut replies = Vec::new();
    let _ = stream.read_to_end(&mut replies);
    assert!(
        String::from_utf8_lossy(&replies).contains("queued as"),
        "{}",
        String::from_utf8_lossy(&replies)
    );
    let mail = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 1);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].contains("Subject: fine"), "{}", mail[0]);
    stop.trigger();
}

/// Limits with clear replies: a client that keeps sending bad commands is slowed past the
/// soft error limit (the tarpit) and cut off at the hard one with `421 4.7.0`; a failed AUTH
/// answers `535` only after the failure delay; too many recipients get `452 4.5.3`.
#[test]
fn tarpit_auth_failure_delay_and_recipient_limit() {
    use std::io::{Read, Write};
    let dir = scratch("limits");
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.error_sleep = Duration::from_millis(100);
    hamburger.auth_failure_delay = Duration::from_millis(400);
    hamburger.max_recipients = 3;
    hamburger.max_connections_per_client = 3;
    hamburger
        .catch_all
        .push(("hamburger.edu".into(), "bob".into()));
    let (addrs, stop) = start(hamburger);
    let smtp = addr(&addrs, ListenerKind::Smtp);
    let submission = addr(&addrs, ListenerKind::Submission);
    let connect_to = |to: SocketAddr| {
        let mut stream = std::net::TcpStream::connect(to).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut greeting = [0u8; 512];
        let _ = stream.read(&mut greeting).unwrap();
        stream
    };
    let connect = || connect_to(smtp);
    // 25 bad commands at once: 10 answered at once, 10 after 100 ms each, then 421.
    let mut stream = connect();
    let started = Instant::now();
    stream.write_all(&b"BOGUS\r\n".repeat(25)).unwrap();
    let mut replies = Vec::new();
    let _ = stream.read_to_end(&mut replies);
    let elapsed = started.elapsed();
    let replies = String::from_utf8_lossy(&replies).into_owned();
    assert!(replies.contains("421 4.7.0"), "{replies}");
    assert_eq!(replies.matches("500 5.5.2").count(), 20, "{replies}");
    assert!(
        elapsed >= Duration::from_millis(1000),
        "no tarpit: {elapsed:?}"
    );
    // A wrong password on submission: 535 after the delay (AUTH PLAIN of "\0bob\0wrong").
    let mut stream = connect_to(submission);
    stream.write_all(b"EHLO client.example\r\n").unwrap();
    let mut buffer = [0u8; 4096];
    let _ = stream.read(&mut buffer).unwrap();
    let started = Instant::now();
    stream
        .write_all(b"AUTH PLAIN AGJvYgB3cm9uZw==\r\n")
        .unwrap();
    let length = stream.read(&mut buffer).unwrap();
    let reply = String::from_utf8_lossy(&buffer[..length]).into_owned();
    assert!(reply.starts_with("535"), "{reply}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    drop(stream);
    // Four recipients where three are allowed: the fourth gets 452 4.5.3.
    let mut stream = connect();
    stream
        .write_all(
            b"EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@hamburger.edu>\r\n\
RCPT TO:<b@hamburger.edu>\r\nRCPT TO:<c@hamburger.edu>\r\nRCPT TO:<d@hamburger.edu>\r\nQUIT\r\n",
        )
        .unwrap();
    let mut replies = Vec::new();
    let _ = stream.read_to_end(&mut replies);
    let replies = String::from_utf8_lossy(&replies).into_owned();
    assert!(replies.contains("452 4.5.3"), "{replies}");
    assert_eq!(replies.matches("250 2.1.5").count(), 3, "{replies}");
    drop(stream);
    // Three connections from one address are allowed; the fourth gets 421 and is closed,
    // the listener goes on serving, and a slot freed is usable again.
    let greet = |stream: &mut std::net::TcpStream| {
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        while !text.ends_with(b"\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            text.push(byte[0]);
        }
        String::from_utf8_lossy(&text).into_owned()
    };
    // Earlier sessions' slots are released once their server tasks finish.
    std::thread::sleep(Duration::from_millis(200));
    let mut open: Vec<std::net::TcpStream> = Vec::new();
    for _ in 0..3 {
        let mut stream = std::net::TcpStream::connect(smtp).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let greeting = greet(&mut stream);
        assert!(greeting.starts_with("220 "), "{greeting}");
        open.push(stream);
    }
    let mut fourth = std::net::TcpStream::connect(smtp).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let refused = greet(&mut fourth);
    assert!(
        refused
            .starts_with("421 4.7.0 mail.hamburger.edu Error: too many connections from 127.0.0.1"),
        "{refused}"
    );
    let mut rest = Vec::new();
    let _ = fourth.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    open.pop().unwrap().write_all(b"QUIT\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut again = std::net::TcpStream::connect(smtp).unwrap();
    again
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let greeting = greet(&mut again);
    assert!(greeting.starts_with("220 "), "{greeting}");
    stop.trigger();
}
