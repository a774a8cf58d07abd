//! `performance_schema.clone_status` on the recipient: whether its last
//! clone is under way, completed or failed, and why (it survives the
//! recipient's restart at the end of a clone).

use std::fmt;
use topology::Row;

/// The recipient's last clone.
pub const CLONE_STATUS: &str =
    "SELECT STATE, ERROR_NO, ERROR_MESSAGE FROM performance_schema.clone_status";

/// The clone's `STATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloneState {
    /// `Not Started` (or no row: no clone ran on this instance).
    NotStarted,
    /// `In Progress`.
    InProgress,
    /// `Completed`.
    Completed,
    /// `Failed`.
    Failed,
    /// Anything else, as written.
    Other(String),
}

/// One row of [`CLONE_STATUS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneStatus {
    /// `STATE`.
    pub state: CloneState,
    /// `ERROR_NO` (0 when none).
    pub error_no: String,
    /// `ERROR_MESSAGE`.
    pub error_message: String,
}

impl CloneStatus {
    /// The answer to [`CLONE_STATUS`]; no row is `Not Started`.
    pub fn from_rows(rows: &[Row]) -> CloneStatus {
        let Some(row) = rows.first() else {
            return CloneStatus {
                state: CloneState::NotStarted,
                error_no: "0".to_owned(),
                error_message: String::new(),
            };
        };
        let col = |c: &str| {
            row.column(c)
                .flatten()
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let state = match col("STATE").as_str() {
            "Not Started" | "" => CloneState::NotStarted,
            "In Progress" => CloneState::InProgress,
            "Completed" => CloneState::Completed,
            "Failed" => CloneState::Failed,
            other => CloneState::Other(other.to_owned()),
        };
        CloneStatus {
            state,
            error_no: col("ERROR_NO"),
            error_message: col("ERROR_MESSAGE"),
        }
    }

    /// Whether it holds an error (a failed clone, or one that completed with
    /// an error number).
    pub fn failed(&self) -> bool {
        self.state == CloneState::Failed
            || (!self.error_no.is_empty()
                && self.error_no != "0"
                && self.state != CloneState::InProgress)
    }
}

impl fmt::Display for CloneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            CloneState::NotStarted => "Not Started",
            CloneState::InProgress => "In Progress",
            CloneState::Completed => "Completed",
            CloneState::Failed => "Failed",
            CloneState::Other(s) => s,
        };
        write!(f, "clone_status {state}")?;
        if !self.error_no.is_empty() && self.error_no != "0" {
            write!(f, ", error {}: {}", self.error_no, self.error_message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::recorded::parse_output;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");

    fn fixture(name: &str) -> Vec<Row> {
        let path = format!("{FIXTURES}{name}");
        parse_output(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    #[test]
    fn completed_failed_and_running() {
        let done = CloneStatus::from_rows(&fixture("clone_status_completed.txt"));
        assert_eq!(done.state, CloneState::Completed);
        assert!(!done.failed());
        assert_eq!(done.to_string(), "clone_status Completed");
        let failed = CloneStatus::from_rows(&fixture("clone_status_failed.txt"));
        assert!(failed.failed());
        assert!(
            failed.to_string().starts_with(
                "clone_status Failed, error 3862: Clone Donor Error: 1045 : Access denied"
            ),
            "{failed}"
        );
        let running = CloneStatus::from_rows(&fixture("clone_status_in_progress.txt"));
        assert_eq!(running.state, CloneState::InProgress);
        assert!(!running.failed());
        assert_eq!(CloneStatus::from_rows(&[]).state, CloneState::NotStarted);
    }
}
