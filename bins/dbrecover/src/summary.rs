//! The summary table a finished recovery prints under its report: per
//! datasource the binlogs replayed, tables, rows and wall time, and the
//! total.

use cli::units;
use std::time::Duration;

/// One row: a datasource's name, binlog files replayed, tables, rows, and
/// its wall time.
pub type Row = (String, usize, usize, u64, Duration);

/// The rows of `outcome`'s datasources.
pub fn rows(outcome: &recovery::Outcome) -> Vec<Row> {
    outcome
        .restored
        .iter()
        .map(|r| {
            (
                r.datasource.clone(),
                r.binlogs,
                r.tables.len(),
                r.tables.iter().map(|t| t.rows).sum(),
                r.elapsed,
            )
        })
        .collect()
}

/// The table, its total line the run's wall time.
pub fn table(rows: &[Row], elapsed: Duration) -> String {
    let sum = |f: fn(&Row) -> u64| rows.iter().map(f).sum::<u64>().to_string();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(ds, binlogs, tables, count, took)| {
            vec![
                ds.clone(),
                binlogs.to_string(),
                tables.to_string(),
                count.to_string(),
                units::secs(*took),
            ]
        })
        .chain(std::iter::once(vec![
            "total".to_owned(),
            sum(|r| r.1 as u64),
            sum(|r| r.2 as u64),
            sum(|r| r.3),
            units::secs(elapsed),
        ]))
        .collect();
    units::table(
        &["datasource", "binlogs", "tables", "rows", "secs"],
        1,
        &cells,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_datasource_and_the_total() {
        let rows = vec![
            (
                "normal_0".to_owned(),
                2,
                3,
                1200,
                Duration::from_millis(4_240),
            ),
            ("normal_1".to_owned(), 0, 1, 7, Duration::ZERO),
        ];
        assert_eq!(
            table(&rows, Duration::from_millis(9_000)),
            "datasource  binlogs  tables  rows  secs\n\
             normal_0          2       3  1200   4.2\n\
             normal_1          0       1     7   0.0\n\
             total             2       4  1207   9.0\n"
        );
    }

    #[test]
    fn no_datasource_still_totals() {
        assert_eq!(
            table(&[], Duration::ZERO),
            "datasource  binlogs  tables  rows  secs\n\
             total             0       0     0   0.0\n"
        );
    }
}
