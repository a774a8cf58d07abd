//! FTWRL / BACKUP STAGE dead-lock detection (seed 000's
//! `detect_ftwrl_lock`): which statements to kill; [`crate::retry`] runs
//! the backup attempts around it.
//!
//! XtraBackup takes `FLUSH TABLES WITH READ LOCK` (or `LOCK TABLES/INSTANCE
//! FOR BACKUP`); mariabackup 10.11 takes `BACKUP STAGE ...` locks. Either
//! waits behind a long statement or a `LOCK TABLES ... WRITE`, and while
//! it waits every new write on the server queues behind it: the server
//! stalls. The seed watches the tool's log; here the server is asked
//! directly: its processlist shows the lock statement and how long it has
//! run. Past the threshold the statement is killed (`KILL QUERY`), the tool
//! fails, and the attempt is retried, up to `ftwrl-dead-lock-retry` times.
//!
//! MariaDB 10.11 has a second dead-lock no timeout ends: a `SET GLOBAL
//! gtid_slave_pos` (a switchover turning the backed-up master into a
//! replica) run while mariabackup holds `BACKUP STAGE BLOCK_COMMIT` waits
//! for the backup lock *holding the global variables lock*, and
//! mariabackup's next `SHOW VARIABLES` waits for that lock in a mutex,
//! where `KILL` cannot reach it. The only statement of the cycle a kill
//! ends is the `SET`: it is killed (its session gets "Query execution was
//! interrupted" and may run it again) and the backup goes on unretried.

use std::time::Duration;

use topology::Row;

/// The seed's `ftwrl-dead-lock-retry` default: attempts in all.
pub const DEFAULT_RETRY: u32 = 10;
/// The seed's `ftwrl-dead-lock-seconds` default.
pub const DEFAULT_SECONDS: u64 = 8;

/// The processlist query: running statements of other connections.
pub const PROCESSLIST_QUERY: &str = "SELECT ID, USER, TIME, STATE, INFO FROM information_schema.PROCESSLIST \
     WHERE COMMAND = 'Query' AND INFO IS NOT NULL AND ID <> CONNECTION_ID()";

/// Why a statement is killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitKind {
    /// The backup's own lock statement, waiting behind another session:
    /// killing it fails the attempt, which is retried.
    BackupLock,
    /// A `SET GLOBAL` waiting for the backup lock while the backup's own
    /// statement (`blocked`) waits for the global variables lock the `SET`
    /// holds: killing the `SET` lets the backup go on.
    SetGlobalCycle {
        /// The backup's statement it held up (first 100 characters).
        blocked: String,
    },
}

/// A statement that has waited too long and is (to be) killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockWait {
    /// Why it is killed.
    pub kind: WaitKind,
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
                kind: WaitKind::BackupLock,
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

/// The state of a statement reading the server's variables
/// (`SHOW VARIABLES`, `information_schema` tables).
const FILLING_SCHEMA_TABLE: &str = "Filling schema table";
/// The state of a statement waiting for `BACKUP STAGE`'s lock.
const WAITING_FOR_BACKUP_LOCK: &str = "Waiting for backup lock";

/// Whether `sql` sets a global variable (`SET GLOBAL ...`,
/// `SET @@global....`).
pub fn is_set_global(sql: &str) -> bool {
    let upper = sql.trim_start().to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix("SET") else {
        return false;
    };
    rest.starts_with(char::is_whitespace)
        && (rest.split_whitespace().any(|w| w == "GLOBAL") || rest.contains("@@GLOBAL."))
}

/// The `SET GLOBAL` statements in `rows` that hold up a backup: each has
/// waited at least `threshold` for the backup lock while a statement of
/// `user` (any user when `None`) has read variables for at least
/// `threshold` (see the module docs). Empty unless both sides are there.
pub fn stuck_set_global_cycle(
    rows: &[Row],
    threshold: Duration,
    user: Option<&str>,
) -> Vec<LockWait> {
    let text = |r: &Row, c: &str| r.column(c).flatten().unwrap_or_default().to_owned();
    let long = |r: &Row| {
        text(r, "TIME")
            .parse::<u64>()
            .is_ok_and(|t| t >= threshold.as_secs())
    };
    let Some(blocked) = rows.iter().find(|r| {
        long(r)
            && text(r, "STATE") == FILLING_SCHEMA_TABLE
            && user.is_none_or(|u| u == text(r, "USER"))
    }) else {
        return Vec::new();
    };
    let blocked_statement: String = text(blocked, "INFO").chars().take(100).collect();
    rows.iter()
        .filter(|r| {
            long(r)
                && text(r, "STATE") == WAITING_FOR_BACKUP_LOCK
                && is_set_global(&text(r, "INFO"))
        })
        .filter_map(|r| {
            Some(LockWait {
                kind: WaitKind::SetGlobalCycle {
                    blocked: blocked_statement.clone(),
                },
                id: text(r, "ID").parse().ok()?,
                user: text(r, "USER"),
                seconds: text(r, "TIME").parse().ok()?,
                statement: text(r, "INFO").chars().take(100).collect(),
            })
        })
        .collect()
}

/// Every statement [`crate::LockWatch`] kills: [`stuck_lock_statements`] and
/// [`stuck_set_global_cycle`].
pub fn stuck_statements(rows: &[Row], threshold: Duration, user: Option<&str>) -> Vec<LockWait> {
    let mut waits = stuck_lock_statements(rows, threshold, user);
    waits.extend(stuck_set_global_cycle(rows, threshold, user));
    waits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, user: &str, time: &str, info: &str) -> Row {
        row_in(id, user, time, "executing", info)
    }

    fn row_in(id: &str, user: &str, time: &str, state: &str, info: &str) -> Row {
        Row::from_pairs([
            ("ID", Some(id)),
            ("USER", Some(user)),
            ("TIME", Some(time)),
            ("STATE", Some(state)),
            ("INFO", Some(info)),
        ])
    }

    #[test]
    fn recognises_set_global() {
        assert!(is_set_global("SET GLOBAL gtid_slave_pos = '0-1-2'"));
        assert!(is_set_global("set  global read_only=1"));
        assert!(is_set_global(
            "SET @@global.gtid_slave_pos = @@gtid_binlog_pos"
        ));
        assert!(!is_set_global("SET SESSION sql_log_bin = 0"));
        assert!(!is_set_global("SETTINGS global"));
        assert!(!is_set_global("SELECT 'SET GLOBAL x=1'"));
    }

    /// The rows of the MariaDB 10.11 cycle as the processlist showed them.
    fn cycle(set_time: &str, show_time: &str, show_user: &str) -> Vec<Row> {
        vec![
            row_in(
                "39",
                "root",
                set_time,
                "Waiting for backup lock",
                "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos",
            ),
            row_in(
                "38",
                show_user,
                show_time,
                "Filling schema table",
                "SHOW VARIABLES",
            ),
            row_in(
                "40",
                "app",
                "30",
                "Waiting for backup lock",
                "INSERT INTO t VALUES (1)",
            ),
        ]
    }

    #[test]
    fn finds_the_set_global_cycle_once_both_sides_have_waited() {
        let t = Duration::from_secs(DEFAULT_SECONDS);
        let w = stuck_statements(&cycle("9", "8", "bk"), t, Some("bk"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!((w[0].id, w[0].user.as_str()), (39, "root"));
        assert_eq!(
            w[0].kind,
            WaitKind::SetGlobalCycle {
                blocked: "SHOW VARIABLES".into()
            }
        );
        // Either side too young, or the variables read by somebody else:
        // nothing (a DBA's slow SHOW VARIABLES is no reason to kill).
        assert!(stuck_statements(&cycle("3", "8", "bk"), t, Some("bk")).is_empty());
        assert!(stuck_statements(&cycle("9", "2", "bk"), t, Some("bk")).is_empty());
        assert!(stuck_statements(&cycle("9", "8", "dba"), t, Some("bk")).is_empty());
        // A write waiting for the backup lock is normal during a backup.
        let only_writes = [row_in(
            "40",
            "app",
            "30",
            "Waiting for backup lock",
            "INSERT INTO t VALUES (1)",
        )];
        assert!(stuck_statements(&only_writes, t, None).is_empty());
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
}
