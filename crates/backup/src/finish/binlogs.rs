//! The binlog copies: for every binlog source of the plan, which of its
//! binlogs this backup holds (`plan_binlog_copy`), copied to the store,
//! and the `backuped_binlogs` file.

use super::{MasterPoint, bad_name, server_client};
use crate::error::BackupError;
use crate::run::Run;
use crate::server::ServerResult;
use crate::sql::{self, col};
use binlog::{
    BackupKind, BinaryLog, BinlogName, CopyRequest, CopyRole, LastGood, SlaveCut, plan_binlog_copy,
};
use remote::{AgentType, Command};
use std::collections::BTreeMap;
use stream::Source;
use topology::Role;

/// Copies every binlog source's files and writes `backuped_binlogs`.
pub async fn copy(
    run: &Run,
    points: &[MasterPoint],
    results: &[ServerResult],
) -> Result<(), BackupError> {
    let text = copy_binlogs(run, points, results).await?;
    run.store
        .write_file(
            &format!("{}/{}", run.plan.name, store::layout::BACKUPED_BINLOGS_FILE),
            text,
        )
        .await?;
    Ok(())
}

/// `SHOW BINARY LOGS` of a server.
pub async fn binary_logs(run: &Run, server: &str) -> Result<Vec<BinaryLog>, BackupError> {
    let mut c = server_client(run, server, "listing its binlogs").await?;
    let rows = sql::query(&mut c, "SHOW BINARY LOGS").await?;
    let _ = c.close().await;
    rows.iter()
        .map(|r| {
            Ok(BinaryLog {
                name: col(r, "Log_name")
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| bad_name(server, e))?,
                size: col(r, "File_size")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            })
        })
        .collect()
}

/// Plans and copies every binlog source's files; returns the
/// `backuped_binlogs` text.
async fn copy_binlogs(
    run: &Run,
    points: &[MasterPoint],
    results: &[ServerResult],
) -> Result<String, BackupError> {
    let backup_master = run.cfg.selection.backup_master;
    let last = run.facts.last.as_ref();
    let last_name = last.map(|l| l.name.to_string()).unwrap_or_default();
    let mut text = String::new();
    let by_server: BTreeMap<&str, &ServerResult> = results
        .iter()
        .map(|r| (r.plan.server.as_str(), r))
        .collect();
    for choice in run.plan.selection.binlog_sources() {
        let name = choice.server.as_str();
        let point = points
            .iter()
            .find(|p| {
                run.facts
                    .cluster
                    .datasource_of(&p.server)
                    .is_some_and(|(d, _)| d.name == choice.datasource)
            })
            .ok_or_else(|| bad_name(name, "no consistence point for its datasource"))?;
        let role = match (choice.role, by_server.get(name)) {
            (Role::Master, Some(r)) if backup_master => CopyRole::BackedUpMaster {
                xb_to_binlog: r.binlog_file.parse().map_err(|e| bad_name(name, e))?,
                point_binlog: point.file.clone(),
            },
            (Role::Master, _) => CopyRole::MasterForSlaves {
                slaves: results
                    .iter()
                    .filter(|r| {
                        r.plan.datasource == choice.datasource && r.plan.role == Role::Replica
                    })
                    .map(|r| {
                        Ok(SlaveCut {
                            server: r.plan.server.to_string(),
                            relay_master_log_file: r
                                .relay_master_log_file
                                .as_deref()
                                .unwrap_or_default()
                                .parse()
                                .map_err(|e| bad_name(r.plan.server.as_str(), e))?,
                            point_binlog: point.file.clone(),
                        })
                    })
                    .collect::<Result<_, BackupError>>()?,
            },
            (Role::Replica, Some(r)) => CopyRole::BackedUpSlave {
                xb_to_binlog: r.binlog_file.parse().map_err(|e| bad_name(name, e))?,
            },
            (Role::Replica, None) => continue,
        };
        let logs = binary_logs(run, name).await?;
        let kind = match last {
            Some(l) if run.plan.is_incremental() => BackupKind::Incremental(LastGood {
                name: &last_name,
                binlogs: &l.binlogs,
            }),
            _ => BackupKind::Full,
        };
        let plan = plan_binlog_copy(&CopyRequest {
            server: name,
            kind,
            role,
            binary_logs: &logs,
        })
        .map_err(|e| bad_name(name, e))?;
        tracing::info!("binlogs: {plan}");
        copy_files(run, name, &plan.names(), logs.last()).await?;
        text.push_str(&plan.backuped_binlogs_line());
    }
    Ok(text)
}

/// Copies `files` of `server`'s binlogs. The `active` one (the last of
/// `SHOW BINARY LOGS`, still being written) is copied up to its listed
/// size: listed after the consistence point, that size covers it, and a
/// file that grows while `cat` reads it would fail the transfer's byte
/// count (`stat` before, more bytes sent after).
async fn copy_files(
    run: &Run,
    server: &str,
    files: &[BinlogName],
    active: Option<&BinaryLog>,
) -> Result<(), BackupError> {
    let s = run
        .facts
        .cluster
        .server(server)
        .ok_or_else(|| BackupError::Topology(format!("no server {server}")))?;
    let (ds, _) = run
        .facts
        .cluster
        .datasource_of(server)
        .ok_or_else(|| BackupError::Topology(format!("no datasource for {server}")))?;
    let mut c = server_client(run, server, "finding its binlog directory").await?;
    let basename = sql::scalar(&mut c, "SELECT @@log_bin_basename AS b", "b").await?;
    let _ = c.close().await;
    let dir = basename
        .rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_default();
    let host = run
        .hosts
        .host(&s.host, &run.cfg.connect.server_login, AgentType::DbInit)
        .map_err(|e| BackupError::host(&s.host, "connecting", e))?;
    let target = format!(
        "{}/{}",
        run.plan.name,
        store::layout::server_dir(ds.name.as_str(), server, &s.host, s.port)
    );
    run.store.mkdir(&target).await?;
    for f in files {
        let path = format!("{dir}/{f}");
        let source = match active {
            Some(a) if a.name == *f => Source::command(
                Command::new("head")
                    .arg("-c")
                    .arg(a.size.to_string())
                    .arg("--")
                    .arg(&path),
            ),
            _ => Source::file(path),
        };
        run.transfer(&host, &source, &run.store_path(&format!("{target}/{f}")))
            .await
            .map_err(|e| bad_name(server, format!("copying {f}: {e}")))?;
    }
    Ok(())
}
