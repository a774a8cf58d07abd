//! Step 3, per server: stream one server's xtrabackup/mariabackup backup
//! into its directory on the store, with its `my.conf`, `master_dir` /
//! `master_slave` and `executed_gtids`, retrying on an FTWRL / BACKUP STAGE
//! dead-lock as the seed does.

use crate::checkpoint;
use crate::error::BackupError;
use crate::plan::ServerPlan;
use crate::run::Run;
use crate::sql::{self, col};
use binlog::BackupName;
use remote::{AgentType, Transport};
use router::Endpoint;
use std::sync::Arc;
use std::time::Duration;
use stream::Source;
use stream::{Timings, timed};
use topology::Role;
use xtrabackup::{BackupLog, BackupOptions, ClientDefaults, Compression, LockDetector, Lsn, ops};

/// The stream file's name in a server directory (sic, as the seeds).
pub const STREAM_FILE: &str = "backup.xbsteam";
/// The tool's log, copied next to the stream.
pub const LOG_FILE: &str = "xtrabackup.log";

/// What one server's backup recorded (a spider task's `Result` column
/// holds it as JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServerResult {
    /// The plan it carried out.
    pub plan: ServerPlan,
    /// The checkpoint LSN (the next incremental starts here).
    pub lsn: u64,
    /// The server's own binlog file and position at the backup's end.
    pub binlog_file: String,
    /// Its position.
    pub binlog_pos: u64,
    /// The GTID state the backup contains (`executed_gtids`).
    pub executed_gtids: String,
    /// For a replica: its master's binlog it had executed up to when the
    /// backup started (`Relay_Master_Log_File`).
    pub relay_master_log_file: Option<String>,
    /// The directory holding the server's binlogs (from `@@log_bin_basename`).
    pub binlog_dir: String,
    /// The server's base directory (`@@basedir`).
    pub basedir: String,
    /// Stream size in bytes.
    pub bytes: u64,
    /// Stream SHA-256, when computed.
    pub sha256: Option<String>,
    /// How long each of its steps took.
    pub timings: Timings,
}

/// What the server says of its own setup (directories, pid file, a
/// replica's relay position) before its backup starts.
struct ServerSetup {
    tmpdir: String,
    pid_file: String,
    binlog_dir: String,
    basedir: String,
    relay_master_log_file: Option<String>,
}

async fn server_setup(plan: &ServerPlan, endpoint: &Endpoint) -> Result<ServerSetup, BackupError> {
    let mut c = sql::connect(endpoint, plan.server.as_str()).await?;
    let rows = sql::query(
        &mut c,
        "SELECT @@tmpdir AS tmpdir, @@log_bin_basename AS binlog, @@basedir AS basedir, @@log_bin AS log_bin, @@pid_file AS pid_file",
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| server_err(plan, "the server answered no row for its variables"))?;
    if col(row, "log_bin") != Some("1") {
        return Err(server_err(
            plan,
            "binary logging is off (log_bin = 0): point-in-time recovery needs it",
        ));
    }
    let binlog = col(row, "binlog").unwrap_or_default();
    let binlog_dir = binlog
        .rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_default();
    let relay_master_log_file = if plan.role == Role::Replica {
        let rows = sql::query(&mut c, "SHOW SLAVE STATUS").await?;
        rows.first()
            .and_then(|r| col(r, "Relay_Master_Log_File"))
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
    } else {
        None
    };
    let facts = ServerSetup {
        pid_file: col(row, "pid_file").unwrap_or_default().to_owned(),
        tmpdir: col(row, "tmpdir")
            .unwrap_or("/tmp")
            .split(':')
            .next()
            .unwrap_or("/tmp")
            .to_owned(),
        binlog_dir,
        basedir: col(row, "basedir")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned(),
        relay_master_log_file,
    };
    let _ = c.close().await;
    Ok(facts)
}

/// `<tmpdir>/dbbackup-<backup>-<server>.<ext>`: the option file (`cnf`,
/// it holds the backup login's password) or the tool's log (`log`) of one
/// run on one server.
fn run_file(tmpdir: &str, backup: &BackupName, plan: &ServerPlan, ext: &str) -> String {
    format!("{tmpdir}/dbbackup-{backup}-{}.{ext}", plan.server)
}

/// After a failed or stopped run: removes its option file from each of
/// `servers` (the server step that would have was cancelled with the
/// run). The tool's log stays: the error names it.
pub async fn remove_option_files(run: &Run, servers: &[ServerPlan]) {
    let removals = servers.iter().map(|plan| async move {
        let removed = async {
            let cred = run
                .facts
                .credentials
                .get(&plan.server)
                .ok_or_else(|| server_err(plan, "no MySQL login for it"))?;
            let endpoint = Endpoint::new(
                plan.host.as_str(),
                plan.port,
                cred.user.as_str(),
                cred.password.expose(),
            );
            let tmpdir = server_setup(plan, &endpoint).await?.tmpdir;
            let host = run
                .hosts
                .host(
                    &plan.host,
                    &run.cfg.connect.server_login,
                    AgentType::DbInit,
                )
                .map_err(|e| server_err(plan, e.to_string()))?;
            let path = run_file(&tmpdir, &run.plan.name, plan, "cnf");
            ops::remove_file(&*host, &path)
                .await
                .map_err(|e| server_err(plan, e.to_string()))
        }
        .await;
        if let Err(e) = removed {
            tracing::warn!(server = %plan.server, error = %e, "could not remove the option file holding the backup login");
        }
    });
    futures::future::join_all(removals).await;
}

fn server_err(plan: &ServerPlan, detail: impl Into<String>) -> BackupError {
    BackupError::Server {
        server: plan.server.to_string(),
        address: plan.address(),
        detail: detail.into(),
    }
}

/// Backs up one server.
pub async fn backup_server(run: &Run, plan: &ServerPlan) -> Result<ServerResult, BackupError> {
    let cred = run
        .facts
        .credentials
        .get(&plan.server)
        .ok_or_else(|| server_err(plan, "no MySQL login for it in the router's config"))?;
    let endpoint = Endpoint::new(
        plan.host.as_str(),
        plan.port,
        cred.user.as_str(),
        cred.password.expose(),
    );
    let mut t = Timings::of(plan.server.as_str());
    run.server_step(plan, "reading its variables");
    let facts = t
        .time("reading its variables", server_setup(plan, &endpoint))
        .await?;
    // The next incremental starts from this backup's start checkpoint:
    // opt-in, since it changes a server global for a few seconds.
    if run.cfg.flush_before_backup {
        run.server_step(plan, "making InnoDB checkpoint");
        t.time(
            "making InnoDB checkpoint",
            checkpoint::catch_up(&endpoint, plan.server.as_str(), &run.store),
        )
        .await;
    }
    let host: Arc<dyn Transport> = run
        .hosts
        .host(&plan.host, &run.cfg.connect.server_login, AgentType::DbInit)
        .map_err(|e| server_err(plan, e.to_string()))?;
    let xerr = |e: xtrabackup::Error| server_err(plan, e.to_string());
    run.server_step(plan, "detecting the backup tool");
    // By pid file, not by port: a server started as root that dropped to
    // its user hides its sockets from `ss` for that user, not its cmdline.
    let ((tool, tool_took), (server_cnf, cnf_took)) = tokio::try_join!(
        timed(ops::detect_tool(&*host, &run.cfg.xtrabackup_bin)),
        timed(ops::server_defaults_file_by_pid_file(
            &*host,
            &facts.pid_file
        )),
    )
    .map_err(xerr)?;
    t.record("detecting the backup tool", tool_took);
    t.record("finding its option file", cnf_took);
    let files = RunFiles {
        dir: format!("{}/{}", run.plan.name, plan.dir),
        wrapper: run_file(&facts.tmpdir, &run.plan.name, plan, "cnf"),
        log_file: run_file(&facts.tmpdir, &run.plan.name, plan, "log"),
        tmpdir: facts.tmpdir.clone(),
    };
    remove_killed_runs_files(run, plan, &host, &facts.tmpdir).await;
    let RunFiles {
        dir,
        wrapper,
        log_file,
        ..
    } = &files;

    let login = ClientDefaults {
        server_defaults_file: server_cnf.clone(),
        user: cred.user.clone(),
        password: zeroize::Zeroizing::new(cred.password.expose().to_owned()),
    };
    ops::write_client_defaults(&*host, &login, wrapper)
        .await
        .map_err(xerr)?;
    // my.conf and the topology markers (a few KiB) while the stream flows.
    let copy_conf = copy_conf_and_markers(run, plan, &host, &server_cnf, dir);
    let stream = stream_with_retry(run, plan, &endpoint, &host, tool, &files);
    run.server_step(plan, "streaming the backup");
    let joined = tokio::try_join!(timed(copy_conf), timed(stream));
    if let Err(e) = ops::remove_file(&*host, wrapper).await {
        tracing::warn!(server = %plan.server, file = %wrapper, error = %e, "could not remove the option file holding the backup login");
    }
    let (((), conf_took), (report, stream_took)) = joined?;
    t.record("copying my.conf", conf_took);
    t.record("streaming the backup", stream_took);

    run.server_step(plan, "reading the tool's log");
    let log = t
        .time(
            "reading the tool's log",
            save_tool_log(run, plan, &host, &files),
        )
        .await?;
    let mut result = record(plan, &log, facts, report)?;
    run.store
        .write_file(
            &format!("{dir}/executed_gtids"),
            format!("{}\n", result.executed_gtids),
        )
        .await?;
    let _ = ops::remove_file(&*host, log_file).await;
    result.timings = t;
    Ok(result)
}

/// Where one server's backup keeps its files: on the store (`dir`) and in
/// the server's tmpdir (the option file with the login, the tool's log).
struct RunFiles {
    /// `<backup>/<server dir>` on the store.
    dir: String,
    /// The 0600 option file carrying the backup login.
    wrapper: String,
    /// The tool's log.
    log_file: String,
    /// The server's tmpdir.
    tmpdir: String,
}

/// A run killed mid-way never removes its option file (it holds the
/// backup login's password) nor its log: removes those of the bad backups
/// this run moved away, whose runs are dead. Best effort, warned.
async fn remove_killed_runs_files(
    run: &Run,
    plan: &ServerPlan,
    host: &Arc<dyn Transport>,
    tmpdir: &str,
) {
    for bad in &run.plan.cleaned {
        for ext in ["cnf", "log"] {
            let path = run_file(tmpdir, bad, plan, ext);
            if let Err(e) = ops::remove_file(&**host, &path).await {
                tracing::warn!(server = %plan.server, file = %path, error = %e, "could not remove a killed run's file");
            }
        }
    }
}

/// Reads the tool's log on the server, saves it to the store beside the
/// stream, and fails naming the saved copy when the tool failed.
async fn save_tool_log(
    run: &Run,
    plan: &ServerPlan,
    host: &Arc<dyn Transport>,
    files: &RunFiles,
) -> Result<BackupLog, BackupError> {
    let (log, text) = ops::read_log(&**host, &files.log_file)
        .await
        .map_err(|e| server_err(plan, e.to_string()))?;
    let saved = format!("{}/{LOG_FILE}", files.dir);
    run.store.write_file(&saved, text.into_bytes()).await?;
    if let Some(failure) = log.failure() {
        return Err(server_err(
            plan,
            format!(
                "the backup tool failed ({failure}); log saved to {}",
                run.store_path(&saved)
            ),
        ));
    }
    Ok(log)
}

/// Copies the server's option file to `<dir>/my.conf` on the store (read
/// over the transport) and writes the topology marker.
async fn copy_conf_and_markers(
    run: &Run,
    plan: &ServerPlan,
    host: &Arc<dyn Transport>,
    server_cnf: &str,
    dir: &str,
) -> Result<(), BackupError> {
    let step = format!("copying {server_cnf}");
    let out = host
        .exec(
            &remote::Command::new("cat").arg("--").arg(server_cnf),
            Duration::from_secs(60),
        )
        .await
        .map_err(|e| server_err(plan, format!("{step}: {e}")))?;
    if !out.success() {
        return Err(server_err(
            plan,
            format!("{step}: {}", out.stderr_str().trim()),
        ));
    }
    run.store
        .write_file(&format!("{dir}/my.conf"), out.stdout)
        .await?;
    write_topology_marker(run, plan, dir).await
}

async fn stream_with_retry(
    run: &Run,
    plan: &ServerPlan,
    endpoint: &Endpoint,
    host: &Arc<dyn Transport>,
    tool: xtrabackup::Tool,
    files: &RunFiles,
) -> Result<stream::TransferReport, BackupError> {
    let RunFiles {
        dir,
        wrapper,
        log_file,
        tmpdir,
    } = files;
    let mut opts = BackupOptions::new(tool, wrapper, tmpdir, log_file);
    opts.slave_info = plan.role == Role::Replica;
    opts.incremental_from = plan.incremental_from.map(Lsn);
    if let Some(threads) = run.plan.compress_threads {
        opts.compression = Compression::Zstd { threads };
    }
    let source = Source::command(remote::Command::shell(opts.pipeline().snippet()));
    let sink = run.store_path(&format!("{dir}/{STREAM_FILE}"));
    let mut detector = LockDetector::connect(
        endpoint,
        Duration::from_secs(run.cfg.ftwrl_dead_lock_seconds.max(1)),
        crate::sql::CONNECT_TIMEOUT,
    )
    .await
    .map_err(|e| server_err(plan, e.to_string()))?
    .only_user(endpoint.user.clone());
    xtrabackup::retry_on_lock_deadlock(&mut detector, run.cfg.ftwrl_dead_lock_retry, async |n| {
        if n > 1 {
            tracing::info!(server = %plan.server, attempt = n, "retrying the backup after a lock dead-lock");
        }
        let progress = crate::run::ServerProgress { run, server: plan };
        run.transfer_reporting(host, &source, &sink, &progress)
            .await
    })
    .await
    .map_err(|e| server_err(plan, format!("{e}; the tool's log is {log_file} on {}", plan.host)))
}

/// What the backup contains: the GTID of its binlog position (with
/// log-slave-updates a replica's own binlog holds what it applied), else,
/// when that is absent or empty (a replica without log-slave-updates), the
/// replica's `gtid_slave_pos`.
fn contained_gtids(log: &BackupLog) -> String {
    let own = log.binlog.as_ref().and_then(|b| b.gtid.as_deref());
    let applied = log.slave.as_ref().and_then(|s| s.gtid.as_deref());
    [own, applied]
        .into_iter()
        .flatten()
        .find(|g| !g.trim().is_empty())
        .unwrap_or_default()
        .to_owned()
}

fn record(
    plan: &ServerPlan,
    log: &BackupLog,
    facts: ServerSetup,
    report: stream::TransferReport,
) -> Result<ServerResult, BackupError> {
    let lsn = log
        .checkpoint
        .ok_or_else(|| server_err(plan, "the backup log has no checkpoint LSN"))?;
    let binlog = log
        .binlog
        .clone()
        .ok_or_else(|| server_err(plan, "the backup log has no binlog position"))?;
    let executed_gtids = contained_gtids(log);
    Ok(ServerResult {
        plan: plan.clone(),
        lsn: lsn.0,
        binlog_file: binlog.file,
        binlog_pos: binlog.position,
        executed_gtids,
        relay_master_log_file: facts.relay_master_log_file,
        binlog_dir: facts.binlog_dir,
        basedir: facts.basedir,
        bytes: report.bytes,
        sha256: report.sha256,
        timings: Timings::default(),
    })
}

/// `master_dir` in a replica's directory (the master's directory name, as
/// recovery finds the master's binlogs there); `master_slave` in a master's
/// (its replicas' `host:port`s).
async fn write_topology_marker(run: &Run, plan: &ServerPlan, dir: &str) -> Result<(), BackupError> {
    let cluster = &run.facts.cluster;
    let Some(ds) = cluster.datasource(plan.datasource.as_str()) else {
        return Ok(());
    };
    let Some(master) = cluster.server(ds.master.as_str()) else {
        return Ok(());
    };
    match plan.role {
        Role::Replica => {
            let master_dir = store::layout::server_dir(
                ds.name.as_str(),
                master.name.as_str(),
                &master.host,
                master.port,
            );
            run.store
                .write_file(&format!("{dir}/master_dir"), format!("{master_dir}\n"))
                .await?;
        }
        Role::Master => {
            let slaves: Vec<(String, u16)> = ds
                .replicas
                .iter()
                .filter_map(|r| cluster.server(r.as_str()))
                .map(|s| (s.host.clone(), s.port))
                .collect();
            let text = binlog::MasterSlave {
                master: (master.host.clone(), master.port),
                slaves,
            }
            .to_string();
            run.store
                .write_file(&format!("{dir}/master_slave"), text)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xtrabackup::{BinlogPosition, SlavePosition};

    fn log(own: Option<&str>, applied: Option<&str>) -> BackupLog {
        BackupLog {
            binlog: Some(BinlogPosition {
                file: "mysql-bin.000003".into(),
                position: 385,
                gtid: own.map(str::to_owned),
            }),
            slave: applied.map(|g| SlavePosition {
                raw: format!("gtid_slave_pos '{g}'"),
                gtid: Some(g.to_owned()),
                master_log_file: None,
                master_log_pos: None,
            }),
            ..BackupLog::default()
        }
    }

    #[test]
    fn the_binlog_gtid_wins_and_an_empty_one_falls_back_to_the_slave_position() {
        assert_eq!(contained_gtids(&log(Some("0-1-9"), Some("0-1-7"))), "0-1-9");
        // A replica without log-slave-updates: its own binlog is empty.
        assert_eq!(contained_gtids(&log(Some(""), Some("0-1-7"))), "0-1-7");
        assert_eq!(contained_gtids(&log(None, Some("0-1-7"))), "0-1-7");
        assert_eq!(contained_gtids(&log(Some(""), None)), "");
    }
}
