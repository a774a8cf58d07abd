//! Log setup: a level per verbosity (`-d`), the seed config's `debug = 1`
//! applied once the file is read, text or JSON lines, on stderr and
//! optionally appended to a file.

use crate::Common;
use crate::progress::Display;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::Layer as _;
use tracing_subscriber::prelude::*;

/// The shape of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colour only on a terminal).
    #[default]
    Text,
    /// One JSON object a line (`timestamp`, `level`, `fields.message`,
    /// `target`), for log collectors.
    Json,
}

/// The log filter of a verbosity level, `own` naming this tool's crates;
/// the targets in `detail` (such as `stream::timing`'s step lines) show
/// from `-d` on, warnings only by default.
fn log_filter(verbose: u8, own: &[&str], detail: &[&str]) -> String {
    let own_at = |level: &str, detail_level: &str| {
        std::iter::once("warn".to_owned())
            .chain(own.iter().map(|c| format!("{c}={level}")))
            .chain(detail.iter().map(|c| format!("{c}={detail_level}")))
            .collect::<Vec<_>>()
            .join(",")
    };
    match verbose {
        0 => own_at("info", "warn"),
        1 => own_at("debug", "debug"),
        2 => "debug".to_owned(),
        _ => "trace".to_owned(),
    }
}

type Filter =
    tracing_subscriber::reload::Layer<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;
type Filtered = tracing_subscriber::layer::Layered<Filter, tracing_subscriber::Registry>;
type Output = Box<dyn tracing_subscriber::Layer<Filtered> + Send + Sync>;

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
    detail: Vec<String>,
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
            let detail: Vec<&str> = self.detail.iter().map(String::as_str).collect();
            let _ = handle.modify(|f| {
                *f = tracing_subscriber::EnvFilter::new(log_filter(1, &own, &detail));
            });
        }
    }
}

/// Logs text to stderr: `info` for `own` crates and warnings from the rest
/// by default; `verbose` 1 (`-d`) this tool's debug lines, 2 everything at
/// `debug`, 3 `trace`; `RUST_LOG` overrides all. Colour only on a terminal.
pub fn init_logging(verbose: u8, own: &[&str]) -> Logging {
    let common = Common {
        verbose,
        ..Common::default()
    };
    match init(&common, own) {
        Ok(logging) => logging,
        // Without a log file nothing can fail.
        Err(e) => unreachable!("{e}"),
    }
}

/// As [`init_logging`], in `common.log_format`, and appended to
/// `common.log_file` too when given.
pub fn init(common: &Common, own: &[&str]) -> Result<Logging, String> {
    init_with(common, own, &[], &Display::hidden())
}

/// As [`init`]; the targets in `detail` log only from `-d` on (warnings
/// always), and lines on stderr are printed above `display`'s progress
/// lines instead of through them.
pub fn init_with(
    common: &Common,
    own: &[&str],
    detail: &[&str],
    display: &Display,
) -> Result<Logging, String> {
    let file = common.log_file.as_deref().map(open_log).transpose()?;
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| {
        tracing_subscriber::EnvFilter::new(log_filter(common.verbose, own, detail))
    });
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let mut outputs = vec![output(
        common.log_format,
        std::io::stderr().is_terminal(),
        AboveProgress(display.clone()),
    )];
    outputs.extend(file.map(|f| output(common.log_format, false, Mutex::new(f))));
    tracing_subscriber::registry()
        .with(filter)
        .with(outputs)
        .init();
    Ok(Logging {
        handle: (!fixed).then_some(handle),
        verbose: common.verbose,
        own: own.iter().map(|c| (*c).to_owned()).collect(),
        detail: detail.iter().map(|c| (*c).to_owned()).collect(),
    })
}

/// Stderr for log lines, each written with the progress lines lifted.
struct AboveProgress(Display);

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for AboveProgress {
    type Writer = AboveProgress;

    fn make_writer(&'w self) -> Self::Writer {
        AboveProgress(self.0.clone())
    }
}

impl std::io::Write for AboveProgress {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // One event's line arrives whole: written in one go, the lines
        // redrawn below it.
        self.0
            .suspend(|| std::io::stderr().write_all(buf))
            .map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One output of log lines in `format`.
fn output<W>(format: LogFormat, ansi: bool, writer: W) -> Output
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => layer.with_ansi(ansi).boxed(),
        LogFormat::Json => layer.json().with_ansi(false).boxed(),
    }
}

/// Opens `path` for appending, creating it mode 0600 (a log may name
/// hosts and paths an operator keeps private).
fn open_log(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels() {
        assert_eq!(log_filter(0, &["a", "b"], &[]), "warn,a=info,b=info");
        assert_eq!(log_filter(1, &["a"], &[]), "warn,a=debug");
        assert_eq!(log_filter(2, &["a"], &[]), "debug");
        assert_eq!(log_filter(9, &["a"], &[]), "trace");
    }

    #[test]
    fn detail_targets_show_from_dash_d_on() {
        assert_eq!(log_filter(0, &["a"], &["s::t"]), "warn,a=info,s::t=warn");
        assert_eq!(log_filter(1, &["a"], &["s::t"]), "warn,a=debug,s::t=debug");
    }

    #[test]
    fn a_new_log_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        drop(open_log(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn a_log_file_that_cannot_be_opened_is_named() {
        let err = open_log(Path::new("/nonexistent-dir/run.log")).unwrap_err();
        assert!(err.contains("/nonexistent-dir/run.log"), "{err}");
    }
}
