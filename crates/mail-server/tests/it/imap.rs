//! IMAP against Python's imaplib (seed §2.3.4): Bob logs in over STARTTLS and over implicit
//! TLS, lists his folders with their special uses, reads, flags, copies, moves, searches,
//! appends and expunges; UIDs survive a restart; a message SMTP delivers appears in an open
//! IDLE session; two sessions see each other's flag changes and expunges; mailbox names that
//! try to leave the store are refused. Every socket has a 10 s timeout.

use crate::scratch;
use crate::smtp::{addr, config, python, start, tool_missing, wait_for_mail};
use mail_server::{Listener, ListenerKind, MailConfig};
use std::path::Path;

fn hamburger(dir: &Path, ca: &tls::Ca) -> MailConfig {
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.auth_failure_delay = std::time::Duration::from_millis(10);
    for kind in [ListenerKind::Imap, ListenerKind::Imaps] {
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
    hamburger
}

const PRELUDE: &str = r#"
import imaplib, ssl, re, time, smtplib, threading
ctx = ssl.create_default_context(cafile=CA)
def login143():
    m = imaplib.IMAP4("127.0.0.1", IMAP, timeout=10)
    m.starttls(ssl_context=ctx)
    m.login("bob", "bobpw")
    return m
def login993():
    m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=ctx, timeout=10)
    m.login("bob", "bobpw")
    return m
"#;

fn script(body: &str, ca: &Path, imap: u16, imaps: u16, smtp: u16) -> String {
    format!(
        "CA = {ca:?}\nIMAP = {imap}\nIMAPS = {imaps}\nSMTP = {smtp}\n{PRELUDE}\n{body}\nprint(\"ok\")\n",
        ca = ca.display().to_string()
    )
}

/// Bob's server for one test: a scratch dir, a test CA, SMTP, IMAP and IMAPS; stopped when
/// dropped.
pub(crate) struct BobServer {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) ca_file: std::path::PathBuf,
    pub(crate) smtp: u16,
    pub(crate) imap: u16,
    pub(crate) imaps: u16,
    stop: netio::Shutdown,
}

impl BobServer {
    pub(crate) fn start(tag: &str) -> BobServer {
        let dir = scratch(tag);
        let ca = tls::Ca::ephemeral("test world CA").unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        let (addrs, stop) = start(hamburger(&dir, &ca));
        BobServer {
            smtp: addr(&addrs, ListenerKind::Smtp).port(),
            imap: addr(&addrs, ListenerKind::Imap).port(),
            imaps: addr(&addrs, ListenerKind::Imaps).port(),
            dir,
            ca_file,
            stop,
        }
    }

    /// Runs an imaplib script (with the prelude's helpers); it must end well.
    pub(crate) fn run(&self, body: &str) {
        let (ok, out) = python(&script(
            body,
            &self.ca_file,
            self.imap,
            self.imaps,
            self.smtp,
        ))
        .unwrap();
        assert!(ok, "{out}");
    }
}

impl Drop for BobServer {
    fn drop(&mut self) {
        self.stop.trigger();
    }
}

#[test]
fn bob_uses_imaplib_over_starttls_and_imaps() {
    if tool_missing("python3") {
        return;
    }
    let dir = scratch("imap");
    let ca = tls::Ca::ephemeral("test world CA").unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let (addrs, stop) = start(hamburger(&dir, &ca));
    let smtp = addr(&addrs, ListenerKind::Smtp).port();
    let imap = addr(&addrs, ListenerKind::Imap).port();
    let imaps = addr(&addrs, ListenerKind::Imaps).port();
    let deliver = r#"
with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
    for n in range(3):
        s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"],
                   f"From: Alice <alice@crepes.fr>\r\nTo: bob@hamburger.edu\r\nSubject: crepe {n}\r\n\r\nline one {n}\r\nline two\r\n".encode())
"#;
    let (ok, out) = python(&script(deliver, &ca_file, imap, imaps, smtp)).unwrap();
    assert!(ok, "{out}");
    wait_for_mail(&dir.join("hamburger/mail/hamburger.edu/bob"), 3);
    let body = r#"
# Plaintext login refused before TLS.
m = imaplib.IMAP4("127.0.0.1", IMAP, timeout=10)
assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities, m.capabilities
try:
    m.login("bob", "bobpw")
    raise SystemExit("LOGIN accepted before TLS")
except imaplib.IMAP4.error as e:
    assert "PRIVACYREQUIRED" in str(e), e
m.starttls(ssl_context=ctx)
try:
    m.login("bob", "wrong")
    raise SystemExit("a wrong password worked")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
m.login("bob", "bobpw")
typ, lines = m.list()
text = b"\n".join(lines).decode()
assert '(\\HasNoChildren \\Sent) "/" "Sent"' in text, text
assert "\\Trash" in text and "\\Drafts" in text and "\\Junk" in text and '"INBOX"' in text, text
for bad in ["../x", "/etc", "a/../../b"]:
    typ, data = m.create(bad)
    assert typ == "NO", (bad, typ, data)
    typ, data = m.select(bad)
    assert typ == "NO", (bad, typ, data)
assert m.create("Lists/rust")[0] == "OK"
typ, lines = m.list('""', "Lists*")
assert b'(\\HasChildren) "/" "Lists"' in lines[0], lines
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"3"], (typ, data)
typ, data = m.fetch("1:*", "(UID FLAGS RFC822.SIZE)")
assert typ == "OK" and len(data) == 3, data
assert b"UID 1 " in data[0] and b"FLAGS (\\Recent)" in data[0], data
typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<0.8> BODYSTRUCTURE ENVELOPE)")
assert typ == "OK", data
blob = b"".join(p if isinstance(p, bytes) else b"".join(p) for p in data)
assert b"Subject: crepe 1" in blob and b"line one" in blob and b"line one 1" not in blob, blob
assert b'BODYSTRUCTURE ("TEXT" "PLAIN"' in blob and b'"Alice" NIL "alice" "crepes.fr"' in blob, blob
typ, data = m.fetch("2", "(FLAGS)")
assert b"\\Seen" not in data[0], data
typ, data = m.fetch("2", "(BODY[TEXT])")
assert b"\\Seen" in b"".join(p if isinstance(p, bytes) else b"".join(p) for p in data), data
typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
assert b"\\Flagged" in data[0], data
typ, data = m.search(None, "FLAGGED")
assert data == [b"1"], data
typ, data = m.search(None, "OR", "SUBJECT", '"crepe 2"', "SEEN")
assert data == [b"2 3"], data
typ, data = m.uid("SEARCH", "NOT", "UID", "1")
assert data == [b"2 3"], data
typ, data = m.search("UTF-8", "BODY", "line", "LARGER", "10", "SINCE", "1-Jan-2000")
assert data == [b"1 2 3"], data
typ, data = m.copy("1", "Trash")
assert typ == "OK" and b"COPYUID" in data[0], data
typ, data = m.uid("MOVE", "3", "Lists/rust")
assert typ == "OK", (typ, data)
assert any(b"COPYUID" in l for l in m.untagged_responses.get("OK", [])), m.untagged_responses
typ, data = m.append("Drafts", "(\\Draft)", None, b"Subject: draft\r\n\r\nhi\r\n")
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = m.status("Drafts", "(MESSAGES UIDNEXT UNSEEN)")
assert b"MESSAGES 1" in data[0] and b"UIDNEXT 2" in data[0], data
# A multipart message: BODYSTRUCTURE and part sections; broken MIME still shows.
mixed = (b"Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
         b"--XX\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
         b"--XX\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n--XX--\r\n")
assert m.append("Junk", None, None, mixed)[0] == "OK"
assert m.append("Junk", None, None, b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--")[0] == "OK"
m.select("Junk")
typ, data = m.fetch("1:2", "(BODYSTRUCTURE BODY.PEEK[2] BODY.PEEK[1.MIME])")
assert typ == "OK", data
blob = b"".join(p if isinstance(p, bytes) else b"".join(p) for p in data)
assert b'"IMAGE" "PNG" NIL NIL NIL "BASE64"' in blob and b'"MIXED"' in blob, blob
assert b"iVBORw0K" in blob and b"Content-Type: text/plain" in blob, blob
m.select("INBOX")
m.store("1", "+FLAGS", "(\\Deleted)")
typ, data = m.expunge()
assert data == [b"1"], data
typ, data = m.search(None, "ALL")
assert data == [b"1"], data
# Folders: subscriptions, RENAME with children, DELETE, EXAMINE is read-only.
assert m.subscribe("Sent")[0] == "OK"
typ, lines = m.lsub()
assert lines == [b'(\\HasNoChildren \\Sent) "/" "Sent"'], lines
assert m.create("Old/child")[0] == "OK"
assert m.rename("Old", "New")[0] == "OK"
typ, lines = m.list('""', "New*")
assert b'"New/child"' in b"".join(lines) and b'"New"' in b"".join(lines), lines
assert m.delete("New")[0] == "NO"
assert m.delete("New/child")[0] == "OK" and m.delete("New")[0] == "OK"
assert m.rename("INBOX", "../x")[0] == "NO"
typ, data = m.select("Trash", readonly=True)
assert typ == "OK", data
typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
assert typ == "NO", data
m.logout()
# Over IMAPS, with AUTHENTICATE PLAIN.
m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=ctx, timeout=10)
m.authenticate("PLAIN", lambda _: b"\0bob\0bobpw")
typ, data = m.select("Lists/rust")
assert data == [b"1"], data
typ, data = m.fetch("1", "(UID)")
assert b"UID 1" in data[0], data
m.logout()
"#;
    let (ok, out) = python(&script(body, &ca_file, imap, imaps, smtp)).unwrap();
    assert!(ok, "{out}");
    // Two sessions and IDLE.
    let body = r#"
a = login143()
b = login993()
a.select("INBOX")
b.select("INBOX")
# b idles; a delivery over SMTP shows up as EXISTS.
tag = b._new_tag().decode()
b.send(f"{tag} IDLE\r\n".encode())
assert b.readline().startswith(b"+"), "no continuation"
with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
    s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"], b"Subject: late\r\n\r\nnew\r\n")
line = b.readline()
assert re.match(rb"\* 2 EXISTS", line), line
# a flags message 2: the idling b sees FETCH FLAGS.
a.store("2", "+FLAGS", "(\\Flagged)")
line = b.readline()
assert b"FETCH (FLAGS (\\Flagged \\Recent))" in line, line  # b claimed it: recent to b
b.send(b"DONE\r\n")
line = b.readline()
assert line.startswith(tag.encode() + b" OK"), line
# a expunges message 1; b sees it at its next NOOP.
a.store("1", "+FLAGS", "(\\Deleted)")
a.expunge()
b.untagged_responses.pop("EXPUNGE", None)
typ, data = b.noop()
assert b.untagged_responses.get("EXPUNGE") == [b"1"], b.untagged_responses
typ, data = b.fetch("1", "(FLAGS)")
assert b"\\Flagged" in data[0], data
# Another agent (a web mail) marks it seen by renaming the file: b sees FETCH FLAGS.
import os
cur = os.path.join(MAILDIR, "cur")
[name] = [n for n in os.listdir(cur) if not n.startswith(".")]
os.rename(os.path.join(cur, name), os.path.join(cur, name.split(":")[0] + ":2,FS"))
b.untagged_responses.pop("FETCH", None)
typ, data = b.noop()
assert any(b"\\Seen" in l for l in b.untagged_responses.get("FETCH", [])), b.untagged_responses
a.logout(); b.logout()
"#;
    let maildir = dir.join("hamburger/mail/hamburger.edu/bob");
    let body = format!("MAILDIR = {:?}\n{body}", maildir.display().to_string());
    let (ok, out) = python(&script(&body, &ca_file, imap, imaps, smtp)).unwrap();
    assert!(ok, "{out}");
    // The UIDs before a restart ...
    let uids = r#"
m = login993()
typ, data = m.status("INBOX", "(UIDVALIDITY UIDNEXT MESSAGES)")
print("STATUS", data[0].decode())
m.select("INBOX")
typ, data = m.uid("SEARCH", "ALL")
print("UIDS", data[0].decode())
m.logout()
"#;
    let (ok, before) = python(&script(uids, &ca_file, imap, imaps, smtp)).unwrap();
    assert!(ok, "{before}");
    stop.trigger();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ... are the UIDs after it.
    let (addrs, stop) = start(hamburger(&dir, &ca));
    let imap = addr(&addrs, ListenerKind::Imap).port();
    let imaps = addr(&addrs, ListenerKind::Imaps).port();
    let (ok, after) = python(&script(uids, &ca_file, imap, imaps, smtp)).unwrap();
    assert!(ok, "{after}");
    assert_eq!(before, after);
    assert!(
        before.contains("UIDS 4") && before.contains("UIDNEXT 5"),
        "{before}"
    );
    stop.trigger();
}

/// `\Recent` for the session that first sees a delivery (and nobody else), keywords stored
/// the way Dovecot keeps them (`dovecot-keywords`, letters `a`-`z`), searched, seen by a
/// second session and kept by COPY; APPEND's date-time becomes the INTERNALDATE.
#[test]
fn recent_keywords_and_append_dates() {
    if tool_missing("python3") {
        return;
    }
    let bob = BobServer::start("imap-keywords");
    let maildir = bob.dir.join("hamburger/mail/hamburger.edu/bob");
    let deliver = r#"
with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
    for n in range(2):
        s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"],
                   f"Subject: crepe {n}\r\n\r\nline {n}\r\n".encode())
"#;
    bob.run(deliver);
    wait_for_mail(&maildir, 2);
    let body = r#"
a = login993()
typ, data = a.select("INBOX")
assert a.response("RECENT")[1] == [b"2"], a.response("RECENT")
typ, data = a.fetch("1:*", "(FLAGS)")
assert all(b"\\Recent" in d for d in data), data
assert a.search(None, "RECENT")[1] == [b"1 2"]
assert a.search(None, "NEW")[1] == [b"1 2"]
assert a.search(None, "OLD")[1] == [b""]
# A second session: the messages are not recent to it.
b = login143()
b.select("INBOX")
assert b.response("RECENT")[1] == [b"0"], b.response("RECENT")
assert b.search(None, "RECENT")[1] == [b""]
typ, data = b.store("1", "+FLAGS", "($Forwarded Junk)")
assert b"$Forwarded" in data[0] and b"Junk" in data[0] and b"\\Recent" not in data[0], data
# The first session sees the keywords, still with its \Recent.
typ, data = a.noop()
typ, data = a.fetch("1", "(FLAGS)")
assert b"$Forwarded" in data[0] and b"Junk" in data[0] and b"\\Recent" in data[0], data
assert a.search(None, "KEYWORD", "$Forwarded")[1] == [b"1"]
assert a.search(None, "UNKEYWORD", "$forwarded")[1] == [b"2"]
typ, data = a.store("1", "-FLAGS", "(Junk)")
assert b"Junk" not in data[0] and b"$Forwarded" in data[0], data
# Keywords are announced in FLAGS and PERMANENTFLAGS allows new ones.
b.select("INBOX")
assert b"$Forwarded" in b.response("FLAGS")[1][0], b.response("FLAGS")
ok = [r for r in b.untagged_responses.get("OK", []) if b"PERMANENTFLAGS" in r]
assert ok and b"\\*" in ok[0], b.untagged_responses
# Not a flag.
try:
    b.store("1", "+FLAGS", "(\\Bogus)")
    raise SystemExit("stored \\Bogus")
except imaplib.IMAP4.error as e:
    assert "flag" in str(e), e
# COPY keeps keywords in the other folder's own keyword file.
b.create("Archive")
b.copy("1", "Archive")
b.select("Archive")
typ, data = b.fetch("1", "(FLAGS)")
assert b"$Forwarded" in data[0], data
# APPEND's date-time is the INTERNALDATE; its keyword is stored.
typ, data = b.append("Archive", "($Label1 \\Seen)", '"05-Dec-2026 10:00:00 +0100"', b"Subject: dated\r\n\r\nx\r\n")
assert typ == "OK", data
typ, data = b.fetch("2", "(INTERNALDATE FLAGS)")
assert b'INTERNALDATE "05-Dec-2026 09:00:00 +0000"' in data[0], data
assert b"$Label1" in data[0] and b"\\Seen" in data[0], data
try:
    b.append("Archive", None, '"31-Foo-2026 10:00:00 +0100"', b"Subject: x\r\n\r\nx\r\n")
    raise SystemExit("a bad date was accepted")
except imaplib.IMAP4.error:
    pass
# STATUS counts what no session has claimed yet.
with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
    s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"], b"Subject: third\r\n\r\nx\r\n")
for _ in range(100):
    typ, data = b.status("INBOX", "(RECENT MESSAGES)")
    if b"MESSAGES 3" in data[0]:
        break
    time.sleep(0.05)
assert b"RECENT 1" in data[0], data
a.logout(); b.logout()
"#;
    bob.run(body);
    let keywords = std::fs::read_to_string(maildir.join("dovecot-keywords")).unwrap();
    assert!(keywords.contains("0 $Forwarded\n"), "{keywords}");
    assert!(keywords.contains("1 Junk\n"), "{keywords}");
}

/// ESEARCH (RFC 4731) answers `SEARCH RETURN (...)`; BINARY (RFC 3516) gives a part's
/// content with its transfer encoding undone, BINARY.SIZE its length, and APPEND takes a
/// literal8 with NULs, which BINARY[] gives back as a literal8.
#[test]
fn esearch_and_binary() {
    if tool_missing("python3") {
        return;
    }
    let bob = BobServer::start("imap-binary");
    let body = r#"
import base64
from email.message import EmailMessage
m = login993()
caps = m.capability()[1][0].split()
assert b"ESEARCH" in caps and b"BINARY" in caps, caps
payload = bytes(range(256)) * 4
msg = EmailMessage()
msg["Subject"] = "binary"
msg.set_content("caf\u00e9 au lait, line one\n", cte="quoted-printable")
msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="blob.bin")
for n in range(3):
    typ, data = m.append("INBOX", None, None, msg.as_bytes().replace(b"\n", b"\r\n"))
    assert typ == "OK", data
m.select("INBOX")
# Mailbox names in modified UTF-7: kept as sent, listed back; broken ones refused.
assert m.create("Caf&AOk-/Cr&AOo-pes")[0] == "OK"
typ, lines = m.list('""', "Caf*")
assert b'"Caf&AOk-/Cr&AOo-pes"' in b" ".join(lines), lines
typ, data = m.create("bad&name")
assert typ == "NO" and b"UTF-7" in data[0], (typ, data)
# ESEARCH: MIN MAX COUNT ALL, by sequence number and by UID; nothing found.
typ, data = m._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")
line = m.untagged_responses.pop("ESEARCH")[0]
assert b"MIN 1 MAX 3 COUNT 3 ALL 1:3" in line and b"(TAG " in line, line
typ, data = m._simple_command("UID", "SEARCH", "RETURN", "(COUNT)", "SUBJECT", "nothing")
line = m.untagged_responses.pop("ESEARCH")[0]
assert line.endswith(b"UID COUNT 0"), line
typ, data = m._simple_command("SEARCH", "RETURN", "()", "2:3")
line = m.untagged_responses.pop("ESEARCH")[0]
assert line.endswith(b"ALL 2:3"), line
try:
    m._simple_command("SEARCH", "RETURN", "(SAVE)", "ALL")
    raise SystemExit("an unknown RETURN option was accepted")
except imaplib.IMAP4.error:
    pass
# BINARY: the base64 attachment and the quoted-printable text, decoded.
typ, data = m.fetch("1", "(BINARY.SIZE[2] BINARY.PEEK[2] BINARY.PEEK[1])")
assert typ == "OK", data
flat = b"".join(p if isinstance(p, bytes) else b"".join(p) for p in data)
assert b"BINARY.SIZE[2] 1024" in flat, flat[:200]
assert payload in flat, "the attachment is not decoded"
assert "caf\u00e9 au lait".encode() in flat, flat
typ, data = m.fetch("1", "(FLAGS)")
assert b"\\Seen" not in data[0], data
typ, data = m.fetch("1", "(BINARY[2]<0.10>)")
assert payload[:10] in b"".join(p if isinstance(p, bytes) else b"".join(p) for p in data), data
typ, data = m.fetch("1", "(FLAGS)")
assert b"\\Seen" in data[0], data
typ, data = m.fetch("1", "(BINARY[9])")
assert typ == "NO", data
# A sequence number past the end is the client's error (BAD); a UID that does not exist
# is ignored.
try:
    m.fetch("99", "(FLAGS)")
    raise SystemExit("FETCH 99 of 3 messages was accepted")
except imaplib.IMAP4.error as e:
    assert "sequence number" in str(e), e
typ, data = m.uid("FETCH", "999", "(FLAGS)")
assert typ == "OK" and data == [None], data
# APPEND with a literal8 of content with NULs; BINARY[] gives it back as a literal8.
blob = b"Subject: nul\r\n\r\nA\x00B\r\n"
tag = m._new_tag()
m.send(tag + b" APPEND INBOX ~{" + str(len(blob)).encode() + b"}\r\n")
assert m.readline().startswith(b"+"), "no continuation"
m.send(blob + b"\r\n")
line = m.readline()
while line.startswith(b"* "):
    line = m.readline()
assert line.startswith(tag + b" OK"), line
tag = m._new_tag()
m.send(tag + b" FETCH 4 (BINARY.PEEK[])\r\n")
line = m.readline()
assert line.endswith(b"~{" + str(len(blob)).encode() + b"}\r\n"), line
got = m.read(len(blob))
assert got == blob, got
rest = m.readline()
assert rest.startswith(b")"), rest
line = m.readline()
assert line.startswith(tag + b" OK"), line
m.logout()
"#;
    bob.run(body);
}

/// CONDSTORE (RFC 7162): HIGHESTMODSEQ on SELECT and in STATUS, FETCH MODSEQ and
/// CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, and another session's
/// change arriving with its MODSEQ.
#[test]
fn condstore() {
    if tool_missing("python3") {
        return;
    }
    let bob = BobServer::start("imap-condstore");
    let body = r#"
a = login993()
assert b"CONDSTORE" in a.capability()[1][0].split()
for n in range(3):
    a.append("INBOX", None, None, f"Subject: m{n}\r\n\r\nx\r\n".encode())
typ, data = a._simple_command("ENABLE", "CONDSTORE")
assert a.untagged_responses.pop("ENABLED") == [b"CONDSTORE"], a.untagged_responses
typ, data = a.select("INBOX")
ok = [r for r in a.untagged_responses.get("OK", []) if b"HIGHESTMODSEQ" in r]
h0 = int(re.search(rb"HIGHESTMODSEQ (\d+)", ok[0]).group(1))
typ, data = a.fetch("1:*", "(MODSEQ)")
seqs = [int(re.search(rb"MODSEQ \((\d+)\)", d).group(1)) for d in data]
assert len(seqs) == 3 and max(seqs) <= h0 and len(set(seqs)) == 3, (seqs, h0)
# Another session flags message 1: a gets it with its MODSEQ; CHANGEDSINCE finds only it.
b = login143()
b.select("INBOX")
b.store("1", "+FLAGS", "(\\Flagged)")
a.untagged_responses.pop("FETCH", None)
a.noop()
pushed = a.untagged_responses.pop("FETCH", [])
assert any(b"\\Flagged" in p and b"MODSEQ (" in p for p in pushed), pushed
typ, data = a.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % h0)
assert len(data) == 1 and data[0].startswith(b"1 (") and b"MODSEQ" in data[0], data
m1 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
assert m1 > h0, (m1, h0)
# UNCHANGEDSINCE: message 1 changed after h0, so it is left alone and named in MODIFIED;
# message 2 did not, so it is stored, with its new MODSEQ.
typ, data = a._simple_command("STORE", "1:2", "(UNCHANGEDSINCE %d)" % h0, "+FLAGS", "(\\Seen)")
assert typ == "OK" and b"[MODIFIED 1]" in data[0], (typ, data)
stored = a.untagged_responses.pop("FETCH", [])
assert any(p.startswith(b"2 (") and b"\\Seen" in p and b"MODSEQ (" in p for p in stored), stored
typ, data = a.fetch("1", "(FLAGS)")
assert b"\\Seen" not in data[0], data
# SEARCH MODSEQ: what changed after h0, with the highest MODSEQ found.
typ, data = a.search(None, "MODSEQ", str(h0 + 1))
assert data[0].startswith(b"1 2 (MODSEQ "), data
typ, data = a.status("INBOX", "(HIGHESTMODSEQ)")
h1 = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))
assert h1 > m1, (h1, m1)
# A STORE of message 3 under its own MODSEQ works; .SILENT still tells the MODSEQ.
typ, data = a.fetch("3", "(MODSEQ)")
m3 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
typ, data = a._simple_command("UID", "STORE", "3", "(UNCHANGEDSINCE %d)" % m3, "+FLAGS.SILENT", "(\\Answered)")
assert typ == "OK" and b"MODIFIED" not in data[0], data
stored = a.untagged_responses.pop("FETCH", [])
assert stored and b"MODSEQ (" in stored[0] and b"UID 3" in stored[0] and b"FLAGS" not in stored[0], stored
try:
    a._simple_command("FETCH", "1", "(FLAGS)", "(CHANGEDSINCE x)")
    raise SystemExit("a bad CHANGEDSINCE was accepted")
except imaplib.IMAP4.error:
    pass
a.logout(); b.logout()
"#;
    bob.run(body);
    let list = std::fs::read_to_string(
        bob.dir
            .join("hamburger/mail/hamburger.edu/bob/applayer-uidlist"),
    )
    .unwrap();
    assert!(list.lines().next().unwrap().contains(" M"), "{list}");
}
