//! The statements that leave a restored datasource with no replication
//! configured and the GTID state of the recovered position (seed 001 runs
//! `reset slave all`, then `reset master` and `gtid_purged` before its
//! replay), per server flavor.
//!
//! MariaDB has no `gtid_purged`. How the replay's GTIDs are tracked
//! depends on who replays ([`Tracking`]):
//! * the server's own SQL thread records every GTID it applies in
//!   `gtid_slave_pos`: that is set to the backup's executed GTIDs before
//!   the replay and read afterwards; the temporary server needs no binary
//!   log (and no `RESET MASTER`, which waits about a second for a binlog
//!   checkpoint on a server that has written anything);
//! * `mariadb-binlog | mariadb` sessions only reach the binary log: the
//!   temporary server runs with one of its own, whose state is set to the
//!   executed GTIDs before the replay, so afterwards `gtid_binlog_pos` is
//!   exactly "executed plus what the replay applied".
//!
//! Either way the recovered position is stored as `gtid_slave_pos`, the
//! state that lives in the data directory itself (`mysql.gtid_slave_pos`)
//! and so survives removing the temporary binary log; a server started on
//! the data later reports it as `gtid_slave_pos` and `gtid_current_pos`.

use binlog::{GtidFlavor, GtidSet};

/// Where the temporary server keeps the GTIDs the replay applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    /// Its own binary log (`gtid_binlog_state`/`gtid_binlog_pos`; MySQL:
    /// `gtid_purged`/`gtid_executed`): a replay by client sessions.
    Binlog,
    /// `gtid_slave_pos` (MariaDB): a replay by its SQL thread.
    SlavePos,
}

/// The kind of server a backup tool implies (MariaDB: replication
/// connections by name, GTID positions; MySQL: channels, GTID sets and
/// `gtid_purged`): the GTID flavor, one enum for both ideas.
pub fn flavor_of(tool: xtrabackup::Flavor) -> GtidFlavor {
    match tool {
        xtrabackup::Flavor::Mariabackup { .. } => GtidFlavor::Mariadb,
        xtrabackup::Flavor::Xtrabackup { .. } => GtidFlavor::Mysql,
    }
}

/// A SQL string literal (single quotes; backslash and quote escaped).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The query listing the replication connections (MariaDB: its first column
/// is the connection name); `None` where one statement resets them all.
pub fn connections_query(flavor: GtidFlavor) -> Option<&'static str> {
    match flavor {
        GtidFlavor::Mariadb => Some("SHOW ALL SLAVES STATUS"),
        GtidFlavor::Mysql => None,
    }
}

/// Statements removing every replication connection: MariaDB's `RESET
/// SLAVE ALL` only resets the default connection, so each named one is
/// reset too; MySQL's resets every channel.
pub fn reset_replication(flavor: GtidFlavor, connections: &[String]) -> Vec<String> {
    match flavor {
        GtidFlavor::Mariadb => {
            let mut names: Vec<&str> = vec![""];
            for c in connections {
                if !names.contains(&c.as_str()) {
                    names.push(c);
                }
            }
            names
                .into_iter()
                .map(|n| format!("RESET SLAVE {} ALL", literal(n)))
                .collect()
        }
        GtidFlavor::Mysql => vec!["RESET SLAVE ALL".to_owned()],
    }
}

/// Statements run before the replay: the server's GTID history becomes
/// exactly what the restored data holds (`executed`, the backup's
/// `executed_gtids`), so the replay's GTIDs extend it.
pub fn before_replay(
    flavor: GtidFlavor,
    tracking: Tracking,
    executed: Option<&GtidSet>,
) -> Vec<String> {
    let executed = executed.filter(|g| !g.is_empty());
    if flavor == GtidFlavor::Mariadb && tracking == Tracking::SlavePos {
        // Also replaces the position the backed-up replica had.
        let pos = executed.map(ToString::to_string).unwrap_or_default();
        return vec![format!("SET GLOBAL gtid_slave_pos = {}", literal(&pos))];
    }
    let mut out = vec!["RESET MASTER".to_owned()];
    if let Some(g) = executed {
        let var = match flavor {
            GtidFlavor::Mariadb => "gtid_binlog_state",
            GtidFlavor::Mysql => "gtid_purged",
        };
        out.push(format!("SET GLOBAL {var} = {}", literal(&g.to_string())));
    }
    out
}

/// The query reading the recovered GTID state after the replay.
pub fn recovered_query(flavor: GtidFlavor, tracking: Tracking) -> &'static str {
    match (flavor, tracking) {
        (GtidFlavor::Mariadb, Tracking::SlavePos) => "SELECT @@GLOBAL.gtid_slave_pos",
        (GtidFlavor::Mariadb, Tracking::Binlog) => "SELECT @@GLOBAL.gtid_binlog_pos",
        (GtidFlavor::Mysql, _) => "SELECT @@GLOBAL.gtid_executed",
    }
}

/// Parses the answer of [`recovered_query`] (batch output: MySQL's
/// multi-line set arrives with escaped newlines).
pub fn parse_recovered(flavor: GtidFlavor, text: &str) -> Result<GtidSet, binlog::GtidError> {
    let text = text.replace("\\n", "");
    GtidSet::parse(flavor, text.trim())
}

/// Statements that store the recovered state in the data directory itself.
/// MySQL keeps `gtid_executed` in `mysql.gtid_executed` by itself; a
/// MariaDB SQL thread already left it in `gtid_slave_pos`.
pub fn after_replay(flavor: GtidFlavor, tracking: Tracking, recovered: &GtidSet) -> Vec<String> {
    match (flavor, tracking) {
        (GtidFlavor::Mariadb, Tracking::Binlog) => vec![format!(
            "SET GLOBAL gtid_slave_pos = {}",
            literal(&recovered.to_string())
        )],
        (GtidFlavor::Mariadb, Tracking::SlavePos) | (GtidFlavor::Mysql, _) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn maria(t: &str) -> GtidSet {
        GtidSet::parse(GtidFlavor::Mariadb, t).unwrap()
    }

    #[test]
    fn mariadb_resets_every_named_connection_and_the_default_once() {
        let got = reset_replication(
            GtidFlavor::Mariadb,
            &["".to_owned(), "dc'2".to_owned(), "a".to_owned()],
        );
        assert_eq!(
            got,
            [
                "RESET SLAVE '' ALL",
                "RESET SLAVE 'dc\\'2' ALL",
                "RESET SLAVE 'a' ALL"
            ]
        );
        assert_eq!(
            reset_replication(GtidFlavor::Mariadb, &[]),
            ["RESET SLAVE '' ALL"]
        );
        assert!(connections_query(GtidFlavor::Mariadb).is_some());
    }

    #[test]
    fn mysql_resets_all_channels_with_one_statement() {
        assert_eq!(
            reset_replication(GtidFlavor::Mysql, &["x".to_owned()]),
            ["RESET SLAVE ALL"]
        );
        assert_eq!(connections_query(GtidFlavor::Mysql), None);
    }

    #[test]
    fn mariadb_starts_its_binlog_state_at_the_executed_gtids() {
        let g = maria("0-1-100,1-2-5");
        let bin = Tracking::Binlog;
        assert_eq!(
            before_replay(GtidFlavor::Mariadb, bin, Some(&g)),
            [
                "RESET MASTER",
                "SET GLOBAL gtid_binlog_state = '0-1-100,1-2-5'"
            ]
        );
        assert_eq!(
            before_replay(GtidFlavor::Mariadb, bin, None),
            ["RESET MASTER"]
        );
        assert_eq!(
            before_replay(GtidFlavor::Mariadb, bin, Some(&maria(""))),
            ["RESET MASTER"]
        );
        assert_eq!(
            after_replay(GtidFlavor::Mariadb, bin, &maria("0-1-130,1-2-5")),
            ["SET GLOBAL gtid_slave_pos = '0-1-130,1-2-5'"]
        );
        assert_eq!(
            recovered_query(GtidFlavor::Mariadb, bin),
            "SELECT @@GLOBAL.gtid_binlog_pos"
        );
    }

    #[test]
    fn mariadbs_sql_thread_starts_from_the_executed_gtids_as_slave_pos() {
        let pos = Tracking::SlavePos;
        assert_eq!(
            before_replay(GtidFlavor::Mariadb, pos, Some(&maria("0-1-100,1-2-5"))),
            ["SET GLOBAL gtid_slave_pos = '0-1-100,1-2-5'"]
        );
        // The backed-up replica's own position is cleared when nothing ran.
        assert_eq!(
            before_replay(GtidFlavor::Mariadb, pos, None),
            ["SET GLOBAL gtid_slave_pos = ''"]
        );
        assert_eq!(
            recovered_query(GtidFlavor::Mariadb, pos),
            "SELECT @@GLOBAL.gtid_slave_pos"
        );
        // What the SQL thread left in gtid_slave_pos is the recovered state.
        assert!(after_replay(GtidFlavor::Mariadb, pos, &maria("0-1-130")).is_empty());
    }

    #[test]
    fn mysql_sets_gtid_purged_as_the_seed() {
        let g = GtidSet::parse(GtidFlavor::Mysql, &format!("{U1}:1-5")).unwrap();
        assert_eq!(
            before_replay(GtidFlavor::Mysql, Tracking::Binlog, Some(&g)),
            [
                "RESET MASTER".to_owned(),
                format!("SET GLOBAL gtid_purged = '{U1}:1-5'")
            ]
        );
        assert!(after_replay(GtidFlavor::Mysql, Tracking::Binlog, &g).is_empty());
        assert_eq!(
            recovered_query(GtidFlavor::Mysql, Tracking::Binlog),
            "SELECT @@GLOBAL.gtid_executed"
        );
    }

    #[test]
    fn recovered_state_parses_per_flavor() {
        assert_eq!(
            parse_recovered(GtidFlavor::Mariadb, "0-1-7,1-2-3\n").unwrap(),
            maria("0-1-7,1-2-3")
        );
        let u2 = "4e11fa47-71ca-11e1-9e33-c80aa9429562";
        let got = parse_recovered(GtidFlavor::Mysql, &format!("{U1}:1-5,\\n{u2}:1-2\n")).unwrap();
        assert_eq!(
            got,
            GtidSet::parse(GtidFlavor::Mysql, &format!("{U1}:1-5,{u2}:1-2")).unwrap()
        );
        assert!(parse_recovered(GtidFlavor::Mariadb, "garbage").is_err());
        assert_eq!(
            flavor_of(xtrabackup::Flavor::Mariabackup {
                server: xtrabackup::Version {
                    major: 10,
                    minor: 11,
                    patch: 19
                }
            }),
            GtidFlavor::Mariadb
        );
    }
}
