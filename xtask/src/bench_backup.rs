//! `cargo xtask bench backup`: `dbbackup` against the raw per-server
//! `mariabackup --stream | socat` pipelines it replaces, on the sandbox
//! loaded with `BENCH_MIB` (default 1024) MiB per datasource, recorded in
//! the `## backup` section of `docs/benchmarks.md`.
//!
//! The raw pipelines are what an operator would run by hand: a receiving
//! `socat` on the store address writing a file, and on the server host the
//! backup tool piped into `socat`, all servers at once. Target (issue 5):
//! dbbackup's wall time within 10 % of the slowest raw pipeline plus 3 s.
//!
//! The servers first write the load's dirty pages out (a flush under way
//! would slow whichever runs first); then raw, dbbackup (the native
//! receiver), dbbackup with `receiver = socat`, dbbackup with `compress = 1`
//! (issue 20 target 3: no slower than plain, streams at most half the
//! bytes) and dbbackup with a password (issue 20 target 4: encryption at
//! most 1.15 x) alternate for `BENCH_ROUNDS` (default 3) rounds and the best
//! of each is compared. The rows are `bench_data`'s (text and numbers).
//! Issue 20 target 1: dbbackup at most 0.95 x the slowest raw pipeline.

use anyhow::{Context as _, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEADING: &str = "## backup";

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let mib = crate::rounds::env_mib("BENCH_MIB", 1024);
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    let sb = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let dbbackup = crate::util::workspace_binary("dbbackup")?;
    let runtime = tokio::runtime::Runtime::new()?;
    println!("loading {mib} MiB into every datasource ...");
    let loaded = runtime.block_on(load(&sb, mib))?;
    let store = Path::new(sb.var("STORE_DIR")).join("bench");
    let rounds = crate::rounds::count();
    // The load and the backups (gigabytes) go whatever happens.
    let result = runtime.block_on(settle(&sb)).and_then(|()| {
        (0..rounds)
            .map(|round| measure(&sb, &paths, &dbbackup, &store, round))
            .collect::<Result<Vec<_>>>()
    });
    runtime.block_on(unload(&sb))?;
    let _ = std::fs::remove_dir_all(&store);
    let measured = result?;
    let replicas = measured
        .first()
        .map(|m| m.replicas.clone())
        .unwrap_or_default();
    let raw: Vec<crate::rounds::RawRound> = measured.iter().map(|m| m.raw.clone()).collect();
    let tool: Vec<Duration> = measured.iter().map(|m| m.native).collect();
    let socat: Vec<Duration> = measured.iter().map(|m| m.socat).collect();
    let encrypted: Vec<Duration> = measured.iter().map(|m| m.encrypted).collect();
    let compressed: Vec<Duration> = measured.iter().map(|m| m.compressed).collect();
    let (table, _) = crate::rounds::table(
        "raw `mariabackup \\| socat`",
        &raw,
        "`dbbackup` (full, all servers in parallel, native receiver)",
        &tool,
        "target (issue 20): 0.95 x best slowest raw",
        |raw_max| raw_max.mul_f64(0.95),
    );
    let plain = ("`dbbackup` (native receiver, as above)", tool.as_slice());
    let receivers = ratio_table(
        ("`dbbackup`, `receiver = socat`", &socat),
        plain,
        "native / socat",
        None,
    );
    let encryption = ratio_table(
        plain,
        ("`dbbackup --password-file` (encrypted)", &encrypted),
        "encrypted / plain",
        Some(1.15),
    );
    let compression = ratio_table(
        plain,
        (
            "`dbbackup`, `compress = 1` (zstd, `compress-threads = 2`)",
            &compressed,
        ),
        "compressed / plain",
        Some(1.0),
    );
    let sizes = measured.last().map_or(String::new(), |m| {
        format!(
            "Streams on the store (last round): plain {} bytes, compressed {} bytes, {:.1} % \
             (target 50 %: {}).\n",
            m.plain_bytes,
            m.compressed_bytes,
            m.compressed_bytes as f64 * 100.0 / m.plain_bytes.max(1) as f64,
            if m.compressed_bytes * 2 <= m.plain_bytes {
                "met"
            } else {
                "missed"
            },
        )
    });
    let table = format!(
        "{table}\nReceivers (the same backup with socat on the store; it then reads each \
         stream back for the manifest's SHA-256, which the native receiver takes as it writes):\n\n\
         {receivers}\nEncryption (the same backup, then tarred and encrypted on the store):\n\n{encryption}\n\
         Compression (issue 20 target 3: the same backup with the streams through zstd on the \
         servers; wall time at most plain's):\n\n{compression}\n{sizes}"
    );
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{heading}\n\n`cargo xtask bench backup`: the sandbox with {loaded} per datasource \
         (a table of 1 KB rows on the replica that is backed up), backed up with backup-master = 0, backup-slave = 1 (one replica per \
         datasource, {n} servers). Raw: the seed's pipeline run by hand for each of those servers at \
         once (a receiving socat on the store address writing a file, `mariabackup --backup \
         --stream=xbstream | socat` as the login user); dbbackup: a forced full backup over ssh, \
         everything included (router, checks, my.conf, consistence point, binlogs, bases, manifest \
         with every file's SHA-256), with the native receiver (`dbagent receive`) on the store, \
         and again with `receiver = socat`. The servers first write out the load's dirty pages; \
         then raw and dbbackup alternate (the two receivers in turn first), and the best of each \
         is compared.\n\
         Recorded {date}; load average after: `{load}`.\n\n{table}",
        heading = crate::benchdoc::sized_heading(HEADING, mib),
        n = replicas.len(),
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(
        root,
        &crate::benchdoc::sized_heading(HEADING, mib),
        &section,
    )?;
    println!("recorded in {}", file.display());
    runtime.block_on(unload(&sb))?;
    let _ = std::fs::remove_dir_all(&store);
    Ok(())
}

/// Two runs of dbbackup round by round, with the best of each, the
/// ratio of `other`'s best to `base`'s and, with a target, whether it is
/// met (issue 20 target 4: encrypted at most 1.15 x plain).
pub fn ratio_table(
    (base_label, base): (&str, &[Duration]),
    (other_label, other): (&str, &[Duration]),
    ratio_label: &str,
    target: Option<f64>,
) -> String {
    let secs = |d: &Duration| format!("{:.1}", d.as_secs_f64());
    let row = |label: &str, values: &[Duration]| {
        let best = values.iter().min().copied().unwrap_or_default();
        let cells: Vec<String> = values.iter().map(secs).collect();
        format!("| {label} | {} | {} |\n", cells.join(" | "), secs(&best))
    };
    let best = |values: &[Duration]| values.iter().min().copied().unwrap_or_default();
    let ratio = best(other).as_secs_f64() / best(base).as_secs_f64().max(1e-9);
    let verdict = match target {
        Some(t) => format!(
            " (target {t:.2}: {})",
            if ratio <= t { "met" } else { "missed" }
        ),
        None => String::new(),
    };
    format!(
        "{}{}{}\n{ratio_label}: {ratio:.2}{verdict}\n",
        crate::rounds::header("run", base.len(), &["best s"]),
        row(base_label, base),
        row(other_label, other),
    )
}

/// One round: the servers, each raw pipeline's time, and dbbackup's with
/// the native receiver, with socat, with a password and compressed (with
/// the streams' bytes plain and compressed).
struct Measured {
    replicas: Vec<testkit::Server>,
    raw: Vec<(String, Duration)>,
    native: Duration,
    socat: Duration,
    encrypted: Duration,
    plain_bytes: u64,
    compressed: Duration,
    compressed_bytes: u64,
}

/// The raw pipelines, then dbbackup with each receiver (the native one
/// first in even rounds, socat first in odd ones: neither always runs
/// right after the raw pipelines), then encrypted, into `store`.
fn measure(
    sb: &testkit::Sandbox,
    paths: &crate::sandbox::layout::Paths,
    dbbackup: &Path,
    store: &Path,
    round: usize,
) -> Result<Measured> {
    fresh_dir(store)?;
    let replicas = backed_up(sb);
    crate::rounds::sync()?;
    let raw = raw_pipelines(sb, &replicas, store)?;
    // The raw streams' dirty pages must not be written back under
    // dbbackup's run (deleting them before they are written cancels that).
    for s in &replicas {
        std::fs::remove_file(store.join(format!("raw-{}.xbstream", s.name)))?;
    }
    crate::rounds::sync()?;
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
    let socat_conf = paths.file("bench-backup-socat.conf");
    crate::util::derive_conf(
        &conf,
        &socat_conf,
        &[("receiver = ", "receiver = socat".to_owned())],
    )?;
    let compressed_conf = paths.file("bench-backup-zstd.conf");
    crate::util::derive_conf(
        &conf,
        &compressed_conf,
        &[("compress = ", "compress = 1".to_owned())],
    )?;
    // One run into an empty store: its time and the bytes of its streams.
    let timed = |conf: &Path| -> Result<(Duration, u64)> {
        fresh_dir(store)?;
        crate::rounds::sync()?;
        let took = timed_dbbackup(dbbackup, conf, None)?;
        backed_up_servers(store, &replicas)?;
        Ok((took, stream_bytes(&store.join("dbbackup"))?))
    };
    let (native, socat) = if round.is_multiple_of(2) {
        let native = timed(&conf)?;
        (native, timed(&socat_conf)?.0)
    } else {
        let socat = timed(&socat_conf)?.0;
        (timed(&conf)?, socat)
    };
    let compressed = timed(&compressed_conf)?;
    fresh_dir(store)?;
    crate::rounds::sync()?;
    // The same backup encrypted, into an empty store.
    let password = paths.file("bench-backup.password");
    let secret = crate::util::random_password(24)? + "\n";
    crate::util::write_file(&password, &secret, 0o600)?;
    let encrypted = timed_dbbackup(dbbackup, &conf, Some(&password))?;
    let tarballs = std::fs::read_dir(store.join("dbbackup").join("encrypted"))
        .map(|d| d.count())
        .unwrap_or(0);
    if tarballs != 1 {
        bail!("the encrypted dbbackup left {tarballs} encrypted tarballs, not 1");
    }
    Ok(Measured {
        replicas,
        raw,
        native: native.0,
        socat,
        encrypted,
        plain_bytes: native.1,
        compressed: compressed.0,
        compressed_bytes: compressed.1,
    })
}

/// The bytes of every server's stream (`backup.xbsteam`) in the backups
/// under `backups`.
fn stream_bytes(backups: &Path) -> Result<u64> {
    let mut total = 0;
    for backup in std::fs::read_dir(backups)?.flatten() {
        for server in std::fs::read_dir(backup.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(meta) = std::fs::metadata(server.path().join("backup.xbsteam")) {
                total += meta.len();
            }
        }
    }
    if total == 0 {
        bail!("no backup.xbsteam under {}", backups.display());
    }
    Ok(total)
}

/// One forced full dbbackup run (with the password in `password_file`),
/// timed.
pub fn timed_dbbackup(
    dbbackup: &Path,
    conf: &Path,
    password_file: Option<&Path>,
) -> Result<Duration> {
    let started = Instant::now();
    let mut cmd = Command::new(dbbackup);
    cmd.arg("--config-file").arg(conf);
    if let Some(file) = password_file {
        cmd.arg("--password-file").arg(file);
    }
    let status = cmd.stdout(Stdio::null()).status()?;
    let took = started.elapsed();
    if !status.success() {
        bail!("dbbackup failed ({status})");
    }
    Ok(took)
}

/// dbbackup streamed the loaded servers, not others.
fn backed_up_servers(store: &Path, replicas: &[testkit::Server]) -> Result<()> {
    let backups: Vec<String> = std::fs::read_dir(store.join("dbbackup"))?
        .flat_map(|b| b.ok())
        .flat_map(|b| std::fs::read_dir(b.path()).into_iter().flatten())
        .flat_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for r in replicas {
        if !backups.iter().any(|d| d.contains(&format!("-{}-", r.name))) {
            bail!(
                "dbbackup did not back up {} (the loaded server): {backups:?}",
                r.name
            );
        }
    }
    Ok(())
}

/// Empties `dir`, owned by the login user (what the benchmarks' tools
/// write into).
pub(crate) fn fresh_dir(dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    chown_login(dir)
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

pub(crate) async fn client(sb: &testkit::Sandbox, s: &testkit::Server) -> Result<router::Client> {
    let e = sb.mysql(s);
    let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
    Ok(router::Client::connect(&ep, Duration::from_secs(10)).await?)
}

/// Fills `bench.blob` with `mib` MiB of 1 KB rows on the servers the
/// benchmarks back up ([`backed_up`]), with `sql_log_bin = 0`: no server
/// writes (and keeps) gigabytes of binlog and relay log, and the other
/// servers stay small; only what is streamed needs the data. The rows come
/// from the sequence engine in chunks (an `INSERT ... SELECT` from the
/// table itself would copy it through a temporary table first).
pub(crate) async fn load(sb: &testkit::Sandbox, mib: u64) -> Result<String> {
    load_into(sb, &backed_up(sb), mib).await
}

/// [`load`] into `servers` (each its own copy, written at once).
pub(crate) async fn load_into(
    sb: &testkit::Sandbox,
    servers: &[testkit::Server],
    mib: u64,
) -> Result<String> {
    // What an interrupted run left goes first.
    unload(sb).await?;
    let rows = (mib * 1024 * 1024).div_ceil(1000);
    futures::future::try_join_all(servers.iter().map(|s| load_one(sb, s, rows))).await?;
    Ok(format!("{} MiB", rows * 1000 / (1024 * 1024)))
}

/// The servers a backup with backup-master = 0, backup-slave = 1 streams:
/// each datasource's first replica.
pub(crate) fn backed_up(sb: &testkit::Sandbox) -> Vec<testkit::Server> {
    let mut replicas: Vec<testkit::Server> = Vec::new();
    for s in sb.prod_servers() {
        if s.initial_role != "master" && !replicas.iter().any(|r| r.datasource == s.datasource) {
            replicas.push(s);
        }
    }
    replicas
}

/// Waits (at most 2 minutes) until the loaded servers have written out
/// their dirty pages, so no flush of the load runs under a measure.
pub(crate) async fn settle(sb: &testkit::Sandbox) -> Result<()> {
    settle_servers(sb, &backed_up(sb)).await
}

/// [`settle`] for `servers`.
pub(crate) async fn settle_servers(
    sb: &testkit::Sandbox,
    servers: &[testkit::Server],
) -> Result<()> {
    for s in servers {
        let mut c = client(sb, s).await?;
        let old = scalar(&mut c, "SELECT @@GLOBAL.innodb_max_dirty_pages_pct AS v")
            .await?
            .unwrap_or_else(|| "90".into());
        c.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
            .await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let result = loop {
            let dirty: u64 = scalar(
                &mut c,
                "SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'",
            )
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
            if dirty == 0 {
                break Ok(());
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "{} still has {dirty} dirty pages after 2 minutes",
                    s.name
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        c.execute(&format!("SET GLOBAL innodb_max_dirty_pages_pct = {old}"))
            .await?;
        c.close().await?;
        result?;
    }
    Ok(())
}

/// The column `v` of the first row of `sql`.
pub(crate) async fn scalar(c: &mut router::Client, sql: &str) -> Result<Option<String>> {
    let rows = c.query(sql).await?;
    Ok(rows
        .first()
        .and_then(|r| r.column("v").flatten())
        .map(str::to_owned))
}

fn every_server(sb: &testkit::Sandbox) -> Vec<testkit::Server> {
    let mut all = sb.prod_servers();
    all.extend(sb.dr_servers());
    all
}

async fn load_one(sb: &testkit::Sandbox, s: &testkit::Server, rows: u64) -> Result<()> {
    const CHUNK: u64 = 65_536;
    let mut c = client(sb, s).await?;
    c.execute("SET SESSION sql_log_bin = 0").await?;
    c.execute(&crate::bench_data::set_corpus()).await?;
    let row = crate::bench_data::row_sql("seq");
    c.execute("CREATE DATABASE bench").await?;
    c.execute("CREATE TABLE bench.blob (id BIGINT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000))")
        .await?;
    let mut from = 1;
    while from <= rows {
        let to = (from + CHUNK - 1).min(rows);
        c.execute(&format!(
            "INSERT INTO bench.blob (pad) SELECT {row} FROM bench.seq_{from}_to_{to}"
        ))
        .await
        .with_context(|| format!("loading {}", s.name))?;
        from = to + 1;
    }
    c.close().await?;
    Ok(())
}

/// Drops the load on every server, as it was written: without binlog.
pub(crate) async fn unload(sb: &testkit::Sandbox) -> Result<()> {
    for s in every_server(sb) {
        let mut c = client(sb, &s).await?;
        c.execute("SET SESSION sql_log_bin = 0").await?;
        c.execute("DROP DATABASE IF EXISTS bench").await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_table_compares_the_best_of_each() {
        let s = |v: f64| Duration::from_secs_f64(v);
        let encryption = |plain: &[Duration], encrypted: &[Duration]| {
            ratio_table(
                ("`dbbackup` (plain, as above)", plain),
                ("`dbbackup --password-file` (encrypted)", encrypted),
                "encrypted / plain",
                Some(1.15),
            )
        };
        let t = encryption(&[s(2.6), s(2.5)], &[s(5.4), s(5.2)]);
        assert!(
            t.contains("| `dbbackup` (plain, as above) | 2.6 | 2.5 | 2.5 |"),
            "{t}"
        );
        assert!(
            t.contains("| `dbbackup --password-file` (encrypted) | 5.4 | 5.2 | 5.2 |"),
            "{t}"
        );
        assert!(
            t.contains("encrypted / plain: 2.08 (target 1.15: missed)"),
            "{t}"
        );
        let t = encryption(&[s(10.0)], &[s(11.0)]);
        assert!(t.contains("(target 1.15: met)"), "{t}");
        let t = ratio_table(("a", &[s(4.0)]), ("b", &[s(3.0)]), "b / a", None);
        assert!(t.ends_with("\nb / a: 0.75\n"), "{t}");
    }
}
