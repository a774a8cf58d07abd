//! The `backuped_binlogs` file: which binlog files each server's directory got.
//!
//! Seed 000 appends one line per server whose binlogs it copied:
//! `<server>:<file> <file> ...` (recorded: `normal_0_1:greatdb-bin.000041`).
//! The next incremental backup reads the last file of its server's line to
//! know where to resume; recovery uses the lines to find the binlogs of a
//! datasource. Blank lines are ignored. If a server appears on two lines (a
//! step appended twice) its files are merged: every listed file was copied.

use std::fmt;
use std::str::FromStr;

use crate::format::FormatError;
use crate::name::BinlogName;

const FILE: &str = "backuped_binlogs";

/// Parsed `backuped_binlogs`: per server, the copied files in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupedBinlogs {
    entries: Vec<(String, Vec<BinlogName>)>,
}

impl BackupedBinlogs {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `files` of `server` were copied (merged with any earlier entry).
    pub fn record(&mut self, server: &str, files: &[BinlogName]) {
        let entry = match self.entries.iter().position(|(s, _)| s == server) {
            Some(i) => &mut self.entries[i].1,
            None => {
                self.entries.push((server.to_owned(), Vec::new()));
                let last = self.entries.len() - 1;
                &mut self.entries[last].1
            }
        };
        entry.extend_from_slice(files);
        entry.sort();
        entry.dedup();
    }

    /// The files copied for `server`, ascending; `None` if it has no line.
    pub fn files(&self, server: &str) -> Option<&[BinlogName]> {
        self.entries
            .iter()
            .find(|(s, _)| s == server)
            .map(|(_, f)| f.as_slice())
    }

    /// The last (highest) file copied for `server`.
    pub fn last(&self, server: &str) -> Option<&BinlogName> {
        self.files(server).and_then(|f| f.last())
    }

    /// The servers, in file order.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(s, _)| s.as_str())
    }

    /// One line of the file, as the backup appends it (with its newline).
    pub fn line(server: &str, files: &[BinlogName]) -> String {
        let names: Vec<String> = files.iter().map(ToString::to_string).collect();
        format!("{server}:{}\n", names.join(" "))
    }
}

impl FromStr for BackupedBinlogs {
    type Err = FormatError;

    fn from_str(content: &str) -> Result<Self, Self::Err> {
        let mut out = BackupedBinlogs::new();
        for (i, line) in content.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let (server, files) = line.split_once(':').ok_or_else(|| {
                FormatError::new(FILE, i + 1, line, "expected <server>:<file> <file> ...")
            })?;
            if server.is_empty() || server.contains(char::is_whitespace) {
                return Err(FormatError::new(FILE, i + 1, line, "bad server name"));
            }
            let files = files
                .split_whitespace()
                .map(|f| f.parse::<BinlogName>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| FormatError::new(FILE, i + 1, line, e.to_string()))?;
            out.record(server, &files);
        }
        Ok(out)
    }
}

impl fmt::Display for BackupedBinlogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (server, files) in &self.entries {
            f.write_str(&BackupedBinlogs::line(server, files))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> BinlogName {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_seed_line() {
        let b: BackupedBinlogs = "normal_0_1:greatdb-bin.000041\n".parse().unwrap();
        assert_eq!(b.last("normal_0_1"), Some(&n("greatdb-bin.000041")));
        assert_eq!(b.files("normal_0_0"), None);
        assert_eq!(b.to_string(), "normal_0_1:greatdb-bin.000041\n");
    }

    #[test]
    fn round_trips_several_servers_and_sorts_numerically() {
        let text =
            "normal_0_1:greatdb-bin.000043 greatdb-bin.000044\nnormal_1_1:m.999999 m.1000000\n";
        let b: BackupedBinlogs = text.parse().unwrap();
        assert_eq!(b.to_string(), text);
        assert_eq!(
            b.servers().collect::<Vec<_>>(),
            ["normal_0_1", "normal_1_1"]
        );
        assert_eq!(b.last("normal_1_1"), Some(&n("m.1000000")));
        assert_eq!(b.to_string().parse::<BackupedBinlogs>().unwrap(), b);
    }

    #[test]
    fn merges_a_server_listed_twice_and_skips_blank_lines() {
        let b: BackupedBinlogs = "s:a.000002\n\ns:a.000001 a.000002\r\n".parse().unwrap();
        assert_eq!(b.files("s").unwrap(), [n("a.000001"), n("a.000002")]);
        let empty: BackupedBinlogs = "s:\n".parse().unwrap();
        assert_eq!(empty.files("s"), Some(&[][..]));
    }

    #[test]
    fn errors_name_file_line_and_text() {
        let e = "s:a.000001\nno colon here\n"
            .parse::<BackupedBinlogs>()
            .unwrap_err();
        assert_eq!(
            (e.file, e.line, e.text.as_str()),
            ("backuped_binlogs", 2, "no colon here")
        );
        let e = "s:a.000001 bogus\n".parse::<BackupedBinlogs>().unwrap_err();
        assert!(e.to_string().contains("bogus"));
        assert!(":a.000001\n".parse::<BackupedBinlogs>().is_err());
    }
}
