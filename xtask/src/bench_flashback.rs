//! `cargo xtask bench flashback`: `dr-flashback start` and `stop` on the
//! sandbox's DR cluster holding `BENCH_MIB` (default 1024) MiB, against
//! what they replace done by hand in the same run, recorded in the
//! `## flashback` section of `docs/benchmarks.md`. Targets (issue 15):
//! start within 1.2 x the raw snapshots plus 5 s, stop within the
//! servers' restart plus 5 s.
//!
//! * Raw snapshots: what `start` does for every DR node but the donor, one
//!   after the other (one backup at a time on the donor, as the drill),
//!   by hand as the login user: a `socat` listener on the node's address
//!   piped into `mbstream -x`, `mariabackup --backup --stream=xbstream
//!   --slave-info | socat` on the donor, then `mariabackup --prepare`
//!   there.
//! * Restarts: what `stop` cannot avoid on each of those nodes, one after
//!   the other: `SHUTDOWN`, its pid file gone, the same command line
//!   started again, answering a login, `START SLAVE`.
//!
//! The load is written into every DR server with `sql_log_bin = 0` (the
//! loader of `bench backup`): no GTID, no binlog, production untouched.
//! Each round runs the raw snapshots, the restarts, then `start` and
//! `stop`, each after a `sync`; the best of each is compared. The whole
//! run holds the sandbox's exclusive-use lock and leaves the DR cluster as
//! it found it: attached and replicating (checked by `verify`), the load
//! dropped, the drills' `<datadir>.flashback_bak` copies (the load is in
//! them) replaced by the ones there before.

use crate::demo::Flashback;
use anyhow::{Context as _, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEADING: &str = "## flashback";

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let mib = crate::rounds::env_mib("BENCH_MIB", 1024);
    let paths = crate::sandbox::paths();
    let sb = testkit::Sandbox::load(paths.root())
        .map_err(|e| anyhow!("{e}; start the sandbox first: cargo xtask sandbox up"))?;
    let mut fb = Flashback::new(&paths, &sb)?;
    let work = paths.dir("bench-flashback");
    fb.journal = work.join("log").join("gio_flashback_redo.log");
    // Drills and gigabytes: not under a running test.
    let _x = sb.exclusive_use();
    if fb.journal_open() {
        println!("a drill an interrupted run left open: dr-flashback stop");
        fb.run("stop", |_| true)?;
    }
    crate::bench_backup::fresh_dir(&work)?;
    let plan = Plan::read(&sb, &fb)?;
    let load_before = loadavg();
    let runtime = tokio::runtime::Runtime::new()?;
    let kept = KeptBackups::set_aside(&plan.all)?;
    println!(
        "loading {mib} MiB into every DR server; donor {}, snapshots onto {}",
        plan.donor.name,
        names(&plan.receivers)
    );
    let result = runtime
        .block_on(crate::bench_backup::load_into(&sb, &plan.all, mib))
        .and_then(|loaded| {
            runtime.block_on(crate::bench_backup::settle_servers(&sb, &plan.all))?;
            let rounds = (0..crate::rounds::count())
                .map(|i| round(&sb, &runtime, &fb, &plan, &work, i + 1))
                .collect::<Result<Vec<_>>>()?;
            Ok((loaded, rounds))
        });
    // Whatever happened: no drill open, no load, the copies as they were.
    if fb.journal_open() {
        eprintln!("the benchmark failed with a drill open: dr-flashback stop");
        if let Err(e) = fb.run("stop", |_| true) {
            eprintln!("ERROR: {e:#} (journal {})", fb.journal.display());
        }
    }
    let unloaded = runtime.block_on(crate::bench_backup::unload(&sb));
    let restored = kept.put_back();
    let _ = std::fs::remove_dir_all(work.join("raw"));
    let (loaded, rounds) = result?;
    unloaded?;
    restored?;
    fb.run("verify", |_| false)
        .context("the DR cluster after the benchmark")?;
    let _ = std::fs::remove_dir_all(&work);

    let section = section(&plan, &loaded, &rounds, &load_before);
    println!("{section}");
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}

/// The drill's parts, from `start --dry-run --json`.
struct Plan {
    donor: testkit::Server,
    /// The nodes that get a snapshot, in the drill's order.
    receivers: Vec<testkit::Server>,
    /// Every DR server.
    all: Vec<testkit::Server>,
    /// The receivers in `stop`'s order (the DR master first).
    restored: Vec<testkit::Server>,
}

impl Plan {
    fn read(sb: &testkit::Sandbox, fb: &Flashback) -> Result<Plan> {
        let out = fb.run_with("start", &["--dry-run", "--json"], |_| false)?;
        let doc: serde_json::Value =
            serde_json::from_str(&out.join("\n")).context("start --dry-run --json")?;
        let nodes = doc["plan"]["nodes"]
            .as_array()
            .context("start --dry-run --json: no plan.nodes")?;
        let mut receivers = Vec::new();
        let mut primary = Vec::new();
        let mut donor = None;
        for node in nodes {
            let name = node["ServerName"]
                .as_str()
                .context("a node without a name")?;
            let server = sb.server(name);
            match node["Role"].as_str() {
                Some("donor") => donor = Some(server),
                Some("primary") => {
                    primary.push(server.clone());
                    receivers.push(server);
                }
                _ => receivers.push(server),
            }
        }
        let donor = donor.context("the plan has no donor")?;
        let mut restored = primary;
        restored.extend(
            receivers
                .iter()
                .filter(|r| !restored.iter().any(|p| p.name == r.name))
                .cloned()
                .collect::<Vec<_>>(),
        );
        Ok(Plan {
            donor,
            receivers,
            all: sb.dr_servers(),
            restored,
        })
    }
}

fn names(servers: &[testkit::Server]) -> String {
    servers
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One round's figures.
struct Round {
    snapshots: crate::rounds::RawRound,
    restarts: crate::rounds::RawRound,
    start: Duration,
    stop: Duration,
    /// `step N name: done in X s` lines of start and stop.
    start_steps: Vec<String>,
    stop_steps: Vec<String>,
}

fn round(
    sb: &testkit::Sandbox,
    runtime: &tokio::runtime::Runtime,
    fb: &Flashback,
    plan: &Plan,
    work: &Path,
    n: usize,
) -> Result<Round> {
    let raw_dir = work.join("raw");
    crate::bench_backup::fresh_dir(&raw_dir)?;
    crate::rounds::sync()?;
    let mut snapshots = Vec::new();
    for (i, r) in plan.receivers.iter().enumerate() {
        let took = raw_snapshot(sb, &plan.donor, r, &raw_dir, i)?;
        snapshots.push((r.name.clone(), took));
    }
    for r in &plan.receivers {
        std::fs::remove_dir_all(snapshot_dir(r))?;
    }
    crate::rounds::sync()?;
    let mut restarts = Vec::new();
    for r in &plan.restored {
        restarts.push((r.name.clone(), restart(sb, runtime, r)?));
    }
    runtime.block_on(replicating(sb, &plan.all))?;

    crate::rounds::sync()?;
    let t = Instant::now();
    let started = fb.run("start", |_| false)?;
    let start = t.elapsed();
    crate::rounds::sync()?;
    let t = Instant::now();
    let stopped = fb.run("stop", |_| false)?;
    let stop = t.elapsed();
    let raw: Duration = snapshots.iter().map(|s| s.1).sum();
    let restart_sum: Duration = restarts.iter().map(|s| s.1).sum();
    println!(
        "round {n}: raw snapshots {:.1} s, dr-flashback start {:.1} s; restarts {:.1} s, dr-flashback stop {:.1} s",
        raw.as_secs_f64(),
        start.as_secs_f64(),
        restart_sum.as_secs_f64(),
        stop.as_secs_f64()
    );
    Ok(Round {
        snapshots,
        restarts,
        start,
        stop,
        start_steps: steps(&started),
        stop_steps: steps(&stopped),
    })
}

/// The `step N name: done in X s` lines.
fn steps(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("step ") && l.contains(": done in "))
        .cloned()
        .collect()
}

/// Where a raw snapshot for `r` goes: beside its data directory, as the
/// drill's own `flashback_snapshot`.
fn snapshot_dir(r: &testkit::Server) -> PathBuf {
    r.dir.join("bench_raw_snapshot")
}

/// `script` run by bash as the login user.
fn as_login(script: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "dbsbk", "--", "bash", "-c"]).arg(script);
    cmd
}

/// The donor's backup streamed into the receiver's directory and
/// prepared there, by hand; its wall time.
fn raw_snapshot(
    sb: &testkit::Sandbox,
    donor: &testkit::Server,
    r: &testkit::Server,
    raw_dir: &Path,
    i: usize,
) -> Result<Duration> {
    let dir = snapshot_dir(r);
    let data = dir.join("data");
    let login = raw_dir.join(format!("donor-{}.cnf", r.name));
    crate::util::write_file(
        &login,
        &format!(
            "!include {}\n[client]\nuser={}\npassword={}\n",
            donor.dir.join("my.cnf").display(),
            sb.var("MYSQL_USER"),
            sb.var("MYSQL_PASSWORD")
        ),
        0o600,
    )?;
    crate::bench_backup::chown_login(&login)?;
    let port: u16 = sb.var("SOCAT_PORT").parse().unwrap_or(29999) + 600 + i as u16;
    let started = Instant::now();
    crate::util::run(&mut as_login(&format!(
        "rm -rf -- '{d}' && mkdir -p -- '{d}/data'",
        d = dir.display()
    )))?;
    let mut receiver = as_login(&format!(
        "set -o pipefail; socat -u tcp-listen:{port},bind={host},reuseaddr - | mbstream -x -C '{data}'",
        host = r.host,
        data = data.display()
    ))
    .stdin(Stdio::null())
    .spawn()
    .context("the receiving socat")?;
    crate::util::wait_for(
        &format!("the listener on {}:{port}", r.host),
        Duration::from_secs(10),
        || {
            let out = Command::new("ss")
                .args(["-Hltn", &format!("sport = :{port}")])
                .output()?;
            Ok((!out.stdout.is_empty()).then_some(()))
        },
    )?;
    let sent = as_login(&format!(
        "set -o pipefail; mariabackup --defaults-file='{login}' --backup --tmpdir='{tmp}' --slave-info \
         --stream=xbstream 2>'{log}' | socat -u - TCP4:{host}:{port}",
        login = login.display(),
        tmp = donor.dir.join("tmp").display(),
        log = raw_dir.join(format!("backup-{}.log", r.name)).display(),
        host = r.host,
    ))
    .stdin(Stdio::null())
    .status()?;
    let received = receiver.wait()?;
    if !sent.success() || !received.success() {
        bail!(
            "the raw snapshot for {} failed (sender {sent}, receiver {received}; see {})",
            r.name,
            raw_dir.display()
        );
    }
    crate::util::run(&mut as_login(&format!(
        "mariabackup --prepare --target-dir='{}' --use-memory=256M 2>'{}'",
        data.display(),
        raw_dir.join(format!("prepare-{}.log", r.name)).display()
    )))?;
    let took = started.elapsed();
    std::fs::remove_file(&login)?;
    Ok(took)
}

/// `server` restarted by hand as `stop` restarts it: `SHUTDOWN`, its pid
/// file gone, its own command line started again (in a session of its
/// own), until it answers a login, then `START SLAVE`; the wall time.
fn restart(
    sb: &testkit::Sandbox,
    runtime: &tokio::runtime::Runtime,
    server: &testkit::Server,
) -> Result<Duration> {
    let pid_file = server.dir.join("mysqld.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("{} is not running", server.name))?;
    let argv: Vec<String> = std::fs::read(format!("/proc/{}/cmdline", pid.trim()))
        .with_context(|| format!("the command line of {}", server.name))?
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let started = Instant::now();
    runtime.block_on(async {
        let mut c = crate::bench_backup::client(sb, server).await?;
        // The connection ends with the server.
        let _ = c.execute("SHUTDOWN").await;
        anyhow::Ok(())
    })?;
    crate::util::wait_for(
        &format!("{} to shut down", server.name),
        Duration::from_secs(120),
        || Ok((!pid_file.exists()).then_some(())),
    )?;
    crate::util::run(
        Command::new("setsid")
            .arg("-f")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    crate::util::wait_for(
        &format!("{} to answer", server.name),
        Duration::from_secs(120),
        || {
            let answered = runtime.block_on(async {
                let e = sb.mysql(server);
                let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
                router::Client::connect(&ep, Duration::from_secs(2)).await
            });
            Ok(answered.ok().map(drop))
        },
    )?;
    // A command line an earlier drill's stop started holds replication
    // (`--skip-slave-start`); stop starts it again, so does this.
    runtime.block_on(async {
        let mut c = crate::bench_backup::client(sb, server).await?;
        c.execute("START SLAVE").await?;
        c.close().await?;
        anyhow::Ok(())
    })?;
    Ok(started.elapsed())
}

/// Waits (at most a minute) until every one of `servers` replicates.
async fn replicating(sb: &testkit::Sandbox, servers: &[testkit::Server]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for s in servers {
        loop {
            let mut c = crate::bench_backup::client(sb, s).await?;
            let rows = c.query("SHOW SLAVE STATUS").await?;
            let _ = c.close().await;
            let running = rows.first().is_some_and(|r| {
                ["Slave_IO_Running", "Slave_SQL_Running"]
                    .iter()
                    .all(|col| r.column(col).flatten() == Some("Yes"))
            });
            if running {
                break;
            }
            if Instant::now() > deadline {
                bail!("{} does not replicate a minute after its restart", s.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The `<datadir>.flashback_bak` copies there before the benchmark, moved
/// aside; the drills' own (holding the load) are replaced by them again.
struct KeptBackups {
    /// (the copy's place, where it waits meanwhile).
    moved: Vec<(PathBuf, PathBuf)>,
    /// Every place a drill may leave a copy.
    places: Vec<PathBuf>,
}

impl KeptBackups {
    fn set_aside(servers: &[testkit::Server]) -> Result<KeptBackups> {
        let mut kept = KeptBackups {
            moved: Vec::new(),
            places: Vec::new(),
        };
        for s in servers {
            let place = s.dir.join("data.flashback_bak");
            let aside = s.dir.join("data.flashback_bak.before-bench");
            // An interrupted run's: already aside.
            if place.exists() && !aside.exists() {
                std::fs::rename(&place, &aside)
                    .with_context(|| format!("moving {} aside", place.display()))?;
            }
            if aside.exists() {
                kept.moved.push((place.clone(), aside));
            }
            kept.places.push(place);
        }
        Ok(kept)
    }

    fn put_back(self) -> Result<()> {
        for place in &self.places {
            if place.exists() {
                std::fs::remove_dir_all(place)
                    .with_context(|| format!("removing {}", place.display()))?;
            }
        }
        for (place, aside) in &self.moved {
            std::fs::rename(aside, place)
                .with_context(|| format!("putting {} back", place.display()))?;
        }
        Ok(())
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The step lines, then what the run's wall time holds beyond their sum
/// (`what`: the work before the first step, the process's start and end).
fn with_rest(steps: &[String], wall: Duration, what: &str) -> String {
    let in_steps: f64 = steps
        .iter()
        .filter_map(|l| {
            l.rsplit_once(": done in ")?
                .1
                .strip_suffix(" s")?
                .parse::<f64>()
                .ok()
        })
        .sum();
    format!(
        "{}\noutside the steps ({what}, ssh connections): {:.1} s of {:.1} s",
        steps.join("\n"),
        wall.as_secs_f64() - in_steps,
        wall.as_secs_f64()
    )
}

/// The section of `docs/benchmarks.md`.
fn section(plan: &Plan, loaded: &str, rounds: &[Round], load_before: &str) -> String {
    let snapshots: Vec<_> = rounds.iter().map(|r| r.snapshots.clone()).collect();
    let restarts: Vec<_> = rounds.iter().map(|r| r.restarts.clone()).collect();
    let starts: Vec<Duration> = rounds.iter().map(|r| r.start).collect();
    let stops: Vec<Duration> = rounds.iter().map(|r| r.stop).collect();
    let (start_table, _) = crate::rounds::table_of(
        "raw snapshot",
        &snapshots,
        crate::rounds::Parts::SEQUENTIAL,
        "`dr-flashback start`",
        &starts,
        "target: 1.2 x best raw + 5 s",
        |raw| raw.mul_f64(1.2) + Duration::from_secs(5),
    );
    let (stop_table, _) = crate::rounds::table_of(
        "restart",
        &restarts,
        crate::rounds::Parts::SEQUENTIAL,
        "`dr-flashback stop`",
        &stops,
        "target: best restarts + 5 s",
        |raw| raw + Duration::from_secs(5),
    );
    let best = |values: &[Duration]| {
        values
            .iter()
            .enumerate()
            .min_by_key(|(_, d)| **d)
            .map_or(0, |(i, _)| i)
    };
    let (best_start, best_stop) = (&rounds[best(&starts)], &rounds[best(&stops)]);
    let start_steps = with_rest(
        &best_start.start_steps,
        best_start.start,
        "the checks, the plan",
    );
    let stop_steps = with_rest(
        &best_stop.stop_steps,
        best_stop.stop,
        "reading the journal, the routers",
    );
    format!(
        "{HEADING}\n\n`cargo xtask bench flashback`: the DR cluster with {loaded} in every DR server \
         (1 KB rows written with `sql_log_bin = 0`), a drill opened by `dr-flashback start` and \
         closed by `dr-flashback stop` over ssh (debug build, as the tests run it), against the \
         same work done by hand in the same round. Raw snapshot: for each DR node but the donor \
         ({donor}), one after the other as the drill, `mariabackup --backup --stream=xbstream \
         --slave-info | socat` on the donor into `socat | mbstream -x` on the node's address, then \
         `mariabackup --prepare` there, as the login user. Restart: each restored node ({restored}) \
         shut down (`SHUTDOWN`, pid file gone), started again with its own command line until \
         it answers, `START SLAVE`. start also runs verify's checks, detaches the DR cluster, waits for the donor \
         and checks each snapshot on its own server; stop also stops those servers, swaps the data \
         directories and re-attaches the DR cluster. Each measure starts after a `sync`; the best \
         of each is compared.\n\
         Recorded {date}; load average before `{load_before}`, after `{load_after}`.\n\n\
         {start_table}\n{stop_table}\n\
         The steps of the best start, as it reported them:\n\n```\n{start_steps}\n```\n\n\
         The steps of the best stop:\n\n```\n{stop_steps}\n```\n",
        donor = plan.donor.name,
        restored = names(&plan.restored),
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load_after = loadavg(),
    )
}
