//! The router's admin statements and parsers for their result sets.

use crate::{MasterOnline, Row, ServerName, ServerStatus, TopologyError};

/// `dbscale show datasource type=replication`.
pub const SHOW_REPLICATION: &str = "dbscale show datasource type=replication";
/// `dbscale show datasource type=mgr`.
pub const SHOW_MGR: &str = "dbscale show datasource type=mgr";
/// `dbscale show datasource type=server`.
pub const SHOW_SERVER: &str = "dbscale show datasource type=server";
/// `dbscale show dataservers`.
pub const SHOW_DATASERVERS: &str = "dbscale show dataservers";
/// Name of the dataserver through which a production cluster feeds its
/// disaster-recovery cluster (dr-flashback adds it; it is not a MySQL server
/// of this cluster).
pub const SLAVE_DBSCALE_SERVER: &str = "slave_dbscale_server";

/// A required column's text (`NULL` reads as empty, as the seed treats it).
pub(crate) fn required<'r>(
    row: &'r Row,
    statement: &'static str,
    column: &'static str,
) -> Result<&'r str, TopologyError> {
    row.column(column)
        .map(|v| v.unwrap_or("").trim())
        .ok_or(TopologyError::MissingColumn { statement, column })
}

/// An optional column's text: `None` when absent, `NULL` or empty.
pub(crate) fn optional<'r>(row: &'r Row, column: &str) -> Option<&'r str> {
    row.column(column)
        .flatten()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn parse_number<T: std::str::FromStr>(
    value: &str,
    statement: &'static str,
    row: &str,
    column: &'static str,
    expected: &'static str,
) -> Result<T, TopologyError> {
    value.parse().map_err(|_| TopologyError::InvalidValue {
        statement,
        row: row.to_owned(),
        column,
        value: value.to_owned(),
        expected,
    })
}

/// One row of `dbscale show dataservers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataserver {
    /// `servername`.
    pub name: ServerName,
    /// `host`.
    pub host: String,
    /// `port`.
    pub port: u16,
    /// `username` (the router's login to the server), if shown.
    pub username: Option<String>,
    /// `status`.
    pub status: ServerStatus,
    /// `master-online-status` (absent in older routers' output).
    pub master_online: Option<MasterOnline>,
    /// `master_backup`, if shown.
    pub master_backup: Option<String>,
    /// `remote_user` (ssh user the router knows), empty for
    /// `slave_dbscale_server`.
    pub remote_user: Option<String>,
    /// `remote_port` (ssh port), empty for `slave_dbscale_server`.
    pub remote_port: Option<u16>,
    /// `master_priority`, if shown.
    pub master_priority: Option<i64>,
}

impl Dataserver {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Whether this is the `slave_dbscale_server` that feeds a DR cluster.
    pub fn is_slave_dbscale_server(&self) -> bool {
        self.name == SLAVE_DBSCALE_SERVER
    }

    fn from_row(row: &Row, index: usize) -> Result<Self, TopologyError> {
        const S: &str = SHOW_DATASERVERS;
        let name = required(row, S, "servername")?;
        let label = format!("server {name}");
        let port = parse_number(required(row, S, "port")?, S, &label, "port", "a TCP port")?;
        let remote_port = optional(row, "remote_port")
            .map(|p| parse_number(p, S, &label, "remote_port", "a TCP port"))
            .transpose()?;
        let master_priority = optional(row, "master_priority")
            .map(|p| parse_number(p, S, &label, "master_priority", "an integer"))
            .transpose()?;
        if name.is_empty() {
            return Err(TopologyError::InvalidValue {
                statement: S,
                row: format!("row {}", index + 1),
                column: "servername",
                value: String::new(),
                expected: "a server name",
            });
        }
        Ok(Dataserver {
            name: name.into(),
            host: required(row, S, "host")?.to_owned(),
            port,
            username: optional(row, "username").map(str::to_owned),
            status: ServerStatus::parse(required(row, S, "status")?),
            master_online: optional(row, "master-online-status").map(MasterOnline::parse),
            master_backup: optional(row, "master_backup").map(str::to_owned),
            remote_user: optional(row, "remote_user").map(str::to_owned),
            remote_port,
            master_priority,
        })
    }
}

/// Parses `dbscale show dataservers` (with or without the
/// `master-online-status` column). Required columns: `servername`, `host`,
/// `port`, `status`.
pub fn parse_dataservers(rows: &[Row]) -> Result<Vec<Dataserver>, TopologyError> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| Dataserver::from_row(row, i))
        .collect()
}

/// One row of `dbscale show datasource type=server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDatasource {
    /// `Name` of the server datasource (`normal_0_normal_0_0`).
    pub name: String,
    /// `Server`.
    pub server: ServerName,
    /// `ServerHostInfo` (`host:port`), if shown.
    pub host_info: Option<String>,
    /// `ServerStatus`, if shown.
    pub server_status: Option<ServerStatus>,
    /// `SourceStatus`, if shown.
    pub source_status: Option<String>,
    /// `Is-internal` is `YES`: the router made this datasource for a member
    /// of a replication datasource.
    pub internal: bool,
}

/// Parses `dbscale show datasource type=server`. Required columns: `Name`,
/// `Server`, `Is-internal`.
pub fn parse_server_datasources(rows: &[Row]) -> Result<Vec<ServerDatasource>, TopologyError> {
    const S: &str = SHOW_SERVER;
    rows.iter()
        .map(|row| {
            Ok(ServerDatasource {
                name: required(row, S, "Name")?.to_owned(),
                server: required(row, S, "Server")?.into(),
                host_info: optional(row, "ServerHostInfo").map(str::to_owned),
                server_status: optional(row, "ServerStatus").map(ServerStatus::parse),
                source_status: optional(row, "SourceStatus").map(str::to_owned),
                internal: required(row, S, "Is-internal")? == "YES",
            })
        })
        .collect()
}

/// One row of `dbscale show datasource type=replication`. A datasource with
/// several slave sources spans several rows; continuation rows repeat only
/// `Name` and the slave columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicationRow {
    pub name: String,
    pub kind: Option<String>,
    pub source_status: String,
    pub load_balance_strategy: Option<String>,
    pub master_source: Option<String>,
    pub master_source_status: String,
    pub master_server: String,
    pub master_server_status: String,
    pub slave_source: Option<String>,
    pub slave_source_status: Option<String>,
    pub slave_servers: String,
    pub slave_server_status: String,
    pub slave_gtid_status: Option<String>,
    /// `SlaveDBScale`: `None` when the column is absent.
    pub slave_dbscale: Option<String>,
}

impl ReplicationRow {
    pub(crate) fn parse_all(rows: &[Row]) -> Result<Vec<Self>, TopologyError> {
        const S: &str = SHOW_REPLICATION;
        rows.iter()
            .map(|row| {
                Ok(ReplicationRow {
                    name: required(row, S, "Name")?.to_owned(),
                    kind: optional(row, "Type").map(str::to_owned),
                    source_status: required(row, S, "SourceStatus")?.to_owned(),
                    load_balance_strategy: optional(row, "LoadBalanceStrategy").map(str::to_owned),
                    master_source: optional(row, "MasterSource").map(str::to_owned),
                    master_source_status: required(row, S, "MasterSourceStatus")?.to_owned(),
                    master_server: required(row, S, "MasterServer")?.to_owned(),
                    master_server_status: required(row, S, "MasterServerStatus")?.to_owned(),
                    slave_source: optional(row, "SlaveSource").map(str::to_owned),
                    slave_source_status: optional(row, "SlaveSourceStatus").map(str::to_owned),
                    slave_servers: required(row, S, "SlaveServers")?.to_owned(),
                    slave_server_status: required(row, S, "SlaveServerStatus")?.to_owned(),
                    slave_gtid_status: optional(row, "SlaveExecutedGtidStatus").map(str::to_owned),
                    slave_dbscale: row
                        .column("SlaveDBScale")
                        .map(|v| v.unwrap_or("").trim().to_owned()),
                })
            })
            .collect()
    }

    /// Whether `SlaveDBScale` says `Yes`.
    pub(crate) fn is_slave_dbscale(&self) -> bool {
        self.slave_dbscale
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatusKind;
    use crate::fixtures::*;

    #[test]
    fn seed000_dataservers_table() {
        let servers = parse_dataservers(&rows(SEED000_DATASERVERS)).unwrap();
        let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["normal_0_0", "normal_0_1", "normal_0_2"]);
        let m = &servers[1];
        assert_eq!(m.address(), "172.17.134.76:16315");
        assert_eq!(m.username.as_deref(), Some("dbscale_internal"));
        assert_eq!(m.status.kind(), StatusKind::ServerNormal);
        assert_eq!(m.master_online, Some(MasterOnline::MasterOnline));
        assert_eq!(m.master_backup.as_deref(), Some("1"));
        assert_eq!(m.remote_user.as_deref(), Some("root"));
        assert_eq!(m.remote_port, Some(22));
        assert_eq!(m.master_priority, Some(50));
        assert_eq!(servers[0].master_priority, Some(100));
        assert_eq!(servers[0].master_online, Some(MasterOnline::NotAMaster));
        assert!(servers[0].status.is_slave_normal());
        assert!(!m.is_slave_dbscale_server());
    }

    #[test]
    fn seed000_example_dataservers_without_master_online_column() {
        let servers = parse_dataservers(&rows(SEED000_EXAMPLE_DATASERVERS)).unwrap();
        assert_eq!(servers.len(), 5);
        assert!(servers.iter().all(|s| s.master_online.is_none()));
        assert_eq!(servers[0].name, "auth_server");
        assert_eq!(servers[2].port, 13003);
        assert_eq!(servers[0].username.as_deref(), Some("root"));
        assert_eq!(servers[0].master_priority, Some(0));
    }

    #[test]
    fn seed002_production_dataservers_with_slave_dbscale_server() {
        let servers = parse_dataservers(&rows(SEED002_PROD_DATASERVERS)).unwrap();
        assert_eq!(servers.len(), 4);
        let feed = &servers[3];
        assert!(feed.is_slave_dbscale_server());
        assert_eq!(feed.address(), "172.17.138.181:3307");
        assert_eq!(feed.remote_user, None);
        assert_eq!(feed.remote_port, None);
        assert_eq!(feed.status.kind(), StatusKind::SlaveNormal);
        assert!(!feed.status.is_down());
        let master: Vec<&str> = servers
            .iter()
            .filter(|s| s.master_online == Some(MasterOnline::MasterOnline))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(master, ["database_3"]);
    }

    #[test]
    fn seed002_dr_and_later_dataservers() {
        let dr = parse_dataservers(&rows(SEED002_DR_DATASERVERS)).unwrap();
        assert_eq!(dr.len(), 3);
        assert_eq!(dr[0].address(), "172.17.138.182:3308");
        assert_eq!(dr[0].master_online, Some(MasterOnline::MasterOnline));
        assert!(dr.iter().all(|s| !s.is_slave_dbscale_server()));
        let later = parse_dataservers(&rows(SEED002_DATASERVERS_AFTER_DISABLE)).unwrap();
        assert_eq!(later[2].name, "database_3");
        assert_eq!(later[2].status.kind(), StatusKind::ServerNormal);
        assert_eq!(later[0].remote_port, Some(22));
    }

    #[test]
    fn seed000_server_datasources() {
        let sds = parse_server_datasources(&rows(SEED000_SERVER_DATASOURCES)).unwrap();
        assert_eq!(sds.len(), 3);
        assert!(sds.iter().all(|s| s.internal));
        assert_eq!(sds[1].name, "normal_0_normal_0_1");
        assert_eq!(sds[1].server, "normal_0_1");
        assert_eq!(sds[1].host_info.as_deref(), Some("172.17.134.76:16315"));
        assert_eq!(sds[1].source_status.as_deref(), Some("Working"));
        assert_eq!(
            sds[1].server_status.as_ref().map(ServerStatus::kind),
            Some(StatusKind::ServerNormal)
        );
    }

    #[test]
    fn missing_columns_name_column_and_statement() {
        let mut r = rows(SEED000_DATASERVERS);
        r[0].remove("port");
        let err = parse_dataservers(&r).unwrap_err();
        assert_eq!(
            err,
            crate::TopologyError::MissingColumn {
                statement: SHOW_DATASERVERS,
                column: "port"
            }
        );
        assert_eq!(
            err.to_string(),
            "`dbscale show dataservers` returned no column `port`"
        );
        let mut s = rows(SEED000_SERVER_DATASOURCES);
        s[2].remove("Is-internal");
        assert!(matches!(
            parse_server_datasources(&s),
            Err(crate::TopologyError::MissingColumn {
                column: "Is-internal",
                ..
            })
        ));
    }

    #[test]
    fn invalid_numbers_name_the_server() {
        for (column, value) in [
            ("port", "abc"),
            ("remote_port", "70000"),
            ("master_priority", "high"),
        ] {
            let mut r = rows(SEED000_DATASERVERS);
            r[1].set(column, Some(value));
            let err = parse_dataservers(&r).unwrap_err();
            assert!(
                err.to_string().contains("server normal_0_1") && err.to_string().contains(column),
                "{err}"
            );
        }
        let mut r = rows(SEED000_DATASERVERS);
        r[2].set("servername", Some(""));
        assert!(
            parse_dataservers(&r)
                .unwrap_err()
                .to_string()
                .contains("row 3")
        );
    }
}
