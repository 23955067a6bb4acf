//! Fuzz target: the HPACK decoder over a sequence of header blocks sharing one dynamic table,
//! a decode → encode → decode round trip of every block that decodes, and the Huffman code.
#![no_main]

use h2_proto::hpack::{huffman, Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose our advertised table size, then blocks follow, each after a
    // length byte.
    let Some((&[high, low], mut rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let table_size = usize::from(u16::from_be_bytes([high, low]));
    let mut decoder = Decoder::new(table_size);
    let mut encoder = Encoder::new();
    let mut again = Decoder::new(4096);
    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let Ok(decoded) = decoder.decode(block, 16 * 1024) else {
            return;
        };
        assert!(decoder.table_size() <= table_size);
        if decoded.too_large {
            assert!(decoded.fields.is_empty());
            continue;
        }
        let mut encoded = Vec::new();
        encoder.encode(
            decoded
                .fields
                .iter()
                .map(|f| (f.name.as_slice(), f.value.as_slice())),
            &mut encoded,
        );
        let redecoded = again
            .decode(&encoded, usize::MAX)
            .expect("our encoding decodes");
        assert_eq!(again.table_size(), encoder.table_size());
        let names_values = |fields: &[h2_proto::hpack::Field]| -> Vec<(Vec<u8>, Vec<u8>)> {
            fields
                .iter()
                .map(|f| (f.name.clone(), f.value.clone()))
                .collect()
        };
        assert_eq!(
            names_values(&redecoded.fields),
            names_values(&decoded.fields)
        );
    }

    let mut coded = Vec::new();
    huffman::encode(data, &mut coded);
    assert_eq!(coded.len(), huffman::encoded_len(data));
    let mut decoded = Vec::new();
    huffman::decode(&coded, &mut decoded).expect("our Huffman coding decodes");
    assert_eq!(decoded, data);
    let mut out = Vec::new();
    if huffman::decode(data, &mut out).is_ok() {
        let mut recoded = Vec::new();
        huffman::encode(&out, &mut recoded);
        assert_eq!(recoded, data, "a valid Huffman string has one coding");
    }
});
