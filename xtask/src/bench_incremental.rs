//! `cargo xtask bench incremental`: issue 20 target 5, an incremental
//! after 1 % of the rows changed streams at most 5 % of the full's bytes,
//! recorded in the `## incremental` section of `docs/benchmarks.md`.
//!
//! The sandbox is loaded with `BENCH_MIB` (default 1024) MiB on each
//! replica that is backed up (as `bench backup` does). Then, once with
//! `flush-before-backup = 1` and once with the default (off): a forced full
//! backup, 1 % of each loaded table's rows rewritten (contiguous by key, on
//! the replica itself, `sql_log_bin = 0`), an incremental, and `dbbackup
//! verify` of both (every file against its manifest). What is compared is
//! each server's `backup.xbsteam` in the two backups.

use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HEADING: &str = "## incremental";

/// One server's full and incremental stream sizes.
struct Sizes {
    server: String,
    full: u64,
    incremental: u64,
}

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let mib = crate::rounds::env_mib("BENCH_MIB", 1024);
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    let sb = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let _exclusive = sb.exclusive_use();
    let dbbackup = crate::util::workspace_binary("dbbackup")?;
    let runtime = tokio::runtime::Runtime::new()?;
    println!("loading {mib} MiB into every datasource ...");
    let loaded = runtime.block_on(crate::bench_backup::load(&sb, mib))?;
    let store = Path::new(sb.var("STORE_DIR")).join("bench-incremental");
    let result = runtime
        .block_on(crate::bench_backup::settle(&sb))
        .and_then(|()| {
            [true, false]
                .into_iter()
                .map(|flush| {
                    measure(&sb, &paths, &runtime, &dbbackup, &store, flush).map(|s| (flush, s))
                })
                .collect::<Result<Vec<_>>>()
        });
    runtime.block_on(crate::bench_backup::unload(&sb))?;
    let _ = std::fs::remove_dir_all(&store);
    let measured = result?;
    let table = table(&measured);
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{HEADING}\n\n`cargo xtask bench incremental` (issue 20, target 5): the sandbox with \
         {loaded} per datasource on the replica that is backed up (a table of 1 KB rows). With and \
         without `flush-before-backup`: a forced full backup, then 1 % of the table's rows \
         rewritten (contiguous by key), then an incremental; both backups pass `dbbackup verify` \
         (every file against its manifest). The sizes are each server's `backup.xbsteam`.\n\
         Recorded {date}; load average after: `{load}`.\n\n{table}",
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}

/// The table: a row per setting and server, and whether each meets the
/// target (incremental at most 5 % of the full).
fn table(measured: &[(bool, Vec<Sizes>)]) -> String {
    let mut t = String::from(
        "| flush-before-backup | server | full bytes | incremental bytes | incremental / full | target 5 % |\n\
         | --- | --- | ---: | ---: | ---: | --- |\n",
    );
    for (flush, sizes) in measured {
        for s in sizes {
            let pct = s.incremental as f64 * 100.0 / s.full.max(1) as f64;
            t += &format!(
                "| {} | {} | {} | {} | {pct:.2} % | {} |\n",
                if *flush { "1" } else { "0 (default)" },
                s.server,
                s.full,
                s.incremental,
                if pct <= 5.0 { "met" } else { "missed" },
            );
        }
    }
    t
}

/// A full, the change, an incremental, both verified; each loaded
/// server's stream sizes.
fn measure(
    sb: &testkit::Sandbox,
    paths: &crate::sandbox::layout::Paths,
    runtime: &tokio::runtime::Runtime,
    dbbackup: &Path,
    store: &Path,
    flush: bool,
) -> Result<Vec<Sizes>> {
    crate::bench_backup::fresh_dir(store)?;
    let backups = store.join("dbbackup");
    let conf = |full: bool| -> Result<PathBuf> {
        let conf = paths.file(&format!("bench-incremental-{full}.conf"));
        crate::util::derive_conf(
            Path::new(sb.var("BACKUP_SSH_CONF")),
            &conf,
            &[
                ("dir = ", format!("dir = {}", backups.display())),
                (
                    "force-full-backup",
                    format!(
                        "force-full-backup = {}\nflush-before-backup = {}",
                        u8::from(full),
                        u8::from(flush)
                    ),
                ),
            ],
        )?;
        Ok(conf)
    };
    let (full_conf, incr_conf) = (conf(true)?, conf(false)?);
    let replicas = crate::bench_backup::backed_up(sb);
    dbbackup_run(dbbackup, &full_conf, &[])?;
    runtime.block_on(change_one_percent(sb, &replicas))?;
    dbbackup_run(dbbackup, &incr_conf, &[])?;
    dbbackup_run(dbbackup, &incr_conf, &["verify", "--all"])?;
    let full = backup_dir(&backups, "-full")?;
    let incr = backup_dir(&backups, "-inc")?;
    replicas
        .iter()
        .map(|r| {
            Ok(Sizes {
                server: r.name.clone(),
                full: stream_size(&full, &r.name)?,
                incremental: stream_size(&incr, &r.name)?,
            })
        })
        .collect()
}

/// Rewrites 1 % of `bench.blob`'s rows (contiguous ids from the middle)
/// on each server, unlogged as the load is.
async fn change_one_percent(sb: &testkit::Sandbox, servers: &[testkit::Server]) -> Result<()> {
    for s in servers {
        let mut c = crate::bench_backup::client(sb, s).await?;
        c.execute("SET SESSION sql_log_bin = 0").await?;
        let rows: u64 = crate::bench_backup::scalar(&mut c, "SELECT MAX(id) AS v FROM bench.blob")
            .await?
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no rows in bench.blob on {}", s.name))?;
        let from = rows / 2;
        c.execute(&format!(
            "UPDATE bench.blob SET pad = UPPER(pad) WHERE id BETWEEN {from} AND {}",
            from + rows / 100 - 1
        ))
        .await
        .with_context(|| format!("changing 1 % of the rows on {}", s.name))?;
        c.close().await?;
    }
    Ok(())
}

/// Runs `dbbackup --config-file CONF ARGS...`.
fn dbbackup_run(dbbackup: &Path, conf: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new(dbbackup)
        .arg("--config-file")
        .arg(conf)
        .args(args)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("dbbackup {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The only backup directory under `backups` whose name ends in `suffix`.
fn backup_dir(backups: &Path, suffix: &str) -> Result<PathBuf> {
    let found: Vec<PathBuf> = std::fs::read_dir(backups)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one backup ending in {suffix} in {}, found {found:?}",
            backups.display()
        ),
    }
}

/// The size of `server`'s stream in `backup`.
fn stream_size(backup: &Path, server: &str) -> Result<u64> {
    let dir = std::fs::read_dir(backup)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&format!("-{server}-")))
        })
        .with_context(|| format!("no directory of {server} in {}", backup.display()))?;
    let file = dir.join("backup.xbsteam");
    Ok(std::fs::metadata(&file)
        .with_context(|| format!("cannot stat {}", file.display()))?
        .len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_which_setting_meets_the_target() {
        let sizes = |full, incremental| {
            vec![Sizes {
                server: "normal_0_1".into(),
                full,
                incremental,
            }]
        };
        let t = table(&[
            (true, sizes(1_000_000, 36_000)),
            (false, sizes(1_000_000, 850_000)),
        ]);
        assert!(
            t.contains("| 1 | normal_0_1 | 1000000 | 36000 | 3.60 % | met |"),
            "{t}"
        );
        assert!(
            t.contains("| 0 (default) | normal_0_1 | 1000000 | 850000 | 85.00 % | missed |"),
            "{t}"
        );
    }
}
