//! The CA and the identities (certificate chain and key) it issues: key generation and
//! signing with rcgen, no I/O.
//!
//! Keys are ECDSA P-256, made with *ring*'s system random generator (the one randomness the
//! crate does not take as an argument: rcgen has no way to pass it in). The current time is
//! an argument wherever validity is decided.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::x509::{self, Validity};
use crate::TlsError;

/// How long a CA made here is valid.
pub const CA_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);
/// How long a leaf certificate made here is valid (at most; never past its CA).
pub const LEAF_LIFETIME: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);
/// How far back `notBefore` is set from "now", so that a peer whose clock is a little behind
/// still accepts a certificate made a moment ago.
pub const BACKDATE: std::time::Duration = std::time::Duration::from_secs(3_600);

/// The key and signature algorithm of every key made here.
fn algorithm() -> &'static rcgen::SignatureAlgorithm {
    &rcgen::PKCS_ECDSA_P256_SHA256
}

/// The crypto provider of the whole crate: *ring*.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain (leaf first, then the certificates up to but not always including a
/// root) and the leaf's private key: what a server presents.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Why a chain and a key do not make an [`Identity`] (mapped to a [`TlsError`] that names
/// the certificate and key by their files or roles).
#[derive(Debug)]
pub(crate) enum IdentityProblem {
    /// The chain has no certificate.
    EmptyChain,
    /// The leaf does not parse as an end-entity certificate.
    BadLeaf(String),
    /// rustls cannot use the key.
    BadKey(String),
    /// The key is not the leaf's.
    KeyMismatch,
}

impl Identity {
    /// An identity from a chain (leaf first) and the leaf's key, checked: the chain is not
    /// empty, the leaf parses, rustls can sign with the key, and the key is the leaf's.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Identity, TlsError> {
        Identity::checked(chain, key).map_err(|problem| match problem {
            IdentityProblem::EmptyChain => TlsError::BadCertificate {
                what: "certificate chain".to_owned(),
                reason: "no certificate".to_owned(),
            },
            IdentityProblem::BadLeaf(reason) => TlsError::BadCertificate {
                what: "leaf certificate".to_owned(),
                reason,
            },
            IdentityProblem::BadKey(reason) => TlsError::BadKey {
                what: "private key".to_owned(),
                reason,
            },
            IdentityProblem::KeyMismatch => TlsError::BadKey {
                what: "private key".to_owned(),
                reason: "does not belong to the leaf certificate".to_owned(),
            },
        })
    }

    pub(crate) fn checked(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Identity, IdentityProblem> {
        let leaf = chain.first().ok_or(IdentityProblem::EmptyChain)?;
        webpki::EndEntityCert::try_from(leaf)
            .map_err(|error| IdentityProblem::BadLeaf(error.to_string()))?;
        let identity = Identity { chain, key };
        identity.certified_key(&provider())?;
        Ok(identity)
    }

    /// The rustls form, with the key loaded by `provider` and checked against the leaf.
    pub(crate) fn certified_key(
        &self,
        provider: &CryptoProvider,
    ) -> Result<CertifiedKey, IdentityProblem> {
        let signing_key = provider
            .key_provider
            .load_private_key(self.key.clone_key())
            .map_err(|error| IdentityProblem::BadKey(error.to_string()))?;
        let certified = CertifiedKey::new(self.chain.clone(), signing_key);
        match certified.keys_match() {
            // A key whose public half rustls cannot compute cannot be checked: accept it,
            // as `CertifiedKey::from_der` does.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                Ok(certified)
            }
            Err(rustls::Error::InconsistentKeys(_)) => Err(IdentityProblem::KeyMismatch),
            Err(error) => Err(IdentityProblem::BadLeaf(error.to_string())),
        }
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `checked` refused an empty chain, and nothing removes certificates.
        &self.chain[0]
    }

    /// The leaf's private key.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The DNS names (and `*.` wildcards) in the leaf's subjectAltName, lowercase, in order.
    pub fn dns_names(&self) -> Vec<String> {
        match webpki::EndEntityCert::try_from(self.leaf()) {
            Ok(leaf) => leaf
                .valid_dns_names()
                .map(|name| name.to_ascii_lowercase())
                .collect(),
            // `checked` parsed the leaf already; an identity always has a parsable leaf.
            Err(_) => Vec::new(),
        }
    }

    /// The chain as PEM, leaf first (what `--cert` files and `openssl` take).
    pub fn chain_pem(&self) -> String {
        let blocks: Vec<pem::Pem> = self
            .chain
            .iter()
            .map(|cert| pem::Pem::new("CERTIFICATE", cert.as_ref()))
            .collect();
        pem::encode_many(&blocks)
    }

    /// The private key as PEM, in the form it has (`PRIVATE KEY` for PKCS#8, `RSA PRIVATE KEY`
    /// for PKCS#1, `EC PRIVATE KEY` for SEC1).
    pub fn key_pem(&self) -> String {
        let label = match &self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        pem::encode(&pem::Pem::new(label, self.key.secret_der()))
    }
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Identity")
            .field("dns_names", &self.dns_names())
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// A certificate authority: an ECDSA P-256 key and its self-signed certificate (path length
/// 0: it signs leaves only). Made fresh by [`Ca::ephemeral`], or kept in a directory by
/// [`Ca::load_or_create`].
pub struct Ca {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    validity: Validity,
}

/// Why stored CA files do not make a usable [`Ca`] (the store decides what to do about it).
#[derive(Debug)]
pub(crate) enum CaProblem {
    /// `ca.key` does not hold a usable key.
    BadKey(String),
    /// `ca.pem` does not hold a usable certificate, or one for another key or name.
    BadCert(String),
    /// The certificate is sound but not valid at the given time.
    NotValidNow(Validity),
}

impl Ca {
    /// A new CA with common name `name`, valid from a little before `now` for
    /// [`CA_LIFETIME`], held in memory only (tests, and worlds that make their CA at
    /// each start-up).
    pub fn ephemeral(name: &str, now: SystemTime) -> Result<Ca, TlsError> {
        let key = KeyPair::generate_for(algorithm())?;
        let now = OffsetDateTime::from(now);
        let not_before = now - to_time(BACKDATE);
        let params = ca_params(name, not_before, now + to_time(CA_LIFETIME));
        let cert = params.self_signed(&key)?;
        let cert = cert.der().clone();
        let validity = x509::validity(&cert).map_err(|error| TlsError::BadCertificate {
            what: "new CA certificate".to_owned(),
            reason: error.to_string(),
        })?;
        Ok(Ca {
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            cert,
            validity,
        })
    }

    /// The CA kept as `key_pem` (PKCS#8) and `cert_pem`, checked: both parse, the key is the
    /// certificate's, the certificate's subject is the one made for `name`, and it is valid
    /// at `now`.
    pub(crate) fn from_pem(
        name: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
        now: SystemTime,
    ) -> Result<Ca, CaProblem> {
        let key_text = std::str::from_utf8(key_pem)
            .map_err(|_| CaProblem::BadKey("not text".to_owned()))?;
        let key = KeyPair::from_pem(key_text).map_err(|error| CaProblem::BadKey(error.to_string()))?;
        let cert = CertificateDer::from_pem_slice(cert_pem)
            .map_err(|error| CaProblem::BadCert(error.to_string()))?;
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|error| CaProblem::BadCert(error.to_string()))?;
        let spki = webpki::spki_for_anchor(&anchor);
        if spki.as_ref() != key.subject_public_key_info().as_slice() {
            return Err(CaProblem::BadCert(
                "the certificate is not for the key in ca.key".to_owned(),
            ));
        }
        // The leaves' issuer field is written from these parameters, so the stored subject
        // must be exactly what they encode: compare with a throwaway self-signed probe.
        let params = ca_params(name, OffsetDateTime::UNIX_EPOCH, OffsetDateTime::UNIX_EPOCH);
        let probe = params
            .self_signed(&key)
            .map_err(|error| CaProblem::BadKey(error.to_string()))?;
        let probe_anchor = webpki::anchor_from_trusted_cert(probe.der())
            .map_err(|error| CaProblem::BadCert(error.to_string()))?;
        if probe_anchor.subject.as_ref() != anchor.subject.as_ref() {
            return Err(CaProblem::BadCert(format!(
                "the certificate was made for another CA name than {name:?}"
            )));
        }
        let validity =
            x509::validity(&cert).map_err(|error| CaProblem::BadCert(error.to_string()))?;
        let now = OffsetDateTime::from(now);
        if now < validity.not_before || now > validity.not_after {
            return Err(CaProblem::NotValidNow(validity));
        }
        let cert = cert.into_owned();
        Ok(Ca {
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            cert,
            validity,
        })
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM (what `--cacert`/`-CAfile` take).
    pub fn cert_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.cert.as_ref()))
    }

    /// The CA key, PKCS#8 PEM (for the store only).
    pub(crate) fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA certificate's `notBefore`.
    pub fn not_before(&self) -> SystemTime {
        self.validity.not_before.into()
    }

    /// The CA certificate's `notAfter`.
    pub fn not_after(&self) -> SystemTime {
        self.validity.not_after.into()
    }

    /// A new leaf for DNS `names` (`*.` wildcards allowed) and `ips`: a fresh ECDSA P-256
    /// key, serverAuth and clientAuth EKUs, valid from a little before `now` for
    /// [`LEAF_LIFETIME`] or until the CA expires, whichever is first. The chain is the leaf
    /// and this CA's certificate. The common name is the first name (or address).
    pub fn issue(&self, names: &[&str], ips: &[IpAddr], now: SystemTime) -> Result<Identity, TlsError> {
        let now = OffsetDateTime::from(now);
        if now < self.validity.not_before || now >= self.validity.not_after {
            return Err(TlsError::CaNotValidNow {
                name: self.name.clone(),
                not_before: self.validity.not_before.to_string(),
                not_after: self.validity.not_after.to_string(),
            });
        }
        let mut subject_alt_names = Vec::with_capacity(names.len() + ips.len());
        for &name in names {
            subject_alt_names.push(SanType::DnsName(dns_name(name)?));
        }
        subject_alt_names.extend(ips.iter().map(|&ip| SanType::IpAddress(ip)));
        let common_name = match (names.first(), ips.first()) {
            (Some(name), _) => name.to_ascii_lowercase(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Err(TlsError::NoNames),
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.subject_alt_names = subject_alt_names;
        params.is_ca = IsCa::ExplicitNoCa;
        // RFC 5480 §3: an ECDSA key signs; keyEncipherment is for RSA key transport.
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - to_time(BACKDATE);
        params.not_after = (now + to_time(LEAF_LIFETIME)).min(self.validity.not_after);
        let key = KeyPair::generate_for(algorithm())?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let chain = vec![cert.der().clone(), self.cert.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(Identity { chain, key })
    }
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Ca")
            .field("name", &self.name)
            .field("not_before", &self.validity.not_before)
            .field("not_after", &self.validity.not_after)
            .finish_non_exhaustive()
    }
}

/// The parameters of a CA named `name`; everything but the dates must stay the same from
/// version to version, since a stored CA is matched against them.
fn ca_params(name: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

/// A DNS name for a subjectAltName: a valid host name, or `*.` and one.
fn dns_name(name: &str) -> Result<rcgen::string::Ia5String, TlsError> {
    let invalid = || TlsError::InvalidName {
        name: name.to_owned(),
    };
    let host = name.strip_prefix("*.").unwrap_or(name);
    // An address written as a name would be a DNS SAN no client matches: it goes in `ips`.
    if host.parse::<IpAddr>().is_ok() || DnsName::try_from(host).is_err() || host.ends_with('.') {
        return Err(invalid());
    }
    rcgen::string::Ia5String::try_from(name.to_ascii_lowercase()).map_err(|_| invalid())
}

fn to_time(duration: std::time::Duration) -> Duration {
    // The lifetimes are constants far below i64 seconds.
    Duration::seconds(duration.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::now()
    }

    #[test]
    fn a_leaf_chains_to_its_ca_with_its_names() {
        let ca = Ca::ephemeral("test CA", now()).unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let identity = ca.issue(&["www.example.test", "*.example.test"], &[ip], now()).unwrap();
        assert_eq!(identity.chain().len(), 2);
        assert_eq!(&identity.chain()[1], ca.cert_der());
        assert_eq!(identity.dns_names(), ["www.example.test", "*.example.test"]);
        let leaf = webpki::EndEntityCert::try_from(identity.leaf()).unwrap();
        let ip_name = rustls::pki_types::ServerName::IpAddress(ip.into());
        leaf.verify_is_valid_for_subject_name(&ip_name).unwrap();
        let leaf_validity = x509::validity(identity.leaf()).unwrap();
        assert!(leaf_validity.not_after <= ca.validity.not_after);
        assert_eq!(
            leaf_validity.not_after - leaf_validity.not_before,
            to_time(LEAF_LIFETIME + BACKDATE)
        );
    }

    #[test]
    fn names_are_checked() {
        let ca = Ca::ephemeral("test CA", now()).unwrap();
        for bad in ["", "a b.test", "127.0.0.1", "*.", "x..test", "trailing.dot.", "é.test"] {
            assert!(
                matches!(ca.issue(&[bad], &[], now()), Err(TlsError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(ca.issue(&[], &[], now()), Err(TlsError::NoNames)));
    }

    #[test]
    fn a_leaf_never_outlives_its_ca_and_an_expired_ca_issues_nothing() {
        let ca = Ca::ephemeral("test CA", now()).unwrap();
        let near_end = ca.not_after() - std::time::Duration::from_secs(86_400);
        let identity = ca.issue(&["late.test"], &[], near_end).unwrap();
        assert_eq!(x509::validity(identity.leaf()).unwrap().not_after, ca.validity.not_after);
        let after = ca.not_after() + std::time::Duration::from_secs(1);
        assert!(matches!(ca.issue(&["late.test"], &[], after), Err(TlsError::CaNotValidNow { .. })));
    }

    #[test]
    fn a_stored_ca_round_trips_through_pem() {
        let ca = Ca::ephemeral("round trip CA", now()).unwrap();
        let again =
            Ca::from_pem("round trip CA", ca.cert_pem().as_bytes(), ca.key_pem().as_bytes(), now())
                .unwrap();
        assert_eq!(again.cert_der(), ca.cert_der());
        // A leaf of the reloaded CA chains to the original certificate.
        let identity = again.issue(&["x.test"], &[], now()).unwrap();
        let leaf = webpki::EndEntityCert::try_from(identity.leaf()).unwrap();
        let anchor = webpki::anchor_from_trusted_cert(ca.cert_der()).unwrap();
        leaf.verify_for_usage(
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .all,
            &[anchor],
            &[],
            rustls::pki_types::UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .unwrap();
    }

    #[test]
    fn a_stored_ca_is_refused_for_another_name_key_or_time() {
        let ca = Ca::ephemeral("one CA", now()).unwrap();
        let other = Ca::ephemeral("one CA", now()).unwrap();
        let (cert, key) = (ca.cert_pem(), ca.key_pem());
        assert!(matches!(
            Ca::from_pem("another CA", cert.as_bytes(), key.as_bytes(), now()),
            Err(CaProblem::BadCert(reason)) if reason.contains("another CA name")
        ));
        assert!(matches!(
            Ca::from_pem("one CA", cert.as_bytes(), other.key_pem().as_bytes(), now()),
            Err(CaProblem::BadCert(reason)) if reason.contains("not for the key")
        ));
        assert!(matches!(
            Ca::from_pem("one CA", cert.as_bytes(), &key.as_bytes()[..key.len() / 2], now()),
            Err(CaProblem::BadKey(_))
        ));
        assert!(matches!(
            Ca::from_pem("one CA", &cert.as_bytes()[..cert.len() / 2], key.as_bytes(), now()),
            Err(CaProblem::BadCert(_))
        ));
        let later = ca.not_after() + std::time::Duration::from_secs(1);
        assert!(matches!(
            Ca::from_pem("one CA", cert.as_bytes(), key.as_bytes(), later),
            Err(CaProblem::NotValidNow(_))
        ));
    }

    #[test]
    fn identity_new_checks_the_key_against_the_leaf() {
        let ca = Ca::ephemeral("test CA", now()).unwrap();
        let one = ca.issue(&["one.test"], &[], now()).unwrap();
        let two = ca.issue(&["two.test"], &[], now()).unwrap();
        assert!(Identity::new(one.chain().to_vec(), one.key().clone_key()).is_ok());
        assert!(matches!(
            Identity::new(one.chain().to_vec(), two.key().clone_key()),
            Err(TlsError::BadKey { .. })
        ));
        assert!(matches!(
            Identity::new(Vec::new(), one.key().clone_key()),
            Err(TlsError::BadCertificate { .. })
        ));
    }

    #[test]
    fn pem_output_reads_back() {
        let ca = Ca::ephemeral("test CA", now()).unwrap();
        let identity = ca.issue(&["pem.test"], &[], now()).unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.chain_pem().as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(chain, identity.chain());
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem().as_bytes()).unwrap();
        assert_eq!(key.secret_der(), identity.key().secret_der());
    }
}
