//! The seed tools' configuration files (`backup.conf`, `recovery.conf`,
//! `dr_flashback.ini`, pybackup's `pbackup.conf`), read the way they read them
//! (Python `configparser` rules, the same keys and defaults) into typed,
//! validated values. Errors name the file, section and key; unknown keys
//! are warned about; secrets stay in [`zeroize::Zeroizing`] strings and
//! never appear in errors.
//!
//! ```no_run
//! use conf::BackupConfig;
//!
//! # fn demo() -> Result<(), conf::ConfError> {
//! let cfg = BackupConfig::load("backup.conf".as_ref())?;
//! println!(
//!     "router {}:{}, store {}:{}, via {}",
//!     cfg.router.host,
//!     cfg.router.port,
//!     cfg.store.host.host,
//!     cfg.store.dir.display(),
//!     cfg.connect.config.method
//! );
//! # Ok(()) }
//! ```
//!
//! The format additions (optional keys the seeds do not know) are listed in
//! [`connect`]; the optional `[catalog]` section of `backup.conf` and
//! `recovery.conf` in [`catalog`], and `backup.conf`'s `[metrics]
//! textfile-dir` in [`backup`].

pub mod backup;
pub mod catalog;
pub mod connect;
pub mod error;
pub mod flashback;
pub mod ini;
pub mod pbackup;
pub mod recovery;
pub mod values;

pub use backup::{
    BackupConfig, ReceiverKind, RouterConfig, SocatConfig, StoreConfig, max_time_sec,
};
pub use catalog::CatalogConfig;
pub use connect::Connect;
pub use error::ConfError;
pub use flashback::{ClusterSection, FlashbackConfig};
pub use ini::Ini;
pub use pbackup::PbackupConfig;
pub use recovery::{JobServerConfig, RecoverTo, RecoveryConfig};
pub use remote_config::HostLogin;
pub use values::Section;
