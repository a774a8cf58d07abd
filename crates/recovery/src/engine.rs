//! The run: plan (read the store, choose the chain, plan the replay), then
//! execute (pre-checks on the job server, ship the chain, restore every
//! datasource in parallel).

use crate::ds_info::{self, DsInfo};
use crate::error::RecoveryError;
use crate::facts::Reader;
use crate::observe::{Observer, Watch};
use crate::plan::RecoveryPlan;
use crate::restore::{Restore, Restored, ServerBinary};
use crate::{precheck, server_binary, ship, space};
use binlog::{BackupName, RecoverTarget, select_chain};
use conf::RecoverTo;
use futures::StreamExt as _;
use remote::{Connector, Transport};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Owner, RunLock, Store, layout};
use zeroize::Zeroizing;

/// How a recovery is asked for (beyond `recovery.conf`).
#[derive(Default)]
pub struct Options {
    /// `-p`: the chain's encryption password.
    pub password: Option<Zeroizing<String>>,
    /// How many datasources restore at once (default 4).
    pub parallel: Option<usize>,
    /// Parallel replication workers of each temporary server's SQL-thread
    /// replay (default [`DEFAULT_REPLAY_WORKERS`]; 0: the SQL thread alone).
    pub replay_workers: Option<usize>,
    /// Do not check the chain's files against their manifests before
    /// preparing (`dbrecover --no-verify`).
    pub skip_verify: bool,
    /// Told of the run's steps, the bytes shipped and each datasource's
    /// steps (a progress display).
    pub observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("parallel", &self.parallel)
            .field("replay_workers", &self.replay_workers)
            .field("skip_verify", &self.skip_verify)
            .field("observer", &self.observer.as_ref().map(|_| "<observer>"))
            .finish()
    }
}

/// Parallel replication workers per datasource's replay unless asked
/// otherwise: none. On two cores the SQL thread alone measured fastest
/// (`cargo xtask bench replay`, docs/benchmarks.md: handing ~80,000 small
/// transactions to workers and committing them in order costs more than a
/// second core gains); workers pay on a job server with cores to spare.
pub const DEFAULT_REPLAY_WORKERS: usize = 0;

/// A planned recovery.
pub struct Prepared {
    cfg: conf::RecoveryConfig,
    options: Options,
    store: Store,
    job: Arc<dyn Transport>,
    plan: RecoveryPlan,
    /// The chain's manifests, read while planning.
    manifests: std::collections::BTreeMap<BackupName, store::manifest::Manifest>,
    started: Instant,
    _warm_up: WarmUp,
}

/// A first contact with the job server (its ssh handshake is a good part
/// of a small recovery's fixed cost), made while the store is read when
/// the two are different hosts; later commands share the connection.
/// Aborted when the plan is dropped without being carried out.
struct WarmUp(Option<tokio::task::JoinHandle<()>>);

impl WarmUp {
    fn start(job: &Arc<dyn Transport>, store_host: &str) -> WarmUp {
        if job.host() == store_host {
            return WarmUp(None);
        }
        let job = Arc::clone(job);
        WarmUp(Some(tokio::spawn(async move {
            // A failure shows again, with its context, at the pre-checks.
            let _ = job.ping().await;
        })))
    }
}

impl Drop for WarmUp {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

impl Prepared {
    /// The plan (`--dry-run` prints it).
    pub fn plan(&self) -> &RecoveryPlan {
        &self.plan
    }
}

/// What a finished recovery left.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The plan carried out.
    pub plan: RecoveryPlan,
    /// Per datasource, its restored data directory on the job server.
    pub restored: Vec<Restored>,
    /// For a point-in-time recovery, the `ds_info` file written for the PIT
    /// tool (`None` otherwise, or when it could not be written: a warning
    /// says why; the data is recovered either way, as in the seed).
    pub ds_info: Option<DsInfo>,
    /// The server program the temporary servers ran.
    pub server: String,
    /// Wall time.
    pub elapsed: Duration,
    /// How long each step of the run took (each datasource's own steps are
    /// in [`Restored::timings`]).
    pub timings: stream::Timings,
    /// What went wrong beside the recovery without failing it (the caller
    /// adds its own, such as a catalog record not written); a summary
    /// prints them. The engine leaves it empty.
    pub warnings: Vec<String>,
}

/// Reads the store and plans; touches nothing.
pub async fn prepare(
    cfg: conf::RecoveryConfig,
    options: Options,
) -> Result<Prepared, RecoveryError> {
    let started = Instant::now();
    let hosts = Connector::new(cfg.connect.config.clone())
        .map_err(|e| RecoveryError::PreCheck(e.to_string()))?;
    let store_t = hosts
        .host_with_login(&cfg.store.host)
        .map_err(|e| RecoveryError::host(&cfg.store.host.host, "connecting", e))?;
    let job = hosts
        .host_with_login(&cfg.job_server.host)
        .map_err(|e| RecoveryError::host(&cfg.job_server.host.host, "connecting", e))?;
    let warm_up = WarmUp::start(&job, &cfg.store.host.host);
    let store = Store::new(
        store_t,
        cfg.store.dir.display().to_string(),
        cfg.connect.command_timeout,
    );
    let dirs = store.backup_dirs().await?;
    let chain = select_chain(&dirs, &recover_target(&cfg.recover_to)?)?;
    let encrypted = is_encrypted(&store, chain.target(), &options).await?;
    let manifests = space::manifests(&store, &chain.dirs_to_fetch()).await?;
    let reader = reader(&cfg, &store, &options, encrypted, &manifests);
    let target_facts = reader.facts(chain.target()).await?;
    let next_facts = match chain.next {
        Some(n) => Some(reader.facts(n).await?),
        None => None,
    };
    let apply = reader
        .plan(&chain, &target_facts, next_facts.as_ref())
        .await?;
    if !encrypted {
        // An encrypted chain's binlogs are inside its tarballs: checked on
        // the job server once shipped, still before any restore.
        precheck::stored_binlogs(&store, &apply).await?;
    }
    let target_name = match &cfg.recover_to {
        RecoverTo::Dir(d) => d.clone(),
        RecoverTo::StopDatetime(t) => t.replace([' ', ':', '-'], "_"),
    };
    let in_place = !encrypted && cfg.job_server.host.host == cfg.store.host.host;
    let mut plan = RecoveryPlan {
        apply,
        encrypted,
        store: format!("{}:{}", cfg.store.host.host, store.dir()),
        job_host: cfg.job_server.host.host.clone(),
        job_dir: format!("{}/{target_name}", cfg.job_server.work_dir.display()),
        in_place,
        first_port: cfg.server_tmp_port,
        space: Default::default(),
        compressed: false,
    };
    let sizes = space::measure(&store, &plan, &manifests).await?;
    plan.space = space::estimate(&plan, &sizes);
    plan.compressed = sizes.values().any(|s| s.compressed);
    Ok(Prepared {
        cfg,
        options,
        store,
        job,
        plan,
        manifests,
        started,
        _warm_up: warm_up,
    })
}

/// `[recover-to]` as the chain selection takes it.
fn recover_target(to: &RecoverTo) -> Result<RecoverTarget, RecoveryError> {
    Ok(match to {
        RecoverTo::Dir(d) => {
            RecoverTarget::Dir(d.parse::<BackupName>().map_err(|e| RecoveryError::Target {
                key: "dir".into(),
                reason: e.to_string(),
            })?)
        }
        RecoverTo::StopDatetime(t) => RecoverTarget::StopDatetime(
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").map_err(|e| {
                RecoveryError::Target {
                    key: format!("stop-datetime {t:?}"),
                    reason: e.to_string(),
                }
            })?,
        ),
    })
}

/// Whether the chain's `target` backup is encrypted; if it is, the
/// password given must open it.
async fn is_encrypted(
    store: &Store,
    target: BackupName,
    options: &Options,
) -> Result<bool, RecoveryError> {
    let encrypted = store
        .exists(&format!("{target}/{}", layout::ENCRYPTED_SAMPLE_FILE))
        .await?;
    if encrypted {
        check_password(
            store,
            target,
            options.password.as_deref().map(String::as_str),
        )
        .await?;
    } else if options.password.is_some() {
        tracing::warn!("a password was given but the chain is not encrypted; it is not used");
    }
    Ok(encrypted)
}

/// How the chain's files are read: through the decryption program when
/// the chain is `encrypted` and a password was given.
fn reader<'a>(
    cfg: &'a conf::RecoveryConfig,
    store: &'a Store,
    options: &'a Options,
    encrypted: bool,
    manifests: &'a std::collections::BTreeMap<BackupName, store::manifest::Manifest>,
) -> Reader<'a> {
    Reader {
        store,
        encrypted: match (&options.password, encrypted) {
            (Some(p), true) => Some((cfg.encrypt_bin.as_str(), p)),
            _ => None,
        },
        manifests,
    }
}

async fn check_password(
    store: &Store,
    target: BackupName,
    password: Option<&str>,
) -> Result<(), RecoveryError> {
    let Some(pw) = password else {
        return Err(RecoveryError::Password(format!(
            "the backup {target} is encrypted: give its password with -p"
        )));
    };
    store
        .check_sample(&target.to_string(), pw)
        .await
        .map_err(|e| match e {
            store::SampleError::Store(e) => e.into(),
            other => RecoveryError::Password(other.to_string()),
        })
}

/// Carries out the plan, holding the job server's work-dir lock (see
/// [`store::lock`]) throughout: a second recovery into the same work dir
/// is refused, naming this one.
pub async fn execute(prepared: Prepared) -> Result<Outcome, RecoveryError> {
    let acquired = RunLock::acquire(
        Arc::clone(&prepared.job),
        &prepared.cfg.job_server.work_dir.display().to_string(),
        &Owner::this_process("dbrecover"),
        prepared.cfg.connect.command_timeout,
    )
    .await
    .map_err(store::StoreError::from)?;
    if let Some(dead) = &acquired.took_over {
        tracing::warn!(
            job_server = %prepared.job.host(),
            "took over the work dir's lock from a recovery that did not end cleanly: {dead}"
        );
    }
    let result = execute_locked(prepared).await;
    if let Err(e) = acquired.lock.release().await {
        tracing::warn!(error = %e, "the work dir's lock was not released cleanly");
    }
    result
}

/// The steps, in order: pre-checks on the job server, the installed server
/// (before shipping), shipping; then the shipped files checked beside the
/// server binaries unpacked (when the backup carries them), the shipped
/// binlogs (encrypted chains) and every datasource restored (none prepares
/// before the check passed); the router's files staged, `ds_info` (point
/// in time).
async fn execute_locked(prepared: Prepared) -> Result<Outcome, RecoveryError> {
    let Prepared {
        cfg,
        options,
        store,
        job,
        plan,
        manifests,
        started,
        _warm_up,
    } = prepared;
    let timeout = cfg.connect.command_timeout;
    let watch = Watch(options.observer.clone());
    let mut t = stream::Timings::default();
    watch.starting("pre-checks");
    let pre_checks = Instant::now();
    let tool = precheck::job_server(&cfg, &job, &plan).await?;
    t.record("pre-checks on the job server", pre_checks.elapsed());
    let reader = reader(&cfg, &store, &options, plan.encrypted, &manifests);
    let installed = server_binary::installed(&reader, &job, &plan).await?;
    crate::fault::point("shipping the chain");
    let mut extracted_while_shipping = false;
    if !plan.in_place {
        watch.starting("shipping the chain");
        let shipping = ship::chain(ship::Shipment {
            cfg: &cfg,
            password: options.password.as_ref(),
            store: &store,
            job: &job,
            plan: &plan,
            manifests: &manifests,
            tool: &tool,
            watch: &watch,
        });
        extracted_while_shipping = t.time("shipping the chain", shipping).await?;
    }
    crate::fault::point("checking the chain's files");
    let (gate, verdict) = if options.skip_verify {
        (crate::check::Gate::open(), None)
    } else {
        let (gate, verdict) = crate::check::Gate::new();
        (gate, Some(verdict))
    };
    // The files are checked while the server binaries are unpacked and the
    // datasources extract them; none is prepared before the check has
    // passed, and what reads the router's files waits for it.
    let checking = async {
        let Some(verdict) = verdict else {
            return Ok(None);
        };
        let started = Instant::now();
        let checked =
            crate::check::shipped_files(&job, store.dir(), &plan, &manifests, timeout).await;
        verdict.tell(checked.is_ok());
        checked.map(|()| Some(started.elapsed()))
    };
    let restoring = async {
        let mut t = stream::Timings::default();
        let server = match installed {
            Some(program) => ServerBinary {
                program,
                basedir: None,
            },
            None => {
                let unpacking = server_binary::unpacked(&job, &store, &plan, timeout);
                t.time("unpacking the server binaries", unpacking).await?
            }
        };
        if plan.encrypted
            && let Err(e) = precheck::shipped_binlogs(&job, &store, &plan).await
        {
            // Extracted on the way, not restored: nothing may look so.
            if extracted_while_shipping {
                crate::check::discard_extracted(&job, &plan, timeout).await;
            }
            return Err(e);
        }
        let restore = Restore {
            job: &job,
            plan: &plan,
            store_dir: store.dir(),
            tool,
            server: server.clone(),
            client: cfg.client_name.clone(),
            timeout,
            replay_workers: options.replay_workers.unwrap_or(DEFAULT_REPLAY_WORKERS),
            checked: gate,
            extracted_while_shipping,
            watch: watch.clone(),
        };
        crate::fault::point("restoring the datasources");
        watch.starting("restoring the datasources");
        let restoring = restore_all(&restore, options.parallel.unwrap_or(4).max(1));
        let restored = t.time("restoring the datasources", restoring).await?;
        Ok::<_, RecoveryError>((server, restored, t))
    };
    let (checked, restored) = tokio::join!(checking, restoring);
    // A damaged file is the cause of whatever the datasources ran into.
    match checked {
        Ok(Some(took)) => t.record("checking the chain's files", took),
        Ok(None) => {}
        Err(e) => {
            crate::check::discard_extracted(&job, &plan, timeout).await;
            return Err(e);
        }
    }
    let (server, restored, steps) = restored?;
    t.append(steps);
    let mut warnings = Vec::new();
    warnings.extend(crate::calcnode::stage(&job, &plan, store.dir(), timeout).await?);
    let ds_info = ds_info::write_for_pit(&job, &store, &plan).await;
    Ok(Outcome {
        plan,
        restored,
        ds_info,
        server: server.program,
        elapsed: started.elapsed(),
        timings: t,
        warnings,
    })
}

/// Every datasource of the plan restored, `parallel` at once; sorted by
/// datasource.
async fn restore_all(
    restore: &Restore<'_>,
    parallel: usize,
) -> Result<Vec<Restored>, RecoveryError> {
    let mut restored = Vec::new();
    let mut running = futures::stream::iter(restore.plan.apply.datasources.iter().enumerate())
        .map(|(i, d)| restore.run(d, i))
        .buffer_unordered(parallel);
    while let Some(r) = running.next().await {
        match r {
            Ok(done) => restored.push(done),
            Err(e) => {
                // After a failed check every datasource stops at its gate:
                // those still extracting get there first, so none writes on
                // after the run has removed what they extracted.
                if !restore.checked.passed().await {
                    while running.next().await.is_some() {}
                }
                return Err(e);
            }
        }
    }
    restored.sort_by(|a, b| a.datasource.cmp(&b.datasource));
    Ok(restored)
}
