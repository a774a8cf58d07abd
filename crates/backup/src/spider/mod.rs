//! spiderbackup (seed 004): a cluster's backup scheduled through a task
//! table on the datasource masters (`catalog::tasks`), and run by a cron
//! job on every database host.
//!
//! * [`schedule`] (on the controller) plans exactly as a controller-driven
//!   run (`crate::prepare`), creates the backup's directories on the store
//!   and writes one `init` task per chosen server, carrying the plan;
//!   [`wait`] then waits for every task to end.
//! * [`check_run`] (on each host, every minute): stops the workers of
//!   `quit` tasks, fails `running` tasks whose worker is gone (`failed: no
//!   pid`) and stale tasks, skips the round while a task of this host
//!   runs, else takes this host's `init` tasks of the earliest backup id
//!   one after another and backs each server up with the controller's own
//!   per-server step.
//! * The first of them to see every task of a backup id succeeded claims
//!   its finish ([`finish_if_complete`]) and runs the cluster-level steps
//!   once: consistence point, binlogs, base directories, config,
//!   manifest, completeness check, `ok` last. A backup id with a failed or
//!   quit task never gets `ok`; the next run's cleanup moves it away.
//! * [`query`] lists the tasks.
//!
//! Encryption (`-p`) is not offered here: no password may sit in a task row.

mod check;
mod context;
mod finish;
mod process;
mod record;
mod schedule;

pub use check::{CheckOptions, CheckReport, TaskRun, check_run};
pub use context::{Located, new_backup_id};
pub use finish::{Finish, finish_if_complete};
pub use process::{Stopped, alive, local_addresses, start_time, stop, this_worker};
pub use record::{PlanRecord, result_from_json, result_to_json};
pub use schedule::{ScheduleOptions, Scheduled, WaitOptions, Waited, schedule, wait};

pub use catalog::tasks::{Filter, Overall, Status, Task, Worker};

use crate::error::BackupError;

/// The tasks matching `filter` on every datasource master of the cluster,
/// oldest first.
pub async fn query(cfg: conf::BackupConfig, filter: &Filter) -> Result<Vec<Located>, BackupError> {
    context::ClusterCtx::open(cfg).await?.tasks(filter).await
}
