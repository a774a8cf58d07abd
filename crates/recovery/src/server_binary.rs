//! The server program the temporary servers run: the job server's
//! installed one when the backup recorded a packaged server
//! (`datanode_base/system_basedir`), else the one unpacked from the full
//! backup's shipped `datanode_base/*.tar.gz`.

use crate::error::RecoveryError;
use crate::facts::Reader;
use crate::plan::RecoveryPlan;
use crate::restore::ServerBinary;
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::Duration;
use store::Store;

/// The installed server to run, when the chain's full backup recorded a
/// packaged one (checked against it); `None` when the server comes from
/// the backup itself ([`unpacked`], once shipped). Read before shipping
/// (an encrypted backup keeps the record in its tarball), so a job server
/// without the right server fails before the transfer.
pub async fn installed(
    reader: &Reader<'_>,
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
) -> Result<Option<String>, RecoveryError> {
    let full = plan.apply.chain.backups[0];
    match reader.read(full, "datanode_base/system_basedir").await? {
        Some(system) => Ok(Some(installed_server(job, &system).await?)),
        None => Ok(None),
    }
}

/// The server unpacked from the shipped `datanode_base/*.tar.gz` of the
/// full backup (no system base directory was recorded).
pub async fn unpacked(
    job: &Arc<dyn Transport>,
    store: &Store,
    plan: &RecoveryPlan,
    timeout: Duration,
) -> Result<ServerBinary, RecoveryError> {
    let full = plan.apply.chain.backups[0];
    let dir = format!("{}/basedir", plan.job_dir);
    let script = format!(
        "set -e; mkdir -p {d}; for t in {src}/datanode_base/*.tar.gz; do tar -xzf \"$t\" -C {d}; done; \
         ls -d {d}/*/bin/mariadbd {d}/*/bin/mysqld 2>/dev/null | head -n 1",
        d = quote(&dir),
        src = quote(&plan.backup_dir(store.dir(), full)),
    );
    let out = job
        .exec(&Command::shell(script), timeout)
        .await
        .map_err(|e| RecoveryError::host(job.host(), "unpacking the server base directory", e))?;
    let path = out.stdout_str().trim().to_owned();
    if !out.success() || path.is_empty() {
        return Err(RecoveryError::PreCheck(format!(
            "{full}/datanode_base holds no server base directory with bin/mariadbd or bin/mysqld"
        )));
    }
    let basedir = path
        .rsplitn(3, '/')
        .nth(2)
        .map(str::to_owned)
        .filter(|b| !b.is_empty());
    Ok(ServerBinary {
        program: path,
        basedir,
    })
}

/// The job server's installed `mariadbd`/`mysqld`, when the backup
/// recorded a packaged server (`system_basedir`): it must be the same
/// major version.
async fn installed_server(job: &Arc<dyn Transport>, system: &str) -> Result<String, RecoveryError> {
    let wanted = system
        .lines()
        .find_map(|l| l.strip_prefix("version="))
        .unwrap_or_default()
        .to_owned();
    // Packaged servers live in sbin, which a non-login shell's PATH lacks.
    let find = "PATH=$PATH:/usr/sbin:/usr/local/sbin; for p in mariadbd mysqld; do \
                p=$(command -v $p) && { echo \"$p\"; \"$p\" --version; exit 0; }; done; exit 1";
    let out = job
        .exec(&Command::shell(find), Duration::from_secs(30))
        .await
        .map_err(|e| RecoveryError::host(job.host(), "checking the installed server", e))?;
    let text = out.stdout_str();
    let (program, have) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    if !out.success() {
        return Err(RecoveryError::PreCheck(format!(
            "the backup was taken from a packaged server {wanted:?}; the job server {} has no mariadbd or mysqld installed",
            job.host()
        )));
    }
    let major = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let wanted_major = major(&wanted);
    if wanted_major.is_empty() || !have.contains(&format!("Ver {wanted_major}")) {
        return Err(RecoveryError::PreCheck(format!(
            "the backup was taken from a packaged server {wanted:?}; the job server {} has {:?}: install the same major version there",
            job.host(),
            have.trim()
        )));
    }
    Ok(program.trim().to_owned())
}
