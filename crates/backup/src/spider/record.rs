//! The plan and a server's result as the task rows hold them (JSON), so
//! every worker backs up its server exactly as `schedule` planned (same
//! backup name, full or incremental, same base LSNs) and the finish sees
//! every server's result.

use crate::error::BackupError;
use crate::plan::{BackupPlan, ServerPlan};
use crate::server::ServerResult;
use binlog::BackupName;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use stream::Timings;

/// [`BackupPlan`] as stored in a task's `Plan` column (what a dry run and
/// the pre-checks found is not carried).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The backup directory's name.
    pub name: String,
    /// Which servers, full or incremental and why.
    pub selection: topology::Selection,
    /// The servers backed up, in cluster order.
    pub servers: Vec<ServerPlan>,
    /// The last good backup this one continues or follows.
    pub last: Option<String>,
    /// `host:dir` of the store.
    pub store: String,
    /// zstd threads on the sending hosts, when compressed.
    pub compress_threads: Option<u32>,
    /// Servers that could not be reached, and why.
    pub unreachable: Vec<(topology::ServerName, String)>,
    /// The planning steps' timings at `schedule`: `(step, seconds)`; the
    /// manifest's run timings start with them.
    #[serde(default)]
    pub timings: Vec<(String, f64)>,
}

fn bad(what: &str, e: impl std::fmt::Display) -> BackupError {
    BackupError::Task(format!("{what}: {e}"))
}

fn steps(t: &Timings) -> Vec<(String, f64)> {
    t.steps()
        .map(|(s, d)| (s.to_owned(), d.as_secs_f64()))
        .collect()
}

fn to_timings(of: &str, steps: &[(String, f64)]) -> Timings {
    let mut t = Timings::of(of);
    for (step, secs) in steps {
        t.record(step, Duration::from_secs_f64(secs.max(0.0)));
    }
    t
}

fn name(text: &str) -> Result<BackupName, BackupError> {
    text.parse().map_err(|e| bad("the task's backup name", e))
}

impl PlanRecord {
    /// The record of `plan`.
    pub fn of(plan: &BackupPlan) -> PlanRecord {
        PlanRecord {
            name: plan.name.to_string(),
            selection: plan.selection.clone(),
            servers: plan.servers.clone(),
            last: plan.last.map(|l| l.to_string()),
            store: plan.store.clone(),
            compress_threads: plan.compress_threads,
            unreachable: plan.unreachable.clone(),
            timings: Vec::new(),
        }
    }

    /// With the planning steps' `timings`.
    pub fn with_timings(mut self, timings: &Timings) -> PlanRecord {
        self.timings = steps(timings);
        self
    }

    /// The planning steps' timings again.
    pub fn timings(&self) -> Timings {
        to_timings("", &self.timings)
    }

    /// The plan again (a worker cleans no bad backups: `cleaned` is empty).
    pub fn plan(&self) -> Result<BackupPlan, BackupError> {
        Ok(BackupPlan {
            name: name(&self.name)?,
            selection: self.selection.clone(),
            servers: self.servers.clone(),
            last: self.last.as_deref().map(name).transpose()?,
            cleaned: Vec::new(),
            dry_run: false,
            precheck: None,
            store: self.store.clone(),
            encrypt: false,
            compress_threads: self.compress_threads,
            unreachable: self.unreachable.clone(),
        })
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From a task's `Plan`.
    pub fn from_json(text: &str) -> Result<PlanRecord, BackupError> {
        serde_json::from_str(text).map_err(|e| bad("the task's plan", e))
    }
}

/// A server's result as a task's `Result` column holds it.
pub fn result_to_json(r: &ServerResult) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

/// A server's result from a task's `Result` column.
pub fn result_from_json(text: &str) -> Result<ServerResult, BackupError> {
    serde_json::from_str(text).map_err(|e| bad("the task's result", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::{BackupRequest, SelectionConfig, SlaveSelection, StaticTopology};

    fn plan() -> BackupPlan {
        let cluster = StaticTopology::from_toml_str(
            r#"
            [[datasource]]
            name = "normal_0"
            servers = [
              { name = "normal_0_0", host = "10.0.0.1", port = 16315, role = "master" },
              { name = "normal_0_1", host = "10.0.0.2", port = 16315, role = "replica" },
            ]
        "#,
        )
        .unwrap()
        .cluster;
        let config = SelectionConfig {
            backup_master: false,
            slaves: SlaveSelection::Count(1),
        };
        let selection = topology::select(
            &cluster,
            &config,
            &Default::default(),
            &BackupRequest::Incremental {
                last_backup_servers: ["normal_0_1".into()].into(),
            },
        )
        .unwrap();
        BackupPlan {
            name: "UTC20261204101112.123-inc".parse().unwrap(),
            selection,
            servers: vec![ServerPlan {
                server: "normal_0_1".into(),
                datasource: "normal_0".into(),
                role: topology::Role::Replica,
                host: "10.0.0.2".into(),
                port: 16315,
                dir: "normal_0-normal_0_1-10.0.0.2-16315".into(),
                incremental_from: Some(123_456),
            }],
            last: Some("UTC20261203101112.000-full".parse().unwrap()),
            cleaned: vec!["UTC20261202000000.000-full".parse().unwrap()],
            dry_run: false,
            precheck: None,
            store: "store:/b".into(),
            encrypt: false,
            compress_threads: Some(2),
            unreachable: vec![("normal_0_2".into(), "refused".into())],
        }
    }

    #[test]
    fn a_plan_reads_back_as_scheduled_with_the_same_name_kind_base_and_lsns() {
        let planned = plan();
        let text = PlanRecord::of(&planned).to_json();
        let back = PlanRecord::from_json(&text).unwrap().plan().unwrap();
        assert_eq!(back.name, planned.name);
        assert!(back.is_incremental());
        assert_eq!(back.last, planned.last);
        assert_eq!(back.servers, planned.servers);
        assert_eq!(back.selection, planned.selection);
        assert_eq!(back.compress_threads, Some(2));
        assert_eq!(back.unreachable, planned.unreachable);
        assert!(back.cleaned.is_empty(), "a worker cleans nothing");
        assert_eq!(back.to_string(), {
            let mut p = planned.clone();
            p.cleaned.clear();
            p.to_string()
        });
    }

    #[test]
    fn a_damaged_plan_or_name_is_an_error_not_a_guess() {
        assert!(PlanRecord::from_json("{").is_err());
        let mut r = PlanRecord::of(&plan());
        r.name = "yesterday".into();
        assert!(r.plan().is_err());
    }

    #[test]
    fn a_result_reads_back_whole() {
        let mut timings = Timings::of("normal_0_1");
        timings.record("streaming the backup", Duration::from_millis(1500));
        let r = ServerResult {
            plan: plan().servers[0].clone(),
            lsn: 42,
            binlog_file: "mysql-bin.000003".into(),
            binlog_pos: 385,
            executed_gtids: "0-11-7".into(),
            relay_master_log_file: Some("mysql-bin.000002".into()),
            binlog_dir: "/var/lib/mysql".into(),
            basedir: "/usr".into(),
            bytes: 1 << 20,
            sha256: Some("ab".repeat(32)),
            timings,
        };
        let back = result_from_json(&result_to_json(&r)).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.timings.to_json(), r.timings.to_json());
    }
}
