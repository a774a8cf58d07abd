//! Which binlogs recovery replays per datasource (seed 001, `prepare_datadir_for_all_datasource`).
//!
//! # The rules
//!
//! For each datasource of the target backup's `cluster_consistence_info`:
//!
//! 1. **Whose data**: the master's directory if the master was backed up
//!    (its directory has no `master_dir` file); otherwise the first slave's
//!    directory (by name), whose `master_dir` names the master's directory.
//! 2. **Whose binlogs**: always the master's (the consistence point is a
//!    position in the master's binlog), from the directory of that name in
//!    the target backup, and in the next backup when there is one.
//! 3. **Start**: the data's line's `xb-to-binlog-name`/`-pos` (where the
//!    physical backup ended; position 4 of `Relay_Master_Log_File` for a
//!    slave), skipping the transactions in the data directory's
//!    `executed_gtids` (MySQL `--exclude-gtids`; for MariaDB the GTID
//!    position to start after). A slave's start needs those GTIDs: without
//!    them the replay would apply again what the slave already had. A
//!    slave whose `executed_gtids` is empty holds no transaction: its
//!    replay starts at the first event of the start binlog when that
//!    binlog begins the master's history, and is refused otherwise (see
//!    [`crate::history`]).
//! 4. **Stop**: to a directory (or a datetime equal to a backup's point), the
//!    consistence point of the line (file and position); to a datetime
//!    between two backups, that datetime, replaying up to the next backup's
//!    last copied file of the master.
//! 5. **Files**: every file from the start file to the stop file, each taken
//!    from the next backup when it has it (its copy is the later, longer
//!    one), else from the target. A file in neither is an error naming the
//!    datasource and the file.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDateTime;

use crate::backuped::BackupedBinlogs;
use crate::chain::{BackupName, Chain};
use crate::consistence::{BinlogPos, ConsistenceInfo, ConsistenceLine};
use crate::format::POINT_DATETIME_FORMAT;
use crate::gtid::GtidSet;
use crate::history::{StartGtids, start_without_gtids};
use crate::name::BinlogName;
use crate::server_dir::ServerDir;

/// What a server's directory in the target backup holds, beyond its line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    /// `master_dir`: for a slave's directory, the master's directory name.
    pub master_dir: Option<ServerDir>,
    /// `executed_gtids`, if the file exists and names GTIDs.
    pub executed_gtids: Option<GtidSet>,
    /// `executed_gtids` exists and is empty: the backup found no
    /// transaction in the data (a datasource never written to). A missing
    /// file says nothing of the data.
    pub executed_gtids_empty: bool,
}

/// What recovery read from one backup directory of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFacts {
    /// The backup.
    pub name: BackupName,
    /// Its `cluster_consistence_info` (only the target's is used).
    pub consistence: ConsistenceInfo,
    /// Its `backuped_binlogs`.
    pub binlogs: BackupedBinlogs,
    /// Per dataserver name, what its directory holds (only the target's is used).
    pub servers: BTreeMap<String, ServerFacts>,
}

/// One binlog file on the store: `<backup>/<server dir>/<file>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogSource {
    /// The backup directory.
    pub backup: BackupName,
    /// The server directory in it.
    pub dir: ServerDir,
    /// The file.
    pub file: BinlogName,
}

impl fmt::Display for BinlogSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.backup, self.dir, self.file)
    }
}

/// Where replay stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyStop {
    /// At this position (exclusive, as `--stop-position`).
    Position(BinlogPos),
    /// At the first event at or after this time (`--stop-datetime`): local
    /// time, like `consistent_point_datetime`, so the host that replays must
    /// share the controller's time zone.
    Datetime(NaiveDateTime),
}

/// The replay for one datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasourceApply {
    /// The datasource.
    pub datasource: String,
    /// The directory whose data is restored.
    pub data_dir: ServerDir,
    /// The master directory whose binlogs are replayed.
    pub binlog_dir: ServerDir,
    /// Where replay starts.
    pub start: BinlogPos,
    /// Transactions the restored data already has, which replay must skip:
    /// MySQL `mysqlbinlog --exclude-gtids=<set> --start-position=<pos>`;
    /// MariaDB has no `--exclude-gtids`, there `mariadb-binlog
    /// --start-position=<gtid position>` starts after it (checked with
    /// mariadb-binlog 10.11: a GTID start combines with a byte
    /// `--stop-position`, which applies to the last file).
    pub skip_gtids: Option<GtidSet>,
    /// The files, in replay order.
    pub binlogs: Vec<BinlogSource>,
    /// Where replay stops.
    pub stop: ApplyStop,
}

/// The whole recovery plan: the chain, then per datasource the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyPlan {
    /// The backups used.
    pub chain: Chain,
    /// One entry per datasource, in the order of `cluster_consistence_info`.
    pub datasources: Vec<DatasourceApply>,
}

/// Why no replay plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyPlanError {
    /// The facts given are not those of the chain's target or next backup.
    #[error("the facts given are for {given}, but the chain needs {expected}")]
    WrongBackup {
        /// The backup the chain needs.
        expected: String,
        /// The backup given.
        given: String,
    },
    /// A line's server has no directory facts.
    #[error(
        "backup {backup}: server {server} is in cluster_consistence_info but its directory was not read"
    )]
    MissingServer {
        /// The backup.
        backup: BackupName,
        /// The server.
        server: String,
    },
    /// A backup copied no binlogs of the master.
    #[error(
        "datasource {datasource}: backup {backup} holds no binlogs of {server} (not in backuped_binlogs)"
    )]
    NoBinlogsCopied {
        /// The datasource.
        datasource: String,
        /// The backup.
        backup: BackupName,
        /// The master.
        server: String,
    },
    /// A file needed for replay is in no backup of the chain.
    #[error(
        "datasource {datasource}: binlog {file} of {server} is needed but is in none of {searched}"
    )]
    MissingBinlog {
        /// The datasource.
        datasource: String,
        /// The master.
        server: String,
        /// The missing file.
        file: BinlogName,
        /// The backups searched (names joined).
        searched: String,
    },
    /// Replay from a slave's data needs its executed GTIDs.
    #[error(
        "datasource {datasource}: {dir} has no executed_gtids, so replay from {start} would apply transactions twice"
    )]
    MissingExecutedGtids {
        /// The datasource.
        datasource: String,
        /// The slave's directory name.
        dir: String,
        /// The start position.
        start: BinlogPos,
    },
    /// A slave's data holds no transaction, but the master's start binlog
    /// does not begin its history.
    #[error(
        "datasource {datasource}: {dir} holds no transaction (empty executed_gtids) but binlog {binlog} \
         begins after GTIDs {before}: whether the data holds them is unknown, so a replay from its start \
         could apply transactions twice or miss them"
    )]
    HistoryBeforeStart {
        /// The datasource.
        datasource: String,
        /// The slave's directory name.
        dir: String,
        /// `<file> of <master>`.
        binlog: String,
        /// The GTIDs logged before the binlog.
        before: GtidSet,
    },
    /// A slave's data holds no transaction, and the GTIDs before the
    /// master's start binlog are unknown.
    #[error(
        "datasource {datasource}: {dir} holds no transaction (empty executed_gtids) and the GTIDs \
         logged before binlog {binlog} are unknown ({why}), so a replay from its start could apply \
         transactions twice"
    )]
    StartGtidsUnknown {
        /// The datasource.
        datasource: String,
        /// The slave's directory name.
        dir: String,
        /// `<file> of <master>`.
        binlog: String,
        /// Why they are unknown.
        why: String,
    },
    /// The start is after the stop, or in another binlog sequence.
    #[error("datasource {datasource}: replay would start at {start} but must end in {end}")]
    BadRange {
        /// The datasource.
        datasource: String,
        /// The start.
        start: BinlogPos,
        /// The last file.
        end: BinlogName,
    },
}

/// Plans the replay per datasource; see the module docs. `next` is required
/// exactly when `chain.next` is set. Refuses data that holds no
/// transaction: [`plan_apply_with`] takes the binlog heads that decide it.
pub fn plan_apply(
    chain: &Chain,
    target: &BackupFacts,
    next: Option<&BackupFacts>,
) -> Result<ApplyPlan, ApplyPlanError> {
    plan_apply_with(chain, target, next, &StartGtids::new())
}

/// [`plan_apply`] with the GTIDs logged before the binlogs
/// [`crate::history::heads_needed`] names, which decide the replay of data
/// that holds no transaction.
pub fn plan_apply_with(
    chain: &Chain,
    target: &BackupFacts,
    next: Option<&BackupFacts>,
    heads: &StartGtids,
) -> Result<ApplyPlan, ApplyPlanError> {
    if target.name != chain.target() {
        return Err(wrong(&chain.target().to_string(), &target.name.to_string()));
    }
    let next = match (chain.next, next) {
        (None, _) => None,
        (Some(n), Some(facts)) if facts.name == n => Some(facts),
        (Some(n), given) => {
            return Err(wrong(
                &n.to_string(),
                &given.map_or("nothing".into(), |g| g.name.to_string()),
            ));
        }
    };
    let stop_datetime = chain.stop_datetime.filter(|_| next.is_some());
    let mut datasources = Vec::new();
    for ds in target.consistence.datasources() {
        datasources.push(plan_datasource(ds, target, next, stop_datetime, heads)?);
    }
    Ok(ApplyPlan {
        chain: chain.clone(),
        datasources,
    })
}

fn wrong(expected: &str, given: &str) -> ApplyPlanError {
    ApplyPlanError::WrongBackup {
        expected: expected.to_owned(),
        given: given.to_owned(),
    }
}

/// Rule 1: the line whose data is restored, and the master directory.
pub(crate) fn choose_line<'a>(
    ds: &str,
    target: &'a BackupFacts,
) -> Result<(&'a ConsistenceLine, &'a ServerFacts, ServerDir), ApplyPlanError> {
    let mut candidates = Vec::new();
    for line in target.consistence.of_datasource(ds) {
        let facts =
            target
                .servers
                .get(&line.server)
                .ok_or_else(|| ApplyPlanError::MissingServer {
                    backup: target.name,
                    server: line.server.clone(),
                })?;
        match &facts.master_dir {
            None => return Ok((line, facts, line.server_dir())),
            Some(m) => candidates.push((line, facts, m.clone())),
        }
    }
    candidates.sort_by_key(|(line, _, _)| line.server_dir());
    // A datasource comes from a line, so there is at least one candidate here.
    candidates
        .into_iter()
        .next()
        .ok_or_else(|| ApplyPlanError::MissingServer {
            backup: target.name,
            server: ds.to_owned(),
        })
}

fn plan_datasource(
    ds: &str,
    target: &BackupFacts,
    next: Option<&BackupFacts>,
    stop_datetime: Option<NaiveDateTime>,
    heads: &StartGtids,
) -> Result<DatasourceApply, ApplyPlanError> {
    let (line, facts, binlog_dir) = choose_line(ds, target)?;
    let data_dir = line.server_dir();
    let master = binlog_dir.server.clone();
    let mut start = line.xb_to.clone();
    if facts.master_dir.is_some() && facts.executed_gtids.is_none() {
        start = start_without_gtids(ds, &data_dir.to_string(), facts, &master, &start, heads)?;
    }
    fn copied<'b>(
        ds: &str,
        b: &'b BackupFacts,
        master: &str,
    ) -> Result<&'b [BinlogName], ApplyPlanError> {
        b.binlogs
            .files(master)
            .ok_or_else(|| ApplyPlanError::NoBinlogsCopied {
                datasource: ds.to_owned(),
                backup: b.name,
                server: master.to_owned(),
            })
    }
    let in_target = copied(ds, target, &master)?;
    let (in_next, end, stop) = match (next, stop_datetime) {
        (Some(n), Some(t)) => {
            let files = copied(ds, n, &master)?;
            let end = files
                .last()
                .cloned()
                .map_or(line.point.file.clone(), |l| l.max(line.point.file.clone()));
            (files, end, ApplyStop::Datetime(t))
        }
        _ => (
            &[][..],
            line.point.file.clone(),
            ApplyStop::Position(line.point.clone()),
        ),
    };
    if !start.file.same_sequence(&end) || start.file > end {
        return Err(ApplyPlanError::BadRange {
            datasource: ds.to_owned(),
            start,
            end,
        });
    }
    let mut binlogs = Vec::new();
    let mut file = start.file.clone();
    loop {
        let backup = if in_next.contains(&file) {
            next.map(|n| n.name)
        } else if in_target.contains(&file) {
            Some(target.name)
        } else {
            None
        };
        let Some(backup) = backup else {
            let mut searched = vec![target.name.to_string()];
            searched.extend(next.map(|n| n.name.to_string()));
            return Err(ApplyPlanError::MissingBinlog {
                datasource: ds.to_owned(),
                server: master,
                file,
                searched: searched.join(" and "),
            });
        };
        binlogs.push(BinlogSource {
            backup,
            dir: binlog_dir.clone(),
            file: file.clone(),
        });
        if file == end {
            break;
        }
        file = file.successor();
    }
    Ok(DatasourceApply {
        datasource: ds.to_owned(),
        data_dir,
        binlog_dir,
        start,
        skip_gtids: facts.executed_gtids.clone(),
        binlogs,
        stop,
    })
}

impl fmt::Display for ApplyStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyStop::Position(p) => write!(f, "position {p}"),
            ApplyStop::Datetime(t) => write!(f, "datetime {}", t.format(POINT_DATETIME_FORMAT)),
        }
    }
}

impl fmt::Display for ApplyPlan {
    /// The `dbrecover --dry-run` view: the chain, then per datasource the replay.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chain: {}", self.chain)?;
        for d in &self.datasources {
            writeln!(
                f,
                "datasource {}: data of {}, binlogs of {}",
                d.datasource, d.data_dir, d.binlog_dir.server
            )?;
            match &d.skip_gtids {
                Some(g) if !g.is_empty() => {
                    writeln!(f, "  start {} skipping executed GTIDs {g}", d.start)?
                }
                _ => writeln!(f, "  start {}", d.start)?,
            }
            for b in &d.binlogs {
                writeln!(f, "  apply {b}")?;
            }
            writeln!(f, "  stop  {}", d.stop)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "apply_plan_tests.rs"]
mod tests;
