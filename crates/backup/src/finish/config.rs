//! The config copy: the `backup.conf` the run used, into the backup.

use crate::error::BackupError;
use crate::run::Run;

/// The config file the run used, copied in.
pub async fn copy(run: &Run) -> Result<(), BackupError> {
    let text = std::fs::read(&run.cfg.file).map_err(|e| {
        BackupError::PreCheck(format!("cannot read {}: {e}", run.cfg.file.display()))
    })?;
    run.store
        .write_file(
            &format!("{}/{}", run.plan.name, store::layout::BACKUP_CONF_FILE),
            text,
        )
        .await?;
    Ok(())
}
