//! `cargo xtask bench recovery`: `dbrecover` against the raw commands it
//! replaces, recorded in the `## recovery` section of `docs/benchmarks.md`
//! (the ways of replaying binlogs are `cargo xtask bench replay`).
//!
//! The sandbox loaded with `BENCH_MIB` (default 256)
//! MiB per datasource, one full backup taken under a small live write load
//! (so there are binlogs to replay to the consistence point), then the
//! backup restored by `dbrecover` (the store is the job server, so both
//! read the backup in place) and by the raw per-datasource commands an
//! operator would type (`mbstream -x`, `mariabackup --prepare`, `mariadbd`,
//! `mariadb-binlog | mariadb`, shutdown), all datasources at once; the two
//! alternate for `BENCH_ROUNDS` (default 3) rounds, each from an empty work
//! dir after a `sync`, and the best of each is compared. Target (issue 6):
//! dbrecover within 10 % of the slowest raw datasource.

use crate::util::{derive_conf, shell_quote, workspace_binary};
use anyhow::{Context as _, Result, bail};
use binlog::{ApplyStop, GtidSet};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEADING: &str = "## recovery";

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let mib = crate::rounds::env_mib("BENCH_MIB", 256);

    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    let sb = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let _exclusive = sb.exclusive_use();
    let runtime = tokio::runtime::Runtime::new()?;
    println!("loading {mib} MiB into every datasource ...");
    let loaded = runtime.block_on(crate::bench_backup::load(&sb, mib))?;
    let result = recover_both_ways(&sb, &runtime);
    runtime.block_on(crate::bench_backup::unload(&sb))?;
    let (tool_rounds, raw_rounds) = result?;
    let (table, _) = crate::rounds::table(
        "raw commands",
        &raw_rounds,
        "`dbrecover` (all datasources in parallel)",
        &tool_rounds,
        "target: 1.1 x best slowest raw",
        |raw_max| raw_max.mul_f64(1.1),
    );
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{HEADING}\n\n`cargo xtask bench recovery`: the sandbox with {loaded} per \
         datasource, a full backup (backup-slave = 1) taken under a live write load, restored to \
         its consistence point by `dbrecover` over ssh with the store as the job server (in place) \
         and by the raw commands per datasource run by hand at once (`mbstream -x`, \
         `mariabackup --prepare`, `mariadbd`, `mariadb-binlog --start-position=<GTID> \
         --stop-position | mariadb`, shutdown). dbrecover also counts every table's rows for \
         its report. Each restore starts from an empty work dir after a `sync`; dbrecover and \
         raw alternate and the best of each is compared. The binlog replay alone is measured by \
         `cargo xtask bench replay` (section \"replay\").\n\n{table}\n\
         Recorded {date}; load average after: `{load}`.\n",
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}

/// dbrecover's wall time per round, and each round's raw restores.
type Timings = (Vec<Duration>, Vec<crate::rounds::RawRound>);

/// Takes the backup, then restores it by dbrecover and by hand.
fn recover_both_ways(sb: &testkit::Sandbox, runtime: &tokio::runtime::Runtime) -> Result<Timings> {
    let paths = crate::sandbox::paths();
    let store = Path::new(sb.var("STORE_DIR")).join("bench-recovery");
    let jobs = Path::new(sb.var("JOB_DIR")).join("bench-recovery");
    for d in [&store, &jobs] {
        crate::bench_backup::fresh_dir(d)?;
    }
    let conf = paths.file("bench-recovery-backup.conf");
    derive_conf(
        Path::new(sb.var("BACKUP_SSH_CONF")),
        &conf,
        &[
            ("dir = ", format!("dir = {}", store.display())),
            ("force-full-backup", "force-full-backup = 1".to_owned()),
        ],
    )?;
    let writer = LiveWriter::start(sb)?;
    let status = Command::new(workspace_binary("dbbackup")?)
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .status()?;
    drop(writer);
    if !status.success() {
        bail!("dbbackup failed ({status})");
    }
    let backup = std::fs::read_dir(&store)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("UTC") && n.ends_with("-full"))
        .context("dbbackup left no full backup")?;

    let rconf = paths.file("bench-recovery.conf");
    derive_conf(
        Path::new(sb.var("RECOVERY_SSH_CONF")),
        &rconf,
        &[
            ("# dir = ", format!("dir = {backup}")),
            ("dir = ", format!("dir = {}", store.display())),
            ("ip = 127.0.0.60", format!("ip = {}", sb.var("STORE_HOST"))),
            ("work-dir = ", format!("work-dir = {}", jobs.display())),
            ("server-tmp-port = ", "server-tmp-port = 27600".to_owned()),
        ],
    )?;
    let cfg = conf::RecoveryConfig::load(&rconf)?;
    let prepared = runtime.block_on(recovery::prepare(cfg, recovery::Options::default()))?;
    let plan = prepared.plan().clone();
    drop(prepared);

    let rounds = crate::rounds::count();
    let dbrecover = workspace_binary("dbrecover")?;
    let mut tool = Vec::new();
    let mut raw_rounds = Vec::new();
    for round in 1..=rounds {
        // Each restore starts from an empty work dir and a quiet disk: the
        // previous one's output, written back under it, would slow it.
        crate::bench_backup::fresh_dir(&jobs)?;
        crate::rounds::sync()?;
        println!("round {round}: restoring with dbrecover ...");
        let started = Instant::now();
        let status = Command::new(&dbrecover)
            .arg("--config-file")
            .arg(&rconf)
            .stdout(Stdio::null())
            .status()?;
        tool.push(started.elapsed());
        if !status.success() {
            bail!("dbrecover failed ({status})");
        }
        crate::bench_backup::fresh_dir(&jobs)?;
        crate::rounds::sync()?;
        println!("round {round}: restoring by hand ...");
        raw_rounds.push(raw_restores(&plan, &jobs.join("raw"), &store)?);
    }
    let _ = std::fs::remove_dir_all(&jobs);
    let _ = std::fs::remove_dir_all(&store);
    Ok((tool, raw_rounds))
}

/// Every datasource's raw restore at once; each one's wall time.
fn raw_restores(
    plan: &recovery::RecoveryPlan,
    raw_dir: &Path,
    store: &Path,
) -> Result<crate::rounds::RawRound> {
    let store_dir = store.display().to_string();
    let mut handles = Vec::new();
    for (i, apply) in plan.apply.datasources.iter().enumerate() {
        let work = raw_dir.join(&apply.datasource);
        let stream = format!(
            "{}/{}/backup.xbsteam",
            plan.backup_dir(&store_dir, plan.apply.chain.backups[0]),
            apply.data_dir
        );
        let start = match &apply.skip_gtids {
            Some(GtidSet::Mariadb(pos)) => format!("--start-position={pos}"),
            _ => format!("--start-position={}", apply.start.pos),
        };
        let ApplyStop::Position(stop) = &apply.stop else {
            bail!("a dir target stops at a position");
        };
        let binlogs: Vec<String> = apply
            .binlogs
            .iter()
            .map(|b| {
                shell_quote(&format!(
                    "{}/{}/{}",
                    plan.backup_dir(&store_dir, b.backup),
                    b.dir,
                    b.file
                ))
            })
            .collect();
        let script = raw_script(
            &work.display().to_string(),
            &stream,
            27700 + i as u16,
            &format!("{start} --stop-position={}", stop.pos),
            &binlogs.join(" "),
        );
        let ds = apply.datasource.clone();
        handles.push(std::thread::spawn(move || -> Result<(String, Duration)> {
            let started = Instant::now();
            let out = Command::new("bash").arg("-c").arg(&script).output()?;
            if !out.status.success() {
                bail!(
                    "the raw restore of {ds} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok((ds, started.elapsed()))
        }));
    }
    let mut raw = Vec::new();
    for h in handles {
        raw.push(
            h.join()
                .map_err(|_| anyhow::anyhow!("a raw restore thread panicked"))??,
        );
    }
    Ok(raw)
}

/// The commands an operator runs for one datasource.
fn raw_script(work: &str, stream: &str, port: u16, range: &str, binlogs: &str) -> String {
    let w = shell_quote(work);
    format!(
        "set -euo pipefail; rm -rf {w}; mkdir -p {w}/data {w}/tmp\n\
         mbstream -x -C {w}/data < {stream}\n\
         mariabackup --prepare --target-dir={w}/data --use-memory=256M > {w}/prepare.log 2>&1\n\
         mariadbd --no-defaults --user=root --datadir={w}/data --socket={w}/s --port={port} \
           --bind-address=127.0.0.1 --skip-grant-tables --skip-slave-start --skip-log-bin \
           --innodb-buffer-pool-size=128M --log-error={w}/err --pid-file={w}/pid --tmpdir={w}/tmp &\n\
         for i in $(seq 600); do mariadb-admin --no-defaults --socket={w}/s ping >/dev/null 2>&1 && break; sleep 0.1; done\n\
         mariadb-binlog --no-defaults {range} {binlogs} | mariadb --no-defaults --socket={w}/s --binary-mode\n\
         mariadb-admin --no-defaults --socket={w}/s shutdown\n\
         wait\n",
        stream = shell_quote(stream),
    )
}

/// A row every 10 ms into `bench.live` on every master while it lives, so
/// the backup has binlogs to replay to its consistence point.
struct LiveWriter {
    children: Vec<std::process::Child>,
}

impl LiveWriter {
    fn start(sb: &testkit::Sandbox) -> Result<LiveWriter> {
        let mut children = Vec::new();
        for m in sb
            .prod_servers()
            .iter()
            .filter(|s| s.initial_role == "master")
        {
            let e = sb.mysql(m);
            // The load is on the replicas only (unlogged): the database is
            // created here, replicated, and already there on them.
            let feed = "echo 'CREATE DATABASE IF NOT EXISTS bench;'; echo 'CREATE TABLE IF NOT EXISTS bench.live (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6));'; \
                        while :; do echo 'INSERT INTO bench.live (at) VALUES (NOW(6));'; sleep 0.01; done";
            let child = Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "({feed}) | mariadb --no-defaults -h {} -P {} -u {}",
                    e.host, e.port, e.user
                ))
                .env("MYSQL_PWD", &e.password)
                .stdout(Stdio::null())
                .process_group(0)
                .spawn()?;
            children.push(child);
        }
        Ok(LiveWriter { children })
    }
}

impl Drop for LiveWriter {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }
}
