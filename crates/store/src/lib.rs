//! The backup store: the seeds' directory layout ([`layout`]) and what the
//! backup and recovery engines do to it ([`Store`]), always through a
//! [`remote::Transport`] to the store host, never by local file access
//! (the store is usually another machine).
//!
//! ```no_run
//! # async fn demo(t: std::sync::Arc<dyn remote::Transport>) -> Result<(), store::StoreError> {
//! use store::{BadBackups, Store};
//! use std::time::Duration;
//!
//! let store = Store::new(t, "/data/backups", Duration::from_secs(3600));
//! store.prepare(chrono::Utc::now().date_naive()).await?;
//! let cleanup = store.clean_bad(BadBackups::Trash).await?;
//! match cleanup.last_good {
//!     Some(b) => println!("last good backup: {b}"),
//!     None => println!("no good backup yet: the next one is full"),
//! }
//! # Ok(()) }
//! ```
//!
//! Invariants: `ok` is written only by [`Store::mark_ok`]; files are
//! written under a temporary name and renamed; cleanup and purge never
//! touch entries that are not backup names.

pub mod check;
pub mod error;
pub mod frames;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod ops;
pub mod purge;
pub mod sample;

pub use error::StoreError;
pub use lock::{Acquired, LockError, Owner, RunLock};
pub use ops::{BadBackups, Cleanup, Listed, Store};
pub use purge::{PurgePlan, plan_purge};
pub use sample::SampleError;
