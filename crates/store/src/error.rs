//! Errors of store operations: each names the store host, the path and the
//! step.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The transport failed (host unreachable, timeout, ...).
    #[error("backup store {host}: {step}: {source}")]
    Remote {
        /// Store host.
        host: String,
        /// What was being done.
        step: String,
        /// Why it failed.
        source: remote::Error,
    },
    /// A command on the store ran but failed.
    #[error("backup store {host}: {step} failed (exit {exit_status}): {stderr}")]
    Failed {
        /// Store host.
        host: String,
        /// What was being done.
        step: String,
        /// Its exit status.
        exit_status: i32,
        /// The last lines it printed on stderr.
        stderr: String,
    },
    /// The store holds something unexpected.
    #[error("backup store {host}: {path}: {detail}")]
    Invalid {
        /// Store host.
        host: String,
        /// The path concerned.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The run lock of a directory could not be taken.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// Files of a backup are missing or not the size they were written
    /// with.
    #[error("backup store {host}: {dir} is incomplete: {}", problems.join("; "))]
    Incomplete {
        /// Store host.
        host: String,
        /// The store directory.
        dir: String,
        /// Each missing or changed file, with what was expected.
        problems: Vec<String>,
    },
}
