//! Consistent hashing for a cluster of caches (sans-IO): which member owns a URL path.
//!
//! Each member is placed on a 64-bit ring at [`POINTS_PER_MEMBER`] points (virtual nodes,
//! as ketama and Apache Traffic Server's `consistent_hash` parent selection do); a key
//! belongs to the first point at or after its own hash, wrapping around. Adding a member
//! takes over about 1/N of the keys, all from the others; removing one hands only its own
//! keys to the rest. The hash is FNV-1a 64 followed by a 64-bit finaliser (FNV alone spreads
//! near-identical names such as `10.0.0.1:80#1`, `#2`, … poorly in the high bits), so every
//! member, and `applayer cdn push`, computes the same ring from the same member names.

/// Virtual nodes per member: enough that three members' shares stay within a few percent.
pub const POINTS_PER_MEMBER: u32 = 160;

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The MurmurHash3 64-bit finaliser: every input bit affects every output bit.
fn mix(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    hash
}

/// The ring position of a key (a URL path with its query).
pub fn key_hash(key: &str) -> u64 {
    mix(fnv1a(key.as_bytes()))
}

/// The ring position of a member's `point`-th virtual node.
fn point_hash(member: &str, point: u32) -> u64 {
    let mut bytes = Vec::with_capacity(member.len() + 11);
    bytes.extend_from_slice(member.as_bytes());
    bytes.push(b'#');
    bytes.extend_from_slice(point.to_string().as_bytes());
    mix(fnv1a(&bytes))
}

/// A hash ring over members named by strings (the cluster uses `ip:port`).
#[derive(Clone, Debug, Default)]
pub struct HashRing {
    /// Members, sorted and unique.
    members: Vec<String>,
    /// (position, index into `members`), sorted by position then member name, so that the
    /// rare equal positions resolve the same way whatever order members were added in.
    points: Vec<(u64, usize)>,
}

impl HashRing {
    /// A ring over `members` (order and duplicates do not matter).
    pub fn new<I, S>(members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut names: Vec<String> = members.into_iter().map(Into::into).collect();
        names.sort();
        names.dedup();
        let mut points = Vec::with_capacity(names.len() * POINTS_PER_MEMBER as usize);
        for (index, name) in names.iter().enumerate() {
            for point in 0..POINTS_PER_MEMBER {
                points.push((point_hash(name, point), index));
            }
        }
        points.sort_unstable();
        HashRing {
            members: names,
            points,
        }
    }

    /// The members, sorted.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Whether the ring has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member owning `key`, or `None` on an empty ring.
    pub fn owner(&self, key: &str) -> Option<&str> {
        let hash = key_hash(key);
        let at = self
            .points
            .partition_point(|(position, _)| *position < hash);
        let (_, index) = self.points.get(at).or_else(|| self.points.first())?;
        Some(&self.members[*index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn keys() -> Vec<String> {
        (0..20_000)
            .map(|n| format!("/video/{}/seg-{n}.m4s", n % 37))
            .collect()
    }

    fn owners(ring: &HashRing, keys: &[String]) -> Vec<String> {
        keys.iter()
            .map(|key| ring.owner(key).unwrap().to_string())
            .collect()
    }

    #[test]
    fn fnv1a_vectors() {
        // The FNV reference vectors (draft-eastlake-fnv).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn empty_and_single_rings() {
        assert_eq!(HashRing::new(Vec::<String>::new()).owner("/x"), None);
        let ring = HashRing::new(["127.0.0.1:8080"]);
        assert_eq!(ring.owner("/x"), Some("127.0.0.1:8080"));
    }

    #[test]
    fn order_and_duplicates_do_not_change_owners() {
        let keys = keys();
        let one = HashRing::new(["a:1", "b:1", "c:1"]);
        let two = HashRing::new(["c:1", "a:1", "b:1", "a:1"]);
        assert_eq!(owners(&one, &keys), owners(&two, &keys));
        assert_eq!(two.members(), ["a:1", "b:1", "c:1"]);
    }

    #[test]
    fn shares_are_balanced() {
        let keys = keys();
        let ring = HashRing::new(["127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080"]);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for owner in owners(&ring, &keys) {
            *counts.entry(owner).or_default() += 1;
        }
        assert_eq!(counts.len(), 3);
        for (member, count) in counts {
            let share = count as f64 / keys.len() as f64;
            assert!((0.25..0.42).contains(&share), "{member}: {share}");
        }
    }

    #[test]
    fn adding_a_member_moves_about_one_in_n_keys_and_only_to_it() {
        let keys = keys();
        let three = HashRing::new(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
        let four = HashRing::new(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"]);
        let before = owners(&three, &keys);
        let after = owners(&four, &keys);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                moved += 1;
                assert_eq!(new, "10.0.0.4:80", "a key moved between old members");
            }
        }
        let fraction = moved as f64 / keys.len() as f64;
        assert!((0.18..0.32).contains(&fraction), "moved {fraction}");
    }

    #[test]
    fn removing_a_member_moves_only_its_keys() {
        let keys = keys();
        let four = HashRing::new(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"]);
        let three = HashRing::new(["10.0.0.1:80", "10.0.0.3:80", "10.0.0.4:80"]);
        let before = owners(&four, &keys);
        let after = owners(&three, &keys);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                moved += 1;
                assert_eq!(old, "10.0.0.2:80", "a key of a remaining member moved");
            }
        }
        let fraction = moved as f64 / keys.len() as f64;
        assert!((0.18..0.32).contains(&fraction), "moved {fraction}");
    }
}
