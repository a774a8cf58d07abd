//! An INI reader with the semantics of Python's `configparser.ConfigParser()`
//! defaults, which is what the seed tools read their files with:
//!
//! * `[section]` headers (the name is what lies between the first `[` and
//!   the last `]`), names case-sensitive; a duplicate section is an error;
//! * `key = value` or `key: value` (split at the first `=` or `:`), keys
//!   lower-cased, values trimmed; a duplicate key in a section is an error;
//!   a line without a delimiter is an error;
//! * whole-line comments starting with `#` or `;` (no inline comments: a
//!   `#` after a value is part of the value, as in Python);
//! * a line indented deeper than its key continues the value (joined with
//!   `\n`, trailing empty lines dropped);
//! * `[DEFAULT]` values show through every section;
//! * basic interpolation on read: `%(key)s` is replaced by another key of
//!   the same section (or DEFAULT), `%%` is a literal `%`, any other `%` is
//!   an error (Python raises too, so such a file never worked with the
//!   seeds either).
//!
//! Errors name the file and line (parsing) or file, section and key
//! (reading).

use crate::error::ConfError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed INI file.
#[derive(Debug, Clone)]
pub struct Ini {
    origin: PathBuf,
    defaults: BTreeMap<String, String>,
    sections: Vec<(String, BTreeMap<String, String>)>,
}

/// How deep `%(key)s` references may nest (Python's MAX_INTERPOLATION_DEPTH).
const MAX_DEPTH: usize = 10;

struct Pending {
    key: String,
    lines: Vec<String>,
    indent: usize,
}

impl Ini {
    /// Reads and parses `path`. Unlike Python's `config.read`, a missing
    /// file is an error, not an empty configuration.
    pub fn load(path: &Path) -> Result<Ini, ConfError> {
        let bytes = std::fs::read(path).map_err(|source| ConfError::Read {
            file: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| ConfError::Syntax {
            file: path.to_owned(),
            line: 0,
            detail: format!("not UTF-8 text ({e})"),
        })?;
        Ini::parse(&text, path)
    }

    /// Parses `text`; `origin` is the file name used in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Ini, ConfError> {
        let mut ini = Ini {
            origin: origin.to_owned(),
            defaults: BTreeMap::new(),
            sections: Vec::new(),
        };
        // Index into `sections`, or None for DEFAULT; outer None = no header yet.
        let mut current: Option<Option<usize>> = None;
        let mut pending: Option<Pending> = None;
        let syntax = |line: usize, detail: String| ConfError::Syntax {
            file: origin.to_owned(),
            line,
            detail,
        };
        for (n, raw) in text.lines().enumerate() {
            let lineno = n + 1;
            let trimmed = raw.trim();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.is_empty() {
                if let Some(p) = pending.as_mut() {
                    p.lines.push(String::new());
                }
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            if let Some(p) = pending.as_mut()
                && indent > p.indent
            {
                p.lines.push(trimmed.to_owned());
                continue;
            }
            if let Some(p) = pending.take() {
                ini.store(current, p);
            }
            if let Some(rest) = trimmed.strip_prefix('[')
                && let Some(end) = rest.rfind(']')
            {
                let name = &rest[..end];
                if name.is_empty() {
                    return Err(syntax(lineno, "empty section name".into()));
                }
                if name == "DEFAULT" {
                    current = Some(None);
                    continue;
                }
                if ini.sections.iter().any(|(s, _)| s == name) {
                    return Err(syntax(lineno, format!("section [{name}] appears twice")));
                }
                ini.sections.push((name.to_owned(), BTreeMap::new()));
                current = Some(Some(ini.sections.len() - 1));
                continue;
            }
            let Some(section) = current else {
                return Err(syntax(
                    lineno,
                    format!("{trimmed:?} comes before any [section] header"),
                ));
            };
            let Some(split) = trimmed.find(['=', ':']) else {
                return Err(syntax(
                    lineno,
                    format!("{trimmed:?} is neither `key = value` nor a [section]"),
                ));
            };
            let key = trimmed[..split].trim_end().to_lowercase();
            if key.is_empty() {
                return Err(syntax(lineno, "a value without a key".into()));
            }
            let exists = match section {
                None => ini.defaults.contains_key(&key),
                Some(i) => ini.sections[i].1.contains_key(&key),
            };
            if exists {
                return Err(syntax(
                    lineno,
                    format!(
                        "key {key:?} appears twice in [{}]",
                        ini.section_label(section)
                    ),
                ));
            }
            pending = Some(Pending {
                key,
                lines: vec![trimmed[split + 1..].trim().to_owned()],
                indent,
            });
        }
        if let Some(p) = pending.take() {
            ini.store(current, p);
        }
        Ok(ini)
    }

    fn section_label(&self, section: Option<usize>) -> &str {
        section.map_or("DEFAULT", |i| self.sections[i].0.as_str())
    }

    fn store(&mut self, section: Option<Option<usize>>, p: Pending) {
        let value = p.lines.join("\n").trim_end().to_owned();
        match section {
            Some(Some(i)) => {
                self.sections[i].1.insert(p.key, value);
            }
            Some(None) => {
                self.defaults.insert(p.key, value);
            }
            None => {}
        }
    }

    /// The file this came from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Is there a `[section]`?
    pub fn has_section(&self, section: &str) -> bool {
        self.sections.iter().any(|(s, _)| s == section)
    }

    /// Section names in file order (DEFAULT excluded).
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|(s, _)| s.as_str())
    }

    /// The keys of `section` as written (lower-cased), DEFAULT's included.
    pub fn keys(&self, section: &str) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .raw_section(section)
            .map_or_else(Vec::new, |m| m.keys().map(String::as_str).collect());
        for k in self.defaults.keys() {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        keys
    }

    fn raw_section(&self, section: &str) -> Option<&BTreeMap<String, String>> {
        self.sections
            .iter()
            .find(|(s, _)| s == section)
            .map(|(_, m)| m)
    }

    fn raw(&self, section: &str, key: &str) -> Option<&str> {
        self.raw_section(section)
            .and_then(|m| m.get(key))
            .or_else(|| self.defaults.get(key))
            .map(String::as_str)
    }

    /// The value of `key` in `section` as written, without interpolation
    /// (Python 2 `ConfigParser` leaves a value without `%(` as it is, so
    /// pybackup's `db_list = union_log_ad_%` is read unchanged).
    pub fn get_raw(&self, section: &str, key: &str) -> Option<String> {
        self.raw(section, &key.to_lowercase()).map(str::to_owned)
    }

    /// The value of `key` in `section` (keys are case-insensitive), with
    /// interpolation applied; `Ok(None)` when absent (or the section is).
    pub fn get(&self, section: &str, key: &str) -> Result<Option<String>, ConfError> {
        let key = key.to_lowercase();
        match self.raw(section, &key) {
            None => Ok(None),
            Some(raw) => self.interpolate(section, &key, raw, 0).map(Some),
        }
    }

    fn interpolate(
        &self,
        section: &str,
        key: &str,
        raw: &str,
        depth: usize,
    ) -> Result<String, ConfError> {
        let bad = |detail: String| ConfError::Value {
            file: self.origin.clone(),
            section: section.to_owned(),
            key: key.to_owned(),
            detail,
        };
        if depth > MAX_DEPTH {
            return Err(bad(format!(
                "%(...)s references nest deeper than {MAX_DEPTH}"
            )));
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(r) = after.strip_prefix('%') {
                out.push('%');
                rest = r;
            } else if let Some(r) = after.strip_prefix('(')
                && let Some(close) = r.find(")s")
            {
                let name = r[..close].to_lowercase();
                let Some(value) = self.raw(section, &name) else {
                    return Err(bad(format!(
                        "%({name})s refers to a key that is not in [{section}] or [DEFAULT]"
                    )));
                };
                out.push_str(&self.interpolate(section, key, value, depth + 1)?);
                rest = &r[close + 2..];
            } else {
                return Err(bad(
                    "a '%' must be written '%%' (the file is read with Python configparser rules)"
                        .into(),
                ));
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Ini {
        Ini::parse(text, Path::new("t.conf")).unwrap()
    }

    fn parse_err(text: &str) -> String {
        Ini::parse(text, Path::new("t.conf"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_sections_keys_and_both_delimiters() {
        let ini = parse("[misc]\nDebug = 1\nsocat-port: 29999\n[cluster]\nip=10.0.0.1\n");
        assert_eq!(ini.get("misc", "debug").unwrap().as_deref(), Some("1"));
        assert_eq!(ini.get("misc", "DEBUG").unwrap().as_deref(), Some("1"));
        assert_eq!(
            ini.get("misc", "socat-port").unwrap().as_deref(),
            Some("29999")
        );
        assert_eq!(
            ini.get("cluster", "ip").unwrap().as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(ini.get("cluster", "port").unwrap(), None);
        assert_eq!(ini.get("nope", "ip").unwrap(), None);
        assert!(ini.has_section("misc") && !ini.has_section("Misc"));
        assert_eq!(ini.sections().collect::<Vec<_>>(), ["misc", "cluster"]);
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let ini = parse("# top\n[a]\n; note\n  # indented note\nx = 1 # not a comment\n");
        assert_eq!(
            ini.get("a", "x").unwrap().as_deref(),
            Some("1 # not a comment")
        );
    }

    #[test]
    fn a_value_may_contain_the_other_delimiter() {
        let ini = parse("[a]\nuri = rabbit://admin:pw@10.0.0.1:5672//\nt: 12:00\n");
        assert_eq!(
            ini.get("a", "uri").unwrap().as_deref(),
            Some("rabbit://admin:pw@10.0.0.1:5672//")
        );
        assert_eq!(ini.get("a", "t").unwrap().as_deref(), Some("12:00"));
    }

    #[test]
    fn indented_lines_continue_a_value() {
        let ini = parse("[a]\nlist = one\n  two\n\n  three\n\nnext = 2\n");
        assert_eq!(
            ini.get("a", "list").unwrap().as_deref(),
            Some("one\ntwo\n\nthree")
        );
        assert_eq!(ini.get("a", "next").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn defaults_show_through_and_interpolate() {
        let ini = parse(
            "[DEFAULT]\nbase = /data\n[backup-store]\ndir = %(base)s/backups\npw = 50%%off\n",
        );
        assert_eq!(
            ini.get("backup-store", "dir").unwrap().as_deref(),
            Some("/data/backups")
        );
        assert_eq!(
            ini.get("backup-store", "pw").unwrap().as_deref(),
            Some("50%off")
        );
        assert_eq!(
            ini.get("backup-store", "base").unwrap().as_deref(),
            Some("/data")
        );
        assert!(ini.keys("backup-store").contains(&"base"));
    }

    #[test]
    fn a_lone_percent_is_an_error_naming_the_key() {
        let ini = parse("[cluster]\npassword = 50%off\n");
        let err = ini.get("cluster", "password").unwrap_err().to_string();
        assert!(err.contains("t.conf") && err.contains("[cluster]") && err.contains("password"));
        assert!(!err.contains("50%off"), "the value may be a secret: {err}");
        let ini = parse("[a]\nx = %(x)s\n");
        assert!(
            ini.get("a", "x")
                .unwrap_err()
                .to_string()
                .contains("deeper")
        );
        let ini = parse("[a]\nx = %(y)s\n");
        assert!(ini.get("a", "x").unwrap_err().to_string().contains("%(y)s"));
    }

    #[test]
    fn structural_errors_name_the_line() {
        assert!(parse_err("x = 1\n").contains("t.conf:1"));
        assert!(parse_err("[a]\nx = 1\n[a]\n").contains("t.conf:3"));
        assert!(parse_err("[a]\nx = 1\nX = 2\n").contains("appears twice"));
        assert!(parse_err("[a]\njust words\n").contains("t.conf:2"));
        assert!(parse_err("[a]\n= 1\n").contains("without a key"));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = Ini::load(Path::new("/nonexistent/backup.conf"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/backup.conf"), "{err}");
    }
}
