//! Modified UTF-7, the encoding of IMAP mailbox names (RFC 3501 §5.1.3): printable US-ASCII
//! stands for itself except `&`, which is `&-`; anything else is `&`, the UTF-16 code units
//! in base64 with `,` for `/` and no padding, then `-`. [`decode`] is strict (what a server
//! must refuse to create: a bare `&`, bad base64, non-zero padding bits, broken surrogates,
//! printable ASCII encoded); [`encode`] gives the one canonical form.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn sextet(byte: u8) -> Option<u32> {
    ALPHABET
        .iter()
        .position(|&known| known == byte)
        .map(|index| index as u32)
}

/// The Unicode name of a modified-UTF-7 name, or `None` when it is not valid.
pub fn decode(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if !(0x20..0x7f).contains(&byte) {
            return None;
        }
        if byte != b'&' {
            out.push(byte as char);
            index += 1;
            continue;
        }
        let end = index + 1 + bytes[index + 1..].iter().position(|&b| b == b'-')?;
        let encoded = &bytes[index + 1..end];
        index = end + 1;
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        let mut units: Vec<u16> = Vec::new();
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &byte in encoded {
            acc = (acc << 6) | sextet(byte)?;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push((acc >> bits) as u16);
                acc &= (1 << bits) - 1;
            }
        }
        // Leftover bits are padding: fewer than 6, all zero.
        if bits >= 6 || acc != 0 || units.is_empty() {
            return None;
        }
        let text = String::from_utf16(&units).ok()?;
        // Printable ASCII must not be encoded (there is one canonical form).
        if text.chars().any(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(&text);
    }
    Some(out)
}

/// The modified-UTF-7 form of a Unicode name.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut acc: u32 = 0;
        let mut bits = 0;
        for unit in pending.drain(..) {
            acc = (acc << 16) | u32::from(unit);
            bits += 16;
            while bits >= 6 {
                bits -= 6;
                out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
        }
        out.push('-');
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buffer = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buffer));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_examples_and_round_trips() {
        // RFC 3501 §5.1.3's example.
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        for name in [
            "Été",
            "Café/Crêpes",
            "A&B",
            "Ümlaut & ß",
            "🥞 crêpes",
            "INBOX",
        ] {
            assert_eq!(decode(&encode(name)).as_deref(), Some(name), "{name}");
        }
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(encode("Été"), "&AMk-t&AOk-");
    }

    #[test]
    fn broken_names_are_refused() {
        for bad in [
            "bad&name", // no closing '-'
            "&AMk",     // unterminated
            "&AM-",     // too short for one unit
            "&AMl-",    // non-zero padding bits
            "&2D0-",    // a lone surrogate
            "&AGE-",    // 'a' encoded
            "&A=k-",    // not base64
            "tab\there",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
