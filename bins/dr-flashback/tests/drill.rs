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
use testkit::{Sandbox, Server};

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
    }
}

/// A journal in a fresh directory (kept while the `TempDir` lives), and
/// the sandbox's config.
fn journal_and_config(sb: &Sandbox) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = dir.path().join("log/gio_flashback_redo.log");
    let journal = journal.display().to_string();
    (dir, journal, PathBuf::from(sb.var("DR_FLASHBACK_INI")))
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
    let _lock = sb.exclusive_use();
    let (_dir, journal, config) = journal_and_config(&sb);
    let _guard = Guard {
        sb: &sb,
        config: config.clone(),
        journal: journal.clone(),
        dbs: Vec::new(),
    };
    let before = (
        dataservers(&sb, "ROUTER_HOST"),
        dataservers(&sb, "DR_ROUTER_HOST"),
    );
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
        assert_back(&sb, &config, &before, &point);
    }
}

#[test]
fn a_stop_killed_at_any_step_is_finished_by_the_next() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let (_dir, journal, config) = journal_and_config(&sb);
    let drill_db = testkit::unique("fb_killed");
    let _guard = Guard {
        sb: &sb,
        config: config.clone(),
        journal: journal.clone(),
        dbs: vec![drill_db.clone()],
    };
    let before = (
        dataservers(&sb, "ROUTER_HOST"),
        dataservers(&sb, "DR_ROUTER_HOST"),
    );
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
        assert_back(&sb, &config, &before, &point);
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
    let run = dr_flashback(&sb, "start", &config, &["--journal", &journal, "-v"]);
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
        &["--journal", &journal, "-v", "--json"],
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
