//! `cargo xtask bench logical`: `dbcatalog mydumper` against the same
//! mydumper command run by hand, on `BENCH_MIB` (default 1024) MiB in one
//! database of normal_0's master, recorded in the `## logical` section of
//! `docs/benchmarks.md`. Target (issue 16): dbcatalog within 5 % of the
//! best raw run plus 1 s.
//!
//! Both write the same dump (`threads=4`, no compression) into a fresh
//! directory; dbcatalog runs with `--no-rsync` (the transfer is rsync's
//! time, not dbcatalog's) and records its catalog row, so its extra work
//! (reading the server's databases and version, the defaults file, the
//! metadata, the size, the row) is what is measured. The load is written
//! with `sql_log_bin = 0` (only the master dumps it); raw and dbcatalog
//! alternate for `BENCH_ROUNDS` (default 3) rounds, each after a `sync`,
//! and the best of each is compared. Run `cargo xtask sandbox up` first.

use anyhow::{Context as _, Result, bail};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HEADING: &str = "## logical";
const DB: &str = "bench_logical";

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let mib = crate::rounds::env_mib("BENCH_MIB", 1024);
    let paths = crate::sandbox::paths();
    let sb = testkit::Sandbox::load(paths.root())
        .map_err(|e| anyhow::anyhow!("{e}; start the sandbox first: cargo xtask sandbox up"))?;
    let dbcatalog = crate::util::workspace_binary("dbcatalog")?;
    // mydumper locks the master's tables: not under a running test.
    let _x = sb.exclusive_use();
    let master = sb.server("normal_0_0");
    let runtime = tokio::runtime::Runtime::new()?;
    let work = paths.dir("pybackup").join("bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    println!("loading {mib} MiB into {DB} on {} ...", master.name);
    let result = runtime
        .block_on(load(&sb, &master, mib))
        .and_then(|loaded| measure_all(&sb, &dbcatalog, &work).map(|m| (loaded, m)));
    let _ = runtime.block_on(unload(&sb, &master));
    forget_rows(&sb, &paths);
    let _ = std::fs::remove_dir_all(&work);
    let (loaded, (raw, tool)) = result?;
    let (table, _) = crate::rounds::table(
        "raw `mydumper`",
        &raw,
        "`dbcatalog mydumper --no-rsync` (recorded in the catalog)",
        &tool,
        "target: 1.05 x best raw + 1 s",
        |raw| raw.mul_f64(1.05) + Duration::from_secs(1),
    );
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{HEADING}\n\n`cargo xtask bench logical`: {loaded} in one database of normal_0's master \
         (1 KB rows), dumped by `mydumper --defaults-file=F --database={DB} --threads=4` by hand \
         and by `dbcatalog mydumper database={DB} threads=4 --no-rsync` (the databases and \
         version asked, the 0600 defaults file, metadata, size and the catalog row included), \
         alternating, each into a fresh directory after a `sync`; the best of each compared.\n\
         Recorded {date}; load average after: `{load}`.\n\n{table}",
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}

type Measured = (Vec<crate::rounds::RawRound>, Vec<Duration>);

fn measure_all(sb: &testkit::Sandbox, dbcatalog: &Path, work: &Path) -> Result<Measured> {
    let conf = work.join("pbackup.conf");
    crate::util::derive_conf(
        Path::new(sb.var("PBACKUP_CONF")),
        &conf,
        &[("db_list=", format!("db_list={DB}"))],
    )?;
    let defaults = work.join("raw.cnf");
    std::fs::write(
        &defaults,
        format!(
            "[client]\nhost=127.0.0.11\nport={}\nuser={}\npassword=\"{}\"\n",
            sb.var("MYSQL_PORT"),
            sb.var("MYSQL_USER"),
            sb.var("MYSQL_PASSWORD")
        ),
    )?;
    std::fs::set_permissions(&defaults, std::fs::Permissions::from_mode(0o600))?;
    let (mut raw, mut tool) = (Vec::new(), Vec::new());
    for round in 0..crate::rounds::count() {
        let out = work.join(format!("raw-{round}"));
        crate::rounds::sync()?;
        let t = Instant::now();
        let status = Command::new("mydumper")
            .arg(format!("--defaults-file={}", defaults.display()))
            .arg(format!("--database={DB}"))
            .arg("--threads=4")
            .arg(format!("--outputdir={}", out.display()))
            .status()
            .context("cannot run mydumper")?;
        let took = t.elapsed();
        if !status.success() {
            bail!("mydumper by hand failed ({status})");
        }
        raw.push(vec![("normal_0_0".to_owned(), took)]);
        std::fs::remove_dir_all(&out)?;
        let out = work.join(format!("tool-{round}"));
        crate::rounds::sync()?;
        let t = Instant::now();
        let status = Command::new(dbcatalog)
            .arg("-c")
            .arg(&conf)
            .args([
                "mydumper",
                &format!("outputdir={}", out.display()),
                &format!("database={DB}"),
                "threads=4",
                "--no-rsync",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .context("cannot run dbcatalog")?;
        let took_tool = t.elapsed();
        if !status.success() {
            bail!("dbcatalog failed ({status})");
        }
        tool.push(took_tool);
        std::fs::remove_dir_all(&out)?;
        println!(
            "round {}: raw {:.1} s, dbcatalog {:.1} s",
            round + 1,
            took.as_secs_f64(),
            took_tool.as_secs_f64()
        );
    }
    Ok((raw, tool))
}

async fn client(sb: &testkit::Sandbox, s: &testkit::Server) -> Result<router::Client> {
    let e = sb.mysql(s);
    let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
    Ok(router::Client::connect(&ep, Duration::from_secs(10)).await?)
}

/// `mib` MiB of 1 KB rows from the sequence engine, without binlog.
async fn load(sb: &testkit::Sandbox, master: &testkit::Server, mib: u64) -> Result<String> {
    unload(sb, master).await?;
    const CHUNK: u64 = 65_536;
    let rows = (mib * 1024 * 1024).div_ceil(1000);
    let mut c = client(sb, master).await?;
    c.execute("SET SESSION sql_log_bin = 0").await?;
    c.execute(&crate::bench_data::set_corpus()).await?;
    let row = crate::bench_data::row_sql("seq");
    c.execute(&format!("CREATE DATABASE {DB}")).await?;
    c.execute(&format!(
        "CREATE TABLE {DB}.blob (id BIGINT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000))"
    ))
    .await?;
    let mut from = 1;
    while from <= rows {
        let to = (from + CHUNK - 1).min(rows);
        c.execute(&format!(
            "INSERT INTO {DB}.blob (pad) SELECT {row} FROM {DB}.seq_{from}_to_{to}"
        ))
        .await
        .context("loading the benchmark's rows")?;
        from = to + 1;
    }
    c.close().await?;
    Ok(format!("{} MiB", rows * 1000 / (1024 * 1024)))
}

async fn unload(sb: &testkit::Sandbox, master: &testkit::Server) -> Result<()> {
    let mut c = client(sb, master).await?;
    c.execute("SET SESSION sql_log_bin = 0").await?;
    c.execute(&format!("DROP DATABASE IF EXISTS {DB}")).await?;
    c.close().await?;
    Ok(())
}

/// The benchmark's catalog rows go with it.
fn forget_rows(sb: &testkit::Sandbox, paths: &crate::sandbox::layout::Paths) {
    let catalog = testkit::Server {
        name: "catalog".into(),
        datasource: String::new(),
        host: sb.var("CATALOG_HOST").into(),
        port: sb.var("CATALOG_PORT").parse().unwrap_or(16340),
        initial_role: "master".into(),
        dir: PathBuf::from(paths.root()).join("mysql").join("catalog"),
    };
    if let Err(e) = sb.root_sql(
        &catalog,
        &format!("DELETE FROM catalogdb.user_backup WHERE backuped_db = '{DB}';"),
    ) {
        eprintln!("warning: the benchmark's catalog rows stay: {e}");
    }
}
