//! Makes a server's InnoDB checkpoint catch up before its backup starts.
//!
//! mariabackup records the checkpoint at the backup's start as `to_lsn`, and
//! the next incremental must start from exactly that LSN (prepare refuses any
//! other). A quiet server with `innodb_max_dirty_pages_pct_lwm = 0` does not
//! flush, so its checkpoint stands still and every incremental re-copies all
//! pages changed since it (docs/incrementals.md). Flushing first makes
//! `to_lsn` the LSN the backup starts at; the base stays mariabackup's own, so
//! no changed page can be missed.

use crate::sql::{self, col};
use router::Endpoint;
use std::time::Duration;

/// How long to wait for the checkpoint: past it the backup goes on, only
/// larger than it could be.
const WAIT: Duration = Duration::from_secs(30);
/// How often `SHOW ENGINE INNODB STATUS` is read while waiting.
const POLL: Duration = Duration::from_millis(250);
/// Redo bytes past the checkpoint that count as caught up: a checkpoint
/// writes its own record after itself (84 bytes on 10.11), so on a quiet
/// server the LSN never equals the checkpoint; pages changed within this
/// much redo are only copied again, never missed.
const SLACK: u64 = 4096;

/// Whether the checkpoint has caught up: it reached `target` (the LSN when
/// the flush began), or it trails the current LSN by no more than [`SLACK`].
pub fn caught_up(target: u64, lsn: u64, checkpoint: u64) -> bool {
    checkpoint >= target || lsn.saturating_sub(checkpoint) <= SLACK
}

/// `Log sequence number` and `Last checkpoint at` of `SHOW ENGINE INNODB
/// STATUS`'s text, `None` when either is missing.
pub fn log_position(status: &str) -> Option<(u64, u64)> {
    let value = |label: &str| {
        status.lines().find_map(|l| {
            l.trim()
                .strip_prefix(label)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
    };
    Some((value("Log sequence number")?, value("Last checkpoint at")?))
}

async fn status(c: &mut router::Client) -> Option<(u64, u64)> {
    let rows = sql::query(c, "SHOW ENGINE INNODB STATUS").await.ok()?;
    log_position(col(rows.first()?, "Status")?)
}

/// Flushes the server's dirty pages by setting `innodb_max_dirty_pages_pct`
/// to 0 until the checkpoint reaches the LSN read at the start, then puts the
/// saved value back. Best effort: any failure (e.g. a login without
/// `SUPER`) is logged and the backup goes on as before.
///
/// It runs as its own task so that a cancelled backup still restores the
/// variable.
pub async fn catch_up(endpoint: &Endpoint, server: &str) {
    let endpoint = endpoint.clone();
    let server = server.to_owned();
    let task = tokio::spawn(async move {
        if let Err(e) = flush(&endpoint, &server).await {
            tracing::warn!(server = %server, error = %e, "could not make InnoDB checkpoint before the backup: an incremental on top of it copies more than it needs");
        }
    });
    let _ = task.await;
}

async fn flush(endpoint: &Endpoint, server: &str) -> Result<(), crate::error::BackupError> {
    let mut c = sql::connect(endpoint, server).await?;
    let Some((target, checkpoint)) = status(&mut c).await else {
        return Ok(());
    };
    if caught_up(target, target, checkpoint) {
        return Ok(());
    }
    let saved = sql::scalar(
        &mut c,
        "SELECT @@global.innodb_max_dirty_pages_pct AS v",
        "v",
    )
    .await?;
    // Only a number goes back into SQL text.
    if saved.parse::<f64>().is_err() {
        return Ok(());
    }
    tracing::info!(server = %server, innodb_max_dirty_pages_pct = %saved, "flushing dirty pages before the backup; the value is put back after");
    sql::query(&mut c, "SET GLOBAL innodb_max_dirty_pages_pct = 0").await?;
    let started = tokio::time::Instant::now();
    let mut reached = None;
    while started.elapsed() < WAIT {
        tokio::time::sleep(POLL).await;
        if let Some((lsn, cp)) = status(&mut c).await
            && caught_up(target, lsn, cp)
        {
            reached = Some(cp);
            break;
        }
    }
    let restore = format!("SET GLOBAL innodb_max_dirty_pages_pct = {saved}");
    let restored = sql::query(&mut c, &restore).await;
    if restored.is_err() {
        // The first connection may have died: the value must go back.
        let mut again = sql::connect(endpoint, server).await?;
        sql::query(&mut again, &restore).await?;
        let _ = again.close().await;
    }
    let _ = c.close().await;
    match reached {
        Some(cp) => tracing::info!(server = %server, checkpoint = cp, "checkpoint caught up"),
        None => tracing::warn!(server = %server, target, "the checkpoint did not catch up in time"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lsn_and_the_checkpoint_are_read_from_the_log_section() {
        let text = "---\nLOG\n---\nLog sequence number 55071153\nLog flushed up to   55071153\nPages flushed up to 52227927\nLast checkpoint at  52227927\n----\n";
        assert_eq!(log_position(text), Some((55071153, 52227927)));
        assert_eq!(log_position("Log sequence number 5\n"), None);
        assert_eq!(
            log_position("Log sequence number x\nLast checkpoint at 3\n"),
            None
        );
    }

    #[test]
    fn a_checkpoint_trailing_only_its_own_record_is_caught_up() {
        // Measured on a quiet 10.11 server after a flush.
        assert!(caught_up(154895207, 154895207, 154895123));
        assert!(caught_up(100, 200_000, 100));
        assert!(!caught_up(154891371, 154891371, 154787807));
        assert!(!caught_up(200_000, 200_500, 100_000));
    }
}
