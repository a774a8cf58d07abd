//! A backup run's record in the catalog (`[catalog]` of backup.conf,
//! `catalog::physical`): written as the run starts, completed with the
//! plan and the end. A catalog that is down only gives the run a warning.

use catalog::physical::{Planned, Recorder, RunEnd, RunStart, RunType};

/// The record of one backup run.
pub struct RunRecord(Recorder);

impl RunRecord {
    /// Starts the record (in the background) when `[catalog]` is set and
    /// the run writes anything (not a dry run).
    pub fn start(cfg: &conf::BackupConfig, dry_run: bool) -> RunRecord {
        let catalog = cfg.catalog.as_ref().filter(|_| !dry_run);
        RunRecord(Recorder::start_if(catalog, || {
            RunStart::of_this_process(
                "dbbackup",
                env!("CARGO_PKG_VERSION"),
                &format!("{}:{}", cfg.router.host, cfg.router.port),
                &format!("{}:{}", cfg.store.host.host, cfg.store.dir.display()),
            )
        }))
    }

    /// Records the plan.
    pub async fn planned(&mut self, plan: &backup::BackupPlan) {
        self.0.planned(&planned(plan)).await;
    }

    /// Records the end; the warning the summary prints, if the catalog
    /// could not be written.
    pub async fn finish(
        self,
        result: Result<&backup::Outcome, &backup::BackupError>,
    ) -> Option<String> {
        let end = match result {
            Ok(o) => RunEnd::success(o.bytes, Some(o.consistence_point.clone())),
            Err(e) => RunEnd::failed(e.to_string()),
        };
        self.0.finish(&end).await
    }
}

/// After a run that ended well: the record's end and the metrics file;
/// the warnings for the summary.
pub async fn ended(
    record: RunRecord,
    metrics_cfg: Option<&conf::BackupConfig>,
    outcome: Result<&backup::Outcome, &backup::BackupError>,
) -> Vec<String> {
    let failed = outcome.is_err();
    let mut warnings: Vec<String> = record.finish(outcome).await.into_iter().collect();
    warnings.extend(crate::metrics::after_run(metrics_cfg, failed).await);
    warnings
}

/// After a run that failed: as [`ended`].
pub async fn failed(
    record: RunRecord,
    metrics_cfg: Option<&conf::BackupConfig>,
    e: &backup::BackupError,
) -> Vec<String> {
    ended(record, metrics_cfg, Err(e)).await
}

/// The plan's columns: type, name, every server as `name@host:port`.
fn planned(plan: &backup::BackupPlan) -> Planned {
    Planned {
        run_type: if plan.is_incremental() {
            RunType::Incremental
        } else {
            RunType::Full
        },
        backup_name: plan.name.to_string(),
        target: None,
        servers: plan
            .servers
            .iter()
            .map(|s| format!("{}@{}", s.server, s.address()))
            .collect(),
    }
}
