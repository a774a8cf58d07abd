//! A datasource that never had a transaction (a new, empty shard) is backed
//! up and recovered with the rest of the cluster (issue 21, item 11): its
//! replica's `executed_gtids` is empty and its master's first binlog begins
//! its history, so replaying that binlog from its start is exact.
//!
//! The test runs on a small cluster of its own (`testkit::small_cluster`:
//! datasource `written` and datasource `empty`, each a master and one
//! replica, behind a router emulator of its own), so it neither changes nor
//! waits for the shared sandbox. It takes a full backup, writes to
//! `written` only, takes an incremental one, writes again, then recovers
//! the whole cluster to the incremental backup and to a second between the
//! two, and checks every datasource's rows and GTID position exactly.
#![allow(clippy::unwrap_used)]

// This test takes no sandbox lock: its cluster is its own (`serial` unused).
#[allow(unused_imports)]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::server::CheckServer;
use common::{Env, To, restored_datadir, set_key};
use testkit::Sandbox;
use testkit::small_cluster::SmallCluster;

const DB: &str = "empty_shard";

/// Inserts rows `ids` into `<DB>.t` on the `written` master.
fn insert(cluster: &SmallCluster, ids: std::ops::RangeInclusive<u64>) {
    let values: Vec<String> = ids.map(|i| format!("({i}, 'row-{i}')")).collect();
    cluster.sql(
        cluster.server("written_0"),
        &format!("INSERT INTO {DB}.t (id, v) VALUES {};", values.join(", ")),
    );
}

/// Waits until every replica applied what its master binlogged (the
/// backup takes the replicas' data).
fn caught_up(cluster: &SmallCluster) {
    for replica in cluster
        .servers
        .iter()
        .filter(|s| s.initial_role == "replica")
    {
        let master = cluster.server(&format!("{}_0", replica.datasource));
        let want = cluster.sql(master, "SELECT @@GLOBAL.gtid_binlog_pos;");
        testkit::poll::Poll::within(Duration::from_secs(30))
            .every(Duration::from_millis(50))
            .wait(&format!("{} catching up with {want}", replica.name), || {
                cluster.sql(replica, "SELECT @@GLOBAL.gtid_slave_pos;") == want
            });
    }
}

/// Runs `dbbackup` against the small cluster's router into the test's
/// store; returns the new backup's name.
async fn backup(env: &Env, cluster: &SmallCluster) -> String {
    let router = cluster.router();
    let text = std::fs::read_to_string(env.backup_conf()).unwrap();
    let text = set_key(&text, "cluster", "ip", &router.host);
    let text = set_key(&text, "cluster", "port", &router.port.to_string());
    // The small cluster feeds no DR cluster.
    let text = set_key(&text, "misc", "use-disaster-recovery-cluster", "false");
    let conf = env.file("backup-small.conf", &text);
    env.backup_with(&conf, &[]).await.0
}

/// The directory of `server` in `backup` on the store.
fn server_dir(env: &Env, backup: &str, server: &str) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(env.store.join(backup))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .split('-')
                .nth(1)
                .is_some_and(|s| s == server)
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{backup}: directories of {server}: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// Two ports free on the job server for the temporary servers: away from
/// the ports other recovery tests use, which may run meanwhile.
fn tmp_ports(sb: &Sandbox) -> u16 {
    let host = sb.var("JOB_HOST");
    (27700..27900)
        .step_by(2)
        .find(|p| (0..2).all(|i| std::net::TcpListener::bind((host, p + i)).is_ok()))
        .expect("a free pair of ports on the job server")
}

/// Recovers the whole small cluster to `to` with `dbrecover`.
async fn recover(env: &Env, to: &To) {
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", to);
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = set_key(
        &text,
        "misc",
        "server-tmp-port",
        &tmp_ports(&env.sb).to_string(),
    );
    std::fs::write(&conf, text).unwrap();
    let dry = env.dbrecover(&conf, &["--dry-run"], &[]).await;
    assert_eq!(dry.code, Some(0), "{dry}");
    // The empty datasource replays its master's binlogs from their start.
    assert!(
        dry.stdout.contains("replay from mysql-bin.000001:4\n"),
        "{to:?}: the plan:\n{dry}"
    );
    env.dbrecover(&conf, &[], &[]).await.assert_recovered();
}

/// What a restored datasource holds: the ids of `<DB>.t` (`None` without
/// the database), its GTID slave and current positions, its replication
/// connections.
fn restored(env: &Env, to: &To, ds: &str) -> (Option<Vec<u64>>, String, String, Vec<String>) {
    let run_dir = env.run_dir(to);
    let data = restored_datadir(&run_dir, ds);
    let name = format!(
        "check-{ds}-{}",
        run_dir.file_name().unwrap().to_string_lossy()
    );
    let server = CheckServer::start(&data, &env.tmp.join(name));
    let has_db = !server
        .query(&format!("SHOW DATABASES LIKE '{DB}'"))
        .is_empty();
    let ids = has_db.then(|| server.ids(DB).into_iter().collect());
    let state = server.query("SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.gtid_current_pos");
    let (slave, current) = state[0].split_once('\t').unwrap();
    let slaves = server.query("SHOW ALL SLAVES STATUS");
    (ids, slave.to_owned(), current.to_owned(), slaves)
}

/// Checks both restored datasources: `written` holds exactly `ids` at the
/// GTID position `gtid`; `empty` holds no database of the test and no GTID
/// position; neither has replication configured.
fn check(env: &Env, to: &To, ids: std::ops::RangeInclusive<u64>, gtid: &str) {
    let (got, slave, current, slaves) = restored(env, to, "written");
    assert_eq!(got, Some(ids.collect::<Vec<_>>()), "{to:?}: written's rows");
    assert_eq!(
        (slave.as_str(), current.as_str()),
        (gtid, gtid),
        "{to:?}: written's GTID position"
    );
    assert!(
        slaves.is_empty(),
        "{to:?}: written still replicates: {slaves:?}"
    );
    let (got, slave, current, slaves) = restored(env, to, "empty");
    assert_eq!(
        got, None,
        "{to:?}: the empty datasource has the test's database"
    );
    assert_eq!(
        (slave.as_str(), current.as_str()),
        ("", ""),
        "{to:?}: empty's GTID position"
    );
    assert!(
        slaves.is_empty(),
        "{to:?}: empty still replicates: {slaves:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datasource_never_written_to_is_backed_up_and_recovered_empty() {
    let Some(sb) = Sandbox::get() else { return };
    let cluster = SmallCluster::start(&sb, &[("written", 1), ("empty", 1)]);
    let env = Env::new(&sb, "empty-shard");
    cluster.sql(
        cluster.server("written_0"),
        &format!(
            "CREATE DATABASE {DB};\n\
             CREATE TABLE {DB}.t (id BIGINT PRIMARY KEY, v VARCHAR(64) NOT NULL) ENGINE=InnoDB;\n"
        ),
    );
    insert(&cluster, 1..=10);
    caught_up(&cluster);

    let full = backup(&env, &cluster).await;
    assert!(full.ends_with("-full"), "{full}");
    // The empty datasource's replica was backed up holding no transaction.
    let empty_replica = server_dir(&env, &full, "empty_1");
    let executed = std::fs::read_to_string(empty_replica.join("executed_gtids")).unwrap();
    assert_eq!(executed.trim(), "", "{}", empty_replica.display());

    insert(&cluster, 11..=15);
    let at_fifteen = cluster
        .sql(
            cluster.server("written_0"),
            "SELECT @@GLOBAL.gtid_binlog_pos;",
        )
        .trim()
        .to_owned();
    // A second that falls between rows 15 and 16 (the stop is local time,
    // as the server's NOW()).
    std::thread::sleep(Duration::from_millis(1100));
    let between = cluster
        .sql(cluster.server("written_0"), "SELECT NOW();")
        .trim()
        .to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    insert(&cluster, 16..=20);
    caught_up(&cluster);
    let at_inc = cluster
        .sql(
            cluster.server("written_0"),
            "SELECT @@GLOBAL.gtid_binlog_pos;",
        )
        .trim()
        .to_owned();
    let inc = backup(&env, &cluster).await;
    assert!(inc.ends_with("-inc"), "{inc} is not incremental");
    let executed =
        std::fs::read_to_string(server_dir(&env, &inc, "empty_1").join("executed_gtids")).unwrap();
    assert_eq!(executed.trim(), "");
    insert(&cluster, 21..=30);

    let to = To::Dir(inc.clone());
    recover(&env, &to).await;
    check(&env, &to, 1..=20, &at_inc);

    // To a second between the backups: the full backup, then the binlogs
    // of both up to that second.
    let to = To::Time(between);
    recover(&env, &to).await;
    check(&env, &to, 1..=15, &at_fifteen);
}
