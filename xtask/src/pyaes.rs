//! A private Python venv with the real pyAesCrypt, the reference the
//! `aescrypt` interop tests and the crypt benchmark compare against.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The pyAesCrypt release the seeds' backup sets were written with.
pub const PYAESCRYPT_VERSION: &str = "6.1.1";

/// Creates (once) `<root>/target/pyenv` with pyAesCrypt installed from PyPI
/// and returns the path of its python. When the venv already has the right
/// version this costs one python start-up.
pub fn ensure_pyaescrypt(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("pyenv");
    let python = venv.join("bin").join("python3");
    if installed_version(&python).as_deref() == Some(PYAESCRYPT_VERSION) {
        return Ok(python);
    }
    if !python.exists() {
        eprintln!("creating the Python venv {}", venv.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("python3 -m venv failed (on Debian: apt-get install python3-venv)")?;
    }
    eprintln!(
        "installing pyAesCrypt=={PYAESCRYPT_VERSION} into {}",
        venv.display()
    );
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("pyAesCrypt=={PYAESCRYPT_VERSION}")))
    .context("pip install pyAesCrypt failed (is PyPI reachable?)")?;
    match installed_version(&python) {
        Some(v) if v == PYAESCRYPT_VERSION => Ok(python),
        other => bail!(
            "pyAesCrypt {PYAESCRYPT_VERSION} not importable from {} after install (found {other:?})",
            python.display()
        ),
    }
}

/// The pyAesCrypt version importable by `python`, if any.
fn installed_version(python: &Path) -> Option<String> {
    if !python.exists() {
        return None;
    }
    let out = Command::new(python)
        .args(["-c", "import pyAesCrypt.crypto as c; print(c.version)"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} exited with {status}");
    }
    Ok(())
}
