//! Shared helpers of the `dbbackup` end-to-end tests: a private store
//! directory and config per test, the real binary run under a process-wide
//! lock with a scan of every process's command line for secrets, a small
//! workload on the production masters, and readers of the store layout.
#![allow(clippy::unwrap_used, dead_code)]

pub mod dry_run;
pub mod layout;
pub use testkit::procs;
pub mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::poll::Poll;

use base64::Engine as _;
use testkit::Sandbox;

/// How long one dbbackup run may take before the test gives up on it.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

pub use testkit::{on_own_thread, serial, unique};

/// One test's own store directory (a subdirectory of `$STORE_DIR`) and its
/// copy of a sandbox backup config pointing there. The directory is
/// removed on drop, whatever happened.
pub struct TestStore {
    /// The store directory.
    pub dir: PathBuf,
    /// The config file the test's runs use.
    pub conf: PathBuf,
    _tmp: tempfile::TempDir,
    /// The sandbox's passwords and those the test's runs were given: none
    /// may be left in a file of the store (checked on drop).
    secrets: std::sync::Mutex<Vec<String>>,
}

impl TestStore {
    /// A store for `test`, from the sandbox config named by `conf_var`
    /// (`BACKUP_SSH_CONF`, `BACKUP_RABBIT_CONF`, `BACKUP_ADM_CONF`), with
    /// `extra` `[misc]` keys set.
    pub fn new(sb: &Sandbox, conf_var: &str, test: &str, extra: &[(&str, &str)]) -> TestStore {
        let dir = PathBuf::from(sb.var("STORE_DIR")).join(unique(&format!("e2e-{test}")));
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("backup.conf");
        let text = std::fs::read_to_string(sb.var(conf_var)).unwrap();
        let text = set_key(&text, "backup-store", "dir", &dir.display().to_string());
        std::fs::write(&conf, text).unwrap();
        let store = TestStore {
            dir,
            conf,
            _tmp: tmp,
            secrets: std::sync::Mutex::new(sandbox_secrets(sb)),
        };
        for (k, v) in extra {
            store.set(k, v);
        }
        store
    }

    /// Sets `key = value` in `[misc]` of the config.
    pub fn set(&self, key: &str, value: &str) {
        let text = std::fs::read_to_string(&self.conf).unwrap();
        std::fs::write(&self.conf, set_key(&text, "misc", key, value)).unwrap();
    }

    /// The config's text.
    pub fn conf_text(&self) -> String {
        std::fs::read_to_string(&self.conf).unwrap()
    }

    /// Runs dbbackup on this store with `args`, checking for `secrets`
    /// (besides the sandbox's own) on command lines and in the output.
    pub fn run(&self, sb: &Sandbox, args: &[&str], secrets: &[&str]) -> RunOutput {
        self.run_with_env(sb, args, &[], secrets)
    }

    /// [`TestStore::run`] with `env` set for dbbackup.
    pub fn run_with_env(
        &self,
        sb: &Sandbox,
        args: &[&str],
        env: &[(&str, &str)],
        secrets: &[&str],
    ) -> RunOutput {
        let mut argv = vec!["--config-file", self.conf.to_str().unwrap()];
        argv.extend_from_slice(args);
        if let Ok(mut known) = self.secrets.lock() {
            known.extend(secrets.iter().map(|s| (*s).to_owned()));
        }
        let witness = self.dir.display().to_string();
        run_dbbackup_with_env(sb, &argv, env, secrets, &witness)
    }

    /// Backup directory names in the store (not trash, socat_log, ...).
    pub fn backups(&self) -> Vec<String> {
        names_in(&self.dir)
            .into_iter()
            .filter(|n| n.parse::<binlog::BackupName>().is_ok())
            .collect()
    }

    /// Names in `trash/`.
    pub fn trash(&self) -> Vec<String> {
        names_in(&self.dir.join("trash"))
    }

    /// Every path under the store with its size (`None` before the store
    /// directory exists): what `--dry-run` must leave unchanged.
    pub fn snapshot(&self) -> Option<BTreeMap<String, u64>> {
        if !self.dir.exists() {
            return None;
        }
        let mut all = BTreeMap::new();
        walk(&self.dir, &self.dir, &mut all);
        Some(all)
    }
}

impl TestStore {
    /// The files of the store holding a password, but the copies of the
    /// user's own files the seed tools make (`backup.conf`, the router's
    /// `calcnode_base/dbscale.conf`), as `(file, index of the secret)`.
    fn files_holding_secrets(&self) -> Vec<(PathBuf, usize)> {
        let secrets = self.secrets.lock().map(|s| s.clone()).unwrap_or_default();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        testkit::secrets::files_holding(&[&self.dir], &secrets, |p| {
            p.ends_with("backup.conf") || p.ends_with("calcnode_base/dbscale.conf")
        })
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let found = self.files_holding_secrets();
        if let Err(e) = std::fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("could not remove {}: {e}", self.dir.display());
        }
        if !std::thread::panicking() {
            assert!(
                found.is_empty(),
                "a password was left in files of the store (file, which secret): {found:?}"
            );
        }
    }
}

/// Sorted names in `dir` (empty when it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file and directory under `dir`, relative to `root`, with sizes.
pub fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<String, u64>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            into.insert(format!("{rel}/"), 0);
            walk(root, &path, into);
        } else {
            into.insert(rel, meta.len());
        }
    }
}

pub use testkit::ini::set_key;

/// What one dbbackup run printed and how it ended.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Command lines that named the store directory while it ran (remote
    /// commands of the run: the scan saw the run's work).
    pub store_cmdlines: usize,
}

impl RunOutput {
    /// Panics with the output unless the run exited 0 and said so.
    pub fn assert_succeeded(&self) {
        assert_eq!(self.code, Some(0), "dbbackup failed:\n{self}");
        assert!(
            self.stdout.contains("cluster backup succeed"),
            "no success line:\n{self}"
        );
    }

    /// Panics unless the run failed with an `ERROR:` line containing `text`.
    pub fn assert_failed_with(&self, text: &str) {
        assert_eq!(self.code, Some(1), "expected exit 1:\n{self}");
        let error = self
            .stderr
            .lines()
            .find(|l| l.starts_with("ERROR: "))
            .unwrap_or_else(|| panic!("no ERROR: line:\n{self}"));
        assert!(error.contains(text), "ERROR line lacks {text:?}:\n{self}");
    }

    /// The backup name from the plan's first line (`backup <name> on ...`).
    pub fn backup_name(&self) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("backup "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no plan line:\n{self}"))
            .to_owned()
    }
}

impl std::fmt::Display for RunOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Every secret the sandbox hands the backup: router, login and MySQL
/// passwords (the latter also base64, as the router's config keeps it),
/// the adm-agent secret.
pub fn sandbox_secrets(sb: &Sandbox) -> Vec<String> {
    let mysql = sb.var("MYSQL_PASSWORD");
    let adm = std::fs::read_to_string(sb.var("ADM_AGENT_SECRET_FILE")).unwrap();
    vec![
        sb.var("ROUTER_PASSWORD").to_owned(),
        sb.var("LOGIN_PASSWORD").to_owned(),
        mysql.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(mysql),
        adm.trim().to_owned(),
    ]
}

pub use testkit::secrets::CmdlineScan;

/// The dbbackup binary, with stdio piped.
pub fn dbbackup_command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dbbackup"));
    c.args(args)
        .env_remove("DBBACKUP_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs dbbackup to completion (at most [`RUN_LIMIT`]) while scanning
/// command lines for the sandbox's secrets and `extra_secrets`; panics if
/// one shows up there or in the output.
pub fn run_dbbackup(
    sb: &Sandbox,
    args: &[&str],
    extra_secrets: &[&str],
    witness: &str,
) -> RunOutput {
    run_dbbackup_with_env(sb, args, &[], extra_secrets, witness)
}

/// [`run_dbbackup`] with `env` set for dbbackup.
pub fn run_dbbackup_with_env(
    sb: &Sandbox,
    args: &[&str],
    env: &[(&str, &str)],
    extra_secrets: &[&str],
    witness: &str,
) -> RunOutput {
    let mut secrets = sandbox_secrets(sb);
    secrets.extend(extra_secrets.iter().map(|s| (*s).to_owned()));
    let scan = CmdlineScan::start(secrets.clone(), Some(witness.to_owned()));
    let flushes_before = router_flushes();
    let child = dbbackup_command(args)
        .envs(env.iter().copied())
        .spawn()
        .unwrap();
    let (code, stdout, stderr) = wait_limited(child, RUN_LIMIT);
    let store_cmdlines = scan.finish();
    let left: Vec<String> = router_flushes()
        .into_iter()
        .filter(|f| !flushes_before.contains(f))
        .collect();
    assert!(
        left.is_empty(),
        "the run left the router's config flush (it holds passwords) in /tmp: {left:?}"
    );
    for s in &secrets {
        assert!(
            !stdout.contains(s.as_str()) && !stderr.contains(s.as_str()),
            "a secret appeared in dbbackup's output (args {args:?})"
        );
    }
    RunOutput {
        code,
        stdout,
        stderr,
        store_cmdlines,
    }
}

/// The router's config flushes in /tmp (the sandbox's router host is this
/// machine): dbbackup's private drop directories and the seed's file name.
fn router_flushes() -> Vec<String> {
    names_in(Path::new("/tmp"))
        .into_iter()
        .filter(|n| n.starts_with("dbbackup-router.") || n.starts_with("dbscale.conf."))
        .collect()
}

/// Waits for `child` at most `limit` (killing it then), collecting output.
pub fn wait_limited(mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let status = Poll::within(limit)
        .every(Duration::from_millis(50))
        .child("dbbackup", &mut child)
        .unwrap_or_else(|e| panic!("{e}: killed"));
    (status.code(), t_out.join().unwrap(), t_err.join().unwrap())
}

/// Polls `f` every 100 ms until it yields `Some`, at most `within`.
pub fn poll<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    Poll::within(within)
        .every(Duration::from_millis(100))
        .until(what, || Ok(f()))
        .unwrap_or_else(|e| panic!("{e}"))
}
