//! The backup engine: a whole-cluster physical backup of a DBScale cluster
//! (seed 000's `do_backup`) as a library, with a plan/execute split.
//!
//! 1. [`prepare`] reads the router (topology, server logins through a
//!    config flush), cleans bad backups off the store, checks the password
//!    against the last good backup, checks every server, and makes a
//!    [`BackupPlan`]: full or incremental and why, which servers, from which
//!    LSNs. It can be printed (`dbbackup --dry-run`).
//! 2. [`execute`] carries it out: every selected server streamed in
//!    parallel (xtrabackup/mariabackup through socat to the store, FTWRL
//!    dead-lock retry), the global consistence point and
//!    `cluster_consistence_info`, the binlog copies, the base directories
//!    (full backups), `backup.conf`, the optional encryption, a
//!    `manifest.json` with every file's SHA-256, and `ok` last. A failure or
//!    `max-time-sec` (re-read from the config while running) kills every
//!    remote command the run started; no `ok` is written.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = conf::BackupConfig::load("backup.conf".as_ref())?;
//! let prepared = backup::prepare(cfg, backup::Options::default()).await?;
//! println!("{}", prepared.plan());
//! let outcome = backup::execute(prepared).await?;
//! println!("{} done: {} bytes in {:?}", outcome.plan.name, outcome.bytes, outcome.elapsed);
//! # Ok(()) }
//! ```
//!
//! Invariants: the engine knows no command line; nothing but
//! [`store::Store::mark_ok`] writes `ok`, and only as the last step;
//! passwords travel only in option files written through stdin, in
//! environment variables over the transport's private channel, or not at
//! all (the encryption check runs on the controller).

mod checkpoint;
mod encrypt;
mod engine;
mod error;
mod facts;
mod finish;
mod info;
mod maintenance;
mod password;
mod plan;
mod precheck;
mod run;
mod run_lock;
mod server;
pub mod spider;
mod sql;
mod verify;

/// The name of a backup directory (`UTC<time>-full|inc`), as the plan and
/// [`StepObserver`] give it.
pub use binlog::BackupName;
pub use engine::{Options, Outcome, Prepared, ServerOutcome, StepObserver, execute, prepare};
pub use error::BackupError;
pub use facts::{Facts, LastBackup};
pub use info::{BackupInfo, StoreInfo, info};
pub use maintenance::{clean_trash, purge_to};
pub use plan::{BackupPlan, ServerPlan};
pub use precheck::PreCheck;
pub use server::{LOG_FILE, STREAM_FILE, ServerResult};
pub use verify::{Verified, Which, verify};
