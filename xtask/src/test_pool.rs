//! Runs the workspace's test binaries a few at a time instead of one after
//! another as `cargo test` does.
//!
//! Most of CI's test time is the sandbox suites, and they are not CPU-bound
//! (half the machine idles while one runs: they wait on servers, streams and
//! ssh). The tests that must not overlap already take the sandbox's
//! exclusive-use lock (`testkit::serial`), which holds across processes, so
//! running two binaries side by side changes nothing they rely on.
//!
//! Each binary runs as cargo would run it (working directory and
//! `CARGO_MANIFEST_DIR`/`CARGO_PKG_*` of its package), its output kept in a
//! log under `target/test-logs/` and printed whole if it fails. The doc
//! tests run through `cargo test --doc` as one more job.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binaries known to take minutes, started first so the short ones fill
/// the gaps around them (longest-first scheduling). Names as [`Job::name`].
const LONGEST_FIRST: &[&str] = &[
    "dbrecover test e2e",
    "dbbackup test e2e",
    "dr-flashback test drill",
    "backup test faults",
];

/// A test binary that runs longer than this is killed and reported failed:
/// a hung test must fail CI with its name, not run into CI's own limit.
const PER_BINARY_LIMIT: Duration = Duration::from_secs(25 * 60);

/// One unit of the test run: a test binary, or the doc tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `<package> <kind> <target>`, e.g. `dbbackup test e2e`, `conf lib`.
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

/// How one job ended.
#[derive(Debug)]
struct Outcome {
    name: String,
    passed: bool,
    took: Duration,
    summary: String,
    log: PathBuf,
}

/// Builds the test binaries if needed, then runs them and the doc tests,
/// `jobs` at a time, with `env` added. Fails naming every job that failed.
pub fn run(jobs: usize, env: &[(&str, OsString)]) -> Result<()> {
    let mut queue = list_binaries()?;
    queue.push(doc_tests());
    order_longest_first(&mut queue);
    let logs = crate::util::target_dir().join("test-logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let started = Instant::now();
    eprintln!(
        "running {} test jobs, {} at a time; logs in {}",
        queue.len(),
        jobs,
        logs.display()
    );
    let outcomes = crate::util::each_in_parallel(queue, jobs, |job| {
        let outcome = run_job(&job, env, &logs);
        report(&outcome);
        outcome
    });
    print_slowest(&outcomes, started.elapsed());
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("{} test job(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// The test executables of every workspace target, as `cargo test` would
/// run them, from cargo's own JSON description of the build.
fn list_binaries() -> Result<Vec<Job>> {
    let output = crate::util::cargo()
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start cargo test --no-run")?;
    if !output.status.success() {
        bail!("cargo test --no-run failed ({})", output.status);
    }
    parse_artifacts(&String::from_utf8_lossy(&output.stdout))
}

/// The jobs in cargo's `compiler-artifact` messages that carry a test
/// executable.
fn parse_artifacts(json_lines: &str) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for line in json_lines.lines().filter(|l| l.starts_with('{')) {
        let message: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("cargo said {line:?}"))?;
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let manifest = message["manifest_path"].as_str().unwrap_or_default();
        let dir = Path::new(manifest)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let (package, version) = package_of(&message["package_id"]);
        let kind = message["target"]["kind"][0].as_str().unwrap_or("test");
        let target = message["target"]["name"].as_str().unwrap_or_default();
        let name = match kind {
            "lib" | "proc-macro" => format!("{package} lib"),
            _ => format!("{package} {kind} {target}"),
        };
        let env = vec![
            ("CARGO_MANIFEST_DIR".to_string(), dir.display().to_string()),
            ("CARGO_PKG_NAME".to_string(), package.clone()),
            ("CARGO_PKG_VERSION".to_string(), version),
            ("CARGO_CRATE_NAME".to_string(), target.replace('-', "_")),
        ];
        jobs.push(Job {
            name,
            program: PathBuf::from(executable),
            args: Vec::new(),
            dir,
            env,
        });
    }
    if jobs.is_empty() {
        bail!("cargo listed no test executables");
    }
    Ok(jobs)
}

/// Package name and version from a package id: the newer
/// `path+file:///.../name#version` or `registry...#name@version` forms, and
/// the older `name version (source)`.
fn package_of(id: &serde_json::Value) -> (String, String) {
    let id = id.as_str().unwrap_or_default();
    if let Some((source, fragment)) = id.rsplit_once('#') {
        return match fragment.split_once('@') {
            Some((name, version)) => (name.to_string(), version.to_string()),
            None => {
                let name = source.rsplit('/').next().unwrap_or_default();
                (name.to_string(), fragment.to_string())
            }
        };
    }
    let mut words = id.split(' ');
    let name = words.next().unwrap_or_default().to_string();
    (name, words.next().unwrap_or_default().to_string())
}

fn doc_tests() -> Job {
    let cargo = crate::util::cargo();
    Job {
        name: "doc tests".to_string(),
        program: PathBuf::from(cargo.get_program()),
        args: ["test", "--workspace", "--doc", "--no-fail-fast"]
            .map(String::from)
            .to_vec(),
        dir: crate::util::workspace_root(),
        env: Vec::new(),
    }
}

/// Puts the [`LONGEST_FIRST`] jobs at the front, in that order; the rest
/// keep cargo's order.
fn order_longest_first(jobs: &mut [Job]) {
    jobs.sort_by_key(|job| {
        LONGEST_FIRST
            .iter()
            .position(|name| *name == job.name)
            .unwrap_or(LONGEST_FIRST.len())
    });
}

fn run_job(job: &Job, env: &[(&str, OsString)], logs: &Path) -> Outcome {
    let log = logs.join(format!("{}.log", job.name.replace(' ', "-")));
    let started = Instant::now();
    let passed = match spawn_and_wait(job, env, &log) {
        Ok(passed) => passed,
        Err(e) => {
            let _ = std::fs::write(&log, format!("ERROR: {e:#}\n"));
            false
        }
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let summary = text
        .lines()
        .rfind(|l| l.starts_with("test result:") || l.starts_with("ERROR"))
        .unwrap_or("no test result line")
        .to_string();
    Outcome {
        name: job.name.clone(),
        passed,
        took: started.elapsed(),
        summary,
        log,
    }
}

/// Runs the job with its output in `log`; `Ok(false)` when it fails or
/// outlives [`PER_BINARY_LIMIT`] (then it is killed and reaped).
fn spawn_and_wait(job: &Job, env: &[(&str, OsString)], log: &Path) -> Result<bool> {
    let mut cmd = Command::new(&job.program);
    cmd.args(&job.args)
        .current_dir(&job.dir)
        .stdin(Stdio::null());
    crate::util::output_to_log(&mut cmd, log)?;
    for (key, value) in &job.env {
        cmd.env(key, value);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", job.program.display()))?;
    match testkit::poll::Poll::within(PER_BINARY_LIMIT).child(&job.name, &mut child) {
        Ok(status) => Ok(status.success()),
        Err(late) => {
            let mut file = std::fs::OpenOptions::new().append(true).open(log)?;
            writeln!(file, "ERROR: killed: {late}")?;
            Ok(false)
        }
    }
}

fn report(outcome: &Outcome) {
    let verdict = if outcome.passed { "ok    " } else { "FAILED" };
    eprintln!(
        "{verdict} {} ({:.0} s): {}",
        outcome.name,
        outcome.took.as_secs_f64(),
        outcome.summary
    );
    if !outcome.passed {
        eprintln!(
            "---- output of {} ({}):",
            outcome.name,
            outcome.log.display()
        );
        eprintln!(
            "{}",
            std::fs::read_to_string(&outcome.log).unwrap_or_default()
        );
        eprintln!("---- end of {}", outcome.name);
    }
}

fn print_slowest(outcomes: &[Outcome], wall: Duration) {
    let mut by_time: Vec<&Outcome> = outcomes.iter().collect();
    by_time.sort_by_key(|o| std::cmp::Reverse(o.took));
    let total: Duration = outcomes.iter().map(|o| o.took).sum();
    eprintln!(
        "tests: {:.0} s of wall time for {:.0} s of test jobs; the slowest:",
        wall.as_secs_f64(),
        total.as_secs_f64()
    );
    for o in by_time.iter().take(6) {
        eprintln!("  {:>5.0} s  {}", o.took.as_secs_f64(), o.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTIFACTS: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/bins/dbbackup#0.1.0","manifest_path":"/w/bins/dbbackup/Cargo.toml","target":{"kind":["test"],"name":"e2e"},"profile":{"test":true},"executable":"/w/target/debug/deps/e2e-1"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/conf#0.1.0","manifest_path":"/w/crates/conf/Cargo.toml","target":{"kind":["lib"],"name":"conf"},"profile":{"test":true},"executable":"/w/target/debug/deps/conf-2"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/conf#0.1.0","manifest_path":"/w/crates/conf/Cargo.toml","target":{"kind":["lib"],"name":"conf"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.1","manifest_path":"/r/serde/Cargo.toml","target":{"kind":["lib"],"name":"serde"},"profile":{"test":false},"executable":null}
{"reason":"build-finished","success":true}"#;

    #[test]
    fn test_executables_are_read_from_cargos_messages() {
        let jobs = parse_artifacts(ARTIFACTS).expect("parses");
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["dbbackup test e2e", "conf lib"]);
        assert_eq!(jobs[0].dir, PathBuf::from("/w/bins/dbbackup"));
        assert_eq!(jobs[0].program, PathBuf::from("/w/target/debug/deps/e2e-1"));
        assert!(
            jobs[1]
                .env
                .contains(&("CARGO_PKG_NAME".to_string(), "conf".to_string()))
        );
    }

    #[test]
    fn no_test_executables_is_an_error() {
        let only_libs = ARTIFACTS.lines().skip(2).collect::<Vec<_>>().join("\n");
        assert!(parse_artifacts(&only_libs).is_err());
    }

    #[test]
    fn package_ids_of_both_cargo_formats() {
        let id = |s: &str| package_of(&serde_json::Value::String(s.to_string()));
        assert_eq!(
            id("path+file:///w/crates/conf#0.1.0"),
            ("conf".into(), "0.1.0".into())
        );
        assert_eq!(
            id("path+file:///w/xtask#my-task@0.2.0"),
            ("my-task".into(), "0.2.0".into())
        );
        assert_eq!(
            id("conf 0.1.0 (path+file:///w/crates/conf)"),
            ("conf".into(), "0.1.0".into())
        );
    }

    #[test]
    fn a_job_runs_in_its_directory_with_its_environment_and_its_result_is_read() {
        let logs = tempfile::tempdir().unwrap();
        let job = |name: &str, script: &str| Job {
            name: name.to_string(),
            program: PathBuf::from("sh"),
            args: vec!["-c".to_string(), script.to_string()],
            dir: PathBuf::from("/tmp"),
            env: vec![("CARGO_PKG_NAME".to_string(), "conf".to_string())],
        };
        let extra = [("SANDBOX_REQUIRED", OsString::from("1"))];
        let ok = run_job(
            &job(
                "fine",
                r#"echo "test result: ok. $CARGO_PKG_NAME $SANDBOX_REQUIRED $(pwd)""#,
            ),
            &extra,
            logs.path(),
        );
        assert!(ok.passed);
        assert_eq!(ok.summary, "test result: ok. conf 1 /tmp");
        let failed = run_job(
            &job("broken", "echo 'test result: FAILED. 1 failed'; exit 101"),
            &extra,
            logs.path(),
        );
        assert!(!failed.passed);
        assert_eq!(failed.summary, "test result: FAILED. 1 failed");
        assert!(failed.log.ends_with("broken.log"));
    }

    #[test]
    fn the_known_long_binaries_start_first() {
        let job = |name: &str| Job {
            name: name.to_string(),
            program: PathBuf::new(),
            args: Vec::new(),
            dir: PathBuf::new(),
            env: Vec::new(),
        };
        let mut jobs = vec![
            job("conf lib"),
            job("backup test faults"),
            job("doc tests"),
            job("dbrecover test e2e"),
        ];
        order_longest_first(&mut jobs);
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dbrecover test e2e",
                "backup test faults",
                "conf lib",
                "doc tests"
            ]
        );
    }
}
