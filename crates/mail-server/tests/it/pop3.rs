//! POP3 against Python's poplib (seed §2.3.4): Bob reads the mail SMTP delivered, with STLS
//! on the POP3 port and with implicit TLS on the POP3S port; every command poplib has;
//! deletions only at QUIT; a second session on a locked maildrop gets `-ERR [IN-USE]`.

use crate::scratch;
use crate::smtp::{addr, config, python, start, tool_missing, wait_for_mail};
use mail_server::{Listener, ListenerKind};

#[test]
fn bob_reads_his_mail_with_poplib_over_stls_and_pop3s() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("pop3");
    let ca = tls::Ca::ephemeral("test world CA").unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.auth_failure_delay = std::time::Duration::from_millis(10);
    for kind in [ListenerKind::Pop3, ListenerKind::Pop3s] {
        hamburger.listeners.push(Listener {
            addr: "127.0.0.1:0".parse().unwrap(),
            kind,
        });
    }
    hamburger.tls = Some(
        tls::server_config(
            vec![ca.issue(&["mail.hamburger.edu", "127.0.0.1"]).unwrap()],
            &[],
        )
        .unwrap(),
    );
    let (addrs, stop) = start(hamburger);
    let smtp = addr(&addrs, ListenerKind::Smtp);
    let pop3 = addr(&addrs, ListenerKind::Pop3);
    let pop3s = addr(&addrs, ListenerKind::Pop3s);
    // Three messages for Bob over SMTP, one with a line that starts with a dot.
    let script = format!(
        r#"
import smtplib
with smtplib.SMTP("127.0.0.1", {smtp}) as s:
    for n in range(3):
        s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"],
                   f"Subject: crepe {{n}}\r\n\r\nline one\r\n.dot line\r\nline three\r\n".encode())
"#,
        smtp = smtp.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    assert_eq!(
        wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 3).len(),
        3
    );
    let ca_file = dir.join("ca.pem");
    let script = format!(
        r#"
import poplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
p = poplib.POP3("127.0.0.1", {pop3}, timeout=10)
caps = p.capa()
assert "STLS" in caps and "USER" not in caps, caps
try:
    p.user("bob")
    raise SystemExit("USER accepted before TLS")
except poplib.error_proto as e:
    assert b"PRIVACY" in e.args[0], e
p.stls(context=ctx)
assert "USER" in p.capa() and "STLS" not in p.capa()
p.user("bob")
try:
    p.pass_("wrong")
    raise SystemExit("a wrong password worked")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.user("bob")
p.pass_("bobpw")
count, octets = p.stat()
assert count == 3, (count, octets)
resp, listing, _ = p.list()
sizes = [int(line.split()[1]) for line in listing]
assert sum(sizes) == octets, (sizes, octets)
resp, uids, _ = p.uidl()
assert len(set(u.split()[1] for u in uids)) == 3, uids
resp, lines, size = p.retr(1)
assert b"Subject: crepe 0" in lines and b".dot line" in lines, lines
assert b"Received: from " in b"\n".join(lines)
resp, lines, _ = p.top(2, 1)
assert b"line one" in lines and b"line three" not in lines, lines
# A second session while this one holds the maildrop: IN-USE.
q = poplib.POP3_SSL("127.0.0.1", {pop3s}, context=ctx, timeout=10)
q.user("bob")
try:
    q.pass_("bobpw")
    raise SystemExit("two sessions on one maildrop")
except poplib.error_proto as e:
    assert b"[IN-USE]" in e.args[0], e
q.quit()
p.dele(1)
p.dele(2)
p.rset()
p.dele(1)
assert p.stat()[0] == 2
p.noop()
p.quit()
# Over POP3S: the deletion happened at QUIT, nothing else went.
q = poplib.POP3_SSL("127.0.0.1", {pop3s}, context=ctx, timeout=10)
q.user("bob"); q.pass_("bobpw")
assert q.stat()[0] == 2, q.stat()
resp, lines, _ = q.retr(1)
assert b"Subject: crepe 1" in lines, lines
q.dele(1)
# Dropped without QUIT: no update phase, nothing is deleted.
import socket
q.sock.shutdown(socket.SHUT_RDWR)
q.file.close()
q.sock.close()
import time
for attempt in range(50):
    r = poplib.POP3_SSL("127.0.0.1", {pop3s}, context=ctx, timeout=10)
    r.user("bob")
    try:
        r.pass_("bobpw")
        break
    except poplib.error_proto as e:
        # The server releases the lock when it sees the connection go.
        assert b"[IN-USE]" in e.args[0], e
        r.quit()
        time.sleep(0.05)
assert r.stat()[0] == 2, r.stat()
r.quit()
print("ok")
"#,
        ca = ca_file.display(),
        pop3 = pop3.port(),
        pop3s = pop3s.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    // Two files are left in Bob's Maildir.
    let left = std::fs::read_dir(dir.join("hamburger/mail/hamburger.edu/bob/new"))
        .unwrap()
        .count();
    assert_eq!(left, 2);
    stop.trigger();
}

/// APOP (RFC 1939 §7) with poplib's `apop`, which reads the timestamp from our greeting:
/// offered only when configured, and then usable without TLS (no password on the wire);
/// each session's timestamp differs, so a captured digest does not log in again.
#[test]
fn apop_with_poplib() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("pop3-apop");
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.auth_failure_delay = std::time::Duration::from_millis(10);
    hamburger.pop3_apop = true;
    hamburger.listeners.push(Listener {
        addr: "127.0.0.1:0".parse().unwrap(),
        kind: ListenerKind::Pop3,
    });
    let (addrs, stop) = start(hamburger);
    let pop3 = addr(&addrs, ListenerKind::Pop3);
    let script = format!(
        r#"
import hashlib, poplib, re
p = poplib.POP3("127.0.0.1", {pop3}, timeout=10)
banner = re.search(rb"<[^>]+@mail\.hamburger\.edu>", p.getwelcome()).group(0)
try:
    p.apop("bob", "wrong")
    raise SystemExit("a wrong APOP secret worked")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.apop("bob", "bobpw")
assert p.stat() == (0, 0), p.stat()
p.quit()
# Replaying the first session's digest in a new session fails: a new timestamp.
digest = hashlib.md5(banner + b"bobpw").hexdigest()
q = poplib.POP3("127.0.0.1", {pop3}, timeout=10)
assert re.search(rb"<[^>]+>", q.getwelcome()).group(0) != banner
try:
    q._shortcmd("APOP bob " + digest)
    raise SystemExit("a replayed digest worked")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
q.quit()
print("ok")
"#,
        pop3 = pop3.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    stop.trigger();
}
