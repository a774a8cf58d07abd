//! The engine's error: what stops a command before or outside its named
//! steps. A failed `verify` check is not an error but a [`crate::Check`]
//! with a [`crate::Failure`].

use crate::journal::JournalError;

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
}
