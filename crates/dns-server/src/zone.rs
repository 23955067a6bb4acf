//! An in-memory authoritative zone: records indexed by owner, delegations, empty non-terminals.

use dns_proto::zone::{self, Location, ZoneErrors};
use dns_proto::{Class, Name, Rdata, Record, RecordType, Soa};
use std::collections::{HashMap, HashSet};

/// The records of one owner name, those of one type contiguous (an RRset is a slice), file
/// order kept within a type. One flat `Vec` per name: a big zone is mostly single-record
/// names, and a `Vec` of `Vec`s would cost a second allocation for each.
#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    records: Vec<Record>,
}

impl Node {
    /// The RRset of `rtype`, if the name has one.
    pub(crate) fn rrset(&self, rtype: RecordType) -> Option<&[Record]> {
        let start = self.records.iter().position(|r| r.rtype() == rtype)?;
        let len = self.records[start..]
            .iter()
            .take_while(|r| r.rtype() == rtype)
            .count();
        Some(&self.records[start..start + len])
    }

    /// Every RRset of the name.
    pub(crate) fn rrsets(&self) -> impl Iterator<Item = &[Record]> {
        self.records.chunk_by(|a, b| a.rtype() == b.rtype())
    }

    fn rrset_mut(&mut self, rtype: RecordType) -> Option<&mut [Record]> {
        let start = self.records.iter().position(|r| r.rtype() == rtype)?;
        let len = self.records[start..]
            .iter()
            .take_while(|r| r.rtype() == rtype)
            .count();
        Some(&mut self.records[start..start + len])
    }

    /// Adds a record next to those of its type; false for a duplicate.
    fn insert(&mut self, record: Record) -> bool {
        let rtype = record.rtype();
        match self.records.iter().rposition(|r| r.rtype() == rtype) {
            Some(last) => {
                let first = self.records[..=last]
                    .iter()
                    .rposition(|r| r.rtype() != rtype)
                    .map_or(0, |i| i + 1);
                if self.records[first..=last]
                    .iter()
                    .any(|r| r.rdata == record.rdata)
                {
                    return false;
                }
                self.records.insert(last + 1, record);
            }
            None => {
                if self.records.is_empty() {
                    // Exactly one slot: most names keep a single record.
                    self.records.reserve_exact(1);
                }
                self.records.push(record);
            }
        }
        true
    }
}

/// A zone held in memory: the unit a server is authoritative for.
///
/// Built from master-file text ([`Zone::parse_str`]) or from records ([`Zone::from_records`]);
/// both run the zone checks (one SOA at the apex, all names inside, CNAME exclusivity).
#[derive(Clone, Debug)]
pub struct Zone {
    origin: Name,
    class: Class,
    nodes: HashMap<Name, Node>,
    /// Names that exist only because something exists below them (RFC 4592 §2.2.2).
    empty_non_terminals: HashSet<Name>,
    /// Owners of NS RRsets below the apex (zone cuts), keyed by their lower-case wire form
    /// so that a query name's suffixes can be looked up without allocating.
    cuts: HashMap<Vec<u8>, Name>,
    /// How many records the zone holds.
    record_count: usize,
}

impl Zone {
    /// Parses master-file text. `origin` is the zone's apex; `filename` names the text in
    /// error messages. `$INCLUDE` is refused (there is no file system here); use
    /// [`Zone::parse_with_includes`] to allow it.
    pub fn parse_str(text: &str, origin: &Name, filename: &str) -> Result<Zone, ZoneErrors> {
        Zone::parse_with_includes(text, origin, filename, &mut zone::no_includes)
    }

    /// Parses master-file text, reading `$INCLUDE` files through `include`.
    pub fn parse_with_includes(
        text: &str,
        origin: &Name,
        filename: &str,
        include: &mut zone::IncludeLoader<'_>,
    ) -> Result<Zone, ZoneErrors> {
        let entries = zone::parse_records(text, Some(origin), filename, include)?;
        Zone::from_entries(origin, entries, filename)
    }

    /// Builds a zone from records (for example received by AXFR).
    pub fn from_records(origin: &Name, records: Vec<Record>) -> Result<Zone, ZoneErrors> {
        let location = Location {
            file: "(records)".into(),
            line: 0,
        };
        let entries = records
            .into_iter()
            .map(|record| (record, location.clone()))
            .collect();
        Zone::from_entries(origin, entries, "(records)")
    }

    fn from_entries(
        origin: &Name,
        entries: Vec<(Record, Location)>,
        filename: &str,
    ) -> Result<Zone, ZoneErrors> {
        let data = zone::check_zone(origin, entries, filename)?;
        let class = data.records[0].class;
        let mut zone = Zone {
            origin: data.origin,
            class,
            nodes: HashMap::with_capacity(data.records.len()),
            empty_non_terminals: HashSet::new(),
            cuts: HashMap::new(),
            record_count: 0,
        };
        for record in data.records {
            zone.insert(record);
        }
        Ok(zone)
    }

    /// The apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The zone's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The SOA record.
    pub fn soa_record(&self) -> &Record {
        // Invariant: every constructor checks there is exactly one SOA at the apex, and
        // updates never delete it.
        &self.nodes[&self.origin]
            .rrset(RecordType::SOA)
            .expect("a zone always has its SOA")[0]
    }

    /// The SOA data.
    pub fn soa(&self) -> &Soa {
        match &self.soa_record().rdata {
            Rdata::Soa(soa) => soa,
            _ => unreachable!("the SOA RRset holds SOA data"),
        }
    }

    /// The serial number.
    pub fn serial(&self) -> u32 {
        self.soa().serial
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.record_count
    }

    /// Whether the zone holds no records (never true: there is always a SOA).
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// All records, the SOA first (the order of an AXFR and of a written zone file).
    pub fn records(&self) -> Vec<Record> {
        let mut records = vec![self.soa_record().clone()];
        let mut names: Vec<&Name> = self.nodes.keys().collect();
        names.sort();
        for name in names {
            for rrset in self.nodes[name].rrsets() {
                for record in rrset {
                    if record.rtype() != RecordType::SOA {
                        records.push(record.clone());
                    }
                }
            }
        }
        records
    }

    /// The zone as master-file text.
    pub fn to_text(&self) -> String {
        let mut text = format!("; zone {} serial {}\n", self.origin, self.serial());
        text.push_str(&zone::to_text(&self.origin, &self.records()));
        text
    }

    pub(crate) fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Whether `name` exists in the zone (has records or is an empty non-terminal).
    pub(crate) fn name_exists(&self, name: &Name) -> bool {
        self.nodes.contains_key(name) || self.empty_non_terminals.contains(name)
    }

    /// The zone cut at or above `name` (below the apex), highest first, if any.
    pub(crate) fn find_cut(&self, name: &Name) -> Option<&Name> {
        if self.cuts.is_empty() || !name.is_subdomain_of(&self.origin) {
            return None;
        }
        let wire = name.as_wire();
        let mut lower = [0u8; dns_proto::MAX_NAME_LEN];
        let lower = &mut lower[..wire.len()];
        for (low, byte) in lower.iter_mut().zip(wire) {
            *low = byte.to_ascii_lowercase();
        }
        // Label start offsets of `name`; the ones before the origin's suffix are ancestors
        // below the apex, checked from the top down.
        let mut starts = [0usize; 128];
        let mut count = 0;
        let mut pos = 0;
        while wire[pos] != 0 {
            starts[count] = pos;
            count += 1;
            pos += 1 + wire[pos] as usize;
        }
        let below_apex = count - self.origin.label_count();
        starts[..below_apex]
            .iter()
            .rev()
            .find_map(|&start| self.cuts.get(&lower[start..]))
    }

    /// Adds a record (duplicates are ignored, RFC 2181 §5). Returns whether it was added.
    pub(crate) fn insert(&mut self, record: Record) -> bool {
        let name = record.name.clone();
        let rtype = record.rtype();
        let node = self.nodes.entry(name.clone()).or_default();
        if !node.insert(record) {
            return false;
        }
        self.record_count += 1;
        if !self.empty_non_terminals.is_empty() {
            self.empty_non_terminals.remove(&name);
        }
        if rtype == RecordType::NS && name != self.origin {
            self.cuts
                .insert(name.to_lowercase().as_wire().to_vec(), name.clone());
        }
        // Names directly below the apex (most of a big zone) have no ancestors to mark.
        if name.label_count() <= self.origin.label_count() + 1 {
            return true;
        }
        let mut current = name.parent();
        while let Some(parent) = current {
            if !parent.is_subdomain_of(&self.origin) || parent == self.origin {
                break;
            }
            if !self.nodes.contains_key(&parent) {
                self.empty_non_terminals.insert(parent.clone());
            }
            current = parent.parent();
        }
        true
    }

    /// Removes the records at `name` of type `rtype` (all types for `None`) whose data match
    /// `rdata` (all for `None`). Returns how many were removed.
    pub(crate) fn remove(
        &mut self,
        name: &Name,
        rtype: Option<RecordType>,
        rdata: Option<&Rdata>,
    ) -> usize {
        let Some(node) = self.nodes.get_mut(name) else {
            return 0;
        };
        let before = node.records.len();
        node.records.retain(|record| {
            let type_matches = rtype.is_none_or(|t| record.rtype() == t);
            let data_matches = rdata.is_none_or(|d| &record.rdata == d);
            !(type_matches && data_matches)
        });
        let removed = before - node.records.len();
        self.record_count -= removed;
        if node.rrset(RecordType::NS).is_none() {
            self.cuts.remove(name.to_lowercase().as_wire());
        }
        if node.records.is_empty() {
            self.nodes.remove(name);
            self.rebuild_empty_non_terminals();
        }
        removed
    }

    /// Replaces the SOA record (UPDATE of the SOA, serial bumps).
    pub(crate) fn set_soa(&mut self, soa: Soa, ttl: Option<u32>) {
        let origin = self.origin.clone();
        if let Some(rrset) = self
            .nodes
            .get_mut(&origin)
            .and_then(|node| node.rrset_mut(RecordType::SOA))
        {
            if let Some(record) = rrset.first_mut() {
                record.rdata = Rdata::Soa(Box::new(soa));
                if let Some(ttl) = ttl {
                    record.ttl = ttl;
                }
            }
        }
    }

    fn rebuild_empty_non_terminals(&mut self) {
        self.empty_non_terminals.clear();
        let names: Vec<Name> = self.nodes.keys().cloned().collect();
        for name in names {
            let mut current = name.parent();
            while let Some(parent) = current {
                if !parent.is_subdomain_of(&self.origin) || parent == self.origin {
                    break;
                }
                if !self.nodes.contains_key(&parent) {
                    self.empty_non_terminals.insert(parent.clone());
                }
                current = parent.parent();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = "$TTL 3600
@ SOA ns1 admin 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
a.b.c A 192.0.2.2
sub NS ns.sub
ns.sub A 192.0.2.53
";

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    #[test]
    fn indexes_names_cuts_and_empty_non_terminals() {
        let mut zone = Zone::parse_str(EXAMPLE, &name("example.com"), "t").unwrap();
        assert_eq!(zone.len(), 6);
        assert!(zone.name_exists(&name("b.c.example.com")));
        assert!(zone.name_exists(&name("c.example.com")));
        assert!(!zone.name_exists(&name("x.example.com")));
        assert_eq!(
            zone.find_cut(&name("deep.ns.sub.example.com")),
            Some(&name("sub.example.com"))
        );
        assert_eq!(zone.find_cut(&name("a.b.c.example.com")), None);
        assert_eq!(zone.records()[0].rtype(), RecordType::SOA);
        assert_eq!(zone.remove(&name("a.b.c.example.com"), None, None), 1);
        assert!(!zone.name_exists(&name("c.example.com")));
        assert_eq!(zone.len(), 5);
        let again = Zone::parse_str(&zone.to_text(), &name("example.com"), "t").unwrap();
        assert_eq!(again.records(), zone.records());
    }

    #[test]
    fn rrsets_stay_contiguous_and_deduplicated() {
        let text = "$TTL 60\n@ SOA ns admin 1 2 3 4 5\nw A 192.0.2.1\nw MX 10 w\nw A 192.0.2.2\nw A 192.0.2.1\nw TXT x\nw MX 20 w\n";
        let zone = Zone::parse_str(text, &name("example.com"), "t").unwrap();
        let node = zone.node(&name("w.example.com")).unwrap();
        let a: Vec<String> = node
            .rrset(RecordType::A)
            .unwrap()
            .iter()
            .map(|r| r.rdata.to_string())
            .collect();
        assert_eq!(a, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(node.rrset(RecordType::MX).unwrap().len(), 2);
        assert_eq!(node.rrsets().count(), 3);
        assert_eq!(zone.len(), 6);
    }

    #[test]
    fn refuses_zone_without_soa() {
        let error = Zone::parse_str("$TTL 1\nwww A 192.0.2.1\n", &name("example.com"), "f.zone")
            .unwrap_err();
        assert!(error.to_string().contains("no SOA"));
    }
}
