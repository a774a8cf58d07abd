//! Shipping: every backup of the chain copied (or, encrypted, decrypted
//! while copying) from the store to the job server, store to job server
//! directly: a tar stream over socat, or with `using-scp` as seed 001's
//! `transfer_folder_in_conn` does, `scp -r` of the backup directory (an
//! encrypted one decrypted on the store into `ssh ... tar -x`, so no
//! plaintext is written on the store).
//!
//! An encrypted chain written by this tool (its manifests list the
//! tarballs' files) goes into `dbagent untar` on the job server where it
//! is installed (`receiver-bin`): every restored server's stream is piped
//! from the decrypted tarball straight into its extraction, instead of
//! being written to the job server's disk and read back. Its HMAC is
//! checked at the tarball's end; a failed shipping removes whatever was
//! extracted, and nothing is prepared before shipping ended.

use crate::error::RecoveryError;
use crate::observe::{Shipping, Watch};
use crate::plan::RecoveryPlan;
use binlog::BackupName;
use remote::{Command, Transport, quote};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use store::manifest::Manifest;
use store::{Store, layout};
use stream::{Registry, Sink, Source, StreamConfig, Streamer};
use xtrabackup::{Compression, StreamSource, Tool};
use zeroize::Zeroizing;

/// Logged when the streams go through `dbagent untar`.
pub const EXTRACTED_WHILE_SHIPPING: &str =
    "the streams are extracted while the chain is shipped (dbagent untar)";

/// What shipping is given.
pub struct Shipment<'a> {
    /// The recovery's config.
    pub cfg: &'a conf::RecoveryConfig,
    /// The chain's password, when it is encrypted.
    pub password: Option<&'a Zeroizing<String>>,
    /// The store.
    pub store: &'a Store,
    /// The job server.
    pub job: &'a Arc<dyn Transport>,
    /// The plan.
    pub plan: &'a RecoveryPlan,
    /// The chain's manifests (read while planning).
    pub manifests: &'a BTreeMap<BackupName, Manifest>,
    /// The backup tool on the job server (its stream extractor).
    pub tool: &'a Tool,
    /// Told of the bytes.
    pub watch: &'a Watch,
}

/// Copies (or, encrypted, decrypts while copying) every backup of the
/// chain to the job server, telling `watch` the bytes. Returns whether
/// the streams were extracted on the way (see the module's docs).
pub async fn chain(s: Shipment<'_>) -> Result<bool, RecoveryError> {
    let untar = untar_program(&s).await;
    if let Some(program) = &untar {
        tracing::info!(host = s.job.host(), program, "{EXTRACTED_WHILE_SHIPPING}");
    }
    let shipped = ship_all(&s, untar.as_deref()).await;
    if shipped.is_err() && untar.is_some() {
        crate::check::discard_extracted(s.job, s.plan, s.cfg.connect.command_timeout).await;
    }
    shipped.map(|()| untar.is_some())
}

/// `dbagent` on the job server, when the chain's streams can go through
/// its `untar`: encrypted, every backup's manifest listing its tarball's
/// files (so the streams' names and compression are known), and a
/// program there that has `untar`.
async fn untar_program(s: &Shipment<'_>) -> Option<String> {
    if !s.plan.encrypted || s.password.is_none() {
        return None;
    }
    let listed = s.plan.apply.chain.backups.iter().all(|b| {
        s.manifests
            .get(b)
            .is_some_and(|m| !m.tarball_files.is_empty())
    });
    if !listed {
        tracing::info!("a manifest does not list its tarball's files: the streams land first");
        return None;
    }
    let program = &s.cfg.socat.receiver_bin;
    // An older dbagent there has no `untar`: asked, it fails.
    let found = Command::shell(format!("{} untar --help >/dev/null 2>&1", quote(program)));
    match s.job.exec(&found, Duration::from_secs(30)).await {
        Ok(out) if out.success() => Some(program.clone()),
        _ => {
            tracing::info!(
                host = s.job.host(),
                program,
                "has no `untar` on the job server: the streams land first"
            );
            None
        }
    }
}

/// Ships each backup; with `untar`, through it.
async fn ship_all(s: &Shipment<'_>, untar: Option<&str>) -> Result<(), RecoveryError> {
    let Shipment {
        cfg,
        password,
        store,
        job,
        plan,
        watch,
        ..
    } = *s;
    let streamer = streamer(cfg, job, plan).await?;
    let scp = scp_config(cfg);
    let mut shipped = 0;
    for backup in plan.apply.chain.dirs_to_fetch() {
        let dest = format!("{}/{backup}", plan.job_dir);
        let unpack = match untar {
            Some(program) => untar_into(s, program, backup, &dest),
            None => Command::shell(format!(
                "rm -rf {d} && mkdir -p {d} && tar -xf - -C {d}",
                d = quote(&dest)
            )),
        };
        let backup = backup.to_string();
        let decrypt = match (password, plan.encrypted) {
            (Some(pw), true) => Some(
                Command::new(cfg.encrypt_bin.as_str())
                    .arg("-d")
                    .arg(store.path(&layout::encrypted_tarball(&backup)))
                    .arg("-o")
                    .arg("-")
                    .env("DBCRYPT_PASSWORD", pw.as_str()),
            ),
            _ => None,
        };
        let progress = Shipping {
            watch,
            before: shipped,
            now: Default::default(),
        };
        let from = store.transport();
        let report = match (&scp, decrypt) {
            (Some(scp), Some(decrypt)) => {
                streamer.ssh_pipe(scp, from, &decrypt, job, &unpack).await
            }
            (Some(scp), None) => {
                let src = store.path(&backup);
                streamer
                    .scp_dir(scp, from, &src, job, &dest, &progress)
                    .await
            }
            (None, decrypt) => {
                let source = Source::command(decrypt.unwrap_or_else(|| {
                    Command::shell(format!("tar -C {} -cf - .", quote(&store.path(&backup))))
                }));
                let sink = Sink::command(unpack);
                streamer
                    .transfer(from, &source, job, &sink, &progress)
                    .await
            }
        }
        .map_err(|e| RecoveryError::host(job.host(), format!("shipping {backup}"), e))?;
        shipped += report.bytes;
        if plan.encrypted {
            planning_files(store, job, &backup, &dest).await?;
        }
        tracing::info!(%backup, to = %dest, "shipped");
    }
    Ok(())
}

/// The command unpacking `backup`'s decrypted tarball into `dest` with
/// `dbagent untar`, each restored datasource's stream of it routed into
/// its extraction. Before the chain's first backup, every datasource's
/// restore and data directories are emptied and made (as a datasource's
/// restore does when it extracts for itself).
fn untar_into(s: &Shipment<'_>, program: &str, backup: BackupName, dest: &str) -> Command {
    let plan = s.plan;
    let index = plan.apply.chain.backups.iter().position(|b| *b == backup);
    let compression = match s.manifests.get(&backup) {
        Some(m) if m.summary.compress.is_some() => crate::restore::ZSTD,
        _ => Compression::None,
    };
    let mut empty = vec![quote(dest).into_owned()];
    let mut untar = Command::new(program).arg("untar").arg("--into").arg(dest);
    // A backup fetched for its binlogs only (the chain's next) is unpacked
    // whole.
    let routed = match index {
        Some(i) => plan.apply.datasources.iter().map(|a| (a, i)).collect(),
        None => Vec::new(),
    };
    for (apply, i) in routed {
        let target = plan.extract_dir(apply, i);
        if i == 0 {
            empty.push(quote(&plan.restore_dir(&apply.datasource)).into_owned());
            empty.push(quote(&target).into_owned());
        }
        let extract = crate::restore::extraction(s.tool, compression, StreamSource::Stdin, &target);
        untar = untar
            .arg("--route")
            .arg(format!("{}/backup.xbsteam", apply.data_dir))
            .arg(extract.to_shell());
    }
    let empty = empty.join(" ");
    Command::shell(format!(
        "rm -rf {empty} && mkdir -p {empty} && {untar}",
        untar = untar.to_shell(),
    ))
}

/// The streamer shipping uses, its socat logs under the work dir. As the
/// seed ships (seed 001 `config['socat-port'] = socat_port2`): on
/// socat-port2, bumped by 10 at most socat-retry-count times.
async fn streamer(
    cfg: &conf::RecoveryConfig,
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
) -> Result<Streamer, RecoveryError> {
    let today = chrono::Local::now().date_naive();
    let socat_log = stream::socat_log_dir(&plan.job_dir, today);
    job.exec(
        &Command::new("mkdir").arg("-p").arg(&socat_log),
        Duration::from_secs(30),
    )
    .await
    .map_err(|e| RecoveryError::host(job.host(), "creating the work directory", e))?;
    let mut scfg = StreamConfig::new(cfg.socat.port2, cfg.socat.port2, socat_log);
    scfg.retry_count = cfg.socat.retry_count;
    scfg.checksum = stream::Checksum::Off;
    scfg.receiver = stream::Receiver::native_or_socat(
        cfg.socat.receiver == conf::ReceiverKind::Native,
        &cfg.socat.receiver_bin,
    );
    Ok(Streamer::new(scfg, Registry::new()))
}

/// With `using-scp`, how the store logs in to the job server for scp and
/// ssh: the job server's login user and port, and its scp keys.
fn scp_config(cfg: &conf::RecoveryConfig) -> Option<stream::ScpConfig> {
    cfg.socat.using_scp.then(|| stream::ScpConfig {
        user: cfg.job_server.host.login.user.clone(),
        port: cfg.job_server.host.login.port,
        identity: cfg.job_server.scp_identity.clone(),
        known_hosts: cfg.job_server.scp_known_hosts.clone(),
    })
}

/// An encrypted backup's planning files, which stay outside its tarball,
/// written into its shipped copy at `dest`.
async fn planning_files(
    store: &Store,
    job: &Arc<dyn Transport>,
    backup: &str,
    dest: &str,
) -> Result<(), RecoveryError> {
    for (f, bytes) in store.read_files(backup, &layout::CLEAR_FILES).await? {
        let cmd = Command::shell(format!("cat > {}", quote(&format!("{dest}/{f}")))).stdin(bytes);
        job.exec(&cmd, Duration::from_secs(60))
            .await
            .map_err(|e| RecoveryError::host(job.host(), format!("writing {dest}/{f}"), e))?;
    }
    Ok(())
}
