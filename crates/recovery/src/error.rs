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
    /// The chain or the replay cannot be planned (before anything moves).
    #[error("{0}")]
    Plan(String),
    /// A pre-check on the job server failed.
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
