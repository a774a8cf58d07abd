//! What the sandbox tests of dr-flashback share: running the binary with
//! a limit while every command line is scanned for the sandbox's secrets,
//! bounded waits, config copies.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{Sandbox, Server};

/// A run may take this long at most (a frozen server costs the router's
/// probe timeout and ours).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// How one run ended.
pub struct Run {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The `FAIL` lines of `check`.
    pub fn failed_lines(&self, check: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL  ") && l.contains(check))
            .collect()
    }

    /// The `ERROR:` line.
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.starts_with("ERROR: "))
            .unwrap_or_else(|| panic!("no ERROR: line\n{self}"))
    }

    /// `--json`: the failure kinds of the checks named `name`.
    pub fn failure_kinds(&self, name: &str) -> Vec<String> {
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

/// The sandbox's secrets verify handles: the agents' secrets, the routers'
/// admin password, the ssh login's, the dataservers' (also base64, as the flushed config has it).
pub fn secrets(sb: &Sandbox) -> Vec<String> {
    use base64::Engine as _;
    let mysql = sb.var("MYSQL_PASSWORD");
    let adm = std::fs::read_to_string(sb.var("ADM_AGENT_SECRET_FILE")).expect("the adm secret");
    let rabbit =
        std::fs::read_to_string(sb.var("RABBIT_AGENT_SECRET_FILE")).expect("the rabbit secret");
    vec![
        adm.trim().to_owned(),
        rabbit.trim().to_owned(),
        sb.var("ROUTER_PASSWORD").to_owned(),
        sb.var("LOGIN_PASSWORD").to_owned(),
        mysql.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(mysql),
    ]
}

/// The flush directories verify makes on the router hosts (here: /tmp).
pub fn flush_dirs() -> Vec<String> {
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
pub fn verify(sb: &Sandbox, config: &Path, extra: &[&str]) -> Run {
    dr_flashback(sb, "verify", config, extra)
}

/// Runs `dr-flashback VERB` against the sandbox's routers with `config`
/// and `extra` arguments; panics on a secret in any argv or the output, or
/// a router flush left behind.
pub fn dr_flashback(sb: &Sandbox, verb: &str, config: &Path, extra: &[&str]) -> Run {
    dr_flashback_with(sb, verb, config, extra, &[])
}

/// [`dr_flashback`] with extra environment variables.
pub fn dr_flashback_with(
    sb: &Sandbox,
    verb: &str,
    config: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    spawn_dr_flashback(sb, verb, config, extra, env).wait(sb)
}

/// The command line of a `dr-flashback VERB` run against the sandbox's
/// routers, its output piped.
fn command(
    sb: &Sandbox,
    verb: &str,
    config: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let router = |key: &str, port: &str| format!("{}:{}", sb.var(key), sb.var(port));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dr-flashback"));
    cmd.arg(verb)
        .args(["-si", &router("ROUTER_HOST", "ROUTER_PORT")])
        .args(["-ti", &router("DR_ROUTER_HOST", "DR_ROUTER_PORT")])
        .arg("--config")
        .arg(config)
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `run`, once no secret is in its output and no router flush newer than
/// `before` is left.
fn checked(sb: &Sandbox, run: Run, before: &[String]) -> Run {
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

/// A `dr-flashback` run going on, its standard error read line by line
/// as it comes, every command line scanned for the sandbox's secrets.
pub struct InFlight {
    child: std::process::Child,
    scan: testkit::secrets::CmdlineScan,
    flushes_before: Vec<String>,
    stderr: std::sync::mpsc::Receiver<String>,
    stderr_seen: String,
    stdout: std::thread::JoinHandle<String>,
}

/// Starts `dr-flashback VERB` as [`dr_flashback_with`] does, without
/// waiting for it.
pub fn spawn_dr_flashback(
    sb: &Sandbox,
    verb: &str,
    config: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> InFlight {
    use std::io::{BufRead as _, Read as _};
    let flushes_before = flush_dirs();
    let scan = testkit::secrets::CmdlineScan::start(secrets(sb), None);
    let mut child = command(sb, verb, config, extra, env)
        .spawn()
        .expect("dr-flashback starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = child.stderr.take().expect("piped stderr");
    let (tx, stderr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    InFlight {
        child,
        scan,
        flushes_before,
        stderr,
        stderr_seen: String::new(),
        stdout,
    }
}

impl InFlight {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most [`RUN_LIMIT`]) for a line of its standard error that
    /// holds `needle`; false if it ended or the time ran out first.
    pub fn wait_for_stderr(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + RUN_LIMIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr_seen.push_str(&line);
                    self.stderr_seen.push('\n');
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|s| s.is_none())
    }

    /// Waits until it ends, killing it after [`RUN_LIMIT`]; how it ended
    /// (checked as [`dr_flashback`] checks a run).
    pub fn wait(mut self, sb: &Sandbox) -> Run {
        let status = testkit::poll::Poll::within(RUN_LIMIT)
            .every(Duration::from_millis(50))
            .child("dr-flashback", &mut self.child)
            .unwrap_or_else(|e| panic!("{e}: killed"));
        self.ended(sb, status)
    }

    /// SIGKILL; how it ended (checked as [`dr_flashback`] checks a run).
    pub fn kill(mut self, sb: &Sandbox) -> Run {
        let _ = self.child.kill();
        let status = self.child.wait().expect("waiting for dr-flashback");
        self.ended(sb, status)
    }

    fn ended(mut self, sb: &Sandbox, status: std::process::ExitStatus) -> Run {
        self.scan.finish();
        // The reader ends with the pipe, once every process holding it
        // (the run's own children) is gone: bounded.
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push_str(&line);
                    self.stderr_seen.push('\n');
                }
                Err(_) => break,
            }
        }
        let run = Run {
            code: status.code(),
            stdout: self.stdout.join().expect("stdout reader"),
            stderr: self.stderr_seen,
        };
        checked(sb, run, &self.flushes_before)
    }
}

/// Polls `ready` every 200 ms for at most 60 s.
pub fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    testkit::poll::Poll::within(Duration::from_secs(60)).wait(what, ready);
}

pub fn replicating(sb: &Sandbox, server: &Server) -> bool {
    sb.root_sql(server, "SHOW SLAVE STATUS").is_ok_and(|rows| {
        rows.first().is_some_and(|r| {
            r.get("Slave_IO_Running").is_some_and(|v| v == "Yes")
                && r.get("Slave_SQL_Running").is_some_and(|v| v == "Yes")
        })
    })
}

/// A copy of the sandbox's `dr_flashback.ini` with `[misc]` lines added.
pub struct Config {
    _dir: tempfile::TempDir,
    /// The file.
    pub path: PathBuf,
}

pub fn config_with(sb: &Sandbox, misc: &str) -> Config {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("dr_flashback.ini");
    let text = std::fs::read_to_string(sb.var("DR_FLASHBACK_INI")).expect("the sandbox's ini");
    // Into the sandbox ini's own [misc] (a second one would be a duplicate
    // section), or a new one.
    let text = if text.contains("[misc]\n") {
        text.replacen("[misc]\n", &format!("[misc]\n{misc}\n"), 1)
    } else {
        format!("[misc]\n{misc}\n\n{text}")
    };
    std::fs::write(&path, text).expect("writing the ini");
    Config { _dir: dir, path }
}
