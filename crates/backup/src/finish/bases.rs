//! The base directories: a full backup's `datanode_base/` (one master's
//! base directory, or a note naming a packaged one) and `calcnode_base/`
//! (the router's config and base directory); an incremental's small
//! stand-ins.

use super::server_client;
use crate::error::BackupError;
use crate::run::Run;
use crate::server::ServerResult;
use crate::sql;
use remote::{AgentType, Command, Transport, quote};
use std::sync::Arc;
use stream::{Source, timed};

/// The base directories of this run's kind: a full backup's (returns how
/// long they took), or an incremental's stand-ins (returns `None`).
pub async fn copy(
    run: &Run,
    results: &[ServerResult],
) -> Result<Option<std::time::Duration>, BackupError> {
    if run.plan.is_incremental() {
        incremental_bases(run).await?;
        Ok(None)
    } else {
        Ok(Some(timed(copy_bases(run, results)).await?.1))
    }
}

/// Whether a base directory is a packaged system prefix, which is not
/// tarred (recovery uses the job server's installed server instead).
fn is_system_prefix(basedir: &str) -> bool {
    matches!(
        basedir.trim_end_matches('/'),
        "" | "/usr" | "/usr/local" | "/opt" | "/"
    )
}

/// What an incremental holds of the base directories: `datanode_base/`
/// (empty: the full's serves) and `calcnode_base/dbscale.conf`, the
/// router's config at this point. The seed writes both into every backup,
/// and its recovery expects them in each.
async fn incremental_bases(run: &Run) -> Result<(), BackupError> {
    let name = run.plan.name;
    run.store.mkdir(&format!("{name}/datanode_base")).await?;
    run.store
        .write_file(
            &format!("{name}/calcnode_base/dbscale.conf"),
            run.facts.router_conf.clone(),
        )
        .await?;
    Ok(())
}

/// Full backups only: one master's base directory (`datanode_base/`) and
/// the router's config and base directory (`calcnode_base/`).
async fn copy_bases(run: &Run, results: &[ServerResult]) -> Result<(), BackupError> {
    let name = run.plan.name;
    if let Some(r) = results.first() {
        let host = run
            .hosts
            .host(
                &r.plan.host,
                &run.cfg.connect.server_login,
                AgentType::DbInit,
            )
            .map_err(|e| BackupError::host(&r.plan.host, "connecting", e))?;
        if is_system_prefix(&r.basedir) {
            let version = server_version(run, r.plan.server.as_str()).await?;
            run.store
                .write_file(
                    &format!("{name}/datanode_base/system_basedir"),
                    format!("basedir={}\nversion={version}\n", r.basedir),
                )
                .await?;
        } else {
            send_tar(
                run,
                &host,
                &r.basedir,
                &format!("{name}/datanode_base"),
                DATANODE_EXCLUDES,
            )
            .await?;
        }
    }
    let router_host = run
        .hosts
        .host(
            &run.cfg.router.host,
            &run.cfg.connect.server_login,
            AgentType::DbInit,
        )
        .map_err(|e| BackupError::host(&run.cfg.router.host, "connecting", e))?;
    run.store
        .write_file(
            &format!("{name}/calcnode_base/dbscale.conf"),
            run.facts.router_conf.clone(),
        )
        .await?;
    if let Some(exe) = &run.facts.router_basedir {
        // `DBScale_basedir` names the executable; its directory is the
        // router's base directory (seed 000 `cluster_exe_file[0:-len("/dbscale")]`).
        let basedir = router_base_directory(exe);
        if is_system_prefix(basedir) || is_program_directory(basedir) {
            // An executable installed into /usr/bin or / has no base
            // directory of its own to tar.
            tracing::warn!(router = %run.cfg.router.host, executable = %exe, "the router's executable is not in a base directory of its own: calcnode_base holds its config only");
            return Ok(());
        }
        send_tar(
            run,
            &router_host,
            basedir,
            &format!("{name}/calcnode_base"),
            ROUTER_EXCLUDES,
        )
        .await?;
        // The seed stores it as dbscale.tar.gz whatever the directory's name.
        let base = basedir
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("dbscale");
        if base != "dbscale" {
            let from = run.store_path(&format!("{name}/calcnode_base/{base}.tar.gz"));
            let to = run.store_path(&format!("{name}/calcnode_base/dbscale.tar.gz"));
            run.store
                .run(
                    "naming the router tarball",
                    Command::new("mv").arg(from).arg(to),
                )
                .await?;
        }
    }
    Ok(())
}

async fn server_version(run: &Run, server: &str) -> Result<String, BackupError> {
    let mut c = server_client(run, server, "reading its version").await?;
    let v = sql::scalar(&mut c, "SELECT VERSION() AS v", "v").await?;
    let _ = c.close().await;
    Ok(v)
}

/// What the router's tarball leaves out: seed 000's exclude file
/// (`*.log *.log_slow *.log_audit *.log_zk`).
const ROUTER_EXCLUDES: &[&str] = &["*.log", "*.log_slow", "*.log_audit", "*.log_zk"];

/// What a server base directory's tarball leaves out: logs, which an
/// install directory should not hold but sometimes does (the seed tars it
/// whole).
const DATANODE_EXCLUDES: &[&str] = &["*.log", "*.log.*", "logs"];

/// The router's base directory: the directory of the executable
/// `DBScale_basedir` names (`/data/app/dbscale/dbscale` → `/data/app/dbscale`).
fn router_base_directory(exe: &str) -> &str {
    let exe = exe.trim_end_matches('/');
    match exe.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => exe,
    }
}

/// Whether `dir` is a shared program directory (`/usr/bin`, `/usr/local/sbin`):
/// not a base directory to tar.
fn is_program_directory(dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.ends_with("/bin") || dir.ends_with("/sbin")
}

/// `tar -zcf - DIR` without `excludes` into `<into>/<name>.tar.gz`.
async fn send_tar(
    run: &Run,
    host: &Arc<dyn Transport>,
    dir: &str,
    into: &str,
    excludes: &[&str],
) -> Result<(), BackupError> {
    let dir = dir.trim_end_matches('/');
    run.store.mkdir(into).await?;
    let (parent, base) = dir.rsplit_once('/').unwrap_or(("/", dir));
    let parent = if parent.is_empty() { "/" } else { parent };
    let excludes: String = excludes
        .iter()
        .map(|e| format!(" {}", quote(&format!("--exclude={e}"))))
        .collect();
    let script = format!("tar -C {} -zcf -{excludes} {}", quote(parent), quote(base));
    run.transfer(
        host,
        &Source::command(Command::shell(script)),
        &run.store_path(&format!("{into}/{base}.tar.gz")),
    )
    .await
    .map_err(|e| BackupError::host(host.host(), format!("sending {dir}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::router_base_directory;

    #[test]
    fn the_routers_base_directory_is_the_executables_directory() {
        assert_eq!(
            router_base_directory("/data/app/dbscale/dbscale"),
            "/data/app/dbscale"
        );
        assert_eq!(router_base_directory("/dbscale"), "/");
        assert_eq!(router_base_directory("dbscale"), "dbscale");
    }

    #[test]
    fn a_shared_program_directory_is_not_a_base_directory() {
        for dir in ["/usr/bin", "/usr/local/sbin/", "/bin"] {
            assert!(super::is_program_directory(dir), "{dir}");
        }
        for dir in ["/data/app/dbscale", "/opt/dbscale"] {
            assert!(!super::is_program_directory(dir), "{dir}");
        }
        assert!(super::is_system_prefix(router_base_directory("/dbscale")));
    }
}
