//! The logical backup engine (pybackup, seed 003): `mydumper` runs chosen
//! by `pbackup.conf`'s `[TDB] db_list`, sent by `rsync` to a storage host,
//! recorded in the catalog (`catalog::history`, `catalogdb`), marked
//! deleted, and validated by `myloader` into a scratch MariaDB.
//!
//! ```no_run
//! use logical::{BackupOptions, MydumperArgs};
//!
//! # async fn demo() -> Result<(), logical::LogicalError> {
//! let cfg = conf::PbackupConfig::load("pbackup.conf".as_ref())?;
//! let args = MydumperArgs::parse(&["outputdir=/data/backup_db/2026-12-04", "threads=4", "compress"])?;
//! let outcome = logical::backup(&cfg, &args, BackupOptions::default()).await?;
//! println!("{} {} {}", outcome.record.bk_id, outcome.record.bk_size, outcome.succeeded());
//! # Ok(()) }
//! ```
//!
//! No password reaches an argv: mydumper and myloader read a 0600
//! defaults file removed after the run; rsync reads `password_file`.

pub mod args;
pub mod backup;
pub mod dblist;
pub mod error;
pub mod maintain;
pub mod metadata;
pub mod rsync;
pub mod size;
pub mod tool;
pub mod validate;

pub use args::{MydumperArgs, Selection};
pub use backup::{BackupOptions, BackupOutcome, Recorded, Run, backup};
pub use dblist::DbList;
pub use error::LogicalError;
pub use maintain::{OnlyRsync, list, mark_del, only_rsync};
pub use validate::{Validation, validate_backup};

use catalog::history::{CatalogLogin, History};
use conf::PbackupConfig;
use std::time::Duration;
use tool::Login;

/// Opens the catalog `[CATALOG]` names (creating and migrating it).
pub async fn open_history(cfg: &PbackupConfig) -> Result<History, LogicalError> {
    let c = cfg.require_catalog()?;
    let login = CatalogLogin {
        host: c.host.clone(),
        port: c.port,
        user: c.user.clone(),
        password: c.password.clone(),
        database: c.database.clone().unwrap_or_else(|| "catalogdb".to_owned()),
    };
    Ok(History::open(&login).await?)
}

/// An SQL connection to the server to back up (TCP: with only a socket on
/// the command line, `[TDB]`'s host and port).
pub(crate) async fn server_client(
    cfg: &PbackupConfig,
    login: &Login,
) -> Result<router::Client, LogicalError> {
    let tdb = &cfg.tdb.login;
    let endpoint = router::Endpoint::new(
        login.host.clone().unwrap_or_else(|| tdb.host.clone()),
        login.port.unwrap_or(tdb.port),
        login.user.clone().unwrap_or_else(|| tdb.user.clone()),
        login
            .password
            .as_deref()
            .map_or_else(String::new, String::clone),
    );
    router::Client::connect(&endpoint, Duration::from_secs(10))
        .await
        .map_err(|source| LogicalError::Server {
            address: endpoint.address(),
            step: "connect".into(),
            source: Box::new(source),
        })
}
