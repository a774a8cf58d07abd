//! Shipping: every backup of the chain copied (or, encrypted, decrypted
//! while copying) from the store to the job server, store to job server
//! directly: a tar stream over socat, or with `using-scp` as seed 001's
//! `transfer_folder_in_conn` does, `scp -r` of the backup directory (an
//! encrypted one decrypted on the store into `ssh ... tar -x`, so no
//! plaintext is written on the store).

use crate::error::RecoveryError;
use crate::observe::{Shipping, Watch};
use crate::plan::RecoveryPlan;
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::Duration;
use store::{Store, layout};
use stream::{Registry, Sink, Source, StreamConfig, Streamer};
use zeroize::Zeroizing;

/// Copies (or, encrypted, decrypts while copying with `password`) every
/// backup of the chain to the job server, telling `watch` the bytes.
pub async fn chain(
    cfg: &conf::RecoveryConfig,
    password: Option<&Zeroizing<String>>,
    store: &Store,
    job: &Arc<dyn Transport>,
    plan: &RecoveryPlan,
    watch: &Watch,
) -> Result<(), RecoveryError> {
    let streamer = streamer(cfg, job, plan).await?;
    let scp = scp_config(cfg);
    let mut shipped = 0;
    for backup in plan.apply.chain.dirs_to_fetch() {
        let dest = format!("{}/{backup}", plan.job_dir);
        let backup = backup.to_string();
        let unpack = Command::shell(format!(
            "rm -rf {d} && mkdir -p {d} && tar -xf - -C {d}",
            d = quote(&dest)
        ));
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
    let planning = [
        layout::CONSISTENCE_FILE,
        layout::POINT_DATETIME_FILE,
        layout::BACKUPED_BINLOGS_FILE,
    ];
    for (f, bytes) in store.read_files(backup, &planning).await? {
        let cmd = Command::shell(format!("cat > {}", quote(&format!("{dest}/{f}")))).stdin(bytes);
        job.exec(&cmd, Duration::from_secs(60))
            .await
            .map_err(|e| RecoveryError::host(job.host(), format!("writing {dest}/{f}"), e))?;
    }
    Ok(())
}
