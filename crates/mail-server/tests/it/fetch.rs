//! The pulling user agent (`mail fetch`, seed §2.3.4) against our POP3 server over STLS
//! (download-and-keep, then download-and-delete, nothing fetched twice) and against Dovecot's
//! POP3 and IMAP (every folder into Maildir++ folders; UIDVALIDITY and UIDs remembered).

use crate::scratch;
use crate::smtp::{addr, config, python, start, tool_missing, wait_for_mail};
use mail_server::fetch::{fetch, Account, Folders, MaildirSink, Protocol, Report, Said};
use mail_server::submit::Security;
use mail_server::{Listener, ListenerKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn run_fetch(
    protocol: Protocol,
    account: &Account,
    folders: Folders,
    keep: bool,
    maildir: &Path,
) -> (Report, Vec<Said>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut said = Vec::new();
    let mut sink = MaildirSink::open(maildir).unwrap();
    let report = runtime
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                fetch(
                    protocol,
                    account,
                    &folders,
                    keep,
                    &mut sink,
                    &mut |line: &Said| said.push(line.clone()),
                ),
            )
            .await
        })
        .expect("fetch timed out")
        .unwrap_or_else(|error| panic!("fetch failed: {error}"));
    (report, said)
}

/// The messages of a Maildir folder (`new/` and `cur/`), sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut texts: Vec<String> = ["new", "cur"]
        .iter()
        .flat_map(|sub| {
            std::fs::read_dir(dir.join(sub))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
        .collect();
    texts.sort();
    texts
}

#[test]
fn pop3_fetch_keeps_then_deletes_and_takes_nothing_twice() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("fetch-pop3");
    let ca = tls::Ca::ephemeral("test world CA").unwrap();
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.listeners.push(Listener {
        addr: "127.0.0.1:0".parse().unwrap(),
        kind: ListenerKind::Pop3,
    });
    hamburger.tls =
        Some(tls::server_config(vec![ca.issue(&["mail.hamburger.edu"]).unwrap()], &[]).unwrap());
    let (addrs, stop) = start(hamburger);
    let smtp = addr(&addrs, ListenerKind::Smtp);
    let script = format!(
        r#"
import smtplib
with smtplib.SMTP("127.0.0.1", {port}) as s:
    for n in range(3):
        s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"],
                   f"Subject: crepe {{n}}\r\n\r\nline one\r\n.dot line\r\n".encode())
"#,
        port = smtp.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let server_box = dir.join("hamburger/mail/hamburger.edu/bob");
    assert_eq!(wait_for_mail(&server_box, 3).len(), 3);

    let account = Account {
        server: addr(&addrs, ListenerKind::Pop3),
        source: None,
        user: "bob".into(),
        password: "bobpw".into(),
        security: Security::StartTls,
        tls: Some((
            tls::client_config(&[ca.cert_der()], &[]).unwrap(),
            "mail.hamburger.edu".into(),
        )),
    };
    let local = dir.join("Maildir");
    let inbox = || Folders::One("INBOX".into());
    // Keep: three messages down, unstuffed, all still on the server.
    let (report, said) = run_fetch(Protocol::Pop3, &account, inbox(), true, &local);
    assert_eq!((report.messages, report.deleted), (3, 0), "{report:?}");
    let texts = files(&local);
    assert_eq!(texts.len(), 3);
    assert!(texts[0].contains("\r\n.dot line\r\n"), "{}", texts[0]);
    assert!(texts[0].contains("Subject: crepe 0"), "{}", texts[0]);
    assert_eq!(files(&server_box).len(), 3);
    // The transcript went over TLS and never shows the password.
    let lines: Vec<String> = said
        .iter()
        .map(|s| format!("{} {}", if s.by_server { "S:" } else { "C:" }, s.text))
        .collect();
    assert!(lines.contains(&"C: STLS".to_string()), "{lines:?}");
    assert!(lines.contains(&"C: PASS ********".to_string()), "{lines:?}");
    assert!(
        !lines.iter().any(|line| line.contains("bobpw")),
        "{lines:?}"
    );

    // Again with keep: nothing new (UIDLs remembered).
    let (report, _) = run_fetch(Protocol::Pop3, &account, inbox(), true, &local);
    assert_eq!((report.messages, report.skipped), (0, 3), "{report:?}");
    // A fourth message, then download-and-delete: only the new one comes, all are deleted.
    let (ok, out) = python(&script.replace("range(3)", "range(3, 4)")).unwrap();
    assert!(ok, "{out}");
    assert_eq!(wait_for_mail(&server_box, 4).len(), 4);
    let (report, _) = run_fetch(Protocol::Pop3, &account, inbox(), false, &local);
    assert_eq!(
        (report.messages, report.skipped, report.deleted),
        (1, 3, 4),
        "{report:?}"
    );
    assert_eq!(files(&local).len(), 4);
    assert!(files(&server_box).is_empty());
    // A wrong password is the server's -ERR, and nothing is stored.
    let wrong = Account {
        password: "nope".into(),
        ..account.clone()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink = MaildirSink::open(&local).unwrap();
    let error = runtime
        .block_on(fetch(
            Protocol::Pop3,
            &wrong,
            &inbox(),
            false,
            &mut sink,
            &mut |_: &Said| {},
        ))
        .unwrap_err();
    assert!(error.to_string().contains("PASS: -ERR"), "{error}");
    stop.trigger();
}

/// A Dovecot of its own under `dir` (IMAP and POP3 on free loopback ports, plaintext login
/// allowed, Maildir), stopped on drop.
struct Dovecot {
    config: PathBuf,
    imap: SocketAddr,
    pop3: SocketAddr,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .output();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn dovecot(dir: &Path) -> Dovecot {
    let (imap, pop3) = (free_port(), free_port());
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    // Dovecot will not run mail processes as root: the mail belongs to nobody.
    std::os::unix::fs::chown(&mail, Some(65534), Some(65534)).unwrap();
    std::fs::write(dir.join("users"), "bob:{PLAIN}burgers\n").unwrap();
    let d = dir.display();
    let config = dir.join("dovecot.conf");
    std::fs::write(
        &config,
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\n\
             instance_name = applayer-it-{pid}\nprotocols = imap pop3\nlisten = 127.0.0.1\n\
             ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:{d}/mail/%n\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%n {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/mail/%n\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  chroot =\n  inet_listener pop3 {{\n    port = {pop3}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n",
            pid = std::process::id()
        ),
    )
    .unwrap();
    let status = Command::new("dovecot")
        .arg("-c")
        .arg(&config)
        .status()
        .unwrap();
    assert!(status.success(), "dovecot did not start");
    let server = Dovecot {
        config,
        imap: SocketAddr::from(([127, 0, 0, 1], imap)),
        pop3: SocketAddr::from(([127, 0, 0, 1], pop3)),
    };
    let started = Instant::now();
    while TcpStream::connect(server.imap).is_err() || TcpStream::connect(server.pop3).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "dovecot is not listening: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[test]
fn imap_and_pop3_fetch_from_dovecot() {
    if tool_missing("python3") || tool_missing("dovecot") {
        return;
    }
    // Dovecot's master wants root, to switch to the mail user.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0"));
    if !root {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("skipped: Dovecot needs root");
        return;
    }
    let dir = scratch("fetch-dovecot");
    let server = dovecot(&dir.join("dovecot"));
    // Bob's mail, put there by imaplib: two in the INBOX (one seen), one in Work.
    let script = format!(
        r#"
import imaplib
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("bob", "burgers")
m.append("INBOX", None, None, b"Subject: one\r\n\r\n.dot line\r\nFrom the start\r\n")
m.append("INBOX", r"(\Seen)", None, b"Subject: two\r\n\r\nsecond\r\n")
m.create("Work")
m.append("Work", None, None, b"Subject: work\r\n\r\nwork\r\n")
m.logout()
"#,
        port = server.imap.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let account = |server: SocketAddr| Account {
        server,
        source: None,
        user: "bob".into(),
        password: "burgers".into(),
        security: Security::Plain,
        tls: None,
    };
    let local = dir.join("Maildir");
    let (report, said) = run_fetch(
        Protocol::Imap,
        &account(server.imap),
        Folders::All,
        true,
        &local,
    );
    assert_eq!(report.messages, 3, "{report:?}");
    assert_eq!(
        report.folders,
        vec![("INBOX".to_string(), 2), ("Work".to_string(), 1)]
    );
    let inbox = files(&local);
    assert_eq!(inbox.len(), 2);
    assert!(
        inbox[0].contains("\r\n.dot line\r\nFrom the start\r\n"),
        "{inbox:?}"
    );
    assert_eq!(files(&local.join(".Work")).len(), 1);
    assert!(local.join(".Work/maildirfolder").exists());
    assert!(said
        .iter()
        .any(|s| !s.by_server && s.text.contains("LOGIN \"bob\" ********")));
    // Mail stays on the server; a second fetch takes only what is new.
    let script = format!(
        r#"
import imaplib
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("bob", "burgers")
m.append("INBOX", None, None, b"Subject: three\r\n\r\nthird\r\n")
m.logout()
"#,
        port = server.imap.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let (report, _) = run_fetch(
        Protocol::Imap,
        &account(server.imap),
        Folders::One("INBOX".into()),
        true,
        &local,
    );
    assert_eq!((report.messages, report.skipped), (1, 0), "{report:?}");
    assert_eq!(files(&local).len(), 3);
    // Dovecot's POP3 on the same INBOX: three messages into another Maildir, deleted there.
    let other = dir.join("Maildir-pop3");
    let (report, _) = run_fetch(
        Protocol::Pop3,
        &account(server.pop3),
        Folders::One("INBOX".into()),
        false,
        &other,
    );
    assert_eq!((report.messages, report.deleted), (3, 3), "{report:?}");
    let (report, _) = run_fetch(
        Protocol::Imap,
        &account(server.imap),
        Folders::One("INBOX".into()),
        true,
        &dir.join("Maildir-after"),
    );
    assert_eq!(
        report.messages, 0,
        "POP3's deletions were committed at QUIT"
    );
}
