//! `start`: verify's checks and the plan, then the drill's steps (seed
//! 002's `do_clone_prepare`, `write_redo_file` and the snapshots), each
//! journaled.

use super::node::DrNode;
use super::{Session, StepFailure, attach, poll};
use crate::cluster::{Cluster, host};
use crate::journal::{Entry, Journal, Node, Role};
use crate::plan::{self, DonorChoice, StartPlan, prepare_start};
use crate::snapshot::instance::same_gtids;
use crate::snapshot::{self, Donor, Receiver};
use crate::{FlashbackError, Report, Settings};
use binlog::gtid::GtidFlavor;
use remote::Connector;
use std::time::Duration;

/// The step that ends a successful `start`.
pub const DRILL_OPEN: &str = "drill open (start done)";

/// What a finished `start` opened.
#[derive(Debug, Clone)]
pub struct StartDone {
    /// The drill's id (in the journal).
    pub drill_id: String,
    /// The donor.
    pub donor: DonorChoice,
    /// The temporary instances holding the snapshot (`host:port`).
    pub snapshots: Vec<String>,
}

/// Runs the checks; when they pass, opens the drill. `say` gets the
/// checks' lines, the donor, then a line per finished step.
pub async fn start(
    settings: &Settings,
    journal: &Journal,
    say: &(dyn Fn(&str) + Sync),
) -> Result<(Report, Option<StartDone>), FlashbackError> {
    let hosts = Connector::new(settings.config.connect.config.clone())
        .map_err(FlashbackError::Transports)?;
    let (report, planned) = prepare_start(settings, journal, &hosts).await?;
    let Some((plan, seen)) = planned else {
        return Ok((report, None));
    };
    for check in &report.checks {
        say(&check.to_string());
    }
    say(&format!(
        "donor: {} {}: {}",
        plan.donor.server, plan.donor.address, plan.donor.reason
    ));
    let (mut production, mut dr) = (seen.production, seen.dr);
    let session = open(settings, journal, &hosts, &plan, &mut production, &dr, say).await?;
    let done = steps(session, &hosts, &plan, &mut production, &mut dr).await?;
    Ok((report, Some(done)))
}

/// Step 1: what `stop` needs is read, then the journal written.
async fn open<'a>(
    settings: &'a Settings,
    journal: &'a Journal,
    hosts: &Connector,
    plan: &StartPlan,
    production: &mut Cluster,
    dr: &Cluster,
    say: &'a (dyn Fn(&str) + Sync),
) -> Result<Session<'a>, FlashbackError> {
    let fail = |at: &str, source: StepFailure| FlashbackError::Step {
        step: 1,
        name: plan::OPEN_JOURNAL.to_owned(),
        at: at.to_owned(),
        source,
    };
    let mut nodes = plan.nodes.clone();
    for node in &mut nodes {
        let dr_node = dr_node(dr, hosts, node, plan.flavor).map_err(|e| fail(&node.host, e))?;
        let (pid_file, argv) = dr_node
            .server_start(settings.connect_timeout)
            .await
            .map_err(|e| fail(&dr_node.address(), e))?;
        node.pid_file = pid_file;
        node.server_argv = argv;
    }
    let attached_to = attach::attached_to(&mut production.client)
        .await
        .map_err(|e| fail(&production.address, e))?;
    let mut entry = Entry::open(plan::OPEN_JOURNAL, nodes);
    entry.attached_to = Some(attached_to);
    entry.flavor = plan.flavor.into();
    journal.write(&entry)?;
    let mut session = Session::new("start", settings, journal, entry, say);
    session.done()?;
    Ok(session)
}

/// A DR node with its login and host.
pub(crate) fn dr_node<'n>(
    dr: &Cluster,
    hosts: &Connector,
    node: &'n Node,
    flavor: GtidFlavor,
) -> Result<DrNode<'n>, StepFailure> {
    let credential = dr
        .credentials
        .get(node.server_name.as_str())
        .cloned()
        .ok_or_else(|| StepFailure::NoLogin {
            server: node.server_name.clone(),
        })?;
    Ok(DrNode {
        node,
        credential,
        transport: host(hosts, &node.host, &dr.login)?,
        flavor,
    })
}

async fn steps(
    mut s: Session<'_>,
    hosts: &Connector,
    plan: &StartPlan,
    production: &mut Cluster,
    dr: &mut Cluster,
) -> Result<StartDone, FlashbackError> {
    let nodes = s.entry.nodes.clone();
    let find = |role: Role| nodes.iter().find(|n| n.role == role);
    let (Some(primary), Some(donor)) = (find(Role::Primary), find(Role::Donor)) else {
        return Err(s.fail(
            "the plan",
            StepFailure::BadAnswer {
                what: "the journal's nodes".to_owned(),
                detail: "no DR master or no donor".to_owned(),
            },
        ));
    };
    let primary = dr_node(dr, hosts, primary, plan.flavor).map_err(|e| s.fail(&primary.host, e))?;
    let donor = dr_node(dr, hosts, donor, plan.flavor).map_err(|e| s.fail(&donor.host, e))?;

    s.begin(plan::DETACH)?;
    attach::detach(&mut production.client)
        .await
        .map_err(|e| s.fail(&production.address, e))?;
    s.done()?;
    stop_replication(&mut s, dr).await?;
    wait_donor(&mut s, &primary, &donor).await?;

    s.begin(plan::DISABLE_DONOR)?;
    let statement = format!("dbscale disable dataserver {}", donor.node.server_name);
    dr.client
        .execute(&statement)
        .await
        .map_err(|e| s.fail(&dr.address, e))?;
    let gtid = donor
        .gtid(s.settings.connect_timeout)
        .await
        .map_err(|e| s.fail(&donor.address(), e))?;
    s.entry.donor_gtid = Some(gtid);
    s.done()?;

    // Every snapshot before the DR cluster opens (the seed opened it
    // first): until then no write can reach it, and `stop` has nothing to
    // undo.
    let snapshots = take_snapshots(&mut s, hosts, dr, &donor).await?;
    s.entry.opened = true;
    s.begin(plan::READ_WRITE)?;
    dr.client
        .execute("dbscale set global \"enable-read-only\" = 0")
        .await
        .map_err(|e| s.fail(&dr.address, e))?;
    s.done()?;
    s.begin(DRILL_OPEN)?;
    s.done()?;
    Ok(StartDone {
        drill_id: s.entry.drill_id.clone(),
        donor: plan.donor.clone(),
        snapshots,
    })
}

/// Steps 3 and 4: the IO thread stopped, what it received applied, then
/// replication stopped (the seed stops both at once and polls
/// `Seconds_Behind_Master`, which a stopped SQL thread makes NULL at once).
async fn stop_replication(s: &mut Session<'_>, dr: &mut Cluster) -> Result<(), FlashbackError> {
    s.begin(plan::STOP_RECEIVING)?;
    dr.client
        .execute("STOP SLAVE IO_THREAD")
        .await
        .map_err(|e| s.fail(&dr.address, e))?;
    s.done()?;
    s.begin(plan::STOP_REPLICATION)?;
    let client = &mut dr.client;
    let applied = poll(
        "the DR master to apply what it received",
        Duration::from_secs(600),
        async || {
            let rows = client.query("SHOW SLAVE STATUS").await?;
            let Some(row) = rows.first() else {
                return Err(StepFailure::NoReplication);
            };
            let col = |c: &str| row.column(c).flatten().unwrap_or_default().to_owned();
            if col("Slave_SQL_Running") != "Yes" {
                return Err(StepFailure::SqlThreadStopped {
                    last_error: col("Last_SQL_Error"),
                });
            }
            let read = (col("Master_Log_File"), col("Read_Master_Log_Pos"));
            let exec = (col("Relay_Master_Log_File"), col("Exec_Master_Log_Pos"));
            Ok(if read == exec {
                Ok(())
            } else {
                Err(format!("read {read:?}, applied {exec:?}"))
            })
        },
    )
    .await;
    applied.map_err(|e| s.fail(&dr.address, e))?;
    for statement in ["STOP SLAVE", "dbscale set global 'slave-dbscale-mode'=0"] {
        dr.client
            .execute(statement)
            .await
            .map_err(|e| s.fail(&dr.address, e))?;
    }
    s.done()
}

/// Step 5 (the seed's `waiting_for_secondary_cluster_consistent`).
async fn wait_donor(
    s: &mut Session<'_>,
    primary: &DrNode<'_>,
    donor: &DrNode<'_>,
) -> Result<(), FlashbackError> {
    s.begin(plan::WAIT_DONOR)?;
    let timeout = s.settings.connect_timeout;
    let equal = poll(
        "the donor to reach the DR master's GTIDs",
        Duration::from_secs(600),
        async || {
            let (theirs, mine) = (primary.gtid(timeout).await?, donor.gtid(timeout).await?);
            Ok(
                if theirs == mine || same_gtids(donor.flavor, &theirs, &mine) {
                    Ok(())
                } else {
                    Err(format!("master {theirs:?}, donor {mine:?}"))
                },
            )
        },
    )
    .await;
    equal.map_err(|e| s.fail(&donor.address(), e))?;
    s.done()
}

/// The snapshot steps, one receiver after the other (one backup at a time
/// on the donor).
async fn take_snapshots(
    s: &mut Session<'_>,
    hosts: &Connector,
    dr: &Cluster,
    donor: &DrNode<'_>,
) -> Result<Vec<String>, FlashbackError> {
    let source = Donor {
        name: donor.node.server_name.clone(),
        host: donor.node.host.clone(),
        port: donor.node.port.parse().unwrap_or(0),
        transport: donor.transport.clone(),
        credential: donor.credential.clone(),
    };
    let mut taken = Vec::new();
    let nodes = s.entry.nodes.clone();
    for node in nodes.iter().filter(|n| n.role != Role::Donor) {
        s.begin(&plan::snapshot_step(&node.server_name))?;
        let receiver = receiver(s, hosts, dr, node)
            .await
            .map_err(|e| s.fail(&node.host, e))?;
        let bounds = s.bounds();
        let instance = match donor.flavor {
            GtidFlavor::Mariadb => snapshot::take(&source, &receiver, bounds).await,
            GtidFlavor::Mysql => {
                let node = dr_node(dr, hosts, node, donor.flavor)
                    .map_err(|e| s.fail(&node.host, e))?
                    .endpoint();
                snapshot::clone::take(&source, &receiver, &node, bounds).await
            }
        }
        .map_err(|e| s.fail(&receiver.host, e))?;
        taken.push(instance.address());
        s.done()?;
    }
    Ok(taken)
}

/// Where `node`'s snapshot goes.
pub(crate) async fn receiver(
    s: &Session<'_>,
    hosts: &Connector,
    dr: &Cluster,
    node: &Node,
) -> Result<Receiver, StepFailure> {
    let transport = host(hosts, &node.host, &dr.login)?;
    // The node's own program (a relative name is found in PATH and the
    // sbin directories when launched).
    let program = match node.server_argv.first() {
        Some(p) => p.clone(),
        None => {
            snapshot::server_program(&*transport, &node.pid_file, Duration::from_secs(60)).await?
        }
    };
    Ok(Receiver {
        name: node.server_name.clone(),
        host: node.host.clone(),
        transport,
        dir: plan::snapshot_dir(&node.data_dir),
        port: s.settings.config.snapshot_port,
        program,
    })
}
