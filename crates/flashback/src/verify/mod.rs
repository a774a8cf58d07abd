//! `verify`: every check seed 002's `Do_prefix_check` makes, each a named
//! [`Check`] in a [`Report`], run to the end so one run shows every
//! problem (the seed stops at the first).
//!
//! The steps, in order:
//! 1. both routers answer, list their dataservers and flush their
//!    configuration (the dataservers' logins) ([`CheckName::ProductionRouter`],
//!    [`CheckName::DrRouter`]);
//! 2. every dataserver of both clusters is normal on its router, answers
//!    SQL and its host answers the transport ([`CheckName::Dataserver`]);
//! 3. production lists the DR router as `slave_dbscale_server`
//!    ([`CheckName::SlaveDbscaleServer`]);
//! 4. the DR master replicates from production's online master, both
//!    threads running ([`CheckName::DrReplication`]);
//! 5. that production master's GTIDs contain every DR server's
//!    ([`CheckName::GtidContained`]);
//! 6. every DR server's file system has room for the snapshot
//!    ([`CheckName::Disk`]).

mod check;
mod disk;
mod gtid;
mod replication;
mod servers;

pub use check::{Check, CheckName, Failure, Outcome, Report, human};
pub use gtid::beyond;

use crate::cluster::{Cluster, Side};
use crate::{FlashbackError, Settings};
use remote::Connector;
use router::Endpoint;
pub(crate) use servers::ServerAnswer;

/// Runs every check against the clusters `settings` name. An `Err` only
/// when nothing could be checked; failed checks are in the report.
pub async fn verify(settings: &Settings) -> Result<Report, FlashbackError> {
    let hosts = Connector::new(settings.config.connect.config.clone())
        .map_err(FlashbackError::Transports)?;
    Ok(inspect(settings, &hosts).await.0)
}

/// What the checks saw, for the verbs that go on from there.
pub(crate) struct Inspected {
    pub production: Cluster,
    pub dr: Cluster,
    /// The DR servers that answered.
    pub dr_facts: Vec<ServerAnswer>,
}

/// The checks, and what they saw once both routers answered.
pub(crate) async fn inspect(settings: &Settings, hosts: &Connector) -> (Report, Option<Inspected>) {
    let mut report = Report::default();
    let (production, dr) = futures::join!(
        open(settings, hosts, Side::Production),
        open(settings, hosts, Side::Dr)
    );
    let (production, dr) = match (production, dr) {
        (Ok((p, pc)), Ok((d, dc))) => {
            report.checks.extend([pc, dc]);
            (p, d)
        }
        (p, d) => {
            report.checks.extend([p, d].into_iter().map(|r| match r {
                Ok((_, check)) | Err(check) => check,
            }));
            report.checks.extend(skipped_after_routers());
            return (report, None);
        }
    };
    let inspected = check_clusters(settings, hosts, production, dr, &mut report).await;
    (report, Some(inspected))
}

/// Steps 2 to 6, once both routers answered.
async fn check_clusters(
    settings: &Settings,
    hosts: &Connector,
    production: Cluster,
    mut dr: Cluster,
    report: &mut Report,
) -> Inspected {
    let timeouts = (settings.connect_timeout, settings.command_timeout);
    let ((prod_checks, prod_facts), (dr_checks, dr_facts)) = futures::join!(
        servers::check_all(&production, hosts, timeouts),
        servers::check_all(&dr, hosts, timeouts)
    );
    report.checks.extend(prod_checks);
    report.checks.extend(dr_checks);
    report
        .checks
        .push(replication::check_attached(&production, &settings.dr));
    let (check, source) = replication::check_replication(&mut dr, &production).await;
    report.checks.push(check);
    let source_facts = source.and_then(|s| prod_facts.iter().find(|f| f.name == s.name.as_str()));
    report
        .checks
        .push(gtid_check(source_facts, &dr_facts, dr.servers().count()));
    report.checks.extend(
        disk::check_all(
            &dr_facts,
            &dr.login,
            hosts,
            settings.config.snapshot_margin_percent,
            settings.command_timeout,
        )
        .await,
    );
    report.checks.extend(
        dr.servers()
            .filter(|d| !dr_facts.iter().any(|f| f.name == d.name.as_str()))
            .map(|d| {
                Check::skipped(
                    CheckName::Disk,
                    format!("{} {}", d.name, d.host),
                    "its data directory is unknown (its dataserver check failed)",
                )
            }),
    );
    Inspected {
        production,
        dr,
        dr_facts,
    }
}

fn gtid_check(source: Option<&ServerAnswer>, dr: &[ServerAnswer], dr_servers: usize) -> Check {
    match source {
        None => Check::skipped(
            CheckName::GtidContained,
            "",
            "production's master that DR replicates from is unknown or did not answer",
        ),
        Some(_) if dr.len() < dr_servers => Check::skipped(
            CheckName::GtidContained,
            "",
            "a DR dataserver did not answer",
        ),
        Some(prod) => gtid::check_contained(prod, dr),
    }
}

/// A router's line, and the cluster when it answered.
async fn open(
    settings: &Settings,
    hosts: &Connector,
    side: Side,
) -> Result<(Cluster, Check), Check> {
    let (addr, section, name) = match side {
        Side::Production => (
            &settings.production,
            &settings.config.source,
            CheckName::ProductionRouter,
        ),
        Side::Dr => (&settings.dr, &settings.config.target, CheckName::DrRouter),
    };
    let endpoint = Endpoint::new(
        &addr.host,
        addr.port,
        &section.mysql_user,
        section.mysql_password.as_str(),
    );
    let timeouts = (settings.connect_timeout, settings.command_timeout);
    match Cluster::open(side, &endpoint, &section.sys, hosts, timeouts).await {
        Ok(cluster) => {
            let detail = format!(
                "{} dataservers; their logins read from its configuration",
                cluster.dataservers.len()
            );
            Ok((cluster, Check::passed(name, addr.to_string(), detail)))
        }
        Err(failure) => Err(Check::failed(name, addr.to_string(), failure)),
    }
}

fn skipped_after_routers() -> Vec<Check> {
    [
        CheckName::Dataserver,
        CheckName::SlaveDbscaleServer,
        CheckName::DrReplication,
        CheckName::GtidContained,
        CheckName::Disk,
    ]
    .into_iter()
    .map(|name| Check::skipped(name, "", "both routers must answer first"))
    .collect()
}
