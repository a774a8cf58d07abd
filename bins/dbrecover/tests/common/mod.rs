//! Shared helpers of the `dbrecover` end-to-end tests: a private store and
//! job work-dir per test (removed on drop), the real `dbbackup` and
//! `dbrecover` binaries run with a time limit, a background writer on every
//! production master, the truth read from the masters' own binlogs, and a
//! private `mariadbd` on a restored data directory.
#![allow(clippy::unwrap_used, dead_code)]

pub mod server;
pub mod truth;
pub mod workload;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use testkit::Sandbox;

/// How long one run of a binary may take before the test gives up on it.
pub const RUN_LIMIT: Duration = Duration::from_secs(240);

/// First port of the engine's temporary servers in these tests: away from
/// the default 27000 that a hand-run `dbrecover` on the sandbox uses.
pub const TMP_PORT: &str = "27400";

pub use testkit::{on_own_thread, serial, unique};

/// The `dbbackup` binary next to this crate's `dbrecover` (same target
/// directory and profile; CI builds the workspace before testing).
pub fn dbbackup_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_dbrecover")).with_file_name("dbbackup");
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p dbbackup dbcrypt`)",
        path.display()
    );
    path
}

/// What to recover to.
#[derive(Debug, Clone)]
pub enum To {
    /// `[recover-to] dir`.
    Dir(String),
    /// `[recover-to] stop-datetime`.
    Time(String),
}

/// One test's own store directory, job work-dir and scratch directory, all
/// removed on drop whatever happened.
pub struct Env {
    /// The sandbox.
    pub sb: Sandbox,
    /// The store directory (under `$STORE_DIR`).
    pub store: PathBuf,
    /// The job server's work-dir (under `$JOB_DIR`).
    pub job: PathBuf,
    /// Scratch: configs, password files, check servers.
    pub tmp: PathBuf,
    /// Backups stream through zstd (`[misc] compress = 1`).
    pub compress: bool,
    /// Each server's InnoDB checkpoint is made to catch up before its
    /// backup (`[misc] flush-before-backup = 1`).
    pub flush: bool,
    confs: AtomicUsize,
    /// The test's own secrets (encryption passwords) given to the tools.
    secrets: std::sync::Mutex<Vec<String>>,
}

impl Env {
    /// Fresh directories for `test`.
    pub fn new(sb: &Sandbox, test: &str) -> Env {
        let name = unique(&format!("rec-e2e-{test}"));
        let env = Env {
            sb: sb.clone(),
            store: PathBuf::from(sb.var("STORE_DIR")).join(&name),
            job: PathBuf::from(sb.var("JOB_DIR")).join(&name),
            tmp: std::env::temp_dir().join(&name),
            compress: false,
            flush: false,
            confs: AtomicUsize::new(0),
            secrets: std::sync::Mutex::new(Vec::new()),
        };
        std::fs::create_dir_all(&env.tmp).unwrap();
        env
    }

    /// A file in the scratch directory with `text`, mode 0600.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.tmp.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        path
    }

    /// This test's copy of `$BACKUP_SSH_CONF`, pointing at its store.
    pub fn backup_conf(&self) -> PathBuf {
        let text = std::fs::read_to_string(self.sb.var("BACKUP_SSH_CONF")).unwrap();
        let text = set_key(
            &text,
            "backup-store",
            "dir",
            &self.store.display().to_string(),
        );
        let compress = if self.compress { "1" } else { "0" };
        let text = set_key(&text, "misc", "compress", compress);
        let flush = if self.flush { "1" } else { "0" };
        let text = set_key(&text, "misc", "flush-before-backup", flush);
        self.file("backup.conf", &text)
    }

    /// A copy of the sandbox recovery config `var` (`RECOVERY_SSH_CONF`,
    /// ...) on this test's store and work-dir, recovering to `to`.
    pub fn recovery_conf(&self, var: &str, to: &To) -> PathBuf {
        let text = std::fs::read_to_string(self.sb.var(var)).unwrap();
        let text = set_key(
            &text,
            "backup-store",
            "dir",
            &self.store.display().to_string(),
        );
        let text = set_key(
            &text,
            "recovery-job-server",
            "work-dir",
            &self.job.display().to_string(),
        );
        let text = set_key(&text, "misc", "server-tmp-port", TMP_PORT);
        let text = match to {
            To::Dir(d) => set_key(&text, "recover-to", "dir", d),
            To::Time(t) => set_key(&text, "recover-to", "stop-datetime", t),
        };
        let n = self.confs.fetch_add(1, Ordering::Relaxed);
        self.file(&format!("recovery-{n}.conf"), &text)
    }

    /// Runs `dbbackup` on this store (extra `args`, e.g. `--password-file`),
    /// asserts it succeeded, and returns the new backup's name and the run's
    /// output.
    pub async fn backup(&self, args: &[&str]) -> (String, Output) {
        self.backup_with(&self.backup_conf(), args).await
    }

    /// [`Env::backup`] with the config file `conf` (one made from
    /// [`Env::backup_conf`] for another cluster).
    pub async fn backup_with(&self, conf: &Path, args: &[&str]) -> (String, Output) {
        let before = self.backups();
        let mut argv = vec!["--config-file", conf.to_str().unwrap()];
        argv.extend_from_slice(args);
        let out = run(&dbbackup_bin(), &argv).await;
        assert_eq!(out.code, Some(0), "dbbackup failed:\n{out}");
        assert!(out.stdout.contains("cluster backup succeed"), "{out}");
        let new: Vec<String> = self
            .backups()
            .into_iter()
            .filter(|b| !before.contains(b))
            .collect();
        assert_eq!(new.len(), 1, "expected one new backup, got {new:?}\n{out}");
        let name = new.into_iter().next().unwrap();
        assert!(
            self.store.join(&name).join("ok").exists(),
            "{name} has no ok"
        );
        (name, out)
    }

    /// Backup directory names on the store, sorted.
    pub fn backups(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.store)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.parse::<binlog::BackupName>().is_ok())
            .collect();
        names.sort();
        names
    }

    /// A file of a backup on the store, as text.
    pub fn store_text(&self, backup: &str, rel: &str) -> String {
        let path = self.store.join(backup).join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// Runs `dbrecover --config-file <conf> args...` (never with the
    /// caller's `DBRECOVER_PASSWORD`); the sandbox's secrets and `secrets`
    /// must not show in its output, nor `secrets` on any process's command
    /// line while it runs.
    pub async fn dbrecover(&self, conf: &Path, args: &[&str], secrets: &[&str]) -> Output {
        self.dbrecover_with_env(conf, args, secrets, &[]).await
    }

    /// [`Env::dbrecover`] with `envs` set for it (e.g. `DBRECOVER_KILL_AT`).
    pub async fn dbrecover_with_env(
        &self,
        conf: &Path,
        args: &[&str],
        secrets: &[&str],
        envs: &[(&str, &str)],
    ) -> Output {
        let mut argv = vec!["--config-file", conf.to_str().unwrap()];
        argv.extend_from_slice(args);
        let mut all = vec![
            self.sb.var("LOGIN_PASSWORD"),
            self.sb.var("MYSQL_PASSWORD"),
            self.sb.var("ROUTER_PASSWORD"),
        ];
        all.extend_from_slice(secrets);
        self.secrets
            .lock()
            .unwrap()
            .extend(secrets.iter().map(|s| (*s).to_owned()));
        // Only the test's own secrets are looked for on command lines: the
        // sandbox's are known to the other engineers' processes too.
        let own = secrets.iter().map(|s| (*s).to_owned()).collect();
        let scan = testkit::secrets::CmdlineScan::start(own, None);
        let out = run_with_env(Path::new(env!("CARGO_BIN_EXE_dbrecover")), &argv, envs).await;
        scan.finish();
        for s in all {
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s),
                "a secret appeared in dbrecover's output"
            );
        }
        out
    }

    /// The run directory of a recovery on the job server (`<work-dir>/<target>`).
    pub fn run_dir(&self, to: &To) -> PathBuf {
        match to {
            To::Dir(d) => self.job.join(d),
            To::Time(t) => self.job.join(t.replace([' ', ':', '-'], "_")),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_secret_on_disk();
        }
        for dir in [&self.store, &self.job, &self.tmp] {
            if let Err(e) = std::fs::remove_dir_all(dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                eprintln!("could not remove {}: {e}", dir.display());
            }
        }
    }
}

impl Env {
    /// What the tools left on the store and the job server holds no
    /// password but in the copies of the user's own files the seeds make
    /// (`backup.conf`, the router's `dbscale.conf`).
    fn assert_no_secret_on_disk(&self) {
        let mut secrets: Vec<String> = ["LOGIN_PASSWORD", "MYSQL_PASSWORD", "ROUTER_PASSWORD"]
            .iter()
            .map(|k| self.sb.var(k).to_owned())
            .collect();
        secrets.extend(self.secrets.lock().unwrap().iter().cloned());
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let found = testkit::secrets::files_holding(&[&self.store, &self.job], &secrets, |p| {
            p.ends_with("backup.conf") || p.ends_with("calcnode_base/dbscale.conf")
        });
        assert!(
            found.is_empty(),
            "a password was left in files on the store or job server (file, which): {found:?}"
        );
    }
}

pub use testkit::ini::set_key;

/// `<run>/datadir/<ds>-...`: the one data directory a recovery run
/// restored for datasource `ds`.
pub fn restored_datadir(run: &Path, ds: &str) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(run.join("datadir"))
        .unwrap_or_else(|e| panic!("no datadir/ in {}: {e}", run.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{ds}-"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{ds}: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// Runs a bash script on this machine, panicking with its stderr and
/// `what` when it fails.
pub fn bash(script: &str, what: &str) {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How a run of a binary ended.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Panics with the output unless the recovery exited 0 and said so.
    pub fn assert_recovered(&self) {
        assert_eq!(self.code, Some(0), "dbrecover failed:\n{self}");
        // `--json` prints the report as one document instead of the lines.
        let json = serde_json::from_str::<serde_json::Value>(&self.stdout)
            .is_ok_and(|j| j["datasources"].is_array());
        assert!(
            json || self.stdout.contains("cluster recovery succeed"),
            "no success line:\n{self}"
        );
    }

    /// The `ERROR:` line of a run that failed with exit 1.
    pub fn error_line(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected exit 1:\n{self}");
        self.stderr
            .lines()
            .find(|l| l.starts_with("ERROR: "))
            .unwrap_or_else(|| panic!("no ERROR: line:\n{self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program args...` to completion (killed after [`RUN_LIMIT`]).
pub async fn run(program: &Path, args: &[&str]) -> Output {
    run_with_env(program, args, &[]).await
}

/// [`run`] with `envs` set for the program.
pub async fn run_with_env(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("DBRECOVER_PASSWORD")
        .env_remove("DBBACKUP_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} ran over {RUN_LIMIT:?}", program.display()))
        .unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
