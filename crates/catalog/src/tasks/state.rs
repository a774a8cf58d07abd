//! The task states of seed 004 and the moves between them, as pure rules
//! (the SQL in [`super::db`] makes each move a conditional update).

use std::fmt;
use std::str::FromStr;

/// A task's `BackupStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Written by `schedule`, waiting for a worker.
    Init,
    /// A worker took it; `TaskPid` is that worker.
    Running,
    /// The server's backup is on the store and its result in `Result`.
    Success,
    /// It failed (`Reason` says why: the step's error, `failed: no pid`, expiry).
    Failed,
    /// Set by hand to stop it: the next `check` kills its `TaskPid`.
    Quit,
}

impl Status {
    /// Every status, in the order of a task's life.
    pub const ALL: [Status; 5] = [
        Status::Init,
        Status::Running,
        Status::Success,
        Status::Failed,
        Status::Quit,
    ];

    /// The text stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Init => "init",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Quit => "quit",
        }
    }

    /// No move leaves this status.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Success | Status::Failed | Status::Quit)
    }

    /// Whether a task may move from `self` to `to`: `init` → `running`
    /// (taken), `running` → `success`/`failed` (its worker ends it),
    /// `init`/`running` → `failed` (expired, or its worker is gone),
    /// `init`/`running` → `quit` (by hand). Nothing leaves a final state,
    /// so a `quit` is never overwritten.
    pub fn can_move(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Init, Status::Running)
                | (
                    Status::Init | Status::Running,
                    Status::Failed | Status::Quit
                )
                | (Status::Running, Status::Success)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status text the table should not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a task status (init, running, success, failed, quit)")]
pub struct BadStatus(pub String);

impl FromStr for Status {
    type Err = BadStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| BadStatus(s.to_owned()))
    }
}

/// Where a whole backup id stands, from its tasks' statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    /// No task of it was found.
    Unknown,
    /// Some task is still `init` or `running`, none failed.
    Pending,
    /// Every task succeeded: the cluster-level steps may run.
    Succeeded,
    /// A task failed or was quit: the backup never gets `ok`. Tasks may
    /// still be running.
    Failed,
}

impl Overall {
    /// The standing of a backup id whose tasks have these statuses.
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> Overall {
        let mut seen = false;
        let mut pending = false;
        for s in statuses {
            seen = true;
            match s {
                Status::Failed | Status::Quit => return Overall::Failed,
                Status::Init | Status::Running => pending = true,
                Status::Success => {}
            }
        }
        match (seen, pending) {
            (false, _) => Overall::Unknown,
            (true, true) => Overall::Pending,
            (true, false) => Overall::Succeeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written_and_nothing_else_reads() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("Running".parse::<Status>().is_err());
        assert!("".parse::<Status>().is_err());
    }

    #[test]
    fn only_the_seed_moves_are_allowed_and_nothing_leaves_a_final_state() {
        use Status::*;
        let allowed = [
            (Init, Running),
            (Init, Failed),
            (Init, Quit),
            (Running, Success),
            (Running, Failed),
            (Running, Quit),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_move(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
                if from.is_final() {
                    assert!(!from.can_move(to), "{from} -> {to}");
                }
            }
        }
    }

    #[test]
    fn a_backup_succeeds_only_when_every_task_did_and_fails_on_any_failure_or_quit() {
        use Status::*;
        assert_eq!(Overall::of([]), Overall::Unknown);
        assert_eq!(Overall::of([Success, Success]), Overall::Succeeded);
        assert_eq!(Overall::of([Success, Running]), Overall::Pending);
        assert_eq!(Overall::of([Init, Success]), Overall::Pending);
        assert_eq!(Overall::of([Running, Failed]), Overall::Failed);
        assert_eq!(Overall::of([Success, Quit]), Overall::Failed);
    }
}
