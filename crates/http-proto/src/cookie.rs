//! Cookies (RFC 6265): the Cookie header, Set-Cookie with its attributes, and a client-side
//! cookie jar with the storage model of §5.3 and curl's Netscape file format.

use crate::date::HttpDate;
use crate::uri::Uri;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a Cookie request header (`a=1; b=2`) into name/value pairs, in order. Pairs without
/// `=` are skipped; values keep their quotes.
pub fn parse_cookie_header(value: &str) -> Vec<(String, String)> {
    value
        .split(';')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim_matches([' ', '\t']);
            (!name.is_empty())
                .then(|| (name.to_owned(), value.trim_matches([' ', '\t']).to_owned()))
        })
        .collect()
}

/// The SameSite attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `Strict`
    Strict,
    /// `Lax`
    Lax,
    /// `None`
    None,
}

/// A Set-Cookie header: a cookie and its attributes (RFC 6265 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value.
    pub value: String,
    /// `Expires=`
    pub expires: Option<HttpDate>,
    /// `Max-Age=` in seconds (zero or negative: delete now).
    pub max_age: Option<i64>,
    /// `Domain=` (leading dot removed, lowercase).
    pub domain: Option<String>,
    /// `Path=`
    pub path: Option<String>,
    /// `Secure`
    pub secure: bool,
    /// `HttpOnly`
    pub http_only: bool,
    /// `SameSite=`
    pub same_site: Option<SameSite>,
}

fn is_cookie_octet(byte: u8) -> bool {
    // RFC 6265 §4.1.1 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon, backslash.
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

impl SetCookie {
    /// A session cookie with no attributes. The value is kept only if it is made of
    /// cookie-octets (`None` otherwise); the name must be a token.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Option<SetCookie> {
        let (name, value) = (name.into(), value.into());
        if !crate::header::is_token(&name) || !value.bytes().all(is_cookie_octet) {
            return None;
        }
        Some(SetCookie {
            name,
            value,
            expires: None,
            max_age: None,
            domain: None,
            path: None,
            secure: false,
            http_only: false,
            same_site: None,
        })
    }

    /// Parses a Set-Cookie value as a user agent does (RFC 6265 §5.2): lenient about
    /// attributes, which are ignored when malformed. `None` if there is no `name=value` pair.
    pub fn parse(text: &str) -> Option<SetCookie> {
        let mut parts = text.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim_matches([' ', '\t']);
        if name.is_empty() {
            return None;
        }
        let mut cookie = SetCookie {
            name: name.to_owned(),
            value: value.trim_matches([' ', '\t']).to_owned(),
            expires: None,
            max_age: None,
            domain: None,
            path: None,
            secure: false,
            http_only: false,
            same_site: None,
        };
        for attribute in parts {
            let (key, value) = match attribute.split_once('=') {
                Some((key, value)) => (key.trim(), value.trim()),
                None => (attribute.trim(), ""),
            };
            match key.to_ascii_lowercase().as_str() {
                "expires" => {
                    if let Some(date) = parse_cookie_date(value) {
                        cookie.expires = Some(date);
                    }
                }
                "max-age" => {
                    let digits = value.strip_prefix('-').unwrap_or(value);
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        let seconds = digits.parse::<i64>().unwrap_or(i64::MAX);
                        cookie.max_age = Some(if value.starts_with('-') {
                            -seconds
                        } else {
                            seconds
                        });
                    }
                }
                "domain" => {
                    let domain = value.trim_start_matches('.').to_ascii_lowercase();
                    if !domain.is_empty() {
                        cookie.domain = Some(domain);
                    }
                }
                "path" => {
                    cookie.path = value.starts_with('/').then(|| value.to_owned());
                }
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => {
                    cookie.same_site = match value.to_ascii_lowercase().as_str() {
                        "strict" => Some(SameSite::Strict),
                        "lax" => Some(SameSite::Lax),
                        "none" => Some(SameSite::None),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        Some(cookie)
    }

    /// When the cookie expires, given the time it was received (Max-Age wins over Expires,
    /// §5.3 step 3); `None` for a session cookie.
    pub fn expiry(&self, now: SystemTime) -> Option<SystemTime> {
        match (self.max_age, self.expires) {
            (Some(age), _) if age <= 0 => Some(UNIX_EPOCH),
            (Some(age), _) => Some(now + Duration::from_secs(age as u64)),
            (None, Some(date)) => Some(date.to_system_time()),
            (None, None) => None,
        }
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(path) = &self.path {
            write!(f, "; Path={path}")?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if let Some(max_age) = self.max_age {
            write!(f, "; Max-Age={max_age}")?;
        }
        if let Some(expires) = self.expires {
            write!(f, "; Expires={expires}")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        match self.same_site {
            Some(SameSite::Strict) => f.write_str("; SameSite=Strict"),
            Some(SameSite::Lax) => f.write_str("; SameSite=Lax"),
            Some(SameSite::None) => f.write_str("; SameSite=None"),
            None => Ok(()),
        }
    }
}

/// RFC 6265 §5.1.1: the lenient cookie-date algorithm (tokens in any order).
pub fn parse_cookie_date(text: &str) -> Option<HttpDate> {
    let is_delimiter = |c: char| matches!(c, '\t' | ' '..='/' | ';'..='@' | '['..='`' | '{'..='~');
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    let leading_digits = |token: &str, min: usize, max: usize| -> Option<u32> {
        let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
        (min..=max)
            .contains(&digits.len())
            .then(|| digits.parse().ok())?
    };
    for token in text.split(is_delimiter).filter(|t| !t.is_empty()) {
        if time.is_none() {
            let fields: Vec<&str> = token.splitn(3, ':').collect();
            if fields.len() == 3 {
                if let (Some(h), Some(m), Some(s)) = (
                    leading_digits(fields[0], 1, 2),
                    leading_digits(fields[1], 1, 2),
                    leading_digits(fields[2], 1, 2),
                ) {
                    time = Some((h, m, s));
                    continue;
                }
            }
        }
        if day.is_none() {
            if let Some(d) = leading_digits(token, 1, 2) {
                day = Some(d);
                continue;
            }
        }
        if let (None, Some(prefix)) = (month, token.get(..3)) {
            let prefix = prefix.to_ascii_lowercase();
            let months = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            if let Some(index) = months.iter().position(|m| *m == prefix) {
                month = Some(index as u32 + 1);
                continue;
            }
        }
        if year.is_none() {
            if let Some(y) = leading_digits(token, 2, 4) {
                year = Some(y);
                continue;
            }
        }
    }
    let (hour, minute, second) = time?;
    let mut year = year?;
    if (70..=99).contains(&year) {
        year += 1900;
    } else if year <= 69 {
        year += 2000;
    }
    let (day, month) = (day?, month?);
    if year < 1601 || hour > 23 || minute > 59 || second > 59 || !(1..=31).contains(&day) {
        return None;
    }
    let text = format!(
        "Mon, {day:02} {} {year:04} {hour:02}:{minute:02}:{second:02} GMT",
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            [(month - 1) as usize]
    );
    // Reuse the strict parser for the calendar arithmetic; the weekday is not checked there.
    HttpDate::parse(&text).or_else(|| (year < 1970).then(|| HttpDate::from_unix(0)))
}

/// One cookie stored in a [`CookieJar`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCookie {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
    /// The domain (lowercase).
    pub domain: String,
    /// Whether only the exact host matches (no Domain attribute was given).
    pub host_only: bool,
    /// The path.
    pub path: String,
    /// Only over https.
    pub secure: bool,
    /// Not for scripts (kept for the file format).
    pub http_only: bool,
    /// When it expires, in Unix seconds; `None` for a session cookie.
    pub expires: Option<u64>,
}

/// A client's cookies (RFC 6265 §5.3 storage model), saved in curl's Netscape format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<StoredCookie>,
}

/// RFC 6265 §5.1.4 default-path: the directory of the request path.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(index) => path[..index].to_owned(),
    }
}

/// RFC 6265 §5.1.3 domain-match.
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host.as_bytes().get(host.len() - domain.len() - 1) == Some(&b'.')
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// The cookies held.
    pub fn cookies(&self) -> &[StoredCookie] {
        &self.cookies
    }

    /// Stores the cookie of a Set-Cookie header received in a response to `uri` at `now`
    /// (§5.3); a cookie for another domain, or already expired, is refused or removes the
    /// stored one.
    pub fn store(&mut self, uri: &Uri, set_cookie: &str, now: SystemTime) {
        let Some(cookie) = SetCookie::parse(set_cookie) else {
            return;
        };
        let (domain, host_only) = match &cookie.domain {
            Some(domain) if domain_matches(&uri.host, domain) => (domain.clone(), false),
            Some(_) => return,
            None => (uri.host.clone(), true),
        };
        let path = cookie
            .path
            .clone()
            .unwrap_or_else(|| default_path(&uri.path));
        let expires = cookie.expiry(now).map(unix);
        self.cookies
            .retain(|c| !(c.name == cookie.name && c.domain == domain && c.path == path));
        if expires.is_some_and(|at| at <= unix(now)) {
            return;
        }
        self.cookies.push(StoredCookie {
            name: cookie.name,
            value: cookie.value,
            domain,
            host_only,
            path,
            secure: cookie.secure,
            http_only: cookie.http_only,
            expires,
        });
    }

    /// The Cookie header to send with a request to `uri` at `now` (§5.4), longer paths first.
    pub fn cookie_header(&self, uri: &Uri, now: SystemTime) -> Option<String> {
        let now = unix(now);
        let mut matching: Vec<&StoredCookie> = self
            .cookies
            .iter()
            .filter(|c| {
                let domain_ok = if c.host_only {
                    uri.host == c.domain
                } else {
                    domain_matches(&uri.host, &c.domain)
                };
                domain_ok
                    && path_matches(&uri.path, &c.path)
                    && (!c.secure || uri.scheme == "https")
                    && c.expires.is_none_or(|at| at > now)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The jar in curl's Netscape cookie-file format (session cookies get expiry 0).
    pub fn to_netscape(&self) -> String {
        let mut text = String::from("# Netscape HTTP Cookie File\n");
        for c in &self.cookies {
            let domain = if c.host_only {
                c.domain.clone()
            } else {
                format!(".{}", c.domain)
            };
            let prefix = if c.http_only { "#HttpOnly_" } else { "" };
            text.push_str(&format!(
                "{prefix}{domain}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                if c.host_only { "FALSE" } else { "TRUE" },
                c.path,
                if c.secure { "TRUE" } else { "FALSE" },
                c.expires.unwrap_or(0),
                c.name,
                c.value
            ));
        }
        text
    }

    /// Reads a Netscape cookie file; malformed lines are skipped.
    pub fn from_netscape(text: &str) -> CookieJar {
        let mut jar = CookieJar::new();
        for line in text.lines() {
            let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [domain, subdomains, path, secure, expires, name, value] = fields[..] else {
                continue;
            };
            let Ok(expires) = expires.parse::<u64>() else {
                continue;
            };
            jar.cookies.push(StoredCookie {
                name: name.to_owned(),
                value: value.to_owned(),
                domain: domain.trim_start_matches('.').to_ascii_lowercase(),
                host_only: subdomains != "TRUE",
                path: path.to_owned(),
                secure: secure == "TRUE",
                http_only,
                expires: (expires != 0).then_some(expires),
            });
        }
        jar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_header_pairs() {
        assert_eq!(
            parse_cookie_header("id=1678; theme=\"dark\";bad; =x; lang=fr"),
            [
                ("id".to_owned(), "1678".to_owned()),
                ("theme".to_owned(), "\"dark\"".to_owned()),
                ("lang".to_owned(), "fr".to_owned())
            ]
        );
    }

    #[test]
    fn set_cookie_round_trip() {
        let mut cookie = SetCookie::new("id", "1678").unwrap();
        cookie.path = Some("/".into());
        cookie.max_age = Some(31_536_000);
        cookie.http_only = true;
        cookie.same_site = Some(SameSite::Lax);
        let text = cookie.to_string();
        assert_eq!(
            text,
            "id=1678; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
        );
        assert_eq!(SetCookie::parse(&text), Some(cookie));
        assert_eq!(SetCookie::new("id", "a;b"), None);
    }

    #[test]
    fn lenient_attribute_parsing() {
        let cookie = SetCookie::parse(
            " SID = 31d4d96e407aad42 ; path=/x; DOMAIN=.Example.com; secure; Max-Age=abc; \
expires=Wed, 09-Jun-2021 10:18:14 GMT; unknown",
        )
        .unwrap();
        assert_eq!(cookie.name, "SID");
        assert_eq!(cookie.value, "31d4d96e407aad42");
        assert_eq!(cookie.domain.as_deref(), Some("example.com"));
        assert!(cookie.secure);
        assert_eq!(cookie.max_age, None);
        assert_eq!(
            cookie.expires.unwrap().to_string(),
            "Wed, 09 Jun 2021 10:18:14 GMT"
        );
        assert_eq!(SetCookie::parse("novalue"), None);
    }

    #[test]
    fn jar_matches_domains_and_paths() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let page = Uri::parse("http://www.example.com/shop/cart").unwrap();
        let mut jar = CookieJar::new();
        jar.store(&page, "a=1", now);
        jar.store(&page, "b=2; Domain=example.com; Path=/", now);
        jar.store(&page, "c=3; Domain=other.com", now);
        jar.store(&page, "d=4; Max-Age=0", now);
        let check = |jar: &CookieJar, url: &str, expected: Option<&str>| {
            let uri = Uri::parse(url).unwrap();
            assert_eq!(jar.cookie_header(&uri, now).as_deref(), expected, "{url}");
        };
        check(&jar, "http://www.example.com/shop/x", Some("a=1; b=2"));
        check(&jar, "http://www.example.com/shopping", Some("b=2"));
        check(&jar, "http://img.example.com/", Some("b=2"));
        check(&jar, "http://example.org/", None);
        let saved = jar.to_netscape();
        assert_eq!(CookieJar::from_netscape(&saved), jar);
        jar.store(&page, "b=; Domain=example.com; Path=/; Max-Age=-1", now);
        check(&jar, "http://img.example.com/", None);
    }
}
