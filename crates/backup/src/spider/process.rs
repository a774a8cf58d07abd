//! Who a worker is (pid, its start time, the host it works for) and what
//! `check` does to another worker: is it alive, stop it.

use catalog::tasks::Worker;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// A process's start time (`/proc/<pid>/stat` field 22), `None` when it
/// does not exist.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the
    // fields after it follow the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // A zombie has ended; only its parent has not reaped it yet.
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// This process as the worker of a task on `host`.
pub fn this_worker(host: &str) -> Worker {
    let pid = std::process::id();
    Worker {
        host: host.to_owned(),
        pid,
        pid_start: start_time(pid).unwrap_or(0),
    }
}

/// Whether `worker`'s process still runs (on this host): its pid exists
/// and started when the task recorded (a reused pid is another process).
pub fn alive(worker: &Worker) -> bool {
    start_time(worker.pid) == Some(worker.pid_start)
}

/// What [`stop`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running.
    Gone,
    /// It ended on SIGTERM.
    Terminated,
    /// It ended on SIGKILL after `wait` without ending.
    Killed,
    /// It still runs (not ours to signal, or it ignores SIGKILL).
    StillRunning,
}

/// Stops `worker`: SIGTERM, then SIGKILL when it has not ended within
/// `wait`. Its remote commands end with it (each transport ends a dead
/// controller's commands).
pub async fn stop(worker: &Worker, wait: Duration) -> Stopped {
    if !alive(worker) {
        return Stopped::Gone;
    }
    let Ok(raw) = i32::try_from(worker.pid) else {
        return Stopped::StillRunning;
    };
    let pid = Pid::from_raw(raw);
    if kill(pid, Signal::SIGTERM).is_err() {
        return if alive(worker) {
            Stopped::StillRunning
        } else {
            Stopped::Gone
        };
    }
    if ended_within(worker, wait).await {
        return Stopped::Terminated;
    }
    let _ = kill(pid, Signal::SIGKILL);
    if ended_within(worker, Duration::from_secs(10)).await {
        Stopped::Killed
    } else {
        Stopped::StillRunning
    }
}

async fn ended_within(worker: &Worker, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if !alive(worker) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The addresses this host answers for, to match tasks' `Host`: `explicit`
/// (`--host`) alone when given, else the server address of
/// `ssh_connection` (`$SSH_CONNECTION`: client, client port, server,
/// server port) and the addresses `hostname -I` lists.
pub fn local_addresses(explicit: Option<&str>, ssh_connection: Option<&str>) -> Vec<String> {
    if let Some(host) = explicit {
        return vec![host.to_owned()];
    }
    let mut out: Vec<String> = ssh_connection
        .and_then(|c| c.split_whitespace().nth(2))
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Ok(o) = std::process::Command::new("hostname").arg("-I").output()
        && o.status.success()
    {
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_the_worker() {
        let me = this_worker("h");
        assert!(me.pid_start > 0);
        assert!(alive(&me));
        let reused = Worker {
            pid_start: me.pid_start + 1,
            ..me.clone()
        };
        assert!(!alive(&reused));
    }

    #[tokio::test]
    async fn a_stopped_child_is_gone_and_a_gone_one_stays_gone() {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let w = Worker {
            host: "h".into(),
            pid: child.id(),
            pid_start: start_time(child.id()).unwrap(),
        };
        // Reap it as soon as it dies, or it stays a zombie (alive to /proc).
        let reaper = std::thread::spawn(move || {
            let mut child = child;
            child.wait().unwrap()
        });
        assert_eq!(stop(&w, Duration::from_secs(5)).await, Stopped::Terminated);
        assert!(!reaper.join().unwrap().success());
        assert_eq!(stop(&w, Duration::from_secs(1)).await, Stopped::Gone);
    }

    #[test]
    fn the_host_is_the_explicit_one_else_the_ssh_server_address() {
        assert_eq!(
            local_addresses(Some("10.0.0.2"), Some("1 2 3 4")),
            ["10.0.0.2"]
        );
        let found = local_addresses(None, Some("127.0.0.1 40000 127.0.0.12 2222"));
        assert_eq!(found.first().map(String::as_str), Some("127.0.0.12"));
    }
}
