//! The engine's one error type: each variant names the host, file or step.

use std::path::PathBuf;

/// What can go wrong in a logical backup, transfer or validation.
#[derive(Debug, thiserror::Error)]
pub enum LogicalError {
    /// Bad arguments (the binary's exit status 2).
    #[error("{0}")]
    Usage(String),
    /// `pbackup.conf` is wrong or lacks what this command needs.
    #[error(transparent)]
    Config(#[from] conf::ConfError),
    /// `db_list` (or `database=`) cannot be used.
    #[error("{0}")]
    DbList(String),
    /// The server to back up could not be asked.
    #[error("{step} on {address} failed: {source}")]
    Server {
        /// `host:port`.
        address: String,
        /// What was asked.
        step: String,
        /// Why.
        source: Box<router::RouterError>,
    },
    /// The catalog could not be used.
    #[error(transparent)]
    History(#[from] catalog::history::HistoryError),
    /// A file or directory could not be read or written.
    #[error("cannot {what} ({}): {source}", path.display())]
    Io {
        /// The step.
        what: String,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A tool could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A tool failed.
    #[error("{step} failed: {program} {status}{}", tail_suffix(tail))]
    Tool {
        /// The step.
        step: String,
        /// The program.
        program: String,
        /// `exit status N`.
        status: String,
        /// Its last output lines.
        tail: String,
    },
    /// A validation could not be carried out or found the backup bad.
    #[error("validation of {bk_id}: {detail}")]
    Validate {
        /// The backup.
        bk_id: String,
        /// What went wrong.
        detail: String,
    },
}

fn tail_suffix(tail: &str) -> String {
    match tail.lines().last() {
        Some(l) => format!(" (last output: {})", l.trim()),
        None => String::new(),
    }
}

impl LogicalError {
    /// Is it the caller's fault (arguments or configuration)?
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LogicalError::Usage(_) | LogicalError::Config(_) | LogicalError::DbList(_)
        )
    }
}
