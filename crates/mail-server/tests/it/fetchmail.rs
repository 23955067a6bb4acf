//! fetchmail, the classic pulling user agent, against our IMAP (STARTTLS, `keep`: the
//! messages stay, marked `\Seen`) and POP3 (STLS, download-and-delete) servers, the server's
//! certificate checked against the test CA.

use crate::scratch;
use crate::smtp::{addr, config, python, start, tool_missing, wait_for_mail};
use mail_server::{Listener, ListenerKind};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs fetchmail once for `protocol` at `server`, delivering into `mbox`; its output.
fn fetchmail(dir: &Path, protocol: &str, server: SocketAddr, keep: bool, mbox: &Path) -> String {
    let rc = dir.join(format!("fetchmailrc-{protocol}"));
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll mail.hamburger.edu via 127.0.0.1 service {port} protocol {protocol}\n\
             \x20 user \"bob\" there with password \"bobpw\" is \"root\" here\n\
             \x20 sslcertck sslcertfile \"{ca}\" sslproto \"tls1.2+\" sslcommonname \"mail.hamburger.edu\"\n\
             \x20 {keep} fetchall\n\
             \x20 mda \"/bin/sh -c 'cat >> {mbox}'\"\n",
            port = server.port(),
            ca = dir.join("ca.pem").display(),
            keep = if keep { "keep" } else { "nokeep" },
            mbox = mbox.display(),
        ),
    )
    .unwrap();
    // fetchmail refuses a run control file others may read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut output = Command::new("timeout")
        .args(["30", "fetchmail", "-f"])
        .arg(&rc)
        .args(["-v", "--nodetach", "--nosyslog"])
        .env("FETCHMAILHOME", dir)
        .output()
        .unwrap();
    output.stdout.extend_from_slice(&output.stderr);
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "fetchmail {protocol} failed:\n{out}"
    );
    out
}

#[test]
fn fetchmail_reads_over_imap_then_pop3() {
    if tool_missing("python3") || tool_missing("fetchmail") {
        return;
    }
    let dir = scratch("fetchmail");
    let ca = tls::Ca::ephemeral("test world CA").unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    for kind in [ListenerKind::Pop3, ListenerKind::Imap] {
        hamburger.listeners.push(Listener {
            addr: "127.0.0.1:0".parse().unwrap(),
            kind,
        });
    }
    hamburger.tls =
        Some(tls::server_config(vec![ca.issue(&["mail.hamburger.edu"]).unwrap()], &[]).unwrap());
    let (addrs, stop) = start(hamburger);
    let script = format!(
        r#"
import smtplib
with smtplib.SMTP("127.0.0.1", {port}) as s:
    for n in range(2):
        s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"],
                   f"Subject: galette {{n}}\r\n\r\nbody {{n}}\r\n.dot line\r\n".encode())
"#,
        port = addr(&addrs, ListenerKind::Smtp).port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let maildir = dir.join("hamburger/mail/hamburger.edu/bob");
    assert_eq!(wait_for_mail(&maildir, 2).len(), 2);

    // IMAP, keep: both messages arrive; on the server they stay, now \Seen (`:2,S`).
    let mbox = dir.join("imap.mbox");
    let out = fetchmail(&dir, "IMAP", addr(&addrs, ListenerKind::Imap), true, &mbox);
    assert!(out.contains("STARTTLS"), "{out}");
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert_eq!(text.matches("Subject: galette").count(), 2, "{text}");
    assert!(text.contains("\n.dot line"), "{text}");
    let seen: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|name| name.ends_with(":2,S")), "{seen:?}");

    // POP3, no keep: both again, then the maildrop is empty.
    let mbox = dir.join("pop3.mbox");
    let out = fetchmail(&dir, "POP3", addr(&addrs, ListenerKind::Pop3), false, &mbox);
    assert!(out.contains("STLS"), "{out}");
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert_eq!(text.matches("Subject: galette").count(), 2, "{text}");
    let started = std::time::Instant::now();
    while std::fs::read_dir(maildir.join("cur")).unwrap().count() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "POP3 deletions not done"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.trigger();
}
