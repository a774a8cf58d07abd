//! The cluster-level finish of a backup id whose every task succeeded:
//! claimed once in `global_backup_finish`, then the same steps a
//! controller-driven run ends with (consistence point, binlogs, base
//! directories, config, manifest, completeness check, `ok` last).

use super::context::{ClusterCtx, Located};
use super::record::{PlanRecord, result_from_json};
use crate::engine::{Options, cluster_steps, supervise};
use crate::error::BackupError;
use crate::run_lock::{lock_store, release};
use crate::server::ServerResult;
use catalog::tasks::{Filter, FinishClaim, Overall, Worker};
use std::time::Instant;
use stream::Timings;

/// What [`finish_if_complete`] found or did.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Not every task succeeded (yet, or ever).
    NotComplete(Overall),
    /// Another process claimed the finish (its state then).
    ClaimedByOther(FinishClaim),
    /// This process finished it: the backup's name with `ok`, or why not.
    Done(Result<String, String>),
}

/// The plan of a backup id's tasks and their results in plan order.
pub(crate) fn plan_and_results(
    tasks: &[Located],
) -> Result<(PlanRecord, Vec<ServerResult>), BackupError> {
    let first = tasks
        .first()
        .ok_or_else(|| BackupError::Task("the backup id has no task".into()))?;
    let record = PlanRecord::from_json(&first.task.plan)?;
    let mut results = Vec::new();
    for s in &record.servers {
        let t = tasks
            .iter()
            .find(|t| t.task.server_name == s.server.as_str())
            .ok_or_else(|| {
                BackupError::Task(format!(
                    "backup {} has no task for {}",
                    first.task.backup_id, s.server
                ))
            })?;
        let text = t.task.result.as_deref().ok_or_else(|| {
            BackupError::Task(format!(
                "task {} ({}) succeeded without a result",
                t.task.id, s.server
            ))
        })?;
        results.push(result_from_json(text)?);
    }
    Ok((record, results))
}

/// The datasource whose master holds `record`'s finish claim: the plan's
/// first server's.
pub(crate) fn claim_datasource(record: &PlanRecord) -> Result<String, BackupError> {
    record
        .servers
        .first()
        .map(|s| s.datasource.to_string())
        .ok_or_else(|| BackupError::Task("the plan backs up no server".into()))
}

/// When every task of `backup_id` succeeded and nobody claimed its finish
/// yet: claims it for `me` and runs the cluster-level steps once.
pub async fn finish_if_complete(
    cfg: &conf::BackupConfig,
    backup_id: &str,
    me: &Worker,
) -> Result<Finish, BackupError> {
    let ctx = ClusterCtx::open(cfg.clone()).await?;
    let tasks = ctx
        .tasks(&Filter {
            backup_id: Some(backup_id.to_owned()),
            ..Filter::default()
        })
        .await?;
    let overall = Overall::of(tasks.iter().map(|t| t.task.status));
    if overall != Overall::Succeeded {
        return Ok(Finish::NotComplete(overall));
    }
    let (record, results) = plan_and_results(&tasks)?;
    let claim_ds = claim_datasource(&record)?;
    let mut db = ctx.master(&claim_ds).await?;
    if !db.claim_finish(backup_id, me).await? {
        let claim = db.finish_claim(backup_id).await?;
        db.close().await;
        return claim
            .map(Finish::ClaimedByOther)
            .ok_or_else(|| BackupError::Task(format!("the finish claim of {backup_id} vanished")));
    }
    tracing::info!(backup_id, backup = %record.name, "every task succeeded: finishing the backup");
    let plan = record.plan()?;
    let mut timings = record.timings();
    timings.record("servers", servers_span(&tasks));
    let outcome = run_finish(ctx, plan, &results, timings)
        .await
        .map_err(|e| e.to_string());
    // The claim's connection stayed open meanwhile.
    let ended = db
        .end_finish(backup_id, me, outcome.as_ref().err().map(String::as_str))
        .await;
    db.close().await;
    if let Err(e) = ended {
        tracing::warn!(backup_id, error = %e, "could not record the end of the finish");
    }
    Ok(Finish::Done(outcome))
}

/// From the first task's start to the last one's end.
fn servers_span(tasks: &[Located]) -> std::time::Duration {
    let first = tasks.iter().filter_map(|t| t.task.started_at).min();
    let last = tasks.iter().filter_map(|t| t.task.ended_at).max();
    match (first, last) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => std::time::Duration::ZERO,
    }
}

/// The cluster-level steps over `results`, under the store's run lock.
async fn run_finish(
    mut ctx: ClusterCtx,
    plan: crate::plan::BackupPlan,
    results: &[ServerResult],
    timings: Timings,
) -> Result<String, BackupError> {
    let (_, last) = crate::facts::read_store(&ctx.store, None).await?;
    let last_name = last.as_ref().map(|l| l.name);
    if last_name != plan.last {
        return Err(BackupError::Task(format!(
            "the store's last good backup is now {} but {} was planned on top of {}",
            last_name.map_or_else(|| "none".into(), |n| n.to_string()),
            plan.name,
            plan.last.map_or_else(|| "none".into(), |n| n.to_string()),
        )));
    }
    ctx.facts.last = last;
    let lock = lock_store(&ctx.store).await?;
    let run = match ctx.into_run(plan).await {
        Ok(run) => run,
        Err(e) => {
            release(Some(lock)).await;
            return Err(e);
        }
    };
    let started = Instant::now();
    let options = Options::default();
    let steps = cluster_steps(&run, &options, results, timings, started);
    let finished = supervise(&run, started, &[], steps).await;
    release(Some(lock)).await;
    finished.map(|_| run.plan.name.to_string())
}
