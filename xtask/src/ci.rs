//! `cargo xtask ci`: everything CI checks, in order, failing fast: format,
//! clippy, layers, build, every test on the sandbox, no password left in
//! the sandbox's files, the fuzz targets.

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
    step("tests");
    let tests = run_cmd(
        cargo()
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("SANDBOX_DIR", paths.root())
            .env("PYAESCRYPT_PYTHON", &python)
            .env("SANDBOX_REQUIRED", "1"),
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
    tests?;
    scan?;
    step("fuzz targets, 30 s each");
    crate::fuzz::run_targets(30, &[])
}

fn step(name: &str) {
    eprintln!("==> {name}");
}
