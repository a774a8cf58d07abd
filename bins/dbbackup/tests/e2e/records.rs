//! Issue 19, catalog records and metrics: with `[catalog]`, every run
//! (a backup, a failed backup) gets exactly one `physical_run` row with
//! the right columns; a catalog that is down gives a warning and the
//! backup still succeeds (exit 0); with `[metrics] textfile-dir`, every run
//! writes a textfile that `promtool check metrics` accepts, as does
//! `dbbackup metrics --textfile DIR`.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use common::{TestStore, serial, set_key};
use testkit::Sandbox;
use testkit::physical_catalog::PhysicalCatalog;

/// Appends `text` (sections) to the store's config.
fn append(store: &TestStore, text: &str) {
    std::fs::write(&store.conf, store.conf_text() + text).unwrap();
}

/// The one `.prom` file in `dir` (nothing else left there), checked by
/// `promtool check metrics`; its text.
fn checked_textfile(dir: &Path) -> String {
    let names = common::names_in(dir);
    assert_eq!(
        names.len(),
        1,
        "expected one file in {}: {names:?}",
        dir.display()
    );
    assert!(names[0].ends_with(".prom"), "{names:?}");
    let file = dir.join(&names[0]);
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool (Debian prometheus; `cargo xtask sandbox catalog-up` installs it)");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused {}:\n{}{}\n{text}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The value of the sample whose line starts with `metric{`.
fn sample(text: &str, metric: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("{metric}{{")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {metric} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_and_a_failed_backup_are_one_row_each_and_metrics_follow() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "records", &[]);
    let catalog = PhysicalCatalog::new(&sb);
    let textfiles = tempfile::tempdir().unwrap();
    append(
        &store,
        &format!(
            "{}\n[metrics]\ntextfile-dir = {}\n",
            catalog.section(),
            textfiles.path().display()
        ),
    );
    let catalog_pw = std::fs::read_to_string(sb.var("PHYSICAL_CATALOG_PASSWORD_FILE")).unwrap();
    let catalog_pw = catalog_pw.trim();

    let out = store.run(&sb, &[], &[catalog_pw]);
    out.assert_succeeded();
    assert!(!out.stdout.contains("WARNING"), "{out}");
    let name = out.backup_name();
    let rows = catalog.rows();
    assert_eq!(rows.len(), 1, "one row per run: {rows:#?}");
    let r = &rows[0];
    let router = format!("{}:{}", sb.var("ROUTER_HOST"), sb.var("ROUTER_PORT"));
    let store_label = format!("{}:{}", sb.var("STORE_HOST"), store.dir.display());
    for (column, want) in [
        ("tool", "dbbackup"),
        ("status", "success"),
        ("run_type", "full"),
        ("backup_name", name.as_str()),
        ("cluster", router.as_str()),
        ("store", store_label.as_str()),
        ("target", "NULL"),
        ("error", "NULL"),
    ] {
        assert_eq!(r[column], want, "{column} of {r:#?}");
    }
    assert!(r["pid"].parse::<u32>().unwrap() > 0, "{r:#?}");
    assert!(r["bytes"].parse::<u64>().unwrap() > 0, "{r:#?}");
    assert_ne!(r["ended_at"], "NULL");
    let point =
        std::fs::read_to_string(store.dir.join(&name).join("consistent_point_datetime")).unwrap();
    assert_eq!(r["consistence_point"], point.trim());
    // Every server recorded is one the backup holds a directory of.
    let dirs = common::names_in(&store.dir.join(&name));
    let servers: Vec<&str> = r["servers"].split(',').collect();
    assert!(!servers.is_empty());
    for s in &servers {
        let (server, address) = s.split_once('@').unwrap();
        let suffix = format!("-{server}-{}", address.replace(':', "-"));
        assert!(
            dirs.iter().any(|d| d.ends_with(&suffix)),
            "{s} has no directory in {dirs:?}"
        );
    }
    let text = checked_textfile(textfiles.path());
    assert!(
        text.contains(&format!("cluster=\"{router}\",store=\"{store_label}\"")),
        "{text}"
    );
    assert_eq!(
        sample(&text, "dbscale_backup_last_failure_timestamp_seconds"),
        0.0
    );
    assert!(sample(&text, "dbscale_backup_last_success_bytes") > 0.0);

    // A failed run: the router refuses the login.
    let wrong = "Wrong-Router-Pw-5";
    std::fs::write(
        &store.conf,
        set_key(&store.conf_text(), "cluster", "password", wrong),
    )
    .unwrap();
    let out = store.run(&sb, &[], &[catalog_pw, wrong]);
    assert_eq!(out.code, Some(1), "{out}");
    let error = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("ERROR: "))
        .unwrap_or_else(|| panic!("no ERROR line:\n{out}"));
    let rows = catalog.rows();
    assert_eq!(rows.len(), 2, "one row per run: {rows:#?}");
    let r = &rows[1];
    assert_eq!(r["status"], "failed", "{r:#?}");
    assert_eq!(r["error"], error, "{r:#?}");
    assert_ne!(r["ended_at"], "NULL");
    assert_eq!(rows[0]["status"], "success", "the first row is left alone");
    let text = checked_textfile(textfiles.path());
    let failed_at = sample(&text, "dbscale_backup_last_failure_timestamp_seconds");
    assert!(
        failed_at > sample(&text, "dbscale_backup_last_success_timestamp_seconds"),
        "{text}"
    );

    // `dbbackup metrics` reads the store alone (the router is not asked).
    let elsewhere = tempfile::tempdir().unwrap();
    let out = store.run(
        &sb,
        &["metrics", "--textfile", elsewhere.path().to_str().unwrap()],
        &[catalog_pw],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let text = checked_textfile(elsewhere.path());
    assert!(text.contains("type=\"full\",ok=\"true\"} 1\n"), "{text}");
    assert_eq!(catalog.rows().len(), 2, "metrics is not a run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_that_is_down_warns_and_the_backup_succeeds() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "records-down", &[]);
    let catalog = PhysicalCatalog::new(&sb);
    // Nothing listens on port 1 of the catalog's address.
    append(&store, &catalog.section_on_port(1));
    let out = store.run(&sb, &[], &[]);
    out.assert_succeeded();
    let warning = format!(
        "catalog record not written: cannot connect to the catalog {}:1",
        sb.var("CATALOG_HOST")
    );
    assert!(
        out.stdout.contains(&format!("WARNING: {warning}")),
        "the summary lacks the warning:\n{out}"
    );
    assert_eq!(
        out.stderr.matches("catalog record not written").count(),
        1,
        "warned once:\n{out}"
    );
    assert!(store.dir.join(out.backup_name()).join("ok").exists());
    assert!(catalog.rows().is_empty());
}
