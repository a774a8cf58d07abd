//! `cargo xtask ci`: everything CI checks, in order, failing fast: format,
//! clippy, layers, build, every test on the sandbox (two binaries at a
//! time) with the fuzz targets beside them at the lowest CPU priority, no
//! password left in the sandbox's files.

use crate::util::{cargo, run as run_cmd};
use anyhow::Result;

/// Format, clippy, then every test with the sandbox up (and taken down
/// again if this run started it).
pub fn run() -> Result<()> {
    crate::packages::ensure_installed()?;
    step("pyAesCrypt venv (interoperability tests)");
    let python = crate::pyaes::ensure_pyaescrypt(&crate::util::workspace_root())?;
    step("cargo fmt --check");
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("cargo clippy");
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("layers");
    crate::layers::run()?;
    step("build");
    crate::util::build_workspace()?;
    step("sandbox up");
    let paths = crate::sandbox::paths();
    let started = crate::sandbox::up(&paths)?;
    step("tests, and the fuzz targets beside them (30 s each, niced)");
    let fuzz = std::thread::spawn(|| crate::fuzz::run_beside_tests(30));
    let tests = crate::test_pool::run(
        TEST_JOBS,
        &[
            ("SANDBOX_DIR", paths.root().into()),
            ("PYAESCRYPT_PYTHON", python.into()),
            ("SANDBOX_REQUIRED", "1".into()),
        ],
    );
    step("secret scan of the sandbox's files");
    let scan = crate::secret_scan::run(paths.root());
    if let Err(e) = &scan {
        // Said now: a failed test run's error is the one returned first.
        eprintln!("ERROR: {e:#}");
    }
    if started {
        step("sandbox down");
        if let Err(e) = crate::sandbox::down(&paths) {
            eprintln!("warning: sandbox down failed: {e:#}");
        }
    }
    let fuzz = fuzz
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the fuzz thread panicked")));
    step("done");
    tests?;
    scan?;
    fuzz
}

/// `cargo xtask test`: the test step alone, against the sandbox if it is
/// up, without requiring it.
pub fn test(jobs: usize) -> Result<()> {
    let paths = crate::sandbox::paths();
    let mut env = vec![("SANDBOX_DIR", paths.root().into())];
    if let Ok(python) = crate::pyaes::ensure_pyaescrypt(&crate::util::workspace_root()) {
        env.push(("PYAESCRYPT_PYTHON", python.into()));
    }
    crate::test_pool::run(jobs, &env)
}

/// Test binaries run side by side: two keep this 2-core machine busy while
/// the sandbox suites wait on their servers (see `test_pool`).
const TEST_JOBS: usize = 2;

/// Prints a step's banner, with the time the previous step took.
fn step(name: &str) {
    static LAST: std::sync::Mutex<Option<(String, std::time::Instant)>> =
        std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((previous, started)) = last.take() {
        eprintln!("    ({previous}: {:.0} s)", started.elapsed().as_secs_f64());
    }
    eprintln!("==> {name}");
    *last = Some((name.to_string(), std::time::Instant::now()));
}
