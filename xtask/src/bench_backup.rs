//! `cargo xtask bench backup`: `dbbackup` against the raw per-server
//! `mariabackup --stream | socat` pipelines it replaces, on the sandbox
//! loaded with `BENCH_MIB` (default 1024) MiB per datasource, recorded in
//! the `## backup` section of `docs/benchmarks.md`.
//!
//! The raw pipelines are what an operator would run by hand: a receiving
//! `socat` on the store address writing a file, and on the server host the
//! backup tool piped into `socat`, all servers at once. Target (issue 5):
//! dbbackup's wall time within 10 % of the slowest raw pipeline plus 3 s.

use anyhow::{Context as _, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEADING: &str = "## backup";

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let mib: u64 = std::env::var("BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    let sb = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let dbbackup = crate::util::workspace_binary("dbbackup")?;
    let runtime = tokio::runtime::Runtime::new()?;
    println!("loading {mib} MiB into every datasource ...");
    let loaded = runtime.block_on(load(&sb, mib))?;

    let store = Path::new(sb.var("STORE_DIR")).join("bench");
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store)?;
    chown_login(&store)?;
    // The servers dbbackup backs up with backup-slave = 1: each datasource's first replica.
    let mut replicas = Vec::new();
    for s in sb.prod_servers() {
        if s.initial_role != "master"
            && !replicas
                .iter()
                .any(|r: &testkit::Server| r.datasource == s.datasource)
        {
            replicas.push(s);
        }
    }
    let raw = raw_pipelines(&sb, &replicas, &store)?;
    let raw_max = raw.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let raw_sum: Duration = raw.iter().map(|(_, d)| *d).sum();

    let conf = paths.file("bench-backup.conf");
    crate::util::derive_conf(
        Path::new(sb.var("BACKUP_SSH_CONF")),
        &conf,
        &[
            (
                "dir = ",
                format!("dir = {}", store.join("dbbackup").display()),
            ),
            ("force-full-backup", "force-full-backup = 1".to_owned()),
        ],
    )?;
    let started = Instant::now();
    let status = Command::new(&dbbackup)
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .status()?;
    let tool = started.elapsed();
    if !status.success() {
        bail!("dbbackup failed ({status})");
    }
    let target = raw_max.mul_f64(1.1) + Duration::from_secs(3);
    let mut table = String::from("| run | wall s |\n| --- | ---: |\n");
    for (name, d) in &raw {
        table += &format!(
            "| raw `mariabackup \\| socat`, {name} | {:.1} |\n",
            d.as_secs_f64()
        );
    }
    table += &format!("| raw, slowest server | {:.1} |\n", raw_max.as_secs_f64());
    table += &format!("| raw, sum of servers | {:.1} |\n", raw_sum.as_secs_f64());
    table += &format!(
        "| `dbbackup` (full, all servers in parallel) | {:.1} |\n",
        tool.as_secs_f64()
    );
    table += &format!(
        "| target: 1.1 x slowest + 3 s | {:.1} ({}) |\n",
        target.as_secs_f64(),
        if tool <= target { "met" } else { "missed" }
    );
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{HEADING}\n\n`cargo xtask bench backup`: the sandbox with {loaded} per datasource \
         (a table of 1 KB rows), backed up with backup-master = 0, backup-slave = 1 (one replica per \
         datasource, {n} servers). Raw: the seed's pipeline run by hand for each of those servers at \
         once (a receiving socat on the store address writing a file, `mariabackup --backup \
         --stream=xbstream | socat` as the login user); dbbackup: a forced full backup over ssh, \
         everything included (router, checks, my.conf, consistence point, binlogs, bases, manifest).\n\
         Recorded {date}; load average after: `{load}`.\n\n{table}",
        n = replicas.len(),
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    runtime.block_on(unload(&sb))?;
    let _ = std::fs::remove_dir_all(&store);
    Ok(())
}

pub(crate) fn chown_login(p: &Path) -> Result<()> {
    let status = Command::new("chown")
        .arg("-R")
        .arg("dbsbk:dbsbk")
        .arg(p)
        .status()?;
    if !status.success() {
        bail!("chown of {} failed", p.display());
    }
    Ok(())
}

async fn client(sb: &testkit::Sandbox, s: &testkit::Server) -> Result<router::Client> {
    let e = sb.mysql(s);
    let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
    Ok(router::Client::connect(&ep, Duration::from_secs(10)).await?)
}

/// Doubles `bench.blob` on every master until it holds `mib` MiB, then
/// waits for the replicas.
pub(crate) async fn load(sb: &testkit::Sandbox, mib: u64) -> Result<String> {
    // What an interrupted run left (tables, binlogs) goes first.
    unload(sb).await?;
    let mut size = 0;
    for m in sb
        .prod_servers()
        .iter()
        .filter(|s| s.initial_role == "master")
    {
        let mut c = client(sb, m).await?;
        c.execute("DROP DATABASE IF EXISTS bench").await?;
        c.execute("CREATE DATABASE bench").await?;
        c.execute(
            "CREATE TABLE bench.blob (id BIGINT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000))",
        )
        .await?;
        c.execute(
            "INSERT INTO bench.blob (pad) SELECT REPEAT(MD5(seq), 31) FROM bench.seq_1_to_1024",
        )
        .await?;
        let mut rows = 1024u64;
        while rows * 1000 < mib * 1024 * 1024 {
            c.execute("INSERT INTO bench.blob (pad) SELECT pad FROM bench.blob")
                .await?;
            rows *= 2;
        }
        size = rows * 1000;
        c.close().await?;
    }
    for s in sb
        .prod_servers()
        .iter()
        .filter(|s| s.initial_role != "master")
    {
        let mut c = client(sb, s).await?;
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let rows = c
                .query("SELECT COUNT(*) AS n FROM bench.blob")
                .await
                .unwrap_or_default();
            let n: u64 = rows
                .first()
                .and_then(|r| r.column("n").flatten())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if n * 1000 >= size {
                break;
            }
            if Instant::now() > deadline {
                bail!("replica {} did not catch up", s.name);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        c.close().await?;
    }
    // The load wrote about as much binlog as data. A production server's
    // active binlog is at most max_binlog_size; start the backups from a
    // fresh one, as a server's rotation would, so the benchmark measures
    // the data streams rather than copying the load's own binlog.
    for m in sb
        .prod_servers()
        .iter()
        .filter(|s| s.initial_role == "master")
    {
        let mut c = client(sb, m).await?;
        c.execute("FLUSH BINARY LOGS").await?;
        c.close().await?;
    }
    Ok(format!("{} MiB", size / (1024 * 1024)))
}

/// Drops the load, waits for every replica (DR ones too) to drop it, then
/// purges every server's binary logs up to its newest: the load wrote about
/// as much binlog as data on each of them, and a few benchmark runs would
/// otherwise fill the disk.
pub(crate) async fn unload(sb: &testkit::Sandbox) -> Result<()> {
    let mut all = sb.prod_servers();
    all.extend(sb.dr_servers());
    for m in all.iter().filter(|s| s.initial_role == "master") {
        let mut c = client(sb, m).await?;
        c.execute("DROP DATABASE IF EXISTS bench").await?;
        c.close().await?;
    }
    for s in &all {
        let mut c = client(sb, s).await?;
        let deadline = Instant::now() + Duration::from_secs(600);
        while !c.query("SHOW DATABASES LIKE 'bench'").await?.is_empty() {
            if Instant::now() > deadline {
                bail!("{} still has the bench database after 600 s", s.name);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        c.execute("FLUSH BINARY LOGS").await?;
        let logs = c.query("SHOW BINARY LOGS").await?;
        if let Some(newest) = logs.last().and_then(|r| r.column("Log_name").flatten()) {
            c.execute(&format!("PURGE BINARY LOGS TO '{newest}'"))
                .await?;
        }
        c.close().await?;
    }
    Ok(())
}

/// Every server's raw pipeline at once; each one's wall time.
fn raw_pipelines(
    sb: &testkit::Sandbox,
    servers: &[testkit::Server],
    store: &Path,
) -> Result<Vec<(String, Duration)>> {
    let store_host = sb.var("STORE_HOST").to_owned();
    let base_port: u16 = sb.var("SOCAT_PORT").parse().unwrap_or(29999) + 500;
    let mut handles = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let port = base_port + i as u16;
        let out = store.join(format!("raw-{}.xbstream", s.name));
        let login = store.join(format!("raw-{}.cnf", s.name));
        let cnf = s.dir.join("my.cnf");
        crate::util::write_file(
            &login,
            &format!(
                "!include {}\n[client]\nuser={}\npassword={}\n",
                cnf.display(),
                sb.var("MYSQL_USER"),
                sb.var("MYSQL_PASSWORD")
            ),
            0o600,
        )?;
        chown_login(&login)?;
        let name = s.name.clone();
        let host = store_host.clone();
        handles.push(std::thread::spawn(move || -> Result<(String, Duration)> {
            let started = Instant::now();
            let mut receiver = Command::new("runuser")
                .args(["-u", "dbsbk", "--", "socat", "-u"])
                .arg(format!("tcp-listen:{port},bind={host},reuseaddr"))
                .arg(format!("open:{},creat,trunc", out.display()))
                .spawn()
                .context("socat receiver")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !Command::new("ss")
                .args(["-Hltn", &format!("sport = :{port}")])
                .output()
                .map(|o| !o.stdout.is_empty())
                .unwrap_or(false)
            {
                if Instant::now() > deadline {
                    bail!("the receiver on port {port} did not listen");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let sender = Command::new("runuser")
                .args(["-u", "dbsbk", "--", "bash", "-c"])
                .arg(format!(
                    "set -o pipefail; mariabackup --defaults-file={} --backup --stream=xbstream --target-dir=/tmp 2>/dev/null | socat -u - TCP4:{host}:{port}",
                    login.display()
                ))
                .status()?;
            let received = receiver.wait()?;
            if !sender.success() || !received.success() {
                bail!("raw pipeline for {name} failed (sender {sender}, receiver {received})");
            }
            Ok((name, started.elapsed()))
        }));
    }
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a raw pipeline panicked"))?
        })
        .collect()
}
