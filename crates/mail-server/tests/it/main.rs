//! Integration tests of the mail server: the queue's durability and recovery, real clients
//! (Python's smtplib, swaks) and Postfix as a peer both ways.

mod dkim;
mod fetch;
mod fetchmail;
mod imap;
mod neomutt;
mod pop3;
mod postfix;
mod queue;
mod smtp;
mod webmail;

use std::path::PathBuf;

/// A fresh empty folder under the system temp dir.
pub(crate) fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mail-server-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
