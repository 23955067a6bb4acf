//! Message authentication: DKIM signatures on what our users submit (RFC 6376, with RSA-SHA256
//! or the Ed25519-SHA256 of RFC 8463), and on mail from other servers the DKIM and SPF
//! (RFC 7208) checks, written into one `Authentication-Results` field (RFC 8601). The
//! `mail-auth` crate does the cryptography and the record logic; this module loads and makes
//! keys, decides what is signed and checked, and writes the fields.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DkimResult, MessageAuthenticator};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tls::rustls::pki_types::pem::PemObject;
use tls::rustls::pki_types::PrivateKeyDer;

/// The header fields a signature covers (RFC 6376 §5.4.1's list, as OpenDKIM signs), when
/// the message has them.
const SIGNED_FIELDS: [&str; 13] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
];

/// How long the checks of one message may take before they are given up as `temperror`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

enum Signer {
    Ed25519(DkimSigner<Ed25519Key, Done>),
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
}

/// A DKIM signing key for one domain and selector.
pub struct DkimKey {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`): the key's record is at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The `p=` value of the key's DNS record.
    public: String,
    /// `ed25519` or `rsa`.
    algorithm: &'static str,
    signer: Signer,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn signer<T: mail_auth::common::crypto::SigningKey>(
    key: T,
    domain: &str,
    selector: &str,
) -> DkimSigner<T, Done> {
    DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_FIELDS)
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

impl DkimKey {
    /// A key from PEM text: PKCS#8 (`BEGIN PRIVATE KEY`, Ed25519 or RSA, as `openssl
    /// genpkey` writes) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(domain: &str, selector: &str, pem: &[u8]) -> Result<DkimKey, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|error| format!("not a PEM private key: {error}"))?;
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() || selector.is_empty() || selector.contains(['.', ';', ' ']) {
            return Err(format!(
                "bad DKIM domain `{domain}` or selector `{selector}`"
            ));
        }
        let (signer, public, algorithm) = match &der {
            PrivateKeyDer::Pkcs8(pkcs8) => {
                match Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8.secret_pkcs8_der()) {
                    Ok(key) => {
                        let public = key.public_key();
                        (
                            Signer::Ed25519(signer(key, &domain, selector)),
                            public,
                            "ed25519",
                        )
                    }
                    Err(_) => {
                        let key = RsaKey::<Sha256>::from_key_der(der.clone_key())
                            .map_err(|error| format!("neither Ed25519 nor RSA: {error}"))?;
                        let public = rsa_spki(&key.public_key());
                        (Signer::Rsa(signer(key, &domain, selector)), public, "rsa")
                    }
                }
            }
            PrivateKeyDer::Pkcs1(_) => {
                let key = RsaKey::<Sha256>::from_key_der(der.clone_key())
                    .map_err(|error| format!("bad RSA key: {error}"))?;
                let public = rsa_spki(&key.public_key());
                (Signer::Rsa(signer(key, &domain, selector)), public, "rsa")
            }
            _ => return Err("DKIM keys are RSA or Ed25519 (PKCS#8 or PKCS#1 PEM)".into()),
        };
        Ok(DkimKey {
            domain,
            selector: selector.to_string(),
            public: base64(&public),
            algorithm,
            signer,
        })
    }

    /// Reads a key file (see [`DkimKey::from_pem`]).
    pub fn load(domain: &str, selector: &str, path: &Path) -> Result<DkimKey, String> {
        let pem = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
        DkimKey::from_pem(domain, selector, &pem)
            .map_err(|error| format!("{}: {error}", path.display()))
    }

    /// The key in `path`, made first (a new Ed25519 key, PKCS#8 PEM, mode 0600) when the
    /// file does not exist yet.
    pub fn load_or_create(domain: &str, selector: &str, path: &Path) -> Result<DkimKey, String> {
        if !path.exists() {
            let pem = generate_ed25519_pem()?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|error| format!("{}: {error}", parent.display()))?;
            }
            let temporary = path.with_extension("tmp");
            write_private(&temporary, pem.as_bytes())
                .and_then(|()| std::fs::rename(&temporary, path))
                .map_err(|error| format!("{}: {error}", path.display()))?;
        }
        DkimKey::load(domain, selector, path)
    }

    /// Where the key's record lives: `SELECTOR._domainkey.DOMAIN`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The key's TXT record text (RFC 6376 §3.6.1).
    pub fn record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm, self.public)
    }

    /// The record as a zone-file line, split in strings of at most 255 bytes.
    pub fn zone_line(&self) -> String {
        let record = self.record();
        let strings: Vec<String> = record
            .as_bytes()
            .chunks(255)
            .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
            .collect();
        format!("{}. 300 IN TXT {}", self.record_name(), strings.join(" "))
    }

    /// The `DKIM-Signature` field (with its CRLF) for `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String, String> {
        let signature = match &self.signer {
            Signer::Ed25519(signer) => signer.sign(message),
            Signer::Rsa(signer) => signer.sign(message),
        };
        signature
            .map(|signature| signature.to_header())
            .map_err(|error| error.to_string())
    }
}

/// A new Ed25519 key as PKCS#8 PEM.
pub fn generate_ed25519_pem() -> Result<String, String> {
    let der = Ed25519Key::generate_pkcs8().map_err(|error| error.to_string())?;
    let encoded = base64(&der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn base64(bytes: &[u8]) -> String {
    mail_builder::encoders::base64::base64_encode(bytes)
        .map(|encoded| String::from_utf8_lossy(&encoded).into_owned())
        .unwrap_or_default()
}

/// A DER length.
fn der_length(length: usize, out: &mut Vec<u8>) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// An RSAPublicKey (PKCS#1) wrapped in the SubjectPublicKeyInfo that DKIM records carry in
/// practice (what `openssl rsa -pubout` prints, and what every verifier takes).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID rsaEncryption, NULL }
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    der_length(pkcs1.len() + 1, &mut bit_string);
    bit_string.push(0);
    bit_string.extend_from_slice(pkcs1);
    let mut spki = vec![0x30];
    der_length(ALGORITHM.len() + bit_string.len(), &mut spki);
    spki.extend_from_slice(&ALGORITHM);
    spki.extend_from_slice(&bit_string);
    spki
}

/// The signing key for a message submitted by `sender`: the one of the domain of its first
/// `From` address (so the signature aligns for DMARC), else of the envelope sender's domain.
pub fn key_for<'k>(
    keys: &'k [std::sync::Arc<DkimKey>],
    message: &[u8],
    sender: &str,
) -> Option<&'k DkimKey> {
    let from_domain = AuthenticatedMessage::parse(message).and_then(|parsed| {
        parsed.from.first().and_then(|from| {
            from.rsplit_once('@')
                .map(|(_, domain)| domain.to_ascii_lowercase())
        })
    });
    let sender_domain = sender
        .rsplit_once('@')
        .map(|(_, domain)| domain.to_ascii_lowercase());
    [from_domain, sender_domain]
        .into_iter()
        .flatten()
        .find_map(|domain| {
            keys.iter()
                .find(|key| key.domain.eq_ignore_ascii_case(&domain))
                .map(|key| &**key)
        })
}

/// The checker of mail from other servers: a DNS client for DKIM keys and SPF records.
pub struct Checker {
    authenticator: MessageAuthenticator,
    /// The authserv-id of our `Authentication-Results` fields: our host name.
    hostname: String,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

/// What the checks of one message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The `Authentication-Results` field, CRLF included.
    pub field: String,
    /// `dkim=pass spf=pass`, for the log.
    pub summary: String,
}

impl Checker {
    /// Asks `dns` (UDP, then TCP for truncated answers) from `source`, or the system's
    /// resolvers (`/etc/resolv.conf`) without one.
    pub fn new(
        hostname: &str,
        dns: Option<SocketAddr>,
        source: Option<IpAddr>,
    ) -> Result<Checker, String> {
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        let authenticator = match dns {
            Some(server) => {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut connection| {
                        connection.port = server.port();
                        connection.bind_addr = source.map(|ip| SocketAddr::new(ip, 0));
                        connection
                    })
                    .collect();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    server.ip(),
                    true,
                    connections,
                )]);
                MessageAuthenticator::new(config, options)
            }
            None => MessageAuthenticator::new_system_conf(),
        }
        .map_err(|error| format!("DNS client for DKIM and SPF: {error}"))?;
        Ok(Checker {
            authenticator,
            hostname: hostname.to_string(),
        })
    }

    /// Checks the DKIM signatures of `message` and the SPF policy of the sender's domain
    /// for a client at `ip` that said `helo`.
    pub async fn check(&self, message: &[u8], ip: IpAddr, helo: &str, sender: &str) -> Verdict {
        let checks = async {
            let mut results = AuthenticationResults::new(&self.hostname);
            let mut summary = Vec::new();
            let header_from;
            match AuthenticatedMessage::parse(message) {
                Some(parsed) => {
                    header_from = parsed.from.first().cloned().unwrap_or_default();
                    let dkim = self.authenticator.verify_dkim(&parsed).await;
                    if dkim.is_empty() {
                        summary.push("dkim=none".to_string());
                    }
                    for output in &dkim {
                        summary.push(format!("dkim={}", dkim_word(output.result())));
                    }
                    results = results.with_dkim_results(&dkim, &header_from);
                }
                None => summary.push("dkim=permerror (unparsable message)".to_string()),
            }
            let spf = self
                .authenticator
                .verify_spf(SpfParameters::verify(ip, helo, &self.hostname, sender))
                .await;
            summary.push(format!("spf={}", spf_word(spf.result())));
            results = results.with_spf_mailfrom_result(&spf, ip, sender, helo);
            (results.to_header(), summary.join(" "))
        };
        match tokio::time::timeout(CHECK_TIMEOUT, checks).await {
            Ok((field, summary)) => Verdict { field, summary },
            Err(_) => Verdict {
                field: format!(
                    "Authentication-Results: {};\r\n\tdkim=temperror (timed out);\r\n\tspf=temperror (timed out)\r\n",
                    self.hostname
                ),
                summary: "dkim=temperror spf=temperror (timed out)".into(),
            },
        }
    }

    /// Our authserv-id.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }
}

fn dkim_word(result: &DkimResult) -> &'static str {
    match result {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

fn spf_word(result: mail_auth::SpfResult) -> &'static str {
    use mail_auth::SpfResult;
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_key_signs_and_publishes_its_record() {
        let pem = generate_ed25519_pem().unwrap();
        let key = DkimKey::from_pem("Crepes.FR.", "world", pem.as_bytes()).unwrap();
        assert_eq!(key.domain, "crepes.fr");
        assert_eq!(key.record_name(), "world._domainkey.crepes.fr");
        let record = key.record();
        assert!(record.starts_with("v=DKIM1; k=ed25519; p="), "{record}");
        // 32 bytes of public key: 44 base64 characters.
        assert_eq!(
            record.len(),
            "v=DKIM1; k=ed25519; p=".len() + 44,
            "{record}"
        );
        let message = b"From: Alice <alice@crepes.fr>\r\nTo: bob@hamburger.edu\r\nSubject: hi\r\n\r\nbody\r\n";
        let field = key.sign(message).unwrap();
        assert!(
            field.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"),
            "{field}"
        );
        assert!(field.contains("d=crepes.fr"), "{field}");
        assert!(field.contains("s=world"), "{field}");
        assert!(field.contains("c=relaxed/relaxed"), "{field}");
        assert!(field.ends_with("\r\n"), "{field}");
        assert!(key
            .zone_line()
            .starts_with("world._domainkey.crepes.fr. 300 IN TXT \"v=DKIM1;"));
    }

    #[test]
    fn bad_keys_and_names_are_refused() {
        assert!(DkimKey::from_pem("crepes.fr", "world", b"not pem").is_err());
        let pem = generate_ed25519_pem().unwrap();
        assert!(DkimKey::from_pem("crepes.fr", "a.b", pem.as_bytes()).is_err());
        assert!(DkimKey::from_pem("", "world", pem.as_bytes()).is_err());
    }

    #[test]
    fn the_key_follows_the_from_domain() {
        let crepes = std::sync::Arc::new(
            DkimKey::from_pem("crepes.fr", "s", generate_ed25519_pem().unwrap().as_bytes())
                .unwrap(),
        );
        let other = std::sync::Arc::new(
            DkimKey::from_pem("other.org", "s", generate_ed25519_pem().unwrap().as_bytes())
                .unwrap(),
        );
        let keys = vec![other, crepes];
        let message = b"From: alice@Crepes.fr\r\n\r\nx\r\n";
        assert_eq!(
            key_for(&keys, message, "x@other.org").unwrap().domain,
            "crepes.fr"
        );
        let no_from = b"Subject: x\r\n\r\nx\r\n";
        assert_eq!(
            key_for(&keys, no_from, "x@other.org").unwrap().domain,
            "other.org"
        );
        assert!(key_for(&keys, no_from, "x@nowhere.net").is_none());
    }

    #[test]
    fn spki_wraps_with_long_lengths() {
        let pkcs1 = vec![7u8; 270];
        let spki = rsa_spki(&pkcs1);
        assert_eq!(&spki[..4], &[0x30, 0x82, 0x01, 0x22]);
        assert_eq!(spki.len(), 4 + 0x122);
        assert!(spki.ends_with(&pkcs1));
    }
}
