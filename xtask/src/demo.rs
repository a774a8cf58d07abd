//! `cargo xtask demo`: the main job on the sandbox, end to end: sandbox up,
//! the topology the router reports, a workload in every datasource, a full
//! backup with `dbbackup`, more writes, an incremental, more writes around a
//! chosen second, another incremental, then `dbrecover` to that second and
//! a check that every datasource holds exactly the rows written before it.
//! Then a logical backup with `dbcatalog` and its catalog row
//! (`demo_logical`, alone: `cargo xtask demo logical`).
//! Then a DR drill with `dr-flashback` (`cargo xtask demo drill` runs only
//! that part): `verify`, `start`, rows written into the DR cluster through
//! its router, `stop`; the drill's rows are gone and a row written on
//! production during the drill reaches the DR master.

use crate::sandbox::layout::Paths;
use anyhow::{Context as _, Result, bail};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Rows written into each datasource before each backup.
const ROWS_PER_STEP: u32 = 2000;

/// The database the drill writes into the DR cluster (gone after `stop`).
const DRILL_DB: &str = "demo_drill";

/// A part of the demo to run alone.
#[derive(clap::Subcommand, Clone, Copy, Debug)]
pub enum Part {
    /// Only the DR drill: dr-flashback verify, start, writes into the DR
    /// cluster through its router, stop, and the checks after it.
    Drill,
    /// Only the logical backup: dbcatalog mydumper, its catalog row,
    /// validate-backup.
    Logical,
}

/// Runs the demo: everything, or only `part`.
pub fn run(part: Option<Part>) -> Result<()> {
    let started = Instant::now();
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    let sandbox = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let runtime = Runtime::new()?;
    let mut done = Vec::new();
    if part.is_none() {
        crate::sandbox::print_topology(&paths)?;
        done.push(main_job(&paths, &sandbox, &runtime)?);
    }
    if matches!(part, None | Some(Part::Logical)) {
        done.push(crate::demo_logical::run(&paths, &sandbox)?);
    }
    if !matches!(part, Some(Part::Logical)) {
        done.push(drill(&paths, &sandbox, &runtime)?);
    }
    println!(
        "\ndemo done in {:.0} s: {}",
        started.elapsed().as_secs_f64(),
        done.join("; ")
    );
    Ok(())
}

/// Backups, then a recovery to a chosen second, checked; says what it did.
fn main_job(paths: &Paths, sandbox: &testkit::Sandbox, runtime: &Runtime) -> Result<String> {
    let dbbackup = crate::util::workspace_binary("dbbackup")?;

    // A store of its own, fresh each time.
    let store = Path::new(sandbox.var("STORE_DIR")).join("demo");
    if store.exists() {
        std::fs::remove_dir_all(&store)?;
    }
    let conf = paths.file("demo-backup.conf");
    crate::util::derive_conf(
        Path::new(sandbox.var("BACKUP_SSH_CONF")),
        &conf,
        &[("dir = ", format!("dir = {}", store.display()))],
    )?;

    step("loading data into every datasource");
    runtime.block_on(workload(sandbox, ROWS_PER_STEP))?;
    step("full backup: dbbackup --config-file demo-backup.conf");
    dbbackup_run(&dbbackup, &conf)?;
    step("more writes");
    runtime.block_on(workload(sandbox, ROWS_PER_STEP))?;
    step("incremental backup: the same command");
    dbbackup_run(&dbbackup, &conf)?;
    step("writes on both sides of a chosen second");
    runtime.block_on(workload(sandbox, ROWS_PER_STEP / 2))?;
    let stop_at = next_second_boundary();
    println!("  recovery target: {stop_at} (local time)");
    runtime.block_on(workload(sandbox, ROWS_PER_STEP / 2))?;
    let expected = runtime.block_on(rows_before(sandbox, &stop_at))?;
    step("second incremental (its binlogs cover the target)");
    dbbackup_run(&dbbackup, &conf)?;

    step("what the store holds");
    let out = Command::new("find")
        .arg(&store)
        .args(["-maxdepth", "2", "-not", "-path", "*/socat_log*"])
        .output()?;
    let listing =
        String::from_utf8_lossy(&out.stdout).replace(&format!("{}/", store.display()), "  ");
    println!("{listing}");
    step(&format!(
        "recovery to {stop_at}: dbrecover --config-file demo-recovery.conf"
    ));
    let dbrecover = crate::util::workspace_binary("dbrecover")?;
    let job_dir = Path::new(sandbox.var("JOB_DIR")).join("demo");
    if job_dir.exists() {
        std::fs::remove_dir_all(&job_dir)?;
    }
    let rconf = paths.file("demo-recovery.conf");
    crate::util::derive_conf(
        Path::new(sandbox.var("RECOVERY_SSH_CONF")),
        &rconf,
        &[
            ("# stop-datetime = ", format!("stop-datetime = {stop_at}")),
            ("work-dir = ", format!("work-dir = {}", job_dir.display())),
            ("dir = ", format!("dir = {}", store.display())),
        ],
    )?;
    let status = Command::new(&dbrecover)
        .arg("--config-file")
        .arg(&rconf)
        .status()?;
    if !status.success() {
        bail!("dbrecover failed ({status})");
    }
    step("checking every restored datasource against the source");
    check_restored(&job_dir, &expected, &stop_at)?;
    Ok(format!(
        "three backups in {}, the cluster recovered to {stop_at} in {}",
        store.display(),
        job_dir.display()
    ))
}

/// Each datasource's restored data under `job_dir` holds the rows written
/// before `stop_at`, no more, no less.
fn check_restored(job_dir: &Path, expected: &[(String, u64)], stop_at: &str) -> Result<()> {
    let mut all_ok = true;
    for (datasource, want) in expected {
        let data = std::fs::read_dir(job_dir)?
            .filter_map(|e| e.ok())
            .flat_map(|e| {
                std::fs::read_dir(e.path().join("datadir"))
                    .into_iter()
                    .flatten()
            })
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{datasource}-")))
            })
            .with_context(|| {
                format!(
                    "no restored data for {datasource} under {}",
                    job_dir.display()
                )
            })?;
        let got = count_rows(&data)?;
        let verdict = if got == *want { "ok" } else { "MISMATCH" };
        all_ok &= got == *want;
        println!("  {datasource}: {got} rows restored, {want} written before {stop_at}: {verdict}");
    }
    if !all_ok {
        bail!("the recovered cluster does not match the source");
    }
    Ok(())
}

/// The DR drill, step by step: `dr-flashback verify`, `start`, rows
/// written into the DR cluster through its router while production writes
/// a row, `stop`; then the drill's rows are gone from every DR server, the
/// production row reaches the DR master, and `verify` passes again. Holds
/// the sandbox's exclusive-use lock throughout; a drill left open by a
/// failure (or by an earlier, interrupted demo) is closed with `stop`.
fn drill(paths: &Paths, sandbox: &testkit::Sandbox, runtime: &Runtime) -> Result<String> {
    let fb = Flashback::new(paths, sandbox)?;
    let dr_master = sandbox
        .dr_servers()
        .into_iter()
        .find(|s| s.initial_role == "master")
        .context("the sandbox lists no DR master")?;
    let source = sandbox
        .prod_servers()
        .into_iter()
        .find(|s| s.initial_role == "master" && s.datasource == dr_master.datasource)
        .with_context(|| format!("no production master of {}", dr_master.datasource))?;

    step(
        "DR drill: taking the sandbox's exclusive-use lock (tests that change the clusters hold it)",
    );
    let _lock = sandbox.exclusive_use();
    if fb.journal_open() {
        step("a drill an earlier demo left open: dr-flashback stop");
        fb.run("stop", |_| true)?;
    }
    step(&format!(
        "dr-flashback verify -si {} -ti {} --config dr_flashback.ini",
        fb.si, fb.ti
    ));
    print_checks(&fb.run("verify", |_| false)?);

    step("dr-flashback start (the same checks, then the steps)");
    let open = OpenDrill { fb: &fb };
    let start = Instant::now();
    fb.run("start", |l| !is_check_line(l))?;
    let start = start.elapsed();

    step(&format!(
        "the drill: rows written into the DR cluster through its router {}",
        fb.ti
    ));
    let drill_rows = runtime.block_on(write_drill_rows(sandbox))?;
    println!("  {DRILL_DB}.orders through the DR router: {drill_rows}");
    let row = runtime.block_on(production_row(sandbox, &source))?;
    let has_row = |server: &testkit::Server| -> Result<bool> {
        let table = "SELECT COUNT(*) AS n FROM information_schema.tables \
                     WHERE table_schema = 'demo' AND table_name = 'dr_heartbeat'";
        let row = format!("SELECT COUNT(*) AS n FROM demo.dr_heartbeat WHERE id = {row}");
        Ok(sql_value(sandbox, server, table)? != "0" && sql_value(sandbox, server, &row)? != "0")
    };
    if has_row(&dr_master)? {
        bail!("{} got a production row while detached", dr_master.name);
    }
    println!(
        "  {} (production) meanwhile: demo.dr_heartbeat row {row}; not on {} (detached)",
        source.name, dr_master.name
    );

    step("dr-flashback stop (the drill's writes thrown away)");
    let stop = Instant::now();
    fb.run("stop", |l| !is_check_line(l))?;
    let stop = stop.elapsed();
    open.closed();

    step("after the drill");
    let gone = format!(
        "SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = '{DRILL_DB}'"
    );
    let dr = sandbox.dr_servers();
    for s in &dr {
        if sql_value(sandbox, s, &gone)? != "0" {
            bail!("{DRILL_DB} survived the drill on {}", s.name);
        }
    }
    let names: Vec<&str> = dr.iter().map(|s| s.name.as_str()).collect();
    println!("  {DRILL_DB}: on none of {}", names.join(", "));
    let arrived = Instant::now();
    crate::util::wait_for(
        &format!("row {row} of demo.dr_heartbeat on {}", dr_master.name),
        Duration::from_secs(60),
        || Ok(has_row(&dr_master).unwrap_or(false).then_some(())),
    )?;
    println!(
        "  {} (DR master): demo.dr_heartbeat row {row} from {} arrived in {:.1} s: DR replication runs",
        dr_master.name,
        source.name,
        arrived.elapsed().as_secs_f64()
    );
    step("dr-flashback verify");
    let lines = fb.run("verify", |_| false)?;
    let checks = lines.iter().filter(|l| is_check_line(l)).count();
    println!(
        "  {checks} checks ok: {}",
        lines.last().map_or("", String::as_str)
    );
    Ok(format!(
        "a DR drill opened in {:.0} s and closed in {:.0} s, the DR cluster attached and replicating",
        start.as_secs_f64(),
        stop.as_secs_f64()
    ))
}

/// How the demo runs `dr-flashback` on the sandbox: its config file (the
/// passwords stay in it) and a journal of the demo's own.
pub(crate) struct Flashback {
    bin: PathBuf,
    config: PathBuf,
    pub(crate) journal: PathBuf,
    si: String,
    ti: String,
}

impl Flashback {
    pub(crate) fn new(paths: &Paths, sandbox: &testkit::Sandbox) -> Result<Flashback> {
        let router =
            |host: &str, port: &str| format!("{}:{}", sandbox.var(host), sandbox.var(port));
        Ok(Flashback {
            bin: crate::util::workspace_binary("dr-flashback")?,
            config: PathBuf::from(sandbox.var("DR_FLASHBACK_INI")),
            journal: paths.file("demo-drill/gio_flashback_redo.log"),
            si: router("ROUTER_HOST", "ROUTER_PORT"),
            ti: router("DR_ROUTER_HOST", "DR_ROUTER_PORT"),
        })
    }

    /// Does the journal hold a drill?
    pub(crate) fn journal_open(&self) -> bool {
        std::fs::read_to_string(&self.journal).is_ok_and(|t| !t.trim().is_empty())
    }

    /// Runs `dr-flashback VERB`, printing (indented, as they come) the
    /// lines of its stdout that `show` keeps, and every line when it fails;
    /// gives every line.
    pub(crate) fn run(&self, verb: &str, show: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        self.run_with(verb, &[], show)
    }

    /// [`Flashback::run`] with `extra` arguments after the verb's own.
    pub(crate) fn run_with(
        &self,
        verb: &str,
        extra: &[&str],
        show: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let mut child = Command::new(&self.bin)
            .arg(verb)
            .args(["-si", &self.si, "-ti", &self.ti])
            .arg("--config")
            .arg(&self.config)
            .arg("--journal")
            .arg(&self.journal)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let mut lines = Vec::new();
        if let Some(out) = child.stdout.take() {
            for line in std::io::BufReader::new(out).lines() {
                let line = line?;
                if show(&line) {
                    println!("  {line}");
                }
                lines.push(line);
            }
        }
        let status = child.wait()?;
        if !status.success() {
            for line in lines.iter().filter(|l| !show(l)) {
                println!("  {line}");
            }
            bail!("dr-flashback {verb} failed ({status})");
        }
        Ok(lines)
    }
}

/// A drill that is open until [`OpenDrill::closed`]: dropped before (the
/// demo failed on the way), it runs `stop`.
struct OpenDrill<'a> {
    fb: &'a Flashback,
}

impl OpenDrill<'_> {
    fn closed(self) {
        std::mem::forget(self);
    }
}

impl Drop for OpenDrill<'_> {
    fn drop(&mut self) {
        if self.fb.journal_open() {
            eprintln!("the demo failed with the drill open: dr-flashback stop");
            if let Err(e) = self.fb.run("stop", |_| true) {
                eprintln!("ERROR: {e:#} (see `dr-flashback status`)");
            }
        }
    }
}

/// A check's line (`ok    name [subject]: detail`).
fn is_check_line(line: &str) -> bool {
    line.starts_with("ok    ")
}

/// `verify`'s lines, shortened: consecutive lines of one check made on
/// several servers become one line naming them; other lines as they are.
fn print_checks(lines: &[String]) {
    // (check name, servers, its first line); no name: a line kept as is.
    let mut out: Vec<(Option<&str>, Vec<&str>, &str)> = Vec::new();
    for line in lines {
        let check = line.strip_prefix("ok    ").map(|rest| {
            let (name, subject) = rest.split_once(" [").unwrap_or((rest, ""));
            (name, subject.split([' ', ']']).next().unwrap_or_default())
        });
        match (check, out.last_mut()) {
            (Some((name, server)), Some((Some(last), servers, _))) if *last == name => {
                servers.push(server);
            }
            (Some((name, server)), _) => out.push((Some(name), vec![server], line)),
            (None, _) => out.push((None, Vec::new(), line)),
        }
    }
    for (name, servers, line) in out {
        match name {
            Some(name) if servers.len() > 1 => {
                println!("  ok    {name}: {}", servers.join(", "));
            }
            _ => println!("  {line}"),
        }
    }
}

/// The first value of the first row of `sql` run as root on `server`.
fn sql_value(sandbox: &testkit::Sandbox, server: &testkit::Server, sql: &str) -> Result<String> {
    let rows = sandbox.root_sql(server, sql).map_err(anyhow::Error::msg)?;
    rows.first()
        .and_then(|r| r.values().next().cloned())
        .with_context(|| format!("{sql}: no value on {}", server.name))
}

/// The drill: a table created and rows written through the DR router (to
/// the DR master, read-write during the drill), read back the same way.
async fn write_drill_rows(sandbox: &testkit::Sandbox) -> Result<String> {
    let mut c = connect(sandbox.dr_router()).await?;
    c.execute(&format!("CREATE DATABASE {DRILL_DB}")).await?;
    c.execute(&format!(
        "CREATE TABLE {DRILL_DB}.orders (id INT PRIMARY KEY, item VARCHAR(40))"
    ))
    .await?;
    c.execute(&format!(
        "INSERT INTO {DRILL_DB}.orders VALUES (1, 'test order'), (2, 'test refund'), (3, 'test order')"
    ))
    .await?;
    let rows = c
        .query(&format!(
            "SELECT id, item FROM {DRILL_DB}.orders ORDER BY id"
        ))
        .await?;
    c.close().await?;
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            let value = |name| r.column(name).flatten().unwrap_or("?");
            format!("{} '{}'", value("id"), value("item"))
        })
        .collect();
    Ok(format!("{} rows: {}", rows.len(), rows.join(", ")))
}

/// One row written on a production master (`demo.dr_heartbeat`); its id.
async fn production_row(sandbox: &testkit::Sandbox, server: &testkit::Server) -> Result<u64> {
    let mut c = connect(sandbox.mysql(server)).await?;
    demo_table(&mut c, "dr_heartbeat", "note VARCHAR(60)").await?;
    c.execute("INSERT INTO demo.dr_heartbeat (note) VALUES ('written during a DR drill')")
        .await?;
    let rows = c.query("SELECT LAST_INSERT_ID() AS id").await?;
    c.close().await?;
    rows.first()
        .and_then(|r| r.column("id").flatten())
        .and_then(|id| id.parse().ok())
        .context("no id for the row written on production")
}

/// A SQL connection to a sandbox endpoint (10 s to connect).
async fn connect(e: testkit::Endpoint) -> Result<router::Client> {
    let endpoint = router::Endpoint::new(e.host, e.port, e.user, e.password);
    Ok(router::Client::connect(&endpoint, Duration::from_secs(10)).await?)
}

/// Creates `demo.<table>` (an id, `column`, the time it was written) if
/// it is missing.
async fn demo_table(c: &mut router::Client, table: &str, column: &str) -> Result<()> {
    c.execute("CREATE DATABASE IF NOT EXISTS demo").await?;
    c.execute(&format!(
        "CREATE TABLE IF NOT EXISTS demo.{table} (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
         {column}, at DATETIME(6) DEFAULT NOW(6))"
    ))
    .await?;
    Ok(())
}

/// Waits for the next whole second and returns it as `YYYY-MM-DD HH:MM:SS`
/// (local time, as `stop-datetime` is read).
fn next_second_boundary() -> String {
    let now = chrono::Local::now();
    let next =
        now + chrono::Duration::milliseconds(1000 - i64::from(now.timestamp_subsec_millis()));
    let wait = (next - now).to_std().unwrap_or_default() + Duration::from_millis(20);
    std::thread::sleep(wait);
    next.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Per datasource, how many `demo.events` rows were written before `t`.
async fn rows_before(sandbox: &testkit::Sandbox, t: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for server in sandbox
        .prod_servers()
        .iter()
        .filter(|s| s.initial_role == "master")
    {
        let mut c = connect(sandbox.mysql(server)).await?;
        let rows = c
            .query(&format!(
                "SELECT COUNT(*) AS n FROM demo.events WHERE at < '{t}'"
            ))
            .await?;
        let n = rows
            .first()
            .and_then(|r| r.column("n").flatten())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.push((server.datasource.clone(), n));
        c.close().await?;
    }
    Ok(out)
}

/// Starts a throwaway server on a restored data directory and counts
/// `demo.events`.
fn count_rows(data: &Path) -> Result<u64> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("s.sock");
    let pid_file = dir.path().join("s.pid");
    let mut server = Command::new("/usr/sbin/mariadbd")
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--pid-file={}", pid_file.display()))
        .arg(format!(
            "--log-error={}",
            dir.path().join("err.log").display()
        ))
        .args(["--skip-networking", "--skip-grant-tables", "--skip-log-bin"])
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = || {
        Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-N", "-e", "SELECT COUNT(*) FROM demo.events"])
            .output()
    };
    let result = loop {
        let out = query()?;
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .map_err(anyhow::Error::from);
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "the restored server on {} did not answer",
                data.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn step(what: &str) {
    println!("\n==> {what}");
}

fn dbbackup_run(bin: &Path, conf: &Path) -> Result<()> {
    let status = Command::new(bin)
        .arg("--config-file")
        .arg(conf)
        .status()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !status.success() {
        bail!("dbbackup failed ({status})");
    }
    Ok(())
}

/// Inserts rows into `demo.events` on every production master.
async fn workload(sandbox: &testkit::Sandbox, rows: u32) -> Result<()> {
    for server in sandbox
        .prod_servers()
        .iter()
        .filter(|s| s.initial_role == "master")
    {
        let mut c = connect(sandbox.mysql(server)).await?;
        demo_table(&mut c, "events", "payload VARCHAR(200)").await?;
        let mut done = 0;
        while done < rows {
            let n = (rows - done).min(500);
            let values = (0..n)
                .map(|i| {
                    format!(
                        "(REPEAT('{}', 100))",
                        (b'a' + ((done + i) % 26) as u8) as char
                    )
                })
                .collect::<Vec<_>>()
                .join(",");
            c.execute(&format!(
                "INSERT INTO demo.events (payload) VALUES {values}"
            ))
            .await?;
            done += n;
        }
        let total = c.query("SELECT COUNT(*) AS n FROM demo.events").await?;
        let n = total
            .first()
            .and_then(|r| r.column("n").flatten())
            .unwrap_or("?")
            .to_owned();
        println!(
            "  {} ({}): demo.events has {n} rows",
            server.name, server.datasource
        );
        c.close().await?;
    }
    Ok(())
}
