//! The recovery engine: restores a whole DBScale cluster from a backup chain
//! on the store to a backup directory or a point in time (seed 001), on a
//! recovery job server.
//!
//! 1. [`prepare`] lists the store, chooses the chain (`crates/binlog`),
//!    checks the password of an encrypted chain on the controller, reads the
//!    target's (and the next backup's) consistence info, copied binlogs and
//!    per-server facts, and plans the replay per datasource: the
//!    [`RecoveryPlan`] `dbrecover --dry-run` prints. Nothing is written.
//! 2. [`execute`] checks the job server's tools, ships the chain there (tar
//!    through socat, decrypting on the way for an encrypted chain; used in
//!    place when the store is the job server), then per datasource in
//!    parallel extracts and prepares the full and incremental streams,
//!    starts a temporary server, replays the master's binlogs from the
//!    backup's position to the target, leaves the data with no replication
//!    configured and the recovered GTID position, and shuts it down; a
//!    point-in-time recovery then writes the PIT tool's `ds_info` file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = conf::RecoveryConfig::load("recovery.conf".as_ref())?;
//! let prepared = recovery::prepare(cfg, recovery::Options::default()).await?;
//! println!("{}", prepared.plan());
//! let outcome = recovery::execute(prepared).await?;
//! for r in &outcome.restored {
//!     println!("{}: {}", r.datasource, r.data_dir);
//! }
//! # Ok(()) }
//! ```
//!
//! Invariants: planning touches nothing; the engine knows no CLI; the
//! password reaches hosts only as `DBCRYPT_PASSWORD` over the transport's
//! private channel; no plaintext copy of an encrypted backup is written on
//! the store.

mod calcnode;
mod check;
mod ds_info;
mod engine;
mod error;
mod facts;
pub mod fault;
mod gtid_state;
mod heads;
mod observe;
mod plan;
mod precheck;
mod restore;
mod server_binary;
mod ship;
mod space;

pub use ds_info::DsInfo;
pub use engine::{DEFAULT_REPLAY_WORKERS, Options, Outcome, Prepared, execute, prepare};
pub use error::RecoveryError;
pub use observe::Observer;
pub use plan::RecoveryPlan;
pub use restore::{
    DBQPRESS, Restored, SqlThread, TableRows, decompress_qp, decompressed_with, worker_options,
};
pub use ship::EXTRACTED_WHILE_SHIPPING;
pub use space::SpaceEstimate;
