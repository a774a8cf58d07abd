//! Typed rows of the three tables, with the seed's values for flags.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

/// `Y`: the seed's yes (`is_complete`, `transfer_complete`, `is_deleted`).
pub const YES: &str = "Y";
/// `N`: the seed's no.
pub const NO: &str = "N";
/// `N/A`: the default of `tag` and `validate_status`.
pub const NOT_APPLICABLE: &str = "N/A";
/// `slave_status` of a server that replicates from nobody.
pub const NOT_A_SLAVE: &str = "Not a slave";

/// One `user_backup` row: a backup run. `id` is ignored on insert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BackupRecord {
    /// `id`: the row's number (0 before insert).
    pub id: i32,
    /// `bk_id`: the run's UUID, also the backup's directory name.
    pub bk_id: String,
    /// `bk_server`: the backed-up server's address.
    pub bk_server: String,
    /// `start_time`: when the dump started (local time, as the seed).
    pub start_time: NaiveDateTime,
    /// `end_time`: when the last dump ended.
    pub end_time: NaiveDateTime,
    /// `elapsed_time`: seconds from start to end.
    pub elapsed_time: i32,
    /// `backuped_db`: the databases, comma-separated.
    pub backuped_db: Option<String>,
    /// `is_complete`: `Y`/`N` per database, in `backuped_db` order.
    pub is_complete: Option<String>,
    /// `bk_size`: human size (`480M`, as `du -sh`).
    pub bk_size: String,
    /// `bk_dir`: the output directory the backup was written under.
    pub bk_dir: String,
    /// `transfer_start`: when rsync started (none without a transfer).
    pub transfer_start: Option<NaiveDateTime>,
    /// `transfer_end`: when rsync ended.
    pub transfer_end: Option<NaiveDateTime>,
    /// `transfer_elapsed`: seconds rsync took.
    pub transfer_elapsed: Option<i32>,
    /// `transfer_complete`: `Y`, `N`, or `N/A` when not transferred.
    pub transfer_complete: String,
    /// `remote_dest`: the rsync destination (`user@host/module/path/`).
    pub remote_dest: String,
    /// `master_status`: `binlog,position,gtid` from mydumper's metadata.
    pub master_status: String,
    /// `slave_status`: `host,binlog,position,gtid`, or `Not a slave`.
    pub slave_status: String,
    /// `tool_version`: `mydumper --version`.
    pub tool_version: String,
    /// `server_version`: the server's `version()`.
    pub server_version: String,
    /// `pybackup_version`: the version of the tool that wrote the row.
    pub pybackup_version: Option<String>,
    /// `bk_command`: the mydumper command line, password replaced.
    pub bk_command: Option<String>,
    /// `tag`: free text (`N/A` by default).
    pub tag: String,
    /// `is_deleted`: `Y` once `mark-del` saw the backup removed.
    pub is_deleted: String,
    /// `validate_status`: `N/A`, then `validating`, `Y` or `N`.
    pub validate_status: String,
}

/// A transfer's outcome, for `user_backup`'s `transfer_*` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// `transfer_start`.
    pub start: NaiveDateTime,
    /// `transfer_end`.
    pub end: NaiveDateTime,
    /// Did rsync succeed (`transfer_complete` `Y`/`N`).
    pub complete: bool,
}

impl Transfer {
    /// `transfer_elapsed`: whole seconds.
    pub fn elapsed_secs(&self) -> i32 {
        i32::try_from((self.end - self.start).num_seconds().max(0)).unwrap_or(i32::MAX)
    }
}

/// One `user_backup_path` row: where `bk_server`'s backups live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BackupPath {
    /// `id` (0 before insert).
    pub id: i32,
    /// `bk_server`: the backed-up server's address.
    pub bk_server: String,
    /// `remote_server`: the storage host.
    pub remote_server: String,
    /// `real_path`: the directory on the storage host (the rsync module's
    /// directory for that server).
    pub real_path: String,
    /// `tag`: free text.
    pub tag: String,
}

/// One `user_recover_info` row: one database restored by a validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RecoverInfo {
    /// `id` (0 before insert).
    pub id: i32,
    /// `bk_id` of the validated backup.
    pub bk_id: String,
    /// `tag` (the backup's).
    pub tag: String,
    /// `backup_path`: the directory loaded.
    pub backup_path: String,
    /// `db`: the database.
    pub db: String,
    /// `start_time` of its load.
    pub start_time: NaiveDateTime,
    /// `end_time` of its load.
    pub end_time: NaiveDateTime,
    /// `elapsed_time` in seconds.
    pub elapsed_time: i32,
    /// `recover_status`: `Y`, or `N` when it failed.
    pub recover_status: Option<String>,
    /// `validate_time`: set by the server on insert (ignored on insert).
    pub validate_time: DateTime<Utc>,
}
