//! Binlog file names (`mysql-bin.000041`), ordered by their numeric index.
//!
//! The seed sorts names as strings, which is right only while every index has
//! six digits; MySQL and MariaDB go on to seven digits after `.999999`, so this
//! type compares the index as a number.

use std::fmt;
use std::str::FromStr;

/// A binlog file name that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid binlog file name {text:?}: {why}")]
pub struct BinlogNameError {
    /// The offending text.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// A binlog file name: `<basename>.<index>`, e.g. `mysql-bin.000041`.
///
/// Ordering is by basename, then by the numeric index, so `x.999999` sorts
/// before `x.1000000`. The name is a plain file name: it never contains a
/// path separator, so it is safe to join to a directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinlogName {
    base: String,
    // u32 keeps the name (and errors holding names) small; servers stop at 2^31-1.
    index: u32,
    width: u32,
}

impl BinlogName {
    /// Builds `<base>.<index>` zero-padded to six digits, as the servers name them.
    pub fn new(base: &str, index: u64) -> Result<Self, BinlogNameError> {
        format!("{base}.{index:06}").parse()
    }

    /// The basename (`mysql-bin`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The numeric index (`41` for `mysql-bin.000041`).
    pub fn index(&self) -> u64 {
        u64::from(self.index)
    }

    /// The file that follows this one (`.000042` after `.000041`).
    pub fn successor(&self) -> BinlogName {
        let index = self.index.saturating_add(1);
        BinlogName {
            base: self.base.clone(),
            index,
            width: self.width.max(index.checked_ilog10().map_or(1, |d| d + 1)),
        }
    }

    /// The file before this one, if the index is above zero.
    pub fn predecessor(&self) -> Option<BinlogName> {
        Some(BinlogName {
            base: self.base.clone(),
            index: self.index.checked_sub(1)?,
            width: self.width,
        })
    }

    /// Whether `other` is the same binlog sequence (same basename).
    pub fn same_sequence(&self, other: &BinlogName) -> bool {
        self.base == other.base
    }
}

impl FromStr for BinlogName {
    type Err = BinlogNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why| BinlogNameError {
            text: text.to_owned(),
            why,
        };
        if text.contains(['/', '\\', '\0']) || text.chars().any(char::is_whitespace) {
            return Err(err("it must be a plain file name"));
        }
        let (base, number) = text
            .rsplit_once('.')
            .ok_or_else(|| err("expected <basename>.<number>"))?;
        if base.is_empty() || base.starts_with('.') {
            return Err(err("the basename is empty"));
        }
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the extension is not a number"));
        }
        let index = number.parse().map_err(|_| err("the number is too large"))?;
        let width = u32::try_from(number.len()).map_err(|_| err("the number is too long"))?;
        Ok(BinlogName {
            base: base.to_owned(),
            index,
            width,
        })
    }
}

impl fmt::Display for BinlogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:0width$}",
            self.base,
            self.index,
            width = self.width as usize
        )
    }
}

/// One row of `SHOW BINARY LOGS`: a file and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryLog {
    /// `Log_name`.
    pub name: BinlogName,
    /// `File_size`.
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> BinlogName {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_displays_unchanged() {
        for s in [
            "greatdb-bin.000041",
            "mysql-bin.000001",
            "m.b.1234567",
            "x.7",
        ] {
            assert_eq!(n(s).to_string(), s);
        }
        assert_eq!(n("greatdb-bin.000041").base(), "greatdb-bin");
        assert_eq!(n("greatdb-bin.000041").index(), 41);
    }

    #[test]
    fn orders_numerically_past_six_digits() {
        assert!(n("mysql-bin.999999") < n("mysql-bin.1000000"));
        assert!(n("mysql-bin.000009") < n("mysql-bin.000010"));
        assert_eq!(
            n("mysql-bin.999999").successor().to_string(),
            "mysql-bin.1000000"
        );
        assert_eq!(
            n("mysql-bin.000041").successor().to_string(),
            "mysql-bin.000042"
        );
        assert_eq!(
            n("mysql-bin.000042").predecessor().unwrap().to_string(),
            "mysql-bin.000041"
        );
        assert_eq!(n("mysql-bin.000000").predecessor(), None);
    }

    #[test]
    fn rejects_bad_names_naming_the_text() {
        for bad in [
            "",
            "mysql-bin",
            "mysql-bin.",
            ".000001",
            "mysql-bin.00a1",
            "../x.000001",
            "a/b.000001",
            "mysql bin.000001",
            "x.4294967296",
        ] {
            let e = bad.parse::<BinlogName>().unwrap_err();
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains("invalid binlog file name"));
        }
    }

    #[test]
    fn new_pads_to_six_digits() {
        assert_eq!(
            BinlogName::new("mysql-bin", 7).unwrap().to_string(),
            "mysql-bin.000007"
        );
        assert!(BinlogName::new("", 7).is_err());
        assert!(n("a.000001").same_sequence(&n("a.000009")));
        assert!(!n("a.000001").same_sequence(&n("b.000001")));
    }
}
