//! Errors of transfers, listeners, the registry and the watchdog. Every
//! message names the host, the port and socat log (when there is one) and
//! the step; none holds a command's arguments or environment.

use std::time::Duration;

/// Why a run was stopped (the seed's `backup_need_stop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `[misc] max-time-sec` passed since the run started.
    MaxTime {
        /// The limit in force when it fired.
        limit_secs: u64,
        /// Seconds the run had been going.
        elapsed_secs: u64,
    },
    /// Another step failed and everything still running must go.
    StepFailed(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::MaxTime {
                limit_secs,
                elapsed_secs,
            } => write!(
                f,
                "reach max-time-sec ({limit_secs} s, running for {elapsed_secs} s)"
            ),
            StopReason::StepFailed(step) => write!(f, "another step failed: {step}"),
        }
    }
}

/// Errors from this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every port tried was taken.
    #[error(
        "listener on {host}:{port} failed: Address already in use after {tries} tries (ports {ports}), log {log}"
    )]
    PortsInUse {
        /// Receiving host.
        host: String,
        /// The last port tried.
        port: u16,
        /// How many ports were tried.
        tries: usize,
        /// The ports tried, comma-separated.
        ports: String,
        /// The last socat log.
        log: String,
    },
    /// The listener did not come up for another reason.
    #[error("listener on {host}:{port} failed: {detail}, log {log}")]
    Listener {
        /// Receiving host.
        host: String,
        /// Port.
        port: u16,
        /// What happened.
        detail: String,
        /// The socat log.
        log: String,
    },
    /// The listener did not report "listening on" in time.
    #[error("listener on {host}:{port} did not start listening within {after:?}, log {log}")]
    ListenTimeout {
        /// Receiving host.
        host: String,
        /// Port.
        port: u16,
        /// The bound.
        after: Duration,
        /// The socat log.
        log: String,
    },
    /// The sending side failed (a stage exited non-zero, or it was killed).
    #[error("sending {what} from {host} to port {port} failed: {detail}")]
    Sender {
        /// Sending host.
        host: String,
        /// What was sent.
        what: String,
        /// The receiver's port.
        port: u16,
        /// Which stage failed and how, plus the tail of its stderr.
        detail: String,
    },
    /// The receiving side failed.
    #[error("receiving into {what} on {host}:{port} failed: {detail}, log {log}")]
    Receiver {
        /// Receiving host.
        host: String,
        /// Where the data went.
        what: String,
        /// Port.
        port: u16,
        /// Which stage failed and how.
        detail: String,
        /// The socat log.
        log: String,
    },
    /// Both ends finished but disagree on the byte count or the hash.
    #[error(
        "transfer {from_host} -> {to_host}:{port} lost data: {detail} (sent {sent} bytes, received {received} bytes), log {log}"
    )]
    Mismatch {
        /// Sending host.
        from_host: String,
        /// Receiving host.
        to_host: String,
        /// Port.
        port: u16,
        /// Bytes the sender sent.
        sent: u64,
        /// Bytes the receiver got.
        received: u64,
        /// What differs.
        detail: String,
        /// The socat log.
        log: String,
    },
    /// The run was stopped (watchdog or another step's failure) while this
    /// step ran; its remote commands were killed.
    #[error("{step} on {host} stopped: {reason}")]
    Stopped {
        /// The host of the step.
        host: String,
        /// The step.
        step: String,
        /// Why.
        reason: StopReason,
    },
    /// A remote command could not be run.
    #[error("{step} on {host}: {source}")]
    Remote {
        /// The host.
        host: String,
        /// The step.
        step: String,
        /// The transport's error.
        #[source]
        source: Box<remote::Error>,
    },
    /// A step of a transfer (clearing, counting, an scp) failed.
    #[error("{step} on {host} failed: {detail}")]
    Step {
        /// The host.
        host: String,
        /// The step.
        step: String,
        /// Which stage failed and how, plus the tail of its stderr.
        detail: String,
    },
    /// A step did not finish within its bound.
    #[error("{step} on {host} did not finish within {after:?}")]
    Timeout {
        /// The host.
        host: String,
        /// The step.
        step: String,
        /// The bound.
        after: Duration,
    },
    /// A request this crate cannot carry out.
    #[error("invalid transfer: {0}")]
    Invalid(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
