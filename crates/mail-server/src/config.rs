//! The mail server's configuration: host name, domains, users, aliases, listeners, relay
//! rules, the next hop's port, retry timing.

use crate::policy::{Network, Policy};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// What a listener serves.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 25: mail from other servers; no AUTH, relaying only for `mynetworks`.
    Smtp,
    /// Port 587 (RFC 6409): mail from users; STARTTLS, then AUTH, required before MAIL.
    Submission,
    /// Port 465 (RFC 8314): submission with TLS from the first byte.
    Submissions,
    /// Port 110 (RFC 1939): POP3 with STLS; USER/PASS only after TLS unless
    /// `pop3_plaintext_login`.
    Pop3,
    /// Port 995 (RFC 8314): POP3 with TLS from the first byte.
    Pop3s,
    /// Port 143 (RFC 3501): IMAP with STARTTLS; LOGIN/AUTHENTICATE only after TLS unless
    /// `imap_plaintext_login`.
    Imap,
    /// Port 993 (RFC 8314): IMAP with TLS from the first byte.
    Imaps,
}

impl ListenerKind {
    /// `smtp`, `submission`, `submissions`.
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Smtp => "smtp",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
            ListenerKind::Pop3 => "pop3",
            ListenerKind::Pop3s => "pop3s",
            ListenerKind::Imap => "imap",
            ListenerKind::Imaps => "imaps",
        }
    }

    /// The standard port.
    pub fn port(self) -> u16 {
        match self {
            ListenerKind::Smtp => 25,
            ListenerKind::Submission => 587,
            ListenerKind::Submissions => 465,
            ListenerKind::Pop3 => 110,
            ListenerKind::Pop3s => 995,
            ListenerKind::Imap => 143,
            ListenerKind::Imaps => 993,
        }
    }
}

/// One listening address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Where.
    pub addr: SocketAddr,
    /// What.
    pub kind: ListenerKind,
}

/// When to try a deferred message again (Postfix's `minimal_backoff_time`,
/// `maximal_backoff_time`, `maximal_queue_lifetime`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The first wait after a temporary failure; each later one doubles it.
    pub min_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// After this long in the queue a message bounces.
    pub lifetime: Duration,
    /// After this long in the queue the sender is told the message is delayed, once
    /// (Postfix's `delay_warning_time`; `None`: never).
    pub delay_warning: Option<Duration>,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            min_backoff: Duration::from_secs(300),
            max_backoff: Duration::from_secs(4000),
            lifetime: Duration::from_secs(5 * 24 * 3600),
            // Postfix ships with it off; 4 hours is what most operators set.
            delay_warning: Some(Duration::from_secs(4 * 3600)),
        }
    }
}

impl Retry {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        (self.min_backoff * factor).min(self.max_backoff)
    }
}

/// Configuration of one mail server.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// Our host name (greeting, EHLO, Received headers, bounces).
    pub hostname: String,
    /// The domains we receive mail for.
    pub domains: Vec<String>,
    /// Users: `bob` (first domain) or `bob@domain`, with passwords.
    pub users: Vec<(String, String)>,
    /// Aliases: address → targets.
    pub aliases: Vec<(String, Vec<String>)>,
    /// Catch-alls: domain → user.
    pub catch_all: Vec<(String, String)>,
    /// Clients that may relay without AUTH (empty: none).
    pub networks: Vec<Network>,
    /// Where the queue (`queue/`) and the mailboxes (`mail/DOMAIN/USER`) live.
    pub data_dir: PathBuf,
    /// Listening addresses.
    pub listeners: Vec<Listener>,
    /// The certificate for STARTTLS and port 465; `None`: no TLS (and AUTH in the clear).
    pub tls: Option<std::sync::Arc<tls::rustls::ServerConfig>>,
    /// TLS to next hops: STARTTLS when they offer it; `None`: plaintext only.
    pub client_tls: Option<std::sync::Arc<tls::rustls::ClientConfig>>,
    /// The DNS server asked for MX and address records.
    pub dns: Option<SocketAddr>,
    /// The port of next hops (25; moved with the world's port offset).
    pub relay_port: u16,
    /// Next hops by domain that bypass DNS (Postfix's `transport_maps`).
    pub routes: Vec<(String, SocketAddr)>,
    /// Connect to next hops from this address (the host's own in the world).
    pub source: Option<IpAddr>,
    /// The largest message accepted.
    pub max_message_size: u64,
    /// Recipients per message.
    pub max_recipients: usize,
    /// SMTP connections one client address may have open at once; more get `421 4.7.0`
    /// (Postfix's smtpd_client_connection_count_limit, 50). `networks` are exempt; 0: no limit.
    pub max_connections_per_client: usize,
    /// Whether VRFY answers (off by default, as `disable_vrfy_command = yes`).
    pub vrfy: bool,
    /// The tarpit: each error reply past `soft_error_limit` in a session waits `error_sleep`
    /// first (Postfix's `smtpd_soft_error_limit` 10 and `smtpd_error_sleep_time` 1s); at 20
    /// errors the session ends (`smtpd_hard_error_limit`).
    pub soft_error_limit: u32,
    /// Accept and queue, but deliver nothing until `mail queue --flush` (Postfix's
    /// `defer_transports`; benchmarks of the accepting side, maintenance of a next hop).
    pub defer_delivery: bool,
    /// Whether POP3's USER/PASS and AUTH work without TLS (a world on loopback; Dovecot's
    /// `disable_plaintext_auth = no`). Off by default.
    pub pop3_plaintext_login: bool,
    /// Whether POP3 offers APOP (RFC 1939 §7: a timestamp in the greeting, the MD5 of it and
    /// the password as the proof). Off by default, as in Dovecot: MD5 is weak.
    pub pop3_apop: bool,
    /// Whether IMAP's LOGIN and AUTHENTICATE work without TLS (a world on loopback). Off by
    /// default (LOGINDISABLED is advertised).
    pub imap_plaintext_login: bool,
    /// IMAP's autologout timer (RFC 3501 §5.4: at least 30 minutes, the default; shorter
    /// for tests).
    pub imap_idle_timeout: std::time::Duration,
    /// DKIM keys: what users submit is signed with the key of its `From` domain.
    pub dkim: Vec<std::sync::Arc<crate::auth::DkimKey>>,
    /// Whether mail from other servers (port 25) has its DKIM signatures and the sender's
    /// SPF policy checked, into an `Authentication-Results` field (OpenDKIM and
    /// policyd-spf beside Postfix). Off by default; asks `dns` (or the system's resolvers).
    pub check_inbound: bool,
    /// See `soft_error_limit`.
    pub error_sleep: std::time::Duration,
    /// How long a failed AUTH waits before its `535` (Dovecot's `auth_failure_delay`, 2s),
    /// so guessing passwords is slow.
    pub auth_failure_delay: std::time::Duration,
    /// Retry timing.
    pub retry: Retry,
}

impl MailConfig {
    /// A server called `hostname` for `domains`, keeping its data under `data_dir`, with SMTP
    /// and submission on 127.0.0.1:2525 and :2587 and no users.
    pub fn new(hostname: &str, domains: &[String], data_dir: PathBuf) -> MailConfig {
        MailConfig {
            hostname: hostname.to_string(),
            domains: domains.to_vec(),
            users: Vec::new(),
            aliases: Vec::new(),
            catch_all: Vec::new(),
            networks: Vec::new(),
            data_dir,
            listeners: vec![
                Listener {
                    addr: SocketAddr::from(([127, 0, 0, 1], 2525)),
                    kind: ListenerKind::Smtp,
                },
                Listener {
                    addr: SocketAddr::from(([127, 0, 0, 1], 2587)),
                    kind: ListenerKind::Submission,
                },
            ],
            tls: None,
            client_tls: None,
            dns: None,
            relay_port: 25,
            routes: Vec::new(),
            source: None,
            max_message_size: 10_240_000,
            max_recipients: 100,
            max_connections_per_client: 50,
            vrfy: false,
            defer_delivery: false,
            pop3_plaintext_login: false,
            pop3_apop: false,
            imap_plaintext_login: false,
            imap_idle_timeout: std::time::Duration::from_secs(30 * 60),
            dkim: Vec::new(),
            check_inbound: false,
            soft_error_limit: 10,
            error_sleep: std::time::Duration::from_secs(1),
            auth_failure_delay: std::time::Duration::from_secs(2),
            retry: Retry::default(),
        }
    }

    /// The policy these settings describe; every bad entry is reported.
    pub fn policy(&self) -> Result<Policy, crate::MailError> {
        if self.domains.is_empty() {
            return Err(crate::MailError::Config(
                "no domain to receive mail for".into(),
            ));
        }
        let mut policy = Policy::new(&self.domains);
        let mut problems = Vec::new();
        for (user, password) in &self.users {
            if let Err(problem) = policy.add_user(user, password) {
                problems.push(problem);
            }
        }
        for (from, to) in &self.aliases {
            if let Err(problem) = policy.add_alias(from, to) {
                problems.push(problem);
            }
        }
        for (domain, user) in &self.catch_all {
            if let Err(problem) = policy.set_catch_all(domain, user) {
                problems.push(problem);
            }
        }
        for network in &self.networks {
            policy.add_network(*network);
        }
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(crate::MailError::Config(problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let retry = Retry::default();
        assert_eq!(retry.backoff(1), Duration::from_secs(300));
        assert_eq!(retry.backoff(2), Duration::from_secs(600));
        assert_eq!(retry.backoff(4), Duration::from_secs(2400));
        assert_eq!(retry.backoff(5), Duration::from_secs(4000));
        assert_eq!(retry.backoff(1000), Duration::from_secs(4000));
    }

    #[test]
    fn bad_entries_are_all_reported() {
        let mut config = MailConfig::new("mx", &["example.org".into()], PathBuf::from("/x"));
        config.users.push(("@".into(), "pw".into()));
        config.catch_all.push(("other.org".into(), "bob".into()));
        let problems = config.policy().unwrap_err().to_string();
        assert!(
            problems.contains("bad address") && problems.contains("other.org"),
            "{problems}"
        );
    }
}
