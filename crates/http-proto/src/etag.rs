//! Entity tags (RFC 9110 §8.8.3) and the lists in If-Match / If-None-Match.

use std::fmt;

/// An entity tag: `"xyzzy"` (strong) or `W/"xyzzy"` (weak).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntityTag {
    /// Whether the tag is weak (`W/` prefix).
    pub weak: bool,
    /// The opaque tag between the quotes.
    pub tag: String,
}

impl EntityTag {
    /// A strong tag; `None` if `tag` holds a character not allowed (`etagc`).
    pub fn strong(tag: impl Into<String>) -> Option<EntityTag> {
        let tag = tag.into();
        tag.bytes()
            .all(is_etagc)
            .then_some(EntityTag { weak: false, tag })
    }

    /// A weak tag; `None` if `tag` holds a character not allowed.
    pub fn weak(tag: impl Into<String>) -> Option<EntityTag> {
        let tag = tag.into();
        tag.bytes()
            .all(is_etagc)
            .then_some(EntityTag { weak: true, tag })
    }

    /// Parses one entity tag, e.g. the ETag header's value.
    pub fn parse(text: &str) -> Option<EntityTag> {
        let text = text.trim_matches([' ', '\t']);
        let (weak, quoted) = match text.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.bytes().all(is_etagc) {
            return None;
        }
        Some(EntityTag {
            weak,
            tag: inner.to_owned(),
        })
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong and the same tag. Used by If-Match
    /// and Range requests.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: the same tag, weak or not. Used by If-None-Match.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.tag == other.tag
    }
}

impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.tag)
    }
}

/// `etagc = %x21 / %x23-7E / obs-text`
fn is_etagc(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x7e).contains(&byte) || byte >= 0x80
}

/// The value of If-Match or If-None-Match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtagList {
    /// `*`: any current representation.
    Any,
    /// A list of tags.
    Tags(Vec<EntityTag>),
}

impl EtagList {
    /// Parses the combined field value; `None` if any element is malformed (a server then
    /// ignores the condition, RFC 9110 §13.1).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<EtagList> {
        let mut tags = Vec::new();
        let mut any = false;
        for value in values {
            for element in crate::header::split_list(value) {
                if element == "*" {
                    any = true;
                } else {
                    tags.push(EntityTag::parse(element)?);
                }
            }
        }
        match (any, tags.is_empty()) {
            (true, true) => Some(EtagList::Any),
            (false, false) => Some(EtagList::Tags(tags)),
            _ => None,
        }
    }

    /// If-None-Match evaluation (weak comparison): does `current` match?
    pub fn matches_weak(&self, current: Option<&EntityTag>) -> bool {
        match (self, current) {
            (EtagList::Any, current) => current.is_some(),
            (EtagList::Tags(tags), Some(current)) => tags.iter().any(|t| t.weak_eq(current)),
            (EtagList::Tags(_), None) => false,
        }
    }

    /// If-Match evaluation (strong comparison): does `current` match?
    pub fn matches_strong(&self, current: Option<&EntityTag>) -> bool {
        match (self, current) {
            (EtagList::Any, current) => current.is_some(),
            (EtagList::Tags(tags), Some(current)) => tags.iter().any(|t| t.strong_eq(current)),
            (EtagList::Tags(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_table_of_rfc_9110() {
        // RFC 9110 §8.8.3.2: the table of weak and strong comparison.
        let check = |a: &str, b: &str, strong: bool, weak: bool| {
            let a = EntityTag::parse(a).unwrap();
            let b = EntityTag::parse(b).unwrap();
            assert_eq!(a.strong_eq(&b), strong, "{a} {b}");
            assert_eq!(a.weak_eq(&b), weak, "{a} {b}");
        };
        check("W/\"1\"", "W/\"1\"", false, true);
        check("W/\"1\"", "W/\"2\"", false, false);
        check("W/\"1\"", "\"1\"", false, true);
        check("\"1\"", "\"1\"", true, true);
    }

    #[test]
    fn parses_lists() {
        let list = EtagList::parse(["\"a\", W/\"b\"", "\"c,d\""]).unwrap();
        let b = EntityTag::strong("b").unwrap();
        assert!(list.matches_weak(Some(&b)));
        assert!(!list.matches_strong(Some(&b)));
        assert!(list.matches_weak(Some(&EntityTag::strong("c,d").unwrap())));
        assert_eq!(EtagList::parse(["*"]), Some(EtagList::Any));
        assert!(EtagList::Any.matches_weak(Some(&b)));
        assert!(!EtagList::Any.matches_weak(None));
        assert_eq!(EtagList::parse(["abc"]), None);
        assert_eq!(EntityTag::parse("\"a\"b\""), None);
        assert_eq!(EntityTag::parse("W/\"x\"").unwrap().to_string(), "W/\"x\"");
    }
}
