//! What `start` will do, decided from what `verify` saw: the donor (and
//! why), the DR nodes' parts, and the named steps in order. `start
//! --dry-run` prints it and changes nothing.

use crate::journal::{JournalState, Node, Role};
use crate::verify::{Inspected, Report, ServerAnswer, inspect};
use crate::{FlashbackError, Journal, Settings};
use binlog::gtid::{GtidFlavor, GtidSet};
use std::fmt;
use topology::{Dataserver, MasterOnline};

/// The donor: the DR replica whose data becomes every other DR node's
/// snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorChoice {
    /// Its dataserver name.
    pub server: String,
    /// `host:port`.
    pub address: String,
    /// Why it, in a sentence.
    pub reason: String,
}

/// A DR server as a donor candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Dataserver name.
    pub server: String,
    /// `host:port`.
    pub address: String,
    /// Its executed GTIDs, when it answered.
    pub gtid: Option<GtidSet>,
    /// Whether the router says `Slave normal`.
    pub slave_normal: bool,
}

/// Picks the donor among the DR replicas, as the seed does after
/// replication stopped (`waiting_for_secondary_cluster_consistent`: the
/// first replica, in the router's order, at the DR master's GTIDs); before
/// that, the first replica that is at the master's GTIDs now, else the
/// first of the most advanced ones. Replicas that are not `Slave normal`
/// or did not answer are never picked.
pub fn choose_donor(
    master: &GtidSet,
    replicas: &[Candidate],
) -> Result<DonorChoice, FlashbackError> {
    let usable: Vec<(&Candidate, &GtidSet)> = replicas
        .iter()
        .filter(|c| c.slave_normal)
        .filter_map(|c| c.gtid.as_ref().map(|g| (c, g)))
        .collect();
    let pick = |c: &Candidate, reason: String| DonorChoice {
        server: c.server.clone(),
        address: c.address.clone(),
        reason,
    };
    if let Some((c, g)) = usable.iter().find(|(_, g)| *g == master) {
        return Ok(pick(
            c,
            format!(
                "the first DR replica (router order) at the DR master's GTIDs ({})",
                shown(g)
            ),
        ));
    }
    let ahead_of_all = |g: &GtidSet| usable.iter().all(|(_, o)| o.is_subset(g).unwrap_or(false));
    if let Some((c, g)) = usable.iter().find(|(_, g)| ahead_of_all(g)) {
        return Ok(pick(
            c,
            format!(
                "no DR replica is at the DR master's GTIDs ({}) now; it is the most advanced ({}), and start waits until one is",
                shown(master),
                shown(g)
            ),
        ));
    }
    match usable.first() {
        Some((c, g)) => Ok(pick(
            c,
            format!(
                "no DR replica is at the DR master's GTIDs now, none is ahead of all others; the first ({}) in the router's order, and start waits until one is",
                shown(g)
            ),
        )),
        None => Err(FlashbackError::NoDonor {
            replicas: replicas.len(),
        }),
    }
}

fn shown(g: &GtidSet) -> String {
    if g.is_empty() {
        "none yet".to_owned()
    } else {
        g.to_string()
    }
}

/// Step names, shared by the plan, the journal and the output.
pub const OPEN_JOURNAL: &str = "open the journal";
/// Step 2.
pub const DETACH: &str = "detach the DR cluster from production";
/// Step 3.
pub const STOP_RECEIVING: &str = "stop receiving from production";
/// Step 4.
pub const STOP_REPLICATION: &str = "apply what was received, stop DR replication";
/// Step 5.
pub const WAIT_DONOR: &str = "wait for the donor to reach the DR master's GTIDs";
/// Step 6.
pub const DISABLE_DONOR: &str = "disable the donor";
/// After the snapshots.
pub const READ_WRITE: &str = "open the DR cluster read-write";

/// The name of the snapshot step for `server`.
pub fn snapshot_step(server: &str) -> String {
    format!("snapshot the donor for {server}")
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// Its name (the journal's `step_name`).
    pub name: String,
    /// Where it acts (a router or host address).
    pub at: String,
    /// What it runs or waits for, one item per statement or command.
    pub actions: Vec<String>,
}

/// Everything `start` would do.
#[derive(Debug, Clone)]
pub struct StartPlan {
    /// The donor.
    pub donor: DonorChoice,
    /// The DR nodes with their parts (the journal's node list).
    pub nodes: Vec<Node>,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
    /// The DR servers' flavor (decides the snapshot's mechanism).
    pub flavor: GtidFlavor,
}

impl fmt::Display for StartPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "donor: {} {}: {}",
            self.donor.server, self.donor.address, self.donor.reason
        )?;
        writeln!(
            f,
            "snapshot: {}",
            match self.flavor {
                GtidFlavor::Mariadb => "mariabackup streamed from the donor (MariaDB)",
                GtidFlavor::Mysql => "the CLONE plugin, from the donor (MySQL 8)",
            }
        )?;
        for n in &self.nodes {
            writeln!(
                f,
                "node {} {}:{}: {:?}",
                n.server_name, n.host, n.port, n.role
            )?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "step {}: {} (on {})", i + 1, step.name, step.at)?;
            for action in &step.actions {
                writeln!(f, "    {action}")?;
            }
        }
        Ok(())
    }
}

/// The checks, then the plan when they all passed. Refuses while a drill
/// is open.
pub async fn plan_start(
    settings: &Settings,
    journal: &Journal,
) -> Result<(Report, Option<StartPlan>), FlashbackError> {
    let hosts = remote::Connector::new(settings.config.connect.config.clone())
        .map_err(FlashbackError::Transports)?;
    let (report, planned) = prepare_start(settings, journal, &hosts).await?;
    Ok((report, planned.map(|(plan, _)| plan)))
}

/// [`plan_start`], keeping the clusters for `start` to go on with.
pub(crate) async fn prepare_start(
    settings: &Settings,
    journal: &Journal,
    hosts: &remote::Connector,
) -> Result<(Report, Option<(StartPlan, Inspected)>), FlashbackError> {
    refuse_open_drill(journal)?;
    let (report, inspected) = inspect(settings, hosts).await;
    match inspected {
        Some(seen) if report.passed() => {
            let plan = build(settings, journal, &seen)?;
            Ok((report, Some((plan, seen))))
        }
        _ => Ok((report, None)),
    }
}

/// `start` while a drill is open is refused.
pub fn refuse_open_drill(journal: &Journal) -> Result<(), FlashbackError> {
    match journal.read()? {
        JournalState::Closed => Ok(()),
        JournalState::Open(entry) => Err(FlashbackError::DrillOpen {
            journal: journal.path().to_owned(),
            drill: entry.drill_id,
            step: format!("step {} ({})", entry.step, entry.step_name),
        }),
        JournalState::SeedTool(_) => Err(FlashbackError::DrillOpen {
            journal: journal.path().to_owned(),
            drill: "opened by the seed's dr-flashback".to_owned(),
            step: "unknown".to_owned(),
        }),
    }
}

fn build(
    settings: &Settings,
    journal: &Journal,
    seen: &Inspected,
) -> Result<StartPlan, FlashbackError> {
    let dr_servers: Vec<&Dataserver> = seen.dr.servers().collect();
    let facts = |d: &Dataserver| seen.dr_facts.iter().find(|f| f.name == d.name.as_str());
    let master = dr_servers
        .iter()
        .find(|d| d.master_online == Some(MasterOnline::MasterOnline))
        .and_then(|d| facts(d).map(|f| (*d, f)))
        .ok_or(FlashbackError::NoDrMaster)?;
    let master_gtid = gtid(master.1)?;
    let candidates: Vec<Candidate> = dr_servers
        .iter()
        .filter(|d| d.name != master.0.name)
        .map(|d| Candidate {
            server: d.name.to_string(),
            address: d.address(),
            gtid: facts(d).and_then(|f| gtid(f).ok()),
            slave_normal: d.status.is_slave_normal(),
        })
        .collect();
    let donor = choose_donor(&master_gtid, &candidates)?;
    let nodes = nodes(settings, &dr_servers, &donor, master.0, |d| facts(d));
    let flavor = master.1.flavor;
    let steps = steps(settings, journal, &donor, &nodes, flavor);
    Ok(StartPlan {
        donor,
        nodes,
        steps,
        flavor,
    })
}

fn gtid(f: &ServerAnswer) -> Result<GtidSet, FlashbackError> {
    GtidSet::parse(f.flavor, &f.gtid).map_err(|e| FlashbackError::BadGtid {
        server: f.name.clone(),
        source: e,
    })
}

fn nodes<'a>(
    settings: &Settings,
    dr: &[&Dataserver],
    donor: &DonorChoice,
    master: &Dataserver,
    facts: impl Fn(&Dataserver) -> Option<&'a ServerAnswer>,
) -> Vec<Node> {
    dr.iter()
        .map(|d| Node {
            server_name: d.name.to_string(),
            host: d.host.clone(),
            port: d.port.to_string(),
            role: if d.name == master.name {
                Role::Primary
            } else if d.name.as_str() == donor.server {
                Role::Donor
            } else {
                Role::Joiner
            },
            data_dir: facts(d).map(|f| f.datadir.clone()).unwrap_or_default(),
            donor_port: d.port.to_string(),
            joiner_port: settings.config.snapshot_port.to_string(),
            pid_file: String::new(),
            server_argv: Vec::new(),
        })
        .collect()
}

/// The snapshot's directory on a receiving host: beside the server's data
/// directory.
pub fn snapshot_dir(data_dir: &str) -> String {
    let trimmed = data_dir.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => format!("{parent}/flashback_snapshot"),
        _ => "/flashback_snapshot".to_owned(),
    }
}

/// What the snapshot step for `n` does, by flavor: a mariabackup stream,
/// or MySQL 8's CLONE plugin (seed 002's path).
pub fn snapshot_actions(flavor: GtidFlavor, donor: &DonorChoice, n: &Node) -> Vec<String> {
    let dir = snapshot_dir(&n.data_dir);
    let temporary = format!("{}:{}", n.host, n.joiner_port);
    match flavor {
        GtidFlavor::Mariadb => vec![
            format!(
                "mariabackup --backup --stream on the donor {}, straight to {}:{dir} (socat, mbstream -x)",
                donor.address, n.host
            ),
            format!("mariabackup --prepare in {dir}"),
            format!("start it on {temporary}, check its GTIDs equal the donor's"),
        ],
        GtidFlavor::Mysql => vec![
            format!(
                "on the donor {}: INSTALL PLUGIN clone SONAME 'mysql_clone.so' unless ACTIVE, SET GLOBAL clone_autotune_concurrency, clone_buffer_size, clone_max_concurrency",
                donor.address
            ),
            format!(
                "write {dir}/my.cnf from what {}:{} reports (port {}, InnoDB page and data files, character set, GTID mode)",
                n.host, n.port, n.joiner_port
            ),
            format!(
                "mysqld --initialize-insecure in {dir}/data, then start it on {temporary}"
            ),
            format!(
                "on {temporary}: install the clone plugin unless ACTIVE, SET GLOBAL clone_valid_donor_list = '{}'",
                donor.address
            ),
            format!("CLONE INSTANCE FROM the donor {}", donor.address),
            "poll performance_schema.clone_status until Completed (bounded); start it again if it stopped itself".to_owned(),
            "check its GTIDs (SHOW MASTER STATUS) equal the donor's".to_owned(),
        ],
    }
}

fn steps(
    settings: &Settings,
    journal: &Journal,
    donor: &DonorChoice,
    nodes: &[Node],
    flavor: GtidFlavor,
) -> Vec<PlannedStep> {
    let prod = settings.production.to_string();
    let dr = settings.dr.to_string();
    let step = |name: &str, at: &str, actions: &[&str]| PlannedStep {
        name: name.to_owned(),
        at: at.to_owned(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    };
    let mut steps = vec![
        step(
            OPEN_JOURNAL,
            "this host",
            &[&format!(
                "write {} (drill id, step, the nodes above)",
                journal.path().display()
            )],
        ),
        step(
            DETACH,
            &prod,
            &[
                "dbscale dynamic remove datasource slave_dbscale_source",
                "dbscale dynamic remove dataserver slave_dbscale_server",
            ],
        ),
        step(STOP_RECEIVING, &dr, &["STOP SLAVE IO_THREAD"]),
        step(
            STOP_REPLICATION,
            &dr,
            &[
                "SHOW SLAVE STATUS until the SQL thread applied all it received (bounded)",
                "STOP SLAVE",
                "dbscale set global 'slave-dbscale-mode'=0",
            ],
        ),
        step(
            WAIT_DONOR,
            &donor.address,
            &["compare its executed GTIDs with the DR master's until equal (bounded)"],
        ),
        step(
            DISABLE_DONOR,
            &dr,
            &[&format!("dbscale disable dataserver {}", donor.server)],
        ),
    ];
    for n in nodes.iter().filter(|n| n.role != Role::Donor) {
        steps.push(PlannedStep {
            name: snapshot_step(&n.server_name),
            at: n.host.clone(),
            actions: snapshot_actions(flavor, donor, n),
        });
    }
    steps.push(PlannedStep {
        name: READ_WRITE.to_owned(),
        at: dr,
        actions: vec!["dbscale set global \"enable-read-only\" = 0".to_owned()],
    });
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maria(g: &str) -> GtidSet {
        GtidSet::parse(GtidFlavor::Mariadb, g).unwrap()
    }

    fn candidate(name: &str, gtid: Option<&str>, normal: bool) -> Candidate {
        Candidate {
            server: name.into(),
            address: format!("{name}:16315"),
            gtid: gtid.map(maria),
            slave_normal: normal,
        }
    }

    #[test]
    fn the_first_replica_at_the_masters_gtids() {
        let master = maria("0-1-100");
        let replicas = [
            candidate("dr_0_1", Some("0-1-99"), true),
            candidate("dr_0_2", Some("0-1-100"), true),
            candidate("dr_0_3", Some("0-1-100"), true),
        ];
        let d = choose_donor(&master, &replicas).unwrap();
        assert_eq!(d.server, "dr_0_2");
        assert!(
            d.reason.contains("at the DR master's GTIDs (0-1-100)"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn else_the_most_advanced_and_never_an_abnormal_or_silent_one() {
        let master = maria("0-1-100");
        let replicas = [
            candidate("dr_0_1", Some("0-1-100"), false),
            candidate("dr_0_2", None, true),
            candidate("dr_0_3", Some("0-1-90"), true),
            candidate("dr_0_4", Some("0-1-95"), true),
        ];
        let d = choose_donor(&master, &replicas).unwrap();
        assert_eq!(d.server, "dr_0_4");
        assert!(d.reason.contains("most advanced (0-1-95)"), "{}", d.reason);
        let err = choose_donor(&master, &replicas[..2]).unwrap_err();
        assert!(
            matches!(err, FlashbackError::NoDonor { replicas: 2 }),
            "{err}"
        );
    }

    #[test]
    fn a_mysql_snapshot_step_is_the_clone() {
        let donor = DonorChoice {
            server: "database_2".into(),
            address: "172.17.138.180:3308".into(),
            reason: "r".into(),
        };
        let node = Node {
            server_name: "database_1".into(),
            host: "172.17.138.182".into(),
            port: "3308".into(),
            role: Role::Primary,
            data_dir: "/data/mysqldata/16315fff/dbdata/".into(),
            donor_port: "3308".into(),
            joiner_port: "18000".into(),
            pid_file: String::new(),
            server_argv: Vec::new(),
        };
        let actions = snapshot_actions(GtidFlavor::Mysql, &donor, &node).join("\n");
        for part in [
            "INSTALL PLUGIN clone",
            "write /data/mysqldata/16315fff/flashback_snapshot/my.cnf from what 172.17.138.182:3308 reports",
            "--initialize-insecure",
            "start it on 172.17.138.182:18000",
            "clone_valid_donor_list = '172.17.138.180:3308'",
            "CLONE INSTANCE FROM the donor 172.17.138.180:3308",
            "performance_schema.clone_status",
        ] {
            assert!(actions.contains(part), "{part} in:\n{actions}");
        }
        let maria = snapshot_actions(GtidFlavor::Mariadb, &donor, &node).join("\n");
        assert!(!maria.contains("CLONE") && maria.contains("mariabackup"));
        let plan = StartPlan {
            donor: donor.clone(),
            steps: vec![PlannedStep {
                name: snapshot_step(&node.server_name),
                at: node.host.clone(),
                actions: snapshot_actions(GtidFlavor::Mysql, &donor, &node),
            }],
            nodes: vec![node],
            flavor: GtidFlavor::Mysql,
        };
        let shown = plan.to_string();
        assert!(
            shown.contains("snapshot: the CLONE plugin, from the donor (MySQL 8)\n")
                && shown
                    .contains("step 1: snapshot the donor for database_1 (on 172.17.138.182)\n")
                && shown.contains("    CLONE INSTANCE FROM the donor 172.17.138.180:3308\n"),
            "{shown}"
        );
    }

    #[test]
    fn snapshots_go_beside_the_data_directory() {
        assert_eq!(
            snapshot_dir("/data/mysqldata/16315fff/dbdata/"),
            "/data/mysqldata/16315fff/flashback_snapshot"
        );
        assert_eq!(snapshot_dir("/data"), "/flashback_snapshot");
    }
}
