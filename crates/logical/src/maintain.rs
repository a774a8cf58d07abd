//! `only-rsync`, `mark-del` and `list`: the catalog's housekeeping.

use crate::backup::is_bk_id;
use crate::error::LogicalError;
use crate::open_history;
use crate::rsync::Target;
use catalog::history::{BackupRecord, Transfer};
use conf::PbackupConfig;
use std::path::Path;

/// What `only-rsync` did.
#[derive(Debug)]
pub struct OnlyRsync {
    /// The transfer.
    pub transfer: Transfer,
    /// rsync's failure, if it failed.
    pub failure: Option<LogicalError>,
    /// `--bk-id` given: was its row updated.
    pub updated: Option<bool>,
}

/// `dbcatalog only-rsync`: sends `backup_dir` to `[rsync] dest` and, with
/// `bk_id`, records the transfer in that backup's row.
pub async fn only_rsync(
    cfg: &PbackupConfig,
    backup_dir: &Path,
    bk_id: Option<&str>,
    log_file: Option<&Path>,
) -> Result<OnlyRsync, LogicalError> {
    let target = Target::from(cfg.require_rsync()?);
    // Absolute, so the directory is sent by its name (`./` would send
    // its contents straight into dest).
    let backup_dir = &std::fs::canonicalize(backup_dir).map_err(|_| {
        LogicalError::Usage(format!(
            "--backup-dir {} is not a directory",
            backup_dir.display()
        ))
    })?;
    if !backup_dir.is_dir() {
        return Err(LogicalError::Usage(format!(
            "--backup-dir {} is not a directory",
            backup_dir.display()
        )));
    }
    // A catalog problem shows before the transfer, not after.
    let history = match bk_id {
        Some(_) => Some(open_history(cfg).await?),
        None => None,
    };
    let (transfer, failure) = target.send(backup_dir, log_file).await?;
    let updated = match (history, bk_id) {
        (Some(h), Some(id)) => Some(
            h.record_transfer(id, &transfer, &target.remote_dest())
                .await?,
        ),
        _ => None,
    };
    Ok(OnlyRsync {
        transfer,
        failure,
        updated,
    })
}

/// `dbcatalog mark-del --backup-dir=DIR`: every `bk_id`-named directory
/// under `dir` gets `is_deleted = 'Y'`. Returns each bk_id and whether a
/// row changed.
pub async fn mark_del(
    cfg: &PbackupConfig,
    dir: &Path,
) -> Result<Vec<(String, bool)>, LogicalError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LogicalError::Io {
        what: "list the backup directory".into(),
        path: dir.to_owned(),
        source,
    })?;
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| is_bk_id(n))
        .collect();
    ids.sort();
    if ids.is_empty() {
        return Err(LogicalError::Usage(format!(
            "{} holds no backup (no directory named by a bk_id)",
            dir.display()
        )));
    }
    let history = open_history(cfg).await?;
    let mut out = Vec::new();
    for id in ids {
        let changed = history.mark_deleted(&id).await?;
        out.push((id, changed));
    }
    Ok(out)
}

/// `dbcatalog list`: the `limit` most recent backups.
pub async fn list(cfg: &PbackupConfig, limit: u32) -> Result<Vec<BackupRecord>, LogicalError> {
    Ok(open_history(cfg).await?.recent(limit).await?)
}
