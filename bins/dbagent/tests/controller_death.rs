//! Remote commands die with their controller (issue 5, "a backup killed
//! mid-way"), against every transport: a client process (this test
//! binary re-run as `client_process`) starts a long command, is SIGKILLed,
//! and every process of that command is gone within a bounded poll (local:
//! the lifeline helper's pipe closing; ssh:
//! the lifeline on the channel's stdin, and its control master too;
//! adm-agent: the HTTP connection closing; rabbit-agent: the client's
//! exclusive reply queue disappearing). A command that ends normally leaves
//! nothing behind (no lifeline watcher), and a command given stdin still
//! reads it.
//!
//! Every command carries a unique environment marker, inherited by every
//! process it (and the ssh script around it) starts, so the test finds them
//! all in `/proc/*/environ` whatever their names or parents.

#![allow(clippy::unwrap_used)]

use remote::{Adm, AdmConfig, Broker, Command, CommandId, Local, Rabbit, Secret, Transport};
use std::io::BufRead as _;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{Fx, Kind};

const T: Duration = Duration::from_secs(30);
/// The environment variable that marks a test's processes.
const MARK: &str = "DBR_LIFELINE_MARK";
/// Set (to a [`Kind`] name) when this binary runs as the client process.
const CLIENT: &str = "DBR_LIFELINE_CLIENT";
/// Printed by the client once its command runs.
const READY: &str = "DBR-LIFELINE-READY";

/// The live (not zombie) processes for which `keep(pid, /proc/<pid>)`
/// holds, with their command lines.
fn live_processes(keep: impl Fn(i32, &std::path::Path) -> bool) -> Vec<(i32, String)> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter_map(|e| Some((e.file_name().to_string_lossy().parse().ok()?, e.path())))
        .filter(|(pid, dir)| common::pid_alive(*pid) && keep(*pid, dir))
        .filter_map(|(pid, dir)| {
            let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

/// Processes whose environment holds `MARK=marker`.
fn marked(marker: &str) -> Vec<(i32, String)> {
    let needle = format!("{MARK}={marker}");
    live_processes(|_, dir| {
        std::fs::read(dir.join("environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
    })
}

/// Pids of the children of `parent`.
fn children_of(parent: u32) -> Vec<i32> {
    let parent = parent.to_string();
    live_processes(|_, dir| {
        // `pid (comm) state ppid ...`; comm may hold spaces.
        std::fs::read_to_string(dir.join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(|p| p == parent))
                .unwrap_or(false)
        })
    })
    .into_iter()
    .map(|(pid, _)| pid)
    .collect()
}

/// Polls `what` every 50 ms until it holds, failing after `limit`.
async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let checked = testkit::poll::Poll::within(limit)
        .every(Duration::from_millis(50))
        .until_async(what, || {
            let now = check().map(Some);
            async move { now }
        })
        .await;
    if let Err(e) = checked {
        panic!("{e}");
    }
}

/// The client process, killed on drop (when an assertion failed first).
struct Client(std::process::Child);

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The long command: a plain program, or a pipeline under `sh`.
fn long_command(shape: &str, marker: &str) -> Command {
    let cmd = match shape {
        "pipe" => Command::shell("sleep 1000 | cat"),
        _ => Command::new("sleep").arg("1000"),
    };
    cmd.env(MARK, marker)
}

/// Runs a client process that starts `shape` over `fx`'s transport, kills
/// it once the command runs, and checks that everything it left is gone.
async fn dies_with_client(kind: Kind, shape: &str) {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let fx = Fx::new(kind, sb).await;
    let marker = CommandId::random().0;
    let mut client = std::process::Command::new(std::env::current_exe().unwrap());
    client
        .args([
            "--exact",
            "client_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLIENT, format!("{kind:?}"))
        .env("DBR_LIFELINE_SHAPE", shape)
        .env("DBR_LIFELINE_MARKER", &marker)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(agent) = fx.agent() {
        client
            .env("DBR_LIFELINE_HOST", agent.host())
            .env("DBR_LIFELINE_PORT", agent.port().to_string())
            .env("DBR_LIFELINE_URI", &agent.uri);
        if let Some(f) = &agent.secret_file {
            client.env("DBR_LIFELINE_SECRET_FILE", f);
        }
        if let Some(ca) = &agent.tls_ca {
            client.env("DBR_LIFELINE_CA", ca);
        }
    }
    let mut client = Client(client.spawn().unwrap());
    let stdout = client.0.stdout.take().unwrap();
    // The client says when its command runs; read on a thread (blocking).
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let said = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest prints `test client_process ... ` before it.
            .any(|l| l.ends_with(READY));
        let _ = ready_tx.send(said);
    });
    let said = ready.recv_timeout(T).unwrap_or(false);
    assert!(said, "the client never said {READY}");
    within(T, "the client's command starting", || {
        let procs = marked(&marker);
        if procs.iter().any(|(_, c)| c.starts_with("sleep 1000")) {
            Ok(())
        } else {
            Err(format!("{procs:?}"))
        }
    })
    .await;
    // Its ssh master and mux clients (none for the agents).
    let local_helpers = children_of(client.0.id());
    client.0.kill().unwrap();
    client.0.wait().unwrap();
    // Rabbit checks each second, then the kill grace (2 s): 15 s is ample.
    within(
        Duration::from_secs(15),
        "the killed client's remote command ending",
        || {
            let left = marked(&marker);
            let helpers: Vec<_> = local_helpers
                .iter()
                .filter(|p| common::pid_alive(**p))
                .collect();
            if left.is_empty() && helpers.is_empty() {
                Ok(())
            } else {
                Err(format!("marked {left:?}, client's children {helpers:?}"))
            }
        },
    )
    .await;
}

/// The client process: starts the long command and waits to be killed.
#[tokio::test]
async fn client_process() {
    let Ok(kind) = std::env::var(CLIENT) else {
        return;
    };
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let state = tempfile::tempdir().unwrap();
    let t: Arc<dyn Transport> = match kind.as_str() {
        "Ssh" => Arc::new(common::ssh(&sb, state.path().into(), true, true)),
        "Adm" | "AdmTls" => {
            let secret = Secret::from_file(var("DBR_LIFELINE_SECRET_FILE").as_ref()).unwrap();
            let mut cfg = AdmConfig::new(var("DBR_LIFELINE_PORT").parse().unwrap(), secret);
            cfg.tls_ca_file = std::env::var_os("DBR_LIFELINE_CA").map(Into::into);
            Arc::new(Adm::new(var("DBR_LIFELINE_HOST"), cfg).unwrap())
        }
        "Rabbit" => Arc::new(Rabbit::new(
            Broker::new(&var("DBR_LIFELINE_URI")).unwrap(),
            var("DBR_LIFELINE_HOST"),
            "rds-dbinit",
        )),
        _ => Arc::new(Local::default()),
    };
    let cmd = long_command(&var("DBR_LIFELINE_SHAPE"), &var("DBR_LIFELINE_MARKER"));
    let _running = t.spawn(&cmd, Some(Duration::from_secs(600))).await.unwrap();
    println!("{READY}");
    std::future::pending::<()>().await;
}

/// Short commands end without leaving anything (the ssh lifeline's watcher
/// included), exit statuses pass through, and stdin is still delivered.
async fn normal_end_leaves_nothing(kind: Kind) {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let fx = Fx::new(kind, sb).await;
    let marker = CommandId::random().0;
    for _ in 0..3 {
        let out =
            fx.t.exec(&Command::shell("exit 3").env(MARK, &marker), T)
                .await
                .unwrap();
        assert_eq!(out.exit_status, 3);
    }
    // Longer than the rabbit agent's lease period: a live client's
    // command is left alone.
    let piped = Command::shell("sleep 2.5 | cat").env(MARK, &marker);
    assert!(fx.t.exec(&piped, T).await.unwrap().success());
    let fed = Command::new("cat")
        .stdin(b"fed\0bytes".to_vec())
        .env(MARK, &marker);
    assert_eq!(fx.t.exec(&fed, T).await.unwrap().stdout, b"fed\0bytes");
    // A command without stdin bytes reads an empty stdin, never the lifeline.
    let empty = Command::new("wc").arg("-c").env(MARK, &marker);
    assert_eq!(fx.t.exec(&empty, T).await.unwrap().stdout_str().trim(), "0");
    // The ssh script removes its pid file in the background after the
    // exit: a moment, not forever.
    within(
        Duration::from_secs(5),
        "nothing left after normal ends",
        || {
            let left = marked(&marker);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    )
    .await;
}

macro_rules! for_transports {
    ($($kind:ident => $name:ident),* $(,)?) => {
        mod dies_with_client {
            use super::*;
            $(
                mod $name {
                    use super::*;
                    #[tokio::test]
                    async fn plain_program() {
                        dies_with_client(Kind::$kind, "sleep").await;
                    }
                    #[tokio::test]
                    async fn pipeline() {
                        dies_with_client(Kind::$kind, "pipe").await;
                    }
                }
            )*
        }
        mod normal_end_leaves_nothing {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    normal_end_leaves_nothing(Kind::$kind).await;
                }
            )*
        }
    };
}

for_transports! {
    Local => local,
    Ssh => ssh,
    Adm => adm,
    AdmTls => adm_tls,
    Rabbit => rabbit,
}
