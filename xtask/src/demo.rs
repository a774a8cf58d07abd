//! `cargo xtask demo`: the main job on the sandbox, end to end: sandbox up,
//! the topology the router reports, a workload in every datasource, a full
//! backup with `dbbackup`, more writes, an incremental, more writes around a
//! chosen second, another incremental, then `dbrecover` to that second and
//! a check that every datasource holds exactly the rows written before it.

use anyhow::{Context as _, Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Rows written into each datasource before each backup.
const ROWS_PER_STEP: u32 = 2000;

/// Runs the demo.
pub fn run() -> Result<()> {
    let started = Instant::now();
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    crate::sandbox::print_topology(&paths)?;
    let sandbox = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
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

    let runtime = tokio::runtime::Runtime::new()?;
    step("loading data into every datasource");
    runtime.block_on(workload(&sandbox, ROWS_PER_STEP))?;
    step("full backup: dbbackup --config-file demo-backup.conf");
    dbbackup_run(&dbbackup, &conf)?;
    step("more writes");
    runtime.block_on(workload(&sandbox, ROWS_PER_STEP))?;
    step("incremental backup: the same command");
    dbbackup_run(&dbbackup, &conf)?;
    step("writes on both sides of a chosen second");
    runtime.block_on(workload(&sandbox, ROWS_PER_STEP / 2))?;
    let stop_at = next_second_boundary();
    println!("  recovery target: {stop_at} (local time)");
    runtime.block_on(workload(&sandbox, ROWS_PER_STEP / 2))?;
    let expected = runtime.block_on(rows_before(&sandbox, &stop_at))?;
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
    let mut all_ok = true;
    for (datasource, want) in &expected {
        let data = std::fs::read_dir(&job_dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("restore").join(datasource).join("data"))
            .find(|p| p.exists())
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
    println!(
        "\ndemo done in {:.0} s: three backups in {}, the cluster recovered to {stop_at} in {}",
        started.elapsed().as_secs_f64(),
        store.display(),
        job_dir.display()
    );
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
        let e = sandbox.mysql(server);
        let endpoint = router::Endpoint::new(e.host, e.port, e.user, e.password);
        let mut c = router::Client::connect(&endpoint, Duration::from_secs(10)).await?;
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
        let e = sandbox.mysql(server);
        let endpoint = router::Endpoint::new(e.host, e.port, e.user, e.password);
        let mut c = router::Client::connect(&endpoint, Duration::from_secs(10)).await?;
        c.execute("CREATE DATABASE IF NOT EXISTS demo").await?;
        c.execute(
            "CREATE TABLE IF NOT EXISTS demo.events (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             payload VARCHAR(200), at DATETIME(6) DEFAULT NOW(6))",
        )
        .await?;
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
