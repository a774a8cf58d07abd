//! What a restored datasource reports beyond its data directory: the row
//! count of every table (read on the temporary server before it stops) and
//! the exact binlog stop the replay used. Scripts and parsing only.

use binlog::{ApplyStop, BinlogPos};
use remote::quote;

/// One table's row count in the recovered data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub table: String,
    /// `COUNT(*)`.
    pub rows: u64,
}

/// Schemas of the server itself, not of the application.
const SYSTEM_SCHEMAS: &str = "'mysql','information_schema','performance_schema','sys'";

/// A job-server pipeline that prints `schema<TAB>table<TAB>rows` for every
/// base table outside the system schemas: the first client lists the
/// tables as `SELECT ... COUNT(*)` statements, the second runs them.
pub(super) fn row_count_script(client: &str, socket: &str) -> String {
    let client = format!(
        "{} --no-defaults --socket={} --batch --skip-column-names",
        quote(client),
        quote(socket)
    );
    let list = format!(
        "SELECT CONCAT('SELECT ', QUOTE(TABLE_SCHEMA), ', ', QUOTE(TABLE_NAME), ', COUNT(*) FROM `', \
         REPLACE(TABLE_SCHEMA, '`', '``'), '`.`', REPLACE(TABLE_NAME, '`', '``'), '`;') \
         FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' \
         AND TABLE_SCHEMA NOT IN ({SYSTEM_SCHEMAS}) ORDER BY TABLE_SCHEMA, TABLE_NAME"
    );
    format!(
        "set -o pipefail; {client} --execute={} | {client}",
        quote(&list)
    )
}

/// Parses [`row_count_script`]'s output.
pub(super) fn parse_row_counts(text: &str) -> Result<Vec<TableRows>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            [schema, table, rows] => Ok(TableRows {
                schema: schema.to_owned(),
                table: table.to_owned(),
                rows: rows
                    .parse()
                    .map_err(|_| format!("not a row count in {line:?}"))?,
            }),
            _ => Err(format!("not a `schema table rows` line: {line:?}")),
        })
        .collect()
}

/// The exact stop a replay used, as a DBA would type it: `mariadb-binlog
/// --stop-position=N` on the last file (the SQL thread stops at the same
/// byte, `UNTIL RELAY_LOG_POS`), or `--stop-datetime`.
pub(super) fn stop_used(stop: &ApplyStop, by_sql_thread: bool) -> String {
    match stop {
        ApplyStop::Position(BinlogPos { file, pos }) if by_sql_thread => format!(
            "START SLAVE SQL_THREAD UNTIL RELAY_LOG_POS = {pos} of {file} (as --stop-position={pos} on {file})"
        ),
        ApplyStop::Position(BinlogPos { file, pos }) => {
            format!("--stop-position={pos} on {file}")
        }
        ApplyStop::Datetime(t) => format!("--stop-datetime='{}'", t.format("%Y-%m-%d %H:%M:%S")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command as Sh;

    #[test]
    fn row_counts_parse_and_bad_lines_are_named() {
        let rows = parse_row_counts("app\tt 1\t42\nw\tx\t0\n").unwrap();
        assert_eq!(
            rows,
            [
                TableRows {
                    schema: "app".into(),
                    table: "t 1".into(),
                    rows: 42
                },
                TableRows {
                    schema: "w".into(),
                    table: "x".into(),
                    rows: 0
                }
            ]
        );
        assert!(
            parse_row_counts("app\tt\n")
                .unwrap_err()
                .contains("app\\tt")
        );
        assert!(parse_row_counts("a\tb\tmany\n").is_err());
    }

    /// The script's two clients, faked: the first prints the statements the
    /// second receives; the second's output is what is parsed.
    #[test]
    fn the_script_pipes_the_listing_into_a_second_client() {
        let dir = tempfile::tempdir().unwrap();
        let client = dir.path().join("client");
        std::fs::write(
            &client,
            "#!/bin/bash\ncase \"$*\" in *--execute=*) echo \"SELECT 'a', 'b', COUNT(*) FROM \\`a\\`.\\`b\\`;\";; \
             *) read -r stmt; echo \"$stmt\" > \"$(dirname \"$0\")/got\"; printf 'a\\tb\\t3\\n';; esac\n",
        )
        .unwrap();
        Sh::new("chmod").arg("755").arg(&client).status().unwrap();
        let script = row_count_script(client.to_str().unwrap(), "/s.sock");
        assert!(script.contains("performance_schema"), "{script}");
        let out = Sh::new("bash").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let rows = parse_row_counts(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(rows[0].rows, 3);
        let got = std::fs::read_to_string(dir.path().join("got")).unwrap();
        assert!(got.contains("COUNT(*) FROM `a`.`b`"), "{got}");
    }

    #[test]
    fn stops_read_as_typed() {
        let p = ApplyStop::Position(BinlogPos {
            file: "mysql-bin.000004".parse().unwrap(),
            pos: 1234,
        });
        assert_eq!(
            stop_used(&p, false),
            "--stop-position=1234 on mysql-bin.000004"
        );
        assert!(stop_used(&p, true).contains("RELAY_LOG_POS = 1234 of mysql-bin.000004"));
        let t = ApplyStop::Datetime(
            chrono::NaiveDateTime::parse_from_str("2026-11-21 10:02:03", "%Y-%m-%d %H:%M:%S")
                .unwrap(),
        );
        assert_eq!(
            stop_used(&t, false),
            "--stop-datetime='2026-11-21 10:02:03'"
        );
    }
}
