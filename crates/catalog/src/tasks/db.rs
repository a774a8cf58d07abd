//! The SQL of the task table: migrations, rows, and every state change as
//! a conditional update whose `rows_affected` says whether it happened.

use super::state::Status;
use chrono::NaiveDateTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use std::time::Duration;

/// The database holding the task table (seed 004's name).
pub const DATABASE: &str = "infodba_schema";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/tasks");

/// What went wrong with the task table on one server.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A statement failed.
    #[error("{server}: {step}: {source}")]
    Sql {
        /// `host:port` of the server.
        server: String,
        /// What was being done.
        step: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The migrations failed.
    #[error("{server}: migrating {DATABASE}: {source}")]
    Migrate {
        /// `host:port` of the server.
        server: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A row holds what this version cannot read.
    #[error("{server}: task {id}: {detail}")]
    BadRow {
        /// `host:port` of the server.
        server: String,
        /// The row's `Id`.
        id: u64,
        /// What is wrong.
        detail: String,
    },
    /// Connecting took too long.
    #[error("{server}: connecting timed out after {secs} s")]
    Timeout {
        /// `host:port` of the server.
        server: String,
        /// The limit.
        secs: u64,
    },
}

impl TaskError {
    /// The task table (or its database) does not exist on that server:
    /// nothing was ever scheduled there.
    pub fn is_missing_table(&self) -> bool {
        match self {
            TaskError::Sql {
                source: sqlx::Error::Database(e),
                ..
            } => matches!(e.code().as_deref(), Some("42S02") | Some("42000")),
            _ => false,
        }
    }
}

/// A connection to one datasource master's task table.
pub struct TaskDb {
    conn: MySqlConnection,
    server: String,
}

/// Who works on a task: the process and the host it runs on. The start
/// time tells a reused pid from the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// The address the worker runs on (a task's `Host` when it backs one up).
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Its start time (`/proc/<pid>/stat` field 22, clock ticks since boot).
    pub pid_start: u64,
}

/// One task to write (one chosen server of a backup id).
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The backup id (a UUID, or `--backup-id`).
    pub backup_id: String,
    /// The server's host address.
    pub host: String,
    /// Its MySQL port.
    pub port: u16,
    /// The server's name on the router.
    pub server_name: String,
    /// Its datasource.
    pub datasource: String,
    /// The backup directory on the store (`UTC...-full|inc`).
    pub backup_name: String,
    /// The whole backup's plan, as JSON.
    pub plan: String,
}

/// A row of `global_backup`; see the module's table of columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// `Id`.
    pub id: u64,
    /// `BackupId`.
    pub backup_id: String,
    /// `Host`.
    pub host: String,
    /// `Port`.
    pub port: u16,
    /// `ServerName`.
    pub server_name: String,
    /// `Datasource`.
    pub datasource: String,
    /// `BackupName`.
    pub backup_name: String,
    /// `BackupStatus`.
    pub status: Status,
    /// `TaskPid`.
    pub task_pid: Option<u32>,
    /// `TaskPidStart`.
    pub task_pid_start: Option<u64>,
    /// `WorkerHost`.
    pub worker_host: Option<String>,
    /// `CreatedAt` (UTC).
    pub created_at: NaiveDateTime,
    /// `StartedAt` (UTC).
    pub started_at: Option<NaiveDateTime>,
    /// `EndedAt` (UTC).
    pub ended_at: Option<NaiveDateTime>,
    /// `Reason`.
    pub reason: Option<String>,
    /// `Plan` (JSON).
    pub plan: String,
    /// `Result` (JSON).
    pub result: Option<String>,
    /// Seconds since `CreatedAt`, by the server's clock.
    pub age_secs: i64,
}

impl Task {
    /// The worker recorded on it, when it has one.
    pub fn worker(&self) -> Option<Worker> {
        Some(Worker {
            host: self.worker_host.clone()?,
            pid: self.task_pid?,
            pid_start: self.task_pid_start?,
        })
    }
}

/// Which tasks [`TaskDb::list`] returns (every given field must match).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `BackupId`.
    pub backup_id: Option<String>,
    /// `BackupStatus`.
    pub status: Option<Status>,
    /// `Host`.
    pub host: Option<String>,
}

/// How a running task ends.
#[derive(Debug, Clone)]
pub enum Ending {
    /// Its server's result, as JSON.
    Success(String),
    /// Why it failed.
    Failed(String),
}

/// The claim of a backup id's cluster-level finish (`global_backup_finish`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishClaim {
    /// `FinishStatus`: `running`, `success` or `failed`.
    pub status: String,
    /// The worker that claimed it.
    pub worker: Worker,
    /// `Reason` (of a failure).
    pub reason: Option<String>,
}

const COLUMNS: &str = "Id, BackupId, Host, Port, ServerName, Datasource, BackupName, BackupStatus, \
    TaskPid, TaskPidStart, WorkerHost, CreatedAt, StartedAt, EndedAt, Reason, Plan, Result, \
    CAST(TIMESTAMPDIFF(SECOND, CreatedAt, UTC_TIMESTAMP(3)) AS SIGNED) AS AgeSecs";

impl TaskDb {
    /// Connects to `host:port` as `user` (the password goes only to the
    /// driver), within `timeout`.
    pub async fn connect(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<TaskDb, TaskError> {
        let server = format!("{host}:{port}");
        let options = MySqlConnectOptions::new()
            .host(host)
            .port(port)
            .username(user)
            .password(password)
            .disable_statement_logging();
        let conn = tokio::time::timeout(timeout, options.connect())
            .await
            .map_err(|_| TaskError::Timeout {
                server: server.clone(),
                secs: timeout.as_secs(),
            })?
            .map_err(|source| TaskError::Sql {
                server: server.clone(),
                step: "connecting".into(),
                source,
            })?;
        Ok(TaskDb { conn, server })
    }

    /// `host:port` of the server.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn sql(&self, step: &str) -> impl FnOnce(sqlx::Error) -> TaskError + '_ {
        let step = step.to_owned();
        move |source| TaskError::Sql {
            server: self.server.clone(),
            step,
            source,
        }
    }

    /// Creates `infodba_schema` and applies the migrations not yet applied
    /// (idempotent; the master's replicas get them by replication).
    pub async fn migrate(&mut self) -> Result<(), TaskError> {
        let create = format!("CREATE DATABASE IF NOT EXISTS {DATABASE}");
        sqlx::raw_sql(&create)
            .execute(&mut self.conn)
            .await
            .map_err(|source| TaskError::Sql {
                server: self.server.clone(),
                step: format!("creating {DATABASE}"),
                source,
            })?;
        let use_db = format!("USE {DATABASE}");
        sqlx::raw_sql(&use_db)
            .execute(&mut self.conn)
            .await
            .map_err(|source| TaskError::Sql {
                server: self.server.clone(),
                step: format!("using {DATABASE}"),
                source,
            })?;
        MIGRATOR
            .run(&mut self.conn)
            .await
            .map_err(|source| TaskError::Migrate {
                server: self.server.clone(),
                source,
            })
    }

    /// Writes the tasks, all or none.
    pub async fn insert(&mut self, tasks: &[NewTask]) -> Result<(), TaskError> {
        let server = self.server.clone();
        let err = |source| TaskError::Sql {
            server: server.clone(),
            step: "writing tasks".into(),
            source,
        };
        let mut tx = self.conn.begin().await.map_err(err)?;
        for t in tasks {
            sqlx::query(
                "INSERT INTO infodba_schema.global_backup \
                 (BackupId, Host, Port, ServerName, Datasource, BackupName, BackupStatus, CreatedAt, Plan) \
                 VALUES (?, ?, ?, ?, ?, ?, 'init', UTC_TIMESTAMP(3), ?)",
            )
            .bind(&t.backup_id)
            .bind(&t.host)
            .bind(t.port)
            .bind(&t.server_name)
            .bind(&t.datasource)
            .bind(&t.backup_name)
            .bind(&t.plan)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// The tasks matching `filter`, oldest first. A server without the
    /// table has none.
    pub async fn list(&mut self, filter: &Filter) -> Result<Vec<Task>, TaskError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM infodba_schema.global_backup \
             WHERE (? IS NULL OR BackupId = ?) AND (? IS NULL OR BackupStatus = ?) \
             AND (? IS NULL OR Host = ?) ORDER BY CreatedAt, Id"
        );
        let status = filter.status.map(Status::as_str);
        let rows = sqlx::query(&sql)
            .bind(&filter.backup_id)
            .bind(&filter.backup_id)
            .bind(status)
            .bind(status)
            .bind(&filter.host)
            .bind(&filter.host)
            .fetch_all(&mut self.conn)
            .await
            .map_err(|source| TaskError::Sql {
                server: self.server.clone(),
                step: "reading tasks".into(),
                source,
            });
        let rows = match rows {
            Err(e) if e.is_missing_table() => return Ok(Vec::new()),
            r => r?,
        };
        rows.iter().map(|r| self.task(r)).collect()
    }

    /// One task by `Id`.
    pub async fn get(&mut self, id: u64) -> Result<Option<Task>, TaskError> {
        let sql = format!("SELECT {COLUMNS} FROM infodba_schema.global_backup WHERE Id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(self.sql("reading a task"))?;
        row.as_ref().map(|r| self.task(r)).transpose()
    }

    fn task(&self, r: &MySqlRow) -> Result<Task, TaskError> {
        let id: u64 = r.try_get("Id").map_err(self.sql("reading Id"))?;
        let bad = |detail: String| TaskError::BadRow {
            server: self.server.clone(),
            id,
            detail,
        };
        let get = |e: sqlx::Error| bad(e.to_string());
        let status: String = r.try_get("BackupStatus").map_err(get)?;
        let port: u32 = r.try_get("Port").map_err(get)?;
        Ok(Task {
            id,
            backup_id: r.try_get("BackupId").map_err(get)?,
            host: r.try_get("Host").map_err(get)?,
            port: u16::try_from(port).map_err(|_| bad(format!("port {port} out of range")))?,
            server_name: r.try_get("ServerName").map_err(get)?,
            datasource: r.try_get("Datasource").map_err(get)?,
            backup_name: r.try_get("BackupName").map_err(get)?,
            status: status
                .parse()
                .map_err(|e: super::state::BadStatus| bad(e.to_string()))?,
            task_pid: r.try_get("TaskPid").map_err(get)?,
            task_pid_start: r.try_get("TaskPidStart").map_err(get)?,
            worker_host: r.try_get("WorkerHost").map_err(get)?,
            created_at: r.try_get("CreatedAt").map_err(get)?,
            started_at: r.try_get("StartedAt").map_err(get)?,
            ended_at: r.try_get("EndedAt").map_err(get)?,
            reason: r.try_get("Reason").map_err(get)?,
            plan: r.try_get("Plan").map_err(get)?,
            result: r.try_get("Result").map_err(get)?,
            age_secs: r.try_get("AgeSecs").map_err(get)?,
        })
    }

    /// `init` → `running` for `worker`. False when the task was not `init`
    /// any more (another worker took it, or it was quit or expired).
    pub async fn take(&mut self, id: u64, worker: &Worker) -> Result<bool, TaskError> {
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup SET BackupStatus = 'running', TaskPid = ?, \
             TaskPidStart = ?, WorkerHost = ?, StartedAt = UTC_TIMESTAMP(3) \
             WHERE Id = ? AND BackupStatus = 'init'",
        )
        .bind(worker.pid)
        .bind(worker.pid_start)
        .bind(&worker.host)
        .bind(id)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("taking a task"))?;
        Ok(done.rows_affected() == 1)
    }

    /// `running` → `success`/`failed`, only while it is still `running`
    /// by `worker` (a `quit` set meanwhile stays). False when it was not.
    pub async fn end(
        &mut self,
        id: u64,
        worker: &Worker,
        ending: &Ending,
    ) -> Result<bool, TaskError> {
        let (status, reason, result) = match ending {
            Ending::Success(result) => (Status::Success, None, Some(result.as_str())),
            Ending::Failed(reason) => (Status::Failed, Some(reason.as_str()), None),
        };
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup SET BackupStatus = ?, Reason = ?, Result = ?, \
             EndedAt = UTC_TIMESTAMP(3) WHERE Id = ? AND BackupStatus = 'running' \
             AND TaskPid = ? AND TaskPidStart = ? AND WorkerHost = ?",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(result)
        .bind(id)
        .bind(worker.pid)
        .bind(worker.pid_start)
        .bind(&worker.host)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("ending a task"))?;
        Ok(done.rows_affected() == 1)
    }

    /// `from` → `failed` with `reason`, only if the task is still `from`
    /// with the same `TaskPid` as seen (no pid, expiry). False otherwise.
    pub async fn fail(&mut self, task: &Task, reason: &str) -> Result<bool, TaskError> {
        if !task.status.can_move(Status::Failed) {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup SET BackupStatus = 'failed', Reason = ?, \
             EndedAt = UTC_TIMESTAMP(3) WHERE Id = ? AND BackupStatus = ? AND TaskPid <=> ?",
        )
        .bind(reason)
        .bind(task.id)
        .bind(task.status.as_str())
        .bind(task.task_pid)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("failing a task"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records on a `quit` task what its `check` did (it stays `quit`).
    pub async fn note_quit(&mut self, id: u64, reason: &str) -> Result<bool, TaskError> {
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup SET Reason = ?, EndedAt = UTC_TIMESTAMP(3) \
             WHERE Id = ? AND BackupStatus = 'quit' AND EndedAt IS NULL",
        )
        .bind(reason)
        .bind(id)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("noting a quit task"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets every `init`/`running` task of `backup_id` to `quit` (what an
    /// operator does by hand); returns how many.
    pub async fn quit(&mut self, backup_id: &str) -> Result<u64, TaskError> {
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup SET BackupStatus = 'quit' \
             WHERE BackupId = ? AND BackupStatus IN ('init', 'running')",
        )
        .bind(backup_id)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("quitting tasks"))?;
        Ok(done.rows_affected())
    }

    /// Claims `backup_id`'s cluster-level finish for `worker`. True for
    /// exactly one caller ever.
    pub async fn claim_finish(
        &mut self,
        backup_id: &str,
        worker: &Worker,
    ) -> Result<bool, TaskError> {
        let done = sqlx::query(
            "INSERT IGNORE INTO infodba_schema.global_backup_finish \
             (BackupId, FinishStatus, WorkerHost, TaskPid, TaskPidStart, StartedAt) \
             VALUES (?, 'running', ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(backup_id)
        .bind(&worker.host)
        .bind(worker.pid)
        .bind(worker.pid_start)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("claiming the finish"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the finish `worker` claimed: `success`, or `failed` with why.
    pub async fn end_finish(
        &mut self,
        backup_id: &str,
        worker: &Worker,
        failure: Option<&str>,
    ) -> Result<bool, TaskError> {
        let status = if failure.is_some() {
            "failed"
        } else {
            "success"
        };
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup_finish SET FinishStatus = ?, Reason = ?, \
             EndedAt = UTC_TIMESTAMP(3) WHERE BackupId = ? AND FinishStatus = 'running' \
             AND TaskPid = ? AND TaskPidStart = ? AND WorkerHost = ?",
        )
        .bind(status)
        .bind(failure)
        .bind(backup_id)
        .bind(worker.pid)
        .bind(worker.pid_start)
        .bind(&worker.host)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("ending the finish"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The finish claims still `running`: `(backup id, claimer)`.
    pub async fn running_finishes(&mut self) -> Result<Vec<(String, Worker)>, TaskError> {
        let rows = sqlx::query(
            "SELECT BackupId, WorkerHost, TaskPid, TaskPidStart \
             FROM infodba_schema.global_backup_finish WHERE FinishStatus = 'running'",
        )
        .fetch_all(&mut self.conn)
        .await
        .map_err(self.sql("reading the running finishes"));
        let rows = match rows {
            Err(e) if e.is_missing_table() => return Ok(Vec::new()),
            r => r?,
        };
        let get = |r: &MySqlRow| -> Result<(String, Worker), sqlx::Error> {
            Ok((
                r.try_get("BackupId")?,
                Worker {
                    host: r.try_get("WorkerHost")?,
                    pid: r.try_get("TaskPid")?,
                    pid_start: r.try_get("TaskPidStart")?,
                },
            ))
        };
        rows.iter()
            .map(|r| get(r).map_err(self.sql("reading the running finishes")))
            .collect()
    }

    /// A `running` finish claimed by `worker` (seen gone) → `failed` with
    /// `reason`. False when it is no longer that claim.
    pub async fn fail_finish(
        &mut self,
        backup_id: &str,
        worker: &Worker,
        reason: &str,
    ) -> Result<bool, TaskError> {
        let done = sqlx::query(
            "UPDATE infodba_schema.global_backup_finish SET FinishStatus = 'failed', Reason = ?, \
             EndedAt = UTC_TIMESTAMP(3) WHERE BackupId = ? AND FinishStatus = 'running' \
             AND TaskPid = ? AND TaskPidStart = ? AND WorkerHost = ?",
        )
        .bind(reason)
        .bind(backup_id)
        .bind(worker.pid)
        .bind(worker.pid_start)
        .bind(&worker.host)
        .execute(&mut self.conn)
        .await
        .map_err(self.sql("failing a finish"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The finish claim of `backup_id`, if any.
    pub async fn finish_claim(
        &mut self,
        backup_id: &str,
    ) -> Result<Option<FinishClaim>, TaskError> {
        let row = sqlx::query(
            "SELECT FinishStatus, WorkerHost, TaskPid, TaskPidStart, Reason \
             FROM infodba_schema.global_backup_finish WHERE BackupId = ?",
        )
        .bind(backup_id)
        .fetch_optional(&mut self.conn)
        .await
        .map_err(self.sql("reading the finish claim"));
        let row = match row {
            Err(e) if e.is_missing_table() => return Ok(None),
            r => r?,
        };
        let Some(r) = row else { return Ok(None) };
        let get = self.sql("reading the finish claim");
        let claim = (|| {
            Ok::<_, sqlx::Error>(FinishClaim {
                status: r.try_get("FinishStatus")?,
                worker: Worker {
                    host: r.try_get("WorkerHost")?,
                    pid: r.try_get("TaskPid")?,
                    pid_start: r.try_get("TaskPidStart")?,
                },
                reason: r.try_get("Reason")?,
            })
        })()
        .map_err(get)?;
        Ok(Some(claim))
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
