//! How to reach the adm-agents (the transport is `remote::Adm`).

use crate::auth::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the adm-agents.
#[derive(Debug, Clone)]
pub struct AdmConfig {
    /// The agents' port.
    pub port: u16,
    /// The shared secret.
    pub secret: Secret,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// At most this many commands at once per host.
    pub max_concurrent: usize,
    /// PEM file of the CA certificate(s) that issued the agents' TLS
    /// certificates (`[adm-agent] tls-ca-file`). When set, the transport
    /// uses HTTPS and trusts exactly these CAs; when unset, plain HTTP.
    pub tls_ca_file: Option<PathBuf>,
}

impl AdmConfig {
    /// Port and secret with default limits.
    pub fn new(port: u16, secret: Secret) -> Self {
        Self {
            port,
            secret,
            connect_timeout: Duration::from_secs(5),
            max_concurrent: 64,
            tls_ca_file: None,
        }
    }

    /// The same, over HTTPS trusting the CA certificate(s) in `ca_file`.
    pub fn with_tls_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(ca_file.into());
        self
    }
}
