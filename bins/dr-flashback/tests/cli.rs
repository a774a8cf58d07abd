//! The command line without a cluster: the seed's spelling, usage errors
//! (exit 2), and `status` reading the journal.

use flashback::journal::{Entry, Journal, Node, Role, StepState};
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dr-flashback"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("dr-flashback runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn journal_arg(j: &Journal) -> String {
    j.path().display().to_string()
}

#[test]
fn help_documents_the_exit_statuses_and_the_seed_spelling() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("EXIT STATUS:") && help.contains("2 bad arguments"),
        "{help}"
    );
    assert!(help.contains("dr-flashback verify -si"), "{help}");
    let out = run(&["verify", "--help"]);
    assert!(text(&out.stdout).contains("--si <HOST:PORT>"));
}

#[test]
fn usage_errors_exit_2_with_one_error_line() {
    let out = run(&["verify", "-si", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--ti <HOST:PORT>"));

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.ini");
    let out = run(&[
        "verify",
        "-si",
        "a:1",
        "-ti",
        "b:2",
        "-config",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("ERROR: cannot read") && err.contains("none.ini"),
        "{err}"
    );

    let ini = dir.path().join("dr_flashback.ini");
    std::fs::write(
        &ini,
        "[source]\nmysql_user = a\nmysql_password = p\nsys_user = u\nsys_port = 22\n\
         [target]\nmysql_user = a\nmysql_password = p\nsys_user = u\nsys_port = 22\n",
    )
    .unwrap();
    let out = run(&[
        "verify",
        "-si",
        "nohost",
        "-ti",
        "b:2",
        "--config",
        ini.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "ERROR: -si \"nohost\" is not HOST:PORT"
    );
}

#[test]
fn status_says_what_the_journal_holds() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::in_dir(dir.path());
    let arg = journal_arg(&journal);

    let out = run(&["status", "--journal", &arg]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("no drill is open"),
        "{}",
        text(&out.stdout)
    );

    let node = Node {
        server_name: "dr_0_1".into(),
        host: "127.0.0.32".into(),
        port: "16315".into(),
        role: Role::Donor,
        data_dir: "/d".into(),
        donor_port: "16315".into(),
        joiner_port: "18000".into(),
        pid_file: String::new(),
        server_argv: Vec::new(),
    };
    let entry = Entry::open("detach DR from production", vec![node]).at(
        3,
        "stop DR replication",
        StepState::Started,
    );
    journal.write(&entry).unwrap();
    let out = run(&["status", "--journal", &arg]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains(&format!("drill {} open since", entry.drill_id))
            && stdout.contains("step 3 (stop DR replication) under way since"),
        "{stdout}"
    );
    assert!(stdout.contains("Donor dr_0_1 127.0.0.32:16315"), "{stdout}");

    let out = run(&["status", "--journal", &arg, "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["open"], true);
    assert_eq!(doc["entry"]["step"], 3);
    assert_eq!(doc["entry"]["drill_id"], entry.drill_id.as_str());

    std::fs::write(journal.path(), "{\"version\":1,\"dri").unwrap();
    let out = run(&["status", "--journal", &arg]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("ERROR: status: journal ") && err.contains("not a dr-flashback journal"),
        "{err}"
    );
}

#[test]
fn start_refuses_while_a_drill_is_open_and_stop_says_what_it_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("dr_flashback.ini");
    std::fs::write(
        &ini,
        "[source]\nmysql_user = a\nmysql_password = p\nsys_user = u\nsys_port = 22\n\
         [target]\nmysql_user = a\nmysql_password = p\nsys_user = u\nsys_port = 22\n",
    )
    .unwrap();
    let journal = Journal::in_dir(dir.path());
    let journal_path = journal_arg(&journal);
    let ini_path = ini.display().to_string();
    let verb = |verb: &str, extra: &[&str]| {
        let mut args = vec![
            verb,
            "-si",
            "a:1",
            "-ti",
            "b:2",
            "--config",
            &ini_path,
            "--journal",
            &journal_path,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = verb("stop", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("no drill is open")
            && text(&out.stdout).contains("nothing to stop")
    );
    assert!(!Path::new(journal.path()).exists(), "nothing written");

    let entry = Entry::open("detach", Vec::new()).at(2, "stop DR replication", StepState::Done);
    journal.write(&entry).unwrap();
    let before = std::fs::read(journal.path()).unwrap();
    let out = verb("start", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "a drill is open (drill {}, step 2 (stop DR replication)",
            entry.drill_id
        )) && err.contains("run stop first"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(journal.path()).unwrap(),
        before,
        "the journal is untouched"
    );
    let out = verb("stop", &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    // Stopped before step 7 opened the DR cluster: nothing to restore.
    assert!(
        plan.contains(
            "step 1: close the DR cluster to writes\n\
             step 2: remove the snapshots (the DR cluster never opened)\n\
             step 3: enable the donor\n"
        ) && plan.ends_with("dry run: nothing changed\n"),
        "{plan}"
    );
    assert_eq!(
        std::fs::read(journal.path()).unwrap(),
        before,
        "the journal is untouched"
    );
}

#[test]
fn v_prints_the_version_as_every_tool_and_no_verb_is_a_usage_error() {
    for flag in ["-v", "--version", "-V"] {
        let out = run(&[flag]);
        assert!(out.status.success(), "{flag}");
        assert!(text(&out.stdout).starts_with("version: "), "{flag}");
    }
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("ERROR: no verb given"),
        "{}",
        text(&out.stderr)
    );
}
