//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463, RFC 2034): the
//! `Reply` value and its encoder, and the incremental `ReplyParser` a client reads them with.

use std::fmt;

/// RFC 5321 §4.5.3.1.5: the longest reply line, with its CRLF.
pub const MAX_REPLY_LINE: usize = 512;
/// The most lines one reply may have before the parser gives up (EHLO replies have a dozen).
pub const MAX_REPLY_LINES: usize = 100;

/// An enhanced mail system status code `class.subject.detail` (RFC 3463 §2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject (0-999): 1 addressing, 2 mailbox, 3 mail system, 4 network, 5 protocol,
    /// 6 content, 7 security.
    pub subject: u16,
    /// The detail (0-999).
    pub detail: u16,
}

impl EnhancedCode {
    /// A code from its three parts.
    pub const fn new(class: u8, subject: u16, detail: u16) -> EnhancedCode {
        EnhancedCode {
            class,
            subject,
            detail,
        }
    }

    /// X.0.0: other undefined status (success when the class is 2).
    pub const OK: EnhancedCode = EnhancedCode::new(2, 0, 0);
    /// X.1.0: other address status (Postfix answers an accepted MAIL FROM with 2.1.0).
    pub const SENDER_OK: EnhancedCode = EnhancedCode::new(2, 1, 0);
    /// X.1.1: bad destination mailbox address.
    pub const BAD_MAILBOX: EnhancedCode = EnhancedCode::new(5, 1, 1);
    /// X.1.3: bad destination mailbox address syntax.
    pub const BAD_RECIPIENT_SYNTAX: EnhancedCode = EnhancedCode::new(5, 1, 3);
    /// X.1.5: destination address valid.
    pub const RECIPIENT_OK: EnhancedCode = EnhancedCode::new(2, 1, 5);
    /// X.1.7: bad sender's mailbox address syntax.
    pub const BAD_SENDER_SYNTAX: EnhancedCode = EnhancedCode::new(5, 1, 7);
    /// X.2.2: mailbox full.
    pub const MAILBOX_FULL: EnhancedCode = EnhancedCode::new(4, 2, 2);
    /// X.3.0: other or undefined mail system status.
    pub const SYSTEM: EnhancedCode = EnhancedCode::new(4, 3, 0);
    /// X.3.2: system not accepting network messages (shutting down).
    pub const NOT_ACCEPTING: EnhancedCode = EnhancedCode::new(4, 3, 2);
    /// X.3.4: message too big for system.
    pub const TOO_BIG: EnhancedCode = EnhancedCode::new(5, 3, 4);
    /// X.4.2: bad connection (timeouts, lost connections).
    pub const BAD_CONNECTION: EnhancedCode = EnhancedCode::new(4, 4, 2);
    /// X.5.0: other or undefined protocol status.
    pub const PROTOCOL: EnhancedCode = EnhancedCode::new(5, 5, 0);
    /// X.5.1: invalid command (also used for bad sequences).
    pub const INVALID_COMMAND: EnhancedCode = EnhancedCode::new(5, 5, 1);
    /// X.5.2: syntax error.
    pub const SYNTAX: EnhancedCode = EnhancedCode::new(5, 5, 2);
    /// X.5.3: too many recipients.
    pub const TOO_MANY_RECIPIENTS: EnhancedCode = EnhancedCode::new(4, 5, 3);
    /// X.5.4: invalid command arguments.
    pub const INVALID_ARGUMENTS: EnhancedCode = EnhancedCode::new(5, 5, 4);
    /// X.5.6: authentication exchange line is too long (RFC 4954 §6).
    pub const AUTH_LINE_TOO_LONG: EnhancedCode = EnhancedCode::new(5, 5, 6);
    /// X.6.3: conversion required but not supported.
    pub const CONVERSION_UNSUPPORTED: EnhancedCode = EnhancedCode::new(5, 6, 3);
    /// X.6.7: non-ASCII addresses not permitted for that sender or recipient (RFC 6531 §3.5).
    pub const UTF8_REQUIRED: EnhancedCode = EnhancedCode::new(5, 6, 7);
    /// X.7.0: other or undefined security status (RFC 4954: authentication aborted).
    pub const SECURITY: EnhancedCode = EnhancedCode::new(5, 7, 0);
    /// X.7.1: delivery not authorized, message refused.
    pub const NOT_AUTHORIZED: EnhancedCode = EnhancedCode::new(5, 7, 1);
    /// X.7.4: security features not supported (Postfix: TLS required but not offered).
    pub const SECURITY_UNSUPPORTED: EnhancedCode = EnhancedCode::new(4, 7, 4);
    /// X.7.8: authentication credentials invalid (RFC 4954 §6).
    pub const AUTH_INVALID: EnhancedCode = EnhancedCode::new(5, 7, 8);
    /// X.7.11: encryption required for requested authentication mechanism (RFC 4954 §6).
    pub const ENCRYPTION_REQUIRED: EnhancedCode = EnhancedCode::new(5, 7, 11);

    /// Parses `class.subject.detail` (RFC 3463 §2: class 2, 4 or 5; subject and detail of
    /// one to three digits).
    pub fn parse(text: &str) -> Option<EnhancedCode> {
        let mut parts = text.split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let number = |part: &str, max_len: usize| -> Option<u16> {
            if part.is_empty() || part.len() > max_len || !part.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            part.parse().ok()
        };
        let class = number(class, 1)? as u8;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(EnhancedCode::new(
            class,
            number(subject, 3)?,
            number(detail, 3)?,
        ))
    }

    /// This code with its class set to that of `reply_code` (RFC 3463 §2: the class of the
    /// enhanced code must agree with the reply's first digit).
    pub fn for_reply(self, reply_code: u16) -> EnhancedCode {
        match reply_code / 100 {
            class @ (2 | 4 | 5) => EnhancedCode {
                class: class as u8,
                ..self
            },
            _ => self,
        }
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP reply: a three-digit code, an optional enhanced code and its text lines
/// (RFC 5321 §4.2.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The reply code (RFC 5321 §4.2.1: 2yz positive, 3yz intermediate, 4yz transient,
    /// 5yz permanent).
    pub code: u16,
    /// The enhanced status code on every line (RFC 2034 §3); none on greetings, EHLO/HELO
    /// replies and 3yz replies.
    pub enhanced: Option<EnhancedCode>,
    /// The text of each line, without code, enhanced code or CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply; the enhanced code's class is set to agree with `code`.
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: enhanced.map(|e| e.for_reply(code)),
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply.
    pub fn with_lines(code: u16, enhanced: Option<EnhancedCode>, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: enhanced.map(|e| e.for_reply(code)),
            lines,
        }
    }

    /// `250 2.0.0 <text>`.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, Some(EnhancedCode::OK), text)
    }

    /// `250 2.1.0 Ok`, the answer to an accepted MAIL FROM.
    pub fn sender_ok() -> Reply {
        Reply::new(250, Some(EnhancedCode::SENDER_OK), "Ok")
    }

    /// `250 2.1.5 Ok`, the answer to an accepted RCPT TO.
    pub fn recipient_ok() -> Reply {
        Reply::new(250, Some(EnhancedCode::RECIPIENT_OK), "Ok")
    }

    /// `250 2.0.0 Ok: queued as <id>`, Postfix's answer to a stored message.
    pub fn queued(id: &str) -> Reply {
        Reply::ok(format!("Ok: queued as {id}"))
    }

    /// 2yz.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3yz: the server waits for more (354 after DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4yz: a transient failure; the client may try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5yz (or anything outside 2yz-4yz, which RFC 5321 §4.2.1 does not define): a permanent
    /// failure.
    pub fn is_permanent(&self) -> bool {
        !(200..500).contains(&self.code)
    }

    /// 421: the server is closing the connection (RFC 5321 §3.8).
    pub fn is_closing(&self) -> bool {
        self.code == 421
    }

    /// All lines joined by spaces, with the enhanced code in front: the text a log shows
    /// after the code (`2.0.0 Ok: queued as X`).
    pub fn text(&self) -> String {
        let mut text = String::new();
        if let Some(enhanced) = self.enhanced {
            text.push_str(&enhanced.to_string());
        }
        for line in &self.lines {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line);
        }
        text
    }

    /// Appends the reply in wire form: `250-` on all lines but the last, `250 ` on the last
    /// (RFC 5321 §4.2.1), the enhanced code after the separator on every line (RFC 2034 §3).
    /// Control characters in the text are sent as spaces, so a reply can never carry a CRLF
    /// of its own, and a line's text is cut to fit the 512 octets of RFC 5321 §4.5.3.1.5
    /// (code and CRLF included), so every reply we send is one our parser (and any client)
    /// accepts.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let code = self.code.min(999);
        let count = self.lines.len().max(1);
        for index in 0..count {
            let line_start = out.len();
            out.extend_from_slice(format!("{code:03}").as_bytes());
            out.push(if index + 1 == count { b' ' } else { b'-' });
            let mut started = false;
            if let Some(enhanced) = self.enhanced {
                out.extend_from_slice(enhanced.to_string().as_bytes());
                started = true;
            }
            if let Some(line) = self.lines.get(index) {
                if !line.is_empty() {
                    if started {
                        out.push(b' ');
                    }
                    let budget = (MAX_REPLY_LINE - 2).saturating_sub(out.len() - line_start);
                    push_text(line, budget, out);
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply in wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    /// One line: `250 2.1.0 Ok` (lines joined by spaces).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        if text.is_empty() {
            write!(f, "{:03}", self.code)
        } else {
            write!(f, "{:03} {text}", self.code)
        }
    }
}

/// Appends `text` with control characters as spaces, at most `budget` octets (whole
/// characters only).
fn push_text(text: &str, budget: usize, out: &mut Vec<u8>) {
    let mut used = 0;
    for c in text.chars() {
        let mut buffer = [0; 4];
        let bytes: &[u8] = if c.is_control() {
            b" "
        } else {
            c.encode_utf8(&mut buffer).as_bytes()
        };
        if used + bytes.len() > budget {
            break;
        }
        out.extend_from_slice(bytes);
        used += bytes.len();
    }
}

/// Why a reply could not be read; the client treats it as a lost connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line longer than 512 octets.
    #[error("reply line longer than {max} octets")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// More lines than the parser accepts.
    #[error("reply of more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// A line that does not start with a reply code and a separator.
    #[error("malformed reply line")]
    Malformed,
    /// A continuation line with a code different from the first line's.
    #[error("reply code changed from {first} to {line} within one reply")]
    CodeMismatch {
        /// The first line's code.
        first: u16,
        /// This line's code.
        line: u16,
    },
}

/// Reads replies line by line as the bytes come (RFC 5321 §4.2.1). Lines end in CRLF (a bare
/// LF is accepted too: being liberal here cannot smuggle anything).
#[derive(Clone, Debug, Default)]
pub struct ReplyParser {
    code: Option<u16>,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl ReplyParser {
    /// A parser waiting for the first line of a reply.
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Reads the complete lines at the start of `input`, up to the end of one reply. Returns
    /// how many bytes were used (the caller drops them) and the reply if it is complete; the
    /// bytes of an incomplete line are left for the next call.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Reply>), ReplyError> {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() >= MAX_REPLY_LINE {
                    return Err(ReplyError::LineTooLong {
                        max: MAX_REPLY_LINE,
                    });
                }
                return Ok((used, None));
            };
            if newline + 1 > MAX_REPLY_LINE {
                return Err(ReplyError::LineTooLong {
                    max: MAX_REPLY_LINE,
                });
            }
            let line = rest.get(..newline).unwrap_or(&[]);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            used += newline + 1;
            if let Some(reply) = self.line(line)? {
                return Ok((used, Some(reply)));
            }
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let digits = line.get(..3).ok_or(ReplyError::Malformed)?;
        // RFC 5321 §4.2: the first digit is 2-5, the second 0-5, the third 0-9.
        let valid = matches!(digits, [b'2'..=b'5', b'0'..=b'5', b'0'..=b'9']);
        if !valid {
            return Err(ReplyError::Malformed);
        }
        let code = digits
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(ReplyError::Malformed),
        };
        let text = String::from_utf8_lossy(line.get(4..).unwrap_or(&[]));
        let text = text.trim_end();
        let (enhanced, text) = split_enhanced(code, text);
        match self.code {
            None => {
                self.code = Some(code);
                self.enhanced = enhanced;
            }
            Some(first) if first != code => {
                *self = ReplyParser::new();
                return Err(ReplyError::CodeMismatch { first, line: code });
            }
            Some(_) => {}
        }
        if self.lines.len() >= MAX_REPLY_LINES {
            *self = ReplyParser::new();
            return Err(ReplyError::TooManyLines {
                max: MAX_REPLY_LINES,
            });
        }
        self.lines.push(text.to_string());
        if !last {
            return Ok(None);
        }
        let parser = std::mem::take(self);
        Ok(Some(Reply {
            code,
            enhanced: parser.enhanced,
            lines: parser.lines,
        }))
    }
}

/// Splits an enhanced code off the front of a reply line's text, if it has one whose class
/// matches the reply code (RFC 2034 §3).
fn split_enhanced(code: u16, text: &str) -> (Option<EnhancedCode>, &str) {
    let (first, rest) = match text.find(' ') {
        Some(space) => (
            text.get(..space).unwrap_or(""),
            text.get(space + 1..).unwrap_or(""),
        ),
        None => (text, ""),
    };
    match EnhancedCode::parse(first) {
        Some(enhanced) if u16::from(enhanced.class) == code / 100 => (Some(enhanced), rest),
        _ => (None, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(mut input: &[u8]) -> Result<Vec<Reply>, ReplyError> {
        let mut parser = ReplyParser::new();
        let mut replies = Vec::new();
        loop {
            let (used, reply) = parser.decode(input)?;
            input = &input[used..];
            match reply {
                Some(reply) => replies.push(reply),
                None => return Ok(replies),
            }
        }
    }

    #[test]
    fn encodes_single_and_multi_line_replies() {
        assert_eq!(Reply::sender_ok().to_bytes(), b"250 2.1.0 Ok\r\n".to_vec());
        let ehlo = Reply::with_lines(
            250,
            None,
            vec![
                "mail.crepes.fr".into(),
                "PIPELINING".into(),
                "8BITMIME".into(),
            ],
        );
        assert_eq!(
            ehlo.to_bytes(),
            b"250-mail.crepes.fr\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_vec()
        );
        // RFC 2034 §3: the enhanced code goes on every line.
        let multi = Reply::with_lines(
            550,
            Some(EnhancedCode::BAD_MAILBOX),
            vec!["No such user".into(), "Try again".into()],
        );
        assert_eq!(
            multi.to_bytes(),
            b"550-5.1.1 No such user\r\n550 5.1.1 Try again\r\n".to_vec()
        );
        assert_eq!(Reply::new(334, None, "").to_bytes(), b"334 \r\n".to_vec());
        assert_eq!(
            Reply::with_lines(250, None, vec![]).to_bytes(),
            b"250 \r\n".to_vec()
        );
        // A CRLF in the text cannot end the line early.
        assert_eq!(
            Reply::ok("a\r\n250 b").to_bytes(),
            b"250 2.0.0 a  250 b\r\n".to_vec()
        );
    }

    #[test]
    fn enhanced_class_follows_the_reply_code() {
        let reply = Reply::new(452, Some(EnhancedCode::TOO_BIG), "later");
        assert_eq!(reply.enhanced, Some(EnhancedCode::new(4, 3, 4)));
        assert_eq!(reply.to_string(), "452 4.3.4 later");
        assert_eq!(
            EnhancedCode::parse("5.7.11"),
            Some(EnhancedCode::ENCRYPTION_REQUIRED)
        );
        for bad in ["3.0.0", "5.0", "5.0.0.0", "5.1000.0", "5.a.0", "", "55.1.1"] {
            assert_eq!(EnhancedCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_replies_incrementally() {
        let wire = b"250-mail.crepes.fr Hello\r\n250-SIZE 1000\r\n250 2.0.0 last\r\n220 x\r\n";
        let all = parse_all(wire).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].code, 250);
        assert_eq!(all[0].enhanced, None, "the first line decides");
        assert_eq!(all[0].lines, ["mail.crepes.fr Hello", "SIZE 1000", "last"]);
        assert_eq!(all[1].lines, ["x"]);
        // Byte by byte gives the same replies.
        let mut parser = ReplyParser::new();
        let mut buffer = Vec::new();
        let mut replies = Vec::new();
        for &byte in wire.iter() {
            buffer.push(byte);
            let (used, reply) = parser.decode(&buffer).unwrap();
            buffer.drain(..used);
            replies.extend(reply);
        }
        assert_eq!(replies, all);
    }

    #[test]
    fn parses_enhanced_codes() {
        let all = parse_all(b"550-5.1.1 <bob@x>: no\r\n550 5.1.1 such user\r\n").unwrap();
        assert_eq!(all[0].enhanced, Some(EnhancedCode::BAD_MAILBOX));
        assert_eq!(all[0].lines, ["<bob@x>: no", "such user"]);
        // A class that disagrees with the code is just text.
        let all = parse_all(b"250 5.1.1 odd\r\n").unwrap();
        assert_eq!(all[0].enhanced, None);
        assert_eq!(all[0].lines, ["5.1.1 odd"]);
        let all = parse_all(b"354\r\n250\n").unwrap();
        assert_eq!(all[0].lines, [""]);
        assert_eq!(all[1].code, 250);
    }

    #[test]
    fn rejects_malformed_replies() {
        assert_eq!(parse_all(b"hello\r\n"), Err(ReplyError::Malformed));
        assert_eq!(parse_all(b"25\r\n"), Err(ReplyError::Malformed));
        assert_eq!(parse_all(b"650 x\r\n"), Err(ReplyError::Malformed));
        assert_eq!(parse_all(b"260 x\r\n"), Err(ReplyError::Malformed));
        assert_eq!(parse_all(b"250x\r\n"), Err(ReplyError::Malformed));
        assert_eq!(
            parse_all(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::CodeMismatch {
                first: 250,
                line: 251
            })
        );
        let long = format!("250 {}\r\n", "x".repeat(600));
        assert!(matches!(
            parse_all(long.as_bytes()),
            Err(ReplyError::LineTooLong { .. })
        ));
        let unterminated = "x".repeat(600);
        assert!(matches!(
            parse_all(unterminated.as_bytes()),
            Err(ReplyError::LineTooLong { .. })
        ));
        let many = "250-x\r\n".repeat(200);
        assert!(matches!(
            parse_all(many.as_bytes()),
            Err(ReplyError::TooManyLines { .. })
        ));
    }

    #[test]
    fn classes() {
        let reply = |code| Reply::new(code, None, "");
        assert!(reply(250).is_positive());
        assert!(reply(354).is_intermediate());
        assert!(reply(421).is_transient() && reply(421).is_closing());
        assert!(reply(554).is_permanent());
        assert!(!reply(450).is_permanent());
    }

    #[test]
    fn long_reply_lines_are_cut_to_512_octets() {
        let reply = Reply::new(550, Some(EnhancedCode::BAD_MAILBOX), "é".repeat(600));
        let bytes = reply.to_bytes();
        assert!(bytes.len() <= MAX_REPLY_LINE, "{}", bytes.len());
        assert!(bytes.ends_with(b"\r\n"));
        let mut parser = ReplyParser::new();
        let (_, parsed) = parser.decode(&bytes).unwrap();
        assert_eq!(parsed.unwrap().code, 550);
    }
}
