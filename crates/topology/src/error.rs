//! Errors of the router-derived cluster model.

/// Why the router's answers do not make a cluster this tool can back up.
/// Every variant names the statement, column, datasource or server at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A result set lacks a column the parser needs.
    #[error("`{statement}` returned no column `{column}`")]
    MissingColumn {
        /// The statement whose result set it is.
        statement: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// A column holds a value that cannot be parsed.
    #[error("`{statement}`: column `{column}` of {row} is {value:?}, expected {expected}")]
    InvalidValue {
        /// The statement whose result set it is.
        statement: &'static str,
        /// Which row (`server normal_0_0`, `row 3`).
        row: String,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The router reports no replication datasource at all.
    #[error("the router reports no datasource of type replication; there is nothing to back up")]
    NoReplicationDatasource,
    /// `SourceStatus` of a datasource is not `Working`.
    #[error("datasource [{datasource}] is not Working right now (SourceStatus: {status})")]
    DatasourceNotWorking {
        /// The datasource.
        datasource: String,
        /// Its `SourceStatus`.
        status: String,
    },
    /// `MasterSourceStatus` of a datasource is not `Working`.
    #[error("MasterSourceStatus of datasource [{datasource}] is not Working right now ({status})")]
    MasterSourceNotWorking {
        /// The datasource.
        datasource: String,
        /// Its `MasterSourceStatus`.
        status: String,
    },
    /// `MasterServerStatus` of a datasource is not normal.
    #[error(
        "master server {server} of datasource [{datasource}] is not normal right now ({status})"
    )]
    MasterNotNormal {
        /// The datasource.
        datasource: String,
        /// Its master server.
        server: String,
        /// Its `MasterServerStatus`.
        status: String,
    },
    /// A datasource has no `MasterServer` in any of its rows.
    #[error("datasource [{datasource}] has no master server")]
    NoMaster {
        /// The datasource.
        datasource: String,
    },
    /// A datasource's rows name two different masters.
    #[error("datasource [{datasource}] reports two master servers, {first} and {second}")]
    ConflictingMasters {
        /// The datasource.
        datasource: String,
        /// The first master seen.
        first: String,
        /// The other one.
        second: String,
    },
    /// The cluster has MGR datasources, which are not supported.
    #[error("backup of a cluster with MGR datasources is not supported (MGR datasources: {})", .datasources.join(", "))]
    MgrUnsupported {
        /// Names of the MGR datasources (may be empty if the router gave none).
        datasources: Vec<String>,
    },
    /// A non-internal datasource of type server (other than the DR attachment).
    #[error(
        "datasources of type server are not supported: [{datasource}] (server {server}) is not internal"
    )]
    ExternalServerDatasource {
        /// The server datasource.
        datasource: String,
        /// Its server.
        server: String,
    },
    /// Disaster-recovery mode, but the router has no `SlaveDBScale` column.
    #[error(
        "use-disaster-recovery-cluster is set but `dbscale show datasource type=replication` has no SlaveDBScale column; check that this cluster is attached to a disaster-recovery cluster"
    )]
    NoSlaveDbscaleColumn,
    /// Disaster-recovery mode, but no slave source has `SlaveDBScale = Yes`.
    #[error("use-disaster-recovery-cluster is set but no slave source has SlaveDBScale = Yes")]
    NoDrAttachment,
    /// Disaster-recovery mode, and several slave sources have `SlaveDBScale = Yes`.
    #[error("more than one slave source has SlaveDBScale = Yes: {}", .sources.join(", "))]
    SeveralDrAttachments {
        /// The slave sources.
        sources: Vec<String>,
    },
    /// The DR slave source names no server anywhere.
    #[error("the disaster-recovery slave source [{source_name}] names no server")]
    DrServerUnknown {
        /// The slave source.
        source_name: String,
    },
    /// A datasource names a server that `dbscale show dataservers` lacks.
    #[error(
        "server {server} of datasource [{datasource}] is missing from `dbscale show dataservers`"
    )]
    UnknownServer {
        /// The datasource.
        datasource: String,
        /// The server.
        server: String,
    },
    /// A server belongs to two datasources, or a result set lists a name twice.
    #[error("{what} {name} is listed twice")]
    Duplicate {
        /// What kind of thing (`server`, `datasource`).
        what: &'static str,
        /// Its name.
        name: String,
    },
}
