//! The RFC 1035 §5 master-file ("zone file") parser and writer.
//!
//! Supported: `$ORIGIN`, `$TTL` (RFC 2308), `$INCLUDE file [origin]`, `@`, relative names,
//! omitted owner (a line starting with blanks reuses the last owner), omitted TTL and class,
//! TTL and class in either order, parentheses across lines, `;` comments, quoted strings with
//! `\X` and `\DDD` escapes, TTL units (`1h30m`, `2w`), and the RFC 3597 generic RDATA form
//! (`TYPE65280 \# 4 0A000001`) for any type.
//!
//! Parsing never stops at the first problem: every error is reported with its file and line.
//! Files named by `$INCLUDE` are read through a caller-supplied function, so the parser itself
//! does no I/O.

use crate::message::Record;
use crate::name::Name;
use crate::rdata::{Caa, Mx, Rdata, Soa, Srv};
use crate::types::{Class, RecordType};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// `$INCLUDE` nesting deeper than this is an error (it is almost certainly a loop).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One problem in a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    /// The file (as named to the parser or by `$INCLUDE`).
    pub file: String,
    /// The 1-based line where the entry starts (0 for problems with the zone as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found in a zone file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ZoneErrors(pub Vec<ZoneError>);

impl fmt::Display for ZoneErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: Arc<str>,
    /// The 1-based line where the record's entry starts.
    pub line: usize,
}

/// A parsed zone: its origin and records (the SOA first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneData {
    /// The zone's apex.
    pub origin: Name,
    /// All records, the SOA first, the rest in file order.
    pub records: Vec<Record>,
}

/// Reads the text of a file named by `$INCLUDE`; the error is shown in the report.
pub type IncludeLoader<'a> = dyn FnMut(&str) -> Result<String, String> + 'a;

/// An include loader that refuses every `$INCLUDE` (for text that did not come from a file).
pub fn no_includes(path: &str) -> Result<String, String> {
    Err(format!("$INCLUDE {path} is not allowed here"))
}

/// Parses master-file text into records with their locations, without zone-level checks
/// (so it also reads root hints and record lists).
///
/// `origin` is the initial `$ORIGIN` (`None`: relative names are an error until `$ORIGIN`);
/// `file` names the text in error messages.
pub fn parse_records(
    text: &str,
    origin: Option<&Name>,
    file: &str,
    include: &mut IncludeLoader<'_>,
) -> Result<Vec<(Record, Location)>, ZoneErrors> {
    let mut parser = Parser {
        include,
        errors: Vec::new(),
        records: Vec::new(),
        default_ttl: None,
        last_ttl: None,
    };
    let mut state = FileState {
        origin: origin.cloned(),
        last_owner: None,
        last_class: Class::IN,
    };
    parser.parse_text(text, Arc::from(file), &mut state, 0);
    if parser.errors.is_empty() {
        Ok(parser.records)
    } else {
        Err(ZoneErrors(parser.errors))
    }
}

/// Parses a whole zone and checks it: exactly one SOA, at the origin; every name at or below
/// the origin; one class; no other data beside a CNAME (RFC 1034 §3.6.2).
pub fn parse_zone(
    text: &str,
    origin: &Name,
    file: &str,
    include: &mut IncludeLoader<'_>,
) -> Result<ZoneData, ZoneErrors> {
    let entries = parse_records(text, Some(origin), file, include)?;
    check_zone(origin, entries, file)
}

/// The zone-level checks of [`parse_zone`], for records from any source.
pub fn check_zone(
    origin: &Name,
    entries: Vec<(Record, Location)>,
    file: &str,
) -> Result<ZoneData, ZoneErrors> {
    let mut errors = Vec::new();
    let error_at = |location: &Location, message: String| ZoneError {
        file: location.file.to_string(),
        line: location.line,
        message,
    };
    let soas: Vec<&(Record, Location)> = entries
        .iter()
        .filter(|(record, _)| record.rtype() == RecordType::SOA)
        .collect();
    match soas.as_slice() {
        [] => errors.push(ZoneError {
            file: file.to_string(),
            line: 0,
            message: format!("zone {origin} has no SOA record"),
        }),
        [(soa, location)] if soa.name != *origin => errors.push(error_at(
            location,
            format!("SOA owner {} is not the zone origin {origin}", soa.name),
        )),
        [_] => {}
        [_, (_, location), ..] => {
            errors.push(error_at(location, "a second SOA record".to_string()))
        }
    }
    let class = soas.first().map_or(Class::IN, |(soa, _)| soa.class);
    if let Some((_, location)) = soas.first() {
        if class == Class::ANY || class == Class::NONE {
            errors.push(error_at(
                location,
                format!("class {class} cannot hold data"),
            ));
        }
    }
    // CNAME owners are few: index them (by reference), then check every other record once.
    let mut cname_owners: std::collections::HashMap<&Name, &Location> =
        std::collections::HashMap::new();
    for (record, location) in &entries {
        if !record.name.is_subdomain_of(origin) {
            errors.push(error_at(
                location,
                format!("{} is outside the zone {origin}", record.name),
            ));
        }
        if record.class != class {
            errors.push(error_at(
                location,
                format!(
                    "class {} differs from the SOA's class {class}",
                    record.class
                ),
            ));
        }
        if record.rtype() == RecordType::CNAME
            && cname_owners.insert(&record.name, location).is_some()
        {
            errors.push(error_at(
                location,
                format!("{} has more than one CNAME", record.name),
            ));
        }
    }
    if !cname_owners.is_empty() {
        let mut reported = std::collections::HashSet::new();
        for (record, _) in &entries {
            if record.rtype() == RecordType::CNAME {
                continue;
            }
            if let Some(location) = cname_owners.get(&record.name) {
                if reported.insert(&record.name) {
                    errors.push(error_at(
                        location,
                        format!("{} has a CNAME and other data", record.name),
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        return Err(ZoneErrors(errors));
    }
    let mut records: Vec<Record> = entries.into_iter().map(|(record, _)| record).collect();
    if let Some(index) = records.iter().position(|r| r.rtype() == RecordType::SOA) {
        let soa = records.remove(index);
        records.insert(0, soa);
    }
    Ok(ZoneData {
        origin: origin.clone(),
        records,
    })
}

/// Writes records as master-file text with a `$ORIGIN` line, one record per line, names
/// absolute. [`parse_zone`] reads it back to the same records.
pub fn to_text(origin: &Name, records: &[Record]) -> String {
    let mut text = format!("$ORIGIN {origin}\n");
    for record in records {
        text.push_str(&record.to_string());
        text.push('\n');
    }
    text
}

/// Parses a TTL: seconds, or a sequence of numbers with units `w d h m s` (`1h30m`).
pub fn parse_ttl(text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("empty TTL".to_string());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u32>()
            .map_err(|_| format!("TTL {text} is too large"));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for byte in text.bytes() {
        if byte.is_ascii_digit() {
            let value = number.unwrap_or(0) * 10 + (byte - b'0') as u64;
            if value > u32::MAX as u64 {
                return Err(format!("TTL {text} is too large"));
            }
            number = Some(value);
            continue;
        }
        let unit = match byte.to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => return Err(format!("bad TTL {text:?}")),
        };
        let value = number.take().ok_or_else(|| format!("bad TTL {text:?}"))?;
        total += value * unit;
        if total > u32::MAX as u64 {
            return Err(format!("TTL {text} is too large"));
        }
    }
    if number.is_some() {
        return Err(format!(
            "bad TTL {text:?}: a number without a unit after units"
        ));
    }
    Ok(total as u32)
}

/// A token of a master-file entry.
#[derive(Debug, Clone)]
struct Token {
    /// The raw text, escapes kept (quotes removed).
    text: String,
    quoted: bool,
}

/// One logical entry: the tokens of a line (or of several, joined by parentheses).
struct Entry {
    line: usize,
    /// The entry starts with a blank: the owner is omitted.
    blank_owner: bool,
    tokens: Vec<Token>,
}

/// Splits text into entries one at a time (a million-line zone is never held as tokens);
/// collects unbalanced parentheses and unterminated quotes in `errors`.
struct Tokenizer<'t> {
    text: &'t str,
    i: usize,
    line: usize,
    depth: usize,
    at_line_start: bool,
    errors: Vec<(usize, String)>,
}

impl<'t> Tokenizer<'t> {
    fn new(text: &'t str) -> Tokenizer<'t> {
        Tokenizer {
            text,
            i: 0,
            line: 1,
            depth: 0,
            at_line_start: true,
            errors: Vec::new(),
        }
    }

    /// The next entry, or `None` at the end of the text.
    fn next_entry(&mut self) -> Option<Entry> {
        let bytes = self.text.as_bytes();
        let mut current: Option<Entry> = None;
        while self.i < bytes.len() {
            let byte = bytes[self.i];
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    self.at_line_start = true;
                    if self.depth == 0 {
                        if let Some(entry) = current.take() {
                            return Some(entry);
                        }
                    }
                    continue;
                }
                b' ' | b'\t' | b'\r' => {
                    self.i += 1;
                    self.at_line_start = false;
                    continue;
                }
                b';' => {
                    while self.i < bytes.len() && bytes[self.i] != b'\n' {
                        self.i += 1;
                    }
                    continue;
                }
                _ => {}
            }
            let entry = current.get_or_insert_with(|| Entry {
                line: self.line,
                blank_owner: !self.at_line_start,
                tokens: Vec::new(),
            });
            self.at_line_start = false;
            match byte {
                b'(' => {
                    self.depth += 1;
                    self.i += 1;
                }
                b')' => {
                    if self.depth == 0 {
                        self.errors.push((self.line, "unbalanced ')'".to_string()));
                    } else {
                        self.depth -= 1;
                    }
                    self.i += 1;
                }
                b'"' => {
                    let start_line = self.line;
                    let mut token = String::new();
                    self.i += 1;
                    let mut closed = false;
                    while self.i < bytes.len() {
                        match bytes[self.i] {
                            b'"' => {
                                closed = true;
                                self.i += 1;
                                break;
                            }
                            b'\\' if self.i + 1 < bytes.len() => {
                                token.push('\\');
                                push_char(&mut token, self.text, self.i + 1);
                                if bytes[self.i + 1] == b'\n' {
                                    self.line += 1;
                                }
                                self.i += 1 + utf8_len(bytes[self.i + 1]);
                            }
                            b'\n' => {
                                self.line += 1;
                                token.push('\n');
                                self.i += 1;
                            }
                            _ => {
                                push_char(&mut token, self.text, self.i);
                                self.i += utf8_len(bytes[self.i]);
                            }
                        }
                    }
                    if !closed {
                        self.errors
                            .push((start_line, "unterminated quoted string".to_string()));
                    }
                    entry.tokens.push(Token {
                        text: token,
                        quoted: true,
                    });
                }
                _ => {
                    let mut token = String::new();
                    while self.i < bytes.len() {
                        match bytes[self.i] {
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' if self.i + 1 < bytes.len() => {
                                token.push('\\');
                                push_char(&mut token, self.text, self.i + 1);
                                self.i += 1 + utf8_len(bytes[self.i + 1]);
                            }
                            _ => {
                                push_char(&mut token, self.text, self.i);
                                self.i += utf8_len(bytes[self.i]);
                            }
                        }
                    }
                    entry.tokens.push(Token {
                        text: token,
                        quoted: false,
                    });
                }
            }
        }
        if self.depth > 0 {
            let start = current.as_ref().map_or(self.line, |entry| entry.line);
            self.errors
                .push((start, "unbalanced '(' (missing ')')".to_string()));
            self.depth = 0;
        }
        current
    }
}

/// The byte length of the UTF-8 sequence starting with `first` (1 for stray bytes).
fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Pushes the character starting at byte `at` of `text`.
fn push_char(token: &mut String, text: &str, at: usize) {
    if let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) {
        token.push(c);
    }
}

/// Unescapes a character string (`\X`, `\DDD`) into bytes.
fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let rest = &bytes[i + 1..];
        match rest {
            [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                let value = (a - b'0') as u32 * 100 + (b - b'0') as u32 * 10 + (c - b'0') as u32;
                let byte = u8::try_from(value).map_err(|_| format!("bad escape \\{value}"))?;
                out.push(byte);
                i += 4;
            }
            [a, ..] if a.is_ascii_digit() => return Err("bad \\DDD escape".to_string()),
            [byte, ..] => {
                out.push(*byte);
                i += 2;
            }
            [] => return Err("dangling backslash".to_string()),
        }
    }
    Ok(out)
}

/// Per-file state (`$INCLUDE` gets its own and the parent's is restored afterwards).
struct FileState {
    origin: Option<Name>,
    last_owner: Option<Name>,
    last_class: Class,
}

struct Parser<'a, 'b> {
    include: &'a mut IncludeLoader<'b>,
    errors: Vec<ZoneError>,
    records: Vec<(Record, Location)>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
}

impl Parser<'_, '_> {
    fn parse_text(&mut self, text: &str, file: Arc<str>, state: &mut FileState, depth: usize) {
        let mut tokenizer = Tokenizer::new(text);
        while let Some(entry) = tokenizer.next_entry() {
            for (line, message) in tokenizer.errors.drain(..) {
                self.errors.push(ZoneError {
                    file: file.to_string(),
                    line,
                    message,
                });
            }
            if let Err(message) = self.parse_entry(&entry, &file, state, depth) {
                self.errors.push(ZoneError {
                    file: file.to_string(),
                    line: entry.line,
                    message,
                });
            }
        }
        for (line, message) in tokenizer.errors.drain(..) {
            self.errors.push(ZoneError {
                file: file.to_string(),
                line,
                message,
            });
        }
    }

    fn name(&self, text: &str, state: &FileState) -> Result<Name, String> {
        Name::parse(text, state.origin.as_ref())
            .map_err(|error| format!("bad name {text:?}: {error}"))
    }

    fn parse_entry(
        &mut self,
        entry: &Entry,
        file: &Arc<str>,
        state: &mut FileState,
        depth: usize,
    ) -> Result<(), String> {
        let tokens = &entry.tokens;
        let Some(first) = tokens.first() else {
            return Ok(());
        };
        if !entry.blank_owner && !first.quoted && first.text.starts_with('$') {
            return self.parse_directive(entry, state, depth);
        }
        let mut rest = &tokens[..];
        let owner = if entry.blank_owner {
            state
                .last_owner
                .clone()
                .ok_or("no owner name: the first record starts with a blank")?
        } else {
            rest = &rest[1..];
            self.name(&first.text, state)?
        };
        let mut ttl = None;
        let mut class = None;
        let mut rtype = None;
        while let Some(token) = rest.first() {
            rest = &rest[1..];
            if token.quoted {
                return Err(format!("unexpected quoted string {:?}", token.text));
            }
            let text = token.text.as_str();
            if ttl.is_none() && text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                ttl = Some(parse_ttl(text)?);
            } else if class.is_none() && is_class(text) {
                class = Some(text.parse::<Class>().map_err(|e| e.to_string())?);
            } else {
                rtype = Some(
                    text.parse::<RecordType>()
                        .map_err(|_| format!("unknown type or class {text:?}"))?,
                );
                break;
            }
        }
        let rtype = rtype.ok_or("missing record type")?;
        let origin = state.origin.clone();
        let rdata = parse_rdata(rtype, rest, origin.as_ref())?;
        let ttl = match ttl {
            Some(ttl) => {
                self.last_ttl = Some(ttl);
                ttl
            }
            None => match (self.default_ttl, self.last_ttl, &rdata) {
                (Some(ttl), _, _) => ttl,
                (None, Some(ttl), _) => ttl,
                // RFC 1035 §5.2 (before $TTL existed): the SOA's MINIMUM is the default.
                (None, None, Rdata::Soa(soa)) => {
                    self.last_ttl = Some(soa.minimum);
                    soa.minimum
                }
                (None, None, _) => return Err("no TTL given and no $TTL before".to_string()),
            },
        };
        let class = class.unwrap_or(state.last_class);
        state.last_class = class;
        state.last_owner = Some(owner.clone());
        self.records.push((
            Record {
                name: owner,
                class,
                ttl,
                rdata,
            },
            Location {
                file: file.clone(),
                line: entry.line,
            },
        ));
        Ok(())
    }

    fn parse_directive(
        &mut self,
        entry: &Entry,
        state: &mut FileState,
        depth: usize,
    ) -> Result<(), String> {
        let tokens = &entry.tokens;
        let directive = tokens[0].text.to_ascii_uppercase();
        let args = &tokens[1..];
        match directive.as_str() {
            "$ORIGIN" => {
                let [name] = args else {
                    return Err("$ORIGIN takes one name".to_string());
                };
                let origin = self.name(&name.text, state)?;
                state.origin = Some(origin);
            }
            "$TTL" => {
                let [ttl] = args else {
                    return Err("$TTL takes one TTL".to_string());
                };
                self.default_ttl = Some(parse_ttl(&ttl.text)?);
            }
            "$INCLUDE" => {
                let (path, origin) = match args {
                    [path] => (path, state.origin.clone()),
                    [path, origin] => (path, Some(self.name(&origin.text, state)?)),
                    _ => {
                        return Err("$INCLUDE takes a file name and an optional origin".to_string())
                    }
                };
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(format!(
                        "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"
                    ));
                }
                let text = (self.include)(&path.text)
                    .map_err(|error| format!("$INCLUDE {}: {error}", path.text))?;
                // RFC 1035 §5.1: the included file's origin and owner changes do not leak
                // back into this file.
                let mut included = FileState {
                    origin,
                    last_owner: None,
                    last_class: state.last_class,
                };
                self.parse_text(
                    &text,
                    Arc::from(path.text.as_str()),
                    &mut included,
                    depth + 1,
                );
            }
            other => return Err(format!("unknown directive {other}")),
        }
        Ok(())
    }
}

/// Whether `text` is a class mnemonic (only the ones that can appear in zone files).
fn is_class(text: &str) -> bool {
    ["IN", "CH", "HS"]
        .iter()
        .any(|class| text.eq_ignore_ascii_case(class))
        || (text.len() > 5
            && text.is_char_boundary(5)
            && text[..5].eq_ignore_ascii_case("CLASS")
            && text[5..].bytes().all(|b| b.is_ascii_digit()))
}

/// A cursor over the RDATA tokens of one entry.
struct Fields<'t> {
    tokens: &'t [Token],
    rtype: RecordType,
}

impl<'t> Fields<'t> {
    fn next(&mut self, what: &str) -> Result<&'t Token, String> {
        let (first, rest) = self
            .tokens
            .split_first()
            .ok_or_else(|| format!("{} record: missing {what}", self.rtype))?;
        self.tokens = rest;
        Ok(first)
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, String> {
        let token = self.next(what)?;
        token
            .text
            .parse::<T>()
            .map_err(|_| format!("{} record: bad {what} {:?}", self.rtype, token.text))
    }

    fn ttl(&mut self, what: &str) -> Result<u32, String> {
        let token = self.next(what)?;
        parse_ttl(&token.text).map_err(|error| format!("{} record: {what}: {error}", self.rtype))
    }

    fn name(&mut self, what: &str, origin: Option<&Name>) -> Result<Name, String> {
        let token = self.next(what)?;
        Name::parse(&token.text, origin).map_err(|error| {
            format!(
                "{} record: bad {what} {:?}: {error}",
                self.rtype, token.text
            )
        })
    }

    fn character_string(&mut self, what: &str) -> Result<Vec<u8>, String> {
        let token = self.next(what)?;
        let bytes = unescape(&token.text)?;
        if bytes.len() > 255 {
            return Err(format!(
                "{} record: {what} of {} bytes is longer than 255",
                self.rtype,
                bytes.len()
            ));
        }
        Ok(bytes)
    }

    fn end(&self) -> Result<(), String> {
        match self.tokens.first() {
            None => Ok(()),
            Some(token) => Err(format!(
                "{} record: unexpected {:?} after the data",
                self.rtype, token.text
            )),
        }
    }
}

/// Parses the presentation form of an RDATA of type `rtype` from its tokens.
fn parse_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<Rdata, String> {
    let mut fields = Fields { tokens, rtype };
    if tokens.first().is_some_and(|t| !t.quoted && t.text == "\\#") {
        fields.next("\\#")?;
        return parse_generic(rtype, &mut fields);
    }
    let rdata = match rtype {
        RecordType::A => {
            let token = fields.next("address")?;
            Rdata::A(
                token
                    .text
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("A record: bad IPv4 address {:?}", token.text))?,
            )
        }
        RecordType::AAAA => {
            let token = fields.next("address")?;
            Rdata::Aaaa(
                token
                    .text
                    .parse::<Ipv6Addr>()
                    .map_err(|_| format!("AAAA record: bad IPv6 address {:?}", token.text))?,
            )
        }
        RecordType::NS => Rdata::Ns(fields.name("name server", origin)?),
        RecordType::CNAME => Rdata::Cname(fields.name("target", origin)?),
        RecordType::PTR => Rdata::Ptr(fields.name("target", origin)?),
        RecordType::SOA => Rdata::Soa(Box::new(Soa {
            mname: fields.name("primary server", origin)?,
            rname: fields.name("mailbox", origin)?,
            serial: fields.number("serial")?,
            refresh: fields.ttl("refresh")?,
            retry: fields.ttl("retry")?,
            expire: fields.ttl("expire")?,
            minimum: fields.ttl("minimum")?,
        })),
        RecordType::MX => Rdata::Mx(Mx {
            preference: fields.number("preference")?,
            exchange: fields.name("exchange", origin)?,
        }),
        RecordType::SRV => Rdata::Srv(Srv {
            priority: fields.number("priority")?,
            weight: fields.number("weight")?,
            port: fields.number("port")?,
            target: fields.name("target", origin)?,
        }),
        RecordType::TXT => {
            let mut strings = Vec::new();
            while !fields.tokens.is_empty() {
                strings.push(fields.character_string("string")?);
            }
            if strings.is_empty() {
                return Err("TXT record: missing string".to_string());
            }
            Rdata::Txt(strings)
        }
        RecordType::CAA => {
            let flags = fields.number("flags")?;
            let tag = fields.character_string("tag")?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err("CAA record: the tag must be letters and digits".to_string());
            }
            let value = unescape(&fields.next("value")?.text)?;
            Rdata::Caa(Box::new(Caa { flags, tag, value }))
        }
        RecordType::OPT | RecordType::TSIG => {
            return Err(format!("{rtype} is a meta type and cannot be in a zone"))
        }
        _ if rtype.is_meta() => {
            return Err(format!("{rtype} is a meta type and cannot be in a zone"))
        }
        _ => {
            return Err(format!(
                "type {rtype} has no text form here; write it as RFC 3597 \\# LENGTH HEX"
            ))
        }
    };
    fields.end()?;
    Ok(rdata)
}

/// RFC 3597 §5: `\# LENGTH HEX...`, the hex possibly split into several tokens.
fn parse_generic(rtype: RecordType, fields: &mut Fields<'_>) -> Result<Rdata, String> {
    let len: usize = fields.number("\\# length")?;
    let mut hex = String::new();
    while let Ok(token) = fields.next("hex") {
        hex.push_str(&token.text);
    }
    if !hex.len().is_multiple_of(2) {
        return Err(format!("{rtype} record: odd number of hex digits"));
    }
    let data: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{rtype} record: bad hex {hex:?}"))
        })
        .collect::<Result<_, _>>()?;
    if data.len() != len {
        return Err(format!(
            "{rtype} record: \\# length {len} but {} bytes of data",
            data.len()
        ));
    }
    if rtype.is_meta() {
        return Err(format!("{rtype} is a meta type and cannot be in a zone"));
    }
    // A known type in generic form must still be valid data of that type.
    Rdata::decode(rtype, &data, 0, data.len()).map_err(|error| format!("{rtype} record: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    fn parse(text: &str) -> Result<ZoneData, ZoneErrors> {
        parse_zone(text, &name("example.com"), "example.zone", &mut no_includes)
    }

    const ZONE: &str = r#"
$TTL 1h30m
@   IN  SOA ns1 hostmaster.example.com. (
            2026112201 ; serial
            2h         ; refresh
            30m        ; retry
            2w         ; expire
            300 )      ; minimum
    IN  NS  ns1
    NS  ns2.example.net.
    MX  10 mail
ns1     A   192.0.2.1
mail 600 IN A 192.0.2.25
        AAAA 2001:db8::25
www  IN 60 CNAME @
txt     TXT "hello world" "semi;colon" "quote\"d" "\065\\"
*.wild  A   192.0.2.99
_sip._udp SRV 0 5 5060 sip
caa     CAA 0 issue "ca.example.net"
weird   TYPE65280 \# 4 0A000001
sub     NS  ns.sub
ns.sub  A   192.0.2.53
"#;

    #[test]
    fn parses_every_feature() {
        let zone = parse(ZONE).unwrap();
        assert_eq!(zone.records.len(), 15);
        let soa = &zone.records[0];
        assert_eq!(soa.ttl, 5400);
        let Rdata::Soa(data) = &soa.rdata else {
            panic!("SOA first")
        };
        assert_eq!(
            (data.refresh, data.retry, data.expire, data.minimum),
            (7200, 1800, 1_209_600, 300)
        );
        assert_eq!(data.mname, name("ns1.example.com"));
        let text: Vec<String> = zone.records.iter().map(ToString::to_string).collect();
        let expect = [
            "example.com.\t5400\tIN\tNS\tns1.example.com.",
            "example.com.\t5400\tIN\tNS\tns2.example.net.",
            "example.com.\t5400\tIN\tMX\t10 mail.example.com.",
            "mail.example.com.\t600\tIN\tA\t192.0.2.25",
            "mail.example.com.\t5400\tIN\tAAAA\t2001:db8::25",
            "www.example.com.\t60\tIN\tCNAME\texample.com.",
            "txt.example.com.\t5400\tIN\tTXT\t\"hello world\" \"semi;colon\" \"quote\\\"d\" \"A\\\\\"",
            "*.wild.example.com.\t5400\tIN\tA\t192.0.2.99",
            "_sip._udp.example.com.\t5400\tIN\tSRV\t0 5 5060 sip.example.com.",
            "caa.example.com.\t5400\tIN\tCAA\t0 issue \"ca.example.net\"",
            "weird.example.com.\t5400\tIN\tTYPE65280\t\\# 4 0A000001",
        ];
        for line in expect {
            assert!(
                text.contains(&line.to_string()),
                "missing {line}\n{text:#?}"
            );
        }
    }

    #[test]
    fn round_trips_through_text() {
        let zone = parse(ZONE).unwrap();
        let text = to_text(&zone.origin, &zone.records);
        let again = parse(&text).unwrap();
        assert_eq!(again, zone);
    }

    #[test]
    fn reports_every_error_with_its_line() {
        let text = "$TTL 300\n@ SOA ns admin 1 2 3 4 5\nbad A 300.1.1.1\nok A 192.0.2.1\nx.. A 1.2.3.4\ny MX ten mail\nz BOGUS foo\n";
        let errors = parse(text).unwrap_err().0;
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 5, 6, 7], "{errors:#?}");
        assert!(errors[0]
            .to_string()
            .starts_with("example.zone:3: A record: bad IPv4"));
    }

    #[test]
    fn refuses_zone_without_soa_and_other_zone_errors() {
        let errors = parse("$TTL 300\n@ CLASS255 SOA ns admin 1 2 3 4 5\n").unwrap_err();
        assert!(errors.to_string().contains("cannot hold data"), "{errors}");
        let errors = parse("$TTL 300\nwww A 192.0.2.1\n").unwrap_err();
        assert!(errors.to_string().contains("has no SOA"), "{errors}");
        let text = "$TTL 300\n@ SOA ns admin 1 2 3 4 5\nwww CNAME x\nwww A 192.0.2.1\nother.org. A 192.0.2.2\n";
        let errors = parse(text).unwrap_err().0;
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors
            .iter()
            .any(|e| e.message.contains("CNAME and other data")));
        assert!(errors
            .iter()
            .any(|e| e.line == 5 && e.message.contains("outside")));
    }

    #[test]
    fn includes_and_origin_scope() {
        let mut loader = |path: &str| match path {
            "hosts.inc" => Ok("$ORIGIN hosts.example.com.\na A 192.0.2.7\n".to_string()),
            "loop.inc" => Ok("$INCLUDE loop.inc\n".to_string()),
            other => Err(format!("no such file {other}")),
        };
        let text = "$TTL 300\n@ SOA ns admin 1 2 3 4 5\n$INCLUDE hosts.inc\nb A 192.0.2.8\n";
        let zone = parse_zone(text, &name("example.com"), "z", &mut loader).unwrap();
        let names: Vec<String> = zone.records.iter().map(|r| r.name.to_string()).collect();
        assert!(names.contains(&"a.hosts.example.com.".to_string()));
        // The include's $ORIGIN does not leak back.
        assert!(names.contains(&"b.example.com.".to_string()));
        let errors = parse_zone(
            "$TTL 300\n@ SOA ns admin 1 2 3 4 5\n$INCLUDE loop.inc\n$INCLUDE nope\n",
            &name("example.com"),
            "z",
            &mut loader,
        )
        .unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("nested more than"), "{text}");
        assert!(
            text.contains("z:4: $INCLUDE nope: no such file nope"),
            "{text}"
        );
    }

    #[test]
    fn mutated_zones_round_trip_when_accepted() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b" \t\n;()\"\\.@$0123456789abcAZ*#-";
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut bytes = ZONE.as_bytes().to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = alphabet[(next() as usize) % alphabet.len()];
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            if let Ok(zone) = parse(&text) {
                accepted += 1;
                let again = parse(&to_text(&zone.origin, &zone.records))
                    .unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(again, zone, "{text}");
            }
        }
        assert!(accepted > 100, "only {accepted} mutants parsed");
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("1W"), Ok(604_800));
        assert_eq!(parse_ttl("86400"), Ok(86_400));
        assert!(parse_ttl("1h30").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("99999999999").is_err());
        assert!(parse_ttl("10000w").is_err());
    }

    #[test]
    fn tokenizer_errors() {
        let errors = parse("$TTL 300\n@ SOA ns admin ( 1 2 3 4 5\n").unwrap_err();
        assert!(
            errors
                .to_string()
                .contains("example.zone:2: unbalanced '('"),
            "{errors}"
        );
        let errors = parse("$TTL 300\n@ SOA ns admin 1 2 3 4 5\nt TXT \"open\n").unwrap_err();
        assert!(errors.to_string().contains(":3: unterminated"), "{errors}");
    }

    #[test]
    fn never_panics_on_prefixes_or_noise() {
        for end in 0..ZONE.len() {
            if ZONE.is_char_boundary(end) {
                let _ = parse(&ZONE[..end]);
            }
        }
        let noise = "\\\\\"(;)\n\t$\\0\\999 @ \u{e9}\\\u{e9}";
        for end in 0..noise.len() {
            if noise.is_char_boundary(end) {
                let _ = parse(&noise[..end]);
                let _ = parse_records(&noise[end..], None, "n", &mut no_includes);
            }
        }
    }
}
