//! pybackup's `catalogdb` (seed 003): the history of logical backups that
//! Grafana reads. Three tables, created by the embedded migrations in
//! `migrations/catalogdb/` column for column as the seed records them:
//!
//! * `user_backup`: one row per backup run ([`BackupRecord`]);
//! * `user_backup_path`: where each source server's backups live on the
//!   storage host ([`BackupPath`]);
//! * `user_recover_info`: one row per database a validation restored
//!   ([`RecoverInfo`]).
//!
//! ```no_run
//! use catalog::history::{History, CatalogLogin};
//!
//! # async fn demo() -> Result<(), catalog::history::HistoryError> {
//! let login = CatalogLogin::new("127.0.0.40", 16340, "catalog", "secret", "catalogdb");
//! let history = History::open(&login).await?; // creates and migrates catalogdb
//! for row in history.recent(10).await? {
//!     println!("{} {} {} {}", row.bk_id, row.start_time, row.bk_size, row.validate_status);
//! }
//! # Ok(()) }
//! ```

mod error;
mod record;
mod store;

pub use error::HistoryError;
pub use record::{
    BackupPath, BackupRecord, NO, NOT_A_SLAVE, NOT_APPLICABLE, RecoverInfo, Transfer, YES,
};
pub(crate) use store::plain_identifier;
pub use store::{CatalogLogin, History, VALIDATING, ValidationClaim};
