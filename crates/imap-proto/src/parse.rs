//! The IMAP command grammar (RFC 3501 §9, RFC 9051 §9) as a small tokenizer: atoms, quoted
//! strings, literals (already cut out of the stream by the framer), parenthesised lists and
//! bracketed sections, then typed commands on top. Never panics on input.

use std::fmt;

/// One argument token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An atom (including `BODY[...]<...>` fetch attributes, kept whole, and `\Flags`).
    Atom(String),
    /// A quoted string or a literal.
    String(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Value>),
}

impl Value {
    /// The text of an atom or a string (astring), lossily decoded.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Atom(atom) => Some(atom.clone()),
            Value::String(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Value::List(_) => None,
        }
    }
}

/// A syntax error, answered `BAD` with this text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error(text: impl Into<String>) -> SyntaxError {
    SyntaxError(text.into())
}

/// The deepest list nesting accepted (bounds recursion on hostile input).
pub const MAX_DEPTH: usize = 16;

/// A command line's pieces: text segments and the literals between them, in order. The
/// framer cuts `{n}` literals out; `Part::Literal` stands where one was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Line text (without CRLF, without the `{n}` marker).
    Text(Vec<u8>),
    /// A literal's octets.
    Literal(Vec<u8>),
}

/// A `(NAME n)` modifier list with one mod-sequence value (RFC 7162's CHANGEDSINCE and
/// UNCHANGEDSINCE; `n` up to 2^63 - 1).
fn modifier(value: &Value, name: &str) -> Result<u64, SyntaxError> {
    let usage = || error(format!("usage: ({name} mod-sequence)"));
    let Value::List(items) = value else {
        return Err(usage());
    };
    match items.as_slice() {
        [Value::Atom(word), Value::Atom(number)] if word.eq_ignore_ascii_case(name) => number
            .parse::<u64>()
            .ok()
            .filter(|n| *n < 1 << 63 && number.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(usage),
        _ => Err(usage()),
    }
}

/// Tokenizes the arguments of a command (everything after the command name).
pub fn tokenize(parts: &[Part]) -> Result<Vec<Value>, SyntaxError> {
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    for (index, part) in parts.iter().enumerate() {
        match part {
            Part::Literal(bytes) => push(&mut stack, Value::String(bytes.clone())),
            Part::Text(text) => {
                // RFC 3516's literal8 `~{n}` (APPEND of binary content): the `~` goes, the
                // octets are a string like any literal's.
                let text = match (text.strip_suffix(b"~"), parts.get(index + 1)) {
                    (Some(head), Some(Part::Literal(_)))
                        if head.last().is_none_or(|&byte| byte == b' ' || byte == b'(') =>
                    {
                        head
                    }
                    _ => &text[..],
                };
                tokenize_text(text, &mut stack)?
            }
        }
    }
    if stack.len() != 1 {
        return Err(error("unbalanced parentheses"));
    }
    Ok(stack.pop().unwrap_or_default())
}

fn push(stack: &mut [Vec<Value>], value: Value) {
    if let Some(top) = stack.last_mut() {
        top.push(value);
    }
}

fn is_atom_special(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'{' | b' ' | b'"' | b'%' | b'*' | b'\\' | b']'
    ) || byte < 0x20
        || byte == 0x7f
}

fn tokenize_text(text: &[u8], stack: &mut Vec<Vec<Value>>) -> Result<(), SyntaxError> {
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        match byte {
            b' ' => index += 1,
            b'(' => {
                if stack.len() > MAX_DEPTH {
                    return Err(error("lists nested too deeply"));
                }
                stack.push(Vec::new());
                index += 1;
            }
            b')' => {
                if stack.len() < 2 {
                    return Err(error("unbalanced parentheses"));
                }
                let list = stack.pop().unwrap_or_default();
                push(stack, Value::List(list));
                index += 1;
            }
            b'"' => {
                let mut value = Vec::new();
                index += 1;
                loop {
                    match text.get(index) {
                        None => return Err(error("unterminated quoted string")),
                        Some(b'"') => {
                            index += 1;
                            break;
                        }
                        Some(b'\\') => match text.get(index + 1) {
                            Some(&escaped @ (b'"' | b'\\')) => {
                                value.push(escaped);
                                index += 2;
                            }
                            _ => return Err(error("bad escape in quoted string")),
                        },
                        Some(&other) => {
                            value.push(other);
                            index += 1;
                        }
                    }
                }
                push(stack, Value::String(value));
            }
            _ => {
                // An atom; brackets are part of it (BODY[HEADER.FIELDS (A B)]<0.10>), with
                // balanced content that may hold spaces and parentheses.
                let start = index;
                let mut bracket = 0usize;
                while index < text.len() {
                    let byte = text[index];
                    if byte == b'[' {
                        bracket += 1;
                    } else if byte == b']' && bracket > 0 {
                        bracket -= 1;
                    } else if bracket == 0
                        && is_atom_special(byte)
                        && !matches!(byte, b'%' | b'*' | b'\\')
                    {
                        break;
                    } else if byte < 0x20 || byte == 0x7f {
                        return Err(error("control character in atom"));
                    }
                    index += 1;
                }
                if bracket != 0 {
                    return Err(error("unbalanced brackets"));
                }
                if index == start {
                    return Err(error(format!("unexpected character {:?}", byte as char)));
                }
                let atom = String::from_utf8_lossy(&text[start..index]).into_owned();
                push(stack, Value::Atom(atom));
            }
        }
    }
    Ok(())
}

/// One end of a sequence range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqBound {
    /// A number (message sequence number or UID), at least 1.
    Number(u32),
    /// `*`: the largest number in use.
    Star,
}

/// A sequence set (`1:3,5,7:*`), ranges as written (either order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqBound, SeqBound)>);

/// The most ranges in one sequence set.
pub const MAX_RANGES: usize = 10_000;

impl SequenceSet {
    /// Parses a sequence set (`$` of RFC 5182 is not supported).
    pub fn parse(text: &str) -> Result<SequenceSet, SyntaxError> {
        let bound = |piece: &str| -> Result<SeqBound, SyntaxError> {
            if piece == "*" {
                return Ok(SeqBound::Star);
            }
            if piece.is_empty() || !piece.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(error("bad sequence set"));
            }
            match piece.parse::<u32>() {
                Ok(0) | Err(_) => Err(error("bad sequence set: numbers run from 1")),
                Ok(number) => Ok(SeqBound::Number(number)),
            }
        };
        let mut ranges = Vec::new();
        for range in text.split(',') {
            if ranges.len() >= MAX_RANGES {
                return Err(error("sequence set too long"));
            }
            let (low, high) = range.split_once(':').unwrap_or((range, range));
            ranges.push((bound(low)?, bound(high)?));
        }
        Ok(SequenceSet(ranges))
    }

    /// Whether `number` is in the set, `largest` standing for `*`.
    pub fn contains(&self, number: u32, largest: u32) -> bool {
        let resolve = |bound: SeqBound| match bound {
            SeqBound::Number(number) => number,
            SeqBound::Star => largest,
        };
        self.0.iter().any(|&(low, high)| {
            let (low, high) = (resolve(low), resolve(high));
            let (low, high) = (low.min(high), low.max(high));
            (low..=high).contains(&number)
        })
    }
}

/// A command for the service (authenticated or selected state).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// NOOP / CHECK: report changes.
    Noop,
    /// SELECT or EXAMINE (`read_only`).
    Select {
        /// The mailbox name (`INBOX` normalised to upper case).
        mailbox: String,
        /// EXAMINE.
        read_only: bool,
        /// The `(CONDSTORE)` parameter (RFC 7162 §3.1.8).
        condstore: bool,
    },
    /// CREATE.
    Create {
        /// The mailbox name.
        mailbox: String,
    },
    /// DELETE.
    Delete {
        /// The mailbox name.
        mailbox: String,
    },
    /// RENAME.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// SUBSCRIBE or UNSUBSCRIBE (`subscribe` false).
    Subscribe {
        /// The mailbox name.
        mailbox: String,
        /// SUBSCRIBE (true) or UNSUBSCRIBE.
        subscribe: bool,
    },
    /// LIST or LSUB (`subscribed_only`).
    List {
        /// The reference name.
        reference: String,
        /// The pattern (`*`, `%` wildcards).
        pattern: String,
        /// LSUB.
        subscribed_only: bool,
        /// RETURN (SPECIAL-USE) / selection options, upper-cased (RFC 5258, RFC 6154).
        options: Vec<String>,
    },
    /// STATUS.
    Status {
        /// The mailbox name.
        mailbox: String,
        /// The items asked for, upper-cased (MESSAGES, UIDNEXT ...).
        items: Vec<String>,
    },
    /// APPEND.
    Append {
        /// The mailbox name.
        mailbox: String,
        /// The flags given.
        flags: Vec<String>,
        /// The internal date as given (`"17-Jul-1996 02:44:25 -0700"`).
        date: Option<String>,
        /// The message.
        message: Vec<u8>,
    },
    /// CLOSE (expunge silently, then unselect).
    Close,
    /// UNSELECT (RFC 3691).
    Unselect,
    /// EXPUNGE or UID EXPUNGE (`uids`).
    Expunge {
        /// UID EXPUNGE's set.
        uids: Option<SequenceSet>,
    },
    /// SEARCH / UID SEARCH: the keys as tokens, for the service to interpret.
    Search {
        /// UID SEARCH.
        uid: bool,
        /// The CHARSET given, upper-cased.
        charset: Option<String>,
        /// ESEARCH's `RETURN (...)` options (RFC 4731), upper-cased: MIN, MAX, ALL, COUNT;
        /// an empty list means ALL. `None`: a plain SEARCH answered with `* SEARCH`.
        ret: Option<Vec<String>>,
        /// The search keys.
        keys: Vec<Value>,
    },
    /// FETCH / UID FETCH.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The attributes (a macro ALL/FAST/FULL, one atom, or the list's atoms), upper-cased.
        items: Vec<String>,
        /// The `(CHANGEDSINCE n)` modifier (RFC 7162 §3.1.4).
        changed_since: Option<u64>,
    },
    /// STORE / UID STORE.
    Store {
        /// UID STORE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// `+`, `-` or none (replace).
        mode: StoreMode,
        /// `.SILENT`.
        silent: bool,
        /// The flags.
        flags: Vec<String>,
        /// The `(UNCHANGEDSINCE n)` modifier (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
    },
    /// COPY / MOVE and their UID forms.
    Copy {
        /// UID COPY / UID MOVE.
        uid: bool,
        /// MOVE (RFC 6851).
        remove: bool,
        /// The messages.
        set: SequenceSet,
        /// The target mailbox.
        mailbox: String,
    },
    /// IDLE (RFC 2177): see [`crate::ServerSession::idle_started`].
    Idle,
}

/// How STORE changes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// A mailbox name: `INBOX` in any case is INBOX (RFC 3501 §5.1).
pub fn mailbox_name(value: &Value) -> Result<String, SyntaxError> {
    let name = value
        .as_text()
        .ok_or_else(|| error("a mailbox name, please"))?;
    if name.eq_ignore_ascii_case("INBOX") {
        Ok("INBOX".to_string())
    } else {
        Ok(name)
    }
}

fn flag_list(value: &Value) -> Result<Vec<String>, SyntaxError> {
    match value {
        Value::List(items) => items
            .iter()
            .map(|item| match item {
                Value::Atom(atom) => Ok(atom.clone()),
                _ => Err(error("flags are atoms")),
            })
            .collect(),
        Value::Atom(atom) => Ok(vec![atom.clone()]),
        Value::String(_) => Err(error("flags are atoms")),
    }
}

fn atom(value: Option<&Value>, what: &str) -> Result<String, SyntaxError> {
    match value {
        Some(Value::Atom(atom)) => Ok(atom.clone()),
        _ => Err(error(format!("{what} expected"))),
    }
}

fn arity(args: &[Value], count: usize, usage: &str) -> Result<(), SyntaxError> {
    if args.len() == count {
        Ok(())
    } else {
        Err(error(format!("usage: {usage}")))
    }
}

/// Parses a service command by its (upper-cased) name, `uid` for the UID prefix.
pub fn parse_command(name: &str, uid: bool, args: &[Value]) -> Result<Command, SyntaxError> {
    let mailbox = |index: usize| -> Result<String, SyntaxError> {
        mailbox_name(
            args.get(index)
                .ok_or_else(|| error("a mailbox name, please"))?,
        )
    };
    let command = match (uid, name) {
        (false, "NOOP" | "CHECK") => {
            arity(args, 0, "NOOP")?;
            Command::Noop
        }
        (false, "SELECT" | "EXAMINE") => {
            if args.is_empty() || args.len() > 2 {
                return Err(error("usage: SELECT mailbox [(CONDSTORE)]"));
            }
            let mut condstore = false;
            match args.get(1) {
                None => {}
                Some(Value::List(parameters)) => {
                    for parameter in parameters {
                        match parameter.as_text() {
                            Some(word) if word.eq_ignore_ascii_case("CONDSTORE") => {
                                condstore = true
                            }
                            _ => return Err(error("the only SELECT parameter is CONDSTORE")),
                        }
                    }
                }
                Some(_) => return Err(error("usage: SELECT mailbox [(CONDSTORE)]")),
            }
            Command::Select {
                mailbox: mailbox(0)?,
                read_only: name == "EXAMINE",
                condstore,
            }
        }
        (false, "CREATE") => {
            arity(args, 1, "CREATE mailbox")?;
            Command::Create {
                mailbox: mailbox(0)?,
            }
        }
        (false, "DELETE") => {
            arity(args, 1, "DELETE mailbox")?;
            Command::Delete {
                mailbox: mailbox(0)?,
            }
        }
        (false, "RENAME") => {
            arity(args, 2, "RENAME old new")?;
            Command::Rename {
                from: mailbox(0)?,
                to: mailbox(1)?,
            }
        }
        (false, "SUBSCRIBE" | "UNSUBSCRIBE") => {
            arity(args, 1, "SUBSCRIBE mailbox")?;
            Command::Subscribe {
                mailbox: mailbox(0)?,
                subscribe: name == "SUBSCRIBE",
            }
        }
        (false, "LIST" | "LSUB") => {
            let mut rest = args;
            let mut options = Vec::new();
            if let Some(Value::List(selection)) = rest.first() {
                options.extend(selection.iter().filter_map(Value::as_text));
                rest = &rest[1..];
            }
            let (reference, pattern) = match rest {
                [reference, pattern, tail @ ..] => {
                    match tail {
                        [] => {}
                        [Value::Atom(word), Value::List(returns)]
                            if word.eq_ignore_ascii_case("RETURN") =>
                        {
                            options.extend(returns.iter().filter_map(Value::as_text));
                        }
                        _ => return Err(error("usage: LIST reference pattern")),
                    }
                    (reference, pattern)
                }
                _ => return Err(error("usage: LIST reference pattern")),
            };
            Command::List {
                reference: reference
                    .as_text()
                    .ok_or_else(|| error("a reference name, please"))?,
                pattern: match pattern {
                    Value::List(_) => return Err(error("multiple patterns are not supported")),
                    other => other.as_text().unwrap_or_default(),
                },
                subscribed_only: name == "LSUB",
                options: options.iter().map(|o| o.to_ascii_uppercase()).collect(),
            }
        }
        (false, "STATUS") => {
            arity(args, 2, "STATUS mailbox (items)")?;
            let Some(Value::List(items)) = args.get(1) else {
                return Err(error("usage: STATUS mailbox (items)"));
            };
            let items = items
                .iter()
                .map(|item| match item {
                    Value::Atom(atom) => Ok(atom.to_ascii_uppercase()),
                    _ => Err(error("status items are atoms")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Command::Status {
                mailbox: mailbox(0)?,
                items,
            }
        }
        (false, "APPEND") => {
            let target = mailbox(0)?;
            let mut flags = Vec::new();
            let mut date = None;
            let mut message = None;
            for (position, value) in args.iter().enumerate().skip(1) {
                let last = position + 1 == args.len();
                match value {
                    Value::List(_) if message.is_none() && date.is_none() && position == 1 => {
                        flags = flag_list(value)?;
                    }
                    Value::String(bytes) if last => message = Some(bytes.clone()),
                    Value::String(bytes) if date.is_none() => {
                        date = Some(String::from_utf8_lossy(bytes).into_owned())
                    }
                    _ => return Err(error("usage: APPEND mailbox [(flags)] [date] literal")),
                }
            }
            Command::Append {
                mailbox: target,
                flags,
                date,
                message: message.ok_or_else(|| error("APPEND needs a message literal"))?,
            }
        }
        (false, "CLOSE") => {
            arity(args, 0, "CLOSE")?;
            Command::Close
        }
        (false, "UNSELECT") => {
            arity(args, 0, "UNSELECT")?;
            Command::Unselect
        }
        (false, "IDLE") => {
            arity(args, 0, "IDLE")?;
            Command::Idle
        }
        (false, "EXPUNGE") => {
            arity(args, 0, "EXPUNGE")?;
            Command::Expunge { uids: None }
        }
        (true, "EXPUNGE") => {
            arity(args, 1, "UID EXPUNGE set")?;
            Command::Expunge {
                uids: Some(SequenceSet::parse(&atom(args.first(), "a UID set")?)?),
            }
        }
        (_, "SEARCH") => {
            let mut keys = args;
            let mut ret = None;
            if let [Value::Atom(word), Value::List(options), rest @ ..] = keys {
                if word.eq_ignore_ascii_case("RETURN") {
                    let mut wanted = Vec::new();
                    for option in options {
                        let name = match option {
                            Value::Atom(name) => name.to_ascii_uppercase(),
                            _ => return Err(error("RETURN options are atoms")),
                        };
                        if !matches!(name.as_str(), "MIN" | "MAX" | "ALL" | "COUNT") {
                            return Err(error(format!("unknown RETURN option {name}")));
                        }
                        if !wanted.contains(&name) {
                            wanted.push(name);
                        }
                    }
                    ret = Some(wanted);
                    keys = rest;
                }
            }
            let mut charset = None;
            if let [Value::Atom(word), value, rest @ ..] = keys {
                if word.eq_ignore_ascii_case("CHARSET") {
                    charset = Some(
                        value
                            .as_text()
                            .ok_or_else(|| error("a charset name, please"))?
                            .to_ascii_uppercase(),
                    );
                    keys = rest;
                }
            }
            if keys.is_empty() {
                return Err(error("SEARCH needs a key"));
            }
            Command::Search {
                uid,
                charset,
                ret,
                keys: keys.to_vec(),
            }
        }
        (_, "FETCH") => {
            if args.len() != 2 && args.len() != 3 {
                return Err(error("usage: FETCH set items [(CHANGEDSINCE n)]"));
            }
            let changed_since = match args.get(2) {
                None => None,
                Some(modifiers) => Some(modifier(modifiers, "CHANGEDSINCE")?),
            };
            let set = SequenceSet::parse(&atom(args.first(), "a sequence set")?)?;
            let items = match &args[1] {
                Value::Atom(atom) => vec![atom.to_ascii_uppercase()],
                Value::List(items) if !items.is_empty() => items
                    .iter()
                    .map(|item| match item {
                        Value::Atom(atom) => Ok(atom.to_ascii_uppercase()),
                        _ => Err(error("fetch items are atoms")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(error("usage: FETCH set items")),
            };
            Command::Fetch {
                uid,
                set,
                items,
                changed_since,
            }
        }
        (_, "STORE") => {
            // RFC 7162 §3.1.3: STORE set [(UNCHANGEDSINCE n)] item flags.
            let (unchanged_since, args) = match args {
                [set, modifiers @ Value::List(_), rest @ ..] if rest.len() == 2 => (
                    Some(modifier(modifiers, "UNCHANGEDSINCE")?),
                    vec![set.clone(), rest[0].clone(), rest[1].clone()],
                ),
                _ => (None, args.to_vec()),
            };
            let args = &args[..];
            arity(
                args,
                3,
                "STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (flags)",
            )?;
            let set = SequenceSet::parse(&atom(args.first(), "a sequence set")?)?;
            let item = atom(args.get(1), "FLAGS")?.to_ascii_uppercase();
            let (mode, item) = match item.as_bytes().first() {
                Some(b'+') => (StoreMode::Add, &item[1..]),
                Some(b'-') => (StoreMode::Remove, &item[1..]),
                _ => (StoreMode::Replace, &item[..]),
            };
            let silent = match item {
                "FLAGS" => false,
                "FLAGS.SILENT" => true,
                _ => return Err(error("STORE changes FLAGS only")),
            };
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags: flag_list(&args[2])?,
                unchanged_since,
            }
        }
        (_, "COPY" | "MOVE") => {
            arity(args, 2, "COPY set mailbox")?;
            Command::Copy {
                uid,
                remove: name == "MOVE",
                set: SequenceSet::parse(&atom(args.first(), "a sequence set")?)?,
                mailbox: mailbox(1)?,
            }
        }
        (true, other) => return Err(error(format!("UID {other} is not a command"))),
        (false, other) => return Err(error(format!("unknown command {other}"))),
    };
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &str) -> Vec<Value> {
        tokenize(&[Part::Text(line.as_bytes().to_vec())]).expect("tokenizes")
    }

    #[test]
    fn tokens() {
        assert_eq!(
            text(r#"1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>) "a \"q\"""#),
            vec![
                Value::Atom("1:*".into()),
                Value::List(vec![
                    Value::Atom("FLAGS".into()),
                    Value::Atom("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>".into()),
                ]),
                Value::String(b"a \"q\"".to_vec()),
            ]
        );
        assert_eq!(text(r"\Seen \Deleted")[0], Value::Atom(r"\Seen".into()));
        for bad in ["(a", "a)", "\"open", "BODY[", "\"bad\\x\""] {
            assert!(
                tokenize(&[Part::Text(bad.as_bytes().to_vec())]).is_err(),
                "{bad}"
            );
        }
        let deep = "(".repeat(100);
        assert!(tokenize(&[Part::Text(deep.into_bytes())]).is_err());
    }

    #[test]
    fn sequence_sets() {
        let set = SequenceSet::parse("1:3,7,9:*").expect("parses");
        assert!(set.contains(2, 20) && set.contains(7, 20) && set.contains(20, 20));
        assert!(!set.contains(5, 20) && !set.contains(8, 20));
        assert!(SequenceSet::parse("3:1").expect("parses").contains(2, 5));
        for bad in ["", "0", "1:", "a", "1,,2", "99999999999"] {
            assert!(SequenceSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands() {
        let check = |name: &str, uid: bool, line: &str| parse_command(name, uid, &text(line));
        assert_eq!(
            check("SELECT", false, "inbox"),
            Ok(Command::Select {
                mailbox: "INBOX".into(),
                read_only: false,
                condstore: false,
            })
        );
        assert!(matches!(
            check("EXAMINE", false, "Sent (condstore)"),
            Ok(Command::Select {
                read_only: true,
                condstore: true,
                ..
            })
        ));
        assert!(check("SELECT", false, "INBOX (QRESYNC (1 2))").is_err());
        assert!(matches!(
            check("FETCH", true, "1:* (FLAGS) (CHANGEDSINCE 12345)"),
            Ok(Command::Fetch {
                changed_since: Some(12345),
                ..
            })
        ));
        assert!(check("FETCH", false, "1 FLAGS (CHANGEDSINCE -1)").is_err());
        assert!(matches!(
            check("STORE", false, r"1:2 (UNCHANGEDSINCE 7) +FLAGS (\Seen)"),
            Ok(Command::Store {
                unchanged_since: Some(7),
                mode: StoreMode::Add,
                ..
            })
        ));
        assert!(check("STORE", false, r"1 (UNCHANGEDSINCE) FLAGS (\Seen)").is_err());
        assert!(matches!(
            check("STORE", true, r"1:4 +FLAGS.SILENT (\Seen)"),
            Ok(Command::Store {
                uid: true,
                mode: StoreMode::Add,
                silent: true,
                ..
            })
        ));
        assert!(matches!(
            check("LIST", false, r#""" "*" RETURN (SPECIAL-USE)"#),
            Ok(Command::List { options, .. }) if options == ["SPECIAL-USE"]
        ));
        assert!(matches!(
            check("SEARCH", false, "CHARSET utf-8 FROM alice"),
            Ok(Command::Search { charset: Some(c), keys, .. }) if c == "UTF-8" && keys.len() == 2
        ));
        assert!(matches!(
            check("SEARCH", true, "RETURN (min COUNT) UNSEEN"),
            Ok(Command::Search { ret: Some(r), keys, .. }) if r == ["MIN", "COUNT"] && keys.len() == 1
        ));
        assert!(matches!(
            check("SEARCH", false, "RETURN () ALL"),
            Ok(Command::Search { ret: Some(r), .. }) if r.is_empty()
        ));
        assert!(matches!(
            check("SEARCH", false, "ALL"),
            Ok(Command::Search { ret: None, .. })
        ));
        assert!(check("SEARCH", false, "RETURN (SAVE) ALL").is_err());
        // literal8: `~{n}` before the literal (RFC 3516), and a `~` atom elsewhere stays.
        let literal8 = tokenize(&[
            Part::Text(b"INBOX ~".to_vec()),
            Part::Literal(b"A\0B".to_vec()),
        ])
        .expect("tokenizes");
        assert_eq!(literal8.len(), 2);
        assert!(matches!(&literal8[1], Value::String(bytes) if bytes == b"A\0B"));
        assert_eq!(
            tokenize(&[Part::Text(b"a~".to_vec())]).expect("atom").len(),
            1
        );
        assert!(check("FETCH", false, "0 FLAGS").is_err());
        assert!(check("STORE", false, "1 LABELS x").is_err());
        assert!(check("FROB", false, "").is_err());
        assert!(check("SELECT", true, "INBOX").is_err());
        let append = parse_command(
            "APPEND",
            false,
            &tokenize(&[
                Part::Text(br#"Drafts (\Draft) "07-Dec-2026 05:00:00 +0000" "#.to_vec()),
                Part::Literal(b"Subject: x\r\n\r\nhi\r\n".to_vec()),
            ])
            .expect("tokenizes"),
        );
        assert!(matches!(
            append,
            Ok(Command::Append { flags, date: Some(_), .. }) if flags == [r"\Draft"]
        ));
    }
}
#[cfg(test)]
mod list_tests {
    use super::*;
    #[test]
    fn list_forms() {
        for line in [r#""" *"#, r#""" Lists*"#, r#""" "%""#] {
            let args = tokenize(&[Part::Text(line.as_bytes().to_vec())]).expect("tokenizes");
            assert!(
                parse_command("LIST", false, &args).is_ok(),
                "{line}: {args:?}"
            );
        }
    }
}
