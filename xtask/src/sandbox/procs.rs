//! Daemon bookkeeping: pid files, liveness, stopping, the login user.

use super::layout::LOGIN_USER;
use crate::util::{output, output_with_stdin, run, wait_for, write_file};
use anyhow::{Context, Result, anyhow};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The pid in `pidfile` if that process is alive and its command line
/// mentions `program` (so a recycled pid is never mistaken for ours).
pub fn pidfile_alive(pidfile: &Path, program: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    process_alive(pid, program).then_some(pid)
}

/// Is `pid` a live (non-zombie) process whose command line mentions `program`?
pub fn process_alive(pid: i32, program: &str) -> bool {
    running(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(program))
}

/// Is `pid` a live, non-zombie process (whatever it runs)? Used right after
/// spawning, when the pid is known to be ours.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Stops the process named by `pidfile`: SIGTERM, wait up to `grace`, then
/// SIGKILL. Nothing to do when it is not running.
pub fn stop_pidfile(pidfile: &Path, program: &str, what: &str, grace: Duration) -> Result<()> {
    let Some(pid) = pidfile_alive(pidfile, program) else {
        return Ok(());
    };
    stop_pid(pid, program, what, grace)
}

/// SIGTERM `pid`, wait up to `grace`, then SIGKILL and wait again.
pub fn stop_pid(pid: i32, program: &str, what: &str, grace: Duration) -> Result<()> {
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let gone = || Ok((!process_alive(pid, program)).then_some(()));
    if wait_for(what, grace, gone).is_ok() {
        return Ok(());
    }
    eprintln!(
        "{what} (pid {pid}) ignored SIGTERM for {}s; killing it",
        grace.as_secs()
    );
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    wait_for(what, Duration::from_secs(10), gone)
}

/// Spawns a long-running daemon in its own process group with its output in
/// `log`, records its pid in `pidfile`, and returns the pid.
pub fn spawn_daemon(cmd: &mut Command, log: &Path, pidfile: &Path) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", crate::util::describe(cmd)))?;
    let pid = i32::try_from(child.id())?;
    write_file(pidfile, &format!("{pid}\n"), 0o644)?;
    // The child outlives us; its exit status is collected by init.
    std::mem::forget(child);
    Ok(pid)
}

/// Creates the sandbox login user (home dir, bash) if missing and sets its
/// password (through chpasswd's stdin, never argv).
pub fn ensure_login_user(password: &str) -> Result<()> {
    if User::from_name(LOGIN_USER)?.is_none() {
        run(Command::new("useradd").args(["--create-home", "--shell", "/bin/bash", LOGIN_USER]))
            .with_context(|| format!("cannot create the login user {LOGIN_USER}"))?;
    }
    output_with_stdin(
        &mut Command::new("chpasswd"),
        format!("{LOGIN_USER}:{password}\n").as_bytes(),
    )
    .map(drop)
    .with_context(|| format!("cannot set the password of {LOGIN_USER}"))
}

/// Gives `path` to the login user.
pub fn chown_login_user(path: &Path) -> Result<()> {
    let user =
        User::from_name(LOGIN_USER)?.ok_or_else(|| anyhow!("user {LOGIN_USER} does not exist"))?;
    chown(path, Some(user.uid), Some(user.gid))
        .with_context(|| format!("cannot chown {} to {LOGIN_USER}", path.display()))
}

/// `ps`-style list of pids whose command line contains `needle`.
pub fn pids_matching(needle: &str) -> Vec<i32> {
    output(Command::new("pgrep").arg("-f").arg(needle))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_daemon_is_alive_at_once_and_gone_after_stop() {
        let dir = std::env::temp_dir().join(format!("xtask-procs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("sleep.pid");
        let pid = spawn_daemon(
            Command::new("sleep").arg("30"),
            &dir.join("sleep.log"),
            &pidfile,
        )
        .unwrap();
        assert!(running(pid), "the daemon is not running right after spawn");
        // Its command line: seen once in a loaded CI run as not yet `sleep`
        // right after spawn (cause not found), so a bounded wait.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pidfile_alive(&pidfile, "sleep").is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "/proc/{pid}/cmdline never showed sleep"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pidfile_alive(&pidfile, "sleep"), Some(pid));
        assert_eq!(pidfile_alive(&pidfile, "not-sleep"), None);
        stop_pidfile(&pidfile, "sleep", "sleep", Duration::from_secs(5)).unwrap();
        assert_eq!(pidfile_alive(&pidfile, "sleep"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
