//! The crate's error type. Messages name the host (or `host:port`), the
//! step and, for files, the path; never a password.

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text from a tool or a host could not be understood.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was being parsed (`mariabackup --version output`).
        what: String,
        /// Why, with a short excerpt.
        detail: String,
    },
    /// A value given to a builder cannot be used safely (a newline in a
    /// path written into an option file, a password with a NUL byte).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Which value.
        what: String,
        /// Why.
        detail: String,
    },
    /// The command could not be run on the host at all.
    #[error("{host}: {step}: {source}")]
    Remote {
        /// The host.
        host: String,
        /// The step (`read the server's command line`).
        step: String,
        /// The transport's error (boxed: it is large).
        #[source]
        source: Box<remote::Error>,
    },
    /// A command ran and failed.
    #[error("{host}: {step} failed (exit {exit_status}): {detail}")]
    Failed {
        /// The host.
        host: String,
        /// The step.
        step: String,
        /// Its exit status.
        exit_status: i32,
        /// The last lines of its stderr.
        detail: String,
    },
    /// The backup tool failed; its log says why.
    #[error("{host}: backup failed ({failure}); its log is {log_file} on that host")]
    BackupFailed {
        /// The host.
        host: String,
        /// The tool's log file on the host.
        log_file: String,
        /// The pipeline's exit status, when it ran to its end.
        exit_status: Option<i32>,
        /// What the log tells.
        failure: crate::log::Failure,
    },
    /// `.qp` files need `qpress`, which the host lacks (Debian has none).
    #[error(
        "{host}: cannot decompress QuickLZ (.qp) backup files in {dir}: qpress is not installed on this host"
    )]
    QpressMissing {
        /// The host.
        host: String,
        /// The backup directory.
        dir: String,
    },
    /// Something the driver looks for is not there.
    #[error("{host}: {what}")]
    NotFound {
        /// The host (or `host:port`).
        host: String,
        /// What is missing, as a sentence fragment.
        what: String,
    },
    /// A connection or statement on the backed-up server failed (the
    /// router client's error names `host:port` and the statement).
    #[error("{step}: {source}")]
    Sql {
        /// `host:port`.
        server: String,
        /// The step (`read the processlist`).
        step: String,
        /// The client's error (it never holds the password; boxed: it is
        /// large).
        #[source]
        source: Box<router::RouterError>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
