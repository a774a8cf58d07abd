//! Steps 4 to 7 after the servers' streams: the global consistence point,
//! the binlog copies, the base directories (full backups) and the config
//! copy. The manifest and the completeness check ([`crate::manifest`])
//! follow, and `ok` is written by the engine after all of them.

use crate::error::BackupError;
use crate::run::Run;
use crate::server::ServerResult;
use crate::sql::{self, col};
use binlog::{
    BackupKind, BinaryLog, BinlogName, BinlogPos, ConsistenceInfo, ConsistenceLine, CopyRequest,
    CopyRole, LastGood, SlaveCut, plan_binlog_copy,
};
use remote::{AgentType, Command, Transport, quote};
use router::Endpoint;
use std::collections::BTreeMap;
use std::sync::Arc;
use stream::Source;
use topology::Role;

/// A datasource master's position at the consistence point.
#[derive(Debug, Clone)]
pub struct MasterPoint {
    /// The master.
    pub server: String,
    /// Its binlog file.
    pub file: BinlogName,
    /// Position in it.
    pub pos: u64,
}

fn bad_name(server: &str, e: impl std::fmt::Display) -> BackupError {
    BackupError::Binlogs {
        server: server.to_owned(),
        detail: e.to_string(),
    }
}

/// `dbscale get global consistence point`, with the seed's fallback for a
/// cluster feeding a DR cluster (each master's newest binlog end).
pub async fn consistence_point(run: &Run) -> Result<Vec<MasterPoint>, BackupError> {
    let cfg = &run.cfg;
    let endpoint = Endpoint::new(
        cfg.router.host.as_str(),
        cfg.router.port,
        cfg.router.user.as_str(),
        cfg.router.password.as_str(),
    );
    let mut client = sql::connect(&endpoint, "the router").await?;
    let rows = match client.query("dbscale get global consistence point").await {
        Ok(rows) => rows,
        Err(e) if cfg.use_disaster_recovery_cluster => {
            tracing::warn!(error = %e, "the router gave no consistence point; using each master's binlog end (disaster-recovery fallback)");
            let _ = client.close().await;
            return fallback_points(run).await;
        }
        Err(source) => {
            return Err(BackupError::Router {
                address: endpoint.address(),
                step: "the router: getting the global consistence point".into(),
                source: Box::new(source),
            });
        }
    };
    let _ = client.close().await;
    let mut points = Vec::new();
    for r in &rows {
        let server = col(r, "Server_name").unwrap_or_default().to_owned();
        let file = col(r, "File").unwrap_or_default();
        let pos = col(r, "Position").and_then(|p| p.parse().ok()).unwrap_or(0);
        points.push(MasterPoint {
            file: file.parse().map_err(|e| bad_name(&server, e))?,
            server,
            pos,
        });
    }
    check_masters(run, &points)?;
    Ok(points)
}

async fn fallback_points(run: &Run) -> Result<Vec<MasterPoint>, BackupError> {
    let mut points = Vec::new();
    for ds in &run.facts.cluster.datasources {
        let logs = binary_logs(run, ds.master.as_str()).await?;
        let last = logs
            .last()
            .ok_or_else(|| bad_name(ds.master.as_str(), "SHOW BINARY LOGS is empty"))?;
        points.push(MasterPoint {
            server: ds.master.to_string(),
            file: last.name.clone(),
            pos: last.size,
        });
    }
    Ok(points)
}

/// Every datasource has one point, from the master it had when the run
/// started (the seed's check: a switchover during the backup is an error).
fn check_masters(run: &Run, points: &[MasterPoint]) -> Result<(), BackupError> {
    for ds in &run.facts.cluster.datasources {
        let here: Vec<&MasterPoint> = points
            .iter()
            .filter(|p| {
                run.facts
                    .cluster
                    .datasource_of(&p.server)
                    .is_some_and(|(d, _)| d.name == ds.name)
            })
            .collect();
        match here.as_slice() {
            [p] if p.server == ds.master.as_str() => {}
            [p] => {
                return Err(BackupError::TopologyChanged(format!(
                    "datasource {}: the consistence point is on {}, but the master was {} when the backup started; run it again",
                    ds.name, p.server, ds.master
                )));
            }
            _ => {
                return Err(BackupError::TopologyChanged(format!(
                    "datasource {}: the router returned {} consistence points for it (expected 1 from master {})",
                    ds.name,
                    here.len(),
                    ds.master
                )));
            }
        }
    }
    Ok(())
}

/// How far a master's clock may be from this host's before the run warns.
const CLOCK_SKEW_WARNING_SECS: f64 = 2.0;

/// The time written as `consistent_point_datetime` (this host's local
/// time, as the seed writes it): the latest of this host's clock and each
/// master's, read right after the point was taken. Every transaction in
/// the backup committed at or before that instant on its master's clock,
/// which stamps the binlog events a recovery's stop-datetime is compared
/// with; so a controller whose clock lags the servers never records a
/// point earlier than data the backup holds (a recovery to a time in
/// between would otherwise start from this backup and keep rows written
/// after the time asked for). A master ahead by more than
/// [`CLOCK_SKEW_WARNING_SECS`] is warned about, naming it.
pub async fn point_datetime(
    run: &Run,
    points: &[MasterPoint],
) -> Result<chrono::NaiveDateTime, BackupError> {
    let here = chrono::Utc::now();
    let clocks = futures::future::try_join_all(points.iter().map(|p| async move {
        let mut c = server_client(run, &p.server, "reading its clock").await?;
        // Epoch seconds: independent of either host's time zone.
        let epoch = sql::scalar(&mut c, "SELECT UNIX_TIMESTAMP(NOW(3)) AS t", "t").await;
        let _ = c.close().await;
        let epoch: f64 = epoch?
            .parse()
            .map_err(|e| BackupError::host(&p.server, "reading the master's clock", e))?;
        Ok::<_, BackupError>((p.server.as_str(), epoch))
    }))
    .await?;
    let mut latest = here;
    for (server, epoch) in clocks {
        let millis = (epoch * 1000.0).round() as i64;
        let Some(theirs) = chrono::DateTime::from_timestamp_millis(millis) else {
            continue;
        };
        let ahead = (theirs - here).num_milliseconds() as f64 / 1000.0;
        if ahead.abs() > CLOCK_SKEW_WARNING_SECS {
            tracing::warn!(
                server,
                seconds = ahead,
                "the master's clock differs from this host's; consistent_point_datetime uses the later of the two"
            );
        }
        latest = latest.max(theirs);
    }
    Ok(latest.with_timezone(&chrono::Local).naive_local())
}

/// `cluster_consistence_info`, one line per backed-up server, as the seed.
pub fn consistence_info(
    run: &Run,
    points: &[MasterPoint],
    results: &[ServerResult],
) -> Result<ConsistenceInfo, BackupError> {
    let mut lines = Vec::new();
    for r in results {
        let p = &r.plan;
        let ds = run
            .facts
            .cluster
            .datasource(p.datasource.as_str())
            .ok_or_else(|| BackupError::Topology(format!("no datasource {}", p.datasource)))?;
        let point = points
            .iter()
            .find(|m| m.server == ds.master.as_str())
            .ok_or_else(|| {
                BackupError::TopologyChanged(format!(
                    "no consistence point for datasource {}",
                    ds.name
                ))
            })?;
        let xb_to = match p.role {
            Role::Master => BinlogPos {
                file: r
                    .binlog_file
                    .parse()
                    .map_err(|e| bad_name(p.server.as_str(), e))?,
                pos: r.binlog_pos,
            },
            Role::Replica => BinlogPos {
                file: r
                    .relay_master_log_file
                    .as_deref()
                    .ok_or_else(|| {
                        bad_name(
                            p.server.as_str(),
                            "the replica reported no Relay_Master_Log_File",
                        )
                    })?
                    .parse()
                    .map_err(|e| bad_name(p.server.as_str(), e))?,
                pos: 4,
            },
        };
        lines.push(ConsistenceLine {
            host: p.host.clone(),
            port: p.port,
            server: p.server.to_string(),
            point: BinlogPos {
                file: point.file.clone(),
                pos: point.pos,
            },
            datasource: p.datasource.to_string(),
            xb_to_lsn: Some(r.lsn),
            xb_to,
            point_gtid: None,
            extra: Vec::new(),
        });
    }
    Ok(ConsistenceInfo { lines })
}

/// A connection to `server` with the router's login for it; `purpose`
/// goes into a failure's step (`connecting to normal_0_0 (listing its
/// binlogs)`).
async fn server_client(
    run: &Run,
    server: &str,
    purpose: &str,
) -> Result<router::Client, BackupError> {
    let s = run
        .facts
        .cluster
        .server(server)
        .ok_or_else(|| BackupError::Topology(format!("no server {server}")))?;
    let cred = run
        .facts
        .credentials
        .get(server)
        .ok_or_else(|| BackupError::Topology(format!("no MySQL login for {server}")))?;
    let ep = Endpoint::new(
        s.host.as_str(),
        s.port,
        cred.user.as_str(),
        cred.password.expose(),
    );
    sql::connect(&ep, &format!("{server} ({purpose})")).await
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
pub async fn copy_binlogs(
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

/// Whether a base directory is a packaged system prefix, which is not
/// tarred (recovery uses the job server's installed server instead).
pub fn is_system_prefix(basedir: &str) -> bool {
    matches!(
        basedir.trim_end_matches('/'),
        "" | "/usr" | "/usr/local" | "/opt" | "/"
    )
}

/// What an incremental holds of the base directories: `datanode_base/`
/// (empty: the full's serves) and `calcnode_base/dbscale.conf`, the
/// router's config at this point. The seed writes both into every backup,
/// and its recovery expects them in each.
pub async fn incremental_bases(run: &Run) -> Result<(), BackupError> {
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
pub async fn copy_bases(run: &Run, results: &[ServerResult]) -> Result<(), BackupError> {
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
            send_tar(run, &host, &r.basedir, &format!("{name}/datanode_base")).await?;
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
    if let Some(basedir) = &run.facts.router_basedir {
        send_tar(run, &router_host, basedir, &format!("{name}/calcnode_base")).await?;
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

/// `tar -zcf - DIR` (logs excluded, as the seed) into `<into>/<name>.tar.gz`.
async fn send_tar(
    run: &Run,
    host: &Arc<dyn Transport>,
    dir: &str,
    into: &str,
) -> Result<(), BackupError> {
    let dir = dir.trim_end_matches('/');
    run.store.mkdir(into).await?;
    let (parent, base) = dir.rsplit_once('/').unwrap_or(("/", dir));
    let parent = if parent.is_empty() { "/" } else { parent };
    let script = format!(
        "tar -C {} -zcf - --exclude='*.log' --exclude='*.log.*' --exclude='logs' {}",
        quote(parent),
        quote(base)
    );
    run.transfer(
        host,
        &Source::command(Command::shell(script)),
        &run.store_path(&format!("{into}/{base}.tar.gz")),
    )
    .await
    .map_err(|e| BackupError::host(host.host(), format!("sending {dir}"), e))?;
    Ok(())
}

/// The config file the run used, copied in.
pub async fn copy_config(run: &Run) -> Result<(), BackupError> {
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
