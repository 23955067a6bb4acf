//! xtext (RFC 3461 §4), the encoding of the ENVID, ORCPT and AUTH= parameter values.

/// Why an xtext value did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XtextError {
    /// A character outside `!`..`~`, or a bare `=`.
    #[error("character not allowed in xtext")]
    BadCharacter,
    /// A `+` not followed by two hexadecimal digits.
    #[error("bad hexchar in xtext")]
    BadHex,
    /// The decoded octets are not UTF-8.
    #[error("xtext does not decode to UTF-8")]
    NotUtf8,
}

/// Decodes xtext: `xchar` stands for itself, `+XX` for the octet XX (RFC 3461 §4). Upper-case
/// hex is what the RFC says; lower case is accepted too.
pub fn decode(text: &str) -> Result<String, XtextError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'+' => {
                let hex = bytes.get(index + 1..index + 3).ok_or(XtextError::BadHex)?;
                let value = hex
                    .iter()
                    .try_fold(0u8, |n, &d| Some(n * 16 + (d as char).to_digit(16)? as u8))
                    .ok_or(XtextError::BadHex)?;
                out.push(value);
                index += 3;
            }
            b'!'..=b'~' if byte != b'=' => {
                out.push(byte);
                index += 1;
            }
            _ => return Err(XtextError::BadCharacter),
        }
    }
    String::from_utf8(out).map_err(|_| XtextError::NotUtf8)
}

/// Encodes `text` as xtext: `+`, `=`, space, controls and non-ASCII octets become `+XX`.
pub fn encode(text: &str, out: &mut String) {
    for &byte in text.as_bytes() {
        if (b'!'..=b'~').contains(&byte) && byte != b'+' && byte != b'=' {
            out.push(byte as char);
        } else {
            out.push('+');
            out.push_str(&format!("{byte:02X}"));
        }
    }
}

/// [`encode`] into a new string.
pub fn encoded(text: &str) -> String {
    let mut out = String::new();
    encode(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in ["plain", "a+b=c d", "Ü@bücher.de", "", "+2B"] {
            assert_eq!(decode(&encoded(text)).unwrap(), text, "{text}");
        }
        assert_eq!(encoded("a+b=c d"), "a+2Bb+3Dc+20d");
    }

    #[test]
    fn decodes_rfc_examples() {
        // RFC 3461 §4.2 example ORCPT value.
        assert_eq!(decode("Bob+40Example.COM").unwrap(), "Bob@Example.COM");
        assert_eq!(decode("QQ314159").unwrap(), "QQ314159");
        assert_eq!(decode("a+2bb").unwrap(), "a+b");
    }

    #[test]
    fn rejects_bad_xtext() {
        assert_eq!(decode("a=b"), Err(XtextError::BadCharacter));
        assert_eq!(decode("a b"), Err(XtextError::BadCharacter));
        assert_eq!(decode("a+4"), Err(XtextError::BadHex));
        assert_eq!(decode("a+GG"), Err(XtextError::BadHex));
        assert_eq!(decode("+FF"), Err(XtextError::NotUtf8));
        assert_eq!(decode("ü"), Err(XtextError::BadCharacter));
    }
}
