//! Command builders: backup, extract, decompress, prepare. Pure: they
//! return [`remote::Command`] values and run nothing.

use crate::compression::Compression;
use crate::pipeline::{self, PipelineOutput, Stage};
use crate::tool::Tool;
use crate::types::Lsn;
use remote::{Command, quote};

/// What to back up and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupOptions {
    /// The tool.
    pub tool: Tool,
    /// The option file passed as the FIRST option: the 0600 wrapper that
    /// includes the server's own file and holds the login
    /// ([`crate::ClientDefaults`]).
    pub defaults_file: String,
    /// `--host` (a TCP login; `None` leaves the choice to the option file,
    /// e.g. its `[client]` socket).
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--tmpdir`: the server's `@@tmpdir`.
    pub tmpdir: String,
    /// The file on the host the tool's log (its stderr) goes to.
    pub log_file: String,
    /// `--slave-info` (backing up a replica).
    pub slave_info: bool,
    /// An incremental from this LSN (a previous backup's checkpoint).
    pub incremental_from: Option<Lsn>,
    /// `--extra-lsndir`: also write `xtrabackup_checkpoints` there.
    pub extra_lsndir: Option<String>,
    /// `--parallel` copy threads.
    pub parallel: Option<u32>,
    /// Stream compression ([`Compression::QuickLz`] adds the legacy
    /// `--compress`).
    pub compression: Compression,
}

impl BackupOptions {
    /// A full, uncompressed backup with the given option file, tmpdir and
    /// log file; set the other fields as needed.
    pub fn new(
        tool: Tool,
        defaults_file: impl Into<String>,
        tmpdir: impl Into<String>,
        log_file: impl Into<String>,
    ) -> Self {
        BackupOptions {
            tool,
            defaults_file: defaults_file.into(),
            host: None,
            port: None,
            tmpdir: tmpdir.into(),
            log_file: log_file.into(),
            slave_info: false,
            incremental_from: None,
            extra_lsndir: None,
            parallel: None,
            compression: Compression::None,
        }
    }

    /// The backup tool's own command line (`--defaults-file` first,
    /// `--stream=xbstream`; the stream is its stdout).
    pub fn tool_command(&self) -> Command {
        let mut c = Command::new(self.tool.program.as_str())
            .arg(format!("--defaults-file={}", self.defaults_file))
            .arg("--backup");
        if let Some(h) = &self.host {
            c = c.arg(format!("--host={h}"));
        }
        if let Some(p) = self.port {
            c = c.arg(format!("--port={p}"));
        }
        c = c.arg(format!("--tmpdir={}", self.tmpdir));
        if self.slave_info {
            c = c.arg("--slave-info");
        }
        if let Some(lsn) = self.incremental_from {
            c = c.args(self.tool.flavor.incremental_args(lsn));
        }
        if let Some(d) = &self.extra_lsndir {
            c = c.arg(format!("--extra-lsndir={d}"));
        }
        if let Some(n) = self.parallel {
            c = c.arg(format!("--parallel={n}"));
        }
        if self.compression == Compression::QuickLz {
            c = c.arg("--compress");
        }
        c.arg("--stream=xbstream")
    }

    /// The sender side: the tool (stderr to [`BackupOptions::log_file`])
    /// and the stream compressor, if any.
    pub fn pipeline(&self) -> BackupPipeline {
        BackupPipeline {
            tool: self.tool_command(),
            log_file: self.log_file.clone(),
            compressor: self.compression.compressor(),
        }
    }
}

/// The sending half of a backup: `tool 2>LOG [| zstd -T<n> -c]`, whose
/// stdout is the (compressed) stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPipeline {
    /// The backup tool's command line.
    pub tool: Command,
    /// Where its log goes on the host.
    pub log_file: String,
    /// The stream compressor, if any.
    pub compressor: Option<Command>,
}

impl BackupPipeline {
    fn stages(&self) -> Vec<Stage<'_>> {
        let mut stages = vec![Stage {
            cmd: &self.tool,
            stderr_to: Some(&self.log_file),
        }];
        if let Some(z) = &self.compressor {
            stages.push(Stage {
                cmd: z,
                stderr_to: None,
            });
        }
        stages
    }

    /// The pipeline as a shell snippet writing the stream to stdout, for a
    /// caller composing a longer pipeline.
    pub fn snippet(&self) -> String {
        pipeline::snippet(&self.stages(), None)
    }

    /// A runnable command: the pipeline into `sink`, under bash, reporting
    /// each stage's status ([`crate::stage_statuses`]): stage 0 is the tool,
    /// then the compressor, then the sink command.
    pub fn command(&self, sink: PipelineOutput<'_>) -> Command {
        pipeline::command(None, &self.stages(), None, sink)
    }
}

/// Where an extraction reads the stream from.
#[derive(Debug, Clone, Copy)]
pub enum StreamSource<'a> {
    /// Its stdin (e.g. a `socat` listener piping into it).
    Stdin,
    /// A stream file on the host.
    File(&'a str),
}

/// Extracts a stream into `dir` (created if missing, as `-C` needs it):
/// `[zstd -d -c |] xbstream|mbstream -x -C DIR`. QuickLZ streams extract
/// as-is into `.qp` files; run [`decompress`] next.
pub fn extract(
    tool: &Tool,
    compression: Compression,
    source: StreamSource<'_>,
    dir: &str,
) -> Command {
    let x = Command::new(tool.stream_program.as_str())
        .arg("-x")
        .arg("-C")
        .arg(dir);
    let z = compression.decompressor();
    let mut stages = Vec::new();
    if let Some(z) = &z {
        stages.push(Stage {
            cmd: z,
            stderr_to: None,
        });
    }
    stages.push(Stage {
        cmd: &x,
        stderr_to: None,
    });
    let input = match source {
        StreamSource::Stdin => None,
        StreamSource::File(f) => Some(f),
    };
    let prelude = format!("mkdir -p -- {}", quote(dir));
    pipeline::command(Some(prelude), &stages, input, PipelineOutput::Stdout)
}

/// What [`decompress`] prints on stderr (exit 3) when `qpress` is missing;
/// see [`is_qpress_missing`]. Its own status, not the shell's 127, so it
/// cannot be mistaken for some other program missing.
const QPRESS_MISSING: &str = "xtrabackup-driver: qpress not found";

/// Decompresses the `.qp` files of an extracted legacy `--compress` backup
/// in place (`--decompress --remove-original`). Needs `qpress` on the
/// host; without it the command fails at once with a marker that
/// [`is_qpress_missing`] recognises.
pub fn decompress(tool: &Tool, dir: &str, parallel: Option<u32>) -> Command {
    let mut cmd = Command::new(tool.program.as_str())
        .arg("--decompress")
        .arg("--remove-original")
        .arg(format!("--target-dir={dir}"));
    if let Some(n) = parallel {
        cmd = cmd.arg(format!("--parallel={n}"));
    }
    Command::shell(format!(
        "command -v qpress >/dev/null 2>&1 || {{ echo '{QPRESS_MISSING}' >&2; exit 3; }}; exec {}",
        cmd.argv_shell()
    ))
}

/// Whether a [`decompress`] run failed for want of `qpress`.
pub fn is_qpress_missing(stderr: &str) -> bool {
    stderr.contains(QPRESS_MISSING)
}

/// One step of a prepare chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareStep {
    /// Prepare the full backup in the target directory.
    Full {
        /// Incrementals will be applied after it.
        incrementals_follow: bool,
    },
    /// Apply one extracted incremental onto the prepared full.
    Incremental {
        /// The extracted incremental's directory.
        incremental_dir: String,
        /// More incrementals follow this one.
        more_follow: bool,
    },
}

/// `--prepare --target-dir=DIR [--incremental-dir=I]`. XtraBackup gets
/// `--apply-log-only` while incrementals follow (rolling back uncommitted
/// transactions would break the next one); mariabackup never does (10.11
/// rejects the option and does not need it).
pub fn prepare(
    tool: &Tool,
    target_dir: &str,
    step: &PrepareStep,
    use_memory: Option<&str>,
) -> Command {
    let mut c = Command::new(tool.program.as_str())
        .arg("--prepare")
        .arg(format!("--target-dir={target_dir}"));
    let follow = match step {
        PrepareStep::Full {
            incrementals_follow,
        } => *incrementals_follow,
        PrepareStep::Incremental {
            incremental_dir,
            more_follow,
        } => {
            c = c.arg(format!("--incremental-dir={incremental_dir}"));
            *more_follow
        }
    };
    if follow && tool.flavor.uses_apply_log_only() {
        c = c.arg("--apply-log-only");
    }
    if let Some(m) = use_memory {
        c = c.arg(format!("--use-memory={m}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor::{Flavor, Version};

    const MB: Flavor = Flavor::Mariabackup {
        server: Version {
            major: 10,
            minor: 11,
            patch: 19,
        },
    };
    const XB: Flavor = Flavor::Xtrabackup {
        server: Version {
            major: 8,
            minor: 0,
            patch: 26,
        },
    };

    #[test]
    fn full_backup_of_a_replica_has_defaults_file_first() {
        let mut o = BackupOptions::new(Tool::of(MB), "/t/wrap.cnf", "/srv/tmp", "/srv/tmp/x.log");
        o.slave_info = true;
        o.host = Some("127.0.0.12".into());
        o.port = Some(16315);
        let cmd = o.tool_command();
        let (prog, args) = cmd.argv();
        assert_eq!(prog, "mariabackup");
        assert_eq!(
            args,
            [
                "--defaults-file=/t/wrap.cnf",
                "--backup",
                "--host=127.0.0.12",
                "--port=16315",
                "--tmpdir=/srv/tmp",
                "--slave-info",
                "--stream=xbstream"
            ]
        );
    }

    #[test]
    fn incremental_zstd_pipeline_for_xtrabackup_8026() {
        let mut o = BackupOptions::new(Tool::of(XB), "/w.cnf", "/tmp", "/tmp/l");
        o.incremental_from = Some(Lsn(21694916));
        o.compression = Compression::Zstd { threads: 4 };
        assert_eq!(
            o.pipeline().snippet(),
            "xtrabackup --defaults-file=/w.cnf --backup --tmpdir=/tmp --incremental --incremental-lsn=21694916 --stream=xbstream 2> /tmp/l | zstd -T4 -q -c"
        );
        o.compression = Compression::QuickLz;
        assert!(
            o.tool_command()
                .argv_shell()
                .contains(" --compress --stream=xbstream")
        );
    }

    #[test]
    fn extract_makes_the_dir_and_decompresses_first() {
        let c = extract(
            &Tool::of(MB),
            Compression::Zstd { threads: 0 },
            StreamSource::File("/s/b.xbsteam"),
            "/r/full",
        );
        let script = c.argv().1[1];
        assert!(script.starts_with("mkdir -p -- /r/full || exit\nzstd -d -q -c < /s/b.xbsteam | mbstream -x -C /r/full\n"), "{script}");
        let c = extract(&Tool::of(XB), Compression::None, StreamSource::Stdin, "/r");
        assert!(c.argv().1[1].contains("\nxbstream -x -C /r\n"));
    }

    #[test]
    fn apply_log_only_only_for_xtrabackup_and_only_while_more_follow() {
        let full = PrepareStep::Full {
            incrementals_follow: true,
        };
        assert!(
            prepare(&Tool::of(XB), "/f", &full, None)
                .argv_shell()
                .ends_with("--apply-log-only")
        );
        assert!(
            !prepare(&Tool::of(MB), "/f", &full, None)
                .argv_shell()
                .contains("apply-log-only")
        );
        let last = PrepareStep::Incremental {
            incremental_dir: "/i1".into(),
            more_follow: false,
        };
        assert_eq!(
            prepare(&Tool::of(XB), "/f", &last, Some("1G")).argv_shell(),
            "xtrabackup --prepare --target-dir=/f --incremental-dir=/i1 --use-memory=1G"
        );
    }

    #[test]
    fn the_configured_programs_are_the_ones_that_run() {
        let tool = Tool::run_as(MB, "/opt/mariadb/bin/mariabackup")
            .with_stream_program("/opt/mb/mbstream");
        let o = BackupOptions::new(tool.clone(), "/w.cnf", "/tmp", "/tmp/l");
        assert_eq!(o.tool_command().argv().0, "/opt/mariadb/bin/mariabackup");
        let full = PrepareStep::Full {
            incrementals_follow: false,
        };
        assert_eq!(
            prepare(&tool, "/f", &full, None).argv().0,
            "/opt/mariadb/bin/mariabackup"
        );
        let x = extract(&tool, Compression::None, StreamSource::Stdin, "/r").argv_shell();
        assert!(x.contains("/opt/mb/mbstream -x -C /r"), "{x}");
        assert_eq!(Tool::of(XB).stream_program, "xbstream");
    }

    #[test]
    fn decompress_fails_clearly_without_qpress() {
        let c = decompress(&Tool::of(XB), "/r/full", Some(2));
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(c.argv().1[1])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(is_qpress_missing(&String::from_utf8_lossy(&out.stderr)));
        assert!(c.argv().1[1].ends_with(
            "exec xtrabackup --decompress --remove-original --target-dir=/r/full --parallel=2"
        ));
    }
}
