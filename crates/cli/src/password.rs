//! Where a password comes from, the same way in every binary: the first
//! line of `--password-file`, else `-p` (with a warning: other users see it
//! in `ps`), else an environment variable, else (where the tool asks) a
//! prompt on the terminal. A source that is given but empty is an error,
//! never "no password": an encrypting run must not quietly become a plain
//! one.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize as _, Zeroizing};

/// The password flags every binary that takes a password shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PasswordArgs {
    /// The password on the command line, as the seed tools take it (other
    /// users of the machine see it in `ps`, so it is warned about: prefer
    /// --password-file or the environment variable).
    #[arg(
        short = 'p',
        long = "password",
        value_name = "PASS",
        global = true,
        conflicts_with = "password_file"
    )]
    pub password: Option<String>,
    /// Read the password from the first line of this file (a trailing
    /// newline is dropped).
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,
}

impl PasswordArgs {
    /// Whether either flag was given.
    pub fn given(&self) -> bool {
        self.password.is_some() || self.password_file.is_some()
    }

    /// The password from these flags, the environment variable `env` or,
    /// per `prompt`, the terminal; `Ok(None)` when none gave one.
    pub fn read(
        &self,
        env: &'static str,
        prompt: Prompt,
    ) -> Result<Option<Zeroizing<String>>, PasswordError> {
        read_password(
            self.password_file.as_deref(),
            self.password.as_deref(),
            env,
            std::env::var_os(env),
            prompt,
        )
    }
}

/// Whether to ask on the terminal when no other source gave a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Never (tools run from cron: no password means none).
    Never,
    /// Once.
    Once,
    /// Twice, the two compared (before encrypting).
    Confirmed,
}

/// Why no password could be had.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password file could not be read.
    #[error("cannot read the password file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The password file is not text.
    #[error("the password file {0} is not valid UTF-8")]
    FileNotUtf8(PathBuf),
    /// The environment variable is not text.
    #[error("{0} is not valid UTF-8")]
    EnvNotUtf8(&'static str),
    /// A source was given and is empty.
    #[error("the password is empty ({0})")]
    Empty(String),
    /// Asked for a prompt with no terminal to ask on.
    #[error("no password given: use --password-file, {0} or run on a terminal")]
    NoTerminal(&'static str),
    /// The confirmation differs.
    #[error("the passwords do not match")]
    Mismatch,
}

/// The warning `-p` gives.
fn flag_warning(env: &str) -> String {
    format!(
        "WARNING: -p puts the password on the command line, where other users of this \
         machine can read it; prefer --password-file or {env}."
    )
}

/// The password from, in order: the first line of `file`, `flag` (warned
/// about on stderr), `env_value` (the value of `env`), the terminal as
/// `prompt` says. `Ok(None)` only when no source was there at all.
pub fn read_password(
    file: Option<&Path>,
    flag: Option<&str>,
    env: &'static str,
    env_value: Option<OsString>,
    prompt: Prompt,
) -> Result<Option<Zeroizing<String>>, PasswordError> {
    let (text, source) = if let Some(path) = file {
        (first_line_of(path)?, format!("the file {}", path.display()))
    } else if let Some(p) = flag {
        eprintln!("{}", flag_warning(env));
        (Zeroizing::new(p.to_owned()), "-p".to_owned())
    } else if let Some(value) = env_value {
        let text = value
            .into_string()
            .map_err(|_| PasswordError::EnvNotUtf8(env))?;
        (Zeroizing::new(text), env.to_owned())
    } else if prompt != Prompt::Never {
        (
            ask(env, prompt == Prompt::Confirmed)?,
            "the prompt".to_owned(),
        )
    } else {
        return Ok(None);
    };
    if text.is_empty() {
        return Err(PasswordError::Empty(source));
    }
    Ok(Some(text))
}

/// The first line of `path` (up to the first `\n` or `\r`), the rest wiped.
fn first_line_of(path: &Path) -> Result<Zeroizing<String>, PasswordError> {
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| PasswordError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    let end = bytes
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .unwrap_or(bytes.len());
    let line = std::str::from_utf8(&bytes[..end])
        .map_err(|_| PasswordError::FileNotUtf8(path.to_owned()))?;
    Ok(Zeroizing::new(line.to_owned()))
}

/// Asks on the terminal (twice when `confirm`).
fn ask(env: &'static str, confirm: bool) -> Result<Zeroizing<String>, PasswordError> {
    let no_terminal = |_| PasswordError::NoTerminal(env);
    let text = Zeroizing::new(rpassword::prompt_password("Password: ").map_err(no_terminal)?);
    if confirm {
        let mut again = rpassword::prompt_password("Confirm password: ").map_err(no_terminal)?;
        let same = again == *text;
        again.zeroize();
        if !same {
            return Err(PasswordError::Mismatch);
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = "TEST_PASSWORD";

    fn from_file(bytes: &[u8]) -> Result<Option<Zeroizing<String>>, PasswordError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, bytes).unwrap();
        read_password(
            Some(&path),
            Some("flag"),
            ENV,
            Some("env".into()),
            Prompt::Never,
        )
    }

    #[test]
    fn the_file_wins_and_gives_its_first_line() {
        for (bytes, want) in [
            (&b"s3cret\n"[..], "s3cret"),
            (b"s3cret\r\nsecond", "s3cret"),
            (b"s3cret\rx", "s3cret"),
            (b"no newline", "no newline"),
            (b" spaces kept \n", " spaces kept "),
        ] {
            let got = from_file(bytes).unwrap().unwrap();
            assert_eq!(got.as_str(), want, "{bytes:?}");
        }
    }

    #[test]
    fn an_empty_or_unreadable_file_is_an_error_naming_it() {
        for bytes in [&b""[..], b"\n", b"\r\nx"] {
            let err = from_file(bytes).unwrap_err();
            assert!(
                matches!(err, PasswordError::Empty(ref s) if s.contains("key")),
                "{err}"
            );
        }
        assert!(matches!(
            from_file(b"\xff\xfe\n").unwrap_err(),
            PasswordError::FileNotUtf8(_)
        ));
        let err = read_password(
            Some(Path::new("/no/such/key")),
            None,
            ENV,
            None,
            Prompt::Never,
        )
        .unwrap_err();
        assert!(matches!(err, PasswordError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains("/no/such/key"), "{err}");
    }

    #[test]
    fn the_flag_comes_before_the_environment() {
        let got = read_password(None, Some("flag"), ENV, Some("env".into()), Prompt::Never);
        assert_eq!(got.unwrap().unwrap().as_str(), "flag");
        let got = read_password(None, None, ENV, Some("env".into()), Prompt::Never);
        assert_eq!(got.unwrap().unwrap().as_str(), "env");
    }

    #[test]
    fn an_empty_flag_or_variable_is_an_error_not_no_password() {
        let err = read_password(None, Some(""), ENV, None, Prompt::Never).unwrap_err();
        assert_eq!(err.to_string(), "the password is empty (-p)");
        let err = read_password(None, None, ENV, Some("".into()), Prompt::Never).unwrap_err();
        assert_eq!(err.to_string(), "the password is empty (TEST_PASSWORD)");
    }

    #[test]
    fn no_source_is_no_password_unless_asked_to_prompt() {
        assert!(
            read_password(None, None, ENV, None, Prompt::Never)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn flags_parse_and_conflict() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            pw: PasswordArgs,
        }
        let t = T::try_parse_from(["t", "--password-file", "k"]).unwrap();
        assert!(t.pw.given());
        assert!(T::try_parse_from(["t", "-p", "x", "--password-file", "k"]).is_err());
        assert!(!T::try_parse_from(["t"]).unwrap().pw.given());
    }
}
