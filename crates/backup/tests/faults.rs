//! Issue 18: faults in the middle of a backup, made at a chosen step
//! through the engine's step observer, so they never race the stream: the
//! store's filesystem filling up, and a master switchover.
#![allow(clippy::unwrap_used)]

mod common;

use common::Store;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::tmpfs::{Filler, Owner, Tmpfs};

/// Masters are backed up too: seed 000's switchover rule (a master not in
/// the last backup makes the next one full) is about them.
const MASTERS_TOO: [(&str, &str); 1] = [("backup-master", "1")];

/// Runs `action` when the run reaches `step` (the observer is called on the
/// engine's task: `block_in_place` lets a blocking action run there).
struct AtStep<F> {
    step: &'static str,
    action: F,
}

impl<F: Fn() + Send + Sync> backup::StepObserver for AtStep<F> {
    fn starting(&self, _backup: binlog::BackupName, step: &str) {
        if step == self.step {
            tokio::task::block_in_place(|| (self.action)());
        }
    }
}

/// Prepares and executes one backup with `observer`; the backup's name and
/// the run's result (the error's text on failure).
async fn run_with(
    cfg: conf::BackupConfig,
    observer: Arc<dyn backup::StepObserver>,
) -> (String, Result<backup::Outcome, String>) {
    let options = backup::Options {
        observer: Some(observer),
        ..backup::Options::default()
    };
    let prepared = backup::prepare(cfg, options).await.unwrap();
    let name = prepared.plan().name.to_string();
    (
        name,
        backup::execute(prepared).await.map_err(|e| e.to_string()),
    )
}

/// The store's filesystem fills up at the start of each step that writes
/// to it (for the servers' step, while their streams are written): the run fails with one error naming the store's host, its
/// directory and the cause, writes no `ok`, leaves nothing running, and
/// the next run (with room again) moves each partial backup to trash and
/// takes a complete one.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_filling_up_at_each_step_fails_the_run_and_leaves_no_ok() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "diskfull");
    // Dropped before the store: unmounted, then the directory removed.
    let Some(tmpfs) = Tmpfs::mount(
        &store.dir,
        "1g",
        Owner::Like(Path::new(sb.var("STORE_DIR"))),
    ) else {
        return;
    };
    let tmpfs = Arc::new(tmpfs);
    let host = sb.var("STORE_HOST").to_owned();
    let mut failed = Vec::new();
    // The streams get 1 MiB of room (the servers' small files fit, their
    // streams do not); every later step none.
    for (step, room) in [
        ("servers", 1 << 20),
        ("consistence point", 0),
        ("binlogs, base directories and config", 0),
        ("manifest", 0),
    ] {
        let filler: Arc<Mutex<Option<Filler>>> = Arc::default();
        let observer = Arc::new(AtStep {
            step,
            action: {
                let (tmpfs, filler) = (tmpfs.clone(), filler.clone());
                move || *filler.lock().unwrap() = Some(tmpfs.fill_leaving(room))
            },
        });
        let (name, result) = run_with(store.conf(&[]), observer).await;
        let error = match result {
            Ok(done) => panic!(
                "{step}: the backup succeeded on a full store:\n{}",
                done.plan
            ),
            Err(e) => e,
        };
        assert!(
            filler.lock().unwrap().is_some(),
            "{step}: the step was never reached: {error}"
        );
        eprintln!("{step}: {error}");
        assert!(
            error.contains("No space left on device"),
            "{step}: the cause is not named: {error}"
        );
        assert!(
            error.contains(&host),
            "{step}: the store's host is not named: {error}"
        );
        assert!(
            error.contains(&store.dir.display().to_string()),
            "{step}: the store's directory is not named: {error}"
        );
        assert!(
            !store.dir.join(&name).join("ok").exists(),
            "{step}: `ok` written on a failed backup"
        );
        // The run's remote commands and listeners all name the store dir.
        let needle = store.dir.display().to_string();
        let left = testkit::procs::wait_none_naming(&needle, Duration::from_secs(30));
        assert!(left.is_empty(), "{step}: still running: {left:#?}");
        drop(filler.lock().unwrap().take());
        failed.push(name);
    }

    let next = common::take(store.conf(&[])).await;
    let name = next.plan.name.to_string();
    assert!(store.dir.join(&name).join("ok").exists());
    for bad in &failed {
        assert!(
            store.dir.join("trash").join(bad).is_dir(),
            "the partial backup {bad} was not moved to trash"
        );
    }
}

/// A master switchover while the servers stream (started as the streams
/// start, finished before the consistence point is asked for): the run
/// fails naming the datasource and both masters, writes no `ok`, and the
/// next backup is full because its master was not backed up last time
/// (seed 000's switchover rule).
#[tokio::test(flavor = "multi_thread")]
async fn a_switchover_while_the_servers_stream_fails_the_run_and_the_next_is_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "switch-mid");
    let first = common::take(store.conf(&MASTERS_TOO)).await;
    let new = replica_not_in(&sb, &first.plan, "normal_0");

    let switching: Arc<Mutex<Option<std::thread::JoinHandle<testkit::Switched>>>> = Arc::default();
    let switched: Arc<Mutex<Option<testkit::Switched>>> = Arc::default();
    struct Observer {
        sb: testkit::Sandbox,
        new: String,
        switching: Arc<Mutex<Option<std::thread::JoinHandle<testkit::Switched>>>>,
        switched: Arc<Mutex<Option<testkit::Switched>>>,
    }
    impl backup::StepObserver for Observer {
        fn starting(&self, _backup: binlog::BackupName, step: &str) {
            match step {
                "servers" => {
                    let (sb, new) = (self.sb.clone(), self.new.clone());
                    *self.switching.lock().unwrap() = Some(std::thread::spawn(move || {
                        testkit::switchover(&sb, "normal_0", &new).unwrap()
                    }));
                }
                "consistence point" => {
                    let handle = self.switching.lock().unwrap().take().unwrap();
                    let done = tokio::task::block_in_place(|| handle.join().unwrap());
                    *self.switched.lock().unwrap() = Some(done);
                }
                _ => {}
            }
        }
    }
    let observer = Arc::new(Observer {
        sb: sb.clone(),
        new: new.clone(),
        switching: switching.clone(),
        switched: switched.clone(),
    });
    let (name, result) = run_with(store.conf(&MASTERS_TOO), observer).await;
    let guard = switched.lock().unwrap().take();
    let guard = guard.expect("the switchover did not happen during the run");
    let error = result.expect_err("a backup across a switchover succeeded");
    let old = guard.original().to_owned();
    assert!(
        error.contains("normal_0") && error.contains(&old) && error.contains(&new),
        "the error does not name the datasource and both masters: {error}"
    );
    assert!(!store.dir.join(&name).join("ok").exists());

    let next = common::take(store.conf(&MASTERS_TOO)).await;
    assert!(!next.plan.is_incremental(), "{}", next.plan);
    assert!(
        next.plan.to_string().contains(&format!(
            "a master-slave switchover occurred: master {new} was not backed up last time"
        )),
        "{}",
        next.plan
    );
    assert!(store.dir.join("trash").join(&name).is_dir());
    guard.back().unwrap();
}

/// A switchover after the consistence point was taken (while the binlogs
/// are copied): the backup is complete and consistent as of that point,
/// from the old master's binlogs, and the next backup is full.
#[tokio::test(flavor = "multi_thread")]
async fn a_switchover_after_the_consistence_point_leaves_a_good_backup_and_the_next_is_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "switch-late");
    let first = common::take(store.conf(&MASTERS_TOO)).await;
    let new = replica_not_in(&sb, &first.plan, "normal_0");
    let switched: Arc<Mutex<Option<testkit::Switched>>> = Arc::default();
    let observer = Arc::new(AtStep {
        step: "binlogs, base directories and config",
        action: {
            let (sb, new, switched) = (sb.clone(), new.clone(), switched.clone());
            move || {
                *switched.lock().unwrap() =
                    Some(testkit::switchover(&sb, "normal_0", &new).unwrap())
            }
        },
    });
    let (name, result) = run_with(store.conf(&MASTERS_TOO), observer).await;
    let guard = switched.lock().unwrap().take().unwrap();
    let done = result.unwrap_or_else(|e| panic!("the backup failed: {e}"));
    assert!(store.dir.join(&name).join("ok").exists());
    // Every file is what its manifest says, read back on the store host.
    let named = backup::Which::Named(done.plan.name);
    let verified = backup::verify(&store.conf(&[]), &named, None)
        .await
        .unwrap();
    assert!(verified.len() == 1 && verified[0].is_good(), "{verified:?}");
    assert!(
        done.plan
            .servers
            .iter()
            .any(|p| p.server.as_str() == guard.original()),
        "the old master was not backed up:\n{}",
        done.plan
    );
    drop(done);

    let next = common::take(store.conf(&MASTERS_TOO)).await;
    assert!(!next.plan.is_incremental(), "{}", next.plan);
    guard.back().unwrap();
}

/// A production replica of `ds` that `plan` did not back up (a switchover
/// to one it took keeps the chain incremental, as in the seed).
fn replica_not_in(sb: &testkit::Sandbox, plan: &backup::BackupPlan, ds: &str) -> String {
    sb.prod_servers()
        .into_iter()
        .find(|s| {
            s.datasource == ds
                && s.initial_role == "replica"
                && !plan.servers.iter().any(|p| p.server.as_str() == s.name)
        })
        .unwrap_or_else(|| panic!("every replica of {ds} was backed up:\n{plan}"))
        .name
}

/// A master that hangs (its mariadbd stopped with SIGSTOP) after the
/// consistence point, while its binlogs are to be copied: the run fails
/// within the connect timeout naming the master and the step, writes no
/// `ok`, leaves nothing running, and once the master answers again the
/// next run trashes the partial backup and completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_hung_while_its_binlogs_are_copied_fails_the_run_naming_it() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "hung-master");
    let master = sb
        .prod_servers()
        .into_iter()
        .find(|s| s.datasource == "normal_0" && s.initial_role == "master")
        .unwrap();
    let pid: u32 = std::fs::read_to_string(master.dir.join("mysqld.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let frozen: Arc<Mutex<Option<testkit::procs::Frozen>>> = Arc::default();
    let observer = Arc::new(AtStep {
        step: "binlogs, base directories and config",
        action: {
            let frozen = frozen.clone();
            move || *frozen.lock().unwrap() = Some(testkit::procs::Frozen::stop(pid))
        },
    });
    let (name, result) = run_with(store.conf(&[]), observer).await;
    drop(frozen.lock().unwrap().take());
    let error = result.expect_err("the backup succeeded with a hung master");
    eprintln!("{error}");
    let address = format!("{}:{}", master.host, master.port);
    assert!(
        error.contains(&address) && error.contains(&format!("connecting to {} (", master.name)),
        "the hung master and the step are not named: {error}"
    );
    assert!(
        !error.contains("router"),
        "a data server called a router: {error}"
    );
    assert!(!store.dir.join(&name).join("ok").exists());
    let needle = store.dir.display().to_string();
    let left = testkit::procs::wait_none_naming(&needle, Duration::from_secs(30));
    assert!(left.is_empty(), "still running: {left:#?}");

    let next = common::take(store.conf(&[])).await;
    assert!(
        store
            .dir
            .join(next.plan.name.to_string())
            .join("ok")
            .exists()
    );
    assert!(store.dir.join("trash").join(&name).is_dir());
}
