//! A whole drill on the sandbox's DR cluster: `start`, writes into the DR
//! cluster through its router (the drill) while production keeps writing,
//! `stop`; then every DR server holds exactly production's rows (table
//! checksums), none of the drill's, replicates again, and both routers
//! show what they showed before. A guard runs `stop` if the test fails
//! with a drill open, and drops the test's tables.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::table_lock::{TableLock, backup_stage_waits};
use testkit::{Sandbox, Server, procs};

/// Runs `sql` on a router as its admin (the password in the client's
/// environment, never its argv).
fn router_sql(sb: &Sandbox, host_key: &str, sql: &str) -> String {
    let out = Command::new("mariadb")
        .env("MYSQL_PWD", sb.var("ROUTER_PASSWORD"))
        .args(["--batch", "--skip-column-names", "--connect-timeout=10"])
        .arg(format!("--host={}", sb.var(host_key)))
        .arg(format!("--port={}", sb.var("ROUTER_PORT")))
        .arg(format!("--user={}", sb.var("ROUTER_USER")))
        .arg("-e")
        .arg(sql)
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dbscale show dataservers` as `name status master-online-status` lines.
fn dataservers(sb: &Sandbox, host_key: &str) -> Vec<String> {
    router_sql(sb, host_key, "dbscale show dataservers")
        .lines()
        .map(|l| l.split('\t').take(6).collect::<Vec<_>>())
        .map(|f| {
            format!(
                "{} {} {}",
                f[0],
                f.get(4).unwrap_or(&""),
                f.get(5).unwrap_or(&"")
            )
        })
        .collect()
}

fn one_value(sb: &Sandbox, server: &Server, sql: &str) -> Option<String> {
    let rows = sb.root_sql(server, sql).ok()?;
    rows.first()?.values().next().cloned()
}

/// Closes a drill the test left open (by the binary's own `stop`), and
/// drops the test's databases.
struct Guard<'a> {
    sb: &'a Sandbox,
    config: PathBuf,
    journal: String,
    dbs: Vec<String>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(&self.journal).unwrap_or_default();
        if !text.trim().is_empty() {
            let run = dr_flashback(self.sb, "stop", &self.config, &["--journal", &self.journal]);
            eprintln!("the guard's stop:\n{run}");
        }
        let master = self.sb.server("normal_0_0");
        for db in &self.dbs {
            if let Err(e) = self
                .sb
                .root_sql(&master, &format!("DROP DATABASE IF EXISTS {db}"))
            {
                eprintln!("could not drop {db}: {e}");
            }
        }
        if !std::thread::panicking() {
            let leaked = drill_files_holding_secrets(self.sb, &self.journal);
            assert!(
                leaked.is_empty(),
                "files the drill left hold a password (file, which of common::secrets): {leaked:?}"
            );
        }
    }
}

/// The files a drill wrote that hold one of the sandbox's passwords: under
/// the journal's directory, every DR server's tmpdir and snapshot directory
/// (the servers' own data files aside, their logs included), and the
/// routers' flush directories.
fn drill_files_holding_secrets(sb: &Sandbox, journal: &str) -> Vec<(PathBuf, usize)> {
    let mut dirs: Vec<PathBuf> = Path::new(journal)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    for server in sb.dr_servers() {
        dirs.push(server.dir.join("tmp"));
        dirs.push(server.dir.join("flashback_snapshot"));
    }
    dirs.extend(flush_dirs().iter().map(|d| Path::new("/tmp").join(d)));
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let secrets = secrets(sb);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    testkit::secrets::files_holding(&dirs, &secrets, |path| {
        let log = path.extension().is_some_and(|e| e == "log" || e == "err");
        !log && path.components().any(|c| c.as_os_str() == "data")
    })
}

/// A journal in a fresh directory (kept while the `TempDir` lives), and
/// the sandbox's config.
fn journal_and_config(sb: &Sandbox) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = dir.path().join("log/gio_flashback_redo.log");
    let journal = journal.display().to_string();
    (dir, journal, PathBuf::from(sb.var("DR_FLASHBACK_INI")))
}

/// What a test that changes the DR cluster holds: a guard that runs
/// `stop` if it leaves a drill open and drops its databases (dropped
/// first), a journal of its own, the sandbox's exclusive-use lock (dropped
/// last); and both routers' dataservers as they were.
struct Setup<'a> {
    _guard: Guard<'a>,
    _dir: tempfile::TempDir,
    _lock: testkit::ExclusiveUse,
    journal: String,
    config: PathBuf,
    before: (Vec<String>, Vec<String>),
}

/// Takes the lock, then sets a test up with the databases `dbs` to drop.
fn setup(sb: &Sandbox, dbs: Vec<String>) -> Setup<'_> {
    let lock = sb.exclusive_use();
    let (dir, journal, config) = journal_and_config(sb);
    let guard = Guard {
        sb,
        config: config.clone(),
        journal: journal.clone(),
        dbs,
    };
    let before = (
        dataservers(sb, "ROUTER_HOST"),
        dataservers(sb, "DR_ROUTER_HOST"),
    );
    Setup {
        _guard: guard,
        _dir: dir,
        _lock: lock,
        journal,
        config,
        before,
    }
}

/// The step numbers a run printed (`step N name: done ...`).
fn steps_done(run: &Run) -> Vec<u32> {
    run.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("step "))
        .filter(|l| l.contains(": done in "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Both routers as `before`, every DR server replicating, verify passing.
fn assert_back(sb: &Sandbox, config: &Path, before: &(Vec<String>, Vec<String>), what: &str) {
    wait_until(&format!("{what}: every DR server replicating"), || {
        sb.dr_servers().iter().all(|s| replicating(sb, s))
    });
    let now = (
        dataservers(sb, "ROUTER_HOST"),
        dataservers(sb, "DR_ROUTER_HOST"),
    );
    assert_eq!(&now, before, "{what}: the routers differ");
    let verified = verify(sb, config, &[]);
    assert_eq!(verified.code, Some(0), "{what}: {verified}");
}

fn journal_open(journal: &str) -> bool {
    !std::fs::read_to_string(journal)
        .unwrap_or_default()
        .trim()
        .is_empty()
}

#[test]
fn stop_brings_the_dr_cluster_back_from_a_start_killed_at_any_step() {
    let Some(sb) = Sandbox::get() else { return };
    let test = setup(&sb, Vec::new());
    let (journal, config, before) = (test.journal.clone(), test.config.clone(), &test.before);
    let args = ["--journal", journal.as_str()];
    // One whole start tells the steps.
    let full = dr_flashback(&sb, "start", &config, &args);
    assert_eq!(full.code, Some(0), "{full}");
    let steps = steps_done(&full);
    assert!(steps.len() >= 9, "{full}");
    let stopped = dr_flashback(&sb, "stop", &config, &args);
    assert_eq!(stopped.code, Some(0), "{stopped}");
    let read_write = steps.len() as u32 - 1;
    let mut points: Vec<String> = steps.iter().map(|n| format!("start:{n}:after")).collect();
    points.push(format!("start:{read_write}:before"));
    for point in points {
        let killed = dr_flashback_with(
            &sb,
            "start",
            &config,
            &args,
            &[("DR_FLASHBACK_KILL_AT", &point)],
        );
        assert_ne!(killed.code, Some(0), "{point}: not killed\n{killed}");
        assert!(
            journal_open(&journal),
            "{point}: the journal shows no drill"
        );
        let stop = dr_flashback(&sb, "stop", &config, &args);
        assert_eq!(stop.code, Some(0), "{point}: {stop}");
        assert!(
            !journal_open(&journal),
            "{point}: the journal still shows a drill"
        );
        assert_back(&sb, &config, before, &point);
    }
}

#[test]
fn a_stop_killed_at_any_step_is_finished_by_the_next() {
    let Some(sb) = Sandbox::get() else { return };
    let drill_db = testkit::unique("fb_killed");
    let test = setup(&sb, vec![drill_db.clone()]);
    let (journal, config, before) = (test.journal.clone(), test.config.clone(), &test.before);
    let args = ["--journal", journal.as_str()];
    let drill = |sb: &Sandbox| {
        let start = dr_flashback(sb, "start", &config, &args);
        assert_eq!(start.code, Some(0), "{start}");
        router_sql(
            sb,
            "DR_ROUTER_HOST",
            &format!(
                "CREATE DATABASE {drill_db}; CREATE TABLE {drill_db}.t (id INT PRIMARY KEY); INSERT INTO {drill_db}.t VALUES (1);"
            ),
        );
    };
    drill(&sb);
    let full = dr_flashback(&sb, "stop", &config, &args);
    assert_eq!(full.code, Some(0), "{full}");
    let steps = steps_done(&full);
    assert!(steps.len() >= 6, "{full}");
    let gone = format!(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{drill_db}'"
    );
    for n in steps {
        let point = format!("stop:{n}:after");
        drill(&sb);
        let killed = dr_flashback_with(
            &sb,
            "stop",
            &config,
            &args,
            &[("DR_FLASHBACK_KILL_AT", &point)],
        );
        assert_ne!(killed.code, Some(0), "{point}: not killed\n{killed}");
        let stop = dr_flashback(&sb, "stop", &config, &args);
        assert_eq!(stop.code, Some(0), "{point}: {stop}");
        for s in sb.dr_servers() {
            assert_eq!(
                one_value(&sb, &s, &gone).as_deref(),
                Some("0"),
                "{point}: the drill's rows survived on {}",
                s.name
            );
        }
        assert_back(&sb, &config, before, &point);
    }
}

#[test]
fn a_drill_from_start_to_stop() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let (_dir, journal, config) = journal_and_config(&sb);
    let (prod_db, drill_db) = (testkit::unique("fb_prod"), testkit::unique("fb_drill"));
    let _guard = Guard {
        sb: &sb,
        config: config.clone(),
        journal: journal.clone(),
        dbs: vec![prod_db.clone(), drill_db.clone()],
    };
    let master = sb.server("normal_0_0");
    let dr_servers = sb.dr_servers();
    let count = format!("SELECT COUNT(*) AS n FROM {prod_db}.t");
    let rows_everywhere = |n: &str| {
        wait_until(&format!("{n} rows on every DR server"), || {
            dr_servers
                .iter()
                .all(|s| one_value(&sb, s, &count).as_deref() == Some(n))
        })
    };
    sb.root_sql(
        &master,
        &format!("CREATE DATABASE {prod_db}; CREATE TABLE {prod_db}.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO {prod_db}.t VALUES (1,'a'),(2,'b'),(3,'c');"),
    )
    .expect("rows on production");
    rows_everywhere("3");
    let before = (
        dataservers(&sb, "ROUTER_HOST"),
        dataservers(&sb, "DR_ROUTER_HOST"),
    );

    // With -v: no secret in any log line either (the helper checks).
    let run = dr_flashback(&sb, "start", &config, &["--journal", &journal, "-d"]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("exec start successfully"), "{run}");
    assert!(
        run.stdout
            .contains("step 8 snapshot the donor for dr_0_2: done")
            && run
                .stdout
                .contains("step 9 open the DR cluster read-write: done"),
        "{run}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&journal).expect("the journal"))
            .expect("JSON");
    assert_eq!(record["step_name"], "drill open (start done)", "{record}");
    assert_eq!(record["state"], "done", "{record}");
    let second = dr_flashback(&sb, "start", &config, &["--journal", &journal]);
    assert_eq!(second.code, Some(1), "{second}");
    assert!(second.error_line().contains("a drill is open"), "{second}");

    // The drill: writes through the DR router, while production goes on.
    router_sql(
        &sb,
        "DR_ROUTER_HOST",
        &format!(
            "CREATE DATABASE {drill_db}; CREATE TABLE {drill_db}.t (id INT PRIMARY KEY); INSERT INTO {drill_db}.t VALUES (1),(2); INSERT INTO {prod_db}.t VALUES (100,'drill');"
        ),
    );
    sb.root_sql(
        &master,
        &format!("INSERT INTO {prod_db}.t VALUES (4,'d'),(5,'e')"),
    )
    .expect("production writes during the drill");

    let run = dr_flashback(
        &sb,
        "stop",
        &config,
        &["--journal", &journal, "-d", "--json"],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    // The DR master first, then the replica that was not the donor.
    let restored: Vec<&str> = doc["restored"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(restored.len() == 2 && restored[0] == "dr_0_0", "{run}");
    assert!(
        run.stderr
            .contains("restore dr_0_0 from its snapshot: done"),
        "{run}"
    );
    let again = dr_flashback(&sb, "stop", &config, &["--journal", &journal]);
    assert_eq!(again.code, Some(0), "{again}");
    assert!(again.stdout.contains("nothing to stop"), "{again}");

    // Production's rows, the ones written during the drill too; none of
    // the drill's; the same table checksum as production.
    rows_everywhere("5");
    let checksum = format!("CHECKSUM TABLE {prod_db}.t");
    let truth = sb
        .root_sql(&master, &checksum)
        .expect("production's checksum");
    for s in &dr_servers {
        assert_eq!(
            one_value(&sb, s, &format!("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{drill_db}'")).as_deref(),
            Some("0"),
            "{}: the drill's database survived",
            s.name
        );
        assert_eq!(
            sb.root_sql(s, &checksum).expect("its checksum"),
            truth,
            "{}",
            s.name
        );
        assert!(replicating(&sb, s), "{} does not replicate", s.name);
    }
    assert_eq!(
        (
            dataservers(&sb, "ROUTER_HOST"),
            dataservers(&sb, "DR_ROUTER_HOST")
        ),
        before
    );
    let verified = verify(&sb, &config, &[]);
    assert_eq!(verified.code, Some(0), "{verified}");
}

/// The router's state as the DR router's emulator keeps it
/// (`routers/dr.state.json`): its globals and disabled dataservers.
fn dr_router_state(sb: &Sandbox) -> serde_json::Value {
    let file = sb.dir.join("routers").join("dr.state.json");
    let text = std::fs::read_to_string(&file).expect("the DR router's state");
    serde_json::from_str(&text).expect("JSON")
}

/// What every kill-mid-step test checks once `stop` ran: the journal
/// closed, the DR cluster closed to writes (`enable-read-only` on its
/// router) with no dataserver disabled (the donor enabled), every DR
/// server replicating, both routers as `before`, verify passing (DR
/// attached, GTIDs, replication), no snapshot directory left, none of
/// `drill_db` anywhere.
fn assert_closed(
    sb: &Sandbox,
    config: &Path,
    journal: &str,
    before: &(Vec<String>, Vec<String>),
    drill_db: Option<&str>,
    what: &str,
) {
    assert!(
        !journal_open(journal),
        "{what}: the journal still shows a drill"
    );
    let state = dr_router_state(sb);
    assert_eq!(
        state["globals"]["enable-read-only"], "1",
        "{what}: the DR router is not read-only: {state}"
    );
    assert_eq!(
        state["disabled"],
        serde_json::json!([]),
        "{what}: a DR dataserver is still disabled: {state}"
    );
    for s in sb.dr_servers() {
        let snapshot = s.dir.join("flashback_snapshot");
        assert!(
            !snapshot.exists(),
            "{what}: {} is left on {}",
            snapshot.display(),
            s.name
        );
        if let Some(db) = drill_db {
            let gone = format!(
                "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{db}'"
            );
            assert_eq!(
                one_value(sb, &s, &gone).as_deref(),
                Some("0"),
                "{what}: the drill's rows survived on {}",
                s.name
            );
        }
    }
    assert_back(sb, config, before, what);
}

/// The processes a drill runs on the hosts: the snapshot's (its directory
/// `flashback_snapshot` on their command line: the extractor, the
/// temporary server) and the donor's backup (its option file
/// `dr-flashback-<id>.cnf`), each with the host-side family it runs in
/// (the parents up to the login's session, and all below them).
fn drill_processes() -> Vec<procs::Proc> {
    let all = procs::all();
    let of_drill = |p: &procs::Proc| {
        p.cmdline.contains("flashback_snapshot") || p.cmdline.contains("/dr-flashback-")
    };
    let mut family: Vec<procs::Proc> = Vec::new();
    for p in all.iter().filter(|p| of_drill(p)) {
        // Up to the session's shell (below sshd or an agent, or init).
        let mut top = p.clone();
        while let Some(parent) = all.iter().find(|q| q.pid == top.ppid) {
            let program = parent.cmdline.split(' ').next().unwrap_or_default();
            if parent.pid == 1
                || program.starts_with("sshd")
                || program.ends_with("dbagent")
                || parent.pid == std::process::id()
            {
                break;
            }
            top = parent.clone();
        }
        for q in procs::tree(top.pid) {
            if !family.iter().any(|f| f.pid == q.pid) {
                family.push(q);
            }
        }
    }
    family
}

/// Those of `procs` still running the same command line.
fn still_running(procs: &[procs::Proc]) -> Vec<String> {
    let now = procs::all();
    procs
        .iter()
        .filter(|p| now.iter().any(|q| q.pid == p.pid && q.cmdline == p.cmdline))
        .map(|p| format!("{} {}", p.pid, p.cmdline))
        .collect()
}

/// The donor `start` would pick now (`start --dry-run --json`).
fn planned_donor(sb: &Sandbox, config: &Path, journal: &str) -> Server {
    let plan = dr_flashback(
        sb,
        "start",
        config,
        &["--journal", journal, "--dry-run", "--json"],
    );
    assert_eq!(plan.code, Some(0), "{plan}");
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).expect("one JSON document");
    let name = doc["plan"]["donor"]["server"]
        .as_str()
        .unwrap_or_else(|| panic!("no donor in the plan\n{plan}"));
    sb.server(name)
}

/// `start` killed (SIGKILL) while the first snapshot's stream is in
/// flight: mariabackup runs on the donor, mbstream on the receiving DR
/// host. Nothing here depends on the stream's speed: a test session holds
/// a write lock on a table of the donor, so mariabackup's `BACKUP STAGE
/// START` waits (the lever of dbbackup's tests) with both ends of the
/// stream up, until the test releases it; the run is killed there. Every
/// process of the stream must then go (checked while the lock still
/// holds, so a survivor would still be there), no file of the run may
/// hold the donor's login, and `stop` must bring the DR cluster back.
#[test]
fn stop_brings_the_dr_cluster_back_from_a_start_killed_mid_stream() {
    let Some(sb) = Sandbox::get() else { return };
    let gate_db = testkit::unique("fb_gate");
    let test = setup(&sb, vec![gate_db.clone()]);
    let (journal, config) = (test.journal.clone(), test.config.clone());
    let master = sb.server("normal_0_0");
    sb.root_sql(
        &master,
        &format!("CREATE DATABASE {gate_db}; CREATE TABLE {gate_db}.t (id INT PRIMARY KEY);"),
    )
    .expect("the gate table on production");
    let donor = planned_donor(&sb, &config, &journal);
    let exists =
        format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{gate_db}'");
    wait_until(&format!("{gate_db}.t on {}", donor.name), || {
        one_value(&sb, &donor, &exists).as_deref() == Some("1")
    });
    let before = &test.before;

    let gate = TableLock::hold(&donor, &format!("{gate_db}.t"));
    let mut run = spawn_dr_flashback(&sb, "start", &config, &["--journal", &journal], &[]);
    let mut in_flight = Vec::new();
    wait_until("the snapshot's stream in flight", || {
        assert!(run.running(), "start ended before its stream was seen");
        in_flight = drill_processes();
        let backup = in_flight
            .iter()
            .any(|p| procs::runs_mariabackup(&p.cmdline) && p.cmdline.contains("/dr-flashback-"));
        let extractor = in_flight.iter().any(|p| {
            p.cmdline
                .split(' ')
                .next()
                .is_some_and(|a| a.ends_with("mbstream"))
                && p.cmdline.contains("flashback_snapshot")
        });
        backup && extractor && backup_stage_waits(&sb, &donor)
    });
    let killed = run.kill(&sb);
    assert_eq!(killed.code, None, "not killed\n{killed}");
    assert!(
        journal_open(&journal),
        "the journal shows no drill\n{killed}"
    );
    let mut left = Vec::new();
    for _ in 0..150 {
        left = still_running(&in_flight);
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        left.is_empty(),
        "the killed start's processes still run: {left:#?}"
    );
    drop(gate);
    // The donor's login is in no file the run left on the DR hosts.
    let dirs: Vec<PathBuf> = sb.dr_servers().iter().map(|s| s.dir.join("tmp")).collect();
    let stop = dr_flashback(&sb, "stop", &config, &["--journal", &journal]);
    assert_eq!(stop.code, Some(0), "{stop}");
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let secrets = secrets(&sb);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let leaked = testkit::secrets::files_holding(&dirs, &secrets, |_| false);
    assert!(
        leaked.is_empty(),
        "files of the killed run hold a secret: {leaked:?}"
    );
    assert_closed(
        &sb,
        &config,
        &journal,
        before,
        None,
        "start killed mid-stream",
    );
    assert!(
        drill_processes().is_empty(),
        "processes of the drill run after stop: {:#?}",
        drill_processes()
    );
}

/// `stop` killed (SIGKILL) in the middle of a node's restore, at each
/// point of it (`DR_FLASHBACK_PAUSE_AT` holds a debug build there until
/// it is killed): the snapshot's server down; both down; the snapshot in
/// place of the data directory; the server answering again; its
/// replication set. The next `stop` must finish: the drill's rows gone,
/// the DR cluster closed, attached and replicating, nothing of the drill
/// running.
#[test]
fn a_stop_killed_in_the_middle_of_a_restore_is_finished_by_the_next() {
    let Some(sb) = Sandbox::get() else { return };
    let drill_db = testkit::unique("fb_midstop");
    let test = setup(&sb, vec![drill_db.clone()]);
    let (journal, config, before) = (test.journal.clone(), test.config.clone(), &test.before);
    let args = ["--journal", journal.as_str()];
    let points = [
        ("dr_0_0", "snapshot-down"),
        ("dr_0_0", "node-down"),
        ("dr_0_0", "swapped"),
        ("dr_0_0", "answering"),
        ("dr_0_0", "replication-set"),
        ("dr_0_2", "swapped"),
    ];
    for (server, point) in points {
        let at = format!("stop:{server}:{point}");
        let start = dr_flashback(&sb, "start", &config, &args);
        assert_eq!(start.code, Some(0), "{at}: {start}");
        router_sql(
            &sb,
            "DR_ROUTER_HOST",
            &format!(
                "CREATE DATABASE {drill_db}; CREATE TABLE {drill_db}.t (id INT PRIMARY KEY); INSERT INTO {drill_db}.t VALUES (1);"
            ),
        );
        let mut run = spawn_dr_flashback(
            &sb,
            "stop",
            &config,
            &args,
            &[("DR_FLASHBACK_PAUSE_AT", &at)],
        );
        let paused = run.wait_for_stderr(&format!("paused at {at}"));
        let killed = run.kill(&sb);
        assert!(paused, "{at}: never paused there\n{killed}");
        assert_eq!(killed.code, None, "{at}: not killed\n{killed}");
        assert!(journal_open(&journal), "{at}: the journal shows no drill");
        let stop = dr_flashback(&sb, "stop", &config, &args);
        assert_eq!(stop.code, Some(0), "{at}: {stop}");
        assert_closed(&sb, &config, &journal, before, Some(&drill_db), &at);
        let left = drill_processes();
        assert!(
            left.is_empty(),
            "{at}: processes of the drill run: {left:#?}"
        );
    }
}
