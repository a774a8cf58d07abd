//! What an operator sees (issue 19): on a terminal, live progress lines
//! whose byte counts move while a throttled stream flows; through a pipe,
//! none of it (no `\r`, no ANSI); by default the plan and a short summary,
//! the step timings only with `-d`.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::{Command, Stdio};

use common::{RUN_LIMIT, TestStore, serial, wait_limited};
use testkit::{Sandbox, Server};

/// How often the receiving end reports bytes in these runs: short, so a
/// fast stream still reports several times (the default is 1 s).
const EVERY_MS: &str = "100";

/// How many reads and writes a second the backup program makes in the
/// progress test (mariabackup's `--throttle`; about 36 MiB/s here): a
/// replica's stream of some hundred MiB lasts seconds however fast the
/// machine, so its line is drawn many times while it flows, without a load
/// of gigabytes to make it last.
const THROTTLE_IOPS: u32 = 128;

/// A program for `xtrabackup-bin-dir` that runs mariabackup throttled to
/// [`THROTTLE_IOPS`] when it backs up (its `--version` as it is), in a
/// directory every host's login user can read.
fn throttled_mariabackup() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new()
        .prefix("xb-throttled")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = dir.path().join("mariabackup");
    let script = format!(
        "#!/bin/sh\n\
         case \" $* \" in *\" --backup \"*) exec /usr/bin/mariabackup \"$@\" --throttle={THROTTLE_IOPS} ;; esac\n\
         exec /usr/bin/mariabackup \"$@\"\n"
    );
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, program)
}

/// The server a sandbox backup (backup-master = 0, backup-slave = 1)
/// streams in the first datasource: its first replica.
fn first_replica(sb: &Sandbox) -> Server {
    sb.prod_servers()
        .into_iter()
        .find(|s| s.initial_role != "master")
        .unwrap()
}

/// Runs dbbackup with `args` on a pseudo-terminal (`script`), returning
/// its exit code and everything it drew there.
fn run_on_terminal(store: &TestStore, args: &[&str]) -> (Option<i32>, String) {
    let mut argv = vec![
        env!("CARGO_BIN_EXE_dbbackup"),
        "--config-file",
        store.conf.to_str().unwrap(),
    ];
    argv.extend_from_slice(args);
    let line = argv
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &line, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("DBBACKUP_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, out, err) = wait_limited(child, RUN_LIMIT);
    (code, out + &err)
}

/// The byte counts (`12.3 MiB`) the progress line of `server` showed
/// while its stream flowed, in the order drawn.
fn streaming_counts(drawn: &str, server: &str) -> Vec<String> {
    drawn
        .split(['\r', '\n', '\x1b'])
        .filter_map(|piece| {
            // After the escape: a control sequence (`[2K`, `[2A`), then
            // the text drawn.
            let line = match piece.strip_prefix('[') {
                Some(rest) => rest
                    .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
                    .get(1..)?,
                None => piece,
            };
            let rest = line.strip_prefix(server)?;
            if !rest.contains("streaming the backup") {
                return None;
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            // `<elapsed>  <n> <unit>  <rate> MB/s  <step>`
            let unit = words.iter().position(|w| w.ends_with('B'))?;
            Some(format!("{} {}", words.get(unit - 1)?, words[unit]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shows_the_bytes_moving_and_a_pipe_shows_no_progress() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let server = first_replica(&sb);
    let (_dir, program) = throttled_mariabackup();
    // Both throttled: streams long enough that a drawing would show.
    let throttled = [
        ("debug", "0"),
        ("xtrabackup-bin-dir", program.to_str().unwrap()),
    ];
    let on_tty = TestStore::new(&sb, "BACKUP_SSH_CONF", "progress-tty", &throttled);
    let piped = TestStore::new(&sb, "BACKUP_SSH_CONF", "progress-pipe", &throttled);

    let (code, drawn) = run_on_terminal(&on_tty, &["--progress-every-ms", EVERY_MS]);
    assert_eq!(code, Some(0), "{drawn}");
    assert!(drawn.contains("cluster backup succeed"), "{drawn}");
    let counts = streaming_counts(&drawn, &server.name);
    let mut moving: Vec<&String> = counts.iter().filter(|c| *c != "0 B").collect();
    moving.dedup();
    assert!(
        moving.len() >= 2,
        "the progress line of {} showed {counts:?} while streaming, not two different byte counts:\n{}",
        server.name,
        drawn.escape_debug()
    );
    // The summary has a row for the server.
    let summary_row = drawn
        .lines()
        .find(|l| l.starts_with(&server.name) && l.contains(" full "))
        .unwrap_or_else(|| panic!("no summary row of {}:\n{drawn}", server.name));
    assert!(summary_row.contains(" MiB "), "{summary_row}");

    let out = piped.run(&sb, &["--progress-every-ms", EVERY_MS], &[]);
    out.assert_succeeded();
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains('\r') && !text.contains('\x1b'),
            "progress drawing reached a pipe:\n{}",
            text.escape_debug()
        );
    }
    assert!(!out.stderr.contains("streaming the backup"), "{out}");
}

/// The stdout lines after the plan (the summary, from its table's header).
fn after_plan(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("server "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_plan_and_a_short_summary_and_the_steps_with_dash_d() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "quiet-default", &[("debug", "0")]);

    let out = store.run(&sb, &[], &[]);
    out.assert_succeeded();
    let summary = after_plan(&out.stdout);
    assert!(
        !summary.is_empty() && summary.len() <= 15,
        "the summary has {} lines:\n{out}",
        summary.len()
    );
    let name = out.backup_name();
    let backed_up = out
        .stdout
        .lines()
        .filter(|l| l.ends_with(" replica backup") || l.ends_with(" master backup"))
        .count();
    // The header, a row per server, the total, then the result lines.
    assert!(backed_up > 0, "{out}");
    assert!(summary[1 + backed_up].starts_with("total "), "{out}");
    assert!(
        summary.contains(
            &format!(
                "stored in {}:{}/{name}",
                sb.var("STORE_HOST"),
                store.dir.display()
            )
            .as_str()
        ),
        "{out}"
    );
    assert!(
        !out.stderr.contains("step done") && !out.stderr.contains(" INFO "),
        "log lines in a default run:\n{out}"
    );

    let verbose = store.run(&sb, &["-d"], &[]);
    verbose.assert_succeeded();
    assert!(
        verbose.stderr.contains("step done") && verbose.stderr.contains("streaming the backup"),
        "-d shows no step lines:\n{verbose}"
    );

    let quiet = store.run(&sb, &["--quiet"], &[]);
    quiet.assert_succeeded();
    assert!(
        quiet.stdout.lines().count() <= 2 && quiet.stdout.contains(" complete: "),
        "--quiet printed more than the result:\n{quiet}"
    );
}

#[test]
fn the_counts_are_read_from_a_drawn_line() {
    let drawn = "\x1b[2Knormal_0_1    1s   412.5 MiB    432.1 MB/s  streaming the backup   \r\
                 \x1b[2A\x1b[2Knormal_0_1    2s     1.00 GiB    537.0 MB/s  streaming the backup\n\
                 normal_0_1    2s     1.00 GiB    537.0 MB/s  done\n";
    assert_eq!(
        streaming_counts(drawn, "normal_0_1"),
        ["412.5 MiB", "1.00 GiB"]
    );
}
