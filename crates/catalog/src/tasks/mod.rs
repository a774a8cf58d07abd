//! spiderbackup's task table `infodba_schema.global_backup` (seed 004).
//!
//! `dbbackup spiderbackup schedule` writes one row per chosen server into
//! the table on that server's datasource master (replicas see their rows
//! through replication); `check --run` on each host takes its rows and
//! backs the servers up; whoever first sees every row of a backup id
//! `success` claims its cluster-level finish in `global_backup_finish`.
//! Every state change is a conditional update (see [`Status::can_move`]),
//! so two workers never take one task and a `quit` is never overwritten.
//!
//! Columns of `global_backup`:
//!
//! | column | meaning |
//! | --- | --- |
//! | `Id` | row id (auto increment) |
//! | `BackupId` | the backup id (a UUID, or `schedule --backup-id`); one per schedule |
//! | `Host` | the server's host address: the worker on that host runs the task |
//! | `Port` | the server's MySQL port |
//! | `ServerName` | the server's name on the router (unique within a backup id) |
//! | `Datasource` | its datasource |
//! | `BackupName` | the backup directory on the store (`UTC...-full` / `-inc`), the same for every task of the id |
//! | `BackupStatus` | `init`, `running`, `success`, `failed`, `quit` ([`Status`]) |
//! | `TaskPid` | the worker's process id while (or after) it runs the task |
//! | `TaskPidStart` | that process's start time (`/proc/<pid>/stat` field 22), so a reused pid is not taken for the worker |
//! | `WorkerHost` | the address of the host the worker runs on |
//! | `CreatedAt`, `StartedAt`, `EndedAt` | UTC times (server clock): scheduled, taken, ended (or its quit handled) |
//! | `Reason` | why it failed (the step's error, `failed: no pid`, expiry), or what `check` did to a `quit` task |
//! | `Plan` | the whole backup's plan as JSON (name, full/incremental, base, servers), so every worker backs up as scheduled |
//! | `Result` | the server's backup result as JSON (LSN, binlog position, GTIDs, sizes), read by the finish |
//!
//! Columns of `global_backup_finish` (one row per backup id once claimed,
//! on the master of the plan's first server's datasource): `BackupId`,
//! `FinishStatus` (`running`, `success`, `failed`), `WorkerHost`,
//! `TaskPid`, `TaskPidStart` (who claimed it), `StartedAt`, `EndedAt`,
//! `Reason` (of a failure).

mod db;
mod state;

pub use db::{DATABASE, Ending, Filter, FinishClaim, NewTask, Task, TaskDb, TaskError, Worker};
pub use state::{BadStatus, Overall, Status};
