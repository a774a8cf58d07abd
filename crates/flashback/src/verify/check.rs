//! One named check and its result, and the report they make.

use serde::Serialize;
use std::fmt;

/// Which of seed 002's checks a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckName {
    /// The production router answers and lists its dataservers.
    ProductionRouter,
    /// The DR router answers and lists its dataservers.
    DrRouter,
    /// A dataserver answers SQL, its host answers the transport, and the
    /// router says it is normal.
    Dataserver,
    /// Production lists `slave_dbscale_server`, pointing at the DR router.
    SlaveDbscaleServer,
    /// The DR master replicates from production's master, both threads running.
    DrReplication,
    /// Production's GTIDs contain every DR server's.
    GtidContained,
    /// A DR host has room for the snapshot.
    Disk,
}

impl CheckName {
    /// The name printed on the check's line.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::ProductionRouter => "production router reachable",
            CheckName::DrRouter => "DR router reachable",
            CheckName::Dataserver => "dataserver reachable and normal",
            CheckName::SlaveDbscaleServer => "slave_dbscale_server present in production",
            CheckName::DrReplication => "DR replication running from production",
            CheckName::GtidContained => "production GTIDs contain the DR cluster's",
            CheckName::Disk => "free disk for the snapshot",
        }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a check failed. Every variant names the server or host; none holds
/// a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Failure {
    /// A router or server did not answer SQL.
    #[error("{cause}")]
    SqlUnreachable {
        /// `host:port`.
        address: String,
        /// The client's error (it names the address).
        cause: String,
    },
    /// A statement failed.
    #[error("{cause}")]
    Statement {
        /// `host:port`.
        address: String,
        /// The statement (masked).
        statement: String,
        /// The client's error (it names the address and the statement).
        cause: String,
    },
    /// The host did not answer over the transport.
    #[error("host {host} over {transport}: {cause}")]
    HostUnreachable {
        /// The host.
        host: String,
        /// `ssh`, `adm-agent`, ...
        transport: String,
        /// Why.
        cause: String,
    },
    /// The router's answer is not what this tool understands.
    #[error("{address}: {cause}")]
    BadAnswer {
        /// The router's `host:port`.
        address: String,
        /// What is wrong with it.
        cause: String,
    },
    /// The router does not say the server is normal.
    #[error("the router reports {server} as {status:?}")]
    NotNormal {
        /// The server.
        server: String,
        /// Its status as printed.
        status: String,
    },
    /// Production has no `slave_dbscale_server`: the DR cluster is detached.
    #[error("production's router lists no slave_dbscale_server: the DR cluster is not attached")]
    NoSlaveDbscaleServer,
    /// `slave_dbscale_server` points at another router than `-ti`.
    #[error("slave_dbscale_server is {found}, not the DR router {expected}")]
    OtherDrRouter {
        /// What production lists.
        found: String,
        /// The `-ti` address.
        expected: String,
    },
    /// The DR master has no replication configured.
    #[error("{dr_master} replicates from nothing (SHOW SLAVE STATUS is empty)")]
    NoReplication {
        /// The DR master as the DR router reaches it.
        dr_master: String,
    },
    /// A replication thread is not running.
    #[error(
        "{dr_master}: replication from {source_address} is not running \
         (Slave_IO_Running: {io}, Slave_SQL_Running: {sql}){last_error}"
    )]
    ReplicationStopped {
        /// The DR master.
        dr_master: String,
        /// `Master_Host:Master_Port`.
        source_address: String,
        /// `Slave_IO_Running`.
        io: String,
        /// `Slave_SQL_Running`.
        sql: String,
        /// `; last error: ...`, or empty.
        last_error: String,
    },
    /// The DR master replicates from a server that is not production's
    /// online master.
    #[error(
        "{dr_master} replicates from {source_address}, which is not an online master of production"
    )]
    ReplicationFromElsewhere {
        /// The DR master.
        dr_master: String,
        /// `Master_Host:Master_Port`.
        source_address: String,
    },
    /// A DR server executed transactions production does not have.
    #[error(
        "{server} has executed {missing}, which production's {production_server} ({production}) lacks: \
         the DR cluster was written to; handle it by hand before a drill"
    )]
    GtidNotContained {
        /// The DR server.
        server: String,
        /// Its GTIDs beyond production's.
        missing: String,
        /// The production server compared with.
        production_server: String,
        /// That server's GTIDs.
        production: String,
    },
    /// A GTID text could not be read.
    #[error("{server}: {cause}")]
    BadGtid {
        /// The server.
        server: String,
        /// The parser's error.
        cause: String,
    },
    /// A measurement on a host failed.
    #[error("host {host}: {what}: {cause}")]
    Measure {
        /// The host.
        host: String,
        /// What was measured.
        what: String,
        /// Why it failed.
        cause: String,
    },
    /// Not enough room for the snapshot.
    #[error(
        "host {host}: {path} has {} free, the snapshot needs {} ({} measured + {margin_percent} %)",
        human(*free_bytes), human(*needed_bytes), human(*snapshot_bytes)
    )]
    NotEnoughDisk {
        /// The host.
        host: String,
        /// The directory whose file system was measured.
        path: String,
        /// Free bytes there.
        free_bytes: u64,
        /// Bytes the snapshot needs, margin included.
        needed_bytes: u64,
        /// The snapshot's measured size.
        snapshot_bytes: u64,
        /// The margin.
        margin_percent: u32,
    },
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// It passed; what was seen.
    Passed {
        /// What was seen.
        detail: String,
    },
    /// It failed.
    Failed {
        /// Why.
        failure: Failure,
    },
    /// It could not run because an earlier check failed.
    Skipped {
        /// Which.
        because: String,
    },
}

/// One line of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Which check.
    pub name: CheckName,
    /// What it was about (`dr_0_1 127.0.0.32:16315 (DR)`, a host, ...).
    pub subject: String,
    /// Its result.
    pub outcome: Outcome,
}

impl Check {
    /// A passed check.
    pub fn passed(name: CheckName, subject: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name,
            subject: subject.into(),
            outcome: Outcome::Passed {
                detail: detail.into(),
            },
        }
    }

    /// A failed check.
    pub fn failed(name: CheckName, subject: impl Into<String>, failure: Failure) -> Check {
        Check {
            name,
            subject: subject.into(),
            outcome: Outcome::Failed { failure },
        }
    }

    /// A check that could not run.
    pub fn skipped(
        name: CheckName,
        subject: impl Into<String>,
        because: impl Into<String>,
    ) -> Check {
        Check {
            name,
            subject: subject.into(),
            outcome: Outcome::Skipped {
                because: because.into(),
            },
        }
    }

    /// A check from a result.
    pub fn from_result(
        name: CheckName,
        subject: impl Into<String>,
        result: Result<String, Failure>,
    ) -> Check {
        match result {
            Ok(detail) => Check::passed(name, subject, detail),
            Err(failure) => Check::failed(name, subject, failure),
        }
    }

    /// The failure, if it failed.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.outcome {
            Outcome::Failed { failure } => Some(failure),
            _ => None,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = if self.subject.is_empty() {
            String::new()
        } else {
            format!(" [{}]", self.subject)
        };
        match &self.outcome {
            Outcome::Passed { detail } => write!(f, "ok    {}{subject}: {detail}", self.name),
            Outcome::Failed { failure } => write!(f, "FAIL  {}{subject}: {failure}", self.name),
            Outcome::Skipped { because } => {
                write!(f, "skip  {}{subject}: not checked, {because}", self.name)
            }
        }
    }
}

/// Every check of a `verify` run, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed (none failed or was skipped).
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Passed { .. }))
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.failure().is_some())
    }

    /// The checks named `name`.
    pub fn named(&self, name: CheckName) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.name == name)
    }
}

/// Bytes as `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_check_the_subject_and_the_cause() {
        let c = Check::failed(
            CheckName::Disk,
            "dr_0_1 127.0.0.32",
            Failure::NotEnoughDisk {
                host: "127.0.0.32".into(),
                path: "/data".into(),
                free_bytes: 1024 * 1024,
                needed_bytes: 3 * 1024 * 1024 * 1024,
                snapshot_bytes: 2 * 1024 * 1024 * 1024,
                margin_percent: 50,
            },
        );
        assert_eq!(
            c.to_string(),
            "FAIL  free disk for the snapshot [dr_0_1 127.0.0.32]: host 127.0.0.32: /data has 1.0 MiB free, \
             the snapshot needs 3.0 GiB (2.0 GiB measured + 50 %)"
        );
        let ok = Check::passed(CheckName::DrRouter, "127.0.0.30:16310", "3 dataservers");
        assert_eq!(
            ok.to_string(),
            "ok    DR router reachable [127.0.0.30:16310]: 3 dataservers"
        );
        let report = Report {
            checks: vec![ok, c],
        };
        assert!(!report.passed());
        assert_eq!(report.failures().count(), 1);
        assert_eq!(human(512), "512 B");
    }
}
