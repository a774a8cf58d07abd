//! The `using-scp` fallback: the sending host copies a file straight to the
//! receiving host with scp, as the seed does, but key-based (`-B`, batch
//! mode: no password prompt, so no password on any argv or in a watcher).
//! The key is a file on the sending host ([`ScpConfig::identity`]), or that
//! host's login user's default key. The data still flows host to host.
//!
//! In a backup only files go this way (seed 000 uses scp only for files;
//! xbstream and tar streams always use socat). Recovery copies whole
//! backup directories with `scp -r` ([`Streamer::scp_dir`], seed 001's
//! `transfer_folder_in_conn`), and pipes a decrypting command into `ssh`
//! ([`Streamer::ssh_pipe`]), so no plaintext is written on the store.
//! Sizes, and SHA-256 when configured, are checked on both ends afterwards.

use crate::error::{Error, Result};
use crate::pipe::End;
use crate::script::{PICK_SHA256, Script};
use crate::spec::{Sink, Source};
use crate::transfer::{Streamer, TransferReport};
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::Instant;

/// How the sending host logs in to the receiving host for scp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpConfig {
    /// Login user on the receiving host (`[backup-store] user`).
    pub user: String,
    /// sshd port of the receiving host (`[backup-store] port`).
    pub port: u16,
    /// Private key file on the sending host (`None`: ssh's defaults).
    pub identity: Option<String>,
    /// known_hosts file on the sending host (`None`: ssh's default);
    /// unknown host keys are accepted and remembered, changed ones refused.
    pub known_hosts: Option<String>,
}

/// The scp command line (pure; for the sending host's shell).
pub(crate) fn scp_line(cfg: &ScpConfig, src: &str, host: &str, dest: &str) -> String {
    scp_line_with(cfg, "", src, host, dest)
}

/// [`scp_line`] with `flags` (such as ` -r`) after `-B`.
fn scp_line_with(cfg: &ScpConfig, flags: &str, src: &str, host: &str, dest: &str) -> String {
    let mut line = format!("scp -B{flags} -P {}", cfg.port);
    line.push_str(&login_options(cfg));
    line.push_str(&format!(
        " -- {} {}",
        quote(src),
        quote(&format!("{}@{host}:{dest}", cfg.user))
    ));
    line
}

/// The ssh command line running `remote` (a shell line) on `host`, in batch
/// mode with scp's options (pure).
fn ssh_line(cfg: &ScpConfig, host: &str, remote: &str) -> String {
    let mut line = format!("ssh -o BatchMode=yes -p {}", cfg.port);
    line.push_str(&login_options(cfg));
    line.push_str(&format!(
        " -- {} {}",
        quote(&format!("{}@{host}", cfg.user)),
        quote(remote)
    ));
    line
}

/// Sets `n` to the total size of the regular files under `dir` (a script
/// fragment; fails naming `dir` when it is not a directory).
fn tally(dir: &str) -> String {
    format!(
        "[ -d {d} ] || {{ echo {e}; exit 125; }}\n\
         n=$(find {d} -type f -printf '%s\\n' | awk '{{b += $1}} END {{print b + 0}}') || exit 125\n",
        d = quote(dir),
        e = quote(&format!("E {dir} is not a directory"))
    )
}

/// The options scp and ssh share: the host key policy, a bounded connect,
/// the key and the known_hosts file when configured.
fn login_options(cfg: &ScpConfig) -> String {
    let mut line = String::from(" -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10");
    if let Some(id) = &cfg.identity {
        line.push_str(&format!(" -o IdentitiesOnly=yes -i {}", quote(id)));
    }
    if let Some(kh) = &cfg.known_hosts {
        line.push_str(&format!(
            " {}",
            quote(&format!("-oUserKnownHostsFile={kh}"))
        ));
    }
    line
}

fn sender_script(cfg: &ScpConfig, src: &str, host: &str, dest: &str, sha: bool) -> Script {
    let mut s = String::from("set -o pipefail\n");
    s.push_str(&format!(
        "n=$(stat -L -c %s -- {p}) || {{ echo {e}; exit 125; }}\ns=-\n",
        p = quote(src),
        e = quote(&format!("E cannot stat {src}"))
    ));
    if sha {
        s.push_str(&format!(
            "{PICK_SHA256}\ns=$($sha256 < {} | cut -c1-64) || exit 125\n",
            quote(src)
        ));
    }
    s.push_str(&scp_line(cfg, src, host, dest));
    s.push_str("\nrc=$?\necho \"R $rc;$n;$s\"\nexit \"$rc\"\n");
    Script {
        command: Command::new("bash").arg("-c").arg(s),
        stages: vec!["scp".into()],
    }
}

/// Copies a file with scp run on the sending host, then checks the copy.
pub(crate) async fn copy(
    streamer: &Streamer,
    cfg: &ScpConfig,
    from: &Arc<dyn Transport>,
    source: &Source,
    to: &Arc<dyn Transport>,
    sink: &Sink,
) -> Result<TransferReport> {
    let started = Instant::now();
    let (Source::File(src), Sink::File(dest)) = (source, sink) else {
        return Err(Error::Invalid(format!(
            "using-scp copies files only, not {} into {}",
            source.describe(),
            sink.describe()
        )));
    };
    let checksum = streamer.config().checksum;
    let script = sender_script(cfg, src, to.host(), dest, checksum.on_sender());
    let what = format!("scp of {src} to {}:{dest}", to.host());
    let registry = streamer.registry();
    let mut end = End::start(
        from,
        registry,
        script,
        what,
        streamer.config().command_timeout,
    )
    .await?;
    let done = end.finish(|_| {}).await;
    if let Some(detail) = done.failure(&end.stages) {
        if let Some(reason) = registry.stop_reason() {
            return Err(Error::Stopped {
                host: from.host().to_owned(),
                step: format!("scp of {src}"),
                reason,
            });
        }
        return Err(Error::Sender {
            host: from.host().to_owned(),
            what: source.describe(),
            port: cfg.port,
            detail,
        });
    }
    let Some(outcome) = done.outcome else {
        return Err(Error::Invalid(
            "internal: scp finished without a result".into(),
        ));
    };
    let sent = outcome.bytes.unwrap_or(0);
    let (received, sha) = streamer
        .stored_digest(to, dest, checksum != crate::Checksum::Off)
        .await?;
    let mismatch = |detail: String| Error::Mismatch {
        from_host: from.host().to_owned(),
        to_host: to.host().to_owned(),
        port: cfg.port,
        sent,
        received,
        detail,
        log: "(scp: no socat log)".to_owned(),
    };
    if sent != received {
        return Err(mismatch("sizes differ after scp".into()));
    }
    if checksum.on_sender() && outcome.sha256 != sha {
        return Err(mismatch("SHA-256 differs after scp".into()));
    }
    Ok(without_socat("scp", sent, sha, started))
}

/// The report of a copy that used no socat (no port, no socat log).
fn without_socat(
    method: &'static str,
    bytes: u64,
    sha256: Option<String>,
    started: Instant,
) -> TransferReport {
    TransferReport {
        bytes,
        sha256,
        port: 0,
        log_file: String::new(),
        elapsed: started.elapsed(),
        method,
    }
}

impl Streamer {
    /// Copies the directory `src` on the host of `from` to `dest` on the
    /// host of `to` with `scp -r` run on the sending host (seed 001's
    /// `transfer_folder_in_conn`). `dest` is replaced; its parent must
    /// exist. The bytes of the regular files are compared on both ends;
    /// `progress` hears of them once they are there (scp is not watched).
    pub async fn scp_dir(
        &self,
        cfg: &ScpConfig,
        from: &Arc<dyn Transport>,
        src: &str,
        to: &Arc<dyn Transport>,
        dest: &str,
        progress: &dyn crate::Progress,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        let clear = format!("rm -rf -- {}\necho 'R 0;0;-'\n", quote(dest));
        self.run_script(to, clear, format!("clearing {dest}"))
            .await?;
        let mut s = String::from("set -o pipefail\n");
        s.push_str(&tally(src));
        s.push_str(&scp_line_with(cfg, " -r -p", src, to.host(), dest));
        s.push_str("\nrc=$?\necho \"R $rc;$n;-\"\nexit \"$rc\"\n");
        let what = format!("scp -r of {src} to {}:{dest}", to.host());
        let sent = self.run_script(from, s, what).await?;
        let received_script = format!("{}echo \"R 0;$n;-\"\n", tally(dest));
        let received = self
            .run_script(to, received_script, format!("the size of {dest}"))
            .await?;
        if sent != received {
            return Err(Error::Mismatch {
                from_host: from.host().to_owned(),
                to_host: to.host().to_owned(),
                port: cfg.port,
                sent,
                received,
                detail: format!("the files under {dest} differ in size from {src} after scp -r"),
                log: "(scp: no socat log)".to_owned(),
            });
        }
        progress.update(&crate::Update {
            label: format!("scp -r {src} -> {}:{dest}", to.host()),
            bytes: sent,
            total: Some(sent),
            elapsed: started.elapsed(),
            done: true,
        });
        Ok(without_socat("scp", sent, None, started))
    }

    /// Runs `producer` on the host of `from` and pipes its output through
    /// ssh into `consumer` on the host of `to`, judging both. The
    /// producer's environment stays off every command line; the consumer
    /// must not need one. The stream is not counted (bytes 0): its
    /// consumer, such as tar, checks what it reads.
    pub async fn ssh_pipe(
        &self,
        cfg: &ScpConfig,
        from: &Arc<dyn Transport>,
        producer: &Command,
        to: &Arc<dyn Transport>,
        consumer: &Command,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        if !consumer.env.is_empty() || consumer.stdin.is_some() || producer.stdin.is_some() {
            return Err(Error::Invalid(format!(
                "ssh_pipe of {} into {} takes no consumer environment and no stdin bytes",
                producer.name(),
                consumer.name()
            )));
        }
        producer.validate().map_err(Error::Invalid)?;
        // The producer's environment (a password) is not ssh's: unset there.
        let unset: String = producer
            .env
            .iter()
            .map(|(k, _)| format!("-u {k} "))
            .collect();
        let s = format!(
            "set -o pipefail\n( {} ) | env {unset}{}\nrc=\"${{PIPESTATUS[*]}}\"\necho \"R $rc;0;-\"\n\
             case \"$rc\" in *[!0\\ ]*) exit 1;; esac\n",
            producer.to_shell(),
            ssh_line(cfg, to.host(), &consumer.to_shell())
        );
        let what = format!(
            "{} on {} piped by ssh into {} on {}",
            producer.name(),
            from.host(),
            consumer.name(),
            to.host()
        );
        let mut command = Command::new("bash").arg("-c").arg(s);
        command.env = producer.env.clone();
        let script = Script {
            command,
            stages: vec![producer.name().to_owned(), "ssh".into()],
        };
        self.run(from, script, what).await?;
        Ok(without_socat("ssh", 0, None, started))
    }

    /// Runs a `bash -c` script that ends in an `R` line, giving its bytes.
    async fn run_script(&self, on: &Arc<dyn Transport>, s: String, what: String) -> Result<u64> {
        let script = Script {
            command: Command::new("bash").arg("-c").arg(s),
            stages: vec!["bash".into()],
        };
        self.run(on, script, what).await
    }

    /// Runs `script` on `on`: the bytes of its `R` line, or an error naming
    /// the host and `what` (the run's stop when it was stopped).
    async fn run(&self, on: &Arc<dyn Transport>, script: Script, what: String) -> Result<u64> {
        let registry = self.registry();
        let mut end = End::start(
            on,
            registry,
            script,
            what.clone(),
            self.config().command_timeout,
        )
        .await?;
        let done = end.finish(|_| {}).await;
        if let Some(detail) = done.failure(&end.stages) {
            if let Some(reason) = registry.stop_reason() {
                return Err(Error::Stopped {
                    host: on.host().to_owned(),
                    step: what,
                    reason,
                });
            }
            return Err(Error::Step {
                host: on.host().to_owned(),
                step: what,
                detail,
            });
        }
        Ok(done.outcome.and_then(|o| o.bytes).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_line_is_batch_mode_and_quoted() {
        let cfg = ScpConfig {
            user: "dbsbk".into(),
            port: 2222,
            identity: Some("/home/x/.ssh/id rsa".into()),
            known_hosts: Some("/tmp/kh".into()),
        };
        let line = scp_line(&cfg, "/data/my.cnf", "127.0.0.50", "/store/a b/my.conf");
        assert_eq!(
            line,
            "scp -B -P 2222 -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 \
             -o IdentitiesOnly=yes -i '/home/x/.ssh/id rsa' -oUserKnownHostsFile=/tmp/kh \
             -- /data/my.cnf 'dbsbk@127.0.0.50:/store/a b/my.conf'"
        );
    }
    #[test]
    fn recursive_scp_and_ssh_lines_share_the_login_options() {
        let cfg = ScpConfig {
            user: "dbsbk".into(),
            port: 22,
            identity: None,
            known_hosts: None,
        };
        assert_eq!(
            scp_line_with(
                &cfg,
                " -r -p",
                "/store/UTC1",
                "127.0.0.40",
                "/work/job/UTC1"
            ),
            "scp -B -r -p -P 22 -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 \
             -- /store/UTC1 dbsbk@127.0.0.40:/work/job/UTC1"
        );
        assert_eq!(
            ssh_line(&cfg, "127.0.0.40", "exec tar -xf -"),
            "ssh -o BatchMode=yes -p 22 -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 \
             -- dbsbk@127.0.0.40 'exec tar -xf -'"
        );
    }

    #[test]
    fn the_tally_names_a_missing_directory() {
        let s = tally("/no such");
        assert!(
            s.contains("[ -d '/no such' ] || { echo 'E /no such is not a directory'; exit 125; }"),
            "{s}"
        );
    }
}
