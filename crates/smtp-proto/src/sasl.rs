//! The SASL mechanisms AUTH carries here, PLAIN (RFC 4616) and LOGIN, their base64 payloads
//! (RFC 4954 §4), and a `Secret` string that never shows in `Debug` output.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::fmt;

/// The LOGIN mechanism's first challenge, "Username:" in base64.
pub const LOGIN_USERNAME_PROMPT: &str = "VXNlcm5hbWU6";
/// The LOGIN mechanism's second challenge, "Password:" in base64.
pub const LOGIN_PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

/// Standard base64 that decodes with or without padding (clients differ) and encodes with it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A SASL mechanism this crate speaks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` in one response.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): user name and password in two responses.
    Login,
}

impl Mechanism {
    /// The mechanism's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }

    /// The mechanism called `name` (case insensitive), if this crate speaks it.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }
}

/// A password or other secret: compared and cloned like a string, but `Debug` prints
/// `Secret(..)` so that it cannot end up in a log by accident.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Secret {
        Secret::new(secret)
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

/// Why a SASL response was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// Not base64.
    #[error("response is not base64")]
    NotBase64,
    /// Not a PLAIN message (RFC 4616 §2), or not UTF-8.
    #[error("malformed response")]
    Malformed,
}

/// Encodes `bytes` as base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Decodes a base64 response line; an empty line (or `=`, the empty initial response of
/// RFC 4954 §4) is an empty response.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, SaslError> {
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    BASE64.decode(text).map_err(|_| SaslError::NotBase64)
}

/// The decoded PLAIN message: `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authorization identity, if the client asked to act as someone else.
    pub authzid: Option<String>,
    /// The authentication identity (the user name).
    pub authcid: String,
    /// The password.
    pub password: Secret,
}

/// Decodes a PLAIN message.
pub fn decode_plain(message: &[u8]) -> Result<PlainCredentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::Malformed);
    let authzid = text(authzid)?;
    let authcid = text(authcid)?;
    // RFC 4616 §2: authcid and passwd are at least one character, and at most 255 octets.
    if authcid.is_empty() || password.is_empty() || authcid.len() > 255 || password.len() > 255 {
        return Err(SaslError::Malformed);
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then_some(authzid),
        authcid,
        password: Secret(text(password)?),
    })
}

/// The base64 PLAIN initial response for `authcid` and `password` (no authzid).
pub fn encode_plain(authcid: &str, password: &str) -> String {
    let mut message = Vec::with_capacity(authcid.len() + password.len() + 2);
    message.push(0);
    message.extend_from_slice(authcid.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    encode_base64(&message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip() {
        // RFC 4954 §4 example: "\0test\01234" → AHRlc3QAMTIzNA==.
        assert_eq!(encode_plain("test", "1234"), "AHRlc3QAMTIzNA==");
        let decoded = decode_plain(&decode_base64("AHRlc3QAMTIzNA==").unwrap()).unwrap();
        assert_eq!(decoded.authzid, None);
        assert_eq!(decoded.authcid, "test");
        assert_eq!(decoded.password.expose(), "1234");
        let with_authzid = decode_plain(b"admin\0test\0pw").unwrap();
        assert_eq!(with_authzid.authzid.as_deref(), Some("admin"));
        assert_eq!(format!("{:?}", with_authzid.password), "Secret(..)");
    }

    #[test]
    fn malformed_plain() {
        for bad in [
            &b"test\x001234"[..],
            b"\0\0pw",
            b"\0user\0",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
        ] {
            assert_eq!(decode_plain(bad), Err(SaslError::Malformed), "{bad:?}");
        }
        assert_eq!(decode_base64("not base64!"), Err(SaslError::NotBase64));
        assert_eq!(decode_base64("="), Ok(Vec::new()));
        assert_eq!(decode_base64("AHRlc3QAMTIzNA").unwrap(), b"\0test\x001234");
    }

    #[test]
    fn login_prompts() {
        assert_eq!(decode_base64(LOGIN_USERNAME_PROMPT).unwrap(), b"Username:");
        assert_eq!(decode_base64(LOGIN_PASSWORD_PROMPT).unwrap(), b"Password:");
    }
}
