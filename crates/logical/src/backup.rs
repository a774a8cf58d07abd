//! `dbcatalog mydumper`: the backup run (seed 003's `mydumper` command):
//! databases chosen, mydumper run (one consistent run, or one per
//! database), sized, rsynced, recorded in `catalogdb.user_backup`.

use crate::args::{MydumperArgs, Selection};
use crate::dblist::{DbList, consistent_regex};
use crate::error::LogicalError;
use crate::metadata::Metadata;
use crate::rsync::Target;
use crate::size::{dir_bytes, human};
use crate::tool::{self, Login, long_option, path_arg};
use crate::{open_history, server_client};
use catalog::history::{BackupRecord, NO, NOT_APPLICABLE, Transfer, YES};
use conf::PbackupConfig;
use std::path::{Path, PathBuf};

/// `user_backup.bk_command`'s length.
const BK_COMMAND_MAX: usize = 2048;
/// `user_backup.bk_server`'s length.
const BK_SERVER_MAX: usize = 15;

/// `--no-rsync`, `--no-history` (`--only-backup` is both).
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupOptions {
    /// Do not transfer.
    pub no_rsync: bool,
    /// Do not record in the catalog.
    pub no_history: bool,
}

/// One mydumper run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The database(s) it covers, as `backuped_db` lists them.
    pub databases: Vec<String>,
    /// Its output directory.
    pub dir: PathBuf,
    /// Its selection options (`--database=`, `--regex=`...).
    pub select: Vec<String>,
    /// Did it succeed (mydumper exit 0 and a finished metadata file).
    pub ok: bool,
    /// Why not, when not.
    pub failure: Option<String>,
}

/// What became of the catalog record.
#[derive(Debug)]
pub enum Recorded {
    /// Inserted with this `id`.
    Yes(u64),
    /// `--no-history`.
    Skipped,
    /// The catalog could not be written: the backup is on disk (and sent),
    /// its row is not.
    Missing(LogicalError),
}

/// A finished backup run.
#[derive(Debug)]
pub struct BackupOutcome {
    /// The row (as inserted, or as it would have been).
    pub record: BackupRecord,
    /// `<outputdir>/<bk_id>`.
    pub backup_dir: PathBuf,
    /// Each mydumper run.
    pub runs: Vec<Run>,
    /// The transfer, when one was made, and its error.
    pub transfer: Option<(Transfer, Option<LogicalError>)>,
    /// The catalog record.
    pub recorded: Recorded,
}

impl BackupOutcome {
    /// Every run complete, transferred if asked, recorded if asked.
    pub fn succeeded(&self) -> bool {
        self.runs.iter().all(|r| r.ok)
            && self.transfer.as_ref().is_none_or(|(t, _)| t.complete)
            && !matches!(self.recorded, Recorded::Missing(_))
    }
}

/// The login mydumper uses: `[TDB]` with the command line's options over it.
fn effective_login(cfg: &PbackupConfig, args: &MydumperArgs) -> Login {
    let tdb = &cfg.tdb.login;
    let c = &args.connection;
    let by_socket = c.socket.is_some() && c.host.is_none();
    Login {
        host: if by_socket {
            None
        } else {
            c.host.clone().or_else(|| Some(tdb.host.clone()))
        },
        port: if by_socket {
            None
        } else {
            c.port.or(Some(tdb.port))
        },
        user: c.user.clone().or_else(|| Some(tdb.user.clone())),
        password: c
            .password
            .clone()
            .or_else(|| (!tdb.password.is_empty()).then(|| tdb.password.clone())),
        socket: c.socket.clone(),
    }
}

/// Runs a backup as `dbcatalog mydumper ARG...` does.
pub async fn backup(
    cfg: &PbackupConfig,
    args: &MydumperArgs,
    opts: BackupOptions,
) -> Result<BackupOutcome, LogicalError> {
    let outputdir = args
        .outputdir
        .clone()
        .ok_or_else(|| LogicalError::Usage("outputdir= is required".into()))?;
    let target = if opts.no_rsync {
        None
    } else {
        Some(Target::from(cfg.require_rsync()?))
    };
    let login = effective_login(cfg, args);
    // The catalog is opened first so a wrong login shows before the dump,
    // but a catalog that is down never stops the backup.
    let catalog = if opts.no_history {
        None
    } else {
        Some(open_catalog(cfg).await?)
    };
    let (databases, server_version) = ask_server(cfg, &login, args).await?;
    let bk_id = new_bk_id();
    let backup_dir = outputdir.join(&bk_id);
    let mut runs = plan_runs(cfg, args, &databases, &backup_dir)?;
    std::fs::create_dir_all(&backup_dir).map_err(|source| LogicalError::Io {
        what: "create the backup directory".into(),
        path: backup_dir.clone(),
        source,
    })?;
    let tool_version = tool::version("mydumper").await?;
    let defaults = login.defaults_file()?;
    let common: Vec<String> = args
        .passthrough
        .iter()
        .map(|(k, v)| long_option(k, v.as_deref()))
        .collect();
    let start = crate::tool::now();
    for run in &mut runs {
        dump(run, defaults.path(), &common).await?;
    }
    drop(defaults);
    let end = crate::tool::now();
    let meta = runs
        .iter()
        .find_map(|r| read_metadata(&r.dir))
        .unwrap_or_default();
    let bytes = dir_bytes(&backup_dir).map_err(|source| LogicalError::Io {
        what: "measure the backup".into(),
        path: backup_dir.clone(),
        source,
    })?;
    let transfer = match &target {
        Some(t) => Some(send(t, &outputdir, &bk_id).await?),
        None => None,
    };
    let record = BackupRecord {
        id: 0,
        bk_id: bk_id.clone(),
        bk_server: bk_server(&login),
        start_time: start,
        end_time: end,
        elapsed_time: secs(start, end),
        backuped_db: Some(
            runs.iter()
                .flat_map(|r| r.databases.iter().cloned())
                .collect::<Vec<_>>()
                .join(","),
        ),
        is_complete: Some(
            runs.iter()
                .flat_map(|r| r.databases.iter().map(|_| if r.ok { YES } else { NO }))
                .collect::<Vec<_>>()
                .join(","),
        ),
        bk_size: human(bytes),
        bk_dir: outputdir.display().to_string(),
        transfer_start: transfer.as_ref().map(|(t, _)| t.start),
        transfer_end: transfer.as_ref().map(|(t, _)| t.end),
        transfer_elapsed: transfer.as_ref().map(|(t, _)| t.elapsed_secs()),
        transfer_complete: match &transfer {
            Some((t, _)) => if t.complete { YES } else { NO }.to_owned(),
            None => NOT_APPLICABLE.to_owned(),
        },
        remote_dest: target.as_ref().map(Target::remote_dest).unwrap_or_default(),
        master_status: meta.master_status(),
        slave_status: meta.slave_status(),
        tool_version,
        server_version,
        pybackup_version: Some(format!("dbcatalog {}", env!("CARGO_PKG_VERSION"))),
        bk_command: Some(bk_command(&login, &common, &backup_dir, &runs)),
        tag: NOT_APPLICABLE.to_owned(),
        is_deleted: NO.to_owned(),
        validate_status: NOT_APPLICABLE.to_owned(),
    };
    let recorded = match catalog {
        None => Recorded::Skipped,
        Some(Ok(h)) => match h.insert_backup(&record).await {
            Ok(id) => Recorded::Yes(id),
            Err(e) => Recorded::Missing(e.into()),
        },
        Some(Err(e)) => Recorded::Missing(e),
    };
    Ok(BackupOutcome {
        record,
        backup_dir,
        runs,
        transfer,
        recorded,
    })
}

/// The catalog, or why it cannot be reached (warned: the backup goes on
/// and its record will be missing); a wrong configuration stops the run.
async fn open_catalog(
    cfg: &PbackupConfig,
) -> Result<Result<catalog::history::History, LogicalError>, LogicalError> {
    match open_history(cfg).await {
        Ok(h) => Ok(Ok(h)),
        Err(e) if e.is_usage() => Err(e),
        Err(e) => {
            tracing::warn!("{e}; the backup goes on, its record will be missing");
            Ok(Err(e))
        }
    }
}

/// Runs mydumper for `run` (the login in `defaults`, the user's options
/// `common`) and judges it: complete only when mydumper succeeded and
/// wrote a finished metadata file.
async fn dump(run: &mut Run, defaults: &Path, common: &[String]) -> Result<(), LogicalError> {
    let mut argv = vec![path_arg("--defaults-file=", defaults)];
    argv.extend(common.iter().cloned());
    argv.push(path_arg("--outputdir=", &run.dir));
    argv.extend(run.select.iter().cloned());
    tracing::info!(databases = %run.databases.join(","), dir = %run.dir.display(), "mydumper started");
    let ran = tool::run("mydumper", &argv, &[]).await?;
    let meta = read_metadata(&run.dir);
    run.ok = ran.ok && meta.as_ref().is_some_and(|m| m.finished.is_some());
    if run.ok {
        tracing::info!(databases = %run.databases.join(","), "mydumper done");
        return Ok(());
    }
    let why = if ran.ok {
        "no finished metadata file".to_owned()
    } else {
        format!(
            "mydumper {}: {}",
            ran.status,
            ran.tail.lines().last().unwrap_or_default()
        )
    };
    tracing::warn!(databases = %run.databases.join(","), "backup failed: {why}");
    run.failure = Some(why);
    Ok(())
}

/// Sends `outputdir` to the rsync target; a failed transfer is warned
/// about with the command that sends it later, and returned with it.
async fn send(
    target: &Target,
    outputdir: &Path,
    bk_id: &str,
) -> Result<(Transfer, Option<LogicalError>), LogicalError> {
    tracing::info!(dest = %target.remote_dest(), "rsync started");
    let sent = target.send(outputdir, None).await?;
    if let Some(e) = &sent.1 {
        tracing::warn!(
            "{e}; send it later with `dbcatalog only-rsync --backup-dir={} --bk-id={bk_id}`",
            outputdir.display()
        );
    }
    Ok(sent)
}

/// The server's databases and version.
async fn ask_server(
    cfg: &PbackupConfig,
    login: &Login,
    args: &MydumperArgs,
) -> Result<(Vec<String>, String), LogicalError> {
    let mut client = server_client(cfg, login).await?;
    let address = client.address().to_owned();
    let failed = |step: &str| {
        let address = address.clone();
        let step = step.to_owned();
        move |source| LogicalError::Server {
            address,
            step,
            source: Box::new(source),
        }
    };
    let version = client
        .query("SELECT VERSION() AS v")
        .await
        .map_err(failed("SELECT VERSION()"))?;
    let version = version
        .first()
        .and_then(|r| r.column("v").flatten().map(str::to_owned))
        .unwrap_or_default();
    let databases = if matches!(args.selection, Some(Selection::Filter { .. })) {
        Vec::new()
    } else {
        client
            .query("SHOW DATABASES")
            .await
            .map_err(failed("SHOW DATABASES"))?
            .iter()
            .filter_map(|r| r.column("Database").flatten().map(str::to_owned))
            .collect()
    };
    let _ = client.close().await;
    Ok((databases, version))
}

/// The mydumper runs: per database, or one consistent run.
fn plan_runs(
    cfg: &PbackupConfig,
    args: &MydumperArgs,
    server: &[String],
    backup_dir: &Path,
) -> Result<Vec<Run>, LogicalError> {
    let run = |databases: Vec<String>, dir: PathBuf, select: Vec<String>| Run {
        databases,
        dir,
        select,
        ok: false,
        failure: None,
    };
    let chosen = match &args.selection {
        Some(Selection::Filter { regex, tables_list }) => {
            let mut select = Vec::new();
            let mut label = Vec::new();
            if let Some(r) = regex {
                select.push(format!("--regex={r}"));
                label.push(format!("regex={r}"));
            }
            if let Some(t) = tables_list {
                select.push(format!("--tables-list={t}"));
                label.push(format!("tables-list={t}"));
            }
            return Ok(vec![run(label, backup_dir.to_owned(), select)]);
        }
        Some(Selection::Databases(names)) => {
            for n in names {
                if !server.contains(n) {
                    return Err(LogicalError::DbList(format!(
                        "database={n}: no such database on the server"
                    )));
                }
            }
            names.clone()
        }
        None => {
            let text = cfg.tdb.db_list.as_deref().ok_or_else(|| {
                LogicalError::DbList(format!(
                    "{}: [TDB] db_list is not set and the command line names no database= / regex= / tables-list=",
                    cfg.file.display()
                ))
            })?;
            DbList::parse(text)?.resolve(server)?
        }
    };
    if cfg.tdb.consistency {
        let regex = consistent_regex(&chosen);
        return Ok(vec![run(
            chosen,
            backup_dir.to_owned(),
            vec![format!("--regex={regex}")],
        )]);
    }
    Ok(chosen
        .into_iter()
        .map(|db| {
            let dir = backup_dir.join(&db);
            run(vec![db.clone()], dir, vec![format!("--database={db}")])
        })
        .collect())
}

fn read_metadata(dir: &Path) -> Option<Metadata> {
    std::fs::read_to_string(dir.join("metadata"))
        .ok()
        .map(|t| Metadata::parse(&t))
}

/// A new `bk_id`: a random (v4) UUID.
pub fn new_bk_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: time and pid still make it unique enough.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Is `name` a `bk_id` (a UUID in its textual form)?
pub fn is_bk_id(name: &str) -> bool {
    name.len() == 36
        && name.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn secs(a: chrono::NaiveDateTime, b: chrono::NaiveDateTime) -> i32 {
    i32::try_from((b - a).num_seconds().max(0)).unwrap_or(i32::MAX)
}

fn bk_server(login: &Login) -> String {
    let host = login.host.clone().unwrap_or_else(|| "localhost".to_owned());
    host.chars().take(BK_SERVER_MAX).collect()
}

/// `bk_command`: the mydumper command as a DBA would rerun it, login
/// options shown with the password replaced, then `database=a,b` for
/// per-database runs (as the seed's row shows).
pub fn bk_command(login: &Login, common: &[String], backup_dir: &Path, runs: &[Run]) -> String {
    let mut words = vec!["mydumper".to_owned()];
    words.extend(login.redacted_options());
    words.extend(common.iter().cloned());
    words.push(path_arg("--outputdir=", backup_dir));
    match runs {
        [one] if one.dir == backup_dir => words.extend(one.select.iter().cloned()),
        _ => words.push(format!(
            "database={}",
            runs.iter()
                .flat_map(|r| r.databases.iter().cloned())
                .collect::<Vec<_>>()
                .join(",")
        )),
    }
    let mut text = words.join(" ");
    if text.len() > BK_COMMAND_MAX {
        let mut cut = BK_COMMAND_MAX - 3;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    #[test]
    fn bk_ids_are_uuids() {
        let a = new_bk_id();
        assert!(is_bk_id(&a), "{a}");
        assert_ne!(a, new_bk_id());
        assert!(!is_bk_id("2017-12-14") && !is_bk_id(&a.replace('-', "x")));
        assert!(is_bk_id("0883fd06-e033-11e7-88ad-00163e0e2396"));
    }

    #[test]
    fn the_recorded_command_never_holds_the_password() {
        let login = Login {
            host: Some("127.0.0.11".into()),
            port: Some(3306),
            user: Some("root".into()),
            password: Some(Zeroizing::new("supersecrect".into())),
            socket: None,
        };
        let runs: Vec<Run> = ["fandb", "test"]
            .iter()
            .map(|d| Run {
                databases: vec![(*d).into()],
                dir: PathBuf::from(format!("/bk/x/{d}")),
                select: vec![format!("--database={d}")],
                ok: true,
                failure: None,
            })
            .collect();
        let cmd = bk_command(
            &login,
            &["--verbose=3".into(), "--compress".into()],
            Path::new("/bk/x"),
            &runs,
        );
        assert_eq!(
            cmd,
            "mydumper --host=127.0.0.11 --port=3306 --user=root --password=******** --verbose=3 --compress --outputdir=/bk/x database=fandb,test"
        );
        let one = Run {
            databases: vec!["a".into(), "b".into()],
            dir: PathBuf::from("/bk/x"),
            select: vec!["--regex=^(a|b)\\.".into()],
            ok: true,
            failure: None,
        };
        let cmd = bk_command(&login, &[], Path::new("/bk/x"), &[one]);
        assert!(
            cmd.ends_with("--outputdir=/bk/x --regex=^(a|b)\\."),
            "{cmd}"
        );
        assert!(!cmd.contains("supersecrect"));
        let many: Vec<String> = (0..500).map(|i| format!("--x{i}")).collect();
        assert!(bk_command(&login, &many, Path::new("/bk"), &[]).len() <= BK_COMMAND_MAX);
    }
}
