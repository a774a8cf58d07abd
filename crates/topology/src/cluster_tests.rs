use super::*;
use crate::fixtures::*;
use crate::{SHOW_REPLICATION, StatusKind};

fn seed000() -> RouterTopology {
    RouterTopology {
        replication: ShowOutcome::Rows(rows(SEED000_REPLICATION)),
        mgr: ShowOutcome::NoDatasourceOfType,
        server: ShowOutcome::Rows(rows(SEED000_SERVER_DATASOURCES)),
        dataservers: rows(SEED000_DATASERVERS),
    }
}

fn build(input: &RouterTopology) -> Result<Cluster, TopologyError> {
    Cluster::from_router(input, &ClusterOptions::default())
}

fn dr_options() -> ClusterOptions {
    ClusterOptions {
        disaster_recovery: true,
    }
}

/// The seed-000 cluster with a DR feed attached to normal_0 the way
/// dr-flashback attaches it (`slave_dbscale_source` / `slave_dbscale_server`,
/// whose dataserver row is the one seed 002 recorded).
fn seed000_with_dr_feed() -> RouterTopology {
    let mut input = seed000();
    let ShowOutcome::Rows(rep) = &mut input.replication else {
        unreachable!()
    };
    for row in rep.iter_mut() {
        row.set("SlaveDBScale", Some("No"));
    }
    let mut feed = rep[1].clone();
    feed.set("SlaveSource", Some("slave_dbscale_source"));
    feed.set("SlaveServers", Some("slave_dbscale_server"));
    feed.set("SlaveServerHostInfo", Some("172.17.138.181:3307"));
    feed.set("SlaveDBScale", Some("Yes"));
    rep.push(feed);
    let ShowOutcome::Rows(server) = &mut input.server else {
        unreachable!()
    };
    let mut sd = server[0].clone();
    sd.set("Name", Some("slave_dbscale_source"));
    sd.set("Server", Some("slave_dbscale_server"));
    sd.set("Is-internal", Some("NO"));
    server.push(sd);
    let feed_row = rows(SEED002_PROD_DATASERVERS).pop().unwrap();
    input.dataservers.push(feed_row);
    input
}

fn replication_rows(input: &mut RouterTopology) -> &mut Vec<Row> {
    match &mut input.replication {
        ShowOutcome::Rows(rows) => rows,
        ShowOutcome::NoDatasourceOfType => unreachable!(),
    }
}

#[test]
fn seed000_recorded_cluster() {
    let cluster = build(&seed000()).unwrap();
    assert_eq!(cluster.datasources.len(), 1);
    let ds = &cluster.datasources[0];
    assert_eq!(ds.name, "normal_0");
    assert_eq!(ds.kind.as_deref(), Some("Replication"));
    assert_eq!(ds.status, "Working");
    assert_eq!(ds.load_balance_strategy.as_deref(), Some("MASTER"));
    assert_eq!(ds.master_source.as_deref(), Some("normal_0_normal_0_1"));
    assert_eq!(ds.master, "normal_0_1");
    assert_eq!(ds.master_status.kind(), StatusKind::ServerNormal);
    assert_eq!(
        ds.replicas,
        [ServerName::new("normal_0_0"), "normal_0_2".into()]
    );
    assert_eq!(ds.slave_sources.len(), 2);
    assert_eq!(ds.slave_sources[1].name, "normal_0_normal_0_2");
    assert_eq!(ds.slave_sources[1].status.as_deref(), Some("Working"));
    assert_eq!(
        ds.slave_sources[1].gtid_status.as_deref(),
        Some("GTID good")
    );
    assert!(!ds.slave_sources[1].slave_dbscale);
    // the seed's curr_server_list: ['normal_0_1', 'normal_0_0', 'normal_0_2']
    let order: Vec<(&str, Role)> = cluster
        .members()
        .map(|m| (m.server.name.as_str(), m.role))
        .collect();
    assert_eq!(
        order,
        [
            ("normal_0_1", Role::Master),
            ("normal_0_0", Role::Replica),
            ("normal_0_2", Role::Replica)
        ]
    );
    assert_eq!(cluster.server("normal_0_0").unwrap().host, "172.17.134.71");
    assert!(cluster.is_master("normal_0_1"));
    assert!(!cluster.is_master("normal_0_0"));
    let (d, role) = cluster.datasource_of("normal_0_2").unwrap();
    assert_eq!((d.name.as_str(), role), ("normal_0", Role::Replica));
    assert!(cluster.datasource_of("nope").is_none());
    assert!(cluster.datasource("normal_0").is_some());
    assert!(cluster.dr_attachment.is_none());
    assert_eq!(Role::Master.to_string(), "master");
    assert_eq!(Role::Replica.to_string(), "replica");
}

#[test]
fn seed000_example_with_cascaded_source() {
    let input = RouterTopology {
        replication: ShowOutcome::Rows(rows(SEED000_EXAMPLE_REPLICATION)),
        mgr: ShowOutcome::NoDatasourceOfType,
        server: ShowOutcome::NoDatasourceOfType,
        dataservers: rows(SEED000_EXAMPLE_DATASERVERS),
    };
    let cluster = build(&input).unwrap();
    let summary: Vec<(&str, &str, Vec<&str>)> = cluster
        .datasources
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.master.as_str(),
                d.replicas.iter().map(ServerName::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("auth", "auth_server", vec![]),
            ("rep", "master", vec!["slave1"]),
            ("source1", "server1", vec!["slave2"]),
        ]
    );
    // auth has no slave source at all; rep lists the cascaded source1
    assert!(cluster.datasources[0].slave_sources.is_empty());
    let rep = &cluster.datasources[1];
    assert_eq!(rep.slave_sources[1].name, "source1");
    assert_eq!(rep.slave_sources[1].server, None);
    assert_eq!(rep.slave_sources[1].server_status.kind(), StatusKind::Empty);
    // source1's master reports "Slave normal" (it replicates from rep): accepted
    assert_eq!(
        cluster.datasources[2].master_status.kind(),
        StatusKind::SlaveNormal
    );
    assert_eq!(cluster.servers.len(), 5);
    assert_eq!(cluster.datasources[0].kind, None);
}

#[test]
fn servers_of_no_datasource_are_dropped() {
    let mut input = seed000();
    input.dataservers.extend(rows(SEED002_PROD_DATASERVERS));
    let cluster = build(&input).unwrap();
    assert_eq!(cluster.servers.len(), 3);
    assert!(cluster.server("slave_dbscale_server").is_none());
}

#[test]
fn status_rules_name_the_datasource() {
    let cases: [(usize, &str, &str, TopologyError); 4] = [
        (
            0,
            "SourceStatus",
            "Stopped",
            TopologyError::DatasourceNotWorking {
                datasource: "normal_0".into(),
                status: "Stopped".into(),
            },
        ),
        (
            1,
            "SourceStatus",
            "Stopped",
            TopologyError::DatasourceNotWorking {
                datasource: "normal_0".into(),
                status: "Stopped".into(),
            },
        ),
        (
            0,
            "MasterSourceStatus",
            "Switching",
            TopologyError::MasterSourceNotWorking {
                datasource: "normal_0".into(),
                status: "Switching".into(),
            },
        ),
        (
            0,
            "MasterServerStatus",
            "Server down",
            TopologyError::MasterNotNormal {
                datasource: "normal_0".into(),
                server: "normal_0_1".into(),
                status: "Server down".into(),
            },
        ),
    ];
    for (row, column, value, expected) in cases {
        let mut input = seed000();
        replication_rows(&mut input)[row].set(column, Some(value));
        assert_eq!(build(&input).unwrap_err(), expected, "{column}={value}");
    }
    let mut input = seed000();
    replication_rows(&mut input)[0].set("MasterServerStatus", Some("Server abnormal"));
    assert!(matches!(
        build(&input),
        Err(TopologyError::MasterNotNormal { .. })
    ));
    let err = TopologyError::MasterNotNormal {
        datasource: "normal_0".into(),
        server: "normal_0_1".into(),
        status: "Server down".into(),
    };
    assert_eq!(
        err.to_string(),
        "master server normal_0_1 of datasource [normal_0] is not normal right now (Server down)"
    );
}

#[test]
fn abnormal_replicas_are_not_a_topology_error() {
    let mut input = seed000();
    replication_rows(&mut input)[1].set("SlaveServerStatus", Some("Slave abnormal"));
    replication_rows(&mut input)[1].set("SlaveSourceStatus", Some("Stopped"));
    let cluster = build(&input).unwrap();
    assert_eq!(
        cluster.datasources[0].slave_sources[1].server_status.kind(),
        StatusKind::Abnormal
    );
}

#[test]
fn no_replication_datasource() {
    let mut input = seed000();
    input.replication = ShowOutcome::NoDatasourceOfType;
    assert_eq!(build(&input), Err(TopologyError::NoReplicationDatasource));
    input.replication = ShowOutcome::Rows(vec![]);
    assert_eq!(build(&input), Err(TopologyError::NoReplicationDatasource));
}

#[test]
fn mgr_datasources_are_refused() {
    let mut input = seed000();
    input.mgr = ShowOutcome::Rows(vec![Row::from_pairs([("Name", Some("mgr_0"))])]);
    let err = build(&input).unwrap_err();
    assert_eq!(
        err,
        TopologyError::MgrUnsupported {
            datasources: vec!["mgr_0".into()]
        }
    );
    assert!(err.to_string().contains("mgr_0"));
    // any answer but 9004 means MGR datasources exist
    input.mgr = ShowOutcome::Rows(vec![]);
    assert!(matches!(
        build(&input),
        Err(TopologyError::MgrUnsupported { .. })
    ));
}

#[test]
fn external_server_datasources_are_refused() {
    let mut input = seed000();
    let ShowOutcome::Rows(server) = &mut input.server else {
        unreachable!()
    };
    server[2].set("Is-internal", Some("NO"));
    assert_eq!(
        build(&input),
        Err(TopologyError::ExternalServerDatasource {
            datasource: "normal_0_normal_0_2".into(),
            server: "normal_0_2".into()
        })
    );
    // without DR mode, the DR feed is refused the same way
    assert_eq!(
        build(&seed000_with_dr_feed()),
        Err(TopologyError::ExternalServerDatasource {
            datasource: "slave_dbscale_source".into(),
            server: "slave_dbscale_server".into()
        })
    );
}

#[test]
fn dr_feed_is_accepted_and_excluded_in_dr_mode() {
    let cluster = Cluster::from_router(&seed000_with_dr_feed(), &dr_options()).unwrap();
    let dr = cluster.dr_attachment.as_ref().unwrap();
    assert_eq!(dr.datasource, "normal_0");
    assert_eq!(dr.source, "slave_dbscale_source");
    assert_eq!(dr.server, "slave_dbscale_server");
    assert!(dr.dataserver.as_ref().unwrap().is_slave_dbscale_server());
    let ds = &cluster.datasources[0];
    assert_eq!(
        ds.replicas,
        [ServerName::new("normal_0_0"), "normal_0_2".into()]
    );
    assert!(ds.slave_sources[2].slave_dbscale);
    assert!(cluster.server("slave_dbscale_server").is_none());
}

#[test]
fn dr_server_falls_back_to_slave_servers() {
    let mut input = seed000_with_dr_feed();
    let ShowOutcome::Rows(server) = &mut input.server else {
        unreachable!()
    };
    server.pop();
    let cluster = Cluster::from_router(&input, &dr_options()).unwrap();
    assert_eq!(
        cluster.dr_attachment.unwrap().server,
        "slave_dbscale_server"
    );
    replication_rows(&mut input)[2].set("SlaveServers", Some(""));
    assert_eq!(
        Cluster::from_router(&input, &dr_options()),
        Err(TopologyError::DrServerUnknown {
            source_name: "slave_dbscale_source".into()
        })
    );
}

#[test]
fn dr_mode_requires_exactly_one_slave_dbscale_source() {
    // no SlaveDBScale column: not a DR-attached cluster
    assert_eq!(
        Cluster::from_router(&seed000(), &dr_options()),
        Err(TopologyError::NoSlaveDbscaleColumn)
    );
    let mut input = seed000_with_dr_feed();
    replication_rows(&mut input)[2].set("SlaveDBScale", Some("No"));
    assert_eq!(
        Cluster::from_router(&input, &dr_options()),
        Err(TopologyError::NoDrAttachment)
    );
    let mut input = seed000_with_dr_feed();
    replication_rows(&mut input)[1].set("SlaveDBScale", Some("Yes"));
    assert_eq!(
        Cluster::from_router(&input, &dr_options()),
        Err(TopologyError::SeveralDrAttachments {
            sources: vec!["normal_0_normal_0_2".into(), "slave_dbscale_source".into()]
        })
    );
}

#[test]
fn missing_replication_column_names_statement() {
    let mut input = seed000();
    replication_rows(&mut input)[1].remove("SlaveServers");
    assert_eq!(
        build(&input),
        Err(TopologyError::MissingColumn {
            statement: SHOW_REPLICATION,
            column: "SlaveServers"
        })
    );
}

#[test]
fn servers_must_be_listed_once() {
    let mut input = seed000();
    input.dataservers.remove(2);
    assert_eq!(
        build(&input),
        Err(TopologyError::UnknownServer {
            datasource: "normal_0".into(),
            server: "normal_0_2".into()
        })
    );
    let mut input = seed000();
    let dup = input.dataservers[0].clone();
    input.dataservers.push(dup);
    assert_eq!(
        build(&input),
        Err(TopologyError::Duplicate {
            what: "server",
            name: "normal_0_0".into()
        })
    );
    // a server in two datasources (normal_0_2 replica of normal_0, master of normal_1)
    let mut input = seed000();
    let mut other = replication_rows(&mut input)[0].clone();
    other.set("Name", Some("normal_1"));
    other.set("MasterServer", Some("normal_0_2"));
    other.set("SlaveServers", Some(""));
    replication_rows(&mut input).push(other);
    assert_eq!(
        build(&input),
        Err(TopologyError::Duplicate {
            what: "server",
            name: "normal_0_2".into()
        })
    );
}

#[test]
fn masters_must_be_present_and_unique() {
    let mut input = seed000();
    replication_rows(&mut input)[0].set("MasterServer", Some(""));
    assert_eq!(
        build(&input),
        Err(TopologyError::NoMaster {
            datasource: "normal_0".into()
        })
    );
    let mut input = seed000();
    replication_rows(&mut input)[1].set("MasterServer", Some("normal_0_2"));
    assert_eq!(
        build(&input),
        Err(TopologyError::ConflictingMasters {
            datasource: "normal_0".into(),
            first: "normal_0_1".into(),
            second: "normal_0_2".into()
        })
    );
    let mut input = seed000();
    let first = replication_rows(&mut input)[0].clone();
    replication_rows(&mut input)[1] = first;
    // the same master repeated is fine; the same replica listed twice is not
    assert!(matches!(
        build(&input),
        Err(TopologyError::Duplicate { .. })
    ));
}

#[test]
fn cluster_new_rejects_duplicate_datasources() {
    let cluster = build(&seed000()).unwrap();
    let ds = cluster.datasources[0].clone();
    assert_eq!(
        Cluster::new(vec![ds.clone(), ds], cluster.servers.clone(), None),
        Err(TopologyError::Duplicate {
            what: "datasource",
            name: "normal_0".into()
        })
    );
}
