//! One run at a time per directory: [`RunLock`] holds an exclusive
//! `flock(1)` on `<dir>/.dbscale-backup.lock` on the directory's host for
//! as long as a run lasts (a backup or purge on the store, a recovery on
//! the job server's work dir).
//!
//! The lock is held by a process on that host, started through the
//! transport and kept alive until [`RunLock::release`]. When the
//! controller dies, the transports kill that process and the kernel drops
//! the lock, so a dead run never blocks the next one. The file names the
//! holder (program, host, pid, start time): a second run is refused with
//! that line, and a run that finds the name of a holder that is gone
//! takes the lock over and says so ([`Acquired::took_over`]). A clean
//! release empties the file first, so only a run that died leaves a name
//! behind.
//!
//! ```no_run
//! # async fn demo(t: std::sync::Arc<dyn remote::Transport>) -> Result<(), store::lock::LockError> {
//! use std::time::Duration;
//! use store::lock::{Owner, RunLock};
//!
//! let acquired = RunLock::acquire(t, "/data/backups", &Owner::this_process("dbbackup"), Duration::from_secs(30)).await?;
//! if let Some(dead) = &acquired.took_over {
//!     eprintln!("warning: took over the lock of a run that is gone: {dead}");
//! }
//! // ... the run ...
//! acquired.lock.release().await?;
//! # Ok(()) }
//! ```

use crate::layout::LOCK_FILE;
use remote::{Command, Running, Transport, quote};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt as _;

/// Why a run lock was not taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error(
        "{host}:{path} is locked by a run in progress: {holder} (only one run at a time; wait for it to end, or stop it)"
    )]
    Busy {
        /// The host of the locked directory.
        host: String,
        /// The lock file.
        path: String,
        /// The holder's own line: program, host, pid, start time.
        holder: String,
    },
    /// The transport failed.
    #[error("{host}: {step}: {source}")]
    Remote {
        /// The directory's host.
        host: String,
        /// What was being done.
        step: String,
        /// Why it failed.
        source: remote::Error,
    },
    /// The lock command ran but failed (no `flock`, no permission, ...).
    #[error("{host}: {step} failed: {detail}")]
    Failed {
        /// The directory's host.
        host: String,
        /// What was being done.
        step: String,
        /// What it said.
        detail: String,
    },
}

/// The exit status the holder script uses when another process holds the
/// lock (`EX_TEMPFAIL`).
const BUSY_STATUS: i32 = 75;
/// How much of the lock file is read back: one line naming a holder.
const MAX_OWNER_LINE: usize = 512;

/// Who holds a lock: written into the lock file, shown to a refused run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The program (`dbbackup`, `dbrecover`, ...).
    pub program: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it started (UTC, RFC 3339).
    pub started: String,
}

impl Owner {
    /// This process, running `program`.
    pub fn this_process(program: &str) -> Owner {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        Owner {
            program: program.to_owned(),
            host,
            pid: std::process::id(),
            started: chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        }
    }

    /// The line written into the lock file (one line, no tab or newline
    /// from the parts).
    pub fn line(&self) -> String {
        format!(
            "{} on {} (pid {}), started {}",
            self.program, self.host, self.pid, self.started
        )
        .replace(['\n', '\t', '\r'], " ")
    }
}

/// An acquired lock, and what was found in the lock file.
#[derive(Debug)]
pub struct Acquired {
    /// The lock; release it with [`RunLock::release`].
    pub lock: RunLock,
    /// The holder named in the file when it was taken: a run that ended
    /// without releasing it (killed, crashed, its host lost).
    pub took_over: Option<String>,
}

/// An exclusive lock on a directory, held by a process on its host.
#[derive(Debug)]
pub struct RunLock {
    transport: Arc<dyn Transport>,
    path: String,
    timeout: Duration,
    holder: Option<Running>,
}

impl RunLock {
    /// Takes the lock of `dir` (created if missing) on the host
    /// `transport` reaches, as `owner`, waiting at most `timeout` for the
    /// host to answer. Another live holder is [`LockError::Busy`], named.
    pub async fn acquire(
        transport: Arc<dyn Transport>,
        dir: &str,
        owner: &Owner,
        timeout: Duration,
    ) -> Result<Acquired, LockError> {
        let dir = dir.trim_end_matches('/');
        let path = format!("{dir}/{LOCK_FILE}");
        let step = format!("taking the lock {path}");
        let remote_err = |source| LockError::Remote {
            host: transport.host().to_owned(),
            step: step.clone(),
            source,
        };
        let mut running = transport
            .spawn(&Command::shell(holder_script(dir, &path, owner)), None)
            .await
            .map_err(remote_err)?;
        let first = tokio::time::timeout(timeout, read_line(&mut running.stdout)).await;
        let failed = |detail: String| LockError::Failed {
            host: transport.host().to_owned(),
            step: step.clone(),
            detail,
        };
        let line = match first {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(failed(format!("reading the holder's answer: {e}"))),
            Err(_) => {
                let _ = transport.kill(&running.id).await;
                return Err(failed(format!("no answer within {timeout:?}")));
            }
        };
        match parse_answer(&line) {
            Answer::Locked(took_over) => Ok(Acquired {
                lock: RunLock {
                    transport,
                    path,
                    timeout,
                    holder: Some(running),
                },
                took_over,
            }),
            Answer::Busy(holder) => {
                let _ = running.wait().await;
                Err(LockError::Busy {
                    host: transport.host().to_owned(),
                    path,
                    holder,
                })
            }
            Answer::Other => {
                let host = transport.host().to_owned();
                let out = running.collect(&host, "flock").await.map_err(remote_err)?;
                Err(LockError::Failed {
                    host,
                    step,
                    detail: format!(
                        "exit {}: {}",
                        out.exit_status,
                        format!("{line}\n{}", out.stderr_str()).trim()
                    ),
                })
            }
        }
    }

    /// The lock file's path on its host.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Empties the lock file (a clean end names no holder), then ends the
    /// holding process, which drops the lock.
    pub async fn release(mut self) -> Result<(), LockError> {
        let Some(holder) = self.holder.take() else {
            return Ok(());
        };
        let step = format!("releasing the lock {}", self.path);
        let cleared = self
            .transport
            .exec(
                &Command::shell(format!(": > {}", quote(&self.path))),
                self.timeout,
            )
            .await;
        let killed = self.transport.kill(&holder.id).await;
        // The holder ends by the kill; its status says nothing more.
        let _ = tokio::time::timeout(self.timeout, holder.wait()).await;
        let remote_err = |source| LockError::Remote {
            host: self.transport.host().to_owned(),
            step: step.clone(),
            source,
        };
        let out = cleared.map_err(remote_err)?;
        killed.map_err(remote_err)?;
        if out.success() {
            Ok(())
        } else {
            Err(LockError::Failed {
                host: self.transport.host().to_owned(),
                step,
                detail: format!("exit {}: {}", out.exit_status, out.stderr_str().trim()),
            })
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Not released (the run failed or was cancelled): the holder is
        // killed, and the kernel drops the lock. The file still names this
        // run, as it should for a run that did not end cleanly. Over ssh
        // and the agents dropping the running command kills it anyway; a
        // local one needs the kill.
        if let Some(holder) = self.holder.take() {
            tracing::debug!(path = %self.path, "lock dropped without release");
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let transport = Arc::clone(&self.transport);
                rt.spawn(async move {
                    let _ = transport.kill(&holder.id).await;
                    // Waiting is what carries a local kill out.
                    let _ = tokio::time::timeout(Duration::from_secs(30), holder.wait()).await;
                });
            }
        }
    }
}

/// What the holder script printed first.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Locked; the previous holder's line if the file named one.
    Locked(Option<String>),
    /// Another process holds it; its line.
    Busy(String),
    /// Anything else (an error message).
    Other,
}

fn parse_answer(line: &str) -> Answer {
    let named = |rest: &str| {
        Some(rest.trim())
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
    };
    if let Some(rest) = line.strip_prefix("LOCKED\t") {
        Answer::Locked(named(rest))
    } else if let Some(rest) = line.strip_prefix("BUSY\t") {
        Answer::Busy(named(rest).unwrap_or_else(|| "a process that did not name itself".into()))
    } else {
        Answer::Other
    }
}

/// The script that takes the lock on fd 9, prints `LOCKED\t<old holder>`
/// or `BUSY\t<holder>`, and (locked) stays alive holding it.
fn holder_script(dir: &str, path: &str, owner: &Owner) -> String {
    format!(
        "d={dir}; l={path}\n\
         mkdir -p -- \"$d\" || exit 1\n\
         exec 9>>\"$l\" || exit 1\n\
         if ! flock -n 9; then\n\
           # The holder names itself a moment after it took the lock: wait\n\
           # (bounded) for a name that stays the same.\n\
           i=0; h=\n\
           while [ $i -lt 40 ]; do\n\
             h=$(head -c {MAX_OWNER_LINE} \"$l\" | head -n 1)\n\
             if [ -n \"$h\" ]; then sleep 0.1; [ \"$h\" = \"$(head -c {MAX_OWNER_LINE} \"$l\" | head -n 1)\" ] && break; fi\n\
             sleep 0.05; i=$((i+1))\n\
           done\n\
           printf 'BUSY\\t%s\\n' \"$h\"; exit {BUSY_STATUS}\n\
         fi\n\
         old=$(head -c {MAX_OWNER_LINE} \"$l\" | head -n 1)\n\
         printf '%s\\n' {owner} > \"$l\" || exit 1\n\
         printf 'LOCKED\\t%s\\n' \"$old\"\n\
         exec sleep 2147483647",
        dir = quote(dir),
        path = quote(path),
        owner = quote(&owner.line()),
    )
}

/// Reads one line (without its newline); EOF before a newline gives what
/// was read.
async fn read_line(r: &mut remote::Reader) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() <= MAX_OWNER_LINE + 16 {
        if r.read(&mut byte).await? == 0 || byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            program: "dbbackup".into(),
            host: "ctl\n1".into(),
            pid: 42,
            started: "2026-12-04 14:00:00 UTC".into(),
        }
    }

    #[test]
    fn the_owner_line_is_one_line() {
        assert_eq!(
            owner().line(),
            "dbbackup on ctl 1 (pid 42), started 2026-12-04 14:00:00 UTC"
        );
    }

    #[test]
    fn answers_are_told_apart() {
        assert_eq!(parse_answer("LOCKED\t"), Answer::Locked(None));
        assert_eq!(
            parse_answer("LOCKED\tdbbackup on a (pid 1), started x"),
            Answer::Locked(Some("dbbackup on a (pid 1), started x".into()))
        );
        assert_eq!(
            parse_answer("BUSY\tdbbackup on b (pid 2), started y"),
            Answer::Busy("dbbackup on b (pid 2), started y".into())
        );
        assert!(matches!(parse_answer("BUSY\t"), Answer::Busy(_)));
        assert_eq!(
            parse_answer("bash: flock: command not found"),
            Answer::Other
        );
    }

    #[test]
    fn the_script_quotes_every_value() {
        let s = holder_script("/st ore", "/st ore/.l", &owner());
        assert!(s.contains("d='/st ore'; l='/st ore/.l'"), "{s}");
        assert!(s.contains("'dbbackup on ctl 1 (pid 42), started 2026-12-04 14:00:00 UTC'"));
    }

    #[tokio::test]
    async fn a_second_holder_is_refused_and_a_dead_ones_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("store");
        let d = d.to_str().unwrap();
        let t: Arc<dyn Transport> = Arc::new(remote::Local::new("localhost", 8));
        let timeout = Duration::from_secs(10);
        let first = RunLock::acquire(t.clone(), d, &owner(), timeout)
            .await
            .unwrap();
        assert_eq!(first.took_over, None);
        let second = Owner { pid: 43, ..owner() };
        match RunLock::acquire(t.clone(), d, &second, timeout).await {
            Err(LockError::Busy { holder, path, .. }) => {
                assert_eq!(holder, owner().line());
                assert!(path.ends_with("/store/.dbscale-backup.lock"), "{path}");
            }
            other => panic!("not refused: {other:?}"),
        }
        // Dropped without release: as if its run died.
        drop(first);
        let taken = acquire_within(&t, d, &second).await;
        assert_eq!(taken.took_over, Some(owner().line()));
        taken.lock.release().await.unwrap();
        // A clean release names nobody.
        let again = RunLock::acquire(t.clone(), d, &owner(), timeout)
            .await
            .unwrap();
        assert_eq!(again.took_over, None);
        again.lock.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_holder_that_has_not_named_itself_yet_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let lock = dir.path().join(LOCK_FILE);
        // Holds the lock at once, names itself 300 ms later.
        let mut holder = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 9>>'{}'; flock -n 9 || exit 1; : > '{}.held'; sleep 0.3; echo 'dbbackup on late (pid 7), started x' > '{}'; sleep 10",
                lock.display(),
                lock.display(),
                lock.display()
            ))
            .spawn()
            .unwrap();
        let held = lock.with_extension("lock.held");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !held.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the holder never took the lock"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let t: Arc<dyn Transport> = Arc::new(remote::Local::new("localhost", 8));
        let refused = RunLock::acquire(t, d, &owner(), Duration::from_secs(10)).await;
        let _ = holder.kill();
        let _ = holder.wait();
        match refused {
            Err(LockError::Busy { holder, .. }) => {
                assert_eq!(holder, "dbbackup on late (pid 7), started x");
            }
            other => panic!("not refused naming the holder: {other:?}"),
        }
    }

    /// The kernel drops a killed holder's lock a moment after the kill:
    /// retry while it is still busy, for a bounded time.
    async fn acquire_within(t: &Arc<dyn Transport>, d: &str, owner: &Owner) -> Acquired {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match RunLock::acquire(t.clone(), d, owner, Duration::from_secs(10)).await {
                Ok(a) => return a,
                Err(LockError::Busy { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
