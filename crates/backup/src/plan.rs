//! Step 2: the plan of a run, made from the [`Facts`](crate::facts::Facts)
//! and the configuration before anything is written; `--dry-run` prints
//! it and stops.

use crate::error::BackupError;
use crate::facts::{Facts, names};
use binlog::{BackupName, BackupType};
use chrono::NaiveDateTime;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use topology::{BackupKind, BackupRequest, Cluster, DatasourceName, Role, Selection, ServerName};

/// One server the run backs up with xtrabackup/mariabackup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerPlan {
    /// The server.
    pub server: ServerName,
    /// Its datasource.
    pub datasource: DatasourceName,
    /// Its role.
    pub role: Role,
    /// Host.
    pub host: String,
    /// MySQL port.
    pub port: u16,
    /// Its directory in the backup (`<ds>-<server>-<host>-<port>`).
    pub dir: String,
    /// For an incremental: the LSN the last backup reached on it.
    pub incremental_from: Option<u64>,
}

impl ServerPlan {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Everything a run will do.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    /// The backup directory's name.
    pub name: BackupName,
    /// Which servers, full or incremental and why.
    pub selection: Selection,
    /// The servers backed up, in cluster order.
    pub servers: Vec<ServerPlan>,
    /// The last good backup this one continues (incremental) or follows.
    pub last: Option<BackupName>,
    /// Bad backups the cleanup moved away (in a dry run: would move).
    pub cleaned: Vec<BackupName>,
    /// Made by a dry run: nothing was (or will be) moved or written.
    pub dry_run: bool,
    /// What the pre-checks found (tools, space), once they ran.
    pub precheck: Option<crate::precheck::PreCheck>,
    /// `host:dir` of the store.
    pub store: String,
    /// With `-p`: the files are encrypted.
    pub encrypt: bool,
    /// `compress = 1`: zstd threads on the sending hosts.
    pub compress_threads: Option<u32>,
    /// Servers that cannot be reached, and why.
    pub unreachable: Vec<(ServerName, String)>,
}

impl BackupPlan {
    /// Whether the run is incremental.
    pub fn is_incremental(&self) -> bool {
        self.name.kind == BackupType::Incremental
    }
}

/// Refuses a start time at or before the newest backup's: names are UTC
/// start times and chains are ordered by name, so a clock set back (or a
/// controller whose clock lags the one that ran the last backup) would put
/// the new backup before the one it follows.
pub fn check_clock(started: NaiveDateTime, newest: Option<BackupName>) -> Result<(), BackupError> {
    match newest {
        Some(newest) if started <= newest.started => Err(BackupError::ClockBehind {
            now: started.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            newest: newest.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Makes the plan; `started` (UTC) names the backup.
pub fn make_plan(
    facts: &Facts,
    cfg: &conf::BackupConfig,
    started: NaiveDateTime,
    encrypt: bool,
    store: String,
) -> Result<BackupPlan, BackupError> {
    check_clock(started, facts.last.as_ref().map(|l| l.name))?;
    let request = match (&facts.last, cfg.force_full) {
        (Some(last), false) => BackupRequest::Incremental {
            last_backup_servers: last
                .consistence
                .lines
                .iter()
                .map(|l| ServerName::new(l.server.as_str()))
                .collect::<BTreeSet<_>>(),
        },
        _ => BackupRequest::Full,
    };
    let mut selection = topology::select(
        &facts.cluster,
        &cfg.selection,
        &names(&facts.unreachable),
        &request,
    )
    .map_err(|e| BackupError::PreCheck(e.to_string()))?;
    let mut servers = server_plans(&facts.cluster, &selection, facts)?;
    // An incremental needs every server's LSN from the last backup; a line
    // without one (a damaged or foreign file) makes the run full.
    if selection.is_incremental() && servers.iter().any(|s| s.incremental_from.is_none()) {
        let missing: Vec<String> = servers
            .iter()
            .filter(|s| s.incremental_from.is_none())
            .map(|s| s.server.to_string())
            .collect();
        tracing::warn!(servers = ?missing, "the last backup has no LSN for these servers: taking a full backup");
        selection = topology::select(
            &facts.cluster,
            &cfg.selection,
            &names(&facts.unreachable),
            &BackupRequest::Full,
        )
        .map_err(|e| BackupError::PreCheck(e.to_string()))?;
        servers = server_plans(&facts.cluster, &selection, facts)?;
        for s in &mut servers {
            s.incremental_from = None;
        }
    }
    let kind = if selection.is_incremental() {
        BackupType::Incremental
    } else {
        for s in &mut servers {
            s.incremental_from = None;
        }
        BackupType::Full
    };
    Ok(BackupPlan {
        name: BackupName::new(started, kind),
        selection,
        servers,
        last: facts.last.as_ref().map(|l| l.name),
        cleaned: facts.cleanup.cleaned.clone(),
        dry_run: false,
        precheck: None,
        store,
        encrypt,
        compress_threads: cfg.compress.then_some(cfg.compress_threads.max(1)),
        unreachable: facts
            .unreachable
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// The servers a run that backs up `backed_up` talks to: those, and every
/// datasource's master (its binlogs are copied).
pub fn servers_to_reach<'a>(
    cluster: &Cluster,
    backed_up: impl IntoIterator<Item = &'a ServerName>,
) -> BTreeSet<ServerName> {
    cluster
        .members()
        .filter(|m| m.role == Role::Master)
        .map(|m| m.server.name.clone())
        .chain(backed_up.into_iter().cloned())
        .collect()
}

/// Makes the plan, reaching (through `reach`: over the transport and
/// MySQL) only the servers it needs: every datasource's master (its
/// binlogs are copied) and the servers it backs up. A first plan takes
/// every server as reachable; a needed server that cannot be reached is
/// recorded in `facts.unreachable` and the plan is made again without it
/// (another replica may take its place), until every server the plan
/// needs was reached. Servers no plan needs (replicas beyond
/// `backup-slave`, replicas the router reports down) are never contacted:
/// a hung one would cost a connect timeout, and on 2 cores each ssh
/// handshake costs about 0.15 s of CPU.
pub async fn plan_reaching_servers<F, Fut>(
    facts: &mut Facts,
    cfg: &conf::BackupConfig,
    started: NaiveDateTime,
    encrypt: bool,
    store: &str,
    reach: F,
) -> Result<BackupPlan, BackupError>
where
    F: Fn(BTreeSet<ServerName>) -> Fut,
    Fut: std::future::Future<Output = BTreeMap<ServerName, String>>,
{
    let mut reached = BTreeSet::new();
    loop {
        let plan = make_plan(facts, cfg, started, encrypt, store.to_owned())?;
        let needed: BTreeSet<ServerName> =
            servers_to_reach(&facts.cluster, plan.servers.iter().map(|s| &s.server))
                .into_iter()
                .filter(|name| !reached.contains(name) && !facts.unreachable.contains_key(name))
                .collect();
        if needed.is_empty() {
            return Ok(plan);
        }
        let failed = reach(needed.clone()).await;
        if failed.is_empty() {
            return Ok(plan);
        }
        reached.extend(needed.into_iter().filter(|n| !failed.contains_key(n)));
        facts.unreachable.extend(failed);
    }
}

fn server_plans(
    cluster: &Cluster,
    selection: &Selection,
    facts: &Facts,
) -> Result<Vec<ServerPlan>, BackupError> {
    selection
        .to_backup()
        .map(|c| {
            let s = cluster.server(c.server.as_str()).ok_or_else(|| {
                BackupError::Topology(format!("server {} is not among the dataservers", c.server))
            })?;
            let incremental_from = facts
                .last
                .as_ref()
                .and_then(|l| l.consistence.line(c.server.as_str()))
                .and_then(|l| l.xb_to_lsn);
            Ok(ServerPlan {
                server: c.server.clone(),
                datasource: c.datasource.clone(),
                role: c.role,
                host: s.host.clone(),
                port: s.port,
                dir: store::layout::server_dir(
                    c.datasource.as_str(),
                    c.server.as_str(),
                    &s.host,
                    s.port,
                ),
                incremental_from,
            })
        })
        .collect()
}

impl fmt::Display for BackupPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "backup {} on {}", self.name, self.store)?;
        if self.selection.kind == BackupKind::Incremental {
            writeln!(
                f,
                "incremental on top of {}",
                self.last.map(|l| l.to_string()).unwrap_or_default()
            )?;
        }
        if !self.cleaned.is_empty() {
            let names: Vec<String> = self.cleaned.iter().map(ToString::to_string).collect();
            // A dry run leaves them in place: do not claim otherwise.
            let verb = if self.dry_run {
                "would be moved away (dry run)"
            } else {
                "moved away"
            };
            writeln!(f, "bad backups {verb}: {}", names.join(", "))?;
        }
        for (server, why) in &self.unreachable {
            writeln!(f, "unreachable: {server}: {why}")?;
        }
        write!(f, "{}", self.selection)?;
        writeln!(f, "backed up:")?;
        for s in &self.servers {
            let from = s
                .incremental_from
                .map(|l| format!("from LSN {l}"))
                .unwrap_or_else(|| "full".into());
            writeln!(
                f,
                "  {:<20} {:<22} {:<8} {from} -> {}/",
                s.server,
                s.address(),
                s.role,
                s.dir
            )?;
        }
        let sources: Vec<String> = self
            .selection
            .binlog_sources()
            .map(|c| c.server.to_string())
            .collect();
        writeln!(f, "binlogs copied from: {}", sources.join(", "))?;
        writeln!(
            f,
            "stream: {}{}",
            match self.compress_threads {
                Some(n) => format!("zstd -T{n}"),
                None => "uncompressed".into(),
            },
            if self.encrypt {
                ", encrypted (AES Crypt)"
            } else {
                ""
            }
        )?;
        if let Some(p) = &self.precheck {
            writeln!(
                f,
                "store space: about {} MiB needed (+10 %), {} MiB free",
                p.estimate >> 20,
                p.free >> 20
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const CONF: &str = "\
[misc]
socat-port = 45509
socat-port2 = 45514
backup-master = 0
backup-slave = 1
connect-method = ssh

[cluster]
ip = 10.1.2.4
user = admin
port = 16310
password = router-pw

[server-ssh-info]
user = dbsbk
password = pw
port = 22

[backup-store]
ip = 10.1.2.5
port = 22
user = dbsbk
password = pw
dir = /data/backup_dir
";

    const TOPOLOGY: &str = r#"
        [[datasource]]
        name = "normal_0"
        servers = [
          { name = "normal_0_0", host = "10.0.0.1", port = 16315, role = "master" },
          { name = "normal_0_1", host = "10.0.0.2", port = 16315, role = "replica" },
          { name = "normal_0_2", host = "10.0.0.3", port = 16315, role = "replica" },
        ]
        [[datasource]]
        name = "normal_1"
        servers = [
          { name = "normal_1_0", host = "10.0.1.1", port = 16315, role = "master" },
          { name = "normal_1_1", host = "10.0.1.2", port = 16315, role = "replica" },
          { name = "normal_1_2", host = "10.0.1.3", port = 16315, role = "replica" },
        ]
    "#;

    fn facts() -> Facts {
        Facts {
            cluster: topology::StaticTopology::from_toml_str(TOPOLOGY)
                .unwrap()
                .cluster,
            credentials: Default::default(),
            router_conf: String::new(),
            router_basedir: None,
            cleanup: Default::default(),
            last: None,
            unreachable: Default::default(),
        }
    }

    fn names(set: &BTreeSet<ServerName>) -> Vec<&str> {
        set.iter().map(ServerName::as_str).collect()
    }

    /// Plans with `down` unreachable; returns the plan and every set of
    /// servers that was reached for, in order.
    fn plan_with_down(
        down: &[&str],
    ) -> (Result<BackupPlan, BackupError>, Vec<BTreeSet<ServerName>>) {
        let ini = conf::Ini::parse(CONF, std::path::Path::new("backup.conf")).unwrap();
        let cfg = conf::BackupConfig::from_ini(&ini).unwrap();
        let asked = Mutex::new(Vec::new());
        let mut facts = facts();
        let reach = |among: BTreeSet<ServerName>| {
            asked.lock().unwrap().push(among.clone());
            let failed: BTreeMap<ServerName, String> = among
                .into_iter()
                .filter(|s| down.contains(&s.as_str()))
                .map(|s| (s, "connection refused".to_owned()))
                .collect();
            async move { failed }
        };
        let started = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap();
        let plan = futures::executor::block_on(plan_reaching_servers(
            &mut facts, &cfg, started, false, "store:/b", reach,
        ));
        (plan, asked.into_inner().unwrap())
    }

    #[test]
    fn a_clock_at_or_before_the_newest_backup_is_refused_naming_both() {
        let newest: BackupName = "UTC20261122060000.500-full".parse().unwrap();
        let at =
            |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f").unwrap();
        for behind in ["2026-11-22 05:59:59.000", "2026-11-22 06:00:00.500"] {
            let e = check_clock(at(behind), Some(newest))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&behind[..19]) && e.contains("UTC20261122060000.500-full"),
                "{e}"
            );
        }
        check_clock(at("2026-11-22 06:00:00.501"), Some(newest)).unwrap();
        check_clock(at("2000-01-01 00:00:00.000"), None).unwrap();
    }

    #[test]
    fn only_the_masters_and_the_chosen_replicas_are_reached() {
        let (plan, asked) = plan_with_down(&[]);
        let plan = plan.unwrap();
        assert_eq!(asked.len(), 1);
        assert_eq!(
            names(&asked[0]),
            ["normal_0_0", "normal_0_1", "normal_1_0", "normal_1_1"]
        );
        assert!(plan.unreachable.is_empty());
    }

    #[test]
    fn an_unreachable_replica_is_replaced_by_the_next_one_which_is_reached_too() {
        let (plan, asked) = plan_with_down(&["normal_0_1"]);
        let plan = plan.unwrap();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(names(&asked[1]), ["normal_0_2"]);
        let backed_up: Vec<&str> = plan.servers.iter().map(|s| s.server.as_str()).collect();
        assert_eq!(backed_up, ["normal_0_2", "normal_1_1"]);
        let unreachable: Vec<&str> = plan.unreachable.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(unreachable, ["normal_0_1"]);
        assert!(
            plan.to_string()
                .contains("normal_0_1 replica skip: unreachable"),
            "{plan}"
        );
    }

    #[test]
    fn a_datasource_without_a_reachable_replica_is_an_error_after_trying_each() {
        let (plan, asked) = plan_with_down(&["normal_0_1", "normal_0_2"]);
        let err = plan.unwrap_err().to_string();
        assert!(err.contains("normal_0"), "{err}");
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(names(&asked[1]), ["normal_0_2"]);
    }
}
