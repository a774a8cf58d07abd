//! The temporary server on a restored data directory: its program
//! (installed or unpacked), socket, start (waiting until it answers or
//! dies) and clean stop.

use super::{REPLAY_BINLOG, Restore, relay, replay::tracking};
use crate::error::RecoveryError;
use crate::gtid_state::Tracking;
use remote::{Command, quote};
use std::time::{Duration, Instant};

/// Longest Unix socket path a server accepts (`sun_path` is 108 bytes).
const MAX_SOCKET_PATH: usize = 107;

/// The largest packet (and so the largest event group) the temporary
/// server and the replay client accept: MariaDB's and MySQL's maximum. One
/// transaction of a million rows is one event group of that size in the
/// binlog, and must still replay.
pub(super) const MAX_PACKET: &str = "1G";

/// The temporary server's socket: in its restore directory, or, when that
/// path is too long for a Unix socket (deep work-dirs), under `/tmp` named
/// by its port (unique on the host while it runs).
pub(super) fn socket_path(base: &str, port: u16) -> String {
    let local = format!("{base}/mysqld.sock");
    if local.len() <= MAX_SOCKET_PATH {
        local
    } else {
        format!("/tmp/dbrecover-{port}.sock")
    }
}

/// A started temporary server: its command (to kill) and its exit.
pub(super) struct TempServer {
    id: remote::CommandId,
    exit: tokio::task::JoinHandle<remote::Result<i32>>,
}

/// The temporary servers' program: the job server's installed one, or one
/// unpacked from the backup's `datanode_base/*.tar.gz`, which then runs
/// with that base directory's messages, character sets and plugins (as the
/// seed passes `--lc-messages-dir`), not the compiled-in system paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinary {
    /// The program (`.../bin/mariadbd` or `mysqld`).
    pub program: String,
    /// The unpacked base directory it belongs to, if any.
    pub basedir: Option<String>,
}

impl ServerBinary {
    /// Shell words for the base directory's options (empty for an
    /// installed server); optional directories only when present.
    fn options(&self) -> String {
        let Some(b) = &self.basedir else {
            return String::new();
        };
        let at = |rel: &str| quote(&format!("{b}/{rel}")).into_owned();
        format!(
            "--basedir={} --lc-messages-dir={} \
             $([ -d {cs} ] && echo --character-sets-dir={cs}) $([ -d {pl} ] && echo --plugin-dir={pl})",
            quote(b),
            at("share"),
            cs = at("share/charsets"),
            pl = at("lib/plugin"),
        )
    }
}

impl Restore<'_> {
    pub(super) async fn start_server(
        &self,
        ds: &str,
        data: &str,
        base: &str,
        socket: &str,
        port: u16,
        relay: Option<&relay::Relay>,
    ) -> Result<TempServer, RecoveryError> {
        let extra_options = relay.map(relay::Relay::server_options);
        // A binary log of its own tracks the GTIDs a client-session replay
        // applies (the SQL thread tracks them in gtid_slave_pos). No sync
        // per commit: a crash fails the recovery anyway, and the clean
        // shutdown flushes.
        // Buffered I/O (not 10.11's default O_DIRECT): the files were just
        // written by extract and prepare and are in the page cache, which
        // the replay and the row counts then read instead of the disk.
        // Linear read-ahead from the first page of an extent: the row counts
        // scan every table once (1 GiB: 1.7 s -> 0.8 s here).
        let script = format!(
            "user=; [ \"$(id -u)\" = 0 ] && user=--user=root\n\
             exec {prog} --no-defaults $user {basedir} --datadir={data} --socket={socket} --port={port} \
             --bind-address=127.0.0.1 --pid-file={base}/mysqld.pid --log-error={base}/mysqld.err \
             --skip-grant-tables --skip-slave-start --innodb-buffer-pool-size=128M \
             {log_bin} --server-id={port} --innodb-flush-log-at-trx-commit=2 \
             --innodb-flush-method=fsync --innodb-read-ahead-threshold=0 \
             --max-allowed-packet={MAX_PACKET} --slave-max-allowed-packet={MAX_PACKET} {flavor} {extra}",
            prog = quote(&self.server.program),
            basedir = self.server.options(),
            data = quote(data),
            socket = quote(socket),
            base = quote(base),
            log_bin = match tracking(relay) {
                Tracking::Binlog => format!(
                    "--log-bin={} --sync-binlog=0",
                    quote(&format!("{base}/{REPLAY_BINLOG}"))
                ),
                Tracking::SlavePos => String::new(),
            },
            flavor = super::programs::server_options(self.tool.flavor),
            extra = extra_options.unwrap_or_default(),
        );
        let running = self
            .job
            .spawn(
                &Command::shell(script),
                Some(Duration::from_secs(24 * 3600)),
            )
            .await
            .map_err(|e| self.err(ds, "starting the temporary server", e))?;
        // Waited on (and its pipes drained) in the background, so a server
        // that dies at start-up is noticed at once, not after the deadline.
        let server = TempServer {
            id: running.id.clone(),
            exit: tokio::spawn(running.wait()),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        // Pinged on the job server every 50 ms, ~2 s per round trip.
        let ping = Command::shell(format!(
            "i=0; while [ $i -lt 40 ]; do \
             {admin} --no-defaults --socket={socket} ping >/dev/null 2>&1 && exit 0; \
             i=$((i+1)); sleep 0.05; done; exit 1",
            admin = self
                .server
                .companion(super::programs::admin_name(self.tool.flavor)),
            socket = quote(socket)
        ));
        loop {
            if let Ok(out) = self.job.exec(&ping, Duration::from_secs(10)).await
                && out.success()
            {
                crate::fault::point("temporary server started");
                return Ok(server);
            }
            let exited = server.exit.is_finished();
            if exited || Instant::now() > deadline {
                let _ = self.job.kill(&server.id).await;
                let why = if exited {
                    "it exited"
                } else {
                    "not answering after 120 s"
                };
                let e = self.err(ds, "starting the temporary server", why);
                return Err(self.with_server_log(ds, e).await);
            }
        }
    }

    /// `e` with the last lines of the datasource's temporary server log
    /// (`<restore dir>/mysqld.err`) added to its detail.
    pub(super) async fn with_server_log(&self, ds: &str, e: RecoveryError) -> RecoveryError {
        let log = format!("{}/mysqld.err", self.plan.restore_dir(ds));
        let tail = self
            .sh(
                ds,
                "reading the server log",
                Command::shell(format!("tail -n 5 {}", quote(&log))),
            )
            .await
            .unwrap_or_default();
        let tail = tail.trim().replace('\n', " / ");
        match e {
            RecoveryError::Datasource {
                datasource,
                step,
                detail,
            } if !tail.is_empty() => RecoveryError::Datasource {
                datasource,
                step,
                detail: format!("{detail}; {log} ends: {tail}"),
            },
            other => other,
        }
    }

    pub(super) async fn stop_server(
        &self,
        ds: &str,
        socket: &str,
        server: TempServer,
    ) -> Result<(), RecoveryError> {
        // The SQL statement returns at once; the server's exit (an event
        // from the job server) says the clean shutdown is done.
        // `mariadb-admin shutdown` would poll its pid file once a second.
        let step = "stopping the temporary server";
        let asked = self.sql(ds, socket, step, &["SHUTDOWN".to_owned()]).await;
        let bound = if asked.is_ok() { 120 } else { 30 };
        if let Err(e) = &asked {
            tracing::warn!(datasource = ds, error = %e, "SHUTDOWN refused; waiting {bound} s for the server to end before killing it");
        }
        match tokio::time::timeout(Duration::from_secs(bound), server.exit).await {
            Ok(_) if asked.is_ok() => Ok(()),
            Ok(_) => Err(self.err(ds, step, "the server ended without a clean SHUTDOWN")),
            Err(_) => {
                let _ = self.job.kill(&server.id).await;
                Err(self.err(
                    ds,
                    step,
                    format!("still running {bound} s after SHUTDOWN; killed"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpacked_server_runs_with_its_base_directory() {
        let installed = ServerBinary {
            program: "/usr/sbin/mariadbd".into(),
            basedir: None,
        };
        assert_eq!(installed.options(), "");
        let unpacked = ServerBinary {
            program: "/w/t/basedir/m 1/bin/mariadbd".into(),
            basedir: Some("/w/t/basedir/m 1".into()),
        };
        let o = unpacked.options();
        assert!(
            o.starts_with(
                "--basedir='/w/t/basedir/m 1' --lc-messages-dir='/w/t/basedir/m 1/share'"
            ),
            "{o}"
        );
        assert!(
            o.contains("--plugin-dir='/w/t/basedir/m 1/lib/plugin'"),
            "{o}"
        );
    }

    #[test]
    fn socket_stays_in_the_restore_dir_unless_too_long() {
        assert_eq!(
            socket_path("/w/t/restore/ds", 27000),
            "/w/t/restore/ds/mysqld.sock"
        );
        let deep = format!("/work/{}/restore/normal_1", "x".repeat(90));
        assert_eq!(socket_path(&deep, 27001), "/tmp/dbrecover-27001.sock");
    }
}
