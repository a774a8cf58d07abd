//! The bash scripts both ends run, built from typed parts (pure, no I/O).
//!
//! Each script talks to the controller through short stdout lines (parsed
//! by [`crate::report`]):
//!
//! * receiver: `L` (listening), `U` (Address already in use), `T` (not
//!   listening in time), `F codes` (the listener ended before listening),
//!   `N` (the native receiver is not installed), `P n` (bytes so far,
//!   about every second), `R codes;bytes;sha256` (done);
//! * sender: `S` (checks passed, data flowing), `R codes;bytes;sha256`;
//! * both: `E message` for a failed precondition.
//!
//! `codes` is bash's `PIPESTATUS` under `set -o pipefail`, so a failing
//! producer or consumer is never hidden behind socat's exit 0.
//!
//! Waiting on the receiver is event-driven: the pipeline runs in the
//! background and writes one line to a FIFO (fd 9) when it ends, and the
//! script blocks in `read -t` on that FIFO: it wakes at once when the
//! transfer ends and every second otherwise to report progress. Until the
//! listener is up it polls socat's log every 10 ms, bounded by a tick count.
//!
//! Byte counts: a file's size is `stat`ed on either end (free). A stream
//! from a command or a tar is not counted on the sender: both ends' exit
//! statuses already catch a broken stream (TCP delivers in order; a
//! producer whose connection broke fails on its write, a receiving socat
//! whose connection reset exits non-zero), and a `tee` would copy every
//! byte twice more. A consumer sink is counted by
//! `wc -c` on a `tee` FIFO only when the sender cannot `stat` (it sends a
//! stream): one end always counts. SHA-256, when asked for, is computed on
//! a `tee` FIFO while the data flows, or ([`stored_digest`]) from the stored
//! file once it is written; by `openssl dgst` where the host has it (it uses
//! the CPU's SHA extensions: about 4x coreutils' `sha256sum` here), else by
//! `sha256sum`.

use crate::receiver::Receiver;
use crate::spec::{Sink, Source};
use remote::{Command, quote};
use std::time::Duration;

/// A remote script plus the names of its pipeline's stages, in
/// `PIPESTATUS` order (for messages such as "producer tar exited 2").
#[derive(Debug, Clone)]
pub(crate) struct Script {
    /// `bash -c SCRIPT`, with the producer's/consumer's environment.
    pub command: Command,
    /// Stage names, e.g. `["tar", "tee", "socat"]`.
    pub stages: Vec<String>,
}

/// A shell line that sets `$sha256` to the host's fastest SHA-256 command:
/// `openssl dgst` where the host has it (it uses the CPU's SHA extensions),
/// else `sha256sum`. Both print the digest first on each line, for stdin
/// or for each file argument (`HASH *path` and `HASH  path`).
pub const PICK_SHA256: &str = "if command -v openssl >/dev/null 2>&1; \
     then sha256='openssl dgst -sha256 -r'; else sha256=sha256sum; fi";

const PREAMBLE: &str = "set -o pipefail\n\
st=$(mktemp -d \"${TMPDIR:-/tmp}/.dbstream.XXXXXX\") || { echo 'E cannot create a temporary directory'; exit 125; }\n\
trap 'rm -rf \"$st\"' EXIT\n";

/// socat's `-b`: bytes per read/write. The default 8 KiB makes socat the
/// busiest process of a stream; with 128 KiB two 1.3 GB streams over
/// loopback on 2 cores took 3.4 s instead of 4.6-5.9 s (measured by hand
/// with `cat | socat` -> `socat` into a file; 1 MiB was no better).
const SOCAT_BLOCK: &str = "-b 131072";

/// `echo 'E msg'; exit 125` as a shell fragment.
fn fail(msg: &str) -> String {
    format!("{{ echo {}; exit 125; }}", quote(&format!("E {msg}")))
}

/// Starts the background readers of the tee FIFOs; returns the tee stage
/// (`tee FIFO... |`) or an empty string when nothing taps the stream.
fn taps(sha: bool, count: bool, script: &mut String) -> String {
    let mut fifos = Vec::new();
    if sha {
        script.push_str(&format!(
            "mkfifo \"$st/h\" || exit 125\n{PICK_SHA256}\n$sha256 < \"$st/h\" > \"$st/sha\" &\n"
        ));
        fifos.push("\"$st/h\"");
    }
    if count {
        script.push_str("mkfifo \"$st/c\" || exit 125\nwc -c < \"$st/c\" > \"$st/n\" &\n");
        fifos.push("\"$st/c\"");
    }
    if fifos.is_empty() {
        String::new()
    } else {
        format!("tee {} | ", fifos.join(" "))
    }
}

/// After the pipeline: unblock FIFO readers whose writer never opened
/// (opening read-write never blocks), then wait for them.
const DRAIN_TAPS: &str =
    "for f in \"$st/h\" \"$st/c\"; do [ -p \"$f\" ] && : 1<>\"$f\"; done\nwait\n";

/// Reads the tap results into `$n` (when counted) and `$s`.
const READ_TAPS: &str = "s=-\n[ -s \"$st/sha\" ] && s=$(cut -c1-64 \"$st/sha\")\n\
[ -s \"$st/n\" ] && n=$(tr -d ' \\n' < \"$st/n\")\n";

/// A consumer or producer command as one pipeline stage: `( cd D && exec P A )`.
fn stage(cmd: &Command) -> String {
    format!("( {} )", cmd.to_shell())
}

/// `bash -c script` carrying `env` (values travel the transport's secret
/// path, never this argv).
fn bash(script: String, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new("bash").arg("-c").arg(script);
    cmd.env = env.to_vec();
    cmd
}

/// The sending side: `PRODUCER [| tee FIFO] >&3`, fd 3 a TCP connection to
/// `HOST:PORT` (the `tee` only to hash); a file's size is its byte count.
pub(crate) fn sender(
    source: &Source,
    host: &str,
    port: u16,
    retry: u32,
    sha: bool,
) -> Result<Script, String> {
    let mut s = String::from(PREAMBLE);
    let (producer, name, env) = match source {
        Source::File(path) => {
            s.push_str(&format!(
                "n=$(stat -L -c %s -- {p}) || {}\n[ -f {p} ] || {}\n",
                fail(&format!("cannot stat {path}")),
                fail(&format!("{path} is not a regular file")),
                p = quote(path),
            ));
            (
                format!("cat -- {}", quote(path)),
                "cat".to_owned(),
                Vec::new(),
            )
        }
        Source::Dir {
            path,
            gzip,
            exclude,
        } => {
            let (parent, name) = split_dir(path)?;
            s.push_str(&format!(
                "[ -d {} ] || {}\n",
                quote(path),
                fail(&format!("{path} is not a directory"))
            ));
            let mut tar = format!("tar -C {} -c", quote(&parent));
            if *gzip {
                tar.push('z');
            }
            tar.push_str("f -");
            for pattern in exclude {
                tar.push_str(&format!(" --exclude={}", quote(pattern)));
            }
            tar.push_str(&format!(" -- {}", quote(&name)));
            (tar, "tar".to_owned(), Vec::new())
        }
        Source::Command(cmd) => {
            if cmd.stdin.is_some() {
                return Err(format!(
                    "the producer {} must not take stdin bytes",
                    cmd.name()
                ));
            }
            cmd.validate()?;
            (stage(cmd), cmd.name().to_owned(), cmd.env.clone())
        }
    };
    let tee = taps(sha, false, &mut s);
    s.push_str(&connect(host, port, retry));
    s.push_str("echo S\n");
    // The producer writes into the connection itself: no pipe and no
    // socat between it and the socket (two copies of every byte fewer on
    // the busy host). fd 3 is closed for every stage but the writer, so
    // the receiver sees the end as soon as the writer exits.
    let pipeline = if tee.is_empty() {
        format!("{producer} >&3 3>&-")
    } else {
        format!(
            "{producer} 3>&- | {} >&3 3>&-",
            tee.trim_end_matches("| ").trim_end()
        )
    };
    s.push_str(&format!(
        "{pipeline}\nrc=\"${{PIPESTATUS[*]}}\"\nexec 3>&-\n"
    ));
    s.push_str(DRAIN_TAPS);
    s.push_str(READ_TAPS);
    s.push_str("echo \"R $rc;${n:--};$s\"\ncase \"$rc\" in *[!0\\ ]*) exit 1;; esac\n");
    let mut stages = vec![name];
    if !tee.is_empty() {
        stages.push("tee".into());
    }
    Ok(Script {
        command: bash(s, &env),
        stages,
    })
}

/// Opens fd 3 as a TCP connection to `host:port` (bash's `/dev/tcp`),
/// trying `retry` more times a second apart (the seed's `socat-retry-count`,
/// which it gives socat as `retry=`); fails with `E` and bash's reason.
fn connect(host: &str, port: u16, retry: u32) -> String {
    let target = format!("{host}:{port}");
    format!(
        "i=0\nuntil {{ exec 3<>{path}; }} 2>\"$st/connect\"; do\n\
         \x20 i=$((i+1))\n\
         \x20 if [ \"$i\" -gt {retry} ]; then echo \"E cannot connect to {target}: $(tail -n 1 \"$st/connect\")\"; exit 125; fi\n\
         \x20 sleep 1\n\
         done\n",
        path = quote(&format!("/dev/tcp/{host}/{port}")),
        target = target.replace(['"', '$', '`', '\\'], ""),
    )
}

/// What a listener script is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Listen<'a> {
    /// The port.
    pub port: u16,
    /// The log directory on the receiving host.
    pub log_dir: &'a str,
    /// The log's file name in it.
    pub log_name: &'a str,
    /// Where the bytes go.
    pub sink: &'a Sink,
    /// Take the SHA-256 while the data flows.
    pub sha: bool,
    /// Count a consumer's input (a file sink is always `stat`ed).
    pub count: bool,
    /// How long the receiver may take to report that it listens.
    pub listen: Duration,
    /// How often to report progress.
    pub report_every: Duration,
    /// The receiving program.
    pub receiver: &'a Receiver,
}

/// The receiving side: a listener (socat, or the native `dbagent receive`)
/// on `port` logging to `log_dir/log_name`, into `sink`; waits at most
/// `listen` for it to report that it listens. socat hashes and counts on
/// `tee` FIFOs; the native receiver in its own pass, into the files the
/// taps would have written.
pub(crate) fn receiver(l: &Listen<'_>) -> Result<Script, String> {
    let log = format!("{}/{}", l.log_dir.trim_end_matches('/'), l.log_name);
    let mut s = String::from(PREAMBLE);
    if let Receiver::Native { program } = l.receiver {
        // Not installed here: say so, and the controller uses socat.
        s.push_str(&format!(
            "command -v {} >/dev/null 2>&1 || {{ echo N; exit 127; }}\n",
            quote(program)
        ));
    }
    // One line written (then truncated) proves the log's filesystem takes
    // writes: on a full disk the receiver would listen but never log that
    // it does, and the run would wait out the listen timeout for nothing.
    s.push_str(&format!(
        "log={}\n{{ mkdir -p -- {} && echo probe > \"$log\" && : > \"$log\"; }} 2>\"$st/w\" \
         || {{ echo \"E cannot write the receiver log $log: $(tail -n 1 \"$st/w\")\"; exit 125; }}\n",
        quote(&log),
        quote(l.log_dir),
    ));
    let (consumer, env) = match l.sink {
        Sink::File(path) => {
            s.push_str(&format!(
                ": > {} || {}\n",
                quote(path),
                fail(&format!("cannot create {path}"))
            ));
            (None, Vec::new())
        }
        Sink::Command(cmd) => {
            cmd.validate()?;
            (Some(cmd), cmd.env.clone())
        }
    };
    s.push_str("mkfifo \"$st/ev\" && exec 9<>\"$st/ev\" || exit 125\n");
    let (listener, tail, tapped) = match l.receiver {
        Receiver::Socat => socat_listener(l, consumer, &mut s),
        Receiver::Native { program } => native_listener(l, program, consumer),
    };
    s.push_str(&format!(
        "( {{ {listener} & echo $! > \"$st/spid\"; wait $!; }}{tail}; \
         echo \"${{PIPESTATUS[*]}}\" > \"$st/rc\"; echo d >&9 ) &\nbg=$!\n"
    ));
    let ticks = (l.listen.as_millis() / 10).max(1);
    s.push_str(&format!(
        "i=0\nwhile :; do\n\
         \x20 if grep -q 'listening on' \"$log\"; then echo L; break; fi\n\
         \x20 if read -t 0.01 -u 9 _; then\n\
         \x20   wait \"$bg\"\n\
         \x20   if grep -q 'Address already in use' \"$log\"; then echo U; exit 98; fi\n\
         \x20   echo \"F $(cat \"$st/rc\" 2>/dev/null)\"; tail -n 5 \"$log\" >&2; exit 1\n\
         \x20 fi\n\
         \x20 i=$((i+1)); if [ \"$i\" -ge {ticks} ]; then kill \"$(cat \"$st/spid\")\" 2>/dev/null; echo T; exit 124; fi\n\
         done\n"
    ));
    let progress = match l.sink {
        Sink::File(path) => format!("stat -c %s -- {} 2>/dev/null || echo 0", quote(path)),
        // Bytes the receiver wrote = its write count minus what went to
        // its log.
        Sink::Command(_) => {
            "w=$(sed -n 's/^wchar: //p' \"/proc/$(cat \"$st/spid\")/io\" 2>/dev/null); \
             l=$(stat -c %s \"$log\" 2>/dev/null); echo $(( ${w:-0} - ${l:-0} ))"
                .to_owned()
        }
    };
    s.push_str(&format!(
        "now() {{ {progress}; }}\nwhile ! read -t {every} -u 9 _; do echo \"P $(now)\"; done\n\
         wait \"$bg\"\nrc=$(cat \"$st/rc\")\n",
        every = report_seconds(l.report_every)
    ));
    s.push_str(DRAIN_TAPS);
    if let Sink::File(path) = l.sink {
        s.push_str(&format!("n=$(stat -c %s -- {})\n", quote(path)));
    }
    s.push_str(READ_TAPS);
    s.push_str("echo \"R $rc;${n:--};$s\"\ncase \"$rc\" in *[!0\\ ]*) exit 1;; esac\n");
    let mut stages = vec![l.receiver.name().to_owned()];
    if tapped {
        stages.push("tee".into());
    }
    if let Some(cmd) = consumer {
        stages.push(cmd.name().to_owned());
    }
    Ok(Script {
        command: bash(s, &env),
        stages,
    })
}

/// socat's listener, and what follows it in the pipeline (a tee for the
/// hash or count, the consumer or the file); true when a tee taps it.
fn socat_listener(
    l: &Listen<'_>,
    consumer: Option<&Command>,
    s: &mut String,
) -> (String, String, bool) {
    let tee = taps(l.sha, l.count && consumer.is_some(), s);
    // socat writes the file itself when nothing taps the stream: no copy.
    let direct = tee.is_empty() && consumer.is_none();
    let out = match (l.sink, direct) {
        (Sink::File(path), true) => quote(&format!("open:{path},creat,trunc")).into_owned(),
        _ => "STDOUT".to_owned(),
    };
    let tail = match (l.sink, consumer) {
        (_, Some(cmd)) => format!(" | {tee}{}", stage(cmd)),
        (Sink::File(path), None) if !direct => {
            format!(" | {}> {}", tee.trim_end_matches("| "), quote(path))
        }
        _ => String::new(),
    };
    let listener = format!(
        "socat -d -d -lf \"$log\" {SOCAT_BLOCK} -u tcp-listen:{},reuseaddr {out}",
        l.port
    );
    (listener, tail, !tee.is_empty())
}

/// `dbagent receive`: it writes the file itself, or stdout into the
/// consumer, and leaves the count and the digest where the tee taps would.
fn native_listener(
    l: &Listen<'_>,
    program: &str,
    consumer: Option<&Command>,
) -> (String, String, bool) {
    let mut listener = format!(
        "{} receive --port {} --log \"$log\"",
        quote(program),
        l.port
    );
    if let Sink::File(path) = l.sink {
        listener.push_str(&format!(" --out {}", quote(path)));
    }
    if l.sha {
        listener.push_str(" --sha256-to \"$st/sha\"");
    }
    if l.count && consumer.is_some() {
        listener.push_str(" --count-to \"$st/n\"");
    }
    let tail = consumer.map_or_else(String::new, |cmd| format!(" | {}", stage(cmd)));
    (listener, tail, false)
}

/// `read -t`'s timeout for a progress report every `every`: seconds with
/// up to three decimals, at least a millisecond.
fn report_seconds(every: Duration) -> String {
    let ms = every.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

/// Size and (when `sha`) SHA-256 of a stored file, read back on its host:
/// prints `R rc;bytes;sha256`. Right after a transfer the file is still in
/// the page cache, and reading it once costs less CPU than a `tee`.
pub(crate) fn stored_digest(path: &str, sha: bool) -> Script {
    let p = quote(path);
    let mut s = format!(
        "n=$(stat -c %s -- {p}) || {}\ns=-\nrc=0\n",
        fail(&format!("cannot stat {path}"))
    );
    if sha {
        s.push_str(&format!(
            "{PICK_SHA256}\nh=$($sha256 < {p}); rc=$?\n[ \"$rc\" = 0 ] && s=${{h:0:64}}\n"
        ));
    }
    s.push_str("echo \"R $rc;$n;$s\"\nexit \"$rc\"\n");
    Script {
        command: bash(s, &[]),
        stages: vec!["sha256".into()],
    }
}

/// `/a/b/` -> (`/a`, `b`); `b` -> (`.`, `b`).
fn split_dir(path: &str) -> Result<(String, String), String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." || trimmed.ends_with("/..") || trimmed == ".." {
        return Err(format!(
            "cannot send {path:?} as a tar stream: name a directory"
        ));
    }
    Ok(match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((parent, name)) => (parent.to_owned(), name.to_owned()),
        None => (".".to_owned(), trimmed.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socat listener script, as the tests before the native receiver
    /// built them.
    fn socat(
        port: u16,
        log_dir: &str,
        log_name: &str,
        sink: &Sink,
        (sha, count): (bool, bool),
        listen: Duration,
        report_every: Duration,
    ) -> Result<Script, String> {
        receiver(&Listen {
            port,
            log_dir,
            log_name,
            sink,
            sha,
            count,
            listen,
            report_every,
            receiver: &Receiver::Socat,
        })
    }

    fn native<'a>(sink: &'a Sink, sha: bool, count: bool, receiver: &'a Receiver) -> Listen<'a> {
        Listen {
            port: 29998,
            log_dir: "/store/socat_log/20261205",
            log_name: "29998_3",
            sink,
            sha,
            count,
            listen: Duration::from_secs(5),
            report_every: Duration::from_secs(1),
            receiver,
        }
    }

    #[test]
    fn native_receiver_writes_the_file_and_hashes_it_in_one_pass() {
        let agent = Receiver::Native {
            program: "/opt/db backup/dbagent".into(),
        };
        let file = Sink::file("/store/x/normal_0_1.xbstream");
        let s = receiver(&native(&file, true, true, &agent)).unwrap();
        let t = text(&s.command);
        assert!(
            t.contains(
                "command -v '/opt/db backup/dbagent' >/dev/null 2>&1 || { echo N; exit 127; }"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "( { '/opt/db backup/dbagent' receive --port 29998 --log \"$log\" \
                 --out /store/x/normal_0_1.xbstream --sha256-to \"$st/sha\" & echo $! > \"$st/spid\"; wait $!; };"
            ),
            "{t}"
        );
        assert!(!t.contains("tee") && !t.contains("socat -d"), "{t}");
        assert_eq!(s.stages, ["dbagent receive"]);
        let consumer = Sink::command(Command::new("mbstream").args(["-x", "-C", "/d"]));
        let s = receiver(&native(&consumer, false, true, &agent)).unwrap();
        let t = text(&s.command);
        assert!(
            t.contains("--log \"$log\" --count-to \"$st/n\" & echo $! > \"$st/spid\"; wait $!; } | ( exec mbstream -x -C /d );"),
            "{t}"
        );
        assert_eq!(s.stages, ["dbagent receive", "mbstream"]);
    }

    #[test]
    fn a_host_without_the_native_receiver_says_n_before_anything_else() {
        let agent = Receiver::Native {
            program: "dbagent-not-installed-here".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = Sink::file(path.to_str().unwrap());
        let mut l = native(&file, false, false, &agent);
        let logs = dir.path().join("logs");
        l.log_dir = logs.to_str().unwrap();
        let (code, out) = run_local(&receiver(&l).unwrap());
        assert_eq!((code, out.as_str()), (127, "N\n"));
        assert!(!path.exists() && !logs.exists(), "nothing was created");
    }

    fn text(cmd: &Command) -> String {
        let (_, args) = cmd.argv();
        args[1].to_owned()
    }

    #[test]
    fn the_picked_hasher_prints_the_sha256_first() {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{PICK_SHA256}\nprintf abc | $sha256"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .starts_with("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            "{out:?}"
        );
    }

    #[test]
    fn dir_paths_split() {
        assert_eq!(split_dir("/a/b/").unwrap(), ("/a".into(), "b".into()));
        assert_eq!(split_dir("/b").unwrap(), ("/".into(), "b".into()));
        assert_eq!(split_dir("b").unwrap(), (".".into(), "b".into()));
        assert!(split_dir("/").is_err());
        assert!(split_dir("/a/..").is_err());
    }

    #[test]
    fn file_sender_writes_into_the_connection_under_pipefail() {
        let s = sender(
            &Source::file("/data/my 1.cnf"),
            "127.0.0.50",
            29998,
            10,
            false,
        )
        .unwrap();
        let t = text(&s.command);
        assert!(t.starts_with("set -o pipefail\n"), "{t}");
        assert!(
            t.contains("until { exec 3<>/dev/tcp/127.0.0.50/29998; } 2>\"$st/connect\"; do"),
            "{t}"
        );
        assert!(t.contains("if [ \"$i\" -gt 10 ]"), "{t}");
        assert!(t.contains("\ncat -- '/data/my 1.cnf' >&3 3>&-\n"), "{t}");
        assert_eq!(s.stages, ["cat"]);
        assert!(!t.contains("tee"), "a file is stat'ed, not counted: {t}");
    }

    #[test]
    fn tar_sender_hashes_but_does_not_count() {
        let src = Source::Dir {
            path: "/data/app/dbscale".into(),
            gzip: true,
            exclude: vec!["*.log".into()],
        };
        let s = sender(&src, "h", 1, 0, true).unwrap();
        let t = text(&s.command);
        assert!(
            t.contains(
                "tar -C /data/app -czf - --exclude='*.log' -- dbscale 3>&- | tee \"$st/h\" >&3 3>&-"
            ),
            "{t}"
        );
        assert_eq!(s.stages, ["tar", "tee"]);
    }

    #[test]
    fn command_sender_keeps_env_off_the_script() {
        let cmd = Command::new("mariabackup")
            .arg("--backup")
            .env("MYSQL_PWD", "s3cret");
        let s = sender(&Source::command(cmd), "h", 1, 0, false).unwrap();
        assert!(!text(&s.command).contains("s3cret"));
        assert_eq!(s.command.env, [("MYSQL_PWD".into(), "s3cret".into())]);
        assert!(
            text(&s.command).contains("( exec mariabackup --backup ) >&3 3>&-\n"),
            "a stream is neither piped nor counted on the sender: {}",
            text(&s.command)
        );
        assert_eq!(s.stages, ["mariabackup"]);
        let with_stdin = Command::new("cat").stdin(b"x".to_vec());
        assert!(sender(&Source::command(with_stdin), "h", 1, 0, false).is_err());
    }

    #[test]
    fn a_sender_that_cannot_connect_says_where_and_why() {
        let s = sender(
            &Source::command(Command::new("echo").arg("never sent")),
            "127.0.0.1",
            1,
            1,
            false,
        )
        .unwrap();
        let (code, out) = run_local(&s);
        assert_eq!(code, 125, "{out}");
        assert!(
            out.starts_with("E cannot connect to 127.0.0.1:1: ") && out.contains("refused"),
            "{out}"
        );
        assert!(!out.contains("S\n"), "nothing started: {out}");
    }

    #[test]
    fn progress_reports_come_as_often_as_asked() {
        assert_eq!(report_seconds(Duration::from_secs(1)), "1");
        assert_eq!(report_seconds(Duration::from_millis(200)), "0.200");
        assert_eq!(report_seconds(Duration::from_millis(1500)), "1.500");
        assert_eq!(report_seconds(Duration::ZERO), "0.001");
        let s = socat(
            1,
            "/l",
            "1_1",
            &Sink::file("/f"),
            (false, true),
            Duration::from_secs(1),
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(text(&s.command).contains("while ! read -t 0.200 -u 9 _;"));
    }

    #[test]
    fn file_receiver_lets_socat_write_the_file() {
        let s = socat(
            29998,
            "/store/socat_log/20261121",
            "29998_3",
            &Sink::file("/store/x/my.conf"),
            (false, true),
            Duration::from_secs(5),
            Duration::from_secs(1),
        )
        .unwrap();
        let t = text(&s.command);
        assert!(t.contains("log=/store/socat_log/20261121/29998_3\n"), "{t}");
        assert!(
            t.contains("socat -d -d -lf \"$log\" -b 131072 -u tcp-listen:29998,reuseaddr open:/store/x/my.conf,creat,trunc &"),
            "{t}"
        );
        assert!(t.contains("-ge 500 ]"), "{t}");
        assert_eq!(s.stages, ["socat"]);
    }

    #[test]
    fn consumer_receiver_counts_through_tee() {
        let sink = Sink::command(Command::new("mbstream").args(["-x", "-C", "/d"]));
        let s = socat(
            1,
            "/l",
            "1_1",
            &sink,
            (true, true),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap();
        let t = text(&s.command);
        assert!(
            t.contains("wait $!; } | tee \"$st/h\" \"$st/c\" | ( exec mbstream -x -C /d );"),
            "{t}"
        );
        assert_eq!(s.stages, ["socat", "tee", "mbstream"]);
        let hashed_file = socat(
            1,
            "/l",
            "1_1",
            &Sink::file("/f"),
            (true, true),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(text(&hashed_file.command).contains("wait $!; } | tee \"$st/h\" > /f;"));
        // A file sender counts: the consumer need not.
        let uncounted = socat(
            1,
            "/l",
            "1_1",
            &sink,
            (false, false),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(
            text(&uncounted.command).contains("wait $!; } | ( exec mbstream -x -C /d );"),
            "{}",
            text(&uncounted.command)
        );
        assert_eq!(uncounted.stages, ["socat", "mbstream"]);
    }

    fn run_local(script: &Script) -> (i32, String) {
        let (program, args) = script.command.argv();
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn stored_digest_reports_size_and_sha256_or_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("it's.xbstream");
        std::fs::write(&path, "abc").unwrap();
        let path = path.to_str().unwrap();
        let (code, out) = run_local(&stored_digest(path, true));
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            crate::report::parse_line(&out),
            crate::report::Line::Done(crate::report::Outcome {
                codes: vec![0],
                bytes: Some(3),
                sha256: Some(
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
                ),
            })
        );
        let (_, out) = run_local(&stored_digest(path, false));
        assert_eq!(out.trim(), "R 0;3;-");
        let (code, out) = run_local(&stored_digest(&format!("{path}.gone"), true));
        assert_eq!(code, 125);
        assert!(out.starts_with("E cannot stat "), "{out}");
    }
}
