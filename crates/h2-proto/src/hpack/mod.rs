//! HPACK (RFC 7541), header compression for HTTP/2: a [`Decoder`] turns header blocks into
//! [`Field`]s and an [`Encoder`] turns fields into header blocks, each keeping its side's
//! dynamic table; [`huffman`] is the static Huffman code of the string literals.
//!
//! Every decoding limit is explicit: integers above 2^32 − 1, strings longer than their
//! block, indices past the tables, size updates above our advertised table size or after a
//! field, and bad Huffman padding are errors; a decoded list larger than the caller's bound
//! is dropped while the block is still decoded, so the table stays in step.

mod decoder;
mod encoder;
pub mod huffman;
mod integer;
mod table;

pub use decoder::Decoder;
pub use encoder::Encoder;

/// Why a header block could not be decoded: in HTTP/2, a connection error of type
/// COMPRESSION_ERROR (RFC 9113 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A prefix integer above 2^32 − 1, or with more continuation octets than that needs.
    #[error("integer overflow")]
    IntegerOverflow,
    /// The block ended inside an integer or a string.
    #[error("header block truncated")]
    Truncated,
    /// An index that is 0 or past the end of the static and dynamic tables.
    #[error("index {index} out of range")]
    IndexOutOfRange {
        /// The index.
        index: usize,
    },
    /// Huffman padding of 8 bits or more (RFC 7541 §5.2).
    #[error("huffman padding longer than 7 bits")]
    HuffmanPaddingTooLong,
    /// Huffman padding that is not the start of EOS, all ones (§5.2).
    #[error("huffman padding not all ones")]
    HuffmanPaddingNotOnes,
    /// The EOS symbol inside a Huffman string (§5.2).
    #[error("huffman string contains eos")]
    HuffmanEos,
    /// A dynamic table size update above the size we advertised (§4.2, §6.3).
    #[error("table size update to {size} over the limit {max}")]
    TableSizeOverLimit {
        /// The size asked for.
        size: usize,
        /// Our SETTINGS_HEADER_TABLE_SIZE.
        max: usize,
    },
    /// A dynamic table size update after a field of the block (§4.2).
    #[error("table size update not at the start of the block")]
    TableSizeUpdateNotFirst,
}

/// A decoded header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The fields in order; empty when `too_large`.
    pub fields: Vec<Field>,
    /// The list was larger than the bound given to [`Decoder::decode`].
    pub too_large: bool,
}

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, as sent (HTTP/2 requires lowercase; the caller checks).
    pub name: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// It came as a never-indexed literal (RFC 7541 §6.2.3): re-encode it the same way.
    pub sensitive: bool,
}

#[cfg(test)]
mod tests;
