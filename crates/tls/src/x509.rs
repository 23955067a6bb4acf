//! The few fields of an X.509 certificate that webpki does not expose: its validity period.
//!
//! rustls-webpki parses certificates fully but keeps `notBefore`/`notAfter` private, and
//! x509-parser would bring a dozen crates for two dates. This is a checked walk over the DER
//! (RFC 5280 §4.1) down to `Validity`; every read is bounds-checked, so no input panics.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// A certificate's validity period (RFC 5280 §4.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    /// `notBefore`.
    pub(crate) not_before: OffsetDateTime,
    /// `notAfter`.
    pub(crate) not_after: OffsetDateTime,
}

/// Why a certificate's validity could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerError {
    /// The bytes end inside an element.
    Truncated,
    /// An element has another tag than the structure requires.
    UnexpectedTag,
    /// A length is in a form DER does not allow (indefinite, or over 4 bytes).
    BadLength,
    /// A time is not `YYMMDDHHMMSSZ` (UTCTime) or `YYYYMMDDHHMMSSZ` (GeneralizedTime).
    BadTime,
}

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DerError::Truncated => "truncated DER",
            DerError::UnexpectedTag => "unexpected DER tag",
            DerError::BadLength => "bad DER length",
            DerError::BadTime => "bad validity time",
        })
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0; // [0] EXPLICIT, constructed
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// Reads the validity period of a DER certificate.
pub(crate) fn validity(der: &[u8]) -> Result<Validity, DerError> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (certificate, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(certificate, SEQUENCE)?;
    // TBSCertificate ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, serialNumber,
    //   signature, issuer, validity, ... }
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = element(rest, VERSION)?.1;
    }
    rest = element(rest, INTEGER)?.1;
    rest = element(rest, SEQUENCE)?.1;
    rest = element(rest, SEQUENCE)?.1;
    let (validity, _) = element(rest, SEQUENCE)?;
    let (not_before, rest) = time_element(validity)?;
    let (not_after, _) = time_element(rest)?;
    Ok(Validity {
        not_before,
        not_after,
    })
}

/// Splits one element with tag `tag` off the front: (its content, what follows it).
fn element(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), DerError> {
    let (&found, rest) = input.split_first().ok_or(DerError::Truncated)?;
    if found != tag {
        return Err(DerError::UnexpectedTag);
    }
    let (&first, mut rest) = rest.split_first().ok_or(DerError::Truncated)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form: the low bits count the length bytes; 0x80 (indefinite) is not DER.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(if rest.len() < count {
                DerError::Truncated
            } else {
                DerError::BadLength
            });
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte))
    };
    if rest.len() < len {
        return Err(DerError::Truncated);
    }
    Ok(rest.split_at(len))
}

/// Reads one `Time ::= CHOICE { utcTime, generalTime }` off the front.
fn time_element(input: &[u8]) -> Result<(OffsetDateTime, &[u8]), DerError> {
    match input.first() {
        Some(&UTC_TIME) => {
            let (text, rest) = element(input, UTC_TIME)?;
            // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, YY < 50 is 20YY.
            let (yy, text) = digits(text, 2)?;
            let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
            Ok((date_time(year, text)?, rest))
        }
        Some(&GENERALIZED_TIME) => {
            let (text, rest) = element(input, GENERALIZED_TIME)?;
            let (year, text) = digits(text, 4)?;
            Ok((date_time(year, text)?, rest))
        }
        Some(_) => Err(DerError::UnexpectedTag),
        None => Err(DerError::Truncated),
    }
}

/// Reads `MMDDHHMMSSZ` after the year.
fn date_time(year: u32, text: &[u8]) -> Result<OffsetDateTime, DerError> {
    let (month, text) = digits(text, 2)?;
    let (day, text) = digits(text, 2)?;
    let (hour, text) = digits(text, 2)?;
    let (minute, text) = digits(text, 2)?;
    let (second, text) = digits(text, 2)?;
    if text != b"Z" {
        return Err(DerError::BadTime);
    }
    let narrow = |value: u32| u8::try_from(value).map_err(|_| DerError::BadTime);
    let year = i32::try_from(year).map_err(|_| DerError::BadTime)?;
    let month = Month::try_from(narrow(month)?).map_err(|_| DerError::BadTime)?;
    let date = Date::from_calendar_date(year, month, narrow(day)?).map_err(|_| DerError::BadTime)?;
    let time = Time::from_hms(narrow(hour)?, narrow(minute)?, narrow(second)?)
        .map_err(|_| DerError::BadTime)?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Reads `count` ASCII digits as a number.
fn digits(text: &[u8], count: usize) -> Result<(u32, &[u8]), DerError> {
    if text.len() < count {
        return Err(DerError::BadTime);
    }
    let (number, rest) = text.split_at(count);
    let value = number.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
            .ok_or(DerError::BadTime)
    })?;
    Ok((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> OffsetDateTime {
        let date = Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap();
        PrimitiveDateTime::new(date, Time::from_hms(hour, minute, second).unwrap()).assume_utc()
    }

    fn check(params_not_before: OffsetDateTime, params_not_after: OffsetDateTime) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["x.test".to_owned()]).unwrap();
        params.not_before = params_not_before;
        params.not_after = params_not_after;
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            validity(cert.der()),
            Ok(Validity {
                not_before: params_not_before,
                not_after: params_not_after,
            })
        );
    }

    #[test]
    fn reads_utc_and_generalized_times() {
        // rcgen writes UTCTime before 2050 and GeneralizedTime from 2050 on (RFC 5280).
        check(utc(1999, 12, 31, 23, 59, 59), utc(2049, 1, 2, 3, 4, 5));
        check(utc(2026, 5, 1, 0, 0, 0), utc(2050, 1, 1, 0, 0, 0));
        check(utc(1975, 1, 1, 0, 0, 0), utc(4096, 1, 1, 0, 0, 0));
    }

    #[test]
    fn never_panics_on_a_prefix_or_a_flipped_byte() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["x.test".to_owned()]).unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        for len in 0..der.len() {
            assert!(validity(&der[..len]).is_err(), "prefix of {len} bytes");
        }
        for index in 0..der.len() {
            for bit in 0..8 {
                let mut flipped = der.clone();
                flipped[index] ^= 1 << bit;
                let _ = validity(&flipped);
            }
        }
    }

    #[test]
    fn rejects_non_der_lengths_and_times() {
        assert_eq!(validity(&[]), Err(DerError::Truncated));
        assert_eq!(validity(&[0x30, 0x80]), Err(DerError::BadLength));
        assert_eq!(validity(&[0x30, 0x85, 1, 1, 1, 1, 1]), Err(DerError::BadLength));
        assert_eq!(validity(&[0x31, 0x00]), Err(DerError::UnexpectedTag));
        assert_eq!(
            time_element(b"\x17\x0d2601011200+Z"),
            Err(DerError::BadTime)
        );
        assert_eq!(
            time_element(b"\x17\x0d261301120000Z").map(|(time, _)| time),
            Err(DerError::BadTime)
        );
    }
}
