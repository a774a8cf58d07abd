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

/// At most this many clients count one server's rows at once (fewer when
/// the job server has fewer cores): big tables are scanned side by side.
const COUNTING_CLIENTS: usize = 4;

/// Count statements per client run: enough to keep the client start-up
/// cost small on a server with many small tables, few enough to spread big
/// tables over the clients.
const STATEMENTS_PER_CLIENT: usize = 16;

/// A job-server pipeline that prints `schema<TAB>table<TAB>rows` for every
/// base table outside the system schemas: one client lists the tables as
/// `SELECT ... COUNT(*)` statements, and `xargs` feeds them, in batches, to
/// up to [`COUNTING_CLIENTS`] clients running at once. Any client failing
/// fails the pipeline.
pub(super) fn row_count_script(client: &str, socket: &str) -> String {
    let options = "--no-defaults --batch --skip-column-names";
    let list = format!(
        "SELECT CONCAT('SELECT ', QUOTE(TABLE_SCHEMA), ', ', QUOTE(TABLE_NAME), ', COUNT(*) FROM `', \
         REPLACE(TABLE_SCHEMA, '`', '``'), '`.`', REPLACE(TABLE_NAME, '`', '``'), '`;') \
         FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' \
         AND TABLE_SCHEMA NOT IN ({SYSTEM_SCHEMAS}) ORDER BY TABLE_SCHEMA, TABLE_NAME"
    );
    // The batch runner gets the client and socket as its first arguments,
    // xargs appends the statements: nothing is re-parsed by a shell. The
    // clients share one pipe: line-buffered, each line is one write, which
    // a pipe never interleaves with another's.
    let batch = format!(
        "c=$1; s=$2; shift 2; printf '%s\\n' \"$@\" | stdbuf -oL \"$c\" {options} --socket=\"$s\""
    );
    format!(
        "set -o pipefail; n=$(nproc 2>/dev/null || echo 1); [ \"$n\" -gt {COUNTING_CLIENTS} ] && n={COUNTING_CLIENTS}; \
         {c} {options} --socket={s} --execute={list} \
         | xargs -r -d '\\n' -n {STATEMENTS_PER_CLIENT} -P \"$n\" sh -c {batch} sh {c} {s}",
        c = quote(client),
        s = quote(socket),
        list = quote(&list),
        batch = quote(&batch),
    )
}

/// Parses [`row_count_script`]'s output, sorted by schema and table (the
/// clients finish in any order).
pub(super) fn parse_row_counts(text: &str) -> Result<Vec<TableRows>, String> {
    let mut rows = text
        .lines()
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
        .collect::<Result<Vec<_>, String>>()?;
    rows.sort_by(|a, b| (&a.schema, &a.table).cmp(&(&b.schema, &b.table)));
    Ok(rows)
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

    /// The script's clients, faked: the listing one prints 64 statements (4 batches);
    /// each counting one answers its batch from stdin (a table's count is
    /// its place in the batch) and records the batch's size. Before
    /// counting, each waits until as many clients as the script should run
    /// at once have started (at most 20 s: a bound a loaded machine never
    /// comes near, which only a script running one at a time waits out),
    /// and records how many it saw running.
    #[test]
    fn the_listing_is_counted_in_batches_by_several_clients() {
        let dir = tempfile::tempdir().unwrap();
        let client = dir.path().join("client");
        std::fs::write(
            &client,
            r#"#!/bin/bash
case "$*" in
  *--execute=*) for i in $(seq 1 64); do echo "SELECT 'app', 't $i', COUNT(*) FROM \`app\`.\`t $i\`;"; done;;
  *) d=$(dirname "$0"); touch "$d/running.$$" "$d/started.$$"
     for i in $(seq 400); do
       [ "$(ls "$d" | grep -c '^started\.')" -ge "$WANT" ] && break; sleep 0.05
     done
     ls "$d" | grep -c '^running\.' >> "$d/overlap"
     n=0
     while IFS= read -r stmt; do
       n=$((n+1)); [ "$stmt" = "${FAIL:-}" ] && exit 1
       printf '%s\n' "$stmt" | sed -E "s/^SELECT '([^']*)', '([^']*)'.*/\1\t\2\t$n/"
     done
     echo "$n" >> "$d/batches"; rm "$d/running.$$";;
esac
"#,
        )
        .unwrap();
        Sh::new("chmod").arg("755").arg(&client).status().unwrap();
        let script = row_count_script(client.to_str().unwrap(), "/s.sock");
        assert!(script.contains("performance_schema"), "{script}");
        // As many at once as the job server has cores, at most 4.
        let nproc = Sh::new("nproc").output().unwrap();
        let cores: usize = String::from_utf8_lossy(&nproc.stdout)
            .trim()
            .parse()
            .unwrap();
        let want = cores.min(COUNTING_CLIENTS);
        let out = Sh::new("bash")
            .arg("-c")
            .arg(&script)
            .env("WANT", want.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let overlap = std::fs::read_to_string(dir.path().join("overlap")).unwrap();
        let most = overlap
            .lines()
            .filter_map(|l| l.trim().parse::<usize>().ok())
            .max();
        assert_eq!(most, Some(want), "clients seen running at once: {overlap}");
        let rows = parse_row_counts(&String::from_utf8_lossy(&out.stdout)).unwrap();
        let mut names: Vec<String> = (1..=64).map(|i| format!("t {i}")).collect();
        names.sort();
        assert_eq!(
            rows.iter().map(|r| r.table.clone()).collect::<Vec<_>>(),
            names,
            "every table once, sorted"
        );
        assert!(
            rows.iter()
                .all(|r| r.schema == "app" && (1..=16).contains(&r.rows))
        );
        let batches = std::fs::read_to_string(dir.path().join("batches")).unwrap();
        let sizes: Vec<usize> = batches.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 64, "{batches}");
        assert!(
            sizes.len() == 4 && sizes.iter().all(|&n| n <= 16),
            "{batches}"
        );

        // One client failing fails the whole count.
        let out = Sh::new("bash")
            .arg("-c")
            .arg(&script)
            .env("FAIL", "SELECT 'app', 't 33', COUNT(*) FROM `app`.`t 33`;")
            .env("WANT", "1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{out:?}");
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
