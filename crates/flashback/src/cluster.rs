//! One cluster as seen through its router: the connection, the
//! dataservers it lists, and their logins (from the router's flushed
//! configuration, read back over the router host's transport).

use crate::verify::Failure;
use remote::{AgentType, Command, Connector, Login, Transport};
use router::{Client, Endpoint};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use topology::{Dataserver, SHOW_DATASERVERS, ServerCredentials};

/// Production or the DR cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The production cluster (`[source]`, `-si`).
    Production,
    /// The DR cluster (`[target]`, `-ti`).
    Dr,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Production => "production",
            Side::Dr => "DR",
        })
    }
}

/// A cluster reached through its router.
pub(crate) struct Cluster {
    pub side: Side,
    pub address: String,
    pub client: Client,
    pub dataservers: Vec<Dataserver>,
    pub credentials: ServerCredentials,
    /// How its hosts are reached (`sys_*`).
    pub login: Login,
}

impl Cluster {
    /// Connects to the router, lists its dataservers and reads their logins.
    pub async fn open(
        side: Side,
        endpoint: &Endpoint,
        login: &Login,
        hosts: &Connector,
        timeouts: (Duration, Duration),
    ) -> Result<Cluster, Failure> {
        let address = endpoint.address();
        let mut client = connect(endpoint, timeouts).await?;
        let rows = client
            .query(SHOW_DATASERVERS)
            .await
            .map_err(|e| statement_failure(&address, SHOW_DATASERVERS, &e))?;
        let dataservers = topology::parse_dataservers(&rows).map_err(|e| Failure::BadAnswer {
            address: address.clone(),
            cause: e.to_string(),
        })?;
        let router_host = host(hosts, &endpoint.host, login)?;
        let credentials = flushed_credentials(&mut client, &*router_host, timeouts.1).await?;
        Ok(Cluster {
            side,
            address,
            client,
            dataservers,
            credentials,
            login: login.clone(),
        })
    }

    /// The dataservers that are MySQL servers of this cluster (not the
    /// `slave_dbscale_server` feeding a DR cluster).
    pub fn servers(&self) -> impl Iterator<Item = &Dataserver> {
        self.dataservers
            .iter()
            .filter(|d| !d.is_slave_dbscale_server())
    }
}

/// A SQL connection within `timeouts.0`, its statements bounded by
/// `timeouts.1`.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    timeouts: (Duration, Duration),
) -> Result<Client, Failure> {
    let mut client =
        Client::connect(endpoint, timeouts.0)
            .await
            .map_err(|e| Failure::SqlUnreachable {
                address: endpoint.address(),
                cause: e.to_string(),
            })?;
    client.set_statement_timeout(Some(timeouts.1));
    Ok(client)
}

/// The transport to `address` with `login`.
pub(crate) fn host(
    hosts: &Connector,
    address: &str,
    login: &Login,
) -> Result<Arc<dyn Transport>, Failure> {
    hosts
        .host(address, login, AgentType::DbInit)
        .map_err(|e| Failure::HostUnreachable {
            host: address.to_owned(),
            transport: hosts.method().to_string(),
            cause: e.to_string(),
        })
}

/// A failed statement, masked.
pub(crate) fn statement_failure(
    address: &str,
    statement: &str,
    e: &router::RouterError,
) -> Failure {
    Failure::Statement {
        address: address.to_owned(),
        statement: router::redact_statement(statement),
        cause: e.to_string(),
    }
}

/// The router writes its configuration (dataserver logins included) into a
/// private directory on its host; it is read back and removed in one
/// command.
async fn flushed_credentials(
    client: &mut Client,
    router_host: &dyn Transport,
    timeout: Duration,
) -> Result<ServerCredentials, Failure> {
    let what = "reading the router's flushed configuration";
    let measure = |cause: String| Failure::Measure {
        host: router_host.host().to_owned(),
        what: what.to_owned(),
        cause,
    };
    // World-writable but not listable: the router may run as another user.
    let make_dir = Command::shell(
        r#"d=$(mktemp -d "${TMPDIR:-/tmp}/dr-flashback.XXXXXXXX") && chmod 733 "$d" && echo "$d""#,
    );
    let out = router_host
        .exec(&make_dir, timeout)
        .await
        .map_err(|e| measure(e.to_string()))?;
    let dir = out.stdout_str().trim().to_owned();
    if !out.success() || dir.is_empty() {
        return Err(measure(out.stderr_str().trim().to_owned()));
    }
    let file = format!("{dir}/dbscale.conf.{}", remote::CommandId::random().0);
    let flushed = client.flush_config_to_file(&file).await;
    let read = Command::new("sh").args([
        "-c",
        r#"cat "$1"; s=$?; rm -rf "$2"; exit $s"#,
        "sh",
        &file,
        &dir,
    ]);
    let out = router_host.exec(&read, timeout).await;
    flushed
        .map_err(|e| statement_failure(client.address(), "dbscale flush all config to file", &e))?;
    let out = out.map_err(|e| measure(e.to_string()))?;
    if !out.success() {
        return Err(measure(out.stderr_str().trim().to_owned()));
    }
    topology::parse_dbscale_conf(&out.stdout_str()).map_err(|e| measure(e.to_string()))
}
