//! Driver for Percona XtraBackup (2.4/8.x) and MariaDB mariabackup.
//!
//! * [`Flavor`]: which tool a host has, from its `--version` output, and
//!   what that implies (programs, incremental options, `--apply-log-only`);
//! * builders ([`BackupOptions`], [`extract`], [`prepare`], [`decompress`])
//!   returning [`remote::Command`] values; pure, they run nothing;
//! * [`BackupLog`]: the parsed log (`completed OK!`, [`BinlogPosition`] with
//!   a GTID that may span lines, the checkpoint [`Lsn`] for the next
//!   incremental, the `--slave-info` position, the last errors);
//! * [`Checkpoints`] and [`parse_binlog_info`]: the metadata files of an
//!   extracted backup, to check a chain before preparing it;
//! * [`ClientDefaults`]: the 0600 option file that carries the password
//!   (see [`credentials`] for why it wraps the server's own file);
//! * dead-lock handling: [`LockDetector`] kills a `FLUSH TABLES WITH READ
//!   LOCK` / `BACKUP STAGE` statement stuck behind other sessions, or a
//!   `SET GLOBAL` dead-locked with mariabackup inside MariaDB, and
//!   [`retry_on_lock_deadlock`] retries the backup attempt;
//! * [`ops`]: the small I/O steps over a [`remote::Transport`].
//!
//! Stream compression: `compress = 1` means the whole stream goes through
//! `zstd -T<n>` on the sender for every flavor ([`Compression`]); record
//! [`Compression::marker`] beside the stream so recovery knows.
//!
//! ```no_run
//! use std::time::Duration;
//! use remote::{Local, Zeroizing};
//! use xtrabackup::{ops, BackupLog, BackupOptions, ClientDefaults, Compression, PipelineOutput};
//!
//! # async fn demo() -> Result<(), xtrabackup::Error> {
//! let host = Local::default();
//! let tool = ops::detect_tool(&host, "/usr/bin/mariabackup").await?;
//! // The server's own option file, from its command line.
//! let server_cnf = ops::server_defaults_file_by_pid_file(&host, "/srv/db/mysqld.pid").await?;
//! let wrapper = "/srv/db/tmp/backup-login.cnf";
//! let login = ClientDefaults {
//!     server_defaults_file: server_cnf,
//!     user: "backup".into(),
//!     password: Zeroizing::new("secret".into()),
//! };
//! ops::write_client_defaults(&host, &login, wrapper).await?;
//!
//! let mut opts = BackupOptions::new(tool, wrapper, "/srv/db/tmp", "/srv/db/tmp/backup.log");
//! opts.compression = Compression::Zstd { threads: 4 };
//! let sink = PipelineOutput::File("/store/full/backup.xbsteam");
//! let result = ops::run_backup(&host, &opts, sink, Duration::from_secs(3600)).await;
//! ops::remove_file(&host, wrapper).await?;
//! // `Error::BackupFailed` carries the log's reasons (Access denied, ...).
//! let log: BackupLog = result?;
//! let binlog = log.binlog; // file, position, GTID (lines joined)
//! let next_incremental_from = log.checkpoint;
//! # let _ = binlog;
//! # let _ = next_incremental_from;
//! # Ok(()) }
//! ```

mod builder;
pub mod cmdline;
mod compression;
pub mod credentials;
mod deadlock;
mod detector;
mod error;
mod flavor;
mod log;
mod meta;
pub mod ops;
mod pipeline;
mod retry;
mod tool;
mod types;

pub use builder::{
    BackupOptions, BackupPipeline, PrepareStep, StreamSource, decompress, extract,
    is_qpress_missing, prepare,
};
pub use compression::Compression;
pub use credentials::ClientDefaults;
pub use deadlock::{
    DEFAULT_RETRY, DEFAULT_SECONDS, LockWait, PROCESSLIST_QUERY, WaitKind,
    is_backup_lock_statement, is_set_global, stuck_lock_statements, stuck_set_global_cycle,
    stuck_statements,
};
pub use detector::LockDetector;
pub use error::{Error, Result};
pub use flavor::{Flavor, Version};
pub use log::{BackupLog, Failure, FailureKind};
pub use meta::{Checkpoints, parse_binlog_info};
pub use pipeline::{PipelineOutput, STATUS_MARKER, stage_statuses};
pub use retry::{LockWatch, RetryError, retry_on_lock_deadlock};
pub use tool::Tool;
pub use types::{BinlogPosition, Lsn, SlavePosition};
