//! The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B): encoding with a bit
//! accumulator, decoding four bits at a time through a state table built once.
//!
//! The code of Appendix B is canonical: within one bit length, codes are consecutive and in
//! symbol order, and the first code of a length follows the last code of the length before.
//! So the 257 bit lengths below determine every code, and [`CODES`] is computed from them at
//! compile time (the tests pin codes quoted from the RFC and check the code is complete).

use super::DecodeError;
use std::sync::OnceLock;

/// The EOS symbol (RFC 7541 §5.2): its code's leading bits are the padding; decoding it is
/// an error.
const EOS: u16 = 256;

/// Appendix B's code length in bits of every symbol, 0 to 255 and then EOS (256).
#[rustfmt::skip]
const LENGTHS: [u8; 257] = [
    // 0..=31: control characters
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    // ' ' ! " # $ % & ' ( ) * + , - . /
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    // 0 1 2 3 4 5 6 7 8 9 : ; < = > ?
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    // @ A B C D E F G H I J K L M N O
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    // P Q R S T U V W X Y Z [ \ ] ^ _
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    // ` a b c d e f g h i j k l m n o
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    // p q r s t u v w x y z { | } ~ DEL
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    // 128..=255
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    // EOS
    30,
];

/// The longest code (EOS's).
const MAX_LENGTH: u8 = 30;

/// Every symbol's code, right-aligned, with its length: the canonical assignment of
/// [`LENGTHS`].
const CODES: [(u32, u8); 257] = canonical_codes();

const fn canonical_codes() -> [(u32, u8); 257] {
    let mut codes = [(0u32, 0u8); 257];
    let mut next: u32 = 0;
    let mut length: u8 = 1;
    while length <= MAX_LENGTH {
        let mut symbol = 0;
        while symbol < 257 {
            if LENGTHS[symbol] == length {
                codes[symbol] = (next, length);
                next += 1;
            }
            symbol += 1;
        }
        next <<= 1;
        length += 1;
    }
    codes
}

/// Appends the Huffman coding of `input` to `out`, padded with the most significant bits of
/// EOS (ones) to a whole octet (RFC 7541 §5.2).
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input));
    // At most 7 bits wait in `pending` between symbols, so adding a 30-bit code stays
    // within 37 bits; bits above those that are still waiting are shifted out harmlessly.
    let mut pending: u64 = 0;
    let mut bits: u32 = 0;
    for &byte in input {
        let (code, length) = CODES[usize::from(byte)];
        pending = (pending << length) | u64::from(code);
        bits += u32::from(length);
        while bits >= 8 {
            bits -= 8;
            out.push((pending >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((pending << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// The length in octets of `input` Huffman-coded, padding included.
pub fn encoded_len(input: &[u8]) -> usize {
    let bits: usize = input
        .iter()
        .map(|&byte| usize::from(CODES[usize::from(byte)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends the decoding of the Huffman-coded `input` to `out`.
///
/// Fails on an EOS symbol in the string, on padding longer than 7 bits, and on padding that
/// is not the start of EOS (all ones), as RFC 7541 §5.2 requires. On failure `out` may hold
/// part of the string.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let table = decode_table();
    out.reserve(input.len() + input.len() / 2);
    let mut state: u8 = 0;
    for &byte in input {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = table.steps[usize::from(state)][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(DecodeError::HuffmanEos);
            }
            if step.flags & EMIT != 0 {
                out.push(step.symbol);
            }
            state = step.next;
        }
    }
    match table.ends[usize::from(state)] {
        End::Complete => Ok(()),
        End::PaddingTooLong => Err(DecodeError::HuffmanPaddingTooLong),
        End::PaddingNotOnes => Err(DecodeError::HuffmanPaddingNotOnes),
    }
}

/// The step flag: this nibble completed `symbol`.
const EMIT: u8 = 1;
/// The step flag: this nibble completed EOS.
const FAIL: u8 = 2;

/// What the decoder does on one nibble in one state.
#[derive(Debug, Clone, Copy, Default)]
struct Step {
    /// The state after the nibble.
    next: u8,
    /// The symbol completed, when `flags` has [`EMIT`] (a nibble is shorter than the
    /// shortest code, 5 bits, so it completes at most one).
    symbol: u8,
    flags: u8,
}

/// Whether the string may end in a state: the bits read since the last symbol are the
/// padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// No bits, or up to 7 ones.
    Complete,
    /// 8 or more ones.
    PaddingTooLong,
    /// Bits that are not all ones.
    PaddingNotOnes,
}

/// The decoder's states are the 256 inner nodes of the code tree (257 leaves), state 0 the
/// root.
struct DecodeTable {
    steps: [[Step; 16]; 256],
    ends: [End; 256],
}

fn decode_table() -> &'static DecodeTable {
    static TABLE: OnceLock<Box<DecodeTable>> = OnceLock::new();
    TABLE.get_or_init(build_decode_table)
}

/// A branch of the code tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Missing,
    Inner(u8),
    Leaf(u16),
}

fn build_decode_table() -> Box<DecodeTable> {
    // The tree: inner nodes with their two children, the depth of each node and whether the
    // path to it is all ones. Codes only come from `CODES`, which is a complete prefix code,
    // so the tree has exactly 256 inner nodes and fits the u8 state.
    let mut children = vec![[Child::Missing; 2]];
    let mut depth = vec![0u8];
    let mut all_ones = vec![true];
    for (symbol, &(code, length)) in (0u16..).zip(CODES.iter()) {
        let mut node = 0usize;
        for position in (0..length).rev() {
            let bit = usize::from((code >> position) & 1 == 1);
            if position == 0 {
                children[node][bit] = Child::Leaf(symbol);
                break;
            }
            node = match children[node][bit] {
                Child::Inner(next) => usize::from(next),
                _ => {
                    let next = children.len();
                    children.push([Child::Missing; 2]);
                    depth.push(depth[node] + 1);
                    all_ones.push(all_ones[node] && bit == 1);
                    // A complete code of 257 symbols (`code_is_complete`) is a full binary
                    // tree with 256 inner nodes, so `next` is at most 255.
                    let inner = u8::try_from(next).unwrap_or(u8::MAX);
                    children[node][bit] = Child::Inner(inner);
                    next
                }
            };
        }
    }

    let mut table = Box::new(DecodeTable {
        steps: [[Step::default(); 16]; 256],
        ends: [End::PaddingNotOnes; 256],
    });
    for (state, node_children) in children.iter().enumerate().take(256) {
        table.ends[state] = if !all_ones[state] {
            End::PaddingNotOnes
        } else if depth[state] > 7 {
            End::PaddingTooLong
        } else {
            End::Complete
        };
        for nibble in 0..16u8 {
            let mut node = state;
            let mut step = Step::default();
            let mut current = *node_children;
            for position in (0..4).rev() {
                let bit = usize::from((nibble >> position) & 1);
                match current[bit] {
                    Child::Inner(next) => node = usize::from(next),
                    Child::Leaf(EOS) => {
                        step.flags |= FAIL;
                        node = 0;
                    }
                    Child::Leaf(symbol) => {
                        step.flags |= EMIT;
                        step.symbol = symbol as u8;
                        node = 0;
                    }
                    Child::Missing => node = 0,
                }
                current = children[node];
            }
            step.next = node as u8;
            table.steps[state][usize::from(nibble)] = step;
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn check(text: &[u8], coded: &str) {
        let coded = hex(coded);
        let mut out = Vec::new();
        encode(text, &mut out);
        assert_eq!(out, coded, "encoding {:?}", String::from_utf8_lossy(text));
        assert_eq!(encoded_len(text), coded.len());
        let mut decoded = Vec::new();
        decode(&coded, &mut decoded).unwrap();
        assert_eq!(decoded, text);
    }

    #[test]
    fn codes_match_appendix_b() {
        // Rows quoted from RFC 7541 Appendix B: (symbol, code as hex, length).
        for (symbol, code, length) in [
            (0, 0x1ff8, 13),
            (1, 0x7fffd8, 23),
            (10, 0x3ffffffc, 30),
            (b' ' as usize, 0x14, 6),
            (b'/' as usize, 0x18, 6),
            (b'0' as usize, 0x0, 5),
            (b':' as usize, 0x5c, 7),
            (b'\\' as usize, 0x7fff0, 19),
            (b't' as usize, 0x9, 5),
            (b'~' as usize, 0x1ffd, 13),
            (127, 0xffffffc, 28),
            (128, 0xfffe6, 20),
            (203, 0x7ffffde, 27),
            (255, 0x3ffffee, 26),
            (256, 0x3fffffff, 30),
        ] {
            assert_eq!(CODES[symbol], (code, length), "symbol {symbol}");
        }
    }

    #[test]
    fn code_is_complete() {
        // Kraft's sum is exactly 1: no bit string is left without a meaning.
        let sum: u64 = LENGTHS.iter().map(|&l| 1u64 << (MAX_LENGTH - l)).sum();
        assert_eq!(sum, 1 << MAX_LENGTH);
        let mut codes: Vec<(u32, u8)> = CODES.to_vec();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 257);
    }

    #[test]
    fn appendix_c_strings() {
        check(b"www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff");
        check(b"no-cache", "a8eb 1064 9cbf");
        check(b"custom-key", "25a8 49e9 5ba9 7d7f");
        check(b"custom-value", "25a8 49e9 5bb8 e8b4 bf");
        check(b"302", "6402");
        check(b"307", "640e ff");
        check(b"private", "aec3 771a 4b");
        check(
            b"Mon, 21 Oct 2013 20:13:21 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
        );
        check(
            b"https://www.example.com",
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
        );
        check(b"gzip", "9bd9 ab");
        check(
            b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 \
             3160 65c0 03ed 4ee5 b106 3d50 07",
        );
        check(b"", "");
    }

    #[test]
    fn every_byte_round_trips() {
        for byte in 0..=255u8 {
            let mut coded = Vec::new();
            encode(&[byte], &mut coded);
            let mut decoded = Vec::new();
            decode(&coded, &mut decoded).unwrap();
            assert_eq!(decoded, [byte]);
        }
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let mut coded = Vec::new();
        encode(&all, &mut coded);
        assert_eq!(coded.len(), encoded_len(&all));
        let mut decoded = Vec::new();
        decode(&coded, &mut decoded).unwrap();
        assert_eq!(decoded, all);
    }

    #[test]
    fn bad_padding_and_eos() {
        let fails = |coded: &[u8]| decode(coded, &mut Vec::new()).unwrap_err();
        // 'a' is 00011: three padding bits of ones are fine, of zeros not.
        let mut out = Vec::new();
        decode(&[0x1f], &mut out).unwrap();
        assert_eq!(out, b"a");
        assert_eq!(fails(&[0x18]), DecodeError::HuffmanPaddingNotOnes);
        // Eight ones of padding.
        assert_eq!(fails(&[0xff]), DecodeError::HuffmanPaddingTooLong);
        assert_eq!(fails(&[0x1f, 0xff]), DecodeError::HuffmanPaddingTooLong);
        // A code cut short after a zero bit.
        assert_eq!(fails(&[0xfe]), DecodeError::HuffmanPaddingNotOnes);
        // EOS itself: 30 ones.
        assert_eq!(fails(&[0xff, 0xff, 0xff, 0xff]), DecodeError::HuffmanEos);
        assert_eq!(
            fails(&[0x1f, 0xff, 0xff, 0xff, 0xff]),
            DecodeError::HuffmanEos
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 12) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i * 5)) as u8).collect();
            let mut out = Vec::new();
            if decode(&bytes, &mut out).is_ok() {
                let mut again = Vec::new();
                encode(&out, &mut again);
                assert_eq!(again, bytes);
            }
        }
    }
}
