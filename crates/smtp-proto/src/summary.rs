//! One-line summaries of commands, replies and message data for the `wire` trace events,
//! with AUTH payloads redacted.

use crate::command::{self, Command};
use crate::reply::Reply;

/// The longest summary; longer ones are cut with `...`.
pub const MAX_SUMMARY: usize = 200;

/// Which way a traced message went, seen from the machine that records it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from the peer.
    Recv,
    /// Sent to the peer.
    Send,
}

/// One traced protocol message: what a driver puts in a `wire` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Which way it went.
    pub direction: Direction,
    /// Its one-line summary.
    pub summary: String,
}

/// The summary of a command: the line as a well-behaved client sends it
/// (`MAIL FROM:<alice@crepes.fr> SIZE=1234`), with an AUTH initial response redacted.
pub fn command(command: &Command) -> String {
    match command {
        Command::Auth {
            mechanism,
            initial_response: Some(_),
        } => format!("AUTH {mechanism} <redacted>"),
        other => cut(other.to_string()),
    }
}

/// The summary of a raw command line, decodable or not: the decoded command, or the line as
/// text (non-printable bytes escaped) if it does not decode. AUTH payloads are redacted.
pub fn command_line(line: &[u8]) -> String {
    match command::decode(line) {
        Ok(decoded) => self::command(&decoded),
        Err(_) => {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
            if line
                .get(..verb_end)
                .is_some_and(|verb| verb.eq_ignore_ascii_case(b"AUTH"))
            {
                return "AUTH <redacted>".to_string();
            }
            cut(escape(line))
        }
    }
}

/// The summary of a SASL response line (always redacted).
pub fn auth_response() -> String {
    "<SASL response redacted>".to_string()
}

/// The summary of a reply: `250 2.1.0 Ok`, the lines of a multi-line reply joined by spaces.
pub fn reply(reply: &Reply) -> String {
    cut(reply.to_string())
}

/// The summary of the message data of a transaction.
pub fn data(octets: u64) -> String {
    format!("<message, {octets} octets>")
}

fn escape(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                text.extend(c.escape_default());
            } else {
                text.push(c);
            }
        }
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_SUMMARY {
        let mut end = MAX_SUMMARY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::EnhancedCode;

    #[test]
    fn summaries() {
        assert_eq!(
            command_line(b"mail from:<alice@crepes.fr> size=1234\r\n"),
            "MAIL FROM:<alice@crepes.fr> SIZE=1234"
        );
        assert_eq!(
            command_line(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
            "AUTH PLAIN <redacted>"
        );
        assert_eq!(command_line(b"AUTH LOGIN\r\n"), "AUTH LOGIN");
        assert_eq!(command_line(b"auth bad mech x y\r\n"), "AUTH <redacted>");
        assert_eq!(command_line(b"FOO \x01\xff\r\n"), "FOO \\u{1}\\xff");
        assert_eq!(
            reply(&Reply::new(250, Some(EnhancedCode::SENDER_OK), "Ok")),
            "250 2.1.0 Ok"
        );
        assert_eq!(
            reply(&Reply::with_lines(
                250,
                None,
                vec!["mx".into(), "PIPELINING".into()]
            )),
            "250 mx PIPELINING"
        );
        let long = command_line(format!("NOOP {}", "é".repeat(300)).as_bytes());
        assert!(long.len() <= MAX_SUMMARY + 3 && long.ends_with("..."));
        assert_eq!(data(12), "<message, 12 octets>");
    }
}
