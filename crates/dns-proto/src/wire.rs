//! The message encoder: a byte buffer that remembers where names were written for compression.

use crate::name::Name;

/// Appends DNS wire data to a buffer, compressing names against those already written.
///
/// RFC 1035 §4.1.4: a name (or a suffix of it) already present in the message is replaced by a
/// pointer to it. Pointers can only reach the first 16 KiB, so names written later are not
/// remembered.
pub(crate) struct Encoder {
    buf: Vec<u8>,
    /// Offsets in `buf` where a name or a name suffix starts (uncompressed labels from there).
    suffixes: Vec<u16>,
    compress: bool,
}

impl Encoder {
    /// An encoder that compresses names where allowed.
    pub(crate) fn new(capacity: usize) -> Encoder {
        Encoder {
            buf: Vec::with_capacity(capacity),
            suffixes: Vec::new(),
            compress: true,
        }
    }

    /// An encoder that never compresses (canonical forms, RDATA outside a message).
    pub(crate) fn uncompressed() -> Encoder {
        Encoder {
            buf: Vec::new(),
            suffixes: Vec::new(),
            compress: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Overwrites two bytes at `pos` (RDLENGTH and counts, known only afterwards).
    pub(crate) fn patch_u16(&mut self, pos: usize, value: u16) {
        self.buf[pos..pos + 2].copy_from_slice(&value.to_be_bytes());
    }

    /// A character string: a length byte and at most 255 bytes (longer input is cut).
    pub(crate) fn character_string(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(255)];
        self.buf.push(bytes.len() as u8);
        self.buf.extend_from_slice(bytes);
    }

    /// Writes `name`, as a pointer to an earlier copy of its longest known suffix when
    /// `compressible` and this encoder compresses.
    pub(crate) fn name(&mut self, name: &Name, compressible: bool) {
        let wire = name.as_wire();
        let mut pos = 0;
        while wire[pos] != 0 {
            let suffix = &wire[pos..];
            if self.compress && compressible {
                if let Some(offset) = self.find(suffix) {
                    self.buf.extend_from_slice(&(0xC000 | offset).to_be_bytes());
                    return;
                }
            }
            if self.compress && self.buf.len() < 0x4000 {
                self.suffixes.push(self.buf.len() as u16);
            }
            let len = wire[pos] as usize;
            self.buf.extend_from_slice(&wire[pos..pos + 1 + len]);
            pos += 1 + len;
        }
        self.buf.push(0);
    }

    /// Finds an earlier name suffix equal (ignoring ASCII case) to `suffix` (uncompressed wire).
    fn find(&self, suffix: &[u8]) -> Option<u16> {
        self.suffixes
            .iter()
            .copied()
            .find(|&offset| self.matches(offset as usize, suffix))
    }

    /// Whether the name at `offset` in the buffer (following pointers) equals `suffix`.
    fn matches(&self, mut offset: usize, suffix: &[u8]) -> bool {
        let mut pos = 0;
        // Pointers we wrote always point backwards, so this walk ends; the bound is a guard.
        for _ in 0..256 {
            let Some(&len) = self.buf.get(offset) else {
                return false;
            };
            if len & 0xC0 == 0xC0 {
                let Some(&low) = self.buf.get(offset + 1) else {
                    return false;
                };
                offset = (((len & 0x3F) as usize) << 8) | low as usize;
                continue;
            }
            let len = len as usize;
            if suffix.get(pos) != Some(&(len as u8)) {
                return false;
            }
            if len == 0 {
                return true;
            }
            let (Some(mine), Some(theirs)) = (
                self.buf.get(offset + 1..offset + 1 + len),
                suffix.get(pos + 1..pos + 1 + len),
            ) else {
                return false;
            };
            if !mine.eq_ignore_ascii_case(theirs) {
                return false;
            }
            offset += 1 + len;
            pos += 1 + len;
        }
        false
    }
}
