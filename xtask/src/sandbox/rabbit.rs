//! RabbitMQ on 127.0.0.1:5672 with its data and logs under the sandbox.

use super::layout::{AMQP_PORT, Paths, RABBIT_DIST_PORT};
use super::procs;
use crate::util::{ensure_port_free, output, run, tail};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// The Erlang node name of the sandbox broker.
pub const NODE: &str = "dbsbk-sandbox@localhost";

fn env(cmd: &mut Command, paths: &Paths) {
    let dir = paths.dir("rabbitmq");
    cmd.env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_PID_FILE", dir.join("mnesia").join("rabbit.pid"))
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", AMQP_PORT.to_string())
        .env("RABBITMQ_NODENAME", NODE);
}

/// Is the broker running?
pub fn alive(paths: &Paths) -> bool {
    procs::pidfile_alive(
        &paths.dir("rabbitmq").join("mnesia").join("rabbit.pid"),
        "beam",
    )
    .is_some()
}

/// Starts the broker in the background (detached); [`await_up`] waits for it.
pub fn start(paths: &Paths) -> Result<bool> {
    if alive(paths) {
        return Ok(false);
    }
    ensure_port_free(SocketAddr::from(([127, 0, 0, 1], AMQP_PORT)), "RabbitMQ")?;
    ensure_port_free(
        SocketAddr::from(([127, 0, 0, 1], RABBIT_DIST_PORT)),
        "RabbitMQ's Erlang distribution",
    )?;
    let dir = paths.dir("rabbitmq");
    for sub in ["mnesia", "log"] {
        std::fs::create_dir_all(dir.join(sub))?;
        run(Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(dir.join(sub)))?;
    }
    // epmd is shared by every Erlang node; stop it at `down` only if we start it.
    if procs::pids_matching("epmd").is_empty() {
        crate::util::write_file(&paths.marker("epmd-started"), "", 0o644)?;
    }
    let mut cmd = Command::new("rabbitmq-server");
    env(&mut cmd, paths);
    run(cmd.arg("-detached").stdout(Stdio::null())).context("rabbitmq-server -detached failed")?;
    Ok(true)
}

/// Waits until the broker has fully started.
pub fn await_up(paths: &Paths) -> Result<()> {
    let mut cmd = Command::new("rabbitmqctl");
    env(&mut cmd, paths);
    output(cmd.args(["-n", NODE, "await_startup", "--timeout", "90"])).with_context(|| {
        let log = paths.dir("rabbitmq").join("log");
        format!(
            "RabbitMQ did not start; logs in {} (last lines: {})",
            log.display(),
            tail(&log.join(format!("{NODE}.log")), 10)
        )
    })?;
    Ok(())
}

/// Stops the broker (and epmd if the sandbox started it).
pub fn down(paths: &Paths) -> Result<()> {
    if alive(paths) {
        let mut cmd = Command::new("rabbitmqctl");
        env(&mut cmd, paths);
        if let Err(e) = output(cmd.args(["-n", NODE, "stop"])) {
            eprintln!("rabbitmqctl stop failed ({e:#}); killing the broker");
            procs::stop_pidfile(
                &paths.dir("rabbitmq").join("mnesia").join("rabbit.pid"),
                "beam",
                "RabbitMQ",
                std::time::Duration::from_secs(15),
            )?;
        }
    }
    if paths.marker("epmd-started").exists() {
        let _ = output(Command::new("epmd").arg("-kill"));
    }
    Ok(())
}
