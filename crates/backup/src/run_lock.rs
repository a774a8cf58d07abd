//! The store's run lock (see [`store::lock`]) as the engine takes it: a
//! backup, a purge and a trash cleanup each hold it for their whole run,
//! so two never work on one store at once.

use crate::error::BackupError;
use std::sync::Arc;
use store::{Owner, RunLock, Store};

/// Takes the store's run lock, saying so when a dead run's is taken over.
pub(crate) async fn lock_store(store: &Store) -> Result<RunLock, BackupError> {
    let acquired = RunLock::acquire(
        Arc::clone(store.transport()),
        store.dir(),
        &Owner::this_process("dbbackup"),
        store.timeout(),
    )
    .await
    .map_err(store::StoreError::from)?;
    if let Some(dead) = &acquired.took_over {
        tracing::warn!(
            store = %store.host(),
            "took over the store's lock from a run that did not end cleanly: {dead}"
        );
    }
    Ok(acquired.lock)
}

/// Releases a run lock at the end of a run; a failure to do so is only
/// warned about (the lock goes with its holder anyway).
pub(crate) async fn release(lock: Option<RunLock>) {
    if let Some(lock) = lock
        && let Err(e) = lock.release().await
    {
        tracing::warn!(error = %e, "the store's run lock was not released cleanly");
    }
}
