//! The truth a restored datasource is compared with, read from the original
//! masters' own binlogs (in their data directories), not from the tool's
//! records: the ids inserted into the test table up to a binlog position.

use std::collections::BTreeSet;

use binlog::MariadbGtidPos;

use testkit::{Sandbox, Server};

use super::workload::{Start, connect};
use testkit::sql::column;

/// One line of a backup's `cluster_consistence_info`: the datasource and
/// its master's binlog position at the consistent cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// The datasource.
    pub datasource: String,
    /// The master's binlog file.
    pub file: String,
    /// The position in it.
    pub pos: u64,
}

/// Parses `cluster_consistence_info` (tab-separated: `host:port`, server,
/// file, position, `belong-to-datasource=<ds>`, ...), one point per datasource.
pub fn points(text: &str) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 5,
            "bad cluster_consistence_info line {line:?}"
        );
        let datasource = cols
            .iter()
            .find_map(|c| c.strip_prefix("belong-to-datasource="))
            .unwrap_or_else(|| panic!("no datasource in {line:?}"))
            .to_owned();
        let p = Point {
            datasource,
            file: cols[2].to_owned(),
            pos: cols[3].parse().unwrap(),
        };
        match out.iter().find(|o| o.datasource == p.datasource) {
            Some(o) => assert_eq!(o, &p, "two points for one datasource"),
            None => out.push(p),
        }
    }
    out
}

/// The master's binlog files from `start`'s file to `last` (or the newest),
/// as paths in its data directory.
fn binlog_files(start: &Start, last: Option<&str>) -> Vec<String> {
    let data = start.master.dir.join("data");
    let index = std::fs::read_to_string(data.join("mysql-bin.index")).unwrap();
    let files: Vec<String> = index
        .lines()
        .map(|l| l.trim().trim_start_matches("./").to_owned())
        .filter(|f| !f.is_empty() && *f >= start.file && last.is_none_or(|l| f.as_str() <= l))
        .map(|f| data.join(f).display().to_string())
        .collect();
    if let Some(last) = last {
        assert!(
            files.last().is_some_and(|f| f.ends_with(last)),
            "{last} is not in {}'s binlog index",
            start.master.name
        );
    }
    files
}

/// `mariadb-binlog --no-defaults args... files`, decoded text.
fn decode(args: &[String], files: &[String]) -> String {
    let out = std::process::Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .args(args)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mariadb-binlog on {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ids inserted into `<db>.t` by the transactions the master binlogged
/// from `start` up to `stop` (exclusive), read with `mariadb-binlog` from
/// the master's data directory.
pub fn committed_ids(start: &Start, db: &str, stop: &Point) -> BTreeSet<u64> {
    let files = binlog_files(start, Some(&stop.file));
    let args = [
        "--base64-output=decode-rows".to_owned(),
        "--verbose".to_owned(),
        format!("--start-position={}", start.pos),
        format!("--stop-position={}", stop.pos),
    ];
    inserted_ids(&decode(&args, &files), db)
}

/// The master's GTID position at `file:pos` of its binlog, as the master
/// itself maps it (`BINLOG_GTID_POS`).
pub async fn gtid_at(sb: &Sandbox, master: &Server, file: &str, pos: u64) -> MariadbGtidPos {
    let mut c = connect(sb, master).await;
    let q = format!("SELECT BINLOG_GTID_POS('{file}', {pos}) AS g");
    let g = column(&mut c, &q, "g").await;
    let _ = c.close().await;
    g.parse()
        .unwrap_or_else(|e| panic!("{q} on {}: {g:?}: {e}", master.name))
}

/// The master's GTID position once it had binlogged its last transaction
/// that began before `time` (local `YYYY-MM-DD HH:MM:SS`): `at_start` (its
/// position at `start`) moved on, per domain, to the last GTID event from
/// `start` on whose timestamp is earlier than `time`.
pub fn gtid_before(start: &Start, at_start: &MariadbGtidPos, time: &str) -> MariadbGtidPos {
    let files = binlog_files(start, None);
    let text = decode(&[format!("--start-position={}", start.pos)], &files);
    let mut later = MariadbGtidPos::new();
    for line in text.lines() {
        // `#261121 22:29:39 server id 11  end_log_pos 715 CRC32 0x... \tGTID 0-11-3 trans`
        // (`#261122  0:04:05 ...` before 10 o'clock)
        let Some(head) = line.strip_prefix('#') else {
            continue;
        };
        let Some((_, gtid)) = head.split_once("\tGTID ") else {
            continue;
        };
        // The hour is space-padded (`#261122  0:34:38`): pad it with a zero.
        let mut parts = head.split_whitespace();
        let (Some(date), Some(clock)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (hour, rest) = clock.split_once(':').unwrap();
        let stamp = format!(
            "20{}-{}-{} {hour:0>2}:{rest}",
            &date[0..2],
            &date[2..4],
            &date[4..6]
        );
        if stamp.as_str() >= time {
            break;
        }
        let gtid: MariadbGtidPos = gtid.split_whitespace().next().unwrap().parse().unwrap();
        later = gtid.union(&later);
    }
    at_start.union(&later)
}

/// The `@1` values of the `### INSERT INTO `db`.`t`` row images in a
/// decoded binlog; any other row change of that table is a test bug.
pub fn inserted_ids(decoded: &str, db: &str) -> BTreeSet<u64> {
    let table = format!("`{db}`.`t`");
    let mut ids = BTreeSet::new();
    let mut in_insert = false;
    for line in decoded.lines() {
        if let Some(rest) = line.strip_prefix("### ") {
            if rest.starts_with("INSERT INTO ") {
                in_insert = rest.ends_with(&table);
            } else if rest.starts_with("UPDATE ") || rest.starts_with("DELETE FROM ") {
                assert!(!rest.ends_with(&table), "unexpected row change: {line}");
                in_insert = false;
            } else if in_insert && let Some(v) = rest.trim().strip_prefix("@1=") {
                let id = v.split_whitespace().next().unwrap_or(v);
                assert!(ids.insert(id.parse().unwrap()), "id {id} inserted twice");
                in_insert = false;
            }
        }
    }
    ids
}

#[test]
fn decoded_rows_parse() {
    let text = "### INSERT INTO `d`.`t`\n### SET\n###   @1=7\n###   @2='x'\n\
                ### INSERT INTO `o`.`t`\n### SET\n###   @1=8\n\
                ### INSERT INTO `d`.`t`\n### SET\n###   @1=9 /* LONGINT meta=0 */\n";
    assert_eq!(inserted_ids(text, "d"), BTreeSet::from([7, 9]));
}

#[test]
fn points_parse() {
    let text = "127.0.0.12:16315\tnormal_0_1\tmysql-bin.000001\t52430870\tbelong-to-datasource=normal_0\txb-to-lsn=1\n";
    assert_eq!(
        points(text),
        vec![Point {
            datasource: "normal_0".into(),
            file: "mysql-bin.000001".into(),
            pos: 52430870
        }]
    );
}
