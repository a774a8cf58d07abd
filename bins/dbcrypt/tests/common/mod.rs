//! Helpers shared by the dbcrypt integration tests.
#![allow(dead_code)] // each test crate uses a different subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PASSWORD: &str = "Interop-Passw0rd!";

/// `dbcrypt ARGS` with the password in the environment.
pub fn dbcrypt(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbcrypt"))
        .args(args)
        .current_dir(cwd)
        .env("DBCRYPT_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run dbcrypt")
}

/// Asserts success and returns the output.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic, incompressible-looking test data, written in 1 MiB
/// pieces so that 256 MiB costs little even in a debug build.
pub fn write_data(path: &Path, len: usize) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
    let mut block = vec![0u8; 1 << 20];
    for chunk in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut left = len;
    let mut counter: u64 = 0;
    while left > 0 {
        // Vary each MiB so that no two ciphertext blocks repeat.
        block[..8].copy_from_slice(&counter.to_le_bytes());
        counter += 1;
        let n = left.min(block.len());
        file.write_all(&block[..n]).expect("write");
        left -= n;
    }
    file.flush().expect("flush");
}

/// Asserts that two files have the same bytes (without printing them).
pub fn assert_same_file(a: &Path, b: &Path) {
    let (x, y) = (
        std::fs::read(a).expect("read"),
        std::fs::read(b).expect("read"),
    );
    assert_eq!(
        x.len(),
        y.len(),
        "{} vs {}: sizes differ",
        a.display(),
        b.display()
    );
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The python of a venv with pyAesCrypt 6.1.1, from `PYAESCRYPT_PYTHON`.
/// Unset: a failure in CI (`CI` or `SANDBOX_REQUIRED=1`), else a skip.
pub fn pyaescrypt_python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PYAESCRYPT_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let required =
        std::env::var_os("CI").is_some() || std::env::var("SANDBOX_REQUIRED").as_deref() == Ok("1");
    assert!(
        !required,
        "PYAESCRYPT_PYTHON is not set: run `cargo xtask ci`, or create the venv with \
         `python3 -m venv target/pyenv && target/pyenv/bin/pip install pyAesCrypt==6.1.1` \
         and export PYAESCRYPT_PYTHON=$PWD/target/pyenv/bin/python3"
    );
    eprintln!("note: PYAESCRYPT_PYTHON not set; skipping the pyAesCrypt interop test");
    None
}

/// pyAesCrypt's own command line (what the seeds run): `pyAesCrypt -p PASS ARGS`.
pub fn pyaescrypt_cli(python: &Path, args: &[&str], cwd: &Path) -> Output {
    let script = python.with_file_name("pyAesCrypt");
    Command::new(python)
        .arg(script)
        .arg("-p")
        .arg(PASSWORD)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run pyAesCrypt")
}

/// pyAesCrypt's `encryptStream`/`decryptStream` from stdin to stdout with
/// the given buffer size; the password travels in the environment.
pub fn pyaescrypt_stream(python: &Path, function: &str, buffer: usize, input: &Path) -> Output {
    let code = format!(
        "import os, sys, pyAesCrypt\n\
         pyAesCrypt.{function}(sys.stdin.buffer, sys.stdout.buffer, os.environ['PW'], {buffer})\n\
         sys.stdout.buffer.flush()\n"
    );
    Command::new(python)
        .args(["-c", &code])
        .env("PW", PASSWORD)
        .stdin(std::fs::File::open(input).expect("open input"))
        .output()
        .expect("run python")
}
