//! One datasource on the job server: extract and prepare the chain's
//! streams of its data directory, start a temporary server on the result,
//! replay the master's binlogs to the target, shut it down.

use crate::error::RecoveryError;
use crate::plan::RecoveryPlan;
use binlog::{ApplyStop, DatasourceApply, GtidSet};
use remote::{Command, Transport, quote};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xtrabackup::{Compression, Flavor, PrepareStep, StreamSource};

/// Longest Unix socket path a server accepts (`sun_path` is 108 bytes).
const MAX_SOCKET_PATH: usize = 107;

/// The temporary server's socket: in its restore directory, or, when that
/// path is too long for a Unix socket (deep work-dirs), under `/tmp` named
/// by its port (unique on the host while it runs).
fn socket_path(base: &str, port: u16) -> String {
    let local = format!("{base}/mysqld.sock");
    if local.len() <= MAX_SOCKET_PATH {
        local
    } else {
        format!("/tmp/dbrecover-{port}.sock")
    }
}

/// A started temporary server: its command (to kill) and its exit.
struct TempServer {
    id: remote::CommandId,
    exit: tokio::task::JoinHandle<remote::Result<i32>>,
}

/// How a datasource is restored.
pub struct Restore<'a> {
    /// The job server.
    pub job: &'a Arc<dyn Transport>,
    /// The plan.
    pub plan: &'a RecoveryPlan,
    /// The store's directory (for in-place chains).
    pub store_dir: &'a str,
    /// The backup tool on the job server.
    pub flavor: Flavor,
    /// The server program to run (`mariadbd`, or one from a base tarball).
    pub server_program: String,
    /// The SQL client program.
    pub client: String,
    /// Bound on one step.
    pub timeout: Duration,
}

/// What a restored datasource left.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The datasource.
    pub datasource: String,
    /// Its data directory on the job server, ready to start.
    pub data_dir: String,
    /// Binlog files replayed (0 when the data already reached the target).
    pub binlogs: usize,
}

impl Restore<'_> {
    fn err(&self, ds: &str, step: &str, detail: impl std::fmt::Display) -> RecoveryError {
        RecoveryError::Datasource {
            datasource: ds.to_owned(),
            step: step.to_owned(),
            detail: detail.to_string(),
        }
    }

    async fn sh(&self, ds: &str, step: &str, cmd: Command) -> Result<String, RecoveryError> {
        let out = self
            .job
            .exec(&cmd, self.timeout)
            .await
            .map_err(|e| self.err(ds, step, e))?;
        if !out.success() {
            let stderr = out.stderr_str();
            let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
            return Err(self.err(
                ds,
                step,
                format!(
                    "exit {}: {}",
                    out.exit_status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                ),
            ));
        }
        Ok(out.stdout_str())
    }

    /// Restores one datasource; `index` picks its temporary port.
    pub async fn run(
        &self,
        apply: &DatasourceApply,
        index: usize,
    ) -> Result<Restored, RecoveryError> {
        let ds = apply.datasource.as_str();
        let base = self.plan.restore_dir(ds);
        let data = format!("{base}/data");
        self.sh(
            ds,
            "cleaning the restore directory",
            Command::shell(format!("rm -rf {0} && mkdir -p {0}", quote(&base))),
        )
        .await?;
        let chain = &self.plan.apply.chain.backups;
        for (i, backup) in chain.iter().enumerate() {
            let stream = format!(
                "{}/{}/backup.xbsteam",
                self.plan.backup_dir(self.store_dir, *backup),
                apply.data_dir
            );
            let target = if i == 0 {
                data.clone()
            } else {
                format!("{base}/inc{i}")
            };
            let compression = self.compression(ds, &stream).await?;
            let step = format!("extracting {backup}/{}/backup.xbsteam", apply.data_dir);
            self.sh(
                ds,
                &step,
                xtrabackup::extract(
                    self.flavor,
                    compression,
                    StreamSource::File(&stream),
                    &target,
                ),
            )
            .await?;
            let more = i + 1 < chain.len();
            let prep = if i == 0 {
                PrepareStep::Full {
                    incrementals_follow: more,
                }
            } else {
                PrepareStep::Incremental {
                    incremental_dir: target.clone(),
                    more_follow: more,
                }
            };
            let step = format!("preparing {backup}");
            self.sh(
                ds,
                &step,
                xtrabackup::prepare(self.flavor, &data, &prep, Some("256M")),
            )
            .await?;
            tracing::info!(datasource = ds, %backup, "extracted and prepared");
        }
        let port = self.plan.first_port as usize + index;
        let port = u16::try_from(port).map_err(|_| {
            self.err(
                ds,
                "choosing a port",
                "server-tmp-port + index is not a port",
            )
        })?;
        let socket = socket_path(&base, port);
        let server = self.start_server(ds, &data, &base, &socket, port).await?;
        let replay = self.replay(ds, apply, &socket).await;
        let stop = self.stop_server(ds, &socket, server).await;
        let replayed = replay?;
        stop?;
        // A copied auto.cnf would give the new server the old one's uuid.
        let _ = self
            .sh(
                ds,
                "removing auto.cnf",
                Command::new("rm").arg("-f").arg(format!("{data}/auto.cnf")),
            )
            .await;
        Ok(Restored {
            datasource: ds.to_owned(),
            data_dir: data,
            binlogs: replayed,
        })
    }

    /// zstd-compressed streams start with its magic number.
    async fn compression(&self, ds: &str, stream: &str) -> Result<Compression, RecoveryError> {
        let magic = self
            .sh(
                ds,
                &format!("reading {stream}"),
                Command::shell(format!("head -c 4 {} | od -An -tx1", quote(stream))),
            )
            .await?;
        Ok(
            if magic.split_whitespace().collect::<String>() == "28b52ffd" {
                Compression::Zstd { threads: 2 }
            } else {
                Compression::None
            },
        )
    }

    async fn start_server(
        &self,
        ds: &str,
        data: &str,
        base: &str,
        socket: &str,
        port: u16,
    ) -> Result<TempServer, RecoveryError> {
        let script = format!(
            "user=; [ \"$(id -u)\" = 0 ] && user=--user=root\n\
             exec {prog} --no-defaults $user --datadir={data} --socket={socket} --port={port} \
             --bind-address=127.0.0.1 --pid-file={base}/mysqld.pid --log-error={base}/mysqld.err \
             --skip-grant-tables --skip-slave-start --skip-log-bin --innodb-buffer-pool-size=128M",
            prog = quote(&self.server_program),
            data = quote(data),
            socket = quote(socket),
            base = quote(base),
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
        let ping = Command::new("mariadb-admin")
            .arg("--no-defaults")
            .arg(format!("--socket={socket}"))
            .arg("ping");
        loop {
            if let Ok(out) = self.job.exec(&ping, Duration::from_secs(10)).await
                && out.success()
            {
                return Ok(server);
            }
            let exited = server.exit.is_finished();
            if exited || Instant::now() > deadline {
                let _ = self.job.kill(&server.id).await;
                let log = self
                    .sh(
                        ds,
                        "reading the server log",
                        Command::shell(format!(
                            "tail -n 5 {}",
                            quote(&format!("{base}/mysqld.err"))
                        )),
                    )
                    .await
                    .unwrap_or_default();
                let why = if exited {
                    "it exited"
                } else {
                    "not answering after 120 s"
                };
                return Err(self.err(
                    ds,
                    "starting the temporary server",
                    format!("{why}; {base}/mysqld.err ends: {log}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Replays the binlogs; returns how many files were replayed.
    async fn replay(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        socket: &str,
    ) -> Result<usize, RecoveryError> {
        if apply.binlogs.is_empty() {
            return Ok(0);
        }
        let mut args = vec!["--no-defaults".to_owned()];
        match &apply.skip_gtids {
            Some(GtidSet::Mariadb(pos)) => args.push(format!("--start-position={pos}")),
            Some(GtidSet::Mysql(set)) => {
                args.push(format!("--exclude-gtids={set}"));
                args.push(format!("--start-position={}", apply.start.pos));
            }
            None => args.push(format!("--start-position={}", apply.start.pos)),
        }
        match &apply.stop {
            ApplyStop::Position(p) => args.push(format!("--stop-position={}", p.pos)),
            ApplyStop::Datetime(t) => {
                args.push(format!("--stop-datetime={}", t.format("%Y-%m-%d %H:%M:%S")))
            }
        }
        for b in &apply.binlogs {
            args.push(format!(
                "{}/{}/{}",
                self.plan.backup_dir(self.store_dir, b.backup),
                b.dir,
                b.file
            ));
        }
        let reader = format!(
            "mariadb-binlog {}",
            args.iter()
                .map(|a| quote(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let script = format!(
            "set -o pipefail; {reader} | {client} --no-defaults --socket={socket} --binary-mode",
            client = quote(&self.client),
            socket = quote(socket),
        );
        match self
            .sh(
                ds,
                "replaying binlogs",
                Command::new("bash").arg("-c").arg(script),
            )
            .await
        {
            Ok(_) => Ok(apply.binlogs.len()),
            // mariadb-binlog fails this way when the restored data already
            // holds the last transaction before the stop: nothing to replay.
            Err(e) if e.to_string().contains("never reached expected GTID state") => {
                match &apply.skip_gtids {
                    Some(GtidSet::Mariadb(pos)) if self.nothing_after(ds, apply, pos).await? => {
                        tracing::info!(
                            datasource = ds,
                            "the restored data already reaches the target: no binlog to replay"
                        );
                        Ok(0)
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Whether every GTID in the replay range is already in `pos`.
    async fn nothing_after(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        pos: &binlog::MariadbGtidPos,
    ) -> Result<bool, RecoveryError> {
        let mut args = vec!["--no-defaults".to_owned()];
        if let ApplyStop::Position(p) = &apply.stop {
            args.push(format!("--stop-position={}", p.pos));
        }
        for b in &apply.binlogs {
            args.push(format!(
                "{}/{}/{}",
                self.plan.backup_dir(self.store_dir, b.backup),
                b.dir,
                b.file
            ));
        }
        let script = format!(
            "mariadb-binlog {} | grep -o 'GTID [0-9]*-[0-9]*-[0-9]*' | cut -d' ' -f2 | sort -u",
            args.iter()
                .map(|a| quote(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = self
            .sh(
                ds,
                "listing the binlogs' GTIDs",
                Command::new("bash").arg("-c").arg(script),
            )
            .await?;
        for g in out.split_whitespace() {
            let single: binlog::MariadbGtidPos = g
                .parse()
                .map_err(|e| self.err(ds, "listing the binlogs' GTIDs", e))?;
            if !single.is_subset(pos) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn stop_server(
        &self,
        ds: &str,
        socket: &str,
        server: TempServer,
    ) -> Result<(), RecoveryError> {
        let shutdown = Command::new("mariadb-admin")
            .arg("--no-defaults")
            .arg(format!("--socket={socket}"))
            .arg("shutdown");
        if let Err(e) = self.sh(ds, "stopping the temporary server", shutdown).await {
            tracing::warn!(datasource = ds, error = %e, "shutdown refused; killing the temporary server");
            let _ = self.job.kill(&server.id).await;
        }
        match tokio::time::timeout(Duration::from_secs(120), server.exit).await {
            Ok(_) => Ok(()),
            Err(_) => Err(self.err(
                ds,
                "stopping the temporary server",
                "still running after 120 s",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
