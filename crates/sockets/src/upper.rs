//! Streaming uppercasing: Unicode uppercase for valid UTF-8, ASCII uppercase of other bytes.

/// Uppercases a byte stream chunk by chunk.
///
/// A UTF-8 character split across two chunks is held back (at most 3 bytes) until the rest
/// arrives, so the result does not depend on how the stream was cut. It also counts the length
/// of the current line so that a server can enforce a line bound without buffering the line.
#[derive(Debug, Default)]
pub struct Uppercaser {
    /// Bytes of an incomplete UTF-8 sequence carried to the next chunk.
    carry: Vec<u8>,
    /// Bytes seen since the last newline.
    line_len: usize,
}

impl Uppercaser {
    /// A fresh uppercaser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uppercases `input`, appending to `out`. Returns the longest line length seen in this
    /// chunk (including a line continued from earlier chunks), so that a caller can compare it
    /// with its bound.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut longest = self.line_len;
        for &byte in input {
            if byte == b'\n' {
                self.line_len = 0;
            } else {
                self.line_len += 1;
                longest = longest.max(self.line_len);
            }
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(input);
        let mut rest = &data[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    push_upper(text, out);
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    // The prefix is valid UTF-8 by construction.
                    push_upper(std::str::from_utf8(valid).unwrap_or_default(), out);
                    match error.error_len() {
                        // An invalid sequence: ASCII-uppercase its bytes and go on.
                        Some(len) => {
                            out.extend(after[..len].iter().map(u8::to_ascii_uppercase));
                            rest = &after[len..];
                        }
                        // Incomplete at the end: wait for the rest of the character.
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        longest
    }

    /// Flushes a held-back incomplete sequence at end of stream (ASCII uppercase of its bytes).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend(self.carry.drain(..).map(|b| b.to_ascii_uppercase()));
    }
}

fn push_upper(text: &str, out: &mut Vec<u8>) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| b.to_ascii_uppercase()));
    } else {
        out.extend_from_slice(text.to_uppercase().as_bytes());
    }
}

/// Uppercases one whole message (a UDP datagram).
pub fn uppercase(message: &[u8]) -> Vec<u8> {
    let mut uppercaser = Uppercaser::new();
    let mut out = Vec::with_capacity(message.len());
    uppercaser.push(message, &mut out);
    uppercaser.finish(&mut out);
    out
}

/// A short, printable, one-line rendering of a message for wire events and logs.
pub fn summary(message: &[u8]) -> String {
    const SHOWN: usize = 40;
    let text = String::from_utf8_lossy(message);
    let text = text.trim_end_matches(['\r', '\n']);
    let mut shown: String = text
        .chars()
        .take(SHOWN)
        .collect::<String>()
        .escape_debug()
        .collect();
    if text.chars().count() > SHOWN {
        shown.push('…');
    }
    format!("\"{shown}\" ({} bytes)", message.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppercases_ascii_unicode_and_invalid_bytes() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"hello world\n", b"HELLO WORLD\n"),
            ("straße café\n".as_bytes(), "STRASSE CAFÉ\n".as_bytes()),
            (b"caf\xff\xfee", b"CAF\xff\xfeE"),
            (b"\x80abc", b"\x80ABC"),
            (b"", b""),
        ];
        for (input, expected) in cases {
            assert_eq!(uppercase(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn result_does_not_depend_on_chunking() {
        let input = "añb ünïcödé straße ǆ \u{1F600} done\n".as_bytes();
        let whole = uppercase(input);
        for cut in 0..input.len() {
            let mut uppercaser = Uppercaser::new();
            let mut out = Vec::new();
            uppercaser.push(&input[..cut], &mut out);
            uppercaser.push(&input[cut..], &mut out);
            uppercaser.finish(&mut out);
            assert_eq!(out, whole, "cut at {cut}");
        }
    }

    #[test]
    fn reports_longest_line_across_chunks() {
        let mut uppercaser = Uppercaser::new();
        let mut out = Vec::new();
        assert_eq!(uppercaser.push(b"abc", &mut out), 3);
        assert_eq!(uppercaser.push(b"de\nf", &mut out), 5);
        assert_eq!(uppercaser.push(b"\n", &mut out), 1);
        assert_eq!(uppercaser.push(b"xy", &mut out), 2);
    }

    #[test]
    fn incomplete_sequence_at_end_is_flushed() {
        assert_eq!(uppercase(b"a\xc3"), b"A\xc3");
    }

    #[test]
    fn summary_is_one_short_line() {
        assert_eq!(summary(b"hi\n"), "\"hi\" (3 bytes)");
        let long = summary(&[b'a'; 100]);
        assert!(long.contains('…') && long.ends_with("(100 bytes)"));
        assert!(!summary(b"a\nb\n").contains('\n'));
    }
}
