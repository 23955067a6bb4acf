//! The header section of a message as submitted: finding fields, and the fields a
//! submission server adds when the user agent left them out (RFC 6409 §8.2 and §8.3:
//! `Message-ID` and `Date`). Pure functions over bytes.

/// The header section: everything before the first empty line (the whole message if it has
/// none), line endings included.
pub fn header_section(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &[];
    }
    match message.windows(4).position(|window| window == b"\r\n\r\n") {
        Some(end) => &message[..end + 2],
        None => message,
    }
}

/// Whether the header section holds a field named `name` (ASCII case-insensitive, at the
/// start of a line, not a continuation).
pub fn has_field(message: &[u8], name: &str) -> bool {
    header_section(message)
        .split(|&byte| byte == b'\n')
        .any(|line| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()..]
                    .iter()
                    .find(|byte| !matches!(byte, b' ' | b'\t'))
                    == Some(&b':')
        })
}

/// The fields RFC 6409 lets a submission server add when they are missing: a `Date` of the
/// arrival and a `Message-ID` made of the queue id and our host name. Returns the text to put
/// in front of the message (empty when both are there).
pub fn missing_submission_fields(
    message: &[u8],
    queue_id: &str,
    hostname: &str,
    date: &str,
) -> String {
    let mut fields = String::new();
    if !has_field(message, "Message-ID") {
        fields.push_str(&format!("Message-ID: <{queue_id}@{hostname}>\r\n"));
    }
    if !has_field(message, "Date") {
        fields.push_str(&format!("Date: {date}\r\n"));
    }
    fields
}

/// The message without the header fields named `name` whose value `drop` picks (a field's
/// continuation lines go with it). RFC 8601 §5: a border server removes the
/// `Authentication-Results` fields that claim its own authserv-id before it adds its own.
pub fn without_fields(message: &[u8], name: &str, drop: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let header_end = header_section(message).len();
    let mut out = Vec::with_capacity(message.len());
    let mut dropping = false;
    let mut start = 0;
    while start < header_end {
        let end = message[start..header_end]
            .iter()
            .position(|&byte| byte == b'\n')
            .map_or(header_end, |at| start + at + 1);
        let line = &message[start..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if !dropping {
                out.extend_from_slice(line);
            }
        } else {
            dropping = line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && {
                    let rest = &line[name.len()..];
                    let colon = rest.iter().position(|&byte| !matches!(byte, b' ' | b'\t'));
                    colon.is_some_and(|at| rest[at] == b':') && {
                        // The value: this line and the continuation lines after it.
                        let mut value_end = end;
                        while value_end < header_end && matches!(message[value_end], b' ' | b'\t') {
                            value_end = message[value_end..header_end]
                                .iter()
                                .position(|&byte| byte == b'\n')
                                .map_or(header_end, |at| value_end + at + 1);
                        }
                        let value_start = start + name.len() + colon.unwrap_or(0) + 1;
                        drop(&message[value_start..value_end])
                    }
                };
            if !dropping {
                out.extend_from_slice(line);
            }
        }
        start = end;
    }
    out.extend_from_slice(&message[header_end..]);
    out
}

/// Whether an `Authentication-Results` value names `authserv_id` as its author (its first
/// token, before `;` or a version number).
pub fn claims_authserv_id(value: &[u8], authserv_id: &str) -> bool {
    let value = String::from_utf8_lossy(value);
    let first = value
        .trim_start()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    first.eq_ignore_ascii_case(authserv_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_only_in_the_header_section() {
        let message = b"From: a@b\r\nmessage-id : <x@y>\r\n\r\nDate: not a header\r\n";
        assert!(has_field(message, "Message-ID"));
        assert!(has_field(message, "from"));
        assert!(!has_field(message, "Date"));
        assert!(!has_field(message, "Message"));
        // A continuation line is not a field.
        assert!(!has_field(b"Subject: a\r\n Date: b\r\n\r\n", "Date"));
        // No header section at all.
        assert!(!has_field(b"\r\nDate: x\r\n", "Date"));
        assert_eq!(header_section(b"Subject: only"), b"Subject: only");
    }

    #[test]
    fn submission_adds_what_is_missing() {
        let date = "Sun, 6 Dec 2026 04:00:00 +0000";
        let added = missing_submission_fields(
            b"Subject: hi\r\n\r\nbody\r\n",
            "ABC",
            "mail.crepes.fr",
            date,
        );
        assert_eq!(
            added,
            format!("Message-ID: <ABC@mail.crepes.fr>\r\nDate: {date}\r\n")
        );
        let complete = b"Date: Sat, 5 Dec 2026 10:00:00 +0100\r\nMessage-Id: <1@a>\r\n\r\nx\r\n";
        assert_eq!(missing_submission_fields(complete, "ABC", "h", date), "");
    }

    #[test]
    fn forged_results_of_our_id_are_removed_with_their_continuations() {
        let message = b"Authentication-Results: mail.hamburger.edu;\r\n\tdkim=pass\r\n\
Subject: hi\r\n\
authentication-results : other.example; spf=fail\r\n\
Authentication-Results: MAIL.hamburger.edu 1; spf=pass\r\n\
\r\n\
Authentication-Results: mail.hamburger.edu; body line stays\r\n";
        let cleaned = without_fields(message, "Authentication-Results", |value| {
            claims_authserv_id(value, "mail.hamburger.edu")
        });
        assert_eq!(
            String::from_utf8(cleaned).unwrap(),
            "Subject: hi\r\nauthentication-results : other.example; spf=fail\r\n\r\n\
Authentication-Results: mail.hamburger.edu; body line stays\r\n"
        );
        assert!(!claims_authserv_id(
            b" mail.hamburger.edu.evil; x",
            "mail.hamburger.edu"
        ));
    }
}
