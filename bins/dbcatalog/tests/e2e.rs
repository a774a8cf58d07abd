//! dbcatalog end to end on the sandbox: real mydumper backups of
//! normal_0's master, real rsync daemons, a real catalog, real validation.
//! Each test holds the sandbox's exclusive-use lock and has its own
//! databases, catalog database, rsync daemon and directories.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, bk_id_of, exec, stderr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A writer inserting into `db.t` every few ms until stopped.
fn writer(w: &World, db: &str) -> (Arc<AtomicBool>, Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let (s, n) = (stop.clone(), count.clone());
    let e = w.sb.mysql(&w.sb.server(common::MASTER));
    let sql = format!("INSERT INTO `{db}`.t (v) VALUES ('during')");
    let h = testkit::on_own_thread(move || async move {
        let mut c = common::connect(&e.host, e.port, &e.user, &e.password, None).await;
        while !s.load(Ordering::Relaxed) {
            exec(&mut c, &sql).await;
            n.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    (stop, count, h)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_writes_is_sent_and_recorded_column_by_column() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgb");
    let db = w.create_db("a", 200).await;
    w.write_conf(&db, false);
    w.start_rsyncd();
    let (stop, count, h) = writer(&w, &db);
    while count.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let started = chrono::Local::now().naive_local();
    let out =
        tokio::task::block_in_place(|| w.backup(&["compress", "triggers", "events", "routines"]));
    let ended = chrono::Local::now().naive_local();
    stop.store(true, Ordering::Relaxed);
    tokio::task::block_in_place(|| h.join()).expect("writer");
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let bk_id = bk_id_of(&out);
    // The files: locally and on the storage side, the same.
    let local = w.outputdir().join(&bk_id).join(&db);
    for f in [
        "metadata",
        &format!("{db}-schema-create.sql.gz"),
        &format!("{db}.t-schema.sql.gz"),
        &format!("{db}.t.sql.gz"),
    ] {
        assert!(
            local.join(f).is_file(),
            "{f} missing in {}",
            local.display()
        );
        let stored = w.stored(&bk_id).join(&db).join(f);
        assert_eq!(
            std::fs::read(local.join(f)).ok(),
            std::fs::read(&stored).ok(),
            "{} differs",
            stored.display()
        );
    }
    let rows = w
        .rows(&format!(
            "SELECT * FROM user_backup WHERE bk_id = '{bk_id}'"
        ))
        .await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let col = |k: &str| r[k].clone().unwrap_or_else(|| panic!("{k} is NULL"));
    let time =
        |k: &str| chrono::NaiveDateTime::parse_from_str(&col(k), "%Y-%m-%d %H:%M:%S").expect(k);
    assert_eq!(col("bk_server"), "127.0.0.11");
    let within = |t: chrono::NaiveDateTime| {
        t >= started - chrono::Duration::seconds(1) && t <= ended + chrono::Duration::seconds(1)
    };
    assert!(
        within(time("start_time"))
            && within(time("end_time"))
            && within(time("transfer_start"))
            && within(time("transfer_end"))
    );
    assert!(time("start_time") <= time("end_time") && time("end_time") <= time("transfer_start"));
    assert_eq!(
        col("elapsed_time").parse::<i64>().unwrap(),
        (time("end_time") - time("start_time")).num_seconds()
    );
    assert_eq!(
        col("transfer_elapsed").parse::<i64>().unwrap(),
        (time("transfer_end") - time("transfer_start")).num_seconds()
    );
    assert_eq!(col("backuped_db"), db);
    assert_eq!(col("is_complete"), "Y");
    let size = col("bk_size");
    assert!(
        size.ends_with('K') || size.chars().all(|c| c.is_ascii_digit()),
        "bk_size {size}"
    );
    assert_eq!(col("bk_dir"), w.outputdir().display().to_string());
    assert_eq!(col("transfer_complete"), "Y");
    assert_eq!(
        col("remote_dest"),
        format!("tester@127.0.0.50:{}/mod/127.0.0.11/", w.rsync_port)
    );
    // master_status from the dump's own metadata: binlog,position,gtid.
    let meta = std::fs::read_to_string(local.join("metadata")).unwrap();
    let ms = col("master_status");
    let parts: Vec<&str> = ms.split(',').collect();
    assert_eq!(parts.len(), 3, "{ms}");
    assert!(
        parts[0].starts_with("mysql-bin.") && parts[1].parse::<u64>().is_ok(),
        "{ms}"
    );
    assert!(
        meta.contains(&format!("Log: {}", parts[0]))
            && meta.contains(&format!("Pos: {}", parts[1])),
        "{ms} vs {meta}"
    );
    assert_eq!(col("slave_status"), "Not a slave");
    assert!(
        col("tool_version").starts_with("mydumper 0.10"),
        "{}",
        col("tool_version")
    );
    assert!(col("server_version").contains("MariaDB"));
    assert!(col("pybackup_version").starts_with("dbcatalog "));
    let cmd = col("bk_command");
    assert!(
        cmd.starts_with("mydumper --host=127.0.0.11 --port=16315 --user="),
        "{cmd}"
    );
    assert!(
        cmd.contains("--password=********")
            && cmd.contains("--compress")
            && cmd.ends_with(&format!(" database={db}")),
        "{cmd}"
    );
    for s in w.secrets() {
        assert!(!cmd.contains(&s), "bk_command holds a secret");
    }
    assert_eq!(
        (col("tag"), col("is_deleted"), col("validate_status")),
        ("N/A".into(), "N".into(), "N/A".into())
    );
    // `list` shows it.
    let out = w.dbcatalog(&["list", "--json"]);
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed[0]["bk_id"], bk_id.as_str());
    assert_eq!(listed[0]["transfer_complete"], "Y");
}

#[tokio::test(flavor = "multi_thread")]
async fn db_list_wildcards_exclusions_and_overrides_on_real_databases() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgl");
    let a1 = w.create_db("a1", 3).await;
    let a2 = w.create_db("a2", 3).await;
    let b = w.create_db("b", 3).await;
    // A wildcard (with `_` escaped as the DBA would): the two a's.
    w.write_conf(&format!("{}\\_a%", w.name.replace('_', "\\_")), false);
    let out = tokio::task::block_in_place(|| w.backup(&["--only-backup"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = w.outputdir().join(bk_id_of(&out));
    let mut got: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, [a1.clone(), a2.clone()]);
    assert!(
        !w.catalog_exists().await,
        "--only-backup touched the catalog"
    );
    // Exclusions: everything but the a's, resolved against the server.
    let mut c = w.master().await;
    let server: Vec<String> = common::query(&mut c, "SHOW DATABASES")
        .await
        .into_iter()
        .filter_map(|r| r["Database"].clone())
        .collect();
    let chosen = logical::DbList::parse(&format!("!{a1},!{a2}"))
        .unwrap()
        .resolve(&server)
        .unwrap();
    assert!(
        chosen.contains(&b)
            && !chosen.contains(&a1)
            && !chosen.contains(&a2)
            && !chosen.contains(&"mysql".to_owned())
    );
    // database= on the command line overrides db_list.
    let out =
        tokio::task::block_in_place(|| w.backup(&["--only-backup", &format!("database={b}")]));
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = w.outputdir().join(bk_id_of(&out));
    assert!(dir.join(&b).join("metadata").is_file());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    // Mixing is refused (exit 2), as is a pattern matching nothing.
    w.write_conf(&format!("!{a1},{b}"), false);
    let out = tokio::task::block_in_place(|| w.backup(&["--only-backup"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ERROR: ") && stderr(&out).contains("mixes"),
        "{}",
        stderr(&out)
    );
    w.write_conf(&format!("{}_nosuch%", w.name), false);
    let out = tokio::task::block_in_place(|| w.backup(&["--only-backup"]));
    assert_eq!(out.status.code(), Some(2));
    // --only-backup with --no-rsync is refused as in the seed.
    let out = tokio::task::block_in_place(|| w.backup(&["--only-backup", "--no-rsync"]));
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn db_consistency_backs_every_database_up_in_one_run() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgc");
    let a = w.create_db("a", 5).await;
    let b = w.create_db("b", 5).await;
    w.write_conf(&format!("{a},{b}"), true);
    let out = tokio::task::block_in_place(|| w.backup(&["--no-rsync"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let bk_id = bk_id_of(&out);
    let dir = w.outputdir().join(&bk_id);
    // One run: one metadata file, both databases' files beside it.
    assert!(dir.join("metadata").is_file());
    assert!(
        !dir.join(&a).exists() && !dir.join(&b).exists(),
        "per-database runs were made"
    );
    for db in [&a, &b] {
        assert!(
            dir.join(format!("{db}.t.sql")).is_file(),
            "{db}'s data missing"
        );
    }
    let rows = w.rows(&format!("SELECT backuped_db, is_complete, bk_command, transfer_complete FROM user_backup WHERE bk_id = '{bk_id}'")).await;
    assert_eq!(
        rows[0]["backuped_db"].as_deref(),
        Some(format!("{a},{b}").as_str())
    );
    assert_eq!(rows[0]["is_complete"].as_deref(), Some("Y,Y"));
    assert_eq!(rows[0]["transfer_complete"].as_deref(), Some("N/A"));
    assert!(
        rows[0]["bk_command"]
            .as_deref()
            .unwrap()
            .contains("--regex=^(")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_rsync_sends_after_a_failed_transfer_and_mark_del_marks() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgr");
    let db = w.create_db("a", 10).await;
    w.write_conf(&db, false);
    // The daemon is down: the backup is kept and recorded, the transfer failed.
    let out = tokio::task::block_in_place(|| w.backup(&[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("only-rsync"), "{}", stderr(&out));
    let bk_id = bk_id_of(&out);
    let row = w
        .rows(&format!(
            "SELECT transfer_complete, is_complete FROM user_backup WHERE bk_id = '{bk_id}'"
        ))
        .await;
    assert_eq!(row[0]["transfer_complete"].as_deref(), Some("N"));
    assert_eq!(row[0]["is_complete"].as_deref(), Some("Y"));
    assert!(!w.stored(&bk_id).exists());
    // Up again: only-rsync sends it and records the transfer.
    w.start_rsyncd();
    let dir = w.outputdir().display().to_string();
    let log = w.tmp.path().join("rsync.log").display().to_string();
    let out = tokio::task::block_in_place(|| {
        w.dbcatalog(&[
            "only-rsync",
            &format!("--backup-dir={dir}"),
            &format!("--bk-id={bk_id}"),
            &format!("--log-file={log}"),
        ])
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(w.stored(&bk_id).join(&db).join("metadata").is_file());
    assert!(std::path::Path::new(&log).is_file());
    let row = w.rows(&format!("SELECT transfer_complete, transfer_start, transfer_elapsed FROM user_backup WHERE bk_id = '{bk_id}'")).await;
    assert_eq!(row[0]["transfer_complete"].as_deref(), Some("Y"));
    assert!(row[0]["transfer_start"].is_some() && row[0]["transfer_elapsed"].is_some());
    // mark-del: every bk_id directory under the day's directory.
    let out =
        tokio::task::block_in_place(|| w.dbcatalog(&["mark-del", &format!("--backup-dir={dir}")]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{bk_id}: marked deleted")));
    let row = w
        .rows(&format!(
            "SELECT is_deleted FROM user_backup WHERE bk_id = '{bk_id}'"
        ))
        .await;
    assert_eq!(row[0]["is_deleted"].as_deref(), Some("Y"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_that_is_down_keeps_the_backup_and_says_the_record_is_missing() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgd");
    let db = w.create_db("a", 3).await;
    let closed = std::net::TcpListener::bind("127.0.0.40:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    w.write_conf_with(&db, false, &closed.to_string());
    let out = tokio::task::block_in_place(|| w.backup(&["--no-rsync"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ERROR: ") && err.contains("record is missing"),
        "{err}"
    );
    let bk_id = bk_id_of(&out);
    assert!(
        w.outputdir()
            .join(&bk_id)
            .join(&db)
            .join("metadata")
            .is_file()
    );
    // --no-history does not even try.
    let out = tokio::task::block_in_place(|| w.backup(&["--no-rsync", "--no-history"]));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A backup of a fresh database, sent to the test's module, with the
/// module registered in user_backup_path.
async fn sent_backup(w: &mut World, suffix: &str, rows: usize) -> (String, String) {
    let db = w.create_db(suffix, rows).await;
    w.write_conf(&db, false);
    let out = tokio::task::block_in_place(|| w.backup(&["compress"]));
    assert!(out.status.success(), "{}", stderr(&out));
    (bk_id_of(&out), db)
}

async fn register_path(w: &World) {
    let mut c = w.catalog().await;
    exec(&mut c, &format!(
        "INSERT INTO user_backup_path (bk_server, remote_server, real_path, tag) VALUES ('127.0.0.11', '127.0.0.50', '{}/127.0.0.11/', 'test')",
        w.module_dir().display()
    )).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_backup_restores_records_and_fails_on_a_corrupted_file() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgv");
    w.start_rsyncd();
    let (good, good_db) = sent_backup(&mut w, "g", 50).await;
    let (bad, bad_db) = sent_backup(&mut w, "b", 50).await;
    register_path(&w).await;
    // The stored copy of the second backup is corrupted.
    let data = w
        .stored(&bad)
        .join(&bad_db)
        .join(format!("{bad_db}.t.sql.gz"));
    std::fs::write(&data, b"not gzip at all").unwrap();
    let log = w.tmp.path().join("validate.log").display().to_string();
    // The scratch servers under the test's directory: the secret scan's
    // witness then sees mariadbd and myloader at work.
    let scratch = format!("--scratch-dir={}", w.tmp.path().display());
    let validate = |w: &World| {
        tokio::task::block_in_place(|| {
            w.dbcatalog(&["validate-backup", &format!("--log-file={log}"), &scratch])
        })
    };
    // The oldest first: the good one.
    let out = validate(&w);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("backup {good} validated")));
    let st = |id: &str| format!("SELECT validate_status FROM user_backup WHERE bk_id = '{id}'");
    assert_eq!(
        w.rows(&st(&good)).await[0]["validate_status"].as_deref(),
        Some("Y")
    );
    let info = w
        .rows(&format!(
            "SELECT * FROM user_recover_info WHERE bk_id = '{good}'"
        ))
        .await;
    assert_eq!(info.len(), 1);
    assert_eq!(info[0]["db"].as_deref(), Some(good_db.as_str()));
    assert_eq!(info[0]["recover_status"].as_deref(), Some("Y"));
    assert_eq!(
        info[0]["backup_path"].as_deref(),
        Some(
            w.stored(&good)
                .join(&good_db)
                .display()
                .to_string()
                .as_str()
        )
    );
    assert!(info[0]["validate_time"].is_some() && info[0]["elapsed_time"].is_some());
    // Then the corrupted one: it fails clearly, and is recorded as failed.
    let out = validate(&w);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("ERROR: validation of {bad} failed")) && err.contains("table t"),
        "{err}"
    );
    assert_eq!(
        w.rows(&st(&bad)).await[0]["validate_status"].as_deref(),
        Some("N")
    );
    let info = w
        .rows(&format!(
            "SELECT recover_status FROM user_recover_info WHERE bk_id = '{bad}'"
        ))
        .await;
    assert_eq!(info[0]["recover_status"].as_deref(), Some("N"));
    // Nothing left to validate; no scratch server left behind.
    let out = validate(&w);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to validate"));
    let left: Vec<_> = std::fs::read_dir(w.tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("dbcv-"))
        .collect();
    assert!(left.is_empty(), "scratch directories left: {left:?}");
    assert!(
        w.witnessed() > 0,
        "the secret scan never saw the scratch server or myloader"
    );
    assert!(std::fs::read_to_string(&log).unwrap().contains("myloader"));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_validations_at_once_never_take_the_same_backup() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgt");
    w.start_rsyncd();
    let (one, _) = sent_backup(&mut w, "a", 20).await;
    let (two, _) = sent_backup(&mut w, "b", 20).await;
    register_path(&w).await;
    let log = w.tmp.path().join("validate.log").display().to_string();
    let arg = format!("--log-file={log}");
    let scratch = format!("--scratch-dir={}", w.tmp.path().display());
    let (o1, o2) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let a = s.spawn(|| w.dbcatalog(&["validate-backup", &arg, &scratch]));
            let b = s.spawn(|| w.dbcatalog(&["validate-backup", &arg, &scratch]));
            (a.join().unwrap(), b.join().unwrap())
        })
    });
    assert!(o1.status.success() && o2.status.success());
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let mut validated: Vec<String> = [said(&o1), said(&o2)]
        .iter()
        .filter_map(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("backup ")
                    .and_then(|r| r.strip_suffix(" validated"))
                    .map(str::to_owned)
            })
        })
        .collect();
    validated.sort();
    let mut want = vec![one.clone(), two.clone()];
    want.sort();
    assert_eq!(validated, want, "each run must take a different backup");
    let info = w.rows("SELECT bk_id FROM user_recover_info").await;
    assert_eq!(info.len(), 2);
}

#[test]
fn mydumper_help_prints_mydumpers_own_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbcatalog"))
        .args(["mydumper", "help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--outputdir") && text.contains("--regex"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consistent_backup_of_two_databases_validates_per_database() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgk");
    w.start_rsyncd();
    let a = w.create_db("a", 30).await;
    let b = w.create_db("b", 30).await;
    w.write_conf(&format!("{a},{b}"), true);
    let out = tokio::task::block_in_place(|| w.backup(&["compress"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let bk_id = bk_id_of(&out);
    register_path(&w).await;
    let log = w.tmp.path().join("validate.log").display().to_string();
    let scratch = format!("--scratch-dir={}", w.tmp.path().display());
    let out = tokio::task::block_in_place(|| {
        w.dbcatalog(&["validate-backup", &format!("--log-file={log}"), &scratch])
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let info = w
        .rows(&format!(
            "SELECT db, recover_status, backup_path FROM user_recover_info WHERE bk_id = '{bk_id}' ORDER BY db"
        ))
        .await;
    let got: Vec<(String, String)> = info
        .iter()
        .map(|r| {
            (
                r["db"].clone().unwrap(),
                r["recover_status"].clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(a, "Y".to_owned()), (b, "Y".to_owned())]);
    // One dump directory: the backup's own.
    let stored = w.stored(&bk_id).display().to_string();
    assert!(
        info.iter()
            .all(|r| r["backup_path"].as_deref() == Some(stored.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validation_stopped_by_sigterm_cleans_up_and_its_backup_is_taken_again() {
    let Some(_) = testkit::Sandbox::get() else {
        return;
    };
    let _x = testkit::serial().await;
    let mut w = World::new("lgs");
    w.start_rsyncd();
    let (bk_id, _) = sent_backup(&mut w, "a", 20).await;
    register_path(&w).await;
    let scratch = w.tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let log = w.tmp.path().join("validate.log");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dbcatalog"))
        .arg("-c")
        .arg(w.conf())
        .arg("validate-backup")
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("--scratch-dir={}", scratch.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped while its scratch server exists.
    testkit::poll::Poll::within(std::time::Duration::from_secs(60))
        .every(std::time::Duration::from_millis(20))
        .wait("a scratch directory", || {
            std::fs::read_dir(&scratch).unwrap().next().is_some()
        });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ERROR: stopped by SIGTERM"),
        "{}",
        stderr(&out)
    );
    // Nothing of it is left: no scratch directory, no server on it.
    let scratch_text = scratch.display().to_string();
    let cleared = testkit::poll::Poll::within(std::time::Duration::from_secs(30))
        .every(std::time::Duration::from_millis(50))
        .until("the scratch directory emptied", || {
            let left = std::fs::read_dir(&scratch).unwrap().count();
            let servers = testkit::procs::naming(&scratch_text).len();
            if left == 0 && servers == 0 {
                Ok(Some(()))
            } else {
                Err(format!("{left} scratch entries, {servers} processes left"))
            }
        });
    cleared.unwrap_or_else(|e| panic!("{e}"));
    let st = format!("SELECT validate_status FROM user_backup WHERE bk_id = '{bk_id}'");
    assert_eq!(
        w.rows(&st).await[0]["validate_status"].as_deref(),
        Some("validating")
    );
    // The next run takes it again (the claim died with the stopped run).
    let out = tokio::task::block_in_place(|| {
        w.dbcatalog(&[
            "validate-backup",
            &format!("--log-file={}", log.display()),
            &format!("--scratch-dir={}", scratch.display()),
        ])
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        w.rows(&st).await[0]["validate_status"].as_deref(),
        Some("Y")
    );
}
