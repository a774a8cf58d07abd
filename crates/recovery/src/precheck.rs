//! The pre-checks: on the job server before anything is shipped (the
//! backup tool's flavor, free room for the plan, the programs the restore
//! runs), and every binlog the plan replays present, on the store while
//! planning or, for an encrypted chain, on the job server once shipped.

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use binlog::ApplyPlan;
use binlog::apply_plan::BinlogSource;
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use xtrabackup::Tool;

/// The job server's checks, before anything is shipped: the tool's flavor
/// and the free space at once, then one round trip for the programs (the
/// first missing one is named). Returns the tool that restores, with
/// `xbstream-bin-dir`'s extractor when set.
pub async fn job_server(
    cfg: &conf::RecoveryConfig,
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
) -> Result<Tool, RecoveryError> {
    let (tool, ()) = tokio::try_join!(
        async {
            xtrabackup::ops::detect_tool(&**job, &cfg.xtrabackup_bin)
                .await
                .map_err(|e| RecoveryError::PreCheck(format!("job server {}: {e}", job.host())))
        },
        check_free_space(job, plan, cfg.connect.command_timeout),
    )?;
    let tool = match &cfg.xbstream_bin {
        Some(x) => tool.with_stream_program(x.as_str()),
        None => tool,
    };
    check_programs(
        job,
        &job_server_programs(
            tool.flavor,
            &tool.stream_program,
            &cfg.client_name,
            plan.compressed,
        ),
    )
    .await?;
    Ok(tool)
}

/// Every one of `programs` is on the job server's `PATH`.
async fn check_programs(job: &Arc<dyn Transport>, programs: &[&str]) -> Result<(), RecoveryError> {
    let names: Vec<String> = programs.iter().map(|p| quote(p).into_owned()).collect();
    let out = job
        .exec(
            &Command::shell(format!(
                "for p in {}; do command -v \"$p\" >/dev/null || {{ echo \"$p\"; exit 3; }}; done",
                names.join(" ")
            )),
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| RecoveryError::host(job.host(), "pre-checks", e))?;
    if !out.success() {
        return Err(RecoveryError::NotInstalled {
            host: job.host().to_owned(),
            program: out.stdout_str().trim().to_owned(),
        });
    }
    Ok(())
}

/// The work-dir's file system (the directory may not exist yet) has room
/// for the plan's estimate.
async fn check_free_space(
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
    timeout: Duration,
) -> Result<(), RecoveryError> {
    // The store's probe measures any directory of its host, existing or not.
    let free = Store::new(job.clone(), plan.job_dir.clone(), timeout)
        .free_bytes()
        .await?;
    let needed = plan.space.needed();
    if free < needed {
        return Err(RecoveryError::NoRoom {
            host: job.host().to_owned(),
            free,
            needed,
            dir: plan.job_dir.clone(),
            breakdown: plan.space.to_string(),
        });
    }
    tracing::info!(host = job.host(), dir = %plan.job_dir, free, needed, "room on the job server");
    Ok(())
}

/// What the restore runs on the job server besides the shell and its basic
/// tools, looked for before anything is shipped rather than found missing
/// afterwards: the stream extractor, the binlog reader, the temporary
/// server's ping, the SQL client, what the row counts use, and `zstd` for
/// a chain with compressed streams. MySQL's binlog reader and admin
/// client are not looked for on `PATH`: as in seed 001 they may come with
/// the server's base directory the backup ships (`datanode_base`), and are
/// run from there when it has them.
fn job_server_programs<'a>(
    flavor: xtrabackup::Flavor,
    extractor: &'a str,
    client: &'a str,
    compressed: bool,
) -> Vec<&'a str> {
    let mut programs = vec![extractor, client, "stdbuf", "xargs"];
    if let xtrabackup::Flavor::Mariabackup { .. } = flavor {
        programs.push(crate::restore::binlog_reader_name(flavor));
        programs.push(crate::restore::admin_name(flavor));
    }
    programs.extend(compressed.then_some("zstd"));
    programs
}

/// Every planned binlog is on the store (a plain chain, checked while
/// planning). All at once: one round trip each, none waiting for another.
pub async fn stored_binlogs(store: &Store, apply: &ApplyPlan) -> Result<(), RecoveryError> {
    let planned: Vec<_> = planned_binlogs(apply).collect();
    let names: Vec<String> = planned.iter().map(|(_, b)| b.to_string()).collect();
    let present = futures::future::try_join_all(names.iter().map(|n| store.exists(n))).await?;
    if let Some(((d, b), _)) = planned.iter().zip(present).find(|(_, there)| !there) {
        return Err(missing_binlog(
            d,
            b,
            store.host(),
            &store.path(&b.to_string()),
        ));
    }
    Ok(())
}

/// Every binlog the plan replays, with its datasource. `backuped_binlogs`
/// only says a file was copied; one lost since would otherwise fail the
/// replay after the whole chain was shipped and prepared.
fn planned_binlogs(apply: &ApplyPlan) -> impl Iterator<Item = (&str, &BinlogSource)> {
    apply
        .datasources
        .iter()
        .flat_map(|d| d.binlogs.iter().map(|b| (d.datasource.as_str(), b)))
}

fn missing_binlog(datasource: &str, b: &BinlogSource, host: &str, path: &str) -> RecoveryError {
    RecoveryError::MissingBinlog {
        datasource: datasource.to_owned(),
        binlog: Box::new(b.clone()),
        path: path.to_owned(),
        host: host.to_owned(),
    }
}

/// The shipped copy of every planned binlog is on the job server.
pub async fn shipped_binlogs(
    job: &Arc<dyn Transport>,
    store: &Store,
    plan: &RecoveryPlan,
) -> Result<(), RecoveryError> {
    for (d, b) in planned_binlogs(&plan.apply) {
        let path = format!(
            "{}/{}/{}",
            plan.backup_dir(store.dir(), b.backup),
            b.dir,
            b.file
        );
        let out = job
            .exec(
                &Command::new("test").arg("-f").arg(&path),
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| RecoveryError::host(job.host(), format!("looking for {path}"), e))?;
        if !out.success() {
            return Err(missing_binlog(d, b, job.host(), &path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{job_server_programs, missing_binlog};
    use crate::RecoveryError;
    use crate::restore::test_flavors::{MARIADB, mysql};
    use binlog::apply_plan::BinlogSource;

    /// Callers tell the case by its variant; the sentence is the one users
    /// and the end-to-end tests read.
    #[test]
    fn a_missing_binlog_is_its_own_variant_naming_everything() {
        let b = BinlogSource {
            backup: "UTC20261122060000.500-full".parse().unwrap(),
            dir: "normal_0-normal_0_0-127.0.0.11-16315".parse().unwrap(),
            file: "mysql-bin.000007".parse().unwrap(),
        };
        let e = missing_binlog("normal_0", &b, "127.0.0.40", "/w/x/mysql-bin.000007");
        assert!(
            matches!(&e, RecoveryError::MissingBinlog { datasource, .. } if datasource == "normal_0")
        );
        assert_eq!(
            e.to_string(),
            "datasource normal_0: binlog mysql-bin.000007 of normal_0-normal_0_0-127.0.0.11-16315 \
             is listed in UTC20261122060000.500-full/backuped_binlogs but \
             /w/x/mysql-bin.000007 is missing on 127.0.0.40"
        );
    }

    #[test]
    fn zstd_is_looked_for_only_when_a_stream_is_compressed() {
        let plain = job_server_programs(MARIADB, "mbstream", "mariadb", false);
        for p in ["mbstream", "mariadb", "mariadb-binlog", "mariadb-admin"] {
            assert!(plain.contains(&p), "{p} in {plain:?}");
        }
        assert!(!plain.contains(&"zstd"), "{plain:?}");
        let compressed = job_server_programs(MARIADB, "mbstream", "mariadb", true);
        assert_eq!(compressed.len(), plain.len() + 1);
        assert!(compressed.contains(&"zstd"), "{compressed:?}");
    }

    /// MySQL's binlog reader may come with the shipped base directory.
    #[test]
    fn mysqls_clients_are_not_required_on_path() {
        let programs = job_server_programs(mysql(8), "xbstream", "mysql", false);
        assert_eq!(programs, ["xbstream", "mysql", "stdbuf", "xargs"]);
    }
}
