//! DATA framing (RFC 5321 §4.5.2, §4.1.1.4): a streaming decoder that removes dot-stuffing
//! and finds the end of data, with a size limit and the SMTP-smuggling defence, and a
//! streaming encoder that dot-stuffs a message and ends it.
//!
//! # Line ends and smuggling
//!
//! Only `<CRLF>.<CRLF>` ends the data (§4.1.1.4). Servers that also end it at `<LF>.<LF>` or
//! `<CR>.<CR>` let a sender hide a second message inside the first for a receiver that does
//! not ("SMTP smuggling", CVE-2023-51764/51765/51766). [`BareNewline`] says what to do with a
//! bare LF or bare CR in the data:
//!
//! - [`BareNewline::Reject`] (the default) is Postfix's `smtpd_forbid_bare_newline = strict`:
//!   the data is refused with `550 5.5.2 Error: bare <LF> received` and the connection
//!   closes, since where the message would end is exactly what is in doubt. Bare CR gets the
//!   same treatment (RFC 5321 §2.3.8: CR and LF occur only together), as sendmail's `u`
//!   option does.
//! - [`BareNewline::Normalize`] is Postfix's `normal` (its default since 3.9): a bare LF ends a
//!   line, which is stored with CRLF, and a bare CR is kept as content; still only
//!   `<CRLF>.<CRLF>` ends the data. A "." line next to a bare LF is kept as content.
//!
//! Lines longer than the 1000 octets of §4.5.3.1.6 are accepted, as Postfix does; the
//! decoder reports the longest line so a service can note it.

/// What to do with a CR or LF that is not part of a CRLF pair.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum BareNewline {
    /// Refuse the data and close (Postfix `smtpd_forbid_bare_newline = strict`).
    #[default]
    Reject,
    /// A bare LF ends a line (stored as CRLF), a bare CR is content; only `<CRLF>.<CRLF>`
    /// ends the data (Postfix `normal`).
    Normalize,
}

/// Why the data was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// An LF without a CR before it.
    #[error("bare <LF> received")]
    BareLf,
    /// A CR without an LF after it.
    #[error("bare <CR> received")]
    BareCr,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line; `clean` if the line before ended in a real CRLF (or this is
    /// the first line), which is the only place the end of data can start.
    LineStart { clean: bool },
    /// A `.` at the start of a line.
    Dot { clean: bool },
    /// `.` CR at the start of a line.
    DotCr { clean: bool },
    /// Inside a line.
    Text,
    /// A CR inside a line.
    Cr,
    /// The end of data was seen.
    Done,
}

/// Decodes the data after `354` as it arrives. See the module documentation.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: State,
    bare_newline: BareNewline,
    max_size: u64,
    size: u64,
    line: u64,
    longest_line: u64,
}

impl DataDecoder {
    /// A decoder that stores at most `max_size` octets of message.
    pub fn new(max_size: u64, bare_newline: BareNewline) -> DataDecoder {
        DataDecoder {
            state: State::LineStart { clean: true },
            bare_newline,
            max_size,
            size: 0,
            line: 0,
            longest_line: 0,
        }
    }

    /// Decodes from `input`, appending the message (dot-stuffing removed, CRLF line ends) to
    /// `out`, and returns how many bytes were used: all of them until the end of data, then
    /// the count through its final CRLF (the rest is the next command). Past the size limit
    /// nothing more is appended but the octets are still counted, so that the server can
    /// answer 552 after the end rather than in the middle (RFC 5321 §4.5.3.1.10).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, DataError> {
        let mut index = 0;
        while let Some(&byte) = input.get(index) {
            if self.state == State::Done {
                break;
            }
            if self.state == State::Text {
                // Copy the run up to the next CR or LF at once.
                let rest = input.get(index..).unwrap_or(&[]);
                let run = rest
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(rest.len());
                if run > 0 {
                    self.emit(rest.get(..run).unwrap_or(&[]), out);
                    index += run;
                    continue;
                }
            }
            index += 1;
            self.byte(byte, out)?;
        }
        Ok(index)
    }

    fn byte(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), DataError> {
        match self.state {
            State::LineStart { clean } => {
                if byte == b'.' {
                    self.state = State::Dot { clean };
                } else {
                    self.text_byte(byte, out)?;
                }
            }
            State::Dot { clean } => match byte {
                b'\r' => self.state = State::DotCr { clean },
                b'\n' => {
                    self.bare_lf()?;
                    // ".<LF>" is not the end of data: keep the line as content.
                    self.emit(b".", out);
                    self.end_line(false, out);
                }
                // §4.5.2: a leading dot is removed, the rest of the line is content.
                _ => self.text_byte(byte, out)?,
            },
            State::DotCr { clean } => match byte {
                b'\n' if clean => {
                    self.state = State::Done;
                }
                b'\n' => {
                    // "<LF>.<CRLF>": the line before ended in a bare LF, so this is not the
                    // end of data either.
                    self.emit(b".", out);
                    self.end_line(true, out);
                }
                _ => {
                    self.bare_cr()?;
                    self.emit(b"\r", out);
                    self.state = State::Text;
                    self.text_byte(byte, out)?;
                }
            },
            State::Text => self.text_byte(byte, out)?,
            State::Cr => {
                if byte == b'\n' {
                    self.end_line(true, out);
                } else {
                    self.bare_cr()?;
                    self.emit(b"\r", out);
                    self.state = State::Text;
                    self.text_byte(byte, out)?;
                }
            }
            State::Done => {}
        }
        Ok(())
    }

    fn text_byte(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), DataError> {
        match byte {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                self.bare_lf()?;
                self.end_line(false, out);
            }
            _ => {
                self.emit(&[byte], out);
                self.state = State::Text;
            }
        }
        Ok(())
    }

    fn bare_lf(&self) -> Result<(), DataError> {
        match self.bare_newline {
            BareNewline::Reject => Err(DataError::BareLf),
            BareNewline::Normalize => Ok(()),
        }
    }

    fn bare_cr(&self) -> Result<(), DataError> {
        match self.bare_newline {
            BareNewline::Reject => Err(DataError::BareCr),
            BareNewline::Normalize => Ok(()),
        }
    }

    fn end_line(&mut self, clean: bool, out: &mut Vec<u8>) {
        self.emit(b"\r\n", out);
        self.longest_line = self.longest_line.max(self.line);
        self.line = 0;
        self.state = State::LineStart { clean };
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let len = bytes.len() as u64;
        self.line += len;
        let stored = self.size.saturating_add(len);
        if stored <= self.max_size {
            out.extend_from_slice(bytes);
        }
        self.size = stored;
    }

    /// Whether the end of data has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Octets of message seen so far, including those past the limit.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the message is larger than the limit (and was cut short in `out`).
    pub fn is_over_limit(&self) -> bool {
        self.size > self.max_size
    }

    /// The longest line so far, with its CRLF (RFC 5321 §4.5.3.1.6 allows 1000).
    pub fn longest_line(&self) -> u64 {
        self.longest_line
    }
}

/// Dot-stuffs a message for DATA as it is given (RFC 5321 §4.5.2) and ends it with
/// `<CRLF>.<CRLF>`. Bare LF and bare CR become CRLF, so that what is sent ends the same way
/// for every receiver: the sender's half of the smuggling defence.
#[derive(Clone, Debug)]
pub struct DataEncoder {
    at_line_start: bool,
    after_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> DataEncoder {
        DataEncoder::new()
    }
}

impl DataEncoder {
    /// An encoder at the start of a message.
    pub fn new() -> DataEncoder {
        DataEncoder {
            at_line_start: true,
            after_cr: false,
        }
    }

    /// Appends the encoded form of the next piece of the message to `out`.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.reserve(data.len() + data.len() / 64);
        for &byte in data {
            if self.after_cr {
                self.after_cr = false;
                out.push(b'\n');
                self.at_line_start = true;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\r' => {
                    out.push(b'\r');
                    self.after_cr = true;
                }
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                }
                _ => {
                    if self.at_line_start && byte == b'.' {
                        out.push(b'.');
                    }
                    out.push(byte);
                    self.at_line_start = false;
                }
            }
        }
    }

    /// Ends the message: a CRLF if its last line had none, then `.` CRLF.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.after_cr {
            out.push(b'\n');
            self.at_line_start = true;
        }
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The whole message dot-stuffed and terminated, ready to send after `354`.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    let mut encoder = DataEncoder::new();
    encoder.encode(message, &mut out);
    encoder.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], mode: BareNewline) -> Result<(Vec<u8>, usize), DataError> {
        let mut decoder = DataDecoder::new(u64::MAX, mode);
        let mut out = Vec::new();
        let used = decoder.decode(input, &mut out)?;
        assert!(decoder.is_done(), "{:?}", String::from_utf8_lossy(input));
        Ok((out, used))
    }

    fn check(input: &[u8], expected: &[u8]) {
        let (out, used) = decode_all(input, BareNewline::Reject).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(used, input.len());
        // Every split gives the same result.
        for split in 0..input.len() {
            let mut decoder = DataDecoder::new(u64::MAX, BareNewline::Reject);
            let mut out = Vec::new();
            let first = decoder.decode(&input[..split], &mut out).unwrap();
            assert_eq!(first, split);
            decoder.decode(&input[split..], &mut out).unwrap();
            assert!(decoder.is_done());
            assert_eq!(out, expected, "split at {split}");
        }
    }

    #[test]
    fn unstuffs_and_finds_the_end() {
        check(b".\r\n", b"");
        check(b"Hi\r\n.\r\n", b"Hi\r\n");
        check(b"..\r\n.\r\n", b".\r\n");
        check(b"...x\r\n.y\r\n.\r\n", b"..x\r\ny\r\n");
        check(b"a.\r\n.b.\r\n\r\n.\r\n", b"a.\r\nb.\r\n\r\n");
        check(b"\r\n.\r\n", b"\r\n");
    }

    #[test]
    fn stops_at_the_end_of_data() {
        let mut decoder = DataDecoder::new(100, BareNewline::Reject);
        let mut out = Vec::new();
        let used = decoder.decode(b"x\r\n.\r\nQUIT\r\n", &mut out).unwrap();
        assert_eq!(used, 6);
        assert!(decoder.is_done());
        assert_eq!(decoder.decode(b"more", &mut out), Ok(0));
    }

    #[test]
    fn counts_past_the_limit() {
        let mut decoder = DataDecoder::new(5, BareNewline::Reject);
        let mut out = Vec::new();
        decoder.decode(b"abc\r\ndef\r\n.\r\n", &mut out).unwrap();
        assert!(decoder.is_done());
        assert!(decoder.is_over_limit());
        assert_eq!(decoder.size(), 10);
        assert_eq!(out, b"abc\r\n");
    }

    #[test]
    fn smuggling_sequences_do_not_end_the_data() {
        // None of these may end the message early, in either mode.
        for (input, error) in [
            (&b"a\n.\nMAIL FROM:<x@y>\r\n.\r\n"[..], DataError::BareLf),
            (b"a\r\n.\nMAIL\r\n.\r\n", DataError::BareLf),
            (b"a\n.\r\nMAIL\r\n.\r\n", DataError::BareLf),
            (b"a\r.\rMAIL\r\n.\r\n", DataError::BareCr),
            (b"a\r\n.\rMAIL\r\n.\r\n", DataError::BareCr),
            (b"a\r\r\n.\r\n", DataError::BareCr),
        ] {
            assert_eq!(
                decode_all(input, BareNewline::Reject).map(|_| ()),
                Err(error),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            let (out, used) = decode_all(input, BareNewline::Normalize).unwrap();
            assert_eq!(used, input.len(), "{:?}", String::from_utf8_lossy(input));
            assert!(
                out.windows(4).any(|w| w == b"MAIL") || input.starts_with(b"a\r\r"),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
        }
        let (out, _) = decode_all(b"a\nb\n.\nc\r\n.\r\n", BareNewline::Normalize).unwrap();
        assert_eq!(out, b"a\r\nb\r\n.\r\nc\r\n");
        let (out, _) = decode_all(b"a\r.\rb\r\n.\r\n", BareNewline::Normalize).unwrap();
        assert_eq!(out, b"a\r.\rb\r\n");
    }

    #[test]
    fn long_lines_are_accepted() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\r\n.\r\n");
        let mut decoder = DataDecoder::new(u64::MAX, BareNewline::Reject);
        let mut out = Vec::new();
        decoder.decode(&input, &mut out).unwrap();
        assert!(decoder.is_done());
        assert_eq!(decoder.longest_line(), 5002);
        assert_eq!(out.len(), 5002);
    }

    #[test]
    fn encoder_stuffs_and_normalises() {
        assert_eq!(encode(b""), b".\r\n");
        assert_eq!(encode(b"a"), b"a\r\n.\r\n");
        assert_eq!(encode(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(encode(b"a\n.b\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(encode(b"a\r.b"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(encode(b"x\r"), b"x\r\n.\r\n");
        assert_eq!(encode(b"x\r\r\n"), b"x\r\n\r\n.\r\n");
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let messages: [&[u8]; 6] = [
            b"",
            b"Subject: x\r\n\r\n.\r\n..\r\n.x\r\n",
            b".",
            b"line\r\n.\r\nafter",
            b"\r\n\r\n",
            b"a\r\n\x00\xff binary-ish\r\n",
        ];
        for message in messages {
            let mut expected = message.to_vec();
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            let (out, _) = decode_all(&encode(message), BareNewline::Reject).unwrap();
            assert_eq!(out, expected, "{:?}", String::from_utf8_lossy(message));
        }
    }
}
