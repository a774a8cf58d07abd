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

/// The sandbox's secrets verify handles: the adm-agent secret, the routers'
/// admin password, the ssh login's, the dataservers' (also base64, as the flushed config has it).
pub fn secrets(sb: &Sandbox) -> Vec<String> {
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
    let before = flush_dirs();
    let scan = testkit::secrets::CmdlineScan::start(secrets(sb), None);
    let router = |key: &str, port: &str| format!("{}:{}", sb.var(key), sb.var(port));
    let child = Command::new(env!("CARGO_BIN_EXE_dr-flashback"))
        .arg(verb)
        .args(["-si", &router("ROUTER_HOST", "ROUTER_PORT")])
        .args(["-ti", &router("DR_ROUTER_HOST", "DR_ROUTER_PORT")])
        .arg("--config")
        .arg(config)
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dr-flashback starts");
    let run = wait_limited(child);
    scan.finish();
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
pub fn wait_limited(mut child: std::process::Child) -> Run {
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
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
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
