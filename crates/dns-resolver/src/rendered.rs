//! Rendered answers: the encoded reply to a query shape answered from the cache, replayed for
//! the next identical query with only its ID, question case and TTLs patched (Unbound's
//! message cache does the same). This is the cache-hit fast path. Multi-record RRsets in the
//! answer are rotated from replay to replay (round robin, as the full path does).

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
    /// The answer's multi-record RRsets, rotated on each replay (empty for most replies).
    groups: Vec<Group>,
    /// Replays so far, plus one (the rendered reply itself was an answer): the rotation.
    turn: u32,
}

/// A run of equal-length records of one RRset in a rendered reply, rotatable as bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Group {
    /// Offset of the first record.
    start: usize,
    /// Length of each record, owner name included.
    len: usize,
    /// Number of records (two or more).
    count: usize,
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

/// The multi-record RRsets of the answer section of a well-formed encoded reply, as groups of
/// records whose bytes can be rotated without breaking anything; `None` when an RRset of
/// several records cannot be (its replays would then never rotate, so it is not rendered).
/// Rotatable: the owner is a compression pointer in every record (so no later name points
/// into the run), the RDATA holds no names (A, AAAA, TXT), and every record has the same
/// length and TTL.
fn rotatable_groups(msg: &[u8]) -> Option<Vec<Group>> {
    let count = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *msg.get(at)?,
            *msg.get(at + 1)?,
        ])))
    };
    let mut pos = 12;
    for _ in 0..count(4)? {
        pos = skip_name(msg, pos)? + 4;
    }
    // (start, owner end, type, ttl, record length) of each answer record.
    let mut records = Vec::new();
    for _ in 0..count(6)? {
        let start = pos;
        let owner_end = skip_name(msg, pos)?;
        let fixed = msg.get(owner_end..owner_end + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        pos = owner_end + 10 + rdlength;
        records.push((start, owner_end, rtype, ttl, pos - start));
    }
    let mut groups = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let (start, owner_end, rtype, _, _) = records[at];
        let owner = msg.get(start..owner_end)?;
        let run = records[at..]
            .iter()
            .take_while(|&&(s, e, t, _, _)| t == rtype && msg.get(s..e) == Some(owner))
            .count();
        if run > 1 {
            let (_, _, _, ttl, len) = records[at];
            let rotatable = owner.len() == 2
                && owner[0] >= 0xC0
                && matches!(rtype, 1 | 16 | 28)
                && records[at..at + run]
                    .iter()
                    .all(|&(_, _, _, t, l)| t == ttl && l == len);
            if !rotatable {
                return None;
            }
            groups.push(Group {
                start,
                len,
                count: run,
            });
        }
        at += run;
    }
    Some(groups)
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
        let rendered = self.map.get_mut(key.as_slice())?;
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
        if !rendered.groups.is_empty() {
            let turn = usize::try_from(rendered.turn).unwrap_or(0);
            rendered.turn = rendered.turn.wrapping_add(1);
            for group in &rendered.groups {
                let run = &mut reply[group.start..group.start + group.len * group.count];
                run.rotate_left(turn % group.count * group.len);
            }
        }
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
        let Some(groups) = rotatable_groups(reply) else {
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
                groups,
                turn: 1,
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
    fn replays_rotate_multi_record_rrsets() {
        let name = Name::parse("www.cnn.com.", None).unwrap();
        let target = Name::parse("cnn.com.", None).unwrap();
        let query = Message::query(1, Question::new(name.clone(), RecordType::A), true);
        let mut reply = Message::response_to(&query);
        reply
            .answers
            .push(Record::new(name, 600, Rdata::Cname(target.clone())));
        for last in 1..=3 {
            reply.answers.push(Record::new(
                target.clone(),
                300,
                Rdata::A(std::net::Ipv4Addr::new(157, 166, 226, last)),
            ));
        }
        let mut answers = RenderedAnswers::new(10);
        let now = Instant::now();
        answers.remember(now, &query.encode(), &reply.encode());
        let mut key = Vec::new();
        let mut firsts = Vec::new();
        for turn in 1..=4u16 {
            let again = Message::query(turn, query.questions[0].clone(), true);
            let bytes = answers
                .replay(now + Duration::from_secs(5), &again.encode(), &mut key)
                .unwrap();
            let decoded = Message::decode(&bytes).unwrap();
            assert_eq!(decoded.answers.len(), 4);
            assert_eq!(decoded.answers[0].rdata, reply.answers[0].rdata);
            assert_eq!(decoded.answers[0].ttl, 595);
            let mut rest: Vec<_> = decoded.answers[1..].to_vec();
            firsts.push(rest[0].rdata.clone());
            assert!(rest
                .iter()
                .all(|record| record.ttl == 295 && record.name == target));
            rest.sort_by_key(|record| format!("{}", record.rdata));
            assert_eq!(rest, {
                let mut want: Vec<_> = reply.answers[1..].to_vec();
                want.iter_mut().for_each(|record| record.ttl = 295);
                want
            });
        }
        // The remembered reply started with .1; its replays start with .2, .3, .1, .2.
        let want: Vec<_> = [2, 3, 1, 2]
            .iter()
            .map(|&last| Rdata::A(std::net::Ipv4Addr::new(157, 166, 226, last)))
            .collect();
        assert_eq!(firsts, want);
    }

    #[test]
    fn unrotatable_rrsets_are_not_rendered() {
        let name = Name::parse("cnn.com.", None).unwrap();
        let query = Message::query(1, Question::new(name.clone(), RecordType::NS), true);
        let mut reply = Message::response_to(&query);
        for server in ["ns1.cnn.com.", "ns2.cnn.com."] {
            reply.answers.push(Record::new(
                name.clone(),
                300,
                Rdata::Ns(Name::parse(server, None).unwrap()),
            ));
        }
        let mut answers = RenderedAnswers::new(10);
        let now = Instant::now();
        answers.remember(now, &query.encode(), &reply.encode());
        let mut key = Vec::new();
        assert!(answers.replay(now, &query.encode(), &mut key).is_none());
        // A single NS record is fine.
        reply.answers.pop();
        answers.remember(now, &query.encode(), &reply.encode());
        assert!(answers.replay(now, &query.encode(), &mut key).is_some());
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
            let _ = rotatable_groups(&query[..len]);
        }
        let _ = ttl_fields(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0]);
    }
}
