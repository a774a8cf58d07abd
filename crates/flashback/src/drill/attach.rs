//! The DR cluster's link in production: removed by `start` (the seed's
//! `remove_secondary_cluster`), added back by `stop` (its
//! `add_back_cluster`), each doing nothing when already so.

use super::StepFailure;
use crate::Settings;
use router::{Client, Endpoint};
use topology::{SHOW_DATASERVERS, SLAVE_DBSCALE_SERVER};

/// The production datasource the DR cluster hangs off.
pub(crate) async fn attached_to(production: &mut Client) -> Result<String, StepFailure> {
    let topo = production.fetch_topology(None).await?;
    let options = topology::ClusterOptions {
        disaster_recovery: true,
    };
    let cluster =
        topology::Cluster::from_router(&topo, &options).map_err(|e| StepFailure::BadAnswer {
            what: "production's topology".to_owned(),
            detail: e.to_string(),
        })?;
    cluster
        .dr_attachment
        .map(|a| a.datasource.to_string())
        .ok_or(StepFailure::NotAttached)
}

async fn attached(production: &mut Client) -> Result<bool, StepFailure> {
    let rows = production.query(SHOW_DATASERVERS).await?;
    let servers = topology::parse_dataservers(&rows).map_err(|e| StepFailure::BadAnswer {
        what: SHOW_DATASERVERS.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(servers.iter().any(|s| s.is_slave_dbscale_server()))
}

/// Removes `slave_dbscale_source` and `slave_dbscale_server` from production.
pub(crate) async fn detach(production: &mut Client) -> Result<(), StepFailure> {
    if !attached(production).await? {
        return Ok(());
    }
    production
        .execute("dbscale dynamic remove datasource slave_dbscale_source")
        .await?;
    production
        .execute(&format!(
            "dbscale dynamic remove dataserver {SLAVE_DBSCALE_SERVER}"
        ))
        .await?;
    Ok(())
}

/// Adds the DR router back as `slave_dbscale_server` under `datasource`,
/// with a group id from production's master router.
pub(crate) async fn attach(
    settings: &Settings,
    production: &mut Client,
    datasource: &str,
) -> Result<(), StepFailure> {
    if attached(production).await? {
        return Ok(());
    }
    let group = next_group_id(settings, production).await?;
    let target = &settings.config.target;
    let password = target.mysql_password.as_str();
    if password.contains(['"', '\\']) {
        return Err(StepFailure::UnquotablePassword);
    }
    production
        .execute(&format!(
            "dbscale dynamic ADD DATASERVER server_name={SLAVE_DBSCALE_SERVER},server_host=\"{}\",\
             server_port={},server_user=\"{}\",server_password=\"{password}\",dbscale_server",
            settings.dr.host, settings.dr.port, target.mysql_user
        ))
        .await?;
    production
        .execute(&format!(
            "dbscale dynamic add server datasource slave_dbscale_source \
             {SLAVE_DBSCALE_SERVER}-1-1000-400-800 group_id = {group}"
        ))
        .await?;
    production
        .execute(&format!(
            "dbscale dynamic add slave slave_dbscale_source to {datasource}"
        ))
        .await?;
    Ok(())
}

/// `dbscale request next group id` on the master router of production's
/// router cluster (`dbscale request cluster info`).
async fn next_group_id(
    settings: &Settings,
    production: &mut Client,
) -> Result<String, StepFailure> {
    let rows = production.query("dbscale request cluster info").await?;
    let master = rows.iter().find_map(|r| {
        (r.column("master_dbscale").flatten() == Some("master"))
            .then(|| r.column("host").flatten().map(str::to_owned))
            .flatten()
    });
    let ask = async |c: &mut Client| -> Result<String, StepFailure> {
        let rows = c.query("dbscale request next group id").await?;
        rows.first()
            .and_then(|r| r.column("next_group_id").flatten())
            .map(str::to_owned)
            .ok_or_else(|| StepFailure::BadAnswer {
                what: "dbscale request next group id".to_owned(),
                detail: "no next_group_id column".to_owned(),
            })
    };
    let source = &settings.config.source;
    match master.and_then(|h| {
        h.rsplit_once(':')
            .map(|(a, p)| (a.to_owned(), p.parse::<u16>()))
    }) {
        Some((host, Ok(port)))
            if (host.as_str(), port)
                != (settings.production.host.as_str(), settings.production.port) =>
        {
            let endpoint = Endpoint::new(
                host,
                port,
                &source.mysql_user,
                source.mysql_password.as_str(),
            );
            let mut c = Client::connect(&endpoint, settings.connect_timeout).await?;
            ask(&mut c).await
        }
        _ => ask(production).await,
    }
}
