//! The `physical_run` table's connection and statements. Every statement
//! (and the connect) is bounded by [`STATEMENT_TIMEOUT`], so a catalog
//! that hangs holds a run up for seconds, never for ever.

use super::row::{PhysicalRun, Planned, RunEnd, RunStart, RunStatus, elapsed_secs};
use crate::history::{CatalogLogin, HistoryError};
use sqlx::ConnectOptions as _;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use std::future::Future;
use std::time::Duration;

/// How long connecting, or one statement, may take.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/physical");

const COLUMNS: &str = "id, tool, run_type, status, cluster, store, backup_name, target, servers, \
    bytes, consistence_point, started_at, ended_at, elapsed_secs, error, controller, pid, \
    tool_version";

/// An open connection to the database of `physical_run`.
#[derive(Debug, Clone)]
pub struct PhysicalCatalog {
    // A pool of one: a `&Pool` executor keeps the futures `Send`, which a
    // spawned task needs (`&mut` a connection does not, in sqlx 0.8).
    pool: MySqlPool,
    address: String,
}

impl PhysicalCatalog {
    /// Connects, creates the database if it is missing and applies the
    /// migrations not yet applied.
    pub async fn open(login: &CatalogLogin) -> Result<PhysicalCatalog, HistoryError> {
        let address = login.address();
        if !crate::history::plain_identifier(&login.database) {
            return Err(HistoryError::BadDatabaseName(login.database.clone()));
        }
        let options = sqlx::mysql::MySqlConnectOptions::new()
            .host(&login.host)
            .port(login.port)
            .username(&login.user)
            .password(&login.password)
            .disable_statement_logging();
        let connect = |source| HistoryError::Connect {
            address: address.clone(),
            source,
        };
        // The pool retries a refused connection until its timeout and then
        // says only that it timed out: one TCP connect first tells a
        // catalog that is down at once, and why.
        let reach = tokio::net::TcpStream::connect((login.host.as_str(), login.port));
        drop(
            bounded(&address, reach)
                .await?
                .map_err(|e| connect(sqlx::Error::Io(e)))?,
        );
        let database = &login.database;
        let first = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(STATEMENT_TIMEOUT)
            .connect_with(options.clone());
        let first = bounded(&address, first).await?.map_err(connect)?;
        let create =
            format!("CREATE DATABASE IF NOT EXISTS `{database}` DEFAULT CHARACTER SET utf8mb4");
        let done = bounded(&address, sqlx::raw_sql(&create).execute(&first)).await?;
        first.close().await;
        done.map_err(|source| HistoryError::Statement {
            address: address.clone(),
            step: format!("create database {database}"),
            source,
        })?;
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(STATEMENT_TIMEOUT)
            .connect_with(options.database(database));
        let pool = bounded(&address, pool).await?.map_err(connect)?;
        let db = PhysicalCatalog { pool, address };
        bounded(&db.address, MIGRATOR.run(&db.pool))
            .await?
            .map_err(|source| HistoryError::Migrate {
                address: db.address.clone(),
                database: database.clone(),
                source,
            })?;
        Ok(db)
    }

    /// `host:port` of the catalog.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn failed(&self, step: &str) -> impl FnOnce(sqlx::Error) -> HistoryError + use<> {
        let address = self.address.clone();
        let step = step.to_owned();
        move |source| HistoryError::Statement {
            address,
            step,
            source,
        }
    }

    /// Inserts the row of a starting run (status `running`); returns its id.
    pub async fn start(&self, s: &RunStart) -> Result<u64, HistoryError> {
        let insert = sqlx::query(
            "INSERT INTO physical_run (tool, status, cluster, store, started_at, controller, pid, \
             tool_version) VALUES (?,?,?,?,?,?,?,?)",
        )
        .bind(&s.tool)
        .bind(RunStatus::Running.as_str())
        .bind(&s.cluster)
        .bind(&s.store)
        .bind(s.started_at)
        .bind(&s.controller)
        .bind(s.pid)
        .bind(&s.tool_version)
        .execute(&self.pool);
        let done = bounded(&self.address, insert).await?;
        Ok(done
            .map_err(self.failed("insert the run's physical_run row"))?
            .last_insert_id())
    }

    /// Records the plan of run `id`.
    pub async fn planned(&self, id: u64, p: &Planned) -> Result<(), HistoryError> {
        let update = sqlx::query(
            "UPDATE physical_run SET run_type = ?, backup_name = ?, target = ?, servers = ? \
             WHERE id = ?",
        )
        .bind(p.run_type.as_str())
        .bind(&p.backup_name)
        .bind(&p.target)
        .bind(p.servers.join(","))
        .bind(id)
        .execute(&self.pool);
        let done = bounded(&self.address, update).await?;
        done.map_err(self.failed(&format!("record the plan in physical_run row {id}")))?;
        Ok(())
    }

    /// Records how run `id` (started at `started_at`) ended.
    pub async fn finish(
        &self,
        id: u64,
        started_at: chrono::NaiveDateTime,
        e: &RunEnd,
    ) -> Result<(), HistoryError> {
        let update = sqlx::query(
            "UPDATE physical_run SET status = ?, bytes = ?, consistence_point = ?, error = ?, \
             ended_at = ?, elapsed_secs = ? WHERE id = ?",
        )
        .bind(e.status.as_str())
        .bind(e.bytes)
        .bind(&e.consistence_point)
        .bind(&e.error)
        .bind(e.ended_at)
        .bind(elapsed_secs(started_at, e.ended_at))
        .bind(id)
        .execute(&self.pool);
        let done = bounded(&self.address, update).await?;
        done.map_err(self.failed(&format!("record the end in physical_run row {id}")))?;
        Ok(())
    }

    /// The row `id`.
    pub async fn run(&self, id: u64) -> Result<Option<PhysicalRun>, HistoryError> {
        let sql = format!("SELECT {COLUMNS} FROM physical_run WHERE id = ?");
        let read = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool);
        bounded(&self.address, read)
            .await?
            .map_err(self.failed(&format!("read physical_run row {id}")))
    }

    /// The `limit` most recent runs, newest first.
    pub async fn recent(&self, limit: u32) -> Result<Vec<PhysicalRun>, HistoryError> {
        let sql =
            format!("SELECT {COLUMNS} FROM physical_run ORDER BY started_at DESC, id DESC LIMIT ?");
        let read = sqlx::query_as(&sql).bind(limit).fetch_all(&self.pool);
        bounded(&self.address, read)
            .await?
            .map_err(self.failed("list physical_run"))
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// `work` within [`STATEMENT_TIMEOUT`], or [`HistoryError::Timeout`].
async fn bounded<T>(address: &str, work: impl Future<Output = T>) -> Result<T, HistoryError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, work)
        .await
        .map_err(|_| HistoryError::Timeout {
            address: address.to_owned(),
            secs: STATEMENT_TIMEOUT.as_secs(),
        })
}
