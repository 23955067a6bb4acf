//! Prefix integers (RFC 7541 §5.1): a value in the low N bits of an octet, continued in
//! 7-bit groups, least significant first, when it does not fit.

use super::DecodeError;

/// The largest value decoded. RFC 7541 §5.1: "Integer encodings that exceed implementation
/// limits -- in value or octet length -- MUST be treated as decoding errors." Nothing in a
/// header block (an index, a length, a table size) needs more than 32 bits.
const MAX_VALUE: u64 = u32::MAX as u64;

/// The most continuation octets read: five carry 35 bits, more than [`MAX_VALUE`] needs.
const MAX_CONTINUATIONS: u32 = 5;

/// Decodes the integer whose first octet is `first` (already taken from the block, its top
/// `8 - prefix_bits` bits being flags) and whose continuation octets start `rest`, which is
/// advanced past them.
pub(crate) fn decode(first: u8, prefix_bits: u32, rest: &mut &[u8]) -> Result<usize, DecodeError> {
    let mask = (1u16 << prefix_bits) - 1;
    let mut value = u64::from(u16::from(first) & mask);
    if value < u64::from(mask) {
        return Ok(value as usize);
    }
    let mut shift = 0;
    for _ in 0..MAX_CONTINUATIONS {
        let (&byte, tail) = rest.split_first().ok_or(DecodeError::Truncated)?;
        *rest = tail;
        value += u64::from(byte & 0x7f) << shift;
        if value > MAX_VALUE {
            return Err(DecodeError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return usize::try_from(value).map_err(|_| DecodeError::IntegerOverflow);
        }
        shift += 7;
    }
    Err(DecodeError::IntegerOverflow)
}

/// Appends `value` with an N-bit prefix; `flags` fills the octet's top `8 - prefix_bits`
/// bits.
pub(crate) fn encode(value: usize, prefix_bits: u32, flags: u8, out: &mut Vec<u8>) {
    let mask = (1usize << prefix_bits) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: usize, prefix_bits: u32, bytes: &[u8]) {
        let mut out = Vec::new();
        encode(value, prefix_bits, 0, &mut out);
        assert_eq!(out, bytes, "encoding {value}");
        let (&first, mut rest) = bytes.split_first().unwrap();
        assert_eq!(decode(first, prefix_bits, &mut rest), Ok(value));
        assert!(rest.is_empty());
    }

    #[test]
    fn appendix_c1() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 on 8 bits.
        check(10, 5, &[0x0a]);
        check(1337, 5, &[0x1f, 0x9a, 0x0a]);
        check(42, 8, &[0x2a]);
    }

    #[test]
    fn boundaries() {
        for prefix_bits in 1..=8 {
            let max = (1usize << prefix_bits) - 1;
            for value in [0, max - 1, max, max + 1, max + 127, max + 128, 1 << 20] {
                let mut out = Vec::new();
                encode(value, prefix_bits, 0, &mut out);
                let (&first, mut rest) = out.split_first().unwrap();
                assert_eq!(decode(first, prefix_bits, &mut rest), Ok(value));
            }
        }
        check(u32::MAX as usize, 7, &[0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f]);
    }

    #[test]
    fn flags_are_kept_out_of_the_value() {
        let mut out = Vec::new();
        encode(3, 6, 0x40, &mut out);
        assert_eq!(out, [0x43]);
        let mut rest: &[u8] = &[];
        assert_eq!(decode(0xc3, 6, &mut rest), Ok(3));
    }

    #[test]
    fn overflow_and_truncation() {
        let decode_all = |bytes: &[u8], prefix_bits| {
            let (&first, mut rest) = bytes.split_first().unwrap();
            decode(first, prefix_bits, &mut rest)
        };
        // One past u32::MAX.
        assert_eq!(
            decode_all(&[0x7f, 0x81, 0xff, 0xff, 0xff, 0x0f], 7),
            Err(DecodeError::IntegerOverflow)
        );
        // A sixth continuation octet, even of zeros.
        assert_eq!(
            decode_all(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(
            decode_all(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 7),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(decode_all(&[0x1f], 5), Err(DecodeError::Truncated));
        assert_eq!(decode_all(&[0x1f, 0x9a], 5), Err(DecodeError::Truncated));
    }
}
