//! Binlog planning for dbscale-backup (WIP).

pub mod backup_plan;
pub mod backuped;
pub mod chain;
pub mod consistence;
pub mod format;
pub mod gtid;
pub mod name;
pub mod server_dir;
