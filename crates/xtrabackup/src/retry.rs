//! The retry loop around a backup attempt, raced against a watcher that
//! kills what [`crate::deadlock`] finds (seed 000's `ftwrl-dead-lock-retry`).

use std::future::Future;

use crate::deadlock::{LockWait, WaitKind};

/// Something that watches one server for a stuck backup lock statement.
pub trait LockWatch {
    /// `host:port` of the watched server.
    fn server(&self) -> &str;

    /// Polls until a statement has waited past the threshold
    /// ([`crate::stuck_statements`]), kills it and returns what was killed. Never returns otherwise
    /// (except on error): the caller races it against the backup.
    fn watch(&mut self) -> impl Future<Output = Result<Vec<LockWait>, crate::Error>> + Send;
}

/// Why [`retry_on_lock_deadlock`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    /// Every attempt ran into the dead-lock and was killed.
    #[error(
        "FTWRL/BACKUP STAGE dead-lock on {server} persisted through {attempts} attempts (last killed: {last_statement:?} after {last_seconds}s)"
    )]
    Persisted {
        /// `host:port`.
        server: String,
        /// How many attempts ran.
        attempts: u32,
        /// The statement killed last.
        last_statement: String,
        /// How long it had waited.
        last_seconds: u64,
    },
    /// An attempt failed for another reason (nothing was killed): not
    /// retried.
    #[error("backup of {server} failed on attempt {attempt}: {source}")]
    Attempt {
        /// `host:port`.
        server: String,
        /// Which attempt (1-based).
        attempt: u32,
        /// The attempt's error.
        #[source]
        source: E,
    },
}

/// Runs `attempt(n)` (n = 1, 2, ...) while `watch` looks for a stuck lock
/// statement. An attempt that succeeds ends the loop. An attempt that fails
/// after the watcher killed its lock statement is retried, up to
/// `attempts` in all (0 counts as 1); one that fails with nothing killed
/// fails at once. A watcher error only stops the watching for that
/// attempt (logged): the backup itself is not abandoned for it.
pub async fn retry_on_lock_deadlock<W, T, E, F>(
    watch: &mut W,
    attempts: u32,
    mut attempt: F,
) -> Result<T, RetryError<E>>
where
    W: LockWatch,
    F: AsyncFnMut(u32) -> Result<T, E>,
    E: std::fmt::Display,
{
    let attempts = attempts.max(1);
    let server = watch.server().to_owned();
    let mut last = None;
    for n in 1..=attempts {
        let run = attempt(n);
        tokio::pin!(run);
        // The backup's own lock statement killed in this attempt, if any.
        let mut own_kill: Option<LockWait> = None;
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                w = watch.watch() => match w {
                    Ok(k) => {
                        log_kills(&server, n, &k);
                        own_kill = k.into_iter().rfind(|w| w.kind == WaitKind::BackupLock);
                        // Only the backup's own lock statement fails the
                        // attempt; after a cycle kill it goes on, watched.
                        if own_kill.is_some() {
                            break run.await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%server, attempt = n, error = %e, "dead-lock watcher failed; the backup goes on unwatched");
                        break run.await;
                    }
                }
            }
        };
        match (result, own_kill) {
            (Ok(v), _) => return Ok(v),
            (Err(e), Some(k)) => {
                tracing::warn!(%server, attempt = n, of = attempts, error = %e, "backup attempt failed after the dead-lock kill; retrying");
                last = Some(k);
            }
            (Err(source), None) => {
                return Err(RetryError::Attempt {
                    server,
                    attempt: n,
                    source,
                });
            }
        }
    }
    let (last_statement, last_seconds) = last.map(|w| (w.statement, w.seconds)).unwrap_or_default();
    Err(RetryError::Persisted {
        server,
        attempts,
        last_statement,
        last_seconds,
    })
}

/// One warning per killed statement, saying why.
fn log_kills(server: &str, attempt: u32, killed: &[LockWait]) {
    for w in killed {
        match &w.kind {
            WaitKind::BackupLock => tracing::warn!(
                %server, attempt, id = w.id, statement = %w.statement, seconds = w.seconds,
                "backup lock dead-lock: killed the backup's waiting lock statement; the attempt fails and is retried"
            ),
            WaitKind::SetGlobalCycle { blocked } => tracing::warn!(
                %server, attempt, id = w.id, user = %w.user, statement = %w.statement, seconds = w.seconds, %blocked,
                "MariaDB global-variables dead-lock: killed another session's SET GLOBAL (it waited for the backup lock while holding the variables the backup reads); that session must run it again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Fake {
        kills: Vec<bool>,
        broken: bool,
    }

    /// A watcher that finds the `SET GLOBAL` cycle once, then nothing.
    struct CycleOnce {
        found: bool,
    }

    impl LockWatch for CycleOnce {
        fn server(&self) -> &str {
            "h:1"
        }
        async fn watch(&mut self) -> Result<Vec<LockWait>, crate::Error> {
            if std::mem::replace(&mut self.found, true) {
                std::future::pending().await
            } else {
                Ok(vec![LockWait {
                    kind: WaitKind::SetGlobalCycle {
                        blocked: "SHOW VARIABLES".into(),
                    },
                    id: 39,
                    user: "root".into(),
                    seconds: 8,
                    statement: "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos".into(),
                }])
            }
        }
    }

    #[tokio::test]
    async fn a_cycle_kill_lets_the_attempt_go_on_unretried() {
        let mut w = CycleOnce { found: false };
        let mut calls = 0;
        let r = retry_on_lock_deadlock(&mut w, 3, async |_| {
            calls += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, String>(7)
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls, 1);
        // A failure after only a cycle kill is the attempt's own: not retried.
        let mut w = CycleOnce { found: false };
        let r: Result<u32, _> = retry_on_lock_deadlock(&mut w, 3, async |_| {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<u32, _>("disk full")
        })
        .await;
        assert!(
            matches!(r, Err(RetryError::Attempt { attempt: 1, .. })),
            "{r:?}"
        );
    }

    impl LockWatch for Fake {
        fn server(&self) -> &str {
            "h:1"
        }
        async fn watch(&mut self) -> Result<Vec<LockWait>, crate::Error> {
            if self.broken {
                return Err(crate::Error::NotFound {
                    host: "h:1".into(),
                    what: "connection lost".into(),
                });
            }
            if self.kills.remove(0) {
                Ok(vec![LockWait {
                    kind: WaitKind::BackupLock,
                    id: 1,
                    user: "u".into(),
                    seconds: 8,
                    statement: "BACKUP STAGE START".into(),
                }])
            } else {
                std::future::pending().await
            }
        }
    }

    /// An attempt that fails (quickly) when the fake watcher killed it.
    async fn attempt_for(killed: bool) -> Result<u32, String> {
        if killed {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err("interrupted".into())
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(7)
        }
    }

    #[tokio::test]
    async fn retries_after_kills_then_succeeds() {
        let plan = vec![true, true, false];
        let mut w = Fake {
            kills: plan.clone(),
            broken: false,
        };
        let mut calls = 0;
        let r = retry_on_lock_deadlock(&mut w, 3, async |n| {
            calls += 1;
            attempt_for(plan[n as usize - 1]).await
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn gives_up_with_the_clear_message() {
        let mut w = Fake {
            kills: vec![true, true],
            broken: false,
        };
        let r = retry_on_lock_deadlock(&mut w, 2, async |_| attempt_for(true).await).await;
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("FTWRL/BACKUP STAGE dead-lock on h:1 persisted through 2 attempts"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn other_failures_are_not_retried() {
        let mut w = Fake {
            kills: vec![false, false],
            broken: false,
        };
        let r: Result<u32, _> =
            retry_on_lock_deadlock(&mut w, 5, async |_| Err::<u32, _>("Access denied")).await;
        match r {
            Err(RetryError::Attempt {
                attempt: 1, source, ..
            }) => assert_eq!(source, "Access denied"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_broken_watcher_leaves_the_attempt_running() {
        let mut w = Fake {
            kills: vec![],
            broken: true,
        };
        let r = retry_on_lock_deadlock(&mut w, 3, async |_| attempt_for(false).await).await;
        assert_eq!(r.unwrap(), 7);
    }
}
