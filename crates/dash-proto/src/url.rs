//! Resolving a relative reference against a base URL (RFC 3986 §5.2), as the MPD's BaseURLs and
//! segment templates need: absolute URLs, network-path, absolute-path and relative-path
//! references, dot segments, queries and fragments. Bases without a scheme (file paths) work too.

struct Parts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// RFC 3986 Appendix B, the regular-expression split, by hand.
fn split(uri: &str) -> Parts<'_> {
    let mut rest = uri;
    let mut scheme = None;
    if let Some(colon) = rest.find(':') {
        let candidate = &rest[..colon];
        let mut chars = candidate.chars();
        // §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        if chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            scheme = Some(candidate);
            rest = &rest[colon + 1..];
        }
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            (Some(&after[..end]), &after[end..])
        }
        None => (None, rest),
    };
    Parts {
        scheme,
        authority,
        path,
        query,
        fragment,
    }
}

/// RFC 3986 §5.2.4 remove_dot_segments.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output: Vec<&str> = Vec::new();
    let absolute = path.starts_with('/');
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            output.pop();
        } else if input == "/.." {
            input = "/";
            output.pop();
        } else if input == "." || input == ".." {
            input = "";
        } else {
            // Move the first segment (with its leading slash, if any) to the output.
            let start = usize::from(input.starts_with('/'));
            let end = input[start..]
                .find('/')
                .map_or(input.len(), |at| at + start);
            output.push(&input[..end]);
            input = &input[end..];
        }
    }
    let mut joined: String = output.concat();
    if absolute && !joined.starts_with('/') {
        joined.insert(0, '/');
    } else if !absolute && joined.starts_with('/') {
        // A relative base (a file path) climbed above its start: stay relative.
        joined.remove(0);
    }
    joined
}

/// Resolves `reference` against `base` (RFC 3986 §5.2.2), e.g. a segment name against the
/// MPD's URL: `resolve("http://h/v/manifest.mpd", "chunk-1.m4s")` is `http://h/v/chunk-1.m4s`.
pub fn resolve(base: &str, reference: &str) -> String {
    let r = split(reference);
    let b = split(base);
    let (scheme, authority, path, query);
    if r.scheme.is_some() {
        (scheme, authority, path, query) =
            (r.scheme, r.authority, remove_dot_segments(r.path), r.query);
    } else {
        scheme = b.scheme;
        if r.authority.is_some() {
            (authority, path, query) = (r.authority, remove_dot_segments(r.path), r.query);
        } else {
            authority = b.authority;
            if r.path.is_empty() {
                path = b.path.to_string();
                query = r.query.or(b.query);
            } else {
                query = r.query;
                path = if r.path.starts_with('/') {
                    remove_dot_segments(r.path)
                } else {
                    // §5.2.3 merge.
                    let merged = if b.authority.is_some() && b.path.is_empty() {
                        format!("/{}", r.path)
                    } else {
                        match b.path.rfind('/') {
                            Some(slash) => format!("{}{}", &b.path[..=slash], r.path),
                            None => r.path.to_string(),
                        }
                    };
                    remove_dot_segments(&merged)
                };
            }
        }
    }
    // §5.3 recomposition.
    let mut out = String::new();
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push(':');
    }
    if let Some(authority) = authority {
        out.push_str("//");
        out.push_str(authority);
    }
    out.push_str(&path);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    if let Some(fragment) = r.fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn rfc3986_normal_examples() {
        // RFC 3986 §5.4.1, base "http://a/b/c/d;p?q".
        let base = "http://a/b/c/d;p?q";
        for (reference, expected) in [
            ("g:h", "g:h"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q#s"),
            ("g#s", "http://a/b/c/g#s"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            // §5.4.2 abnormal examples.
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("g/../h", "http://a/b/c/h"),
        ] {
            assert_eq!(resolve(base, reference), expected, "{reference:?}");
        }
    }

    #[test]
    fn mpd_cases() {
        assert_eq!(
            resolve("http://cdn.example/v/manifest.mpd", "chunk-00001.m4s"),
            "http://cdn.example/v/chunk-00001.m4s"
        );
        assert_eq!(
            resolve("http://cdn.example", "a.m4s"),
            "http://cdn.example/a.m4s"
        );
        assert_eq!(resolve("out/manifest.mpd", "init.m4s"), "out/init.m4s");
        assert_eq!(resolve("manifest.mpd", "init.m4s"), "init.m4s");
        assert_eq!(
            resolve("https://h:8443/a/b/", "../c/d.m4s"),
            "https://h:8443/a/c/d.m4s"
        );
    }
}
