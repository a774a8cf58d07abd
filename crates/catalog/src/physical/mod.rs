//! The runs of the physical tools: one `physical_run` row per `dbbackup`
//! backup or `dbrecover` recovery, in the database named by the tools'
//! optional `[catalog]` section (created by the embedded migrations in
//! `migrations/physical/`).
//!
//! A row is inserted when the run starts (status `running`), completed
//! with the plan once it is made, and updated when the run ends, so a run
//! that crashed stays visibly `running` with its start time. A catalog that
//! is down never fails a run: [`Recorder`] tries, warns once, and hands
//! the run the warning for its summary.
//!
//! | column | meaning |
//! | --- | --- |
//! | `id` | row id (auto increment) |
//! | `tool` | `dbbackup` or `dbrecover` |
//! | `run_type` | `full`, `incremental` or `recovery` (`NULL` until the run is planned) |
//! | `status` | `running`, `success`, `failed` ([`RunStatus`]) |
//! | `cluster` | the DBScale router `host:port` (a backup); the recovery job server's host (a recovery) |
//! | `store` | the backup store, `host:dir` |
//! | `backup_name` | the backup's directory (`UTC...-full|inc`); for a recovery the newest backup of its chain |
//! | `target` | a recovery's `[recover-to]` (`dir` or `stop-datetime` as written); `NULL` for a backup |
//! | `servers` | the servers backed up (`name@host:port`, comma-separated), or the datasources restored |
//! | `bytes` | bytes streamed from the servers (a backup), or the chain's bytes shipped to the job server (a recovery; 0 when the store is the job server) |
//! | `consistence_point` | the backup's consistence point (`consistent_point_datetime`, the servers' local time); a recovery's `stop-datetime` (`NULL` for a recovery to a backup's own point) |
//! | `started_at`, `ended_at` | UTC, by the controller's clock |
//! | `elapsed_secs` | the run's wall time |
//! | `error` | the failed run's `ERROR:` sentence |
//! | `controller` | the host name of the controller that ran it |
//! | `pid` | its process id |
//! | `tool_version` | `dbbackup 0.1.0`, ... |
//!
//! ```no_run
//! use catalog::history::CatalogLogin;
//! use catalog::physical::{Planned, Recorder, RunEnd, RunStart, RunType};
//!
//! # async fn demo() {
//! let login = CatalogLogin::new("127.0.0.40", 16340, "dbbackup", "secret", "dbscale_backup");
//! let mut rec = Recorder::start(login, RunStart::now("dbbackup", "0.1.0", "10.0.0.1:3306", "store:/data", "ctl", 42));
//! rec.planned(&Planned {
//!     run_type: RunType::Full,
//!     backup_name: "UTC20261204000000.000-full".into(),
//!     target: None,
//!     servers: vec!["normal_0_1@10.0.0.11:3306".into()],
//! }).await;
//! if let Some(warning) = rec.finish(&RunEnd::success(1 << 30, Some("2026-12-04 00:00:09".into()))).await {
//!     eprintln!("WARNING: {warning}");
//! }
//! # }
//! ```

mod db;
mod recorder;
mod row;

pub use db::PhysicalCatalog;
pub use recorder::{Recorder, WARNING_PREFIX};
pub use row::{PhysicalRun, Planned, RunEnd, RunStart, RunStatus, RunType};
