//! The global consistence point: the router's point (or the
//! disaster-recovery fallback), each master's place in it, the time
//! written as `consistent_point_datetime`, and `cluster_consistence_info`.

use super::{bad_name, server_client};
use crate::error::BackupError;
use crate::run::Run;
use crate::server::ServerResult;
use crate::sql::{self, col};
use binlog::{BinlogName, BinlogPos, ConsistenceInfo, ConsistenceLine};
use router::Endpoint;
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

/// Writes `cluster_consistence_info` and `consistent_point_datetime` for
/// `points`; returns the latter (`YYYY-mm-dd HH:MM:SS`).
pub async fn record_consistence(
    run: &Run,
    points: &[MasterPoint],
    results: &[ServerResult],
) -> Result<String, BackupError> {
    let name = run.plan.name;
    let info = consistence_info(run, points, results)?;
    run.store
        .write_file(
            &format!("{name}/{}", store::layout::CONSISTENCE_FILE),
            info.to_string(),
        )
        .await?;
    let point = binlog::format_point_datetime(point_datetime(run, points).await?);
    run.store
        .write_file(
            &format!("{name}/{}", store::layout::POINT_DATETIME_FILE),
            point.clone(),
        )
        .await?;
    Ok(point.trim().to_owned())
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
        let logs = super::binlogs::binary_logs(run, ds.master.as_str()).await?;
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
async fn point_datetime(
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
fn consistence_info(
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
