//! What `dbcatalog` (pybackup, seed 003) needs in the sandbox: a catalog
//! login on the catalog MariaDB, an rsync daemon on the store host
//! (module `logical`, `auth users` + a 0600 secrets file, started as
//! `rsync --daemon --no-detach --config=FILE` and tracked by pid file),
//! the client's password file, and a seed-format `pbackup.conf` backing up
//! production's `normal_0` master. Idempotent: what exists is kept.

use super::layout::{
    CATALOG_HOST, CATALOG_PORT, MYSQL_PORT, MYSQL_USER, Paths, STORE_HOST, instances,
};
use super::{Secrets, mariadb, procs};
use crate::util::{random_password, wait_for, write_file};
use anyhow::{Context, Result};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The rsync daemon's port on the store host.
pub const RSYNC_PORT: u16 = 8730;
/// Its module for logical backups.
pub const RSYNC_MODULE: &str = "logical";
/// The module's auth user.
pub const RSYNC_USER: &str = "dbcatalog";
/// The catalog's login for catalogdb.
pub const CATALOG_USER: &str = "pybackup";
/// The production master `pbackup.conf` backs up.
pub const TDB_HOST: &str = "127.0.0.11";

fn dir(paths: &Paths) -> PathBuf {
    paths.dir("pybackup")
}

/// The module's directory (under the store directory).
pub fn module_dir(paths: &Paths) -> PathBuf {
    paths.dir("store").join("logical")
}

fn pidfile(paths: &Paths) -> PathBuf {
    dir(paths).join("rsyncd.pid")
}

/// A password kept in `file` (made on first use, 0600).
fn kept_password(file: &std::path::Path) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(file)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_owned());
    }
    let pw = random_password(20)?;
    write_file(file, &format!("{pw}\n"), 0o600)?;
    Ok(pw)
}

/// The catalog password and the rsync password.
fn passwords(paths: &Paths) -> Result<(String, String)> {
    Ok((
        kept_password(&dir(paths).join("catalog.password"))?,
        // rsync's --password-file: the password alone, 0600.
        kept_password(&dir(paths).join("rsync.password"))?,
    ))
}

/// Makes everything and starts the daemon if it is not running.
pub fn up(paths: &Paths, secrets: &Secrets) -> Result<()> {
    std::fs::create_dir_all(dir(paths))?;
    std::fs::create_dir_all(module_dir(paths))?;
    let (catalog_pw, rsync_pw) = passwords(paths)?;
    let catalog = instances()
        .into_iter()
        .find(|i| i.name == "catalog")
        .context("the sandbox layout has no catalog instance")?;
    let pw = catalog_pw.replace('\'', "''");
    mariadb::sql(
        paths,
        &catalog,
        &format!(
            "CREATE USER IF NOT EXISTS '{CATALOG_USER}'@'%' IDENTIFIED BY '{pw}';\n\
             ALTER USER '{CATALOG_USER}'@'%' IDENTIFIED BY '{pw}';\n\
             GRANT ALL PRIVILEGES ON `catalogdb`.* TO '{CATALOG_USER}'@'%';\n"
        ),
    )
    .context("cannot create the catalog login for catalogdb")?;
    write_file(
        &dir(paths).join("rsyncd.secrets"),
        &format!("{RSYNC_USER}:{rsync_pw}\n"),
        0o600,
    )?;
    write_file(&dir(paths).join("rsyncd.conf"), &rsyncd_conf(paths), 0o644)?;
    write_file(
        &paths.file("pbackup.conf"),
        &pbackup_conf(paths, secrets, &catalog_pw),
        0o600,
    )?;
    if !alive(paths) {
        let conf = dir(paths).join("rsyncd.conf");
        let pid = procs::spawn_daemon(
            Command::new("rsync")
                .arg("--daemon")
                .arg("--no-detach")
                .arg(format!("--config={}", conf.display())),
            &dir(paths).join("rsyncd.log"),
            &pidfile(paths),
        )?;
        let addr = SocketAddr::from((STORE_HOST, RSYNC_PORT));
        wait_for("the rsync daemon", Duration::from_secs(20), || {
            // Right after spawn the cmdline may not show rsync yet: by pid.
            if !procs::running(pid) {
                anyhow::bail!(
                    "the rsync daemon exited; see {}",
                    dir(paths).join("rsyncd.log").display()
                );
            }
            Ok(
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .ok()
                    .map(drop),
            )
        })?;
    }
    Ok(())
}

/// Is the rsync daemon running?
pub fn alive(paths: &Paths) -> bool {
    procs::pidfile_alive(&pidfile(paths), "rsync").is_some()
}

/// Stops the rsync daemon.
pub fn down(paths: &Paths) -> Result<()> {
    procs::stop_pidfile(
        &pidfile(paths),
        "rsync",
        "the rsync daemon",
        Duration::from_secs(10),
    )
}

/// An rsyncd.conf: one module, authenticated, writable, as root (the
/// sandbox runs as root; a test's files are removed by the test).
pub fn rsyncd_conf(paths: &Paths) -> String {
    rsyncd_conf_for(
        &SocketAddr::from((STORE_HOST, RSYNC_PORT)),
        RSYNC_MODULE,
        &module_dir(paths),
        &dir(paths).join("rsyncd.secrets"),
    )
}

/// An rsyncd.conf serving `module` from `path` on `addr` to
/// [`RSYNC_USER`] with the `secrets` file.
pub fn rsyncd_conf_for(
    addr: &SocketAddr,
    module: &str,
    path: &std::path::Path,
    secrets: &std::path::Path,
) -> String {
    format!(
        "# dbscale-backup sandbox: the store host's rsync daemon (dbcatalog)\n\
         address = {ip}\nport = {port}\nuse chroot = no\nuid = 0\ngid = 0\n\n\
         [{module}]\npath = {path}\nread only = no\nauth users = {RSYNC_USER}\n\
         secrets file = {secrets}\nstrict modes = yes\n",
        ip = addr.ip(),
        port = addr.port(),
        path = path.display(),
        secrets = secrets.display(),
    )
}

fn pbackup_conf(paths: &Paths, s: &Secrets, catalog_pw: &str) -> String {
    format!(
        "# dbscale-backup sandbox: dbcatalog (pybackup) backing up normal_0's master\n\
         [CATALOG]\ndb_host={CATALOG_HOST}\ndb_port={CATALOG_PORT}\ndb_user={CATALOG_USER}\n\
         db_passwd={catalog_pw}\ndb_use=catalogdb\n\n\
         [TDB]\ndb_host={TDB_HOST}\ndb_port={MYSQL_PORT}\ndb_user={MYSQL_USER}\ndb_passwd={mpw}\n\
         db_use=information_schema\ndb_consistency=False\ndb_list=%\n\n\
         [rsync]\npassword_file={pwfile}\ndest={RSYNC_USER}@{STORE_HOST}:{RSYNC_PORT}/{RSYNC_MODULE}/{TDB_HOST}\naddress=\n",
        mpw = s.mysql_password,
        pwfile = dir(paths).join("rsync.password").display(),
    )
}

/// `sandbox.env` lines.
pub fn env_vars(paths: &Paths) -> Vec<(&'static str, String)> {
    // Read only: `up` made it (a unit test's paths have none).
    let catalog_pw = std::fs::read_to_string(dir(paths).join("catalog.password"))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    vec![
        (
            "PBACKUP_CONF",
            paths.file("pbackup.conf").display().to_string(),
        ),
        ("CATALOG_USER", CATALOG_USER.to_owned()),
        ("CATALOG_PASSWORD", catalog_pw),
        ("RSYNC_HOST", STORE_HOST.to_string()),
        ("RSYNC_PORT", RSYNC_PORT.to_string()),
        ("RSYNC_MODULE", RSYNC_MODULE.to_owned()),
        ("RSYNC_MODULE_DIR", module_dir(paths).display().to_string()),
        ("RSYNC_USER", RSYNC_USER.to_owned()),
        (
            "RSYNC_PASSWORD_FILE",
            dir(paths).join("rsync.password").display().to_string(),
        ),
    ]
}
