//! The `max-time-sec` watchdog (the seed's `timing_to_stop_backup`): while
//! a run goes on it re-reads `[misc] max-time-sec` from the configuration
//! file about every second (so an operator can lower or raise it on a
//! running job, as with the seed), and when the run has gone on that long
//! it stops the [`Registry`]: every registered remote command is killed on
//! its host and the registry's cancellation token fires with the reason
//! "reach max-time-sec".

use crate::error::{Error, StopReason};
use crate::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where the limit comes from.
#[derive(Debug, Clone)]
pub struct WatchdogConfig {
    /// The seed-format INI file to re-read (`backup.conf`).
    pub config_file: PathBuf,
    /// The limit until the file says otherwise (what the engine parsed).
    pub max_time: Duration,
    /// How often the file is re-read and the clock checked.
    pub poll: Duration,
}

impl WatchdogConfig {
    /// Re-reads `config_file` every second; `max_time` until it says otherwise.
    pub fn new(config_file: impl Into<PathBuf>, max_time: Duration) -> Self {
        Self {
            config_file: config_file.into(),
            max_time,
            poll: Duration::from_secs(1),
        }
    }
}

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
        match read_max_time(&cfg.config_file) {
            Ok(secs) => {
                let old = limit.swap(secs, Ordering::Relaxed);
                if old != secs {
                    tracing::info!(file = %cfg.config_file.display(), old, new = secs, "max-time-sec changed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, kept = limit.load(Ordering::Relaxed), "keeping the last good max-time-sec")
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

/// `[misc] max-time-sec` from the INI file at `path`, in seconds.
pub fn read_max_time(path: &Path) -> Result<u64, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        file: path.display().to_string(),
        detail: format!("cannot read: {e}"),
    })?;
    max_time_from_ini(&text).map_err(|detail| Error::Config {
        file: path.display().to_string(),
        detail,
    })
}

/// `[misc] max-time-sec` in INI text (Python configparser semantics: key
/// names are case-insensitive, `;`/`#` inside a value are not comments);
/// the value must be all digits, as the seed's `isdigit()` check.
pub fn max_time_from_ini(text: &str) -> Result<u64, String> {
    let mut ini = configparser::ini::Ini::new_cs();
    ini.set_inline_comment_symbols(Some(&[]));
    let map = ini.read(text.to_owned())?;
    let misc = map
        .get("misc")
        .ok_or_else(|| "no [misc] section".to_owned())?;
    let value = misc
        .iter()
        .find(|(k, _)| k.to_lowercase() == "max-time-sec")
        .and_then(|(_, v)| v.clone())
        .ok_or_else(|| "[misc] has no max-time-sec".to_owned())?;
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "[misc] max-time-sec = {value:?} is not a number of seconds"
        ));
    }
    value
        .parse()
        .map_err(|_| format!("[misc] max-time-sec = {value:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_time_like_the_seed() {
        let ini = "[misc]\nsocat-port = 1\nMax-Time-Sec = 45000\n[cluster]\nip = x\n";
        assert_eq!(max_time_from_ini(ini), Ok(45000));
        assert!(max_time_from_ini("[misc]\nmax-time-sec = 12s\n").is_err());
        assert!(max_time_from_ini("[misc]\nmax-time-sec = -1\n").is_err());
        assert!(max_time_from_ini("[misc]\nother = 1\n").is_err());
        assert!(max_time_from_ini("[cluster]\nmax-time-sec = 5\n").is_err());
    }

    #[tokio::test]
    async fn fires_when_the_file_lowers_the_limit_and_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.conf");
        std::fs::write(&file, "[misc]\nmax-time-sec = 3600\n").unwrap();
        let reg = Registry::new();
        let mut cfg = WatchdogConfig::new(&file, Duration::from_secs(3600));
        cfg.poll = Duration::from_millis(20);
        let dog = Watchdog::start(reg.clone(), cfg);
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(&file, "[misc]\nmax-time-sec = oops\n").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(dog.max_time_secs(), 3600);
        assert!(dog.reason().is_none());
        std::fs::write(&file, "[misc]\nmax-time-sec = 0\n").unwrap();
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
        let reg = Registry::new();
        let mut cfg = WatchdogConfig::new("/nonexistent/backup.conf", Duration::from_secs(1));
        cfg.poll = Duration::from_millis(10);
        let dog = Watchdog::start(reg.clone(), cfg);
        dog.finish().await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(reg.stop_reason().is_none());
    }
}
