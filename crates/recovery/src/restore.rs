//! One datasource on the job server: extract and prepare the chain's
//! streams of its data directory, start a temporary server on the result,
//! remove its replication configuration, set its GTID state, replay the
//! master's binlogs to the target, store the recovered GTID position, shut
//! it down.

mod relay;
mod report;
mod writeback;

pub use report::TableRows;

use crate::error::RecoveryError;
use crate::gtid_state::{self, ServerFlavor, Tracking};
use crate::plan::RecoveryPlan;
use binlog::{ApplyStop, BinlogPos, DatasourceApply, GtidSet};
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

/// The temporary server's own binary log (in the restore directory, outside
/// the data): it only tracks the GTIDs the replay applies, and is removed
/// once the recovered position is stored in the data.
const REPLAY_BINLOG: &str = "replay-bin";

/// What `mariadb-binlog` is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The replay: from the start (after the executed GTIDs) to the stop.
    Replay,
    /// Listing every GTID of the files up to a stop position.
    Listing,
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
    /// The server to run.
    pub server: ServerBinary,
    /// The SQL client program.
    pub client: String,
    /// Bound on one step.
    pub timeout: Duration,
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

/// What a restored datasource left.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The datasource.
    pub datasource: String,
    /// Its data directory on the job server, ready to start.
    pub data_dir: String,
    /// Binlog files replayed (0 when the data already reached the target).
    pub binlogs: usize,
    /// The GTID state the data now holds (the backup's executed GTIDs plus
    /// the replayed ones; MariaDB: its `gtid_slave_pos`), when it has one.
    pub gtid: Option<GtidSet>,
    /// How the binlogs were replayed: `the SQL thread` (over them as relay
    /// logs), `mariadb-binlog` (piped into the client), or `nothing`.
    pub replayed_by: &'static str,
    /// The exact stop the replay used (`--stop-position=N on FILE`,
    /// `--stop-datetime='...'`), `None` when nothing was replayed.
    pub stop_used: Option<String>,
    /// The master's binlog position the data now reaches (position targets;
    /// a time target reports its GTID state instead).
    pub position: Option<BinlogPos>,
    /// Row counts of every table outside the system schemas.
    pub tables: Vec<TableRows>,
    /// How long each step took.
    pub timings: stream::Timings,
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
        let mut t = stream::Timings::of(ds);
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
            t.time(
                &format!("extracting {backup}"),
                self.sh(
                    ds,
                    &step,
                    writeback::flushing_as_it_writes(
                        xtrabackup::extract(
                            self.flavor,
                            compression,
                            StreamSource::File(&stream),
                            &target,
                        ),
                        &target,
                    ),
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
            t.time(
                &step,
                self.sh(
                    ds,
                    &step,
                    xtrabackup::prepare(self.flavor, &data, &prep, Some("256M")),
                ),
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
        // The server's SQL thread replays when it can do so exactly (MariaDB,
        // a position stop); its relay logs must be there before it starts.
        let relay = relay::Relay::plan(apply, &base)
            .filter(|_| ServerFlavor::of(self.flavor) == ServerFlavor::Mariadb);
        if let Some(r) = &relay {
            let sources = binlog_paths(self.plan, self.store_dir, apply);
            self.sh(
                ds,
                "staging the binlogs as relay logs",
                Command::shell(r.stage_script(&sources)),
            )
            .await?;
        }
        let server = t
            .time(
                "starting the temporary server",
                self.start_server(ds, &data, &base, &socket, port, relay.as_ref()),
            )
            .await?;
        let replay = t
            .time(
                "replaying binlogs",
                self.replay_with_state(ds, apply, &socket, relay.as_ref()),
            )
            .await;
        let tables = match &replay {
            Ok(_) => Some(t.time("counting rows", self.count_rows(ds, &socket)).await),
            Err(_) => None,
        };
        let stop = t
            .time(
                "stopping the temporary server",
                self.stop_server(ds, &socket, server),
            )
            .await;
        let (replayed, gtid) = replay?;
        let tables = tables.unwrap_or(Ok(Vec::new()))?;
        stop?;
        // A copied auto.cnf would give the new server the old one's uuid;
        // the replay's binary log is scratch once its position is stored.
        let _ = self
            .sh(
                ds,
                "removing auto.cnf and the replay's binary log",
                Command::shell(format!(
                    "rm -rf {} {base}/{REPLAY_BINLOG}.* {base}/relay",
                    quote(&format!("{data}/auto.cnf")),
                    base = quote(&base)
                )),
            )
            .await;
        Ok(Restored {
            datasource: ds.to_owned(),
            data_dir: data,
            binlogs: replayed,
            replayed_by: match (replayed, &relay) {
                (0, _) => "nothing",
                (_, Some(_)) => "the SQL thread",
                (_, None) => "mariadb-binlog",
            },
            stop_used: (replayed > 0).then(|| report::stop_used(&apply.stop, relay.is_some())),
            position: match &apply.stop {
                ApplyStop::Position(p) => Some(p.clone()),
                ApplyStop::Datetime(_) => None,
            },
            gtid,
            tables,
            timings: t,
        })
    }

    /// Row counts of every application table, read from the temporary server.
    async fn count_rows(&self, ds: &str, socket: &str) -> Result<Vec<TableRows>, RecoveryError> {
        let step = "counting the rows of every table";
        let out = self
            .sh(
                ds,
                step,
                Command::new("bash")
                    .arg("-c")
                    .arg(report::row_count_script(&self.client, socket)),
            )
            .await?;
        report::parse_row_counts(&out).map_err(|e| self.err(ds, step, e))
    }

    /// Runs `statements` on the temporary server (through stdin, in order,
    /// stopping at the first error); returns the batch output.
    async fn sql(
        &self,
        ds: &str,
        socket: &str,
        step: &str,
        statements: &[String],
    ) -> Result<String, RecoveryError> {
        if statements.is_empty() {
            return Ok(String::new());
        }
        let script = statements.join(";\n") + ";\n";
        let cmd = Command::new(self.client.as_str())
            .arg("--no-defaults")
            .arg(format!("--socket={socket}"))
            .arg("--batch")
            .arg("--skip-column-names")
            .stdin(script);
        self.sh(ds, step, cmd).await
    }

    /// No replication configured, the GTID history set to the restored
    /// data's, the replay, then the recovered position stored in the data.
    /// Returns the files replayed and the recovered GTID state.
    async fn replay_with_state(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        socket: &str,
        relay: Option<&relay::Relay>,
    ) -> Result<(usize, Option<GtidSet>), RecoveryError> {
        let flavor = ServerFlavor::of(self.flavor);
        let tracking = tracking(relay);
        self.sql(
            ds,
            socket,
            "setting the GTID state of the restored data",
            &gtid_state::before_replay(flavor, tracking, apply.skip_gtids.as_ref()),
        )
        .await?;
        let connections: Vec<String> = match gtid_state::connections_query(flavor) {
            Some(q) => self
                .sql(
                    ds,
                    socket,
                    "listing replication connections",
                    &[q.to_owned()],
                )
                .await?
                .lines()
                .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
                .collect(),
            None => Vec::new(),
        };
        self.sql(
            ds,
            socket,
            "removing the replication configuration (RESET SLAVE ALL)",
            &gtid_state::reset_replication(flavor, &connections),
        )
        .await?;
        let replayed = match relay {
            Some(r) => self.replay_by_sql_thread(ds, apply, socket, r).await?,
            None => self.replay(ds, apply, socket).await?,
        };
        let step = "reading the recovered GTID state";
        let text = self
            .sql(
                ds,
                socket,
                step,
                &[gtid_state::recovered_query(flavor, tracking).to_owned()],
            )
            .await?;
        let recovered =
            gtid_state::parse_recovered(flavor, &text).map_err(|e| self.err(ds, step, e))?;
        if recovered.is_empty() {
            tracing::warn!(
                datasource = ds,
                "no executed GTIDs and nothing replayed: the restored data has no GTID position"
            );
            return Ok((replayed, None));
        }
        self.sql(
            ds,
            socket,
            "storing the recovered GTID position",
            &gtid_state::after_replay(flavor, tracking, &recovered),
        )
        .await?;
        tracing::info!(datasource = ds, gtid = %recovered, "recovered GTID state");
        Ok((replayed, Some(recovered)))
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
             --innodb-flush-method=fsync --innodb-read-ahead-threshold=0 {extra}",
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
             mariadb-admin --no-defaults --socket={} ping >/dev/null 2>&1 && exit 0; \
             i=$((i+1)); sleep 0.05; done; exit 1",
            quote(socket)
        ));
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
        let reader = binlog_command(self.plan, self.store_dir, apply, Reading::Replay);
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

    /// Replays the binlogs staged as `relay` logs with the server's SQL
    /// thread (see [`relay`]); returns how many files it read.
    async fn replay_by_sql_thread(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        socket: &str,
        relay: &relay::Relay,
    ) -> Result<usize, RecoveryError> {
        let step = "finding the first transaction to replay";
        let start = match &apply.skip_gtids {
            Some(GtidSet::Mariadb(after)) => {
                let files: Vec<String> = apply.binlogs.iter().map(|b| b.file.to_string()).collect();
                // No pipefail: the filter stops reading at the first match.
                let script = format!(
                    "{} | {}",
                    binlog_command(self.plan, self.store_dir, apply, Reading::Replay),
                    relay::first_transaction_filter(&files)
                );
                let out = self
                    .sh(ds, step, Command::new("bash").arg("-c").arg(script))
                    .await?;
                match out.split_whitespace().collect::<Vec<_>>()[..] {
                    [file, pos] => BinlogPos {
                        file: file.parse().map_err(|e| self.err(ds, step, e))?,
                        pos: pos.parse().map_err(|e| self.err(ds, step, e))?,
                    },
                    [] if self.nothing_after(ds, apply, after).await? => {
                        tracing::info!(
                            datasource = ds,
                            "the restored data already reaches the target: no binlog to replay"
                        );
                        return Ok(0);
                    }
                    _ => {
                        return Err(self.err(
                            ds,
                            step,
                            format!("no transaction after GTID position {after} in the binlogs, but not every one is applied: {out}"),
                        ));
                    }
                }
            }
            _ => apply.start.clone(),
        };
        let step = "replaying binlogs (SQL thread over the relay logs)";
        self.sql(ds, socket, step, &relay.statements(&start))
            .await?;
        // Polled on the job server (every 50 ms, ~5 s per round trip).
        let status = Command::shell(relay::wait_status_script(&self.client, socket, 100));
        let deadline = Instant::now() + Duration::from_secs(24 * 3600);
        loop {
            let thread = relay::SqlThread::parse(&self.sh(ds, step, status.clone()).await?);
            if let Some(e) = thread.error {
                return Err(self.err(
                    ds,
                    step,
                    format!("{e} (from {start}; relay logs in {})", relay.dir),
                ));
            }
            if !thread.running {
                let stop = (relay.stop.file.to_string(), relay.stop.pos);
                if thread.at.as_ref() != Some(&stop) {
                    return Err(self.err(
                        ds,
                        step,
                        format!(
                            "the SQL thread stopped at {:?}, not at {}",
                            thread.at, relay.stop
                        ),
                    ));
                }
                break;
            }
            if Instant::now() > deadline {
                return Err(self.err(ds, step, "still running after 24 h"));
            }
        }
        // The replication set up for the replay goes too (and its relay logs,
        // which are links or copies).
        self.sql(
            ds,
            socket,
            "removing the replay's replication configuration",
            &["STOP SLAVE".to_owned(), "RESET SLAVE ALL".to_owned()],
        )
        .await?;
        tracing::info!(datasource = ds, from = %start, to = %relay.stop, "replayed by the SQL thread");
        Ok(apply
            .binlogs
            .iter()
            .filter(|b| b.file >= start.file)
            .count())
    }

    /// Whether every GTID in the replay range is already in `pos`.
    async fn nothing_after(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        pos: &binlog::MariadbGtidPos,
    ) -> Result<bool, RecoveryError> {
        let script = format!(
            "{} | grep -o 'GTID [0-9]*-[0-9]*-[0-9]*' | cut -d' ' -f2 | sort -u",
            binlog_command(self.plan, self.store_dir, apply, Reading::Listing)
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

/// How the replay's GTIDs are tracked: by the SQL thread in
/// `gtid_slave_pos`, else by the temporary server's binary log.
fn tracking(relay: Option<&relay::Relay>) -> Tracking {
    if relay.is_some() {
        Tracking::SlavePos
    } else {
        Tracking::Binlog
    }
}

/// Where `apply`'s binlogs are on the job server, in replay order.
fn binlog_paths(plan: &RecoveryPlan, store_dir: &str, apply: &DatasourceApply) -> Vec<String> {
    apply
        .binlogs
        .iter()
        .map(|b| {
            format!(
                "{}/{}/{}",
                plan.backup_dir(store_dir, b.backup),
                b.dir,
                b.file
            )
        })
        .collect()
}

/// The `mariadb-binlog` command line over `apply`'s files: for the replay
/// from after the executed GTIDs (MariaDB: a GTID start position; MySQL:
/// `--exclude-gtids` and the byte start) to the stop; for a listing, every
/// event up to a stop position (a datetime stop is left out: listing more
/// GTIDs only makes [`Restore::nothing_after`] answer no).
fn binlog_command(
    plan: &RecoveryPlan,
    store_dir: &str,
    apply: &DatasourceApply,
    reading: Reading,
) -> String {
    let mut args = vec!["--no-defaults".to_owned()];
    if reading == Reading::Replay {
        match &apply.skip_gtids {
            Some(GtidSet::Mariadb(pos)) => args.push(format!("--start-position={pos}")),
            Some(GtidSet::Mysql(set)) => {
                args.push(format!("--exclude-gtids={set}"));
                args.push(format!("--start-position={}", apply.start.pos));
            }
            None => args.push(format!("--start-position={}", apply.start.pos)),
        }
    }
    match (&apply.stop, reading) {
        (ApplyStop::Position(p), _) => args.push(format!("--stop-position={}", p.pos)),
        (ApplyStop::Datetime(t), Reading::Replay) => {
            args.push(format!("--stop-datetime={}", t.format("%Y-%m-%d %H:%M:%S")))
        }
        (ApplyStop::Datetime(_), Reading::Listing) => {}
    }
    args.extend(binlog_paths(plan, store_dir, apply));
    format!(
        "mariadb-binlog {}",
        args.iter()
            .map(|a| quote(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(skip: Option<&str>, stop: ApplyStop) -> (RecoveryPlan, DatasourceApply) {
        let full: binlog::BackupName = "UTC20260101000000.000-full".parse().unwrap();
        let dir: binlog::ServerDir = "ds0-s1-127.0.0.11-3306".parse().unwrap();
        let file = |n: &str| -> binlog::BinlogName { n.parse().unwrap() };
        let apply = DatasourceApply {
            datasource: "ds0".into(),
            data_dir: dir.clone(),
            binlog_dir: dir.clone(),
            start: binlog::BinlogPos {
                file: file("mysql-bin.000001"),
                pos: 400,
            },
            skip_gtids: skip.map(|g| {
                let flavor = if g.contains(':') {
                    binlog::GtidFlavor::Mysql
                } else {
                    binlog::GtidFlavor::Mariadb
                };
                GtidSet::parse(flavor, g).unwrap()
            }),
            binlogs: ["mysql-bin.000001", "mysql-bin.000002"]
                .into_iter()
                .map(|f| binlog::apply_plan::BinlogSource {
                    backup: full,
                    dir: dir.clone(),
                    file: file(f),
                })
                .collect(),
            stop,
        };
        let plan = RecoveryPlan {
            apply: binlog::ApplyPlan {
                chain: binlog::Chain {
                    backups: vec![full],
                    next: None,
                    stop_datetime: None,
                },
                datasources: vec![apply.clone()],
            },
            encrypted: false,
            store: "h:/s".into(),
            job_host: "h".into(),
            job_dir: "/w/t".into(),
            in_place: false,
            first_port: 27000,
            space: Default::default(),
        };
        (plan, apply)
    }

    #[test]
    fn replay_and_listing_read_the_same_files_with_their_own_range() {
        let stop = ApplyStop::Position(binlog::BinlogPos {
            file: "mysql-bin.000002".parse().unwrap(),
            pos: 900,
        });
        let (plan, apply) = sample(Some("0-1-7"), stop);
        let files = "/w/t/UTC20260101000000.000-full/ds0-s1-127.0.0.11-3306/mysql-bin.000001 \
                     /w/t/UTC20260101000000.000-full/ds0-s1-127.0.0.11-3306/mysql-bin.000002";
        assert_eq!(
            binlog_command(&plan, "/s", &apply, Reading::Replay),
            format!(
                "mariadb-binlog --no-defaults --start-position=0-1-7 --stop-position=900 {files}"
            )
        );
        assert_eq!(
            binlog_command(&plan, "/s", &apply, Reading::Listing),
            format!("mariadb-binlog --no-defaults --stop-position=900 {files}")
        );
    }

    #[test]
    fn mysql_excludes_gtids_and_a_datetime_stop_is_quoted() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let t = chrono::NaiveDateTime::parse_from_str("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")
            .unwrap();
        let (plan, apply) = sample(Some(&format!("{u}:1-5")), ApplyStop::Datetime(t));
        let replay = binlog_command(&plan, "/s", &apply, Reading::Replay);
        assert!(
            replay.starts_with(&format!(
                "mariadb-binlog --no-defaults --exclude-gtids={u}:1-5 --start-position=400 '--stop-datetime=2026-01-02 03:04:05' /w/t/"
            )),
            "{replay}"
        );
        let listing = binlog_command(&plan, "/s", &apply, Reading::Listing);
        assert!(!listing.contains("stop"), "{listing}");
        let (plan, apply) = sample(None, ApplyStop::Datetime(t));
        assert!(
            binlog_command(&plan, "/s", &apply, Reading::Replay)
                .contains("--no-defaults --start-position=400 '--stop")
        );
    }

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
