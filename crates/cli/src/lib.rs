//! What every dbscale-backup binary does the same way: where a password
//! comes from, how logs are set up, how the configuration is loaded and the
//! async work run, and the exit statuses. Binaries stay thin; this keeps
//! them consistent.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     cli::init_logging(0, &["dbbackup", "backup"]);
//!     let (cfg, password) = match cli::config_and_password(
//!         || conf::BackupConfig::load(std::path::Path::new("backup.conf")),
//!         None,
//!         None,
//!         "DBBACKUP_PASSWORD",
//!     ) {
//!         Ok(loaded) => loaded,
//!         Err(code) => return code,
//!     };
//!     cli::run_async(async move {
//!         let _ = (cfg, password);
//!         ExitCode::SUCCESS
//!     })
//! }
//! ```

use std::fmt::Display;
use std::io::{IsTerminal as _, Read as _};
use std::path::Path;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Exit status of bad arguments or configuration (1 is a failed run).
pub const EXIT_USAGE: u8 = 2;

/// Prints `ERROR: <message>` on stderr and returns exit status 1.
pub fn fail(message: impl Display) -> ExitCode {
    eprintln!("ERROR: {message}");
    ExitCode::FAILURE
}

/// Loads the configuration with `load`, then the password (see
/// [`password`]). On a failure of either, prints `ERROR: ...` and gives the
/// exit status of bad configuration ([`EXIT_USAGE`]).
pub fn config_and_password<C, E: Display>(
    load: impl FnOnce() -> Result<C, E>,
    password_file: Option<&Path>,
    password_flag: Option<&str>,
    password_env: &str,
) -> Result<(C, Option<Zeroizing<String>>), ExitCode> {
    let usage = |message: &dyn Display| {
        eprintln!("ERROR: {message}");
        ExitCode::from(EXIT_USAGE)
    };
    let cfg = load().map_err(|e| usage(&e))?;
    let password = password(password_file, password_flag, password_env).map_err(|e| usage(&e))?;
    Ok((cfg, password))
}

/// Runs `job` to completion on a new multi-threaded tokio runtime; exit
/// status 1 when the runtime cannot start.
pub fn run_async(job: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(job),
        Err(e) => fail(format_args!("cannot start the async runtime: {e}")),
    }
}

/// The password from, in order: the first line of `file`, the `-p` value
/// `flag` (with a warning: other users see it in `ps`), the environment
/// variable `env`. `Ok(None)` when none is given.
pub fn password(
    file: Option<&Path>,
    flag: Option<&str>,
    env: &str,
) -> Result<Option<Zeroizing<String>>, String> {
    if let Some(path) = file {
        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(format!("the password file {} is empty", path.display()));
        }
        return Ok(Some(Zeroizing::new(line.to_owned())));
    }
    if let Some(p) = flag {
        eprintln!(
            "warning: -p puts the password on the command line, where other users can see it; prefer --password-file"
        );
        return Ok(Some(Zeroizing::new(p.to_owned())));
    }
    Ok(std::env::var(env)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new))
}

/// Logs to stderr: `info` for `own` crates and warnings from the rest by
/// default, everything at `debug` with `-v`, `trace` with `-vv`;
/// `RUST_LOG` overrides. Colour only on a terminal.
pub fn init_logging(verbose: u8, own: &[&str]) {
    let default = match verbose {
        0 => std::iter::once("warn".to_owned())
            .chain(own.iter().map(|c| format!("{c}=info")))
            .collect::<Vec<_>>()
            .join(","),
        1 => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_and_only_its_first_line_counts() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        let p = password(Some(&f), Some("other"), "CLI_TEST_NO_SUCH_VAR").unwrap();
        assert_eq!(p.as_deref().map(String::as_str), Some("s3cret"));
        std::fs::write(&f, "\n").unwrap();
        assert!(
            password(Some(&f), None, "X")
                .unwrap_err()
                .contains("is empty")
        );
        let missing = dir.path().join("nope");
        assert!(
            password(Some(&missing), None, "X")
                .unwrap_err()
                .contains("nope")
        );
        assert_eq!(
            password(None, Some("flag"), "X")
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some("flag")
        );
        assert!(
            password(None, None, "CLI_TEST_NO_SUCH_VAR")
                .unwrap()
                .is_none()
        );
    }
}
