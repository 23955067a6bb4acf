//! Mailboxes and SMTP paths (RFC 5321 §4.1.2, §4.1.3, RFC 6531 §3.3): parsing, the length
//! limits of §4.5.3.1, and a display that quotes a local part only when it must.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// RFC 5321 §4.5.3.1.1: the longest local part, in octets.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 §4.5.3.1.2: the longest domain, in octets.
pub const MAX_DOMAIN: usize = 255;
/// RFC 5321 §4.5.3.1.3: the longest reverse or forward path, in octets, with its brackets.
pub const MAX_PATH: usize = 256;
/// RFC 1035 §2.3.4: the longest label of a domain name.
const MAX_LABEL: usize = 63;

/// Why an address did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The path is not enclosed in `<` and `>`.
    #[error("path not enclosed in angle brackets")]
    MissingBrackets,
    /// There is no `@` between the local part and the domain.
    #[error("no @ in the address")]
    MissingAt,
    /// The local part is neither a dot-string nor a quoted string.
    #[error("bad local part")]
    BadLocalPart,
    /// The domain is not a domain name.
    #[error("bad domain")]
    BadDomain,
    /// The bracketed address literal is not an IPv4 or IPv6 address.
    #[error("bad address literal")]
    BadAddressLiteral,
    /// The source route (`@a,@b:`) is malformed.
    #[error("bad source route")]
    BadSourceRoute,
    /// The local part is longer than 64 octets.
    #[error("local part of {len} octets, longer than {max}")]
    LocalPartTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The domain is longer than 255 octets.
    #[error("domain of {len} octets, longer than {max}")]
    DomainTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The path is longer than 256 octets.
    #[error("path of {len} octets, longer than {max}")]
    PathTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `<>` or `<postmaster>` where they are not allowed.
    #[error("this path is not allowed here")]
    NotAllowed,
}

/// The part of an address after the `@`: a domain name or an address literal
/// (RFC 5321 §4.1.3). Domain names compare without regard to ASCII case (§2.4).
#[derive(Clone, Debug)]
pub enum Domain {
    /// A domain name as sent (its case kept); U-labels are allowed (RFC 6531 §3.3).
    Name(String),
    /// `[192.0.2.1]`.
    Ipv4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`.
    Ipv6(Ipv6Addr),
}

impl Domain {
    /// Parses a domain name or a bracketed address literal.
    pub fn parse(text: &str) -> Result<Domain, AddressError> {
        if text.len() > MAX_DOMAIN {
            return Err(AddressError::DomainTooLong {
                len: text.len(),
                max: MAX_DOMAIN,
            });
        }
        if let Some(literal) = text.strip_prefix('[') {
            let inner = literal
                .strip_suffix(']')
                .ok_or(AddressError::BadAddressLiteral)?;
            return parse_address_literal(inner);
        }
        if is_domain_name(text) {
            Ok(Domain::Name(text.to_string()))
        } else {
            Err(AddressError::BadDomain)
        }
    }

    /// Whether this is a domain name of ASCII only (an address literal always is).
    pub fn is_ascii(&self) -> bool {
        match self {
            Domain::Name(name) => name.is_ascii(),
            Domain::Ipv4(_) | Domain::Ipv6(_) => true,
        }
    }
}

impl PartialEq for Domain {
    fn eq(&self, other: &Domain) -> bool {
        match (self, other) {
            // RFC 5321 §2.4: domain names are not case sensitive. U-labels compare by their
            // bytes beyond ASCII (their case folding is IDNA's business, not the transport's).
            (Domain::Name(a), Domain::Name(b)) => a.eq_ignore_ascii_case(b),
            (Domain::Ipv4(a), Domain::Ipv4(b)) => a == b,
            (Domain::Ipv6(a), Domain::Ipv6(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Domain {}

impl Hash for Domain {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Domain::Name(name) => {
                0u8.hash(state);
                for byte in name.bytes() {
                    byte.to_ascii_lowercase().hash(state);
                }
            }
            Domain::Ipv4(address) => {
                1u8.hash(state);
                address.hash(state);
            }
            Domain::Ipv6(address) => {
                2u8.hash(state);
                address.hash(state);
            }
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(name) => f.write_str(name),
            Domain::Ipv4(address) => write!(f, "[{address}]"),
            Domain::Ipv6(address) => write!(f, "[IPv6:{address}]"),
        }
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(text: &str) -> Result<Domain, AddressError> {
        Domain::parse(text)
    }
}

/// RFC 5321 §4.1.3: IPv4-address-literal, or IPv6-address-literal with its `IPv6:` tag.
/// General-address-literal needs a tag registered with IANA, and none but IPv6 is.
fn parse_address_literal(inner: &str) -> Result<Domain, AddressError> {
    if let Some(tag_end) = inner.find(':') {
        let (tag, rest) = inner.split_at(tag_end);
        let address = rest.get(1..).unwrap_or("");
        if tag.eq_ignore_ascii_case("IPv6") {
            return address
                .parse::<Ipv6Addr>()
                .map(Domain::Ipv6)
                .map_err(|_| AddressError::BadAddressLiteral);
        }
        return Err(AddressError::BadAddressLiteral);
    }
    inner
        .parse::<Ipv4Addr>()
        .map(Domain::Ipv4)
        .map_err(|_| AddressError::BadAddressLiteral)
}

/// RFC 5321 §4.1.2: Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str];
/// RFC 6531 §3.3 adds U-labels, which are taken here as any non-ASCII characters (IDNA2008
/// validation is left to the service).
fn is_domain_name(text: &str) -> bool {
    if text.is_empty() || text.len() > MAX_DOMAIN {
        return false;
    }
    text.split('.').all(|label| {
        let letter_digit = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
        !label.is_empty()
            && label.len() <= MAX_LABEL
            && label.starts_with(letter_digit)
            && label.ends_with(letter_digit)
            && label.chars().all(|c| letter_digit(c) || c == '-')
    })
}

/// RFC 5322 §3.2.3 atext, as RFC 5321 §4.1.2 uses it, plus UTF-8 (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// RFC 5321 §4.1.2 Dot-string = Atom *("." Atom).
fn is_dot_string(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// RFC 5321 §4.1.2 qtextSMTP and the second octet of quoted-pairSMTP: printable ASCII and
/// space; RFC 6531 §3.3 adds UTF-8.
fn is_quotable(c: char) -> bool {
    (' '..='~').contains(&c) || !c.is_ascii()
}

/// A mailbox: local part and domain (RFC 5321 §4.1.2 `Mailbox`). The local part is kept
/// unquoted (`"a b"@x` holds `a b`) and is case sensitive (§2.4); the domain is not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    local: String,
    domain: Domain,
}

impl Mailbox {
    /// A mailbox from an unquoted local part and a domain; fails if the local part holds a
    /// character no quoted string can carry (a control character) or is too long once quoted.
    pub fn new(local: impl Into<String>, domain: Domain) -> Result<Mailbox, AddressError> {
        let mailbox = Mailbox {
            local: local.into(),
            domain,
        };
        if mailbox.local.is_empty() || !mailbox.local.chars().all(is_quotable) {
            return Err(AddressError::BadLocalPart);
        }
        let len = mailbox.local_wire_len();
        if len > MAX_LOCAL_PART {
            return Err(AddressError::LocalPartTooLong {
                len,
                max: MAX_LOCAL_PART,
            });
        }
        Ok(mailbox)
    }

    /// Parses `local@domain` (no angle brackets), with a dot-string or quoted-string local part.
    pub fn parse(text: &str) -> Result<Mailbox, AddressError> {
        let (local, rest) = if let Some(quoted) = text.strip_prefix('"') {
            let mut local = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((index, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(index + 1);
                        break;
                    }
                    // RFC 5321 §4.1.2 quoted-pairSMTP = %d92 %d32-126.
                    '\\' => match chars.next() {
                        Some((_, escaped)) if is_quotable(escaped) => local.push(escaped),
                        _ => return Err(AddressError::BadLocalPart),
                    },
                    c if is_quotable(c) => local.push(c),
                    _ => return Err(AddressError::BadLocalPart),
                }
            }
            let end = end.ok_or(AddressError::BadLocalPart)?;
            let wire_len = end + 1;
            if wire_len > MAX_LOCAL_PART {
                return Err(AddressError::LocalPartTooLong {
                    len: wire_len,
                    max: MAX_LOCAL_PART,
                });
            }
            let rest = quoted.get(end..).unwrap_or("");
            // An empty quoted string `""` is syntactically valid, but no mailbox has it.
            if local.is_empty() {
                return Err(AddressError::BadLocalPart);
            }
            (local, rest)
        } else {
            let at = text.rfind('@').ok_or(AddressError::MissingAt)?;
            let (local, rest) = text.split_at(at);
            if local.len() > MAX_LOCAL_PART {
                return Err(AddressError::LocalPartTooLong {
                    len: local.len(),
                    max: MAX_LOCAL_PART,
                });
            }
            if !is_dot_string(local) {
                return Err(AddressError::BadLocalPart);
            }
            (local.to_string(), rest)
        };
        let domain = rest.strip_prefix('@').ok_or(AddressError::MissingAt)?;
        Ok(Mailbox {
            local,
            domain: Domain::parse(domain)?,
        })
    }

    /// The local part, unquoted.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Whether local part and domain are ASCII; if not, the transaction needs SMTPUTF8
    /// (RFC 6531 §3.4).
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }

    /// Whether the local part has to be quoted on the wire (RFC 5321 §4.1.2: a local part
    /// that is a valid dot-string is sent as one).
    fn needs_quotes(&self) -> bool {
        !is_dot_string(&self.local)
    }

    fn local_wire_len(&self) -> usize {
        if self.needs_quotes() {
            2 + self
                .local
                .chars()
                .map(|c| c.len_utf8() + usize::from(c == '"' || c == '\\'))
                .sum::<usize>()
        } else {
            self.local.len()
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.needs_quotes() {
            f.write_str("\"")?;
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        } else {
            f.write_str(&self.local)?;
        }
        write!(f, "@{}", self.domain)
    }
}

impl FromStr for Mailbox {
    type Err = AddressError;
    fn from_str(text: &str) -> Result<Mailbox, AddressError> {
        Mailbox::parse(text)
    }
}

/// The argument of MAIL FROM (RFC 5321 §4.1.2 `Reverse-path`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: the null reverse path of bounces and other notifications (§4.5.5).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl ReversePath {
    /// Parses a bracketed path; a source route is accepted and dropped (§4.1.1.3, Appendix C).
    pub fn parse(text: &str) -> Result<ReversePath, AddressError> {
        match parse_bracketed(text)? {
            Path::Null => Ok(ReversePath::Null),
            Path::Postmaster => Err(AddressError::MissingAt),
            Path::Mailbox(mailbox) => Ok(ReversePath::Mailbox(mailbox)),
        }
    }

    /// The mailbox, unless this is the null path.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(mailbox) => Some(mailbox),
        }
    }

    /// Whether the path is ASCII only.
    pub fn is_ascii(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::is_ascii)
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

impl FromStr for ReversePath {
    type Err = AddressError;
    fn from_str(text: &str) -> Result<ReversePath, AddressError> {
        ReversePath::parse(text)
    }
}

/// The argument of RCPT TO (RFC 5321 §4.1.2 `Forward-path`, §4.1.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain, which every server must accept (§4.5.1).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// Parses a bracketed path; a source route is accepted and dropped (§4.1.1.3, Appendix C).
    pub fn parse(text: &str) -> Result<ForwardPath, AddressError> {
        match parse_bracketed(text)? {
            Path::Null => Err(AddressError::NotAllowed),
            Path::Postmaster => Ok(ForwardPath::Postmaster),
            Path::Mailbox(mailbox) => Ok(ForwardPath::Mailbox(mailbox)),
        }
    }

    /// The mailbox, unless this is the bare `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ForwardPath::Postmaster => None,
            ForwardPath::Mailbox(mailbox) => Some(mailbox),
        }
    }

    /// Whether the path is ASCII only.
    pub fn is_ascii(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::is_ascii)
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

impl FromStr for ForwardPath {
    type Err = AddressError;
    fn from_str(text: &str) -> Result<ForwardPath, AddressError> {
        ForwardPath::parse(text)
    }
}

enum Path {
    Null,
    Postmaster,
    Mailbox(Mailbox),
}

/// The length of the bracketed path at the start of `text` (through its `>`), skipping a `>`
/// inside a quoted local part; `None` if it does not close.
pub(crate) fn path_len(text: &str) -> Option<usize> {
    if !text.starts_with('<') {
        return None;
    }
    let mut quoted = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == '>' && !quoted {
            return Some(index + 1);
        }
    }
    None
}

fn parse_bracketed(text: &str) -> Result<Path, AddressError> {
    if text.len() > MAX_PATH {
        return Err(AddressError::PathTooLong {
            len: text.len(),
            max: MAX_PATH,
        });
    }
    let inner = text
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .ok_or(AddressError::MissingBrackets)?;
    if inner.is_empty() {
        return Ok(Path::Null);
    }
    // RFC 5321 §4.1.1.3: "<Postmaster>" is case insensitive and has no domain.
    if inner.eq_ignore_ascii_case("postmaster") {
        return Ok(Path::Postmaster);
    }
    // §4.1.2 A-d-l = At-domain *( "," At-domain ), followed by ":". Servers SHOULD accept
    // and ignore it (§4.1.1.3, Appendix C).
    let mailbox = if inner.starts_with('@') {
        let colon = inner.find(':').ok_or(AddressError::BadSourceRoute)?;
        let (route, rest) = inner.split_at(colon);
        for hop in route.split(',') {
            let domain = hop.strip_prefix('@').ok_or(AddressError::BadSourceRoute)?;
            Domain::parse(domain).map_err(|_| AddressError::BadSourceRoute)?;
        }
        rest.get(1..).unwrap_or("")
    } else {
        inner
    };
    Mailbox::parse(mailbox).map(Path::Mailbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(text: &str) -> Mailbox {
        Mailbox::parse(text).unwrap()
    }

    #[test]
    fn dot_strings_and_quoted_strings() {
        let plain = mailbox("alice.b+tag@crepes.fr");
        assert_eq!(plain.local(), "alice.b+tag");
        assert_eq!(plain.domain(), &Domain::Name("crepes.fr".into()));
        assert_eq!(plain.to_string(), "alice.b+tag@crepes.fr");

        let quoted = mailbox(r#""john \"jr\" doe"@example.com"#);
        assert_eq!(quoted.local(), r#"john "jr" doe"#);
        assert_eq!(quoted.to_string(), r#""john \"jr\" doe"@example.com"#);

        // Needless quotes are dropped on display (RFC 5321 §4.1.2: the minimum quoting).
        assert_eq!(mailbox(r#""bob"@x.org"#).to_string(), "bob@x.org");
        assert_eq!(mailbox(r#""bob"@x.org"#), mailbox("bob@x.org"));
        // An @ inside quotes is part of the local part.
        assert_eq!(mailbox(r#""a@b"@c.d"#).local(), "a@b");
        // A leading, trailing or double dot needs quoting.
        assert_eq!(mailbox(r#"".a..b"@c.d"#).to_string(), r#"".a..b"@c.d"#);
    }

    #[test]
    fn bad_local_parts() {
        for text in [
            "a..b@c.d",
            ".a@c.d",
            "a.@c.d",
            "a b@c.d",
            "a\"b@c.d",
            "\"a@c.d",
            "\"\"@c.d",
            "\"a\x01\"@c.d",
            "@c.d",
            "a(b)@c.d",
        ] {
            assert!(Mailbox::parse(text).is_err(), "{text:?}");
        }
        assert_eq!(Mailbox::parse("ab"), Err(AddressError::MissingAt));
    }

    #[test]
    fn domains_are_case_insensitive() {
        assert_eq!(mailbox("bob@Hamburger.EDU"), mailbox("bob@hamburger.edu"));
        assert_ne!(mailbox("Bob@hamburger.edu"), mailbox("bob@hamburger.edu"));
        use std::collections::HashSet;
        let set: HashSet<Mailbox> = [mailbox("bob@A.b"), mailbox("bob@a.B")].into();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn domains_and_literals() {
        assert_eq!(
            mailbox("x@[192.0.2.1]").domain(),
            &Domain::Ipv4("192.0.2.1".parse().unwrap())
        );
        let v6 = mailbox("x@[IPv6:2001:db8::1]");
        assert_eq!(v6.domain(), &Domain::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(v6.to_string(), "x@[IPv6:2001:db8::1]");
        assert_eq!(mailbox("x@[ipv6:::1]").to_string(), "x@[IPv6:::1]");
        for bad in [
            "x@[300.0.0.1]",
            "x@[IPv7:1]",
            "x@[1.2.3]",
            "x@[1.2.3.4",
            "x@-a.b",
            "x@a-.b",
            "x@a..b",
            "x@a.b.",
            "x@a_b.c",
            "x@",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad}");
        }
        assert!(Mailbox::parse("x@3com.com").is_ok());
        assert!(Mailbox::parse("x@localhost").is_ok());
    }

    #[test]
    fn length_limits() {
        let local = "a".repeat(64);
        assert!(Mailbox::parse(&format!("{local}@b.c")).is_ok());
        assert_eq!(
            Mailbox::parse(&format!("a{local}@b.c")),
            Err(AddressError::LocalPartTooLong { len: 65, max: 64 })
        );
        let label = "d".repeat(63);
        let domain = [label.as_str(); 4].join(".");
        assert_eq!(domain.len(), 255);
        assert!(Domain::parse(&domain).is_ok());
        assert!(matches!(
            Domain::parse(&format!("e{domain}")),
            Err(AddressError::DomainTooLong { .. })
        ));
        assert!(Domain::parse(&"d".repeat(64)).is_err(), "label over 63");
        // The whole path, with its brackets, is at most 256 octets.
        let path = format!(
            "<{}@{}>",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(126)
        );
        assert!(path.len() > 256);
        assert!(matches!(
            ReversePath::parse(&path),
            Err(AddressError::PathTooLong { .. })
        ));
    }

    #[test]
    fn paths() {
        assert_eq!(ReversePath::parse("<>"), Ok(ReversePath::Null));
        assert_eq!(ForwardPath::parse("<>"), Err(AddressError::NotAllowed));
        assert_eq!(
            ForwardPath::parse("<postMaster>"),
            Ok(ForwardPath::Postmaster)
        );
        assert!(ReversePath::parse("<postmaster>").is_err());
        assert_eq!(
            ForwardPath::parse("<postmaster@crepes.fr>")
                .unwrap()
                .to_string(),
            "<postmaster@crepes.fr>"
        );
        assert_eq!(
            ReversePath::parse("alice@crepes.fr"),
            Err(AddressError::MissingBrackets)
        );
        // RFC 5321 §4.1.1.3: source routes are accepted and ignored.
        assert_eq!(
            ForwardPath::parse("<@hosta.int,@jkl.org:userc@d.bar.org>")
                .unwrap()
                .to_string(),
            "<userc@d.bar.org>"
        );
        assert!(ForwardPath::parse("<@hosta.int,jkl.org:userc@d.bar.org>").is_err());
        assert!(ForwardPath::parse("<@:userc@d.bar.org>").is_err());
        assert_eq!(path_len("<\"a>b\"@c.d> SIZE=1"), Some(11));
        assert_eq!(path_len("<a@b"), None);
    }

    #[test]
    fn utf8_addresses() {
        let path = ForwardPath::parse("<jösé@bücher.de>").unwrap();
        assert!(!path.is_ascii());
        assert_eq!(path.to_string(), "<jösé@bücher.de>");
        assert!(ForwardPath::parse("<bob@b.de>").unwrap().is_ascii());
        assert!(ReversePath::Null.is_ascii());
        assert!(Mailbox::new("a\r\nb", Domain::Name("x.y".into())).is_err());
        assert_eq!(
            Mailbox::new("a b", Domain::Name("x.y".into()))
                .unwrap()
                .to_string(),
            "\"a b\"@x.y"
        );
    }
}
