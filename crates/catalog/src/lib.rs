//! The backup catalog databases, as typed records over `sqlx` (MySQL
//! protocol, so MariaDB and MySQL 8 alike), each created and upgraded by
//! its own embedded migrations:
//!
//! * [`history`]: pybackup's `catalogdb` (seed 003), the history of logical
//!   backups that Grafana reads: `user_backup`, `user_backup_path`,
//!   `user_recover_info`, column for column as the seed records them;
//! * [`tasks`]: spiderbackup's task table `infodba_schema.global_backup`
//!   (seed 004) on every datasource master, one row per server to back up,
//!   moved from state to state only by conditional updates;
//! * [`physical`]: one `physical_run` row per `dbbackup` backup and
//!   `dbrecover` recovery (their optional `[catalog]` section), written
//!   when the run starts and when it ends; a catalog that is down only
//!   gives the run a warning.
//!
//! The crate does no I/O but SQL on the servers it is told of.

pub mod history;
pub mod physical;
pub mod tasks;
