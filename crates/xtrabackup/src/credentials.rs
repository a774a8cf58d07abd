//! The 0600 option file that carries the backup user's password.
//!
//! mariabackup 10.11 (like XtraBackup, which shares the code) accepts only
//! ONE of `--defaults-file` / `--defaults-extra-file`, and it must be the
//! first option: `--defaults-file=X --defaults-extra-file=Y` fails with
//! "--defaults-extra-file must be specified first on the command line", and
//! the other order with the same complaint about `--defaults-file` (checked
//! on this machine). So the password file *is* the defaults file: it
//! `!include`s the server's own option file (for datadir, socket, InnoDB
//! settings) and then adds a `[client]` group with the login; options read
//! later win, so ours override any `user`/`password` in the server's file.
//!
//! The file is written on the host by a command whose stdin carries the
//! content (never an argv), under `umask 077` and `set -C` (refusing to
//! follow or overwrite an existing file), and removed afterwards.

use crate::error::Error;
use remote::{Command, Zeroizing, quote};

/// The content of a wrapper option file.
pub struct ClientDefaults {
    /// The server's option file (from its command line), `!include`d first.
    pub server_defaults_file: String,
    /// The backup login.
    pub user: String,
    /// Its password.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for ClientDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDefaults")
            .field("server_defaults_file", &self.server_defaults_file)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl ClientDefaults {
    /// The file's text. Values are double-quoted with the option-file
    /// escapes (`\\`, `\"`, `\'`, `\n`, `\r`, `\t`), so `#`, `;`, quotes
    /// and spaces in a password survive.
    pub fn render(&self) -> Result<Zeroizing<String>, Error> {
        if self.server_defaults_file.contains(['\n', '\r', '\0']) {
            return Err(Error::Invalid {
                what: format!("server option file path {:?}", self.server_defaults_file),
                detail: "it holds a line break or NUL".into(),
            });
        }
        for (what, v) in [
            ("user name", self.user.as_str()),
            ("password", &self.password),
        ] {
            if v.contains('\0') {
                return Err(Error::Invalid {
                    what: what.into(),
                    detail: "it holds a NUL byte".into(),
                });
            }
        }
        Ok(Zeroizing::new(format!(
            "!include {}\n[client]\nuser=\"{}\"\npassword=\"{}\"\n",
            self.server_defaults_file,
            escape(&self.user),
            escape(&self.password)
        )))
    }

    /// The command that writes [`ClientDefaults::render`] to `path` on the
    /// host, mode 0600, failing if `path` exists.
    pub fn write_command(&self, path: &str) -> Result<Command, Error> {
        let text = self.render()?;
        Ok(
            Command::shell(format!("umask 077 && set -C && cat > {}", quote(path)))
                .stdin(text.as_bytes()),
        )
    }
}

/// The command that removes the option file (no error if already gone).
pub fn remove_command(path: &str) -> Command {
    Command::new("rm").arg("-f").arg("--").arg(path)
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(pw: &str) -> ClientDefaults {
        ClientDefaults {
            server_defaults_file: "/srv/my.cnf".into(),
            user: "bk".into(),
            password: Zeroizing::new(pw.into()),
        }
    }

    #[test]
    fn renders_include_then_client_group() {
        let text = defaults("a#b;c \"q\" 'x' \\").render().unwrap();
        assert_eq!(
            text.as_str(),
            "!include /srv/my.cnf\n[client]\nuser=\"bk\"\npassword=\"a#b;c \\\"q\\\" \\'x\\' \\\\\"\n"
        );
    }

    #[test]
    fn the_password_is_only_on_stdin() {
        let cmd = defaults("s3cret-pw").write_command("/tmp/x y.cnf").unwrap();
        let (_, args) = cmd.argv();
        assert!(args.iter().all(|a| !a.contains("s3cret-pw")));
        assert_eq!(args[1], "umask 077 && set -C && cat > '/tmp/x y.cnf'");
        assert!(
            String::from_utf8_lossy(cmd.stdin.as_deref().unwrap_or_default()).contains("s3cret-pw")
        );
        assert!(!format!("{:?}", defaults("s3cret-pw")).contains("s3cret-pw"));
    }

    #[test]
    fn line_breaks_in_the_path_are_refused() {
        let mut d = defaults("x");
        d.server_defaults_file = "/a\n[client]\nuser=root".into();
        assert!(d.render().is_err());
        assert!(defaults("a\0b").render().is_err());
    }
}
