//! `cargo xtask fuzz [--seconds N] [TARGET...]`: the cargo-fuzz targets in
//! `fuzz/` (the parsers that read what others wrote), each run for a
//! bounded time on the nightly toolchain; CI runs every target for 30 s.
//! A crash fails the run and names the input libFuzzer saved; each one
//! found becomes a regression test beside the parser.

use crate::util::{run, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Every target in `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "gtid",
    "store_files",
    "router_output",
    "aescrypt_header",
    "xtrabackup_log",
    "ini_config",
];

/// Starting inputs: a target, the selector byte its input starts with
/// (which parser it feeds), and a recorded file of the repository or a text.
const SEEDS: &[(&str, u8, Seed)] = &[
    (
        "router_output",
        0,
        Seed::File("crates/topology/tests/fixtures/dbscale_conf_plain.conf"),
    ),
    (
        "router_output",
        0,
        Seed::File("crates/topology/tests/fixtures/dbscale_conf_encoded.conf"),
    ),
    (
        "router_output",
        1,
        Seed::File("crates/topology/tests/fixtures/seed000_dataservers.txt"),
    ),
    (
        "router_output",
        2,
        Seed::File("fixtures/dbscale-sim/src/testdata/seed000_server.txt"),
    ),
    (
        "xtrabackup_log",
        0,
        Seed::File("crates/xtrabackup/tests/fixtures/mariabackup-master-full.log"),
    ),
    (
        "xtrabackup_log",
        0,
        Seed::File("crates/xtrabackup/tests/fixtures/xtrabackup-8.0.26-replica-full.log"),
    ),
    (
        "xtrabackup_log",
        1,
        Seed::Text("backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 45678\nlast_lsn = 45687\n"),
    ),
    (
        "xtrabackup_log",
        2,
        Seed::Text("mysql-bin.000003\t1234\t0-1-77\n"),
    ),
    (
        "xtrabackup_log",
        3,
        Seed::Text("/usr/sbin/mariadbd --defaults-file=/etc/my.cnf --datadir=/data --port=3306"),
    ),
    (
        "gtid",
        0,
        Seed::Text(
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,4e11fa47-71ca-11e1-9e33-c80aa9429562:3",
        ),
    ),
    ("gtid", 1, Seed::Text("0-1-100,1-2-5")),
    (
        "store_files",
        2,
        Seed::Text("normal_0-normal_0_1-127.0.0.12-16315"),
    ),
    ("store_files", 4, Seed::Text("mysql-bin.000012")),
    ("store_files", 5, Seed::Text("2024-02-22 13:00:00.123456")),
    (
        "ini_config",
        0,
        Seed::Text(
            "[misc]\nsocat-port = 29999\nconnect-method = ssh\n\n[cluster]\nip = 127.0.0.10\nport = 16310\nuser = admin\npassword = x\n",
        ),
    ),
];

/// Where a seed's bytes come from.
enum Seed {
    /// A file, relative to the workspace root.
    File(&'static str),
    /// The text itself.
    Text(&'static str),
}

/// Writes [`SEEDS`] of `target` into its corpus directory.
fn write_seeds(target: &str, corpus: &Path) -> Result<()> {
    for (i, (_, selector, seed)) in SEEDS.iter().filter(|(t, _, _)| *t == target).enumerate() {
        let mut input = vec![*selector];
        match seed {
            Seed::File(path) => input.extend(
                std::fs::read(workspace_root().join(path))
                    .with_context(|| format!("cannot read the fuzz seed {path}"))?,
            ),
            Seed::Text(text) => input.extend_from_slice(text.as_bytes()),
        }
        let file = corpus.join(format!("seed-{i}"));
        std::fs::write(&file, input).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

/// The cargo-fuzz version installed when it is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Builds the targets once, then runs each of `targets` (all when empty)
/// for `seconds`, starting from [`SEEDS`] (and what earlier runs kept in
/// `fuzz/corpus/`).
pub fn run_targets(seconds: u64, targets: &[String]) -> Result<()> {
    let targets: Vec<&str> = if targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("no fuzz target {t:?}; the targets: {}", TARGETS.join(", "));
            }
        }
        targets.iter().map(String::as_str).collect()
    };
    fuzz(seconds, &targets, Priority::Normal)
}

/// Every target for `seconds` at the lowest CPU priority, the build's
/// output in `fuzz/logs/build.log`: CI runs them beside its tests, which
/// leave about half the machine idle while they wait on the sandbox.
pub fn run_beside_tests(seconds: u64) -> Result<()> {
    fuzz(seconds, TARGETS, Priority::Idle)
}

/// How a fuzz run shares the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    /// As any command (the build's output on the terminal; each
    /// target's in its log either way).
    Normal,
    /// `nice -n 19`, output in logs only.
    Idle,
}

fn fuzz(seconds: u64, targets: &[&str], priority: Priority) -> Result<()> {
    ensure_tools(priority)?;
    let dir = workspace_root().join("fuzz");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut build = fuzz_cargo(&dir, priority);
    build.args(["fuzz", "build", "-O"]);
    if priority == Priority::Idle {
        let log = logs.join("build.log");
        if logged(&mut build, &log).is_err() {
            eprintln!("{}", crate::util::tail(&log, 40));
            bail!("cannot build the fuzz targets (log: {})", log.display());
        }
    } else {
        run(&mut build).context("cannot build the fuzz targets")?;
    }
    eprintln!(
        "==> fuzz {} for {seconds} s each, {FUZZ_AT_ONCE} at a time; logs in {}",
        targets.join(", "),
        logs.display()
    );
    let crashed: Vec<String> =
        crate::util::each_in_parallel(targets.to_vec(), FUZZ_AT_ONCE, |target| {
            fuzz_one(&dir, &logs, target, seconds, priority)
                .err()
                .map(|e| format!("{e:#}"))
        })
        .into_iter()
        .flatten()
        .collect();
    if !crashed.is_empty() {
        bail!("{}", crashed.join("\n"));
    }
    Ok(())
}

/// Runs `cmd` with stdout and stderr in `log`; fails if it fails.
fn logged(cmd: &mut Command, log: &Path) -> Result<()> {
    crate::util::output_to_log(cmd, log)?;
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", crate::util::describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", crate::util::describe(cmd));
    }
    Ok(())
}

/// Targets fuzzed side by side: libFuzzer uses one core each.
const FUZZ_AT_ONCE: usize = 2;

/// Runs one target for `seconds` from its corpus, its output in
/// `logs/<target>.log` (its tail printed when it crashes).
fn fuzz_one(dir: &Path, logs: &Path, target: &str, seconds: u64, priority: Priority) -> Result<()> {
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    write_seeds(target, &corpus)?;
    let log = logs.join(format!("{target}.log"));
    let mut cmd = fuzz_cargo(dir, priority);
    cmd.args(["fuzz", "run", "-O", target])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"));
    if logged(&mut cmd, &log).is_err() {
        eprintln!("{}", crate::util::tail(&log, 40));
        bail!(
            "fuzz target {target} crashed: the input is in {}; make it a regression test",
            dir.join("artifacts").join(target).display()
        );
    }
    eprintln!("fuzz {target}: {}", crate::util::tail(&log, 1).trim());
    Ok(())
}

/// [`nightly_cargo`] at `priority`.
fn fuzz_cargo(dir: &Path, priority: Priority) -> Command {
    at_priority(nightly_cargo(dir), priority)
}

/// `cmd` itself, or for [`Priority::Idle`] the same under `nice -n 19`
/// (arguments, directory and environment carried over).
fn at_priority(cmd: Command, priority: Priority) -> Command {
    if priority == Priority::Normal {
        return cmd;
    }
    let mut niced = Command::new("nice");
    niced
        .args(["-n", "19"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        niced.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => niced.env(key, v),
            None => niced.env_remove(key),
        };
    }
    niced
}

/// `cargo` of the nightly toolchain (cargo-fuzz needs it), in `dir`, without
/// the pinned toolchain's environment that `cargo xtask` runs in.
fn nightly_cargo(dir: &Path) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo"])
        .current_dir(dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    cmd
}

/// The nightly toolchain (required), a C++ compiler for libFuzzer and
/// cargo-fuzz (both installed when missing).
fn ensure_tools(priority: Priority) -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        bail!("the nightly toolchain is needed for fuzzing (rustup toolchain install nightly)");
    }
    crate::packages::ensure(&[("g++", "/usr/bin/g++")])?;
    let has_fuzz = nightly_cargo(&workspace_root())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        eprintln!("installing cargo-fuzz {CARGO_FUZZ_VERSION}");
        let mut install = crate::util::cargo();
        install
            .args([
                "install",
                "cargo-fuzz",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
            ])
            .env_remove("CARGO_TARGET_DIR");
        run(&mut at_priority(install, priority))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_command_is_the_same_command_under_nice() {
        let mut cmd = Command::new("cargo");
        cmd.args(["fuzz", "build"])
            .current_dir("/w/fuzz")
            .env_remove("CARGO")
            .env("X", "1");
        let niced = at_priority(cmd, Priority::Idle);
        assert_eq!(niced.get_program(), "nice");
        let args: Vec<_> = niced.get_args().collect();
        assert_eq!(args, ["-n", "19", "cargo", "fuzz", "build"]);
        assert_eq!(niced.get_current_dir(), Some(Path::new("/w/fuzz")));
        let envs: Vec<_> = niced.get_envs().collect();
        assert!(envs.contains(&(std::ffi::OsStr::new("CARGO"), None)));
        assert!(envs.contains(&(std::ffi::OsStr::new("X"), Some(std::ffi::OsStr::new("1")))));
    }
}
