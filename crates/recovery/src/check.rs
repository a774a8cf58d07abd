//! Before anything is prepared, every file of a plain chain, as the job
//! server holds it (shipped, or the store itself when the two are one
//! host), is read back and checked against its backup's manifest: present,
//! its size, its SHA-256, nothing extra. A binlog cut short or a stream
//! with a flipped byte fails the recovery here, naming the file, instead of
//! giving a "successful" recovery with rows missing. An encrypted chain is
//! checked by its HMAC while it is decrypted on the way.

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use binlog::BackupName;
use remote::{Command, Transport};
use std::collections::BTreeMap;
use std::sync::Arc;
use store::check::{compare, listing_script, parse_listing};
use store::manifest::Manifest;

/// Checks every backup of the plan's chain on the job server against its
/// manifest (`manifests`, read while planning; `store_dir` for an in-place
/// chain).
pub async fn shipped_files(
    job: &Arc<dyn Transport>,
    store_dir: &str,
    plan: &RecoveryPlan,
    manifests: &BTreeMap<BackupName, Manifest>,
    timeout: std::time::Duration,
) -> Result<(), RecoveryError> {
    if plan.encrypted {
        return Ok(());
    }
    for backup in plan.apply.chain.dirs_to_fetch() {
        let Some(manifest) = manifests.get(&backup) else {
            tracing::warn!(%backup, "no manifest (a backup of the seed tool?): its files are not checked");
            continue;
        };
        let name = backup.to_string();
        let dir = plan.backup_dir(store_dir, backup);
        let script = listing_script(&dir, std::iter::empty(), None, stream::PICK_SHA256);
        let step = format!("checking {dir} against its manifest");
        let out = job
            .exec(&Command::new("bash").arg("-c").arg(script), timeout)
            .await
            .map_err(|e| RecoveryError::host(job.host(), &step, e))?;
        if !out.success() {
            return Err(RecoveryError::host(
                job.host(),
                &step,
                format!("exit {}: {}", out.exit_status, out.stderr_str().trim()),
            ));
        }
        let problems = compare(&name, &manifest.files, &parse_listing(&out.stdout_str()));
        if !problems.is_empty() {
            return Err(RecoveryError::Damaged {
                backup: name,
                host: job.host().to_owned(),
                problems,
            });
        }
        tracing::info!(%backup, files = manifest.files.len(), "files match the manifest");
    }
    Ok(())
}
