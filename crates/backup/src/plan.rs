//! Step 2: the plan of a run, made from the [`Facts`](crate::facts::Facts)
//! and the configuration before anything is written; `--dry-run` prints
//! it and stops.

use crate::error::BackupError;
use crate::facts::{Facts, names};
use binlog::{BackupName, BackupType};
use chrono::NaiveDateTime;
use std::collections::BTreeSet;
use std::fmt;
use topology::{BackupKind, BackupRequest, Cluster, DatasourceName, Role, Selection, ServerName};

/// One server the run backs up with xtrabackup/mariabackup.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Makes the plan; `started` (UTC) names the backup.
pub fn make_plan(
    facts: &Facts,
    cfg: &conf::BackupConfig,
    started: NaiveDateTime,
    encrypt: bool,
    store: String,
) -> Result<BackupPlan, BackupError> {
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
