//! FTWRL / BACKUP STAGE dead-lock detection (seed 000's
//! `detect_ftwrl_lock`) and the retry loop around a backup attempt.
//!
//! XtraBackup takes `FLUSH TABLES WITH READ LOCK` (or `LOCK TABLES/INSTANCE
//! FOR BACKUP`); mariabackup 10.11 takes `BACKUP STAGE ...` locks. Either
//! waits behind a long statement or a `LOCK TABLES ... WRITE`, and while
//! it waits every new write on the server queues behind it: the server
//! stalls. The seed watches the tool's log; here the server is asked
//! directly: its processlist shows the lock statement and how long it has
//! run. Past the threshold the statement is killed (`KILL QUERY`), the tool
//! fails, and the attempt is retried, up to `ftwrl-dead-lock-retry` times.

use std::future::Future;
use std::time::Duration;

use topology::Row;

/// The seed's `ftwrl-dead-lock-retry` default: attempts in all.
pub const DEFAULT_RETRY: u32 = 10;
/// The seed's `ftwrl-dead-lock-seconds` default.
pub const DEFAULT_SECONDS: u64 = 8;

/// The processlist query: running statements of other connections.
pub const PROCESSLIST_QUERY: &str = "SELECT ID, USER, TIME, INFO FROM information_schema.PROCESSLIST \
     WHERE COMMAND = 'Query' AND INFO IS NOT NULL AND ID <> CONNECTION_ID()";

/// A backup lock statement that has waited too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockWait {
    /// The connection id (`KILL QUERY <id>`).
    pub id: u64,
    /// The connection's user.
    pub user: String,
    /// How long the statement has run, in seconds.
    pub seconds: u64,
    /// The statement (first 100 characters).
    pub statement: String,
}

/// Whether `sql` is a statement a backup tool takes its lock with.
pub fn is_backup_lock_statement(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(5)
        .map(str::to_ascii_uppercase)
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["FLUSH", "TABLES", "WITH", "READ", "LOCK", ..]
            // XtraBackup's pre-flush: it waits behind long queries too.
            | ["FLUSH", "NO_WRITE_TO_BINLOG", "TABLES"]
            | ["BACKUP", "STAGE", ..]
            | ["LOCK", "TABLES", "FOR", "BACKUP", ..]
            | ["LOCK", "INSTANCE", "FOR", "BACKUP", ..]
    )
}

/// The backup lock statements in `rows` (from [`PROCESSLIST_QUERY`]) that
/// have run at least `threshold`; only those of `user` when given (so a
/// DBA's own FTWRL elsewhere is left alone).
pub fn stuck_lock_statements(
    rows: &[Row],
    threshold: Duration,
    user: Option<&str>,
) -> Vec<LockWait> {
    let text = |r: &Row, c: &str| r.column(c).flatten().unwrap_or_default().to_owned();
    rows.iter()
        .filter_map(|r| {
            let info = text(r, "INFO");
            let wait = LockWait {
                id: text(r, "ID").parse().ok()?,
                user: text(r, "USER"),
                seconds: text(r, "TIME").parse().ok()?,
                statement: info.chars().take(100).collect(),
            };
            let mine = user.is_none_or(|u| u == wait.user);
            (mine && is_backup_lock_statement(&info) && wait.seconds >= threshold.as_secs())
                .then_some(wait)
        })
        .collect()
}

/// Something that watches one server for a stuck backup lock statement.
pub trait LockWatch {
    /// `host:port` of the watched server.
    fn server(&self) -> &str;

    /// Polls until a backup lock statement has waited past the threshold,
    /// kills it and returns what was killed. Never returns otherwise
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
        let mut killed = None;
        let result = tokio::select! {
            r = &mut run => r,
            w = watch.watch() => {
                match w {
                    Ok(k) => {
                        tracing::warn!(%server, attempt = n, killed = ?k, "backup lock dead-lock: killed the waiting statement");
                        killed = Some(k);
                    }
                    Err(e) => tracing::warn!(%server, attempt = n, error = %e, "dead-lock watcher failed; the backup goes on unwatched"),
                }
                run.await
            }
        };
        match (result, killed) {
            (Ok(v), _) => return Ok(v),
            (Err(e), Some(k)) => {
                tracing::warn!(%server, attempt = n, of = attempts, error = %e, "backup attempt failed after the dead-lock kill; retrying");
                last = k.into_iter().last();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, user: &str, time: &str, info: &str) -> Row {
        Row::from_pairs([
            ("ID", Some(id)),
            ("USER", Some(user)),
            ("TIME", Some(time)),
            ("INFO", Some(info)),
        ])
    }

    #[test]
    fn recognises_lock_statements_only() {
        assert!(is_backup_lock_statement("flush tables  with read lock"));
        assert!(is_backup_lock_statement("BACKUP STAGE BLOCK_COMMIT"));
        assert!(is_backup_lock_statement("LOCK INSTANCE FOR BACKUP"));
        assert!(is_backup_lock_statement("FLUSH NO_WRITE_TO_BINLOG TABLES"));
        assert!(!is_backup_lock_statement(
            "FLUSH NO_WRITE_TO_BINLOG TABLES t1"
        ));
        assert!(!is_backup_lock_statement(
            "select 'flush tables with read lock'"
        ));
        assert!(!is_backup_lock_statement("LOCK TABLES t WRITE"));
    }

    #[test]
    fn picks_long_waits_of_the_backup_user() {
        let rows = [
            row("5", "bk", "9", "BACKUP STAGE START"),
            row("6", "bk", "2", "BACKUP STAGE FLUSH"),
            row("7", "dba", "60", "FLUSH TABLES WITH READ LOCK"),
            row("8", "bk", "99", "select sleep(100)"),
        ];
        let t = Duration::from_secs(DEFAULT_SECONDS);
        let w = stuck_lock_statements(&rows, t, Some("bk"));
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].id, w[0].seconds), (5, 9));
        assert_eq!(stuck_lock_statements(&rows, t, None).len(), 2);
    }

    struct Fake {
        kills: Vec<bool>,
        broken: bool,
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
