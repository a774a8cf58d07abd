//! Every dataserver of both clusters: normal on its router, answering SQL
//! with its own login, its host answering the transport. What the later
//! checks need from each server is read on the same connection.

use super::{Check, CheckName, Failure};
use crate::cluster::{Cluster, Side, connect, host, statement_failure};
use binlog::gtid::GtidFlavor;
use remote::{Connector, Login};
use router::{Client, Endpoint};
use std::time::Duration;
use topology::{Credential, Dataserver};

/// What one server answered to the checks: its address, GTID flavor and
/// executed set, data directory.
#[derive(Debug, Clone)]
pub(crate) struct ServerAnswer {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub flavor: GtidFlavor,
    /// Executed GTIDs (`@@gtid_current_pos` / `@@gtid_executed`).
    pub gtid: String,
    pub datadir: String,
}

/// A server's line: `name host:port (side)`.
pub(crate) fn subject(side: Side, ds: &Dataserver) -> String {
    format!("{} {} ({side})", ds.name, ds.address())
}

/// Checks every server of `cluster`, all at once.
pub(crate) async fn check_all(
    cluster: &Cluster,
    hosts: &Connector,
    timeouts: (Duration, Duration),
) -> (Vec<Check>, Vec<ServerAnswer>) {
    let runs = cluster.servers().map(|ds| {
        let credential = cluster.credentials.get(&ds.name);
        check_one(
            cluster.side,
            ds,
            credential,
            &cluster.login,
            hosts,
            timeouts,
        )
    });
    let mut checks = Vec::new();
    let mut facts = Vec::new();
    for (check, fact) in futures::future::join_all(runs).await {
        checks.push(check);
        facts.extend(fact);
    }
    (checks, facts)
}

async fn check_one(
    side: Side,
    ds: &Dataserver,
    credential: Option<&Credential>,
    login: &Login,
    hosts: &Connector,
    timeouts: (Duration, Duration),
) -> (Check, Option<ServerAnswer>) {
    let subject = subject(side, ds);
    let result = async {
        if !ds.status.is_normal() {
            return Err(Failure::NotNormal {
                server: ds.name.to_string(),
                status: ds.status.raw().to_owned(),
            });
        }
        let credential = credential.ok_or_else(|| Failure::BadAnswer {
            address: ds.address(),
            cause: format!("the router's configuration has no login for {}", ds.name),
        })?;
        let facts = read_facts(ds, credential, timeouts).await?;
        let transport = host(hosts, &ds.host, login)?;
        transport
            .ping()
            .await
            .map_err(|e| Failure::HostUnreachable {
                host: ds.host.clone(),
                transport: transport.kind().to_owned(),
                cause: e.to_string(),
            })?;
        let detail = format!("{}, SQL and {} answer", ds.status, transport.kind());
        Ok((detail, facts))
    }
    .await;
    match result {
        Ok((detail, facts)) => (
            Check::passed(CheckName::Dataserver, subject, detail),
            Some(facts),
        ),
        Err(failure) => (Check::failed(CheckName::Dataserver, subject, failure), None),
    }
}

async fn read_facts(
    ds: &Dataserver,
    credential: &Credential,
    timeouts: (Duration, Duration),
) -> Result<ServerAnswer, Failure> {
    let address = ds.address();
    let endpoint = Endpoint::new(
        &ds.host,
        ds.port,
        &credential.user,
        credential.password.expose(),
    );
    let mut client = connect(&endpoint, timeouts).await?;
    let version = first_value(&mut client, "SELECT @@version AS v", "v").await?;
    let datadir = first_value(&mut client, "SELECT @@datadir AS d", "d").await?;
    let (flavor, gtid_sql) = if version.contains("MariaDB") {
        (GtidFlavor::Mariadb, "SELECT @@gtid_current_pos AS g")
    } else {
        (GtidFlavor::Mysql, "SELECT @@global.gtid_executed AS g")
    };
    let gtid = first_value(&mut client, gtid_sql, "g").await?;
    if let Err(e) = client.close().await {
        tracing::debug!(%address, error = %e, "closing");
    }
    Ok(ServerAnswer {
        name: ds.name.to_string(),
        host: ds.host.clone(),
        port: ds.port,
        flavor,
        gtid,
        datadir,
    })
}

/// The value of `column` in the first row of `sql`'s answer.
pub(crate) async fn first_value(
    client: &mut Client,
    sql: &str,
    column: &str,
) -> Result<String, Failure> {
    let address = client.address().to_owned();
    let rows = client
        .query(sql)
        .await
        .map_err(|e| statement_failure(&address, sql, &e))?;
    rows.first()
        .and_then(|r| r.column(column))
        .map(|v| v.unwrap_or_default().trim().to_owned())
        .ok_or_else(|| Failure::BadAnswer {
            address,
            cause: format!("{sql} returned no {column}"),
        })
}
