//! The cluster model and its construction from the router's answers,
//! applying the seed's validity rules.

use std::collections::BTreeMap;
use std::fmt;

use crate::show::{ReplicationRow, parse_dataservers, parse_server_datasources};
use crate::{
    Dataserver, DatasourceName, Row, ServerName, ServerStatus, ShowOutcome, TopologyError,
};

/// The role of a server in its datasource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// The datasource's master (`MasterServer`).
    Master,
    /// A replica (`SlaveServers`).
    Replica,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Master => "master",
            Role::Replica => "replica",
        })
    }
}

/// A slave source of a replication datasource, as the router lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveSource {
    /// `SlaveSource` (`normal_0_normal_0_0`; may name another datasource in
    /// a cascade, then `server` is `None`).
    pub name: String,
    /// `SlaveSourceStatus`.
    pub status: Option<String>,
    /// `SlaveServers`, if the source is a single server.
    pub server: Option<ServerName>,
    /// `SlaveServerStatus`.
    pub server_status: ServerStatus,
    /// `SlaveExecutedGtidStatus`, if shown.
    pub gtid_status: Option<String>,
    /// `SlaveDBScale = Yes`: this source is a downstream router (the feed of a
    /// disaster-recovery cluster), not a MySQL replica.
    pub slave_dbscale: bool,
}

/// A replication datasource: one master and its replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasource {
    /// `Name`.
    pub name: DatasourceName,
    /// `Type` (`Replication`), if shown.
    pub kind: Option<String>,
    /// `SourceStatus` (`Working`).
    pub status: String,
    /// `LoadBalanceStrategy`, if shown.
    pub load_balance_strategy: Option<String>,
    /// `MasterSource`, if shown.
    pub master_source: Option<String>,
    /// `MasterServer`.
    pub master: ServerName,
    /// `MasterServerStatus`.
    pub master_status: ServerStatus,
    /// The replica servers in router order (the DR feed excluded).
    pub replicas: Vec<ServerName>,
    /// Every slave source in router order, including cascaded datasources
    /// and the DR feed (empty for a static topology).
    pub slave_sources: Vec<SlaveSource>,
}

impl Datasource {
    /// Master first, then the replicas in router order, each with its role:
    /// the order in which the seed walks a datasource's servers.
    pub fn servers(&self) -> impl Iterator<Item = (&ServerName, Role)> {
        std::iter::once((&self.master, Role::Master))
            .chain(self.replicas.iter().map(|r| (r, Role::Replica)))
    }
}

/// The server through which this cluster feeds a disaster-recovery cluster
/// (`SlaveDBScale = Yes`, a non-internal server datasource). It is never
/// backed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrAttachment {
    /// The replication datasource it hangs off (`normal_0`).
    pub datasource: DatasourceName,
    /// The slave source (`slave_dbscale_source`).
    pub source: String,
    /// Its server (`slave_dbscale_server`).
    pub server: ServerName,
    /// Its `dbscale show dataservers` row, if listed.
    pub dataserver: Option<Dataserver>,
}

/// A member server of a cluster with its datasource and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The datasource.
    pub datasource: &'a Datasource,
    /// The server.
    pub server: &'a Dataserver,
    /// Its role.
    pub role: Role,
}

/// A cluster: its replication datasources and their servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The datasources in router order.
    pub datasources: Vec<Datasource>,
    /// Every member server by name (servers of no datasource are dropped).
    pub servers: BTreeMap<ServerName, Dataserver>,
    /// The disaster-recovery feed, when `use-disaster-recovery-cluster` is on.
    pub dr_attachment: Option<DrAttachment>,
}

/// Everything the router says about the cluster, as raw rows: the input of
/// [`Cluster::from_router`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterTopology {
    /// [`SHOW_REPLICATION`](crate::SHOW_REPLICATION).
    pub replication: ShowOutcome,
    /// [`SHOW_MGR`](crate::SHOW_MGR).
    pub mgr: ShowOutcome,
    /// [`SHOW_SERVER`](crate::SHOW_SERVER).
    pub server: ShowOutcome,
    /// [`SHOW_DATASERVERS`](crate::SHOW_DATASERVERS).
    pub dataservers: Vec<Row>,
}

/// Options of [`Cluster::from_router`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `use-disaster-recovery-cluster`: the cluster feeds a DR cluster through
    /// exactly one `SlaveDBScale` slave source, which is then accepted and
    /// excluded instead of refused.
    pub disaster_recovery: bool,
}

fn working(status: &str) -> bool {
    status.is_empty() || status == "Working"
}

impl Cluster {
    /// A cluster from its parts, checking that every master and replica has
    /// a dataserver and belongs to one datasource only. `servers` may hold
    /// extra servers; they are dropped.
    pub fn new(
        datasources: Vec<Datasource>,
        mut servers: BTreeMap<ServerName, Dataserver>,
        dr_attachment: Option<DrAttachment>,
    ) -> Result<Cluster, TopologyError> {
        let mut members = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for ds in &datasources {
            if !seen.insert(ds.name.clone()) {
                return Err(TopologyError::Duplicate {
                    what: "datasource",
                    name: ds.name.to_string(),
                });
            }
            for (name, _) in ds.servers() {
                if members.contains_key(name) {
                    return Err(TopologyError::Duplicate {
                        what: "server",
                        name: name.to_string(),
                    });
                }
                let server = servers
                    .remove(name)
                    .ok_or_else(|| TopologyError::UnknownServer {
                        datasource: ds.name.to_string(),
                        server: name.to_string(),
                    })?;
                members.insert(name.clone(), server);
            }
        }
        Ok(Cluster {
            datasources,
            servers: members,
            dr_attachment,
        })
    }

    /// Builds the cluster from the router's answers, applying the seed's
    /// rules in its order:
    ///
    /// 1. no replication datasource → [`TopologyError::NoReplicationDatasource`];
    /// 2. per replication row: a non-empty `SourceStatus` or
    ///    `MasterSourceStatus` other than `Working`, or a non-empty
    ///    `MasterServerStatus` without the word `normal`, is an error naming
    ///    the datasource (replica statuses are not checked here; selection
    ///    looks at them);
    /// 3. any MGR datasource → [`TopologyError::MgrUnsupported`];
    /// 4. with `disaster_recovery`: the `SlaveDBScale` column must exist and
    ///    exactly one slave source must say `Yes`;
    /// 5. a server datasource with `Is-internal` other than `YES` is refused
    ///    unless it is that DR slave source;
    /// 6. every master and replica must be listed by `dbscale show dataservers`.
    pub fn from_router(
        input: &RouterTopology,
        options: &ClusterOptions,
    ) -> Result<Cluster, TopologyError> {
        let rows = match &input.replication {
            ShowOutcome::NoDatasourceOfType => return Err(TopologyError::NoReplicationDatasource),
            ShowOutcome::Rows(rows) if rows.is_empty() => {
                return Err(TopologyError::NoReplicationDatasource);
            }
            ShowOutcome::Rows(rows) => ReplicationRow::parse_all(rows)?,
        };
        for row in &rows {
            check_replication_row(row)?;
        }
        if let ShowOutcome::Rows(mgr) = &input.mgr {
            let datasources = mgr
                .iter()
                .filter_map(|r| crate::show::optional(r, "Name").map(str::to_owned))
                .collect();
            return Err(TopologyError::MgrUnsupported { datasources });
        }
        let dr_row = if options.disaster_recovery {
            Some(find_dr_row(&rows)?)
        } else {
            None
        };
        let dr_source = dr_row.and_then(|r| r.slave_source.clone());
        let mut dr_server: Option<ServerName> = None;
        for sd in parse_server_datasources(input.server.rows())? {
            if sd.internal {
                continue;
            }
            if dr_source.as_deref() == Some(sd.name.as_str()) {
                dr_server = Some(sd.server);
            } else {
                return Err(TopologyError::ExternalServerDatasource {
                    datasource: sd.name,
                    server: sd.server.to_string(),
                });
            }
        }
        let dr_attachment = match dr_row {
            None => None,
            Some(row) => {
                let server = dr_server
                    .or_else(|| {
                        (!row.slave_servers.is_empty()).then(|| row.slave_servers.as_str().into())
                    })
                    .ok_or_else(|| TopologyError::DrServerUnknown {
                        source_name: dr_source.clone().unwrap_or_default(),
                    })?;
                Some(DrAttachment {
                    datasource: row.name.as_str().into(),
                    source: dr_source.clone().unwrap_or_default(),
                    server,
                    dataserver: None,
                })
            }
        };
        let datasources = group_datasources(&rows, dr_attachment.as_ref())?;
        let mut servers = BTreeMap::new();
        for server in parse_dataservers(&input.dataservers)? {
            let name = server.name.clone();
            if servers.insert(name.clone(), server).is_some() {
                return Err(TopologyError::Duplicate {
                    what: "server",
                    name: name.to_string(),
                });
            }
        }
        let dr_attachment = dr_attachment.map(|mut dr| {
            dr.dataserver = servers.get(&dr.server).cloned();
            dr
        });
        Cluster::new(datasources, servers, dr_attachment)
    }

    /// A datasource by name.
    pub fn datasource(&self, name: &str) -> Option<&Datasource> {
        self.datasources.iter().find(|d| d.name == name)
    }

    /// A member server by name.
    pub fn server(&self, name: &str) -> Option<&Dataserver> {
        self.servers.get(name)
    }

    /// The datasource a member server belongs to, with its role there.
    pub fn datasource_of(&self, server: &str) -> Option<(&Datasource, Role)> {
        self.datasources.iter().find_map(|d| {
            d.servers()
                .find(|(name, _)| *name == server)
                .map(|(_, role)| (d, role))
        })
    }

    /// Whether `server` is the master of its datasource.
    pub fn is_master(&self, server: &str) -> bool {
        self.datasources.iter().any(|d| d.master == server)
    }

    /// Every member server, datasource by datasource, master first (the
    /// seed's `curr_server_list` order).
    pub fn members(&self) -> impl Iterator<Item = Member<'_>> {
        self.datasources.iter().flat_map(move |ds| {
            ds.servers().filter_map(move |(name, role)| {
                self.servers.get(name).map(|server| Member {
                    datasource: ds,
                    server,
                    role,
                })
            })
        })
    }
}

fn check_replication_row(row: &ReplicationRow) -> Result<(), TopologyError> {
    if !working(&row.source_status) {
        return Err(TopologyError::DatasourceNotWorking {
            datasource: row.name.clone(),
            status: row.source_status.clone(),
        });
    }
    if !working(&row.master_source_status) {
        return Err(TopologyError::MasterSourceNotWorking {
            datasource: row.name.clone(),
            status: row.master_source_status.clone(),
        });
    }
    if !row.master_server_status.is_empty()
        && !ServerStatus::parse(&row.master_server_status).is_normal()
    {
        return Err(TopologyError::MasterNotNormal {
            datasource: row.name.clone(),
            server: row.master_server.clone(),
            status: row.master_server_status.clone(),
        });
    }
    Ok(())
}

fn find_dr_row(rows: &[ReplicationRow]) -> Result<&ReplicationRow, TopologyError> {
    if rows.iter().any(|r| r.slave_dbscale.is_none()) {
        return Err(TopologyError::NoSlaveDbscaleColumn);
    }
    let yes: Vec<&ReplicationRow> = rows.iter().filter(|r| r.is_slave_dbscale()).collect();
    match yes.as_slice() {
        [] => Err(TopologyError::NoDrAttachment),
        [one] => Ok(one),
        several => Err(TopologyError::SeveralDrAttachments {
            sources: several
                .iter()
                .map(|r| r.slave_source.clone().unwrap_or_default())
                .collect(),
        }),
    }
}

fn group_datasources(
    rows: &[ReplicationRow],
    dr: Option<&DrAttachment>,
) -> Result<Vec<Datasource>, TopologyError> {
    // (datasource, master name as seen so far)
    let mut building: Vec<(Datasource, Option<String>)> = Vec::new();
    for row in rows {
        let index = match building
            .iter()
            .position(|(d, _)| d.name == row.name.as_str())
        {
            Some(i) => i,
            None => {
                building.push((
                    Datasource {
                        name: row.name.as_str().into(),
                        kind: None,
                        status: String::new(),
                        load_balance_strategy: None,
                        master_source: None,
                        master: ServerName::new(""),
                        master_status: ServerStatus::parse(""),
                        replicas: Vec::new(),
                        slave_sources: Vec::new(),
                    },
                    None,
                ));
                building.len() - 1
            }
        };
        let (ds, master) = &mut building[index];
        if !row.master_server.is_empty() {
            match master {
                Some(first) if *first != row.master_server => {
                    return Err(TopologyError::ConflictingMasters {
                        datasource: row.name.clone(),
                        first: first.clone(),
                        second: row.master_server.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    *master = Some(row.master_server.clone());
                    ds.master = row.master_server.as_str().into();
                    ds.master_status = ServerStatus::parse(&row.master_server_status);
                    ds.kind = row.kind.clone();
                    ds.status = row.source_status.clone();
                    ds.load_balance_strategy = row.load_balance_strategy.clone();
                    ds.master_source = row.master_source.clone();
                }
            }
        }
        if row.slave_source.is_none() && row.slave_servers.is_empty() {
            continue;
        }
        let server = (!row.slave_servers.is_empty()).then(|| ServerName::new(&row.slave_servers));
        let is_dr = dr.is_some_and(|dr| {
            row.slave_source.as_deref() == Some(dr.source.as_str())
                || server.as_ref() == Some(&dr.server)
        });
        if let (Some(server), false) = (&server, is_dr) {
            ds.replicas.push(server.clone());
        }
        ds.slave_sources.push(SlaveSource {
            name: row.slave_source.clone().unwrap_or_default(),
            status: row.slave_source_status.clone(),
            server,
            server_status: ServerStatus::parse(&row.slave_server_status),
            gtid_status: row.slave_gtid_status.clone(),
            slave_dbscale: row.is_slave_dbscale(),
        });
    }
    building
        .into_iter()
        .map(|(ds, master)| match master {
            Some(_) => Ok(ds),
            None => Err(TopologyError::NoMaster {
                datasource: ds.name.to_string(),
            }),
        })
        .collect()
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
