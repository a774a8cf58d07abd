//! The link between the clusters: production lists the DR router as
//! `slave_dbscale_server` (seed 002's `check_secondary_cluster_exists`),
//! and the DR master replicates from production's online master with both
//! threads running (its `check_replication_relationship`, stricter).

use super::{Check, CheckName, Failure};
use crate::cluster::{Cluster, statement_failure};
use crate::settings::RouterAddr;
use topology::{Dataserver, MasterOnline, Row};

/// `slave_dbscale_server` in production: present, not down, and the DR
/// router of the command line.
pub(crate) fn check_attached(production: &Cluster, dr: &RouterAddr) -> Check {
    let name = CheckName::SlaveDbscaleServer;
    let subject = production.address.clone();
    let Some(server) = production
        .dataservers
        .iter()
        .find(|d| d.is_slave_dbscale_server())
    else {
        return Check::failed(name, subject, Failure::NoSlaveDbscaleServer);
    };
    if server.status.is_down() {
        return Check::failed(
            name,
            subject,
            Failure::NotNormal {
                server: server.name.to_string(),
                status: server.status.raw().to_owned(),
            },
        );
    }
    let expected = dr.to_string();
    if server.port != dr.port || !server.host.eq_ignore_ascii_case(&dr.host) {
        return Check::failed(
            name,
            subject,
            Failure::OtherDrRouter {
                found: server.address(),
                expected,
            },
        );
    }
    Check::passed(
        name,
        subject,
        format!("{} ({})", server.address(), server.status),
    )
}

/// The DR master's replication, read through the DR router as the seed
/// does. Gives the production server it replicates from, when that is an
/// online master of production (whether or not the threads run).
pub(crate) async fn check_replication<'p>(
    dr: &mut Cluster,
    production: &'p Cluster,
) -> (Check, Option<&'p Dataserver>) {
    let name = CheckName::DrReplication;
    let dr_master = dr
        .servers()
        .find(|d| d.master_online == Some(MasterOnline::MasterOnline))
        .map_or_else(
            || format!("the DR master via {}", dr.address),
            |d| format!("{} {}", d.name, d.address()),
        );
    let rows = match dr.client.query("SHOW SLAVE STATUS").await {
        Ok(rows) => rows,
        Err(e) => {
            let failure = statement_failure(&dr.address, "SHOW SLAVE STATUS", &e);
            return (Check::failed(name, dr_master, failure), None);
        }
    };
    let Some(row) = rows.first() else {
        let failure = Failure::NoReplication {
            dr_master: dr_master.clone(),
        };
        return (Check::failed(name, dr_master, failure), None);
    };
    let status = SlaveStatus::from_row(row);
    let source_address = format!("{}:{}", status.master_host, status.master_port);
    let source = production.servers().find(|d| {
        d.master_online == Some(MasterOnline::MasterOnline)
            && d.host.eq_ignore_ascii_case(&status.master_host)
            && d.port.to_string() == status.master_port
    });
    let check = match source {
        None => Check::failed(
            name,
            dr_master.clone(),
            Failure::ReplicationFromElsewhere {
                dr_master,
                source_address,
            },
        ),
        Some(_) if !status.running() => Check::failed(
            name,
            dr_master.clone(),
            Failure::ReplicationStopped {
                dr_master,
                source_address,
                io: status.io,
                sql: status.sql,
                last_error: status.last_error,
            },
        ),
        Some(s) => Check::passed(
            name,
            dr_master,
            format!(
                "replicates from {} {source_address}, both threads running",
                s.name
            ),
        ),
    };
    (check, source)
}

/// The columns of `SHOW SLAVE STATUS` read here.
struct SlaveStatus {
    master_host: String,
    master_port: String,
    io: String,
    sql: String,
    /// `; last error: ...` or empty.
    last_error: String,
}

impl SlaveStatus {
    fn from_row(row: &Row) -> SlaveStatus {
        let text = |c: &str| {
            row.column(c)
                .flatten()
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let errors: Vec<String> = ["Last_IO_Error", "Last_SQL_Error"]
            .iter()
            .map(|c| text(c))
            .filter(|e| !e.is_empty())
            .collect();
        SlaveStatus {
            master_host: text("Master_Host"),
            master_port: text("Master_Port"),
            io: text("Slave_IO_Running"),
            sql: text("Slave_SQL_Running"),
            last_error: if errors.is_empty() {
                String::new()
            } else {
                format!("; last error: {}", errors.join("; "))
            },
        }
    }

    fn running(&self) -> bool {
        self.io == "Yes" && self.sql == "Yes"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slave_status_as_the_seed_recorded_it() {
        let row = Row::from_pairs([
            ("Master_Host", Some("172.17.138.2")),
            ("Master_Port", Some("3308")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("No")),
            ("Last_IO_Error", Some("")),
            ("Last_SQL_Error", Some("Error 1062")),
        ]);
        let s = SlaveStatus::from_row(&row);
        assert!(!s.running());
        assert_eq!(s.master_host, "172.17.138.2");
        assert_eq!(s.last_error, "; last error: Error 1062");
    }
}
