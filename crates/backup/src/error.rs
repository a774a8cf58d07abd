//! The engine's error: one variant per kind of failure, each naming the
//! host, server or file and the step, never a secret.

/// Why a backup run failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A MySQL-protocol peer (the router, or a data server: the step names
    /// which) refused or failed.
    #[error("{address}: {step}: {source}")]
    Router {
        /// `host:port`.
        address: String,
        /// What was being done.
        step: String,
        /// Why.
        source: Box<router::RouterError>,
    },
    /// The router's answers do not describe a usable cluster.
    #[error("cluster topology: {0}")]
    Topology(String),
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
    /// One server's backup failed.
    #[error("backup of {server} ({address}) failed: {detail}")]
    Server {
        /// The server's name.
        server: String,
        /// `host:port`.
        address: String,
        /// Why (with the log file to read, when there is one).
        detail: String,
    },
    /// The store has not the room the backup needs: nothing was written.
    #[error(
        "pre-check failed: the backup store {host}:{dir} has {free_mib} MiB free; this backup needs about {needed_mib} MiB (data and binlogs of the servers it reads, plus 10 %)"
    )]
    StoreFull {
        /// The store host.
        host: String,
        /// The store directory.
        dir: String,
        /// MiB free.
        free_mib: u64,
        /// MiB the backup needs, headroom included.
        needed_mib: u64,
    },
    /// The backup tool does not run on a server's host.
    #[error("pre-check failed: the backup tool {program} on {host} ({server}): {reason}")]
    BackupTool {
        /// The configured program.
        program: String,
        /// The host.
        host: String,
        /// The server it would back up.
        server: String,
        /// Why.
        reason: String,
    },
    /// A server is set up so it cannot be backed up (no binlog, no GTIDs).
    #[error("pre-check failed: {server} ({address}): {problem}")]
    ServerSetting {
        /// The server's name.
        server: String,
        /// `host:port`.
        address: String,
        /// What is off.
        problem: String,
    },
    /// Another pre-check failed: nothing was written.
    #[error("pre-check failed: {0}")]
    PreCheck(String),
    /// This host's clock is at or before the start of the newest backup on
    /// the store: the new backup's name (its UTC start time) would not sort
    /// after it, and chains are ordered by name.
    #[error(
        "pre-check failed: this host's clock ({now} UTC) is at or before the start of the newest backup on the store ({newest}); backup names must grow with time: check the clock (NTP) and run again"
    )]
    ClockBehind {
        /// The run's start, as this host's clock gives it.
        now: String,
        /// The newest backup's name.
        newest: String,
    },
    /// The encryption password does not fit the last backup.
    #[error("{0}")]
    Password(String),
    /// The binlog plan cannot be made (e.g. a gap since the last backup).
    #[error("binlogs of {server}: {detail}")]
    Binlogs {
        /// The server.
        server: String,
        /// Why.
        detail: String,
    },
    /// The cluster changed under the backup.
    #[error("the cluster changed during the backup: {0}")]
    TopologyChanged(String),
    /// The run was stopped (max-time-sec, or another step failed).
    #[error("cluster backup failed because reach max-time-sec or get exception: {0}")]
    Stopped(String),
    /// spiderbackup's task table or a task in it (`spiderbackup`).
    #[error("spiderbackup task: {0}")]
    Task(String),
    /// The task table on a datasource master.
    #[error("task table: {0}")]
    TaskTable(#[from] catalog::tasks::TaskError),
}

impl From<store::StoreError> for BackupError {
    fn from(e: store::StoreError) -> Self {
        BackupError::Store(Box::new(e))
    }
}

impl BackupError {
    /// A failed host step.
    pub fn host(host: &str, step: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        BackupError::Host {
            host: host.to_owned(),
            step: step.into(),
            detail: detail.to_string(),
        }
    }
}
