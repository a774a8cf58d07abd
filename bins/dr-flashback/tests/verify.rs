//! `dr-flashback verify` on the sandbox's DR cluster: it passes as the
//! sandbox is, and fails with a clear line for each problem a drill must
//! not start with. Every change to the shared sandbox is made under its
//! exclusive-use lock and undone by a guard, also when the test fails.
//! Every run is checked for secrets on all command lines and in its output.

mod common;

use common::*;
use std::path::PathBuf;
use testkit::{Sandbox, Server};

#[test]
fn passes_on_the_sandbox() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let config = PathBuf::from(sb.var("DR_FLASHBACK_INI"));
    let run = verify(&sb, &config, &["-d"]);
    assert_eq!(run.code, Some(0), "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("ok    ") || *l == "check os storage space successfully"),
        "{run}"
    );
    assert_eq!(
        lines.last(),
        Some(&"check os storage space successfully"),
        "{run}"
    );
    for check in [
        "production router reachable [127.0.0.10:16310]",
        "DR router reachable [127.0.0.30:16310]",
        "dataserver reachable and normal [dr_0_2 127.0.0.33:16315 (DR)]",
        "dataserver reachable and normal [normal_1_0 127.0.0.21:16315 (production)]",
        "slave_dbscale_server present in production",
        "DR replication running from production [dr_0_0 127.0.0.31:16315]: replicates from normal_0_0",
        "production GTIDs contain the DR cluster's",
        "free disk for the snapshot [dr_0_1 127.0.0.32]",
    ] {
        assert!(run.stdout.contains(check), "no line for {check:?}\n{run}");
    }
    // Six production servers, three DR servers, one disk line per DR server.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("dataserver reachable"))
            .count(),
        9
    );
    assert_eq!(lines.iter().filter(|l| l.contains("free disk")).count(), 3);
}

#[test]
fn passes_over_the_agents() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let agents = format!(
        "\n[rabbit-agent]\nrabbitmq-uri = {}\nsecret-file = {}\n\n[adm-agent]\nport = {}\nsecret-file = {}\n",
        sb.var("RABBITMQ_URI"),
        sb.var("RABBIT_AGENT_SECRET_FILE"),
        sb.var("ADM_AGENT_PORT"),
        sb.var("ADM_AGENT_SECRET_FILE")
    );
    for method in ["adm-agent", "rabbit-agent"] {
        let config = config_with(&sb, &format!("connect-method = {method}\n{agents}"));
        let run = verify(&sb, &config.path, &[]);
        assert_eq!(run.code, Some(0), "{method}: {run}");
        let answered = format!("SQL and {method} answer");
        assert_eq!(
            run.stdout.lines().filter(|l| l.contains(&answered)).count(),
            9,
            "{method}: {run}"
        );
    }
}

/// Restarts the DR master's replication, and waits for it, when dropped.
struct ReplicationRestart<'a> {
    sb: &'a Sandbox,
    master: Server,
}

impl Drop for ReplicationRestart<'_> {
    fn drop(&mut self) {
        let started = self.sb.root_sql(&self.master, "START SLAVE");
        if let Err(e) = &started {
            eprintln!(
                "could not restart DR replication on {}: {e}",
                self.master.name
            );
        }
        wait_until("DR replication running again", || {
            replicating(self.sb, &self.master)
        });
    }
}

#[test]
fn fails_when_dr_replication_is_stopped() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let master = sb.server("dr_0_0");
    let _restart = ReplicationRestart {
        sb: &sb,
        master: master.clone(),
    };
    sb.root_sql(&master, "STOP SLAVE")
        .expect("stopping DR replication");

    let config = PathBuf::from(sb.var("DR_FLASHBACK_INI"));
    let run = verify(&sb, &config, &[]);
    assert_eq!(run.code, Some(1), "{run}");
    let failed = run.failed_lines("DR replication running from production");
    assert_eq!(failed.len(), 1, "{run}");
    assert!(
        failed[0].contains("[dr_0_0 127.0.0.31:16315]")
            && failed[0].contains("replication from 127.0.0.11:16315 is not running (Slave_IO_Running: No, Slave_SQL_Running: No)"),
        "{run}"
    );
    let error = run.error_line();
    assert!(
        error.contains("DR replication running from production [dr_0_0 127.0.0.31:16315]")
            && error.contains("not running"),
        "{run}"
    );
    let json = verify(&sb, &config, &["--json"]);
    assert_eq!(
        json.failure_kinds("dr-replication"),
        ["replication-stopped"],
        "{json}"
    );
    // start runs the same checks first and changes nothing.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = dir.path().join("log/gio_flashback_redo.log");
    let journal_arg = journal.display().to_string();
    let start = dr_flashback(&sb, "start", &config, &["--journal", &journal_arg]);
    assert_eq!(start.code, Some(1), "{start}");
    assert!(
        start
            .error_line()
            .starts_with("ERROR: start refused: verify failed")
            && start.error_line().contains("not running"),
        "{start}"
    );
    assert!(!journal.exists(), "a refused start writes no journal");
}

/// Resumes a SIGSTOPped server, and waits until it answers and
/// replicates, when dropped.
struct Resume<'a> {
    sb: &'a Sandbox,
    server: Server,
    pid: nix::unistd::Pid,
}

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        if let Err(e) = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGCONT) {
            eprintln!("could not resume {}: {e}", self.server.name);
        }
        wait_until("the resumed DR server replicating", || {
            replicating(self.sb, &self.server)
        });
    }
}

/// The pid of `server`'s mariadbd, checked against its command line.
fn server_pid(server: &Server) -> nix::unistd::Pid {
    let text = std::fs::read_to_string(server.dir.join("mysqld.pid")).expect("the pid file");
    let pid: i32 = text.trim().parse().expect("a pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the server runs");
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        cmdline.contains("mariadbd") || cmdline.contains("mysqld"),
        "pid {pid} is not a server: {cmdline}"
    );
    nix::unistd::Pid::from_raw(pid)
}

#[test]
fn fails_when_a_dr_node_is_down() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let server = sb.server("dr_0_2");
    let pid = server_pid(&server);
    let _resume = Resume {
        sb: &sb,
        server: server.clone(),
        pid,
    };
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("freezing dr_0_2");

    let config = PathBuf::from(sb.var("DR_FLASHBACK_INI"));
    let run = verify(&sb, &config, &[]);
    assert_eq!(run.code, Some(1), "{run}");
    let failed = run.failed_lines("dataserver reachable and normal");
    assert_eq!(failed.len(), 1, "only dr_0_2 fails\n{run}");
    assert!(
        failed[0].contains("[dr_0_2 127.0.0.33:16315 (DR)]") && failed[0].contains("down"),
        "{run}"
    );
    assert!(
        run.error_line().contains("dr_0_2 127.0.0.33:16315"),
        "{run}"
    );
    // What needs the frozen server says so instead of guessing.
    assert!(
        run.stdout
            .contains("skip  free disk for the snapshot [dr_0_2 127.0.0.33]"),
        "{run}"
    );
    let json = verify(&sb, &config, &["--json"]);
    assert_eq!(json.failure_kinds("dataserver"), ["not-normal"], "{json}");
}

/// Forgets the GTIDs written on a DR leaf replica (its own binlog only;
/// its replication position is untouched), when dropped.
struct ForgetLocalGtids<'a> {
    sb: &'a Sandbox,
    server: Server,
}

impl Drop for ForgetLocalGtids<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.sb.root_sql(&self.server, "RESET MASTER") {
            eprintln!("could not reset {}'s binlog: {e}", self.server.name);
        }
    }
}

#[test]
fn fails_when_dr_holds_a_gtid_production_lacks() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    // dr_0_2 is a leaf (nothing replicates from it): a transaction in a
    // domain of its own reaches only its binlog, and RESET MASTER takes it
    // back; production's domain 0 is never touched.
    let server = sb.server("dr_0_2");
    let _forget = ForgetLocalGtids {
        sb: &sb,
        server: server.clone(),
    };
    let db = testkit::unique("fb_gtid");
    sb.root_sql(
        &server,
        &format!("SET SESSION gtid_domain_id = 77; CREATE DATABASE {db}; DROP DATABASE {db};"),
    )
    .expect("a write on the DR side");

    let config = PathBuf::from(sb.var("DR_FLASHBACK_INI"));
    let run = verify(&sb, &config, &[]);
    assert_eq!(run.code, Some(1), "{run}");
    let failed = run.failed_lines("production GTIDs contain the DR cluster's");
    assert_eq!(failed.len(), 1, "{run}");
    assert!(
        failed[0].contains("dr_0_2 has executed 77-33-2, which production's normal_0_0"),
        "{run}"
    );
    assert!(run.error_line().contains("77-33-2"), "{run}");
    let json = verify(&sb, &config, &["--json"]);
    assert_eq!(
        json.failure_kinds("gtid-contained"),
        ["gtid-not-contained"],
        "{json}"
    );
}

#[test]
fn fails_without_room_for_the_snapshot() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    // A margin no disk has: the threshold, not a full disk.
    let config = config_with(&sb, "snapshot-margin-percent = 100000000");
    let run = verify(&sb, &config.path, &[]);
    assert_eq!(run.code, Some(1), "{run}");
    let failed = run.failed_lines("free disk for the snapshot");
    assert_eq!(failed.len(), 3, "{run}");
    assert!(
        failed[0].contains("[dr_0_0 127.0.0.31]")
            && failed[0].contains("free, the snapshot needs")
            && failed[0].contains("measured + 100000000 %"),
        "{run}"
    );
    assert!(
        run.error_line()
            .contains("free disk for the snapshot [dr_0_0 127.0.0.31]"),
        "{run}"
    );
    assert!(!run.stdout.contains("check os storage space successfully"));
    let json = verify(&sb, &config.path, &["--json"]);
    assert_eq!(json.failure_kinds("disk"), ["not-enough-disk"; 3], "{json}");
}

#[test]
fn start_dry_run_prints_the_plan_and_changes_nothing() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = dir.path().join("log/gio_flashback_redo.log");
    let journal_arg = journal.display().to_string();
    let config = PathBuf::from(sb.var("DR_FLASHBACK_INI"));
    let run = dr_flashback(
        &sb,
        "start",
        &config,
        &["--dry-run", "--journal", &journal_arg],
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("donor: dr_0_") && l.contains("at the DR master's GTIDs")),
        "{run}"
    );
    assert!(
        run.stdout.contains("node dr_0_0 127.0.0.31:16315: Primary"),
        "{run}"
    );
    for step in [
        "step 2: detach the DR cluster from production (on 127.0.0.10:16310)",
        "step 3: stop receiving from production (on 127.0.0.30:16310)",
        "step 4: apply what was received, stop DR replication (on 127.0.0.30:16310)",
        "step 7: snapshot the donor for dr_0_0 (on 127.0.0.31)",
        "step 9: open the DR cluster read-write (on 127.0.0.30:16310)",
    ] {
        assert!(run.stdout.contains(step), "no {step:?}\n{run}");
    }
    assert!(run.stdout.ends_with("dry run: nothing changed\n"), "{run}");
    assert!(!journal.exists(), "a dry run writes no journal");
    // The DR cluster is as it was: still attached and replicating.
    let after = verify(&sb, &config, &[]);
    assert_eq!(after.code, Some(0), "{after}");

    let json = dr_flashback(
        &sb,
        "start",
        &config,
        &["--dry-run", "--json", "--journal", &journal_arg],
    );
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        doc["plan"]["steps"].as_array().map(Vec::len),
        Some(9),
        "{json}"
    );
    let roles: Vec<&str> = doc["plan"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["Role"].as_str())
        .collect();
    assert_eq!(roles, ["primary", "donor", "joiner"], "{json}");
}
