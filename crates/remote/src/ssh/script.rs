//! The remote side of the ssh transport: the fixed bootstrap command on
//! the ssh command line and the per-command scripts it reads from stdin.
//!
//! Every process these scripts start is on the critical path of a command
//! (a fork and exec cost about a millisecond each on a busy host), so the
//! common case starts only `sh`, `timeout` and the program.

use crate::command::{Command, quote};
use crate::transport::CommandId;
use base64::Engine as _;
use std::time::Duration;

/// The fixed remote command: read one line from stdin and run it; the rest
/// of stdin is the command's. The line is the script itself after `R`
/// (the usual case: one line, no process spent on decoding), or, when the
/// script holds a newline (in a quoted value or a shell snippet), `B` and
/// the script in base64. No newline inside the quotes, so any login shell
/// (even csh) passes it to `sh` intact.
pub(super) const BOOTSTRAP: &str = r#"exec sh -c 'IFS= read -r s && case $s in B*) s=$(printf %s "${s#B}" | base64 -d) ;; *) s=${s#R} ;; esac && eval "$s"'"#;

/// The line that carries `script` to [`BOOTSTRAP`].
pub(super) fn script_line(script: &str) -> String {
    if script.contains('\n') {
        format!(
            "B{}\n",
            base64::engine::general_purpose::STANDARD.encode(script)
        )
    } else {
        format!("R{script}\n")
    }
}

/// The per-user directory holding pid files of running commands.
pub(super) const PID_DIR: &str = r#"d="${TMPDIR:-/tmp}/.dbremote-${USER:-$(id -u)}""#;

/// Exit status the kill script uses for "no such command".
pub(super) const NO_SUCH_COMMAND: i32 = 3;

/// The remote script for `cmd` (see the module docs). One line, `;`
/// separated (see [`BOOTSTRAP`]), and as few processes as possible on the
/// way to "started" and after the exit: the pid directory is created only
/// when missing, and the pid file is removed in the background once the
/// exit status is known (its output goes nowhere, so it does not hold the
/// channel open).
pub(super) fn run_script(cmd: &Command, id: &CommandId, timeout: Option<Duration>) -> String {
    let mut s = String::new();
    s.push_str(PID_DIR);
    s.push_str("; [ -d \"$d\" ] || (umask 077; mkdir -p \"$d\"); [ -O \"$d\" ] || { echo 'E cannot use '\"$d\"; exit 125; }; ");
    for (k, v) in &cmd.env {
        s.push_str(&format!("{k}={}; export {k}; ", quote(v)));
    }
    if let Some(dir) = &cmd.cwd {
        s.push_str(&format!(
            "cd {} || {{ echo 'E cannot cd'; exit 125; }}; ",
            quote(dir)
        ));
    }
    let (program, _) = cmd.argv();
    s.push_str(&format!(
        "command -v {} >/dev/null 2>&1 || {{ echo N; exit 127; }}; ",
        quote(program)
    ));
    let t = timeout.map_or_else(|| "0".to_owned(), |t| format!("{:.3}", t.as_secs_f64()));
    s.push_str("echo S; exec 3<&0; ");
    s.push_str(&format!(
        "timeout -k {} {t} {} 0<&3 3<&- & ",
        crate::local::KILL_GRACE.as_secs(),
        cmd.argv_shell()
    ));
    s.push_str(&format!(
        "p=$!; exec 3<&-; echo \"$p\" > \"$d/{id}\"; wait \"$p\"; rc=$?; \
         [ \"$rc\" -ne 124 ] || ( sleep {grace}; env kill -KILL -- -\"$p\" ) </dev/null >/dev/null 2>&1 & \
         [ \"$rc\" -ne 255 ] || : > \"$d/{id}.255\"; \
         rm -f \"$d/{id}\" </dev/null >/dev/null 2>&1 & exit \"$rc\"",
        grace = crate::local::KILL_GRACE.as_secs()
    ));
    s
}

/// The remote script that removes command `id`'s exit-255 marker; it exits
/// 0 only when there was one (the command itself exited 255).
pub(super) fn clear_255_script(id: &CommandId) -> String {
    format!("{PID_DIR}; rm \"$d/{id}.255\" 2>/dev/null")
}

/// The remote script that kills command `id`: SIGTERM to its `timeout`
/// process and to the whole process group `timeout` leads, then SIGKILL to
/// the group after the grace period. `timeout` alone is not enough: it
/// exits as soon as its direct child does, before its own SIGKILL, so a
/// grandchild that outlives SIGTERM (mariabackup in a pipeline) survived.
/// (`env kill`: dash's builtin takes no `--` before a negative group id.)
pub(super) fn kill_script(id: &CommandId) -> String {
    format!(
        "{PID_DIR}; f=\"$d/{id}\"; i=0; while [ ! -s \"$f\" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; \
         [ -s \"$f\" ] && read -r p < \"$f\" || exit {NO_SUCH_COMMAND}; kill -TERM \"$p\" 2>/dev/null || exit {NO_SUCH_COMMAND}; \
         env kill -TERM -- -\"$p\" 2>/dev/null; \
         ( sleep {grace}; env kill -KILL -- -\"$p\" ) </dev/null >/dev/null 2>&1 &",
        grace = crate::local::KILL_GRACE.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    #[test]
    fn script_quotes_and_keeps_env_off_argv() {
        let cmd = Command::new("mysql")
            .arg("-e")
            .arg("select 1; drop x")
            .env("MYSQL_PWD", "s3cr'et")
            .cwd("/var/lib");
        let id = CommandId("abc".into());
        let s = run_script(&cmd, &id, Some(Duration::from_millis(1500)));
        assert!(
            s.contains("MYSQL_PWD='s3cr'\\''et'; export MYSQL_PWD; "),
            "{s}"
        );
        assert!(!s.contains('\n'), "one line: {s}");
        assert!(
            s.contains("timeout -k 2 1.500 mysql -e 'select 1; drop x' 0<&3"),
            "{s}"
        );
        assert!(s.contains("cd /var/lib ||"), "{s}");
        assert!(!BOOTSTRAP.contains("MYSQL"));
    }

    #[test]
    fn script_runs_in_a_local_shell() {
        let cmd = Command::new("printf")
            .arg("%s-%s")
            .arg("a b")
            .arg("$X")
            .env("X", "1");
        let script = run_script(&cmd, &CommandId("t1".into()), None);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "S\na b-$X");
        assert!(out.status.success());
        let missing = run_script(
            &Command::new("no-such-program-x"),
            &CommandId("t2".into()),
            None,
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "N\n");
        assert_eq!(out.status.code(), Some(127));
    }

    /// Runs `script` the way sshd would: the login shell runs [`BOOTSTRAP`]
    /// with the script line and then the command's stdin on its stdin.
    fn through_bootstrap(script: &str, stdin: &[u8], tmp: &Path) -> std::process::Output {
        use std::io::Write as _;
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg(BOOTSTRAP)
            .env("TMPDIR", tmp)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = script_line(script).into_bytes();
        input.extend_from_slice(stdin);
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    }

    #[test]
    fn bootstrap_runs_plain_and_encoded_scripts_and_passes_stdin_on() {
        let tmp = tempfile::tempdir().unwrap();
        let id = CommandId("t3".into());
        let plain = Command::new("sh")
            .arg("-c")
            .arg("printf '%s|' \"$V\"; cat; exit 7")
            .env("V", "a'b");
        let script = run_script(&plain, &id, Some(Duration::from_secs(5)));
        assert!(script_line(&script).starts_with('R'));
        let out = through_bootstrap(&script, b"in\0put", tmp.path());
        assert_eq!(out.stdout, b"S\na'b|in\0put");
        assert_eq!(out.status.code(), Some(7));
        // A value with a newline travels base64-encoded, intact.
        let multi = Command::shell("printf '%s' \"$V\"").env("V", "line 1\nline 2\n");
        let script = run_script(&multi, &CommandId("t4".into()), None);
        assert!(script_line(&script).starts_with('B'));
        let out = through_bootstrap(&script, b"", tmp.path());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "S\nline 1\nline 2\n");
        assert!(out.status.success());
        // The pid files are removed (in the background, after the exit).
        let dir = std::fs::read_dir(tmp.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_dir(&dir).unwrap().next().is_some() {
            assert!(Instant::now() < deadline, "pid files left in {dir:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
