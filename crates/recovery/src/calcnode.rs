//! The router's files staged for whoever rebuilds the router, as seed 001's
//! `prepare_calcnode_base` does: `<run>/calcnode_base/` gets the chain's
//! full backup's `calcnode_base/` (the router's base directory tarball and
//! config), then the last backup's over it (its config at the point).

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::Duration;

/// The shell script that stages `calcnode_base/` (pure, for the job
/// server); exits 3 naming a backup without one.
fn stage_script(plan: &RecoveryPlan, store_dir: &str) -> String {
    let chain = &plan.apply.chain.backups;
    let mut sources = Vec::new();
    if let Some(full) = chain.first() {
        sources.push(plan.backup_dir(store_dir, *full));
    }
    if let Some(last) = chain.last().filter(|_| chain.len() > 1) {
        sources.push(plan.backup_dir(store_dir, *last));
    }
    let to = format!("{}/calcnode_base", plan.job_dir);
    let mut script = format!("set -e; rm -rf {to}; mkdir -p {to}\n", to = quote(&to));
    for from in sources {
        let from = format!("{from}/calcnode_base");
        script.push_str(&format!(
            "[ -d {f} ] || {{ echo {f}; exit 3; }}; cp -r {f}/. {t}/\n",
            f = quote(&from),
            t = quote(&to)
        ));
    }
    script
}

/// Stages `calcnode_base/` on the job server. A backup without one (taken
/// by an older tool) is a warning, returned: the data's recovery does not
/// need it.
pub async fn stage(
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
    store_dir: &str,
    timeout: Duration,
) -> Result<Option<String>, RecoveryError> {
    let out = job
        .exec(&Command::shell(stage_script(plan, store_dir)), timeout)
        .await
        .map_err(|e| RecoveryError::host(job.host(), "staging calcnode_base", e))?;
    match out.exit_status {
        0 => Ok(None),
        3 => Ok(Some(format!(
            "{} has no calcnode_base/ (the router's base directory and config): {}/calcnode_base not staged",
            out.stdout_str().trim(),
            plan.job_dir
        ))),
        _ => Err(RecoveryError::host(
            job.host(),
            "staging calcnode_base",
            out.stderr_str().trim(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(backups: &[&str], in_place: bool) -> RecoveryPlan {
        RecoveryPlan {
            apply: binlog::ApplyPlan {
                chain: binlog::Chain {
                    backups: backups.iter().map(|b| b.parse().unwrap()).collect(),
                    next: None,
                    stop_datetime: None,
                },
                datasources: Vec::new(),
            },
            encrypted: false,
            store: "h:/s".into(),
            job_host: "h".into(),
            job_dir: "/w/t".into(),
            in_place,
            first_port: 27000,
            space: Default::default(),
            compressed: false,
        }
    }

    /// The script runs in a real shell over a chain of three: the full's
    /// tarball and the last backup's config end up staged.
    #[test]
    fn the_fulls_base_then_the_last_backups_config_are_staged() {
        let store = tempfile::tempdir().unwrap();
        let chain = [
            "UTC20260101000000.000-full",
            "UTC20260101010000.000-inc",
            "UTC20260101020000.000-inc",
        ];
        for (i, b) in chain.iter().enumerate() {
            let dir = store.path().join(b).join("calcnode_base");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("dbscale.conf"), format!("config {i}\n")).unwrap();
            if i == 0 {
                std::fs::write(dir.join("dbscale.tar.gz"), "tarball").unwrap();
            }
        }
        let mut p = plan(&chain, true);
        let work = store.path().join("work");
        p.job_dir = work.display().to_string();
        let script = stage_script(&p, &store.path().display().to_string());
        let ran = std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(ran.success(), "{script}");
        let staged = work.join("calcnode_base");
        assert_eq!(
            std::fs::read_to_string(staged.join("dbscale.conf")).unwrap(),
            "config 2\n"
        );
        assert_eq!(
            std::fs::read_to_string(staged.join("dbscale.tar.gz")).unwrap(),
            "tarball"
        );

        // A backup without calcnode_base/ exits 3 naming it.
        std::fs::remove_dir_all(store.path().join(chain[2]).join("calcnode_base")).unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stdout).contains(chain[2]));
    }

    #[test]
    fn a_lone_full_is_copied_once_from_the_job_servers_copy() {
        let script = stage_script(&plan(&["UTC20260101000000.000-full"], false), "/s");
        assert_eq!(script.matches("cp -r").count(), 1, "{script}");
        assert!(
            script.contains(
                "cp -r /w/t/UTC20260101000000.000-full/calcnode_base/. /w/t/calcnode_base/"
            ),
            "{script}"
        );
    }
}
