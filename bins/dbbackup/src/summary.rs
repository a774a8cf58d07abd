//! The summary a finished backup prints: a table of the servers (type,
//! bytes, seconds, MB/s) with the total, the backup's name and where it
//! is, the warnings the run collected, then the seed's success line.

use cli::units;
use std::time::Duration;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Server, datasource, role.
    pub server: String,
    /// Its datasource.
    pub datasource: String,
    /// `master` or `replica`.
    pub role: String,
    /// An incremental (else full) backup of it.
    pub incremental: bool,
    /// Bytes of its stream.
    pub bytes: u64,
    /// Wall time of its part.
    pub elapsed: Duration,
}

impl From<&backup::ServerOutcome> for Row {
    fn from(s: &backup::ServerOutcome) -> Row {
        Row {
            server: s.plan.server.to_string(),
            datasource: s.plan.datasource.to_string(),
            role: s.plan.role.to_string(),
            incremental: s.plan.incremental_from.is_some(),
            bytes: s.bytes,
            elapsed: s.elapsed,
        }
    }
}

/// The servers' table and its total line (the run's bytes and wall time).
pub fn table(rows: &[Row], bytes: u64, elapsed: Duration) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.server.clone(),
                r.datasource.clone(),
                r.role.clone(),
                if r.incremental { "inc" } else { "full" }.to_owned(),
                units::bytes(r.bytes),
                units::secs(r.elapsed),
                units::mb_per_s(r.bytes, r.elapsed),
            ]
        })
        .chain(std::iter::once(vec![
            "total".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            units::bytes(bytes),
            units::secs(elapsed),
            units::mb_per_s(bytes, elapsed),
        ]))
        .collect();
    units::table(
        &[
            "server",
            "datasource",
            "role",
            "type",
            "bytes",
            "secs",
            "MB/s",
        ],
        4,
        &cells,
    )
}

/// The summary of `outcome`, ending with the seed's `cluster backup
/// succeed`; `quiet` keeps only the result line, the warnings and that.
pub fn backup_summary(outcome: &backup::Outcome, quiet: bool) -> String {
    let mut out = String::new();
    if !quiet {
        let rows: Vec<Row> = outcome.servers.iter().map(Row::from).collect();
        out += &table(&rows, outcome.bytes, outcome.elapsed);
    }
    out += &format!(
        "backup {} complete: {} servers, {:.1} MiB streamed in {:.1} s\n",
        outcome.plan.name,
        outcome.plan.servers.len(),
        outcome.bytes as f64 / (1024.0 * 1024.0),
        outcome.elapsed.as_secs_f64()
    );
    if !quiet {
        out += &format!("stored in {}/{}\n", outcome.plan.store, outcome.plan.name);
    }
    out += &warnings(&outcome.warnings);
    out += "cluster backup succeed\n";
    out
}

/// `WARNING: ...` lines, one per warning.
pub fn warnings(warnings: &[String]) -> String {
    warnings.iter().map(|w| format!("WARNING: {w}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: &str, incremental: bool, bytes: u64, millis: u64) -> Row {
        Row {
            server: server.into(),
            datasource: "normal_0".into(),
            role: "replica".into(),
            incremental,
            bytes,
            elapsed: Duration::from_millis(millis),
        }
    }

    #[test]
    fn the_table_has_a_row_per_server_and_the_total() {
        let t = table(
            &[
                row("normal_0_1", false, 35_127_296, 1_500),
                row("normal_1_1", true, 2048, 0),
            ],
            35_129_344,
            Duration::from_millis(2_700),
        );
        assert_eq!(
            t,
            "server      datasource  role     type     bytes  secs  MB/s\n\
             normal_0_1  normal_0    replica  full  33.5 MiB   1.5  23.4\n\
             normal_1_1  normal_0    replica  inc    2.0 KiB   0.0     -\n\
             total                                  33.5 MiB   2.7  13.0\n"
        );
    }

    #[test]
    fn an_empty_run_still_totals() {
        assert_eq!(
            table(&[], 0, Duration::ZERO),
            "server  datasource  role  type  bytes  secs  MB/s\n\
             total                             0 B   0.0     -\n"
        );
    }

    #[test]
    fn warnings_are_one_line_each() {
        assert_eq!(
            warnings(&["catalog record not written: down".into(), "b".into()]),
            "WARNING: catalog record not written: down\nWARNING: b\n"
        );
        assert_eq!(warnings(&[]), "");
    }
}
