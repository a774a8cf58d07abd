//! `catalog::physical` on the sandbox's catalog MariaDB, as the physical
//! tools' own login (which may create only `dbscale_backup...`
//! databases): the migrations make `physical_run`, a run's three writes
//! land in one row, a run that never ends stays `running` with its start
//! time, and a refused login gives one warning without the password. Each
//! test has its own database, dropped even when it fails.
#![allow(clippy::unwrap_used)]

use catalog::history::CatalogLogin;
use catalog::physical::{PhysicalCatalog, Planned, Recorder, RunEnd, RunStart, RunType};
use testkit::physical_catalog::PhysicalCatalog as TestDb;

fn login(sb: &testkit::Sandbox, db: &TestDb, password: Option<&str>) -> CatalogLogin {
    let file = sb.var("PHYSICAL_CATALOG_PASSWORD_FILE");
    let real = std::fs::read_to_string(file).unwrap();
    CatalogLogin::new(
        sb.var("CATALOG_HOST"),
        sb.var("CATALOG_PORT").parse().unwrap(),
        sb.var("PHYSICAL_CATALOG_USER"),
        password.unwrap_or(real.trim()),
        db.database.as_str(),
    )
}

fn start() -> RunStart {
    RunStart::now(
        "dbbackup",
        "0.1.0",
        "127.0.0.10:16310",
        "127.0.0.50:/s",
        "ctl",
        4242,
    )
}

#[tokio::test]
async fn a_run_is_one_row_written_at_start_plan_and_end() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let db = TestDb::new(&sb);
    let mut rec = Recorder::start(login(&sb, &db, None), start());
    let id = rec.id().await.expect("the row is written");
    let rows = db.rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "running");
    assert_eq!(rows[0]["run_type"], "NULL");
    rec.planned(&Planned {
        run_type: RunType::Incremental,
        backup_name: "UTC20261204000000.000-inc".into(),
        target: None,
        servers: vec!["a@h:1".into(), "b@h:2".into()],
    })
    .await;
    let warning = rec
        .finish(&RunEnd::success(1234, Some("2026-12-04 00:00:09".into())))
        .await;
    assert_eq!(warning, None);
    let rows = db.rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["id"], id.to_string());
    for (column, want) in [
        ("tool", "dbbackup"),
        ("run_type", "incremental"),
        ("status", "success"),
        ("cluster", "127.0.0.10:16310"),
        ("store", "127.0.0.50:/s"),
        ("backup_name", "UTC20261204000000.000-inc"),
        ("target", "NULL"),
        ("servers", "a@h:1,b@h:2"),
        ("bytes", "1234"),
        ("consistence_point", "2026-12-04 00:00:09"),
        ("error", "NULL"),
        ("controller", "ctl"),
        ("pid", "4242"),
        ("tool_version", "dbbackup 0.1.0"),
    ] {
        assert_eq!(r[column], want, "{column} of {r:?}");
    }
    assert_ne!(r["ended_at"], "NULL");
    assert_ne!(r["elapsed_secs"], "NULL");
    // Opening again (a later run) keeps the table and its rows.
    let again = PhysicalCatalog::open(&login(&sb, &db, None)).await.unwrap();
    assert_eq!(again.recent(10).await.unwrap().len(), 1);
    assert_eq!(again.run(id).await.unwrap().unwrap().status, "success");
    again.close().await;
}

#[tokio::test]
async fn a_run_that_never_ends_stays_running_with_its_start_time() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let db = TestDb::new(&sb);
    let s = start();
    let started = s.started_at;
    let mut rec = Recorder::start(login(&sb, &db, None), s);
    rec.id().await.expect("the row is written");
    drop(rec); // the process "crashed": no end
    let rows = db.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "running");
    assert_eq!(rows[0]["ended_at"], "NULL");
    assert_eq!(
        rows[0]["started_at"],
        started.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    );
}

#[tokio::test]
async fn a_refused_login_gives_one_warning_without_the_password() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let db = TestDb::new(&sb);
    let rec = Recorder::start(login(&sb, &db, Some("Wrong-Pw-77")), start());
    let warning = rec
        .finish(&RunEnd::failed("boom"))
        .await
        .expect("a warning");
    assert!(
        warning.starts_with("catalog record not written: cannot connect to the catalog")
            && warning.contains("Access denied"),
        "{warning}"
    );
    assert!(!warning.contains("Wrong-Pw-77"), "{warning}");
    assert!(db.rows().is_empty());
}
