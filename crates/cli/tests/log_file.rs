//! `--log-format json --log-file F`: the run's log lines land in F as JSON
//! objects (one process: the global subscriber is set once).
#![allow(clippy::unwrap_used)]

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: cli::Common,
}

#[test]
fn json_lines_are_appended_to_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.log");
    std::fs::write(&file, "an earlier run\n").unwrap();
    let args = Args::parse_from([
        "tool",
        "--log-format",
        "json",
        "--log-file",
        file.to_str().unwrap(),
    ]);
    let _logging = args.common.init_logging(&["log_file"]).unwrap();
    tracing::info!(host = "127.0.0.12", "streaming normal_0_1");
    tracing::debug!("not at the default level");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("an earlier run"),
        "appended, not replaced"
    );
    let line: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["message"], "streaming normal_0_1");
    assert_eq!(line["fields"]["host"], "127.0.0.12");
    assert_eq!(lines.next(), None, "{text}");
}
