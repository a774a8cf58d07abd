//! Before anything is prepared, every file of a plain chain, as the job
//! server holds it (shipped, or the store itself when the two are one
//! host), is read back and checked against its backup's manifest: present,
//! its size, its SHA-256, nothing extra. A binlog cut short or a stream
//! with a flipped byte fails the recovery here, naming the file, instead of
//! giving a "successful" recovery with rows missing. An encrypted chain is
//! checked by its HMAC while it is decrypted on the way.
//!
//! The check runs beside the extraction (both read the same files, the
//! second from the page cache), and no datasource is prepared before it
//! has passed ([`Gate`]): a damaged chain still fails before anything is
//! prepared, and the check costs no time of its own on the way.

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use binlog::BackupName;
use remote::{Command, Transport};
use std::collections::BTreeMap;
use std::sync::Arc;
use store::check::{compare, listing_script, parse_listing};
use store::manifest::Manifest;

/// Whether the chain's files passed their check, for the datasources
/// waiting to prepare; held by [`Verdict`]'s sender.
#[derive(Debug, Clone)]
pub(crate) struct Gate(tokio::sync::watch::Receiver<Option<bool>>);

/// The sending half of a [`Gate`]: the check's result, told once.
#[derive(Debug)]
pub(crate) struct Verdict(tokio::sync::watch::Sender<Option<bool>>);

impl Gate {
    /// A gate and the verdict that opens (or shuts) it.
    pub fn new() -> (Gate, Verdict) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        (Gate(rx), Verdict(tx))
    }

    /// A gate already open: nothing is checked (`--no-verify`).
    pub fn open() -> Gate {
        Gate(tokio::sync::watch::channel(Some(true)).1)
    }

    /// Waits for the verdict: `true` when the files passed. A verdict
    /// dropped untold (the check cancelled) is a failure.
    pub async fn passed(&self) -> bool {
        let mut rx = self.0.clone();
        let passed = matches!(
            rx.wait_for(Option::is_some).await.as_deref(),
            Ok(Some(true))
        );
        passed
    }
}

impl Verdict {
    /// Tells the waiting datasources whether the check passed.
    pub fn tell(self, passed: bool) {
        // No receiver left: every datasource already stopped.
        let _ = self.0.send(Some(passed));
    }
}

/// Removes the data directories the datasources extracted before the
/// check failed: unprepared, they must not be mistaken for restored ones.
/// Best effort (the run fails with the check's error either way); the
/// datasources' scratch (`tmp/`, their tools' logs) stays.
pub async fn discard_extracted(
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
    timeout: std::time::Duration,
) {
    let dirs: Vec<String> = plan
        .apply
        .datasources
        .iter()
        .map(|d| remote::quote(&plan.datadir(&d.data_dir)).into_owned())
        .collect();
    let script = format!(
        "rm -rf {}; rmdir {} 2>/dev/null; true",
        dirs.join(" "),
        remote::quote(&format!("{}/datadir", plan.job_dir))
    );
    let cmd = Command::new("bash").arg("-c").arg(script);
    if let Err(e) = job.exec(&cmd, timeout).await {
        tracing::warn!(host = job.host(), error = %e, "cannot remove the unprepared data directories");
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_waits_for_the_verdict_and_fails_closed() {
        let (gate, verdict) = Gate::new();
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.passed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "passed before the verdict");
        verdict.tell(true);
        assert!(waiting.await.unwrap());
        assert!(gate.passed().await, "a late waiter sees the verdict too");

        let (gate, verdict) = Gate::new();
        verdict.tell(false);
        assert!(!gate.passed().await);

        let (gate, verdict) = Gate::new();
        drop(verdict);
        assert!(!gate.passed().await, "a check dropped untold is no pass");

        assert!(Gate::open().passed().await);
    }
}
