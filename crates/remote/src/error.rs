//! Errors of every transport. Messages name the host, the program and the
//! step; they never hold arguments, environment values, stdin or passwords.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Errors from running a command on a host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host (or the agent, or the broker) could not be reached.
    #[error("{host}: unreachable over {transport}: {detail}")]
    Unreachable {
        /// The host.
        host: String,
        /// `ssh`, `adm-agent`, `rabbit-agent`.
        transport: &'static str,
        /// What failed (no secrets).
        detail: String,
    },
    /// Authentication was refused.
    #[error("{host}: authentication failed for {user} over {transport} (tried: {tried})")]
    AuthFailed {
        /// The host.
        host: String,
        /// The login user (or agent identity).
        user: String,
        /// `ssh`, `adm-agent`, `rabbit-agent`.
        transport: &'static str,
        /// Methods tried, e.g. `password, publickey`.
        tried: String,
    },
    /// The program does not exist on the host.
    #[error("{host}: command not found: {program}")]
    NotFound {
        /// The host.
        host: String,
        /// The program's name.
        program: String,
    },
    /// The command ran longer than its timeout and was killed.
    #[error("{host}: {program} timed out after {after:?} and was killed")]
    Timeout {
        /// The host.
        host: String,
        /// The program's name.
        program: String,
        /// The timeout.
        after: Duration,
    },
    /// The command could not be started.
    #[error("{host}: cannot start {program}: {detail}")]
    Spawn {
        /// The host.
        host: String,
        /// The program's name.
        program: String,
        /// Why.
        detail: String,
    },
    /// A kill was requested for a command that is not running there.
    #[error("{host}: no running command with id {id}")]
    NoSuchCommand {
        /// The host.
        host: String,
        /// The command id.
        id: String,
    },
    /// The transport broke while a command ran (connection lost, protocol
    /// error, agent identity mismatch).
    #[error("{host}: {transport} failed while running {program}: {detail}")]
    Transport {
        /// The host.
        host: String,
        /// `ssh`, `adm-agent`, `rabbit-agent`, `local`.
        transport: &'static str,
        /// The program's name (or the step, e.g. `connect`).
        program: String,
        /// What failed.
        detail: String,
    },
    /// Invalid configuration or command (bad URI, bad env name).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid.
        what: String,
        /// Why.
        detail: String,
    },
    /// Local I/O while talking to the command.
    #[error("{host}: I/O error with {program}: {source}")]
    Io {
        /// The host.
        host: String,
        /// The program's name.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The kind of an error as the agents report it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKind {
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Spawn`].
    Spawn,
    /// [`Error::NoSuchCommand`].
    NoSuchCommand,
    /// [`Error::Invalid`].
    Invalid,
    /// Anything else.
    Other,
}

/// An error as an agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// Which kind.
    pub kind: WireKind,
    /// The agent's message (already free of secrets).
    pub message: String,
}

impl Error {
    /// The wire form of this error.
    pub fn to_wire(&self) -> WireError {
        let kind = match self {
            Error::NotFound { .. } => WireKind::NotFound,
            Error::Timeout { .. } => WireKind::Timeout,
            Error::Spawn { .. } => WireKind::Spawn,
            Error::NoSuchCommand { .. } => WireKind::NoSuchCommand,
            Error::Invalid { .. } => WireKind::Invalid,
            _ => WireKind::Other,
        };
        WireError {
            kind,
            message: self.to_string(),
        }
    }

    /// Rebuilds an error an agent on `host` reported about `program`.
    pub fn from_wire(
        w: WireError,
        host: &str,
        transport: &'static str,
        program: &str,
        timeout: Option<Duration>,
        id: &str,
    ) -> Error {
        let host = host.to_owned();
        let program = program.to_owned();
        match w.kind {
            WireKind::NotFound => Error::NotFound { host, program },
            WireKind::Timeout => Error::Timeout {
                host,
                program,
                after: timeout.unwrap_or_default(),
            },
            WireKind::Spawn => Error::Spawn {
                host,
                program,
                detail: w.message,
            },
            WireKind::NoSuchCommand => Error::NoSuchCommand {
                host,
                id: id.to_owned(),
            },
            WireKind::Invalid => Error::Invalid {
                what: "command".into(),
                detail: w.message,
            },
            WireKind::Other => Error::Transport {
                host,
                transport,
                program,
                detail: w.message,
            },
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
