//! Who may send what to whom: local domains, users, aliases and catch-alls, the relay rule
//! (no open relay), and where each accepted recipient goes (a local mailbox or the next hop).
//! Pure: no I/O, so every rule is a unit test.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// How deep alias expansion goes before it is called a loop (Postfix: 1000 recipients, we
/// bound the depth instead).
const MAX_ALIAS_DEPTH: usize = 8;

/// A local mailbox: a user of one of our domains.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalMailbox {
    /// The domain, lower case.
    pub domain: String,
    /// The local part, lower case, without a `+extension`.
    pub local: String,
}

impl std::fmt::Display for LocalMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Where one accepted recipient goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destinations {
    /// Mailboxes here.
    pub local: Vec<LocalMailbox>,
    /// Addresses elsewhere (relayed, or an alias that forwards).
    pub remote: Vec<String>,
}

/// Why a recipient is refused, with the reply a server gives (RFC 5321 §4.2, RFC 3463).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A local domain with no such user: `550 5.1.1`.
    UnknownUser,
    /// Another domain, and the client may not relay: `554 5.7.1`.
    RelayDenied,
    /// An alias that loops or expands too far: `550 5.4.6`.
    AliasLoop,
}

impl Refusal {
    /// The reply code, enhanced code and text.
    pub fn reply(&self, address: &str) -> (u16, (u8, u16, u16), String) {
        match self {
            Refusal::UnknownUser => (
                550,
                (5, 1, 1),
                format!("<{address}>: Recipient address rejected: User unknown in local recipient table"),
            ),
            Refusal::RelayDenied => (
                554,
                (5, 7, 1),
                format!("<{address}>: Relay access denied"),
            ),
            Refusal::AliasLoop => (
                550,
                (5, 4, 6),
                format!("<{address}>: alias expansion loops"),
            ),
        }
    }
}

/// A network in CIDR notation (`127.0.0.0/8`), for `mynetworks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// The network address.
    pub address: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Network {
    /// Reads `IP/PREFIX` or a bare `IP` (a host).
    pub fn parse(text: &str) -> Option<Network> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
            None => {
                let ip = text.parse::<IpAddr>().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network {
            address: ip,
            prefix,
        })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                masked(u32::from(network).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                masked(network.into(), self.prefix, 128) == masked(ip.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The server's address book and relay rules.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Our domains, lower case.
    domains: Vec<String>,
    /// `user@domain` (lower case) → password, for AUTH and as the list of mailboxes.
    users: BTreeMap<String, String>,
    /// `local@domain` (lower case) → targets (a user here, or any address).
    aliases: BTreeMap<String, Vec<String>>,
    /// Domain → the user that gets mail for unknown local parts.
    catch_all: BTreeMap<String, String>,
    /// Clients that may relay without authenticating (Postfix's `mynetworks`; empty by
    /// default, so that nobody relays without AUTH).
    networks: Vec<Network>,
}

fn split(address: &str) -> Option<(String, String)> {
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    // Postfix's recipient_delimiter: bob+lists@ is bob@.
    let local = local.split('+').next().unwrap_or(local);
    Some((local.to_ascii_lowercase(), domain.to_ascii_lowercase()))
}

/// Whether two secrets are equal, compared without an early exit, so the time taken does not
/// tell how much of a guess matched.
fn same_secret(ours: &str, theirs: &str) -> bool {
    ours.len() == theirs.len()
        && ours
            .bytes()
            .zip(theirs.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl Policy {
    /// A policy for `domains`, with no users yet.
    pub fn new(domains: &[String]) -> Policy {
        Policy {
            domains: domains
                .iter()
                .map(|domain| domain.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            ..Policy::default()
        }
    }

    /// Adds a user (`bob` of the first domain, or `bob@hamburger.edu`) with a password.
    pub fn add_user(&mut self, name: &str, password: &str) -> Result<(), String> {
        let address = self.qualify(name)?;
        self.users.insert(address, password.to_string());
        Ok(())
    }

    /// Adds an alias: mail for `from` goes to each of `to` (users here or any address).
    pub fn add_alias(&mut self, from: &str, to: &[String]) -> Result<(), String> {
        let address = self.qualify(from)?;
        let targets = to
            .iter()
            .map(|target| self.qualify(target))
            .collect::<Result<Vec<_>, _>>()?;
        self.aliases.insert(address, targets);
        Ok(())
    }

    /// Mail for unknown local parts of `domain` goes to `user`.
    pub fn set_catch_all(&mut self, domain: &str, user: &str) -> Result<(), String> {
        let domain = domain.to_ascii_lowercase();
        if !self.is_local_domain(&domain) {
            return Err(format!("{domain} is not one of our domains"));
        }
        self.catch_all.insert(domain, user.to_ascii_lowercase());
        Ok(())
    }

    /// Lets clients in `network` relay without authenticating.
    pub fn add_network(&mut self, network: Network) {
        self.networks.push(network);
    }

    /// `bob` → `bob@first-domain`; `bob@x` as is (lower case): the user's canonical name.
    pub fn qualify(&self, name: &str) -> Result<String, String> {
        if name.contains('@') {
            let (local, domain) = split(name).ok_or_else(|| format!("bad address {name:?}"))?;
            return Ok(format!("{local}@{domain}"));
        }
        let domain = self
            .domains
            .first()
            .ok_or_else(|| format!("{name}: no domain to put it in"))?;
        if name.is_empty() {
            return Err("empty user name".into());
        }
        Ok(format!("{}@{domain}", name.to_ascii_lowercase()))
    }

    /// Our domains.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// Whether `domain` is ours.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.');
        self.domains
            .iter()
            .any(|ours| ours.eq_ignore_ascii_case(domain))
    }

    /// Checks AUTH credentials: the user as `bob@domain` or `bob` (first domain).
    pub fn authenticate(&self, user: &str, password: &str) -> Option<String> {
        let address = self.qualify(user).ok()?;
        let stored = self.users.get(&address)?;
        same_secret(stored, password).then_some(address)
    }

    /// The user's address when `digest` is the MD5 of `banner` followed by their password,
    /// in hex (POP3 APOP, RFC 1939 §7).
    pub fn authenticate_apop(&self, user: &str, banner: &str, digest: &str) -> Option<String> {
        use md5::Digest;
        let address = self.qualify(user).ok()?;
        let stored = self.users.get(&address)?;
        let mut hasher = md5::Md5::new();
        hasher.update(banner.as_bytes());
        hasher.update(stored.as_bytes());
        let expected: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        same_secret(&expected, &digest.to_ascii_lowercase()).then_some(address)
    }

    /// Whether a client may relay: authenticated, or from one of `mynetworks`.
    pub fn may_relay(&self, peer: IpAddr, authenticated: bool) -> bool {
        authenticated || self.networks.iter().any(|network| network.contains(peer))
    }

    /// Whether an authenticated user may use `sender` as the reverse path (Postfix's
    /// `reject_sender_login_mismatch`): their own address, an alias that reaches them, or the
    /// null sender.
    pub fn may_send_as(&self, user: &str, sender: &str) -> bool {
        if sender.is_empty() {
            return true;
        }
        let Some((local, domain)) = split(sender) else {
            return false;
        };
        let address = format!("{local}@{domain}");
        if address == user {
            return true;
        }
        matches!(self.expand(&address, 0), Ok(destinations) if destinations.local.iter().any(|mailbox| mailbox.to_string() == user))
    }

    /// Decides a recipient (RFC 5321 §3.3 RCPT) and says where it goes.
    pub fn recipient(
        &self,
        address: &str,
        peer: IpAddr,
        authenticated: bool,
    ) -> Result<Destinations, Refusal> {
        let Some((local, domain)) = split(address) else {
            return Err(Refusal::UnknownUser);
        };
        if !self.is_local_domain(&domain) {
            if self.may_relay(peer, authenticated) {
                return Ok(Destinations {
                    local: Vec::new(),
                    remote: vec![address.to_string()],
                });
            }
            return Err(Refusal::RelayDenied);
        }
        self.expand(&format!("{local}@{domain}"), 0)
    }

    /// Expands a local address through aliases, users and catch-alls.
    fn expand(&self, address: &str, depth: usize) -> Result<Destinations, Refusal> {
        if depth > MAX_ALIAS_DEPTH {
            return Err(Refusal::AliasLoop);
        }
        let Some((local, domain)) = split(address) else {
            return Err(Refusal::UnknownUser);
        };
        let key = format!("{local}@{domain}");
        if !self.is_local_domain(&domain) {
            return Ok(Destinations {
                local: Vec::new(),
                remote: vec![address.to_string()],
            });
        }
        if let Some(targets) = self.aliases.get(&key) {
            let mut out = Destinations::default();
            for target in targets {
                // An alias naming itself delivers to the mailbox of that name (`bob: bob,
                // archive`), as Postfix's aliases(5) does.
                if target == &key {
                    out.local.push(LocalMailbox {
                        domain: domain.clone(),
                        local: local.clone(),
                    });
                    continue;
                }
                let more = self.expand(target, depth + 1)?;
                out.local.extend(more.local);
                out.remote.extend(more.remote);
            }
            out.local.sort();
            out.local.dedup();
            out.remote.dedup();
            return Ok(out);
        }
        if self.users.contains_key(&key) || local == "postmaster" {
            // RFC 5321 §4.5.1: every domain accepts mail for its postmaster.
            return Ok(Destinations {
                local: vec![LocalMailbox { domain, local }],
                remote: Vec::new(),
            });
        }
        if let Some(user) = self.catch_all.get(&domain) {
            return self.expand(&format!("{user}@{domain}"), depth + 1);
        }
        Err(Refusal::UnknownUser)
    }

    /// Every mailbox of our users (for creating them at start-up).
    pub fn mailboxes(&self) -> Vec<LocalMailbox> {
        self.users
            .keys()
            .filter_map(|address| split(address))
            .map(|(local, domain)| LocalMailbox { domain, local })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut policy = Policy::new(&["hamburger.edu".into(), "Burgers.example".into()]);
        policy.add_user("bob", "secret").unwrap();
        policy.add_user("carol@burgers.example", "pw").unwrap();
        policy
            .add_alias("info", &["bob".into(), "carol@burgers.example".into()])
            .unwrap();
        policy
            .add_alias("fwd", &["someone@elsewhere.org".into()])
            .unwrap();
        policy.add_alias("loop1", &["loop2".into()]).unwrap();
        policy.add_alias("loop2", &["loop1".into()]).unwrap();
        policy
    }

    fn local(text: &str) -> LocalMailbox {
        let (local, domain) = text.split_once('@').unwrap();
        LocalMailbox {
            domain: domain.into(),
            local: local.into(),
        }
    }

    const OUTSIDE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 6, 10));

    #[test]
    fn local_users_aliases_and_postmaster() {
        let policy = policy();
        let bob = policy
            .recipient("Bob@HAMBURGER.edu", OUTSIDE, false)
            .unwrap();
        assert_eq!(bob.local, [local("bob@hamburger.edu")]);
        let tagged = policy
            .recipient("bob+lists@hamburger.edu", OUTSIDE, false)
            .unwrap();
        assert_eq!(tagged.local, [local("bob@hamburger.edu")]);
        let info = policy
            .recipient("info@hamburger.edu", OUTSIDE, false)
            .unwrap();
        assert_eq!(
            info.local,
            [local("carol@burgers.example"), local("bob@hamburger.edu")]
        );
        let forward = policy
            .recipient("fwd@hamburger.edu", OUTSIDE, false)
            .unwrap();
        assert_eq!(forward.remote, ["someone@elsewhere.org"]);
        let postmaster = policy
            .recipient("postmaster@burgers.example", OUTSIDE, false)
            .unwrap();
        assert_eq!(postmaster.local, [local("postmaster@burgers.example")]);
        assert_eq!(
            policy.recipient("nobody@hamburger.edu", OUTSIDE, false),
            Err(Refusal::UnknownUser)
        );
        assert_eq!(
            policy.recipient("loop1@hamburger.edu", OUTSIDE, false),
            Err(Refusal::AliasLoop)
        );
    }

    #[test]
    fn catch_all_takes_unknown_local_parts() {
        let mut policy = policy();
        policy.set_catch_all("hamburger.edu", "bob").unwrap();
        let anyone = policy
            .recipient("whoever@hamburger.edu", OUTSIDE, false)
            .unwrap();
        assert_eq!(anyone.local, [local("bob@hamburger.edu")]);
        assert!(policy.set_catch_all("elsewhere.org", "bob").is_err());
    }

    #[test]
    fn no_open_relay() {
        let mut policy = policy();
        assert_eq!(
            policy.recipient("bob@crepes.fr", OUTSIDE, false),
            Err(Refusal::RelayDenied)
        );
        let relayed = policy.recipient("bob@crepes.fr", OUTSIDE, true).unwrap();
        assert_eq!(relayed.remote, ["bob@crepes.fr"]);
        policy.add_network(Network::parse("127.0.6.0/24").unwrap());
        assert!(policy.recipient("bob@crepes.fr", OUTSIDE, false).is_ok());
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 7, 1));
        assert_eq!(
            policy.recipient("bob@crepes.fr", other, false),
            Err(Refusal::RelayDenied)
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Network::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Network::parse("1.2.3.4/33").is_none());
        assert!(Network::parse("nonsense").is_none());
    }

    #[test]
    fn authentication_and_sender_checks() {
        let policy = policy();
        assert_eq!(
            policy.authenticate("bob", "secret").as_deref(),
            Some("bob@hamburger.edu")
        );
        assert_eq!(
            policy
                .authenticate("BOB@hamburger.edu", "secret")
                .as_deref(),
            Some("bob@hamburger.edu")
        );
        assert!(policy.authenticate("bob", "Secret").is_none());
        assert!(policy.authenticate("bob", "secret2").is_none());
        assert!(policy.authenticate("mallory", "secret").is_none());
        assert!(policy.may_send_as("bob@hamburger.edu", "bob@hamburger.edu"));
        assert!(policy.may_send_as("bob@hamburger.edu", "info@hamburger.edu"));
        assert!(policy.may_send_as("bob@hamburger.edu", ""));
        assert!(!policy.may_send_as("bob@hamburger.edu", "carol@burgers.example"));
    }
}
