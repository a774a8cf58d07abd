//! Binlog replay by the temporary server's own replication SQL thread:
//! the master's binlogs become the server's relay logs (hard links, or
//! copies across file systems, under the same base name, so file names and
//! positions are the master's), `CHANGE MASTER TO RELAY_LOG_FILE/POS` puts
//! the SQL thread at the start and `START SLAVE SQL_THREAD UNTIL
//! RELAY_LOG_FILE/POS` stops it exactly at the consistence point.
//!
//! It applies row events inside the server instead of decoding them to
//! SQL text and parsing that again (5 to 6x the `mariadb-binlog | mariadb`
//! rate in `cargo xtask bench replay`), alone or, when asked, with parallel
//! workers (MariaDB's optimistic parallel applier: transactions run at
//! once, committed in binlog order, a conflicting one rolled back and run
//! again after the one it waited for). Limits, each checked on MariaDB 10.11:
//! - the parallel applier needs the master's file name, which a binlog used
//!   as a relay log never tells it (a relay log written by the IO thread
//!   starts with the master's Rotate event): without it the first commit
//!   crashes the server (signal 11 in `compare_log_name`). `CHANGE MASTER
//!   TO` names it (`MASTER_LOG_FILE/POS`, the same as the relay log's, as
//!   the files are the master's);
//! - no GTID mode (`MASTER_USE_GTID=slave_pos` discards the relay logs), so
//!   a start "after GTID position P" is turned into a byte position first
//!   (the first transaction `mariadb-binlog --start-position=P` shows);
//! - no datetime stop (no `UNTIL` for it): a stop-datetime replays through
//!   the pipe.
//!
//! The relay index is read when the server starts, so the relay logs are
//! staged before it starts.

use binlog::{ApplyStop, BinlogPos, DatasourceApply};
use remote::quote;

/// The relay logs of one datasource's temporary server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Relay {
    /// Directory holding the relay logs and their index.
    pub dir: String,
    /// The binlogs' base name (`mysql-bin`), also the relay logs'.
    pub basename: String,
    /// Where the SQL thread stops.
    pub stop: BinlogPos,
    /// Parallel workers (`slave_parallel_threads`); 0: the SQL thread
    /// applies every transaction itself.
    pub workers: usize,
}

/// A parallel worker with nothing to do, as `information_schema.PROCESSLIST`
/// shows it.
const WORKER_IDLE: &str = "Waiting for work from SQL thread";

impl Relay {
    /// The relay plan for `apply` under `base` with `workers` parallel
    /// workers, when the SQL thread can do this replay exactly (a position
    /// stop, binlogs of one base name).
    pub fn plan(apply: &DatasourceApply, base: &str, workers: usize) -> Option<Relay> {
        let ApplyStop::Position(stop) = &apply.stop else {
            return None;
        };
        let first = apply.binlogs.first()?;
        let basename = first.file.base().to_owned();
        if apply.binlogs.iter().any(|b| b.file.base() != basename) {
            return None;
        }
        Some(Relay {
            dir: format!("{base}/relay"),
            basename,
            stop: stop.clone(),
            workers,
        })
    }

    /// The shell script that links (or copies) `sources`, the binlog paths
    /// in replay order, into the relay directory and writes the index.
    pub fn stage_script(&self, sources: &[String]) -> String {
        let dir = quote(&self.dir);
        let mut s = format!(
            "set -e; rm -rf {dir}; mkdir -p {dir}; cd {dir}; : > {}.index; ",
            quote(&self.basename)
        );
        for src in sources {
            let name = src.rsplit('/').next().unwrap_or(src);
            s.push_str(&format!(
                "ln -f {src} . 2>/dev/null || cp {src} .; echo {path} >> {index}; ",
                src = quote(src),
                path = quote(&format!("{}/{name}", self.dir)),
                index = quote(&format!("{}.index", self.basename)),
            ));
        }
        s
    }

    /// Options of the temporary server that reads these relay logs. It
    /// runs without a binary log: the SQL thread records every GTID it
    /// applies in `gtid_slave_pos`, where the recovered state is read.
    pub fn server_options(&self) -> String {
        let path = format!("{}/{}", self.dir, self.basename);
        format!(
            "--relay-log={} --relay-log-index={} --relay-log-purge=0 {}",
            quote(&path),
            quote(&format!("{path}.index")),
            worker_options(self.workers).join(" ")
        )
    }

    /// Statements that put the SQL thread at `start` and run it to the stop.
    /// The master's coordinates are the relay log's: the files are the
    /// master's binlogs.
    pub fn statements(&self, start: &BinlogPos) -> Vec<String> {
        vec![
            format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=1, MASTER_USER='dbrecover-relay', \
                 MASTER_USE_GTID=no, MASTER_LOG_FILE='{0}', MASTER_LOG_POS={1}, \
                 RELAY_LOG_FILE='{0}', RELAY_LOG_POS={1}",
                start.file, start.pos
            ),
            format!(
                "START SLAVE SQL_THREAD UNTIL RELAY_LOG_FILE='{}', RELAY_LOG_POS={}",
                self.stop.file, self.stop.pos
            ),
        ]
    }
}

/// The server options for `workers` parallel replication workers (none:
/// the SQL thread applies alone). Optimistic mode runs any two
/// transactional transactions at once, not only those the master committed
/// together; DDL and non-transactional tables still go one at a time. The
/// SQL thread's read-ahead stays at its default (128 KiB of queued events):
/// more (64 MiB, measured) let more transactions overlap and conflict, and
/// the retries made the replay slower.
pub fn worker_options(workers: usize) -> Vec<String> {
    if workers == 0 {
        return vec!["--slave-parallel-threads=0".to_owned()];
    }
    vec![
        format!("--slave-parallel-threads={workers}"),
        "--slave-parallel-mode=optimistic".to_owned(),
    ]
}

/// The shell filter over a `mariadb-binlog --start-position=<GTID
/// position>` listing of `files` (in order) that prints where the first
/// transaction after the start is: `<file> <position>`, nothing when there
/// is none. Each file's listing starts with its format description event.
pub(super) fn first_transaction_filter(files: &[String]) -> String {
    let names = files.join(" ");
    format!(
        "awk -v names={} 'BEGIN {{ n = split(names, f, \" \") }} \
         /^# at / {{ at = $3 }} /Start: binlog v 4/ {{ i++ }} \
         /GTID [0-9]+-[0-9]+-[0-9]+/ {{ print f[i], at; exit }}'",
        quote(&names)
    )
}

/// A job-server loop that polls `SHOW SLAVE STATUS` and the busy parallel
/// workers every 50 ms while the SQL thread runs and has work left (relay
/// log to read, or workers still applying what it handed them), for at
/// most `rounds` polls, and prints the last status: one round trip per few
/// seconds instead of one per poll. Idle is believed when seen twice in a
/// row: a worker just handed a transaction may not have woken yet.
pub(super) fn wait_status_script(client: &str, socket: &str, rounds: u32) -> String {
    let sql = format!(
        "SHOW SLAVE STATUS; SELECT COUNT(*) AS {BUSY} FROM information_schema.PROCESSLIST \
         WHERE COMMAND = 'Slave_worker' AND STATE <> '{WORKER_IDLE}'"
    );
    format!(
        "i=0; quiet=0\n\
         while :; do\n\
         s=$({client} --no-defaults --socket={socket} --vertical --execute={sql}) || exit 1\n\
         i=$((i+1))\n\
         case \"$s\" in *'{IDLE}'*'{BUSY}: 0'*) quiet=$((quiet+1)) ;; *) quiet=0 ;; esac\n\
         case \"$s\" in *'Slave_SQL_Running: Yes'*) [ $quiet -lt 2 ] && [ $i -lt {rounds} ] && {{ sleep 0.05; continue; }} ;; esac\n\
         printf '%s\\n' \"$s\"; exit 0\n\
         done",
        client = quote(client),
        socket = quote(socket),
        sql = quote(&sql),
    )
}

/// The column of the wait loop's count of parallel workers at work.
const BUSY: &str = "Busy_workers";

/// `Slave_SQL_Running_State` of a SQL thread at the end of its relay
/// logs, waiting for more: it stops there only when `UNTIL` names a later
/// position, so a stop at the very end of the staged binlogs (a master
/// idle since the consistence point) never stops it.
const IDLE: &str = "Slave has read all relay log";

/// The SQL thread's state, from `SHOW SLAVE STATUS` (vertical output).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlThread {
    /// `Slave_SQL_Running` is `Yes`.
    pub running: bool,
    /// It has read all its relay logs and waits for more ([`IDLE`]), and
    /// no parallel worker is still applying what it read.
    pub idle: bool,
    /// `Last_SQL_Errno`, `Last_SQL_Error`.
    pub error: Option<String>,
    /// `Relay_Log_File`, `Relay_Log_Pos`: where it is.
    pub at: Option<(String, u64)>,
}

impl SqlThread {
    /// Reads `SHOW SLAVE STATUS\G` output.
    pub fn parse(text: &str) -> SqlThread {
        let field = |name: &str| {
            text.lines()
                .filter_map(|l| l.trim_start().split_once(": "))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim().to_owned())
        };
        let errno = field("Last_SQL_Errno").unwrap_or_default();
        SqlThread {
            running: field("Slave_SQL_Running").as_deref() == Some("Yes"),
            idle: field("Slave_SQL_Running_State").is_some_and(|s| s.starts_with(IDLE))
                && field(BUSY).is_none_or(|n| n == "0"),
            error: (!errno.is_empty() && errno != "0").then(|| {
                format!(
                    "error {errno}: {}",
                    field("Last_SQL_Error").unwrap_or_default()
                )
            }),
            at: field("Relay_Log_File").zip(field("Relay_Log_Pos").and_then(|p| p.parse().ok())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command as Sh;

    fn pos(file: &str, pos: u64) -> BinlogPos {
        BinlogPos {
            file: file.parse().unwrap(),
            pos,
        }
    }

    #[test]
    fn the_filter_names_the_file_and_position_of_the_first_transaction() {
        let listing = "# at 4\n#261121 server id 1 Start: binlog v 4, server v 10.11\n\
                       # at 256\n#x Gtid list [0-1-30]\n\
                       # at 4\n#261121 server id 1 Start: binlog v 4, server v 10.11\n\
                       # at 5420419\n#261121 server id 1 end_log_pos 5420461 GTID 0-1-32 trans\n\
                       # at 9\n#x GTID 0-1-33 trans\n";
        let script = format!(
            "printf %s {} | {}",
            quote(listing),
            first_transaction_filter(&["m-bin.000001".into(), "m-bin.000002".into()])
        );
        let out = Sh::new("sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "m-bin.000002 5420419\n"
        );
        let none = format!(
            "printf %s {} | {}",
            quote("# at 4\n#x Start: binlog v 4\n"),
            first_transaction_filter(&["m-bin.000001".into()])
        );
        let out = Sh::new("sh").arg("-c").arg(&none).output().unwrap();
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn status_reads_running_errors_and_position() {
        let s = SqlThread::parse(
            "*** 1. row ***\n  Relay_Log_File: mysql-bin.000003\n  Relay_Log_Pos: 1234\n \
             Slave_SQL_Running: No\n  Last_SQL_Errno: 1062\n  Last_SQL_Error: Duplicate entry\n",
        );
        assert!(!s.running);
        assert_eq!(s.error.as_deref(), Some("error 1062: Duplicate entry"));
        assert_eq!(s.at, Some(("mysql-bin.000003".into(), 1234)));
        let ok = SqlThread::parse("Slave_SQL_Running: Yes\nLast_SQL_Errno: 0\n");
        assert!(ok.running && ok.error.is_none() && !ok.idle);
        // MariaDB 10.11 at the end of its relay logs, UNTIL their very end.
        let idle = SqlThread::parse(
            "  Relay_Log_File: mysql-bin.000001\n  Relay_Log_Pos: 351\n  Slave_SQL_Running: Yes\n \
             Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates\n",
        );
        assert!(idle.running && idle.idle);
        assert_eq!(idle.at, Some(("mysql-bin.000001".into(), 351)));
        // All read, but parallel workers still apply what was read.
        let working = SqlThread::parse(
            "  Slave_SQL_Running: Yes\n \
             Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates\n \
             Busy_workers: 2\n",
        );
        assert!(working.running && !working.idle);
        let done = SqlThread::parse(
            "  Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates\n \
             Busy_workers: 0\n",
        );
        assert!(done.idle);
    }

    /// A fake client that says the SQL thread runs for its first `runs`
    /// calls (counted in a file), then that it stopped.
    fn fake_client(dir: &std::path::Path, runs: u32) -> String {
        let client = dir.join("client");
        std::fs::write(
            &client,
            format!(
                "#!/bin/sh\nn=$(cat {d}/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > {d}/n\n\
                 if [ $n -le {runs} ]; then echo 'Slave_SQL_Running: Yes'; else echo 'Slave_SQL_Running: No'; echo 'Relay_Log_Pos: 77'; fi\n",
                d = dir.display()
            ),
        )
        .unwrap();
        Sh::new("chmod").arg("755").arg(&client).status().unwrap();
        client.display().to_string()
    }

    /// Runs the wait loop against a client made of `body`; returns how
    /// many times it was called (lines of `n` beside it).
    fn poll_a_client(dir: &std::path::Path, body: &str) -> usize {
        let client = dir.join("client");
        std::fs::write(&client, format!("#!/bin/sh\n{body}\n")).unwrap();
        Sh::new("chmod").arg("755").arg(&client).status().unwrap();
        let out = Sh::new("sh")
            .arg("-c")
            .arg(wait_status_script(
                client.to_str().unwrap(),
                "/no/sock",
                100,
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(SqlThread::parse(&String::from_utf8_lossy(&out.stdout)).idle);
        std::fs::read_to_string(dir.join("n"))
            .unwrap()
            .lines()
            .count()
    }

    #[test]
    fn the_wait_loop_returns_once_the_thread_stops_or_after_its_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let client = fake_client(dir.path(), 3);
        let out = Sh::new("sh")
            .arg("-c")
            .arg(wait_status_script(&client, "/no/sock", 100))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let thread = SqlThread::parse(&String::from_utf8_lossy(&out.stdout));
        assert!(!thread.running);
        let calls = std::fs::read_to_string(dir.path().join("n")).unwrap();
        assert_eq!(
            calls.trim(),
            "4",
            "polled until the thread stopped, no more"
        );

        // Idle at the end of its relay logs, seen twice: nothing more to
        // wait for.
        let idle = tempfile::tempdir().unwrap();
        let calls = poll_a_client(
            idle.path(),
            "echo x >> $(dirname $0)/n; echo 'Slave_SQL_Running: Yes'; \
             echo 'Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates'; \
             echo 'Busy_workers: 0'",
        );
        assert_eq!(calls, 2, "returned once idle twice in a row");

        // Everything read, and a worker still applying until the fourth
        // poll: waits for the worker.
        let working = tempfile::tempdir().unwrap();
        let calls = poll_a_client(
            working.path(),
            "echo x >> $(dirname $0)/n; echo 'Slave_SQL_Running: Yes'; \
             echo 'Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates'; \
             [ $(wc -l < $(dirname $0)/n) -lt 4 ] && echo 'Busy_workers: 1' || echo 'Busy_workers: 0'",
        );
        assert_eq!(calls, 5, "waited for the worker, then idle twice");

        let busy = tempfile::tempdir().unwrap();
        let client = fake_client(busy.path(), 1000);
        let out = Sh::new("sh")
            .arg("-c")
            .arg(wait_status_script(&client, "/no/sock", 3))
            .output()
            .unwrap();
        assert!(SqlThread::parse(&String::from_utf8_lossy(&out.stdout)).running);
        let calls = std::fs::read_to_string(busy.path().join("n")).unwrap();
        assert_eq!(calls.trim(), "3", "gives the status back after its rounds");
    }

    #[test]
    fn staging_links_in_order_and_indexes_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let files: Vec<String> = ["m-bin.000007", "m-bin.000008"]
            .iter()
            .map(|n| {
                let p = src.join(n);
                std::fs::write(&p, n).unwrap();
                p.display().to_string()
            })
            .collect();
        let relay = Relay {
            dir: dir.path().join("r").display().to_string(),
            basename: "m-bin".into(),
            stop: pos("m-bin.000008", 120),
            workers: 4,
        };
        let out = Sh::new("sh")
            .arg("-c")
            .arg(relay.stage_script(&files))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let index = std::fs::read_to_string(dir.path().join("r/m-bin.index")).unwrap();
        assert_eq!(
            index,
            format!("{0}/m-bin.000007\n{0}/m-bin.000008\n", relay.dir)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("r/m-bin.000008")).unwrap(),
            "m-bin.000008"
        );
        let options = relay.server_options();
        assert!(options.contains("--relay-log-index="), "{options}");
        assert!(
            options.contains("--slave-parallel-threads=4 --slave-parallel-mode=optimistic"),
            "{options}"
        );
        let alone = Relay {
            workers: 0,
            ..relay.clone()
        };
        assert!(
            alone
                .server_options()
                .ends_with("--slave-parallel-threads=0")
        );
        let s = relay.statements(&pos("m-bin.000007", 4));
        assert!(
            s[0].contains(
                "MASTER_LOG_FILE='m-bin.000007', MASTER_LOG_POS=4, \
                 RELAY_LOG_FILE='m-bin.000007', RELAY_LOG_POS=4"
            ),
            "{s:?}"
        );
        assert!(
            s[1].ends_with("UNTIL RELAY_LOG_FILE='m-bin.000008', RELAY_LOG_POS=120"),
            "{s:?}"
        );
    }
}
