//! The engine's error: each variant names the host, backup, datasource or
//! file and the step, never a secret.

/// Why a recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The store failed.
    #[error(transparent)]
    Store(Box<store::StoreError>),
    /// A command on a host failed.
    #[error("{host}: {step}: {detail}")]
    Host {
        /// The host.
        host: String,
        /// What was being done.
        step: String,
        /// Why.
        detail: String,
    },
    /// `[recover-to]` names no backup or time (before anything moves).
    #[error("[recover-to] {key}: {reason}")]
    Target {
        /// `dir`, or `stop-datetime` with the value.
        key: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// No chain of the store's backups reaches the target.
    #[error(transparent)]
    Chain(#[from] binlog::ChainError),
    /// A backup's planning file (consistence info, binlog list, a server's
    /// `master_dir` or `executed_gtids`) cannot be read or parsed.
    #[error("{path} on {host}: {reason}")]
    PlanningFile {
        /// The file on the store.
        path: String,
        /// The store.
        host: String,
        /// Why.
        reason: String,
    },
    /// The replay cannot be planned from the chain's facts.
    #[error(transparent)]
    Apply(#[from] binlog::ApplyPlanError),
    /// A binlog the replay needs is listed by its backup but not there.
    #[error(
        "datasource {datasource}: binlog {} of {} is listed in {}/backuped_binlogs but {path} is missing on {host}",
        binlog.file,
        binlog.dir,
        binlog.backup
    )]
    MissingBinlog {
        /// The datasource.
        datasource: String,
        /// The binlog, as its backup lists it.
        binlog: Box<binlog::apply_plan::BinlogSource>,
        /// Where it should be.
        path: String,
        /// The host it should be on.
        host: String,
    },
    /// The job server lacks the room the recovery needs.
    #[error(
        "pre-check failed: the job server {host} has {free} bytes ({} MiB) free for {dir}, but this recovery needs {needed} bytes ({} MiB): {breakdown}",
        free >> 20,
        needed >> 20
    )]
    NoRoom {
        /// The job server.
        host: String,
        /// Bytes free.
        free: u64,
        /// Bytes needed.
        needed: u64,
        /// The work directory.
        dir: String,
        /// What the need is made of.
        breakdown: String,
    },
    /// A program the restore needs is not installed on the job server.
    #[error("pre-check failed: job server {host}: {program} is not installed (needed to restore)")]
    NotInstalled {
        /// The job server.
        host: String,
        /// The program(s) missing.
        program: String,
    },
    /// Another pre-check on the job server failed.
    #[error("pre-check failed: {0}")]
    PreCheck(String),
    /// The encryption password is wrong or missing.
    #[error("{0}")]
    Password(String),
    /// Files of a backup, as the job server holds them before anything is
    /// prepared, are not what its manifest lists.
    #[error(
        "{backup} on {host} does not match its manifest: {}; nothing was prepared (check the store's copy with `dbbackup verify --backup {backup}`)",
        problems.join("; ")
    )]
    Damaged {
        /// The backup.
        backup: String,
        /// The job server.
        host: String,
        /// Each missing, cut or changed file.
        problems: Vec<String>,
    },
    /// One datasource's restore failed.
    #[error("datasource {datasource}: {step}: {detail}")]
    Datasource {
        /// The datasource.
        datasource: String,
        /// What was being done.
        step: String,
        /// Why (with the log to read, when there is one).
        detail: String,
    },
}

impl From<store::StoreError> for RecoveryError {
    fn from(e: store::StoreError) -> Self {
        RecoveryError::Store(Box::new(e))
    }
}

impl RecoveryError {
    /// A failed host step.
    pub fn host(host: &str, step: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        RecoveryError::Host {
            host: host.to_owned(),
            step: step.into(),
            detail: detail.to_string(),
        }
    }
}
