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
use remote::{Command, quote};
use router::Endpoint;
use std::time::Duration;
use store::Store;

/// Where a flush in progress records the server's own
/// `innodb_max_dirty_pages_pct` (one file a server, named by it, holding
/// the value), on the store: a run killed while the server flushes leaves
/// it there, and the next run puts the value back ([`repair_left_over`]).
/// Hidden from `ls`, as the run lock is.
pub const PENDING_DIR: &str = ".dbscale-backup.flushing";

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
/// `SUPER`) is logged and the backup goes on as before. The saved value is
/// written to the store ([`PENDING_DIR`]) before the server is changed and
/// removed once it is back, so a killed run is repaired by the next.
///
/// It runs as its own task so that a cancelled backup still restores the
/// variable.
pub async fn catch_up(endpoint: &Endpoint, server: &str, store: &Store) {
    let endpoint = endpoint.clone();
    let server = server.to_owned();
    let store = store.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = flush(&endpoint, &server, &store).await {
            tracing::warn!(server = %server, error = %e, "could not make InnoDB checkpoint before the backup: an incremental on top of it copies more than it needs");
        }
    });
    let _ = task.await;
}

/// The store path recording `server`'s own value during a flush.
fn pending_path(server: &str) -> String {
    format!("{PENDING_DIR}/{server}")
}

async fn flush(
    endpoint: &Endpoint,
    server: &str,
    store: &Store,
) -> Result<(), crate::error::BackupError> {
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
    // Recorded first: without the record, a killed run would leave the
    // server flushing hard for good.
    store
        .write_file(&pending_path(server), saved.clone())
        .await?;
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
    forget(store, server).await?;
    match reached {
        Some(cp) => tracing::info!(server = %server, checkpoint = cp, "checkpoint caught up"),
        None => tracing::warn!(server = %server, target, "the checkpoint did not catch up in time"),
    }
    Ok(())
}

/// Removes `server`'s record: its own value is back.
async fn forget(store: &Store, server: &str) -> Result<(), crate::error::BackupError> {
    store
        .run(
            "removing the flush record",
            Command::new("rm")
                .arg("-f")
                .arg(store.path(&pending_path(server))),
        )
        .await?;
    Ok(())
}

/// The servers a killed run left flushing, with their own values, from
/// the store's records ([`PENDING_DIR`]).
async fn left_over(store: &Store) -> Result<Vec<(String, String)>, crate::error::BackupError> {
    let script = format!(
        "d={}; [ -d \"$d\" ] || exit 0; for f in \"$d\"/*; do [ -f \"$f\" ] && printf '%s\\t%s\\n' \"${{f##*/}}\" \"$(head -n 1 \"$f\")\"; done; exit 0",
        quote(&store.path(PENDING_DIR))
    );
    let out = store
        .run("reading the flush records", Command::shell(script))
        .await?;
    Ok(parse_left_over(&out.stdout_str()))
}

/// `server<TAB>value` lines; other lines are ignored.
fn parse_left_over(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(s, v)| !s.is_empty() && v.trim().parse::<f64>().is_ok())
        .map(|(s, v)| (s.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Puts back `innodb_max_dirty_pages_pct` on every server a killed run
/// left flushing (still at 0: a value someone set since is left alone),
/// and says so; a server that cannot be reached keeps its record for the
/// next run. Returns the warnings.
pub async fn repair_left_over(run: &crate::run::Run) -> Vec<String> {
    let records = match left_over(&run.store).await {
        Ok(r) => r,
        Err(e) => return vec![format!("cannot read the flush records on the store: {e}")],
    };
    let mut warnings = Vec::new();
    for (server, saved) in records {
        match put_back(run, &server, &saved).await {
            Ok(true) => warnings.push(format!(
                "{server}: a killed run had left innodb_max_dirty_pages_pct at 0 while flushing; put back to {saved}"
            )),
            Ok(false) => {}
            Err(e) => warnings.push(format!(
                "{server}: a killed run may have left innodb_max_dirty_pages_pct at 0 (its own value is {saved}); not repaired: {e}"
            )),
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    warnings
}

/// Sets `server`'s value back to `saved` if it is still 0; whether it did.
async fn put_back(
    run: &crate::run::Run,
    server: &str,
    saved: &str,
) -> Result<bool, crate::error::BackupError> {
    let mut c = crate::finish::server_client(run, server, "repairing a killed run's flush").await?;
    let now = sql::scalar(
        &mut c,
        "SELECT @@global.innodb_max_dirty_pages_pct AS v",
        "v",
    )
    .await?;
    let at_zero = now.parse::<f64>().is_ok_and(|v| v == 0.0);
    if at_zero {
        sql::query(
            &mut c,
            &format!("SET GLOBAL innodb_max_dirty_pages_pct = {saved}"),
        )
        .await?;
    }
    let _ = c.close().await;
    forget(&run.store, server).await?;
    Ok(at_zero)
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
    fn flush_records_are_server_and_number() {
        assert_eq!(
            parse_left_over("normal_0_1\t90.000000\nbad\tx\n\tnothing\nnormal_1_1\t75\n"),
            [
                ("normal_0_1".to_owned(), "90.000000".to_owned()),
                ("normal_1_1".to_owned(), "75".to_owned())
            ]
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
