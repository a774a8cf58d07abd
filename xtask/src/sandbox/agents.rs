//! The host-side agents (`bins/dbagent`): on every sandbox host address one
//! adm-agent on port 19999 and one rabbit-agent serving both agent types of
//! the seeds (`rds-dbinit`, `rds-taskmanager`, host id = the address), all
//! running as the login user like the seeds' remote user. The adm secret is
//! generated once into `agents/adm.secret`, the rabbit agents' into
//! `agents/rabbit.secret` (0600, owned by the login user): every sandbox
//! agent takes signed requests only.

use super::layout::{ADM_AGENT_PORT, AMQP_PORT, LOGIN_USER, Paths, host_addresses};
use super::procs::{chown_login_user, pidfile_alive, spawn_daemon, stop_pidfile};
use crate::util::{ensure_port_free, random_password, tail, wait_for, write_file};
use anyhow::{Context, Result, anyhow, bail};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Agent types the seeds use (`Conn.AgentConn(..., agent_type=...)`).
pub const AGENT_TYPES: [&str; 2] = ["rds-dbinit", "rds-taskmanager"];

/// The broker URI the agents use (guest works on loopback).
fn rabbit_uri() -> String {
    format!("amqp://guest:guest@127.0.0.1:{AMQP_PORT}")
}

fn dir(paths: &Paths) -> PathBuf {
    paths.dir("agents")
}

/// The shared secret file of the adm-agents.
pub fn secret_file(paths: &Paths) -> PathBuf {
    dir(paths).join("adm.secret")
}

/// The shared secret file of the rabbit-agents (`--secret-file`,
/// `[rabbit-agent] secret-file`).
pub fn rabbit_secret_file(paths: &Paths) -> PathBuf {
    dir(paths).join("rabbit.secret")
}

fn file(paths: &Paths, kind: &str, host: Ipv4Addr, ext: &str) -> PathBuf {
    dir(paths).join(format!("{kind}-{host}.{ext}"))
}

/// The sandbox's copy of dbagent: the agents run it, and the configs name
/// it as the native stream receiver (`receiver-bin`).
pub fn dbagent(paths: &Paths) -> PathBuf {
    dir(paths).join("dbagent")
}

/// Builds dbagent and copies it into the sandbox (so a rebuild never
/// changes a running agent's binary; the copy is replaced by a rename,
/// and running agents keep the file they started from). Called on every
/// `sandbox up`, so the configs' native receiver is the current build.
pub fn binary(paths: &Paths) -> Result<PathBuf> {
    let built = crate::util::workspace_binary("dbagent")?;
    let copy = dbagent(paths);
    let tmp = dir(paths).join("dbagent.new");
    std::fs::copy(&built, &tmp)
        .with_context(|| format!("cannot copy {} into the sandbox", built.display()))?;
    std::fs::rename(&tmp, &copy)?;
    Ok(copy)
}

/// The login user's uid/gid/home.
fn login_user() -> Result<nix::unistd::User> {
    nix::unistd::User::from_name(LOGIN_USER)?
        .ok_or_else(|| anyhow!("user {LOGIN_USER} does not exist"))
}

/// Starts every agent that is not running (idempotent).
pub fn up(paths: &Paths) -> Result<()> {
    std::fs::create_dir_all(dir(paths))?;
    let secret = secret_file(paths);
    let rabbit_secret = rabbit_secret_file(paths);
    for file in [&secret, &rabbit_secret] {
        if !file.exists() {
            write_file(file, &format!("{}\n", random_password(40)?), 0o600)?;
        }
        chown_login_user(file)?;
    }
    let bin = binary(paths)?;
    let user = login_user()?;
    for host in host_addresses() {
        let as_login_user = |cmd: &mut Command| {
            cmd.uid(user.uid.as_raw())
                .gid(user.gid.as_raw())
                .current_dir(&user.dir)
                .env("HOME", &user.dir)
                .env("USER", LOGIN_USER)
                .env("LOGNAME", LOGIN_USER)
                .env("RUST_LOG", "info");
        };
        // adm-agent
        let pid = file(paths, "adm", host, "pid");
        let addr = SocketAddr::from((host, ADM_AGENT_PORT));
        if pidfile_alive(&pid, "dbagent").is_none() {
            ensure_port_free(addr, "the sandbox adm-agent")?;
            let log = file(paths, "adm", host, "log");
            let mut cmd = Command::new(&bin);
            cmd.arg("adm")
                .arg("--listen")
                .arg(addr.to_string())
                .arg("--secret-file")
                .arg(&secret);
            as_login_user(&mut cmd);
            let spawned = spawn_daemon(&mut cmd, &log, &pid)?;
            wait_for(
                &format!("the adm-agent on {addr}"),
                Duration::from_secs(20),
                || {
                    if !super::procs::running(spawned) {
                        bail!(
                            "the adm-agent on {addr} exited; {} ends with:\n{}",
                            log.display(),
                            tail(&log, 10)
                        );
                    }
                    Ok(
                        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                            .ok()
                            .map(drop),
                    )
                },
            )?;
        }
        // rabbit-agent (both agent types in one process)
        let pid = file(paths, "rabbit", host, "pid");
        if pidfile_alive(&pid, "dbagent").is_none() {
            let log = file(paths, "rabbit", host, "log");
            let mut cmd = Command::new(&bin);
            cmd.arg("rabbit")
                .arg("--host-id")
                .arg(host.to_string())
                .arg("--secret-file")
                .arg(&rabbit_secret);
            for t in AGENT_TYPES {
                cmd.arg("--agent-type").arg(t);
            }
            // The URI holds a password: environment, never argv.
            cmd.env("DBAGENT_RABBITMQ_URI", rabbit_uri());
            as_login_user(&mut cmd);
            let spawned = spawn_daemon(&mut cmd, &log, &pid)?;
            wait_for(
                &format!("the rabbit-agent of {host}"),
                Duration::from_secs(30),
                || {
                    if !super::procs::running(spawned) {
                        bail!(
                            "the rabbit-agent of {host} exited; {} ends with:\n{}",
                            log.display(),
                            tail(&log, 10)
                        );
                    }
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let consuming = text.matches("rabbit-agent consuming").count();
                    Ok((consuming >= AGENT_TYPES.len()).then_some(()))
                },
            )?;
        }
    }
    Ok(())
}

/// Stops every agent.
pub fn down(paths: &Paths) -> Result<()> {
    for host in host_addresses() {
        for kind in ["adm", "rabbit"] {
            stop_pidfile(
                &file(paths, kind, host, "pid"),
                "dbagent",
                &format!("the {kind}-agent of {host}"),
                Duration::from_secs(10),
            )?;
        }
    }
    Ok(())
}

/// One line per agent: name and whether it runs.
pub fn alive(paths: &Paths) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for host in host_addresses() {
        out.push((
            format!("dbagent adm {host}:{ADM_AGENT_PORT}"),
            pidfile_alive(&file(paths, "adm", host, "pid"), "dbagent").is_some(),
        ));
        out.push((
            format!("dbagent rabbit {host} ({})", AGENT_TYPES.join(", ")),
            pidfile_alive(&file(paths, "rabbit", host, "pid"), "dbagent").is_some(),
        ));
    }
    out
}
