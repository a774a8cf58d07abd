//! The typed values of a `physical_run` row: what a run says when it
//! starts, once it is planned, and when it ends; and the row as read.

use chrono::NaiveDateTime;
use serde::Serialize;
use std::fmt;

/// `status`: where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started, not ended (or crashed).
    Running,
    /// Ended well.
    Success,
    /// Ended with an error.
    Failed,
}

impl RunStatus {
    /// The column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `run_type`: what kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunType {
    /// A full backup.
    Full,
    /// An incremental backup.
    Incremental,
    /// A recovery.
    Recovery,
}

impl RunType {
    /// The column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::Full => "full",
            RunType::Incremental => "incremental",
            RunType::Recovery => "recovery",
        }
    }
}

/// What a run says when it starts (the row's first write).
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    /// `tool`: `dbbackup` or `dbrecover`.
    pub tool: String,
    /// `tool_version`.
    pub tool_version: String,
    /// `cluster`.
    pub cluster: String,
    /// `store`.
    pub store: String,
    /// `controller`.
    pub controller: String,
    /// `pid`.
    pub pid: u32,
    /// `started_at` (UTC).
    pub started_at: NaiveDateTime,
}

impl RunStart {
    /// A run of `tool` (its `version`) starting now.
    pub fn now(
        tool: &str,
        version: &str,
        cluster: &str,
        store: &str,
        controller: &str,
        pid: u32,
    ) -> RunStart {
        RunStart {
            tool: tool.to_owned(),
            tool_version: format!("{tool} {version}"),
            cluster: cluster.to_owned(),
            store: store.to_owned(),
            controller: controller.to_owned(),
            pid,
            started_at: chrono::Utc::now().naive_utc(),
        }
    }

    /// A run of `tool` starting now in this process: the controller is
    /// this host's name (`unknown` if it cannot be read), the pid ours.
    pub fn of_this_process(tool: &str, version: &str, cluster: &str, store: &str) -> RunStart {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname");
        let controller = host.map_or_else(|_| "unknown".into(), |h| h.trim().to_owned());
        RunStart::now(
            tool,
            version,
            cluster,
            store,
            &controller,
            std::process::id(),
        )
    }
}

/// What a run says once it is planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// `run_type`.
    pub run_type: RunType,
    /// `backup_name`.
    pub backup_name: String,
    /// `target` (a recovery's).
    pub target: Option<String>,
    /// `servers`, one entry each.
    pub servers: Vec<String>,
}

/// What a run says when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// `status`: success or failed.
    pub status: RunStatus,
    /// `bytes`.
    pub bytes: Option<u64>,
    /// `consistence_point`.
    pub consistence_point: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `ended_at` (UTC).
    pub ended_at: NaiveDateTime,
}

impl RunEnd {
    /// A run that ended well now.
    pub fn success(bytes: u64, consistence_point: Option<String>) -> RunEnd {
        RunEnd {
            status: RunStatus::Success,
            bytes: Some(bytes),
            consistence_point,
            error: None,
            ended_at: chrono::Utc::now().naive_utc(),
        }
    }

    /// A run that failed now with `error` (its `ERROR:` sentence).
    pub fn failed(error: impl Into<String>) -> RunEnd {
        RunEnd {
            status: RunStatus::Failed,
            bytes: None,
            consistence_point: None,
            error: Some(error.into()),
            ended_at: chrono::Utc::now().naive_utc(),
        }
    }
}

/// A `physical_run` row as read; see the module's table of columns.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PhysicalRun {
    /// `id`.
    pub id: u64,
    /// `tool`.
    pub tool: String,
    /// `run_type`.
    pub run_type: Option<String>,
    /// `status`.
    pub status: String,
    /// `cluster`.
    pub cluster: String,
    /// `store`.
    pub store: String,
    /// `backup_name`.
    pub backup_name: Option<String>,
    /// `target`.
    pub target: Option<String>,
    /// `servers`.
    pub servers: Option<String>,
    /// `bytes`.
    pub bytes: Option<u64>,
    /// `consistence_point`.
    pub consistence_point: Option<String>,
    /// `started_at` (UTC).
    pub started_at: NaiveDateTime,
    /// `ended_at` (UTC).
    pub ended_at: Option<NaiveDateTime>,
    /// `elapsed_secs`.
    pub elapsed_secs: Option<f64>,
    /// `error`.
    pub error: Option<String>,
    /// `controller`.
    pub controller: String,
    /// `pid`.
    pub pid: u32,
    /// `tool_version`.
    pub tool_version: String,
}

/// `elapsed_secs` from two UTC times (never negative).
pub(crate) fn elapsed_secs(start: NaiveDateTime, end: NaiveDateTime) -> f64 {
    ((end - start).num_milliseconds().max(0) as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_texts_and_elapsed() {
        assert_eq!(RunStatus::Running.as_str(), "running");
        assert_eq!(RunStatus::Failed.to_string(), "failed");
        assert_eq!(RunType::Incremental.as_str(), "incremental");
        let s = RunStart::now("dbbackup", "0.1.0", "c:1", "s:/d", "ctl", 7);
        assert_eq!(s.tool_version, "dbbackup 0.1.0");
        let later = s.started_at + chrono::Duration::milliseconds(2500);
        assert_eq!(elapsed_secs(s.started_at, later), 2.5);
        assert_eq!(elapsed_secs(later, s.started_at), 0.0);
        let f = RunEnd::failed("boom");
        assert_eq!(
            (f.status, f.error.as_deref()),
            (RunStatus::Failed, Some("boom"))
        );
    }
}
