//! The small I/O steps, each over a `&dyn remote::Transport`: ask the
//! tool its version, find the server's option file, write and remove the
//! password file, read a log, run a built command and judge its status.

use std::time::Duration;

use remote::{Command, Output, Transport};

use crate::builder::{BackupOptions, decompress, is_qpress_missing};
use crate::cmdline::{self, ServerCmdline};
use crate::credentials::{self, ClientDefaults};
use crate::error::Error;
use crate::flavor::Flavor;
use crate::log::BackupLog;
use crate::pipeline::PipelineOutput;
use crate::pipeline::stage_statuses;
use crate::tool::Tool;

/// Time allowed for the small commands (version, cat, rm).
const SMALL: Duration = Duration::from_secs(60);

/// Runs `cmd` on the host; a non-zero exit is [`Error::Failed`] naming
/// `step`, with the stage statuses of a pipeline and the last stderr lines.
pub async fn run(
    t: &dyn Transport,
    cmd: &Command,
    timeout: Duration,
    step: &str,
) -> Result<Output, Error> {
    let out = t.exec(cmd, timeout).await.map_err(|source| Error::Remote {
        host: t.host().to_owned(),
        step: step.to_owned(),
        source: Box::new(source),
    })?;
    if out.success() {
        return Ok(out);
    }
    let stderr = out.stderr_str();
    let mut detail = tail(&stderr, 5);
    if let Some(st) = stage_statuses(&stderr) {
        detail = format!("stage exit statuses {st:?}; {detail}");
    }
    Err(Error::Failed {
        host: t.host().to_owned(),
        step: step.to_owned(),
        exit_status: out.exit_status,
        detail,
    })
}

/// The last `n` non-empty lines of `text`, joined with ` | `.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Runs `PROGRAM --version` on the host and reads the flavor from it.
pub async fn detect_flavor(t: &dyn Transport, program: &str) -> Result<Flavor, Error> {
    let cmd = Command::new(program).arg("--version");
    let out = run(t, &cmd, SMALL, &format!("run {program} --version")).await?;
    Flavor::from_version_output(&out.stdout_str(), &out.stderr_str()).map_err(|e| match e {
        Error::Parse { detail, .. } => Error::Parse {
            what: format!("{program} --version output on {}", t.host()),
            detail,
        },
        other => other,
    })
}

/// The `--defaults-file` of the server whose pid is in `pid_file` (its
/// `@@pid_file`), from `/proc/<pid>/cmdline`.
pub async fn server_defaults_file_by_pid_file(
    t: &dyn Transport,
    pid_file: &str,
) -> Result<String, Error> {
    let step = format!("read the server's command line via {pid_file}");
    let out = run(t, &cmdline::cmdline_from_pid_file(pid_file), SMALL, &step).await?;
    defaults_file_of(t.host(), &out.stdout_str(), &step)
}

/// The `--defaults-file` of the server listening on `host:port` (needs a
/// login that may see the server's fds: see [`cmdline::listeners_on_port`]).
pub async fn server_defaults_file_by_port(
    t: &dyn Transport,
    host: &str,
    port: u16,
) -> Result<String, Error> {
    let out = run(
        t,
        &cmdline::listeners_on_port(port),
        SMALL,
        "list TCP listeners (ss)",
    )
    .await?;
    let pid = cmdline::pid_listening_on(&out.stdout_str(), host, port)?;
    let step = format!("read the command line of pid {pid} (listening on {host}:{port})");
    let out = run(t, &cmdline::cmdline_of_pid(pid), SMALL, &step).await?;
    defaults_file_of(t.host(), &out.stdout_str(), &step)
}

fn defaults_file_of(host: &str, text: &str, step: &str) -> Result<String, Error> {
    let c = ServerCmdline::parse(text);
    if !c.is_server() {
        return Err(Error::NotFound {
            host: host.to_owned(),
            what: format!(
                "{step}: the process is not mysqld/mariadbd ({:?})",
                c.words.first()
            ),
        });
    }
    c.defaults_file()
        .map(str::to_owned)
        .ok_or_else(|| Error::NotFound {
            host: host.to_owned(),
            what: format!("{step}: the server was started without --defaults-file"),
        })
}

/// Writes the 0600 wrapper option file to `path` on the host (the
/// password travels on the command's stdin only).
pub async fn write_client_defaults(
    t: &dyn Transport,
    defaults: &ClientDefaults,
    path: &str,
) -> Result<(), Error> {
    let cmd = defaults.write_command(path)?;
    run(t, &cmd, SMALL, &format!("write the option file {path}")).await?;
    Ok(())
}

/// Removes a file on the host (the option file after the backup); no
/// error if it is already gone.
pub async fn remove_file(t: &dyn Transport, path: &str) -> Result<(), Error> {
    run(
        t,
        &credentials::remove_command(path),
        SMALL,
        &format!("remove {path}"),
    )
    .await?;
    Ok(())
}

/// Runs one backup (`opts`' pipeline into `sink`) and reads its log.
/// A tool failure is [`Error::BackupFailed`] with the log's reasons (kind
/// [`crate::FailureKind::Interrupted`] when the dead-lock detector killed
/// its lock statement); a transport failure or timeout stays as it is.
pub async fn run_backup(
    t: &dyn Transport,
    opts: &BackupOptions,
    sink: PipelineOutput<'_>,
    timeout: Duration,
) -> Result<BackupLog, Error> {
    let cmd = opts.pipeline().command(sink);
    let failed = match run(t, &cmd, timeout, "stream the backup").await {
        Ok(_) => None,
        Err(e @ Error::Failed { .. }) => Some(e),
        Err(other) => return Err(other),
    };
    let (log, _) = read_log(t, &opts.log_file).await?;
    match (failed, log.failure()) {
        (None, None) => Ok(log),
        (failed, Some(failure)) => Err(Error::BackupFailed {
            host: t.host().to_owned(),
            log_file: opts.log_file.clone(),
            exit_status: match failed {
                Some(Error::Failed { exit_status, .. }) => Some(exit_status),
                _ => None,
            },
            failure,
        }),
        // The tool completed OK but a later stage (compressor, sink)
        // failed: the stage statuses in the error say which.
        (Some(e), None) => Err(e),
    }
}

/// Runs `program --version` on the host: the [`Tool`] that runs as
/// `program` (a configured path or a name on `PATH`).
pub async fn detect_tool(t: &dyn Transport, program: &str) -> Result<Tool, Error> {
    Ok(Tool::run_as(detect_flavor(t, program).await?, program))
}

/// Decompresses an extracted legacy `--compress` (QuickLZ) backup in
/// `dir`; [`Error::QpressMissing`] when the host has no `qpress`.
pub async fn decompress_quicklz(
    t: &dyn Transport,
    tool: &Tool,
    dir: &str,
    parallel: Option<u32>,
    timeout: Duration,
) -> Result<(), Error> {
    let cmd = decompress(tool, dir, parallel);
    match run(
        t,
        &cmd,
        timeout,
        &format!("decompress the .qp files in {dir}"),
    )
    .await
    {
        Err(Error::Failed { detail, .. }) if is_qpress_missing(&detail) => {
            Err(Error::QpressMissing {
                host: t.host().to_owned(),
                dir: dir.to_owned(),
            })
        }
        other => other.map(drop),
    }
}

/// Reads and parses a backup log on the host.
pub async fn read_log(t: &dyn Transport, path: &str) -> Result<(BackupLog, String), Error> {
    let out = run(
        t,
        &Command::new("cat").arg(path),
        SMALL,
        &format!("read the log {path}"),
    )
    .await?;
    let text = out.stdout_str();
    Ok((BackupLog::parse(&text), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn non_servers_and_missing_options_are_named() {
        let e = defaults_file_of("h", "bash\0-c\0", "step")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not mysqld/mariadbd"), "{e}");
        let e = defaults_file_of("h", "mariadbd\0--port=1\0", "step")
            .unwrap_err()
            .to_string();
        assert!(e.contains("without --defaults-file"), "{e}");
    }
}
