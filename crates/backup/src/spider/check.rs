//! `spiderbackup check --run`, on each database host from cron: the
//! housekeeping of this host's tasks (quit ones killed, dead workers'
//! ones failed, stale ones expired), then this host's `init` tasks of the
//! earliest backup id, one after another, each re-read before it is taken.

use super::context::{ClusterCtx, Located, master_db};
use super::finish::{Finish, finish_if_complete};
use super::process::{Stopped, alive, stop, this_worker};
use super::record::{PlanRecord, result_to_json};
use crate::engine::{create_backup_dirs, supervise};
use crate::error::BackupError;
use crate::run::Run;
use crate::server::{ServerResult, backup_server};
use catalog::tasks::{Ending, Filter, Status, Task};
use std::time::{Duration, Instant};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// How `check --run` is asked for.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The addresses this host answers for (tasks whose `Host` is one of
    /// them are this host's).
    pub hosts: Vec<String>,
    /// Only this backup id's tasks are run (housekeeping covers all).
    pub backup_id: Option<String>,
    /// `init`/`running` tasks older than this are failed (seed: 48 h).
    pub expire_after: Duration,
    /// How long a quit task's worker gets after SIGTERM before SIGKILL.
    pub stop_wait: Duration,
    /// How often a running worker re-reads its own task, to stop itself
    /// when it was set to `quit` (under a scheduler that starts no second
    /// check while one runs, e.g. a systemd timer).
    pub quit_poll: Duration,
}

/// One task this check ran.
#[derive(Debug, Clone)]
pub struct TaskRun {
    /// Its row id.
    pub id: u64,
    /// Its backup id.
    pub backup_id: String,
    /// The server backed up.
    pub server: String,
    /// `None` when it succeeded, else why not.
    pub failure: Option<String>,
}

/// What one `check --run` over one config did.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Housekeeping done: one line per task touched.
    pub notes: Vec<String>,
    /// Why no task was run this round, when none was.
    pub skipped: Option<String>,
    /// The tasks run, in order.
    pub runs: Vec<TaskRun>,
    /// The finish of the backup id run, when this check did it: `Ok` name
    /// of the backup, or why it failed.
    pub finished: Option<Result<String, String>>,
}

impl CheckReport {
    /// A task this check ran, or the finish it did, failed.
    pub fn failed(&self) -> bool {
        self.runs.iter().any(|r| r.failure.is_some()) || matches!(self.finished, Some(Err(_)))
    }
}

/// `check --run` for one cluster (one config file).
pub async fn check_run(
    cfg: conf::BackupConfig,
    opts: &CheckOptions,
) -> Result<CheckReport, BackupError> {
    let mut report = CheckReport::default();
    // Listened for before any task is taken: a quit's SIGTERM then stops
    // the running backup cleanly (its remote commands, its option file).
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| BackupError::Task(format!("listening for SIGTERM: {e}")))?;
    let ctx = ClusterCtx::open(cfg.clone()).await?;
    housekeeping(&ctx, opts, &mut report).await?;
    dead_finishes(&ctx, opts, &mut report).await?;
    let mine = my_tasks(&ctx, opts).await?;
    if let Some(r) = mine.iter().find(|t| t.task.status == Status::Running) {
        report.skipped = Some(format!(
            "task {} ({} of backup id {}) is running (pid {})",
            r.task.id,
            r.task.server_name,
            r.task.backup_id,
            r.task.task_pid.unwrap_or(0)
        ));
        return Ok(report);
    }
    let waiting: Vec<&Located> = mine
        .iter()
        .filter(|t| t.task.status == Status::Init)
        .filter(|t| {
            opts.backup_id
                .as_ref()
                .is_none_or(|id| *id == t.task.backup_id)
        })
        .collect();
    let Some(first) = waiting.first() else {
        report.skipped = Some("no init task for this host".into());
        return Ok(report);
    };
    let backup_id = first.task.backup_id.clone();
    let plan = PlanRecord::from_json(&first.task.plan)?.plan()?;
    let todo: Vec<Located> = waiting
        .iter()
        .filter(|t| t.task.backup_id == backup_id)
        .map(|t| (*t).clone())
        .collect();
    let run = ctx.into_run(plan).await?;
    for t in &todo {
        if let Some(r) = run_task(&run, t, &mut term, opts.quit_poll).await? {
            let stopped = r
                .failure
                .as_deref()
                .is_some_and(|f| f.contains(TERMINATED) || f.contains(QUIT_SEEN));
            report.runs.push(r);
            if stopped {
                return Ok(report);
            }
        }
    }
    if report.runs.iter().all(|r| r.failure.is_none()) && !report.runs.is_empty() {
        let me = this_worker(&first.task.host);
        report.finished = match finish_if_complete(&cfg, &backup_id, &me).await? {
            Finish::Done(outcome) => Some(outcome),
            Finish::NotComplete(_) | Finish::ClaimedByOther(_) => None,
        };
    }
    Ok(report)
}

const TERMINATED: &str = "stopped by SIGTERM";
const QUIT_SEEN: &str = "quit: the worker saw it and stopped itself";

/// Returns once the task `l` reads `quit` (re-read every `every`; a read
/// that fails is tried again at the next).
async fn quit_seen(run: &Run, l: &Located, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Ok(mut db) = master_db(&run.facts, &l.datasource).await {
            let now = db.get(l.task.id).await;
            db.close().await;
            if matches!(now, Ok(Some(t)) if t.status == Status::Quit) {
                return;
            }
        }
    }
}

/// This host's tasks on every master (every status), oldest first.
async fn my_tasks(ctx: &ClusterCtx, opts: &CheckOptions) -> Result<Vec<Located>, BackupError> {
    let mut out = Vec::new();
    for host in &opts.hosts {
        out.extend(
            ctx.tasks(&Filter {
                host: Some(host.clone()),
                ..Filter::default()
            })
            .await?,
        );
    }
    out.sort_by_key(|a| (a.task.created_at, a.task.id));
    Ok(out)
}

/// Quit tasks' workers stopped, running tasks whose worker is gone failed
/// (`failed: no pid`), stale tasks expired.
async fn housekeeping(
    ctx: &ClusterCtx,
    opts: &CheckOptions,
    report: &mut CheckReport,
) -> Result<(), BackupError> {
    let here = |t: &Task| t.worker().filter(|w| opts.hosts.contains(&w.host));
    for l in my_tasks(ctx, opts).await? {
        let t = &l.task;
        // Ended tasks (a quit one once its stop is noted) need nothing.
        if t.status.is_final() && !(t.status == Status::Quit && t.ended_at.is_none()) {
            continue;
        }
        let mut db = ctx.master(&l.datasource).await?;
        let what = format!(
            "task {} ({} of backup id {})",
            t.id, t.server_name, t.backup_id
        );
        match t.status {
            Status::Quit if t.ended_at.is_none() => {
                let note = match here(t) {
                    Some(w) => match stop(&w, opts.stop_wait).await {
                        Stopped::Gone => format!("quit: its worker pid {} had ended", w.pid),
                        Stopped::Terminated => {
                            format!("quit: worker pid {} stopped (SIGTERM)", w.pid)
                        }
                        Stopped::Killed => format!("quit: worker pid {} killed (SIGKILL)", w.pid),
                        Stopped::StillRunning => {
                            report.notes.push(format!(
                                "{what}: quit, but worker pid {} could not be stopped",
                                w.pid
                            ));
                            continue;
                        }
                    },
                    None if t.task_pid.is_none() => "quit before it started".to_owned(),
                    None => continue,
                };
                if db.note_quit(t.id, &note).await? {
                    report.notes.push(format!("{what}: {note}"));
                }
            }
            Status::Init | Status::Running if t.age_secs >= secs(opts.expire_after) => {
                if let Some(w) = here(t) {
                    stop(&w, opts.stop_wait).await;
                }
                let reason = format!(
                    "failed: expired: {} for {} s (limit {} s)",
                    t.status,
                    t.age_secs,
                    opts.expire_after.as_secs()
                );
                if db.fail(t, &reason).await? {
                    report.notes.push(format!("{what}: {reason}"));
                }
            }
            Status::Running => {
                if let Some(w) = here(t)
                    && !alive(&w)
                    && db.fail(t, "failed: no pid").await?
                {
                    report
                        .notes
                        .push(format!("{what}: failed: no pid (was {})", w.pid));
                }
            }
            _ => {}
        }
        db.close().await;
    }
    Ok(())
}

/// Finishes claimed by a worker of this host that is gone are failed
/// (`failed: no pid`): the backup id never gets `ok`, and a `schedule
/// --wait` on it ends instead of waiting for ever.
async fn dead_finishes(
    ctx: &ClusterCtx,
    opts: &CheckOptions,
    report: &mut CheckReport,
) -> Result<(), BackupError> {
    for ds in ctx.datasources() {
        let mut db = ctx.master(&ds).await?;
        for (backup_id, w) in db.running_finishes().await? {
            if opts.hosts.contains(&w.host)
                && !alive(&w)
                && db.fail_finish(&backup_id, &w, "failed: no pid").await?
            {
                report.notes.push(format!(
                    "the finish of backup id {backup_id}: failed: no pid (was {})",
                    w.pid
                ));
            }
        }
        db.close().await;
    }
    Ok(())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Takes and runs one task, re-reading its state first. `None` when it
/// was no longer `init` (another worker took it, or it was quit).
async fn run_task(
    run: &Run,
    l: &Located,
    term: &mut Signal,
    quit_poll: Duration,
) -> Result<Option<TaskRun>, BackupError> {
    let t = &l.task;
    let me = this_worker(&t.host);
    let mut db = master_db(&run.facts, &l.datasource).await?;
    let current = db.get(t.id).await?;
    if current.as_ref().map(|c| c.status) != Some(Status::Init) || !db.take(t.id, &me).await? {
        db.close().await;
        return Ok(None);
    }
    db.close().await;
    tracing::info!(task = t.id, server = %t.server_name, backup_id = %t.backup_id, "backing up");
    let result = backup_one(run, l, term, quit_poll).await;
    let ending = match &result {
        Ok(r) => Ending::Success(result_to_json(r)),
        Err(e) => Ending::Failed(e.to_string()),
    };
    // Reached again: the backup may have taken long.
    let mut db = master_db(&run.facts, &l.datasource).await?;
    let ended = db.end(t.id, &me, &ending).await?;
    if matches!(&result, Err(BackupError::Stopped(why)) if why == QUIT_SEEN) {
        db.note_quit(t.id, QUIT_SEEN).await?;
    }
    db.close().await;
    let failure = match (result, ended) {
        (Err(e), _) => Some(e.to_string()),
        (Ok(_), true) => None,
        (Ok(_), false) => {
            Some("its state changed while it ran (quit?): not recorded as success".into())
        }
    };
    Ok(Some(TaskRun {
        id: t.id,
        backup_id: t.backup_id.clone(),
        server: t.server_name.clone(),
        failure,
    }))
}

/// One server's backup as the plan has it, under the watchdog; a failure
/// (or SIGTERM) stops its remote commands and removes its option file.
async fn backup_one(
    run: &Run,
    l: &Located,
    term: &mut Signal,
    quit_poll: Duration,
) -> Result<ServerResult, BackupError> {
    let server = l.task.server_name.as_str();
    let plan = run
        .plan
        .servers
        .iter()
        .find(|s| s.server.as_str() == server)
        .ok_or_else(|| BackupError::Task(format!("the plan does not back up {server}")))?;
    let servers = std::slice::from_ref(plan);
    let backup = async {
        create_backup_dirs(run, servers).await?;
        backup_server(run, plan).await
    };
    supervise(run, Instant::now(), servers, async {
        tokio::select! {
            r = backup => r,
            _ = term.recv() => Err(BackupError::Stopped(TERMINATED.into())),
            () = quit_seen(run, l, quit_poll) => Err(BackupError::Stopped(QUIT_SEEN.into())),
        }
    })
    .await
}
