//! HTML escaping and the sanitiser for text/html message bodies.
//!
//! The sanitiser does not repair HTML: it reads tags and text with a small tokenizer and
//! writes a new document from an allowlist. Tags not on the list vanish (their text stays),
//! the contents of `script`, `style`, `iframe` and their kind vanish whole, attributes not on
//! the list (every `on*` handler, `style`, `srcset` ...) are dropped, URLs keep only
//! `http`, `https` and `mailto` for links and only `data:image/...` for images (so no remote
//! content loads), and every piece of text and every attribute value is escaped anew. What
//! comes out is therefore well-formed by construction, whatever the input's tricks: anything
//! the tokenizer does not take for an allowed tag is written as escaped text.

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

/// Elements kept (without their attributes unless listed in [`allowed_attribute`]).
const ALLOWED_TAGS: &[&str] = &[
    "a",
    "abbr",
    "address",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
];

/// Elements dropped together with everything inside them.
const DROPPED_WITH_CONTENT: &[&str] = &[
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "applet",
    "noscript",
    "noembed",
    "noframes",
    "template",
    "title",
    "head",
    "svg",
    "math",
    "textarea",
    "select",
    "xmp",
    "plaintext",
    "frameset",
    "frame",
];

/// Void elements: no end tag is written for them.
const VOID: &[&str] = &["br", "hr", "img", "col"];

fn allowed_attribute(tag: &str, name: &str) -> bool {
    matches!(
        (tag, name),
        ("a", "href")
            | ("img", "src")
            | ("img", "alt")
            | ("img", "width")
            | ("img", "height")
            | ("font", "color")
            | ("font", "size")
            | ("font", "face")
            | ("td" | "th", "colspan" | "rowspan")
            | (_, "align")
            | (_, "title")
            | (_, "dir")
            | (_, "lang")
    )
}

/// A URL attribute's value is safe to keep.
fn url_ok(tag: &str, value: &str) -> bool {
    // Browsers ignore whitespace and control characters inside a scheme (`java\tscript:`).
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    match tag {
        "a" => {
            compact.starts_with("http://")
                || compact.starts_with("https://")
                || compact.starts_with("mailto:")
        }
        // Remote images are web bugs: only inline data stays.
        "img" => {
            compact.starts_with("data:image/")
                && !compact.starts_with("data:image/svg")
                && value.len() <= 2 * 1024 * 1024
        }
        _ => false,
    }
}

/// Decodes the character references of an attribute value (enough to see through
/// `&#106;avascript:`); unknown references stay as they are.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find('&') {
        out.push_str(&rest[..index]);
        rest = &rest[index..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        let decoded = if let Some(number) = name.strip_prefix('#') {
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            code.and_then(char::from_u32)
        } else {
            match name.to_ascii_lowercase().as_str() {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "colon" => Some(':'),
                "tab" => Some('\t'),
                "newline" => Some('\n'),
                _ => None,
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                let skip = if rest[end..].starts_with(';') {
                    end + 1
                } else {
                    end
                };
                rest = &rest[skip..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

struct Tag {
    name: String,
    end: bool,
    attributes: Vec<(String, String)>,
}

/// Parses the tag at the start of `input` (which starts with `<`); returns it and its length,
/// or None when it is no tag (then the `<` is text).
fn parse_tag(input: &str) -> Option<(Tag, usize)> {
    let bytes = input.as_bytes();
    let mut at = 1;
    let end = bytes.get(at) == Some(&b'/');
    if end {
        at += 1;
    }
    let start = at;
    while at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
        at += 1;
    }
    if at == start || !bytes[start].is_ascii_alphabetic() {
        return None;
    }
    let name = input[start..at].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b'/') {
            at += 1;
        }
        match bytes.get(at) {
            None => return None,
            Some(b'>') => {
                at += 1;
                break;
            }
            _ => {}
        }
        let name_start = at;
        while at < bytes.len()
            && !bytes[at].is_ascii_whitespace()
            && !matches!(bytes[at], b'=' | b'>' | b'/')
        {
            at += 1;
        }
        let attribute = input[name_start..at].to_ascii_lowercase();
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let mut value = String::new();
        if bytes.get(at) == Some(&b'=') {
            at += 1;
            while at < bytes.len() && bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            match bytes.get(at) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let close = input[at + 1..].find(quote as char)? + at + 1;
                    value = input[at + 1..close].to_owned();
                    at = close + 1;
                }
                _ => {
                    let value_start = at;
                    while at < bytes.len() && !bytes[at].is_ascii_whitespace() && bytes[at] != b'>'
                    {
                        at += 1;
                    }
                    value = input[value_start..at].to_owned();
                }
            }
        }
        if !attribute.is_empty() {
            attributes.push((attribute, decode_entities(&value)));
        }
    }
    Some((
        Tag {
            name,
            end,
            attributes,
        },
        at,
    ))
}

/// Text between tags: character references are decoded, then everything is escaped again,
/// so what the browser shows is what the sender's text meant, and nothing else.
fn push_text(out: &mut String, text: &str) {
    escape_into(out, &decode_entities(text));
}

/// The sanitised form of an HTML body (a fragment: no `html`, `head` or `body` elements).
pub fn sanitize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    // Open allowed elements, closed at the end so that nothing leaks out of the fragment.
    let mut open: Vec<String> = Vec::new();
    while !rest.is_empty() {
        let Some(index) = rest.find('<') else {
            push_text(&mut out, rest);
            break;
        };
        push_text(&mut out, &rest[..index]);
        rest = &rest[index..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = match comment.find("-->") {
                Some(end) => &comment[end + 3..],
                None => "",
            };
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = match rest.find('>') {
                Some(end) => &rest[end + 1..],
                None => "",
            };
            continue;
        }
        let Some((tag, len)) = parse_tag(rest) else {
            out.push_str("&lt;");
            rest = &rest[1..];
            continue;
        };
        rest = &rest[len..];
        if DROPPED_WITH_CONTENT.contains(&tag.name.as_str()) {
            if !tag.end {
                // Skip to the matching end tag (or to the end of the input).
                let close = format!("</{}", tag.name);
                let lower = rest.to_ascii_lowercase();
                rest = match lower.find(&close) {
                    Some(at) => {
                        let after = &rest[at..];
                        match after.find('>') {
                            Some(end) => &after[end + 1..],
                            None => "",
                        }
                    }
                    None => "",
                };
            }
            continue;
        }
        if !ALLOWED_TAGS.contains(&tag.name.as_str()) {
            continue;
        }
        if tag.end {
            if let Some(position) = open.iter().rposition(|name| *name == tag.name) {
                for name in open.drain(position..).rev() {
                    out.push_str(&format!("</{name}>"));
                }
            }
            continue;
        }
        out.push('<');
        out.push_str(&tag.name);
        for (name, value) in &tag.attributes {
            if !allowed_attribute(&tag.name, name) {
                continue;
            }
            if matches!(name.as_str(), "href" | "src") && !url_ok(&tag.name, value) {
                continue;
            }
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_into(&mut out, value);
            out.push('"');
        }
        if tag.name == "a" {
            out.push_str(" target=\"_blank\" rel=\"noopener noreferrer\"");
        }
        out.push('>');
        if !VOID.contains(&tag.name.as_str()) && open.len() < 256 {
            open.push(tag.name);
        }
    }
    for name in open.into_iter().rev() {
        out.push_str(&format!("</{name}>"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(sanitize(input), expected, "{input}");
    }

    #[test]
    fn escapes_everything_markup_means() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn scripts_handlers_and_remote_content_are_removed() {
        check("<p>hi<script>alert(1)</script></p>", "<p>hi</p>");
        check("<SCRIPT src=x></SCRIPT >ok", "ok");
        check("<img src=x onerror=alert(1)>", "<img>");
        check(
            "<img src=\"https://tracker.example/p.gif\" alt=a>",
            "<img alt=\"a\">",
        );
        check(
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a target=\"_blank\" rel=\"noopener noreferrer\">x</a>",
        );
        check(
            "<a href=\"&#106;ava&#x73;cript:alert(1)\">x</a>",
            "<a target=\"_blank\" rel=\"noopener noreferrer\">x</a>",
        );
        check(
            "<a href=\"java\tscript:alert(1)\">x</a>",
            "<a target=\"_blank\" rel=\"noopener noreferrer\">x</a>",
        );
        check(
            "<a href=https://ok.example/?a=1&b=\"2\">x</a>",
            "<a href=\"https://ok.example/?a=1&amp;b=&quot;2&quot;\" target=\"_blank\" rel=\"noopener noreferrer\">x</a>",
        );
        check(
            "<div style=\"background:url(http://x)\">a</div>",
            "<div>a</div>",
        );
        check("<svg onload=alert(1)><script>x</script></svg>b", "b");
        check("<iframe src=//evil></iframe>c", "c");
        check("<style>body{}</style><b>d", "<b>d</b>");
        check("<!-- <script>x</script> -->e", "e");
        check(
            "<p title='a\"><script>alert(1)</script>'>f</p>",
            "<p title=\"a&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">f</p>",
        );
        check("a < b > c", "a &lt; b &gt; c");
        check(
            "<img src=\"data:image/png;base64,AAAA\">",
            "<img src=\"data:image/png;base64,AAAA\">",
        );
        check("<img src=\"data:image/svg+xml,<svg onload=x>\">", "<img>");
        check("<unclosed", "&lt;unclosed");
        check("</div>x", "x");
        check("<b><i>x</b>y", "<b><i>x</i></b>y");
        check("&lt;script&gt;", "&lt;script&gt;");
    }
}
