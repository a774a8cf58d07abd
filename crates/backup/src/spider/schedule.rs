//! `spiderbackup schedule [--wait]`: plan as a controller-driven run would,
//! write one task per chosen server on its datasource's master, and
//! optionally wait for every task to end (finishing the backup when it
//! is the first to see every task succeeded).

use super::context::{ClusterCtx, Located, master_db, new_backup_id};
use super::finish::{Finish, claim_datasource, finish_if_complete};
use super::record::PlanRecord;
use crate::engine::{self, Options, Prepared, create_backup_dirs};
use crate::error::BackupError;
use crate::plan::BackupPlan;
use crate::run::Run;
use crate::run_lock::release;
use catalog::tasks::{Filter, NewTask, Overall, Status, Worker};
use std::collections::BTreeMap;
use std::time::Duration;

/// How `schedule` is asked for.
#[derive(Debug, Clone, Default)]
pub struct ScheduleOptions {
    /// Use this backup id instead of a new UUID.
    pub backup_id: Option<String>,
    /// Plan and print only: no task is written, nothing moved.
    pub dry_run: bool,
}

/// What `schedule` did.
#[derive(Debug)]
pub struct Scheduled {
    /// The backup id of the tasks.
    pub backup_id: String,
    /// The plan every task carries.
    pub plan: BackupPlan,
    /// Whether tasks were written (not for a dry run).
    pub written: bool,
}

/// A backup id's text: what a user may pass as `--backup-id`.
fn check_backup_id(id: &str) -> Result<String, BackupError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(id.to_owned())
    } else {
        Err(BackupError::Task(format!(
            "backup id {id:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Plans the backup (the same rules as `dbbackup`: bad backups moved away,
/// full or incremental, the servers chosen) and writes its tasks. Refused
/// while another backup id has `init` or `running` tasks (its directory
/// would count as a bad backup), or when the id is already used.
pub async fn schedule(
    cfg: conf::BackupConfig,
    opts: &ScheduleOptions,
) -> Result<Scheduled, BackupError> {
    let backup_id = match &opts.backup_id {
        Some(id) => check_backup_id(id)?,
        None => new_backup_id()?,
    };
    if !opts.dry_run {
        let ctx = ClusterCtx::open(cfg.clone()).await?;
        for ds in ctx.datasources() {
            let mut db = ctx.master(&ds).await?;
            let migrated = db.migrate().await;
            db.close().await;
            migrated?;
        }
        for status in [Status::Init, Status::Running] {
            let busy = ctx
                .tasks(&Filter {
                    status: Some(status),
                    ..Filter::default()
                })
                .await?;
            if let Some(t) = busy.first() {
                return Err(BackupError::Task(format!(
                    "backup id {} still has a {status} task ({} on {}): wait for it, or set its tasks to quit",
                    t.task.backup_id, t.task.server_name, t.task.host
                )));
            }
        }
        let used = ctx
            .tasks(&Filter {
                backup_id: Some(backup_id.clone()),
                ..Filter::default()
            })
            .await?;
        if !used.is_empty() {
            return Err(BackupError::Task(format!(
                "backup id {backup_id} is already used"
            )));
        }
    }
    let prepared = engine::prepare(
        cfg,
        Options {
            dry_run: opts.dry_run,
            ..Options::default()
        },
    )
    .await?;
    let Prepared {
        run, lock, timings, ..
    } = prepared;
    if opts.dry_run {
        return Ok(Scheduled {
            backup_id,
            plan: run.plan,
            written: false,
        });
    }
    let record = PlanRecord::of(&run.plan).with_timings(&timings);
    let written = write_tasks(&run, &backup_id, &record).await;
    release(lock).await;
    written?;
    Ok(Scheduled {
        backup_id,
        plan: run.plan,
        written: true,
    })
}

/// The backup's directories on the store, then its tasks, each on its
/// datasource's master. A failure quits the tasks already written.
async fn write_tasks(run: &Run, backup_id: &str, record: &PlanRecord) -> Result<(), BackupError> {
    if run.cfg.log_audit {
        engine::audit(run, "DBSCALE START BACKUP").await?;
    }
    create_backup_dirs(run, &run.plan.servers).await?;
    let plan = record.to_json();
    let mut by_ds: BTreeMap<String, Vec<NewTask>> = BTreeMap::new();
    for s in &run.plan.servers {
        by_ds
            .entry(s.datasource.to_string())
            .or_default()
            .push(NewTask {
                backup_id: backup_id.to_owned(),
                host: s.host.clone(),
                port: s.port,
                server_name: s.server.to_string(),
                datasource: s.datasource.to_string(),
                backup_name: run.plan.name.to_string(),
                plan: plan.clone(),
            });
    }
    let mut written: Vec<String> = Vec::new();
    for (ds, tasks) in &by_ds {
        let inserted = async {
            let mut db = master_db(&run.facts, ds).await?;
            let r = db.insert(tasks).await;
            db.close().await;
            Ok::<_, BackupError>(r?)
        }
        .await;
        if let Err(e) = inserted {
            for done in &written {
                let quit = async {
                    let mut db = master_db(&run.facts, done).await?;
                    db.quit(backup_id).await?;
                    db.close().await;
                    Ok::<_, BackupError>(())
                }
                .await;
                if let Err(q) = quit {
                    tracing::warn!(datasource = %done, error = %q, "could not quit the tasks already written");
                }
            }
            return Err(e);
        }
        written.push(ds.clone());
    }
    Ok(())
}

/// How `schedule --wait` waits.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Between two looks at the tasks.
    pub poll: Duration,
    /// How many failed looks in a row (router or a master unreachable)
    /// before giving up (the seed: 120).
    pub tries: u32,
    /// This process, as it claims the finish.
    pub worker: Worker,
}

/// How a waited-for backup id ended.
#[derive(Debug, Clone)]
pub struct Waited {
    /// Every task at the end.
    pub tasks: Vec<Located>,
    /// `Succeeded` only when the backup was finished with `ok`.
    pub overall: Overall,
    /// Why it failed (a task's reason, or the finish's).
    pub failure: Option<String>,
}

enum Look {
    Again,
    Ended(Waited),
}

/// Waits until every task of `backup_id` has ended and, when all
/// succeeded, the backup is finished (by this process if it is the first
/// to see it complete). A look that fails (router or a master unreachable)
/// is retried, said with a warning, `tries` times in a row at most.
pub async fn wait(
    cfg: &conf::BackupConfig,
    backup_id: &str,
    opts: &WaitOptions,
) -> Result<Waited, BackupError> {
    let mut failed_looks = 0u32;
    // The router is read again only after a failed look.
    let mut ctx: Option<ClusterCtx> = None;
    loop {
        let looked = async {
            let c = match ctx.take() {
                Some(c) => c,
                None => ClusterCtx::open(cfg.clone()).await?,
            };
            let r = look(&c, cfg, backup_id, &opts.worker).await;
            if r.is_ok() {
                ctx = Some(c);
            }
            r
        }
        .await;
        match looked {
            Ok(Look::Ended(w)) => return Ok(w),
            Ok(Look::Again) => failed_looks = 0,
            Err(e @ BackupError::Task(_)) => return Err(e),
            Err(e) => {
                failed_looks += 1;
                tracing::warn!(
                    "could not read the tasks of {backup_id} (try {failed_looks} of {}): {e}",
                    opts.tries
                );
                if failed_looks >= opts.tries {
                    return Err(e);
                }
            }
        }
        tokio::time::sleep(opts.poll).await;
    }
}

async fn look(
    ctx: &ClusterCtx,
    cfg: &conf::BackupConfig,
    backup_id: &str,
    me: &Worker,
) -> Result<Look, BackupError> {
    let filter = Filter {
        backup_id: Some(backup_id.to_owned()),
        ..Filter::default()
    };
    let tasks = ctx.tasks(&filter).await?;
    let overall = Overall::of(tasks.iter().map(|t| t.task.status));
    let all_ended = tasks.iter().all(|t| t.task.status.is_final());
    match overall {
        Overall::Unknown => Err(BackupError::Task(format!(
            "no task has backup id {backup_id}"
        ))),
        Overall::Pending => Ok(Look::Again),
        Overall::Failed if !all_ended => Ok(Look::Again),
        Overall::Failed => {
            let failure = tasks
                .iter()
                .find(|t| matches!(t.task.status, Status::Failed | Status::Quit))
                .map(|t| {
                    format!(
                        "{} on {} is {}: {}",
                        t.task.server_name,
                        t.task.host,
                        t.task.status,
                        t.task.reason.as_deref().unwrap_or("(no reason)")
                    )
                });
            Ok(Look::Ended(Waited {
                tasks,
                overall,
                failure,
            }))
        }
        Overall::Succeeded => {
            let record = super::record::PlanRecord::from_json(
                &tasks
                    .first()
                    .map(|t| t.task.plan.clone())
                    .unwrap_or_default(),
            )?;
            let mut db = ctx.master(&claim_datasource(&record)?).await?;
            let claim = db.finish_claim(backup_id).await;
            db.close().await;
            let finished = match claim? {
                Some(claim) => Finish::ClaimedByOther(claim),
                None => finish_if_complete(cfg, backup_id, me).await?,
            };
            let failure = match finished {
                Finish::Done(Ok(_)) => None,
                Finish::Done(Err(e)) => Some(format!("the finish failed: {e}")),
                Finish::ClaimedByOther(c) => match c.status.as_str() {
                    "success" => None,
                    "failed" => Some(format!(
                        "the finish by pid {} on {} failed: {}",
                        c.worker.pid,
                        c.worker.host,
                        c.reason.unwrap_or_default()
                    )),
                    _ => return Ok(Look::Again),
                },
                Finish::NotComplete(_) => return Ok(Look::Again),
            };
            let tasks = ctx.tasks(&filter).await?;
            Ok(Look::Ended(Waited {
                tasks,
                overall: if failure.is_none() {
                    Overall::Succeeded
                } else {
                    Overall::Failed
                },
                failure,
            }))
        }
    }
}
