//! Which program receives a stream on the receiving host (`[misc]
//! receiver`), and the hosts found without the native one.
//!
//! * [`Receiver::Socat`]: the seed's `socat tcp-listen`; a SHA-256 is taken
//!   on a `tee` or from the stored file afterwards ([`crate::Checksum`]);
//! * [`Receiver::Native`]: `dbagent receive` (`agent::receiver`): the same
//!   listen-once contract and log lines, but it counts and hashes in the
//!   pass that writes, so nothing reads a stored file back.
//!
//! A host without the native program is not an error: its listener script
//! says so (`N`), the transfer goes by socat, and the host is remembered
//! for the rest of the run, so the warning comes once per host.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The program on the receiving end of every transfer of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Receiver {
    /// `socat -u tcp-listen:PORT,reuseaddr` (the seed's).
    #[default]
    Socat,
    /// `PROGRAM receive ...`, `PROGRAM` being `dbagent` on the host's PATH
    /// or a path (`[misc] receiver-bin`).
    Native {
        /// The `dbagent` program on the receiving hosts.
        program: String,
    },
}

impl Receiver {
    /// `Native { program }` when `native`, else `Socat` (from the
    /// configs' `[misc] receiver` and `receiver-bin`).
    pub fn native_or_socat(native: bool, program: &str) -> Self {
        if native {
            Receiver::Native {
                program: program.to_owned(),
            }
        } else {
            Receiver::Socat
        }
    }

    /// The name used in messages and as the pipeline stage's name.
    pub fn name(&self) -> &'static str {
        match self {
            Receiver::Socat => "socat",
            Receiver::Native { .. } => "dbagent receive",
        }
    }
}

/// Hosts whose listener script found no native receiver this run.
#[derive(Debug, Default)]
pub(crate) struct Missing(Mutex<BTreeSet<String>>);

impl Missing {
    /// The receiver to use on `host`: socat once the host was found
    /// without the native one.
    pub(crate) fn for_host<'a>(&self, configured: &'a Receiver, host: &str) -> &'a Receiver {
        match configured {
            Receiver::Native { .. } if self.contains(host) => &Receiver::Socat,
            other => other,
        }
    }

    /// Records `host`; true the first time (warn then).
    pub(crate) fn insert(&self, host: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(host.to_owned())
    }

    fn contains(&self, host: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_the_native_receiver_falls_back_to_socat_for_the_run() {
        let native = Receiver::Native {
            program: "dbagent".into(),
        };
        let missing = Missing::default();
        assert_eq!(missing.for_host(&native, "10.0.0.5"), &native);
        assert!(missing.insert("10.0.0.5"));
        assert!(!missing.insert("10.0.0.5"), "warned once");
        assert_eq!(missing.for_host(&native, "10.0.0.5"), &Receiver::Socat);
        assert_eq!(missing.for_host(&native, "10.0.0.6"), &native);
        assert_eq!(
            missing.for_host(&Receiver::Socat, "10.0.0.6"),
            &Receiver::Socat
        );
    }
}
