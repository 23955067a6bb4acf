//! The web mail in a real browser (seed §2.3.4, the HTTP pull): Debian's `chromium` driven
//! by `playwright-core` logs in as Bob, reads Alice's message and its attachment, replies
//! with an attachment through the submission path, and the reply arrives at crepes.fr; a
//! hostile HTML message runs no script and loads nothing remote; deleting moves to the
//! Trash, moving files the message in a folder; a forged POST is refused.

use crate::scratch;
use crate::smtp::{addr, config, python, tool_missing, wait_for_mail};
use mail_server::{ListenerKind, MailConfig};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Starts the mail server of `config` with the web mail on a web server beside it.
fn start_with_webmail(
    config: MailConfig,
) -> (Vec<(SocketAddr, ListenerKind)>, SocketAddr, netio::Shutdown) {
    let shutdown = netio::Shutdown::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = shutdown.clone();
    let root = config.data_dir.join("webmail-root");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = mail_server::bind(config).await.unwrap();
            let pages = webmail::Config {
                login_failure_delay: Duration::from_millis(50),
                ..webmail::Config::default()
            };
            let app = server.webmail(pages).unwrap();
            std::fs::create_dir_all(&root).unwrap();
            let mut web_config = web::WebServerConfig::new(root);
            web_config.listen = vec!["127.0.0.1:0".parse().unwrap()];
            web_config.apps.push(web::AppMount {
                prefix: String::new(),
                app: std::sync::Arc::new(app),
            });
            let web_server = web::bind(web_config).await.unwrap();
            tx.send((server.local_addrs(), web_server.local_addrs()[0]))
                .unwrap();
            let (mail, pages) = tokio::join!(server.run(stop.clone()), web_server.run(stop));
            mail.unwrap();
            pages.unwrap();
        });
    });
    let (addrs, web) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (addrs, web, shutdown)
}

/// The messages in a Maildir folder's `new/` and `cur/`.
fn messages(dir: &Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(dir.join(sub)).into_iter().flatten())
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect()
}

#[test]
fn bob_reads_and_replies_on_the_web_mail_in_chromium() {
    if tool_missing("python3") || tool_missing("chromium") || tool_missing("node") {
        return;
    }
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webmail");
    if !driver.join("node_modules/playwright-core").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "playwright-core is required in CI (npm ci in {})",
            driver.display()
        );
        eprintln!("skipped: run `npm ci` in {}", driver.display());
        return;
    }
    let dir = scratch("webmail");
    // A listener that would see any remote content the hostile message tries to load.
    let tracker = TcpListener::bind("127.0.0.1:0").unwrap();
    tracker.set_nonblocking(true).unwrap();
    let tracker_port = tracker.local_addr().unwrap().port();

    let mut crepes = config("mail.crepes.fr", "crepes.fr", &dir.join("crepes"));
    crepes.users.push(("alice".into(), "alicepw".into()));
    let (crepes_addrs, crepes_stop) = crate::smtp::start(crepes);
    let mut hamburger = config(
        "mail.hamburger.edu",
        "hamburger.edu",
        &dir.join("hamburger"),
    );
    hamburger.users.push(("bob".into(), "bobpw".into()));
    hamburger
        .routes
        .push(("crepes.fr".into(), addr(&crepes_addrs, ListenerKind::Smtp)));
    let (hamburger_addrs, web, hamburger_stop) = start_with_webmail(hamburger);
    let bob = dir.join("hamburger/mail/hamburger.edu/bob");
    // A folder of Bob's to move a message into (Maildir++).
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(bob.join(".Crepes").join(sub)).unwrap();
    }

    // Alice's message with an attachment, and a hostile HTML message from elsewhere.
    let script = format!(
        r#"
import smtplib
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "Alice <alice@crepes.fr>"
msg["To"] = "bob@hamburger.edu"
msg["Subject"] = "Crepes tonight?"
msg["Message-ID"] = "<crepes-1@crepes.fr>"
msg.set_content("Hi Bob,\nshall we make crepes tonight?\nAlice\n")
msg.add_attachment(b"flour, eggs, milk\n", maintype="text", subtype="plain", filename="recipe.txt")
hostile = EmailMessage()
hostile["From"] = "mallory@evil.example"
hostile["To"] = "bob@hamburger.edu"
hostile["Subject"] = "Look at this"
hostile.set_content("plain part")
hostile.add_alternative(
    '<p id="hello">Hello from Mallory</p>'
    '<script>parent.postMessage("pwned", "*"); parent.document.title = "pwned";</script>'
    '<img src="http://127.0.0.1:{tracker_port}/pixel.png" onerror="parent.postMessage(\'onerror\', \'*\')">'
    '<a href="javascript:parent.postMessage(\'link\', \'*\')">click</a>',
    subtype="html")
with smtplib.SMTP("127.0.0.1", {smtp}) as s:
    s.send_message(msg, "alice@crepes.fr", ["bob@hamburger.edu"])
    s.send_message(hostile, "mallory@evil.example", ["bob@hamburger.edu"])
print("ok")
"#,
        smtp = addr(&hamburger_addrs, ListenerKind::Smtp).port()
    );
    let (ok, out) = python(&script).unwrap();
    assert!(ok, "{out}");
    assert_eq!(wait_for_mail(&bob, 2).len(), 2);

    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("webmail-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let output = Command::new("node")
        .arg(driver.join("drive.js"))
        .env("WEBMAIL_URL", format!("http://{web}"))
        .env("WEBMAIL_USER", "bob")
        .env("WEBMAIL_PASSWORD", "bobpw")
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", "/usr/bin/chromium")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{log}");
    assert!(output.status.success(), "the browser run failed:\n{log}");
    assert!(log.contains("browser: ok"), "{log}");

    // Nothing remote was fetched for the hostile message.
    assert!(
        tracker.accept().is_err(),
        "the hostile message loaded remote content"
    );

    // The reply, with Bob's attachment, reached Alice at crepes.fr through both servers.
    let alice = dir.join("crepes/mail/crepes.fr/alice");
    let replies = wait_for_mail(&alice, 1);
    assert_eq!(replies.len(), 1, "{replies:?}");
    let reply = &replies[0];
    assert!(reply.contains("Subject: Re: Crepes tonight?"), "{reply}");
    assert!(
        reply.contains("In-Reply-To: <crepes-1@crepes.fr>"),
        "{reply}"
    );
    assert!(reply.contains("Yes, with chocolate!"), "{reply}");
    assert!(reply.contains("> shall we make crepes tonight?"), "{reply}");
    assert!(reply.contains("shopping.txt"), "{reply}");
    assert!(
        reply.contains("by mail.hamburger.edu (applayer) with ESMTPA")
            || reply.contains("by mail.hamburger.edu (applayer) with HTTP"),
        "{reply}"
    );
    assert!(
        reply.contains("by mail.crepes.fr (applayer) with ESMTP"),
        "{reply}"
    );

    // A copy in Bob's Sent; Alice's message filed in Crepes; the hostile one in the Trash.
    let sent = messages(&bob.join(".Sent"));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Re: Crepes tonight?"));
    let filed = messages(&bob.join(".Crepes"));
    assert_eq!(filed.len(), 1);
    assert!(filed[0].contains("Subject: Crepes tonight?"));
    let trash = messages(&bob.join(".Trash"));
    assert_eq!(trash.len(), 1);
    assert!(trash[0].contains("Subject: Look at this"));
    assert!(messages(&bob).is_empty(), "the INBOX should be empty now");

    hamburger_stop.trigger();
    crepes_stop.trigger();
}
