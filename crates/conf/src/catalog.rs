//! `[catalog]` (an addition to `backup.conf` and `recovery.conf`; the
//! seeds have none): where `dbbackup` and `dbrecover` record every run
//! (`catalog::physical`). Optional; a catalog that is down never fails a
//! run.
//!
//! ```ini
//! [catalog]
//! host = 10.0.0.40
//! port = 3306                  ; default 3306
//! user = dbbackup
//! password-file = /etc/dbbackup/catalog.pw   ; first line; or `password = ...`
//! database = dbscale_backup    ; default dbscale_backup, created if missing
//! ```

use crate::error::ConfError;
use crate::values::Section;
use std::fmt;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The database used when `[catalog] database` is not set.
pub const DEFAULT_DATABASE: &str = "dbscale_backup";

/// The section's name.
pub const SECTION: &str = "catalog";

/// `[catalog]`: the catalog login. `Debug` hides the password.
#[derive(Clone)]
pub struct CatalogConfig {
    /// `host`.
    pub host: String,
    /// `port` (default 3306).
    pub port: u16,
    /// `user`.
    pub user: String,
    /// `password`, or the first line of `password-file` (empty when
    /// neither is set).
    pub password: Zeroizing<String>,
    /// `password-file`, when the password came from one.
    pub password_file: Option<PathBuf>,
    /// `database` (default [`DEFAULT_DATABASE`]).
    pub database: String,
}

impl fmt::Debug for CatalogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("password_file", &self.password_file)
            .field("database", &self.database)
            .finish()
    }
}

impl CatalogConfig {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Reads `[catalog]` from `section` (named [`SECTION`]); `None` when the
/// file has no such section.
pub fn read(section: &Section<'_>, present: bool) -> Result<Option<CatalogConfig>, ConfError> {
    if !present {
        return Ok(None);
    }
    let host = section.require("host")?.trim().to_owned();
    if host.is_empty() {
        return Err(section.invalid("host", "is empty"));
    }
    let user = section.require("user")?.trim().to_owned();
    if user.is_empty() {
        return Err(section.invalid("user", "is empty"));
    }
    let port = match section.text("port")? {
        Some(p) if !p.trim().is_empty() => p
            .trim()
            .parse()
            .map_err(|_| section.invalid("port", format!("{p:?} is not a port number")))?,
        _ => 3306,
    };
    let database = match section.text("database")? {
        Some(d) if !d.trim().is_empty() => d.trim().to_owned(),
        _ => DEFAULT_DATABASE.to_owned(),
    };
    if !plain_identifier(&database) {
        return Err(section.invalid(
            "database",
            format!("{database:?} is not a plain name (letters, digits, _ and $)"),
        ));
    }
    let password = section.text("password")?.map(Zeroizing::new);
    let file = section
        .text("password-file")?
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let password = match (password, &file) {
        (Some(_), Some(_)) => {
            return Err(section.invalid(
                "password-file",
                "password and password-file are exclusive: set only one",
            ));
        }
        (Some(p), None) => p,
        (None, Some(f)) => first_line(f).map_err(|e| {
            section.invalid("password-file", format!("cannot read {}: {e}", f.display()))
        })?,
        (None, None) => Zeroizing::new(String::new()),
    };
    Ok(Some(CatalogConfig {
        host,
        port,
        user,
        password,
        password_file: file,
        database,
    }))
}

/// The first line of `file`, without its line end.
fn first_line(file: &std::path::Path) -> std::io::Result<Zeroizing<String>> {
    let text = Zeroizing::new(std::fs::read_to_string(file)?);
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or_default().to_owned(),
    ))
}

fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini::Ini;
    use std::path::Path;

    fn parse(text: &str) -> Result<Option<CatalogConfig>, ConfError> {
        let ini = Ini::parse(text, Path::new("backup.conf"))?;
        let s = Section::new(&ini, SECTION);
        read(&s, ini.has_section(SECTION))
    }

    #[test]
    fn defaults_and_the_password_from_a_file() {
        assert!(parse("[misc]\n").unwrap().is_none());
        let c = parse("[catalog]\nhost = h\nuser = u\npassword = Pw-1\n")
            .unwrap()
            .unwrap();
        assert_eq!((c.port, c.database.as_str()), (3306, DEFAULT_DATABASE));
        assert_eq!(c.password.as_str(), "Pw-1");
        assert!(!format!("{c:?}").contains("Pw-1"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "File-Pw-2\nsecond line\n").unwrap();
        let text = format!(
            "[catalog]\nhost = h\nport = 16340\nuser = u\npassword-file = {}\ndatabase = runs_1\n",
            f.display()
        );
        let c = parse(&text).unwrap().unwrap();
        assert_eq!(c.password.as_str(), "File-Pw-2");
        assert_eq!(
            (c.address().as_str(), c.database.as_str()),
            ("h:16340", "runs_1")
        );
    }

    #[test]
    fn errors_name_the_key_and_never_the_password() {
        let both = "[catalog]\nhost = h\nuser = u\npassword = Pw-3\npassword-file = /x\n";
        let err = parse(both).unwrap_err().to_string();
        assert!(
            err.starts_with("backup.conf: [catalog] password-file:"),
            "{err}"
        );
        assert!(!err.contains("Pw-3"), "{err}");
        let err = parse("[catalog]\nhost = h\nuser = u\npassword-file = /nonexistent/pw\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[catalog] password-file: cannot read /nonexistent/pw"),
            "{err}"
        );
        let err = parse("[catalog]\nhost = h\nuser = u\ndatabase = a-b\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("backup.conf: [catalog] database:"), "{err}");
        let err = parse("[catalog]\nuser = u\n").unwrap_err().to_string();
        assert_eq!(err, "backup.conf: [catalog] host is required");
    }
}
