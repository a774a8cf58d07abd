//! Full or incremental: each rule of the seed's `confirm_backup_type`, set
//! up for real on the sandbox, through the engine's library API (plans are
//! read with `prepare`; backups are taken with `execute`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Store, plan, take};
use topology::{BackupKind, FullReason};

fn full_reason(plan: &backup::BackupPlan) -> Option<FullReason> {
    match &plan.selection.kind {
        BackupKind::Full(r) => Some(r.clone()),
        BackupKind::Incremental => None,
    }
}

async fn sql_on(sb: &testkit::Sandbox, server: &str, statement: &str) {
    let e = sb.mysql(&sb.server(server));
    let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
    let mut c = router::Client::connect(&ep, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    c.execute(statement).await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_good_backup_then_incremental_then_forced_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "basic");

    let first = plan(store.conf(&[])).await;
    assert_eq!(full_reason(&first), Some(FullReason::Requested));
    assert!(first.to_string().contains("full backup"), "{first}");
    let done = take(store.conf(&[])).await;
    assert!(!done.plan.is_incremental());

    let next = plan(store.conf(&[])).await;
    assert!(next.is_incremental(), "{next}");
    assert_eq!(next.last, Some(done.plan.name));
    assert!(next.servers.iter().all(|s| s.incremental_from.is_some()));
    assert!(
        next.to_string()
            .contains(&format!("incremental on top of {}", done.plan.name))
    );

    let forced = plan(store.conf(&[("force-full-backup", "1")])).await;
    assert_eq!(full_reason(&forced), Some(FullReason::Requested));
    assert!(forced.servers.iter().all(|s| s.incremental_from.is_none()));
}

/// The switchover rule for real: with `backup-master = 1`, a backup, then a
/// clean MariaDB switchover in `normal_0` to a replica that backup did not
/// take (the router sees the new master as the real one would, from the
/// live backends); the next backup is full and says which master was not
/// backed up last time. The guard switches
/// back even if the test fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_switchover_makes_the_next_backup_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "switchover");
    let misc = [("backup-master", "1")];
    let first = take(store.conf(&misc)).await;
    let old = master_in(&first.plan, "normal_0");
    // Unchanged topology: the next one would be incremental.
    let before = plan(store.conf(&misc)).await;
    assert!(before.is_incremental(), "{before}");

    // A replica the last backup did not take (switching to one it took
    // keeps the chain incremental, as in the seed).
    let new = sb
        .prod_servers()
        .into_iter()
        .find(|s| {
            s.datasource == "normal_0"
                && !first
                    .plan
                    .servers
                    .iter()
                    .any(|p| p.server.as_str() == s.name)
        })
        .unwrap()
        .name;
    let switched = testkit::switchover(&sb, "normal_0", &new).unwrap();
    assert_eq!(switched.original(), old);

    let after = take(store.conf(&misc)).await;
    match full_reason(&after.plan) {
        Some(FullReason::MasterNotInLastBackup { server }) => assert_eq!(server.as_str(), new),
        other => panic!(
            "expected a switchover full backup, got {other:?}\n{}",
            after.plan
        ),
    }
    let text = after.plan.to_string();
    assert!(
        text.contains(&format!(
            "full backup: a master-slave switchover occurred: master {new} was not backed up last time"
        )),
        "{text}"
    );
    // The new master is backed up as the master, in full.
    assert_eq!(master_in(&after.plan, "normal_0"), new);
    assert!(
        after
            .plan
            .servers
            .iter()
            .all(|s| s.incremental_from.is_none())
    );
    switched.back().unwrap();
}

/// The master of `ds` a plan backs up.
fn master_in(plan: &backup::BackupPlan, ds: &str) -> String {
    plan.servers
        .iter()
        .find(|s| s.datasource.as_str() == ds && s.role == topology::Role::Master)
        .unwrap_or_else(|| panic!("no master of {ds} backed up:\n{plan}"))
        .server
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_missing_from_the_last_backup_makes_it_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "missing");
    take(store.conf(&[])).await;
    // Other replicas than last time: none of them is in the last backup.
    let p = plan(store.conf(&[("backup-slave", "normal_0_2, normal_1_2")])).await;
    match full_reason(&p) {
        Some(FullReason::DatasourcesNotCovered { datasources }) => {
            assert_eq!(datasources.len(), 2, "{p}");
        }
        other => panic!("expected a full backup, got {other:?}\n{p}"),
    }
    let names: Vec<&str> = p.servers.iter().map(|s| s.server.as_str()).collect();
    assert_eq!(names, ["normal_0_2", "normal_1_2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_replica_leaves_its_datasource_uncovered_so_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "stopped");
    let done = take(store.conf(&[])).await;
    let chosen = done
        .plan
        .servers
        .iter()
        .find(|s| s.datasource.as_str() == "normal_0")
        .unwrap()
        .server
        .to_string();
    sql_on(&sb, &chosen, "STOP SLAVE").await;
    let p = plan(store.conf(&[])).await;
    sql_on(&sb, &chosen, "START SLAVE").await;
    match full_reason(&p) {
        Some(FullReason::DatasourcesNotCovered { datasources }) => {
            assert_eq!(
                datasources.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                ["normal_0"],
                "{p}"
            );
        }
        other => panic!("expected a full backup, got {other:?}\n{p}"),
    }
    // The stopped replica is not backed up; another one of normal_0 is.
    assert!(p.servers.iter().all(|s| s.server.as_str() != chosen), "{p}");
    assert!(
        p.servers
            .iter()
            .any(|s| s.datasource.as_str() == "normal_0"),
        "{p}"
    );
    assert!(p.to_string().contains("not \"Slave normal\""), "{p}");
}

/// A replica whose MySQL does not answer (its mariadbd frozen with
/// SIGSTOP: connections hang) is reported down by the router: the plan
/// backs up its datasource's next replica instead and says why. Only the
/// servers a plan needs are reached, so the frozen one is never contacted
/// (no 10 s connect timeout, not listed as unreachable; which servers are
/// asked is checked by the unit tests of `plan::plan_reaching_servers`).
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_replica_is_passed_over_for_the_next_one() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "hung");
    let hung = sb.server("normal_0_1");
    let pid = std::fs::read_to_string(hung.dir.join("mysqld.pid")).unwrap();
    let frozen = testkit::procs::Frozen::stop(pid.trim().parse().unwrap());
    let p = plan(store.conf(&[])).await;
    drop(frozen);
    assert!(p.unreachable.is_empty(), "{:?}\n{p}", p.unreachable);
    let names: Vec<&str> = p.servers.iter().map(|s| s.server.as_str()).collect();
    assert_eq!(names, ["normal_0_2", "normal_1_1"], "{p}");
    let table = p.to_string();
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("normal_0_1").contains("\"Server down\""), "{table}");
    assert!(line("normal_0_2").ends_with(" backup"), "{table}");
    assert!(
        line("normal_1_2").contains("replicas already chosen"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pre_checks_name_what_is_missing_before_anything_moves() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "precheck");
    // The plan reports the space estimate against the store's free space.
    let p = plan(store.conf(&[])).await;
    let text = p.to_string();
    assert!(
        text.contains("MiB needed") && text.contains("MiB free"),
        "{text}"
    );
    let pre = p.precheck.clone().unwrap();
    assert!(pre.estimate > 0 && pre.free > 0, "{pre:?}");
    assert_eq!(pre.tools.len(), p.servers.len());

    // -p without the encryption tool on the store fails before any data moves.
    let options = backup::Options {
        password: Some(zeroize::Zeroizing::new("pw".to_owned())),
        ..backup::Options::default()
    };
    let cfg = store.conf(&[("encrypt-bin", "/nonexistent/dbcrypt")]);
    let err = backup::prepare(cfg, options)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("-p needs /nonexistent/dbcrypt") && err.contains(sb.var("STORE_HOST")),
        "{err}"
    );
    let listed: Vec<_> = std::fs::read_dir(&store.dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        listed
            .iter()
            .all(|n| !n.to_string_lossy().starts_with("UTC")),
        "{listed:?}"
    );

    // A backup tool that is not there is named with its host.
    let cfg = store.conf(&[("xtrabackup-bin-dir", "/nonexistent/mariabackup")]);
    let err = backup::prepare(cfg, backup::Options::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("/nonexistent/mariabackup") && err.contains("127.0.0."),
        "{err}"
    );
}
