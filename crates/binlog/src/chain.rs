//! Recovery chain selection (seed 001, `get_backup_dir_list_to_use`).
//!
//! A backup directory is named `UTC%Y%m%d%H%M%S.mmm-full` or `...-inc` (the
//! UTC start time of the run, so name order is time order), holds `ok` once
//! complete, and `consistent_point_datetime` (controller local time).
//!
//! # The rules
//!
//! * **To a directory** (`[recover-to] dir`): the target must exist and be
//!   complete (`ok`); the chain is every backup from the nearest full backup
//!   at or before it up to the target. A directory without `ok` inside that
//!   span breaks the chain (the backup tool moves a failed backup to `trash/`
//!   before the next run, so one still lying there means the history was
//!   changed by hand and the increments may not fit): an error naming it.
//! * **To a datetime** (`[recover-to] stop-datetime`): by
//!   `consistent_point_datetime`, the target is the newest complete backup
//!   whose point is at or before the time. If the point equals the time, that
//!   backup alone is the end (nothing past its consistence point is replayed).
//!   Otherwise the *next* complete backup must be an incremental one: its
//!   binlogs start where the target's end, so they cover the interval; it is
//!   copied along for its binlogs only. Errors: no backup at all; the time is
//!   before the oldest backup's point; after the newest backup's point
//!   (pointing out when that chain is a lone full backup, as the seed does);
//!   the next backup is a full one (its binlogs start at its own data, so the
//!   interval is covered by no backup); a directory without `ok` in the span.
//!
//! The seed looks only at the newest chain for a datetime; this also finds
//! the time in older chains, which is what the DBA asked for.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;

use crate::format::POINT_DATETIME_FORMAT;

/// Full or incremental, from the directory name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackupType {
    /// `-full`.
    Full,
    /// `-inc`.
    Incremental,
}

/// A backup directory name: `UTC20240222014345.236-full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupName {
    /// When the run started (UTC, millisecond precision).
    pub started: NaiveDateTime,
    /// Full or incremental.
    pub kind: BackupType,
}

/// A name that is not a backup directory name (`trash`, `socat_log`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a backup directory name (UTC<YYYYmmddHHMMSS>.<ms>-full|inc)")]
pub struct BackupNameError {
    /// The offending text.
    pub text: String,
}

impl BackupName {
    /// The name of a run started at `started` (UTC), truncated to milliseconds.
    pub fn new(started: NaiveDateTime, kind: BackupType) -> Self {
        let ms = started.and_utc().timestamp_millis();
        let started =
            chrono::DateTime::from_timestamp_millis(ms).map_or(started, |d| d.naive_utc());
        BackupName { started, kind }
    }

    /// Whether this is a full backup.
    pub fn is_full(&self) -> bool {
        self.kind == BackupType::Full
    }
}

impl FromStr for BackupName {
    type Err = BackupNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || BackupNameError {
            text: text.to_owned(),
        };
        let rest = text.strip_prefix("UTC").ok_or_else(err)?;
        let (stamp, kind) = if let Some(s) = rest.strip_suffix("-full") {
            (s, BackupType::Full)
        } else if let Some(s) = rest.strip_suffix("-inc") {
            (s, BackupType::Incremental)
        } else {
            return Err(err());
        };
        // Exactly 14 digits, a dot, 3 digits: chrono alone would accept shorter fields.
        let shape_ok = stamp.len() == 18
            && stamp.bytes().enumerate().all(|(i, b)| {
                if i == 14 {
                    b == b'.'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(err());
        }
        let started =
            NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S%.3f").map_err(|_| err())?;
        Ok(BackupName { started, kind })
    }
}

impl fmt::Display for BackupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = match self.kind {
            BackupType::Full => "full",
            BackupType::Incremental => "inc",
        };
        write!(f, "UTC{}-{suffix}", self.started.format("%Y%m%d%H%M%S%.3f"))
    }
}

/// What the store says about one backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupDir {
    /// Its name.
    pub name: BackupName,
    /// Whether it holds `ok` (the backup completed).
    pub ok: bool,
    /// Its `consistent_point_datetime`, if the file exists.
    pub point: Option<NaiveDateTime>,
}

/// What to recover to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverTarget {
    /// `[recover-to] dir`: exactly that backup.
    Dir(BackupName),
    /// `[recover-to] stop-datetime` (controller local time, like the points).
    StopDatetime(NaiveDateTime),
}

/// The backups a recovery uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// From the full backup to the target, in order; never empty, first is full.
    pub backups: Vec<BackupName>,
    /// For a datetime between two backups: the backup after the target, used
    /// for its binlogs only.
    pub next: Option<BackupName>,
    /// The stop datetime, when recovering to one.
    pub stop_datetime: Option<NaiveDateTime>,
}

impl Chain {
    /// The backup whose data is restored last.
    pub fn target(&self) -> BackupName {
        self.backups[self.backups.len() - 1]
    }

    /// Every directory to fetch from the store, in order (the chain, then `next`).
    pub fn dirs_to_fetch(&self) -> Vec<BackupName> {
        self.backups.iter().copied().chain(self.next).collect()
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.backups.iter().map(ToString::to_string).collect();
        write!(f, "{}", names.join(" -> "))?;
        if let Some(n) = &self.next {
            write!(f, " (+ binlogs of {n})")?;
        }
        if let Some(t) = &self.stop_datetime {
            write!(f, ", stop at {}", t.format(POINT_DATETIME_FORMAT))?;
        }
        Ok(())
    }
}

fn dt(t: &NaiveDateTime) -> String {
    t.format(POINT_DATETIME_FORMAT).to_string()
}

/// Why no chain can be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The store holds no complete backup.
    #[error("there is no complete backup to recover")]
    NoBackups,
    /// `dir` names no directory on the store.
    #[error("recover-to dir {0} does not exist on the backup store")]
    TargetNotFound(BackupName),
    /// `dir` names a backup without `ok`.
    #[error("recover-to dir {0} is not a complete backup (no ok flag)")]
    TargetIncomplete(BackupName),
    /// No full backup before the target.
    #[error("no full backup precedes {0}: the chain has no base")]
    NoFull(BackupName),
    /// A directory without `ok` inside the chain.
    #[error(
        "the chain to {target} is broken: {incomplete} has no ok flag (move it to trash/ if that backup failed)"
    )]
    BrokenChain {
        /// The backup being recovered to.
        target: BackupName,
        /// The incomplete directory.
        incomplete: BackupName,
    },
    /// A backup needed for a datetime lacks `consistent_point_datetime`.
    #[error("backup {0} has no consistent_point_datetime file")]
    MissingPointDatetime(BackupName),
    /// The time is before every backup.
    #[error(
        "cannot recover to {}: the first backup {first} has its consistent point at {}",
        dt(stop),
        dt(point)
    )]
    BeforeFirstBackup {
        /// Requested time.
        stop: NaiveDateTime,
        /// Oldest complete backup.
        first: BackupName,
        /// Its point.
        point: NaiveDateTime,
    },
    /// The time is after every backup.
    #[error(
        "cannot recover to {}: the last backup {last} has its consistent point at {}{}",
        dt(stop),
        dt(point),
        if *only_full { ", and a point in time needs an incremental backup after the full one" } else { "" }
    )]
    AfterLastBackup {
        /// Requested time.
        stop: NaiveDateTime,
        /// Newest complete backup.
        last: BackupName,
        /// Its point.
        point: NaiveDateTime,
        /// Whether its chain is a lone full backup.
        only_full: bool,
    },
    /// The time falls between a chain's end and the next full backup.
    #[error(
        "cannot recover to {}: it falls between {before} (point {}) and the full backup {next_full} (point {}), \
         and no backup holds the binlogs in between",
        dt(stop),
        dt(before_point),
        dt(next_point)
    )]
    NotCovered {
        /// Requested time.
        stop: NaiveDateTime,
        /// The last backup before the time.
        before: BackupName,
        /// Its point.
        before_point: NaiveDateTime,
        /// The full backup after the time.
        next_full: BackupName,
        /// Its point.
        next_point: NaiveDateTime,
    },
}

/// Chooses the backups for `target` among `dirs` (any order); see the module docs.
pub fn select_chain(dirs: &[BackupDir], target: &RecoverTarget) -> Result<Chain, ChainError> {
    let mut sorted: Vec<&BackupDir> = dirs.iter().collect();
    sorted.sort_by_key(|d| d.name);
    match *target {
        RecoverTarget::Dir(name) => {
            let i = sorted
                .iter()
                .position(|d| d.name == name)
                .ok_or(ChainError::TargetNotFound(name))?;
            if !sorted[i].ok {
                return Err(ChainError::TargetIncomplete(name));
            }
            Ok(Chain {
                backups: back_to_full(&sorted, i)?,
                next: None,
                stop_datetime: None,
            })
        }
        RecoverTarget::StopDatetime(stop) => by_datetime(&sorted, stop),
    }
}

/// The backups from the full one at or before `sorted[i]` up to it.
fn back_to_full(sorted: &[&BackupDir], i: usize) -> Result<Vec<BackupName>, ChainError> {
    let target = sorted[i].name;
    let mut out = Vec::new();
    for d in sorted[..=i].iter().rev() {
        if !d.ok {
            return Err(ChainError::BrokenChain {
                target,
                incomplete: d.name,
            });
        }
        out.push(d.name);
        if d.name.is_full() {
            out.reverse();
            return Ok(out);
        }
    }
    Err(ChainError::NoFull(target))
}

fn by_datetime(sorted: &[&BackupDir], stop: NaiveDateTime) -> Result<Chain, ChainError> {
    let point = |d: &BackupDir| d.point.ok_or(ChainError::MissingPointDatetime(d.name));
    let complete: Vec<usize> = (0..sorted.len()).filter(|&i| sorted[i].ok).collect();
    let (Some(&oldest), Some(&newest)) = (complete.first(), complete.last()) else {
        return Err(ChainError::NoBackups);
    };
    // Newest first, so only backups at or after the target need a point.
    let mut found = None;
    for &i in complete.iter().rev() {
        if point(sorted[i])? <= stop {
            found = Some(i);
            break;
        }
    }
    let Some(t) = found else {
        return Err(ChainError::BeforeFirstBackup {
            stop,
            first: sorted[oldest].name,
            point: point(sorted[oldest])?,
        });
    };
    let target_point = point(sorted[t])?;
    let backups = back_to_full(sorted, t)?;
    if target_point == stop {
        return Ok(Chain {
            backups,
            next: None,
            stop_datetime: Some(stop),
        });
    }
    if t == newest {
        return Err(ChainError::AfterLastBackup {
            stop,
            last: sorted[t].name,
            point: target_point,
            only_full: backups.len() == 1,
        });
    }
    let n = t + 1;
    let next = sorted[n];
    if !next.ok {
        return Err(ChainError::BrokenChain {
            target: sorted[t].name,
            incomplete: next.name,
        });
    }
    if next.name.is_full() {
        return Err(ChainError::NotCovered {
            stop,
            before: sorted[t].name,
            before_point: target_point,
            next_full: next.name,
            next_point: point(next)?,
        });
    }
    Ok(Chain {
        backups,
        next: Some(next.name),
        stop_datetime: Some(stop),
    })
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
