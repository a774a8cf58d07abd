//! A static topology for clusters without a router: a TOML file listing the
//! datasources, their servers and where their MySQL credentials come from.
//!
//! # Format
//!
//! ```
//! use topology::{PasswordSource, StaticTopology};
//!
//! let text = r#"
//! ## Named credential sets. "default" applies to every server that names none.
//! ## A set has a user and at most one password source: `password_env` (an
//! ## environment variable), `password_file` (a file holding the password) or
//! ## `password` (inline; discouraged). None means an empty password.
//! [credentials.default]
//! user = "dbscale_internal"
//! password_env = "DBBACKUP_MYSQL_PASSWORD"
//!
//! [credentials.legacy]
//! user = "root"
//! password_file = "/etc/dbbackup/legacy.pass"
//!
//! ## One table per datasource, in the order backups walk them.
//! [[datasource]]
//! name = "normal_0"
//! ## credentials = "legacy"        # optional, for all its servers
//! servers = [
//!   ## role is "master" (exactly one per datasource) or "replica";
//!   ## status defaults to "Server normal" / "Slave normal" by role.
//!   { name = "normal_0_0", host = "127.0.0.11", port = 16315, role = "master" },
//!   { name = "normal_0_1", host = "127.0.0.12", port = 16315, role = "replica" },
//!   { name = "normal_0_2", host = "127.0.0.13", port = 16315, role = "replica", credentials = "legacy" },
//! ]
//!
//! [[datasource]]
//! name = "normal_1"
//!
//! [[datasource.servers]]          # the array-of-tables spelling works too
//! name = "normal_1_0"
//! host = "127.0.0.14"
//! port = 16315
//! role = "master"
//! "#;
//! let topo = StaticTopology::from_toml_str(text).unwrap();
//! assert_eq!(topo.cluster.datasources.len(), 2);
//! assert_eq!(topo.cluster.datasource("normal_0").unwrap().master, "normal_0_0");
//! let cred = &topo.credentials["normal_0_2"];
//! assert_eq!((cred.set.as_str(), cred.user.as_str()), ("legacy", "root"));
//! assert!(matches!(cred.password, PasswordSource::File(_)));
//! assert!(matches!(topo.credentials["normal_1_0"].password, PasswordSource::Env(_)));
//! ```
//!
//! Reading the environment variable or password file is the caller's
//! business; this module does no I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::{
    Cluster, Dataserver, Datasource, MasterOnline, Password, Role, ServerName, ServerStatus,
    StatusKind, TopologyError,
};

/// Where a password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password (empty).
    None,
    /// Written in the file.
    Inline(Password),
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file (trailing newline removed by the reader).
    File(PathBuf),
}

/// The credentials a static topology gives a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRef {
    /// Name of the credential set.
    pub set: String,
    /// MySQL user.
    pub user: String,
    /// Where the password comes from.
    pub password: PasswordSource,
}

/// A cluster described by a TOML file, with per-server credential references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticTopology {
    /// The cluster.
    pub cluster: Cluster,
    /// Credentials per server (servers with no set and no `default` set are
    /// absent).
    pub credentials: BTreeMap<ServerName, CredentialRef>,
}

/// Why a static topology file is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticTopologyError {
    /// Not valid TOML, or not this format (the message has line and column).
    #[error("static topology: {0}")]
    Toml(String),
    /// No `[[datasource]]`.
    #[error("static topology: no [[datasource]]")]
    NoDatasource,
    /// A datasource without exactly one master.
    #[error("static topology: datasource {datasource} has {count} masters, expected exactly one")]
    MasterCount {
        /// The datasource.
        datasource: String,
        /// How many `role = "master"` servers it has.
        count: usize,
    },
    /// A `credentials = "..."` naming no `[credentials.NAME]`.
    #[error(
        "static topology: {used_by} uses credentials {name:?}, which [credentials] does not define"
    )]
    UnknownCredentials {
        /// The set name.
        name: String,
        /// The server or datasource using it.
        used_by: String,
    },
    /// A credential set with more than one password source.
    #[error(
        "static topology: [credentials.{set}] has more than one of password, password_env, password_file"
    )]
    SeveralPasswordSources {
        /// The set.
        set: String,
    },
    /// A structural problem (duplicate server or datasource).
    #[error("static topology: {0}")]
    Topology(#[from] TopologyError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    credentials: BTreeMap<String, CredentialSet>,
    #[serde(default)]
    datasource: Vec<DatasourceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialSet {
    user: String,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasourceEntry {
    name: String,
    credentials: Option<String>,
    #[serde(default)]
    servers: Vec<ServerEntry>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RoleEntry {
    Master,
    Replica,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    name: String,
    host: String,
    port: u16,
    role: RoleEntry,
    status: Option<String>,
    credentials: Option<String>,
}

impl StaticTopology {
    /// Parses and checks a static topology file's text.
    pub fn from_toml_str(text: &str) -> Result<StaticTopology, StaticTopologyError> {
        let file: File =
            toml::from_str(text).map_err(|e| StaticTopologyError::Toml(e.to_string()))?;
        if file.datasource.is_empty() {
            return Err(StaticTopologyError::NoDatasource);
        }
        let sets = credential_sets(file.credentials)?;
        let mut datasources = Vec::new();
        let mut servers = BTreeMap::new();
        let mut credentials = BTreeMap::new();
        for entry in file.datasource {
            let masters: Vec<&ServerEntry> = entry
                .servers
                .iter()
                .filter(|s| s.role == RoleEntry::Master)
                .collect();
            let [master] = masters.as_slice() else {
                return Err(StaticTopologyError::MasterCount {
                    datasource: entry.name,
                    count: masters.len(),
                });
            };
            let master_name = ServerName::new(&master.name);
            let mut replicas = Vec::new();
            for s in &entry.servers {
                let name = ServerName::new(&s.name);
                if s.role == RoleEntry::Replica {
                    replicas.push(name.clone());
                }
                if let Some(set) = server_credentials(&sets, s, &entry)? {
                    credentials.insert(name.clone(), set);
                }
                if servers.insert(name.clone(), dataserver(s)).is_some() {
                    return Err(TopologyError::Duplicate {
                        what: "server",
                        name: name.to_string(),
                    }
                    .into());
                }
            }
            datasources.push(Datasource {
                name: entry.name.as_str().into(),
                kind: Some("Replication".to_owned()),
                status: "Working".to_owned(),
                load_balance_strategy: None,
                master_source: None,
                master_status: servers[&master_name].status.clone(),
                master: master_name,
                replicas,
                slave_sources: Vec::new(),
            });
        }
        Ok(StaticTopology {
            cluster: Cluster::new(datasources, servers, None)?,
            credentials,
        })
    }
}

/// The file's named credential sets, each with at most one password source.
fn credential_sets(
    sets: BTreeMap<String, CredentialSet>,
) -> Result<BTreeMap<String, CredentialRef>, StaticTopologyError> {
    sets.into_iter()
        .map(|(name, set)| {
            let password = match (set.password, set.password_env, set.password_file) {
                (None, None, None) => PasswordSource::None,
                (Some(p), None, None) => PasswordSource::Inline(Password::new(p)),
                (None, Some(var), None) => PasswordSource::Env(var),
                (None, None, Some(path)) => PasswordSource::File(path),
                _ => return Err(StaticTopologyError::SeveralPasswordSources { set: name }),
            };
            Ok((
                name.clone(),
                CredentialRef {
                    set: name,
                    user: set.user,
                    password,
                },
            ))
        })
        .collect()
}

/// A server's credential set: its own, else its datasource's, else the set
/// named `default` if there is one; a name that is not a set is an error
/// naming who used it.
fn server_credentials(
    sets: &BTreeMap<String, CredentialRef>,
    s: &ServerEntry,
    entry: &DatasourceEntry,
) -> Result<Option<CredentialRef>, StaticTopologyError> {
    let lookup = |name: &str, used_by: String| {
        sets.get(name)
            .cloned()
            .ok_or_else(|| StaticTopologyError::UnknownCredentials {
                name: name.to_owned(),
                used_by,
            })
    };
    Ok(match (&s.credentials, &entry.credentials) {
        (Some(set), _) => Some(lookup(set, format!("server {}", s.name))?),
        (None, Some(set)) => Some(lookup(set, format!("datasource {}", entry.name))?),
        (None, None) => sets.get("default").cloned(),
    })
}

/// The dataserver a server entry describes: a master online, or a
/// replica, normal unless its `status` says otherwise.
fn dataserver(s: &ServerEntry) -> Dataserver {
    let role = match s.role {
        RoleEntry::Master => Role::Master,
        RoleEntry::Replica => Role::Replica,
    };
    Dataserver {
        name: ServerName::new(&s.name),
        host: s.host.clone(),
        port: s.port,
        username: None,
        status: match (&s.status, role) {
            (Some(text), _) => ServerStatus::parse(text),
            (None, Role::Master) => ServerStatus::of_kind(StatusKind::ServerNormal),
            (None, Role::Replica) => ServerStatus::of_kind(StatusKind::SlaveNormal),
        },
        master_online: Some(match role {
            Role::Master => MasterOnline::MasterOnline,
            Role::Replica => MasterOnline::NotAMaster,
        }),
        master_backup: None,
        remote_user: None,
        remote_port: None,
        master_priority: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StaticTopology, StaticTopologyError> {
        StaticTopology::from_toml_str(text)
    }

    const ONE: &str = r#"
        [[datasource]]
        name = "d"
        servers = [
          { name = "m", host = "h1", port = 1, role = "master" },
          { name = "r", host = "h2", port = 2, role = "replica", status = "Slave abnormal" },
        ]
    "#;

    #[test]
    fn defaults_without_credentials() {
        let t = parse(ONE).unwrap();
        assert!(t.credentials.is_empty());
        let c = &t.cluster;
        assert_eq!(c.datasources[0].replicas, ["r"]);
        assert_eq!(
            c.server("m").unwrap().status.kind(),
            StatusKind::ServerNormal
        );
        assert_eq!(c.server("r").unwrap().status.kind(), StatusKind::Abnormal);
        assert_eq!(
            c.server("r").unwrap().master_online,
            Some(MasterOnline::NotAMaster)
        );
        assert_eq!(c.datasources[0].status, "Working");
        assert!(c.dr_attachment.is_none());
    }

    #[test]
    fn credential_sets_inline_and_datasource_level() {
        let t = parse(&format!(
            "[credentials.a]\nuser = \"u\"\npassword = \"pw\"\n[credentials.none]\nuser = \"v\"\n{}",
            ONE.replace("name = \"d\"", "name = \"d\"\ncredentials = \"a\"")
        ))
        .unwrap();
        assert_eq!(
            t.credentials["m"].password,
            PasswordSource::Inline(Password::new("pw"))
        );
        assert_eq!(t.credentials["r"].set, "a");
        let t = parse(&format!("[credentials.default]\nuser = \"v\"\n{ONE}")).unwrap();
        assert_eq!(t.credentials["m"].password, PasswordSource::None);
    }

    #[test]
    fn errors() {
        let err = |text: &str| parse(text).unwrap_err();
        assert_eq!(err(""), StaticTopologyError::NoDatasource);
        assert!(matches!(
            err("[[datasource]]\nname = 1"),
            StaticTopologyError::Toml(_)
        ));
        assert!(matches!(
            err(&ONE.replace("role = \"replica\"", "role = \"slave\"")),
            StaticTopologyError::Toml(_)
        ));
        assert!(matches!(
            err(&ONE.replace("port = 2", "port = 2, colour = \"red\"")),
            StaticTopologyError::Toml(m) if m.contains("colour")
        ));
        assert_eq!(
            err(&ONE.replace("\"replica\"", "\"master\"")),
            StaticTopologyError::MasterCount {
                datasource: "d".into(),
                count: 2
            }
        );
        assert_eq!(
            err("[[datasource]]\nname = \"e\""),
            StaticTopologyError::MasterCount {
                datasource: "e".into(),
                count: 0
            }
        );
        let e = err(&ONE.replace("port = 2,", "port = 2, credentials = \"x\","));
        assert_eq!(
            e,
            StaticTopologyError::UnknownCredentials {
                name: "x".into(),
                used_by: "server r".into()
            }
        );
        let e = err(&ONE.replace("name = \"d\"", "name = \"d\"\ncredentials = \"y\""));
        assert!(
            e.to_string()
                .contains("datasource d uses credentials \"y\""),
            "{e}"
        );
        assert_eq!(
            err(&format!(
                "[credentials.default]\nuser = \"u\"\npassword = \"a\"\npassword_env = \"B\"\n{ONE}"
            )),
            StaticTopologyError::SeveralPasswordSources {
                set: "default".into()
            }
        );
        assert_eq!(
            err(&ONE.replace("name = \"r\"", "name = \"m\"")),
            StaticTopologyError::Topology(TopologyError::Duplicate {
                what: "server",
                name: "m".into()
            })
        );
        let two = format!(
            "{ONE}{}",
            ONE.replace("\"m\"", "\"m2\"").replace("\"r\"", "\"r2\"")
        );
        assert_eq!(
            err(&two),
            StaticTopologyError::Topology(TopologyError::Duplicate {
                what: "datasource",
                name: "d".into()
            })
        );
    }
}
