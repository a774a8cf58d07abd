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
        assert_failed_cleanly(&store, &name, step);
        drop(filler.lock().unwrap().take());
        failed.push(name);
    }

    next_completes_and_trashes(&store, &failed, "after a full store").await;
}

/// A failed run (`what`) wrote no `ok` on its backup `name` and left
/// nothing running: the run's remote commands and listeners all name the
/// store's directory.
fn assert_failed_cleanly(store: &Store, name: &str, what: &str) {
    assert!(
        !store.dir.join(name).join("ok").exists(),
        "{what}: `ok` written on a failed backup"
    );
    let needle = store.dir.display().to_string();
    let left = testkit::procs::wait_none_naming(&needle, Duration::from_secs(30));
    assert!(left.is_empty(), "{what}: still running: {left:#?}");
}

/// The next run completes, and has moved each of the `failed` backups
/// (partial, without `ok`) to trash.
async fn next_completes_and_trashes(store: &Store, failed: &[String], what: &str) {
    let next = common::take(store.conf(&[])).await;
    let name = next.plan.name.to_string();
    assert!(
        store.dir.join(&name).join("ok").exists(),
        "{what}: no ok on {name}"
    );
    for bad in failed {
        assert!(
            store.dir.join("trash").join(bad).is_dir(),
            "{what}: the partial backup {bad} was not moved to trash"
        );
    }
}

/// A master switchover after the plan was made, as the servers' streams
/// start (done before they start: a switchover racing the old master's
/// own mariabackup can deadlock in the server itself, its `SET GLOBAL
/// gtid_slave_pos` waiting for the backup lock while mariabackup's `SHOW
/// VARIABLES` waits for it): the run backs up the planned servers, the
/// consistence point finds another master, and the run fails naming the
/// datasource and both masters, writes no `ok`, and the next backup is
/// full because its master was not backed up last time (seed 000's
/// switchover rule).
#[tokio::test(flavor = "multi_thread")]
async fn a_switchover_as_the_servers_stream_fails_the_run_and_the_next_is_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "switch-mid");
    let first = common::take(store.conf(&MASTERS_TOO)).await;
    let new = replica_not_in(&sb, &first.plan, "normal_0");

    let switched: Arc<Mutex<Option<testkit::Switched>>> = Arc::default();
    let observer = Arc::new(AtStep {
        step: "servers",
        action: {
            let (sb, new, switched) = (sb.clone(), new.clone(), switched.clone());
            move || {
                *switched.lock().unwrap() =
                    Some(testkit::switchover(&sb, "normal_0", &new).unwrap())
            }
        },
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
    assert_failed_cleanly(&store, &name, "hung master");
    next_completes_and_trashes(&store, &[name], "after a hung master").await;
}

/// A master down (its mariadbd SIGKILLed, as a crash would) at the start
/// of each step that needs it: while the replicas stream, at the
/// consistence point, and when its binlogs are to be copied. Each run
/// fails naming the master, its address and the step, writes no `ok` and
/// leaves nothing running; once the master is back the next run trashes
/// every partial backup and completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_down_at_each_step_fails_the_run_naming_it_and_the_next_completes() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let store = Store::new(&sb, "master-down");
    let master = sb
        .prod_servers()
        .into_iter()
        .find(|s| s.datasource == "normal_0" && s.initial_role == "master")
        .unwrap();
    let address = format!("{}:{}", master.host, master.port);
    let mut failed = Vec::new();
    for step in [
        "servers",
        "consistence point",
        "binlogs, base directories and config",
    ] {
        let down: Arc<Mutex<Option<testkit::down::Down>>> = Arc::default();
        let observer = Arc::new(AtStep {
            step,
            action: {
                let (sb, master, down) = (sb.clone(), master.clone(), down.clone());
                move || *down.lock().unwrap() = Some(testkit::down::Down::kill(&sb, &master))
            },
        });
        let (name, result) = run_with(store.conf(&[]), observer).await;
        let down = down.lock().unwrap().take();
        assert!(down.is_some(), "the run never reached {step:?}: {result:?}");
        let error = match result {
            Ok(done) => panic!(
                "the backup succeeded with {} down from {step:?}:\n{}",
                master.name, done.plan
            ),
            Err(e) => e,
        };
        eprintln!("{step}: {error}");
        assert!(
            error.contains(&address) && error.contains(&master.name),
            "the master down from {step:?} is not named with its address: {error}"
        );
        assert_failed_cleanly(&store, &name, step);
        down.unwrap().restart().unwrap();
        failed.push(name);
    }
    next_completes_and_trashes(&store, &failed, "after a master down").await;
}

/// When a transport fault is made: while the servers' streams are held
/// mid-way (each chosen replica's mariabackup waiting at `BACKUP STAGE`
/// behind a test's table lock, both ends of its stream up), or at the
/// start of a later step that runs commands on the store's host.
#[derive(Debug, Clone, Copy)]
enum When {
    MidStream,
    AtStart(&'static str),
}

const STORE_FAULTS: [When; 3] = [
    When::MidStream,
    When::AtStart("binlogs, base directories and config"),
    When::AtStart("manifest"),
];

/// Holds every production replica at `BACKUP STAGE` with a lock on a table
/// of its own (created on the masters, no write after), until dropped.
struct Gate {
    sb: testkit::Sandbox,
    db: String,
    locks: Vec<testkit::table_lock::TableLock>,
}

impl Gate {
    fn close(sb: &testkit::Sandbox) -> Gate {
        let db = testkit::unique("fault_gate");
        let servers = sb.prod_servers();
        for master in servers.iter().filter(|s| s.initial_role == "master") {
            sb.root_sql(
                master,
                &format!("CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY);"),
            )
            .unwrap();
        }
        let replicas: Vec<&testkit::Server> = servers
            .iter()
            .filter(|s| s.initial_role == "replica")
            .collect();
        let mut locks = Vec::new();
        for replica in replicas {
            let query = format!(
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '{db}'"
            );
            testkit::poll::until(
                &format!("{db}.t on {}", replica.name),
                Duration::from_secs(60),
                || {
                    let rows = sb.root_sql(replica, &query)?;
                    Ok(
                        (rows.first().and_then(|r| r.get("n")).map(String::as_str) == Some("1"))
                            .then_some(()),
                    )
                },
            )
            .unwrap();
            locks.push(testkit::table_lock::TableLock::hold(
                replica,
                &format!("{db}.t"),
            ));
        }
        Gate {
            sb: sb.clone(),
            db,
            locks,
        }
    }

    /// Whether some replica's mariabackup waits at the gate.
    fn reached(&self) -> bool {
        self.sb
            .prod_servers()
            .iter()
            .filter(|s| s.initial_role == "replica")
            .any(|s| testkit::table_lock::backup_stage_waits(&self.sb, s))
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.locks.clear();
        for master in self
            .sb
            .prod_servers()
            .iter()
            .filter(|s| s.initial_role == "master")
        {
            if let Err(e) = self
                .sb
                .root_sql(master, &format!("DROP DATABASE IF EXISTS {}", self.db))
            {
                eprintln!("could not drop {}: {e}", self.db);
            }
        }
    }
}

/// Runs `action` in a thread once a stream waits at `gate`, then opens it.
struct AtGate<F> {
    gate: Arc<Mutex<Option<Gate>>>,
    action: F,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl<F: Fn() + Clone + Send + Sync + 'static> backup::StepObserver for AtGate<F> {
    fn starting(&self, _backup: binlog::BackupName, step: &str) {
        if step != "servers" {
            return;
        }
        let (gate, action) = (self.gate.clone(), self.action.clone());
        *self.thread.lock().unwrap() = Some(std::thread::spawn(move || {
            testkit::poll::until("a stream held at the gate", Duration::from_secs(60), || {
                Ok(gate
                    .lock()
                    .unwrap()
                    .as_ref()
                    .is_some_and(Gate::reached)
                    .then_some(()))
            })
            .unwrap();
            action();
            drop(gate.lock().unwrap().take());
        }));
    }
}

/// What a transport does with a fault made between commands (at a step's
/// start): the run fails (an agent that is down stays down), or the
/// transport connects again and the run completes (ssh starts a new
/// master).
#[derive(Debug, Clone, Copy, PartialEq)]
enum BetweenCommands {
    Fails,
    Reconnects,
}

/// With the sandbox config `conf_key`, makes a transport fault at each of
/// [`STORE_FAULTS`] (`fault` returns a guard that repairs it when
/// dropped). Mid-stream, and between commands unless the transport
/// `Reconnects`, the run fails naming the store's host, writes no `ok`
/// and leaves nothing of it running; a run that reconnects leaves a
/// backup `dbbackup verify` finds intact. The next run, the fault
/// repaired, trashes every partial backup and completes.
async fn fault_at_each_store_step<G: Send + 'static>(
    sb: &testkit::Sandbox,
    conf_key: &str,
    tag: &str,
    between_commands: BetweenCommands,
    fault: impl Fn(&testkit::Sandbox) -> G + Send + Sync + Clone + 'static,
) {
    let store = Store::with_config(sb, tag, conf_key);
    let host = sb.var("STORE_HOST").to_owned();
    let mut failed = Vec::new();
    for when in STORE_FAULTS {
        let guard: Arc<Mutex<Option<G>>> = Arc::default();
        let action = {
            let (sb, guard, fault) = (sb.clone(), guard.clone(), fault.clone());
            move || *guard.lock().unwrap() = Some(fault(&sb))
        };
        let (name, result) = match when {
            When::MidStream => {
                let observer = Arc::new(AtGate {
                    gate: Arc::new(Mutex::new(Some(Gate::close(sb)))),
                    action,
                    thread: Mutex::default(),
                });
                let ran = run_with(store.conf(&[]), observer.clone()).await;
                if let Some(t) = observer.thread.lock().unwrap().take() {
                    t.join().unwrap();
                }
                ran
            }
            When::AtStart(step) => {
                run_with(store.conf(&[]), Arc::new(AtStep { step, action })).await
            }
        };
        let repair = guard.lock().unwrap().take();
        assert!(
            repair.is_some(),
            "{tag}: no fault made {when:?}: {result:?}"
        );
        let error = match result {
            Ok(done)
                if matches!(when, When::AtStart(_))
                    && between_commands == BetweenCommands::Reconnects =>
            {
                let named = backup::Which::Named(done.plan.name);
                let verified = backup::verify(&store.conf(&[]), &named, None)
                    .await
                    .unwrap();
                assert!(
                    verified.len() == 1 && verified[0].is_good(),
                    "{tag}, {when:?}: {verified:?}"
                );
                drop(repair);
                continue;
            }
            Ok(done) => panic!(
                "{tag}: the backup succeeded with a fault made {when:?}:\n{}",
                done.plan
            ),
            Err(e)
                if between_commands == BetweenCommands::Reconnects
                    && matches!(when, When::AtStart(_)) =>
            {
                panic!("{tag}: the transport did not reconnect after a fault made {when:?}: {e}")
            }
            Err(e) => e,
        };
        eprintln!("{tag}, {when:?}: {error}");
        assert!(
            error.contains(&host),
            "{tag}: the store's host {host} is not named for a fault made {when:?}: {error}"
        );
        assert_failed_cleanly(&store, &name, &format!("{tag}, {when:?}"));
        drop(repair);
        failed.push(name);
    }
    next_completes_and_trashes(&store, &failed, tag).await;
}

/// The adm-agent of the store's host SIGKILLed at each step that runs
/// commands there (its commands end with it: its lifeline helper); restarted
/// after each run.
#[tokio::test(flavor = "multi_thread")]
async fn the_store_hosts_adm_agent_killed_at_each_step_fails_the_run_naming_the_host() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    fault_at_each_store_step(
        &sb,
        "BACKUP_ADM_CONF",
        "adm-killed",
        BetweenCommands::Fails,
        |sb| testkit::down::AgentDown::kill(sb, "adm", sb.var("STORE_HOST")),
    )
    .await;
}

/// The ssh control master to the store's host SIGKILLed mid-stream (every
/// channel to that host goes with it: the run fails) and between commands
/// (the next command starts a new master: the run completes).
#[tokio::test(flavor = "multi_thread")]
async fn the_ssh_master_to_the_store_killed_mid_stream_fails_the_run_and_between_commands_is_replaced()
 {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    fault_at_each_store_step(
        &sb,
        "BACKUP_SSH_CONF",
        "ssh-master-killed",
        BetweenCommands::Reconnects,
        |sb| {
            let host = sb.var("STORE_HOST");
            let me = std::process::id();
            let masters: Vec<testkit::procs::Proc> = testkit::procs::all()
                .into_iter()
                .filter(|p| {
                    p.ppid == me
                        && p.cmdline
                            .split(' ')
                            .next()
                            .is_some_and(|a| a == "ssh" || a.ends_with("/ssh"))
                        && p.cmdline.split(' ').any(|a| a == "-M")
                        && p.cmdline.contains(host)
                })
                .collect();
            assert!(!masters.is_empty(), "no ssh master to {host} runs");
            for m in &masters {
                m.signal("-KILL");
            }
        },
    )
    .await;
}

/// The rabbit-agent of the store's host SIGKILLed at each step that runs
/// commands there; restarted after each run.
#[tokio::test(flavor = "multi_thread")]
async fn the_store_hosts_rabbit_agent_killed_at_each_step_fails_the_run_naming_the_host() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    fault_at_each_store_step(
        &sb,
        "BACKUP_RABBIT_CONF",
        "rabbit-killed",
        BetweenCommands::Fails,
        |sb| testkit::down::AgentDown::kill(sb, "rabbit", sb.var("STORE_HOST")),
    )
    .await;
}
