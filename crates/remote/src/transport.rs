//! The transport trait every way of reaching a host implements, and the
//! values it returns.

use crate::command::Command;
use crate::error::{Error, Result};
use futures::future::BoxFuture;
use std::fmt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::Instrument as _;

/// What a finished command left: its output and exit status.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit status; a command killed by signal N reports `128 + N`
    /// (the shell's convention, the same over every transport).
    pub exit_status: i32,
}

impl Output {
    /// Exit status 0?
    pub fn success(&self) -> bool {
        self.exit_status == 0
    }

    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("stdout_bytes", &self.stdout.len())
            .field("stderr", &String::from_utf8_lossy(&self.stderr))
            .field("exit_status", &self.exit_status)
            .finish()
    }
}

/// Identifies a command a transport started, so it can be killed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub String);

impl CommandId {
    /// A fresh random id (32 hex digits).
    pub fn random() -> CommandId {
        let mut b = [0u8; 16];
        // getrandom only fails without an OS entropy source; fall back to
        // time and a counter, uniqueness is all that matters here.
        if getrandom::fill(&mut b).is_err() {
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            b[..8].copy_from_slice(&n.to_le_bytes());
            b[8..].copy_from_slice(&(t as u64).to_le_bytes());
        }
        CommandId(hex::encode(b))
    }

    /// Accepts only ids made of `[0-9a-zA-Z_-]` (they become file names on
    /// the remote side), at most 64 characters.
    pub fn parse(s: &str) -> Result<CommandId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(CommandId(s.to_owned()))
        } else {
            Err(Error::Invalid {
                what: "command id".into(),
                detail: format!("{s:?} is not [0-9a-zA-Z_-]{{1,64}}"),
            })
        }
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandId({})", self.0)
    }
}

/// A boxed async reader (stdout or stderr of a running command).
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A command that is running: read its output as it comes, then wait.
///
/// Read (or drop) `stdout` and `stderr` while waiting: a command that fills
/// its pipes blocks until they are read.
pub struct Running {
    /// Its id (for [`Transport::kill`]).
    pub id: CommandId,
    /// Its stdout.
    pub stdout: Reader,
    /// Its stderr.
    pub stderr: Reader,
    wait: BoxFuture<'static, Result<i32>>,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("id", &self.id).finish()
    }
}

impl Running {
    /// Assembles a running command from its parts; `wait` resolves to the
    /// exit status (`128 + N` for signal N) or an error such as a timeout.
    pub fn new(
        id: CommandId,
        stdout: Reader,
        stderr: Reader,
        wait: BoxFuture<'static, Result<i32>>,
    ) -> Self {
        Self {
            id,
            stdout,
            stderr,
            wait,
        }
    }

    /// Its stdout, stderr and the future of its exit status.
    pub fn into_parts(self) -> (Reader, Reader, BoxFuture<'static, Result<i32>>) {
        (self.stdout, self.stderr, self.wait)
    }

    /// Waits for the exit status (output not read yet is discarded).
    pub async fn wait(self) -> Result<i32> {
        let Running {
            mut stdout,
            mut stderr,
            wait,
            ..
        } = self;
        let drain = async {
            let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
        };
        let drain_err = async {
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
        };
        let (_, _, status) = tokio::join!(drain, drain_err, wait);
        status
    }

    /// Reads all output and waits for the exit status.
    pub async fn collect(self, host: &str, program: &str) -> Result<Output> {
        let Running {
            mut stdout,
            mut stderr,
            wait,
            ..
        } = self;
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (r1, r2, status) = tokio::join!(
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err),
            wait
        );
        let status = status?;
        for r in [r1, r2] {
            r.map_err(|source| Error::Io {
                host: host.to_owned(),
                program: program.to_owned(),
                source,
            })?;
        }
        Ok(Output {
            stdout: out,
            stderr: err,
            exit_status: status,
        })
    }
}

/// One way of running commands on one host.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// The host this transport reaches (as configured).
    fn host(&self) -> &str;

    /// `local`, `ssh`, `adm-agent` or `rabbit-agent`.
    fn kind(&self) -> &'static str;

    /// Starts `cmd`; it is killed (its whole process group, on the host)
    /// when it runs longer than `timeout`, and waiting then yields
    /// [`Error::Timeout`]. It is also killed when this process dies; over
    /// ssh and the agents also when the [`Running`] is dropped before it
    /// ended (for ssh, only a command without [`Command::stdin`] bytes; a
    /// [`Local`] command once its `Local` is dropped too).
    ///
    /// [`Local`]: crate::Local
    async fn spawn(&self, cmd: &Command, timeout: Option<Duration>) -> Result<Running>;

    /// Kills (SIGTERM, then SIGKILL after a grace period) the process group
    /// of a command this transport started.
    async fn kill(&self, id: &CommandId) -> Result<()>;

    /// Runs `cmd` to completion within `timeout` and returns its output.
    async fn exec(&self, cmd: &Command, timeout: Duration) -> Result<Output> {
        let span = tracing::info_span!(
            "remote.exec",
            host = self.host(),
            transport = self.kind(),
            program = cmd.name(),
            exit_status = tracing::field::Empty,
            ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = async {
            let running = self.spawn(cmd, Some(timeout)).await?;
            running.collect(self.host(), cmd.name()).await
        }
        .instrument(span.clone())
        .await;
        span.record("ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(out) => {
                span.record("exit_status", out.exit_status);
                tracing::debug!(parent: &span, "done");
            }
            Err(e) => tracing::debug!(parent: &span, error = %e, "failed"),
        }
        result
    }

    /// A cheap liveness check: `echo 1` must print `1`.
    async fn ping(&self) -> Result<()> {
        let out = self
            .exec(&Command::new("echo").arg("1"), Duration::from_secs(30))
            .await?;
        if out.stdout == b"1\n" && out.success() {
            Ok(())
        } else {
            Err(Error::Transport {
                host: self.host().to_owned(),
                transport: self.kind(),
                program: "echo".into(),
                detail: format!(
                    "ping answered {:?} (exit {})",
                    out.stdout_str(),
                    out.exit_status
                ),
            })
        }
    }
}

/// Checks `cmd` and waits for one of the transport's concurrency slots.
pub(crate) async fn admit(
    cmd: &Command,
    limit: &std::sync::Arc<tokio::sync::Semaphore>,
    host: &str,
    kind: &'static str,
) -> Result<tokio::sync::OwnedSemaphorePermit> {
    cmd.validate().map_err(|detail| Error::Invalid {
        what: format!("command {}", cmd.name()),
        detail,
    })?;
    limit
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::Transport {
            host: host.to_owned(),
            transport: kind,
            program: cmd.name().to_owned(),
            detail: "the transport is closed".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_safe() {
        let a = CommandId::random();
        assert_ne!(a, CommandId::random());
        assert!(CommandId::parse(&a.0).is_ok());
        assert!(CommandId::parse("../x").is_err());
        assert!(CommandId::parse("").is_err());
    }
}
