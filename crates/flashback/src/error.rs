//! The engine's error: what stops a command before or outside its named
//! steps. A failed `verify` check is not an error but a [`crate::Check`]
//! with a [`crate::Failure`].

use crate::journal::JournalError;
use std::path::PathBuf;

/// Why a dr-flashback command could not run.
#[derive(Debug, thiserror::Error)]
pub enum FlashbackError {
    /// The hosts' transports could not be set up (a missing broker URI, an
    /// adm-agent secret, ...).
    #[error("cannot set up the connections to the hosts: {0}")]
    Transports(#[source] remote::Error),
    /// The journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// `HOST:PORT` on the command line is not one.
    #[error("{option} {given:?} is not HOST:PORT")]
    BadAddress {
        /// `-si` or `-ti`.
        option: &'static str,
        /// What was given.
        given: String,
    },
    /// `start` while a drill is open.
    #[error(
        "a drill is open (drill {drill}, {step}; journal {}): run stop first",
        journal.display()
    )]
    DrillOpen {
        /// The journal.
        journal: PathBuf,
        /// Its drill id.
        drill: String,
        /// The step it reached.
        step: String,
    },
    /// No DR replica can be the donor.
    #[error(
        "no DR replica can be the donor: none of the {replicas} is Slave normal with a readable GTID position"
    )]
    NoDonor {
        /// How many replicas the DR router lists.
        replicas: usize,
    },
    /// The DR router names no online master that answered.
    #[error("the DR router names no online master that answered")]
    NoDrMaster,
    /// A server's GTID text could not be read.
    #[error("{server}: {source}")]
    BadGtid {
        /// The server.
        server: String,
        /// The parser's error.
        source: binlog::gtid::GtidError,
    },
    /// A step of `start` or `stop` failed; the journal says where the
    /// drill stands.
    #[error("step {step} ({name}) on {at}: {source}")]
    Step {
        /// The step counter.
        step: u32,
        /// The step's name.
        name: String,
        /// Where it acted (a router, a host, a server).
        at: String,
        /// Why.
        source: crate::drill::StepFailure,
    },
    /// The journal holds a drill the seed's tool opened: its state is
    /// unknown to this tool.
    #[error("journal {}: the drill was opened by the seed's dr-flashback; close it with that tool", journal.display())]
    SeedDrill {
        /// The journal.
        journal: PathBuf,
    },
}
