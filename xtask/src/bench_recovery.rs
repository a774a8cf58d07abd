//! `cargo xtask bench recovery`: `dbrecover` against the raw commands it
//! replaces, and dbrecover on a compressed and an encrypted backup of the
//! same data against the plain one (issue 20 targets 3 and 4), recorded in
//! the `## recovery` section of `docs/benchmarks.md` (the ways of replaying
//! binlogs are `cargo xtask bench replay`).
//!
//! The sandbox loaded with `BENCH_MIB` (default 1024)
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
    let mib = crate::rounds::env_mib("BENCH_MIB", 1024);
    let heading = crate::benchdoc::sized_heading(HEADING, mib);

    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    let sb = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let _exclusive = sb.exclusive_use();
    let runtime = tokio::runtime::Runtime::new()?;
    println!("loading {mib} MiB into every datasource ...");
    let loaded = runtime.block_on(crate::bench_backup::load(&sb, mib))?;
    let result = recover_every_way(&sb, &runtime);
    runtime.block_on(crate::bench_backup::unload(&sb))?;
    let t = result?;
    let (plain_times, plain_steps) = best_of(&t.plain);
    let (compressed_times, compressed_steps) = best_of(&t.compressed);
    let (encrypted_times, encrypted_steps) = best_of(&t.encrypted);
    let (table, _) = crate::rounds::table(
        "raw commands",
        &t.raw,
        "`dbrecover` (all datasources in parallel)",
        &plain_times,
        "target: 1.1 x best slowest raw",
        |raw_max| raw_max.mul_f64(1.1),
    );
    let plain = (
        "`dbrecover`, plain backup (as above)",
        plain_times.as_slice(),
    );
    let compression = crate::bench_backup::ratio_table(
        plain,
        (
            "`dbrecover`, `compress = 1` backup (zstd)",
            &compressed_times,
        ),
        "compressed / plain",
        Some(1.1),
    );
    let encryption = crate::bench_backup::ratio_table(
        plain,
        (
            "`dbrecover --password-file`, encrypted backup",
            &encrypted_times,
        ),
        "encrypted / plain",
        Some(1.15),
    );
    let table = format!(
        "{table}\nThe same data backed up with `compress = 1` (issue 20 target 3: recovery at most \
         1.1 x plain's):\n\n{compression}\nThe same data backed up with a password (target 4: \
         recovery at most 1.15 x plain's):\n\n{encryption}\n\
         The steps of each best run (`dbrecover --json`), plain:\n\n```\n{plain_steps}```\n\n\
         compressed:\n\n```\n{compressed_steps}```\n\nencrypted:\n\n```\n{encrypted_steps}```\n"
    );
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{heading}\n\n`cargo xtask bench recovery`: the sandbox with {loaded} per \
         datasource, a full backup (backup-slave = 1) taken under a live write load, restored to \
         its consistence point by `dbrecover` over ssh with the store as the job server (in place) \
         and by the raw commands per datasource run by hand at once (`mbstream -x`, \
         `mariabackup --prepare`, `mariadbd`, `mariadb-binlog --start-position=<GTID> \
         --stop-position | mariadb`, shutdown). dbrecover also counts every table's rows for \
         its report. Two more full backups of the same data, one with `compress = 1` and one \
         with a password, are restored by dbrecover in the same rounds. Each restore starts \
         from an empty work dir after a `sync`; the four take turns (the order rotates each \
         round) and the best of each is compared. The binlog replay alone is measured by \
         `cargo xtask bench replay` (section \"replay\").\n\n{table}\n\
         Recorded {date}; load average after: `{load}`.\n",
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, &heading, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}

/// Each round's times: dbrecover on the plain, compressed and encrypted
/// chains, and the raw restores of the plain one.
struct Timings {
    plain: Vec<Run>,
    compressed: Vec<Run>,
    encrypted: Vec<Run>,
    raw: Vec<crate::rounds::RawRound>,
}

/// A backup to restore: its store and the recovery configuration (and
/// password file) dbrecover restores it with.
struct Chain {
    store: std::path::PathBuf,
    rconf: std::path::PathBuf,
    password: Option<std::path::PathBuf>,
}

impl Chain {
    /// Takes a full backup into a store of its own (`STORE_DIR/<name>`)
    /// under the live writer, with the backup configuration changed by
    /// `edits`, encrypted when `password` is given.
    fn take(
        sb: &testkit::Sandbox,
        name: &str,
        edits: &[(&str, String)],
        password: Option<&Path>,
    ) -> Result<Chain> {
        let paths = crate::sandbox::paths();
        let store = Path::new(sb.var("STORE_DIR")).join(name);
        crate::bench_backup::fresh_dir(&store)?;
        let conf = paths.file(&format!("{name}-backup.conf"));
        let mut all = vec![
            ("dir = ", format!("dir = {}", store.display())),
            ("force-full-backup", "force-full-backup = 1".to_owned()),
        ];
        all.extend(edits.iter().cloned());
        derive_conf(Path::new(sb.var("BACKUP_SSH_CONF")), &conf, &all)?;
        let writer = LiveWriter::start(sb)?;
        let took =
            crate::bench_backup::timed_dbbackup(&workspace_binary("dbbackup")?, &conf, password);
        drop(writer);
        took.with_context(|| format!("backing up into {}", store.display()))?;
        let backup = std::fs::read_dir(&store)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("UTC") && n.ends_with("-full"))
            .with_context(|| format!("dbbackup left no full backup in {}", store.display()))?;
        let rconf = paths.file(&format!("{name}.conf"));
        derive_conf(
            Path::new(sb.var("RECOVERY_SSH_CONF")),
            &rconf,
            &[
                ("# dir = ", format!("dir = {backup}")),
                ("dir = ", format!("dir = {}", store.display())),
                ("ip = 127.0.0.60", format!("ip = {}", sb.var("STORE_HOST"))),
                (
                    "work-dir = ",
                    format!("work-dir = {}", jobs_dir(sb).display()),
                ),
                ("server-tmp-port = ", "server-tmp-port = 27600".to_owned()),
            ],
        )?;
        Ok(Chain {
            store,
            rconf,
            password: password.map(Path::to_path_buf),
        })
    }

    /// One dbrecover run from an empty work dir after a `sync`: its time
    /// and its steps' (from `--json`).
    fn recover(&self, sb: &testkit::Sandbox) -> Result<Run> {
        // The previous restore's output, written back under this one,
        // would slow it.
        crate::bench_backup::fresh_dir(&jobs_dir(sb))?;
        crate::rounds::sync()?;
        let mut dbrecover = Command::new(workspace_binary("dbrecover")?);
        dbrecover
            .arg("--config-file")
            .arg(&self.rconf)
            .arg("--json");
        if let Some(file) = &self.password {
            dbrecover.arg("--password-file").arg(file);
        }
        let started = Instant::now();
        let out = dbrecover.stderr(Stdio::inherit()).output()?;
        let took = started.elapsed();
        if !out.status.success() {
            bail!(
                "dbrecover from {} failed ({})",
                self.store.display(),
                out.status
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .context("dbrecover --json printed no JSON report")?;
        Ok(Run {
            took,
            steps: steps_of(&report),
        })
    }
}

/// A dbrecover run: its wall time and its steps.
struct Run {
    took: Duration,
    steps: String,
}

/// The steps of a `dbrecover --json` report, one line each: the run's,
/// then each datasource's.
fn steps_of(report: &serde_json::Value) -> String {
    let lines = |who: &str, timings: &serde_json::Value| -> String {
        timings
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{who}{}: {:.2} s\n",
                    t["step"].as_str().unwrap_or("?"),
                    t["secs"].as_f64().unwrap_or_default()
                )
            })
            .collect()
    };
    let mut text = lines("", &report["timings"]);
    for ds in report["datasources"].as_array().into_iter().flatten() {
        let who = format!("{}: ", ds["datasource"].as_str().unwrap_or("?"));
        text += &lines(&who, &ds["timings"]);
    }
    text
}

/// The best of `runs`: its time and steps; every run's time.
fn best_of(runs: &[Run]) -> (Vec<Duration>, String) {
    let times = runs.iter().map(|r| r.took).collect();
    let steps = runs
        .iter()
        .min_by_key(|r| r.took)
        .map(|r| r.steps.clone())
        .unwrap_or_default();
    (times, steps)
}

/// The job server's work dir of every restore.
fn jobs_dir(sb: &testkit::Sandbox) -> std::path::PathBuf {
    Path::new(sb.var("JOB_DIR")).join("bench-recovery")
}

/// Takes the backups (plain, `compress = 1`, encrypted), then restores
/// them by dbrecover, and the plain one by hand, round after round, each
/// round in a different order.
fn recover_every_way(sb: &testkit::Sandbox, runtime: &tokio::runtime::Runtime) -> Result<Timings> {
    let paths = crate::sandbox::paths();
    let password = paths.file("bench-recovery.password");
    let secret = crate::util::random_password(24)? + "\n";
    crate::util::write_file(&password, &secret, 0o600)?;
    let plain = Chain::take(sb, "bench-recovery", &[], None)?;
    let compressed = Chain::take(
        sb,
        "bench-recovery-zstd",
        &[("compress = ", "compress = 1".to_owned())],
        None,
    )?;
    let encrypted = Chain::take(sb, "bench-recovery-aes", &[], Some(&password))?;
    let cfg = conf::RecoveryConfig::load(&plain.rconf)?;
    let prepared = runtime.block_on(recovery::prepare(cfg, recovery::Options::default()))?;
    let plan = prepared.plan().clone();
    drop(prepared);

    let jobs = jobs_dir(sb);
    let mut t = Timings {
        plain: Vec::new(),
        compressed: Vec::new(),
        encrypted: Vec::new(),
        raw: Vec::new(),
    };
    for round in 1..=crate::rounds::count() {
        for way in crate::rounds::rotation(4, round) {
            match way {
                0 => {
                    println!("round {round}: restoring with dbrecover ...");
                    t.plain.push(plain.recover(sb)?);
                }
                1 => {
                    println!("round {round}: restoring by hand ...");
                    crate::bench_backup::fresh_dir(&jobs)?;
                    crate::rounds::sync()?;
                    t.raw
                        .push(raw_restores(&plan, &jobs.join("raw"), &plain.store)?);
                }
                2 => {
                    println!("round {round}: restoring the compressed backup ...");
                    t.compressed.push(compressed.recover(sb)?);
                }
                _ => {
                    println!("round {round}: restoring the encrypted backup ...");
                    t.encrypted.push(encrypted.recover(sb)?);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&jobs);
    for chain in [&plain, &compressed, &encrypted] {
        let _ = std::fs::remove_dir_all(&chain.store);
    }
    Ok(t)
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
