//! `[TDB] db_list`: which databases to back up. Names may hold MySQL
//! `LIKE` wildcards (`%`, `_`, `\` escapes); `!name` excludes; `%` alone is
//! every database; including and excluding in one list is refused, as the
//! seed says. Resolved against the server's `SHOW DATABASES`.

use crate::error::LogicalError;

/// Databases never backed up by `%` or an exclusion list (they are the
/// server's own; an include pattern may still name `mysql`).
pub const SYSTEM_DATABASES: &[&str] = &["information_schema", "performance_schema", "sys", "mysql"];

/// A parsed `db_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbList {
    /// These names or patterns.
    Include(Vec<String>),
    /// Everything but these names or patterns.
    Exclude(Vec<String>),
}

impl DbList {
    /// Parses `db_list` (`a,b_%`, `!a,!b`, `%`).
    pub fn parse(text: &str) -> Result<DbList, LogicalError> {
        let items: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(LogicalError::DbList(format!(
                "db_list {text:?} names no database"
            )));
        }
        let excluded = items.iter().filter(|i| i.starts_with('!')).count();
        if excluded == 0 {
            return Ok(DbList::Include(
                items.iter().map(|s| (*s).to_owned()).collect(),
            ));
        }
        if excluded != items.len() {
            return Err(LogicalError::DbList(format!(
                "db_list {text:?} mixes databases to back up with excluded (!) ones; \
                 write either names (a,b) or exclusions (!a,!b), not both"
            )));
        }
        let names: Vec<String> = items.iter().map(|s| s[1..].trim().to_owned()).collect();
        if names.iter().any(String::is_empty) {
            return Err(LogicalError::DbList(format!(
                "db_list {text:?} has a lone '!'"
            )));
        }
        Ok(DbList::Exclude(names))
    }

    /// The databases of `server` (its `SHOW DATABASES`) this list selects,
    /// in the server's order. An include pattern that matches nothing is
    /// an error (a typo would otherwise back up less than meant).
    pub fn resolve(&self, server: &[String]) -> Result<Vec<String>, LogicalError> {
        let user = || {
            server
                .iter()
                .filter(|d| !SYSTEM_DATABASES.contains(&d.as_str()))
        };
        let chosen: Vec<String> = match self {
            DbList::Include(patterns) => {
                for p in patterns {
                    if !server.iter().any(|d| like(p, d)) {
                        return Err(LogicalError::DbList(format!(
                            "db_list entry {p:?} matches no database on the server"
                        )));
                    }
                }
                if patterns.iter().all(|p| p == "%") {
                    user().cloned().collect()
                } else {
                    server
                        .iter()
                        .filter(|d| patterns.iter().any(|p| like(p, d)))
                        .cloned()
                        .collect()
                }
            }
            DbList::Exclude(patterns) => user()
                .filter(|d| !patterns.iter().any(|p| like(p, d)))
                .cloned()
                .collect(),
        };
        if chosen.is_empty() {
            return Err(LogicalError::DbList(
                "db_list selects no database on the server".into(),
            ));
        }
        Ok(chosen)
    }
}

/// MySQL `LIKE` (case-sensitive, as database names are on Linux): `%` any
/// run, `_` one character, `\` escapes the next.
pub fn like(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    like_at(&p, &n)
}

fn like_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('%') => (0..=n.len()).any(|i| like_at(&p[1..], &n[i..])),
        Some('_') => !n.is_empty() && like_at(&p[1..], &n[1..]),
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && like_at(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && like_at(&p[1..], &n[1..]),
    }
}

/// mydumper's `--regex` for one consistent run over `databases`:
/// `^(a|b)\.` with every name's regex characters escaped.
pub fn consistent_regex(databases: &[String]) -> String {
    let names: Vec<String> = databases.iter().map(|d| regex_escape(d)).collect();
    format!("^({})\\.", names.join("|"))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Vec<String> {
        [
            "information_schema",
            "fandb",
            "mysql",
            "performance_schema",
            "sys",
            "test",
            "union_log_ad_201710_db",
            "union_log_ad_201711_db",
            "union_logXad",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn the_seed_examples() {
        let l = DbList::parse("test,fandb,union_log_ad_%").unwrap();
        assert_eq!(
            l.resolve(&server()).unwrap(),
            [
                "fandb",
                "test",
                "union_log_ad_201710_db",
                "union_log_ad_201711_db"
            ]
        );
        assert_eq!(
            DbList::parse("union_log%")
                .unwrap()
                .resolve(&server())
                .unwrap()
                .len(),
            3
        );
        let l = DbList::parse("test,fandb,union\\_log\\_ad\\_%").unwrap();
        assert_eq!(
            l.resolve(&server()).unwrap(),
            [
                "fandb",
                "test",
                "union_log_ad_201710_db",
                "union_log_ad_201711_db"
            ]
        );
        let l = DbList::parse("!fandb, !union_log%").unwrap();
        assert_eq!(
            l,
            DbList::Exclude(vec!["fandb".into(), "union_log%".into()])
        );
        assert_eq!(l.resolve(&server()).unwrap(), ["test"]);
        assert_eq!(
            DbList::parse("%").unwrap().resolve(&server()).unwrap(),
            [
                "fandb",
                "test",
                "union_log_ad_201710_db",
                "union_log_ad_201711_db",
                "union_logXad"
            ]
        );
        assert_eq!(
            DbList::parse("mysql").unwrap().resolve(&server()).unwrap(),
            ["mysql"]
        );
    }

    #[test]
    fn refusals() {
        let e = DbList::parse("!fan,bo").unwrap_err().to_string();
        assert!(e.contains("mixes"), "{e}");
        assert!(DbList::parse(" , ").is_err());
        assert!(DbList::parse("!").is_err());
        let e = DbList::parse("fandb,nosuch%")
            .unwrap()
            .resolve(&server())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nosuch%"), "{e}");
        let all = server()
            .iter()
            .filter(|d| !SYSTEM_DATABASES.contains(&d.as_str()))
            .map(|d| format!("!{d}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(DbList::parse(&all).unwrap().resolve(&server()).is_err());
    }

    #[test]
    fn like_and_regex() {
        assert!(like("a%c", "abbbc") && like("a_c", "abc") && !like("a_c", "ac"));
        assert!(like("a\\%", "a%") && !like("a\\%", "ab"));
        assert_eq!(
            consistent_regex(&["a.b".into(), "c-d".into()]),
            "^(a\\.b|c\\-d)\\."
        );
    }
}
