//! What a controller knows about reaching hosts, without the transports:
//! the connect method, ssh logins, the ssh / adm-agent / rabbit-agent
//! settings, and the agents' request signatures ([`auth`]).
//!
//! `conf` reads the seeds' INI files into these types and `remote` builds
//! transports from them; keeping them here lets a crate that only reads a
//! config (or embeds one) build without openssh, lapin, axum or rustls.
//! `remote` re-exports everything, so `remote::ConnectConfig` and
//! `remote_config::ConnectConfig` are the same type.
//!
//! ```
//! use remote_config::{ConnectConfig, ConnectMethod, SshConfig};
//!
//! let cfg = ConnectConfig::new(
//!     "ssh".parse().unwrap(),
//!     SshConfig::new("backup", "/var/lib/dbscale-backup"),
//! );
//! assert_eq!(cfg.method, ConnectMethod::Ssh);
//! assert!("telnet".parse::<ConnectMethod>().is_err());
//! ```

pub mod adm;
pub mod auth;
pub mod connect;
pub mod ssh;

pub use adm::AdmConfig;
pub use auth::Secret;
pub use connect::{
    AgentType, ConnectConfig, ConnectMethod, HostLogin, Login, UnknownMethod, redact_uri_password,
};
pub use ssh::{HostKeyPolicy, SshConfig};
pub use zeroize::Zeroizing;
