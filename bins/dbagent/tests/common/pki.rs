//! Test certificates made with rcgen: a CA, a server certificate it issued
//! for chosen names, and files for the agent and the client.

use std::path::{Path, PathBuf};

/// A CA and one server certificate it issued, as PEM files in `dir`.
pub struct Pki {
    /// The CA certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server certificate chain.
    pub cert: PathBuf,
    /// The server key (mode 0600).
    pub key: PathBuf,
}

impl Pki {
    /// A new CA named `name` and a certificate for `names` (IP addresses
    /// or DNS names), written under `dir` with `name` as file prefix.
    pub fn new(dir: &Path, name: &str, names: &[&str]) -> Pki {
        use std::os::unix::fs::OpenOptionsExt as _;
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let pki = Pki {
            ca: dir.join(format!("{name}-ca.pem")),
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pki.key)
            .unwrap();
        std::io::Write::write_all(&mut f, key.serialize_pem().as_bytes()).unwrap();
        pki
    }
}
