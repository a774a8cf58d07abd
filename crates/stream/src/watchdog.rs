//! The `max-time-sec` watchdog (the seed's `timing_to_stop_backup`): while
//! a run goes on it re-reads `[misc] max-time-sec` from the configuration
//! file about every second (so an operator can lower or raise it on a
//! running job, as with the seed), and when the run has gone on that long
//! it stops the [`Registry`]: every registered remote command is killed on
//! its host and the registry's cancellation token fires with the reason
//! "reach max-time-sec".

use crate::error::StopReason;
use crate::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Re-reads the limit in seconds (`None`: no limit), or says why it could
/// not; the caller builds it from its own config reader.
pub type Reread = Arc<dyn Fn() -> Result<Option<u64>, String> + Send + Sync>;

/// Where the limit comes from.
#[derive(Clone)]
pub struct WatchdogConfig {
    /// What is re-read, for the log (the config file's path).
    pub source: String,
    /// Re-reads the limit.
    pub reread: Reread,
    /// The limit until a re-read says otherwise (what the engine parsed).
    pub max_time: Duration,
    /// How often the limit is re-read and the clock checked.
    pub poll: Duration,
}

impl std::fmt::Debug for WatchdogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchdogConfig")
            .field("source", &self.source)
            .field("max_time", &self.max_time)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl WatchdogConfig {
    /// Calls `reread` every second; `max_time` until it says otherwise.
    pub fn new(source: impl Into<String>, max_time: Duration, reread: Reread) -> Self {
        Self {
            source: source.into(),
            reread,
            max_time,
            poll: Duration::from_secs(1),
        }
    }
}

/// "No limit" as seconds: a century.
const UNLIMITED_SECS: u64 = 100 * 365 * 24 * 3600;

/// A running watchdog; dropping it (or [`Watchdog::finish`]) stops watching
/// without killing anything.
#[derive(Debug)]
pub struct Watchdog {
    registry: Registry,
    limit: Arc<AtomicU64>,
    done: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching a run that starts now.
    pub fn start(registry: Registry, cfg: WatchdogConfig) -> Watchdog {
        Self::start_at(registry, cfg, Instant::now())
    }

    /// Starts watching a run that started at `started`.
    pub fn start_at(registry: Registry, cfg: WatchdogConfig, started: Instant) -> Watchdog {
        let limit = Arc::new(AtomicU64::new(cfg.max_time.as_secs()));
        let done = CancellationToken::new();
        let task = tokio::spawn(watch(
            registry.clone(),
            cfg,
            started,
            limit.clone(),
            done.clone(),
        ));
        Watchdog {
            registry,
            limit,
            done,
            task: Some(task),
        }
    }

    /// Cancelled when the run is stopped (by this watchdog or by
    /// [`Watchdog::fail`]).
    pub fn token(&self) -> CancellationToken {
        self.registry.token()
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        self.registry.stop_reason()
    }

    /// The limit in force now, in seconds.
    pub fn max_time_secs(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Another step failed: stop the run now (the seed's
    /// `backup_get_execption`), killing every registered command.
    pub async fn fail(&self, step: impl Into<String>) {
        self.registry
            .stop(StopReason::StepFailed(step.into()))
            .await;
    }

    /// The run is over (the seed's `mark_ok_flag`): stop watching.
    pub async fn finish(mut self) {
        self.done.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.cancel();
    }
}

async fn watch(
    registry: Registry,
    cfg: WatchdogConfig,
    started: Instant,
    limit: Arc<AtomicU64>,
    done: CancellationToken,
) {
    let stopped = registry.token();
    loop {
        match (cfg.reread)() {
            Ok(secs) => {
                let secs = secs.unwrap_or(UNLIMITED_SECS);
                let old = limit.swap(secs, Ordering::Relaxed);
                if old != secs {
                    tracing::info!(source = %cfg.source, old, new = secs, "max-time-sec changed");
                }
            }
            Err(e) => {
                tracing::warn!(source = %cfg.source, error = %e, kept = limit.load(Ordering::Relaxed), "keeping the last good max-time-sec")
            }
        }
        let limit_secs = limit.load(Ordering::Relaxed);
        let elapsed = started.elapsed();
        if elapsed >= Duration::from_secs(limit_secs) {
            registry
                .stop(StopReason::MaxTime {
                    limit_secs,
                    elapsed_secs: elapsed.as_secs(),
                })
                .await;
            return;
        }
        tokio::select! {
            () = done.cancelled() => return,
            () = stopped.cancelled() => return,
            () = tokio::time::sleep(cfg.poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    type Answer = Arc<Mutex<Result<Option<u64>, String>>>;

    /// A re-read that answers what the test sets, counting the calls.
    fn scripted(first: Result<Option<u64>, String>) -> (Reread, Answer, Arc<AtomicUsize>) {
        let answer = Arc::new(Mutex::new(first));
        let calls = Arc::new(AtomicUsize::new(0));
        let (a, c) = (answer.clone(), calls.clone());
        let reread: Reread = Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
            a.lock().map_err(|e| e.to_string())?.clone()
        });
        (reread, answer, calls)
    }

    /// Waits (bounded) until the re-read ran `n` more times.
    async fn rereads(calls: &AtomicUsize, n: usize) {
        let target = calls.load(Ordering::SeqCst) + n;
        tokio::time::timeout(Duration::from_secs(5), async {
            while calls.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn fires_when_the_limit_is_lowered_and_keeps_the_last_good_value() {
        let (reread, answer, calls) = scripted(Ok(Some(3600)));
        let reg = Registry::new();
        let mut cfg = WatchdogConfig::new("backup.conf", Duration::from_secs(3600), reread);
        cfg.poll = Duration::from_millis(20);
        let dog = Watchdog::start(reg.clone(), cfg);
        rereads(&calls, 1).await;
        *answer.lock().unwrap() = Err("[misc] max-time-sec: \"oops\" is not a number".into());
        rereads(&calls, 2).await;
        assert_eq!(dog.max_time_secs(), 3600);
        assert!(dog.reason().is_none());
        *answer.lock().unwrap() = Ok(None);
        rereads(&calls, 2).await;
        assert_eq!(dog.max_time_secs(), UNLIMITED_SECS, "no limit");
        *answer.lock().unwrap() = Ok(Some(0));
        tokio::time::timeout(Duration::from_secs(5), dog.token().cancelled())
            .await
            .unwrap();
        match dog.reason() {
            Some(r @ StopReason::MaxTime { limit_secs: 0, .. }) => {
                assert!(r.to_string().starts_with("reach max-time-sec"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn finish_stops_watching_without_stopping_the_run() {
        let (reread, answer, calls) = scripted(Ok(Some(3600)));
        let reg = Registry::new();
        let mut cfg = WatchdogConfig::new("backup.conf", Duration::from_secs(3600), reread);
        cfg.poll = Duration::from_millis(10);
        let dog = Watchdog::start(reg.clone(), cfg);
        rereads(&calls, 1).await;
        dog.finish().await;
        let after = calls.load(Ordering::SeqCst);
        *answer.lock().unwrap() = Ok(Some(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(calls.load(Ordering::SeqCst), after, "still re-reading");
        assert!(reg.stop_reason().is_none());
    }
}
