//! pybackup's `mydumper ARG...`: mydumper's long options written without
//! `--` (`outputdir=/data/bk compress threads=8`), sorted into the
//! connection (which goes into a 0600 defaults file, never on an argv), the
//! database selection (which overrides `db_list`) and the rest (passed on).

use crate::error::LogicalError;
use crate::tool::Login;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Options this tool sets itself on every run; refused on the command line.
const OWN: &[&str] = &["defaults-file", "ask-password", "daemon", "help", "version"];

/// What the command line selects instead of `db_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `database=a[,b...]`: these databases.
    Databases(Vec<String>),
    /// `regex=...` and/or `tables-list=...`: one run with them as given.
    Filter {
        /// `regex`.
        regex: Option<String>,
        /// `tables-list`.
        tables_list: Option<String>,
    },
}

/// The parsed `mydumper ARG...`.
#[derive(Debug, Clone, Default)]
pub struct MydumperArgs {
    /// Connection options given (they override `[TDB]`; they go into the
    /// defaults file).
    pub connection: Login,
    /// `outputdir` (required).
    pub outputdir: Option<PathBuf>,
    /// The command line's database selection, if any.
    pub selection: Option<Selection>,
    /// Every other option, in order: `(name, value)`.
    pub passthrough: Vec<(String, Option<String>)>,
}

impl MydumperArgs {
    /// Parses `key=value` and bare `flag` words (a leading `--` is
    /// tolerated). Short options, unknown shapes and the options this tool
    /// sets itself are refused.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<MydumperArgs, LogicalError> {
        let mut out = MydumperArgs::default();
        let mut databases: Option<Vec<String>> = None;
        let (mut regex, mut tables_list) = (None, None);
        for word in words {
            let word = word.as_ref();
            let word = word.strip_prefix("--").unwrap_or(word);
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            if key.len() < 2
                || !key.starts_with(|c: char| c.is_ascii_alphanumeric())
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(LogicalError::Usage(format!(
                    "{:?} is not a mydumper long option written without -- (as key=value or key)",
                    redact_word(word)
                )));
            }
            let key = key.replace('_', "-");
            if OWN.contains(&key.as_str()) {
                return Err(LogicalError::Usage(format!(
                    "mydumper's {key} is set by dbcatalog itself and cannot be given"
                )));
            }
            let need = |v: Option<&str>| {
                v.filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        LogicalError::Usage(format!(
                            "mydumper option {key} needs a value ({key}=...)"
                        ))
                    })
            };
            let c = &mut out.connection;
            match key.as_str() {
                "host" => c.host = Some(need(value)?),
                "user" => c.user = Some(need(value)?),
                "socket" => c.socket = Some(need(value)?),
                "password" => {
                    c.password = Some(Zeroizing::new(value.unwrap_or_default().to_owned()))
                }
                "port" => {
                    let v = need(value)?;
                    c.port = Some(v.parse().map_err(|_| {
                        LogicalError::Usage(format!(
                            "mydumper option port={v} is not a port number"
                        ))
                    })?);
                }
                "outputdir" => out.outputdir = Some(PathBuf::from(need(value)?)),
                "database" => {
                    let list: Vec<String> = need(value)?
                        .split(',')
                        .map(|d| d.trim().to_owned())
                        .filter(|d| !d.is_empty())
                        .collect();
                    databases.get_or_insert_with(Vec::new).extend(list);
                }
                "regex" => regex = Some(need(value)?),
                "tables-list" => tables_list = Some(need(value)?),
                _ => out.passthrough.push((key, value.map(str::to_owned))),
            }
        }
        out.selection = match (databases, regex, tables_list) {
            (Some(dbs), None, None) => Some(Selection::Databases(dbs)),
            (None, None, None) => None,
            (_, regex, tables_list) if regex.is_some() || tables_list.is_some() => {
                Some(Selection::Filter { regex, tables_list })
            }
            _ => None,
        };
        if out.outputdir.is_none() {
            return Err(LogicalError::Usage(
                "mydumper needs outputdir=DIR (the backup goes into DIR/<bk_id>/)".into(),
            ));
        }
        Ok(out)
    }
}

/// A word as it may be shown in an error: a password's value hidden.
fn redact_word(word: &str) -> String {
    match word.split_once('=') {
        Some((k, _)) if k.to_ascii_lowercase().contains("pass") => format!("{k}=********"),
        _ => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_cron_line_parses() {
        let a = MydumperArgs::parse(&[
            "password=papapa",
            "user=root",
            "socket=/data/mysql/mysql.sock",
            "outputdir=/data/backup_db/2017-11-15",
            "verbose=3",
            "compress",
            "threads=8",
            "triggers",
            "events",
            "routines",
            "use-savepoints",
            "logfile=/data/backup_db/pybackup.log",
        ])
        .unwrap();
        assert_eq!(a.connection.user.as_deref(), Some("root"));
        assert_eq!(
            a.connection.password.as_deref().map(String::as_str),
            Some("papapa")
        );
        assert_eq!(
            a.connection.socket.as_deref(),
            Some("/data/mysql/mysql.sock")
        );
        assert_eq!(
            a.outputdir,
            Some(PathBuf::from("/data/backup_db/2017-11-15"))
        );
        assert_eq!(a.selection, None);
        let names: Vec<&str> = a.passthrough.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "verbose",
                "compress",
                "threads",
                "triggers",
                "events",
                "routines",
                "use-savepoints",
                "logfile"
            ]
        );
        assert_eq!(a.passthrough[0].1.as_deref(), Some("3"));
        assert_eq!(a.passthrough[1].1, None);
        assert!(!format!("{a:?}").contains("papapa"));
    }

    #[test]
    fn selections_override_and_errors_are_clear() {
        let a = MydumperArgs::parse(&["outputdir=/o", "database=a,b", "--port=3307"]).unwrap();
        assert_eq!(
            a.selection,
            Some(Selection::Databases(vec!["a".into(), "b".into()]))
        );
        assert_eq!(a.connection.port, Some(3307));
        let a = MydumperArgs::parse(&["outputdir=/o", "regex=^(a|b)\\."]).unwrap();
        assert!(matches!(
            a.selection,
            Some(Selection::Filter {
                regex: Some(_),
                tables_list: None
            })
        ));
        let err = |w: &[&str]| MydumperArgs::parse(w).unwrap_err().to_string();
        assert!(err(&["compress"]).contains("outputdir"));
        assert!(err(&["outputdir=/o", "-B"]).contains("long option"));
        assert!(err(&["outputdir=/o", "defaults-file=/x"]).contains("set by dbcatalog"));
        assert!(err(&["outputdir=/o", "port=x"]).contains("port number"));
        let e = err(&["outputdir=/o", "pass word=s3cr3t"]);
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}
