//! Issue 5, "done when" 3: a backup killed mid-way (SIGKILL, no chance to
//! clean up) leaves no `ok`, its remote commands die with it, and the next
//! run moves it to `trash/` and succeeds; a stopped replica is not backed
//! up: the run takes another replica of its datasource, as a full backup
//! since the last backup's servers no longer cover that datasource.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use binlog::BackupType;
use common::layout::check_backup;
use common::procs::{self, Proc};
use common::workload::{Workload, execute};
use common::{TestStore, dbbackup_command, poll, serial};
use testkit::{Sandbox, Server};

/// What a SIGKILLed dbbackup may not leave running: its ssh control
/// masters and mux clients (its children when it was killed), and every
/// process naming one of `needles` (its backup's name, its store
/// directory): mariabackup, the socat listeners and senders, the remote
/// scripts around them. On drop (an assertion failed) survivors are ended
/// by pid, so they do not pile up on the shared sandbox.
pub(crate) struct KilledRun {
    pub(crate) children: Vec<Proc>,
    pub(crate) needles: Vec<String>,
}

impl KilledRun {
    fn survivors(&self) -> Vec<(u32, String)> {
        let named: Vec<Proc> = self.needles.iter().flat_map(|n| procs::naming(n)).collect();
        let mut left: Vec<(u32, String)> = self
            .children
            .iter()
            .filter(|p| p.alive())
            .chain(&named)
            .map(|p| (p.pid, p.cmdline.clone()))
            .collect();
        left.sort();
        left.dedup();
        left
    }

    /// Polls (bounded) until nothing of the killed run is left: the ssh
    /// lifelines end its remote commands (SIGTERM, SIGKILL after 2 s) and
    /// its masters get SIGTERM with it.
    pub(crate) fn assert_all_ended(&self) {
        let ended = testkit::poll::Poll::within(Duration::from_secs(15))
            .every(Duration::from_millis(100))
            .until("the killed dbbackup's processes ending", || {
                let left = self.survivors();
                if left.is_empty() {
                    Ok(Some(()))
                } else {
                    Err(format!("still running: {left:#?}"))
                }
            });
        if let Err(e) = ended {
            panic!("{e}");
        }
    }
}

impl Drop for KilledRun {
    fn drop(&mut self) {
        for (pid, _) in self.survivors() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Files in the production servers' tmpdirs whose names contain `needle`.
pub(crate) fn tmpdir_files_naming(sb: &Sandbox, needle: &str) -> Vec<String> {
    sb.prod_servers()
        .iter()
        .flat_map(|s| {
            common::names_in(&s.dir.join("tmp"))
                .into_iter()
                .filter(|n| n.contains(needle))
                .map(|n| format!("{}/tmp/{n}", s.dir.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backup_leaves_no_ok_and_the_next_run_trashes_it() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "killed", &[]);
    let mut w = Workload::new(&sb).await;
    w.insert(10, "before").await;
    w.wait_replicas(&[]).await;

    let mut child = dbbackup_command(&["--config-file", store.conf.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a server's stream has started to arrive.
    let killed = poll(Duration::from_secs(60), "a stream arriving", || {
        assert!(child.try_wait().unwrap().is_none(), "dbbackup ended early");
        store.backups().into_iter().find(|b| {
            common::names_in(&store.dir.join(b)).iter().any(|d| {
                std::fs::metadata(store.dir.join(b).join(d).join("backup.xbsteam"))
                    .is_ok_and(|m| m.len() > 0)
            })
        })
    });
    let run = KilledRun {
        children: procs::children_of(child.id()),
        needles: vec![killed.clone(), store.dir.display().to_string()],
    };
    let killed_pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!store.dir.join(&killed).join("ok").exists());
    // Its remote commands (mariabackups mid-stream, socat listeners whose
    // sender never started) and its ssh masters die with it.
    run.assert_all_ended();

    // A dry run says what it would clean, and leaves it.
    let before = store.snapshot();
    let dry = store.run(&sb, &["--dry-run"], &[]);
    assert_eq!(dry.code, Some(0), "{dry}");
    assert!(
        dry.stdout.contains(&format!(
            "bad backups would be moved away (dry run): {killed}"
        )),
        "{dry}"
    );
    assert_eq!(store.snapshot(), before, "--dry-run changed the store");

    let from = chrono::Utc::now().naive_utc();
    let out = store.run(&sb, &[], &[]);
    let to = chrono::Utc::now().naive_utc();
    out.assert_succeeded();
    assert!(
        out.stdout
            .contains(&format!("bad backups moved away: {killed}")),
        "{out}"
    );
    // The killed run still held the store's lock: taken over, and said.
    assert!(
        out.stderr.contains(
            "took over the store's lock from a run that did not end cleanly: dbbackup on "
        ) && out.stderr.contains(&format!("(pid {killed_pid})")),
        "{out}"
    );
    let name = out.backup_name();
    assert_eq!(store.backups(), vec![name.clone()]);
    assert_eq!(store.trash(), vec![killed.clone()]);
    assert!(!store.dir.join("trash").join(&killed).join("ok").exists());
    check_backup(&sb, &store, &name, BackupType::Full, (from, to), false);
    // The killed run's option files (they hold the backup login's
    // password) do not stay behind on the servers.
    let left = tmpdir_files_naming(&sb, &killed);
    assert!(left.is_empty(), "left behind by the killed run: {left:?}");
}

/// Restarts a stopped replica on drop, whatever happened.
struct Stopped {
    sb: Sandbox,
    replica: Server,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let (sb, replica) = (self.sb.clone(), self.replica.clone());
        let started =
            common::on_own_thread(
                move || async move { execute(&sb, &replica, "START SLAVE").await },
            )
            .join();
        if started.is_err() {
            eprintln!(
                "could not restart {}: START SLAVE by hand",
                self.replica.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_replica_is_replaced_by_another_in_a_full_backup() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "stopped", &[]);
    let mut w = Workload::new(&sb).await;
    w.insert(5, "before").await;
    w.wait_replicas(&[]).await;
    let out = store.run(&sb, &[], &[]);
    out.assert_succeeded();
    let first = out.backup_name();
    let ds = w.masters[0].datasource.clone();
    let first_backup =
        std::fs::read_to_string(store.dir.join(&first).join("cluster_consistence_info"))
            .unwrap()
            .parse::<binlog::ConsistenceInfo>()
            .unwrap();
    let chosen = first_backup.of_datasource(&ds)[0].server.clone();
    let replica = sb.server(&chosen);

    execute(&sb, &replica, "STOP SLAVE").await;
    let _restart = Stopped {
        sb: sb.clone(),
        replica: replica.clone(),
    };
    w.insert(5, "while-stopped").await;
    w.wait_replicas(&[&replica.name]).await;
    let from = chrono::Utc::now().naive_utc();
    let out = store.run(&sb, &[], &[]);
    let to = chrono::Utc::now().naive_utc();
    out.assert_succeeded();
    assert!(
        out.stdout.contains(&format!(
            "full backup: not every datasource is covered by servers of the last backup ({ds})"
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "{} replica skip: status is \"Slave error\"",
            replica.name
        )),
        "{out}"
    );
    let b = check_backup(
        &sb,
        &store,
        &out.backup_name(),
        BackupType::Full,
        (from, to),
        false,
    );
    let now = b.consistence.of_datasource(&ds);
    assert_eq!(now.len(), 1, "{:?}", b.servers());
    assert_ne!(
        now[0].server, replica.name,
        "the stopped replica was backed up"
    );
    assert_eq!(sb.server(&now[0].server).initial_role, "replica");
}

/// The remote commands of a SIGKILLed dbbackup die with it. Here the
/// replica's mariabackup is held at its BACKUP STAGE by a session holding
/// `LOCK TABLES <test table> WRITE` there (no write: no GTID) while
/// dbbackup is killed: it must be gone (with every other command and ssh
/// master of the run) before the lock is released, else it would go on
/// streaming into the killed run's directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backup_ends_its_remote_commands() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "orphans", &[]);
    let plan = store.run(&sb, &["--dry-run"], &[]);
    assert_eq!(plan.code, Some(0), "{plan}");
    let replica = sb
        .prod_servers()
        .into_iter()
        .find(|s| plan.stdout.contains(&format!("{} replica backup", s.name)))
        .unwrap();
    let w = Workload::new(&sb).await;
    w.wait_replicas(&[]).await;
    let mut lock = common::workload::connect(&sb, &replica).await;
    lock.execute(&format!("LOCK TABLES {}.t WRITE", w.db))
        .await
        .unwrap();

    let mut child = dbbackup_command(&["--config-file", store.conf.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!("-{}.cnf", replica.name);
    poll(Duration::from_secs(60), "mariabackup starting", || {
        assert!(child.try_wait().unwrap().is_none(), "dbbackup ended early");
        procs::naming(&needle)
            .into_iter()
            .find(|p| procs::runs_mariabackup(&p.cmdline))
    });
    let killed = store.backups().pop().unwrap();
    let run = KilledRun {
        children: procs::children_of(child.id()),
        needles: vec![killed.clone(), needle, store.dir.display().to_string()],
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // No next run removes the killed run's option files here: do it.
    for f in tmpdir_files_naming(&sb, &killed) {
        let _ = std::fs::remove_file(f);
    }
    run.assert_all_ended();
    lock.execute("UNLOCK TABLES").await.unwrap();
    let _ = lock.close().await;
    assert!(!store.dir.join(&killed).join("ok").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_time_sec_lowered_mid_run_stops_it_and_its_remote_commands() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "maxtime", &[]);
    let w = Workload::new(&sb).await;
    w.wait_replicas(&[]).await;
    let plan = store.run(&sb, &["--dry-run"], &[]);
    assert_eq!(plan.code, Some(0), "{plan}");
    let replica = sb
        .prod_servers()
        .into_iter()
        .find(|s| plan.stdout.contains(&format!("{} replica backup", s.name)))
        .unwrap();
    // Hold the replica's mariabackup at its BACKUP STAGE (a table lock on
    // our own table there: no write, no GTID) so the run is mid-stream.
    let mut lock = common::workload::connect(&sb, &replica).await;
    lock.execute(&format!("LOCK TABLES {}.t WRITE", w.db))
        .await
        .unwrap();

    let child = dbbackup_command(&["--config-file", store.conf.to_str().unwrap()])
        .spawn()
        .unwrap();
    let needle = format!("-{}.cnf", replica.name);
    poll(Duration::from_secs(60), "mariabackup starting", || {
        (!procs::naming(&needle).is_empty()).then_some(())
    });
    let name = store.backups().pop().unwrap();
    // The watchdog re-reads the config while the run goes on.
    store.set("max-time-sec", "1");
    let (code, stdout, stderr) = common::wait_limited(child, common::RUN_LIMIT);
    lock.execute("UNLOCK TABLES").await.unwrap();
    let _ = lock.close().await;
    let out = common::RunOutput {
        code,
        stdout,
        stderr,
        store_cmdlines: 0,
    };
    out.assert_failed_with("reach max-time-sec");
    assert!(
        out.stdout
            .contains("cluster backup failed because reach max-time-sec or get exception."),
        "{out}"
    );
    assert!(!store.dir.join(&name).join("ok").exists());
    // The run stopped its remote commands itself (the lock is gone now, a
    // surviving mariabackup would run on).
    poll(
        Duration::from_secs(10),
        "the stopped run's commands ending",
        || procs::naming(&name).is_empty().then_some(()),
    );
    // Its option files (the backup login's password) are gone; its logs
    // stay for the operator (the error names them), tidied here.
    let left = tmpdir_files_naming(&sb, &name);
    for f in &left {
        let _ = std::fs::remove_file(f);
    }
    let secrets: Vec<&String> = left.iter().filter(|f| f.ends_with(".cnf")).collect();
    assert!(
        secrets.is_empty(),
        "left behind by the stopped run: {secrets:?}"
    );
}

/// Issue 18: two runs against one store at once (a cron run overlapping a
/// manual one). Whichever takes the store's lock first backs up; the other
/// is refused at once, naming it, and touches nothing: the store ends with
/// one complete backup per round, checked file by file, and no trash.
/// Started together or up to a second apart, `OVERLAP_ROUNDS` times
/// (default 10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_one_is_refused_and_one_backup_is_complete() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "overlap", &[]);
    let mut w = Workload::new(&sb).await;
    w.insert(10, "before").await;
    w.wait_replicas(&[]).await;
    let rounds: usize = std::env::var("OVERLAP_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let conf = store.conf.to_str().unwrap().to_owned();
    let mut names = Vec::new();
    for round in 0..rounds {
        let from = chrono::Utc::now().naive_utc();
        let first = dbbackup_command(&["--config-file", &conf]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(250 * (round as u64 % 5)));
        let second = dbbackup_command(&["--config-file", &conf]).spawn().unwrap();
        let pids = [first.id(), second.id()];
        let waits = [first, second]
            .map(|c| std::thread::spawn(move || common::wait_limited(c, common::RUN_LIMIT)));
        let outs: Vec<common::RunOutput> = waits
            .into_iter()
            .map(|h| {
                let (code, stdout, stderr) = h.join().unwrap();
                common::RunOutput {
                    code,
                    stdout,
                    stderr,
                    store_cmdlines: 0,
                }
            })
            .collect();
        let to = chrono::Utc::now().naive_utc();
        let ok: Vec<usize> = (0..2).filter(|i| outs[*i].code == Some(0)).collect();
        assert_eq!(
            ok.len(),
            1,
            "round {round}: not exactly one run succeeded:\n{}\n{}",
            outs[0],
            outs[1]
        );
        let (winner, loser) = (ok[0], 1 - ok[0]);
        outs[winner].assert_succeeded();
        outs[loser].assert_failed_with("is locked by a run in progress: dbbackup on ");
        outs[loser].assert_failed_with(&format!("(pid {})", pids[winner]));
        assert!(
            !outs[loser].stdout.contains("backup UTC"),
            "round {round}: the refused run made a plan:\n{}",
            outs[loser]
        );
        let name = outs[winner].backup_name();
        let kind = if round == 0 {
            BackupType::Full
        } else {
            BackupType::Incremental
        };
        check_backup(&sb, &store, &name, kind, (from, to), false);
        names.push(name);
        assert_eq!(store.backups(), names, "round {round}");
        assert!(
            store.trash().is_empty(),
            "round {round}: {:?}",
            store.trash()
        );
    }
}

/// Issue 21: `max-time-sec` covers planning too. A router that accepts
/// connections and never answers (a listener of this test's) hangs the
/// plan; the watchdog stops the run at the limit, saying it was planning,
/// and the store's lock is released cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_time_sec_stops_a_run_hung_while_planning() {
    let Some(sb) = Sandbox::get() else { return };
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "planhang", &[("max-time-sec", "2")]);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let text = common::set_key(&store.conf_text(), "cluster", "ip", "127.0.0.1");
    std::fs::write(
        &store.conf,
        common::set_key(&text, "cluster", "port", &port),
    )
    .unwrap();
    // Accepts, and holds every connection without a word.
    let held = std::thread::spawn(move || {
        silent
            .incoming()
            .take(8)
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let out = store.run(&sb, &[], &[]);
    out.assert_failed_with("reach max-time-sec (2 s");
    out.assert_failed_with("while planning");
    assert!(store.backups().is_empty(), "{:?}", store.backups());
    let lock = store.dir.join(".dbscale-backup.lock");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "the lock still names the stopped run"
    );
    drop(held);
}
