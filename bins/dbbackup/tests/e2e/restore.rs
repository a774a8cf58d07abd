//! Issue 5, "done when" 2: a full backup restored by hand (until the
//! recovery engine exists) holds exactly the rows committed on each master
//! up to the consistence point. For every datasource: the backed-up
//! replica's stream is extracted and prepared, a private mariadbd started
//! on it, the master's copied binlog replayed from the replica's
//! `executed_gtids` to the position in `cluster_consistence_info`; rows
//! written after the run are absent.
//!
//! To make the replay do real work, one replica runs with `MASTER_DELAY`
//! while the rows are written (its backup lacks them; only the binlog
//! replay brings them back); the delay is lifted afterwards in any case.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use binlog::{BackupType, ConsistenceLine, MariadbGtidPos};
use common::layout::{Backup, check_backup, dir_name};
use common::workload::{Workload, execute, table_rows, value};
use common::{TestStore, serial};
use router::{Client, Endpoint};
use testkit::{Sandbox, Server};

/// A mariadbd on a restored datadir, killed (by pid) and removed on drop.
pub(crate) struct Restored {
    child: Child,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
}

impl Restored {
    /// Extracts and prepares `stream` into a fresh directory and starts a
    /// server on it (private port and socket).
    pub(crate) fn start(stream: &Path) -> Restored {
        let dir = tempfile::Builder::new()
            .prefix("dbbackup-e2e-restore")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let out = Command::new("mbstream")
            .arg("-x")
            .arg("-C")
            .arg(&data)
            .stdin(std::fs::File::open(stream).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "mbstream -x: {out:?}");
        let out = Command::new("mariabackup")
            .arg("--prepare")
            .arg(format!("--target-dir={}", data.display()))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && log.contains("completed OK!"),
            "mariabackup --prepare: {log}"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = |name: &str| dir.path().join(name).display().to_string();
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", p("mysqld.sock")))
            .arg(format!("--pid-file={}", p("mysqld.pid")))
            .arg(format!("--log-error={}", p("error.log")))
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args([
                "--user=root",
                "--skip-slave-start",
                "--skip-name-resolve",
                "--performance-schema=OFF",
                "--innodb-buffer-pool-size=32M",
                "--server-id=4242",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Restored { child, dir, port }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Connects (bounded wait for the server to come up).
    pub(crate) async fn connect(&mut self, sb: &Sandbox) -> Client {
        let ep = Endpoint::new(
            "127.0.0.1",
            self.port,
            sb.var("MYSQL_USER"),
            sb.var("MYSQL_PASSWORD"),
        );
        let child = &mut self.child;
        let connected = testkit::poll::Poll::within(Duration::from_secs(60))
            .until_async("the restored mariadbd answering", || {
                let exited = child.try_wait();
                let ep = &ep;
                async move {
                    // An exited server ends the wait at once.
                    match Client::connect(ep, Duration::from_secs(2)).await {
                        Ok(c) => Ok(Some(Ok(c))),
                        Err(e) => match exited {
                            Ok(Some(status)) => Ok(Some(Err(format!("{e}; it exited: {status}")))),
                            _ => Err(e.to_string()),
                        },
                    }
                }
            })
            .await;
        match connected {
            Ok(Ok(c)) => c,
            Ok(Err(e)) | Err(e) => panic!(
                "the restored mariadbd never answered ({e}):\n{}",
                self.error_log()
            ),
        }
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lifts `MASTER_DELAY` on a replica on drop, whatever happened.
struct Delayed {
    sb: Sandbox,
    replica: Server,
}

impl Delayed {
    async fn set(sb: &Sandbox, replica: &Server, seconds: u32) {
        for q in [
            "STOP SLAVE".to_owned(),
            format!("CHANGE MASTER TO MASTER_DELAY = {seconds}"),
            "START SLAVE".to_owned(),
        ] {
            execute(sb, replica, &q).await;
        }
    }
}

impl Drop for Delayed {
    fn drop(&mut self) {
        let (sb, replica) = (self.sb.clone(), self.replica.clone());
        let undone =
            common::on_own_thread(move || async move { Delayed::set(&sb, &replica, 0).await })
                .join();
        if undone.is_err() {
            eprintln!(
                "could not lift MASTER_DELAY on {}: fix it by hand",
                self.replica.name
            );
        }
    }
}

/// The GTIDs in `files` (one master's copied binlogs) up to byte `stop`
/// of the last, in order, from `mariadb-binlog`'s event headers.
fn gtids_up_to(files: &[PathBuf], stop: u64) -> Vec<String> {
    let out = Command::new("mariadb-binlog")
        .arg(format!("--stop-position={stop}"))
        .args(files)
        .output()
        .unwrap();
    assert!(out.status.success(), "mariadb-binlog: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("\tGTID ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Replays the master's copied binlogs of `line`'s datasource from the
/// replica's `executed_gtids` (exclusive) to the consistence point into
/// the restored server; returns how many transactions that applied.
pub(crate) fn replay(
    sb: &Sandbox,
    b: &Backup,
    line: &ConsistenceLine,
    master: &Server,
    port: u16,
) -> usize {
    let executed = std::fs::read_to_string(b.server_dir(&line.server).join("executed_gtids"))
        .unwrap()
        .trim()
        .to_owned();
    let master_dir = b.dir.join(dir_name(master));
    let files: Vec<PathBuf> = b
        .binlogs
        .files(&master.name)
        .unwrap()
        .iter()
        .take_while(|f| **f <= line.point.file)
        .map(|f| master_dir.join(f.to_string()))
        .collect();
    assert_eq!(
        files.last().unwrap().file_name().unwrap().to_string_lossy(),
        line.point.file.to_string()
    );
    let all = gtids_up_to(&files, line.point.pos);
    // What the replica's backup holds must be a transaction of the master's
    // binlog before the point (or nothing at all).
    let from = if executed.is_empty() {
        0
    } else {
        let pos: MariadbGtidPos = executed.parse().unwrap();
        let mine: Vec<String> = pos.iter().map(|g| g.to_string()).collect();
        all.iter()
            .rposition(|g| mine.contains(g))
            .map(|i| i + 1)
            .unwrap_or_else(|| {
                panic!(
                    "executed_gtids {executed} of {} is not in {}'s binlog up to the point ({all:?})",
                    line.server, master.name
                )
            })
    };
    let pending = all.len() - from;
    if pending == 0 {
        // mariadb-binlog refuses a GTID start with nothing after it.
        return 0;
    }
    let mut dump = Command::new("mariadb-binlog");
    if !executed.is_empty() {
        dump.arg(format!("--start-position={executed}"));
    }
    let mut dump = dump
        .arg(format!("--stop-position={}", line.point.pos))
        .args(&files)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let apply = Command::new("mariadb")
        .arg("--host=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--user={}", sb.var("MYSQL_USER")))
        // The password through the environment, never argv.
        .env("MYSQL_PWD", sb.var("MYSQL_PASSWORD"))
        .stdin(dump.stdout.take().unwrap())
        .output()
        .unwrap();
    let dumped = dump.wait().unwrap();
    assert!(dumped.success(), "mariadb-binlog exited {dumped}");
    assert!(
        apply.status.success(),
        "replaying into the restored server: {}",
        String::from_utf8_lossy(&apply.stderr)
    );
    pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backup_restores_to_the_consistence_point() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "restore", &[]);
    let mut w = Workload::new(&sb).await;
    w.insert(10, "synced").await;
    w.wait_replicas(&[]).await;

    // The replica the plan picks for the second datasource lags behind on
    // purpose; the first one is in sync.
    let plan = store.run(&sb, &["--dry-run"], &[]);
    assert_eq!(plan.code, Some(0), "{plan}");
    let lagging_ds = &w.masters[1].datasource;
    let lagging = sb
        .prod_servers()
        .into_iter()
        .find(|s| {
            &s.datasource == lagging_ds
                && s.initial_role == "replica"
                && plan.stdout.contains(&format!("{} replica backup", s.name))
        })
        .unwrap_or_else(|| panic!("no replica of {lagging_ds} planned:\n{plan}"));
    let delay = Delayed {
        sb: sb.clone(),
        replica: lagging.clone(),
    };
    Delayed::set(&sb, &lagging, 3600).await;
    w.insert(15, "lagged").await;
    w.wait_replicas(&[&lagging.name]).await;

    let mut expected = Vec::new();
    for m in &w.masters {
        expected.push(w.rows_on(m).await);
    }
    let from = chrono::Utc::now().naive_utc();
    let out = store.run(&sb, &[], &[]);
    let to = chrono::Utc::now().naive_utc();
    out.assert_succeeded();
    let b = check_backup(
        &sb,
        &store,
        &out.backup_name(),
        BackupType::Full,
        (from, to),
        false,
    );
    assert!(
        b.servers().contains(&lagging.name),
        "{} was not backed up",
        lagging.name
    );
    // Rows after the run must not come back.
    w.insert(5, "after").await;
    drop(delay);
    w.wait_replicas(&[]).await;

    for (m, want) in w.masters.iter().zip(&expected) {
        let lines = b.consistence.of_datasource(&m.datasource);
        let line = lines.first().unwrap();
        let mut restored = Restored::start(&b.server_dir(&line.server).join("backup.xbsteam"));
        let mut c = restored.connect(&sb).await;
        let applied = replay(&sb, &b, line, m, restored.port);
        if line.server == lagging.name {
            // Our 15 lagged rows at least (others may write there too).
            assert!(
                applied >= 15,
                "{}: the lagging replica's backup needed only {applied} transactions from the binlog",
                line.server
            );
        }
        let got = table_rows(&mut c, &w.db).await;
        let _ = c.close().await;
        assert_eq!(
            &got, want,
            "{}: restored rows differ from {} at the consistence point",
            line.server, m.name
        );
        assert!(got.iter().all(|(_, v)| !v.starts_with("after-")));
        assert_eq!(
            got.iter().filter(|(_, v)| v.starts_with("lagged-")).count(),
            15
        );
    }
    // The live masters did move on.
    let now = value(
        &sb,
        &w.masters[0],
        &format!("SELECT COUNT(*) FROM {}.t", w.db),
    )
    .await;
    assert_eq!(now, (expected[0].len() + 5).to_string());
}
