//! DKIM and SPF across two servers with a real DNS server for the records: crepes.fr signs
//! what Alice submits, hamburger.edu checks what arrives on port 25 and records it in
//! `Authentication-Results`; a tampered copy fails, a forged sender fails SPF, a forged
//! result of ours is dropped; and dkimpy (a third-party verifier) checks our signatures,
//! Ed25519 and RSA, through the same DNS server.

use crate::scratch;
use crate::smtp::{addr, config, python, start, tool_missing, wait_for_mail};
use mail_server::auth::DkimKey;
use mail_server::ListenerKind;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// Serves `zones` (origin, text) on a loopback port until the shutdown.
fn start_dns(zones: &[(&str, String)]) -> (SocketAddr, netio::Shutdown) {
    let mut config = dns_server::DnsServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..dns_server::DnsServerConfig::default()
    };
    for (origin, text) in zones {
        let name: dns_proto::Name = origin.parse().unwrap();
        let zone = dns_server::Zone::parse_str(text, &name, origin).unwrap();
        config.zones.push(dns_server::ZoneConfig::new(zone));
    }
    let shutdown = netio::Shutdown::new();
    let stop = shutdown.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = dns_server::bind(config).await.unwrap();
            tx.send(server.local_addrs()[0]).unwrap();
            server.run(stop).await.unwrap();
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).unwrap(), shutdown)
}

/// Runs `script` with Debian's python3 (where python3-dkim lives).
fn debian_python(script: &str) -> (bool, String) {
    let output = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn dkimpy_missing() -> bool {
    let found = Command::new("/usr/bin/python3")
        .args(["-c", "import dkim, nacl, dns.resolver"])
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3-dkim and python3-nacl are required in CI"
        );
        eprintln!("skipped: python3-dkim or python3-nacl is not installed");
    }
    !found
}

/// dkimpy verifies `message`, fetching keys from our DNS server at `dns`.
fn dkimpy_verifies(message: &[u8], dns: SocketAddr) -> (bool, String) {
    let path = std::env::temp_dir().join(format!(
        "mail-server-it-dkimpy-{}-{}.eml",
        std::process::id(),
        message.len()
    ));
    std::fs::write(&path, message).unwrap();
    let script = format!(
        r#"
import dkim, dns.resolver
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["{ip}"]
resolver.port = {port}
def txt(name, timeout=5):
    answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    return b"".join(b"".join(r.strings) for r in answer)
message = open("{path}", "rb").read()
ok = dkim.verify(message, dnsfunc=txt)
print("verified" if ok else "not verified")
raise SystemExit(0 if ok else 1)
"#,
        ip = dns.ip(),
        port = dns.port(),
        path = path.display()
    );
    let outcome = debian_python(&script);
    let _ = std::fs::remove_file(&path);
    outcome
}

#[test]
fn signed_at_submission_checked_at_the_border() {
    if tool_missing("python3") || dkimpy_missing() {
        return;
    }
    let dir = scratch("dkim");
    let key_path = dir.join("crepes.fr.world.key");
    let key = Arc::new(DkimKey::load_or_create("crepes.fr", "world", &key_path).unwrap());
    // The key file is private to the server.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }
    let rsa_pem = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| output.stdout);
    let rsa_key = rsa_pem
        .as_ref()
        .map(|pem| DkimKey::from_pem("crepes.fr", "rsa", pem).unwrap());
    let mut crepes_zone = format!(
        "$TTL 300\n@ IN SOA dns.crepes.fr. hostmaster.crepes.fr. 1 3600 600 604800 300\n\
         @ NS dns.crepes.fr.\ndns A 127.0.0.1\n@ TXT \"v=spf1 ip4:127.0.0.1 -all\"\n{}\n",
        key.zone_line()
    );
    if let Some(rsa_key) = &rsa_key {
        crepes_zone.push_str(&rsa_key.zone_line());
        crepes_zone.push('\n');
    }
    let forged_zone = "$TTL 300\n@ IN SOA ns.forged.example. h.forged.example. 1 3600 600 604800 300\n\
                       @ NS ns.forged.example.\nns A 127.0.0.1\n@ TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
        .to_string();
    let (dns, dns_stop) = start_dns(&[
        ("crepes.fr.", crepes_zone),
        ("forged.example.", forged_zone),
    ]);

    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger.check_inbound = true;
    hamburger.dns = Some(dns);
    let (hamburger_addrs, hamburger_stop) = start(hamburger);
    let border = addr(&hamburger_addrs, ListenerKind::Smtp);
    let mut crepes = config("mail.crepes.fr", "crepes.fr", &dir.join("crepes"));
    crepes.users.push(("alice".into(), "alicepw".into()));
    crepes.dkim.push(key.clone());
    crepes.routes.push(("hamburger.edu".into(), border));
    let (crepes_addrs, crepes_stop) = start(crepes);
    let submission = addr(&crepes_addrs, ListenerKind::Submission);

    // Alice submits; crepes.fr signs and relays; hamburger.edu checks.
    let script = format!(
        r#"
import smtplib
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "Alice <alice@crepes.fr>"
msg["To"] = "bob@hamburger.edu"
msg["Subject"] = "signed crepes"
msg.set_content("Hi Bob,\n.a dotted line\nthe recipe follows.\n")
with smtplib.SMTP("{ip}", {port}) as s:
    s.login("alice", "alicepw")
    s.send_message(msg, "alice@crepes.fr", ["bob@hamburger.edu"])
print("ok")
"#,
        ip = submission.ip(),
        port = submission.port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let bob = dir.join("hamburger/mail/hamburger.edu/bob");
    let mail = wait_for_mail(&bob, 1);
    let signed = &mail[0];
    assert!(
        signed.contains("DKIM-Signature: v=1; a=ed25519-sha256;"),
        "{signed}"
    );
    let results = signed
        .find("Authentication-Results: mail.hamburger.edu;")
        .unwrap_or_else(|| panic!("no results: {signed}"));
    let received = signed.find("Received: from").unwrap();
    assert!(results < received, "results above our Received: {signed}");
    assert!(
        signed.contains("dkim=pass header.d=crepes.fr header.s=world"),
        "{signed}"
    );
    assert!(signed.contains("spf=pass"), "{signed}");
    assert!(signed.contains("smtp.mailfrom=alice@crepes.fr"), "{signed}");

    // dkimpy agrees: the signature verifies against the key our DNS server publishes.
    let delivered = signed.split_once("\r\n").unwrap().1; // past Return-Path
    let (ok, out) = dkimpy_verifies(delivered.as_bytes(), dns);
    assert!(ok, "dkimpy: {out}\n{delivered}");

    // A copy with its body changed, from a sender whose SPF allows only 192.0.2.1, carrying
    // a forged result in our name, sent straight to the border.
    let start_of_signature = signed.find("DKIM-Signature:").unwrap();
    let tampered = signed[start_of_signature..].replace("the recipe follows.", "send money.");
    let tampered = format!(
        "Authentication-Results: mail.hamburger.edu;\r\n\tdkim=pass header.d=crepes.fr\r\n{tampered}"
    );
    let path = dir.join("tampered.eml");
    std::fs::write(&path, tampered.as_bytes()).unwrap();
    let script = format!(
        r#"
import smtplib
with smtplib.SMTP("{ip}", {port}) as s:
    s.ehlo("mx.forged.example")
    s.sendmail("mallory@forged.example", ["bob@hamburger.edu"], open("{path}", "rb").read())
print("ok")
"#,
        ip = border.ip(),
        port = border.port(),
        path = path.display()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    let mail = wait_for_mail(&bob, 2);
    let forged = mail
        .iter()
        .find(|text| text.contains("send money."))
        .expect("the tampered copy");
    assert_eq!(
        forged
            .matches("Authentication-Results: mail.hamburger.edu")
            .count(),
        1,
        "the forged result must go: {forged}"
    );
    // mail-auth words a body hash mismatch as `neutral` with the reason; never a pass.
    assert!(!forged.contains("dkim=pass"), "{forged}");
    assert!(forged.contains("(body hash did not verify)"), "{forged}");
    assert!(forged.contains("spf=fail"), "{forged}");
    assert!(
        forged.contains("smtp.mailfrom=mallory@forged.example"),
        "{forged}"
    );
    let (ok, out) = dkimpy_verifies(forged.split_once("\r\n").unwrap().1.as_bytes(), dns);
    assert!(!ok, "dkimpy must reject the tampered copy: {out}");

    // An RSA-SHA256 signature of ours, verified by dkimpy through the same record set.
    if let Some(rsa_key) = &rsa_key {
        let message =
            b"From: alice@crepes.fr\r\nTo: bob@hamburger.edu\r\nSubject: rsa\r\n\r\nbody\r\n";
        let signed = format!(
            "{}{}",
            rsa_key.sign(message).unwrap(),
            String::from_utf8_lossy(message)
        );
        assert!(
            signed.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"),
            "{signed}"
        );
        let (ok, out) = dkimpy_verifies(signed.as_bytes(), dns);
        assert!(ok, "dkimpy (rsa): {out}\n{signed}");
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is required in CI"
        );
    }

    crepes_stop.trigger();
    hamburger_stop.trigger();
    dns_stop.trigger();
    let _ = std::fs::remove_dir_all(&dir);
}
