//! Small value types shared by the builders, the log parser and later
//! crates: an InnoDB log sequence number and a binlog position.

use std::fmt;
use std::str::FromStr;

/// An InnoDB log sequence number, as `The latest check point (for
/// incremental)` reports it and `--incremental-lsn` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Lsn {
    type Err = std::num::ParseIntError;

    /// Accepts the bare number, with optional surrounding quotes and
    /// whitespace (`'44894'`), as the log prints it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().trim_matches('\'').trim().parse().map(Lsn)
    }
}

/// Where the backup stands in the binlog of the backed-up server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BinlogPosition {
    /// Binlog file name (`mysql-bin.000001`).
    pub file: String,
    /// Byte position in that file.
    pub position: u64,
    /// The GTID text the tool printed, continuation lines joined (MySQL:
    /// `uuid:1-5,uuid2:1-3`; MariaDB: `0-1-7`); `None` when the line had no
    /// GTID part, `Some("")` when it was empty.
    pub gtid: Option<String>,
}

/// The replication position of a replica, from the `--slave-info` line.
///
/// The shapes differ by tool and by whether the replica uses GTIDs, so the
/// raw text is kept next to what could be recognised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlavePosition {
    /// The whole text after `MySQL slave binlog position:` (or the
    /// XtraBackup 8 equivalent), trimmed.
    pub raw: String,
    /// The replica's GTID position: `gtid_slave_pos '...'` (MariaDB
    /// replicas using GTIDs) or `purge list '...'` (XtraBackup 8), lines
    /// joined.
    pub gtid: Option<String>,
    /// The master's binlog file the replica has executed up to.
    pub master_log_file: Option<String>,
    /// The executed position in that file.
    pub master_log_pos: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_parses_quoted_and_displays_bare() {
        assert_eq!("'44894'".parse::<Lsn>(), Ok(Lsn(44894)));
        assert_eq!(" 21694916\n".parse::<Lsn>(), Ok(Lsn(21694916)));
        assert!("x".parse::<Lsn>().is_err());
        assert_eq!(Lsn(7).to_string(), "7");
    }
}
