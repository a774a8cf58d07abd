//! Which binlog files a backup copies from one server (seed 000, `backup_binlog_for_server`).
//!
//! # The rules
//!
//! Which servers are asked at all: skipped servers never; with
//! `backup-master` off, a slave's own binlogs are never copied (only its
//! master's are, and they are needed to replay onto the slave's data).
//! The caller applies that and describes each remaining server by its
//! [`CopyRole`]. Then, for one server:
//!
//! 1. **Backed-up master** (`backup-master` on): its data was backed up and
//!    replay starts at the binlog file xtrabackup stopped in; the copy runs
//!    from that file to the file of the consistence point.
//! 2. **Master of backed-up slaves** (`backup-master` off): the master's data
//!    was not backed up, but its binlogs are what recovery replays onto each
//!    slave's data, from the slave's `Relay_Master_Log_File` (read when the
//!    slave's backup started). The copy runs from the smallest of those files
//!    to the largest consistence-point file among the slaves' lines.
//! 3. **Backed-up slave** (`backup-master` on): from the binlog file its own
//!    xtrabackup stopped in, to its newest binlog (a slave's consistence
//!    point is a position in its master's binlog, so no stop file is known).
//! 4. **Incremental backups** start no later than the last file the last good
//!    backup copied for this server, so the two backups' binlogs meet (that
//!    file is copied again, now complete). The seed takes this minimum only
//!    without `backup-master`; with it the rule's own start is never earlier,
//!    so taking the minimum always changes nothing there and still protects
//!    against a lagging slave.
//! 5. A server that has **no line in the last good backup** (it was not copied
//!    then) starts from its oldest binlog, as the seed does.
//! 6. **Gap**: if the last good backup's last file is no longer on the server
//!    (purged, or numbering restarted by `RESET MASTER`), the chain of
//!    binlogs would have a hole: an error naming the missing files, so the
//!    operator takes a full backup instead. The same for a file missing in
//!    the middle of the range, a purged start file, or a stop file that does
//!    not exist.
//! 7. The last copied file is **current** (still being written, copied
//!    partially) when it is the server's newest binlog.

use std::fmt;

use crate::backuped::BackupedBinlogs;
use crate::name::{BinaryLog, BinlogName};

/// The last good backup, which an incremental backup continues.
#[derive(Debug, Clone, Copy)]
pub struct LastGood<'a> {
    /// Its directory name (for messages).
    pub name: &'a str,
    /// Its `backuped_binlogs`.
    pub binlogs: &'a BackupedBinlogs,
}

/// Full or incremental.
#[derive(Debug, Clone, Copy)]
pub enum BackupKind<'a> {
    /// A full backup: binlogs of earlier backups do not matter.
    Full,
    /// An incremental backup continuing `LastGood`.
    Incremental(LastGood<'a>),
}

/// A backed-up slave as its master's binlog copy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveCut {
    /// The slave's name.
    pub server: String,
    /// `Relay_Master_Log_File` from `SHOW SLAVE STATUS` when its backup started.
    pub relay_master_log_file: BinlogName,
    /// The consistence-point file of the slave's line (a file of the master).
    pub point_binlog: BinlogName,
}

/// What a server is in this backup, which decides its copy range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyRole {
    /// Rule 1: a master whose data was backed up.
    BackedUpMaster {
        /// The binlog file xtrabackup stopped in (`xb-to-binlog-name`).
        xb_to_binlog: BinlogName,
        /// The consistence-point file.
        point_binlog: BinlogName,
    },
    /// Rule 2: a master not backed up, whose binlogs serve its slaves.
    MasterForSlaves {
        /// The backed-up (not skipped) slaves.
        slaves: Vec<SlaveCut>,
    },
    /// Rule 3: a slave whose data was backed up, with `backup-master` on.
    BackedUpSlave {
        /// The binlog file its xtrabackup stopped in.
        xb_to_binlog: BinlogName,
    },
}

/// Everything the planner needs about one server.
#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    /// The dataserver name.
    pub server: &'a str,
    /// Full or incremental.
    pub kind: BackupKind<'a>,
    /// The server's role.
    pub role: CopyRole,
    /// `SHOW BINARY LOGS` on the server, after the consistence point.
    pub binary_logs: &'a [BinaryLog],
}

/// Where the copy starts, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartReason {
    /// Rules 1 and 3: the file the server's own xtrabackup stopped in.
    XtrabackupFile,
    /// Rule 2: the smallest `Relay_Master_Log_File`, of this slave.
    RelayMasterLogFile {
        /// The slave it came from.
        slave: String,
    },
    /// Rule 4: the last file the last good backup copied.
    LastGoodBackup {
        /// That backup.
        backup: String,
    },
    /// Rule 5: the server's oldest binlog.
    OldestBinlog,
}

/// Where the copy stops, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Rules 1 and 2: the consistence-point file.
    ConsistencePoint,
    /// Rule 3: the server's newest binlog.
    NewestBinlog,
}

/// The binlog files to copy from one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogCopyPlan {
    /// The dataserver name.
    pub server: String,
    /// The files, ascending and contiguous, with their sizes when listed.
    pub files: Vec<BinaryLog>,
    /// The last file, if it is still being written (rule 7).
    pub current: Option<BinlogName>,
    /// Why the first file.
    pub start: StartReason,
    /// Why the last file.
    pub stop: StopReason,
}

impl BinlogCopyPlan {
    /// The file names.
    pub fn names(&self) -> Vec<BinlogName> {
        self.files.iter().map(|b| b.name.clone()).collect()
    }

    /// This server's line of `backuped_binlogs`.
    pub fn backuped_binlogs_line(&self) -> String {
        BackupedBinlogs::line(&self.server, &self.names())
    }
}

impl fmt::Display for BinlogCopyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, last) = match (self.files.first(), self.files.last()) {
            (Some(a), Some(b)) => (a.name.to_string(), b.name.to_string()),
            _ => (String::new(), String::new()),
        };
        write!(
            f,
            "{}: {first}..{last} ({} files",
            self.server,
            self.files.len()
        )?;
        if let Some(c) = &self.current {
            write!(f, ", {c} still being written")?;
        }
        let start = match &self.start {
            StartReason::XtrabackupFile => "the file xtrabackup stopped in".to_owned(),
            StartReason::RelayMasterLogFile { slave } => {
                format!("Relay_Master_Log_File of {slave}")
            }
            StartReason::LastGoodBackup { backup } => format!("the last file of {backup}"),
            StartReason::OldestBinlog => {
                "the oldest binlog (not in the last good backup)".to_owned()
            }
        };
        let stop = match self.stop {
            StopReason::ConsistencePoint => "the consistence point",
            StopReason::NewestBinlog => "the newest binlog",
        };
        write!(f, "; from {start} to {stop})")
    }
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyPlanError {
    /// `SHOW BINARY LOGS` returned nothing.
    #[error("server {server}: SHOW BINARY LOGS is empty (is log_bin on?)")]
    NoBinlogs {
        /// The server.
        server: String,
    },
    /// Rule 2 with no backed-up slave.
    #[error(
        "server {server}: its binlogs are copied for its backed-up slaves, but none of them was backed up"
    )]
    NoBackedUpSlave {
        /// The master.
        server: String,
    },
    /// Rule 6: binlogs purged since the last good backup.
    #[error(
        "server {server}: binlogs {missing_first}..{missing_last} are gone since the last good backup {backup} \
         (it copied up to {missing_first}); an incremental backup would leave a gap, take a full backup"
    )]
    Gap {
        /// The server.
        server: String,
        /// The last good backup.
        backup: String,
        /// First missing file (the last file the last good backup copied).
        missing_first: BinlogName,
        /// Last missing file.
        missing_last: BinlogName,
    },
    /// Rule 6: a file missing inside the range to copy.
    #[error("server {server}: binlog {missing} is missing between {after} and the following files")]
    Hole {
        /// The server.
        server: String,
        /// The last file present before the hole.
        after: BinlogName,
        /// The first missing file.
        missing: BinlogName,
    },
    /// Rule 6: the start file (not from the last backup) is gone.
    #[error("server {server}: start binlog {file} ({why}) is no longer on the server")]
    StartPurged {
        /// The server.
        server: String,
        /// The file.
        file: BinlogName,
        /// Where the start came from.
        why: String,
    },
    /// Rule 6: the consistence-point file is not on the server.
    #[error("server {server}: consistence-point binlog {file} is not among its binlogs")]
    StopMissing {
        /// The server.
        server: String,
        /// The file.
        file: BinlogName,
    },
    /// The stop file comes before the start file.
    #[error("server {server}: the copy would start at {start}, after its stop {stop}")]
    Inverted {
        /// The server.
        server: String,
        /// Start file.
        start: BinlogName,
        /// Stop file.
        stop: BinlogName,
    },
}

/// Plans the binlog copy of one server; see the module docs for the rules.
pub fn plan_binlog_copy(req: &CopyRequest<'_>) -> Result<BinlogCopyPlan, CopyPlanError> {
    let server = req.server.to_owned();
    let mut logs = req.binary_logs.to_vec();
    logs.sort_by(|a, b| a.name.cmp(&b.name));
    let Some(newest) = logs.last().map(|b| b.name.clone()) else {
        return Err(CopyPlanError::NoBinlogs { server });
    };
    let (role_start, role_reason, stop) = role_range(req)?;
    let (start, start_reason) = match req.kind {
        BackupKind::Full => (role_start, role_reason),
        BackupKind::Incremental(last_good) => {
            incremental_start(req.server, &logs, &last_good, role_start, role_reason)?
        }
    };
    let Some(start_at) = logs.iter().position(|b| b.name == start) else {
        let why = match &start_reason {
            StartReason::RelayMasterLogFile { slave } => {
                format!("Relay_Master_Log_File of slave {slave}")
            }
            _ => "the file xtrabackup stopped in".to_owned(),
        };
        return Err(CopyPlanError::StartPurged {
            server,
            file: start,
            why,
        });
    };
    let (stop_at, stop_reason) = match stop {
        Some(file) => match logs.iter().position(|b| b.name == file) {
            Some(i) => (i, StopReason::ConsistencePoint),
            None => return Err(CopyPlanError::StopMissing { server, file }),
        },
        None => (logs.len() - 1, StopReason::NewestBinlog),
    };
    if stop_at < start_at {
        return Err(CopyPlanError::Inverted {
            server,
            start,
            stop: logs[stop_at].name.clone(),
        });
    }
    let files = logs[start_at..=stop_at].to_vec();
    check_contiguous(req.server, &files)?;
    let current = files
        .last()
        .map(|b| b.name.clone())
        .filter(|n| *n == newest);
    Ok(BinlogCopyPlan {
        server,
        files,
        current,
        start: start_reason,
        stop: stop_reason,
    })
}

/// Rules 1 to 3: where the server's role starts the copy, why, and the
/// file it stops at (`None`: the newest).
fn role_range(
    req: &CopyRequest<'_>,
) -> Result<(BinlogName, StartReason, Option<BinlogName>), CopyPlanError> {
    Ok(match &req.role {
        CopyRole::BackedUpMaster {
            xb_to_binlog,
            point_binlog,
        } => (
            xb_to_binlog.clone(),
            StartReason::XtrabackupFile,
            Some(point_binlog.clone()),
        ),
        CopyRole::BackedUpSlave { xb_to_binlog } => {
            (xb_to_binlog.clone(), StartReason::XtrabackupFile, None)
        }
        CopyRole::MasterForSlaves { slaves } => {
            let first = slaves
                .iter()
                .min_by(|a, b| a.relay_master_log_file.cmp(&b.relay_master_log_file));
            let stop = slaves.iter().map(|s| s.point_binlog.clone()).max();
            let (Some(first), Some(stop)) = (first, stop) else {
                return Err(CopyPlanError::NoBackedUpSlave {
                    server: req.server.to_owned(),
                });
            };
            let reason = StartReason::RelayMasterLogFile {
                slave: first.server.clone(),
            };
            (first.relay_master_log_file.clone(), reason, Some(stop))
        }
    })
}

/// Rules 4 and 5: an incremental starts at the last file the last good
/// backup copied of this server when that is not after the role's start
/// (and that file must still be there), or at the server's oldest binlog
/// when that backup has none of it. `logs` is sorted and not empty.
fn incremental_start(
    server: &str,
    logs: &[BinaryLog],
    last_good: &LastGood<'_>,
    role_start: BinlogName,
    role_reason: StartReason,
) -> Result<(BinlogName, StartReason), CopyPlanError> {
    let Some(last) = last_good.binlogs.last(server) else {
        return Ok((logs[0].name.clone(), StartReason::OldestBinlog));
    };
    // Checked even when the role's start is earlier: if the last copied
    // file is gone, so is the continuity with that backup.
    if !logs.iter().any(|b| b.name == *last) {
        let after = logs
            .iter()
            .map(|b| &b.name)
            .find(|n| *n > last && n.same_sequence(last));
        let missing_last = match after {
            Some(a) => a.predecessor().unwrap_or_else(|| last.clone()),
            None => logs[logs.len() - 1].name.clone(),
        };
        return Err(CopyPlanError::Gap {
            server: server.to_owned(),
            backup: last_good.name.to_owned(),
            missing_first: last.clone(),
            missing_last,
        });
    }
    Ok(if *last <= role_start {
        (
            last.clone(),
            StartReason::LastGoodBackup {
                backup: last_good.name.to_owned(),
            },
        )
    } else {
        (role_start, role_reason)
    })
}

/// Rule 6: the files to copy follow each other without a hole.
fn check_contiguous(server: &str, files: &[BinaryLog]) -> Result<(), CopyPlanError> {
    for pair in files.windows(2) {
        let expected = pair[0].name.successor();
        if pair[1].name != expected {
            return Err(CopyPlanError::Hole {
                server: server.to_owned(),
                after: pair[0].name.clone(),
                missing: expected,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "backup_plan_tests.rs"]
mod tests;
