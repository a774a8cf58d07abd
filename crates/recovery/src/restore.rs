//! One datasource on the job server: extract and prepare the chain's
//! streams of its data directory, start a temporary server on the result,
//! remove its replication configuration, set its GTID state, replay the
//! master's binlogs to the target, store the recovered GTID position, shut
//! it down.

mod programs;
mod qp;
mod relay;
mod replay;
mod report;
mod server;
mod writeback;

pub use qp::{DBQPRESS, decompress_qp, decompressed_with};
pub use relay::{SqlThread, worker_options};
pub use report::TableRows;
pub use server::ServerBinary;

use crate::error::RecoveryError;
use crate::gtid_state::flavor_of;
use crate::plan::RecoveryPlan;
use binlog::GtidFlavor;
use binlog::{ApplyStop, BinlogPos, DatasourceApply, GtidSet};
#[cfg(test)]
pub(crate) use programs::test_flavors;
pub(crate) use programs::{admin_name, binlog_reader_name};
use remote::{Command, Transport, quote};
use replay::binlog_paths;
use server::socket_path;
use std::sync::Arc;
use std::time::Duration;
use xtrabackup::{Compression, PrepareStep, StreamSource, Tool};

/// The temporary server's own binary log (in the restore directory, outside
/// the data): it only tracks the GTIDs the replay applies, and is removed
/// once the recovered position is stored in the data.
const REPLAY_BINLOG: &str = "replay-bin";

/// How a datasource is restored.
pub struct Restore<'a> {
    /// The job server.
    pub job: &'a Arc<dyn Transport>,
    /// The plan.
    pub plan: &'a RecoveryPlan,
    /// The store's directory (for in-place chains).
    pub store_dir: &'a str,
    /// The backup tool on the job server.
    pub tool: Tool,
    /// The server to run.
    pub server: ServerBinary,
    /// The SQL client program.
    pub client: String,
    /// Bound on one step.
    pub timeout: Duration,
    /// Parallel workers of the SQL-thread replay (0: none).
    pub replay_workers: usize,
    /// The chain's file check, run beside the extraction: nothing is
    /// prepared before it has passed.
    pub(crate) checked: crate::check::Gate,
    /// Whether shipping already extracted every stream of the chain into
    /// its place (an encrypted chain through `dbagent untar`,
    /// [`crate::ship`]): the datasources then only prepare.
    pub(crate) extracted_while_shipping: bool,
    /// Told of each datasource's steps.
    pub(crate) watch: crate::observe::Watch,
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
    /// Its wall time, from cleaning its directory to its server's stop.
    pub elapsed: Duration,
}

impl Restore<'_> {
    fn err(&self, ds: &str, step: &str, detail: impl std::fmt::Display) -> RecoveryError {
        RecoveryError::Datasource {
            datasource: ds.to_owned(),
            step: format!("{step} (job server {})", self.job.host()),
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
        let started = std::time::Instant::now();
        let mut t = stream::Timings::of(ds);
        let base = self.plan.restore_dir(ds);
        let data = self.plan.datadir(&apply.data_dir);
        if !self.extracted_while_shipping {
            self.clean(ds, &base, &data).await?;
        }
        self.extract_and_prepare_chain(ds, apply, &base, &data, &mut t)
            .await?;
        let port = self.plan.first_port as usize + index;
        let port = u16::try_from(port).map_err(|_| {
            self.err(
                ds,
                "choosing a port",
                "server-tmp-port + index is not a port",
            )
        })?;
        // The server's SQL thread replays when it can do so exactly (MariaDB,
        // a position stop); its relay logs must be there before it starts.
        let relay = relay::Relay::plan(apply, &base, self.replay_workers)
            .filter(|_| flavor_of(self.tool.flavor) == GtidFlavor::Mariadb);
        let server = TemporaryServer {
            ds,
            data: &data,
            base: &base,
            port,
        };
        let Replayed {
            binlogs: replayed,
            gtid,
            tables,
        } = self
            .replay_on_temporary_server(apply, server, relay.as_ref(), &mut t)
            .await?;
        self.tidy(ds, &data, &base).await;
        self.watch.datasource_step(ds, "done");
        Ok(Restored {
            datasource: ds.to_owned(),
            data_dir: data,
            binlogs: replayed,
            replayed_by: match (replayed, &relay) {
                (0, _) => "nothing",
                (_, Some(_)) => "the SQL thread",
                (_, None) => binlog_reader_name(self.tool.flavor),
            },
            stop_used: (replayed > 0).then(|| report::stop_used(&apply.stop, relay.is_some())),
            position: match &apply.stop {
                ApplyStop::Position(p) => Some(p.clone()),
                ApplyStop::Datetime(_) => None,
            },
            gtid,
            tables,
            timings: t,
            elapsed: started.elapsed(),
        })
    }

    /// Empties (or creates) the restore and data directories.
    async fn clean(&self, ds: &str, base: &str, data: &str) -> Result<(), RecoveryError> {
        self.watch
            .datasource_step(ds, "cleaning the restore directory");
        self.sh(
            ds,
            "cleaning the restore directory",
            Command::shell(format!(
                "rm -rf {0} {1} && mkdir -p {0} {1}",
                quote(base),
                quote(data)
            )),
        )
        .await
        .map(drop)
    }

    /// Extracts each backup of the chain (the full into `data`, the
    /// incrementals beside it), decompresses `.qp` files, and prepares
    /// them in order.
    async fn extract_and_prepare_chain(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        base: &str,
        data: &str,
        t: &mut stream::Timings,
    ) -> Result<(), RecoveryError> {
        let chain = &self.plan.apply.chain.backups;
        for (i, backup) in chain.iter().enumerate() {
            let stream = format!(
                "{}/{}/backup.xbsteam",
                self.plan.backup_dir(self.store_dir, *backup),
                apply.data_dir
            );
            let target = self.plan.extract_dir(apply, i);
            if !self.extracted_while_shipping {
                let compression = self.compression(ds, &stream).await?;
                let step = format!(
                    "extracting {backup}/{}/backup.xbsteam into {target}",
                    apply.data_dir
                );
                self.watch
                    .datasource_step(ds, &format!("extracting {backup}"));
                let extract = extraction(
                    &self.tool,
                    compression,
                    StreamSource::File(&stream),
                    &target,
                );
                t.time(&format!("extracting {backup}"), self.sh(ds, &step, extract))
                    .await?;
            }
            // Backups taken with --compress hold .qp files (seed 001
            // decompresses them here, before prepare).
            let out = self
                .sh(
                    ds,
                    &format!("decompressing the .qp files in {target}"),
                    qp::decompress_qp(&self.tool, &target, &format!("{base}/qpress-bin")),
                )
                .await?;
            if let Some(by) = qp::decompressed_with(&out) {
                tracing::info!(datasource = ds, %backup, by, "decompressed the .qp files");
            }
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
            if !self.checked.passed().await {
                return Err(self.err(
                    ds,
                    &step,
                    "not prepared: the chain's files did not pass their check",
                ));
            }
            self.watch.datasource_step(ds, &step);
            t.time(
                &step,
                self.sh(
                    ds,
                    &format!("{step} in {data}"),
                    xtrabackup::prepare(&self.tool, data, &prep, Some("256M")),
                ),
            )
            .await?;
            tracing::info!(datasource = ds, %backup, "extracted and prepared");
        }
        Ok(())
    }

    /// Starts a temporary server on the prepared data, replays the binlogs
    /// (through its SQL thread when `relay` is staged), counts the rows,
    /// and stops it whatever happened.
    async fn replay_on_temporary_server(
        &self,
        apply: &DatasourceApply,
        server: TemporaryServer<'_>,
        relay: Option<&relay::Relay>,
        t: &mut stream::Timings,
    ) -> Result<Replayed, RecoveryError> {
        let TemporaryServer {
            ds,
            data,
            base,
            port,
        } = server;
        let socket = socket_path(base, port);
        if let Some(r) = relay {
            let sources = binlog_paths(self.plan, self.store_dir, apply);
            self.sh(
                ds,
                "staging the binlogs as relay logs",
                Command::shell(r.stage_script(&sources)),
            )
            .await?;
        }
        self.watch
            .datasource_step(ds, "starting the temporary server");
        let server = t
            .time(
                "starting the temporary server",
                self.start_server(ds, data, base, &socket, port, relay),
            )
            .await?;
        self.watch.datasource_step(ds, "replaying binlogs");
        let replay = t
            .time(
                "replaying binlogs",
                self.replay_with_state(ds, apply, &socket, relay),
            )
            .await;
        let tables = match &replay {
            Ok(_) => {
                self.watch.datasource_step(ds, "counting rows");
                Some(t.time("counting rows", self.count_rows(ds, &socket)).await)
            }
            Err(_) => None,
        };
        self.watch
            .datasource_step(ds, "stopping the temporary server");
        let stop = t
            .time(
                "stopping the temporary server",
                self.stop_server(ds, &socket, server),
            )
            .await;
        let (binlogs, gtid) = replay?;
        let tables = tables.unwrap_or(Ok(Vec::new()))?;
        stop?;
        Ok(Replayed {
            binlogs,
            gtid,
            tables,
        })
    }

    /// Removes what must not go with the data: a copied auto.cnf would give
    /// the new server the old one's uuid, and the replay's binary log is
    /// scratch once its position is stored. Best effort.
    async fn tidy(&self, ds: &str, data: &str, base: &str) {
        let _ = self
            .sh(
                ds,
                "removing auto.cnf and the replay's binary log",
                Command::shell(format!(
                    "rm -rf {} {base}/{REPLAY_BINLOG}.* {base}/relay",
                    quote(&format!("{data}/auto.cnf")),
                    base = quote(base)
                )),
            )
            .await;
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
                ZSTD
            } else {
                Compression::None
            },
        )
    }
}
/// The command extracting a stream from `source` into `target` (made if
/// missing): decompressed if need be, into the stream extractor, with the
/// pacer flushing what it writes ([`writeback`]).
pub(crate) fn extraction(
    tool: &Tool,
    compression: Compression,
    source: StreamSource<'_>,
    target: &str,
) -> Command {
    writeback::flushing_as_it_writes(
        xtrabackup::extract(tool, compression, source, target),
        target,
    )
}

/// How a zstd-compressed stream is decompressed (its manifest's
/// `summary.compress`, or its magic number).
pub(crate) const ZSTD: Compression = Compression::Zstd { threads: 2 };

/// Where a datasource's temporary server runs.
#[derive(Debug, Clone, Copy)]
struct TemporaryServer<'a> {
    ds: &'a str,
    /// The prepared data directory.
    data: &'a str,
    /// The restore directory (socket, logs, relay logs).
    base: &'a str,
    port: u16,
}

/// What a replay on the temporary server reached.
#[derive(Debug)]
struct Replayed {
    /// Binlogs replayed.
    binlogs: usize,
    /// The GTID position the server reached.
    gtid: Option<GtidSet>,
    /// Row counts of every table.
    tables: Vec<TableRows>,
}
