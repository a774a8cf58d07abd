//! The last check of `cargo xtask ci`: after every test ran, no sandbox
//! password is left in any file of the sandbox but the ones it was written
//! into on purpose (the configs the sandbox wrote, the servers' own data).
//! Logs, stores, job-server directories, the tools' state, agents' and
//! routers' logs, the broker's files and the logical backups are all read.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Files that hold a secret by design, relative to the sandbox directory:
/// the configs and secret files the sandbox wrote for the tools and the
/// users, and the servers' own data under `mysql/` but their logs: data
/// directories, a drill's snapshot and `.flashback_bak` copies of them
/// (`master.info` holds the replication login, a binlog the `CREATE USER`
/// of the sandbox's setup); the physical tools' catalog password file;
/// and the copies of the user's own files the seed layout puts in every
/// backup (`backup.conf`, the router's `calcnode_base/dbscale.conf`), on
/// the store and shipped to the job server.
fn allowed(rel: &Path) -> bool {
    let text = rel.to_string_lossy();
    let top_level = rel.components().count() == 1;
    let config = ["conf", "ini", "cnf", "toml", "env"]
        .iter()
        .any(|ext| rel.extension().is_some_and(|e| e == *ext));
    (top_level && config)
        || text.starts_with("mysql/") && !is_log(rel)
        || text.starts_with("template/data/")
        || text.starts_with("routers/")
            && (text.ends_with(".toml") || text.ends_with(".state.json"))
        || text == "agents/adm.secret"
        || text == "agents/rabbit.secret"
        || text == "physical/catalog.password"
        || (text.starts_with("store/") || text.starts_with("jobserver/"))
            && (rel.ends_with("backup.conf") || rel.ends_with("calcnode_base/dbscale.conf"))
        || text.starts_with("pybackup/")
            && (text.ends_with(".password") || text.ends_with(".secrets"))
}

/// A server's or a tool's log file (`error.log`, `mysqld.err`, ...): read
/// even among the servers' files.
fn is_log(rel: &Path) -> bool {
    rel.extension().is_some_and(|e| e == "log" || e == "err")
}

/// Scans `sandbox` for the passwords of its `sandbox.env` (the `*PASSWORD`
/// values and the contents of the `*SECRET_FILE` / `*PASSWORD_FILE` files).
pub fn run(sandbox: &Path) -> Result<()> {
    let secrets = secrets(sandbox)?;
    let values: Vec<&str> = secrets.iter().map(|(_, s)| s.as_str()).collect();
    let found = testkit::secrets::files_holding(&[sandbox], &values, |path| {
        allowed(path.strip_prefix(sandbox).unwrap_or(path))
    });
    if !found.is_empty() {
        let lines: Vec<String> = found
            .iter()
            .map(|(path, i)| {
                let rel = path.strip_prefix(sandbox).unwrap_or(path);
                format!("{} holds {}", rel.display(), secrets[*i].0)
            })
            .collect();
        bail!(
            "a sandbox password was left on disk (the secret itself not shown):\n  {}",
            lines.join("\n  ")
        );
    }
    eprintln!(
        "secret scan: no file under {} holds any of {} passwords",
        sandbox.display(),
        secrets.len()
    );
    Ok(())
}

/// `(sandbox.env key, secret)` of every password the sandbox made.
fn secrets(sandbox: &Path) -> Result<Vec<(String, String)>> {
    let env_file = sandbox.join("sandbox.env");
    let text = std::fs::read_to_string(&env_file)
        .with_context(|| format!("cannot read {}", env_file.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('\'');
        if key.ends_with("PASSWORD") {
            out.push((key.to_owned(), value.to_owned()));
        } else if key.ends_with("SECRET_FILE") || key.ends_with("PASSWORD_FILE") {
            let file = PathBuf::from(value);
            let secret = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {} ({key})", file.display()))?;
            out.push((key.to_owned(), secret.trim().to_owned()));
        }
    }
    out.retain(|(_, s)| s.len() >= 8);
    if out.is_empty() {
        bail!("{} names no password", env_file.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandboxs_own_configs_and_server_data_are_allowed_and_nothing_else() {
        for ok in [
            "backup-ssh.conf",
            "sandbox.env",
            "mysql/normal_0_1/data/master.info",
            "mysql/dr_0_1/data.flashback_bak/master.info",
            "mysql/dr_0_1/flashback_snapshot/data/mysql-bin.000002",
            "routers/prod.toml",
            "agents/adm.secret",
            "agents/rabbit.secret",
            "pybackup/rsync.password",
            "physical/catalog.password",
        ] {
            assert!(allowed(Path::new(ok)), "{ok}");
        }
        assert!(allowed(Path::new("store/t/UTC1-full/backup.conf")));
        for scanned in [
            "store/t/UTC1-full/manifest.json",
            "backup.conf.bak/x",
            "mysql/normal_0_1/error.log",
            "mysql/dr_0_1/flashback_snapshot/mysqld.err",
            "agents/adm-127.0.0.11.log",
            "state/flashback/journal",
            "jobserver/a/tmp/dbrecover.log",
            "pybackup/backups/1/metadata",
            "rabbitmq/log/rabbit.log",
            "physical/metrics/dbscale_backup.prom",
        ] {
            assert!(!allowed(Path::new(scanned)), "{scanned}");
        }
    }
}
