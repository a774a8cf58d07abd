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
    let timeout_prefix = format!(
        "timeout -k {} {t} {}",
        crate::local::KILL_GRACE.as_secs(),
        cmd.argv_shell()
    );
    if cmd.stdin.is_some() {
        // The channel's stdin is the command's: no lifeline.
        s.push_str(&format!("{timeout_prefix} 0<&3 3<&- & p=$!; "));
    } else {
        // The channel's stdin is the lifeline: the watcher (a forked `sh`,
        // no exec, blocked in the `read` builtin) kills the group when it
        // reaches EOF, i.e. when the controller closed it or died. Once it
        // has started killing it ignores the TERM that ends an idle watcher
        // after a normal exit, so the SIGKILL stage is never lost.
        s.push_str(&format!(
            "{timeout_prefix} </dev/null 3<&- & p=$!; \
             {{ while read -r _; do :; done; trap '' TERM; {} }} <&3 >/dev/null 2>&1 & w=$!; ",
            kill_group("$p")
        ));
    }
    s.push_str(&format!(
        "exec 3<&-; echo \"$p\" > \"$d/{id}\"; wait \"$p\"; rc=$?; {end_watcher}\
         [ \"$rc\" -ne 124 ] || ( sleep {grace}; env kill -KILL -- -\"$p\" ) </dev/null >/dev/null 2>&1 & \
         [ \"$rc\" -ne 255 ] || : > \"$d/{id}.255\"; \
         rm -f \"$d/{id}\" </dev/null >/dev/null 2>&1 & exit \"$rc\"",
        grace = crate::local::KILL_GRACE.as_secs(),
        end_watcher = if cmd.stdin.is_some() {
            ""
        } else {
            "kill \"$w\" 2>/dev/null; "
        },
    ));
    s
}

/// Shell that ends the process group led by `timeout`, whose pid is in
/// `pid` (a shell word such as `$p`): SIGTERM to `timeout` and to the whole
/// group, then SIGKILL to the group after the grace period, in the
/// background with its output nowhere (so it holds no channel open).
/// `timeout` alone is not enough: it exits as soon as its direct child
/// does, before its own SIGKILL, so a grandchild that outlives SIGTERM
/// (mariabackup in a pipeline) survived. (`env kill`: dash's builtin takes
/// no `--` before a negative group id.)
fn kill_group(pid: &str) -> String {
    format!(
        "kill -TERM \"{pid}\" 2>/dev/null; env kill -TERM -- -\"{pid}\" 2>/dev/null; \
         ( sleep {grace}; env kill -KILL -- -\"{pid}\" ) </dev/null >/dev/null 2>&1 &",
        grace = crate::local::KILL_GRACE.as_secs()
    )
}

/// The remote script that removes command `id`'s exit-255 marker; it exits
/// 0 only when there was one (the command itself exited 255).
pub(super) fn clear_255_script(id: &CommandId) -> String {
    format!("{PID_DIR}; rm \"$d/{id}.255\" 2>/dev/null")
}

/// The remote script that kills command `id` (see [`kill_group`]); it
/// exits [`NO_SUCH_COMMAND`] when no such command runs.
pub(super) fn kill_script(id: &CommandId) -> String {
    format!(
        "{PID_DIR}; f=\"$d/{id}\"; i=0; while [ ! -s \"$f\" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; \
         [ -s \"$f\" ] && read -r p < \"$f\" || exit {NO_SUCH_COMMAND}; kill -0 \"$p\" 2>/dev/null || exit {NO_SUCH_COMMAND}; {}",
        kill_group("$p")
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
        // No stdin bytes: /dev/null, and the channel's stdin is a lifeline.
        assert!(
            s.contains("timeout -k 2 1.500 mysql -e 'select 1; drop x' </dev/null 3<&-"),
            "{s}"
        );
        assert!(s.contains("while read -r _"), "{s}");
        assert!(s.contains("cd /var/lib ||"), "{s}");
        assert!(!BOOTSTRAP.contains("MYSQL"));
        // Stdin bytes: the channel's stdin is the command's, no watcher.
        let s = run_script(&cmd.stdin(b"x".to_vec()), &id, None);
        assert!(
            s.contains("timeout -k 2 0 mysql -e 'select 1; drop x' 0<&3 3<&-"),
            "{s}"
        );
        assert!(!s.contains("while read"), "{s}");
    }

    #[test]
    fn script_runs_in_a_local_shell() {
        let cmd = Command::new("printf")
            .arg("%s-%s")
            .arg("a b")
            .arg("$X")
            .env("X", "1");
        let script = run_script(&cmd, &CommandId("t1".into()), None);
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c").arg(&script);
        let out = run_holding_stdin(sh, b"", true);
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
    /// (`hold`: the command takes no stdin, so its lifeline is held open
    /// until its output ends; else stdin is closed after `stdin`.)
    fn through_bootstrap(
        script: &str,
        stdin: &[u8],
        tmp: &Path,
        hold: bool,
    ) -> std::process::Output {
        let mut input = script_line(script).into_bytes();
        input.extend_from_slice(stdin);
        run_holding_stdin(bootstrap_shell(tmp), &input, hold)
    }

    fn bootstrap_shell(tmp: &Path) -> std::process::Command {
        let mut bash = std::process::Command::new("bash");
        bash.arg("-c").arg(BOOTSTRAP).env("TMPDIR", tmp);
        bash
    }

    /// Runs `shell` with `input` on a stdin kept open when `hold`, as the
    /// controller keeps the lifeline, until its stdout ends (which the
    /// watcher must not delay); then closes it and waits.
    fn run_holding_stdin(
        mut shell: std::process::Command,
        input: &[u8],
        hold: bool,
    ) -> std::process::Output {
        use std::io::{Read as _, Write as _};
        let mut child = shell
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        let stdin = hold.then_some(stdin);
        let mut stdout = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut stdout)
            .unwrap();
        drop(stdin);
        let status = child.wait().unwrap();
        std::process::Output {
            status,
            stdout,
            stderr: Vec::new(),
        }
    }

    /// Live (not zombie) processes in process group `pgid`.
    fn group_members(pgid: u32) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                // pid (comm) state ppid pgrp ...
                let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                (rest.first() != Some(&"Z") && rest.get(2)?.parse() == Ok(pgid)).then_some(pid)
            })
            .collect()
    }

    #[test]
    fn lifeline_eof_ends_the_whole_group() {
        use std::io::{BufRead as _, Write as _};
        let tmp = tempfile::tempdir().unwrap();
        // `$$` is the `sh` under `timeout`, in the group `timeout` leads.
        let cmd = Command::shell("ps -o pgid= -p $$; sleep 1000 | cat");
        let script = run_script(&cmd, &CommandId("t5".into()), None);
        let mut child = bootstrap_shell(tmp.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(script_line(&script).as_bytes()).unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "S");
        let pgid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_members(pgid).len() < 3 {
            assert!(Instant::now() < deadline, "sleep | cat never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The controller goes away: its end of the lifeline closes.
        drop(stdin);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + 15), "ended by SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(pgid).is_empty() {
            assert!(
                Instant::now() < deadline,
                "group {pgid} outlived its lifeline"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn bootstrap_runs_plain_and_encoded_scripts_and_passes_stdin_on() {
        let tmp = tempfile::tempdir().unwrap();
        let id = CommandId("t3".into());
        let plain = Command::new("sh")
            .arg("-c")
            .arg("printf '%s|' \"$V\"; cat; exit 7")
            .env("V", "a'b")
            .stdin(b"in\0put".to_vec());
        let script = run_script(&plain, &id, Some(Duration::from_secs(5)));
        assert!(script_line(&script).starts_with('R'));
        let out = through_bootstrap(&script, b"in\0put", tmp.path(), false);
        assert_eq!(out.stdout, b"S\na'b|in\0put");
        assert_eq!(out.status.code(), Some(7));
        // A value with a newline travels base64-encoded, intact.
        let multi = Command::shell("printf '%s' \"$V\"").env("V", "line 1\nline 2\n");
        let script = run_script(&multi, &CommandId("t4".into()), None);
        assert!(script_line(&script).starts_with('B'));
        let out = through_bootstrap(&script, b"", tmp.path(), true);
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
