//! One end of a transfer as it runs: a remote script started through a
//! transport and registered, its stdout read line by line, a tail of its
//! stderr kept for messages.

use crate::error::{Error, Result};
use crate::registry::{Registration, Registry};
use crate::report::{Line, Outcome, parse_line};
use crate::script::Script;
use futures::future::BoxFuture;
use remote::Transport;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader, Lines};

/// How much of a script's stderr is kept.
const STDERR_TAIL: usize = 2048;

/// A started, registered script.
pub(crate) struct End {
    pub transport: Arc<dyn Transport>,
    pub stages: Vec<String>,
    pub registration: Registration,
    lines: Lines<BufReader<remote::Reader>>,
    wait: Option<BoxFuture<'static, remote::Result<i32>>>,
    stderr: tokio::task::JoinHandle<String>,
}

/// How a script ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Its `R` line.
    pub outcome: Option<Outcome>,
    /// Its `E` lines and lines it should not have printed.
    pub notes: Vec<String>,
    /// The transport's view of its exit.
    pub status: std::result::Result<i32, String>,
    /// The tail of its stderr.
    pub stderr: String,
}

impl Finished {
    /// A one-line account of what went wrong, naming the failed stage.
    pub fn failure(&self, stages: &[String]) -> Option<String> {
        let tail = if self.stderr.trim().is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", one_line(&self.stderr))
        };
        if let Some(note) = self.notes.first() {
            return Some(format!("{note}{tail}"));
        }
        match (&self.outcome, &self.status) {
            (Some(o), _) => o
                .failed_stage(stages)
                .map(|(stage, code)| format!("{stage} exited {}{tail}", describe_status(code))),
            (None, Ok(code)) => Some(format!(
                "the script ended without a result (exit {}){tail}",
                describe_status(*code)
            )),
            (None, Err(e)) => Some(format!("{e}{tail}")),
        }
    }
}

/// `137 (killed by signal 9)` for the shell's 128+N convention.
fn describe_status(code: i32) -> String {
    if code > 128 && code < 160 {
        format!("{code} (killed by signal {})", code - 128)
    } else {
        code.to_string()
    }
}

/// Collapses whitespace so a stderr tail fits an error line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl End {
    /// Starts `script` on `transport` and registers it as `what`.
    pub async fn start(
        transport: &Arc<dyn Transport>,
        registry: &Registry,
        script: Script,
        what: String,
        timeout: Option<Duration>,
    ) -> Result<End> {
        let running = transport
            .spawn(&script.command, timeout)
            .await
            .map_err(|source| Error::Remote {
                host: transport.host().to_owned(),
                step: format!("starting {what}"),
                source: Box::new(source),
            })?;
        let registration = match registry.register(transport, &running.id, what.clone()) {
            Ok(r) => r,
            Err(reason) => {
                let _ = transport.kill(&running.id).await;
                return Err(Error::Stopped {
                    host: transport.host().to_owned(),
                    step: what,
                    reason,
                });
            }
        };
        let (stdout, mut stderr, wait) = running.into_parts();
        let stderr = tokio::spawn(async move {
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
            let start = tail.len().saturating_sub(STDERR_TAIL);
            String::from_utf8_lossy(&tail[start..]).into_owned()
        });
        Ok(End {
            transport: transport.clone(),
            stages: script.stages,
            registration,
            lines: BufReader::new(stdout).lines(),
            wait: Some(wait),
            stderr,
        })
    }

    /// The next stdout line (`None` at end of output).
    pub async fn next_line(&mut self) -> Option<Line> {
        match self.lines.next_line().await {
            Ok(Some(line)) => Some(parse_line(&line)),
            _ => None,
        }
    }

    /// Reads the rest of its output (progress lines go to `on_progress`)
    /// and waits for it to exit.
    pub async fn finish(&mut self, mut on_progress: impl FnMut(u64)) -> Finished {
        let mut outcome = None;
        let mut notes = Vec::new();
        while let Some(line) = self.next_line().await {
            match line {
                Line::Progress(n) => on_progress(n),
                Line::Done(o) => outcome = Some(o),
                Line::Error(e) => notes.push(e),
                Line::Started | Line::Listening => {}
                Line::Other(s) if s.is_empty() => {}
                other => notes.push(format!("unexpected output {other:?}")),
            }
        }
        let status = match self.wait.take() {
            Some(wait) => wait.await.map_err(|e| e.to_string()),
            None => Err("already waited for".to_owned()),
        };
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        Finished {
            outcome,
            notes,
            status,
            stderr,
        }
    }

    /// Kills it on its host (whole process group). Takes the end by value
    /// parts only (host, key) so no borrow of the end lives across the await.
    pub fn kill(
        &self,
        registry: &Registry,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (registry, key, host) = (
            registry.clone(),
            self.registration.key(),
            self.transport.host().to_owned(),
        );
        async move {
            if let Err(e) = registry.kill(key).await {
                tracing::warn!(%host, error = %e, "cannot kill a transfer end");
            }
        }
    }
}
