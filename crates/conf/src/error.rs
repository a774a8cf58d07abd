//! The one error type: every variant names the file, and where it can the
//! line or the section and key. Values are never quoted back for keys that
//! may hold secrets.

use std::path::PathBuf;

/// What can go wrong reading a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid INI.
    #[error("{}:{line}: {detail}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when it is about the whole file).
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// A required key is absent.
    #[error("{}: [{section}] {key} is required{hint}", file.display())]
    Missing {
        /// The file.
        file: PathBuf,
        /// Its section.
        section: String,
        /// The key.
        key: String,
        /// Extra context, starting with a separator (may be empty).
        hint: String,
    },
    /// A value is invalid.
    #[error("{}: [{section}] {key}: {detail}", file.display())]
    Value {
        /// The file.
        file: PathBuf,
        /// Its section.
        section: String,
        /// The key.
        key: String,
        /// What is wrong (never the value of a secret).
        detail: String,
    },
}
