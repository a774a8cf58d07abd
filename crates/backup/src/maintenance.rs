//! Store housekeeping outside a backup run: `--purge-to` and
//! `--clean-trash`, each under the store's run lock, each with a dry run
//! that only reports.

use crate::engine::{connector, open_store};
use crate::error::BackupError;
use crate::run_lock::{lock_store, release};
use store::{RunLock, Store};

/// The store of `cfg`, locked unless it is a dry run.
async fn open(
    cfg: &conf::BackupConfig,
    dry_run: bool,
) -> Result<(Store, Option<RunLock>), BackupError> {
    let store = open_store(cfg, &connector(cfg)?)?;
    let lock = if dry_run {
        None
    } else {
        Some(lock_store(&store).await?)
    };
    Ok((store, lock))
}

/// `--purge-to`: moves every backup started at or before `to` (UTC, as in
/// the backup names) to trash, keeping a chain a later incremental needs
/// unless `force`. With `dry_run` it only says what it would move and
/// keep, and changes nothing.
pub async fn purge_to(
    cfg: &conf::BackupConfig,
    to: chrono::NaiveDateTime,
    force: bool,
    dry_run: bool,
) -> Result<store::PurgePlan, BackupError> {
    let (store, lock) = open(cfg, dry_run).await?;
    let result = async {
        let names: Vec<binlog::BackupName> = store
            .list()
            .await?
            .into_iter()
            .filter_map(|l| l.backup)
            .collect();
        let plan = store::plan_purge(&names, to, force);
        if !dry_run {
            for b in &plan.purge {
                store.move_to_trash(*b).await?;
            }
        }
        Ok(plan)
    }
    .await;
    release(lock).await;
    result
}

/// `--clean-trash`: empties the store's `trash/`; returns what it held.
/// With `dry_run` it only lists what it would delete.
pub async fn clean_trash(
    cfg: &conf::BackupConfig,
    dry_run: bool,
) -> Result<Vec<String>, BackupError> {
    let (store, lock) = open(cfg, dry_run).await?;
    let result = async {
        let held = store.trash_entries().await?;
        if !dry_run {
            store.clean_trash().await?;
        }
        Ok(held)
    }
    .await;
    release(lock).await;
    result
}
