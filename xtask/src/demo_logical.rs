//! The demo's logical part (`cargo xtask demo logical` runs only it):
//! `dbcatalog` backs up the `demo` database of normal_0's master with
//! mydumper, sends it to the store host's rsync daemon, records it in the
//! catalog; `dbcatalog list` shows the row, and `validate-backup` restores
//! it into a scratch MariaDB and records the result.

use crate::sandbox::layout::Paths;
use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs it; says what it did.
pub fn run(paths: &Paths, sandbox: &testkit::Sandbox) -> Result<String> {
    let dbcatalog = crate::util::workspace_binary("dbcatalog")?;
    let master = sandbox.server("normal_0_0");
    sandbox
        .root_sql(
            &master,
            "CREATE DATABASE IF NOT EXISTS demo; \
             CREATE TABLE IF NOT EXISTS demo.logical_orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(40)); \
             INSERT INTO demo.logical_orders (item) VALUES ('book'), ('lamp'), ('chair');",
        )
        .map_err(anyhow::Error::msg)?;
    let conf = paths.file("demo-pbackup.conf");
    crate::util::derive_conf(
        Path::new(sandbox.var("PBACKUP_CONF")),
        &conf,
        &[("db_list=", "db_list=demo".to_owned())],
    )?;
    let day = crate::util::utc_now("%Y-%m-%d");
    let out = paths.dir("pybackup").join("demo-out").join(&day);
    std::fs::create_dir_all(&out)?;
    step(&format!(
        "logical backup: dbcatalog mydumper outputdir={} threads=2 compress verbose=3 (db_list=demo)",
        out.display()
    ));
    let text = dbcatalog_run(
        &dbcatalog,
        &conf,
        &[
            "mydumper",
            &format!("outputdir={}", out.display()),
            "threads=2",
            "compress",
            "verbose=3",
        ],
    )?;
    print!("{text}");
    let bk_id = text
        .lines()
        .find_map(|l| l.strip_prefix("bk_id "))
        .and_then(|r| r.split_whitespace().next())
        .context("dbcatalog named no bk_id")?
        .to_owned();
    step("its catalog row: dbcatalog list --json (the newest)");
    let list = dbcatalog_run(&dbcatalog, &conf, &["list", "--json", "--limit", "1"])?;
    print!("{list}");
    // Where the store host keeps normal_0's backups, for validate-backup
    // (the seed has the DBA fill user_backup_path by hand).
    let catalog = testkit::Server {
        name: "catalog".into(),
        datasource: String::new(),
        host: sandbox.var("CATALOG_HOST").into(),
        port: sandbox.var("CATALOG_PORT").parse()?,
        initial_role: "master".into(),
        dir: paths.root().join("mysql").join("catalog"),
    };
    let real_path = PathBuf::from(sandbox.var("RSYNC_MODULE_DIR")).join("127.0.0.11");
    sandbox
        .root_sql(
            &catalog,
            &format!(
                "INSERT INTO catalogdb.user_backup_path (bk_server, remote_server, real_path, tag) \
                 SELECT '127.0.0.11', '{store}', '{path}/', 'demo' FROM DUAL WHERE NOT EXISTS \
                 (SELECT 1 FROM catalogdb.user_backup_path WHERE bk_server = '127.0.0.11');",
                store = sandbox.var("STORE_HOST"),
                path = real_path.display()
            ),
        )
        .map_err(anyhow::Error::msg)?;
    step("dbcatalog validate-backup (myloader into a scratch MariaDB, every table checked)");
    let log = paths.dir("pybackup").join("demo-validate.log");
    let mut validated = false;
    // Older demo backups wait first: validate until this one is done.
    for _ in 0..20 {
        let text = dbcatalog_run(
            &dbcatalog,
            &conf,
            &["validate-backup", &format!("--log-file={}", log.display())],
        )?;
        print!("{text}");
        if text.contains(&format!("backup {bk_id} validated")) {
            validated = true;
            break;
        }
        if text.contains("nothing to validate") {
            break;
        }
    }
    if !validated {
        bail!("validate-backup never validated {bk_id}");
    }
    Ok(format!(
        "logical backup {bk_id} sent, recorded and validated"
    ))
}

fn step(what: &str) {
    println!("\n==> {what}");
}

/// Runs dbcatalog; its stdout (stderr shown), an error when it fails.
fn dbcatalog_run(bin: &Path, conf: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .arg("-c")
        .arg(conf)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!("dbcatalog {} failed ({})", args.join(" "), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
