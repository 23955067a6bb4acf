//! A small XML reader, just enough for MPDs: elements, attributes, text, comments, CDATA, the
//! declaration and a DOCTYPE skipped, the predefined and numeric entities, namespace prefixes
//! resolved; every element and every error carries its line and column.

/// The namespace of MPD elements (ISO/IEC 23009-1 §5.3.1).
pub(crate) const DASH_NAMESPACE: &str = "urn:mpeg:dash:schema:mpd:2011";

/// How deep elements may nest. MPDs need about six levels; the bound keeps a hostile document
/// from building a tree whose drop would exhaust the stack.
const MAX_DEPTH: usize = 64;

/// One element with what the MPD reader needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// The local name (the part after any prefix).
    pub(crate) name: String,
    /// The namespace the prefix (or the default namespace) maps to.
    pub(crate) namespace: Option<String>,
    /// Attributes as written (prefixed names keep their prefix), values decoded.
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    /// The element's own character data, entities decoded, pieces joined.
    pub(crate) text: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Element {
    /// An unprefixed attribute's value.
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether this element is in the MPD namespace (or in none, as some hand-written MPDs are).
    pub(crate) fn is_dash(&self, name: &str) -> bool {
        self.name == name
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == DASH_NAMESPACE)
    }
}

/// A document that is not well-formed, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XmlError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) reason: String,
}

/// Parses a whole document into its root element.
pub(crate) fn parse(input: &str) -> Result<Element, XmlError> {
    // XML 1.0 §2.11: line ends are normalized to LF before parsing; lines stay where they were.
    let text = input.replace("\r\n", "\n").replace('\r', "\n");
    Reader {
        text: &text,
        pos: 0,
        cursor: (0, 1, 1),
    }
    .document()
}

struct Open {
    element: Element,
    qualified: String,
    scope: Vec<(String, String)>,
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// (offset, line, column) of the last position turned into a line, so positions are
    /// computed incrementally.
    cursor: (usize, usize, usize),
}

impl Reader<'_> {
    fn position(&mut self, offset: usize) -> (usize, usize) {
        let (mut at, mut line, mut column) = self.cursor;
        if offset < at {
            (at, line, column) = (0, 1, 1);
        }
        for ch in self.text[at..offset.min(self.text.len())].chars() {
            if ch == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        self.cursor = (offset, line, column);
        (line, column)
    }

    fn error_at(&mut self, offset: usize, reason: impl Into<String>) -> XmlError {
        let (line, column) = self.position(offset);
        XmlError {
            line,
            column,
            reason: reason.into(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_past(&mut self, end: &str, what: &str) -> Result<usize, XmlError> {
        match self.rest().find(end) {
            Some(found) => {
                let start = self.pos;
                self.pos += found + end.len();
                Ok(start)
            }
            None => Err(self.error_at(self.pos, format!("unterminated {what}"))),
        }
    }

    fn skip_whitespace(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n']);
        self.pos = self.text.len() - trimmed.len();
    }

    fn name(&mut self) -> Result<String, XmlError> {
        let end = self
            .rest()
            .find(|c: char| c.is_ascii_whitespace() || "/>=<\"'&!?".contains(c))
            .unwrap_or(self.rest().len());
        if end == 0 {
            return Err(self.error_at(self.pos, "expected a name"));
        }
        let name = self.rest()[..end].to_string();
        self.pos += end;
        Ok(name)
    }

    fn check_characters(&mut self) -> Result<(), XmlError> {
        // XML 1.0 §2.2: no C0 controls but tab and line feed, and no U+FFFE / U+FFFF.
        if let Some((at, _)) = self.text.char_indices().find(|(_, c)| {
            (*c < ' ' && !matches!(c, '\t' | '\n')) || matches!(c, '\u{fffe}' | '\u{ffff}')
        }) {
            return Err(self.error_at(at, "character not allowed in XML"));
        }
        Ok(())
    }

    fn document(mut self) -> Result<Element, XmlError> {
        self.check_characters()?;
        if self.rest().starts_with('\u{feff}') {
            self.pos += '\u{feff}'.len_utf8();
        }
        let mut stack: Vec<Open> = Vec::new();
        let mut root: Option<Element> = None;
        while self.pos < self.text.len() {
            let rest = self.rest();
            if rest.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
            } else if rest.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
            } else if rest.starts_with("<![CDATA[") {
                let start = self.pos;
                self.pos += "<![CDATA[".len();
                let body_start = self.pos;
                self.skip_past("]]>", "CDATA section")?;
                let body = &self.text[body_start..self.pos - 3];
                match stack.last_mut() {
                    Some(open) => open.element.text.push_str(body),
                    None => return Err(self.error_at(start, "CDATA outside the root element")),
                }
            } else if rest.starts_with("<!DOCTYPE") {
                if root.is_some() || !stack.is_empty() {
                    return Err(self.error_at(self.pos, "DOCTYPE after the root element"));
                }
                self.skip_doctype()?;
            } else if rest.starts_with("</") {
                let start = self.pos;
                self.pos += 2;
                let name = self.name()?;
                self.skip_whitespace();
                if !self.rest().starts_with('>') {
                    return Err(self.error_at(self.pos, "expected `>` to end the end tag"));
                }
                self.pos += 1;
                let Some(open) = stack.pop() else {
                    return Err(self.error_at(start, format!("end tag </{name}> without a start")));
                };
                if open.qualified != name {
                    return Err(self.error_at(
                        start,
                        format!("end tag </{name}> does not match <{}>", open.qualified),
                    ));
                }
                self.close(open.element, &mut stack, &mut root);
            } else if rest.starts_with('<') {
                let start = self.pos;
                if root.is_some() {
                    return Err(self.error_at(start, "more than one root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(self.error_at(start, "elements nest too deeply"));
                }
                self.pos += 1;
                let (open, empty) = self.start_tag(start, &stack)?;
                if empty {
                    self.close(open.element, &mut stack, &mut root);
                } else {
                    stack.push(open);
                }
            } else {
                let start = self.pos;
                let end = rest.find('<').unwrap_or(rest.len());
                self.pos += end;
                let raw = &self.text[start..self.pos];
                let decoded = self.decode(raw, start, false)?;
                match stack.last_mut() {
                    Some(open) => open.element.text.push_str(&decoded),
                    None if decoded.trim_matches([' ', '\t', '\n']).is_empty() => {}
                    None => return Err(self.error_at(start, "text outside the root element")),
                }
            }
        }
        if let Some(open) = stack.last() {
            let reason = format!("<{}> is never closed", open.qualified);
            return Err(self.error_at(self.text.len(), reason));
        }
        root.ok_or_else(|| self.error_at(self.text.len(), "no root element"))
    }

    fn close(&mut self, element: Element, stack: &mut [Open], root: &mut Option<Element>) {
        match stack.last_mut() {
            Some(parent) => parent.element.children.push(element),
            None => *root = Some(element),
        }
    }

    fn skip_doctype(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        for (at, ch) in self.rest().char_indices() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '[') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, '>') if depth == 0 => {
                    self.pos += at + 1;
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(self.error_at(start, "unterminated DOCTYPE"))
    }

    fn start_tag(&mut self, start: usize, stack: &[Open]) -> Result<(Open, bool), XmlError> {
        let qualified = self.name()?;
        let mut attributes: Vec<(String, String)> = Vec::new();
        let empty = loop {
            let before = self.pos;
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                break true;
            }
            if rest.starts_with('>') {
                self.pos += 1;
                break false;
            }
            if rest.is_empty() {
                return Err(self.error_at(start, format!("unterminated start tag <{qualified}")));
            }
            if self.pos == before {
                return Err(self.error_at(self.pos, "expected whitespace before an attribute"));
            }
            let name_at = self.pos;
            let name = self.name()?;
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return Err(self.error_at(self.pos, format!("attribute {name} without `=`")));
            }
            self.pos += 1;
            self.skip_whitespace();
            let Some(quote) = self
                .rest()
                .chars()
                .next()
                .filter(|c| matches!(c, '"' | '\''))
            else {
                return Err(self.error_at(self.pos, format!("attribute {name}: value not quoted")));
            };
            self.pos += 1;
            let value_start = self.pos;
            let Some(end) = self.rest().find(quote) else {
                return Err(
                    self.error_at(value_start, format!("attribute {name}: unterminated value"))
                );
            };
            self.pos += end + 1;
            let raw = &self.text[value_start..value_start + end];
            if let Some(at) = raw.find('<') {
                return Err(self.error_at(value_start + at, "`<` in an attribute value"));
            }
            let value = self.decode(raw, value_start, true)?;
            if attributes.iter().any(|(key, _)| *key == name) {
                return Err(self.error_at(name_at, format!("attribute {name} given twice")));
            }
            attributes.push((name, value));
        };
        let scope: Vec<(String, String)> = attributes
            .iter()
            .filter_map(|(key, value)| {
                if key == "xmlns" {
                    Some((String::new(), value.clone()))
                } else {
                    key.strip_prefix("xmlns:")
                        .map(|prefix| (prefix.to_string(), value.clone()))
                }
            })
            .collect();
        let (prefix, local) = match qualified.split_once(':') {
            Some((prefix, local)) => (prefix, local),
            None => ("", qualified.as_str()),
        };
        let namespace = scope
            .iter()
            .rev()
            .chain(stack.iter().rev().flat_map(|open| open.scope.iter().rev()))
            .find(|(declared, _)| declared == prefix)
            .map(|(_, uri)| uri.clone())
            .filter(|uri| !uri.is_empty());
        if !prefix.is_empty() && namespace.is_none() && prefix != "xml" {
            return Err(self.error_at(start, format!("undeclared namespace prefix {prefix}")));
        }
        let (line, column) = self.position(start);
        let element = Element {
            name: local.to_string(),
            namespace,
            attributes,
            children: Vec::new(),
            text: String::new(),
            line,
            column,
        };
        Ok((
            Open {
                element,
                qualified,
                scope,
            },
            empty,
        ))
    }

    /// Decodes entity and character references (XML 1.0 §4.6, §4.1); in attribute values,
    /// whitespace characters become spaces (§3.3.3).
    fn decode(&mut self, raw: &str, offset: usize, attribute: bool) -> Result<String, XmlError> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            let before = &rest[..amp];
            push_text(&mut out, before, attribute);
            let after = &rest[amp + 1..];
            let here = offset + (raw.len() - rest.len()) + amp;
            let Some(semi) = after.find(';').filter(|semi| *semi <= 12) else {
                return Err(self.error_at(here, "`&` that starts no entity"));
            };
            let entity = &after[..semi];
            let ch = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = if let Some(hex) = entity.strip_prefix("#x") {
                        u32::from_str_radix(hex, 16).ok()
                    } else if let Some(decimal) = entity.strip_prefix('#') {
                        decimal.parse::<u32>().ok()
                    } else {
                        return Err(self.error_at(here, format!("unknown entity &{entity};")));
                    };
                    match code.and_then(char::from_u32).filter(|c| allowed_char(*c)) {
                        Some(ch) => ch,
                        None => {
                            return Err(
                                self.error_at(here, format!("bad character reference &{entity};"))
                            )
                        }
                    }
                }
            };
            out.push(ch);
            rest = &after[semi + 1..];
        }
        push_text(&mut out, rest, attribute);
        Ok(out)
    }
}

fn push_text(out: &mut String, text: &str, attribute: bool) {
    if attribute {
        out.extend(
            text.chars()
                .map(|c| if matches!(c, '\t' | '\n') { ' ' } else { c }),
        );
    } else {
        out.push_str(text);
    }
}

/// XML 1.0 §2.2 Char.
fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{fffe}' | '\u{ffff}'))
}

/// Escapes text for an attribute value in double quotes, so that reading it back gives the
/// same string (whitespace other than spaces is written as character references).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_attributes_text_and_entities() {
        let doc = "<?xml version=\"1.0\"?>\n<!-- c -->\n<a xmlns=\"urn:mpeg:dash:schema:mpd:2011\" x='1 &amp; 2'>\n  <b>t&lt;&#65;&#x42;<![CDATA[<c>]]></b><d/>\n</a>\n";
        let root = parse(doc).unwrap();
        assert!(root.is_dash("a"));
        assert_eq!(root.attribute("x"), Some("1 & 2"));
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.children[0].text, "t<AB<c>");
        assert_eq!((root.children[0].line, root.children[0].column), (4, 3));
        assert!(root.children[1].is_dash("d"));
    }

    #[test]
    fn resolves_prefixes() {
        let root = parse("<m:MPD xmlns:m=\"urn:mpeg:dash:schema:mpd:2011\"><m:Period/><x:Y xmlns:x=\"urn:other\"/></m:MPD>").unwrap();
        assert!(root.is_dash("MPD"));
        assert!(root.children[0].is_dash("Period"));
        assert!(!root.children[1].is_dash("Y"));
    }

    #[test]
    fn errors_say_where() {
        for (doc, line, column) in [
            ("<a>\n<b>\n</a>", 3, 1),
            ("<a>\n  <b x=1/></a>", 2, 8),
            ("<a>&nope;</a>", 1, 4),
            ("<a>", 1, 4),
            ("", 1, 1),
            ("<a/><b/>", 1, 5),
            ("<a>\u{1}</a>", 1, 4),
        ] {
            let error = parse(doc).unwrap_err();
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{doc:?}: {error:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "<a>".repeat(10_000);
        assert!(parse(&doc).unwrap_err().reason.contains("deeply"));
    }

    #[test]
    fn escape_round_trips() {
        let value = "a&b<c>\"d'\te\nf\rg";
        let root = parse(&format!("<a v=\"{}\"/>", escape(value))).unwrap();
        assert_eq!(root.attribute("v"), Some(value));
    }
}
