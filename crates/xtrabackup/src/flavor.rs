//! Which backup tool a host has, read from its `--version` output.
//!
//! Percona XtraBackup prints on stdout (after a `recognized server
//! arguments` line); mariabackup prints on stderr. The seed reduces the
//! "based on ... server X.Y.Z" version to `X*1000 + Y*100 + Z` (8.0.26 →
//! 8026) and switches the incremental options on it; [`Flavor`] keeps that
//! rule in one place.

use crate::error::Error;
use crate::types::Lsn;
use std::fmt;

/// A dotted `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number.
    pub patch: u32,
}

impl Version {
    /// The seed's number: `major*1000 + minor*100 + patch` (8.0.26 → 8026).
    pub fn number(&self) -> u32 {
        self.major * 1000 + self.minor * 100 + self.patch
    }

    /// Parses the leading `X.Y.Z` of `text` (`8.0.26-18`, `10.11.19-MariaDB`).
    fn parse_prefix(text: &str) -> Option<Version> {
        let mut parts = text.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some(Version {
            major,
            minor,
            patch: digits.parse().ok()?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The backup tool and the server version it is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Percona XtraBackup (2.4 or 8.x): `xtrabackup`, `xbstream`.
    Xtrabackup {
        /// The MySQL server version it is "based on" (8.0.26).
        server: Version,
    },
    /// MariaDB's mariabackup: `mariabackup`, `mbstream`.
    Mariabackup {
        /// The MariaDB server version it is "based on" (10.11.19).
        server: Version,
    },
}

impl Flavor {
    /// Reads the flavor from `--version` output (stdout and stderr, either
    /// may hold it).
    pub fn from_version_output(stdout: &str, stderr: &str) -> Result<Flavor, Error> {
        for text in [stdout, stderr] {
            for line in text.lines() {
                if let Some(f) = Self::from_version_line(line) {
                    return Ok(f);
                }
            }
        }
        let shown: String = format!("{} {}", stdout.trim(), stderr.trim())
            .chars()
            .take(200)
            .collect();
        Err(Error::Parse {
            what: "backup tool --version output".into(),
            detail: format!("no \"based on MySQL/MariaDB server X.Y.Z\" in {shown:?}"),
        })
    }

    fn from_version_line(line: &str) -> Option<Flavor> {
        if let Some(i) = line.find("based on MariaDB server ") {
            let server = Version::parse_prefix(&line[i + "based on MariaDB server ".len()..])?;
            return Some(Flavor::Mariabackup { server });
        }
        if let Some(i) = line.find("based on MySQL server ") {
            let server = Version::parse_prefix(&line[i + "based on MySQL server ".len()..])?;
            return Some(Flavor::Xtrabackup { server });
        }
        None
    }

    /// The server version the tool is built on.
    pub fn server_version(&self) -> Version {
        match self {
            Flavor::Xtrabackup { server } | Flavor::Mariabackup { server } => *server,
        }
    }

    /// The backup program (`xtrabackup` / `mariabackup`).
    pub fn program(&self) -> &'static str {
        match self {
            Flavor::Xtrabackup { .. } => "xtrabackup",
            Flavor::Mariabackup { .. } => "mariabackup",
        }
    }

    /// The stream extractor (`xbstream` / `mbstream`).
    pub fn stream_program(&self) -> &'static str {
        match self {
            Flavor::Xtrabackup { .. } => "xbstream",
            Flavor::Mariabackup { .. } => "mbstream",
        }
    }

    /// The options that make a backup incremental from `lsn`. The seed's
    /// rule: XtraBackup above 8026 takes `--incremental-lsn` alone, older
    /// ones `--incremental --incremental-lsn`; mariabackup takes it alone.
    pub fn incremental_args(&self, lsn: Lsn) -> Vec<String> {
        let lsn_arg = format!("--incremental-lsn={lsn}");
        match self {
            Flavor::Xtrabackup { server } if server.number() <= 8026 => {
                vec!["--incremental".into(), lsn_arg]
            }
            _ => vec![lsn_arg],
        }
    }

    /// Whether `--prepare` takes `--apply-log-only` (XtraBackup needs it
    /// while incrementals follow; mariabackup 10.11 rejects it, exit 2).
    pub fn uses_apply_log_only(&self) -> bool {
        matches!(self, Flavor::Xtrabackup { .. })
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (server {})", self.program(), self.server_version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded in seed 000 (find_xtrabackup_version), stdout.
    const XB80: &str = "xtrabackup: recognized server arguments: --datadir=/var/lib/mysql \nxtrabackup version 8.0.26-18 based on MySQL server 8.0.26 Linux (x86_64) (revision id: 4aecf8219ca)\n";
    // mariabackup 10.11 on this machine, stderr.
    const MB1011: &str =
        "mariabackup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)\n";

    #[test]
    fn xtrabackup_80_is_8026_and_takes_both_incremental_options() {
        let f = Flavor::from_version_output(XB80, "").unwrap();
        assert_eq!(f.server_version().number(), 8026);
        assert_eq!(f.program(), "xtrabackup");
        assert_eq!(
            f.incremental_args(Lsn(21694916)),
            ["--incremental", "--incremental-lsn=21694916"]
        );
        assert!(f.uses_apply_log_only());
    }

    #[test]
    fn newer_xtrabackup_takes_the_lsn_alone() {
        let out = "xtrabackup version 8.0.35-30 based on MySQL server 8.0.35 Linux (x86_64)";
        let f = Flavor::from_version_output(out, "").unwrap();
        assert_eq!(f.server_version().number(), 8035);
        assert_eq!(f.incremental_args(Lsn(5)), ["--incremental-lsn=5"]);
    }

    #[test]
    fn xtrabackup_24_parses_on_its_mysql_57_base() {
        let out = "xtrabackup version 2.4.21 based on MySQL server 5.7.32 Linux (x86_64) (revision id: 5988af5)";
        let f = Flavor::from_version_output(out, "").unwrap();
        assert_eq!(f.server_version().number(), 5732);
        assert_eq!(f.incremental_args(Lsn(9)).len(), 2);
    }

    #[test]
    fn mariabackup_reads_stderr() {
        let f = Flavor::from_version_output("", MB1011).unwrap();
        assert_eq!(
            f,
            Flavor::Mariabackup {
                server: Version {
                    major: 10,
                    minor: 11,
                    patch: 19
                }
            }
        );
        assert_eq!(f.stream_program(), "mbstream");
        assert_eq!(f.incremental_args(Lsn(44894)), ["--incremental-lsn=44894"]);
        assert!(!f.uses_apply_log_only());
        let renamed = "mariadb-backup based on MariaDB server 11.4.2-MariaDB Linux (x86_64)";
        assert!(Flavor::from_version_output("", renamed).is_ok());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = Flavor::from_version_output("bash: xtrabackup: command not found", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("based on"), "{e}");
        assert!(e.contains("command not found"), "{e}");
    }
}
