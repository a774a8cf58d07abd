//! Issue 18: `ok` only on a complete backup. A stream moved away after the
//! manifest is written and just before `ok` (a cleanup of another run, an
//! operator, a full disk) makes the run fail naming the file, and no `ok`
//! is written; the next run moves the backup to trash.
#![allow(clippy::unwrap_used)]

mod common;

use common::Store;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Moves the first server's stream out of the backup when the
/// completeness check starts (the last step before `ok`).
struct MoveStreamAway {
    store_dir: PathBuf,
    moved: Mutex<Option<PathBuf>>,
}

impl backup::StepObserver for MoveStreamAway {
    fn starting(&self, backup: binlog::BackupName, step: &str) {
        if step != "completeness check" {
            return;
        }
        let dir = self.store_dir.join(backup.to_string());
        let stream = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().join(backup::STREAM_FILE))
            .find(|p| p.exists())
            .unwrap();
        let away = self.store_dir.join("moved-away.xbsteam");
        std::fs::rename(&stream, away).unwrap();
        *self.moved.lock().unwrap() = Some(stream);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_gone_before_ok_fails_the_run_and_leaves_no_ok() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "complete");
    let observer = Arc::new(MoveStreamAway {
        store_dir: store.dir.clone(),
        moved: Mutex::new(None),
    });
    let options = backup::Options {
        observer: Some(observer.clone()),
        ..backup::Options::default()
    };
    let prepared = backup::prepare(store.conf(&[]), options).await.unwrap();
    let name = prepared.plan().name.to_string();
    let error = backup::execute(prepared).await.unwrap_err().to_string();

    let moved = observer.moved.lock().unwrap().clone().unwrap();
    let rel = moved
        .strip_prefix(&store.dir)
        .unwrap()
        .display()
        .to_string();
    assert!(
        error.contains("is incomplete") && error.contains(&format!("{rel} is missing")),
        "the error does not name the lost stream {rel}: {error}"
    );
    assert!(!store.dir.join(&name).join("ok").exists());

    // The next run sees a bad backup: trashed, and a full backup taken.
    let next = common::take(store.conf(&[])).await;
    assert!(!next.plan.is_incremental(), "{}", next.plan);
    assert!(store.dir.join("trash").join(&name).is_dir());
    assert!(
        store
            .dir
            .join(next.plan.name.to_string())
            .join("ok")
            .exists()
    );
}

/// Issue 21 item 2: `xtrabackup-bin-dir` names the program that runs, not
/// only the one whose version is read. A wrapper that notes each call and
/// runs mariabackup is configured; the backup's streams come from it.
#[tokio::test(flavor = "multi_thread")]
async fn the_configured_backup_program_is_the_one_that_runs() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "program");
    let dir = tempfile::Builder::new()
        .prefix("xb-wrapper")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let calls = dir.path().join("calls");
    let wrapper = dir.path().join("my-mariabackup");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec /usr/bin/mariabackup \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let done = common::take(store.conf(&[("xtrabackup-bin-dir", wrapper.to_str().unwrap())])).await;
    let calls = std::fs::read_to_string(&calls).unwrap();
    let backups = calls.lines().filter(|l| l.contains("--backup")).count();
    assert_eq!(backups, done.plan.servers.len(), "{calls}");
    assert!(calls.lines().any(|l| l == "--version"), "{calls}");
}

/// Issue 21 item 3: with `using-scp`, each host sends its binlog files to
/// the store with scp, logging in as the store's user with `scp-identity`,
/// as the seed's `transfer_file_in_conn` does; the streams (and the binlog
/// still being written, cut at its size) still go by socat, and the
/// backups verify good. Every server's binlog is rotated between a full
/// and an incremental, so the incremental copies whole, closed files.
#[tokio::test(flavor = "multi_thread")]
async fn using_scp_sends_the_binlogs_by_scp_and_the_backups_verify() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "scp");
    // The hosts' login user needs a key the store accepts.
    let user = sb.var("LOGIN_USER").to_owned();
    let keys = sb.login_user_key();
    let key = &keys.key;

    let scp_conf = || {
        let mut cfg = store.conf(&[]);
        cfg.socat.using_scp = true;
        cfg.store.scp_identity = Some(key.display().to_string());
        // This sandbox's host key, not one an earlier sandbox left in the
        // user's own known_hosts (a fresh sandbox has a new key).
        cfg.store.scp_known_hosts = Some(keys.known_hosts.display().to_string());
        cfg
    };
    let full = common::take(scp_conf()).await;
    for server in sb.prod_servers() {
        let e = sb.mysql(&server);
        let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
        let mut c = router::Client::connect(&ep, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        c.execute("FLUSH BINARY LOGS").await.unwrap();
        c.close().await.unwrap();
    }
    let watch = testkit::procs::Watch::start(|c| c.starts_with("scp "));
    let incremental = common::take(scp_conf()).await;
    let seen = watch.finish();

    let to_store = format!("{user}@{}:", sb.var("STORE_HOST"));
    let key_arg = format!("-i {}", key.display());
    assert!(
        seen.iter()
            .any(|l| l.contains(&to_store) && l.contains(&key_arg) && l.contains("-bin.")),
        "no scp of a binlog to {to_store} with {key_arg} among {seen:?}"
    );
    for done in [full, incremental] {
        let named = backup::Which::Named(done.plan.name);
        let verified = backup::verify(&store.conf(&[]), &named, None)
            .await
            .unwrap();
        assert!(verified.len() == 1 && verified[0].is_good(), "{verified:?}");
    }
}

/// The value of `innodb_max_dirty_pages_pct` on `server`, or sets it.
async fn dirty_pages_pct(
    sb: &testkit::Sandbox,
    server: &testkit::Server,
    set: Option<&str>,
) -> String {
    let e = sb.mysql(server);
    let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
    let mut c = router::Client::connect(&ep, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    if let Some(v) = set {
        c.execute(&format!("SET GLOBAL innodb_max_dirty_pages_pct = {v}"))
            .await
            .unwrap();
    }
    let rows = c
        .query("SELECT @@global.innodb_max_dirty_pages_pct AS v")
        .await
        .unwrap();
    let v = rows[0].column("v").flatten().unwrap_or_default().to_owned();
    c.close().await.unwrap();
    v
}

/// Issue 20 target 5: `flush-before-backup` sets a server's
/// `innodb_max_dirty_pages_pct` to 0 for a moment. A run killed then (its
/// record left on the store, the server at 0) is repaired by the next run,
/// which says so; a run that flushes and ends leaves no record and the
/// value as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_flush_left_by_a_killed_run_is_put_back_by_the_next() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "flush-repair");
    let server = sb.prod_servers()[1].clone();
    let own = dirty_pages_pct(&sb, &server, None).await;
    assert_ne!(own.parse::<f64>().unwrap(), 0.0, "{own}");

    // What a run killed mid-flush leaves.
    dirty_pages_pct(&sb, &server, Some("0")).await;
    let record = store
        .dir
        .join(".dbscale-backup.flushing")
        .join(&server.name);
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::fs::write(&record, format!("{own}\n")).unwrap();
    sb.give_to_login_user(&store.dir);
    let done = common::try_take(store.conf(&[])).await;
    let after = dirty_pages_pct(&sb, &server, None).await;
    if after != own {
        // Put back by hand, so a failure here leaves the sandbox as it was.
        dirty_pages_pct(&sb, &server, Some(&own)).await;
    }
    let done = done.unwrap_or_else(|e| panic!("the repairing backup failed: {e}"));
    assert_eq!(after, own, "not put back");
    assert!(!record.exists(), "the record is still there");
    assert!(
        done.warnings
            .iter()
            .any(|w| w.contains(&server.name) && w.contains("put back")),
        "{:?}",
        done.warnings
    );

    // A flush that ends puts the value back and forgets its record.
    let done = common::try_take(store.conf(&[("flush-before-backup", "1")])).await;
    let after = dirty_pages_pct(&sb, &server, None).await;
    if after != own {
        dirty_pages_pct(&sb, &server, Some(&own)).await;
    }
    let done = done.unwrap_or_else(|e| panic!("the flushing backup failed: {e}"));
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    assert_eq!(after, own);
    assert!(
        std::fs::read_dir(record.parent().unwrap())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "a record left after a finished flush"
    );
}
