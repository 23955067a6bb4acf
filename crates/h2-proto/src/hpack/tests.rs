//! Tests of the decoder and encoder: RFC 7541 Appendix C, round trips over generated field
//! lists, prefixes and decoding bombs.

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn pairs(fields: &[Field]) -> Vec<(&[u8], &[u8])> {
    fields
        .iter()
        .map(|f| (f.name.as_slice(), f.value.as_slice()))
        .collect()
}

/// Decodes `block` and checks the fields (`name: value` lines) and the table size after.
fn check(decoder: &mut Decoder, block: &str, expected: &[(&str, &str)], table_size: usize) {
    let decoded = decoder.decode(&hex(block), usize::MAX).unwrap();
    assert!(!decoded.too_large);
    let expected: Vec<(&[u8], &[u8])> = expected
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    assert_eq!(pairs(&decoded.fields), expected);
    assert_eq!(decoder.table_size(), table_size);
}

const REQUEST_1: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQUEST_2: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQUEST_3: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const RESPONSE_1: [(&str, &str); 4] = [
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESPONSE_2: [(&str, &str); 4] = [
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESPONSE_3: [(&str, &str); 6] = [
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

#[test]
fn c2_field_representations() {
    // C.2.1: literal with indexing.
    let mut decoder = Decoder::new(4096);
    check(
        &mut decoder,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        55,
    );
    // C.2.2: literal without indexing.
    let mut decoder = Decoder::new(4096);
    check(
        &mut decoder,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        0,
    );
    // C.2.3: literal never indexed.
    let mut decoder = Decoder::new(4096);
    let decoded = decoder
        .decode(
            &hex("1008 7061 7373 776f 7264 0673 6563 7265 74"),
            usize::MAX,
        )
        .unwrap();
    assert_eq!(
        decoded.fields,
        [Field {
            name: b"password".to_vec(),
            value: b"secret".to_vec(),
            sensitive: true,
        }]
    );
    assert_eq!(decoder.table_size(), 0);
    // C.2.4: indexed.
    let mut decoder = Decoder::new(4096);
    check(&mut decoder, "82", &[(":method", "GET")], 0);
}

#[test]
fn c3_requests_without_huffman() {
    let mut decoder = Decoder::new(4096);
    check(
        &mut decoder,
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        &REQUEST_1,
        57,
    );
    check(
        &mut decoder,
        "8286 84be 5808 6e6f 2d63 6163 6865",
        &REQUEST_2,
        110,
    );
    check(
        &mut decoder,
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        &REQUEST_3,
        164,
    );
}

const C4: [&str; 3] = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

#[test]
fn c4_requests_with_huffman() {
    let mut decoder = Decoder::new(4096);
    check(&mut decoder, C4[0], &REQUEST_1, 57);
    check(&mut decoder, C4[1], &REQUEST_2, 110);
    check(&mut decoder, C4[2], &REQUEST_3, 164);
}

#[test]
fn encoder_reproduces_c4() {
    // Our choices for these fields are the RFC's: static indices, :authority and the other
    // literals indexed, Huffman throughout.
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    for (list, expected) in [&REQUEST_1[..], &REQUEST_2, &REQUEST_3].iter().zip(C4) {
        let mut block = Vec::new();
        encoder.encode(
            list.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        assert_eq!(block, hex(expected));
        let decoded = decoder.decode(&block, usize::MAX).unwrap();
        let wanted: Vec<(&[u8], &[u8])> = list
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(pairs(&decoded.fields), wanted);
        assert_eq!(decoder.table_size(), encoder.table_size());
    }
}

#[test]
fn c5_responses_without_huffman() {
    let mut decoder = Decoder::new(256);
    check(
        &mut decoder,
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
         6c65 2e63 6f6d",
        &RESPONSE_1,
        222,
    );
    check(&mut decoder, "4803 3330 37c1 c0bf", &RESPONSE_2, 222);
    check(
        &mut decoder,
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
         3d31",
        &RESPONSE_3,
        215,
    );
}

#[test]
fn c6_responses_with_huffman() {
    let mut decoder = Decoder::new(256);
    check(
        &mut decoder,
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        &RESPONSE_1,
        222,
    );
    check(&mut decoder, "4883 640e ffc1 c0bf", &RESPONSE_2, 222);
    check(
        &mut decoder,
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        &RESPONSE_3,
        215,
    );
}

/// A small seeded generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        match self.below(3) {
            // Any octet.
            0 => (0..len).map(|_| self.next() as u8).collect(),
            // Header-ish text, where Huffman wins.
            1 => (0..len)
                .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789-/=.; "[self.below(42)])
                .collect(),
            // A few repeated values.
            _ => vec![b"xyz"[self.below(3)]; len],
        }
    }
}

fn generate_list(rng: &mut Rng) -> Vec<(Vec<u8>, Vec<u8>)> {
    const NAMES: [&str; 14] = [
        ":status",
        ":path",
        ":method",
        "content-type",
        "cookie",
        "set-cookie",
        "authorization",
        "date",
        "x-trace",
        "x-a",
        "server",
        "accept-encoding",
        "",
        "content-length",
    ];
    const VALUES: [&str; 6] = ["200", "/", "GET", "gzip, deflate", "", "text/html"];
    let count = rng.below(12);
    (0..count)
        .map(|_| {
            let name = if rng.below(4) == 0 {
                let len = rng.below(20);
                rng.bytes(len)
            } else {
                NAMES[rng.below(NAMES.len())].as_bytes().to_vec()
            };
            let value = match rng.below(5) {
                0 => VALUES[rng.below(VALUES.len())].as_bytes().to_vec(),
                1 => {
                    let len = rng.below(600);
                    rng.bytes(len)
                }
                _ => {
                    let len = rng.below(30);
                    rng.bytes(len)
                }
            };
            (name, value)
        })
        .collect()
}

#[test]
fn round_trips_across_blocks_and_size_changes() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut blocks_checked = 0;
    for _connection in 0..40 {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(4096);
        for _block in 0..25 {
            if rng.below(6) == 0 {
                // One or two SETTINGS changes between blocks, some above our cap.
                for _ in 0..=rng.below(2) {
                    let size = [0, 40, 100, 256, 1000, 4096, 65_536][rng.below(7)];
                    encoder.set_max_table_size(size);
                }
            }
            let list = generate_list(&mut rng);
            let mut block = Vec::new();
            encoder.encode(
                list.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
                &mut block,
            );
            let decoded = decoder.decode(&block, usize::MAX).unwrap();
            let expected: Vec<(&[u8], &[u8])> = list
                .iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .collect();
            assert_eq!(pairs(&decoded.fields), expected);
            for field in &decoded.fields {
                let sensitive = matches!(field.name.as_slice(), b"authorization" | b"set-cookie")
                    || (field.name == b"cookie" && field.value.len() < 20);
                assert_eq!(field.sensitive, sensitive, "{field:?}");
            }
            assert_eq!(decoder.table_size(), encoder.table_size());
            assert!(decoder.table_size() <= 4096);
            blocks_checked += 1;
        }
    }
    assert_eq!(blocks_checked, 1000);
}

#[test]
fn size_updates_reach_the_decoder() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let fields: [(&[u8], &[u8]); 1] = [(b"x-a", b"1")];
    let mut block = Vec::new();
    encoder.encode(fields, &mut block);
    decoder.decode(&block, usize::MAX).unwrap();
    assert_eq!(decoder.table_size(), 36);

    // Down to 0 then up to 100 between two blocks: both are signalled, smallest first, and
    // the table is emptied.
    encoder.set_max_table_size(0);
    encoder.set_max_table_size(100);
    let mut block = Vec::new();
    encoder.encode([], &mut block);
    assert_eq!(block, [0x20, 0x3f, 0x45]);
    decoder.decode(&block, usize::MAX).unwrap();
    assert_eq!(decoder.table_size(), 0);

    // Above our cap of 4096: the update says 4096.
    encoder.set_max_table_size(1 << 20);
    let mut block = Vec::new();
    encoder.encode([], &mut block);
    assert_eq!(block, [0x3f, 0xe1, 0x1f]);
    // No change, no update.
    encoder.set_max_table_size(4096);
    let mut block = Vec::new();
    encoder.encode([], &mut block);
    assert!(block.is_empty());
}

#[test]
fn sensitive_fields_are_never_indexed() {
    let mut encoder = Encoder::new();
    let fields: [(&[u8], &[u8]); 4] = [
        (b"authorization", b"Bearer abc"),
        (b"cookie", b"short=1"),
        (b"cookie", b"a-much-longer-cookie-value=123456"),
        (b"set-cookie", b"id=1"),
    ];
    let mut block = Vec::new();
    encoder.encode(fields, &mut block);
    let decoded = Decoder::new(4096).decode(&block, usize::MAX).unwrap();
    let sensitive: Vec<bool> = decoded.fields.iter().map(|f| f.sensitive).collect();
    assert_eq!(sensitive, [true, true, false, true]);
    // Only the long cookie entered the table.
    assert_eq!(encoder.table_size(), 6 + fields[2].1.len() + 32);
    // The first field: never indexed (0001) with static name index 23.
    assert_eq!(block.first(), Some(&0x1f));
}

#[test]
fn changing_values_are_not_indexed() {
    let mut encoder = Encoder::new();
    let fields: [(&[u8], &[u8]); 4] = [
        (b":path", b"/a/b"),
        (b"content-length", b"1234"),
        (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"),
        (b"etag", b"\"abc\""),
    ];
    let mut block = Vec::new();
    encoder.encode(fields, &mut block);
    assert_eq!(encoder.table_size(), 0);
    let decoded = Decoder::new(4096).decode(&block, usize::MAX).unwrap();
    assert_eq!(decoded.fields.len(), 4);
}

#[test]
fn every_prefix_and_mutation_is_handled() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..60 {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(4096);
        // Some history in the tables first, so prefixes refer to dynamic entries.
        for _ in 0..3 {
            let list = generate_list(&mut rng);
            let mut block = Vec::new();
            encoder.encode(
                list.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
                &mut block,
            );
            decoder.decode(&block, usize::MAX).unwrap();
        }
        let list = generate_list(&mut rng);
        let mut block = Vec::new();
        encoder.encode(
            list.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
            &mut block,
        );
        for end in 0..block.len() {
            // Any result but a panic; a prefix ending between fields is a valid block.
            let _ = decoder.clone().decode(&block[..end], usize::MAX);
        }
        for _ in 0..20 {
            let mut mutated = block.clone();
            if let Some(byte) = mutated.get_mut(rng.below(block.len().max(1))) {
                *byte ^= 1 << rng.below(8);
            }
            let _ = decoder.clone().decode(&mutated, 1000);
        }
        assert!(decoder.decode(&block, usize::MAX).is_ok());
    }
    for _ in 0..3000 {
        let len = rng.below(40);
        let noise = rng.bytes(len);
        let _ = Decoder::new(4096).decode(&noise, 16 * 1024);
    }
}

#[test]
fn size_update_over_the_limit() {
    let mut decoder = Decoder::new(100);
    // 31 + 70 = 101.
    assert_eq!(
        decoder.decode(&[0x3f, 0x46], usize::MAX),
        Err(DecodeError::TableSizeOverLimit {
            size: 101,
            max: 100
        })
    );
    let mut decoder = Decoder::new(100);
    assert!(decoder.decode(&[0x3f, 0x45], usize::MAX).is_ok());
    // A huge size.
    assert_eq!(
        Decoder::new(4096).decode(&[0x3f, 0xe0, 0xff, 0xff, 0xff, 0x0f], usize::MAX),
        Err(DecodeError::TableSizeOverLimit {
            size: 0xffff_ffff,
            max: 4096
        })
    );
}

#[test]
fn size_update_only_at_the_start() {
    // Two at the start (a decrease then an increase) are allowed.
    let mut decoder = Decoder::new(4096);
    let decoded = decoder.decode(&[0x20, 0x3f, 0xe1, 0x1f, 0x82], usize::MAX);
    assert_eq!(decoded.map(|d| d.fields.len()), Ok(1));
    assert_eq!(
        Decoder::new(4096).decode(&[0x82, 0x20], usize::MAX),
        Err(DecodeError::TableSizeUpdateNotFirst)
    );
}

#[test]
fn size_update_evicts() {
    let mut decoder = Decoder::new(4096);
    check(
        &mut decoder,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        55,
    );
    // Down to 54: the 55-octet entry goes, so index 62 no longer exists.
    check(&mut decoder, "3f17", &[], 0);
    assert_eq!(
        decoder.decode(&[0xbe], usize::MAX),
        Err(DecodeError::IndexOutOfRange { index: 62 })
    );
}

#[test]
fn indices_out_of_range() {
    let fails = |block: &[u8]| Decoder::new(4096).decode(block, usize::MAX).unwrap_err();
    assert_eq!(fails(&[0x80]), DecodeError::IndexOutOfRange { index: 0 });
    assert_eq!(fails(&[0xbe]), DecodeError::IndexOutOfRange { index: 62 });
    // A literal's name index past the tables.
    assert_eq!(
        fails(&[0x7f, 0x00, 0x00]),
        DecodeError::IndexOutOfRange { index: 63 }
    );
    assert_eq!(
        fails(&[0xff, 0x80, 0xff, 0xff, 0xff, 0x0f]),
        DecodeError::IndexOutOfRange { index: 0xffff_ffff }
    );
}

#[test]
fn strings_longer_than_the_block() {
    let fails = |block: &[u8]| Decoder::new(4096).decode(block, usize::MAX).unwrap_err();
    // A name claiming 2^32 - 1 octets.
    assert_eq!(
        fails(&[0x40, 0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f, b'a']),
        DecodeError::Truncated
    );
    // A value claiming one more octet than there is.
    assert_eq!(fails(&[0x04, 0x03, b'a', b'b']), DecodeError::Truncated);
    // A literal with no value at all.
    assert_eq!(fails(&[0x04]), DecodeError::Truncated);
    assert_eq!(
        fails(&[0x04, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff]),
        DecodeError::IntegerOverflow
    );
    // Bad Huffman in a value.
    assert_eq!(
        fails(&[0x04, 0x81, 0xff]),
        DecodeError::HuffmanPaddingTooLong
    );
}

#[test]
fn too_large_keeps_the_table_in_step() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let big = vec![b'v'; 300];
    let first: [(&[u8], &[u8]); 3] = [(b"x-one", b"1"), (b"x-big", &big), (b"x-two", b"2")];
    let mut block = Vec::new();
    encoder.encode(first, &mut block);
    // x-one is 5 + 1 + 32 = 38: it fits 100 alone, the big one does not.
    let decoded = decoder.decode(&block, 100).unwrap();
    assert_eq!(
        decoded,
        Decoded {
            fields: Vec::new(),
            too_large: true
        }
    );
    assert_eq!(decoder.table_size(), encoder.table_size());
    assert_eq!(decoder.table_size(), 38 + 337 + 38);

    // The next block refers to all three entries by index and decodes.
    let mut block = Vec::new();
    encoder.encode(first, &mut block);
    assert_eq!(block, [0xc0, 0xbf, 0xbe]);
    let decoded = decoder.decode(&block, 1000).unwrap();
    assert!(!decoded.too_large);
    assert_eq!(pairs(&decoded.fields), first);

    // Exactly at the bound is not too large.
    let exact = 38 + 337 + 38;
    let decoded = decoder.clone().decode(&block, exact).unwrap();
    assert!(!decoded.too_large);
    let decoded = decoder.decode(&block, exact - 1).unwrap();
    assert!(decoded.too_large);
}

#[test]
fn entry_larger_than_the_table_empties_it() {
    let mut decoder = Decoder::new(100);
    let mut block = vec![0x40, 0x01, b'a', 0x41];
    block.extend_from_slice(&[b'b'; 65]);
    // 1 + 65 + 32 = 98: fits.
    decoder.decode(&block, usize::MAX).unwrap();
    assert_eq!(decoder.table_size(), 98);
    let mut block = vec![0x40, 0x01, b'a', 0x43];
    block.extend_from_slice(&[b'b'; 67]);
    // 1 + 67 + 32 = 100: fits exactly, evicting the first.
    decoder.decode(&block, usize::MAX).unwrap();
    assert_eq!(decoder.table_size(), 100);
    let mut block = vec![0x40, 0x01, b'a', 0x44];
    block.extend_from_slice(&[b'b'; 68]);
    // 101: empties the table, and the field is still delivered.
    let decoded = decoder.decode(&block, usize::MAX).unwrap();
    assert_eq!(decoded.fields.len(), 1);
    assert_eq!(decoder.table_size(), 0);
}

#[test]
fn literal_name_from_an_entry_it_evicts() {
    // Table of 60: one entry; a new one named by index 62 evicts 62 itself on insertion.
    let mut decoder = Decoder::new(60);
    check(&mut decoder, "4001 6101 31", &[("a", "1")], 34);
    check(&mut decoder, "7e02 3232", &[("a", "22")], 35);
    check(&mut decoder, "be", &[("a", "22")], 35);
}
