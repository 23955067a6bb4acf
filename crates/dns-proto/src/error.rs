//! Error types of the DNS codec: name errors from text, decode errors from the wire.

/// Why a name could not be built from text or labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The text was empty.
    #[error("empty name")]
    Empty,
    /// Two dots in a row, or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label longer than 63 octets.
    #[error("label of {len} octets is longer than 63")]
    LabelTooLong {
        /// The label's length.
        len: usize,
    },
    /// A name longer than 255 octets in wire form.
    #[error("name of {len} octets is longer than 255")]
    NameTooLong {
        /// The name's wire length.
        len: usize,
    },
    /// A `\` escape that is not `\X` or `\DDD` with DDD ≤ 255.
    #[error("bad escape sequence")]
    BadEscape,
    /// `@` or a relative name without an origin.
    #[error("no origin for a relative name")]
    NoOrigin,
}

/// Why a message (or part of one) could not be decoded from the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended in the middle of something.
    #[error("message truncated")]
    Truncated,
    /// A name longer than 255 octets (possibly through compression pointers).
    #[error("name longer than 255 octets")]
    NameTooLong,
    /// A compression pointer that does not point strictly backwards.
    #[error("bad compression pointer at offset {offset}")]
    BadPointer {
        /// Where the pointer is.
        offset: usize,
    },
    /// A label type other than 00 (length) or 11 (pointer).
    #[error("unsupported label type at offset {offset}")]
    BadLabelType {
        /// Where the label starts.
        offset: usize,
    },
    /// RDATA that does not match its type's format or its RDLENGTH.
    #[error("malformed {rtype} rdata: {reason}")]
    BadRdata {
        /// The record type, in presentation form.
        rtype: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// Bytes left over after the last record the header counts announce.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// More than one OPT record, or an OPT record that is not the root or not in additional.
    #[error("bad OPT record: {reason}")]
    BadOpt {
        /// What was wrong.
        reason: &'static str,
    },
    /// A TSIG record that is not the last record of the additional section.
    #[error("TSIG record is not last in the message")]
    TsigNotLast,
}
