//! `dr-flashback verify` on the sandbox's DR cluster: it passes as the
//! sandbox is, and fails with a clear line for each problem a drill must
//! not start with. Every change to the shared sandbox is made under its
//! exclusive-use lock and undone by a guard, also when the test fails.
//! Every run is checked for secrets on all command lines and in its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::{Sandbox, Server};

/// A run may take this long at most (a frozen server costs the router's
/// probe timeout and ours).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// How one run ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The `FAIL` lines of `check`.
    fn failed_lines(&self, check: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL  ") && l.contains(check))
            .collect()
    }

    /// The `ERROR:` line.
    fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.starts_with("ERROR: "))
            .unwrap_or_else(|| panic!("no ERROR: line\n{self}"))
    }

    /// `--json`: the failure kinds of the checks named `name`.
    fn failure_kinds(&self, name: &str) -> Vec<String> {
        let doc: serde_json::Value =
            serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e})\n{self}"));
        doc["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == name)
            .filter_map(|c| c["outcome"]["failure"]["kind"].as_str())
            .map(str::to_owned)
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The sandbox's secrets verify handles: the adm-agent secret, the routers'
/// admin password, the ssh login's, the dataservers' (also base64, as the flushed config has it).
fn secrets(sb: &Sandbox) -> Vec<String> {
    use base64::Engine as _;
    let mysql = sb.var("MYSQL_PASSWORD");
    let adm = std::fs::read_to_string(sb.var("ADM_AGENT_SECRET_FILE")).expect("the adm secret");
    vec![
        adm.trim().to_owned(),
        sb.var("ROUTER_PASSWORD").to_owned(),
        sb.var("LOGIN_PASSWORD").to_owned(),
        mysql.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(mysql),
    ]
}

/// Reads every process's command line until stopped; gives the program of
/// the first one holding a secret (never the secret itself).
fn scan_cmdlines(
    secrets: Vec<String>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        let me = std::process::id().to_string();
        while !stop.load(Ordering::Relaxed) {
            let procs = std::fs::read_dir("/proc").into_iter().flatten().flatten();
            for entry in procs.filter(|e| e.file_name().to_string_lossy() != me) {
                let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&raw);
                if secrets.iter().any(|s| text.contains(s.as_str())) {
                    return Some(text.split('\0').next().unwrap_or_default().to_owned());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    })
}

/// The flush directories verify makes on the router hosts (here: /tmp).
fn flush_dirs() -> Vec<String> {
    std::fs::read_dir("/tmp")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dr-flashback."))
        .collect()
}

/// Runs `dr-flashback verify` against the sandbox's routers with `config`
/// and `extra` arguments; see [`dr_flashback`].
fn verify(sb: &Sandbox, config: &Path, extra: &[&str]) -> Run {
    dr_flashback(sb, "verify", config, extra)
}

/// Runs `dr-flashback VERB` against the sandbox's routers with `config`
/// and `extra` arguments; panics on a secret in any argv or the output, or
/// a router flush left behind.
fn dr_flashback(sb: &Sandbox, verb: &str, config: &Path, extra: &[&str]) -> Run {
    let before = flush_dirs();
    let stop = Arc::new(AtomicBool::new(false));
    let scan = scan_cmdlines(secrets(sb), stop.clone());
    let router = |key: &str, port: &str| format!("{}:{}", sb.var(key), sb.var(port));
    let child = Command::new(env!("CARGO_BIN_EXE_dr-flashback"))
        .arg(verb)
        .args(["-si", &router("ROUTER_HOST", "ROUTER_PORT")])
        .args(["-ti", &router("DR_ROUTER_HOST", "DR_ROUTER_PORT")])
        .arg("--config")
        .arg(config)
        .args(extra)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dr-flashback starts");
    let run = wait_limited(child);
    stop.store(true, Ordering::Relaxed);
    if let Some(program) = scan.join().expect("the scan thread") {
        panic!("a secret appeared on the command line of a {program} process");
    }
    for s in secrets(sb) {
        assert!(
            !run.stdout.contains(&s) && !run.stderr.contains(&s),
            "a secret appeared in dr-flashback's output"
        );
    }
    let left: Vec<String> = flush_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert!(
        left.is_empty(),
        "the router's config flush was left in /tmp: {left:?}"
    );
    run
}

/// Waits for `child` (reading its output meanwhile), killing it after
/// [`RUN_LIMIT`].
fn wait_limited(mut child: std::process::Child) -> Run {
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped stdout")));
    let err = read(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for dr-flashback") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dr-flashback ran over {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Polls `ready` every 200 ms for at most 60 s.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn replicating(sb: &Sandbox, server: &Server) -> bool {
    sb.root_sql(server, "SHOW SLAVE STATUS").is_ok_and(|rows| {
        rows.first().is_some_and(|r| {
            r.get("Slave_IO_Running").is_some_and(|v| v == "Yes")
                && r.get("Slave_SQL_Running").is_some_and(|v| v == "Yes")
        })
    })
}

/// A copy of the sandbox's `dr_flashback.ini` with `[misc]` lines added.
struct Config {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn config_with(sb: &Sandbox, misc: &str) -> Config {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("dr_flashback.ini");
    let text = std::fs::read_to_string(sb.var("DR_FLASHBACK_INI")).expect("the sandbox's ini");
    std::fs::write(&path, format!("[misc]\n{misc}\n\n{text}")).expect("writing the ini");
    Config { _dir: dir, path }
}

#[test]
fn passes_on_the_sandbox() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive_use();
    let config = PathBuf::from(sb.var("DR_FLASHBACK_INI"));
    let run = verify(&sb, &config, &["-v"]);
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
        "\n[rabbit-agent]\nrabbitmq-uri = {}\n\n[adm-agent]\nport = {}\nsecret-file = {}\n",
        sb.var("RABBITMQ_URI"),
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
        "step 3: stop DR replication (on 127.0.0.30:16310)",
        "step 7: open the DR cluster read-write (on 127.0.0.30:16310)",
        "step 8: snapshot the donor for dr_0_0 (on 127.0.0.31)",
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
