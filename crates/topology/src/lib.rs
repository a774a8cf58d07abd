//! The cluster model of a DBScale-routed MySQL/MariaDB cluster, and
//! everything derived from the router without side effects.
//!
//! * [`Cluster::from_router`] turns the result sets of
//!   `dbscale show datasource type=replication|mgr|server` and
//!   `dbscale show dataservers` ([`RouterTopology`], plain [`Row`]s) into a
//!   typed [`Cluster`], enforcing the validity rules (every datasource
//!   `Working`, masters normal, no MGR, no foreign server datasource unless it
//!   is the disaster-recovery feed).
//! * [`parse_dbscale_conf`] reads dataserver credentials from the router's
//!   flushed configuration (plain or `encode-password = 1`).
//! * [`select`] decides which servers a backup run backs up
//!   (`backup-master`, `backup-slave`, unreachable servers, the last backup's
//!   servers) and whether it can be incremental.
//! * [`StaticTopology`] describes a cluster without a router in TOML.
//! * [`recorded`] parses recorded `mysql` client output into rows.
//!
//! This crate does no I/O; the `router` crate fetches the rows.
//!
//! ```
//! use std::collections::BTreeSet;
//! use topology::{recorded::parse_output, *};
//!
//! let replication = parse_output("
//! | Name     | SourceStatus | MasterSourceStatus | MasterServer | MasterServerStatus | SlaveSource         | SlaveServers | SlaveServerStatus |
//! | normal_0 | Working      | Working            | normal_0_1   | Server normal      | normal_0_normal_0_0 | normal_0_0   | Slave normal      |
//! | normal_0 |              |                    |              |                    | normal_0_normal_0_2 | normal_0_2   | Slave normal      |
//! ");
//! let dataservers = parse_output("
//! | servername | host          | port  | status        |
//! | normal_0_0 | 172.17.134.71 | 16315 | Slave normal  |
//! | normal_0_1 | 172.17.134.76 | 16315 | Server normal |
//! | normal_0_2 | 172.17.134.77 | 16315 | Slave normal  |
//! ");
//! let input = RouterTopology {
//!     replication: ShowOutcome::Rows(replication),
//!     mgr: ShowOutcome::NoDatasourceOfType,
//!     server: ShowOutcome::Rows(vec![]),
//!     dataservers,
//! };
//! let cluster = Cluster::from_router(&input, &ClusterOptions::default())?;
//! assert_eq!(cluster.datasources[0].master, "normal_0_1");
//! assert_eq!(cluster.datasources[0].replicas, ["normal_0_0", "normal_0_2"]);
//!
//! let config = SelectionConfig::from_config_values(Some("0"), Some("1"));
//! let selection = select(&cluster, &config, &BTreeSet::new(), &BackupRequest::Full)?;
//! let chosen: Vec<&str> = selection.to_backup().map(|c| c.server.as_str()).collect();
//! assert_eq!(chosen, ["normal_0_0"]);
//! assert_eq!(
//!     selection.choice("normal_0_1").unwrap().decision,
//!     Decision::Skip(SkipReason::MasterNotWanted),
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cluster;
mod credentials;
mod error;
mod names;
pub mod recorded;
mod row;
mod selection;
mod show;
mod static_source;
mod status;

#[cfg(test)]
mod fixtures;

pub use cluster::{
    Cluster, ClusterOptions, Datasource, DrAttachment, Member, Role, RouterTopology, SlaveSource,
};
pub use credentials::{
    Credential, CredentialsError, Password, ServerCredentials, parse_dbscale_conf,
};
pub use error::TopologyError;
pub use names::{DatasourceName, ServerName};
pub use row::{Row, ShowOutcome};
pub use selection::{
    BackupKind, BackupRequest, Decision, FullReason, Selection, SelectionConfig, SelectionError,
    ServerChoice, SkipReason, SlaveSelection, select,
};
pub use show::{
    Dataserver, SHOW_DATASERVERS, SHOW_MGR, SHOW_REPLICATION, SHOW_SERVER, SLAVE_DBSCALE_SERVER,
    ServerDatasource, parse_dataservers, parse_server_datasources,
};
pub use static_source::{CredentialRef, PasswordSource, StaticTopology, StaticTopologyError};
pub use status::{MasterOnline, ServerStatus, StatusKind};
