//! Typed reads of one section's keys, with errors that name file, section
//! and key, and a record of which keys were read so unknown ones can be
//! warned about.

use crate::error::ConfError;
use crate::ini::Ini;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::str::FromStr;

/// Reads keys of one section of an [`Ini`].
pub struct Section<'a> {
    ini: &'a Ini,
    name: &'a str,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Section<'a> {
    /// The section `name` of `ini` (it may be absent: every key is then
    /// absent, and [`Section::require`] says which section is missing).
    pub fn new(ini: &'a Ini, name: &'a str) -> Self {
        Self {
            ini,
            name,
            read: RefCell::new(BTreeSet::new()),
        }
    }

    /// The section's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// An error about `key` in this section.
    pub fn invalid(&self, key: &str, detail: impl Into<String>) -> ConfError {
        ConfError::Value {
            file: self.ini.origin().to_owned(),
            section: self.name.to_owned(),
            key: key.to_owned(),
            detail: detail.into(),
        }
    }

    /// The raw text of `key`, if present.
    pub fn text(&self, key: &str) -> Result<Option<String>, ConfError> {
        self.read.borrow_mut().insert(key.to_lowercase());
        self.ini.get(self.name, key)
    }

    /// The text of `key` with Python 2 `ConfigParser` rules: interpolated
    /// only when it holds `%(`, else as written (a lone `%` is kept).
    pub fn text_py2(&self, key: &str) -> Result<Option<String>, ConfError> {
        match self.ini.get_raw(self.name, key) {
            Some(raw) if !raw.contains("%(") => {
                self.read.borrow_mut().insert(key.to_lowercase());
                Ok(Some(raw))
            }
            _ => self.text(key),
        }
    }

    /// The text of `key`, which must be present.
    pub fn require(&self, key: &str) -> Result<String, ConfError> {
        self.text(key)?.ok_or_else(|| ConfError::Missing {
            file: self.ini.origin().to_owned(),
            section: self.name.to_owned(),
            key: key.to_owned(),
            hint: if self.ini.has_section(self.name) {
                String::new()
            } else {
                format!(" (there is no [{}] section)", self.name)
            },
        })
    }

    /// `key` parsed as a number (or anything `FromStr`), if present.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ConfError>
    where
        T::Err: std::fmt::Display,
    {
        match self.text(key)? {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| self.invalid(key, format!("{v:?} is not valid: {e}"))),
        }
    }

    /// `key` parsed, or `default` when absent.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, ConfError>
    where
        T::Err: std::fmt::Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// `key` parsed; it must be present.
    pub fn parse_required<T: FromStr>(&self, key: &str) -> Result<T, ConfError>
    where
        T::Err: std::fmt::Display,
    {
        let v = self.require(key)?;
        v.trim()
            .parse()
            .map_err(|e| self.invalid(key, format!("{v:?} is not valid: {e}")))
    }

    /// A yes/no key: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any
    /// case), `default` when absent. Anything else is an error (the seeds
    /// silently read most unknown words as one or the other).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, ConfError> {
        match self.text(key)? {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(self.invalid(key, format!("{v:?} is neither 1/true nor 0/false"))),
            },
        }
    }

    /// Keys present in the file that nobody read (DEFAULT's excluded).
    pub fn unread(&self) -> Vec<String> {
        let read = self.read.borrow();
        self.ini
            .keys(self.name)
            .into_iter()
            .filter(|k| !read.contains(*k) && self.ini.get("DEFAULT", k).ok().flatten().is_none())
            .map(str::to_owned)
            .collect()
    }
}

/// Warns about every key of `sections` that nobody read (a typo, or a key
/// of another tool's file).
pub fn warn_unread(sections: &[&Section<'_>]) {
    for section in sections {
        for key in section.unread() {
            tracing::warn!(
                "{}: unknown key [{}] {key} is ignored",
                section.ini.origin().display(),
                section.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn typed_reads_name_file_section_and_key() {
        let ini = Ini::parse(
            "[misc]\nsocat-port = 29999\nbad = x1\ncompress = TRUE\nodd = maybe\nextra = 1\n",
            Path::new("backup.conf"),
        )
        .unwrap();
        let misc = Section::new(&ini, "misc");
        assert_eq!(misc.parse_required::<u16>("socat-port").unwrap(), 29999);
        assert_eq!(misc.parse_or::<u32>("socat-retry-count", 10).unwrap(), 10);
        let err = misc.parse::<u16>("bad").unwrap_err().to_string();
        assert!(
            err.starts_with("backup.conf: [misc] bad:") && err.contains("x1"),
            "{err}"
        );
        assert!(misc.flag("compress", false).unwrap());
        assert!(!misc.flag("absent", false).unwrap());
        assert!(misc.flag("odd", false).is_err());
        assert_eq!(misc.unread(), ["extra"]);

        let err = Section::new(&ini, "cluster")
            .require("ip")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "backup.conf: [cluster] ip is required (there is no [cluster] section)"
        );
    }
}
