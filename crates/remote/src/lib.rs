//! Remote command execution for dbscale-backup.
//!
//! One trait, [`Transport`], runs a typed [`Command`] on a host: to
//! completion ([`Transport::exec`]), streaming ([`Transport::spawn`] gives
//! stdout/stderr as async readers), killing what it started
//! ([`Transport::kill`]), and a cheap [`Transport::ping`] (`echo 1`, as the
//! seeds check every connection). Transports:
//!
//! * [`Local`]: this host, no daemon (single-host installs, tests, and the
//!   executor inside the agents);
//! * [`Ssh`]: the system ssh client via `openssh`, one multiplexed master
//!   per host, password first then key (seed 002's `init_sys_con`);
//! * [`Adm`]: HTTP to a `dbagent adm` on each host, HMAC-signed requests,
//!   optionally over TLS (rustls, see [`tls`]);
//! * [`Rabbit`]: RPC over RabbitMQ to a `dbagent rabbit` per host and agent
//!   type (`rds-dbinit`, `rds-taskmanager`), at-most-once.
//!
//! Every command runs in its own process group on the host, which is killed
//! whole on timeout or on [`Transport::kill`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), remote::Error> {
//! use remote::{Command, Local, Transport};
//! use std::time::Duration;
//!
//! let host = Local::default();
//! let out = host
//!     .exec(&Command::new("echo").arg("hello world"), Duration::from_secs(5))
//!     .await?;
//! assert_eq!(out.stdout, b"hello world\n");
//! assert!(out.success());
//! # Ok(()) }
//! ```

pub mod adm;
pub mod agent;
pub mod command;
pub mod connector;
pub mod error;
pub mod local;
pub mod rabbit;
pub mod ssh;
pub mod tls;
pub mod transport;

pub use adm::Adm;
pub use command::{Command, Program, quote};
pub use connector::Connector;
pub use error::{Error, Result};
pub use local::Local;
pub use rabbit::{Broker, Rabbit};
pub use remote_config::{
    AdmConfig, AgentType, ConnectConfig, ConnectMethod, HostKeyPolicy, HostLogin, Login, Secret,
    SshConfig, UnknownMethod, redact_uri_password,
};
pub use ssh::Ssh;
pub use transport::{CommandId, Output, Reader, Running, Transport};
pub use zeroize::Zeroizing;
