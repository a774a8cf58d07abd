//! Shell pipelines whose every stage's exit status is reported.
//!
//! `sh` on Debian is dash, which has no `pipefail`: `xtrabackup | zstd >
//! file` would succeed when xtrabackup failed. The pipelines here run under
//! `bash`, print `PIPESTATUS` on stderr as one marker line and exit with
//! the first non-zero status, so callers can tell *which* stage failed
//! ([`stage_statuses`]).

use remote::{Command, quote};

/// The marker line the pipelines print on stderr.
pub const STATUS_MARKER: &str = "xtrabackup-pipeline-status:";

/// Where a pipeline's stdout goes, on the host it runs on (the shell
/// redirection of one host's pipeline; not `stream::Sink`, the receiving
/// end of a host-to-host transfer).
#[derive(Debug, Clone, Copy)]
pub enum PipelineOutput<'a> {
    /// Inherited: the transport reads it (or a stream crate appends to the
    /// snippet).
    Stdout,
    /// Written (truncated) to this file on the host.
    File(&'a str),
    /// Piped into this command (e.g. `socat - TCP4:...`).
    Command(&'a Command),
}

/// One stage: a command and, optionally, a file its stderr goes to.
pub(crate) struct Stage<'a> {
    pub cmd: &'a Command,
    pub stderr_to: Option<&'a str>,
}

/// `a 2>LOG | b | c`: the stages as one shell pipeline (no status report).
pub(crate) fn snippet(stages: &[Stage<'_>], stdin_from: Option<&str>) -> String {
    let mut parts = Vec::with_capacity(stages.len());
    for (i, st) in stages.iter().enumerate() {
        let mut s = st.cmd.argv_shell();
        if let (0, Some(input)) = (i, stdin_from) {
            s.push_str(" < ");
            s.push_str(&quote(input));
        }
        if let Some(log) = st.stderr_to {
            s.push_str(" 2> ");
            s.push_str(&quote(log));
        }
        parts.push(s);
    }
    parts.join(" | ")
}

/// A bash command running `prelude` (if any, `&&`-chained), then the
/// pipeline into `sink`, reporting every stage's status.
pub(crate) fn command(
    prelude: Option<String>,
    stages: &[Stage<'_>],
    stdin_from: Option<&str>,
    sink: PipelineOutput<'_>,
) -> Command {
    let mut line = snippet(stages, stdin_from);
    match sink {
        PipelineOutput::Stdout => {}
        PipelineOutput::File(path) => {
            line.push_str(" > ");
            line.push_str(&quote(path));
        }
        PipelineOutput::Command(cmd) => {
            line.push_str(" | ");
            line.push_str(&cmd.argv_shell());
        }
    }
    let mut script = String::new();
    if let Some(p) = prelude {
        script.push_str(&p);
        script.push_str(" || exit\n");
    }
    script.push_str(&line);
    script.push_str(&format!(
        "\nst=(\"${{PIPESTATUS[@]}}\")\necho \"{STATUS_MARKER} ${{st[*]}}\" >&2\nfor s in \"${{st[@]}}\"; do [ \"$s\" -eq 0 ] || exit \"$s\"; done\n"
    ));
    Command::new("bash").arg("-c").arg(script)
}

/// The per-stage exit statuses from a pipeline's stderr (`None` when the
/// marker is missing: the pipeline never ran to its end, e.g. it was
/// killed, or its prelude failed).
pub fn stage_statuses(stderr: &str) -> Option<Vec<i32>> {
    let line = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(STATUS_MARKER))?;
    line.split_whitespace().map(|s| s.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_stage_is_reported_and_wins_the_exit_status() {
        let stages = [
            Stage {
                cmd: &Command::new("sh").arg("-c").arg("echo data; exit 3"),
                stderr_to: None,
            },
            Stage {
                cmd: &Command::new("cat"),
                stderr_to: None,
            },
        ];
        let cmd = command(None, &stages, None, PipelineOutput::Stdout);
        let (prog, args) = cmd.argv();
        let out = std::process::Command::new(prog)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"data\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stage_statuses(&err), Some(vec![3, 0]));
    }

    #[test]
    fn files_and_sinks_are_quoted() {
        let xb = Command::new("xb").arg("--x");
        let z = Command::new("zstd").arg("-c");
        let stages = [
            Stage {
                cmd: &xb,
                stderr_to: Some("/t/l og"),
            },
            Stage {
                cmd: &z,
                stderr_to: None,
            },
        ];
        assert_eq!(
            snippet(&stages, Some("/in put")),
            "xb --x < '/in put' 2> '/t/l og' | zstd -c"
        );
        let sink = Command::new("socat").arg("-").arg("TCP4:h:1");
        let cmd = command(
            Some("mkdir -p /d".into()),
            &stages,
            None,
            PipelineOutput::Command(&sink),
        );
        assert!(cmd.argv().1[1].starts_with(
            "mkdir -p /d || exit\nxb --x 2> '/t/l og' | zstd -c | socat - TCP4:h:1\n"
        ));
        assert_eq!(
            stage_statuses("noise\nxtrabackup-pipeline-status: 0 1 0\n"),
            Some(vec![0, 1, 0])
        );
        assert_eq!(stage_statuses("killed"), None);
    }
}
