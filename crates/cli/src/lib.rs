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

/// The flags every seed-compatible binary shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Print `version: <version>` and exit (as the seed tools do).
    #[arg(short = 'v', long = "version", visible_short_alias = 'V')]
    pub version: bool,
    /// More log output: -d this tool's debug lines (as the seed's `[misc]
    /// debug = 1`), -dd everything at debug, -ddd trace.
    #[arg(short = 'd', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Common {
    /// With `-v`: prints the version line and gives the exit status.
    pub fn version_exit(&self) -> Option<ExitCode> {
        self.version.then(|| {
            println!("{}", version_line());
            ExitCode::SUCCESS
        })
    }
}

/// `version: <version>`, the seed tools' line.
pub fn version_line() -> String {
    format!("version: {}", env!("CARGO_PKG_VERSION"))
}

/// The log filter of a verbosity level, `own` naming this tool's crates.
fn log_filter(verbose: u8, own: &[&str]) -> String {
    let own_at = |level: &str| {
        std::iter::once("warn".to_owned())
            .chain(own.iter().map(|c| format!("{c}={level}")))
            .collect::<Vec<_>>()
            .join(",")
    };
    match verbose {
        0 => own_at("info"),
        1 => own_at("debug"),
        2 => "debug".to_owned(),
        _ => "trace".to_owned(),
    }
}

/// The running log setup; the level can be raised once the configuration
/// is read.
pub struct Logging {
    handle: Option<
        tracing_subscriber::reload::Handle<
            tracing_subscriber::EnvFilter,
            tracing_subscriber::Registry,
        >,
    >,
    verbose: u8,
    own: Vec<String>,
}

impl Logging {
    /// The seed's `[misc] debug = 1`: this tool's debug lines, unless the
    /// command line or `RUST_LOG` asked for more already.
    pub fn config_debug(&self, on: bool) {
        if !on || self.verbose > 0 {
            return;
        }
        if let Some(handle) = &self.handle {
            let own: Vec<&str> = self.own.iter().map(String::as_str).collect();
            let _ = handle.modify(|f| *f = tracing_subscriber::EnvFilter::new(log_filter(1, &own)));
        }
    }
}

/// Logs to stderr: `info` for `own` crates and warnings from the rest by
/// default; `verbose` 1 (`-d`) this tool's debug lines, 2 everything at
/// `debug`, 3 `trace`; `RUST_LOG` overrides all. Colour only on a terminal.
pub fn init_logging(verbose: u8, own: &[&str]) -> Logging {
    use tracing_subscriber::prelude::*;
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let filter =
        from_env.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(log_filter(verbose, own)));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .init();
    Logging {
        handle: (!fixed).then_some(handle),
        verbose,
        own: own.iter().map(|c| (*c).to_owned()).collect(),
    }
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

    #[test]
    fn verbosity_levels() {
        assert_eq!(log_filter(0, &["a", "b"]), "warn,a=info,b=info");
        assert_eq!(log_filter(1, &["a"]), "warn,a=debug");
        assert_eq!(log_filter(2, &["a"]), "debug");
        assert_eq!(log_filter(9, &["a"]), "trace");
    }

    #[test]
    fn the_version_line_is_the_seeds() {
        assert!(version_line().starts_with("version: "));
    }
}
