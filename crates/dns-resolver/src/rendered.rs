//! Rendered answers: the encoded reply to a query shape answered from the cache, replayed for
//! the next identical query with only its ID, question case and TTLs patched (Unbound's
//! message cache does the same). This is the cache-hit fast path.

use std::collections::HashMap;
use std::time::Instant;

/// One rendered reply.
#[derive(Clone, Debug)]
struct Rendered {
    bytes: Vec<u8>,
    /// (offset of a TTL field, the TTL it had when rendered).
    ttls: Vec<(usize, u32)>,
    rendered_at: Instant,
    /// When the shortest TTL in it runs out.
    expires: Instant,
}

/// Rendered replies keyed by the query's bytes after the ID, with the question name in lower
/// case: the flags, the question and any EDNS record must match exactly, so the reply is the
/// one the full path would build.
#[derive(Debug)]
pub(crate) struct RenderedAnswers {
    map: HashMap<Box<[u8]>, Rendered>,
    max_entries: usize,
}

/// The end of the question name that starts at byte 12 of `query`, if the query has the
/// plain shape the fast path handles (one question, uncompressed name).
fn question_name_end(query: &[u8]) -> Option<usize> {
    if query.len() < 17 || query[4..6] != [0, 1] {
        return None;
    }
    let mut pos = 12;
    loop {
        let len = usize::from(*query.get(pos)?);
        if len == 0 {
            pos += 1;
            break;
        }
        if len > 63 {
            return None; // a pointer or a reserved label type: not the plain shape
        }
        pos += 1 + len;
    }
    if pos + 4 > query.len() {
        return None;
    }
    Some(pos)
}

/// The lookup key of `query` into `key` (reused buffer); the name's end, or `None`.
fn key_of(query: &[u8], key: &mut Vec<u8>) -> Option<usize> {
    let end = question_name_end(query)?;
    key.clear();
    key.extend_from_slice(&query[2..12]);
    // Length bytes are at most 63, below b'A', so lower-casing the whole name is safe.
    key.extend(query[12..end].iter().map(u8::to_ascii_lowercase));
    key.extend_from_slice(&query[end..]);
    Some(end)
}

/// Skips a (possibly compressed) name at `pos`; the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            0xC0..=0xFF => return Some(pos + 2),
            1..=63 => pos += 1 + usize::from(len),
            _ => return None,
        }
    }
}

/// The offsets and values of every TTL in an encoded reply (not OPT's, which holds flags).
fn ttl_fields(msg: &[u8]) -> Option<Vec<(usize, u32)>> {
    let count = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *msg.get(at)?,
            *msg.get(at + 1)?,
        ])))
    };
    let questions = count(4)?;
    let records = count(6)? + count(8)? + count(10)?;
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut ttls = Vec::with_capacity(records);
    for _ in 0..records {
        pos = skip_name(msg, pos)?;
        let fixed = msg.get(pos..pos + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if rtype != 41 {
            ttls.push((pos + 4, ttl));
        }
        pos += 10 + rdlength;
    }
    (pos == msg.len()).then_some(ttls)
}

impl RenderedAnswers {
    pub(crate) fn new(max_entries: usize) -> RenderedAnswers {
        RenderedAnswers {
            map: HashMap::new(),
            max_entries: max_entries.max(1),
        }
    }

    /// The reply to `query` if an identical one was rendered and has not expired.
    pub(crate) fn replay(
        &mut self,
        now: Instant,
        query: &[u8],
        key: &mut Vec<u8>,
    ) -> Option<Vec<u8>> {
        let end = key_of(query, key)?;
        let rendered = self.map.get(key.as_slice())?;
        if rendered.expires <= now {
            self.map.remove(key.as_slice());
            return None;
        }
        let elapsed = u32::try_from(
            now.saturating_duration_since(rendered.rendered_at)
                .as_secs(),
        )
        .unwrap_or(u32::MAX);
        let mut reply = rendered.bytes.clone();
        reply[0..2].copy_from_slice(&query[0..2]);
        // The client's spelling of the name (same length: equal ignoring case).
        reply[12..end].copy_from_slice(&query[12..end]);
        for &(offset, ttl) in &rendered.ttls {
            reply[offset..offset + 4].copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
        }
        Some(reply)
    }

    /// Remembers `reply` (built at `now` from the cache) for queries shaped like `query`.
    pub(crate) fn remember(&mut self, now: Instant, query: &[u8], reply: &[u8]) {
        let mut key = Vec::with_capacity(query.len());
        let Some(end) = key_of(query, &mut key) else {
            return;
        };
        if reply.len() < end
            || reply
                .get(12..end)
                .map(|name| name.eq_ignore_ascii_case(&query[12..end]))
                != Some(true)
        {
            return;
        }
        let Some(ttls) = ttl_fields(reply) else {
            return;
        };
        let shortest = ttls.iter().map(|&(_, ttl)| ttl).min().unwrap_or(0);
        if shortest == 0 {
            return;
        }
        if self.map.len() >= self.max_entries {
            // Rendered replies are only a shortcut: dropping them all is always correct.
            self.map.clear();
        }
        self.map.insert(
            key.into_boxed_slice(),
            Rendered {
                bytes: reply.to_vec(),
                ttls,
                rendered_at: now,
                expires: now + std::time::Duration::from_secs(u64::from(shortest)),
            },
        );
    }

    /// Forgets everything (when the cache is cleared).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns_proto::{Message, Name, Question, Rdata, Record, RecordType};
    use std::time::Duration;

    #[test]
    fn replays_with_id_case_and_ttls_patched() {
        let name = Name::parse("gaia.cs.umass.edu.", None).unwrap();
        let query = Message::query(1, Question::new(name.clone(), RecordType::A), true);
        let mut reply = Message::response_to(&query);
        reply.answers.push(Record::new(
            name,
            300,
            Rdata::A("128.119.245.12".parse().unwrap()),
        ));
        let mut answers = RenderedAnswers::new(10);
        let now = Instant::now();
        answers.remember(now, &query.encode(), &reply.encode());
        let shouting = Message::query(
            4711,
            Question::new(
                Name::parse("GAIA.cs.umass.EDU.", None).unwrap(),
                RecordType::A,
            ),
            true,
        );
        let mut key = Vec::new();
        let replayed = answers
            .replay(now + Duration::from_secs(100), &shouting.encode(), &mut key)
            .unwrap();
        let decoded = Message::decode(&replayed).unwrap();
        assert_eq!(decoded.id, 4711);
        assert_eq!(decoded.questions[0].name.to_string(), "GAIA.cs.umass.EDU.");
        assert_eq!(decoded.answers[0].ttl, 200);
        // Another type, other flags: no replay; and nothing after the TTL.
        let aaaa = Message::query(
            2,
            Question::new(
                Name::parse("gaia.cs.umass.edu.", None).unwrap(),
                RecordType::AAAA,
            ),
            true,
        );
        assert!(answers.replay(now, &aaaa.encode(), &mut key).is_none());
        let norec = Message::query(
            2,
            Question::new(
                Name::parse("gaia.cs.umass.edu.", None).unwrap(),
                RecordType::A,
            ),
            false,
        );
        assert!(answers.replay(now, &norec.encode(), &mut key).is_none());
        assert!(answers
            .replay(now + Duration::from_secs(300), &shouting.encode(), &mut key)
            .is_none());
    }

    #[test]
    fn never_panics_on_prefixes_or_garbage() {
        let mut answers = RenderedAnswers::new(4);
        let mut key = Vec::new();
        let now = Instant::now();
        let query = Message::query(
            1,
            Question::new(Name::parse("a.b.", None).unwrap(), RecordType::A),
            true,
        )
        .encode();
        for len in 0..query.len() {
            answers.remember(now, &query[..len], &query[..len]);
            let _ = answers.replay(now, &query[..len], &mut key);
        }
        let _ = ttl_fields(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0]);
    }
}
