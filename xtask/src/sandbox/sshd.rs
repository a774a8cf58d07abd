//! sshd on port 2222 of every sandbox address, with its own host key, config
//! and pid file, and a login user that can log in by password and by key.

use super::layout::{LOGIN_USER, Paths, SSH_PORT, host_addresses};
use super::procs;
use crate::util::{ensure_port_free, run, tail, wait_for, write_file};
use anyhow::{Result, bail};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Checks that port 2222 is free on every sandbox address.
pub fn check_ports() -> Result<()> {
    for host in host_addresses() {
        ensure_port_free(SocketAddr::from((host, SSH_PORT)), "the sandbox sshd")?;
    }
    Ok(())
}

/// Keys and config (once), then starts sshd unless it runs.
pub fn up(paths: &Paths) -> Result<()> {
    let dir = paths.dir("ssh");
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all("/run/sshd")?;
    let host_key = dir.join("host_ed25519_key");
    if !host_key.exists() {
        keygen(&host_key, "ed25519")?;
    }
    // The client key, RSA as the seeds' `init_sys_con_by_rsa` expects.
    let client_key = dir.join("id_rsa");
    if !client_key.exists() {
        keygen(&client_key, "rsa")?;
    }
    let public = std::fs::read_to_string(dir.join("id_rsa.pub"))?;
    write_file(&dir.join("authorized_keys"), &public, 0o644)?;
    let pidfile = dir.join("sshd.pid");
    let listen: String = host_addresses()
        .iter()
        .map(|h| format!("ListenAddress {h}:{SSH_PORT}\n"))
        .collect();
    let config = format!(
        "# sshd of the dbscale-backup sandbox\n\
         {listen}\
         HostKey {key}\n\
         PidFile none\n\
         AuthorizedKeysFile {auth}\n\
         AllowUsers {LOGIN_USER}\n\
         PermitRootLogin no\n\
         PasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\n\
         # The checkout may live under a world-writable directory such as /tmp,\n\
         # which StrictModes would hold against authorized_keys.\n\
         StrictModes no\n\
         UsePAM no\n\
         # The remote transport multiplexes many commands over one connection.\n\
         MaxSessions 128\n\
         MaxStartups 128:30:256\n\
         LogLevel VERBOSE\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n",
        key = host_key.display(),
        auth = dir.join("authorized_keys").display(),
    );
    let config_file = dir.join("sshd_config");
    write_file(&config_file, &config, 0o644)?;
    if procs::pidfile_alive(&pidfile, "sshd").is_some() {
        return Ok(());
    }
    check_ports()?;
    let log = dir.join("sshd.log");
    run(Command::new("/usr/sbin/sshd")
        .arg("-t")
        .arg("-f")
        .arg(&config_file))?;
    let pid = procs::spawn_daemon(
        Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&config_file)
            .arg("-E")
            .arg(&log),
        &dir.join("sshd.stdout"),
        &pidfile,
    )?;
    let probe = SocketAddr::from((host_addresses()[0], SSH_PORT));
    wait_for("sshd", Duration::from_secs(20), || {
        if !procs::running(pid) {
            bail!(
                "sshd exited while starting; {} ends with:\n{}",
                log.display(),
                tail(&log, 10)
            );
        }
        Ok(banner(probe).then_some(()))
    })
}

/// Does `addr` answer with an SSH banner?
fn banner(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

fn keygen(path: &std::path::Path, kind: &str) -> Result<()> {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            "",
            "-C",
            "dbscale-backup-sandbox",
            "-f",
        ])
        .arg(path))
}

/// Stops sshd.
pub fn down(paths: &Paths) -> Result<()> {
    procs::stop_pidfile(
        &paths.dir("ssh").join("sshd.pid"),
        "sshd",
        "sshd",
        Duration::from_secs(10),
    )
}

/// Is sshd running?
pub fn alive(paths: &Paths) -> bool {
    procs::pidfile_alive(&paths.dir("ssh").join("sshd.pid"), "sshd").is_some()
}
