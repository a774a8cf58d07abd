//! `cargo xtask demo`: the main job on the sandbox, end to end as far as the
//! project goes: sandbox up, the topology the router reports, a workload in
//! every datasource, a full backup with `dbbackup`, more writes, an
//! incremental backup, and what the store then holds.

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
    let text = std::fs::read_to_string(sandbox.var("BACKUP_SSH_CONF"))?;
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("dir = ") {
                format!("dir = {}", store.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    crate::util::write_file(&conf, &(text + "\n"), 0o600)?;

    let runtime = tokio::runtime::Runtime::new()?;
    step("loading data into every datasource");
    runtime.block_on(workload(&sandbox, ROWS_PER_STEP))?;
    step("full backup: dbbackup --config-file demo-backup.conf");
    dbbackup_run(&dbbackup, &conf)?;
    step("more writes");
    runtime.block_on(workload(&sandbox, ROWS_PER_STEP))?;
    step("incremental backup: the same command");
    dbbackup_run(&dbbackup, &conf)?;

    step("what the store holds");
    let out = Command::new("find")
        .arg(&store)
        .args(["-maxdepth", "2", "-not", "-path", "*/socat_log*"])
        .output()?;
    let listing =
        String::from_utf8_lossy(&out.stdout).replace(&format!("{}/", store.display()), "  ");
    println!("{listing}");
    println!(
        "demo done in {:.0} s: two backups in {} (next: recovery to a point in time, issue 6)",
        started.elapsed().as_secs_f64(),
        store.display()
    );
    Ok(())
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
