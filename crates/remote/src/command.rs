//! A command as a typed value, and its rendering for a POSIX shell.
//!
//! A [`Command`] is a program with arguments (or, explicitly, a raw shell
//! snippet), an optional working directory, environment variables and
//! optional stdin bytes. Transports that need a shell (ssh) render it with
//! [`Command::to_shell`], which quotes every part; nothing is concatenated
//! into a shell line unquoted.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// What to run: a program with arguments, or a raw shell snippet.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    /// `program arg...`, run without a shell where possible.
    Exec {
        /// The program (a name looked up in `PATH`, or a path).
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// A shell snippet run by `sh -c`; the caller is responsible for it.
    Shell(String),
}

/// A command to run on a host.
///
/// ```
/// use remote::Command;
/// let cmd = Command::new("ls").arg("-l").arg("my dir").cwd("/tmp");
/// assert_eq!(cmd.to_shell(), "cd /tmp && exec ls -l 'my dir'");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// What runs.
    pub program: Program,
    /// Working directory, if not the login directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables (values may be secret: they are never
    /// logged and never put on any argv).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Bytes written to the command's stdin (then closed); `None` means an
    /// empty stdin.
    #[serde(default, with = "b64opt", skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Vec<u8>>,
}

impl Command {
    /// `program` with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Self::from_program(Program::Exec {
            program: program.into(),
            args: Vec::new(),
        })
    }

    /// A raw shell snippet, run by `sh -c`. Use only with trusted text;
    /// quote any value put into it with [`quote`].
    pub fn shell(snippet: impl Into<String>) -> Self {
        Self::from_program(Program::Shell(snippet.into()))
    }

    fn from_program(program: Program) -> Self {
        Self {
            program,
            cwd: None,
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Appends one argument (no effect on a shell snippet but a debug
    /// assertion: snippets take no arguments).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        match &mut self.program {
            Program::Exec { args, .. } => args.push(arg.into()),
            Program::Shell(_) => debug_assert!(false, "a shell snippet takes no arguments"),
        }
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, more: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for a in more {
            self = self.arg(a);
        }
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the bytes fed to stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The program's name, for messages and logs (`sh` for a snippet);
    /// never its arguments, which may hold secrets.
    pub fn name(&self) -> &str {
        match &self.program {
            Program::Exec { program, .. } => program,
            Program::Shell(_) => "sh",
        }
    }

    /// `(program, args)` as a process would be started without a shell
    /// (`sh -c SNIPPET` for a snippet).
    pub fn argv(&self) -> (&str, Vec<&str>) {
        match &self.program {
            Program::Exec { program, args } => (program, args.iter().map(String::as_str).collect()),
            Program::Shell(s) => ("sh", vec!["-c", s]),
        }
    }

    /// Checks the parts a shell rendering depends on: a non-empty program and
    /// environment names that are valid shell identifiers.
    pub fn validate(&self) -> Result<(), String> {
        if self.name().is_empty() {
            return Err("empty program name".into());
        }
        for (k, _) in &self.env {
            if !is_identifier(k) {
                return Err(format!("invalid environment variable name {k:?}"));
            }
        }
        Ok(())
    }

    /// The command line for a POSIX shell, without the environment (see
    /// [`Command::env_exports`]): `cd DIR && exec PROGRAM ARGS...`.
    pub fn to_shell(&self) -> String {
        let mut line = String::new();
        if let Some(dir) = &self.cwd {
            line.push_str("cd ");
            line.push_str(&quote(dir));
            line.push_str(" && ");
        }
        line.push_str("exec ");
        line.push_str(&self.argv_shell());
        line
    }

    /// `PROGRAM ARGS...` quoted (`sh -c SNIPPET` for a snippet).
    pub fn argv_shell(&self) -> String {
        let (program, args) = self.argv();
        let mut line = quote(program).into_owned();
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        line
    }

    /// `K='v'; export K` lines for the environment, for a script the shell
    /// reads (never an argv).
    pub fn env_exports(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{k}={}; export {k}\n", quote(v)))
            .collect()
    }
}

impl fmt::Debug for Command {
    // Arguments, environment values and stdin may hold secrets: only the
    // program's name and the shape are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, args) = self.argv();
        f.debug_struct("Command")
            .field("program", &self.name())
            .field("args", &args.len())
            .field("cwd", &self.cwd)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("stdin_bytes", &self.stdin.as_ref().map(Vec::len))
            .finish()
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Quotes `s` for a POSIX shell: unchanged when it only holds safe
/// characters, else single-quoted with embedded `'` as `'\''`.
pub fn quote(s: &str) -> Cow<'_, str> {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b',' | b'+' | b'=' | b'@' | b'%'
                )
        });
    if safe {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', "'\\''")))
    }
}

mod b64opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_stay_bare() {
        assert_eq!(quote("abc-1.2/x:y"), "abc-1.2/x:y");
    }

    #[test]
    fn specials_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn renders_cwd_and_args() {
        let c = Command::new("printf").arg("%s\\n").arg("x y").cwd("/a b");
        assert_eq!(c.to_shell(), "cd '/a b' && exec printf '%s\\n' 'x y'");
    }

    #[test]
    fn snippets_are_explicit() {
        let c = Command::shell("echo $HOME | wc -c");
        assert_eq!(c.name(), "sh");
        assert_eq!(c.to_shell(), "exec sh -c 'echo $HOME | wc -c'");
    }

    #[test]
    fn env_is_exported_quoted_and_validated() {
        let c = Command::new("x").env("PW", "p'w $x");
        assert_eq!(c.env_exports(), "PW='p'\\''w $x'; export PW\n");
        assert!(c.validate().is_ok());
        assert!(Command::new("x").env("A-B", "1").validate().is_err());
        assert!(Command::new("").validate().is_err());
    }

    #[test]
    fn debug_hides_arguments_and_env_values() {
        let c = Command::new("mysql")
            .arg(["--pass", "word=hunter2"].concat())
            .env("MYSQL_PWD", "hunter2")
            .stdin(b"hunter2".to_vec());
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("MYSQL_PWD"));
    }

    #[test]
    fn serde_round_trip_with_binary_stdin() {
        let c = Command::new("cat").stdin(vec![0u8, 255, 10]).env("A", "b");
        let json = serde_json::to_string(&c).unwrap();
        let back: Command = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        let nasty = [
            "a b", "it's", "$HOME", "`id`", "\\", "\"q\"", "*", "a\nb", "",
        ];
        let c = Command::new("printf").arg("[%s]").args(nasty);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.to_shell())
            .output()
            .unwrap();
        let expected: String = nasty.iter().map(|s| format!("[{s}]")).collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }
}
