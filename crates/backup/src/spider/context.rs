//! What every spiderbackup command starts from: the configuration, the
//! transports, the store, the router's facts (topology and server logins),
//! and connections to the datasource masters' task tables.

use crate::engine::{connector, open_store};
use crate::error::BackupError;
use crate::facts::{self, Facts};
use crate::plan::BackupPlan;
use crate::run::Run;
use catalog::tasks::{Filter, Task, TaskDb};
use remote::Connector;
use std::time::Duration;
use store::Store;
use stream::{Registry, Streamer};

/// How long connecting to a master may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One cluster (one config file) as a spiderbackup command sees it.
pub(crate) struct ClusterCtx {
    pub cfg: conf::BackupConfig,
    pub hosts: Connector,
    pub store: Store,
    pub facts: Facts,
}

/// A task and the datasource whose master holds it.
#[derive(Debug, Clone)]
pub struct Located {
    /// The datasource whose master's table holds the row.
    pub datasource: String,
    /// The row.
    pub task: Task,
}

impl ClusterCtx {
    /// Reads the router (topology, and the server logins through a config
    /// flush it removes again).
    pub async fn open(cfg: conf::BackupConfig) -> Result<ClusterCtx, BackupError> {
        let hosts = connector(&cfg)?;
        let store = open_store(&cfg, &hosts)?;
        let run_id = format!(
            "spider{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
        );
        let (cluster, credentials, router_conf, router_basedir) =
            facts::read_router(&cfg, &hosts, &run_id, |_| {}).await?;
        Ok(ClusterCtx {
            cfg,
            hosts,
            store,
            facts: Facts {
                cluster,
                credentials,
                router_conf,
                router_basedir,
                cleanup: Default::default(),
                last: None,
                unreachable: Default::default(),
            },
        })
    }

    /// The task table on `datasource`'s master.
    pub async fn master(&self, datasource: &str) -> Result<TaskDb, BackupError> {
        master_db(&self.facts, datasource).await
    }

    /// Every datasource's name.
    pub fn datasources(&self) -> Vec<String> {
        self.facts
            .cluster
            .datasources
            .iter()
            .map(|d| d.name.to_string())
            .collect()
    }

    /// The tasks matching `filter` on every datasource master.
    pub async fn tasks(&self, filter: &Filter) -> Result<Vec<Located>, BackupError> {
        let mut out = Vec::new();
        for ds in self.datasources() {
            let mut db = self.master(&ds).await?;
            let rows = db.list(filter).await;
            db.close().await;
            out.extend(rows?.into_iter().map(|task| Located {
                datasource: ds.clone(),
                task,
            }));
        }
        out.sort_by_key(|a| (a.task.created_at, a.task.id));
        Ok(out)
    }

    /// A run of `plan` over this cluster (its streams logged under today's
    /// `socat_log/`).
    pub async fn into_run(self, plan: BackupPlan) -> Result<Run, BackupError> {
        let today = chrono::Local::now().date_naive();
        let socat_log = self.store.prepare(today).await?;
        let stream_cfg = crate::engine::stream_config(&self.cfg, socat_log);
        Ok(Run {
            streamer: Streamer::new(stream_cfg, Registry::new()),
            cfg: self.cfg,
            hosts: self.hosts,
            store: self.store,
            facts: self.facts,
            plan,
            observer: None,
        })
    }
}

/// A new backup id: a random (version 4) UUID from the kernel.
pub fn new_backup_id() -> Result<String, BackupError> {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_owned())
        .map_err(|e| BackupError::Task(format!("reading /proc/sys/kernel/random/uuid: {e}")))
}

/// The task table on `datasource`'s master, reached with the login the
/// router's config gives for it.
pub(crate) async fn master_db(facts: &Facts, datasource: &str) -> Result<TaskDb, BackupError> {
    let cluster = &facts.cluster;
    let ds = cluster.datasource(datasource).ok_or_else(|| {
        BackupError::Topology(format!("datasource {datasource} is not on the router"))
    })?;
    let master = cluster.server(ds.master.as_str()).ok_or_else(|| {
        BackupError::Topology(format!(
            "{datasource}'s master {} is not among the dataservers",
            ds.master
        ))
    })?;
    let cred = facts.credentials.get(&master.name).ok_or_else(|| {
        BackupError::Topology(format!(
            "no MySQL login for {} in the router's config",
            master.name
        ))
    })?;
    Ok(TaskDb::connect(
        &master.host,
        master.port,
        cred.user.as_str(),
        cred.password.expose(),
        CONNECT_TIMEOUT,
    )
    .await?)
}
