//! What the physical tools' catalog records (`[catalog]` of backup.conf
//! and recovery.conf, `catalog::physical`) need in the sandbox: a login on
//! the catalog MariaDB allowed every database named `dbscale_backup...`
//! (the default database, and one per test), its password in a 0600 file
//! that a config's `[catalog] password-file` names, and `promtool` (Debian
//! `prometheus`) for the metrics tests. `sandbox.env` gets
//! `PHYSICAL_CATALOG_USER`, `PHYSICAL_CATALOG_PASSWORD_FILE`,
//! `PHYSICAL_CATALOG_DATABASE`. Idempotent: what exists is kept.

use super::layout::{Paths, instances};
use super::mariadb;
use crate::util::{random_password, write_file};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// The login's user.
pub const USER: &str = "dbbackup";
/// The default database (`[catalog] database` unset).
pub const DATABASE: &str = "dbscale_backup";
/// The Debian package that brings `promtool`, and the program.
pub const PROMTOOL: (&str, &str) = ("prometheus", "/usr/bin/promtool");

/// The login's password file (the password alone, 0600).
pub fn password_file(paths: &Paths) -> PathBuf {
    paths.dir("physical").join("catalog.password")
}

/// Makes the login (and its password file) and installs promtool.
pub fn up(paths: &Paths) -> Result<()> {
    crate::packages::ensure(&[PROMTOOL])?;
    std::fs::create_dir_all(paths.dir("physical"))?;
    let file = password_file(paths);
    let pw = match std::fs::read_to_string(&file) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => {
            let pw = random_password(20)?;
            write_file(&file, &format!("{pw}\n"), 0o600)?;
            pw
        }
    };
    let catalog = instances()
        .into_iter()
        .find(|i| i.name == "catalog")
        .context("the sandbox layout has no catalog instance")?;
    mariadb::sql(paths, &catalog, &grants(&pw))
        .context("cannot create the physical tools' catalog login")?;
    Ok(())
}

/// The login and its grant: every database whose name starts with
/// `dbscale_backup` (`\_` is a literal `_` in a grant's name pattern).
fn grants(pw: &str) -> String {
    let pw = pw.replace('\'', "''");
    format!(
        "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{pw}';\n\
         ALTER USER '{USER}'@'%' IDENTIFIED BY '{pw}';\n\
         GRANT ALL PRIVILEGES ON `dbscale\\_backup%`.* TO '{USER}'@'%';\n"
    )
}

/// `sandbox.env` lines.
pub fn env_vars(paths: &Paths) -> Vec<(&'static str, String)> {
    vec![
        ("PHYSICAL_CATALOG_USER", USER.to_owned()),
        (
            "PHYSICAL_CATALOG_PASSWORD_FILE",
            password_file(paths).display().to_string(),
        ),
        ("PHYSICAL_CATALOG_DATABASE", DATABASE.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grant_covers_the_default_and_per_test_databases_only() {
        let sql = grants("a'b");
        assert!(sql.contains("IDENTIFIED BY 'a''b'"), "{sql}");
        assert!(
            sql.contains("ON `dbscale\\_backup%`.* TO 'dbbackup'@'%'"),
            "{sql}"
        );
        let paths = Paths {
            root: PathBuf::from("/sb"),
        };
        let vars = env_vars(&paths);
        assert!(vars.contains(&(
            "PHYSICAL_CATALOG_PASSWORD_FILE",
            "/sb/physical/catalog.password".to_owned()
        )));
    }
}
