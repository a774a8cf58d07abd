//! `pbackup.conf`: pybackup's file (seed 003), read as it reads it.
//!
//! ```ini
//! [CATALOG]             ; the catalog database (catalogdb)
//! db_host = 127.0.0.40
//! db_port = 3306
//! db_user = catalog
//! db_passwd = ...
//! db_use = catalogdb
//!
//! [TDB]                 ; the server to back up
//! db_host = 127.0.0.11
//! db_port = 3306
//! db_user = backup
//! db_passwd = ...
//! db_use = information_schema
//! db_consistency = True ; optional, default False: one mydumper run for all
//! db_list = test,fandb,union_log_ad_%   ; or !a,!b (all but), or %
//!
//! [rsync]
//! password_file = /etc/pybackup/rsync.sec
//! dest = platform@10.0.0.8/db_backup/10.0.0.1
//! address =             ; the local address rsync binds to (optional)
//! ```
//!
//! Values are read as pybackup's Python 2 `ConfigParser` reads them: a
//! value is interpolated only when it holds `%(`, so `db_list = %` and
//! `union_log_ad_%` need no `%%`. `db_list` is kept as written here; its rules (wildcards, `!` exclusions,
//! no mixing) belong to the engine that resolves it. `[CATALOG]` and
//! `[rsync]` may be absent: a run with `--no-history` or `--no-rsync` does
//! not need them, so the engine asks for them when it does.

use crate::error::ConfError;
use crate::ini::Ini;
use crate::values::{Section, warn_unread};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// One `[CATALOG]` / `[TDB]` login.
#[derive(Clone)]
pub struct DbLogin {
    /// `db_host`.
    pub host: String,
    /// `db_port` (default 3306).
    pub port: u16,
    /// `db_user`.
    pub user: String,
    /// `db_passwd`.
    pub password: Zeroizing<String>,
    /// `db_use`.
    pub database: Option<String>,
}

impl fmt::Debug for DbLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbLogin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .finish()
    }
}

/// `[TDB]`: the server to back up and what of it.
#[derive(Debug, Clone)]
pub struct TdbConfig {
    /// The login (`db_host`, `db_port`, `db_user`, `db_passwd`, `db_use`).
    pub login: DbLogin,
    /// `db_consistency`: one consistent mydumper run for every database.
    pub consistency: bool,
    /// `db_list` as written (none: the command line must name databases).
    pub db_list: Option<String>,
}

/// `[rsync]`: where backups are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsyncConfig {
    /// `password_file` (rsync's `--password-file`).
    pub password_file: Option<PathBuf>,
    /// `dest`: `user@host[:port]/module/path`.
    pub dest: String,
    /// `address`: the local address to bind (empty: any).
    pub address: Option<String>,
}

/// Everything `pbackup.conf` says.
#[derive(Debug, Clone)]
pub struct PbackupConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[CATALOG]`, when present.
    pub catalog: Option<DbLogin>,
    /// `[TDB]`.
    pub tdb: TdbConfig,
    /// `[rsync]`, when present.
    pub rsync: Option<RsyncConfig>,
}

impl PbackupConfig {
    /// Reads and validates `path`; unknown keys are warned about.
    pub fn load(path: &Path) -> Result<Self, ConfError> {
        Self::from_ini(&Ini::load(path)?)
    }

    /// Validates an already parsed file.
    pub fn from_ini(ini: &Ini) -> Result<Self, ConfError> {
        let catalog = Section::new(ini, "CATALOG");
        let tdb = Section::new(ini, "TDB");
        let rsync = Section::new(ini, "rsync");
        let cfg = PbackupConfig {
            file: ini.origin().to_owned(),
            catalog: if ini.has_section("CATALOG") {
                Some(read_login(&catalog)?)
            } else {
                None
            },
            tdb: TdbConfig {
                login: read_login(&tdb)?,
                consistency: tdb.flag("db_consistency", false)?,
                db_list: non_empty(tdb.text_py2("db_list")?),
            },
            rsync: if ini.has_section("rsync") {
                Some(RsyncConfig {
                    password_file: non_empty(rsync.text("password_file")?).map(PathBuf::from),
                    dest: rsync.require("dest")?.trim().to_owned(),
                    address: non_empty(rsync.text("address")?),
                })
            } else {
                None
            },
        };
        if let Some(r) = &cfg.rsync
            && r.dest.is_empty()
        {
            return Err(rsync.invalid("dest", "is empty"));
        }
        warn_unread(&[&catalog, &tdb, &rsync]);
        Ok(cfg)
    }

    /// `[CATALOG]`, or an error naming the file and section.
    pub fn require_catalog(&self) -> Result<&DbLogin, ConfError> {
        self.catalog
            .as_ref()
            .ok_or_else(|| self.missing("CATALOG", "db_host"))
    }

    /// `[rsync]`, or an error naming the file and section.
    pub fn require_rsync(&self) -> Result<&RsyncConfig, ConfError> {
        self.rsync
            .as_ref()
            .ok_or_else(|| self.missing("rsync", "dest"))
    }

    fn missing(&self, section: &str, key: &str) -> ConfError {
        ConfError::Missing {
            file: self.file.clone(),
            section: section.to_owned(),
            key: key.to_owned(),
            hint: format!(" (there is no [{section}] section)"),
        }
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn read_login(s: &Section<'_>) -> Result<DbLogin, ConfError> {
    Ok(DbLogin {
        host: s.require("db_host")?.trim().to_owned(),
        port: s.parse_or("db_port", 3306)?,
        user: s.require("db_user")?.trim().to_owned(),
        password: Zeroizing::new(s.text_py2("db_passwd")?.unwrap_or_default()),
        database: non_empty(s.text("db_use")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "\
[CATALOG]
db_host=localhost
db_port=3306
db_user=root
db_passwd=fan;bo#shi
db_use=catalogdb

[TDB]
db_host=localhost
db_port=3306
db_user=root
db_passwd=fanboshi
db_use=information_schema
db_consistency=True
db_list=test,fandb,union_log_ad_%

[rsync]
password_file=/data4/recover/pybackup/rsync.sec
dest=platform@182.92.83.238/db_backup/106.3.130.84
address=
";

    fn parse(text: &str) -> Result<PbackupConfig, ConfError> {
        PbackupConfig::from_ini(&Ini::parse(text, Path::new("pbackup.conf"))?)
    }

    #[test]
    fn the_seed_file_reads_unchanged() {
        let cfg = parse(SEED).unwrap();
        let cat = cfg.require_catalog().unwrap();
        assert_eq!((cat.host.as_str(), cat.port), ("localhost", 3306));
        assert_eq!(cat.password.as_str(), "fan;bo#shi");
        assert_eq!(cat.database.as_deref(), Some("catalogdb"));
        assert!(cfg.tdb.consistency);
        assert_eq!(
            cfg.tdb.db_list.as_deref(),
            Some("test,fandb,union_log_ad_%")
        );
        let rsync = cfg.require_rsync().unwrap();
        assert_eq!(rsync.dest, "platform@182.92.83.238/db_backup/106.3.130.84");
        assert_eq!(rsync.address, None);
        assert_eq!(
            rsync.password_file.as_deref(),
            Some(Path::new("/data4/recover/pybackup/rsync.sec"))
        );
        let debug = format!("{cfg:?}");
        assert!(
            !debug.contains("fanboshi") && !debug.contains("bo#shi"),
            "{debug}"
        );
    }

    #[test]
    fn optional_sections_and_errors_name_file_section_and_key() {
        let only_tdb = SEED.split("[TDB]").nth(1).unwrap();
        let only_tdb = format!("[TDB]{}", only_tdb.split("[rsync]").next().unwrap());
        let cfg = parse(&only_tdb.replace("db_consistency=True\n", "")).unwrap();
        assert!(!cfg.tdb.consistency);
        assert!(cfg.catalog.is_none() && cfg.rsync.is_none());
        assert_eq!(
            cfg.require_rsync().unwrap_err().to_string(),
            "pbackup.conf: [rsync] dest is required (there is no [rsync] section)"
        );
        let err = parse(&SEED.replace("db_consistency=True", "db_consistency=maybe")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pbackup.conf: [TDB] db_consistency:"),
            "{err}"
        );
        let err = parse(&SEED.replacen("db_port=3306", "db_port=x", 1)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pbackup.conf: [CATALOG] db_port:"),
            "{err}"
        );
        let err = parse(&SEED.replace(
            "dest=platform@182.92.83.238/db_backup/106.3.130.84",
            "dest=",
        ))
        .unwrap_err();
        assert_eq!(err.to_string(), "pbackup.conf: [rsync] dest: is empty");
    }
}
