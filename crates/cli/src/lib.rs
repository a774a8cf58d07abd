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
//!         &cli::PasswordArgs::default(),
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

mod generate;
mod logging;
pub mod password;
pub mod progress;
pub mod units;

pub use generate::{Generate, generate_if_asked, render};
pub use logging::{LogFormat, Logging, init_logging};
pub use password::{PasswordArgs, PasswordError, Prompt};

use std::fmt::Display;
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
/// [`password`]; no prompt). On a failure of either, prints `ERROR: ...`
/// and gives the exit status of bad configuration ([`EXIT_USAGE`]).
pub fn config_and_password<C, E: Display>(
    load: impl FnOnce() -> Result<C, E>,
    password: &PasswordArgs,
    password_env: &'static str,
) -> Result<(C, Option<Zeroizing<String>>), ExitCode> {
    let usage = |message: &dyn Display| {
        eprintln!("ERROR: {message}");
        ExitCode::from(EXIT_USAGE)
    };
    let cfg = load().map_err(|e| usage(&e))?;
    let password = password
        .read(password_env, Prompt::Never)
        .map_err(|e| usage(&e))?;
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
    /// Log lines as text (the default) or as JSON objects, one a line.
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Also append the log to FILE (created mode 0600), in --log-format,
    /// at the same level as the terminal.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<std::path::PathBuf>,
}

impl Common {
    /// With `-v`: prints the version line and gives the exit status.
    pub fn version_exit(&self) -> Option<ExitCode> {
        self.version.then(|| {
            println!("{}", version_line());
            ExitCode::SUCCESS
        })
    }

    /// Sets up logging as these flags ask (see [`logging::init`]); the
    /// error names the log file that cannot be opened.
    pub fn init_logging(&self, own: &[&str]) -> Result<Logging, String> {
        logging::init(self, own)
    }

    /// As [`Common::init_logging`] for a run that may draw progress: the
    /// targets in `detail` (step lines) log only from `-d` on, and log
    /// lines go above `display`'s progress lines.
    pub fn init_logging_for_run(
        &self,
        own: &[&str],
        detail: &[&str],
        display: &progress::Display,
    ) -> Result<Logging, String> {
        logging::init_with(self, own, detail, display)
    }
}

/// `version: <version>`, the seed tools' line.
pub fn version_line() -> String {
    format!("version: {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_the_seeds() {
        assert!(version_line().starts_with("version: "));
    }
}
