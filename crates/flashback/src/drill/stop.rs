//! `stop`: the drill's writes thrown away (seed 002's `Do_stop`): the DR
//! cluster read-only, every snapshot checked, each receiving node's data
//! replaced by its snapshot (the DR master first), the donor enabled, the
//! DR cluster attached to production again and replicating; then the
//! journal closed. Each step is journaled.

use super::node::{DrNode, Restore};
use super::start::{dr_node, receiver};
use super::{Session, StepFailure, attach, poll};
use crate::cluster::{Cluster, Side};
use crate::journal::{Journal, JournalState, Node, Role};
use crate::snapshot::instance::same_gtids;
use crate::snapshot::{Instance, STREAM_FILE_PREFIX, SnapshotError};
use crate::{FlashbackError, Settings};
use binlog::gtid::GtidFlavor;
use remote::Connector;
use router::Endpoint;
use std::time::Duration;

/// Stop's steps.
pub const READ_ONLY: &str = "close the DR cluster to writes";
/// Removing the snapshots of a drill that never opened.
pub const DISCARD_SNAPSHOTS: &str = "remove the snapshots (the DR cluster never opened)";
/// Checking that every snapshot holds the donor's GTIDs.
pub const CHECK_SNAPSHOTS: &str = "check the snapshots";
/// Enabling the donor (and every DR dataserver, as the seed).
pub const ENABLE: &str = "enable the donor";
/// Attaching the DR cluster to production again.
pub const ATTACH: &str = "attach the DR cluster to production";
/// Waiting for DR replication.
pub const REPLICATING: &str = "wait for DR replication to run";

/// The name of the restore step of `server`.
pub fn restore_step(server: &str) -> String {
    format!("restore {server} from its snapshot")
}

/// The steps `stop` takes for the drill `entry` records (`stop --dry-run`).
pub fn stop_plan(entry: &crate::journal::Entry) -> Vec<String> {
    let mut steps = vec![READ_ONLY.to_owned()];
    if !entry.opened {
        steps.push(DISCARD_SNAPSHOTS.to_owned());
    } else {
        steps.push(CHECK_SNAPSHOTS.to_owned());
        let mut nodes: Vec<_> = entry
            .nodes
            .iter()
            .filter(|n| n.role != Role::Donor)
            .collect();
        nodes.sort_by_key(|n| n.role != Role::Primary);
        steps.extend(nodes.iter().map(|n| restore_step(&n.server_name)));
    }
    steps.extend([ENABLE, ATTACH, REPLICATING].map(str::to_owned));
    steps
}

/// What a finished `stop` did.
#[derive(Debug, Clone)]
pub struct StopDone {
    /// The drill that was closed.
    pub drill_id: String,
    /// The DR servers whose data was replaced by the snapshot.
    pub restored: Vec<String>,
}

/// Closes the open drill; `Ok(None)` when none is open.
pub async fn stop(
    settings: &Settings,
    journal: &Journal,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Option<StopDone>, FlashbackError> {
    let entry = match journal.read()? {
        JournalState::Closed => return Ok(None),
        JournalState::SeedTool(_) => {
            return Err(FlashbackError::SeedDrill {
                journal: journal.path().to_owned(),
            });
        }
        JournalState::Open(entry) => entry,
    };
    let hosts = Connector::new(settings.config.connect.config.clone())
        .map_err(FlashbackError::Transports)?;
    // Once start opened the DR cluster, writes may have reached it and only
    // the snapshots (all taken before) can take them back.
    let opened = entry.opened;
    let mut s = Session::new("stop", settings, journal, entry, say);
    let (mut production, mut dr) = clusters(&s, &hosts).await?;

    if !s.entry.closing {
        s.begin(READ_ONLY)?;
        dr.client
            .execute("dbscale set global \"enable-read-only\" = 1")
            .await
            .map_err(|e| s.fail(&dr.address, e))?;
        s.entry.closing = true;
        s.done()?;
    }
    let restored = if opened {
        restore_all(&mut s, &hosts, &dr).await?
    } else {
        discard_snapshots(&mut s, &hosts, &dr).await?;
        Vec::new()
    };
    enable_all(&mut s, &mut dr).await?;
    s.begin(ATTACH)?;
    let datasource = s
        .entry
        .attached_to
        .clone()
        .unwrap_or_else(|| "normal_0".to_owned());
    attach::attach(s.settings, &mut production.client, &datasource)
        .await
        .map_err(|e| s.fail(&production.address, e))?;
    dr.client
        .execute("START SLAVE")
        .await
        .map_err(|e| s.fail(&dr.address, e))?;
    s.done()?;
    wait_replicating(&mut s, &mut dr).await?;
    let drill_id = s.entry.drill_id.clone();
    journal.close()?;
    Ok(Some(StopDone { drill_id, restored }))
}

async fn clusters(
    s: &Session<'_>,
    hosts: &Connector,
) -> Result<(Cluster, Cluster), FlashbackError> {
    let settings = s.settings;
    let timeouts = (settings.connect_timeout, settings.command_timeout);
    let open = async |side: Side| {
        let (addr, section) = match side {
            Side::Production => (&settings.production, &settings.config.source),
            Side::Dr => (&settings.dr, &settings.config.target),
        };
        let endpoint = Endpoint::new(
            &addr.host,
            addr.port,
            &section.mysql_user,
            section.mysql_password.as_str(),
        );
        Cluster::open(side, &endpoint, &section.sys, hosts, timeouts)
            .await
            .map_err(|f| s.fail(&addr.to_string(), f))
    };
    Ok((open(Side::Production).await?, open(Side::Dr).await?))
}

/// Every receiving node's snapshot checked, then each restored, the DR
/// master first (its replicas resume from it).
async fn restore_all(
    s: &mut Session<'_>,
    hosts: &Connector,
    dr: &Cluster,
) -> Result<Vec<String>, FlashbackError> {
    let mut nodes = s.entry.nodes.clone();
    nodes.retain(|n| n.role != Role::Donor);
    nodes.sort_by_key(|n| n.role != Role::Primary);
    let gtid = s.entry.donor_gtid.clone().unwrap_or_default();
    let flavor = s.entry.flavor.gtid();
    s.begin(CHECK_SNAPSHOTS)?;
    let mut ready = Vec::new();
    for node in &nodes {
        let dr_node = dr_node(dr, hosts, node, flavor).map_err(|e| s.fail(&node.host, e))?;
        let r = receiver(s, hosts, dr, node)
            .await
            .map_err(|e| s.fail(&node.host, e))?;
        let instance = checked(s, &dr_node, &r, &gtid)
            .await
            .map_err(|e| s.fail(&format!("{}:{}", r.host, r.port), e))?;
        ready.push((dr_node, instance));
    }
    s.done()?;
    let mut restored = Vec::new();
    for (dr_node, instance) in &ready {
        restore_one(s, dr_node, instance, &gtid).await?;
        restored.push(dr_node.node.server_name.clone());
    }
    Ok(restored)
}

/// A drill that never opened has nothing to undo: its snapshots (some
/// perhaps half made) and their servers go.
async fn discard_snapshots(
    s: &mut Session<'_>,
    hosts: &Connector,
    dr: &Cluster,
) -> Result<(), FlashbackError> {
    s.begin(DISCARD_SNAPSHOTS)?;
    let nodes = s.entry.nodes.clone();
    let flavor = s.entry.flavor.gtid();
    for node in nodes.iter().filter(|n| n.role != Role::Donor) {
        let dr_node = dr_node(dr, hosts, node, flavor).map_err(|e| s.fail(&node.host, e))?;
        let r = receiver(s, hosts, dr, node)
            .await
            .map_err(|e| s.fail(&node.host, e))?;
        let bounds = s.bounds();
        Instance::attach_as(&r, &dr_node.credential, flavor)
            .shutdown(bounds)
            .await
            .map_err(|e| s.fail(&format!("{}:{}", r.host, r.port), e))?;
        let rm = remote::Command::new("rm").args(["-rf", "--", &r.dir]);
        xtrabackup::ops::run(
            &*r.transport,
            &rm,
            bounds.small,
            "removing the snapshot directory",
        )
        .await
        .map_err(|e| s.fail(&r.host, e))?;
    }
    if let Some(donor) = nodes.iter().find(|n| n.role == Role::Donor) {
        remove_stream_files(s, hosts, dr, donor).await;
    }
    s.done()
}

/// A start killed while a snapshot streamed left the donor's login in an
/// option file in the donor's tmpdir, and the backup's log beside it: both
/// go. A donor out of reach is said, not a reason to leave the DR cluster
/// detached.
async fn remove_stream_files(s: &Session<'_>, hosts: &Connector, dr: &Cluster, node: &Node) {
    let removed = async {
        let donor = dr_node(dr, hosts, node, s.entry.flavor.gtid())?;
        let mut c = donor.client(s.settings.connect_timeout).await?;
        let rows = c.query("SELECT @@tmpdir AS t").await?;
        let tmpdir = rows
            .first()
            .and_then(|r| r.column("t").flatten())
            .unwrap_or_default()
            .to_owned();
        if tmpdir.is_empty() {
            return Err(StepFailure::BadAnswer {
                what: format!("@@tmpdir of {}", donor.address()),
                detail: "empty".to_owned(),
            });
        }
        let rm = remote::Command::new("sh").args([
            "-c",
            r#"rm -f -- "$1"/"$2"*.cnf "$1"/"$2"*.log"#,
            "sh",
            &tmpdir,
            STREAM_FILE_PREFIX,
        ]);
        let step = "removing the donor's files of an unfinished stream";
        xtrabackup::ops::run(&*donor.transport, &rm, s.bounds().small, step).await?;
        Ok(())
    };
    if let Err(e) = removed.await {
        (s.say)(&format!(
            "warning: the files of an unfinished snapshot stream ({STREAM_FILE_PREFIX}*.cnf, \
             holding the donor's login) may remain in {}'s tmpdir: {e}",
            node.server_name
        ));
    }
}

/// `node`'s snapshot instance, its GTIDs checked against the donor's
/// (seed 002's `judge_clone_finished`): started again if it is down (a
/// host reboot); not checked once the node's restore swapped it in.
async fn checked(
    s: &Session<'_>,
    node: &DrNode<'_>,
    r: &crate::snapshot::Receiver,
    gtid: &str,
) -> Result<Instance, StepFailure> {
    let bounds = s.bounds();
    let instance = Instance::attach_as(r, &node.credential, node.flavor);
    if node.progress(&r.dir, bounds).await? != Restore::NotSwapped {
        return Ok(instance);
    }
    let instance = match instance.gtid(bounds).await {
        Ok(_) => instance,
        Err(_) if node.flavor == GtidFlavor::Mariadb => {
            Instance::start(r, &node.credential, bounds).await?
        }
        Err(_) => {
            instance.restart(bounds).await?;
            instance
        }
    };
    let theirs = instance.gtid(bounds).await?;
    if theirs == gtid || same_gtids(node.flavor, &theirs, gtid) {
        Ok(instance)
    } else {
        Err(StepFailure::from(SnapshotError::GtidMismatch {
            receiver: node.node.server_name.clone(),
            address: instance.address(),
            snapshot: theirs,
            donor: gtid.to_owned(),
        }))
    }
}

async fn restore_one(
    s: &mut Session<'_>,
    node: &DrNode<'_>,
    instance: &Instance,
    gtid: &str,
) -> Result<(), FlashbackError> {
    s.begin(&restore_step(&node.node.server_name))?;
    let resume = node.node.role != Role::Primary;
    node.restore(instance, gtid, resume, s.bounds())
        .await
        .map_err(|e| s.fail(&node.address(), e))?;
    s.done()
}

/// Every DR dataserver enabled, as the seed does (the donor was the
/// disabled one).
async fn enable_all(s: &mut Session<'_>, dr: &mut Cluster) -> Result<(), FlashbackError> {
    s.begin(ENABLE)?;
    let names: Vec<String> = dr.servers().map(|d| d.name.to_string()).collect();
    for name in names {
        dr.client
            .execute(&format!("dbscale enable dataserver {name}"))
            .await
            .map_err(|e| s.fail(&dr.address, e))?;
    }
    s.done()
}

async fn wait_replicating(s: &mut Session<'_>, dr: &mut Cluster) -> Result<(), FlashbackError> {
    s.begin(REPLICATING)?;
    let client = &mut dr.client;
    let running = poll(
        "DR replication from production to run",
        Duration::from_secs(120),
        async || {
            let rows = client.query("SHOW SLAVE STATUS").await?;
            let row = rows.first();
            let col = |c: &str| {
                row.and_then(|r| r.column(c).flatten())
                    .unwrap_or_default()
                    .to_owned()
            };
            let (io, sql) = (col("Slave_IO_Running"), col("Slave_SQL_Running"));
            Ok(if io == "Yes" && sql == "Yes" {
                Ok(())
            } else {
                Err(format!(
                    "IO {io}, SQL {sql} {}{}",
                    col("Last_IO_Error"),
                    col("Last_SQL_Error")
                ))
            })
        },
    )
    .await;
    running.map_err(|e| s.fail(&dr.address, e))?;
    s.done()
}
