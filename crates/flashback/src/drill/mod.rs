//! `start` and `stop` on MariaDB and MySQL 8: the drill's named steps, each journaled
//! before it changes anything (`started`) and once it completed (`done`),
//! so the journal always says how far a drill got.

mod attach;
mod channel;
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
    /// A router or host reached as verify does failed.
    #[error(transparent)]
    Check(Box<crate::Failure>),
    /// An answer this tool does not understand.
    #[error("{what}: {detail}")]
    BadAnswer {
        /// What was asked.
        what: String,
        /// What is wrong with the answer.
        detail: String,
    },
    /// Production lists no DR cluster.
    #[error("production has no DR cluster attached (no slave DBScale source)")]
    NotAttached,
    /// The router's configuration has no login for a DR server.
    #[error("the DR router's configuration has no login for {server}")]
    NoLogin {
        /// The server.
        server: String,
    },
    /// The DR master has no replication configured.
    #[error("the DR master has no replication (SHOW SLAVE STATUS is empty)")]
    NoReplication,
    /// The DR master's SQL thread stopped.
    #[error("the DR master's SQL thread is not running: {last_error}")]
    SqlThreadStopped {
        /// `Last_SQL_Error`.
        last_error: String,
    },
    /// A server did not come back after its restore.
    #[error("{address} did not come back: {detail}")]
    ServerDown {
        /// `host:port`.
        address: String,
        /// The client's error and the server's output.
        detail: String,
    },
    /// `[target] mysql_password` cannot be quoted into the router's
    /// `ADD DATASERVER` statement.
    #[error(
        "[target] mysql_password holds a quote or a backslash: it cannot go into the router's ADD DATASERVER statement"
    )]
    UnquotablePassword,
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
        StepFailure::Check(Box::new(f))
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

/// A pause on purpose inside a step, for the tests that kill a run in the
/// middle of one: `DR_FLASHBACK_PAUSE_AT=<verb>:<server>:<point>` makes the
/// run say `paused at <verb>:<server>:<point>` on stderr when it reaches
/// that point of `server`'s part, and wait there until it is killed.
/// Debug builds only: a release binary has no such point.
pub(crate) fn pause(verb: &str, server: &str, point: &str) {
    #[cfg(debug_assertions)]
    {
        let at = format!("{verb}:{server}:{point}");
        if std::env::var("DR_FLASHBACK_PAUSE_AT").is_ok_and(|p| p == at) {
            eprintln!("paused at {at}");
            loop {
                std::thread::park();
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (verb, server, point);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_error_names_the_step_where_and_why() {
        let e = FlashbackError::Step {
            step: 4,
            name: crate::plan::STOP_REPLICATION.to_owned(),
            at: "127.0.0.30:16310".to_owned(),
            source: StepFailure::SqlThreadStopped {
                last_error: "Error 1062".to_owned(),
            },
        };
        assert_eq!(
            e.to_string(),
            "step 4 (apply what was received, stop DR replication) on 127.0.0.30:16310: \
             the DR master's SQL thread is not running: Error 1062"
        );
        let waited = StepFailure::Timeout {
            what: "the donor to reach the DR master's GTIDs".to_owned(),
            waited: Duration::from_secs(600),
            last: "master \"0-1-9\", donor \"0-1-7\"".to_owned(),
        };
        assert!(waited.to_string().contains("not within 600s"), "{waited}");
    }
}
