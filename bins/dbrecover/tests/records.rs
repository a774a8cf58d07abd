//! Issue 19, catalog records: with `[catalog]` in recovery.conf, a
//! recovery and a failed recovery are exactly one `physical_run` row each,
//! with the right columns; a catalog that is down would only warn (the
//! backup side tests that end to end, `dbbackup`'s e2e `records`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, To, serial};
use testkit::Sandbox;
use testkit::physical_catalog::PhysicalCatalog;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_and_a_failed_recovery_are_one_row_each() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let env = Env::new(&sb, "records");
    let catalog = PhysicalCatalog::new(&sb);
    let (name, _) = env.backup(&[]).await;
    assert!(catalog.rows().is_empty(), "the backup had no [catalog]");

    let with_catalog = |to: &To| {
        let conf = env.recovery_conf("RECOVERY_SSH_CONF", to);
        let text = std::fs::read_to_string(&conf).unwrap() + &catalog.section();
        std::fs::write(&conf, text).unwrap();
        conf
    };
    let conf = with_catalog(&To::Dir(name.clone()));
    let out = env.dbrecover(&conf, &[], &[]).await;
    out.assert_recovered();
    assert!(!out.stdout.contains("WARNING"), "{out}");
    let rows = catalog.rows();
    assert_eq!(rows.len(), 1, "one row per run: {rows:#?}");
    let r = &rows[0];
    let store = format!("{}:{}", sb.var("STORE_HOST"), env.store.display());
    for (column, want) in [
        ("tool", "dbrecover"),
        ("run_type", "recovery"),
        ("status", "success"),
        ("cluster", sb.var("JOB_HOST")),
        ("store", store.as_str()),
        ("backup_name", name.as_str()),
        ("target", name.as_str()),
        ("servers", "normal_0,normal_1"),
        ("consistence_point", "NULL"),
        ("error", "NULL"),
    ] {
        assert_eq!(r[column], want, "{column} of {r:#?}");
    }
    assert!(r["bytes"].parse::<u64>().unwrap() > 0, "{r:#?}");
    assert_ne!(r["ended_at"], "NULL");

    // A target the store does not hold fails before anything is shipped.
    let missing = "UTC20000101000000.000-full";
    let conf = with_catalog(&To::Dir(missing.into()));
    let out = env.dbrecover(&conf, &[], &[]).await;
    let error = out.error_line().strip_prefix("ERROR: ").unwrap().to_owned();
    let rows = catalog.rows();
    assert_eq!(rows.len(), 2, "one row per run: {rows:#?}");
    let r = &rows[1];
    assert_eq!(r["status"], "failed", "{r:#?}");
    assert_eq!(r["error"], error, "{r:#?}");
    assert_eq!(r["run_type"], "NULL", "it failed before its plan: {r:#?}");
    assert_ne!(r["ended_at"], "NULL");
    assert_eq!(rows[0]["status"], "success", "the first row is left alone");
}
