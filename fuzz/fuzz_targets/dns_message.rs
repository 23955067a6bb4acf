//! Fuzz target: DNS message decode → encode → decode must agree, and nothing panics.
#![no_main]

use dns_proto::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        let wire = message.encode();
        let again = Message::decode(&wire).expect("our own encoding decodes");
        assert_eq!(again, message);
        // Truncation to any client size stays decodable.
        let limited = message.encode_limited(512);
        assert!(Message::decode(&limited).is_ok());
        let _ = message.summary().to_string();
        let _ = message.to_string();
    }
});
