//! `dr_flashback.ini`: the keys seed 002 reads, with its rules.
//!
//! ```ini
//! [source]            ; production: its router and how its hosts are reached
//! host = 10.0.0.10    ; the router (the command line's -si overrides host and port)
//! port = 3307
//! mysql_user = admin  ; the router's login
//! mysql_password = ...
//! sys_user = mysql    ; ssh login of every host of the cluster
//! sys_password = ...  ; tried before the key, as the seed does; may be empty
//! sys_port = 22
//!
//! [target]            ; the DR cluster, same keys (-ti overrides host and port)
//! ...
//! ```
//!
//! As in the seed, a section whose name contains `source` (or `target`)
//! is that cluster's; an exact `[source]` / `[target]` wins over another
//! match. Additions (all optional, in `[misc]`): `connect-method` (default
//! `ssh`; `rabbit-agent`, `adm-agent` and `local` read `[rabbit-agent]` /
//! `[adm-agent]` as the other tools' files do), `key-file`, `state-dir`,
//! `strict-host-key-checking`, `conn-timeout` (see [`crate::connect`]),
//! `snapshot-port` (the temporary instance's port, default 18000, the
//! seed's), `snapshot-margin-percent` (room required on each DR host beyond
//! the snapshot's measured size, default 10) and `journal-file` (default:
//! `log/gio_flashback_redo.log` beside the binary, the seed's path).

use crate::connect::{Connect, connect_method, connect_with};
use crate::error::ConfError;
use crate::ini::Ini;
use crate::values::{Section, warn_unread};
use remote_config::{ConnectMethod, Login};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The seed's port of the temporary instance a snapshot is checked on.
pub const DEFAULT_SNAPSHOT_PORT: u16 = 18000;
/// Room required beyond the snapshot's size, in percent of it.
pub const DEFAULT_SNAPSHOT_MARGIN_PERCENT: u32 = 10;

/// One cluster's section: its router and its hosts' login.
#[derive(Clone)]
pub struct ClusterSection {
    /// The section's name as written (`source`, `target`, ...).
    pub section: String,
    /// `host`: the router's address (optional: `-si`/`-ti` give it).
    pub host: Option<String>,
    /// `port`: the router's port (optional, as `host`).
    pub port: Option<u16>,
    /// `mysql_user`: the router's login.
    pub mysql_user: String,
    /// `mysql_password`.
    pub mysql_password: Zeroizing<String>,
    /// `sys_user`, `sys_port`, `sys_password`: how the cluster's hosts
    /// are reached over ssh.
    pub sys: Login,
}

impl fmt::Debug for ClusterSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSection")
            .field("section", &self.section)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("mysql_user", &self.mysql_user)
            .field("mysql_password", &"<redacted>")
            .field("sys", &self.sys)
            .finish()
    }
}

/// Everything `dr_flashback.ini` says.
#[derive(Debug, Clone)]
pub struct FlashbackConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// Production (`[source]`).
    pub source: ClusterSection,
    /// The DR cluster (`[target]`).
    pub target: ClusterSection,
    /// How hosts are reached; its `server_login` is the target's.
    pub connect: Connect,
    /// `snapshot-port`: the temporary instance's port.
    pub snapshot_port: u16,
    /// `snapshot-margin-percent`: room required beyond the snapshot.
    pub snapshot_margin_percent: u32,
    /// `journal-file`, when set.
    pub journal_file: Option<PathBuf>,
}

impl FlashbackConfig {
    /// Reads and validates `path`; unknown keys are warned about.
    pub fn load(path: &Path) -> Result<Self, ConfError> {
        Self::from_ini(&Ini::load(path)?)
    }

    /// Validates an already parsed file.
    pub fn from_ini(ini: &Ini) -> Result<Self, ConfError> {
        let misc = Section::new(ini, "misc");
        let rabbit = Section::new(ini, "rabbit-agent");
        let adm = Section::new(ini, "adm-agent");
        let method = connect_method(&misc, Some(ConnectMethod::Ssh))?;
        let source = Section::new(ini, cluster_section(ini, "source")?);
        let target = Section::new(ini, cluster_section(ini, "target")?);
        let source_cfg = read_cluster(&source, method)?;
        let target_cfg = read_cluster(&target, method)?;
        let key_file = misc.text("key-file")?;
        let connect = connect_with(
            &misc,
            method,
            target_cfg.sys.clone(),
            key_file,
            &rabbit,
            &adm,
        )?;
        let cfg = FlashbackConfig {
            file: ini.origin().to_owned(),
            source: source_cfg,
            target: target_cfg,
            connect,
            snapshot_port: misc.parse_or("snapshot-port", DEFAULT_SNAPSHOT_PORT)?,
            snapshot_margin_percent: misc
                .parse_or("snapshot-margin-percent", DEFAULT_SNAPSHOT_MARGIN_PERCENT)?,
            journal_file: misc.text("journal-file")?.map(PathBuf::from),
        };
        warn_unread(&[&misc, &source, &target, &rabbit, &adm]);
        Ok(cfg)
    }
}

/// The section for `role`: `[role]` itself, else the first whose name
/// contains it (the seed's rule).
fn cluster_section<'a>(ini: &'a Ini, role: &'static str) -> Result<&'a str, ConfError> {
    ini.sections()
        .find(|s| *s == role)
        .or_else(|| ini.sections().find(|s| s.contains(role)))
        .ok_or_else(|| ConfError::Missing {
            file: ini.origin().to_owned(),
            section: role.to_owned(),
            key: "host".to_owned(),
            hint: format!(" (there is no section whose name contains {role:?})"),
        })
}

fn read_cluster(s: &Section<'_>, method: ConnectMethod) -> Result<ClusterSection, ConfError> {
    let host = s.text("host")?.map(|h| h.trim().to_owned());
    let port = match s.text("port")? {
        Some(p) if !p.trim().is_empty() => Some(
            p.trim()
                .parse()
                .map_err(|_| s.invalid("port", format!("{p:?} is not a port number")))?,
        ),
        _ => None,
    };
    let sys_port_text = s.text("sys_port")?.unwrap_or_default();
    let sys_port = if sys_port_text.trim().is_empty() {
        if method == ConnectMethod::Ssh {
            return Err(s.invalid("sys_port", "is empty or absent but connect-method is ssh"));
        }
        22
    } else {
        sys_port_text.trim().parse().map_err(|_| {
            s.invalid(
                "sys_port",
                format!("{sys_port_text:?} is not a port number"),
            )
        })?
    };
    let sys_password = s.text("sys_password")?.unwrap_or_default();
    Ok(ClusterSection {
        section: s.name().to_owned(),
        host: host.filter(|h| !h.is_empty()),
        port,
        mysql_user: s.require("mysql_user")?.trim().to_owned(),
        mysql_password: Zeroizing::new(s.require("mysql_password")?),
        sys: Login {
            user: s.require("sys_user")?.trim().to_owned(),
            port: sys_port,
            password: (!sys_password.is_empty()).then(|| Zeroizing::new(sys_password)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "\
[source]
host = 172.17.138.0
port = 3307
mysql_user = admin
mysql_password = p@ss;word#1
sys_user = mysql
sys_password = QWer12
sys_port = 22

[target]
host = 172.17.138.181
port = 3307
mysql_user = admin
mysql_password = 123456
sys_user = mysql
sys_password =
sys_port = 22
";

    fn parse(text: &str) -> Result<FlashbackConfig, ConfError> {
        FlashbackConfig::from_ini(&Ini::parse(text, Path::new("dr_flashback.ini"))?)
    }

    #[test]
    fn the_seed_file_reads_unchanged() {
        let cfg = parse(SEED).unwrap();
        assert_eq!(cfg.source.host.as_deref(), Some("172.17.138.0"));
        assert_eq!(cfg.source.port, Some(3307));
        assert_eq!(cfg.source.mysql_user, "admin");
        // configparser keeps `;` and `#` inside a value.
        assert_eq!(cfg.source.mysql_password.as_str(), "p@ss;word#1");
        assert_eq!(cfg.source.sys.user, "mysql");
        assert_eq!(cfg.source.sys.port, 22);
        assert!(cfg.target.sys.password.is_none(), "empty: key only");
        assert_eq!(cfg.connect.config.method, ConnectMethod::Ssh);
        assert_eq!(cfg.snapshot_port, DEFAULT_SNAPSHOT_PORT);
        assert_eq!(cfg.snapshot_margin_percent, 10);
        assert!(cfg.journal_file.is_none());
        let debug = format!("{cfg:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("QWer12"),
            "{debug}"
        );
    }

    #[test]
    fn sections_match_by_name_as_the_seed_does() {
        let text = SEED
            .replace("[source]", "[cluster source prod]")
            .replace("[target]", "[dr-target]");
        let cfg = parse(&text).unwrap();
        assert_eq!(cfg.source.section, "cluster source prod");
        assert_eq!(cfg.target.section, "dr-target");
        let err = parse(&SEED.replace("[target]", "[dr]")).unwrap_err();
        assert!(
            matches!(&err, ConfError::Missing { section, .. } if section == "target"),
            "{err}"
        );
    }

    #[test]
    fn additions_and_their_errors() {
        let text = format!(
            "[misc]\nconnect-method = local\nsnapshot-port = 18100\nsnapshot-margin-percent = 900\n\
             journal-file = /tmp/j.log\n\n{}",
            SEED.replace("sys_port = 22", "sys_port =")
        );
        let cfg = parse(&text).unwrap();
        assert_eq!(cfg.connect.config.method, ConnectMethod::Local);
        assert_eq!(cfg.snapshot_port, 18100);
        assert_eq!(cfg.snapshot_margin_percent, 900);
        assert_eq!(cfg.journal_file.as_deref(), Some(Path::new("/tmp/j.log")));

        // ssh needs a port.
        let err = parse(&SEED.replacen("sys_port = 22", "sys_port =", 1)).unwrap_err();
        assert!(
            matches!(&err, ConfError::Value { section, key, .. } if section == "source" && key == "sys_port"),
            "{err}"
        );
        let err = parse(&SEED.replacen("port = 3307", "port = x", 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dr_flashback.ini: [source] port: \"x\" is not a port number"
        );
        let err = parse(&SEED.replacen("mysql_password = 123456\n", "", 1)).unwrap_err();
        assert!(
            matches!(&err, ConfError::Missing { key, .. } if key == "mysql_password"),
            "{err}"
        );
    }
}
