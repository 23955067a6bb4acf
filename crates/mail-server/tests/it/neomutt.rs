//! NeoMutt against our IMAP server (seed §2.3.4, IMAP keeps the folders on the server):
//! driven in `tmux`, Bob's NeoMutt logs in over implicit TLS (the test CA), opens Alice's
//! message, saves it to a new folder `=Crepes` (NeoMutt's CREATE, then COPY or MOVE),
//! expunges the INBOX, and reads the message in the folder. The files on disk must agree.

use crate::imap::BobServer;
use crate::smtp::{tool_missing, wait_for_mail};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own (its own socket), so nothing else's sessions are touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "mutt"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "mutt"])
    }

    /// Waits (20 s at most) for `text` on the screen.
    fn wait_for(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no {text:?} on NeoMutt's screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn files(dir: &Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(dir.join(sub)).into_iter().flatten())
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn neomutt_reads_and_files_a_message_over_imap() {
    if tool_missing("python3") || tool_missing("neomutt") || tool_missing("tmux") {
        return;
    }
    let bob = BobServer::start("neomutt");
    let (dir, ca_file, imaps) = (&bob.dir, &bob.ca_file, bob.imaps);
    let maildir = dir.join("hamburger/mail/hamburger.edu/bob");
    bob.run(
        r#"
with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
    s.sendmail("alice@crepes.fr", ["bob@hamburger.edu"],
               b"From: Alice <alice@crepes.fr>\r\nTo: bob@hamburger.edu\r\nSubject: Crepes for the mutt\r\n\r\nHello Bob from Alice\r\n")
"#,
    );
    wait_for_mail(&maildir, 1);

    let muttrc = dir.join("muttrc");
    std::fs::write(
        &muttrc,
        format!(
            r#"set folder="imaps://bob@127.0.0.1:{imaps}/"
set spoolfile="+INBOX"
set imap_pass="bobpw"
set ssl_ca_certificates_file="{ca}"
set certificate_file="{certs}"
set header_cache=""
set message_cachedir=""
set imap_check_subscribed=no
set imap_idle=no
set mail_check=1
set timeout=1
set delete=yes
set quit=yes
set move=no
set confirmappend=no
set confirmcreate=no
set sort=date
set wait_key=no
"#,
            ca = ca_file.display(),
            certs = dir.join("certificates").display(),
        ),
    )
    .unwrap();
    let tmux = Tmux {
        socket: format!("applayer-neomutt-{}", std::process::id()),
    };
    let command = format!(
        "HOME={home} neomutt -n -F {rc}",
        home = dir.display(),
        rc = muttrc.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "mutt",
        "-x",
        "160",
        "-y",
        "40",
        &command,
    ]);
    // The index over IMAP: one new message from Alice.
    tmux.wait_for("Crepes for the mutt");
    tmux.wait_for("+INBOX [Msgs:1 New:1");
    // Open it.
    tmux.keys(&["Enter"]);
    tmux.wait_for("Hello Bob from Alice");
    tmux.keys(&["q"]);
    tmux.wait_for("+INBOX [Msgs:1");
    // Save it to a folder that does not exist yet, then expunge the INBOX.
    tmux.keys(&["s"]);
    tmux.wait_for("Save to mailbox");
    tmux.keys(&["C-u", "=Crepes", "Enter"]);
    tmux.wait_for("Del:1");
    tmux.keys(&["$"]);
    tmux.wait_for("+INBOX [Msgs:0");
    // Change to the folder and read it there.
    tmux.keys(&["c"]);
    tmux.wait_for("Open mailbox");
    tmux.keys(&["C-u", "=Crepes", "Enter"]);
    tmux.wait_for("+Crepes [Msgs:1");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Hello Bob from Alice");
    tmux.keys(&["q"]);
    tmux.keys(&["q"]);
    drop(tmux);

    assert!(files(&maildir).is_empty(), "{:?}", files(&maildir));
    let filed = files(&maildir.join(".Crepes"));
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert!(filed[0].ends_with(":2,S"), "read, so \\Seen: {filed:?}");
}
