//! Parsing a finished (or failed) backup or prepare log.
//!
//! The lines of interest are matched by their text wherever the line's
//! prefix puts them (`[00] 2026-11-21 15:41:06 ` for mariabackup,
//! `2024-02-22T13:23:50.12+08:00 0 [Note] [MY-011825] [Xtrabackup] ` for
//! XtraBackup 8), as the seed does. The GTID of the binlog line may span
//! several lines: MySQL prints `gtid_executed` with a newline after each
//! comma, so a line ending in `,` continues on the next (seed 000's
//! `need_get_gtids`), and the parts are joined without the line breaks.

use crate::types::{BinlogPosition, Lsn, SlavePosition};

const COMPLETED: &str = "completed OK!";
const CHECKPOINT: &str = "The latest check point (for incremental):";
const BINLOG: &str = "MySQL binlog position: filename '";
const GTID_PART: &str = "GTID of the last change '";
const SLAVE: &str = "MySQL slave binlog position:";
/// How many error lines a summary keeps (the last ones).
const KEPT_ERRORS: usize = 10;

/// What a backup (or prepare) log says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupLog {
    /// The tool printed `completed OK!`.
    pub completed_ok: bool,
    /// The binlog position of the backup (`MySQL binlog position: ...`).
    pub binlog: Option<BinlogPosition>,
    /// `The latest check point (for incremental)`: the LSN the next
    /// incremental starts from.
    pub checkpoint: Option<Lsn>,
    /// The replica's position, with `--slave-info` on a replica.
    pub slave: Option<SlavePosition>,
    /// The last error-looking lines, oldest first (at most 10).
    pub errors: Vec<String>,
}

/// Why a backup failed, as far as its log tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server refused the login (`Access denied`).
    AccessDenied,
    /// The reader of the stream went away (`Broken pipe`, errno 32).
    BrokenPipe,
    /// A statement of the tool was killed (`Query execution was
    /// interrupted`): the dead-lock detector, or an operator.
    Interrupted,
    /// The log ends without `completed OK!` and names nothing known.
    Other,
}

/// A failed run: its kind and the error lines that tell why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind.
    pub kind: FailureKind,
    /// The last error lines (may be empty when the log just stops).
    pub lines: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.lines.last() {
            Some(last) => write!(f, "{:?}: {}", self.kind, last),
            None => write!(f, "{:?}: the log ends without \"{COMPLETED}\"", self.kind),
        }
    }
}

impl BackupLog {
    /// Parses a whole log.
    pub fn parse(text: &str) -> BackupLog {
        let mut log = BackupLog::default();
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
        while let Some(line) = lines.next() {
            if line.contains(COMPLETED) {
                log.completed_ok = true;
            }
            if let Some(i) = line.find(CHECKPOINT) {
                log.checkpoint = line[i + CHECKPOINT.len()..].parse().ok();
            }
            if let Some(i) = line.find(BINLOG) {
                let whole = join_open_quotes(&line[i + BINLOG.len()..], 1, &mut lines);
                log.binlog = parse_binlog(&whole);
            }
            if let Some(i) = line.find(SLAVE) {
                let whole = join_open_quotes(&line[i + SLAVE.len()..], 0, &mut lines);
                log.slave = Some(parse_slave(whole.trim()));
            }
            if is_error_line(line) {
                if log.errors.len() == KEPT_ERRORS {
                    log.errors.remove(0);
                }
                log.errors.push(line.trim().to_owned());
            }
        }
        log
    }

    /// `None` when the run completed OK, else why it did not.
    pub fn failure(&self) -> Option<Failure> {
        if self.completed_ok {
            return None;
        }
        let any = |needle: &str| self.errors.iter().any(|l| l.contains(needle));
        let kind = if any("Access denied") {
            FailureKind::AccessDenied
        } else if any("Broken pipe") || any("errno: 32") {
            FailureKind::BrokenPipe
        } else if any("interrupted") {
            FailureKind::Interrupted
        } else {
            FailureKind::Other
        };
        Some(Failure {
            kind,
            lines: self.errors.clone(),
        })
    }
}

/// `first` and, while a quote is left open, the next lines: MySQL breaks
/// a GTID set after each comma. The parts are joined without the breaks.
/// `quotes_before` counts the quotes cut off before `first`.
fn join_open_quotes<'a>(
    first: &str,
    quotes_before: usize,
    more: &mut impl Iterator<Item = &'a str>,
) -> String {
    let mut text = first.trim_end().to_owned();
    let mut open = (text.matches('\'').count() + quotes_before) % 2 == 1;
    while open {
        let Some(next) = more.next() else { break };
        let next = next.trim();
        text.push_str(next);
        open ^= next.matches('\'').count() % 2 == 1;
    }
    text
}

/// `rest` is the binlog line after `filename '`, continuation joined.
fn parse_binlog(rest: &str) -> Option<BinlogPosition> {
    let (file, rest) = rest.split_once("', position '")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let position = digits.parse().ok()?;
    let gtid = rest.find(GTID_PART).map(|i| {
        rest[i + GTID_PART.len()..]
            .trim_end_matches('\'')
            .to_owned()
    });
    Some(BinlogPosition {
        file: file.to_owned(),
        position,
        gtid,
    })
}

/// The text between `key '` and the next `'`.
fn quoted_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = text[start..].strip_prefix('\'')?;
    Some(&rest[..rest.find('\'')?])
}

fn parse_slave(raw: &str) -> SlavePosition {
    SlavePosition {
        raw: raw.to_owned(),
        gtid: quoted_after(raw, "gtid_slave_pos ")
            .or_else(|| quoted_after(raw, "purge list "))
            .map(str::to_owned),
        master_log_file: quoted_after(raw, "filename ").map(str::to_owned),
        master_log_pos: quoted_after(raw, "position ").and_then(|p| p.parse().ok()),
    }
}

fn is_error_line(line: &str) -> bool {
    // File names are streamed with their names (sys.statements_with_errors...).
    if line.contains(" Streaming ") || line.contains(" Copying ") {
        return false;
    }
    let lower = line.to_ascii_lowercase();
    ["error", "fatal", "failed", "access denied", "broken pipe"]
        .iter()
        .any(|needle| lower.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_spanning_lines_is_joined() {
        let text = "x MySQL binlog position: filename 'binlog.000002', position '1234', GTID of the last change 'aaa:1-5,\nbbb:1-3,\nccc:7'\nnext line\n";
        let log = BackupLog::parse(text);
        let b = log.binlog.unwrap();
        assert_eq!(b.file, "binlog.000002");
        assert_eq!(b.position, 1234);
        assert_eq!(b.gtid.as_deref(), Some("aaa:1-5,bbb:1-3,ccc:7"));
    }

    #[test]
    fn position_without_gtid_as_in_the_seed_comment() {
        let log = BackupLog::parse(
            "MySQL binlog position: filename 'master-bin.000001', position '6756'\n",
        );
        let b = log.binlog.unwrap();
        assert_eq!(
            (b.file.as_str(), b.position, b.gtid),
            ("master-bin.000001", 6756, None)
        );
    }

    #[test]
    fn empty_gtid_is_some_empty() {
        let log = BackupLog::parse(
            "[00] 2026-11-21 18:59:45 MySQL binlog position: filename 'mysql-bin.000001', position '328', GTID of the last change ''\n",
        );
        assert_eq!(log.binlog.unwrap().gtid.as_deref(), Some(""));
    }

    #[test]
    fn slave_lines_of_both_shapes() {
        let s = parse_slave("gtid_slave_pos '0-1-7'; master '' master_use_gtid = slave_pos");
        assert_eq!(s.gtid.as_deref(), Some("0-1-7"));
        let s = parse_slave("master '' filename 'mysql-bin.000001' position '328'");
        assert_eq!(s.master_log_file.as_deref(), Some("mysql-bin.000001"));
        assert_eq!(s.master_log_pos, Some(328));
        assert_eq!(s.gtid, None);
    }

    #[test]
    fn failures_are_classified() {
        let denied = BackupLog::parse(
            "[00] 2026-11-21 19:01:56 Failed to connect to MariaDB server: Access denied for user 'u'@'localhost' (using password: YES).\n",
        );
        assert_eq!(denied.failure().unwrap().kind, FailureKind::AccessDenied);
        let pipe = BackupLog::parse(
            "mariabackup: Error writing file 'UNKNOWN' (errno: 32 \"Broken pipe\")\n[00] FATAL ERROR: 2026-11-21 19:01:56 mariabackup: Error: failed to copy datafile.\n",
        );
        let f = pipe.failure().unwrap();
        assert_eq!(f.kind, FailureKind::BrokenPipe);
        assert_eq!(f.lines.len(), 2);
        assert!(f.to_string().contains("failed to copy datafile"));
        let truncated = BackupLog::parse(
            "[00] 2026-11-21 Streaming ./sys/statements_with_errors_or_warnings.frm to <STDOUT>\n",
        );
        let f = truncated.failure().unwrap();
        assert_eq!((f.kind, f.lines.len()), (FailureKind::Other, 0));
    }

    #[test]
    fn only_the_last_errors_are_kept() {
        let text: String = (0..25).map(|i| format!("error {i}\n")).collect();
        let log = BackupLog::parse(&text);
        assert_eq!(log.errors.len(), KEPT_ERRORS);
        assert_eq!(log.errors.last().map(String::as_str), Some("error 24"));
    }
}
