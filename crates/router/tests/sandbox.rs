//! Against the sandbox cluster through the DBScale emulator
//! (`cargo xtask sandbox up`); skipped when no sandbox is running.

use std::collections::BTreeMap;
use std::time::Duration;

use router::{Client, Endpoint, RouterError};
use topology::{
    Cluster, ClusterOptions, SHOW_MGR, SHOW_REPLICATION, ShowOutcome, TopologyError,
    parse_dbscale_conf,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn endpoint(e: &testkit::Endpoint) -> Endpoint {
    Endpoint::new(&e.host, e.port, &e.user, &e.password)
}

async fn connect(e: &testkit::Endpoint) -> Client {
    Client::connect(&endpoint(e), TIMEOUT)
        .await
        .unwrap_or_else(|err| panic!("{err}"))
}

/// Whether the router reports a slave DBScale (the DR feed) on any datasource.
fn has_dr_feed(topology: &topology::RouterTopology) -> bool {
    topology
        .replication
        .rows()
        .iter()
        .any(|r| r.column("SlaveDBScale") == Some(Some("Yes")))
}

#[tokio::test]
async fn production_topology_matches_the_sandbox() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let mut router = connect(&sb.router()).await;
    router.set_statement_timeout(Some(Duration::from_secs(30)));
    let dir = tempfile::tempdir().unwrap();
    let conf_path = dir.path().join("dbscale_tmp.conf");
    let conf_path = conf_path.to_str().unwrap();
    let topo = router.fetch_topology(Some(conf_path)).await.unwrap();

    assert_eq!(topo.mgr, ShowOutcome::NoDatasourceOfType);
    let dr = has_dr_feed(&topo);
    if dr {
        // a DR-attached cluster is refused unless DR mode is on, as in the seed
        assert!(matches!(
            Cluster::from_router(&topo, &ClusterOptions::default()),
            Err(TopologyError::ExternalServerDatasource { .. })
        ));
    }
    let cluster = Cluster::from_router(
        &topo,
        &ClusterOptions {
            disaster_recovery: dr,
        },
    )
    .unwrap();
    if dr {
        let feed = cluster.dr_attachment.as_ref().unwrap();
        assert_eq!(feed.server, topology::SLAVE_DBSCALE_SERVER);
        assert!(cluster.server(topology::SLAVE_DBSCALE_SERVER).is_none());
    }

    let names: Vec<&str> = cluster
        .datasources
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["normal_0", "normal_1"]);
    let expected = sb.prod_servers();
    for ds in &cluster.datasources {
        assert_eq!(ds.replicas.len(), 2, "{}", ds.name);
        let mut mine: Vec<&str> = ds.servers().map(|(s, _)| s.as_str()).collect();
        mine.sort_unstable();
        let mut theirs: Vec<&str> = expected
            .iter()
            .filter(|s| s.datasource == ds.name.as_str())
            .map(|s| s.name.as_str())
            .collect();
        theirs.sort_unstable();
        assert_eq!(mine, theirs, "{}", ds.name);
        assert!(
            ds.master_status.is_normal(),
            "{}: {}",
            ds.name,
            ds.master_status
        );
    }
    for s in &expected {
        let server = cluster
            .server(&s.name)
            .unwrap_or_else(|| panic!("{} missing", s.name));
        assert_eq!(
            (server.host.as_str(), server.port),
            (s.host.as_str(), s.port)
        );
        let (ds, role) = cluster.datasource_of(&s.name).unwrap();
        assert_eq!(ds.name, s.datasource.as_str());
        assert_eq!(
            role.to_string(),
            s.initial_role,
            "{} (switched over?)",
            s.name
        );
    }

    // the flushed config is on this host (the router's host); credentials
    // log into every dataserver directly as plain MariaDB
    let text = std::fs::read_to_string(conf_path).expect("router wrote the config file");
    let creds = parse_dbscale_conf(&text).unwrap();
    for s in &expected {
        let c = creds
            .get(s.name.as_str())
            .unwrap_or_else(|| panic!("no credentials for {}", s.name));
        assert_eq!(c.user, sb.var("MYSQL_USER"));
        assert_eq!(c.password.expose(), sb.var("MYSQL_PASSWORD"));
    }
    let first = &expected[0];
    let c = &creds[first.name.as_str()];
    let mut server = Client::connect(
        &Endpoint::new(&first.host, first.port, &c.user, c.password.expose()),
        TIMEOUT,
    )
    .await
    .unwrap();
    let rows = server
        .query("SHOW VARIABLES LIKE 'gtid_strict_mode'")
        .await
        .unwrap();
    assert_eq!(rows[0].column("Value"), Some(Some("ON")));
    let rows = server
        .query("SELECT 1 AS one, NULL AS nothing")
        .await
        .unwrap();
    assert_eq!(rows[0].column("one"), Some(Some("1")));
    assert_eq!(rows[0].column("nothing"), Some(None));
    server.close().await.unwrap();
    router.close().await.unwrap();
}

#[tokio::test]
async fn mgr_gives_the_typed_no_datasource_answer() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let mut router = connect(&sb.router()).await;
    assert_eq!(
        router.show(SHOW_MGR).await.unwrap(),
        ShowOutcome::NoDatasourceOfType
    );
    let err = router.query(SHOW_MGR).await.unwrap_err();
    assert!(
        matches!(&err, RouterError::NoDatasourceOfType { statement, .. } if statement == SHOW_MGR),
        "{err}"
    );
    assert_eq!(err.server_error_number(), Some(9004));
    // the connection stays usable
    assert!(
        matches!(router.show(SHOW_REPLICATION).await.unwrap(), ShowOutcome::Rows(r) if !r.is_empty())
    );
}

#[tokio::test]
async fn errors_name_address_and_statement_but_not_the_password() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let r = sb.router();
    let mut bad = r.clone();
    bad.password = format!("{}-wrong", r.password);
    let err = Client::connect(&endpoint(&bad), TIMEOUT).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("{}:{}", r.host, r.port)), "{text}");
    assert!(!text.contains(&bad.password), "{text}");

    let mut router = connect(&r).await;
    let err = router
        .query("dbscale show no_such_thing")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("dbscale show no_such_thing"), "{text}");
    assert!(matches!(err, RouterError::Statement { .. }), "{text}");
    assert!(matches!(
        router.flush_config_to_file("/tmp/x'; drop").await,
        Err(RouterError::InvalidPath { .. })
    ));
}

#[tokio::test]
async fn dr_router_topology_matches_the_sandbox() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    // DR router: three servers of one datasource, no DR feed of its own
    let mut dr = connect(&sb.dr_router()).await;
    let topo = dr.fetch_topology(None).await.unwrap();
    let cluster = Cluster::from_router(&topo, &ClusterOptions::default()).unwrap();
    let servers: BTreeMap<&str, &str> = cluster
        .members()
        .map(|m| (m.server.name.as_str(), m.datasource.name.as_str()))
        .collect();
    let dr_servers = sb.dr_servers();
    let expected: BTreeMap<&str, &str> = dr_servers
        .iter()
        .map(|s| (s.name.as_str(), s.datasource.as_str()))
        .collect();
    assert_eq!(servers, expected);
}
