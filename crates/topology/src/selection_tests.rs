use super::*;
use crate::fixtures::*;
use crate::{
    ClusterOptions, Dataserver, Datasource, DrAttachment, RouterTopology, ServerStatus, ShowOutcome,
};
use proptest::prelude::*;

/// A cluster from `(datasource, [(server, status)])`, first server master.
fn cluster(spec: &[(&str, &[(&str, &str)])]) -> Cluster {
    let mut servers = BTreeMap::new();
    let mut datasources = Vec::new();
    for (i, (ds, members)) in spec.iter().enumerate() {
        for (j, (name, status)) in members.iter().enumerate() {
            servers.insert(
                ServerName::new(*name),
                Dataserver {
                    name: ServerName::new(*name),
                    host: format!("127.0.{i}.{j}"),
                    port: 16315,
                    username: None,
                    status: ServerStatus::parse(status),
                    master_online: None,
                    master_backup: None,
                    remote_user: None,
                    remote_port: None,
                    master_priority: None,
                },
            );
        }
        datasources.push(Datasource {
            name: (*ds).into(),
            kind: None,
            status: "Working".into(),
            load_balance_strategy: None,
            master_source: None,
            master: members[0].0.into(),
            master_status: ServerStatus::parse(members[0].1),
            replicas: members[1..]
                .iter()
                .map(|(n, _)| ServerName::new(*n))
                .collect(),
            slave_sources: Vec::new(),
        });
    }
    Cluster::new(datasources, servers, None).unwrap()
}

const N: &str = "Slave normal";
const M: &str = "Server normal";

/// ds0: m0, r0a, r0b, r0c (abnormal); ds1: m1, r1a, r1b.
fn two_datasources() -> Cluster {
    cluster(&[
        (
            "ds0",
            &[("m0", M), ("r0a", N), ("r0b", N), ("r0c", "Slave abnormal")],
        ),
        ("ds1", &[("m1", M), ("r1a", N), ("r1b", N)]),
    ])
}

fn names(items: &[&str]) -> BTreeSet<ServerName> {
    items.iter().map(|s| ServerName::new(*s)).collect()
}

fn config(backup_master: bool, slaves: SlaveSelection) -> SelectionConfig {
    SelectionConfig {
        backup_master,
        slaves,
    }
}

fn list(items: &[&str]) -> SlaveSelection {
    SlaveSelection::List(items.iter().map(|s| (*s).to_owned()).collect())
}

fn incremental(items: &[&str]) -> BackupRequest {
    BackupRequest::Incremental {
        last_backup_servers: names(items),
    }
}

/// `select` on [`two_datasources`] with every server reachable.
fn on_two(cfg: SelectionConfig, request: BackupRequest) -> Result<Selection, SelectionError> {
    select(&two_datasources(), &cfg, &BTreeSet::new(), &request)
}

fn skip(reason: SkipReason) -> Decision {
    Decision::Skip(reason)
}

const B: Decision = Decision::Backup;

/// Decisions in cluster order.
fn decisions(selection: &Selection) -> Vec<(&str, Decision)> {
    selection
        .servers
        .iter()
        .map(|c| (c.server.as_str(), c.decision.clone()))
        .collect()
}

#[test]
fn per_server_rules_table() {
    use SkipReason::*;
    let quota = |q| skip(SlaveQuotaFilled { quota: q });
    let abnormal = || {
        skip(SlaveNotNormal {
            status: "Slave abnormal".into(),
        })
    };
    let all = ["m0", "r0a", "r0b", "r0c", "m1", "r1a", "r1b"];
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, SelectionConfig, &[&str], BackupRequest, Vec<Decision>)> = vec![
        (
            "backup-master=1, backup-slave=1: master and first normal replica",
            config(true, SlaveSelection::Count(1)),
            &[],
            BackupRequest::Full,
            vec![B, B, quota(1), abnormal(), B, B, quota(1)],
        ),
        (
            "backup-master=0: master skipped (binlogs only)",
            config(false, SlaveSelection::Count(2)),
            &[],
            BackupRequest::Full,
            vec![
                skip(MasterNotWanted),
                B,
                B,
                abnormal(),
                skip(MasterNotWanted),
                B,
                B,
            ],
        ),
        (
            "backup-slave=0: no replica",
            config(true, SlaveSelection::Count(0)),
            &[],
            BackupRequest::Full,
            vec![B, quota(0), quota(0), abnormal(), B, quota(0), quota(0)],
        ),
        (
            "backup-slave=N larger than the replicas",
            config(true, SlaveSelection::Count(9)),
            &[],
            BackupRequest::Full,
            vec![B, B, B, abnormal(), B, B, B],
        ),
        (
            "unreachable replica does not use up the quota",
            config(false, SlaveSelection::Count(1)),
            &["r0a"],
            BackupRequest::Full,
            vec![
                skip(MasterNotWanted),
                skip(Unreachable),
                B,
                abnormal(),
                skip(MasterNotWanted),
                B,
                quota(1),
            ],
        ),
        (
            "list: exactly the listed replicas, whatever their status",
            config(true, list(&["r0c", "r1b"])),
            &[],
            BackupRequest::Full,
            vec![
                B,
                skip(NotInSlaveList),
                skip(NotInSlaveList),
                B,
                B,
                skip(NotInSlaveList),
                B,
            ],
        ),
        (
            "list: unreachable listed replica",
            config(true, list(&["r0a", "r1a"])),
            &["r1a"],
            BackupRequest::Full,
            vec![
                B,
                B,
                skip(NotInSlaveList),
                skip(NotInSlaveList),
                B,
                skip(Unreachable),
                skip(NotInSlaveList),
            ],
        ),
        (
            "incremental: servers not in the last backup are skipped",
            config(true, SlaveSelection::Count(1)),
            &[],
            incremental(&["m0", "r0b", "m1", "r1a", "r1b"]),
            vec![
                B,
                skip(NotInLastBackup),
                B,
                skip(NotInLastBackup),
                B,
                B,
                quota(1),
            ],
        ),
        (
            "incremental: unreachable wins over not-in-last-backup",
            config(true, SlaveSelection::Count(1)),
            &["r0a"],
            incremental(&["m0", "r0b", "m1", "r1a"]),
            vec![
                B,
                skip(Unreachable),
                B,
                skip(NotInLastBackup),
                B,
                B,
                skip(NotInLastBackup),
            ],
        ),
    ];
    let c = two_datasources();
    for (what, cfg, unreachable, request, expected) in cases {
        let selection = select(&c, &cfg, &names(unreachable), &request)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let expected: Vec<(&str, Decision)> = all.iter().copied().zip(expected).collect();
        assert_eq!(decisions(&selection), expected, "{what}");
    }
}

#[test]
fn full_request_is_full() {
    let s = on_two(config(true, SlaveSelection::Count(1)), BackupRequest::Full).unwrap();
    assert_eq!(s.kind, BackupKind::Full(FullReason::Requested));
    assert!(!s.is_incremental());
}

#[test]
fn incremental_when_last_backup_covers_everything() {
    let cfg = config(true, SlaveSelection::Count(1));
    let s = on_two(
        cfg.clone(),
        incremental(&["m0", "r0a", "m1", "r1a", "gone_server"]),
    )
    .unwrap();
    assert!(s.is_incremental());
    let chosen: Vec<&str> = s.to_backup().map(|c| c.server.as_str()).collect();
    assert_eq!(chosen, ["m0", "r0a", "m1", "r1a"]);
}

#[test]
fn switched_master_forces_full_with_backup_master() {
    let cfg = config(true, SlaveSelection::Count(1));
    // m1 became master after the last backup, which had r1x... so m1 is not in it
    let s = on_two(cfg.clone(), incremental(&["m0", "r0a", "r1a"])).unwrap();
    assert_eq!(
        s.kind,
        BackupKind::Full(FullReason::MasterNotInLastBackup {
            server: "m1".into()
        })
    );
    // recomputed without the last-backup restriction
    assert_eq!(s.choice("m1").unwrap().decision, Decision::Backup);
    assert!(s.kind_reason_text().contains("switchover"));
}

#[test]
fn switched_master_is_irrelevant_without_backup_master() {
    let cfg = config(false, SlaveSelection::Count(1));
    let s = on_two(cfg.clone(), incremental(&["m0", "r0a", "r1a"])).unwrap();
    assert!(s.is_incremental());
    assert_eq!(
        s.choice("m1").unwrap().decision,
        skip(SkipReason::NotInLastBackup)
    );
}

#[test]
fn uncovered_datasource_forces_full() {
    let cfg = config(false, SlaveSelection::Count(1));
    // ds1's replicas were not in the last backup
    let s = on_two(cfg.clone(), incremental(&["m0", "r0a", "m1"])).unwrap();
    assert_eq!(
        s.kind,
        BackupKind::Full(FullReason::DatasourcesNotCovered {
            datasources: vec!["ds1".into()]
        })
    );
    assert_eq!(s.choice("r1a").unwrap().decision, Decision::Backup);
    // an empty last backup covers nothing
    let s = on_two(cfg.clone(), incremental(&[])).unwrap();
    assert_eq!(
        s.kind,
        BackupKind::Full(FullReason::DatasourcesNotCovered {
            datasources: vec!["ds0".into(), "ds1".into()]
        })
    );
    assert!(s.kind_reason_text().contains("ds0, ds1"));
}

#[test]
fn unreachable_master_is_an_error() {
    for request in [
        BackupRequest::Full,
        incremental(&["m0", "r0a", "m1", "r1a"]),
    ] {
        for backup_master in [false, true] {
            let err = select(
                &two_datasources(),
                &config(backup_master, SlaveSelection::Count(1)),
                &names(&["m1"]),
                &request,
            )
            .unwrap_err();
            assert_eq!(
                err,
                SelectionError::MasterUnreachable {
                    datasource: "ds1".into(),
                    server: "m1".into()
                }
            );
        }
    }
    assert_eq!(
        SelectionError::MasterUnreachable {
            datasource: "ds1".into(),
            server: "m1".into()
        }
        .to_string(),
        "master server m1 is unreachable, so datasource ds1 cannot be backed up"
    );
}

#[test]
fn datasource_with_nothing_to_back_up_is_an_error() {
    // backup-master = 0 and no backup-slave: nothing at all
    let err = on_two(
        SelectionConfig::from_config_values(None, None),
        BackupRequest::Full,
    )
    .unwrap_err();
    let SelectionError::NoServerToBackup {
        datasource,
        details,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(datasource, "ds0");
    assert!(details.starts_with("m0: backup-master = 0"), "{details}");
    assert!(
        details.contains("r0a: not in backup-slave list"),
        "{details}"
    );
    // the only normal replica of a datasource is unreachable
    let c = cluster(&[("ds", &[("m", M), ("r1", N), ("r2", "Slave abnormal")])]);
    let err = select(
        &c,
        &config(false, SlaveSelection::Count(1)),
        &names(&["r1"]),
        &BackupRequest::Full,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("datasource ds has no server to back up, all skipped"),
        "{err}"
    );
}

#[test]
fn binlog_sources_follow_backup_master() {
    let c = two_datasources();
    let no_master = select(
        &c,
        &config(false, SlaveSelection::Count(1)),
        &BTreeSet::new(),
        &BackupRequest::Full,
    )
    .unwrap();
    let binlogs: Vec<&str> = no_master
        .binlog_sources()
        .map(|c| c.server.as_str())
        .collect();
    assert_eq!(binlogs, ["m0", "m1"]);
    let with_master = select(
        &c,
        &config(true, SlaveSelection::Count(1)),
        &BTreeSet::new(),
        &BackupRequest::Full,
    )
    .unwrap();
    let binlogs: Vec<&str> = with_master
        .binlog_sources()
        .map(|c| c.server.as_str())
        .collect();
    assert_eq!(binlogs, ["m0", "r0a", "m1", "r1a"]);
}

#[test]
fn unknown_list_entries_are_reported() {
    let s = on_two(
        config(true, SlaveSelection::parse(Some("r0a, typo ,m1,"))),
        BackupRequest::Full,
    )
    .unwrap();
    assert_eq!(s.unknown_listed_slaves, ["m1", "typo"]);
    assert!(s.to_string().contains("backup-slave names \"typo\""));
}

#[test]
fn seed000_recorded_run() {
    // backup-master = 0, backup-slave = 1 on the recorded cluster: the seed's
    // log says normal_0_1 skipped (backup-master=0), normal_0_2 skipped,
    // normal_0_0 going to be backed up.
    let input = RouterTopology {
        replication: ShowOutcome::Rows(rows(SEED000_REPLICATION)),
        mgr: ShowOutcome::NoDatasourceOfType,
        server: ShowOutcome::Rows(rows(SEED000_SERVER_DATASOURCES)),
        dataservers: rows(SEED000_DATASERVERS),
    };
    let c = Cluster::from_router(&input, &ClusterOptions::default()).unwrap();
    let cfg = SelectionConfig::from_config_values(Some("0"), Some("1"));
    let s = select(&c, &cfg, &BTreeSet::new(), &BackupRequest::Full).unwrap();
    assert_eq!(
        decisions(&s),
        [
            ("normal_0_1", skip(SkipReason::MasterNotWanted)),
            ("normal_0_0", B),
            (
                "normal_0_2",
                skip(SkipReason::SlaveQuotaFilled { quota: 1 })
            ),
        ]
    );
    let text = s.to_string();
    assert!(
        text.starts_with("full backup: full backup requested"),
        "{text}"
    );
    assert!(
        text.contains("normal_0_0") && text.contains("backup\n"),
        "{text}"
    );
}

#[test]
fn dr_feed_is_listed_as_excluded() {
    let mut c = two_datasources();
    c.dr_attachment = Some(DrAttachment {
        datasource: "ds0".into(),
        source: "slave_dbscale_source".into(),
        server: "slave_dbscale_server".into(),
        dataserver: None,
    });
    let s = select(
        &c,
        &config(true, SlaveSelection::Count(5)),
        &BTreeSet::new(),
        &BackupRequest::Full,
    )
    .unwrap();
    assert_eq!(s.dr_excluded, Some("slave_dbscale_server".into()));
    assert!(s.choice("slave_dbscale_server").is_none());
    assert!(s.to_string().contains("skip: disaster-recovery feed"));
}

#[test]
fn incremental_display() {
    let s = on_two(
        config(true, list(&["r0a", "r1a"])),
        incremental(&["m0", "r0a", "m1", "r1a"]),
    )
    .unwrap();
    assert!(s.to_string().starts_with("incremental backup\n"));
}

#[test]
fn skip_reasons_print() {
    let cases = [
        (SkipReason::Unreachable, "unreachable"),
        (
            SkipReason::MasterNotWanted,
            "backup-master = 0 (master: binlogs only)",
        ),
        (SkipReason::NotInSlaveList, "not in backup-slave list"),
        (
            SkipReason::SlaveNotNormal {
                status: "Slave down".into(),
            },
            "status is \"Slave down\", not \"Slave normal\"",
        ),
        (
            SkipReason::SlaveQuotaFilled { quota: 2 },
            "backup-slave = 2 replicas already chosen",
        ),
        (
            SkipReason::NotInLastBackup,
            "not backed up by the last backup",
        ),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
    }
}

#[test]
fn backup_slave_values() {
    let cases: [(Option<&str>, SlaveSelection); 9] = [
        (None, list(&[])),
        (Some("1"), SlaveSelection::Count(1)),
        (Some(" 2 "), SlaveSelection::Count(2)),
        (Some("0"), SlaveSelection::Count(0)),
        (Some(""), list(&[""])),
        (Some("a, b"), list(&["a", "b"])),
        (Some("1,2"), list(&["1", "2"])),
        (Some("-1"), list(&["-1"])),
        (
            Some("99999999999999999999999"),
            SlaveSelection::Count(usize::MAX),
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(SlaveSelection::parse(value), expected, "{value:?}");
    }
    for (value, expected) in [
        (Some("1"), true),
        (Some("true"), true),
        (Some("TRUE"), true),
        (Some("0"), false),
        (Some("yes"), false),
        (None, false),
    ] {
        assert_eq!(
            SelectionConfig::from_config_values(value, None).backup_master,
            expected,
            "{value:?}"
        );
    }
}

impl Selection {
    fn kind_reason_text(&self) -> String {
        match &self.kind {
            BackupKind::Full(reason) => reason.to_string(),
            BackupKind::Incremental => String::new(),
        }
    }
}

proptest! {
    /// Whatever the inputs: unreachable servers are never backed up, at most
    /// N replicas per datasource are, only `Slave normal` ones in count mode,
    /// and a successful selection backs up something in every datasource.
    #[test]
    fn selection_invariants(
        backup_master in any::<bool>(),
        quota in proptest::option::of(0usize..4),
        listed in proptest::collection::btree_set(0usize..7, 0..7),
        unreachable in proptest::collection::btree_set(0usize..7, 0..4),
        last in proptest::option::of(proptest::collection::btree_set(0usize..7, 0..7)),
    ) {
        let c = two_datasources();
        let all: Vec<ServerName> = c.members().map(|m| m.server.name.clone()).collect();
        let pick = |set: &BTreeSet<usize>| set.iter().map(|i| all[*i].clone()).collect::<BTreeSet<_>>();
        let slaves = match quota {
            Some(n) => SlaveSelection::Count(n),
            None => SlaveSelection::List(pick(&listed).iter().map(|s| s.to_string()).collect()),
        };
        let request = match &last {
            Some(l) => BackupRequest::Incremental { last_backup_servers: pick(l) },
            None => BackupRequest::Full,
        };
        let unreachable = pick(&unreachable);
        match select(&c, &config(backup_master, slaves), &unreachable, &request) {
            Ok(s) => {
                for ds in &c.datasources {
                    let chosen: Vec<&ServerChoice> =
                        s.to_backup().filter(|x| x.datasource == ds.name).collect();
                    prop_assert!(!chosen.is_empty());
                    let replicas = chosen.iter().filter(|x| x.role == Role::Replica).count();
                    if let Some(n) = quota {
                        prop_assert!(replicas <= n);
                    }
                }
                for x in s.to_backup() {
                    prop_assert!(!unreachable.contains(&x.server));
                    if quota.is_some() && x.role == Role::Replica {
                        prop_assert!(c.server(x.server.as_str()).unwrap().status.is_slave_normal());
                    }
                    if x.role == Role::Master {
                        prop_assert!(backup_master);
                    }
                }
                if s.is_incremental() {
                    let l = pick(last.as_ref().unwrap());
                    prop_assert!(s.to_backup().all(|x| l.contains(&x.server)));
                }
            }
            Err(SelectionError::MasterUnreachable { server, .. }) => {
                prop_assert!(unreachable.contains(&server));
            }
            Err(SelectionError::NoServerToBackup { .. }) => {}
        }
    }
}
