//! Postfix as a peer, both ways: a private Postfix instance (its own config, queue and
//! mailboxes in a scratch folder, started in the foreground by the test) relays mail for
//! hamburger.edu to our server, and our crepes.fr server delivers mail for postfix.test to
//! Postfix, which puts it in a virtual Maildir.

use crate::scratch;
use crate::smtp::{addr, config, python, start, tool_missing, wait_for_mail};
use mail_server::ListenerKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private Postfix; stopped when dropped.
struct Postfix {
    conf: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Postfix {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn uid_of(user: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", user]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Writes a Postfix instance into `dir` for `postfix.test` (carol has a virtual Maildir),
/// its smtpd on `port`, next hops from `transport` lines, and starts it in the foreground.
fn start_postfix(dir: &Path, port: u16, transport: &str) -> Postfix {
    let conf = dir.join("conf");
    for sub in ["conf", "queue", "data", "vmail"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let owner = uid_of("postfix").expect("the postfix package makes a postfix user");
    let nobody = uid_of("nobody").unwrap_or(65534);
    std::os::unix::fs::chown(dir.join("data"), Some(owner), None).unwrap();
    std::os::unix::fs::chown(dir.join("vmail"), Some(nobody), Some(nobody)).unwrap();
    let d = dir.display();
    std::fs::write(
        conf.join("main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = /dev/stdout
virtual_mailbox_domains = postfix.test
virtual_mailbox_base = {d}/vmail
virtual_mailbox_maps = texthash:{d}/conf/vmailbox
virtual_uid_maps = static:{nobody}
virtual_gid_maps = static:{nobody}
transport_maps = texthash:{d}/conf/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = may
"
        ),
    )
    .unwrap();
    std::fs::write(conf.join("vmailbox"), "carol@postfix.test carol/\n").unwrap();
    std::fs::write(conf.join("transport"), transport).unwrap();
    // Debian's master.cf with smtpd moved to our port and not chrooted.
    let master = std::fs::read_to_string("/etc/postfix/master.cf").unwrap();
    let master: String = master
        .lines()
        .map(|line| {
            if line.starts_with("smtp ") && line.contains("inet") {
                format!("127.0.0.1:{port} inet n - n - - smtpd")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(conf.join("master.cf"), master + "\n").unwrap();
    let log = dir.join("postfix.log");
    let child = Command::new("postfix")
        .arg("-c")
        .arg(&conf)
        .arg("start-fg")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let postfix = Postfix { conf, log, child };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "Postfix did not start:\n{}",
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    postfix
}

#[test]
fn postfix_relays_to_us_and_we_deliver_to_postfix() {
    if tool_missing("postfix") || tool_missing("python3") {
        return;
    }
    if !nix_root() {
        eprintln!("skipped: Postfix's master needs root");
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        return;
    }
    let dir = scratch("postfix");
    // Our two servers: hamburger.edu receives from Postfix; crepes.fr relays to Postfix.
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    let (hamburger_addrs, hamburger_stop) = start(hamburger);
    let hamburger_smtp = addr(&hamburger_addrs, ListenerKind::Smtp);
    let postfix_port = free_port();
    let mut crepes = config("mail.crepes.fr", "crepes.fr", &dir.join("crepes"));
    crepes.users.push(("alice".into(), "alicepw".into()));
    crepes.routes.push((
        "postfix.test".into(),
        SocketAddr::from(([127, 0, 0, 1], postfix_port)),
    ));
    let (crepes_addrs, crepes_stop) = start(crepes);
    let submission = addr(&crepes_addrs, ListenerKind::Submission);
    let postfix = start_postfix(
        &dir.join("postfix"),
        postfix_port,
        &format!("hamburger.edu smtp:[127.0.0.1]:{}\n", hamburger_smtp.port()),
    );

    // Carol's mail through Postfix to Bob: Postfix's smtp client talks to our port 25 side.
    let script = format!(
        r#"
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "carol@postfix.test"
m["To"] = "bob@hamburger.edu"
m["Subject"] = "from postfix"
m.set_content("Hello Bob, this came through Postfix.\n")
with smtplib.SMTP("127.0.0.1", {postfix_port}) as s:
    s.send_message(m)
# And Alice's to Carol, submitted to our crepes.fr, which relays to Postfix.
m = EmailMessage()
m["From"] = "alice@crepes.fr"
m["To"] = "carol@postfix.test"
m["Subject"] = "to postfix"
m.set_content("Bonjour Carol, via applayer.\n")
with smtplib.SMTP("{ip}", {port}) as s:
    s.login("alice", "alicepw")
    s.send_message(m)
print("ok")
"#,
        ip = submission.ip(),
        port = submission.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}\n{}", postfix.log());

    let bob = wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 1);
    assert_eq!(
        bob.len(),
        1,
        "Postfix did not relay to us:\n{}",
        postfix.log()
    );
    assert!(bob[0].contains("Subject: from postfix"), "{}", bob[0]);
    assert!(
        bob[0].contains("by mx.postfix.test (Postfix)"),
        "{}",
        bob[0]
    );
    assert!(
        bob[0].contains("by mail.hamburger.edu (applayer) with ESMTP"),
        "{}",
        bob[0]
    );

    let carol = dir.join("postfix/vmail/carol/new");
    let started = Instant::now();
    let delivered = loop {
        let found: Vec<String> = std::fs::read_dir(&carol)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
            .collect();
        if !found.is_empty() || started.elapsed() > Duration::from_secs(15) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        delivered.len(),
        1,
        "we did not deliver to Postfix:\n{}",
        postfix.log()
    );
    assert!(
        delivered[0].contains("Subject: to postfix"),
        "{}",
        delivered[0]
    );
    assert!(
        delivered[0].contains("by mail.crepes.fr (applayer) with ESMTPA"),
        "{}",
        delivered[0]
    );
    assert!(postfix.log().contains("status=sent"), "{}", postfix.log());
    crepes_stop.trigger();
    hamburger_stop.trigger();
}

fn nix_root() -> bool {
    uid_of_self() == Some(0)
}

fn uid_of_self() -> Option<u32> {
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
