//! The local transport: runs commands on this host, each in its own process
//! group, with the timeout and kill applied to the whole group, and ended
//! by a helper when this process dies (see `Lifeline`). The agents
//! (`dbagent`) run their commands through it too.

use crate::command::Command;
use crate::error::{Error, Result};
use crate::transport::{CommandId, Running, Transport};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, watch};

/// How long a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Runs commands on this host.
#[derive(Debug, Clone)]
pub struct Local {
    host: String,
    running: Arc<Mutex<HashMap<CommandId, Entry>>>,
    limit: Arc<Semaphore>,
    lifeline: Arc<Mutex<Option<Arc<Lifeline>>>>,
}

/// The shell script of a [`Lifeline`] helper: it keeps the process groups
/// named on its stdin (`+ PGID` started, `- PGID` ended) and, at EOF, ends
/// those still running (SIGTERM, SIGKILL after [`KILL_GRACE`]).
const LIFELINE_SCRIPT: &str = "while read -r op g; do case $op in \
     +) eval \"g$g=1\" ;; -) unset \"g$g\" ;; esac; done; \
     l=$(set | sed -n 's/^g\\([0-9][0-9]*\\)=.*/\\1/p'); [ -n \"$l\" ] || exit 0; \
     for g in $l; do env kill -TERM -- -\"$g\"; done 2>/dev/null; sleep \"$1\"; \
     for g in $l; do env kill -KILL -- -\"$g\"; done 2>/dev/null";

/// Ties local commands to this process: a small `sh` (its own process
/// group, so a terminal's signals leave it alone) reads the process groups
/// of running commands from a pipe only this process writes (close-on-exec,
/// so no command inherits it). When the pipe closes, because this process
/// died or dropped its [`Local`] and every [`Running`] of it, the helper
/// ends the groups still listed. One helper per [`Local`], started with
/// its first command.
struct Lifeline {
    stdin: Mutex<Option<std::process::ChildStdin>>,
    helper: Mutex<Option<std::process::Child>>,
}

impl std::fmt::Debug for Lifeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifeline").finish_non_exhaustive()
    }
}

impl Lifeline {
    fn start() -> std::io::Result<Lifeline> {
        use std::os::unix::process::CommandExt as _;
        let mut helper = std::process::Command::new("sh")
            .arg("-c")
            .arg(LIFELINE_SCRIPT)
            .arg("lifeline")
            .arg(KILL_GRACE.as_secs().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Lifeline {
            stdin: Mutex::new(helper.stdin.take()),
            helper: Mutex::new(Some(helper)),
        })
    }

    /// Tells the helper that group `pgid` started (`+`) or ended (`-`).
    /// A line is far below the pipe's buffer and the helper drains it, so
    /// the write does not block; a dead helper only costs the guarantee.
    fn note(&self, op: char, pgid: i32) {
        use std::io::Write as _;
        let mut stdin = self
            .stdin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pipe) = stdin.as_mut()
            && pipe.write_all(format!("{op} {pgid}\n").as_bytes()).is_err()
        {
            *stdin = None;
        }
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        // EOF: the helper ends what is still listed, then exits; reap it
        // off this thread.
        self.stdin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let helper = self
            .helper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut helper) = helper {
            std::thread::spawn(move || helper.wait());
        }
    }
}

#[derive(Debug)]
struct Entry {
    pgid: i32,
    /// Set when a kill was requested, so the waiter stops the group.
    kill: watch::Sender<bool>,
}

/// What a started command's end needs: its group to stop on timeout or
/// kill, its entry to remove, the lifeline to tell.
struct End {
    host: String,
    program: String,
    id: CommandId,
    pgid: i32,
    timeout: Option<Duration>,
    kill_rx: watch::Receiver<bool>,
    lifeline: Option<Arc<Lifeline>>,
    running: Arc<Mutex<HashMap<CommandId, Entry>>>,
}

impl End {
    /// Waits for `child` to exit, or stops its process group at the
    /// timeout or on kill; gives its exit code (128 + signal when killed by
    /// one) or the timeout.
    async fn wait(mut self, mut child: tokio::process::Child) -> Result<i32> {
        let pgid = self.pgid;
        let timeout = self.timeout;
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let kill_rx = &mut self.kill_rx;
        let killed = async {
            let _ = kill_rx.wait_for(|k| *k).await;
        };
        let mut timed_out = false;
        let status = tokio::select! {
            s = child.wait() => s,
            () = deadline => {
                timed_out = true;
                stop_group(pgid, &mut child).await
            }
            () = killed => stop_group(pgid, &mut child).await,
        };
        if let Some(l) = &self.lifeline {
            l.note('-', pgid);
        }
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
        let End { host, program, .. } = self;
        let status = status.map_err(|source| Error::Io {
            host: host.clone(),
            program: program.clone(),
            source,
        })?;
        if timed_out {
            tracing::warn!(%host, %program, ?timeout, "command timed out; process group killed");
            return Err(Error::Timeout {
                host,
                program,
                after: timeout.unwrap_or_default(),
            });
        }
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }
}

impl Default for Local {
    fn default() -> Self {
        Self::new("localhost", 256)
    }
}

impl Local {
    /// A local transport reporting itself as `host`, running at most
    /// `max_concurrent` commands at once (more wait for a slot).
    pub fn new(host: impl Into<String>, max_concurrent: usize) -> Self {
        Self {
            host: host.into(),
            running: Arc::default(),
            limit: Arc::new(Semaphore::new(max_concurrent.max(1))),
            lifeline: Arc::default(),
        }
    }

    /// This transport's lifeline helper, started on first use (`None`
    /// when it cannot start: commands then outlive a killed controller).
    fn lifeline(&self) -> Option<Arc<Lifeline>> {
        let mut slot = self
            .lifeline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            match Lifeline::start() {
                Ok(l) => *slot = Some(Arc::new(l)),
                Err(e) => {
                    tracing::warn!(host = %self.host, error = %e, "cannot start the local lifeline helper; commands will outlive this process");
                }
            }
        }
        slot.clone()
    }

    /// Starts `cmd` under the id `id` (agents pass the client's id).
    pub async fn spawn_with_id(
        &self,
        id: CommandId,
        cmd: &Command,
        timeout: Option<Duration>,
    ) -> Result<Running> {
        let permit = crate::transport::admit(cmd, &self.limit, &self.host, "local").await?;
        // The helper first: started after the command, it left a window
        // (its fork and exec, long on a loaded host) in which this process
        // could die with the command running and not yet listed.
        let lifeline = self.lifeline();
        let mut child = self.start_process(cmd)?;
        let pgid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| self.spawn_err(cmd, "no pid".into()))?;
        if let Some(l) = &lifeline {
            l.note('+', pgid);
        }
        let (kill_tx, kill_rx) = watch::channel(false);
        self.lock().insert(
            id.clone(),
            Entry {
                pgid,
                kill: kill_tx,
            },
        );
        if let (Some(bytes), Some(mut stdin)) = (cmd.stdin.clone(), child.stdin.take()) {
            // A command that does not read its stdin must not block us.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            });
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.spawn_err(cmd, "no pipes".into()));
        };
        let end = End {
            host: self.host.clone(),
            program: cmd.name().to_owned(),
            id: id.clone(),
            pgid,
            timeout,
            kill_rx,
            lifeline,
            running: self.running.clone(),
        };
        let wait = async move {
            let _permit = permit;
            end.wait(child).await
        };
        Ok(Running::new(
            id,
            Box::new(stdout),
            Box::new(stderr),
            Box::pin(wait),
        ))
    }

    /// The command's process, leading its own process group, its stdin
    /// piped only when it is given bytes; a program that is not there (in
    /// a working directory that is) is [`Error::NotFound`].
    fn start_process(&self, cmd: &Command) -> Result<tokio::process::Child> {
        let (program, args) = cmd.argv();
        let mut proc = tokio::process::Command::new(program);
        proc.args(args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        if let Some(dir) = &cmd.cwd {
            proc.current_dir(dir);
        }
        proc.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound
                if cmd
                    .cwd
                    .as_ref()
                    .is_none_or(|d| std::path::Path::new(d).is_dir()) =>
            {
                Error::NotFound {
                    host: self.host.clone(),
                    program: cmd.name().to_owned(),
                }
            }
            _ => self.spawn_err(cmd, e.to_string()),
        })
    }

    /// Kills the process group of a command started here.
    pub fn kill_id(&self, id: &CommandId) -> Result<()> {
        let guard = self.lock();
        let entry = guard.get(id).ok_or_else(|| Error::NoSuchCommand {
            host: self.host.clone(),
            id: id.to_string(),
        })?;
        tracing::info!(host = %self.host, %id, pgid = entry.pgid, "kill requested");
        let _ = entry.kill.send(true);
        Ok(())
    }

    /// How many commands are running.
    pub fn running_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CommandId, Entry>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn spawn_err(&self, cmd: &Command, detail: String) -> Error {
        Error::Spawn {
            host: self.host.clone(),
            program: cmd.name().to_owned(),
            detail,
        }
    }
}

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`], then reap the child.
async fn stop_group(
    pgid: i32,
    child: &mut tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
    match tokio::time::timeout(KILL_GRACE, child.wait()).await {
        Ok(status) => {
            // The leader is gone; stragglers in the group get SIGKILL.
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            status
        }
        Err(_) => {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            child.wait().await
        }
    }
}

#[async_trait::async_trait]
impl Transport for Local {
    fn host(&self) -> &str {
        &self.host
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    async fn spawn(&self, cmd: &Command, timeout: Option<Duration>) -> Result<Running> {
        self.spawn_with_id(CommandId::random(), cmd, timeout).await
    }

    async fn kill(&self, id: &CommandId) -> Result<()> {
        self.kill_id(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_alive(pgid: i32) -> bool {
        killpg(Pid::from_raw(pgid), None).is_ok()
    }

    #[tokio::test]
    async fn the_lifeline_helper_ends_what_was_left_running() {
        let local = Local::default();
        let done = local
            .exec(&Command::new("true"), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(done.success());
        let running = local
            .spawn(&Command::shell("sleep 1000 | cat"), None)
            .await
            .unwrap();
        let pgid = local.lock().get(&running.id).unwrap().pgid;
        assert!(group_alive(pgid));
        // Neither waited for nor killed: as if this process had died.
        drop(running);
        drop(local);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_alive(pgid) {
            assert!(
                std::time::Instant::now() < deadline,
                "group {pgid} outlived its lifeline"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
