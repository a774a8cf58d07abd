//! The `using-scp` fallback: the sending host copies a file straight to the
//! receiving host with scp, as the seed does, but key-based (`-B`, batch
//! mode: no password prompt, so no password on any argv or in a watcher).
//! The key is a file on the sending host ([`ScpConfig::identity`]), or that
//! host's login user's default key. The data still flows host to host.
//!
//! Only files go this way (the seed uses scp only for files; xbstream and
//! tar streams always use socat). Sizes, and SHA-256 when configured, are
//! checked on both ends afterwards.

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
    let mut line = format!(
        "scp -B -P {} -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10",
        cfg.port
    );
    if let Some(id) = &cfg.identity {
        line.push_str(&format!(" -o IdentitiesOnly=yes -i {}", quote(id)));
    }
    if let Some(kh) = &cfg.known_hosts {
        line.push_str(&format!(
            " {}",
            quote(&format!("-oUserKnownHostsFile={kh}"))
        ));
    }
    line.push_str(&format!(
        " -- {} {}",
        quote(src),
        quote(&format!("{}@{host}:{dest}", cfg.user))
    ));
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
    Ok(TransferReport {
        bytes: sent,
        sha256: sha,
        port: 0,
        log_file: String::new(),
        elapsed: started.elapsed(),
        method: "scp",
    })
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
}
