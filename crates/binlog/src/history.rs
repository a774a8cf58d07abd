//! Replay for restored data that holds no transaction: a slave's data whose
//! `executed_gtids` is empty (a datasource never written to). There is no
//! GTID to start after, so the replay must hold the master's whole history:
//! it is exact exactly when the master's start binlog begins that history,
//! i.e. the GTID list at its head (MariaDB `Gtid_list`, MySQL
//! `Previous_gtids`, see [`crate::head`]) is empty. Then the replay runs
//! from the file's first event, as the seed's `--exclude-gtids=` (empty)
//! does.
//!
//! | data's `executed_gtids` | GTIDs before the start binlog | replay |
//! | --- | --- | --- |
//! | names GTIDs | (not read) | after those GTIDs |
//! | no file | (not read) | refused: what the data holds is unknown |
//! | empty | empty | from the start binlog's first event |
//! | empty | not empty | refused: history before the binlog is unknown to the data |
//! | empty | unreadable / not read | refused |
//!
//! The caller reads the heads [`heads_needed`] names and passes them to
//! [`crate::plan_apply_with`] as [`StartGtids`].

use std::collections::BTreeMap;

use crate::apply_plan::{ApplyPlanError, BackupFacts, BinlogSource, ServerFacts, choose_line};
use crate::consistence::BinlogPos;
use crate::gtid::GtidSet;
use crate::name::BinlogName;

/// Where a binlog's first event is (after the 4-byte magic number).
pub const FIRST_EVENT_POS: u64 = 4;

/// The GTIDs logged before master binlogs, as recovery read them from the
/// files' heads: per master server and file, the list or why it could not
/// be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartGtids {
    by_file: BTreeMap<(String, BinlogName), Result<GtidSet, String>>,
}

impl StartGtids {
    /// Nothing read.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what was read of `master`'s `file`: its GTID list, or why
    /// none could be read.
    pub fn insert(&mut self, master: &str, file: BinlogName, gtids: Result<GtidSet, String>) {
        self.by_file.insert((master.to_owned(), file), gtids);
    }

    /// What was recorded for `master`'s `file`.
    pub fn get(&self, master: &str, file: &BinlogName) -> Option<&Result<GtidSet, String>> {
        self.by_file.get(&(master.to_owned(), file.clone()))
    }
}

/// The binlogs whose heads decide a replay: for each datasource whose
/// restored data has an empty `executed_gtids`, the master's start binlog,
/// in the target backup when it copied it, else in the next one (the head
/// of a file is the same in every copy). A file in neither is left out:
/// planning reports it missing.
pub fn heads_needed(target: &BackupFacts, next: Option<&BackupFacts>) -> Vec<BinlogSource> {
    let mut out = Vec::new();
    for ds in target.consistence.datasources() {
        let Ok((line, facts, binlog_dir)) = choose_line(ds, target) else {
            continue;
        };
        if !holds_no_transaction(facts) {
            continue;
        }
        let file = &line.xb_to.file;
        let holder = [Some(target), next].into_iter().flatten().find(|b| {
            b.binlogs
                .files(&binlog_dir.server)
                .is_some_and(|f| f.contains(file))
        });
        if let Some(b) = holder {
            out.push(BinlogSource {
                backup: b.name,
                dir: binlog_dir.clone(),
                file: file.clone(),
            });
        }
    }
    out
}

/// A slave's data whose `executed_gtids` exists and is empty.
fn holds_no_transaction(facts: &ServerFacts) -> bool {
    facts.master_dir.is_some() && facts.executed_gtids.is_none() && facts.executed_gtids_empty
}

/// Where the replay of a slave's data without executed GTIDs starts (see
/// the module's table), or why it cannot be exact.
pub(crate) fn start_without_gtids(
    datasource: &str,
    data_dir: &str,
    facts: &ServerFacts,
    master: &str,
    start: &BinlogPos,
    heads: &StartGtids,
) -> Result<BinlogPos, ApplyPlanError> {
    if !holds_no_transaction(facts) {
        return Err(ApplyPlanError::MissingExecutedGtids {
            datasource: datasource.to_owned(),
            dir: data_dir.to_owned(),
            start: start.clone(),
        });
    }
    let binlog = format!("{} of {master}", start.file);
    match heads.get(master, &start.file) {
        Some(Ok(before)) if before.is_empty() => Ok(BinlogPos {
            file: start.file.clone(),
            pos: FIRST_EVENT_POS,
        }),
        Some(Ok(before)) => Err(ApplyPlanError::HistoryBeforeStart {
            datasource: datasource.to_owned(),
            dir: data_dir.to_owned(),
            binlog,
            before: before.clone(),
        }),
        Some(Err(why)) => Err(ApplyPlanError::StartGtidsUnknown {
            datasource: datasource.to_owned(),
            dir: data_dir.to_owned(),
            binlog,
            why: why.clone(),
        }),
        None => Err(ApplyPlanError::StartGtidsUnknown {
            datasource: datasource.to_owned(),
            dir: data_dir.to_owned(),
            binlog,
            why: "its head was not read".to_owned(),
        }),
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
