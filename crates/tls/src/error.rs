//! `TlsError`, the one error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while making certificates, reading or writing them, or building
/// a TLS configuration. A file's errors name the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file or directory could not be read, written or renamed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: "read", "write", "rename", "create directory", "lock".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("{}: bad PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM reader found wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("{}: no certificate in the file", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{}: no private key in the file", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// A private key that rustls cannot use (an unsupported algorithm or a damaged key), or one
    /// that does not belong to its certificate.
    #[error("{what}: {reason}")]
    BadKey {
        /// The key file, or a description of where the key came from.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A certificate that cannot be parsed or used.
    #[error("{what}: not a usable certificate: {reason}")]
    BadCertificate {
        /// Which certificate: a file name or a role ("leaf", "trusted certificate").
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A stored CA is damaged: a file is torn or garbage, the key does not match the
    /// certificate, or the certificate was made for another name. Nothing is replaced
    /// automatically, since clients may trust the old certificate.
    #[error(
        "{}: damaged CA file ({reason}); remove ca.key and ca.pem from its directory to make a new CA",
        path.display()
    )]
    CaDamaged {
        /// The file found damaged.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `ca.pem` exists but `ca.key` does not: the CA cannot issue, and it is not replaced
    /// automatically, since clients may trust it.
    #[error(
        "{} is missing but the CA certificate beside it exists; restore the key, or remove ca.pem to make a new CA",
        path.display()
    )]
    CaKeyMissing {
        /// The missing key file.
        path: PathBuf,
    },
    /// The CA is not valid at the time a certificate was asked for.
    #[error("the CA {name:?} is not valid at this time (valid from {not_before} until {not_after})")]
    CaNotValidNow {
        /// The CA's common name.
        name: String,
        /// Its `notBefore`.
        not_before: String,
        /// Its `notAfter`.
        not_after: String,
    },
    /// A name given for a certificate is not a valid DNS name (or `*.` wildcard).
    #[error("invalid DNS name {name:?} for a certificate")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// A certificate was asked for with neither a DNS name nor an IP address.
    #[error("a certificate needs at least one DNS name or IP address")]
    NoNames,
    /// Two server identities claim the same host name.
    #[error("two certificates claim the host name {name:?}")]
    DuplicateName {
        /// The name, lowercase.
        name: String,
    },
    /// A server configuration was built without any certificate.
    #[error("a TLS server needs at least one certificate")]
    NoIdentity,
    /// A verifying client configuration was built without any trusted certificate.
    #[error("no trusted certificate authority: trust a CA or the system store, or use insecure mode")]
    NoTrustAnchors,
    /// rcgen failed to make a key or a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
}
