//! The HPACK decoder (RFC 7541 §3, §6): one header block at a time into fields, keeping the
//! dynamic table in step with the peer's encoder.

use super::table::{entry_size, Table};
use super::{huffman, integer, DecodeError, Decoded, Field};

/// Decodes the header blocks of one direction of a connection, in order.
///
/// An error is a connection error (RFC 9113 §4.3: COMPRESSION_ERROR): after one, the table
/// may hold part of the failed block's changes and the decoder should not be used again.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: Table,
    /// The SETTINGS_HEADER_TABLE_SIZE we advertised: the most a size update may ask for.
    max_table_size: usize,
}

impl Decoder {
    /// `max_table_size`: the SETTINGS_HEADER_TABLE_SIZE we advertised (4096 default). The
    /// dynamic table starts with that maximum size.
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: Table::new(max_table_size),
            max_table_size,
        }
    }

    /// Decodes one complete header block into (name, value) pairs in order. `max_list_size`
    /// bounds the decoded list as RFC 9113 §6.5.2 counts it (name + value + 32 per field).
    /// When the list would exceed it, the decoder keeps decoding the block (so its dynamic
    /// table stays in step with the peer's encoder) without keeping fields, and returns
    /// `Ok(Decoded { fields: vec![], too_large: true })`.
    pub fn decode(&mut self, block: &[u8], max_list_size: usize) -> Result<Decoded, DecodeError> {
        let mut rest = block;
        let mut fields = Vec::new();
        let mut list_size: usize = 0;
        let mut too_large = false;
        let mut at_start = true;
        while let Some((&first, tail)) = rest.split_first() {
            rest = tail;
            let field = if first & 0x80 != 0 {
                // §6.1: an indexed field, 7-bit index.
                let index = integer::decode(first, 7, &mut rest)?;
                let (name, value) = self.table.get(index)?;
                at_start = false;
                // Sized before it is copied: one-octet references to a large entry must not
                // cost a copy each once the list is over its bound (an HPACK bomb).
                if too_large {
                    continue;
                }
                list_size = list_size.saturating_add(entry_size(name, value));
                if list_size > max_list_size {
                    too_large = true;
                    fields = Vec::new();
                } else {
                    fields.push(Field {
                        name: name.to_vec(),
                        value: value.to_vec(),
                        sensitive: false,
                    });
                }
                continue;
            } else if first & 0x40 != 0 {
                // §6.2.1: a literal added to the table, 6-bit name index.
                let field = self.literal(first, 6, &mut rest, false)?;
                self.table.insert(field.name.clone(), field.value.clone());
                field
            } else if first & 0x20 != 0 {
                // §6.3: a dynamic table size update, 5-bit size.
                // §4.2: "This dynamic table size update MUST occur at the beginning of the
                // first header block following the change to the dynamic table size." Two
                // may come in a row (a decrease then an increase), so any number of them
                // before the first field is accepted.
                if !at_start {
                    return Err(DecodeError::TableSizeUpdateNotFirst);
                }
                let size = integer::decode(first, 5, &mut rest)?;
                // §6.3: "The new maximum size MUST be lower than or equal to the limit
                // determined by the protocol using HPACK."
                if size > self.max_table_size {
                    return Err(DecodeError::TableSizeOverLimit {
                        size,
                        max: self.max_table_size,
                    });
                }
                self.table.set_max_size(size);
                continue;
            } else {
                // §6.2.2 (0000) without indexing, §6.2.3 (0001) never indexed: 4-bit name
                // index.
                self.literal(first, 4, &mut rest, first & 0x10 != 0)?
            };
            at_start = false;
            if too_large {
                continue;
            }
            list_size = list_size.saturating_add(entry_size(&field.name, &field.value));
            if list_size > max_list_size {
                too_large = true;
                fields = Vec::new();
            } else {
                fields.push(field);
            }
        }
        Ok(Decoded { fields, too_large })
    }

    /// The current dynamic table size in RFC 7541 §4.1 octets.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// A literal field (§6.2): the name by index (when the prefix is not 0) or as a string,
    /// then the value as a string.
    fn literal(
        &self,
        first: u8,
        prefix_bits: u32,
        rest: &mut &[u8],
        sensitive: bool,
    ) -> Result<Field, DecodeError> {
        let index = integer::decode(first, prefix_bits, rest)?;
        let name = if index == 0 {
            string(rest)?
        } else {
            self.table.get(index)?.0.to_vec()
        };
        let value = string(rest)?;
        Ok(Field {
            name,
            value,
            sensitive,
        })
    }
}

/// A string literal (§5.2): the Huffman flag and a 7-bit length, then the octets.
fn string(rest: &mut &[u8]) -> Result<Vec<u8>, DecodeError> {
    let (&first, tail) = rest.split_first().ok_or(DecodeError::Truncated)?;
    *rest = tail;
    let len = integer::decode(first, 7, rest)?;
    if len > rest.len() {
        return Err(DecodeError::Truncated);
    }
    let (octets, tail) = rest.split_at(len);
    *rest = tail;
    if first & 0x80 != 0 {
        let mut decoded = Vec::new();
        huffman::decode(octets, &mut decoded)?;
        Ok(decoded)
    } else {
        Ok(octets.to_vec())
    }
}
