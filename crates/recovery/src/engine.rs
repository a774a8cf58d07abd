//! The run: plan (read the store, choose the chain, plan the replay), then
//! execute (pre-checks on the job server, ship the chain, restore every
//! datasource in parallel).

use crate::ds_info::{self, DsInfo};
use crate::error::RecoveryError;
use crate::facts::Reader;
use crate::observe::{Observer, Shipping, Watch};
use crate::plan::RecoveryPlan;
use crate::restore::{Restore, Restored, ServerBinary};
use crate::space;
use binlog::apply_plan::BinlogSource;
use binlog::{ApplyPlan, BackupName, RecoverTarget, select_chain};
use conf::RecoverTo;
use futures::StreamExt as _;
use remote::{Command, Connector, Transport, quote};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Owner, RunLock, Store, layout};
use stream::{Registry, Sink, Source, StreamConfig, Streamer};
use zeroize::Zeroizing;

/// How a recovery is asked for (beyond `recovery.conf`).
#[derive(Default)]
pub struct Options {
    /// `-p`: the chain's encryption password.
    pub password: Option<Zeroizing<String>>,
    /// How many datasources restore at once (default 4).
    pub parallel: Option<usize>,
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
            .field("skip_verify", &self.skip_verify)
            .field("observer", &self.observer.as_ref().map(|_| "<observer>"))
            .finish()
    }
}

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
    let store_t = cfg
        .store
        .host
        .transport(&hosts)
        .map_err(|e| RecoveryError::host(&cfg.store.host.host, "connecting", e))?;
    let job = cfg
        .job_server
        .host
        .transport(&hosts)
        .map_err(|e| RecoveryError::host(&cfg.job_server.host.host, "connecting", e))?;
    let warm_up = WarmUp::start(&job, &cfg.store.host.host);
    let store = Store::new(
        store_t,
        cfg.store.dir.display().to_string(),
        cfg.connect.command_timeout,
    );
    let dirs = store.backup_dirs().await?;
    let target = match &cfg.recover_to {
        RecoverTo::Dir(d) => RecoverTarget::Dir(
            d.parse::<BackupName>()
                .map_err(|e| RecoveryError::Plan(format!("[recover-to] dir: {e}")))?,
        ),
        RecoverTo::StopDatetime(t) => RecoverTarget::StopDatetime(
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").map_err(|e| {
                RecoveryError::Plan(format!("[recover-to] stop-datetime {t:?}: {e}"))
            })?,
        ),
    };
    let chain = select_chain(&dirs, &target).map_err(|e| RecoveryError::Plan(e.to_string()))?;
    let encrypted = store
        .exists(&format!(
            "{}/{}",
            chain.target(),
            layout::ENCRYPTED_SAMPLE_FILE
        ))
        .await?;
    if encrypted {
        check_password(
            &store,
            chain.target(),
            options.password.as_deref().map(String::as_str),
        )
        .await?;
    } else if options.password.is_some() {
        tracing::warn!("a password was given but the chain is not encrypted; it is not used");
    }
    let reader = Reader {
        store: &store,
        encrypted: match (&options.password, encrypted) {
            (Some(p), true) => Some((cfg.encrypt_bin.as_str(), p)),
            _ => None,
        },
    };
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
        // All at once: one round trip each, none waiting for another.
        let planned: Vec<_> = planned_binlogs(&apply).collect();
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
    let measured = space::measure(&store, &plan).await?;
    plan.space = space::estimate(&plan, &measured.sizes);
    plan.compressed = measured.sizes.values().any(|s| s.compressed);
    Ok(Prepared {
        cfg,
        options,
        store,
        job,
        plan,
        manifests: measured.manifests,
        started,
        _warm_up: warm_up,
    })
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
    // The tool's flavor and the free space at once; then one round trip
    // for the programs (the first missing one is printed).
    let (tool, ()) = tokio::try_join!(
        async {
            xtrabackup::ops::detect_tool(&*job, &cfg.xtrabackup_bin)
                .await
                .map_err(|e| RecoveryError::PreCheck(format!("job server {}: {e}", job.host())))
        },
        check_free_space(&job, &plan, timeout),
    )?;
    // `xbstream-bin-dir`, when set, is the extractor that runs.
    let tool = match &cfg.xbstream_bin {
        Some(x) => tool.with_stream_program(x.as_str()),
        None => tool,
    };
    let names: Vec<String> =
        job_server_programs(&tool.stream_program, &cfg.client_name, plan.compressed)
            .into_iter()
            .map(|p| quote(p).into_owned())
            .collect();
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
        return Err(RecoveryError::PreCheck(format!(
            "job server {}: {} is not installed (needed to restore)",
            job.host(),
            out.stdout_str().trim()
        )));
    }
    t.record("pre-checks on the job server", pre_checks.elapsed());
    // Read before shipping (an encrypted backup keeps it in its tarball),
    // so a job server without the right server fails before the transfer.
    let full = plan.apply.chain.backups[0];
    let reader = Reader {
        store: &store,
        encrypted: match (&options.password, plan.encrypted) {
            (Some(p), true) => Some((cfg.encrypt_bin.as_str(), p)),
            _ => None,
        },
    };
    let installed = match reader.read(full, "datanode_base/system_basedir").await? {
        Some(system) => Some(installed_server(&job, &system).await?),
        None => None,
    };
    crate::fault::point("shipping the chain");
    if !plan.in_place {
        watch.starting("shipping the chain");
        t.time(
            "shipping the chain",
            ship(&cfg, &options, &store, &job, &plan, &watch),
        )
        .await?;
    }
    crate::fault::point("checking the chain's files");
    if !options.skip_verify {
        watch.starting("checking the chain's files");
        t.time(
            "checking the chain's files",
            crate::check::shipped_files(&job, store.dir(), &plan, &manifests, timeout),
        )
        .await?;
    }
    let server = match installed {
        Some(program) => ServerBinary {
            program,
            basedir: None,
        },
        None => {
            t.time(
                "unpacking the server binaries",
                unpacked_server(&job, &store, &plan, timeout),
            )
            .await?
        }
    };
    if plan.encrypted {
        check_shipped_binlogs(&job, &store, &plan).await?;
    }
    let restore = Restore {
        job: &job,
        plan: &plan,
        store_dir: store.dir(),
        tool,
        server: server.clone(),
        client: cfg.client_name.clone(),
        timeout,
        watch: watch.clone(),
    };
    crate::fault::point("restoring the datasources");
    let parallel = options.parallel.unwrap_or(4).max(1);
    watch.starting("restoring the datasources");
    let mut restored = t
        .time("restoring the datasources", async {
            let mut restored = Vec::new();
            let mut running = futures::stream::iter(plan.apply.datasources.iter().enumerate())
                .map(|(i, d)| restore.run(d, i))
                .buffer_unordered(parallel);
            while let Some(r) = running.next().await {
                restored.push(r?);
            }
            Ok::<_, RecoveryError>(restored)
        })
        .await?;
    restored.sort_by(|a, b| a.datasource.cmp(&b.datasource));
    let ds_info = match plan.apply.chain.stop_datetime {
        Some(stop) => match write_ds_info(&job, &store, &plan, stop).await {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::warn!(error = %e, "the ds_info file for the PIT tool was not written");
                None
            }
        },
        None => None,
    };
    Ok(Outcome {
        plan,
        restored,
        ds_info,
        server: server.program,
        elapsed: started.elapsed(),
        timings: t,
        warnings: Vec::new(),
    })
}

/// Writes `/tmp/ds_info_<id>` (and `/tmp/ds_info_file_name`) on the job
/// server: per datasource the first binlog of its master in the target
/// backup, as the job server holds it.
async fn write_ds_info(
    job: &Arc<dyn Transport>,
    store: &Store,
    plan: &RecoveryPlan,
    stop: chrono::NaiveDateTime,
) -> Result<DsInfo, RecoveryError> {
    let target = plan.apply.chain.target();
    let mut rows = Vec::new();
    for d in &plan.apply.datasources {
        let dir = format!("{}/{}", plan.backup_dir(store.dir(), target), d.binlog_dir);
        // A master directory without binlogs falls back to the first file
        // the replay read.
        let listing = job
            .exec(
                &Command::new("ls").arg("-1").arg(&dir),
                Duration::from_secs(30),
            )
            .await
            .map(|out| out.stdout_str())
            .unwrap_or_default();
        let like = d.binlogs.first().map(|b| &b.file);
        let first = ds_info::first_binlog(&listing, like)
            .map(|f| format!("{dir}/{f}"))
            .or_else(|| {
                d.binlogs.first().map(|b| {
                    format!(
                        "{}/{}/{}",
                        plan.backup_dir(store.dir(), b.backup),
                        b.dir,
                        b.file
                    )
                })
            })
            .ok_or_else(|| {
                RecoveryError::host(
                    job.host(),
                    "writing ds_info",
                    format!("datasource {}: no binlog in {dir}", d.datasource),
                )
            })?;
        rows.push((d, first));
    }
    let text = ds_info::render(stop, rows);
    let name = ds_info::file_name(stop);
    let path = format!("{}/{name}", ds_info::DIR);
    let script = format!(
        "set -e; t=$(mktemp {tmp}); cat > \"$t\"; chmod 644 \"$t\"; mv -f \"$t\" {path}; printf '%s\\n' {name} > {name_file}",
        tmp = quote(&format!("{}/.{name}.XXXXXX", ds_info::DIR)),
        path = quote(&path),
        name = quote(&name),
        name_file = quote(&format!("{}/{}", ds_info::DIR, ds_info::NAME_FILE)),
    );
    let out = job
        .exec(
            &Command::shell(script).stdin(text.clone()),
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| RecoveryError::host(job.host(), format!("writing {path}"), e))?;
    if !out.success() {
        return Err(RecoveryError::host(
            job.host(),
            format!("writing {path}"),
            out.stderr_str().trim(),
        ));
    }
    tracing::info!(path = %path, host = job.host(), "ds_info written for the PIT tool");
    Ok(DsInfo { path, text })
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
        return Err(RecoveryError::PreCheck(format!(
            "the job server {} has {free} bytes ({} MiB) free for {}, but this recovery needs {needed} bytes ({} MiB): {}",
            job.host(),
            free >> 20,
            plan.job_dir,
            needed >> 20,
            plan.space
        )));
    }
    tracing::info!(host = job.host(), dir = %plan.job_dir, free, needed, "room on the job server");
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
    RecoveryError::Plan(format!(
        "datasource {datasource}: binlog {} of {} is listed in {}/backuped_binlogs but {path} is missing on {host}",
        b.file, b.dir, b.backup
    ))
}

/// The shipped copy of every planned binlog is on the job server.
async fn check_shipped_binlogs(
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

/// The server unpacked from the shipped `datanode_base/*.tar.gz` of the
/// full backup (no system base directory was recorded).
async fn unpacked_server(
    job: &Arc<dyn Transport>,
    store: &Store,
    plan: &RecoveryPlan,
    timeout: Duration,
) -> Result<ServerBinary, RecoveryError> {
    let full = plan.apply.chain.backups[0];
    let dir = format!("{}/basedir", plan.job_dir);
    let script = format!(
        "set -e; mkdir -p {d}; for t in {src}/datanode_base/*.tar.gz; do tar -xzf \"$t\" -C {d}; done; \
         ls -d {d}/*/bin/mariadbd {d}/*/bin/mysqld 2>/dev/null | head -n 1",
        d = quote(&dir),
        src = quote(&plan.backup_dir(store.dir(), full)),
    );
    let out = job
        .exec(&Command::shell(script), timeout)
        .await
        .map_err(|e| RecoveryError::host(job.host(), "unpacking the server base directory", e))?;
    let path = out.stdout_str().trim().to_owned();
    if !out.success() || path.is_empty() {
        return Err(RecoveryError::PreCheck(format!(
            "{full}/datanode_base holds no server base directory with bin/mariadbd or bin/mysqld"
        )));
    }
    let basedir = path
        .rsplitn(3, '/')
        .nth(2)
        .map(str::to_owned)
        .filter(|b| !b.is_empty());
    Ok(ServerBinary {
        program: path,
        basedir,
    })
}

/// The job server's installed `mariadbd`/`mysqld`, when the backup
/// recorded a packaged server (`system_basedir`): it must be the same
/// major version.
async fn installed_server(job: &Arc<dyn Transport>, system: &str) -> Result<String, RecoveryError> {
    let wanted = system
        .lines()
        .find_map(|l| l.strip_prefix("version="))
        .unwrap_or_default()
        .to_owned();
    // Packaged servers live in sbin, which a non-login shell's PATH lacks.
    let find = "PATH=$PATH:/usr/sbin:/usr/local/sbin; for p in mariadbd mysqld; do \
                p=$(command -v $p) && { echo \"$p\"; \"$p\" --version; exit 0; }; done; exit 1";
    let out = job
        .exec(&Command::shell(find), Duration::from_secs(30))
        .await
        .map_err(|e| RecoveryError::host(job.host(), "checking the installed server", e))?;
    let text = out.stdout_str();
    let (program, have) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    if !out.success() {
        return Err(RecoveryError::PreCheck(format!(
            "the backup was taken from a packaged server {wanted:?}; the job server {} has no mariadbd or mysqld installed",
            job.host()
        )));
    }
    let major = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let wanted_major = major(&wanted);
    if wanted_major.is_empty() || !have.contains(&format!("Ver {wanted_major}")) {
        return Err(RecoveryError::PreCheck(format!(
            "the backup was taken from a packaged server {wanted:?}; the job server {} has {:?}: install the same major version there",
            job.host(),
            have.trim()
        )));
    }
    Ok(program.trim().to_owned())
}

/// What the restore runs on the job server besides the shell and its basic
/// tools, looked for before anything is shipped rather than found missing
/// afterwards: the stream extractor, the binlog reader, the temporary
/// server's ping, the SQL client, what the row counts use, and `zstd` for
/// a chain with compressed streams.
fn job_server_programs<'a>(extractor: &'a str, client: &'a str, compressed: bool) -> Vec<&'a str> {
    let mut programs = vec![
        extractor,
        "mariadb-binlog",
        "mariadb-admin",
        client,
        "stdbuf",
        "xargs",
    ];
    programs.extend(compressed.then_some("zstd"));
    programs
}

/// Copies (or, encrypted, decrypts while copying) every backup of the chain
/// to the job server: tar over socat, store to job server directly.
async fn ship(
    cfg: &conf::RecoveryConfig,
    options: &Options,
    store: &Store,
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
    watch: &Watch,
) -> Result<(), RecoveryError> {
    let today = chrono::Local::now().date_naive();
    let mut shipped = 0;
    let socat_log = stream::socat_log_dir(&plan.job_dir, today);
    job.exec(
        &Command::new("mkdir").arg("-p").arg(&socat_log),
        Duration::from_secs(30),
    )
    .await
    .map_err(|e| RecoveryError::host(job.host(), "creating the work directory", e))?;
    // As the seed ships (seed 001 `config['socat-port'] = socat_port2`):
    // on socat-port2, bumped by 10 at most socat-retry-count times.
    let mut scfg = StreamConfig::new(cfg.socat.port2, cfg.socat.port2, socat_log);
    scfg.retry_count = cfg.socat.retry_count;
    scfg.checksum = stream::Checksum::Off;
    let streamer = Streamer::new(scfg, Registry::new());
    for backup in plan.apply.chain.dirs_to_fetch() {
        let dest = format!("{}/{backup}", plan.job_dir);
        let unpack = Command::shell(format!(
            "rm -rf {d} && mkdir -p {d} && tar -xf - -C {d}",
            d = quote(&dest)
        ));
        let source = match (&options.password, plan.encrypted) {
            (Some(pw), true) => Source::command(
                Command::new(cfg.encrypt_bin.as_str())
                    .arg("-d")
                    .arg(store.path(&layout::encrypted_tarball(&backup.to_string())))
                    .arg("-o")
                    .arg("-")
                    .env("DBCRYPT_PASSWORD", pw.as_str()),
            ),
            _ => Source::command(Command::shell(format!(
                "tar -C {} -cf - .",
                quote(&store.path(&backup.to_string()))
            ))),
        };
        let progress = Shipping {
            watch,
            before: shipped,
            now: Default::default(),
        };
        let report = streamer
            .transfer(
                store.transport(),
                &source,
                job,
                &Sink::command(unpack),
                &progress,
            )
            .await
            .map_err(|e| RecoveryError::host(job.host(), format!("shipping {backup}"), e))?;
        shipped += report.bytes;
        if plan.encrypted {
            // The planning files stay outside the tarball.
            let planning = [
                layout::CONSISTENCE_FILE,
                layout::POINT_DATETIME_FILE,
                layout::BACKUPED_BINLOGS_FILE,
            ];
            for (f, bytes) in store.read_files(&backup.to_string(), &planning).await? {
                let cmd =
                    Command::shell(format!("cat > {}", quote(&format!("{dest}/{f}")))).stdin(bytes);
                job.exec(&cmd, Duration::from_secs(60)).await.map_err(|e| {
                    RecoveryError::host(job.host(), format!("writing {dest}/{f}"), e)
                })?;
            }
        }
        tracing::info!(%backup, to = %dest, "shipped");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_is_looked_for_only_when_a_stream_is_compressed() {
        let plain = job_server_programs("mbstream", "mariadb", false);
        assert!(
            plain.contains(&"mbstream") && plain.contains(&"mariadb"),
            "{plain:?}"
        );
        assert!(!plain.contains(&"zstd"), "{plain:?}");
        let compressed = job_server_programs("mbstream", "mariadb", true);
        assert_eq!(compressed.len(), plain.len() + 1);
        assert!(compressed.contains(&"zstd"), "{compressed:?}");
    }
}
