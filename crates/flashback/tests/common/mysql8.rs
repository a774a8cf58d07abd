// Helpers of the MySQL 8 tests (no MySQL 8 runs here): recorded answers for
// the scripted peers, and the stand-in `mysqld` (`fixtures/mysqld-stand-in.sh`:
// `--initialize-insecure` makes a data directory beside its `--defaults-file`,
// refusing a non-empty one, and keeps a copy of its init file; otherwise it
// writes `mysqld.pid` there and runs until SIGTERM, which removes it; a file
// `mode` holding `die` beside the program makes it fail at once). Included by
// `tests/clone.rs` and by the crate's unit tests (`include!`), so items only.

/// Where the fixtures are.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");

/// A recorded answer from `tests/fixtures/`, `\G` continuation lines (a GTID
/// set printed over several lines) joined back to their value (not every
/// includer uses it).
#[allow(dead_code)]
pub fn recorded(name: &str) -> dbscale_sim::scripted::Answer {
    let text = std::fs::read_to_string(format!("{FIXTURES}{name}")).expect("a fixture");
    let mut joined = String::new();
    for line in text.lines() {
        joined.push_str(line);
        joined.push(if line.ends_with(',') { '\u{1}' } else { '\n' });
    }
    let rows = topology::recorded::parse_output(&joined);
    let columns: Vec<String> = rows
        .first()
        .map(|r| r.iter().map(|(c, _)| c.to_owned()).collect())
        .unwrap_or_default();
    dbscale_sim::scripted::Answer::Rows {
        columns,
        rows: rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|(_, v)| v.map(|v| v.replace('\u{1}', "\n")))
                    .collect()
            })
            .collect(),
    }
}

/// A copy of the stand-in `mysqld` at `path`, executable.
pub fn stand_in(path: &std::path::Path) {
    std::fs::copy(format!("{FIXTURES}mysqld-stand-in.sh"), path).expect("the stand-in");
    std::fs::set_permissions(
        path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
}

/// The pid in `dir/mysqld.pid`, if any.
pub fn pid_of(dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("mysqld.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Stops the stand-in whose pid is in `dir/mysqld.pid` (SIGTERM).
pub fn terminate(dir: &std::path::Path) {
    if let Some(pid) = pid_of(dir) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}
