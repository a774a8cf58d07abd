//! A recovery run's record in the catalog (`[catalog]` of recovery.conf,
//! `catalog::physical`): written as the run starts, completed with the
//! plan and the end. A catalog that is down only gives the run a warning.

use catalog::physical::{Planned, Recorder, RunEnd, RunStart, RunType};

/// The record of one recovery run.
pub struct RunRecord(Recorder);

impl RunRecord {
    /// Starts the record (in the background) when `[catalog]` is set and
    /// the run touches anything (not a dry run).
    pub fn start(cfg: &conf::RecoveryConfig, dry_run: bool) -> RunRecord {
        let catalog = cfg.catalog.as_ref().filter(|_| !dry_run);
        RunRecord(Recorder::start_if(catalog, || {
            RunStart::of_this_process(
                "dbrecover",
                env!("CARGO_PKG_VERSION"),
                &cfg.job_server.host.host,
                &format!("{}:{}", cfg.store.host.host, cfg.store.dir.display()),
            )
        }))
    }

    /// Records the plan: the chain's newest backup, the target, the
    /// datasources.
    pub async fn planned(&mut self, plan: &recovery::RecoveryPlan, target: &conf::RecoverTo) {
        let target = match target {
            conf::RecoverTo::Dir(d) => d.clone(),
            conf::RecoverTo::StopDatetime(t) => t.clone(),
        };
        let planned = Planned {
            run_type: RunType::Recovery,
            backup_name: plan.apply.chain.target().to_string(),
            target: Some(target),
            servers: plan
                .apply
                .datasources
                .iter()
                .map(|d| d.datasource.clone())
                .collect(),
        };
        self.0.planned(&planned).await;
    }

    /// Records the end; the warning the summary prints, if the catalog
    /// could not be written.
    pub async fn finish(
        self,
        result: Result<&recovery::Outcome, &recovery::RecoveryError>,
    ) -> Option<String> {
        let end = match result {
            Ok(o) => RunEnd::success(
                o.plan.space.shipped,
                o.plan
                    .apply
                    .chain
                    .stop_datetime
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            ),
            Err(e) => RunEnd::failed(e.to_string()),
        };
        self.0.finish(&end).await
    }
}
