//! `recovery.conf`: every key seed 001 reads, with its defaults.

use crate::backup::{SocatConfig, StoreConfig, optional_path};
use crate::catalog::{self, CatalogConfig};
use crate::connect::{Connect, connect, host_login};
use crate::error::ConfError;
use crate::ini::Ini;
use crate::values::{Section, warn_unread};
use remote_config::HostLogin;
use std::path::{Path, PathBuf};

/// What to recover to (`[recover-to]`: exactly one of the two keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoverTo {
    /// `dir`: a backup directory name such as `UTC20240222014345.236-inc`.
    Dir(String),
    /// `stop-datetime`: `%Y-%m-%d %H:%M:%S`, kept as written (the recovery
    /// engine decides the time zone, as the seed does).
    StopDatetime(String),
}

/// The recovery job server (`[recovery-job-server]`).
#[derive(Debug, Clone)]
pub struct JobServerConfig {
    /// The host and its login.
    pub host: HostLogin,
    /// `work-dir`: the chain is shipped and restored under it.
    pub work_dir: PathBuf,
    /// `scp-identity` (new): with `using-scp`, the private key file on the
    /// store host that its login user gives scp to log in to the job
    /// server (unset: that user's default keys); batch mode, no password.
    pub scp_identity: Option<String>,
    /// `scp-known-hosts` (new): with `using-scp`, the known_hosts file on
    /// the store host that the job server's host key is checked against
    /// (unset: the user's own). An unknown key is added; a changed one is
    /// refused.
    pub scp_known_hosts: Option<String>,
}

/// Everything `recovery.conf` says.
#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The target.
    pub recover_to: RecoverTo,
    /// `debug` (default on).
    pub debug: bool,
    /// socat settings.
    pub socat: SocatConfig,
    /// Hosts and how to reach them.
    pub connect: Connect,
    /// `server-tmp-port`: first port of the temporary servers (default 27000).
    pub server_tmp_port: u16,
    /// `client-name`: the SQL client program (default `mysql`).
    pub client_name: String,
    /// `xtrabackup-bin-dir`: the backup program (default `xtrabackup`).
    pub xtrabackup_bin: String,
    /// `xbstream-bin-dir`: the stream extractor (unset: the tool's own,
    /// `xbstream` or `mbstream`, on `PATH`).
    pub xbstream_bin: Option<String>,
    /// `encrypt-bin` (new): the AES Crypt program on the store host
    /// (default `dbcrypt`).
    pub encrypt_bin: String,
    /// `for-testing` present.
    pub for_testing: bool,
    /// The store.
    pub store: StoreConfig,
    /// The job server.
    pub job_server: JobServerConfig,
    /// `[catalog]` (new, optional): where every run is recorded.
    pub catalog: Option<CatalogConfig>,
}

impl RecoveryConfig {
    /// Reads and validates `path`; unknown keys are warned about.
    pub fn load(path: &Path) -> Result<Self, ConfError> {
        Self::from_ini(&Ini::load(path)?)
    }

    /// Validates an already parsed file.
    pub fn from_ini(ini: &Ini) -> Result<Self, ConfError> {
        let misc = Section::new(ini, "misc");
        let to = Section::new(ini, "recover-to");
        let store = Section::new(ini, "backup-store");
        let job = Section::new(ini, "recovery-job-server");
        // Recovery has no [server-ssh-info]: the store's login stands in
        // for the hosts' default login.
        let rabbit = Section::new(ini, "rabbit-agent");
        let adm = Section::new(ini, "adm-agent");
        let cat = Section::new(ini, catalog::SECTION);
        let connect = connect(&misc, &store, &rabbit, &adm)?;
        let method = connect.config.method;
        let recover_to = match (to.text("dir")?, to.text("stop-datetime")?) {
            (Some(_), Some(_)) => {
                return Err(to.invalid(
                    "stop-datetime",
                    "dir and stop-datetime are exclusive: set only one",
                ));
            }
            (Some(dir), None) => RecoverTo::Dir(dir.trim().to_owned()),
            (None, Some(t)) => {
                let t = t.trim().to_owned();
                if !is_datetime(&t) {
                    return Err(
                        to.invalid("stop-datetime", format!("{t:?} is not YYYY-MM-DD HH:MM:SS"))
                    );
                }
                RecoverTo::StopDatetime(t)
            }
            (None, None) => {
                return Err(ConfError::Missing {
                    file: ini.origin().to_owned(),
                    section: "recover-to".into(),
                    key: "dir".into(),
                    hint: " (or stop-datetime)".into(),
                });
            }
        };
        let cfg = RecoveryConfig {
            file: ini.origin().to_owned(),
            recover_to,
            debug: misc.flag("debug", true)?,
            socat: SocatConfig::read(&misc, false)?,
            server_tmp_port: misc.parse_or("server-tmp-port", 27000)?,
            client_name: misc.text("client-name")?.unwrap_or_else(|| "mysql".into()),
            xtrabackup_bin: misc
                .text("xtrabackup-bin-dir")?
                .unwrap_or_else(|| "xtrabackup".into()),
            xbstream_bin: misc.text("xbstream-bin-dir")?,
            encrypt_bin: misc
                .text("encrypt-bin")?
                .unwrap_or_else(|| "dbcrypt".into()),
            for_testing: misc.text("for-testing")?.is_some(),
            store: StoreConfig::read(&store, method)?,
            job_server: JobServerConfig {
                host: host_login(&job, method)?,
                work_dir: PathBuf::from(job.require("work-dir")?),
                scp_identity: optional_path(&job, "scp-identity")?,
                scp_known_hosts: optional_path(&job, "scp-known-hosts")?,
            },
            catalog: catalog::read(&cat, ini.has_section(catalog::SECTION))?,
            connect,
        };
        warn_unread(&[&misc, &to, &store, &job, &rabbit, &adm, &cat]);
        Ok(cfg)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with plausible fields (the engine parses it
/// properly; this only rejects what the seed's strptime would).
fn is_datetime(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(99);
    b.len() == 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

#[cfg(test)]
mod tests {
    use super::is_datetime;

    #[test]
    fn datetimes_as_strptime_would_take_them() {
        assert!(is_datetime("2024-02-22 13:22:38"));
        assert!(!is_datetime("2024-02-22T13:22:38"));
        assert!(!is_datetime("2024-13-22 13:22:38"));
        assert!(!is_datetime("2024-02-22 13:22"));
    }
}
