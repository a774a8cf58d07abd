//! Parsing of recorded `mysql` client output (tables and `\G` vertical
//! listings) into [`Row`]s, so result sets captured from a real router can
//! serve as fixtures.
//!
//! ```
//! let rows = topology::recorded::parse_output(
//!     "+------------+-------+\n\
//!      | servername | port  |\n\
//!      +------------+-------+\n\
//!      | normal_0_0 | 16315 |\n\
//!      +------------+-------+\n\
//!      1 row in set (0.00 sec)\n",
//! );
//! assert_eq!(rows[0].column("port"), Some(Some("16315")));
//! ```
//!
//! Rules: a line `*** N. row ***` starts a vertical row whose lines are
//! `column: value`; otherwise lines starting with `|` are table lines, the
//! first being the header. Border lines, prompts, blank lines and
//! `N rows in set` are ignored. Cells are trimmed; a cell that is exactly
//! `NULL` becomes `None`.

use crate::Row;

/// Parses one recorded result set (table or vertical format).
pub fn parse_output(text: &str) -> Vec<Row> {
    if text.lines().any(is_vertical_separator) {
        parse_vertical(text)
    } else {
        parse_table(text)
    }
}

fn is_vertical_separator(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("***") && line.ends_with("***") && line.contains(". row")
}

fn cell(value: &str) -> Option<String> {
    let value = value.trim();
    (value != "NULL").then(|| value.to_owned())
}

fn parse_vertical(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut current: Option<Row> = None;
    for line in text.lines() {
        if is_vertical_separator(line) {
            rows.extend(current.take());
            current = Some(Row::new());
            continue;
        }
        let Some(row) = current.as_mut() else {
            continue;
        };
        if let Some((column, value)) = line.split_once(':') {
            let column = column.trim();
            if !column.is_empty() && !column.contains(' ') {
                row.push(column, cell(value));
            }
        }
    }
    rows.extend(current);
    rows
}

fn split_table_line(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').collect()
}

fn parse_table(text: &str) -> Vec<Row> {
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| l.starts_with('|')) {
        let cells = split_table_line(line);
        match &header {
            None => header = Some(cells.iter().map(|c| c.trim().to_owned()).collect()),
            Some(names) => rows.push(
                names
                    .iter()
                    .zip(cells.iter().map(|c| cell(c)).chain(std::iter::repeat(None)))
                    .map(|(name, value)| (name.clone(), value))
                    .collect(),
            ),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertical_with_empty_and_null_values() {
        let rows = parse_output(
            "mysql> x\\G\n\
             *************************** 1. row ***************************\n\
             \x20                  Name: normal_0\n\
             \x20                  Type:\n\
             max_needed_conn/max_mysql_conn: \n\
             \x20              SomeNull: NULL\n\
             \x20            HostInfo: 1.2.3.4:16315\n\
             *************************** 2. row ***************************\n\
             \x20                  Name: normal_1\n\
             2 rows in set (0.01 sec)\n",
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].column("Type"), Some(Some("")));
        assert_eq!(
            rows[0].column("max_needed_conn/max_mysql_conn"),
            Some(Some(""))
        );
        assert_eq!(rows[0].column("SomeNull"), Some(None));
        assert_eq!(rows[0].column("HostInfo"), Some(Some("1.2.3.4:16315")));
        assert_eq!(rows[1].len(), 1);
    }

    #[test]
    fn table_without_borders_and_short_lines() {
        let rows = parse_output("| a | b |\n| 1 |\n| NULL | x |\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].column("b"), Some(None));
        assert_eq!(rows[1].column("a"), Some(None));
        assert_eq!(rows[1].column("b"), Some(Some("x")));
    }

    #[test]
    fn nothing_parses_to_nothing() {
        assert!(parse_output("Empty set (0.00 sec)\n").is_empty());
    }
}
