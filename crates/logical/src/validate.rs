//! `validate-backup`: the oldest transferred, not deleted, not yet
//! validated backup is claimed in the catalog (a named lock on the
//! catalog server held for the whole run, so two runs never take the same
//! one, and a crashed run's backup is taken again), found on this storage host through
//! `user_backup_path`, loaded by myloader into a scratch MariaDB started
//! here for the purpose, and every table checked (present; holding rows
//! when the dump has data for it). `validate_status` becomes `Y` or `N`
//! and one `user_recover_info` row per database is written.

mod dump;
mod scratch;

use crate::error::LogicalError;
use crate::open_history;
use crate::tool::{self, Login, path_arg};
use catalog::history::{BackupRecord, History, NO, RecoverInfo, YES};
use chrono::Local;
use conf::PbackupConfig;
use dump::DumpDir;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One database's validation.
#[derive(Debug, Clone)]
pub struct DbValidation {
    /// The database.
    pub db: String,
    /// Restored with every table.
    pub ok: bool,
    /// Seconds its load took.
    pub elapsed_secs: i32,
    /// What was wrong, when not ok.
    pub problem: Option<String>,
}

/// A validation's outcome.
#[derive(Debug)]
pub struct Validation {
    /// The backup.
    pub bk_id: String,
    /// Where it was found.
    pub path: Option<PathBuf>,
    /// Each database.
    pub databases: Vec<DbValidation>,
    /// Why the validation failed (recorded as `validate_status = 'N'`).
    pub failure: Option<String>,
}

/// Validates the oldest backup waiting for it; `None` when none waits.
/// `log_file` gets the tools' output; the scratch server lives in a new
/// directory under `scratch_parent` (removed afterwards).
pub async fn validate_backup(
    cfg: &PbackupConfig,
    log_file: &Path,
    scratch_parent: &Path,
) -> Result<Option<Validation>, LogicalError> {
    let history = open_history(cfg).await?;
    let Some((row, claim)) = history.claim_for_validation().await? else {
        return Ok(None);
    };
    tracing::info!(bk_id = %row.bk_id, "validating");
    let mut log = Log::open(log_file)?;
    log.line(&format!("validation of {} started", row.bk_id));
    let mut v = Validation {
        bk_id: row.bk_id.clone(),
        path: None,
        databases: Vec::new(),
        failure: None,
    };
    let result = run(&history, &row, &mut v, &mut log, scratch_parent).await;
    if let Err(e) = &result {
        v.failure = Some(e.to_string());
    }
    if v.failure.is_none() && v.databases.iter().any(|d| !d.ok) {
        let bad: Vec<String> = v
            .databases
            .iter()
            .filter(|d| !d.ok)
            .map(|d| format!("{}: {}", d.db, d.problem.as_deref().unwrap_or("failed")))
            .collect();
        v.failure = Some(bad.join("; "));
    }
    let status = if v.failure.is_none() { YES } else { NO };
    log.line(&format!(
        "validation of {} done: {}",
        row.bk_id,
        v.failure.as_deref().unwrap_or("ok")
    ));
    history.set_validate_status(&row.bk_id, status).await?;
    claim.release().await;
    Ok(Some(v))
}

async fn run(
    history: &History,
    row: &BackupRecord,
    v: &mut Validation,
    log: &mut Log,
    scratch_parent: &Path,
) -> Result<(), LogicalError> {
    let bad = |detail: String| LogicalError::Validate {
        bk_id: row.bk_id.clone(),
        detail,
    };
    let path = locate(history, row).await?.ok_or_else(|| {
        bad(format!(
            "no copy found on this host (user_backup_path rows of {} name no directory holding {})",
            row.bk_server, row.bk_id
        ))
    })?;
    v.path = Some(path.clone());
    let dumps = dump::find(&path).map_err(|source| LogicalError::Io {
        what: "read the backup".into(),
        path: path.clone(),
        source,
    })?;
    if dumps.is_empty() {
        return Err(bad(format!(
            "{} holds no mydumper output (no metadata file)",
            path.display()
        )));
    }
    let server = scratch::Server::start(scratch_parent, log).await?;
    let login = Login {
        user: Some("root".into()),
        socket: Some(server.socket().display().to_string()),
        ..Login::default()
    };
    let defaults = login.defaults_file()?;
    for d in &dumps {
        let result = load_one(&server, &defaults, d, log).await;
        for db in &d.databases {
            let (ok, problem, start, end) = match &result {
                Ok((start, end, problems)) => {
                    let mine: Vec<&String> = problems
                        .iter()
                        .filter(|(pdb, _)| pdb == db)
                        .map(|(_, p)| p)
                        .collect();
                    (
                        mine.is_empty(),
                        (!mine.is_empty()).then(|| {
                            mine.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }),
                        *start,
                        *end,
                    )
                }
                Err(e) => (
                    false,
                    Some(e.clone()),
                    crate::tool::now(),
                    crate::tool::now(),
                ),
            };
            let elapsed = i32::try_from((end - start).num_seconds().max(0)).unwrap_or(i32::MAX);
            history
                .insert_recover_info(&RecoverInfo {
                    id: 0,
                    bk_id: row.bk_id.clone(),
                    tag: row.tag.clone(),
                    backup_path: d.dir.display().to_string(),
                    db: db.clone(),
                    start_time: start,
                    end_time: end,
                    elapsed_time: elapsed,
                    recover_status: Some(if ok { YES } else { NO }.to_owned()),
                    validate_time: chrono::Utc::now(),
                })
                .await?;
            v.databases.push(DbValidation {
                db: db.clone(),
                ok,
                elapsed_secs: elapsed,
                problem,
            });
        }
    }
    drop(defaults);
    server.stop().await;
    Ok(())
}

/// Problems found, per database.
type Problems = Vec<(String, String)>;

/// Loads one dump directory; its start, end and problems, or why the load
/// itself failed.
async fn load_one(
    server: &scratch::Server,
    defaults: &tempfile::NamedTempFile,
    d: &DumpDir,
    log: &mut Log,
) -> Result<(chrono::NaiveDateTime, chrono::NaiveDateTime, Problems), String> {
    let start = crate::tool::now();
    let args = vec![
        path_arg("--defaults-file=", defaults.path()),
        path_arg("--directory=", &d.dir),
        "--threads=2".to_owned(),
        "--verbose=2".to_owned(),
        "--overwrite-tables".to_owned(),
    ];
    let ran = tool::run("myloader", &args, &[])
        .await
        .map_err(|e| e.to_string())?;
    let end = crate::tool::now();
    log.line(&format!(
        "myloader {} {}: {}\n{}",
        d.dir.display(),
        ran.status,
        if ran.ok { "ok" } else { "FAILED" },
        ran.tail
    ));
    let mut problems = Problems::new();
    if !ran.ok {
        for db in &d.databases {
            problems.push((
                db.clone(),
                format!(
                    "myloader {}: {}",
                    ran.status,
                    ran.tail.lines().last().unwrap_or_default()
                ),
            ));
        }
    }
    for (db, table) in &d.tables {
        match server.table_rows(db, table).await {
            Ok(None) => {
                problems.push((db.clone(), format!("table {table} missing after the load")))
            }
            Ok(Some(false)) if d.with_data.contains(&(db.clone(), table.clone())) => {
                problems.push((
                    db.clone(),
                    format!("table {table} is empty but the dump has data for it"),
                ));
            }
            Ok(_) => {}
            Err(e) => problems.push((db.clone(), format!("table {table}: {e}"))),
        }
    }
    Ok((start, end, problems))
}

/// Where the backup is on this host: `<real_path>/<bk_dir's name>/<bk_id>`
/// (what the transfer makes) or `<real_path>/<bk_id>`.
async fn locate(history: &History, row: &BackupRecord) -> Result<Option<PathBuf>, LogicalError> {
    let dated = Path::new(&row.bk_dir).file_name().map(PathBuf::from);
    for p in history.paths(&row.bk_server).await? {
        let root = PathBuf::from(&p.real_path);
        let mut candidates = Vec::new();
        if let Some(d) = &dated {
            candidates.push(root.join(d).join(&row.bk_id));
        }
        candidates.push(root.join(&row.bk_id));
        if let Some(found) = candidates.into_iter().find(|c| c.is_dir()) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The `--log-file`, appended to.
struct Log {
    file: std::fs::File,
    path: PathBuf,
}

impl Log {
    fn open(path: &Path) -> Result<Log, LogicalError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| LogicalError::Io {
                what: "open the log file".into(),
                path: path.to_owned(),
                source,
            })?;
        Ok(Log {
            file,
            path: path.to_owned(),
        })
    }

    fn line(&mut self, text: &str) {
        let stamp = Local::now().format("%Y-%m-%d %H:%M:%S");
        if let Err(e) = writeln!(self.file, "{stamp} {text}") {
            tracing::warn!("cannot write {}: {e}", self.path.display());
        }
    }
}
