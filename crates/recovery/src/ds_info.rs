//! The `ds_info` file a point-in-time recovery leaves on the job server for
//! the PIT tool (seed 001, `dbscale-pit-recovery-tool`): in `/tmp`, named
//! `ds_info_<stop datetime with ' ', ':', '-' as '_'>`, one line per
//! datasource except `auth`, `<datasource>\t<stop datetime>\t<first binlog
//! of the master in the target backup, full path on the job server>`; and
//! `/tmp/ds_info_file_name` holding that file's name.
//!
//! Two deliberate differences from the seed: the middle column is the stop
//! datetime the replay used (the seed fills it only in its testing mode,
//! where it shifts the time; a real tool reading it gets the true stop), and
//! the file is replaced, not appended to, so a second run for the same time
//! does not list every datasource twice.

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use binlog::{BinlogName, DatasourceApply};
use chrono::NaiveDateTime;
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::Duration;
use store::Store;

/// Where the files go on the job server.
pub const DIR: &str = "/tmp";

/// The file naming the current `ds_info` file.
pub const NAME_FILE: &str = "ds_info_file_name";

/// The datasource the seed leaves out (the router's own auth data).
const SKIPPED_DATASOURCE: &str = "auth";

/// What a point-in-time recovery wrote for the PIT tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsInfo {
    /// The file's path on the job server (`/tmp/ds_info_<id>`).
    pub path: String,
    /// Its content.
    pub text: String,
}

/// `ds_info_<id>` for a stop datetime.
pub fn file_name(stop: NaiveDateTime) -> String {
    format!("ds_info_{}", stop.format("%Y_%m_%d_%H_%M_%S"))
}

/// The first binlog of a directory listing (`ls -1` output) by number, of
/// the same sequence as `like` when given.
pub fn first_binlog(listing: &str, like: Option<&BinlogName>) -> Option<BinlogName> {
    listing
        .lines()
        .filter_map(|l| l.trim().parse::<BinlogName>().ok())
        .filter(|b| like.is_none_or(|l| l.same_sequence(b)))
        .min()
}

/// The file's lines: per datasource (plan order, `auth` left out) with the
/// path of its first binlog, as `binlogs` gives them.
pub fn render<'a>(
    stop: NaiveDateTime,
    rows: impl IntoIterator<Item = (&'a DatasourceApply, String)>,
) -> String {
    let when = stop.format("%Y-%m-%d %H:%M:%S").to_string();
    rows.into_iter()
        .filter(|(d, _)| d.datasource != SKIPPED_DATASOURCE)
        .map(|(d, binlog)| format!("{}\t{when}\t{binlog}\n", d.datasource))
        .collect()
}

/// For a point-in-time recovery, writes the `ds_info` files for the PIT
/// tool; `None` for a recovery to a backup, or when they could not be
/// written (a warning says why: the data is recovered either way, as in
/// the seed).
pub async fn write_for_pit(
    job: &Arc<dyn Transport>,
    store: &Store,
    plan: &RecoveryPlan,
) -> Option<DsInfo> {
    let stop = plan.apply.chain.stop_datetime?;
    match write(job, store, plan, stop).await {
        Ok(info) => Some(info),
        Err(e) => {
            tracing::warn!(error = %e, "the ds_info file for the PIT tool was not written");
            None
        }
    }
}

/// Writes `/tmp/ds_info_<id>` (and `/tmp/ds_info_file_name`) on the job
/// server: per datasource the first binlog of its master in the target
/// backup, as the job server holds it.
async fn write(
    job: &Arc<dyn Transport>,
    store: &Store,
    plan: &RecoveryPlan,
    stop: chrono::NaiveDateTime,
) -> Result<DsInfo, RecoveryError> {
    let target = plan.apply.chain.target();
    let mut rows = Vec::new();
    for d in &plan.apply.datasources {
        let dir = format!("{}/{}", plan.backup_dir(store.dir(), target), d.binlog_dir);
        // A master directory without binlogs falls back to the first file
        // the replay read.
        let listing = job
            .exec(
                &Command::new("ls").arg("-1").arg(&dir),
                Duration::from_secs(30),
            )
            .await
            .map(|out| out.stdout_str())
            .unwrap_or_default();
        let like = d.binlogs.first().map(|b| &b.file);
        let first = first_binlog(&listing, like)
            .map(|f| format!("{dir}/{f}"))
            .or_else(|| {
                d.binlogs.first().map(|b| {
                    format!(
                        "{}/{}/{}",
                        plan.backup_dir(store.dir(), b.backup),
                        b.dir,
                        b.file
                    )
                })
            })
            .ok_or_else(|| {
                RecoveryError::host(
                    job.host(),
                    "writing ds_info",
                    format!("datasource {}: no binlog in {dir}", d.datasource),
                )
            })?;
        rows.push((d, first));
    }
    let text = render(stop, rows);
    let name = file_name(stop);
    let path = format!("{}/{name}", DIR);
    let script = format!(
        "set -e; t=$(mktemp {tmp}); cat > \"$t\"; chmod 644 \"$t\"; mv -f \"$t\" {path}; printf '%s\\n' {name} > {name_file}",
        tmp = quote(&format!("{}/.{name}.XXXXXX", DIR)),
        path = quote(&path),
        name = quote(&name),
        name_file = quote(&format!("{}/{}", DIR, NAME_FILE)),
    );
    let out = job
        .exec(
            &Command::shell(script).stdin(text.clone()),
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| RecoveryError::host(job.host(), format!("writing {path}"), e))?;
    if !out.success() {
        return Err(RecoveryError::host(
            job.host(),
            format!("writing {path}"),
            out.stderr_str().trim(),
        ));
    }
    tracing::info!(path = %path, host = job.host(), "ds_info written for the PIT tool");
    Ok(DsInfo { path, text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use binlog::{ApplyStop, BinlogPos};

    fn ds(name: &str) -> DatasourceApply {
        let dir: binlog::ServerDir = format!("{name}-s-127.0.0.1-1").parse().unwrap();
        DatasourceApply {
            datasource: name.into(),
            data_dir: dir.clone(),
            binlog_dir: dir,
            start: BinlogPos {
                file: "mysql-bin.000001".parse().unwrap(),
                pos: 4,
            },
            skip_gtids: None,
            binlogs: Vec::new(),
            stop: ApplyStop::Position(BinlogPos {
                file: "mysql-bin.000001".parse().unwrap(),
                pos: 4,
            }),
        }
    }

    #[test]
    fn named_by_the_stop_datetime_as_the_seed() {
        let t = NaiveDateTime::parse_from_str("2021-01-28 12:16:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(file_name(t), "ds_info_2021_01_28_12_16_00");
    }

    #[test]
    fn one_line_per_datasource_without_auth() {
        let t = NaiveDateTime::parse_from_str("2021-01-28 12:16:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let (a, auth, b) = (ds("normal_0"), ds("auth"), ds("normal_1"));
        let text = render(
            t,
            [
                (&a, "/w/x/normal_0-s/mysql-bin.000003".to_owned()),
                (&auth, "/w/x/auth-s/mysql-bin.000001".to_owned()),
                (&b, "/w/x/normal_1-s/mysql-bin.000009".to_owned()),
            ],
        );
        assert_eq!(
            text,
            "normal_0\t2021-01-28 12:16:00\t/w/x/normal_0-s/mysql-bin.000003\n\
             normal_1\t2021-01-28 12:16:00\t/w/x/normal_1-s/mysql-bin.000009\n"
        );
    }

    #[test]
    fn the_first_binlog_is_the_lowest_number_of_the_sequence() {
        let listing = "backup.xbsteam\nmysql-bin.000010\nmysql-bin.000009\nmy.conf\nrelay.000001\nmysql-bin.index\n";
        let like: BinlogName = "mysql-bin.000100".parse().unwrap();
        assert_eq!(
            first_binlog(listing, Some(&like)).unwrap().to_string(),
            "mysql-bin.000009"
        );
        assert_eq!(
            first_binlog(listing, None).unwrap().to_string(),
            "mysql-bin.000009"
        );
        assert_eq!(first_binlog("my.conf\n", None), None);
    }
}
