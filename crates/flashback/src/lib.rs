//! The dr-flashback engine: disaster-recovery drills on a DBScale DR
//! cluster that replicates from production through the router's
//! `slave_dbscale_server` (seed 002).
//!
//! * [`verify()`]: every pre-check of a drill as a named [`Check`] in a
//!   [`Report`] (routers, dataservers, the DR link, replication, GTID
//!   containment, disk for the snapshot);
//! * [`journal`]: the crash-safe redo journal (the seed's
//!   `log/gio_flashback_redo.log`, written atomically, with a step counter
//!   and a drill id); `status` is what it says;
//! * [`plan_start`]: what `start` will do ([`StartPlan`]: the donor and why,
//!   the nodes' parts, the named steps), which `start --dry-run` prints;
//! * [`start`] and [`stop`] ([`drill`]): the drill, every step journaled,
//!   the snapshot made by [`snapshot`], by the DR servers' flavor: on
//!   MariaDB mariabackup streamed from the donor to each DR host
//!   ([`snapshot::take`]), on MySQL 8 the CLONE plugin into a temporary
//!   instance on each DR host ([`snapshot::clone::take()`]). The steps and
//!   the journal are the same for both.
//!
//! ```no_run
//! use flashback::{RouterAddr, Settings};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = conf::FlashbackConfig::load("dr_flashback.ini".as_ref())?;
//! let settings = Settings::new(
//!     config,
//!     RouterAddr::parse("-si", "127.0.0.10:16310")?,
//!     RouterAddr::parse("-ti", "127.0.0.30:16310")?,
//! );
//! let report = flashback::verify(&settings).await?;
//! for check in &report.checks {
//!     println!("{check}");
//! }
//! assert!(report.passed());
//! # Ok(()) }
//! ```

mod cluster;
pub mod drill;
mod error;
pub mod journal;
pub mod plan;
mod settings;
pub mod snapshot;
pub mod verify;

pub use cluster::Side;
pub use drill::{StartDone, StopDone, start, stop};
pub use error::FlashbackError;
pub use journal::{Journal, JournalError, JournalState};
pub use plan::{DonorChoice, StartPlan, plan_start};
pub use settings::{RouterAddr, Settings};
pub use verify::{Check, CheckName, Failure, Outcome, Report, verify};
