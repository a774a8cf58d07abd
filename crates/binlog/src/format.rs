//! Errors for the store's plain-text files, and `consistent_point_datetime`.
//!
//! `consistent_point_datetime` holds one line, `%Y-%m-%d %H:%M:%S`, the
//! controller's local wall-clock time just after the router returned the
//! global consistence point (seed 000 writes `2024-02-22 17:33:15`).

use chrono::NaiveDateTime;

/// A store file (`backuped_binlogs`, `cluster_consistence_info`,
/// `consistent_point_datetime`, `master_dir`) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {why}: {text:?}")]
pub struct FormatError {
    /// Which file format (its name on the store).
    pub file: &'static str,
    /// 1-based line number.
    pub line: usize,
    /// The offending text.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

impl FormatError {
    pub(crate) fn new(file: &'static str, line: usize, text: &str, why: impl Into<String>) -> Self {
        FormatError {
            file,
            line,
            text: text.to_owned(),
            why: why.into(),
        }
    }
}

/// The `strftime` format of `consistent_point_datetime`.
pub const POINT_DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Parses the content of `consistent_point_datetime` (one line; surrounding
/// whitespace and the trailing newline are ignored).
pub fn parse_point_datetime(content: &str) -> Result<NaiveDateTime, FormatError> {
    const FILE: &str = "consistent_point_datetime";
    let mut lines = content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((i, line)) = lines.next() else {
        return Err(FormatError::new(FILE, 1, content, "the file is empty"));
    };
    if let Some((j, extra)) = lines.next() {
        return Err(FormatError::new(
            FILE,
            j + 1,
            extra,
            "more than one datetime",
        ));
    }
    NaiveDateTime::parse_from_str(line.trim(), POINT_DATETIME_FORMAT).map_err(|e| {
        FormatError::new(
            FILE,
            i + 1,
            line,
            format!("expected YYYY-MM-DD HH:MM:SS ({e})"),
        )
    })
}

/// The content of `consistent_point_datetime` for `t` (with its newline).
pub fn format_point_datetime(t: NaiveDateTime) -> String {
    format!("{}\n", t.format(POINT_DATETIME_FORMAT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_seed_value() {
        let t = parse_point_datetime("2024-02-22 17:33:15\n").unwrap();
        assert_eq!(t.to_string(), "2024-02-22 17:33:15");
        assert_eq!(format_point_datetime(t), "2024-02-22 17:33:15\n");
        assert_eq!(parse_point_datetime(&format_point_datetime(t)).unwrap(), t);
    }

    #[test]
    fn rejects_empty_garbage_and_two_lines() {
        let e = parse_point_datetime("\n").unwrap_err();
        assert!(e.to_string().contains("empty"));
        let e = parse_point_datetime("2024-02-22T17:33:15").unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (1, "2024-02-22T17:33:15"));
        let e = parse_point_datetime("2024-02-22 17:33:15\n2024-02-22 17:40:00\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("consistent_point_datetime line 2"));
    }
}
