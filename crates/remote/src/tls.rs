//! TLS for the adm-agent, with rustls and its `ring` provider: the agent's
//! server configuration from a PEM certificate chain and private key, the
//! client's from a PEM file of CA certificates to trust.
//!
//! The provider is passed explicitly to every configuration rather than
//! installed process-wide, so no global state decides which crypto a caller
//! gets. TLS 1.2 and 1.3 with rustls' safe defaults; ALPN `http/1.1` only
//! (the agent speaks HTTP/1.1).

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A TLS file that cannot be used, or a configuration rustls refused.
/// Messages name the file; they never hold key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read the TLS {role} file {}: {source}", path.display())]
    Read {
        /// `certificate`, `private key` or `CA certificate`.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no usable PEM item of the expected kind.
    #[error("the TLS {role} file {} {detail}", path.display())]
    Pem {
        /// `certificate`, `private key` or `CA certificate`.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. `holds no PEM CERTIFICATE block`.
        detail: String,
    },
    /// rustls refused the certificate and key (e.g. they do not match).
    #[error("TLS certificate {} with key {}: {detail}", cert.display(), key.display())]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        detail: String,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The agent's TLS configuration: the certificate chain in `cert` (PEM,
/// leaf first) and its private key in `key` (PEM: PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certs(cert, "certificate")?;
    let key_der = read_key(key)?;
    let refused = |e: rustls::Error| TlsError::Config {
        cert: cert.to_owned(),
        key: key.to_owned(),
        detail: e.to_string(),
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(refused)?;
    cfg.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(cfg))
}

/// The client's TLS configuration: trusts exactly the CA certificates in
/// `ca` (PEM; one or more), not the system's roots. The server's
/// certificate must name the host as the client addresses it (a DNS name
/// or an IP address subject alternative name).
pub fn client_config(ca: &Path) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca, "CA certificate")? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            role: "CA certificate",
            path: ca.to_owned(),
            detail: format!("holds a certificate rustls cannot use as a root: {e}"),
        })?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Pem {
            role: "CA certificate",
            path: ca.to_owned(),
            detail: format!("cannot be used: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(cfg)
}

/// A client configuration that trusts nothing: handed to the HTTP client
/// of a plain-HTTP transport so that building it needs no process-wide
/// crypto provider (it never makes a TLS connection).
pub fn trust_nothing_config() -> Option<rustls::ClientConfig> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Some(cfg)
}

fn read_certs(path: &Path, role: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        role,
        path: path.to_owned(),
        source,
    })?;
    let pem_err = |detail: String| TlsError::Pem {
        role,
        path: path.to_owned(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err("holds no PEM CERTIFICATE block".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let role = "private key";
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| TlsError::Read {
        role,
        path: path.to_owned(),
        source,
    })?);
    warn_if_readable_by_others(path);
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        role,
        path: path.to_owned(),
        detail: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "holds no PEM private key block".into(),
            // pem errors describe the structure, never the key bytes.
            other => format!("is not a valid PEM private key: {other}"),
        },
    })
}

/// A private key others can read is a deployment mistake worth a log line,
/// not a refusal (the operator may have reasons, e.g. a group-shared key).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o004 != 0
    {
        tracing::warn!(path = %path.display(), "the TLS private key file is readable by every user; make it 0600");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn new() -> Pki {
            let dir = tempfile::tempdir().unwrap();
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let issuer = rcgen::Issuer::new(ca_params, ca_key);
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            let other_key = rcgen::KeyPair::generate().unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
            std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
            std::fs::write(dir.path().join("other.pem"), other_key.serialize_pem()).unwrap();
            Pki { dir }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
    }

    #[test]
    fn good_files_make_both_configs() {
        let pki = Pki::new();
        let server = server_config(&pki.path("cert.pem"), &pki.path("key.pem")).unwrap();
        assert_eq!(server.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let client = client_config(&pki.path("ca.pem")).unwrap();
        assert_eq!(client.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(trust_nothing_config().is_some());
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let pki = Pki::new();
        let missing = pki.path("missing.pem");
        let err = client_config(&missing).unwrap_err().to_string();
        assert!(
            err.contains("CA certificate") && err.contains("missing.pem"),
            "{err}"
        );
        // A key where a certificate should be.
        let err = client_config(&pki.path("key.pem")).unwrap_err().to_string();
        assert!(
            err.contains("no PEM CERTIFICATE") && err.contains("key.pem"),
            "{err}"
        );
        // A certificate where a key should be.
        let err = server_config(&pki.path("cert.pem"), &pki.path("cert.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("private key") && err.contains("cert.pem"),
            "{err}"
        );
        // A key that is not the certificate's.
        let err = server_config(&pki.path("cert.pem"), &pki.path("other.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("other.pem"), "{err}");
        assert!(!err.contains("PRIVATE KEY-----"), "{err}");
    }
}
