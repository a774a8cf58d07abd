//! The catalog connection and its statements.

use super::error::HistoryError;
use super::record::{BackupPath, BackupRecord, NO, NOT_APPLICABLE, RecoverInfo, Transfer, YES};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// `validate_status` of a backup a validation run has claimed.
pub const VALIDATING: &str = "validating";

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the catalog is and how to log in (`[CATALOG]` of `pbackup.conf`).
/// `Debug` hides the password.
#[derive(Clone)]
pub struct CatalogLogin {
    /// `db_host`.
    pub host: String,
    /// `db_port`.
    pub port: u16,
    /// `db_user`.
    pub user: String,
    /// `db_passwd`.
    pub password: Zeroizing<String>,
    /// `db_use`: the catalog database (`catalogdb`).
    pub database: String,
}

impl fmt::Debug for CatalogLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogLogin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .finish()
    }
}

impl From<&conf::CatalogConfig> for CatalogLogin {
    /// The login of a tool's `[catalog]` section.
    fn from(c: &conf::CatalogConfig) -> Self {
        CatalogLogin::new(
            c.host.as_str(),
            c.port,
            c.user.as_str(),
            c.password.as_str(),
            c.database.as_str(),
        )
    }
}

impl CatalogLogin {
    /// A login.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: impl Into<String>,
        database: impl Into<String>,
    ) -> Self {
        CatalogLogin {
            host: host.into(),
            port,
            user: user.into(),
            password: Zeroizing::new(password.into()),
            database: database.into(),
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .password(&self.password)
            .disable_statement_logging()
    }
}

/// A backup claimed for validation: holds the catalog server's named lock
/// on it until dropped (or [`ValidationClaim::release`]d); a process that
/// dies releases it with its connection.
#[derive(Debug)]
pub struct ValidationClaim {
    conn: Option<sqlx::mysql::MySqlConnection>,
    lock: String,
}

impl ValidationClaim {
    /// Releases the lock (after `validate_status` is set).
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(&self.lock)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// The open catalog: a small pool on `catalogdb`.
#[derive(Debug, Clone)]
pub struct History {
    pool: MySqlPool,
    address: String,
}

pub(crate) fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

impl History {
    /// Connects, creates the database if it is missing and runs the
    /// migrations (an existing pybackup `catalogdb` is adopted as it is).
    pub async fn open(login: &CatalogLogin) -> Result<History, HistoryError> {
        let address = login.address();
        if !plain_identifier(&login.database) {
            return Err(HistoryError::BadDatabaseName(login.database.clone()));
        }
        let timeout = |address: &str| HistoryError::Timeout {
            address: address.to_owned(),
            secs: CONNECT_TIMEOUT.as_secs(),
        };
        let connect = |source| HistoryError::Connect {
            address: address.clone(),
            source,
        };
        let mut conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            sqlx::mysql::MySqlConnection::connect_with(&login.options()),
        )
        .await
        .map_err(|_| timeout(&address))?
        .map_err(connect)?;
        sqlx::raw_sql(&format!(
            "CREATE DATABASE IF NOT EXISTS `{}` DEFAULT CHARACTER SET utf8",
            login.database
        ))
        .execute(&mut conn)
        .await
        .map_err(|source| HistoryError::Statement {
            address: address.clone(),
            step: format!("create database {}", login.database),
            source,
        })?;
        let _ = conn.close().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(login.options().database(&login.database))
            .await
            .map_err(connect)?;
        let mut migrator = sqlx::migrate!("./migrations/catalogdb");
        // The tasks' migrations may share a database with these one day.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|source| HistoryError::Migrate {
                address: address.clone(),
                database: login.database.clone(),
                source,
            })?;
        Ok(History { pool, address })
    }

    /// `host:port` of the catalog.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn failed(&self, step: &str) -> impl FnOnce(sqlx::Error) -> HistoryError {
        let address = self.address.clone();
        let step = step.to_owned();
        move |source| HistoryError::Statement {
            address,
            step,
            source,
        }
    }

    /// Inserts a `user_backup` row (its `id` ignored); returns the new id.
    pub async fn insert_backup(&self, r: &BackupRecord) -> Result<u64, HistoryError> {
        let done = sqlx::query(
            "INSERT INTO user_backup (bk_id, bk_server, start_time, end_time, elapsed_time, \
             backuped_db, is_complete, bk_size, bk_dir, transfer_start, transfer_end, \
             transfer_elapsed, transfer_complete, remote_dest, master_status, slave_status, \
             tool_version, server_version, pybackup_version, bk_command, tag, is_deleted, \
             validate_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&r.bk_id)
        .bind(&r.bk_server)
        .bind(r.start_time)
        .bind(r.end_time)
        .bind(r.elapsed_time)
        .bind(&r.backuped_db)
        .bind(&r.is_complete)
        .bind(&r.bk_size)
        .bind(&r.bk_dir)
        .bind(r.transfer_start)
        .bind(r.transfer_end)
        .bind(r.transfer_elapsed)
        .bind(&r.transfer_complete)
        .bind(&r.remote_dest)
        .bind(&r.master_status)
        .bind(&r.slave_status)
        .bind(&r.tool_version)
        .bind(&r.server_version)
        .bind(&r.pybackup_version)
        .bind(&r.bk_command)
        .bind(&r.tag)
        .bind(&r.is_deleted)
        .bind(&r.validate_status)
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("insert user_backup row {}", r.bk_id)))?;
        Ok(done.last_insert_id())
    }

    /// The `user_backup` row of `bk_id`.
    pub async fn backup(&self, bk_id: &str) -> Result<Option<BackupRecord>, HistoryError> {
        sqlx::query_as("SELECT * FROM user_backup WHERE bk_id = ?")
            .bind(bk_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed(&format!("read user_backup row {bk_id}")))
    }

    /// The `limit` most recent backups, newest first.
    pub async fn recent(&self, limit: u32) -> Result<Vec<BackupRecord>, HistoryError> {
        sqlx::query_as("SELECT * FROM user_backup ORDER BY start_time DESC, id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("list user_backup"))
    }

    /// Records a transfer of `bk_id` (`only-rsync --bk-id`, or the
    /// backup's own); `false` when there is no such row.
    pub async fn record_transfer(
        &self,
        bk_id: &str,
        t: &Transfer,
        remote_dest: &str,
    ) -> Result<bool, HistoryError> {
        let done = sqlx::query(
            "UPDATE user_backup SET transfer_start = ?, transfer_end = ?, transfer_elapsed = ?, \
             transfer_complete = ?, remote_dest = ? WHERE bk_id = ?",
        )
        .bind(t.start)
        .bind(t.end)
        .bind(t.elapsed_secs())
        .bind(if t.complete { YES } else { NO })
        .bind(remote_dest)
        .bind(bk_id)
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("record the transfer of {bk_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// `mark-del`: sets `is_deleted = 'Y'`; `false` when no row has `bk_id`
    /// (or it was marked already).
    pub async fn mark_deleted(&self, bk_id: &str) -> Result<bool, HistoryError> {
        let done = sqlx::query(
            "UPDATE user_backup SET is_deleted = ? WHERE bk_id = ? AND is_deleted <> ?",
        )
        .bind(YES)
        .bind(bk_id)
        .bind(YES)
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("mark {bk_id} deleted")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Claims the oldest transferred, not deleted, not yet validated
    /// backup for validation; `None` when there is nothing to validate.
    ///
    /// Two runs never take the same backup: a claim is a named lock on
    /// the catalog server (`GET_LOCK('dbcatalog_validate_<bk_id>', 0)`)
    /// held by the returned [`ValidationClaim`]'s own connection, and
    /// `validate_status` = `validating` for readers. A run that died
    /// leaves `validating` behind but not the lock (the server drops it
    /// with the connection), so its backup is claimed again.
    pub async fn claim_for_validation(
        &self,
    ) -> Result<Option<(BackupRecord, ValidationClaim)>, HistoryError> {
        let candidates: Vec<BackupRecord> = sqlx::query_as(
            "SELECT * FROM user_backup WHERE validate_status IN (?, ?) AND is_deleted = ? \
             AND transfer_complete = ? ORDER BY start_time, id LIMIT 100",
        )
        .bind(NOT_APPLICABLE)
        .bind(VALIDATING)
        .bind(NO)
        .bind(YES)
        .fetch_all(&self.pool)
        .await
        .map_err(self.failed("find a backup to validate"))?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(self.failed("open the claim's connection"))?
            .detach();
        for row in candidates {
            let lock = format!("dbcatalog_validate_{}", row.bk_id);
            let (got,): (Option<i64>,) = sqlx::query_as("SELECT GET_LOCK(?, 0)")
                .bind(&lock)
                .fetch_one(&mut conn)
                .await
                .map_err(self.failed(&format!("lock {} for validation", row.bk_id)))?;
            if got != Some(1) {
                continue;
            }
            // Under the lock: still waiting (or left by a dead run)?
            let claimed = sqlx::query(
                "UPDATE user_backup SET validate_status = ? WHERE id = ? AND is_deleted = ? \
                 AND validate_status IN (?, ?)",
            )
            .bind(VALIDATING)
            .bind(row.id)
            .bind(NO)
            .bind(NOT_APPLICABLE)
            .bind(VALIDATING)
            .execute(&mut conn)
            .await
            .map_err(self.failed(&format!("claim {} for validation", row.bk_id)))?;
            let current: Option<(String,)> =
                sqlx::query_as("SELECT validate_status FROM user_backup WHERE id = ?")
                    .bind(row.id)
                    .fetch_optional(&mut conn)
                    .await
                    .map_err(self.failed(&format!("claim {} for validation", row.bk_id)))?;
            if claimed.rows_affected() <= 1 && current.is_some_and(|(s,)| s == VALIDATING) {
                if row.validate_status == VALIDATING {
                    tracing::warn!(
                        bk_id = %row.bk_id,
                        "a validation that did not finish left this backup claimed; validating it again"
                    );
                }
                let mut row = row;
                row.validate_status = VALIDATING.to_owned();
                return Ok(Some((
                    row,
                    ValidationClaim {
                        conn: Some(conn),
                        lock,
                    },
                )));
            }
            let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(&lock)
                .execute(&mut conn)
                .await;
        }
        let _ = conn.close().await;
        Ok(None)
    }

    /// Sets `validate_status` of `bk_id`.
    pub async fn set_validate_status(&self, bk_id: &str, status: &str) -> Result<(), HistoryError> {
        sqlx::query("UPDATE user_backup SET validate_status = ? WHERE bk_id = ?")
            .bind(status)
            .bind(bk_id)
            .execute(&self.pool)
            .await
            .map_err(self.failed(&format!("set validate_status of {bk_id}")))?;
        Ok(())
    }

    /// The `user_backup_path` rows of `bk_server`.
    pub async fn paths(&self, bk_server: &str) -> Result<Vec<BackupPath>, HistoryError> {
        sqlx::query_as("SELECT * FROM user_backup_path WHERE bk_server = ? ORDER BY id")
            .bind(bk_server)
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed(&format!("read user_backup_path of {bk_server}")))
    }

    /// Inserts a `user_backup_path` row; returns its id.
    pub async fn insert_path(&self, p: &BackupPath) -> Result<u64, HistoryError> {
        let done = sqlx::query(
            "INSERT INTO user_backup_path (bk_server, remote_server, real_path, tag) \
             VALUES (?,?,?,?)",
        )
        .bind(&p.bk_server)
        .bind(&p.remote_server)
        .bind(&p.real_path)
        .bind(&p.tag)
        .execute(&self.pool)
        .await
        .map_err(self.failed("insert user_backup_path row"))?;
        Ok(done.last_insert_id())
    }

    /// Deletes a `user_backup_path` row (tests and operators).
    pub async fn delete_path(&self, id: u64) -> Result<(), HistoryError> {
        sqlx::query("DELETE FROM user_backup_path WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.failed("delete user_backup_path row"))?;
        Ok(())
    }

    /// Inserts a `user_recover_info` row (`validate_time` set by the
    /// server); returns its id.
    pub async fn insert_recover_info(&self, r: &RecoverInfo) -> Result<u64, HistoryError> {
        let done = sqlx::query(
            "INSERT INTO user_recover_info (bk_id, tag, backup_path, db, start_time, end_time, \
             elapsed_time, recover_status) VALUES (?,?,?,?,?,?,?,?)",
        )
        .bind(&r.bk_id)
        .bind(&r.tag)
        .bind(&r.backup_path)
        .bind(&r.db)
        .bind(r.start_time)
        .bind(r.end_time)
        .bind(r.elapsed_time)
        .bind(&r.recover_status)
        .execute(&self.pool)
        .await
        .map_err(self.failed(&format!("insert user_recover_info row of {}", r.bk_id)))?;
        Ok(done.last_insert_id())
    }

    /// The `user_recover_info` rows of `bk_id`.
    pub async fn recover_info(&self, bk_id: &str) -> Result<Vec<RecoverInfo>, HistoryError> {
        sqlx::query_as("SELECT * FROM user_recover_info WHERE bk_id = ? ORDER BY id")
            .bind(bk_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed(&format!("read user_recover_info of {bk_id}")))
    }

    /// Deletes every row of `bk_id` in `user_backup` and
    /// `user_recover_info` (tests' cleanup; operators' pruning).
    pub async fn forget(&self, bk_id: &str) -> Result<(), HistoryError> {
        for table in ["user_recover_info", "user_backup"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE bk_id = ?"))
                .bind(bk_id)
                .execute(&self.pool)
                .await
                .map_err(self.failed(&format!("delete {bk_id} from {table}")))?;
        }
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.pool.close().await;
    }
}
