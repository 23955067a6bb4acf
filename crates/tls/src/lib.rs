//! The one TLS set-up every protocol of the project uses: a certificate authority (the world
//! CA, made with `rcgen`), certificates it issues per host, and rustls server and client
//! configurations (ring provider) that drivers wrap with [`TlsAcceptor`] and
//! [`TlsConnector`].
//!
//! # Contract
//!
//! [`Ca::load_or_create`] is the crate's only file I/O: the CA's key (`ca.key`, mode 0600) and
//! certificate (`ca.pem`, for clients to trust) under a directory, written with a temporary
//! file, fsync and rename, and reused by later runs. Everything else is in memory.
//!
//! ```
//! let ca = tls::Ca::ephemeral("example CA").unwrap();
//! let leaf = ca.issue(&["mail.crepes.fr"]).unwrap();
//! let server = tls::server_config(vec![leaf], &[]).unwrap();
//! let client = tls::client_config(&[ca.cert_der()], &[]).unwrap();
//! assert!(server.alpn_protocols.is_empty() && client.alpn_protocols.is_empty());
//! ```

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls;
pub use rustls::pki_types::ServerName;
pub use tokio_rustls::{
    client::TlsStream as ClientTlsStream, server::TlsStream as ServerTlsStream,
};
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Errors of the TLS set-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A key or certificate could not be made or read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn cert_error(error: impl std::fmt::Display) -> TlsError {
    TlsError::Certificate(error.to_string())
}

/// A certificate authority that issues host certificates.
pub struct Ca {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// A certificate chain and its private key, for a server.
#[derive(Debug)]
pub struct Identity {
    /// The names the certificate is for (SNI selects by these).
    pub names: Vec<String>,
    /// The leaf first, then the CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key.
    pub key: PrivateKeyDer<'static>,
}

/// The CA certificate's parameters: the same name and key always give a certificate that
/// verifies the leaves issued before (the issuer name and key identifier are what count).
fn ca_params(name: &str) -> Result<rcgen::CertificateParams, TlsError> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "applayer");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

impl Ca {
    /// A CA that lives only in memory (tests, a one-off server).
    pub fn ephemeral(name: &str) -> Result<Ca, TlsError> {
        let key = rcgen::KeyPair::generate().map_err(cert_error)?;
        let cert = ca_params(name)?.self_signed(&key).map_err(cert_error)?;
        Ok(Ca { key, cert })
    }

    /// The CA kept under `dir` (`ca.key`, `ca.pem`), made on first use. A `ca.key` that does
    /// not parse is an error naming the file, never silently replaced: clients may trust the
    /// old CA.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Ca, TlsError> {
        let key_path = dir.join("ca.key");
        let pem_path = dir.join("ca.pem");
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let key = match std::fs::read_to_string(&key_path) {
            Ok(text) => rcgen::KeyPair::from_pem(&text).map_err(|error| {
                TlsError::Certificate(format!("{}: {error}", key_path.display()))
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = rcgen::KeyPair::generate().map_err(cert_error)?;
                write_private(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
                key
            }
            Err(source) => {
                return Err(TlsError::Io {
                    path: key_path,
                    source,
                })
            }
        };
        let cert = ca_params(name)?.self_signed(&key).map_err(cert_error)?;
        if !pem_path.exists() {
            write_private(&pem_path, cert.pem().as_bytes(), 0o644)?;
        }
        Ok(Ca { key, cert })
    }

    /// The CA certificate in PEM, for clients to trust.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate in DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid for TLS server and
    /// client authentication.
    pub fn issue(&self, names: &[&str]) -> Result<Identity, TlsError> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).map_err(cert_error)?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().map_err(cert_error)?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(cert_error)?;
        Ok(Identity {
            names,
            chain: vec![cert.der().clone(), self.cert_der()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

/// Reads the certificates of a PEM file (a CA to trust, `--cacert`).
pub fn load_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError::Certificate(format!("{}: {error}", file.display())))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate(format!(
            "{}: no certificate",
            file.display()
        )));
    }
    Ok(certs)
}

/// Reads a certificate chain and key from PEM files (`--cert`, `--key`).
pub fn load_pem(cert: &Path, key: &Path, names: &[String]) -> Result<Identity, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError::Certificate(format!("{}: {error}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate(format!(
            "{}: no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| TlsError::Certificate(format!("{}: {error}", key.display())))?;
    Ok(Identity {
        names: names.to_vec(),
        chain,
        key,
    })
}

/// The ring provider: aws-lc-rs (rustls's default, with post-quantum key exchange) needs cmake
/// and a long C build, which this project keeps out of its tree.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Picks a certificate by the client's SNI name, else the first.
#[derive(Debug)]
struct BySni {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(|name| name.to_ascii_lowercase());
        Some(
            name.and_then(|name| self.by_name.get(&name).cloned())
                .unwrap_or_else(|| self.default.clone()),
        )
    }
}

/// A server configuration for `identities` (SNI chooses; the first is the default), with
/// the ALPN protocols given (none for SMTP), TLS 1.2 and 1.3, session resumption by tickets
/// and a session cache.
pub fn server_config(
    identities: Vec<Identity>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let mut by_name = HashMap::new();
    let mut default = None;
    for identity in identities {
        let signer = provider
            .key_provider
            .load_private_key(identity.key)
            .map_err(TlsError::Rustls)?;
        let certified = Arc::new(CertifiedKey::new(identity.chain, signer));
        for name in &identity.names {
            by_name.insert(name.to_ascii_lowercase(), certified.clone());
        }
        default.get_or_insert(certified);
    }
    let default =
        default.ok_or_else(|| TlsError::Certificate("no certificate for the server".into()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni { by_name, default }));
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// A client configuration trusting `roots` (the world CA), with the ALPN protocols given.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone())?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration as `curl` has one: trusting `roots` (the world CA) and, with
/// `system`, the system's store (`/etc/ssl/certs`, through rustls-native-certs; certificates
/// it cannot read are skipped); with `insecure` (`-k`), no certificate check at all (the
/// handshake's signatures are still verified, so the peer must hold the key of the
/// certificate it sends).
pub fn client_config_for(
    roots: &[CertificateDer<'static>],
    system: bool,
    insecure: bool,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root.clone())?;
        }
        if system {
            let found = rustls_native_certs::load_native_certs();
            let (_added, _ignored) = store.add_parsable_certificates(found.certs);
        }
        builder.with_root_certificates(store).with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Accepts any certificate (`-k`), checking only the handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a handshake in memory; the client's error, if any.
    fn handshake(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
        name: &str,
    ) -> Result<(), String> {
        let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let mut client = rustls::ClientConnection::new(client, name).map_err(|e| e.to_string())?;
        let mut server = rustls::ServerConnection::new(server).map_err(|e| e.to_string())?;
        for _ in 0..20 {
            let mut buffer = Vec::new();
            client.write_tls(&mut buffer).map_err(|e| e.to_string())?;
            server
                .read_tls(&mut buffer.as_slice())
                .map_err(|e| e.to_string())?;
            if let Err(error) = server.process_new_packets() {
                // Let the client see the alert.
                let mut alert = Vec::new();
                let _ = server.write_tls(&mut alert);
                let _ = client.read_tls(&mut alert.as_slice());
                return Err(client
                    .process_new_packets()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| error.to_string()));
            }
            let mut buffer = Vec::new();
            server.write_tls(&mut buffer).map_err(|e| e.to_string())?;
            client
                .read_tls(&mut buffer.as_slice())
                .map_err(|e| e.to_string())?;
            client.process_new_packets().map_err(|e| e.to_string())?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        Err("handshake did not finish".into())
    }

    #[test]
    fn world_ca_certificates_verify_and_sni_picks_the_host() {
        let ca = Ca::ephemeral("test CA").unwrap();
        let server = server_config(
            vec![
                ca.issue(&["mail.crepes.fr"]).unwrap(),
                ca.issue(&["mail.hamburger.edu"]).unwrap(),
            ],
            &[],
        )
        .unwrap();
        let client = client_config(&[ca.cert_der()], &[]).unwrap();
        handshake(server.clone(), client.clone(), "mail.crepes.fr").unwrap();
        handshake(server.clone(), client.clone(), "mail.hamburger.edu").unwrap();
        let wrong = handshake(server.clone(), client, "www.someschool.edu").unwrap_err();
        assert!(
            wrong.contains("NotValidForName") || wrong.to_lowercase().contains("name"),
            "{wrong}"
        );
        let other = Ca::ephemeral("other CA").unwrap();
        let stranger = client_config(&[other.cert_der()], &[]).unwrap();
        let unknown = handshake(server, stranger, "mail.crepes.fr").unwrap_err();
        assert!(unknown.contains("UnknownIssuer"), "{unknown}");
    }

    #[test]
    fn a_stored_ca_is_the_same_ca_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("tls-ca-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = Ca::load_or_create(&dir, "world CA").unwrap();
        let leaf = first.issue(&["mail.crepes.fr"]).unwrap();
        let again = Ca::load_or_create(&dir, "world CA").unwrap();
        // A client trusting the stored ca.pem accepts what either instance issues.
        let stored = std::fs::read(dir.join("ca.pem")).unwrap();
        use rustls::pki_types::pem::PemObject;
        let root = CertificateDer::from_pem_slice(&stored).unwrap();
        let client = client_config(&[root], &[]).unwrap();
        handshake(
            server_config(vec![leaf], &[]).unwrap(),
            client.clone(),
            "mail.crepes.fr",
        )
        .unwrap();
        let later = again.issue(&["mail.crepes.fr"]).unwrap();
        handshake(
            server_config(vec![later], &[]).unwrap(),
            client,
            "mail.crepes.fr",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "ca.key readable by others: {mode:o}");
        std::fs::write(dir.join("ca.key"), "garbage").unwrap();
        let error = Ca::load_or_create(&dir, "world CA")
            .unwrap_err()
            .to_string();
        assert!(error.contains("ca.key"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
