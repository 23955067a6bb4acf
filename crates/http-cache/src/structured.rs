//! The Dictionary of RFC 8941 (Structured Field Values for HTTP) as far as a targeted
//! cache-control field (RFC 9213 §2.2) needs it: a strict parser of `sf-dictionary` into
//! members with their items and parameters. Any syntax error fails the whole field, as
//! RFC 8941 §4.2 requires; nothing here panics on any input.

/// RFC 8941 §3.3: a bare item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BareItem {
    /// `sf-integer`: at most 15 digits, so it always fits.
    Integer(i64),
    /// `sf-decimal`, in thousandths (`1.5` is 1500): at most 12 integer and 3 fraction digits.
    Decimal(i64),
    /// `sf-string`, unescaped.
    String(String),
    /// `sf-token`.
    Token(String),
    /// `sf-binary`: the base64 text between the colons (not decoded: no directive uses it).
    Binary(String),
    /// `sf-boolean`.
    Boolean(bool),
}

/// RFC 8941 §3.1.2: parameters, in order, later duplicates overwriting earlier ones.
pub type Parameters = Vec<(String, BareItem)>;

/// RFC 8941 §3.3: an item with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The value.
    pub bare: BareItem,
    /// Its parameters.
    pub parameters: Parameters,
}

/// The value of a dictionary member: an item or an inner list (RFC 8941 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberValue {
    /// `sf-item`; a member without `=` is `Boolean(true)` with the parameters that follow
    /// its key (RFC 8941 §3.2: `a;x=1` means `a=?1;x=1`).
    Item(Item),
    /// `inner-list`: the items and the list's own parameters.
    InnerList(Vec<Item>, Parameters),
}

/// Why a field is not a valid `sf-dictionary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StructuredError {
    /// The field is not valid syntax at byte `at` of the combined value.
    #[error("invalid structured field at byte {at}")]
    Syntax {
        /// Where parsing stopped (in the field lines joined by `", "`).
        at: usize,
    },
}

/// RFC 8941 §4.2 and §4.2.2: parses the field lines of one dictionary field, joined by
/// commas as §4.2 says, into its members in order. A key given twice keeps the position of
/// its first occurrence and the value of its last (§4.2.2: "overwrite its value").
pub fn parse_dictionary<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<(String, MemberValue)>, StructuredError> {
    let mut combined = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        if index > 0 {
            combined.extend_from_slice(b", ");
        }
        combined.extend_from_slice(line);
    }
    let mut parser = Parser {
        input: &combined,
        at: 0,
    };
    // §4.2: leading and trailing SP (not HTAB) are discarded around the whole value.
    parser.skip_sp();
    let mut members: Vec<(String, MemberValue)> = Vec::new();
    while !parser.is_empty() {
        let key = parser.key()?;
        let value = if parser.eat(b'=') {
            parser.item_or_inner_list()?
        } else {
            MemberValue::Item(Item {
                bare: BareItem::Boolean(true),
                parameters: parser.parameters()?,
            })
        };
        match members.iter_mut().find(|(name, _)| *name == key) {
            Some(member) => member.1 = value,
            None => members.push((key, value)),
        }
        parser.skip_ows();
        if parser.is_empty() {
            break;
        }
        if !parser.eat(b',') {
            return Err(parser.error());
        }
        parser.skip_ows();
        if parser.is_empty() {
            // A trailing comma.
            return Err(parser.error());
        }
    }
    Ok(members)
}

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn is_empty(&self) -> bool {
        self.at >= self.input.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn error(&self) -> StructuredError {
        StructuredError::Syntax { at: self.at }
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// §4.2.3.3: `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Result<String, StructuredError> {
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => {}
            _ => return Err(self.error()),
        }
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.at += 1;
        }
        Ok(ascii(&self.input[start..self.at]))
    }

    fn item_or_inner_list(&mut self) -> Result<MemberValue, StructuredError> {
        if self.peek() == Some(b'(') {
            self.inner_list()
        } else {
            Ok(MemberValue::Item(self.item()?))
        }
    }

    /// §4.2.1.2: `"(" *SP [ sf-item *( 1*SP sf-item ) *SP ] ")" parameters`.
    fn inner_list(&mut self) -> Result<MemberValue, StructuredError> {
        self.at += 1; // "("
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                return Ok(MemberValue::InnerList(items, self.parameters()?));
            }
            if self.is_empty() {
                return Err(self.error());
            }
            items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return Err(self.error());
            }
        }
    }

    /// §4.2.3: a bare item and its parameters.
    fn item(&mut self) -> Result<Item, StructuredError> {
        let bare = self.bare_item()?;
        Ok(Item {
            bare,
            parameters: self.parameters()?,
        })
    }

    /// §4.2.3.2: `*( ";" *SP parameter )`, a parameter without a value being `?1`.
    fn parameters(&mut self) -> Result<Parameters, StructuredError> {
        let mut parameters: Parameters = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            match parameters.iter_mut().find(|(name, _)| *name == key) {
                Some(parameter) => parameter.1 = value,
                None => parameters.push((key, value)),
            }
        }
        Ok(parameters)
    }

    /// §4.2.3.1: the first character says the type.
    fn bare_item(&mut self) -> Result<BareItem, StructuredError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b'*' | b'A'..=b'Z' | b'a'..=b'z') => Ok(self.token()),
            Some(b':') => self.binary(),
            Some(b'?') => self.boolean(),
            _ => Err(self.error()),
        }
    }

    /// §4.2.4: `sf-integer = ["-"] 1*15DIGIT`, `sf-decimal = ["-"] 1*12DIGIT "." 1*3DIGIT`.
    fn number(&mut self) -> Result<BareItem, StructuredError> {
        let negative = self.eat(b'-');
        let mut integer: i64 = 0;
        let mut integer_digits = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            integer_digits += 1;
            if integer_digits > 15 {
                return Err(self.error());
            }
            integer = integer * 10 + i64::from(digit - b'0');
            self.at += 1;
        }
        if integer_digits == 0 {
            return Err(self.error());
        }
        let sign = if negative { -1 } else { 1 };
        if !self.eat(b'.') {
            return Ok(BareItem::Integer(sign * integer));
        }
        if integer_digits > 12 {
            return Err(self.error());
        }
        let mut fraction: i64 = 0;
        let mut fraction_digits = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            fraction_digits += 1;
            if fraction_digits > 3 {
                return Err(self.error());
            }
            fraction = fraction * 10 + i64::from(digit - b'0');
            self.at += 1;
        }
        if fraction_digits == 0 {
            return Err(self.error());
        }
        for _ in fraction_digits..3 {
            fraction *= 10;
        }
        Ok(BareItem::Decimal(sign * (integer * 1000 + fraction)))
    }

    /// §4.2.5: printable ASCII between quotes; `\` escapes only `"` and `\`.
    fn string(&mut self) -> Result<BareItem, StructuredError> {
        self.at += 1; // DQUOTE
        let mut text = String::new();
        loop {
            match self.next() {
                None => return Err(self.error()),
                Some(b'\\') => match self.next() {
                    Some(escaped @ (b'"' | b'\\')) => text.push(char::from(escaped)),
                    _ => return Err(self.error()),
                },
                Some(b'"') => return Ok(BareItem::String(text)),
                Some(byte @ 0x20..=0x7e) => text.push(char::from(byte)),
                Some(_) => return Err(self.error()),
            }
        }
    }

    /// §4.2.6: `( ALPHA / "*" ) *( tchar / ":" / "/" )` (the first character is checked by
    /// the caller).
    fn token(&mut self) -> BareItem {
        let start = self.at;
        self.at += 1;
        while self
            .peek()
            .is_some_and(|byte| is_tchar(byte) || byte == b':' || byte == b'/')
        {
            self.at += 1;
        }
        BareItem::Token(ascii(&self.input[start..self.at]))
    }

    /// §4.2.7: `":" *(base64) ":"`.
    fn binary(&mut self) -> Result<BareItem, StructuredError> {
        self.at += 1; // ":"
        let start = self.at;
        while self
            .peek()
            .is_some_and(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'='))
        {
            self.at += 1;
        }
        let text = ascii(&self.input[start..self.at]);
        if !self.eat(b':') {
            return Err(self.error());
        }
        Ok(BareItem::Binary(text))
    }

    /// §4.2.8: `?0` or `?1`.
    fn boolean(&mut self) -> Result<BareItem, StructuredError> {
        self.at += 1; // "?"
        match self.next() {
            Some(b'1') => Ok(BareItem::Boolean(true)),
            Some(b'0') => Ok(BareItem::Boolean(false)),
            _ => Err(self.error()),
        }
    }
}

/// RFC 9110 §5.6.2: `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Bytes already checked to be ASCII, as a `String`.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Vec<(String, MemberValue)>, StructuredError> {
        parse_dictionary([value.as_bytes()])
    }

    fn item(bare: BareItem) -> MemberValue {
        MemberValue::Item(Item {
            bare,
            parameters: Vec::new(),
        })
    }

    /// `(key, value)` pairs of a dictionary whose members are all plain items.
    fn check(value: &str, expected: &[(&str, BareItem)]) {
        let members = parse(value).unwrap_or_else(|error| panic!("{value:?}: {error}"));
        let expected: Vec<(String, MemberValue)> = expected
            .iter()
            .map(|(key, bare)| (key.to_string(), item(bare.clone())))
            .collect();
        assert_eq!(members, expected, "{value:?}");
    }

    fn invalid(value: &str) {
        assert!(parse(value).is_err(), "{value:?} should not parse");
    }

    #[test]
    fn boolean_true_shorthand_integers_and_spaces() {
        check(
            "max-age=600, no-store",
            &[
                ("max-age", BareItem::Integer(600)),
                ("no-store", BareItem::Boolean(true)),
            ],
        );
        // OWS around commas, SP at both ends.
        check(
            "  a=1 ,\tb=?0,c  ",
            &[
                ("a", BareItem::Integer(1)),
                ("b", BareItem::Boolean(false)),
                ("c", BareItem::Boolean(true)),
            ],
        );
        check("", &[]);
        check("   ", &[]);
    }

    #[test]
    fn every_bare_item_type() {
        check(
            r#"i=-42, d=1.5, s="a \"q\" \\ b", t=foo/bar:baz, b=:aGk=:, y=?1, star=*x"#,
            &[
                ("i", BareItem::Integer(-42)),
                ("d", BareItem::Decimal(1500)),
                ("s", BareItem::String("a \"q\" \\ b".into())),
                ("t", BareItem::Token("foo/bar:baz".into())),
                ("b", BareItem::Binary("aGk=".into())),
                ("y", BareItem::Boolean(true)),
                ("star", BareItem::Token("*x".into())),
            ],
        );
        check(
            "n=999999999999999",
            &[("n", BareItem::Integer(999_999_999_999_999))],
        );
    }

    #[test]
    fn parameters_on_members_and_on_the_shorthand() {
        let members = parse("max-age=60;a=1;b, no-cache;x=\"y\"").unwrap();
        assert_eq!(
            members,
            vec![
                (
                    "max-age".to_string(),
                    MemberValue::Item(Item {
                        bare: BareItem::Integer(60),
                        parameters: vec![
                            ("a".into(), BareItem::Integer(1)),
                            ("b".into(), BareItem::Boolean(true)),
                        ],
                    })
                ),
                (
                    "no-cache".to_string(),
                    MemberValue::Item(Item {
                        bare: BareItem::Boolean(true),
                        parameters: vec![("x".into(), BareItem::String("y".into()))],
                    })
                ),
            ]
        );
        // SP is allowed after ";", not before it.
        assert!(parse("a=1; b=2").is_ok());
        invalid("a=1 ;b=2");
    }

    #[test]
    fn inner_lists() {
        let members = parse("l=(1 \"two\"  three);p, e=()").unwrap();
        let plain = |bare| Item {
            bare,
            parameters: Vec::new(),
        };
        assert_eq!(
            members,
            vec![
                (
                    "l".to_string(),
                    MemberValue::InnerList(
                        vec![
                            plain(BareItem::Integer(1)),
                            plain(BareItem::String("two".into())),
                            plain(BareItem::Token("three".into())),
                        ],
                        vec![("p".into(), BareItem::Boolean(true))],
                    )
                ),
                (
                    "e".to_string(),
                    MemberValue::InnerList(Vec::new(), Vec::new())
                ),
            ]
        );
        invalid("l=(1,2)");
        invalid("l=(1");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        check(
            "max-age=1, b, max-age=2",
            &[
                ("max-age", BareItem::Integer(2)),
                ("b", BareItem::Boolean(true)),
            ],
        );
    }

    #[test]
    fn lines_combine_with_commas() {
        let members = parse_dictionary([&b"a=1"[..], b"b"]).unwrap();
        assert_eq!(members.len(), 2);
        // An empty line between makes an empty member: invalid.
        assert!(parse_dictionary([&b"a=1"[..], b"", b"b"]).is_err());
    }

    #[test]
    fn invalid_syntax_fails_the_whole_field() {
        for value in [
            "Max-Age=60",         // keys are lowercase
            "max-age=60,",        // trailing comma
            ",max-age=60",        // leading comma
            "a=1,,b=2",           // empty member
            "a=1 b=2",            // no comma
            "a=",                 // no value
            "a=1.",               // decimal without fraction
            "a=1.2345",           // four fraction digits
            "a=1234567890123.5",  // thirteen integer digits
            "a=1234567890123456", // sixteen digits
            "a=-",
            "a=\"open",
            "a=\"bad \\n escape\"",
            "a=\"tab\there\"",
            "a=:unterminated",
            "a=?2",
            "a=#",
            "1a=1",
            "\ta=1", // only SP is discarded at the start
            "a=1;",
            "a=1;B=2",
            "a=\u{e9}",
        ] {
            invalid(value);
        }
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let samples: [&[u8]; 5] = [
            br#"a=(1 "x";p=?1 t:/), b=:aGk=:;q=-1.5, c"#,
            b"\xff\xfe=(\"\\",
            b"a=999999999999999999999999.9999",
            b"*=*;*=*, -",
            b"a=?",
        ];
        for sample in samples {
            for end in 0..=sample.len() {
                let _ = parse_dictionary([&sample[..end]]);
            }
        }
    }
}
