//! The Prometheus textfile-collector file: `dbbackup metrics --textfile
//! DIR`, and (with `[metrics] textfile-dir`) after every backup run. What
//! the store holds is read as `dbbackup info` reads it; the file is
//! written to a temporary name in DIR and renamed, so the collector never
//! reads half a file. The metric names are [`METRICS`]; docs/operations.md
//! describes them and docs/grafana/dbscale-backup.json shows them.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Every metric the file may hold, with its help text.
pub const METRICS: &[(&str, &str)] = &[
    (
        LAST_SUCCESS,
        "When the newest backup with ok ended (its start, from its name, plus its duration), Unix seconds.",
    ),
    (
        LAST_DURATION,
        "How long the newest backup with ok took, in seconds.",
    ),
    (
        LAST_BYTES,
        "Bytes the newest backup with ok holds on the store.",
    ),
    (
        NEWEST_OK_AGE,
        "Seconds from the end of the newest backup with ok to when this file was written.",
    ),
    (
        BACKUPS,
        "Backups on the store (not in trash), by type (full, inc) and ok (true, false).",
    ),
    (
        LAST_FAILURE,
        "When the last failed backup run was seen (a run that failed, or a backup without ok that a later one followed), Unix seconds; 0 when none is known.",
    ),
    (WRITTEN, "When this file was written, Unix seconds."),
];

const LAST_SUCCESS: &str = "dbscale_backup_last_success_timestamp_seconds";
const LAST_DURATION: &str = "dbscale_backup_last_success_duration_seconds";
const LAST_BYTES: &str = "dbscale_backup_last_success_bytes";
const NEWEST_OK_AGE: &str = "dbscale_backup_newest_ok_age_seconds";
const BACKUPS: &str = "dbscale_backup_store_backups";
const LAST_FAILURE: &str = "dbscale_backup_last_failure_timestamp_seconds";
const WRITTEN: &str = "dbscale_backup_metrics_written_timestamp_seconds";

/// Whose metrics: the `cluster` and `store` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// The router, `host:port`.
    pub cluster: String,
    /// The store, `host:dir`.
    pub store: String,
}

impl Labels {
    /// The labels of `cfg`'s cluster and store.
    pub fn of(cfg: &conf::BackupConfig) -> Labels {
        Labels {
            cluster: format!("{}:{}", cfg.router.host, cfg.router.port),
            store: format!("{}:{}", cfg.store.host.host, cfg.store.dir.display()),
        }
    }

    /// The file's name in the directory: `dbbackup_<cluster>_<store>.prom`
    /// with every character but letters, digits, `.` and `-` as `_`.
    pub fn file_name(&self) -> String {
        let clean: String = format!("{}_{}", self.cluster, self.store)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("dbbackup_{clean}.prom")
    }

    fn render(&self, extra: &[(&str, &str)]) -> String {
        let mut out = format!(
            "cluster=\"{}\",store=\"{}\"",
            escape(&self.cluster),
            escape(&self.store)
        );
        for (k, v) in extra {
            let _ = write!(out, ",{k}=\"{}\"", escape(v));
        }
        out
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// When a backup named `UTC<YYYYmmddHHMMSS.mmm>-<type>` started.
fn started(name: &str) -> Option<NaiveDateTime> {
    let stamp = name.strip_prefix("UTC")?.split('-').next()?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S%.3f").ok()
}

fn secs(t: NaiveDateTime) -> f64 {
    t.and_utc().timestamp_millis() as f64 / 1000.0
}

/// The newest failure the store shows: a backup without `ok` that a later
/// backup followed (the newest one may still be running), by its start.
pub fn store_failure(info: &backup::StoreInfo) -> Option<f64> {
    let n = info.backups.len();
    info.backups
        .iter()
        .take(n.saturating_sub(1))
        .filter(|b| !b.ok)
        .filter_map(|b| started(&b.name))
        .map(secs)
        .reduce(f64::max)
}

/// The last failure a previous file of ours recorded.
pub fn previous_failure(text: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(LAST_FAILURE))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(f64::max)
}

/// The file's text (pure): `info` read at `now`, `failure` the last
/// failure known (none: 0).
pub fn render(
    info: &backup::StoreInfo,
    labels: &Labels,
    now: DateTime<Utc>,
    failure: Option<f64>,
) -> String {
    let now_secs = now.timestamp_millis() as f64 / 1000.0;
    let mut samples: Vec<(&str, String, f64)> = Vec::new();
    let all = labels.render(&[]);
    if let Some(b) = info.backups.iter().rev().find(|b| b.ok)
        && let Some(start) = started(&b.name)
    {
        let duration = b.duration_secs.unwrap_or(0.0);
        let end = secs(start) + duration;
        samples.push((LAST_SUCCESS, all.clone(), end));
        if let Some(d) = b.duration_secs {
            samples.push((LAST_DURATION, all.clone(), d));
        }
        if let Some(bytes) = b.bytes {
            samples.push((LAST_BYTES, all.clone(), bytes as f64));
        }
        samples.push((NEWEST_OK_AGE, all.clone(), (now_secs - end).max(0.0)));
    }
    for kind in ["full", "inc"] {
        for ok in [true, false] {
            let count = info
                .backups
                .iter()
                .filter(|b| b.kind == kind && b.ok == ok)
                .count();
            let l = labels.render(&[("type", kind), ("ok", if ok { "true" } else { "false" })]);
            samples.push((BACKUPS, l, count as f64));
        }
    }
    samples.push((LAST_FAILURE, all.clone(), failure.unwrap_or(0.0)));
    samples.push((WRITTEN, all, now_secs));
    let mut out = String::new();
    for (name, help) in METRICS {
        let mine: Vec<&(&str, String, f64)> = samples.iter().filter(|s| s.0 == *name).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (_, l, v) in mine {
            let _ = writeln!(out, "{name}{{{l}}} {v}");
        }
    }
    out
}

/// Writes `text` as `dir/name`: to a temporary name in `dir` first (not
/// ending in `.prom`, so the collector skips it), then renamed.
pub fn write_atomically(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| path)
}

/// Reads the store and writes the file into `dir`; `run_failed`: the run
/// that just ended failed (now is its failure time).
async fn write(cfg: &conf::BackupConfig, dir: &Path, run_failed: bool) -> Result<PathBuf, String> {
    let info = backup::info(cfg).await.map_err(|e| e.to_string())?;
    let labels = Labels::of(cfg);
    let name = labels.file_name();
    let now = Utc::now();
    let previous = std::fs::read_to_string(dir.join(&name))
        .ok()
        .and_then(|t| previous_failure(&t));
    let this_run = run_failed.then(|| now.timestamp_millis() as f64 / 1000.0);
    let failure = [previous, store_failure(&info), this_run]
        .into_iter()
        .flatten()
        .reduce(f64::max);
    let text = render(&info, &labels, now, failure);
    write_atomically(dir, &name, &text)
        .map_err(|e| format!("cannot write {}: {e}", dir.join(&name).display()))
}

/// `dbbackup metrics --textfile DIR`.
pub async fn command(cfg: &conf::BackupConfig, dir: &Path) -> ExitCode {
    match write(cfg, dir, false).await {
        Ok(path) => {
            println!("metrics written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail(format!("metrics not written: {e}")),
    }
}

/// After a backup run, with `[metrics] textfile-dir`: the warning when
/// the file could not be written (the run's result stands either way).
pub async fn after_run(cfg: Option<&conf::BackupConfig>, run_failed: bool) -> Option<String> {
    let cfg = cfg?;
    let dir = cfg.metrics_textfile_dir.as_deref()?;
    match write(cfg, dir, run_failed).await {
        Ok(path) => {
            tracing::debug!(file = %path.display(), "metrics written");
            None
        }
        Err(e) => {
            let warning = format!("metrics not written: {e}");
            tracing::warn!("{warning}");
            Some(warning)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup::{BackupInfo, StoreInfo};

    fn b(name: &str, ok: bool, bytes: Option<u64>, secs: Option<f64>) -> BackupInfo {
        BackupInfo {
            name: name.into(),
            kind: if name.ends_with("full") {
                "full"
            } else {
                "inc"
            },
            ok,
            chain: None,
            encrypted: Some(false),
            bytes,
            duration_secs: secs,
            point: None,
        }
    }

    fn labels() -> Labels {
        Labels {
            cluster: "127.0.0.10:16310".into(),
            store: "127.0.0.50:/data/\"b\"".into(),
        }
    }

    fn info(backups: Vec<BackupInfo>) -> StoreInfo {
        StoreInfo {
            store: "s".into(),
            backups,
            recovery_window: None,
            trash: vec![],
        }
    }

    fn value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn the_newest_good_backup_its_age_counts_and_failures() {
        let store = info(vec![
            b("UTC20261201000000.000-full", true, Some(100), Some(10.0)),
            b("UTC20261202000000.000-inc", false, None, None),
            b("UTC20261203000000.000-inc", true, Some(7), Some(2.5)),
            b("UTC20261204000000.000-inc", false, None, None),
        ]);
        let now = "2026-12-03T01:00:02.5Z".parse::<DateTime<Utc>>().unwrap();
        let failure = store_failure(&store);
        // The newest backup without ok may be running: the earlier one counts.
        assert_eq!(failure, Some(1_796_169_600.0));
        let text = render(&store, &labels(), now, failure);
        let l = "{cluster=\"127.0.0.10:16310\",store=\"127.0.0.50:/data/\\\"b\\\"\"}";
        assert_eq!(
            value(&text, &format!("{LAST_SUCCESS}{l}")),
            Some(1_796_256_002.5)
        );
        assert_eq!(value(&text, &format!("{LAST_DURATION}{l}")), Some(2.5));
        assert_eq!(value(&text, &format!("{LAST_BYTES}{l}")), Some(7.0));
        assert_eq!(value(&text, &format!("{NEWEST_OK_AGE}{l}")), Some(3600.0));
        assert_eq!(value(&text, &format!("{LAST_FAILURE}{l}")), failure);
        let inc_bad = "{cluster=\"127.0.0.10:16310\",store=\"127.0.0.50:/data/\\\"b\\\"\",type=\"inc\",ok=\"false\"}";
        assert_eq!(value(&text, &format!("{BACKUPS}{inc_bad}")), Some(2.0));
        assert_eq!(previous_failure(&text), failure);
        for (name, _) in METRICS {
            assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
        }
    }

    #[test]
    fn an_empty_store_has_counts_and_no_success() {
        let text = render(&info(vec![]), &labels(), Utc::now(), None);
        assert!(!text.contains(LAST_SUCCESS) && !text.contains(NEWEST_OK_AGE));
        assert!(value(&text, LAST_FAILURE) == Some(0.0), "{text}");
        assert_eq!(store_failure(&info(vec![])), None);
    }

    #[test]
    fn the_file_name_is_safe_and_the_write_atomic() {
        let name = labels().file_name();
        assert_eq!(name, "dbbackup_127.0.0.10_16310_127.0.0.50__data__b_.prom");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(&name), "old").unwrap();
        let path = write_atomically(dir.path(), &name, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "a temporary file was left: {left:?}");
        assert!(write_atomically(&dir.path().join("missing"), &name, "x").is_err());
    }

    /// Every panel of the Grafana dashboard asks only for metrics this
    /// file holds.
    #[test]
    fn the_grafana_dashboard_names_only_written_metrics() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/grafana/dbscale-backup.json"
        );
        let text = std::fs::read_to_string(file).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
        let panels = dashboard["panels"].as_array().unwrap();
        assert!(!panels.is_empty());
        let mut exprs = 0;
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("?");
            let targets = panel["targets"].as_array();
            assert!(
                targets.is_some_and(|t| !t.is_empty()),
                "panel {title} has no query"
            );
            for target in targets.into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap();
                let used = metric_names(expr);
                assert!(!used.is_empty(), "panel {title}: {expr} names no metric");
                for m in used {
                    assert!(
                        names.contains(&m.as_str()),
                        "panel {title}: {m} is never written"
                    );
                }
                exprs += 1;
            }
        }
        assert!(exprs >= panels.len());
    }

    /// The `dbscale_backup_...` identifiers in a PromQL expression.
    fn metric_names(expr: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = expr;
        while let Some(at) = rest.find("dbscale_backup_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
        out
    }
}
