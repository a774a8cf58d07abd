//! Issue 5, "done when" 1, 6 and 7: the real `dbbackup` against the
//! sandbox takes a full backup, an incremental after more writes and a
//! forced full, over ssh, rabbit-agent and adm-agent, each in the seed's
//! store layout (checked file by file, manifest recomputed); `--dry-run`
//! writes nothing; `--purge-to` keeps a full a later incremental needs
//! unless `--force`; `--clean-trash` empties the trash. Every run is also
//! scanned for secrets on any process's command line and in its output.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;

use binlog::{BackupType, MariadbGtidPos};
use chrono::{NaiveDateTime, Utc};
use common::layout::{Backup, check_backup};
use common::workload::{Workload, value};
use common::{RunOutput, TestStore, serial};
use testkit::Sandbox;

/// Runs a backup that must succeed; returns its output and time window.
fn run_ok(sb: &Sandbox, store: &TestStore) -> (RunOutput, (NaiveDateTime, NaiveDateTime)) {
    let from = Utc::now().naive_utc();
    let out = store.run(sb, &[], &[]);
    let to = Utc::now().naive_utc();
    out.assert_succeeded();
    assert!(
        out.store_cmdlines > 0,
        "the command-line scan never saw the run's remote commands"
    );
    (out, (from, to))
}

/// `--dry-run` prints `expect` lines and leaves the store as it was.
fn dry_run(sb: &Sandbox, store: &TestStore, expect: &[&str]) -> RunOutput {
    let before = store.snapshot();
    let out = store.run(sb, &["--dry-run"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    for e in expect {
        assert!(out.stdout.contains(e), "dry run lacks {e:?}:\n{out}");
    }
    assert!(out.stdout.contains("dry run: nothing written"), "{out}");
    assert!(!out.stdout.contains("cluster backup succeed"), "{out}");
    assert_eq!(store.snapshot(), before, "--dry-run changed the store");
    out
}

/// Each master's `@@gtid_binlog_pos`, per datasource.
async fn master_positions(sb: &Sandbox, w: &Workload) -> Vec<(String, MariadbGtidPos)> {
    let mut out = Vec::new();
    for m in &w.masters {
        let pos = value(sb, m, "SELECT @@gtid_binlog_pos").await;
        out.push((m.datasource.clone(), pos.parse().unwrap()));
    }
    out
}

/// Every backed-up server's `executed_gtids` covers what its master had
/// binlogged before the run (the workload is quiet during runs).
fn assert_covers(b: &Backup, before: &[(String, MariadbGtidPos)]) {
    for (ds, pos) in before {
        for line in b.consistence.of_datasource(ds) {
            let text =
                std::fs::read_to_string(b.server_dir(&line.server).join("executed_gtids")).unwrap();
            let got: MariadbGtidPos = text.trim().parse().unwrap();
            assert!(
                pos.is_subset(&got),
                "{}: executed_gtids {got} of {} misses the master's {pos}",
                b.name,
                line.server
            );
        }
    }
}

/// A full backup, then an incremental after more writes, each checked;
/// dry runs before both. Returns both backups.
async fn full_then_incremental(
    sb: &Sandbox,
    store: &TestStore,
    w: &mut Workload,
) -> (Backup, Backup) {
    w.insert(20, "before-full").await;
    w.wait_replicas(&[]).await;
    dry_run(
        sb,
        store,
        &["full backup: ", "no last good backup", "backed up:"],
    );
    let before = master_positions(sb, w).await;
    let (out, window) = run_ok(sb, store);
    let name = out.backup_name();
    assert_eq!(store.backups(), vec![name.clone()]);
    let full = check_backup(sb, store, &name, BackupType::Full, window, false);
    assert_covers(&full, &before);

    w.insert(10, "before-inc").await;
    w.wait_replicas(&[]).await;
    let on_top = format!("incremental on top of {name}");
    dry_run(sb, store, &["incremental backup", &on_top]);
    let before = master_positions(sb, w).await;
    let (out, window) = run_ok(sb, store);
    assert!(out.stdout.contains(&on_top), "{out}");
    let inc_name = out.backup_name();
    assert_eq!(store.backups(), vec![name.clone(), inc_name.clone()]);
    let inc = check_backup(sb, store, &inc_name, BackupType::Incremental, window, false);
    assert_covers(&inc, &before);
    assert_continues(&full, &inc);
    (full, inc)
}

/// The incremental continues the full: same servers, from the full's LSNs,
/// and binlogs without a gap.
fn assert_continues(full: &Backup, inc: &Backup) {
    assert_eq!(inc.servers(), full.servers(), "the incremental's servers");
    assert_eq!(
        inc.manifest["summary"]["last_good"],
        full.name.to_string(),
        "manifest.json of the incremental"
    );
    for s in inc.manifest["summary"]["servers"].as_array().unwrap() {
        let server = s["server"].as_str().unwrap();
        let full_lsn = full.consistence.line(server).unwrap().xb_to_lsn.unwrap();
        assert_eq!(s["incremental_from"].as_u64(), Some(full_lsn), "{server}");
        let inc_lsn = inc.consistence.line(server).unwrap().xb_to_lsn.unwrap();
        assert!(inc_lsn >= full_lsn, "{server}: LSN went back");
    }
    let full_servers: Vec<&str> = full.binlogs.servers().collect();
    assert_eq!(inc.binlogs.servers().collect::<Vec<_>>(), full_servers);
    for server in full_servers {
        let last = full.binlogs.last(server).unwrap();
        let first = &inc.binlogs.files(server).unwrap()[0];
        assert!(
            first == last || *first == last.successor(),
            "{server}: a gap between {last} (full) and {first} (incremental)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_incremental_and_forced_full_over_ssh() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "ssh", &[]);
    let mut w = Workload::new(&sb).await;
    let (full, inc) = full_then_incremental(&sb, &store, &mut w).await;

    store.set("force-full-backup", "1");
    w.insert(5, "before-forced").await;
    w.wait_replicas(&[]).await;
    dry_run(&sb, &store, &["full backup: full backup requested"]);
    let (out, window) = run_ok(&sb, &store);
    assert!(
        out.stdout.contains("full backup: full backup requested"),
        "{out}"
    );
    let name = out.backup_name();
    let forced = check_backup(&sb, &store, &name, BackupType::Full, window, false);
    assert_eq!(forced.servers(), full.servers());
    assert_eq!(
        store.backups(),
        vec![
            full.name.to_string(),
            inc.name.to_string(),
            forced.name.to_string()
        ]
    );

    // The layout check itself can fail: one flipped byte in a copied
    // binlog (same size) no longer matches manifest.json.
    let master_dir = forced.dir.join(common::layout::dir_name(&w.masters[0]));
    let binlog = master_dir.join(forced.binlogs.last(&w.masters[0].name).unwrap().to_string());
    let mut bytes = std::fs::read(&binlog).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&binlog, bytes).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_backup(&sb, &store, &name, BackupType::Full, window, false)
    }));
    let message = caught.err().and_then(|p| p.downcast::<String>().ok());
    assert!(
        message.as_deref().is_some_and(|m| m.contains("sha256")),
        "a corrupted binlog passed the check: {message:?}"
    );
}

/// Issue 18: `dbbackup verify` reads every file of a backup back on the
/// store and names each one that is missing, cut short, changed in place,
/// or not in the manifest; an intact chain passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_damaged_file() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "verify", &[]);
    let mut w = Workload::new(&sb).await;
    let (full, inc) = full_then_incremental(&sb, &store, &mut w).await;
    let (full_name, inc_name) = (full.name.to_string(), inc.name.to_string());

    let out = store.run(&sb, &["verify", "--all"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    for b in [&full_name, &inc_name] {
        assert!(
            out.stdout.contains(&format!("verify {b}: intact (")),
            "{out}"
        );
    }

    // Issue 19: `info` shows the chain, a failed run and the trash.
    let failed = "UTC29991231000000.000-inc";
    std::fs::create_dir_all(store.dir.join(failed)).unwrap();
    std::fs::create_dir_all(store.dir.join("trash").join("UTC20000101000000.000-full")).unwrap();
    let point = |b: &str| {
        std::fs::read_to_string(store.dir.join(b).join("consistent_point_datetime"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    let out = store.run(&sb, &["info"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    for (name, kind) in [(&full_name, "full"), (&inc_name, "inc")] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(name.as_str()))
            .unwrap_or_else(|| panic!("no {name} in\n{out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &words[1..5],
            [kind, "yes", full_name.as_str(), "no"],
            "{line}"
        );
        assert!(line.ends_with(&point(name)), "{line}");
    }
    assert!(
        out.stdout.contains(&format!("{failed:<28} inc  NO ")),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "recovery window: {} .. {}",
            point(&full_name),
            point(&inc_name)
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains("trash: 1 (UTC20000101000000.000-full)"),
        "{out}"
    );
    let out = store.run(&sb, &["info", "--json"], &[]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let backups = json["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 3, "{json:#}");
    let mut on_disk = BTreeMap::new();
    common::walk(&full.dir, &full.dir, &mut on_disk);
    let full_bytes: u64 = on_disk
        .iter()
        .filter(|(p, _)| !p.ends_with('/') && *p != "ok" && *p != ".dbscale-backup/manifest.json")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(backups[0]["name"], full_name.as_str());
    assert_eq!(backups[0]["bytes"], full_bytes, "{json:#}");
    assert!(
        backups[0]["duration_secs"]
            .as_f64()
            .is_some_and(|s| s > 0.0)
    );
    assert_eq!(backups[1]["chain"], full_name.as_str());
    assert_eq!(backups[2]["ok"], false);
    assert_eq!(json["trash"][0], "UTC20000101000000.000-full");
    std::fs::remove_dir_all(store.dir.join(failed)).unwrap();

    // The newest backup's last binlog of a master, cut in half.
    let master = &w.masters[0];
    let master_dir = inc.dir.join(common::layout::dir_name(master));
    let last = inc.binlogs.last(&master.name).unwrap().to_string();
    let binlog = master_dir.join(&last);
    let size = std::fs::metadata(&binlog).unwrap().len();
    let cut = std::fs::OpenOptions::new()
        .write(true)
        .open(&binlog)
        .unwrap();
    cut.set_len(size / 2).unwrap();
    let rel = format!("{inc_name}/{}/{last}", common::layout::dir_name(master));
    let out = store.run(&sb, &["verify"], &[]);
    out.assert_failed_with(&format!(
        "1 of 1 backups failed verification; {inc_name}: {rel} holds {} bytes, {size} expected",
        size / 2
    ));

    // The full's stream, one byte changed in place, and a stray file.
    let server = full.servers().into_iter().next().unwrap();
    let stream = full.server_dir(&server).join("backup.xbsteam");
    let mut bytes = std::fs::read(&stream).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&stream, bytes).unwrap();
    std::fs::write(full.dir.join("stray"), "x").unwrap();
    let out = store.run(&sb, &["verify", "--backup", &full_name], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    let stream_rel = stream
        .strip_prefix(&store.dir)
        .unwrap()
        .display()
        .to_string();
    for want in [
        format!("verify {full_name}: DAMAGED"),
        format!("  {stream_rel}: SHA-256 "),
        format!("  {full_name}/stray is not in the manifest"),
    ] {
        assert!(out.stdout.contains(&want), "no {want:?} in\n{out}");
    }
    let out = store.run(&sb, &["verify", "--all"], &[]);
    out.assert_failed_with("2 of 2 backups failed verification");
}

/// Issue 19: `--json` prints the result as one document on stdout, the
/// plan on stderr; a dry run's document says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_result_document() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "json", &[]);
    let dry = store.run(&sb, &["--json", "--dry-run"], &[]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let doc: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(
        (doc["dry_run"].as_bool(), doc["ok"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(store.backups().is_empty());

    let out = store.run(&sb, &["--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{out}"));
    let name = doc["backup"].as_str().unwrap();
    assert!(
        out.stderr.contains(&format!("backup {name} on ")),
        "no plan on stderr:\n{out}"
    );
    assert_eq!(store.backups(), [name]);
    assert!(store.dir.join(name).join("ok").exists());
    assert_eq!(doc["type"], "full");
    assert_eq!(doc["ok"], true);
    assert!(doc["bytes"].as_u64().is_some_and(|b| b > 0), "{doc:#}");
    let dirs: Vec<&str> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["dir"].as_str().unwrap())
        .collect();
    for d in &dirs {
        assert!(
            store
                .dir
                .join(name)
                .join(d)
                .join("backup.xbsteam")
                .is_file(),
            "{d}"
        );
    }
    assert!(!dirs.is_empty());
}

/// Full then incremental over the transport of the sandbox config `conf_var`.
async fn chain_over(conf_var: &str, label: &str) {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, conf_var, label, &[]);
    let mut w = Workload::new(&sb).await;
    full_then_incremental(&sb, &store, &mut w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_over_rabbit_agent() {
    chain_over("BACKUP_RABBIT_CONF", "rabbit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_over_adm_agent() {
    chain_over("BACKUP_ADM_CONF", "adm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_keeps_a_needed_full_unless_forced_and_clean_trash_empties_it() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "purge", &[]);
    let mut w = Workload::new(&sb).await;
    let (full, inc) = full_then_incremental(&sb, &store, &mut w).await;
    let (full_name, inc_name) = (full.name.to_string(), inc.name.to_string());

    // The first whole second at or after the full started: it is purged by
    // this time, the incremental (started seconds later) is not.
    let to = full.name.started + chrono::Duration::milliseconds(999);
    let to = to.format("%Y-%m-%d %H:%M:%S").to_string();
    let to_time = NaiveDateTime::parse_from_str(&to, "%Y-%m-%d %H:%M:%S").unwrap();
    assert!(
        to_time >= full.name.started && to_time < inc.name.started,
        "{to} does not separate {full_name} from {inc_name}"
    );
    let out = store.run(&sb, &["--purge-to", &to], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "kept (a later incremental builds on it; --force purges it): {full_name}"
        )),
        "{out}"
    );
    assert!(!out.stdout.contains("moved to trash"), "{out}");
    assert_eq!(store.backups(), vec![full_name.clone(), inc_name.clone()]);
    assert!(store.trash().is_empty(), "{:?}", store.trash());

    // Issue 21: a dry run says what it would purge, and changes nothing.
    let before = store.snapshot();
    let out = store.run(&sb, &["--purge-to", &to, "--force", "--dry-run"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains(&format!("would move to trash: {full_name}"))
            && out.stdout.contains("dry run: nothing changed"),
        "{out}"
    );
    assert_eq!(
        store.snapshot(),
        before,
        "--purge-to --dry-run changed the store"
    );

    let out = store.run(&sb, &["--purge-to", &to, "--force"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains(&format!("moved to trash: {full_name}")),
        "{out}"
    );
    assert_eq!(store.backups(), vec![inc_name.clone()]);
    assert_eq!(store.trash(), vec![full_name.clone()]);
    assert!(store.dir.join("trash").join(&full_name).join("ok").exists());

    let before = store.snapshot();
    let out = store.run(&sb, &["--clean-trash", "--dry-run"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains(&format!("would delete from trash: {full_name}"))
            && out.stdout.contains("dry run: nothing changed"),
        "{out}"
    );
    assert_eq!(
        store.snapshot(),
        before,
        "--clean-trash --dry-run changed the store"
    );

    let out = store.run(&sb, &["--clean-trash"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains(&format!("deleted from trash: {full_name}"))
            && out.stdout.contains("trash emptied"),
        "{out}"
    );
    assert!(store.dir.join("trash").is_dir());
    assert!(store.trash().is_empty(), "{:?}", store.trash());
    assert_eq!(store.backups(), vec![inc_name]);
}

/// Inserts into every master until stopped (a live workload during a
/// run), on a thread of its own (the SQL client's futures are not `Send`).
fn write_continuously(
    sb: &Sandbox,
    w: &Workload,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let (sb, db, masters) = (sb.clone(), w.db.clone(), w.masters.clone());
    common::on_own_thread(move || async move {
        let mut clients = Vec::new();
        for m in &masters {
            clients.push(common::workload::connect(&sb, m).await);
        }
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for c in &mut clients {
                let q = format!("INSERT INTO {db}.t (v, ts) VALUES ('live-{n}', NOW(6))");
                c.execute(&q).await.unwrap();
            }
            n += 1;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        n
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_while_the_masters_are_written_to() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "live", &[]);
    let w = Workload::new(&sb).await;
    let mut names = Vec::new();
    for kind in [BackupType::Full, BackupType::Incremental] {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = write_continuously(&sb, &w, stop.clone());
        // The active binlogs grow while they are copied.
        let (out, window) = run_ok(&sb, &store);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rows = writer.join().unwrap();
        assert!(rows > 0, "the writer wrote nothing during the run");
        let name = out.backup_name();
        check_backup(&sb, &store, &name, kind, window, false);
        names.push(name);
    }
    assert_eq!(store.backups(), names);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masters_backed_up_too_with_compressed_streams() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(
        &sb,
        "BACKUP_SSH_CONF",
        "master",
        &[("backup-master", "1"), ("compress", "1")],
    );
    let mut w = Workload::new(&sb).await;
    w.insert(10, "before").await;
    w.wait_replicas(&[]).await;
    let (out, window) = run_ok(&sb, &store);
    assert!(out.stdout.contains("stream: zstd -T2"), "{out}");
    let b = check_backup(
        &sb,
        &store,
        &out.backup_name(),
        BackupType::Full,
        window,
        false,
    );
    // Each master's directory holds its stream, master_slave naming its
    // replicas, and its binlogs.
    for m in &w.masters {
        assert!(b.servers().contains(&m.name), "{:?}", b.servers());
        let ms: binlog::MasterSlave =
            std::fs::read_to_string(b.server_dir(&m.name).join("master_slave"))
                .unwrap()
                .parse()
                .unwrap();
        let replicas: Vec<(String, u16)> = sb
            .prod_servers()
            .into_iter()
            .filter(|s| s.datasource == m.datasource && s.name != m.name)
            .map(|s| (s.host, s.port))
            .collect();
        assert_eq!(ms.slaves, replicas, "master_slave of {}", m.name);
        assert!(b.binlogs.files(&m.name).is_some_and(|f| !f.is_empty()));
    }
}
