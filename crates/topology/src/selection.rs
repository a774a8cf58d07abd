//! Which servers a backup run backs up, and whether it can be incremental:
//! the seed's `adjust_skipped_servers`, `is_skipped`,
//! `check_if_datasource_with_no_server_to_backup` and the server half of
//! `confirm_backup_type`, as one pure function, [`select`].
//!
//! ```
//! use std::collections::BTreeSet;
//! use topology::{select, BackupRequest, Decision, SelectionConfig, SlaveSelection, StaticTopology};
//!
//! let cluster = StaticTopology::from_toml_str(r#"
//!     [[datasource]]
//!     name = "normal_0"
//!     servers = [
//!       { name = "normal_0_0", host = "10.0.0.1", port = 16315, role = "master" },
//!       { name = "normal_0_1", host = "10.0.0.2", port = 16315, role = "replica" },
//!       { name = "normal_0_2", host = "10.0.0.3", port = 16315, role = "replica" },
//!     ]
//! "#).unwrap().cluster;
//! let config = SelectionConfig { backup_master: false, slaves: SlaveSelection::Count(1) };
//! let unreachable = BTreeSet::from(["normal_0_1".into()]);
//! let selection = select(&cluster, &config, &unreachable, &BackupRequest::Full).unwrap();
//! let backed_up: Vec<_> = selection.to_backup().map(|c| c.server.as_str()).collect();
//! assert_eq!(backed_up, ["normal_0_2"]);
//! print!("{selection}"); // the --dry-run table
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{Cluster, DatasourceName, Role, ServerName};

/// `backup-slave`: how replicas are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaveSelection {
    /// `backup-slave = N`: the first N replicas of each datasource, in router
    /// order, whose status is `Slave normal`.
    Count(usize),
    /// `backup-slave = a, b, ...`: exactly these replicas, whatever their
    /// status. Also what an absent `backup-slave` means (an empty list).
    List(BTreeSet<String>),
}

impl Default for SlaveSelection {
    fn default() -> Self {
        SlaveSelection::List(BTreeSet::new())
    }
}

impl SlaveSelection {
    /// Reads the `backup-slave` value as the seed does: absent → no replica;
    /// a single comma-free item of ASCII digits (spaces allowed around it)
    /// → a count; anything else → a list of names split on `,` and trimmed
    /// (so `1,2` is a list of two names and an empty value is the list
    /// `[""]`, matching no server).
    pub fn parse(value: Option<&str>) -> Self {
        let Some(value) = value else {
            return Self::default();
        };
        let items: Vec<&str> = value.split(',').collect();
        if let [single] = items.as_slice() {
            let digits = single.trim();
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return SlaveSelection::Count(digits.parse().unwrap_or(usize::MAX));
            }
        }
        SlaveSelection::List(items.iter().map(|s| s.trim().to_owned()).collect())
    }
}

/// The selection part of the backup configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectionConfig {
    /// `backup-master`: back up each datasource's master with xtrabackup.
    pub backup_master: bool,
    /// `backup-slave`.
    pub slaves: SlaveSelection,
}

impl SelectionConfig {
    /// From the raw `[misc]` values: `backup-master` is on when `1` or
    /// `true` (any case), `backup-slave` as [`SlaveSelection::parse`].
    pub fn from_config_values(backup_master: Option<&str>, backup_slave: Option<&str>) -> Self {
        SelectionConfig {
            backup_master: backup_master
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            slaves: SlaveSelection::parse(backup_slave),
        }
    }
}

/// What kind of backup the caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRequest {
    /// A full backup: there is no last good backup, or a full one is forced.
    Full,
    /// An incremental on top of the last good backup, which backed up these
    /// servers (the names in its `cluster_consistence_info`). Falls back to a
    /// full backup when the rules say so.
    Incremental {
        /// Servers the last good backup backed up.
        last_backup_servers: BTreeSet<ServerName>,
    },
}

/// Why this run is a full backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FullReason {
    /// The caller asked for one.
    Requested,
    /// `backup-master = 1` and this master was not in the last backup (a
    /// switchover happened).
    MasterNotInLastBackup {
        /// The current master.
        server: ServerName,
    },
    /// Restricted to the last backup's servers, these datasources would have
    /// no server backed up.
    DatasourcesNotCovered {
        /// The uncovered datasources.
        datasources: Vec<DatasourceName>,
    },
}

impl fmt::Display for FullReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullReason::Requested => f.write_str("full backup requested or no last good backup"),
            FullReason::MasterNotInLastBackup { server } => write!(
                f,
                "a master-slave switchover occurred: master {server} was not backed up last time"
            ),
            FullReason::DatasourcesNotCovered { datasources } => write!(
                f,
                "not every datasource is covered by servers of the last backup ({})",
                join(datasources)
            ),
        }
    }
}

/// The kind of backup the selection settled on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BackupKind {
    /// A full backup, and why.
    Full(FullReason),
    /// An incremental backup on the last good one.
    Incremental,
}

/// Why a server is not backed up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SkipReason {
    /// It could not be reached (ssh or MySQL check failed).
    Unreachable,
    /// A master, and `backup-master = 0`: its binlogs are still copied.
    MasterNotWanted,
    /// `backup-slave` is a list that does not name it (or is absent).
    NotInSlaveList,
    /// `backup-slave = N` and its status is not `Slave normal`.
    SlaveNotNormal {
        /// Its status text.
        status: String,
    },
    /// `backup-slave = N` and N replicas of its datasource are already taken.
    SlaveQuotaFilled {
        /// N.
        quota: usize,
    },
    /// Incremental backup and the last backup did not back it up.
    NotInLastBackup,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Unreachable => f.write_str("unreachable"),
            SkipReason::MasterNotWanted => f.write_str("backup-master = 0 (master: binlogs only)"),
            SkipReason::NotInSlaveList => f.write_str("not in backup-slave list"),
            SkipReason::SlaveNotNormal { status } => {
                write!(f, "status is {status:?}, not \"Slave normal\"")
            }
            SkipReason::SlaveQuotaFilled { quota } => {
                write!(f, "backup-slave = {quota} replicas already chosen")
            }
            SkipReason::NotInLastBackup => f.write_str("not backed up by the last backup"),
        }
    }
}

/// Whether a server is backed up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decision {
    /// Backed up with xtrabackup/mariabackup.
    Backup,
    /// Not backed up, and why.
    Skip(SkipReason),
}

/// The decision for one member server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerChoice {
    /// The server.
    pub server: ServerName,
    /// Its datasource.
    pub datasource: DatasourceName,
    /// Its role.
    pub role: Role,
    /// Backed up or not.
    pub decision: Decision,
}

impl ServerChoice {
    /// Whether the server is backed up.
    pub fn is_backed_up(&self) -> bool {
        self.decision == Decision::Backup
    }
}

/// The outcome of [`select`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// Full or incremental, and why full.
    pub kind: BackupKind,
    /// One choice per member server, in cluster order (datasource by
    /// datasource, master first).
    pub servers: Vec<ServerChoice>,
    /// The disaster-recovery feed server, never backed up, if any.
    pub dr_excluded: Option<ServerName>,
    /// Names in a `backup-slave` list that are no replica of the cluster
    /// (worth a warning: a typo backs up nothing).
    pub unknown_listed_slaves: Vec<String>,
    backup_master: bool,
}

impl Selection {
    /// Servers backed up with xtrabackup/mariabackup. The global consistence
    /// point is recorded for exactly these.
    pub fn to_backup(&self) -> impl Iterator<Item = &ServerChoice> {
        self.servers.iter().filter(|c| c.is_backed_up())
    }

    /// Servers whose binlogs are copied: every master, and with
    /// `backup-master = 1` also every backed-up replica.
    pub fn binlog_sources(&self) -> impl Iterator<Item = &ServerChoice> {
        self.servers.iter().filter(move |c| match c.role {
            Role::Master => true,
            Role::Replica => self.backup_master && c.is_backed_up(),
        })
    }

    /// The choice for `server`.
    pub fn choice(&self, server: &str) -> Option<&ServerChoice> {
        self.servers.iter().find(|c| c.server == server)
    }

    /// Whether this run is incremental.
    pub fn is_incremental(&self) -> bool {
        self.kind == BackupKind::Incremental
    }
}

impl fmt::Display for Selection {
    /// The `--dry-run` listing: the kind, then one line per server.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BackupKind::Full(reason) => writeln!(f, "full backup: {reason}")?,
            BackupKind::Incremental => writeln!(f, "incremental backup")?,
        }
        for c in &self.servers {
            let what = match &c.decision {
                Decision::Backup => "backup".to_owned(),
                Decision::Skip(reason) => format!("skip: {reason}"),
            };
            writeln!(
                f,
                "  {:<16} {:<20} {:<8} {what}",
                c.datasource, c.server, c.role
            )?;
        }
        if let Some(dr) = &self.dr_excluded {
            writeln!(
                f,
                "  {:<16} {dr:<20} {:<8} skip: disaster-recovery feed",
                "", "dr"
            )?;
        }
        for name in &self.unknown_listed_slaves {
            writeln!(
                f,
                "  warning: backup-slave names {name:?}, which is no replica of this cluster"
            )?;
        }
        Ok(())
    }
}

/// Why no usable selection exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// A datasource's master is unreachable; its binlogs and position are
    /// needed whatever is backed up.
    #[error(
        "master server {server} is unreachable, so datasource {datasource} cannot be backed up"
    )]
    MasterUnreachable {
        /// The datasource.
        datasource: DatasourceName,
        /// Its master.
        server: ServerName,
    },
    /// No server of a datasource would be backed up.
    #[error("datasource {datasource} has no server to back up, all skipped ({details})")]
    NoServerToBackup {
        /// The datasource.
        datasource: DatasourceName,
        /// `server: reason` for each of its servers.
        details: String,
    },
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides every member server's fate (`adjust_skipped_servers` plus
/// `is_skipped`), optionally restricted to the last backup's servers.
fn decide(
    cluster: &Cluster,
    config: &SelectionConfig,
    unreachable: &BTreeSet<ServerName>,
    last_backup: Option<&BTreeSet<ServerName>>,
) -> Vec<ServerChoice> {
    let mut taken: BTreeMap<&DatasourceName, usize> = BTreeMap::new();
    cluster
        .members()
        .map(|m| {
            let name = &m.server.name;
            let decision = if unreachable.contains(name) {
                Decision::Skip(SkipReason::Unreachable)
            } else if last_backup.is_some_and(|last| !last.contains(name)) {
                Decision::Skip(SkipReason::NotInLastBackup)
            } else {
                match (m.role, &config.slaves) {
                    (Role::Master, _) if config.backup_master => Decision::Backup,
                    (Role::Master, _) => Decision::Skip(SkipReason::MasterNotWanted),
                    (Role::Replica, SlaveSelection::List(list)) if list.contains(name.as_str()) => {
                        Decision::Backup
                    }
                    (Role::Replica, SlaveSelection::List(_)) => {
                        Decision::Skip(SkipReason::NotInSlaveList)
                    }
                    (Role::Replica, SlaveSelection::Count(_))
                        if !m.server.status.is_slave_normal() =>
                    {
                        Decision::Skip(SkipReason::SlaveNotNormal {
                            status: m.server.status.raw().to_owned(),
                        })
                    }
                    (Role::Replica, SlaveSelection::Count(quota)) => {
                        let n = taken.entry(&m.datasource.name).or_insert(0);
                        if *n < *quota {
                            *n += 1;
                            Decision::Backup
                        } else {
                            Decision::Skip(SkipReason::SlaveQuotaFilled { quota: *quota })
                        }
                    }
                }
            };
            ServerChoice {
                server: name.clone(),
                datasource: m.datasource.name.clone(),
                role: m.role,
                decision,
            }
        })
        .collect()
}

fn uncovered(cluster: &Cluster, choices: &[ServerChoice]) -> Vec<DatasourceName> {
    cluster
        .datasources
        .iter()
        .filter(|ds| {
            !choices
                .iter()
                .any(|c| c.datasource == ds.name && c.is_backed_up())
        })
        .map(|ds| ds.name.clone())
        .collect()
}

/// Chooses the servers to back up and settles full vs. incremental.
///
/// Per server, the first rule that applies decides:
/// 1. in `unreachable` → skipped (`Unreachable`);
/// 2. incremental attempt and not in the last backup → `NotInLastBackup`;
/// 3. a master → backed up iff `backup-master`, else `MasterNotWanted`;
/// 4. a replica with a `backup-slave` list → backed up iff listed;
/// 5. a replica with `backup-slave = N` → skipped unless `Slave normal`,
///    then backed up while fewer than N replicas of its datasource are.
///
/// An incremental request falls back to full (recomputed without rule 2)
/// when `backup-master = 1` and a current master was not in the last
/// backup, or when some datasource has no server backed up under rule 2.
///
/// Finally, for each datasource: an unreachable master is an error, and so
/// is a datasource with no server backed up.
pub fn select(
    cluster: &Cluster,
    config: &SelectionConfig,
    unreachable: &BTreeSet<ServerName>,
    request: &BackupRequest,
) -> Result<Selection, SelectionError> {
    let full = |reason| {
        (
            BackupKind::Full(reason),
            decide(cluster, config, unreachable, None),
        )
    };
    let (kind, servers) = match request {
        BackupRequest::Full => full(FullReason::Requested),
        BackupRequest::Incremental {
            last_backup_servers,
        } => {
            let choices = decide(cluster, config, unreachable, Some(last_backup_servers));
            let moved_master = cluster
                .datasources
                .iter()
                .find(|ds| config.backup_master && !last_backup_servers.contains(&ds.master));
            let not_covered = uncovered(cluster, &choices);
            if let Some(ds) = moved_master {
                full(FullReason::MasterNotInLastBackup {
                    server: ds.master.clone(),
                })
            } else if !not_covered.is_empty() {
                full(FullReason::DatasourcesNotCovered {
                    datasources: not_covered,
                })
            } else {
                (BackupKind::Incremental, choices)
            }
        }
    };

    for ds in &cluster.datasources {
        if unreachable.contains(&ds.master) {
            return Err(SelectionError::MasterUnreachable {
                datasource: ds.name.clone(),
                server: ds.master.clone(),
            });
        }
        let mine: Vec<&ServerChoice> = servers.iter().filter(|c| c.datasource == ds.name).collect();
        if !mine.iter().any(|c| c.is_backed_up()) {
            let details = mine
                .iter()
                .map(|c| match &c.decision {
                    Decision::Skip(reason) => format!("{}: {reason}", c.server),
                    Decision::Backup => c.server.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(SelectionError::NoServerToBackup {
                datasource: ds.name.clone(),
                details,
            });
        }
    }

    let unknown_listed_slaves = match &config.slaves {
        SlaveSelection::List(list) => list
            .iter()
            .filter(|name| {
                !name.is_empty()
                    && !cluster
                        .datasources
                        .iter()
                        .any(|ds| ds.replicas.iter().any(|r| r == name.as_str()))
            })
            .cloned()
            .collect(),
        SlaveSelection::Count(_) => Vec::new(),
    };

    Ok(Selection {
        kind,
        servers,
        dr_excluded: cluster.dr_attachment.as_ref().map(|dr| dr.server.clone()),
        unknown_listed_slaves,
        backup_master: config.backup_master,
    })
}

#[cfg(test)]
#[path = "selection_tests.rs"]
mod tests;
