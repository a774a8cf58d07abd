//! [`Tool`]: a backup tool as configured and detected: its flavor (what
//! the command lines look like) and the programs that run, so a configured
//! `xtrabackup-bin-dir` or `xbstream-bin-dir` is the program that runs, not
//! only the one whose version was read.

use crate::flavor::Flavor;

/// The backup tool of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// What its `--version` said.
    pub flavor: Flavor,
    /// The backup program (`xtrabackup`, `mariabackup`, or a configured path).
    pub program: String,
    /// The stream extractor (`xbstream`, `mbstream`, or a configured path).
    pub stream_program: String,
}

impl Tool {
    /// The flavor's own program names, found on `PATH`.
    pub fn of(flavor: Flavor) -> Tool {
        Tool {
            flavor,
            program: flavor.program().to_owned(),
            stream_program: flavor.stream_program().to_owned(),
        }
    }

    /// The flavor, run as `program` (its stream extractor by its name).
    pub fn run_as(flavor: Flavor, program: &str) -> Tool {
        Tool {
            program: program.to_owned(),
            ..Tool::of(flavor)
        }
    }

    /// The same tool with `program` as its stream extractor.
    pub fn with_stream_program(mut self, program: impl Into<String>) -> Tool {
        self.stream_program = program.into();
        self
    }
}
