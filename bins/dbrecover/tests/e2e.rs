//! End-to-end tests of `dbrecover` against the sandbox: each test takes its
//! own backups with the real `dbbackup` while a writer inserts into every
//! datasource, recovers them on the job server, starts a private server on
//! every restored data directory and compares its rows with the truth read
//! from the original masters' binlogs (or their commit timestamps).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use binlog::MariadbGtidPos;
use common::server::CheckServer;
use common::truth::{Point, committed_ids, gtid_at, gtid_before, points};
use common::workload::Workload;
use common::{Env, Output, To, bash, restored_datadir, serial};
use testkit::Sandbox;

/// The test's lock, its directories and its table.
async fn setup(sb: &Sandbox, test: &str) -> (testkit::ExclusiveUse, Env, Workload) {
    let serial = serial().await;
    let env = Env::new(sb, test);
    let wl = Workload::new(sb).await;
    (serial, env, wl)
}

/// Takes a chain of `n` backups (a full one, then incrementals; dbbackup
/// `args`) while the writer runs, checking rows were written during each,
/// with `pause` of writes between them.
///
/// dbbackup takes a full backup instead of an incremental one when the
/// replicas it picks differ from the last backup's: other tests on the
/// shared sandbox stop replicas now and then. The chain then starts again
/// from that full backup (at most twice); the older backups stay on the
/// store, before the chain.
async fn backups_under_writes(
    env: &Env,
    wl: &Workload,
    n: usize,
    args: &[&str],
    pause: Duration,
) -> Vec<String> {
    let writer = wl.writer().await;
    let mut names: Vec<String> = Vec::new();
    let mut restarts = 0;
    while names.len() < n {
        tokio::time::sleep(pause).await;
        let before = writer.rows();
        let (name, out) = env.backup(args).await;
        assert!(
            writer.rows() > before + 20,
            "the writer did not run during backup {name}"
        );
        if env.flush {
            assert!(
                out.to_string().contains("checkpoint caught up"),
                "{name} was not taken after a flush:\n{out}"
            );
        }
        if names.is_empty() {
            assert!(name.ends_with("-full"), "the first backup is {name}\n{out}");
        } else if name.ends_with("-full") && restarts < 2 {
            eprintln!(
                "dbbackup took a full backup {name} instead of an incremental one; the chain starts again:\n{out}"
            );
            restarts += 1;
            names.clear();
        } else {
            assert!(name.ends_with("-inc"), "{name} is not incremental\n{out}");
        }
        names.push(name);
    }
    tokio::time::sleep(pause).await;
    writer.stop().await;
    names
}

/// Per datasource, the ids committed up to `backup`'s consistence point,
/// read from the master's binlogs.
fn truth_at(env: &Env, wl: &Workload, backup: &str) -> BTreeMap<String, BTreeSet<u64>> {
    let pts = points(&env.store_text(backup, "cluster_consistence_info"));
    assert_eq!(pts.len(), wl.starts.len(), "{backup}: {pts:?}");
    pts.iter()
        .map(|p| {
            let ids = committed_ids(wl.start_of(&p.datasource), &wl.db, p);
            (p.datasource.clone(), ids)
        })
        .collect()
}

/// Per datasource, its master's GTID position at `backup`'s consistence point.
async fn gtids_at(env: &Env, wl: &Workload, backup: &str) -> BTreeMap<String, MariadbGtidPos> {
    let mut out = BTreeMap::new();
    for p in points(&env.store_text(backup, "cluster_consistence_info")) {
        let master = &wl.start_of(&p.datasource).master;
        out.insert(
            p.datasource.clone(),
            gtid_at(&env.sb, master, &p.file, p.pos).await,
        );
    }
    out
}

/// Per datasource, its master's GTID position after its last transaction
/// before `time`, read from its own binlogs.
async fn gtids_before(env: &Env, wl: &Workload, time: &str) -> BTreeMap<String, MariadbGtidPos> {
    let mut out = BTreeMap::new();
    for s in &wl.starts {
        let at_start = gtid_at(&env.sb, &s.master, &s.file, s.pos).await;
        out.insert(s.master.datasource.clone(), gtid_before(s, &at_start, time));
    }
    out
}

/// Per datasource, the ids of the rows committed before `time` on its master.
async fn truth_before(wl: &Workload, time: &str) -> BTreeMap<String, BTreeSet<u64>> {
    let mut out = BTreeMap::new();
    for s in &wl.starts {
        let ids = wl.ids_before(&s.master, time).await;
        out.insert(s.master.datasource.clone(), ids.into_iter().collect());
    }
    out
}

/// Asserts `a` ⊊ `b` on every datasource (with data on both sides of the
/// difference), so a recovery that stopped at the wrong place is caught.
fn assert_strictly_grows(
    a: &BTreeMap<String, BTreeSet<u64>>,
    b: &BTreeMap<String, BTreeSet<u64>>,
    what: &str,
) {
    for (ds, small) in a {
        let big = &b[ds];
        assert!(
            !small.is_empty() && small.is_subset(big) && small.len() < big.len(),
            "{what}: {ds}: {} rows then {} rows",
            small.len(),
            big.len()
        );
    }
}

/// Starts a server on every restored data directory of the run for `to`
/// and compares its ids with `expected`; it must have no replication
/// configured and report the GTID position of `gtids` (its master's at the
/// target) as both its slave and its current position.
/// The router's files staged as seed 001's `prepare_calcnode_base` does:
/// `<run>/calcnode_base/` holds the full's base directory tarball and the
/// target backup's config.
fn check_calcnode_base(env: &Env, to: &To) {
    let staged = env.run_dir(to).join("calcnode_base");
    assert!(
        staged.join("dbscale.tar.gz").is_file(),
        "{to:?}: no {}/dbscale.tar.gz",
        staged.display()
    );
    let conf = std::fs::read(staged.join("dbscale.conf")).unwrap_or_default();
    assert!(
        !conf.is_empty(),
        "{to:?}: no {}/dbscale.conf",
        staged.display()
    );
    // An encrypted backup's copy is inside its tarball: only the staged
    // file is there to read.
    if let To::Dir(d) = to
        && !env.store.join(d).join("encrypted_sample").exists()
    {
        let stored = std::fs::read(env.store.join(d).join("calcnode_base/dbscale.conf")).unwrap();
        assert!(
            conf == stored,
            "{to:?}: the staged dbscale.conf is not {d}'s (not printed: it holds passwords)"
        );
    }
}

fn check_restored(
    env: &Env,
    wl: &Workload,
    to: &To,
    expected: &BTreeMap<String, BTreeSet<u64>>,
    gtids: &BTreeMap<String, MariadbGtidPos>,
) {
    check_calcnode_base(env, to);
    for (ds, want) in expected {
        let data = restored_datadir(&env.run_dir(to), ds);
        let server = CheckServer::start(&data, &env.tmp.join(format!("check-{ds}")));
        let got = server.ids(&wl.db);
        let slaves = server.query("SHOW ALL SLAVES STATUS");
        let state = server.query("SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.gtid_current_pos");
        drop(server);
        assert!(
            slaves.is_empty(),
            "{to:?}: {ds}: replication is still configured: {slaves:?}"
        );
        let want_gtid = &gtids[ds];
        let (slave_pos, current_pos) = state[0].split_once('\t').unwrap();
        for (what, pos) in [
            ("gtid_slave_pos", slave_pos),
            ("gtid_current_pos", current_pos),
        ] {
            let pos: MariadbGtidPos = pos.parse().unwrap();
            assert_eq!(
                &pos, want_gtid,
                "{to:?}: {ds}: {what} is {pos}, its master was at {want_gtid}"
            );
        }
        if &got != want {
            let missing: Vec<_> = want.difference(&got).take(10).collect();
            let extra: Vec<_> = got.difference(want).take(10).collect();
            panic!(
                "{to:?}: {ds}: restored {} rows, expected {}; missing (first 10) {missing:?}, extra {extra:?}",
                got.len(),
                want.len()
            );
        }
    }
}

/// The report names, per datasource, every table's row count (checked
/// against the truth), the binlog stop used and where the data is; with
/// `--json` the same as one document.
fn check_report(
    out: &Output,
    json: bool,
    wl: &Workload,
    to: &To,
    expected: &BTreeMap<String, BTreeSet<u64>>,
) {
    let stop_flag = match to {
        To::Dir(_) => "--stop-position=".to_owned(),
        To::Time(t) => format!("--stop-datetime='{t}'"),
    };
    if json {
        let json: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("--json printed no JSON document ({e}):\n{out}"));
        let sources = json["datasources"].as_array().unwrap();
        assert_eq!(sources.len(), expected.len(), "{json:#}");
        for d in sources {
            let ds = d["datasource"].as_str().unwrap();
            let table = d["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["schema"] == wl.db.as_str() && t["table"] == "t")
                .unwrap_or_else(|| panic!("{ds}: no {}.t in {d:#}", wl.db));
            assert_eq!(
                table["rows"].as_u64(),
                Some(expected[ds].len() as u64),
                "{d:#}"
            );
            let stop = d["stop_used"].as_str().unwrap_or("none");
            assert!(
                stop.contains(&stop_flag) || d["binlogs_replayed"] == 0,
                "{d:#}"
            );
            assert!(
                d["data_dir"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("/datadir/{ds}-"))
            );
            assert!(!d["timings"].as_array().unwrap().is_empty(), "{d:#}");
        }
        return;
    }
    for (ds, want) in expected {
        let rows = format!("datasource {ds}: table {}.t: {} rows", wl.db, want.len());
        assert!(out.stdout.contains(&rows), "no {rows:?} in\n{out}");
        let stop = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("datasource {ds}: stop used: ")))
            .unwrap_or_else(|| panic!("no stop for {ds} in\n{out}"));
        assert!(
            stop.contains(&stop_flag) || stop.starts_with("none"),
            "{ds}: {stop}"
        );
    }
}

/// Recovers to `to` with the sandbox config `var`, asserting success.
async fn recover(env: &Env, var: &str, to: &To, args: &[&str], secrets: &[&str]) -> Output {
    let conf = env.recovery_conf(var, to);
    let out = env.dbrecover(&conf, args, secrets).await;
    out.assert_recovered();
    // A position target is replayed by the server's SQL thread, a datetime
    // by the mariadb-binlog pipe (or nothing was left to replay).
    let expected = match to {
        To::Dir(_) => "replayed by the SQL thread)",
        To::Time(_) => "replayed by mariadb-binlog)",
    };
    for line in out.stdout.lines().filter(|l| l.contains(": restored (")) {
        assert!(
            line.contains(expected) || line.contains("replayed by nothing)"),
            "expected {expected:?}: {line}"
        );
    }
    out
}

/// The master's directory name of a point in a backup (`<ds>-<server>-<host>-<port>`).
fn master_dir(wl: &Workload, p: &Point) -> String {
    let m = &wl.start_of(&p.datasource).master;
    format!("{}-{}-{}-{}", p.datasource, m.name, m.host, m.port)
}

/// Issue 6: full + two incrementals taken under writes recover, to the last
/// backup and to the full one, with exactly the rows committed up to each
/// backup's consistence point on every datasource; `--dry-run` first
/// prints the chain and the binlogs with start and stop and touches nothing.
/// The backups are taken with `flush-before-backup = 1` (issue 20 target 5:
/// each incremental starts from a fresh checkpoint, and the rows must stay
/// exact); the replay to the last backup runs four parallel workers
/// (target 6), the one to the full backup the SQL thread alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_under_writes_recovers_to_each_consistence_point() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, mut env, wl) = setup(&sb, "chain").await;
    env.flush = true;
    let b = backups_under_writes(&env, &wl, 3, &[], Duration::from_millis(500)).await;
    let (full, inc2) = (&b[0], &b[2]);

    let truths: Vec<_> = b.iter().map(|n| truth_at(&env, &wl, n)).collect();
    let gtids = [
        gtids_at(&env, &wl, &b[0]).await,
        gtids_at(&env, &wl, &b[2]).await,
    ];
    assert_strictly_grows(&truths[0], &truths[1], "full -> inc1");
    assert_strictly_grows(&truths[1], &truths[2], "inc1 -> inc2");

    // The dry run: the chain, then per datasource the files with start and stop.
    let to = To::Dir(inc2.clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
    let out = env.dbrecover(&conf, &["--dry-run"], &[]).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("dry run: nothing touched"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("chain: {} -> {} -> {}", b[0], b[1], b[2])),
        "{out}"
    );
    for p in points(&env.store_text(inc2, "cluster_consistence_info")) {
        let section = out
            .stdout
            .split(&format!("datasource {}:\n", p.datasource))
            .nth(1)
            .unwrap_or_else(|| panic!("no datasource {} in\n{out}", p.datasource));
        let section = section.split("\ndatasource ").next().unwrap();
        assert!(section.contains("  replay from mysql-bin."), "{out}");
        assert!(
            section.contains(&format!("{inc2}/{}/{}", master_dir(&wl, &p), p.file)),
            "{out}"
        );
        assert!(
            section.contains(&format!("  stop at     {}:{}", p.file, p.pos)),
            "{out}"
        );
    }
    assert!(
        !env.job.exists(),
        "the dry run created {}",
        env.job.display()
    );

    let out = env
        .dbrecover(&conf, &["--replay-workers", "4", "-d"], &[])
        .await;
    out.assert_recovered();
    assert!(!out.stdout.contains("ds_info"), "ds_info for a dir:\n{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("workers=4"),
        "the SQL thread did not replay with its four workers:\n{out}"
    );
    check_restored(&env, &wl, &to, &truths[2], &gtids[1]);
    check_report(&out, false, &wl, &to, &truths[2]);

    // Written to during the backup: the SQL thread had binlogs to replay.
    // Above with parallel workers, here alone (the default).
    let to = To::Dir(full.clone());
    let out = recover(&env, "RECOVERY_SSH_CONF", &to, &[], &[]).await;
    assert!(
        out.stdout.contains("replayed by the SQL thread)"),
        "the SQL thread replayed nothing:\n{out}"
    );
    check_restored(&env, &wl, &to, &truths[0], &gtids[0]);
}

/// Issue 6: a stop-datetime between two backups recovers exactly the rows
/// committed before that second, on every datasource, both from the full
/// backup (binlogs of the first incremental) and from the first
/// incremental (binlogs of the second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_datetime_between_backups_recovers_rows_before_that_second() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "time").await;
    let b = backups_under_writes(&env, &wl, 3, &[], Duration::from_millis(1500)).await;

    for i in 0..2 {
        let point = env.store_text(&b[i], "consistent_point_datetime");
        let next_point = env.store_text(&b[i + 1], "consistent_point_datetime");
        let time = wl
            .eval(&format!(
                "DATE_FORMAT('{}' + INTERVAL 2 SECOND, '%Y-%m-%d %H:%i:%s')",
                point.trim()
            ))
            .await;
        assert!(
            time.as_str() < next_point.trim(),
            "{time} is not before {} (point of {})",
            next_point.trim(),
            b[i + 1]
        );
        let expected = truth_before(&wl, &time).await;
        assert_strictly_grows(&truth_at(&env, &wl, &b[i]), &expected, "backup -> time");
        assert_strictly_grows(&expected, &truth_at(&env, &wl, &b[i + 1]), "time -> next");

        let to = To::Time(time.clone());
        let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
        let out = env.dbrecover(&conf, &["--dry-run"], &[]).await;
        let chain = b[..=i].join(" -> ");
        assert!(
            out.stdout.contains(&format!(
                "chain: {chain} (+ binlogs of {}), stop at {time}",
                b[i + 1]
            )),
            "{out}"
        );
        assert!(
            out.stdout.contains(&format!("  stop at     {time}")),
            "{out}"
        );
        let ds_info = DsInfoFile::new(&time);
        let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
        // The report as text once, as JSON once.
        let args: &[&str] = if i == 0 { &[] } else { &["--json"] };
        let out = env.dbrecover(&conf, args, &[]).await;
        out.assert_recovered();
        let gtids = gtids_before(&env, &wl, &time).await;
        check_restored(&env, &wl, &to, &expected, &gtids);
        check_report(&out, i == 1, &wl, &to, &expected);

        // The PIT tool's ds_info: per datasource the stop and the first
        // binlog of its master in the target backup, on the job server.
        let want: String = points(&env.store_text(&b[i], "cluster_consistence_info"))
            .iter()
            .map(|p| {
                let dir = master_dir(&wl, p);
                let first = first_binlog(&env.store.join(&b[i]).join(&dir));
                let path = env.run_dir(&to).join(&b[i]).join(&dir).join(first);
                format!("{}\t{time}\t{}\n", p.datasource, path.display())
            })
            .collect();
        assert_eq!(ds_info.read(), want, "{out}");
        assert!(
            out.stdout.contains(&ds_info.path.display().to_string()),
            "{out}"
        );
    }
}

/// Issue 18: one transaction inserting 100,000 rows of ~400 bytes (a ~40
/// MB event group, well over the default 16 MiB packet limit of server and
/// client) between two backups; a point-in-time recovery to a second after
/// it replays it whole (it failed with "server has gone away").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_bigger_than_the_default_packet_limit_is_replayed() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "bigtx").await;
    env.backup(&[]).await;
    let start = &wl.starts[0];
    let mut c = common::workload::connect(&sb, &start.master).await;
    let db = &wl.db;
    c.execute(&format!(
        "CREATE TABLE {db}.big (id INT PRIMARY KEY, pad VARCHAR(400)) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    c.execute(&format!(
        "INSERT INTO {db}.big SELECT seq, REPEAT(MD5(seq), 12) FROM {db}.seq_1_to_100000"
    ))
    .await
    .unwrap();
    // The stop time: the first whole second after the commit.
    let time = wl
        .eval("DATE_FORMAT(NOW() + INTERVAL 1 SECOND, '%Y-%m-%d %H:%i:%s')")
        .await;
    testkit::poll::Poll::within(Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .wait_async(&format!("the clock passing {time}"), || async {
            wl.eval(&format!("NOW() > '{time}'")).await == "1"
        })
        .await;
    let _ = c.close().await;
    env.backup(&[]).await;

    let to = To::Time(time);
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
    let out = env.dbrecover(&conf, &[], &[]).await;
    out.assert_recovered();
    let rows = format!(
        "datasource {}: table {db}.big: 100000 rows",
        start.master.datasource
    );
    assert!(out.stdout.contains(&rows), "no {rows:?} in\n{out}");
}

/// The smallest binlog file name in a server directory of a backup.
fn first_binlog(dir: &std::path::Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("mysql-bin.") && n[10..].bytes().all(|b| b.is_ascii_digit()))
        .min()
        .unwrap_or_else(|| panic!("no binlog in {}", dir.display()))
}

/// The job server's `/tmp/ds_info_<id>` of a stop-datetime (the job server
/// is this machine), absent before the run, removed on drop with
/// `/tmp/ds_info_file_name` when that names it.
struct DsInfoFile {
    path: std::path::PathBuf,
}

impl DsInfoFile {
    fn new(time: &str) -> DsInfoFile {
        let path = std::path::PathBuf::from(format!(
            "/tmp/ds_info_{}",
            time.replace([' ', ':', '-'], "_")
        ));
        let _ = std::fs::remove_file(&path);
        DsInfoFile { path }
    }

    /// Its text; `/tmp/ds_info_file_name` must name it.
    fn read(&self) -> String {
        let name = std::fs::read_to_string("/tmp/ds_info_file_name").unwrap();
        assert_eq!(
            Some(name.trim()),
            self.path.file_name().and_then(|n| n.to_str()),
            "/tmp/ds_info_file_name names another file"
        );
        std::fs::read_to_string(&self.path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.path.display()))
    }
}

impl Drop for DsInfoFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let names = "/tmp/ds_info_file_name";
        let ours = self.path.file_name().and_then(|n| n.to_str());
        if std::fs::read_to_string(names).is_ok_and(|n| Some(n.trim()) == ours) {
            let _ = std::fs::remove_file(names);
        }
    }
}

/// Issue 6: chain selection errors, each with its message and before
/// anything reaches the job server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_errors_are_named_before_anything_is_shipped() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "errors").await;
    let b = backups_under_writes(&env, &wl, 2, &[], Duration::from_millis(300)).await;
    let inc = &b[1];
    // The chain may have started again (see backups_under_writes).
    let first = env.backups().into_iter().next().unwrap();
    let first_point = env.store_text(&first, "consistent_point_datetime");
    let last_point = env.store_text(inc, "consistent_point_datetime");

    let fails = |to: To, texts: Vec<String>| {
        let env = &env;
        async move {
            let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
            let out = env.dbrecover(&conf, &[], &[]).await;
            let line = out.error_line().to_owned();
            for t in &texts {
                assert!(line.contains(t.as_str()), "{to:?}: no {t:?} in\n{out}");
            }
            assert!(!env.job.exists(), "{to:?}: the job dir was created");
        }
    };
    fails(
        To::Time("2000-01-01 00:00:00".into()),
        vec![
            "cannot recover to 2000-01-01 00:00:00".into(),
            format!(
                "the first backup {first} has its consistent point at {}",
                first_point.trim()
            ),
        ],
    )
    .await;
    fails(
        To::Time("2099-01-01 00:00:00".into()),
        vec![format!(
            "the last backup {inc} has its consistent point at {}",
            last_point.trim()
        )],
    )
    .await;
    let absent = "UTC20000101000000.000-full";
    fails(
        To::Dir(absent.into()),
        vec![format!("{absent} does not exist on the backup store")],
    )
    .await;

    // A backup without its ok flag.
    let ok = env.store.join(inc).join("ok");
    let ok_off = env.store.join(inc).join("ok.off");
    std::fs::rename(&ok, &ok_off).unwrap();
    fails(
        To::Dir(inc.clone()),
        vec![format!("{inc} is not a complete backup (no ok flag)")],
    )
    .await;
    std::fs::rename(&ok_off, &ok).unwrap();

    // A job server without the client the replay needs.
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &To::Dir(inc.clone()));
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        common::set_key(&text, "misc", "client-name", "no-such-client"),
    )
    .unwrap();
    let out = env.dbrecover(&conf, &[], &[]).await;
    assert!(
        out.error_line()
            .contains("no-such-client is not installed (needed to restore)"),
        "{out}"
    );
    assert!(
        !env.job.join(inc).join("datadir").exists(),
        "a restore began:\n{out}"
    );

    // A copied binlog file of normal_0's master gone from the store.
    let p = point_of(&env, inc, "normal_0");
    let binlog = env.store.join(inc).join(master_dir(&wl, &p)).join(&p.file);
    std::fs::remove_file(&binlog).unwrap();
    let to = To::Dir(inc.clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
    let out = env.dbrecover(&conf, &[], &[]).await;
    assert_missing_binlog_caught(&env, &out, &to, &p);
    // Noticed by the plan step: nothing was shipped either.
    assert_nothing_shipped(&env, &out);
}

/// Issue 18: a binlog of the chain cut short on the store, or one byte of
/// a stream changed, fails the recovery before anything is prepared,
/// naming the file (a cut binlog used to give a "successful" recovery with
/// rows missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_fail_the_recovery_before_anything_is_prepared() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "damaged").await;
    let b = backups_under_writes(&env, &wl, 2, &[], Duration::from_millis(300)).await;
    let (full, inc) = (&b[0], &b[1]);
    let to = To::Dir(inc.clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);

    let p = point_of(&env, inc, "normal_0");
    let rel = format!("{inc}/{}/{}", master_dir(&wl, &p), p.file);
    let binlog = env.store.join(&rel);
    let size = std::fs::metadata(&binlog).unwrap().len();
    let original = std::fs::read(&binlog).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&binlog)
        .unwrap()
        .set_len(size / 2)
        .unwrap();
    let out = env.dbrecover(&conf, &[], &[]).await;
    assert_eq!(out.code, Some(1), "{out}");
    let error = out.error_line();
    for want in [
        format!(
            "{inc} on {} does not match its manifest",
            sb.var("JOB_HOST")
        ),
        format!("{rel} holds {} bytes, {size} expected", size / 2),
        "nothing was prepared".to_owned(),
    ] {
        assert!(error.contains(&want), "no {want:?} in\n{out}");
    }
    assert!(!env.run_dir(&to).join("datadir").exists(), "{out}");
    std::fs::write(&binlog, original).unwrap();

    // One byte of the full's stream, same size.
    let stream_dir = std::fs::read_dir(env.store.join(full))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|d| d.join("backup.xbsteam").is_file())
        .unwrap();
    let stream = stream_dir.join("backup.xbsteam");
    let mut bytes = std::fs::read(&stream).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&stream, &bytes).unwrap();
    let out = env.dbrecover(&conf, &[], &[]).await;
    assert_eq!(out.code, Some(1), "{out}");
    let stream_rel = stream
        .strip_prefix(&env.store)
        .unwrap()
        .display()
        .to_string();
    assert!(
        out.error_line()
            .contains(&format!("{stream_rel}: SHA-256 ")),
        "{out}"
    );
    assert!(!env.run_dir(&to).join("datadir").exists(), "{out}");
}

/// Issue 21 item 2: `xbstream-bin-dir` is the extractor that runs; one that
/// is not there is a pre-check error naming the job server and the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_stream_extractor_is_the_one_that_runs() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "xbstream").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let to = To::Dir(b[0].clone());
    let with = |value: &str| {
        let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
        let text = std::fs::read_to_string(&conf).unwrap();
        std::fs::write(
            &conf,
            common::set_key(&text, "misc", "xbstream-bin-dir", value),
        )
        .unwrap();
        conf
    };
    let out = env
        .dbrecover(&with("/nonexistent/mbstream"), &[], &[])
        .await;
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.error_line().contains(&format!(
            "job server {}: /nonexistent/mbstream is not installed",
            sb.var("JOB_HOST")
        )),
        "{out}"
    );

    let dir = env.tmp.join("extractor");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&env.tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let calls = dir.join("calls");
    let wrapper = dir.join("my-mbstream");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec /usr/bin/mbstream \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env
        .dbrecover(&with(wrapper.to_str().unwrap()), &[], &[])
        .await;
    out.assert_recovered();
    let calls = std::fs::read_to_string(&calls).unwrap();
    let extractions = calls.lines().filter(|l| l.starts_with("-x -C ")).count();
    assert_eq!(extractions, 2, "one per datasource: {calls}");
}

/// Issue 6: an encrypted chain recovers with `--password-file`; a wrong
/// password or none fails before anything is shipped, with a clear message;
/// a binlog missing from a tarball is caught before any restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_chain_needs_its_password() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "enc").await;
    let password = "Rec0ver p@ss;word#1 'q'";
    let pw_file = env.file("key", &format!("{password}\n"));
    let wrong_file = env.file("wrong", "not the password\n");
    let args = ["--password-file", pw_file.to_str().unwrap()];
    let b = backups_under_writes(&env, &wl, 2, &args, Duration::from_millis(300)).await;
    let inc = &b[1];
    for b in &b {
        let tarball = env
            .store
            .join("encrypted")
            .join(format!("{b}.tar.encrypted"));
        assert!(
            env.store.join(b).join("encrypted_sample").exists() && tarball.exists(),
            "{b} is not encrypted"
        );
    }
    let truth = truth_at(&env, &wl, inc);
    let to = To::Dir(inc.clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);

    let out = env.dbrecover(&conf, &[], &[password]).await;
    assert!(out.error_line().contains("is encrypted"), "{out}");
    assert!(!env.job.exists(), "shipped without a password");

    let wrong = ["--password-file", wrong_file.to_str().unwrap()];
    let out = env.dbrecover(&conf, &wrong, &[password]).await;
    assert!(out.error_line().contains("wrong password"), "{out}");
    assert!(!env.job.exists(), "shipped with a wrong password");

    let out = recover(&env, "RECOVERY_SSH_CONF", &to, &args, &[password]).await;
    let gtids = gtids_at(&env, &wl, inc).await;
    check_restored(&env, &wl, &to, &truth, &gtids);
    assert!(
        out.to_string().contains(UNTAR_USED),
        "the streams were not extracted while shipping:\n{out}"
    );

    // A job server without `dbagent untar` (none installed, or an older
    // one): the streams land first and are extracted from there, to the
    // same rows.
    std::fs::remove_dir_all(&env.job).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = common::set_key(&text, "misc", "receiver-bin", "/nonexistent/dbagent");
    let no_agent = env.file("no-agent.conf", &text);
    let out = env.dbrecover(&no_agent, &args, &[password]).await;
    out.assert_recovered();
    check_restored(&env, &wl, &to, &truth, &gtids);
    assert!(!out.to_string().contains(UNTAR_USED), "{out}");

    // The master binlog of normal_0 taken out of the inc's tarball: caught
    // once shipped, before any restore, naming the datasource and the file.
    let p = point_of(&env, inc, "normal_0");
    let entry = format!("{}/{}", master_dir(&wl, &p), p.file);
    drop_from_encrypted_tarball(&env, inc, &entry, &pw_file);
    std::fs::remove_dir_all(&env.job).unwrap();
    let out = env.dbrecover(&conf, &args, &[password]).await;
    assert_missing_binlog_caught(&env, &out, &to, &p);

    // With using-scp the chain is decrypted on the store straight into
    // ssh (no socat, no plaintext on the store) and the same check holds.
    std::fs::remove_dir_all(&env.job).unwrap();
    let keys = sb.login_user_key();
    let out = env
        .dbrecover(&with_scp(&env, &conf, &keys), &args, &[password])
        .await;
    assert_missing_binlog_caught(&env, &out, &to, &p);
    let logs = walk_names(&env.run_dir(&to).join("socat_log"));
    assert!(logs.is_empty(), "shipped by socat with using-scp: {logs:?}");
    let plaintext = walk_names(&env.store);
    assert!(
        !plaintext.iter().any(|n| n.ends_with(".tar")),
        "a decrypted tarball on the store: {plaintext:?}"
    );

    // The full's tarball damaged in its last block: its HMAC fails only
    // after every stream went into its extraction. The run fails at
    // shipping and leaves no data directory behind.
    let _ = std::fs::remove_dir_all(&env.job);
    let full = env
        .store
        .join("encrypted")
        .join(format!("{}.tar.encrypted", b[0]));
    flip_byte(&full, 40);
    let out = env.dbrecover(&conf, &args, &[password]).await;
    let line = out.error_line();
    assert!(
        line.contains(&format!("shipping {}", b[0])),
        "not failed at shipping:\n{out}"
    );
    assert!(
        !env.run_dir(&to).join("datadir").exists(),
        "extracted data left after a failed HMAC:\n{out}"
    );
}

/// Flips the byte `from_end` bytes before the end of `file`.
fn flip_byte(file: &std::path::Path, from_end: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let at = f.metadata().unwrap().len() - from_end;
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut byte).unwrap();
    byte[0] ^= 0x55;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&byte).unwrap();
}

/// What dbrecover logs when an encrypted chain's streams are extracted
/// while shipping.
const UNTAR_USED: &str = recovery::EXTRACTED_WHILE_SHIPPING;

/// `backup`'s consistence point of `datasource`.
fn point_of(env: &Env, backup: &str, datasource: &str) -> Point {
    points(&env.store_text(backup, "cluster_consistence_info"))
        .into_iter()
        .find(|p| p.datasource == datasource)
        .unwrap_or_else(|| panic!("{backup} has no point for {datasource}"))
}

/// The run failed naming the datasource and the missing binlog of `p`,
/// and no datasource's restore had started.
fn assert_missing_binlog_caught(env: &Env, out: &Output, to: &To, p: &Point) {
    let line = out.error_line();
    assert!(
        line.contains(&p.datasource) && line.contains(&p.file) && line.contains("missing"),
        "the error names neither the datasource nor the file:\n{out}"
    );
    assert!(
        !env.run_dir(to).join("datadir").exists(),
        "a restore started before the missing binlog was noticed:\n{out}"
    );
}

/// Rewrites `backup`'s encrypted tarball on the store without `entry`
/// (in place: the store's login user keeps owning it).
fn drop_from_encrypted_tarball(env: &Env, backup: &str, entry: &str, key: &std::path::Path) {
    let dbcrypt = std::path::Path::new(env!("CARGO_BIN_EXE_dbrecover")).with_file_name("dbcrypt");
    let tarball = env
        .store
        .join("encrypted")
        .join(format!("{backup}.tar.encrypted"));
    let plain = env.tmp.join("plain.tar");
    let script = format!(
        "set -euo pipefail; {c} -d --password-file {k} {t} -o - > {p}; \
         e=$(tar -tf {p} | grep -x -e {e} -e ./{e}); tar --delete -f {p} \"$e\"; \
         {c} -e --password-file {k} {p} -o {p}.enc; cat {p}.enc > {t}; rm -f {p} {p}.enc",
        c = dbcrypt.display(),
        k = key.display(),
        t = tarball.display(),
        p = plain.display(),
        e = entry,
    );
    bash(
        &script,
        &format!("removing {entry} from {}", tarball.display()),
    );
}

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Issue 6: recoveries over rabbit-agent and adm-agent check out too, from
/// zstd-compressed backups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_recover_too() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, mut env, wl) = setup(&sb, "agents").await;
    // Compressed streams here: the other tests recover plain ones.
    env.compress = true;
    let b = backups_under_writes(&env, &wl, 2, &[], Duration::from_millis(300)).await;
    let streams: Vec<_> = std::fs::read_dir(env.store.join(&b[0]))
        .unwrap()
        .map(|e| e.unwrap().path().join("backup.xbsteam"))
        .filter(|p| p.exists())
        .collect();
    assert!(!streams.is_empty(), "no stream in {}", b[0]);
    for stream in streams {
        let bytes = std::fs::read(&stream).unwrap();
        assert_eq!(bytes[..4], ZSTD_MAGIC, "{} is not zstd", stream.display());
    }
    for (var, backup) in [
        ("RECOVERY_RABBIT_CONF", &b[1]),
        ("RECOVERY_ADM_CONF", &b[0]),
    ] {
        let to = To::Dir(backup.clone());
        recover(&env, var, &to, &[], &[]).await;
        let gtids = gtids_at(&env, &wl, backup).await;
        check_restored(&env, &wl, &to, &truth_at(&env, &wl, backup), &gtids);
    }
}

/// Issue 6: a job server whose work-dir has too little room fails before
/// anything is shipped, naming the host, the directory and both sizes; the
/// dry run prints the estimate it is checked against. (The work-dir is a
/// 16 MiB tmpfs; where mounting is not allowed the test says so and ends.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_room_on_the_job_server_fails_before_shipping() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "space").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let to = To::Dir(b[0].clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);

    let out = env.dbrecover(&conf, &["--dry-run"], &[]).await;
    assert_eq!(out.code, Some(0), "{out}");
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("space needed on the job server: about "))
        .unwrap_or_else(|| panic!("no space estimate in the plan:\n{out}"));
    let needed: u64 = line
        .split_once(" MiB (")
        .and_then(|(_, r)| r.split_once(" bytes)"))
        .map(|(n, _)| n.parse().unwrap())
        .unwrap_or_else(|| panic!("bad estimate line {line:?}"));
    // At least the full backup's streams, as the store holds them.
    let on_store: u64 = std::fs::read_dir(env.store.join(&b[0]))
        .unwrap()
        .map(|e| e.unwrap().path().join("backup.xbsteam"))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert!(
        on_store > 0 && needed > 2 * on_store,
        "estimate {needed} for streams of {on_store} bytes"
    );

    let Some(_tmpfs) =
        testkit::tmpfs::Tmpfs::mount(&env.job, "16m", testkit::tmpfs::Owner::Everyone)
    else {
        return;
    };
    let out = env.dbrecover(&conf, &[], &[]).await;
    let error = out.error_line();
    let job_host = sb.var("JOB_HOST");
    for want in [
        format!("job server {job_host}"),
        env.run_dir(&to).display().to_string(),
        format!("needs {needed} bytes"),
    ] {
        assert!(error.contains(&want), "no {want:?} in\n{out}");
    }
    // What the 16 MiB tmpfs has free (the run lock's file takes a block).
    let free: u64 = error
        .split_once(" has ")
        .and_then(|(_, r)| r.split_once(" bytes"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no free space figure in\n{out}"));
    assert!(
        (16 * 1024 * 1024 - 64 * 1024..=16 * 1024 * 1024).contains(&free),
        "{free} bytes free on a 16 MiB tmpfs?\n{out}"
    );
    assert_nothing_shipped(&env, &out);
}

/// Issue 18: the job server's work dir filling up in the middle of a
/// recovery, while the chain is shipped and while the datasources are
/// restored (the run is paused at that point by `DBRECOVER_PAUSE_AT`, the
/// test fills its tmpfs, then lets it go on). The run fails with one
/// error naming the job server, the directory and the cause, leaves
/// nothing running, and the next run, with room again, recovers the exact
/// rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_server_filling_up_mid_recovery_fails_naming_it_and_the_next_run_completes() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "full-disk").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let truth = truth_at(&env, &wl, &b[0]);
    let gtids = gtids_at(&env, &wl, &b[0]).await;
    let to = To::Dir(b[0].clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
    // Room for the whole recovery: only the filler makes it run out.
    let Some(tmpfs) = testkit::tmpfs::Tmpfs::mount(&env.job, "2g", testkit::tmpfs::Owner::Everyone)
    else {
        return;
    };
    let job_host = sb.var("JOB_HOST");
    let pause_file = env.tmp.join("pause");
    let needle = env.job.display().to_string();
    for point in ["shipping the chain", "restoring the datasources"] {
        let pause = pause_file.display().to_string();
        let envs = [
            ("DBRECOVER_PAUSE_AT", point),
            ("DBRECOVER_PAUSE_FILE", pause.as_str()),
        ];
        let run = env.dbrecover_with_env(&conf, &[], &[], &envs);
        let fill = async {
            testkit::poll::Poll::within(Duration::from_secs(300))
                .every(Duration::from_millis(50))
                .wait_async(&format!("the run pausing at {point}"), || async {
                    std::fs::read_to_string(&pause_file).ok().as_deref() == Some(point)
                })
                .await;
            let filler = tmpfs.fill();
            std::fs::remove_file(&pause_file).unwrap();
            filler
        };
        let (out, filler) = tokio::join!(run, fill);
        let error = out.error_line();
        eprintln!("{point}: {error}");
        for want in [
            job_host.to_owned(),
            needle.clone(),
            "No space left on device".to_owned(),
        ] {
            assert!(error.contains(&want), "{point}: no {want:?} in\n{out}");
        }
        let left = testkit::procs::wait_none_naming(&needle, Duration::from_secs(30));
        assert!(
            left.is_empty(),
            "{point}: still running 30 s after the failure: {left:#?}"
        );
        filler.remove();
    }
    let out = env.dbrecover(&conf, &[], &[]).await;
    out.assert_recovered();
    check_restored(&env, &wl, &to, &truth, &gtids);
}

/// The work-dir holds nothing but the run lock's file (of an earlier run),
/// if it exists at all.
fn assert_nothing_shipped(env: &Env, out: &Output) {
    let left: Vec<_> = std::fs::read_dir(&env.job)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != ".dbscale-backup.lock")
        .collect();
    assert!(left.is_empty(), "something was shipped: {left:?}\n{out}");
}

/// Issue 18: one recovery at a time per job-server work-dir. While another
/// run holds the work-dir's lock (taken here as a remote host would), a
/// recovery is refused at once, naming the holder, and ships nothing; its
/// dry run still plans (it writes nothing and takes no lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_into_a_work_dir_in_use_is_refused_naming_the_holder() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "lock").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &To::Dir(b[0].clone()));
    let local: std::sync::Arc<dyn remote::Transport> =
        std::sync::Arc::new(remote::Local::new("localhost", 4));
    let holder = store::Owner {
        program: "dbrecover".into(),
        host: "another-controller".into(),
        pid: 4242,
        started: "2026-12-04 00:00:00 UTC".into(),
    };
    let held = store::RunLock::acquire(
        local,
        &env.job.display().to_string(),
        &holder,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    // Taken as root here; the login user's run must be able to open it.
    bash(
        &format!(
            "chown -R {user} {dir}",
            user = sb.var("LOGIN_USER"),
            dir = env.job.display()
        ),
        "handing the work-dir to the login user",
    );

    let dry = env.dbrecover(&conf, &["--dry-run"], &[]).await;
    assert_eq!(dry.code, Some(0), "{dry}");
    let out = env.dbrecover(&conf, &[], &[]).await;
    assert_eq!(out.code, Some(1), "{out}");
    let error = out.error_line();
    assert!(
        error.contains(&format!(
            "{}/.dbscale-backup.lock is locked by a run in progress: dbrecover on another-controller (pid 4242)",
            env.job.display()
        )),
        "{out}"
    );
    assert_nothing_shipped(&env, &out);
    held.lock.release().await.unwrap();
}

/// A relocatable base directory `top/` made from the installed package
/// (bin/mariadbd, share/ with the messages and character sets, lib/plugin),
/// tarred as the backup engine does (`tar -C parent -zcf top.tar.gz top`)
/// into `into`.
fn basedir_tarball(env: &Env, top: &str, into: &std::path::Path, admin_calls: &std::path::Path) {
    let src = env.tmp.join("basedir-src");
    // Its mariadb-admin notes each call in `admin_calls`, then runs the
    // installed one: the recovery's ping shows which one it ran.
    let script = format!(
        "set -euo pipefail; b={src}/{top}; mkdir -p $b/bin $b/share $b/lib/plugin; \
         cp /usr/sbin/mariadbd /usr/bin/mariadb-binlog $b/bin/; \
         printf '#!/bin/sh\\necho \"$*\" >> {calls}\\nexec /usr/bin/mariadb-admin \"$@\"\\n' > $b/bin/mariadb-admin; \
         chmod 755 $b/bin/mariadb-admin; \
         cp -r /usr/share/mysql/. $b/share/; \
         cp -r /usr/lib/mysql/plugin/. $b/lib/plugin/; \
         tar -C {src} -zcf {into}/{top}.tar.gz {top}; chmod 644 {into}/{top}.tar.gz; rm -rf {src}",
        src = src.display(),
        into = into.display(),
        calls = admin_calls.display(),
    );
    bash(&script, "making the base directory tarball");
}

/// Replaces `old` by `new` (size and SHA-256 of the file now there) in a
/// backup's manifest (`.dbscale-backup/manifest.json`).
fn manifest_swap(env: &Env, backup: &str, old: &str, new: &str) {
    use sha2::Digest as _;
    let path = env.store.join(backup).join(".dbscale-backup/manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let files = m["files"].as_object_mut().unwrap();
    assert!(
        files.remove(old).is_some(),
        "{old} is not in {}",
        path.display()
    );
    let bytes = std::fs::read(env.store.join(backup).join(new)).unwrap();
    files.insert(
        new.to_owned(),
        serde_json::json!({ "size": bytes.len(), "sha256": hex::encode(sha2::Sha256::digest(&bytes)) }),
    );
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Issue 6 (seed 001): a full backup of a server not installed from a
/// package holds its base directory as `datanode_base/<dir>.tar.gz`; the
/// recovery unpacks it on the job server and runs the temporary servers
/// from it (seen as their /proc/<pid>/exe, with the unpacked messages
/// directory; its `mariadb-admin` pings them from there, as seed 001 runs
/// its clients from `<base>/bin/`), and the data comes out
/// right. The sandbox's servers are
/// packaged, so the test swaps the backup's `system_basedir` for such a
/// tarball made from the installed package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_directory_tarball_runs_the_temporary_servers() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "basedir").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let full = &b[0];
    let bases = env.store.join(full).join("datanode_base");
    assert!(
        bases.join("system_basedir").exists(),
        "the sandbox's servers are packaged: {full} should record system_basedir"
    );
    let top = "mariadb-10.11-linux-x86_64";
    let calls =
        std::path::PathBuf::from(format!("/tmp/dbrecover-admin-calls-{}", std::process::id()));
    std::fs::write(&calls, "").unwrap();
    std::fs::set_permissions(&calls, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    basedir_tarball(&env, top, &bases, &calls);
    std::fs::remove_file(bases.join("system_basedir")).unwrap();
    manifest_swap(
        &env,
        full,
        "datanode_base/system_basedir",
        &format!("datanode_base/{top}.tar.gz"),
    );

    let to = To::Dir(full.clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
    let restore = env.run_dir(&to).join("datadir");
    let needle = format!("--datadir={}/", restore.display());
    let watch = testkit::procs::Watch::start(move |c| c.contains(&needle));
    let out = env.dbrecover(&conf, &[], &[]).await;
    let servers: Vec<(String, String)> = watch
        .finish_procs()
        .into_iter()
        .map(|p| (p.exe.unwrap_or_default(), p.cmdline))
        .collect();
    out.assert_recovered();

    let basedir = env.run_dir(&to).join("basedir").join(top);
    let program = basedir.join("bin/mariadbd").display().to_string();
    assert!(
        out.stdout.contains(&format!(
            "temporary servers ran {}:{program}",
            sb.var("JOB_HOST")
        )),
        "{out}"
    );
    let mariadbd: Vec<_> = servers
        .iter()
        .filter(|(exe, _)| exe.ends_with("mariadbd"))
        .collect();
    assert_eq!(
        mariadbd.len(),
        wl.starts.len(),
        "one temporary server per datasource expected, saw {servers:?}"
    );
    let messages = format!("--lc-messages-dir={}/share", basedir.display());
    for (exe, cmdline) in mariadbd {
        assert_eq!(exe, &program, "{cmdline}");
        assert!(cmdline.contains(&messages), "{cmdline}");
    }
    let pings = std::fs::read_to_string(&calls).unwrap();
    let _ = std::fs::remove_file(&calls);
    assert!(
        pings.lines().any(|l| l.contains("ping")),
        "the base directory's mariadb-admin never pinged a temporary server: {pings:?}"
    );
    let gtids = gtids_at(&env, &wl, full).await;
    check_restored(&env, &wl, &to, &truth_at(&env, &wl, full), &gtids);
}

/// Removes the spiderbackup task rows of backup ids starting with its
/// prefix from every production master, whatever happened.
struct SpiderTasks {
    sb: Sandbox,
    prefix: String,
}

impl Drop for SpiderTasks {
    fn drop(&mut self) {
        let (sb, prefix) = (self.sb.clone(), self.prefix.clone());
        let _ = testkit::on_own_thread(move || async move {
            for m in common::workload::masters(&sb) {
                let mut c = common::workload::connect(&sb, &m).await;
                for t in ["global_backup", "global_backup_finish"] {
                    let _ = c
                        .execute(&format!(
                            "DELETE FROM infodba_schema.{t} WHERE BackupId LIKE '{prefix}-%'"
                        ))
                        .await;
                }
                let _ = c.close().await;
            }
        })
        .join();
    }
}

/// Issue 17: a full and an incremental backup taken by `dbbackup
/// spiderbackup` under writes (`schedule`, then `check --run` for each
/// chosen server's host) recover with exactly the rows committed up to the
/// incremental's consistence point, at its masters' GTID positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spiderbackup_chain_recovers_to_its_consistence_point() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "spider").await;
    let tasks = SpiderTasks {
        sb: sb.clone(),
        prefix: testkit::unique("recspider"),
    };
    let conf = env.backup_conf();
    let conf = conf.to_str().unwrap();
    let dbbackup = common::dbbackup_bin();
    let writer = wl.writer().await;
    let mut names = Vec::new();
    for kind in ["full", "inc"] {
        let id = format!("{}-{kind}", tasks.prefix);
        let before = writer.rows();
        let out = common::run(
            &dbbackup,
            &["spiderbackup", "-c", conf, "schedule", "--backup-id", &id],
        )
        .await;
        assert_eq!(out.code, Some(0), "{out}");
        let name = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("backup "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned();
        assert!(name.ends_with(&format!("-{kind}")), "{out}");
        // The plan's servers: `  <server> <host>:<port> <role> ...`.
        let hosts: BTreeSet<String> = out
            .stdout
            .split("backed up:\n")
            .nth(1)
            .unwrap()
            .lines()
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|a| a.split(':').next())
            .map(str::to_owned)
            .collect();
        assert_eq!(hosts.len(), 2, "{out}");
        for host in &hosts {
            let out = common::run(
                &dbbackup,
                &["spiderbackup", "-c", conf, "check", "--run", "--host", host],
            )
            .await;
            assert_eq!(out.code, Some(0), "check on {host}:\n{out}");
        }
        assert!(
            env.store.join(&name).join("ok").exists(),
            "{name} has no ok"
        );
        assert!(
            writer.rows() > before + 20,
            "the writer did not run during {name}"
        );
        names.push(name);
    }
    writer.stop().await;

    let inc = &names[1];
    let truth = truth_at(&env, &wl, inc);
    let gtids = gtids_at(&env, &wl, inc).await;
    let to = To::Dir(inc.clone());
    let out = recover(&env, "RECOVERY_SSH_CONF", &to, &[], &[]).await;
    assert!(
        out.stdout
            .contains(&format!("chain: {} -> {inc}", names[0])),
        "{out}"
    );
    check_restored(&env, &wl, &to, &truth, &gtids);
}

/// Issue 18: `dbrecover` killed at each phase (as it starts shipping, as it
/// starts checking the shipped files, as it starts restoring, and with a
/// temporary server up): nothing of the run is left running on the job
/// server (its remote commands end with the controller), and the next run
/// takes the dead run's work-dir lock over, saying so, and recovers exactly
/// the rows of an undisturbed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_killed_at_each_phase_leaves_nothing_running_and_the_next_completes() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "killed").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let truth = truth_at(&env, &wl, &b[0]);
    let gtids = gtids_at(&env, &wl, &b[0]).await;
    let to = To::Dir(b[0].clone());
    let conf = env.recovery_conf("RECOVERY_SSH_CONF", &to);
    let needle = env.job.display().to_string();
    for point in recovery::fault::POINTS {
        let out = env
            .dbrecover_with_env(&conf, &[], &[], &[("DBRECOVER_KILL_AT", point)])
            .await;
        assert_eq!(
            out.code, None,
            "{point}: the run was not killed there:\n{out}"
        );
        let left = testkit::procs::wait_none_naming(&needle, Duration::from_secs(30));
        assert!(
            left.is_empty(),
            "killed at {point:?}: still running 30 s later: {left:#?}"
        );
    }
    let out = env.dbrecover(&conf, &[], &[]).await;
    out.assert_recovered();
    assert!(
        out.stderr.contains("took over the work dir's lock"),
        "the dead run's lock was not said to be taken over:\n{out}"
    );
    check_restored(&env, &wl, &to, &truth, &gtids);
}

/// Issue 21 item 3: the chain ships on `socat-port2` as the seed does, a
/// taken port is bumped by 10 at most `socat-retry-count` times, and with
/// no retry left the recovery fails naming the port, before any restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_uses_socat_port2_and_bumps_a_taken_port_by_ten() {
    let Some(sb) = Sandbox::get() else { return };
    let (_serial, env, wl) = setup(&sb, "ports").await;
    let b = backups_under_writes(&env, &wl, 1, &[], Duration::from_millis(300)).await;
    let to = To::Dir(b[0].clone());
    // Ports of this test only, the first one taken on every address.
    let (port, port2) = (31_411_u16, 31_421_u16);
    let _taken = std::net::TcpListener::bind(("0.0.0.0", port2)).unwrap();
    let conf_with = |retries: &str| {
        let text = std::fs::read_to_string(env.recovery_conf("RECOVERY_SSH_CONF", &to)).unwrap();
        let text = common::set_key(&text, "misc", "socat-port", &port.to_string());
        let text = common::set_key(&text, "misc", "socat-port2", &port2.to_string());
        let text = common::set_key(&text, "misc", "socat-retry-count", retries);
        env.file(&format!("ports-{retries}.conf"), &text)
    };

    let out = env.dbrecover(&conf_with("0"), &[], &[]).await;
    assert_eq!(out.code, Some(1), "{out}");
    let error = out.error_line();
    assert!(
        error.contains("shipping") && error.contains(&port2.to_string()),
        "{out}"
    );
    assert!(
        !env.run_dir(&to).join("datadir").exists(),
        "restored after a failed shipping:\n{out}"
    );

    let out = env.dbrecover(&conf_with("2"), &[], &[]).await;
    out.assert_recovered();
    let logs: Vec<String> = walk_names(&env.job);
    assert!(
        logs.iter()
            .any(|n| n.starts_with(&format!("{}_", port2 + 10))),
        "no socat log of port {} (port2 + 10): {logs:?}",
        port2 + 10
    );
    assert!(
        !logs.iter().any(|n| n.starts_with(&format!("{port}_"))),
        "shipped on socat-port: {logs:?}"
    );

    // Issue 21 item 3: with using-scp each backup directory goes by
    // `scp -r` (seed 001's transfer_folder_in_conn): socat-port2 stays
    // taken, no retry is allowed, and the recovery completes all the same.
    std::fs::remove_dir_all(&env.job).unwrap();
    let keys = sb.login_user_key();
    let out = env
        .dbrecover(&with_scp(&env, &conf_with("0"), &keys), &[], &[])
        .await;
    out.assert_recovered();
    let logs = walk_names(&env.run_dir(&to).join("socat_log"));
    assert!(logs.is_empty(), "shipped by socat with using-scp: {logs:?}");
    let truth = truth_at(&env, &wl, &b[0]);
    check_restored(&env, &wl, &to, &truth, &gtids_at(&env, &wl, &b[0]).await);
}

/// `conf` with `using-scp` on, the store's login user logging in to the job
/// server with the key `keys` (its own known_hosts file).
fn with_scp(env: &Env, conf: &std::path::Path, keys: &testkit::LoginUserKey) -> std::path::PathBuf {
    let text = std::fs::read_to_string(conf).unwrap();
    let text = common::set_key(&text, "misc", "using-scp", "");
    let job = "recovery-job-server";
    let text = common::set_key(&text, job, "scp-identity", &keys.key.display().to_string());
    let known_hosts = keys.known_hosts.display().to_string();
    let text = common::set_key(&text, job, "scp-known-hosts", &known_hosts);
    let name = conf.file_name().unwrap().to_string_lossy();
    env.file(&format!("scp-{name}"), &text)
}

/// The names of the files under `dir`, recursively.
fn walk_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.extend(walk_names(&entry.path()));
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}
