//! Replaying the master's binlogs on the temporary server, with the GTID
//! state set before and stored after: by the server's own SQL thread over
//! the binlogs staged as relay logs ([`super::relay`]) when that is exact,
//! else by `mariadb-binlog` piped into the client.

use super::server::MAX_PACKET;
use super::{Restore, relay};
use crate::error::RecoveryError;
use crate::gtid_state::{self, Tracking, flavor_of};
use crate::plan::RecoveryPlan;
use binlog::{ApplyStop, BinlogPos, DatasourceApply, GtidSet};
use remote::{Command, quote};
use std::time::{Duration, Instant};

/// What the binlog reader (`mariadb-binlog`, `mysqlbinlog`) is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The replay: from the start (after the executed GTIDs) to the stop.
    Replay,
    /// Listing every GTID of the files up to a stop position.
    Listing,
}

/// How the replay's GTIDs are tracked: by the SQL thread in
/// `gtid_slave_pos`, else by the temporary server's binary log.
pub(super) fn tracking(relay: Option<&relay::Relay>) -> Tracking {
    if relay.is_some() {
        Tracking::SlavePos
    } else {
        Tracking::Binlog
    }
}

/// Where `apply`'s binlogs are on the job server, in replay order.
pub(super) fn binlog_paths(
    plan: &RecoveryPlan,
    store_dir: &str,
    apply: &DatasourceApply,
) -> Vec<String> {
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

/// The binlog reader's command line over `apply`'s files (`reader`: the
/// shell word that runs it, see [`super::ServerBinary::companion`]): for the replay
/// from after the executed GTIDs (MariaDB: a GTID start position; MySQL:
/// `--exclude-gtids` and the byte start) to the stop; for a listing, every
/// event up to a stop position (a datetime stop is left out: listing more
/// GTIDs only makes [`Restore::nothing_after`] answer no).
fn binlog_command(
    reader: &str,
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
        "{reader} {}",
        args.iter()
            .map(|a| quote(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

impl Restore<'_> {
    /// The shell word running the binlog reader of the backup's flavor.
    fn binlog_reader(&self) -> String {
        self.server
            .companion(super::binlog_reader_name(self.tool.flavor))
    }

    /// No replication configured, the GTID history set to the restored
    /// data's, the replay, then the recovered position stored in the data.
    /// Returns the files replayed and the recovered GTID state.
    pub(super) async fn replay_with_state(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        socket: &str,
        relay: Option<&relay::Relay>,
    ) -> Result<(usize, Option<GtidSet>), RecoveryError> {
        let flavor = flavor_of(self.tool.flavor);
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
            Some(r) => self.replay_by_sql_thread(ds, apply, socket, r).await,
            None => self.replay(ds, apply, socket).await,
        };
        let replayed = match replayed {
            Ok(n) => n,
            // The server's own words (a packet too big, a duplicate key,
            // ...) are in its error log, not in the client's "gone away".
            Err(e) => return Err(self.with_server_log(ds, e).await),
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
        let reader = binlog_command(
            &self.binlog_reader(),
            self.plan,
            self.store_dir,
            apply,
            Reading::Replay,
        );
        let script = format!(
            "set -o pipefail; {reader} | {client} --no-defaults --socket={socket} --binary-mode --max-allowed-packet={MAX_PACKET}",
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
        let start = match &apply.skip_gtids {
            Some(GtidSet::Mariadb(after)) => {
                match self.first_transaction(ds, apply, after).await? {
                    Some(start) => start,
                    None => {
                        tracing::info!(
                            datasource = ds,
                            "the restored data already reaches the target: no binlog to replay"
                        );
                        return Ok(0);
                    }
                }
            }
            _ => apply.start.clone(),
        };
        let step = "replaying binlogs (SQL thread over the relay logs)";
        self.sql(ds, socket, step, &relay.statements(&start))
            .await?;
        self.await_sql_thread(ds, socket, relay, &start, step)
            .await?;
        // The replication set up for the replay goes too (and its relay logs,
        // which are links or copies).
        self.sql(
            ds,
            socket,
            "removing the replay's replication configuration",
            &["STOP SLAVE".to_owned(), "RESET SLAVE ALL".to_owned()],
        )
        .await?;
        tracing::info!(
            datasource = ds,
            from = %start,
            to = %relay.stop,
            workers = relay.workers,
            "replayed by the SQL thread"
        );
        Ok(apply
            .binlogs
            .iter()
            .filter(|b| b.file >= start.file)
            .count())
    }

    /// Where the replay starts: the first transaction after the GTID
    /// position `after` in the binlogs; `None` when there is none and the
    /// data already holds every transaction of the range.
    async fn first_transaction(
        &self,
        ds: &str,
        apply: &DatasourceApply,
        after: &binlog::MariadbGtidPos,
    ) -> Result<Option<BinlogPos>, RecoveryError> {
        let step = "finding the first transaction to replay";
        let files: Vec<String> = apply.binlogs.iter().map(|b| b.file.to_string()).collect();
        // No pipefail: the filter stops reading at the first match.
        let script = format!(
            "{} | {}",
            binlog_command(
                &self.binlog_reader(),
                self.plan,
                self.store_dir,
                apply,
                Reading::Replay
            ),
            relay::first_transaction_filter(&files)
        );
        let out = self
            .sh(ds, step, Command::new("bash").arg("-c").arg(script))
            .await?;
        match out.split_whitespace().collect::<Vec<_>>()[..] {
            [file, pos] => Ok(Some(BinlogPos {
                file: file.parse().map_err(|e| self.err(ds, step, e))?,
                pos: pos.parse().map_err(|e| self.err(ds, step, e))?,
            })),
            [] if self.nothing_after(ds, apply, after).await? => Ok(None),
            _ => Err(self.err(
                ds,
                step,
                format!("no transaction after GTID position {after} in the binlogs, but not every one is applied: {out}"),
            )),
        }
    }

    /// Waits until the SQL thread has applied everything up to the relay
    /// logs' stop; its error, an early stop or an idle thread short of the
    /// stop fail the step.
    async fn await_sql_thread(
        &self,
        ds: &str,
        socket: &str,
        relay: &relay::Relay,
        start: &BinlogPos,
        step: &str,
    ) -> Result<(), RecoveryError> {
        // Polled on the job server (every 50 ms, ~5 s per round trip).
        let status = Command::shell(relay::wait_status_script(&self.client, socket, 100));
        let deadline = Instant::now() + Duration::from_secs(24 * 3600);
        let stop = (relay.stop.file.to_string(), relay.stop.pos);
        loop {
            let thread = relay::SqlThread::parse(&self.sh(ds, step, status.clone()).await?);
            if let Some(e) = thread.error {
                return Err(self.err(
                    ds,
                    step,
                    format!("{e} (from {start}; relay logs in {})", relay.dir),
                ));
            }
            // At the stop, everything before it is applied (Relay_Log_Pos
            // moves past a transaction once it commits): done, whether the
            // UNTIL stopped the thread or it waits at the relay logs' end.
            if thread.at.as_ref() == Some(&stop) {
                return Ok(());
            }
            if !thread.running || thread.idle {
                let how = if thread.running {
                    "read all the relay logs"
                } else {
                    "stopped"
                };
                return Err(self.err(
                    ds,
                    step,
                    format!(
                        "the SQL thread {how} at {:?}, not at {}",
                        thread.at, relay.stop
                    ),
                ));
            }
            if Instant::now() > deadline {
                return Err(self.err(ds, step, "still running after 24 h"));
            }
        }
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
            binlog_command(
                &self.binlog_reader(),
                self.plan,
                self.store_dir,
                apply,
                Reading::Listing
            )
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
            compressed: false,
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
            binlog_command("mariadb-binlog", &plan, "/s", &apply, Reading::Replay),
            format!(
                "mariadb-binlog --no-defaults --start-position=0-1-7 --stop-position=900 {files}"
            )
        );
        assert_eq!(
            binlog_command("mariadb-binlog", &plan, "/s", &apply, Reading::Listing),
            format!("mariadb-binlog --no-defaults --stop-position=900 {files}")
        );
    }

    #[test]
    fn mysql_excludes_gtids_and_a_datetime_stop_is_quoted() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let t = chrono::NaiveDateTime::parse_from_str("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")
            .unwrap();
        let (plan, apply) = sample(Some(&format!("{u}:1-5")), ApplyStop::Datetime(t));
        let replay = binlog_command("mariadb-binlog", &plan, "/s", &apply, Reading::Replay);
        assert!(
            replay.starts_with(&format!(
                "mariadb-binlog --no-defaults --exclude-gtids={u}:1-5 --start-position=400 '--stop-datetime=2026-01-02 03:04:05' /w/t/"
            )),
            "{replay}"
        );
        let listing = binlog_command("mariadb-binlog", &plan, "/s", &apply, Reading::Listing);
        assert!(!listing.contains("stop"), "{listing}");
        let (plan, apply) = sample(None, ApplyStop::Datetime(t));
        assert!(
            binlog_command("mariadb-binlog", &plan, "/s", &apply, Reading::Replay)
                .contains("--no-defaults --start-position=400 '--stop")
        );
    }
}
