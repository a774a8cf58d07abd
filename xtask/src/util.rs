//! Small process, file and polling helpers shared by the xtask commands.

use anyhow::{Context, Result, anyhow, bail};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The cargo that runs us (so `cargo xtask` uses the pinned toolchain).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// The path of a workspace binary (`dbscale-sim`, `dbagent`, ...), after
/// building the workspace once per xtask run. The whole workspace is built
/// with every target, exactly as `cargo xtask ci` and `cargo test` build it:
/// building one package alone unifies dependency features differently and
/// would recompile half the dependency tree.
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    static BUILT: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| build_workspace().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))?;
    Ok(target_dir().join("debug").join(name))
}

/// `cargo build --workspace --all-targets`.
pub fn build_workspace() -> Result<()> {
    run(cargo().args(["build", "--workspace", "--all-targets"]))
        .context("cannot build the workspace")
}

/// Runs `cmd`, inheriting stdio, and fails naming the command if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` with `stdin` fed in, capturing output; fails with its stderr.
pub fn output_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Result<String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin)
            .with_context(|| format!("cannot write to {}", describe(cmd)))?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` capturing stdout; fails with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    output_with_stdin(cmd, b"")
}

/// `program args...` for messages (arguments never hold secrets here).
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Is `program` on PATH (or an existing path)?
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Polls `probe` every 50 ms until it returns `Some`, or fails after `limit`
/// with `what` in the message. `probe` may return an error to stop early
/// (e.g. the daemon died).
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {}s waiting for {what}", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails naming the address if something already listens on `addr`.
pub fn ensure_port_free(addr: SocketAddr, owner: &str) -> Result<()> {
    TcpListener::bind(addr).map(drop).map_err(|e| {
        anyhow!("{addr} is needed for {owner} but is already taken ({e}); stop what holds it (see `ss -ltnp 'sport = :{}'`) or change the sandbox ports", addr.port())
    })
}

/// Writes `contents` to `path` with permission `mode` (its parent made if
/// missing).
pub fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Created with its mode, so a secret is never readable by others even
    // for a moment; an existing file gets the mode after.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A random password of `len` letters and digits.
pub fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// The current UTC time formatted by `date -u +FORMAT` (no date crate
/// needed for the few places that stamp benchmark results); `?` if `date`
/// fails.
pub fn utc_now(format: &str) -> String {
    output(Command::new("date").arg("-u").arg(format!("+{format}")))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Last `n` lines of a log file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Sends `cmd`'s stdout and stderr to `log` (created or truncated).
pub fn output_to_log(cmd: &mut Command, log: &Path) -> Result<()> {
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone().context("cannot share the log file")?;
    cmd.stdout(out).stderr(err);
    Ok(())
}
/// Calls `f` on every item, `at_once` at a time, in the items' order; the
/// results in the order the calls finished.
pub fn each_in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    at_once: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(items));
    let results = std::sync::Mutex::new(Vec::new());
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    std::thread::scope(|scope| {
        for _ in 0..at_once.max(1) {
            scope.spawn(|| {
                while let Some(item) = next() {
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_in_parallel_calls_every_item_once() {
        let mut done = each_in_parallel((0..20).collect(), 3, |i| i * 2);
        done.sort_unstable();
        assert_eq!(done, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(each_in_parallel(vec![1], 0, |i| i), [1]);
    }

    #[test]
    fn each_in_parallel_runs_at_once_calls_together() {
        // Each call waits (bounded) for the other to arrive: one at a time,
        // the first would give up and say so.
        let arrived = (std::sync::Mutex::new(0), std::sync::Condvar::new());
        let met = each_in_parallel(vec![(); 2], 2, |()| {
            let (count, cv) = &arrived;
            let mut n = count.lock().unwrap();
            *n += 1;
            cv.notify_all();
            let (n, timeout) = cv
                .wait_timeout_while(n, Duration::from_secs(10), |n| *n < 2)
                .unwrap();
            drop(n);
            !timeout.timed_out()
        });
        assert_eq!(met, [true, true]);
    }

    #[test]
    fn quotes_single_quotes() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn passwords_are_random_and_sized() {
        let a = random_password(20).unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, random_password(20).unwrap());
    }
}

/// Writes a copy of the seed-format config `from` to `to` (mode 0600) with
/// every line that starts with one of the `edits`' prefixes replaced by
/// that edit's line; other lines are kept as they are.
pub fn derive_conf(from: &Path, to: &Path, edits: &[(&str, String)]) -> Result<()> {
    let text =
        std::fs::read_to_string(from).with_context(|| format!("cannot read {}", from.display()))?;
    let text: String = text
        .lines()
        .map(|l| {
            edits
                .iter()
                .find(|(prefix, _)| l.starts_with(prefix))
                .map_or(l, |(_, line)| line.as_str())
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    write_file(to, &text, 0o600)
}

/// Runs example `example` of package `package` (release build) with stderr
/// shown and returns its stdout, trimmed; `hint` ends the error when it
/// fails (what to check).
pub fn run_example(package: &str, example: &str, hint: &str) -> Result<String> {
    let out = cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            package,
            "--example",
            example,
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run example {example} of {package}"))?;
    if !out.status.success() {
        bail!(
            "example {example} of {package} failed ({}); {hint}",
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod derive_conf_tests {
    use super::*;

    #[test]
    fn replaces_only_lines_with_a_listed_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a.conf");
        let to = dir.path().join("b.conf");
        std::fs::write(&from, "[s]\ndir = /old\n# stop-datetime = x\nkeep = 1").unwrap();
        derive_conf(
            &from,
            &to,
            &[
                ("dir = ", "dir = /new".to_owned()),
                ("# stop-datetime = ", "stop-datetime = y".to_owned()),
            ],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&to).unwrap(),
            "[s]\ndir = /new\nstop-datetime = y\nkeep = 1\n"
        );
    }
}
