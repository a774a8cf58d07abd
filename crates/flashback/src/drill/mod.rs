//! `start` and `stop` on MariaDB: the drill's named steps, each journaled
//! before it changes anything (`started`) and once it completed (`done`),
//! so the journal always says how far a drill got.

mod attach;
mod node;
mod start;
mod stop;

pub use start::{StartDone, start};
pub use stop::{StopDone, stop, stop_plan};

use crate::journal::{Entry, Journal, StepState};
use crate::snapshot::SnapshotError;
use crate::{FlashbackError, Settings};
use std::time::{Duration, Instant};

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// A statement on a router or server failed.
    #[error(transparent)]
    Sql(Box<router::RouterError>),
    /// A snapshot could not be made, checked or ended.
    #[error(transparent)]
    Snapshot(Box<SnapshotError>),
    /// A command on a host failed.
    #[error(transparent)]
    Host(Box<xtrabackup::Error>),
    /// A bounded wait ran out.
    #[error("{what}: not within {waited:?} (last seen: {last})")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
        /// What was last seen.
        last: String,
    },
    /// The clusters are not in a state the step can work from.
    #[error("{0}")]
    Refused(String),
}

impl From<router::RouterError> for StepFailure {
    fn from(e: router::RouterError) -> Self {
        StepFailure::Sql(Box::new(e))
    }
}

impl From<SnapshotError> for StepFailure {
    fn from(e: SnapshotError) -> Self {
        StepFailure::Snapshot(Box::new(e))
    }
}

impl From<xtrabackup::Error> for StepFailure {
    fn from(e: xtrabackup::Error) -> Self {
        StepFailure::Host(Box::new(e))
    }
}

impl From<crate::Failure> for StepFailure {
    fn from(f: crate::Failure) -> Self {
        StepFailure::Refused(f.to_string())
    }
}

/// What a running verb shares: the settings, the journal and its current
/// record, and where progress lines go.
pub(crate) struct Session<'a> {
    /// `start` or `stop` (for the fault-injection points).
    pub verb: &'static str,
    pub settings: &'a Settings,
    pub journal: &'a Journal,
    pub entry: Entry,
    pub say: &'a (dyn Fn(&str) + Sync),
    started: Instant,
}

impl<'a> Session<'a> {
    pub fn new(
        verb: &'static str,
        settings: &'a Settings,
        journal: &'a Journal,
        entry: Entry,
        say: &'a (dyn Fn(&str) + Sync),
    ) -> Session<'a> {
        Session {
            verb,
            settings,
            journal,
            entry,
            say,
            started: Instant::now(),
        }
    }

    /// Journals the next step as started.
    pub fn begin(&mut self, name: &str) -> Result<(), FlashbackError> {
        self.entry = self.entry.at(self.entry.step + 1, name, StepState::Started);
        self.started = Instant::now();
        self.journal.write(&self.entry)?;
        self.fault("before");
        Ok(())
    }

    /// Journals the current step as done, and says so.
    pub fn done(&mut self) -> Result<(), FlashbackError> {
        self.fault("after");
        let e = &self.entry;
        self.entry = e.at(e.step, e.step_name.clone(), StepState::Done);
        self.journal.write(&self.entry)?;
        (self.say)(&format!(
            "step {} {}: done in {:.1} s",
            self.entry.step,
            self.entry.step_name,
            self.started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// A crash on purpose, for the tests that kill a run at every step
    /// boundary: `DR_FLASHBACK_KILL_AT=<verb>:<step>:before` aborts once the
    /// step is journaled as started, `...:after` once its work is done but
    /// before that is journaled. Debug builds only: a release binary has no
    /// such point.
    fn fault(&self, when: &str) {
        #[cfg(debug_assertions)]
        if std::env::var("DR_FLASHBACK_KILL_AT")
            .is_ok_and(|at| at == format!("{}:{}:{when}", self.verb, self.entry.step))
        {
            std::process::abort();
        }
        #[cfg(not(debug_assertions))]
        let _ = when;
    }

    /// The current step's error.
    pub fn fail(&self, at: &str, source: impl Into<StepFailure>) -> FlashbackError {
        FlashbackError::Step {
            step: self.entry.step,
            name: self.entry.step_name.clone(),
            at: at.to_owned(),
            source: source.into(),
        }
    }

    /// Bounds of the snapshot steps.
    pub fn bounds(&self) -> crate::snapshot::Bounds {
        crate::snapshot::Bounds {
            connect: self.settings.connect_timeout,
            long: self.settings.config.connect.command_timeout,
            small: Duration::from_secs(60),
            start: Duration::from_secs(300),
        }
    }
}

/// Polls `probe` every 200 ms until it yields `Some`, at most `waited`;
/// `probe` errors end the wait at once.
pub(crate) async fn poll<T>(
    what: &str,
    waited: Duration,
    mut probe: impl AsyncFnMut() -> Result<Result<T, String>, StepFailure>,
) -> Result<T, StepFailure> {
    let deadline = Instant::now() + waited;
    loop {
        let last = match probe().await? {
            Ok(v) => return Ok(v),
            Err(last) => last,
        };
        if Instant::now() > deadline {
            return Err(StepFailure::Timeout {
                what: what.to_owned(),
                waited,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
