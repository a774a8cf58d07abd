//! Installs the Debian packages the sandbox needs when they are missing.

use crate::util::{have, run};
use anyhow::{Result, bail};
use std::process::Command;

/// Debian packages and one program each provides (to detect presence fast).
const PACKAGES: &[(&str, &str)] = &[
    ("mariadb-server", "/usr/sbin/mariadbd"),
    ("mariadb-backup", "/usr/bin/mariabackup"),
    ("mariadb-client", "/usr/bin/mariadb"),
    ("socat", "/usr/bin/socat"),
    ("openssh-server", "/usr/sbin/sshd"),
    ("rabbitmq-server", "/usr/sbin/rabbitmq-server"),
    ("zstd", "/usr/bin/zstd"),
    ("mydumper", "/usr/bin/mydumper"),
    // Tests set one program's wall clock apart from the machine's.
    (
        "libfaketime",
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    ),
];

/// The sandbox's packages: see [`ensure`].
pub fn ensure_installed() -> Result<()> {
    ensure(PACKAGES)
}

/// `apt-get update` once, then `apt-get install -y` whichever of
/// `packages` (name, a program it provides) is missing.
pub fn ensure(packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(_, probe)| !have(probe))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "packages missing: {}; install them as root: apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
