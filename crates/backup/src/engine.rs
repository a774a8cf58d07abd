//! The run itself: gather facts, plan, then execute step by step. Every
//! step writes under the new backup's directory, and `ok` comes last, so a
//! run that dies at any point leaves a directory the next run moves to
//! trash.

use crate::error::BackupError;
use crate::facts::{self, Facts};
use crate::finish;
use crate::password;
use crate::plan::{BackupPlan, ServerPlan, plan_reaching_servers};
use crate::run::Run;
use crate::run_lock::{lock_store, release};
use crate::server::{ServerResult, backup_server};
use futures::StreamExt as _;
use remote::Connector;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{BadBackups, RunLock, Store};
use stream::{Registry, StopReason, StreamConfig, Streamer, Watchdog, WatchdogConfig};
use stream::{Timings, timed};
use zeroize::Zeroizing;

/// How a run is asked for (beyond `backup.conf`).
#[derive(Default)]
pub struct Options {
    /// `-p`: encrypt, and check the chain's password.
    pub password: Option<Zeroizing<String>>,
    /// How many servers stream at once (default: all of them, as the seed).
    pub parallel: Option<usize>,
    /// Plan only: the store's bad backups are reported, not moved.
    pub dry_run: bool,
    /// Told when each step of [`execute`] starts.
    pub observer: Option<Arc<dyn StepObserver>>,
    /// How often a stream's receiving end reports its bytes to the
    /// observer (default 1 s).
    pub progress_every: Option<Duration>,
}

/// Watches a run's steps (progress display, tests that act at a step).
pub trait StepObserver: Send + Sync {
    /// `step` of the backup `backup` starts now: `servers`, `consistence
    /// point`, `binlogs, base directories and config`, `encryption` (with
    /// `-p`), `manifest`, `completeness check`, `marking ok`.
    fn starting(&self, backup: binlog::BackupName, step: &str);

    /// `server`'s own step `step` starts: `reading its variables`,
    /// `detecting the backup tool`, `streaming the backup`, `reading the
    /// tool's log`, then `done` when its part of the run has ended.
    fn server_step(&self, _server: &ServerPlan, _step: &str) {}

    /// `server`'s stream holds `bytes` on the store so far: the receiving
    /// end's own count, about once a second while it flows and once more,
    /// exact, when it ends (no extra read of the data).
    fn server_bytes(&self, _server: &ServerPlan, _bytes: u64) {}
}

impl Options {
    fn starting(&self, backup: binlog::BackupName, step: &str) {
        tracing::debug!(%backup, step, "step starts");
        if let Some(o) = &self.observer {
            o.starting(backup, step);
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("parallel", &self.parallel)
            .field("dry_run", &self.dry_run)
            .field("observer", &self.observer.as_ref().map(|_| "<observer>"))
            .field("progress_every", &self.progress_every)
            .finish()
    }
}

/// A planned run, ready to execute (or to print for `--dry-run`).
pub struct Prepared {
    pub(crate) run: Run,
    options: Options,
    started: Instant,
    pub(crate) timings: Timings,
    /// The store's run lock (none for a dry run).
    pub(crate) lock: Option<RunLock>,
}

impl Prepared {
    /// The plan.
    pub fn plan(&self) -> &BackupPlan {
        &self.run.plan
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The plan it carried out.
    pub plan: BackupPlan,
    /// Bytes streamed from the servers.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The consistence point written in `consistent_point_datetime`
    /// (`YYYY-mm-dd HH:MM:SS`, the servers' local time).
    pub consistence_point: String,
    /// What went wrong beside the backup without failing it (the caller
    /// adds its own, such as a catalog record not written); a summary
    /// prints them. The engine leaves it empty.
    pub warnings: Vec<String>,
    /// Each server's part, in plan order.
    pub servers: Vec<ServerOutcome>,
}

/// What one server's part of a finished run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOutcome {
    /// The server's plan (name, datasource, role, incremental or full).
    pub plan: ServerPlan,
    /// Bytes of its stream on the store.
    pub bytes: u64,
    /// Wall time of its part, from its first step to its stream's end.
    pub elapsed: Duration,
}

/// Reads the router and the store and makes the plan. Writes nothing but
/// the store's bad-backup cleanup (as the seed does before deciding).
/// Unless it is a dry run, it first takes the store's run lock (see
/// [`store::lock`]), held until [`execute`] ends: a second run against the
/// same store is refused, naming this one.
pub async fn prepare(cfg: conf::BackupConfig, options: Options) -> Result<Prepared, BackupError> {
    let mut lock = None;
    // `max-time-sec` counts from here: a router or host that hangs while
    // the run plans stops it too. Nothing remote runs yet but the plan's
    // own commands, which end with their futures.
    let started = Instant::now();
    let watchdog = Watchdog::start_at(Registry::new(), watchdog_config(&cfg), started);
    let token = watchdog.token();
    let planned = tokio::select! {
        r = prepare_locked(cfg, options, &mut lock, started) => r,
        () = token.cancelled() => Err(BackupError::Stopped(format!(
            "{} while planning",
            watchdog.reason().map(|r| r.to_string()).unwrap_or_else(|| "stopped".into())
        ))),
    };
    watchdog.finish().await;
    match planned {
        Ok(mut prepared) => {
            prepared.lock = lock;
            Ok(prepared)
        }
        Err(e) => {
            release(lock).await;
            Err(e)
        }
    }
}

async fn prepare_locked(
    cfg: conf::BackupConfig,
    options: Options,
    lock: &mut Option<RunLock>,
    started: Instant,
) -> Result<Prepared, BackupError> {
    let mut t = Timings::default();
    let now = chrono::Utc::now();
    let hosts = connector(&cfg)?;
    let store = open_store(&cfg, &hosts)?;
    let today = now.with_timezone(&chrono::Local).date_naive();
    let run_id = now.format("UTC%Y%m%d%H%M%S%.3f").to_string();
    // The store and the router are independent: read both at once (each
    // starts with a first contact, an ssh handshake on its host).
    let store_side = timed(read_store_side(&cfg, &options, &store, lock, today));
    let mut warm_ups = Vec::new();
    let router_side = timed(facts::read_router(&cfg, &hosts, &run_id, |cluster| {
        warm_ups = warm_up(cluster, &cfg, &hosts);
    }));
    // Both sides run to their end even when one fails: the router side
    // removes the config flush it made (it holds passwords) only when it
    // is not cancelled half-way.
    let (store_side, router_side) = tokio::join!(store_side, router_side);
    let (
        (
            StoreSide {
                socat_log,
                cleanup,
                last,
            },
            store_took,
        ),
        ((cluster, credentials, router_conf, router_basedir), router_took),
    ) = match (store_side, router_side) {
        (Ok(store), Ok(router)) => (store, router),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
        (Err(store_error), Err(router_error)) => {
            tracing::warn!(error = %router_error, "reading the router failed too");
            return Err(store_error);
        }
    };
    t.record("reading the router", router_took);
    t.record("reading the store", store_took);
    let mut facts = Facts {
        cluster,
        credentials,
        router_conf,
        router_basedir,
        cleanup,
        last,
        unreachable: Default::default(),
    };
    let store_label = format!("{}:{}", cfg.store.host.host, store.dir());
    let (cluster, credentials) = (facts.cluster.clone(), facts.credentials.clone());
    let reach = |among: std::collections::BTreeSet<topology::ServerName>| {
        let (cluster, credentials, hosts) = (&cluster, &credentials, &hosts);
        let login = &cfg.connect.server_login;
        async move { facts::unreachable_servers(cluster, &among, credentials, hosts, login).await }
    };
    let mut plan = t
        .time(
            "reaching the servers",
            plan_reaching_servers(
                &mut facts,
                &cfg,
                now.naive_utc(),
                options.password.is_some(),
                &store_label,
                reach,
            ),
        )
        .await?;
    // Each warm-up ended with its host's first contact in the plan step.
    for w in warm_ups {
        w.abort();
    }
    plan.dry_run = options.dry_run;
    plan.precheck = Some(
        t.time(
            "pre-checks",
            crate::precheck::run(&cfg, &facts, &plan, &hosts, &store),
        )
        .await?,
    );
    let mut stream_cfg = stream_config(&cfg, socat_log);
    if let Some(every) = options.progress_every {
        stream_cfg.progress_every = every;
    }
    let registry = Registry::new();
    let streamer = Streamer::new(stream_cfg, registry);
    Ok(Prepared {
        run: Run {
            cfg,
            hosts,
            store,
            streamer,
            facts,
            plan,
            observer: options.observer.clone(),
        },
        options,
        started,
        timings: t,
        lock: None,
    })
}

/// What the store says before a run.
struct StoreSide {
    /// Where today's socat logs go.
    socat_log: String,
    /// What bad backups were (or, in a dry run, would be) moved away.
    cleanup: store::Cleanup,
    /// The last good backup, if any.
    last: Option<facts::LastBackup>,
}

/// Reaches the store, takes its run lock (not in a dry run), prepares
/// today's socat log directory, moves bad backups away (a dry run only
/// says which) and reads the last good backup, checking the password
/// against it.
async fn read_store_side(
    cfg: &conf::BackupConfig,
    options: &Options,
    store: &Store,
    lock: &mut Option<RunLock>,
    today: chrono::NaiveDate,
) -> Result<StoreSide, BackupError> {
    store
        .transport()
        .ping()
        .await
        .map_err(|e| BackupError::PreCheck(format!("backup store {}: {e}", cfg.store.host.host)))?;
    if !options.dry_run {
        *lock = Some(lock_store(store).await?);
    }
    let socat_log = if options.dry_run {
        stream::socat_log_dir(store.dir(), today)
    } else {
        store.prepare(today).await?
    };
    let policy = match (options.dry_run, cfg.store_bad_backup) {
        (true, _) => None,
        (false, true) => Some(BadBackups::Trash),
        (false, false) => Some(BadBackups::Remove),
    };
    let (cleanup, last) = facts::read_store(store, policy).await?;
    password::check(
        store,
        last.as_ref(),
        options.password.as_deref().map(String::as_str),
    )
    .await?;
    Ok(StoreSide {
        socat_log,
        cleanup,
        last,
    })
}

/// How a run's streams go, from `[misc]`: the socat ports and how often a
/// busy one is bumped (`socat-retry-count`), files by scp to the store's
/// login with `using-scp` (as the seed's `transfer_file_in_conn`), and the
/// manifest's digests.
pub(crate) fn stream_config(cfg: &conf::BackupConfig, socat_log: String) -> StreamConfig {
    let mut stream_cfg = StreamConfig::new(cfg.socat.port, cfg.socat.port2, socat_log);
    stream_cfg.retry_count = cfg.socat.retry_count;
    stream_cfg.scp = cfg.socat.using_scp.then(|| stream::ScpConfig {
        user: cfg.store.host.login.user.clone(),
        port: cfg.store.host.login.port,
        identity: cfg.store.scp_identity.clone(),
        known_hosts: cfg.store.scp_known_hosts.clone(),
    });
    // The manifest's digests, of what the store holds: taken by the
    // native receiver as it writes, or (socat) each stream read back once
    // written, from the page cache (a tee on a busy 2-core store cost more
    // than the hash itself).
    stream_cfg.checksum = stream::Checksum::Stored;
    stream_cfg.receiver = stream::Receiver::native_or_socat(
        cfg.socat.receiver == conf::ReceiverKind::Native,
        &cfg.socat.receiver_bin,
    );
    stream_cfg
}

/// The `max-time-sec` watchdog's settings (no limit when unset): the
/// config file re-read by `conf`'s own reader, as the seed re-reads it.
pub(crate) fn watchdog_config(cfg: &conf::BackupConfig) -> WatchdogConfig {
    let max_time = cfg.max_time_sec.map_or(
        Duration::from_secs(100 * 365 * 24 * 3600),
        Duration::from_secs,
    );
    let file = cfg.file.clone();
    let reread: stream::Reread = std::sync::Arc::new(move || {
        conf::Ini::load(&file)
            .and_then(|ini| conf::max_time_sec(&ini))
            .map_err(|e| e.to_string())
    });
    WatchdogConfig::new(cfg.file.display().to_string(), max_time, reread)
}

/// Carries out a prepared plan. A failure (or `max-time-sec`) stops every
/// remote command the run started, and leaves no `ok`.
pub async fn execute(prepared: Prepared) -> Result<Outcome, BackupError> {
    let Prepared {
        run,
        options,
        started,
        timings,
        lock,
    } = prepared;
    // A run killed while a server flushed left it flushing hard: put back
    // first (under this run's lock, so no other run is flushing now).
    let warnings = crate::checkpoint::repair_left_over(&run).await;
    let result = supervise(
        &run,
        started,
        &run.plan.servers,
        steps(&run, &options, timings, started),
    )
    .await;
    release(lock).await;
    let (bytes, consistence_point, servers) = result?;
    Ok(Outcome {
        plan: run.plan.clone(),
        bytes,
        elapsed: started.elapsed(),
        consistence_point,
        warnings,
        servers,
    })
}

/// Runs `work` (steps of `run`) under the `max-time-sec` watchdog counted
/// from `started`. A failure (or the watchdog) stops every remote command
/// the run started and removes the option files of `servers` (those whose
/// backups it ran).
pub(crate) async fn supervise<T>(
    run: &Run,
    started: Instant,
    servers: &[crate::plan::ServerPlan],
    work: impl std::future::Future<Output = Result<T, BackupError>>,
) -> Result<T, BackupError> {
    let registry = run.streamer.registry().clone();
    let watchdog = Watchdog::start_at(registry.clone(), watchdog_config(&run.cfg), started);
    let token = watchdog.token();
    let result = tokio::select! {
        r = work => r,
        () = token.cancelled() => Err(BackupError::Stopped(
            watchdog.reason().map(|r| r.to_string()).unwrap_or_else(|| "stopped".into()),
        )),
    };
    if let Err(e) = &result
        && registry.stop_reason().is_none()
    {
        let failed = registry.stop(StopReason::StepFailed(e.to_string())).await;
        for (entry, err) in failed {
            tracing::warn!(?entry, error = %err, "could not stop a remote command");
        }
    }
    if result.is_err() && !servers.is_empty() {
        crate::server::remove_option_files(run, servers).await;
    }
    watchdog.finish().await;
    result
}

/// Creates the backup directory and the directories of `servers` in it
/// (a server's stream and its small files arrive at once).
pub(crate) async fn create_backup_dirs(
    run: &Run,
    servers: &[crate::plan::ServerPlan],
) -> Result<(), BackupError> {
    let name = run.plan.name;
    run.store
        .run(
            "creating the backup directory",
            remote::Command::new("mkdir")
                .arg("-p")
                .arg("--")
                .arg(run.store_path(&name.to_string()))
                .args(
                    servers
                        .iter()
                        .map(|s| run.store_path(&format!("{name}/{}", s.dir))),
                ),
        )
        .await?;
    Ok(())
}

async fn steps(
    run: &Run,
    options: &Options,
    mut t: Timings,
    started: Instant,
) -> Result<(u64, String, Vec<ServerOutcome>), BackupError> {
    let name = run.plan.name;
    if run.cfg.log_audit {
        t.time("audit start", audit(run, "DBSCALE START BACKUP"))
            .await?;
    }
    create_backup_dirs(run, &run.plan.servers).await?;
    // Every server at once by default, as the seed does.
    let parallel = options.parallel.unwrap_or(run.plan.servers.len()).max(1);
    options.starting(name, "servers");
    let mut timed_results: Vec<(ServerResult, Duration)> = t
        .time("servers", async {
            let mut results = Vec::new();
            let mut running = futures::stream::iter(run.plan.servers.iter())
                .map(|s| async move {
                    let done = timed(backup_server(run, s)).await;
                    run.server_step(s, "done");
                    done
                })
                .buffer_unordered(parallel);
            while let Some(r) = running.next().await {
                results.push(r?);
            }
            Ok::<_, BackupError>(results)
        })
        .await?;
    let order: Vec<&str> = run.plan.servers.iter().map(|s| s.server.as_str()).collect();
    timed_results.sort_by_key(|(r, _)| order.iter().position(|s| *s == r.plan.server.as_str()));
    let servers = timed_results
        .iter()
        .map(|(r, took)| ServerOutcome {
            plan: r.plan.clone(),
            bytes: r.bytes,
            elapsed: *took,
        })
        .collect();
    let results: Vec<ServerResult> = timed_results.into_iter().map(|(r, _)| r).collect();
    let (bytes, point) = cluster_steps(run, options, &results, t, started).await?;
    Ok((bytes, point, servers))
}

/// The cluster-level steps after every server's stream, run once over all
/// servers' results (in plan order): the global consistence point, the
/// binlog copies, the base directories (full backups), the config, the
/// encryption (with a password), the manifest, the completeness check, and
/// `ok` last. Returns the bytes the servers streamed and the consistence
/// point written in `consistent_point_datetime`.
pub(crate) async fn cluster_steps(
    run: &Run,
    options: &Options,
    results: &[ServerResult],
    mut t: Timings,
    started: Instant,
) -> Result<(u64, String), BackupError> {
    let name = run.plan.name;
    options.starting(name, "consistence point");
    let points = t
        .time("consistence point", finish::consistence_point(run))
        .await?;
    let point = finish::record_consistence(run, &points, results).await?;
    options.starting(name, "binlogs, base directories and config");
    finish::copy_binlogs_bases_and_config(run, &points, results, &mut t).await?;
    let mut tarball_files = Default::default();
    if options.password.is_some() {
        options.starting(name, "encryption");
        tarball_files = t
            .time("encryption", crate::encrypt::encrypt(run, options))
            .await?;
    }
    options.starting(name, "manifest");
    let manifest = finish::write_manifest(run, results, tarball_files, t, started).await?;
    if run.cfg.log_audit {
        audit(run, "DBSCALE END BACKUP").await?;
    }
    options.starting(name, "completeness check");
    finish::check_complete(run, &manifest, results).await?;
    options.starting(name, "marking ok");
    run.store.mark_ok(name).await?;
    Ok((results.iter().map(|r| r.bytes).sum(), point))
}

/// Starts the first contact (for ssh: the handshake) with the hosts a plan
/// will most likely reach, in the background as soon as the topology is
/// known: every master and the replicas a full backup would choose. The
/// plan step reaches the servers it needs for real (and reuses these
/// connections); a warm-up's own result is not used.
fn warm_up(
    cluster: &topology::Cluster,
    cfg: &conf::BackupConfig,
    hosts: &Connector,
) -> Vec<tokio::task::JoinHandle<()>> {
    let chosen: Vec<topology::ServerName> = topology::select(
        cluster,
        &cfg.selection,
        &Default::default(),
        &topology::BackupRequest::Full,
    )
    .map(|s| s.to_backup().map(|c| c.server.clone()).collect())
    .unwrap_or_default();
    let likely = crate::plan::servers_to_reach(cluster, &chosen);
    let mut addresses: Vec<&str> = cluster
        .members()
        .filter(|m| likely.contains(&m.server.name))
        .map(|m| m.server.host.as_str())
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses
        .into_iter()
        .filter_map(|host| {
            hosts
                .host(host, &cfg.connect.server_login, remote::AgentType::DbInit)
                .ok()
        })
        .map(|t| {
            tokio::spawn(async move {
                let _ = t.ping().await;
            })
        })
        .collect()
}

pub(crate) async fn audit(run: &Run, statement: &str) -> Result<(), BackupError> {
    let cfg = &run.cfg;
    let ep = router::Endpoint::new(
        cfg.router.host.as_str(),
        cfg.router.port,
        cfg.router.user.as_str(),
        cfg.router.password.as_str(),
    );
    let mut c = crate::sql::connect(&ep, "the router").await?;
    crate::sql::query(&mut c, statement).await?;
    let _ = c.close().await;
    Ok(())
}

pub(crate) fn connector(cfg: &conf::BackupConfig) -> Result<Connector, BackupError> {
    Connector::new(cfg.connect.config.clone()).map_err(|e| BackupError::PreCheck(e.to_string()))
}

/// The store of `cfg`, reached through `hosts`.
pub(crate) fn open_store(
    cfg: &conf::BackupConfig,
    hosts: &Connector,
) -> Result<Store, BackupError> {
    let t = hosts
        .host_with_login(&cfg.store.host)
        .map_err(|e| BackupError::host(&cfg.store.host.host, "connecting", e))?;
    Ok(Store::new(
        t,
        cfg.store.dir.display().to_string(),
        cfg.connect.command_timeout,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(misc: &str) -> conf::BackupConfig {
        let text = format!(
            "[misc]\nsocat-port = 45509\nsocat-port2 = 45514\nconnect-method = ssh\n{misc}\n\
             [cluster]\nip = 10.1.2.4\nuser = admin\nport = 16310\npassword = pw\n\
             [server-ssh-info]\nuser = dbsbk\npassword = pw\nport = 22\n\
             [backup-store]\nip = 10.1.2.5\nport = 22\nuser = dbsbk\npassword = pw\n\
             dir = /data/backup_dir\n"
        );
        let ini = conf::Ini::parse(&text, std::path::Path::new("backup.conf")).unwrap();
        conf::BackupConfig::from_ini(&ini).unwrap()
    }

    #[test]
    fn streams_bump_a_busy_port_as_often_as_socat_retry_count_says() {
        let s = stream_config(&config("socat-retry-count = 0"), "log".into());
        assert_eq!(s.retry_count, 0);
        let s = stream_config(&config("socat-retry-count = 3"), "log".into());
        assert_eq!(
            (s.retry_count, s.socat_port, s.socat_port2),
            (3, 45509, 45514)
        );
        let s = stream_config(&config(""), "log".into());
        assert_eq!(s.retry_count, 10, "the seed's default");
        assert_eq!(s.scp, None);
    }

    #[test]
    fn using_scp_sends_files_to_the_stores_login() {
        let s = stream_config(&config("using-scp ="), "log".into());
        assert_eq!(
            s.scp,
            Some(stream::ScpConfig {
                user: "dbsbk".into(),
                port: 22,
                identity: None,
                known_hosts: None,
            })
        );
    }
}
