//! `backup.conf`: every key seed 000 reads, with its defaults.
//!
//! Additions (optional): `[catalog]` (see [`crate::catalog`]) and
//! `[metrics] textfile-dir = DIR`: after every backup run, `dbbackup`
//! writes its Prometheus textfile-collector file into DIR (what `dbbackup
//! metrics --textfile DIR` writes; see docs/operations.md).

use crate::catalog::{self, CatalogConfig};
use crate::connect::{Connect, connect, host_login};
use crate::error::ConfError;
use crate::ini::Ini;
use crate::values::{Section, warn_unread};
use remote_config::ConnectMethod;
use remote_config::HostLogin;
use std::path::{Path, PathBuf};
use topology::{SelectionConfig, SlaveSelection};
use zeroize::Zeroizing;

/// The socat settings shared by backup and recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocatConfig {
    /// `socat-port`: first port for xbstream/tar streams.
    pub port: u16,
    /// `socat-port2`: first port for single files.
    pub port2: u16,
    /// `socat-retry-count`: how many times a busy port is bumped by 10
    /// (default 10; 0 = no retry).
    pub retry_count: u32,
    /// `using-scp` present: copy with scp instead of socat.
    pub using_scp: bool,
    /// `receiver` (new): what receives a stream on the receiving host.
    pub receiver: ReceiverKind,
    /// `receiver-bin` (new): the native receiver's program on the
    /// receiving hosts (default `dbagent`, found on the login's PATH).
    pub receiver_bin: String,
}

/// `[misc] receiver`: the program on the receiving end of each stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiverKind {
    /// `native` (default): `dbagent receive`, which counts and hashes as
    /// it writes; a host without it gets socat, with a warning.
    #[default]
    Native,
    /// `socat`: the seed's listener only.
    Socat,
}

impl SocatConfig {
    pub(crate) fn read(misc: &Section<'_>, port2_required: bool) -> Result<Self, ConfError> {
        let port: u16 = misc.parse_required("socat-port")?;
        let port2 = if port2_required {
            misc.parse_required("socat-port2")?
        } else {
            misc.parse_or("socat-port2", port.saturating_add(1))?
        };
        // The seed switches to scp when the key is present at all; an
        // explicit 0/false is read as "off" here, and said so.
        let using_scp = match misc.text("using-scp")? {
            None => false,
            Some(v) if v.trim().is_empty() => true,
            Some(_) => {
                let on = misc.flag("using-scp", true)?;
                if !on {
                    tracing::warn!(
                        "[misc] using-scp is set to off: socat is used (the seed tool used scp whenever the key was present)"
                    );
                }
                on
            }
        };
        let receiver = match misc.text("receiver")?.as_deref().map(str::trim) {
            None | Some("native") => ReceiverKind::Native,
            Some("socat") => ReceiverKind::Socat,
            Some(other) => {
                return Err(
                    misc.invalid("receiver", format!("{other:?} is neither native nor socat"))
                );
            }
        };
        Ok(Self {
            port,
            port2,
            retry_count: misc.parse_or("socat-retry-count", 10)?,
            using_scp,
            receiver,
            receiver_bin: misc
                .text("receiver-bin")?
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "dbagent".into()),
        })
    }
}

/// The DBScale router (`[cluster]`).
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Password.
    pub password: Zeroizing<String>,
}

/// The backup store (`[backup-store]`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The store host and its login.
    pub host: HostLogin,
    /// The directory backups go into.
    pub dir: PathBuf,
    /// `scp-identity`: with `using-scp`, the private key file on the
    /// sending hosts that their login user gives scp to log in to the store
    /// (unset: that user's default keys). scp runs in batch mode: the
    /// store's password is never typed into it, as the seed's watcher did.
    pub scp_identity: Option<String>,
    /// `scp-known-hosts`: with `using-scp`, the known_hosts file on the
    /// sending hosts that scp checks the store's host key against (unset:
    /// that user's own, `~/.ssh/known_hosts`). An unknown key is added; a
    /// changed one is refused.
    pub scp_known_hosts: Option<String>,
}

impl StoreConfig {
    /// Reads `[backup-store]` (`ip port user password dir`, and
    /// `scp-identity`), as backup and recovery both have it.
    pub(crate) fn read(store: &Section<'_>, method: ConnectMethod) -> Result<Self, ConfError> {
        Ok(StoreConfig {
            host: host_login(store, method)?,
            dir: PathBuf::from(store.require("dir")?),
            scp_identity: optional_path(store, "scp-identity")?,
            scp_known_hosts: optional_path(store, "scp-known-hosts")?,
        })
    }
}

/// A path key's value, `None` when unset or empty.
pub(crate) fn optional_path(section: &Section<'_>, key: &str) -> Result<Option<String>, ConfError> {
    Ok(section
        .text(key)?
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty()))
}

/// Everything `backup.conf` says.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// The file it was read from (copied into every backup).
    pub file: PathBuf,
    /// `force-full-backup`.
    pub force_full: bool,
    /// `debug` (default on).
    pub debug: bool,
    /// `log-audit`: `DBSCALE START/END BACKUP` around the run.
    pub log_audit: bool,
    /// socat settings.
    pub socat: SocatConfig,
    /// `compress`: compress the stream (zstd) on the sending host.
    pub compress: bool,
    /// `compress-threads` (default 1).
    pub compress_threads: u32,
    /// `max-time-sec`: `None` means no limit (the seed's -1). Re-read while
    /// a backup runs.
    pub max_time_sec: Option<u64>,
    /// `backup-master` and `backup-slave`.
    pub selection: SelectionConfig,
    /// Hosts and how to reach them.
    pub connect: Connect,
    /// `ftwrl-dead-lock-retry` (default 10).
    pub ftwrl_dead_lock_retry: u32,
    /// `ftwrl-dead-lock-seconds` (default 8).
    pub ftwrl_dead_lock_seconds: u64,
    /// `use-disaster-recovery-cluster`.
    pub use_disaster_recovery_cluster: bool,
    /// `xtrabackup-bin-dir`: the backup program (default `xtrabackup`).
    pub xtrabackup_bin: String,
    /// `encrypt-bin` (new): the AES Crypt program on the store host
    /// (default `dbcrypt`; pyAesCrypt's command line is not supported).
    pub encrypt_bin: String,
    /// `store-bad-backup` (default on): bad backups go to `trash/` rather
    /// than being removed.
    pub store_bad_backup: bool,
    /// `flush-before-backup` (new, default off): before each server's
    /// backup, set `innodb_max_dirty_pages_pct` to 0 until the InnoDB
    /// checkpoint catches up (at most 30 s), then put it back, so the next
    /// incremental streams only what changed (docs/incrementals.md).
    pub flush_before_backup: bool,
    /// The router.
    pub router: RouterConfig,
    /// The store.
    pub store: StoreConfig,
    /// `[catalog]` (new, optional): where every run is recorded.
    pub catalog: Option<CatalogConfig>,
    /// `[metrics] textfile-dir` (new, optional): a Prometheus
    /// textfile-collector directory the metrics file is written into
    /// after every backup run.
    pub metrics_textfile_dir: Option<PathBuf>,
}

/// Reads the `max-time-sec` value only (the watchdog re-reads it while a
/// backup runs): `Ok(None)` for no limit.
pub fn max_time_sec(ini: &Ini) -> Result<Option<u64>, ConfError> {
    let misc = Section::new(ini, "misc");
    parse_max_time(&misc)
}

fn parse_max_time(misc: &Section<'_>) -> Result<Option<u64>, ConfError> {
    match misc.text("max-time-sec")? {
        None => Ok(None),
        Some(v) if v.trim() == "-1" => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| {
                misc.invalid("max-time-sec", format!("{v:?} is not a number of seconds"))
            })
        }
    }
}

impl BackupConfig {
    /// Reads and validates `path`; unknown keys are warned about.
    pub fn load(path: &Path) -> Result<Self, ConfError> {
        Self::from_ini(&Ini::load(path)?)
    }

    /// Validates an already parsed file.
    pub fn from_ini(ini: &Ini) -> Result<Self, ConfError> {
        let misc = Section::new(ini, "misc");
        let cluster = Section::new(ini, "cluster");
        let ssh_info = Section::new(ini, "server-ssh-info");
        let store = Section::new(ini, "backup-store");
        let rabbit = Section::new(ini, "rabbit-agent");
        let adm = Section::new(ini, "adm-agent");
        let cat = Section::new(ini, catalog::SECTION);
        let metrics = Section::new(ini, "metrics");
        let connect = connect(&misc, &ssh_info, &rabbit, &adm)?;
        let method: ConnectMethod = connect.config.method;
        let cfg = BackupConfig {
            file: ini.origin().to_owned(),
            force_full: misc.flag("force-full-backup", false)?,
            debug: misc.flag("debug", true)?,
            log_audit: misc.flag("log-audit", false)?,
            socat: SocatConfig::read(&misc, true)?,
            compress: misc.flag("compress", false)?,
            compress_threads: misc.parse_or("compress-threads", 1)?,
            max_time_sec: parse_max_time(&misc)?,
            // A flag like the others (the seed read anything but `1`/`true`
            // as off, so a typo silently skipped the masters).
            selection: SelectionConfig {
                backup_master: misc.flag("backup-master", false)?,
                slaves: SlaveSelection::parse(misc.text("backup-slave")?.as_deref()),
            },
            ftwrl_dead_lock_retry: misc.parse_or("ftwrl-dead-lock-retry", 10)?,
            ftwrl_dead_lock_seconds: misc.parse_or("ftwrl-dead-lock-seconds", 8)?,
            use_disaster_recovery_cluster: misc.flag("use-disaster-recovery-cluster", false)?,
            xtrabackup_bin: misc
                .text("xtrabackup-bin-dir")?
                .unwrap_or_else(|| "xtrabackup".into()),
            encrypt_bin: misc
                .text("encrypt-bin")?
                .unwrap_or_else(|| "dbcrypt".into()),
            store_bad_backup: misc.flag("store-bad-backup", true)?,
            flush_before_backup: misc.flag("flush-before-backup", false)?,
            router: RouterConfig {
                host: cluster.require("ip")?,
                port: cluster.parse_required("port")?,
                user: cluster.require("user")?,
                password: Zeroizing::new(cluster.require("password")?),
            },
            store: StoreConfig::read(&store, method)?,
            catalog: catalog::read(&cat, ini.has_section(catalog::SECTION))?,
            metrics_textfile_dir: metrics
                .text("textfile-dir")?
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            connect,
        };
        warn_unread(&[
            &misc, &cluster, &ssh_info, &store, &rabbit, &adm, &cat, &metrics,
        ]);
        Ok(cfg)
    }
}
