//! The client's reading of POP3 and IMAP replies, without I/O: POP3 status lines and
//! dot-stuffed multi-line bodies (RFC 1939 §3), IMAP response framing with literals and the
//! items of untagged data (RFC 9051 §4, §7). The driver in `fetch` feeds it whole lines.

/// The largest line a server may send us (a FETCH line before its literal, a LIST line).
pub(super) const MAX_LINE: usize = 64 * 1024;

/// The largest message (or literal) we take.
pub(super) const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// A POP3 status line: `Ok(text)` for `+OK text`, `Err(text)` for `-ERR text`, else a
/// protocol error.
pub(super) fn pop3_status(line: &str) -> Result<Result<&str, &str>, String> {
    if let Some(rest) = line.strip_prefix("+OK") {
        Ok(Ok(rest.trim_start()))
    } else if let Some(rest) = line.strip_prefix("-ERR") {
        Ok(Err(rest.trim_start()))
    } else {
        Err(format!("not a POP3 status line: {line:?}"))
    }
}

/// One line of a POP3 multi-line body as sent (CRLF removed): `None` at the terminating dot,
/// else the line with its dot-stuffing undone.
pub(super) fn pop3_unstuff(line: &[u8]) -> Option<&[u8]> {
    match line {
        b"." => None,
        [b'.', rest @ ..] => Some(rest),
        _ => Some(line),
    }
}

/// Where a line ends in a literal's announcement `{N}` or `{N+}`: N.
pub(super) fn literal_announced(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&byte| byte == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// An item of an IMAP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    /// An atom or number (`FLAGS`, `123`, `\Seen`, `BODY[]`, `[UIDVALIDITY 9]`).
    Atom(String),
    /// A quoted string or a literal.
    Text(Vec<u8>),
    /// `NIL`.
    Nil,
    /// A parenthesised list.
    List(Vec<Item>),
}

impl Item {
    /// The atom's text, if it is one.
    pub(super) fn atom(&self) -> Option<&str> {
        match self {
            Item::Atom(text) => Some(text),
            _ => None,
        }
    }

    /// An atom's, a string's or a literal's text (for names that may come either way).
    pub(super) fn text(&self) -> Option<String> {
        match self {
            Item::Atom(text) => Some(text.clone()),
            Item::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }
}

/// The items of a whole response (its lines joined by CRLF, literals in place after their
/// `{N}` announcements).
pub(super) fn items(input: &[u8]) -> Result<Vec<Item>, String> {
    let mut parser = Parser { input, at: 0 };
    let mut found = Vec::new();
    loop {
        parser.skip_spaces();
        if parser.at >= input.len() {
            return Ok(found);
        }
        found.push(parser.item(0)?);
    }
}

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        while self.input.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn item(&mut self, depth: usize) -> Result<Item, String> {
        if depth > 32 {
            return Err("lists nested too deeply".into());
        }
        match self.input.get(self.at) {
            Some(b'(') => {
                self.at += 1;
                let mut list = Vec::new();
                loop {
                    self.skip_spaces();
                    match self.input.get(self.at) {
                        Some(b')') => {
                            self.at += 1;
                            return Ok(Item::List(list));
                        }
                        None => return Err("a list is not closed".into()),
                        Some(_) => list.push(self.item(depth + 1)?),
                    }
                }
            }
            Some(b'"') => {
                self.at += 1;
                let mut text = Vec::new();
                loop {
                    match self.input.get(self.at) {
                        Some(b'"') => {
                            self.at += 1;
                            return Ok(Item::Text(text));
                        }
                        Some(b'\\') => {
                            let escaped = *self.input.get(self.at + 1).ok_or("a bad escape")?;
                            text.push(escaped);
                            self.at += 2;
                        }
                        Some(b'\r' | b'\n') | None => return Err("a string is not closed".into()),
                        Some(&byte) => {
                            text.push(byte);
                            self.at += 1;
                        }
                    }
                }
            }
            Some(b'{') => {
                let close = self.input[self.at..]
                    .iter()
                    .position(|&byte| byte == b'}')
                    .ok_or("a literal's length is not closed")?;
                let announced = literal_announced(&self.input[self.at..=self.at + close])
                    .ok_or("a bad literal length")?;
                let start = self.at + close + 1;
                let body = self
                    .input
                    .get(start..start + 2)
                    .filter(|crlf| *crlf == b"\r\n")
                    .map(|_| start + 2)
                    .ok_or("a literal's length is not followed by CRLF")?;
                let text = self
                    .input
                    .get(body..body + announced)
                    .ok_or("a literal is shorter than announced")?;
                self.at = body + announced;
                Ok(Item::Text(text.to_vec()))
            }
            Some(b')') => Err("an unexpected `)`".into()),
            Some(_) => {
                let start = self.at;
                let mut brackets = 0usize;
                while let Some(&byte) = self.input.get(self.at) {
                    match byte {
                        b'[' => brackets += 1,
                        b']' => brackets = brackets.saturating_sub(1),
                        b' ' | b'(' | b')' | b'"' | b'\r' | b'\n' if brackets == 0 => break,
                        b'\r' | b'\n' => return Err("a bracket is not closed".into()),
                        _ => {}
                    }
                    self.at += 1;
                }
                let atom = String::from_utf8_lossy(&self.input[start..self.at]).into_owned();
                Ok(if atom.eq_ignore_ascii_case("NIL") {
                    Item::Nil
                } else {
                    Item::Atom(atom)
                })
            }
            None => Err("an item is missing".into()),
        }
    }
}

/// A tagged or untagged status response: (tag, `OK`/`NO`/`BAD`/`BYE`/`PREAUTH`, text), for
/// lines whose second word is one of those.
pub(super) fn imap_status(line: &str) -> Option<(&str, &str, &str)> {
    let (tag, rest) = line.split_once(' ')?;
    let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
    ["OK", "NO", "BAD", "BYE", "PREAUTH"]
        .iter()
        .any(|known| known.eq_ignore_ascii_case(status))
        .then_some((tag, status, text))
}

/// The number in a response code such as `[UIDVALIDITY 3857529045]` at the start of `text`.
pub(super) fn response_code_number(text: &str, code: &str) -> Option<u64> {
    let inner = text.strip_prefix('[')?.split(']').next()?;
    let (name, value) = inner.split_once(' ')?;
    name.eq_ignore_ascii_case(code)
        .then(|| value.trim().parse().ok())
        .flatten()
}

/// `name` as an IMAP astring we can send: quoted, or `None` when it needs a literal.
pub(super) fn quoted(name: &str) -> Option<String> {
    if name
        .bytes()
        .any(|byte| byte == b'\r' || byte == b'\n' || byte == 0 || !byte.is_ascii())
    {
        return None;
    }
    Some(format!(
        "\"{}\"",
        name.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop3_status_lines() {
        assert_eq!(pop3_status("+OK 2 320"), Ok(Ok("2 320")));
        assert_eq!(pop3_status("+OK"), Ok(Ok("")));
        assert_eq!(
            pop3_status("-ERR no such message"),
            Ok(Err("no such message"))
        );
        assert!(pop3_status("* OK imap").is_err());
    }

    #[test]
    fn dot_stuffing_is_undone_and_the_dot_ends() {
        assert_eq!(pop3_unstuff(b"..hidden"), Some(&b".hidden"[..]));
        assert_eq!(pop3_unstuff(b"text"), Some(&b"text"[..]));
        assert_eq!(pop3_unstuff(b"."), None);
    }

    #[test]
    fn literals_are_announced_at_the_end_only() {
        assert_eq!(literal_announced(b"* 1 FETCH (BODY[] {342}"), Some(342));
        assert_eq!(literal_announced(b"a APPEND x {12+}"), Some(12));
        assert_eq!(literal_announced(b"* OK {x}"), None);
        assert_eq!(literal_announced(b"* OK {}"), None);
        assert_eq!(literal_announced(b"* OK {99999999999}"), None);
        assert_eq!(literal_announced(b"* OK done"), None);
    }

    #[test]
    fn a_fetch_response_with_a_literal() {
        let response = b"* 3 FETCH (UID 17 FLAGS (\\Seen $Junk) BODY[] {11}\r\nHi\r\n\r\n(x)\") \"q\\\"s\" NIL)";
        let found = items(response).unwrap();
        assert_eq!(found[0], Item::Atom("*".into()));
        assert_eq!(found[1], Item::Atom("3".into()));
        let Item::List(data) = &found[3] else {
            panic!("{found:?}")
        };
        assert_eq!(data[1], Item::Atom("17".into()));
        assert_eq!(
            data[3],
            Item::List(vec![
                Item::Atom("\\Seen".into()),
                Item::Atom("$Junk".into())
            ])
        );
        assert_eq!(data[4], Item::Atom("BODY[]".into()));
        assert_eq!(data[5], Item::Text(b"Hi\r\n\r\n(x)\")".to_vec()));
        assert_eq!(data[6], Item::Text(b"q\"s".to_vec()));
        assert_eq!(data[7], Item::Nil);
    }

    #[test]
    fn bracketed_atoms_keep_their_spaces_and_parentheses() {
        let found = items(b"* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)] {0}\r\n)").unwrap();
        let Item::List(data) = &found[3] else {
            panic!("{found:?}")
        };
        assert_eq!(data[0], Item::Atom("BODY[HEADER.FIELDS (FROM TO)]".into()));
        assert_eq!(data[1], Item::Text(Vec::new()));
    }

    #[test]
    fn list_responses_and_bad_input() {
        let found = items(b"* LIST (\\HasNoChildren \\Sent) \".\" Sent").unwrap();
        assert_eq!(found[3], Item::Text(b".".to_vec()));
        assert_eq!(found[4].text().as_deref(), Some("Sent"));
        for bad in [
            &b"* 1 FETCH (UID 1"[..],
            b"* 1 FETCH (BODY[] {10}\r\nshort)",
            b"* \"open",
            b"* 1 FETCH (BODY[] {3}xyz)",
            b")",
        ] {
            assert!(items(bad).is_err(), "{bad:?}");
        }
        let deep = vec![b'('; 100];
        assert!(items(&deep).is_err());
    }

    #[test]
    fn status_lines_and_codes() {
        assert_eq!(
            imap_status("a1 OK [READ-ONLY] EXAMINE done"),
            Some(("a1", "OK", "[READ-ONLY] EXAMINE done"))
        );
        assert_eq!(imap_status("* 3 EXISTS"), None);
        assert_eq!(
            response_code_number("[UIDVALIDITY 3857529045] UIDs valid", "UIDVALIDITY"),
            Some(3_857_529_045)
        );
        assert_eq!(response_code_number("[UIDNEXT 4] x", "UIDVALIDITY"), None);
        assert_eq!(quoted("a\"b\\c").as_deref(), Some("\"a\\\"b\\\\c\""));
        assert_eq!(quoted("caf\u{e9}"), None);
    }
}
