//! `cargo xtask bench replay`: the same binlogs (`BENCH_BINLOG_MIB`,
//! default 500 MiB of row events over several databases, several files)
//! applied to copies of the same starting datadir, once piped through
//! `mariadb-binlog | mariadb` (what the seeds do) and then by the server's
//! own replication SQL thread reading them as relay logs, alone and with
//! parallel workers, as dbrecover stages them (issue 20, target 6). Every
//! result is checked against the source (`CHECKSUM TABLE` of every table,
//! and the GTID position) before its time counts.
//!
//! Scratch servers of their own under `target/bench-replay`: nothing of the
//! sandbox is touched.

use crate::util::{run as run_command, wait_for};
use anyhow::{Context as _, Result, bail};
use recovery::worker_options;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One way of replaying, timed and checked, round after round.
pub struct ReplayRun {
    /// How.
    pub method: String,
    /// Wall time of the replay alone (servers already up), each round.
    pub rounds: Vec<Duration>,
}

impl ReplayRun {
    /// The best round.
    fn best(&self) -> Duration {
        self.rounds.iter().copied().min().unwrap_or_default()
    }
}

/// What was replayed and how fast each way went.
pub struct ReplayResult {
    /// Bytes of binlog replayed.
    pub bytes: u64,
    /// Transactions replayed.
    pub transactions: u64,
    /// The databases the transactions went to.
    pub databases: usize,
    /// The pipe, then the SQL thread alone and with workers.
    pub runs: Vec<ReplayRun>,
}

/// A scratch `mariadbd` on its own datadir, shut down on drop.
struct Scratch {
    dir: PathBuf,
    child: Child,
}

impl Scratch {
    fn start(dir: &Path, port: u16, extra: &[String]) -> Result<Scratch> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--log-error={}", dir.join("err.log").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            // The InnoDB settings of dbrecover's temporary servers
            // (crates/recovery/src/restore/server.rs), the redo log's size
            // left at the default as there.
            .args([
                "--innodb-buffer-pool-size=128M",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-flush-method=fsync",
                "--innodb-read-ahead-threshold=0",
                "--sync-binlog=0",
            ])
            .arg(format!("--server-id={port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start mariadbd")?;
        let server = Scratch {
            dir: dir.to_path_buf(),
            child,
        };
        let log = dir.join("err.log");
        wait_for(
            &format!("the scratch server in {}", dir.display()),
            Duration::from_secs(60),
            || Ok(server.sql("SELECT 1").is_ok().then_some(())),
        )
        .with_context(|| crate::util::tail(&log, 10))?;
        Ok(server)
    }

    fn client(&self) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg("-uroot");
        c
    }

    /// Runs `sql`; its output, tab-separated, without column names.
    fn sql(&self, sql: &str) -> Result<String> {
        let out = self
            .client()
            .args(["-N", "-B", "-e", sql])
            .stderr(Stdio::piped())
            .output()?;
        if !out.status.success() {
            bail!(
                "`{sql}` failed in {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Scratch {
    /// The SQL thread's state, read as recovery reads it.
    fn sql_thread(&self) -> Result<recovery::SqlThread> {
        let out = self
            .client()
            .args(["-E", "-e", "SHOW SLAVE STATUS"])
            .output()?;
        Ok(recovery::SqlThread::parse(&String::from_utf8_lossy(
            &out.stdout,
        )))
    }
}

/// `cmd` as a shell word list.
fn quoted(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| crate::util::shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.sql("SHUTDOWN");
        let _ = self.child.wait();
    }
}

/// The section of docs/benchmarks.md this benchmark owns.
const HEADING: &str = "## replay";

/// The target of issue 20: parallel replay 4 x the pipe.
const TARGET: f64 = 4.0;

/// Runs the benchmark and records it.
pub fn run(root: &Path) -> Result<()> {
    let mib = crate::rounds::env_mib("BENCH_BINLOG_MIB", 500);
    let replay = run_replay(&crate::util::target_dir().join("bench-replay"), mib)?;
    let mb = replay.bytes as f64 / 1e6;
    let pipe = replay.runs[0].best().as_secs_f64();
    let rounds = replay.runs[0].rounds.len();
    let mut rates = crate::rounds::header("replay", rounds, &["best s", "MB/s", "pipe / this"]);
    for r in &replay.runs {
        let secs = r.best().as_secs_f64();
        let cells: Vec<String> = r
            .rounds
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64()))
            .collect();
        rates += &format!(
            "| {} | {} | {secs:.1} | {:.1} | {:.2}x |\n",
            r.method,
            cells.join(" | "),
            mb / secs,
            pipe / secs
        );
    }
    // The target is the parallel applier's: the best run with workers.
    let best = replay.runs[2..]
        .iter()
        .min_by_key(|r| r.best())
        .context("no run with parallel workers")?;
    let ratio = pipe / best.best().as_secs_f64();
    let alone = pipe / replay.runs[1].best().as_secs_f64();
    let met = if ratio >= TARGET { "met" } else { "not met" };
    println!(
        "{rates}\nparallel: {} at {ratio:.2}x the pipe; alone {alone:.2}x",
        best.method
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{HEADING}\n\n`cargo xtask bench replay` (issue 20, target 6): {mb:.0} MB of row events in \
         {tx} transactions spread over {dbs} databases (from one client each at once: 2000-row \
         inserts, updates of 1000 rows, single-row inserts; several binlog files) applied to \
         copies of the same datadir on scratch servers: by `mariadb-binlog | mariadb`, and by \
         the server's replication SQL thread over the binlogs staged as relay logs, as dbrecover \
         does it, alone and with parallel workers (`slave_parallel_mode = optimistic`, the \
         options dbrecover gives its temporary servers). Every result is checked against the \
         source's `CHECKSUM TABLE` of every table and, for the SQL thread, its GTID position \
         before its time counts. The ways take turns, the order rotating each round, and the \
         best of each is compared.\n\n{rates}\n\
         Parallel apply: best the {best}, {ratio:.2}x the pipe (target {TARGET}x: {met}); the \
         SQL thread alone: {alone:.2}x.\n\
         Recorded {date}; load average after: `{load}`.\n",
        tx = replay.transactions,
        dbs = replay.databases,
        best = best.method,
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}

/// Runs the comparison in `work` (removed first and after).
fn run_replay(work: &Path, mib: u64) -> Result<ReplayResult> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let result = replay_in(work, mib);
    let _ = std::fs::remove_dir_all(work);
    result
}

/// The SQL thread's runs: alone, then with this many parallel workers.
const WORKERS: [usize; 4] = [0, 2, 4, 8];

/// Databases the source's transactions are spread over, one client each.
const DATABASES: usize = 4;

fn replay_in(work: &Path, mib: u64) -> Result<ReplayResult> {
    let base = work.join("base");
    run_command(
        Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", base.join("data").display()))
            .arg("--auth-root-authentication-method=normal")
            .stdout(Stdio::null()),
    )?;
    let source = write_source(work, &base, mib)?;
    // The ways take turns, the order rotating each round.
    let ways = 1 + WORKERS.len();
    let mut runs: Vec<ReplayRun> = Vec::new();
    for round in 0..crate::rounds::count() {
        let order = crate::rounds::rotation(ways, round);
        let mut this_round: Vec<Option<ReplayRun>> = (0..ways).map(|_| None).collect();
        for way in order {
            println!("round {}: replay {} of {ways} ...", round + 1, way + 1);
            this_round[way] = Some(match way {
                0 => replay_by_pipe(work, &base, &source)?,
                n => replay_by_sql_thread(work, &base, &source, WORKERS[n - 1])?,
            });
        }
        for (i, run) in this_round.into_iter().flatten().enumerate() {
            match runs.get_mut(i) {
                Some(all) => all.rounds.extend(run.rounds),
                None => runs.push(run),
            }
        }
    }
    Ok(ReplayResult {
        bytes: source.bytes,
        transactions: source.transactions,
        databases: DATABASES,
        runs,
    })
}

/// What the source server wrote: its binlogs and where it ended.
struct Written {
    files: Vec<PathBuf>,
    checksum: String,
    gtid: String,
    bytes: u64,
    transactions: u64,
}

/// Writes `mib` MiB of row events on a scratch server made from `base`.
fn write_source(work: &Path, base: &Path, mib: u64) -> Result<Written> {
    let src_dir = work.join("source");
    run_command(Command::new("cp").arg("-a").arg(base).arg(&src_dir))?;
    let binlog = src_dir.join("data").join("bin");
    let source = Scratch::start(
        &src_dir,
        28101,
        &[
            format!("--log-bin={}", binlog.display()),
            "--binlog-format=ROW".to_owned(),
            "--max-binlog-size=128M".to_owned(),
        ],
    )?;
    println!("writing {mib} MiB of row events on a scratch server ...");
    let (bytes, transactions) = write_row_events(&source, mib)?;
    source.sql("FLUSH BINARY LOGS")?;
    let files = source
        .sql("SHOW BINARY LOGS")?
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(|f| src_dir.join("data").join(f))
        .collect();
    Ok(Written {
        files,
        checksum: source.sql(&checksum_sql())?,
        gtid: source.sql("SELECT @@gtid_binlog_pos")?,
        bytes,
        transactions,
    })
}

/// The seeds' way: `mariadb-binlog | mariadb` into a fresh server.
fn replay_by_pipe(work: &Path, base: &Path, source: &Written) -> Result<ReplayRun> {
    let pipe_dir = work.join("pipe");
    // A fresh copy each round.
    let _ = std::fs::remove_dir_all(&pipe_dir);
    run_command(Command::new("cp").arg("-a").arg(base).arg(&pipe_dir))?;
    let pipe = Scratch::start(&pipe_dir, 28102, &["--skip-log-bin".to_owned()])?;
    let started = Instant::now();
    let mut reader = Command::new("mariadb-binlog");
    reader.arg("--no-defaults").args(&source.files);
    let script = format!(
        "set -o pipefail; {} | {} --binary-mode",
        quoted(&reader),
        quoted(&pipe.client())
    );
    run_command(Command::new("bash").arg("-c").arg(script))?;
    let elapsed = started.elapsed();
    check(&pipe, &source.checksum, None, "the pipe")?;
    Ok(ReplayRun {
        method: "`mariadb-binlog \\| mariadb` (the seeds' way)".to_owned(),
        rounds: vec![elapsed],
    })
}

/// The replication SQL thread over the binlogs as relay logs, with
/// `workers` parallel workers (dbrecover's options for them).
fn replay_by_sql_thread(
    work: &Path,
    base: &Path,
    source: &Written,
    workers: usize,
) -> Result<ReplayRun> {
    let relay_dir = work.join(format!("relay-{workers}"));
    let _ = std::fs::remove_dir_all(&relay_dir);
    run_command(Command::new("cp").arg("-a").arg(base).arg(&relay_dir))?;
    let relay = relay_dir.join("data").join("bin");
    let mut index = String::new();
    for f in &source.files {
        let name = f.file_name().context("a binlog without a name")?;
        let link = relay_dir.join("data").join(name);
        std::fs::hard_link(f, &link)?;
        index += &format!("{}\n", link.display());
    }
    std::fs::write(relay_dir.join("data").join("bin.index"), index)?;
    let applier = Scratch::start(
        &relay_dir,
        28103,
        &[
            "--skip-log-bin".to_owned(),
            format!("--relay-log={}", relay.display()),
            format!("--relay-log-index={}.index", relay.display()),
            "--skip-slave-start".to_owned(),
            "--relay-log-purge=0".to_owned(),
        ]
        .into_iter()
        .chain(worker_options(workers))
        .collect::<Vec<_>>(),
    )?;
    let first = source.files[0]
        .file_name()
        .context("a binlog without a name")?
        .to_string_lossy()
        .into_owned();
    // The master's coordinates too, as dbrecover gives them: the parallel
    // applier needs the master's file name.
    applier.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=1, MASTER_USER='none', \
         MASTER_USE_GTID=no, MASTER_LOG_FILE='{first}', MASTER_LOG_POS=4, \
         RELAY_LOG_FILE='{first}', RELAY_LOG_POS=4"
    ))?;
    let started = Instant::now();
    applier.sql("START SLAVE SQL_THREAD")?;
    wait_for(
        "the SQL thread to apply every relay log",
        Duration::from_secs(3600),
        || {
            let thread = applier.sql_thread()?;
            if !thread.running {
                bail!(
                    "the SQL thread stopped: {}",
                    thread.error.unwrap_or_default()
                );
            }
            Ok((applier.sql("SELECT @@gtid_slave_pos")? == source.gtid).then_some(()))
        },
    )?;
    let elapsed = started.elapsed();
    applier.sql("STOP SLAVE")?;
    let method = match workers {
        0 => "SQL thread alone over the binlogs as relay logs".to_owned(),
        n => format!("SQL thread with {n} parallel workers"),
    };
    check(&applier, &source.checksum, Some(&source.gtid), &method)?;
    drop(applier);
    let _ = std::fs::remove_dir_all(&relay_dir);
    Ok(ReplayRun {
        method,
        rounds: vec![elapsed],
    })
}

/// Both ways must end with the source's table; the SQL thread also with
/// its GTID position (a pipe into a server without a binlog records none).
fn check(server: &Scratch, checksum: &str, gtid: Option<&str>, how: &str) -> Result<()> {
    let got = server.sql(&checksum_sql())?;
    if got != checksum {
        bail!("{how} replayed to a different table: {got} vs the source's {checksum}");
    }
    let Some(gtid) = gtid else { return Ok(()) };
    let pos = server.sql("SELECT @@gtid_slave_pos")?;
    if pos != gtid {
        bail!("{how} ended at GTID {pos}, the source at {gtid}");
    }
    Ok(())
}

/// `CHECKSUM TABLE` of every database's table.
fn checksum_sql() -> String {
    let tables: Vec<String> = (1..=DATABASES).map(|d| format!("w{d}.t")).collect();
    format!("CHECKSUM TABLE {}", tables.join(", "))
}

/// Row events until the source's binlogs hold `mib` MiB: in each of
/// [`DATABASES`] databases, from a client of its own at the same time, a
/// batch insert (one transaction of 2000 rows), an update of the newest
/// rows and a run of single-row transactions, as an OLTP day mixes them.
/// Returns the binlog bytes and the number of transactions.
fn write_row_events(source: &Scratch, mib: u64) -> Result<(u64, u64)> {
    for d in 1..=DATABASES {
        source.sql(&format!(
            "CREATE DATABASE w{d}; CREATE TABLE w{d}.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             k INT NOT NULL, pad VARCHAR(200) NOT NULL, ts DATETIME(6) NOT NULL)"
        ))?;
    }
    let round: Vec<String> = (1..=DATABASES)
        .map(|d| {
            let singles: String = (0..SINGLES)
                .map(|i| {
                    format!(
                        "INSERT INTO w{d}.t (k, pad, ts) VALUES ({i}, REPEAT('s', 120), NOW(6));"
                    )
                })
                .collect();
            format!(
                "INSERT INTO w{d}.t (k, pad, ts) SELECT seq, REPEAT(MD5(seq), 4), NOW(6) \
                 FROM w{d}.seq_1_to_2000; \
                 UPDATE w{d}.t SET k = k + 1 WHERE id > (SELECT MAX(id) - 1000 FROM w{d}.t AS x); \
                 {singles}"
            )
        })
        .collect();
    let mut transactions = DATABASES as u64 * 2;
    loop {
        let bytes: u64 = source
            .sql("SHOW BINARY LOGS")?
            .lines()
            .filter_map(|l| l.split('\t').nth(1)?.parse::<u64>().ok())
            .sum();
        if bytes >= mib * 1024 * 1024 {
            return Ok((bytes, transactions));
        }
        let clients = round
            .iter()
            .map(|sql| {
                source
                    .client()
                    .args(["-e", sql])
                    .stderr(Stdio::piped())
                    .spawn()
                    .context("cannot start mariadb")
            })
            .collect::<Result<Vec<_>>>()?;
        for client in clients {
            let out = client.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "writing the source's rows failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        transactions += DATABASES as u64 * (2 + SINGLES as u64);
    }
}

/// Single-row transactions per database and round.
const SINGLES: usize = 100;
