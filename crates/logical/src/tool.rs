//! Running mydumper, myloader and rsync: argv built from typed parts (no
//! shell), the MySQL login in a 0600 defaults file removed when dropped,
//! the command as the catalog records it (`bk_command`, password replaced).

use crate::error::LogicalError;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use zeroize::Zeroizing;

/// What replaces a password in a recorded command line.
pub const REDACTED: &str = "********";

/// A MySQL login for a client tool.
#[derive(Clone, Default)]
pub struct Login {
    /// `host`.
    pub host: Option<String>,
    /// `port`.
    pub port: Option<u16>,
    /// `user`.
    pub user: Option<String>,
    /// `password`.
    pub password: Option<Zeroizing<String>>,
    /// `socket`.
    pub socket: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({})", self.redacted_options().join(" "))
    }
}

impl Login {
    /// The login as `--key=value` options with the password replaced: how
    /// a recorded command line (`bk_command`, `Debug`) shows it. Text only,
    /// never an argv: the tools read the login from
    /// [`Login::defaults_file`].
    pub fn redacted_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(h) = &self.host {
            out.push(format!("--host={h}"));
        }
        if let Some(p) = self.port {
            out.push(format!("--port={p}"));
        }
        if let Some(u) = &self.user {
            out.push(format!("--user={u}"));
        }
        if self.password.is_some() {
            out.push(format!("--password={REDACTED}"));
        }
        if let Some(s) = &self.socket {
            out.push(format!("--socket={s}"));
        }
        out
    }

    /// The `[client]` group of an option file.
    fn option_file(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from("[client]\n"));
        let mut put = |k: &str, v: &str| text.push_str(&format!("{k}=\"{}\"\n", option_quote(v)));
        if let Some(h) = &self.host {
            put("host", h);
        }
        if let Some(p) = self.port {
            put("port", &p.to_string());
        }
        if let Some(u) = &self.user {
            put("user", u);
        }
        if let Some(p) = &self.password {
            put("password", p);
        }
        if let Some(s) = &self.socket {
            put("socket", s);
        }
        text
    }

    /// Writes the login into a new 0600 option file (in the system's temp
    /// directory), removed when the returned value is dropped.
    pub fn defaults_file(&self) -> Result<tempfile::NamedTempFile, LogicalError> {
        let io = |source| LogicalError::Io {
            what: "write the mydumper defaults file".into(),
            path: std::env::temp_dir(),
            source,
        };
        // tempfile creates it 0600 before anything is written.
        let mut file = tempfile::Builder::new()
            .prefix("dbcatalog-")
            .suffix(".cnf")
            .tempfile()
            .map_err(io)?;
        file.write_all(self.option_file().as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(file)
    }
}

/// Quotes a value for a MySQL option file (`"..."` with `\` escapes).
fn option_quote(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A finished tool run.
#[derive(Debug)]
pub struct Ran {
    /// Exit success.
    pub ok: bool,
    /// `exit status N` or `killed by a signal`.
    pub status: String,
    /// The last lines of its stderr and stdout.
    pub tail: String,
}

/// Runs `program args...` (environment `env` added), output captured.
pub async fn run(
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
) -> Result<Ran, LogicalError> {
    tracing::debug!(program, ?args, "running");
    let mut cmd = tokio::process::Command::new(program);
    // Its own process group, killed whole if the run is dropped: a script
    // (mariadb-install-db) leaves its children running otherwise, writing
    // into a directory being removed.
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|source| LogicalError::Spawn {
        program: program.to_owned(),
        source,
    })?;
    let mut group = GroupGuard(child.id());
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| LogicalError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    group.0 = None;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(8)..].join("\n");
    Ok(Ran {
        ok: out.status.success(),
        status: out.status.code().map_or_else(
            || "killed by a signal".to_owned(),
            |c| format!("exit status {c}"),
        ),
        tail,
    })
}

/// Kills the process group it names when dropped (a run dropped mid-way),
/// and waits (at most 2 s) until the group is gone.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        let Some(pgid) = self.0.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let pgid = nix::unistd::Pid::from_raw(pgid);
        let _ = killpg(pgid, Signal::SIGKILL);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while killpg(pgid, None).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// `program --version`'s first line.
pub async fn version(program: &str) -> Result<String, LogicalError> {
    let ran = run(program, &["--version".to_owned()], &[]).await?;
    Ok(ran
        .tail
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// The local time in whole seconds, as the catalog's `datetime` columns
/// keep it (so an elapsed time equals the difference of the stored times).
pub fn now() -> chrono::NaiveDateTime {
    let t = chrono::Local::now().naive_local();
    chrono::Timelike::with_nanosecond(&t, 0).unwrap_or(t)
}

/// `--key=value` or `--key`.
pub fn long_option(key: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("--{key}={v}"),
        None => format!("--{key}"),
    }
}

/// `path` as an argument (lossy for non-UTF-8 names).
pub fn path_arg(prefix: &str, path: &Path) -> String {
    format!("{prefix}{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn login() -> Login {
        Login {
            host: Some("127.0.0.11".into()),
            port: Some(16315),
            user: Some("bk".into()),
            password: Some(Zeroizing::new("p\"a\\ss".into())),
            socket: None,
        }
    }

    #[test]
    fn the_defaults_file_is_private_and_removed() {
        let f = login().defaults_file().unwrap();
        let path = f.path().to_owned();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("[client]\n"));
        assert!(text.contains("password=\"p\\\"a\\\\ss\"\n"), "{text}");
        drop(f);
        assert!(!path.exists());
    }

    #[test]
    fn recorded_options_hide_the_password() {
        let l = login();
        let opts = l.redacted_options().join(" ");
        assert_eq!(
            opts,
            "--host=127.0.0.11 --port=16315 --user=bk --password=********"
        );
        assert!(!format!("{l:?}").contains("p\"a"));
    }
}
