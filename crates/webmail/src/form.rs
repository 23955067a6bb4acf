//! Form bodies: `application/x-www-form-urlencoded` and `multipart/form-data` (RFC 7578),
//! parsed with limits on the number of parts and their sizes.

/// One field of a form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The uploaded file's name, for file fields (directories removed).
    pub filename: Option<String>,
    /// The part's Content-Type, for file fields.
    pub content_type: Option<String>,
    /// The value.
    pub value: Vec<u8>,
}

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// Not a form type we read, or a multipart type without a boundary.
    #[error("unsupported form content type")]
    ContentType,
    /// The multipart framing is broken.
    #[error("malformed multipart body")]
    Malformed,
    /// Too many parts.
    #[error("too many form fields (more than {max})")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
}

/// At most this many fields in one form.
pub const MAX_FIELDS: usize = 64;

/// A form's fields, by its Content-Type.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Field>, FormError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => {
            let pairs = http_proto::uri::decode_form(&String::from_utf8_lossy(body));
            if pairs.len() > MAX_FIELDS {
                return Err(FormError::TooManyFields { max: MAX_FIELDS });
            }
            Ok(pairs
                .into_iter()
                .map(|(name, value)| Field {
                    name,
                    filename: None,
                    content_type: None,
                    value: value.into_bytes(),
                })
                .collect())
        }
        "multipart/form-data" => {
            let boundary = parameter(content_type, "boundary").ok_or(FormError::ContentType)?;
            if boundary.is_empty() || boundary.len() > 70 {
                return Err(FormError::ContentType);
            }
            multipart(&boundary, body)
        }
        _ => Err(FormError::ContentType),
    }
}

/// A parameter of a header value (`name=value` or `name="value"`), name case-insensitive.
fn parameter(value: &str, wanted: &str) -> Option<String> {
    let mut rest = value.split_once(';')?.1;
    loop {
        let trimmed = rest.trim_start();
        let (name, after) = trimmed.split_once('=')?;
        let name = name.trim();
        let (parameter, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((index, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = index + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            let next = quoted[end..].split_once(';').map(|(_, next)| next);
            (out, next)
        } else {
            match after.split_once(';') {
                Some((value, next)) => (value.trim().to_owned(), Some(next)),
                None => (after.trim().to_owned(), None),
            }
        };
        if name.eq_ignore_ascii_case(wanted) {
            return Some(parameter);
        }
        rest = next?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn multipart(boundary: &str, body: &[u8]) -> Result<Vec<Field>, FormError> {
    let delimiter = format!("--{boundary}");
    let first = find(body, delimiter.as_bytes()).ok_or(FormError::Malformed)?;
    let mut rest = &body[first + delimiter.len()..];
    let separator = format!("\r\n--{boundary}");
    let mut fields = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(FormError::Malformed)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(FormError::Malformed)?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let end = find(rest, separator.as_bytes()).ok_or(FormError::Malformed)?;
        let value = rest[..end].to_vec();
        rest = &rest[end + separator.len()..];
        if fields.len() == MAX_FIELDS {
            return Err(FormError::TooManyFields { max: MAX_FIELDS });
        }
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((field, field_value)) = line.split_once(':') else {
                continue;
            };
            if field.trim().eq_ignore_ascii_case("content-disposition") {
                name = parameter(field_value, "name");
                filename = parameter(field_value, "filename").map(|name| {
                    // Browsers send base names; some old ones a whole path.
                    name.rsplit(['/', '\\']).next().unwrap_or("").to_owned()
                });
            } else if field.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(field_value.trim().to_owned());
            }
        }
        let Some(name) = name else {
            return Err(FormError::Malformed);
        };
        fields.push(Field {
            name,
            filename,
            content_type,
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_with_a_file() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nalice@crepes.fr\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\tmp\\\\a \\\"b\\\".txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--XyZ--\r\n";
        let fields = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].name, "to");
        assert_eq!(fields[0].value, b"alice@crepes.fr");
        assert_eq!(fields[1].filename.as_deref(), Some("a \"b\".txt"));
        assert_eq!(fields[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(fields[1].value, b"line1\r\nline2");
    }

    #[test]
    fn broken_forms_are_errors_not_panics() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--B--";
        for cut in 0..body.len() {
            let _ = parse("multipart/form-data; boundary=\"B\"", &body[..cut]);
        }
        assert!(parse("multipart/form-data", body).is_err());
        assert!(parse("text/plain", body).is_err());
        assert_eq!(
            parse("application/x-www-form-urlencoded", b"a=1&b=%3Cx%3E").unwrap()[1].value,
            b"<x>"
        );
    }
}
