//! The transport conformance suite: the same cases against every transport
//! (local, ssh to the sandbox's sshd, adm-agent over HTTP and over HTTPS,
//! and rabbit-agent through `dbagent` processes this suite starts on its
//! own ports and queues).

#![allow(clippy::unwrap_used)]

use remote::{Command, Error, Transport};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt as _;

mod common;
use common::{Fx, Kind};

const T: Duration = Duration::from_secs(30);

async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(Fx) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let fx = Fx::new(kind, sb).await;
    case(fx).await;
}

/// Reads the first stdout line (a pid the command printed) of a running command.
async fn first_line(r: &mut remote::Running) -> String {
    let mut reader = tokio::io::BufReader::new(&mut r.stdout);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    line.trim().to_owned()
}

async fn assert_gone(pid: i32) {
    testkit::poll::Poll::within(Duration::from_secs(10))
        .every(Duration::from_millis(20))
        .wait_async(&format!("process {pid} gone"), || async move {
            !common::pid_alive(pid)
        })
        .await;
}

async fn echo(fx: Fx) {
    let out =
        fx.t.exec(&Command::new("echo").arg("hello world"), T)
            .await
            .unwrap();
    assert_eq!(out.stdout, b"hello world\n");
    assert!(out.stderr.is_empty());
    assert_eq!(out.exit_status, 0);
    fx.t.ping().await.unwrap();
    let quoted = Command::new("printf")
        .arg("%s|")
        .args(["a b", "it's", "$HOME", ""]);
    let out = fx.t.exec(&quoted, T).await.unwrap();
    assert_eq!(out.stdout_str(), "a b|it's|$HOME||");
    let env = Command::shell("printf %s \"$DBR_X\"")
        .env("DBR_X", "v a'l")
        .cwd("/tmp");
    assert_eq!(fx.t.exec(&env, T).await.unwrap().stdout_str(), "v a'l");
    let pwd = Command::new("pwd").cwd("/usr/bin");
    assert_eq!(fx.t.exec(&pwd, T).await.unwrap().stdout_str(), "/usr/bin\n");
}

async fn exit_codes(fx: Fx) {
    // 127 and 255 included: openssh reports them as errors of its own.
    for code in [0, 1, 3, 42, 127, 255] {
        let out =
            fx.t.exec(&Command::shell(format!("exit {code}")), T)
                .await
                .unwrap();
        assert_eq!(out.exit_status, code);
    }
    assert_eq!(
        fx.t.exec(&Command::new("false"), T)
            .await
            .unwrap()
            .exit_status,
        1
    );
    // A program missing inside a shell snippet is the snippet's status.
    let inner =
        fx.t.exec(&Command::shell("no-such-program-dbr --version"), T)
            .await
            .unwrap();
    assert_eq!(inner.exit_status, 127, "{}", inner.stderr_str());
    assert!(inner.stderr_str().contains("no-such-program-dbr"));
    let killed = fx.t.exec(&Command::shell("kill -9 $$"), T).await.unwrap();
    assert_eq!(killed.exit_status, 137);
    match fx.t.exec(&Command::new("no-such-program-dbr"), T).await {
        Err(Error::NotFound { program, .. }) => assert_eq!(program, "no-such-program-dbr"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn stderr(fx: Fx) {
    let out =
        fx.t.exec(&Command::shell("echo out; echo err >&2; exit 2"), T)
            .await
            .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_status, 2);
}

async fn big_stdout(fx: Fx) {
    let data: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let file = common::shared_file(&data);
    let out =
        fx.t.exec(&Command::new("cat").arg(file.path.to_string_lossy()), T)
            .await
            .unwrap();
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "10 MiB of stdout changed in transit");
}

async fn stdin_bytes(fx: Fx) {
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let out =
        fx.t.exec(&Command::new("cat").stdin(data.clone()), T)
            .await
            .unwrap();
    assert!(out.stdout == data, "stdin bytes changed in transit");
    let wc =
        fx.t.exec(&Command::new("wc").arg("-c").stdin(b"abc".to_vec()), T)
            .await
            .unwrap();
    assert_eq!(wc.stdout_str().trim(), "3");
    // No stdin: the command sees end of file at once.
    let empty = fx.t.exec(&Command::new("wc").arg("-c"), T).await.unwrap();
    assert_eq!(empty.stdout_str().trim(), "0");
}

async fn timeout_kills(fx: Fx) {
    let cmd = Command::shell("sleep 300 & echo $!; wait");
    let started = Instant::now();
    let mut r =
        fx.t.spawn(&cmd, Some(Duration::from_millis(1500)))
            .await
            .unwrap();
    let pid: i32 = first_line(&mut r).await.parse().unwrap();
    assert!(common::pid_alive(pid));
    match r.wait().await {
        Err(Error::Timeout { program, .. }) => assert_eq!(program, "sh"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    // Ended by the timeout, not by the command: `sleep 300` would have run
    // 300 s. (The `Timeout` error above already says the timeout fired;
    // the bound is far from what a loaded machine needs to get there.)
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "{:?}",
        started.elapsed()
    );
    // The background child in the same process group is gone too.
    assert_gone(pid).await;
    match fx
        .t
        .exec(&Command::new("sleep").arg("30"), Duration::from_millis(500))
        .await
    {
        Err(Error::Timeout { program, .. }) => assert_eq!(program, "sleep"),
        other => panic!("expected Timeout, got {other:?}"),
    }
}

async fn kill_running(fx: Fx) {
    let mut r =
        fx.t.spawn(&Command::shell("sleep 300 & echo $!; wait"), None)
            .await
            .unwrap();
    let pid: i32 = first_line(&mut r).await.parse().unwrap();
    assert!(common::pid_alive(pid));
    fx.t.kill(&r.id).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), r.wait())
        .await
        .expect("a killed command ends")
        .unwrap();
    assert!(
        status >= 128,
        "killed command exits by signal, got {status}"
    );
    assert_gone(pid).await;
    match fx
        .t
        .kill(&remote::CommandId("0123456789abcdef".into()))
        .await
    {
        Err(Error::NoSuchCommand { .. }) => {}
        other => panic!("expected NoSuchCommand, got {other:?}"),
    }
}

async fn concurrent(fx: Fx) {
    const N: usize = 32;
    let t: Arc<dyn Transport> = fx.t.clone();
    // A barrier, not a stopwatch: each command leaves a mark in a shared
    // directory and waits until all N are there, so it only ends if all
    // N ran side by side; one after another, the first would wait until
    // its timeout fails it. They have that timeout (T, 30 s) to gather:
    // nothing a loaded machine needs to start 32 commands comes near it.
    let marks = common::shared_dir();
    let jobs = (0..N).map(|i| {
        let t = t.clone();
        let cmd = Command::shell(format!(
            "touch \"$D/m{i}\"\n\
             until set -- \"$D\"/m*; [ $# -ge {N} ]; do sleep 0.1; done\n\
             echo {i}"
        ))
        .env("D", marks.path.to_string_lossy());
        async move {
            let out = t.exec(&cmd, T).await.unwrap();
            assert_eq!(out.stdout_str(), format!("{i}\n"));
        }
    });
    futures::future::join_all(jobs).await;
}

async fn unreachable(fx: Fx) {
    let Some(t) = fx.unreachable() else { return };
    match t.exec(&Command::new("true"), Duration::from_secs(10)).await {
        Err(Error::Unreachable { .. }) => {}
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

async fn wrong_credentials(fx: Fx) {
    let Some(t) = fx.wrong_credentials() else {
        return;
    };
    match t.exec(&Command::new("true"), Duration::from_secs(10)).await {
        Err(Error::AuthFailed { .. }) => {}
        other => panic!("expected AuthFailed, got {other:?}"),
    }
}

async fn agent_restarted(mut fx: Fx) {
    let out =
        fx.t.exec(&Command::new("echo").arg("before"), T)
            .await
            .unwrap();
    assert_eq!(out.stdout, b"before\n");
    if !fx.restart().await {
        return;
    }
    let out =
        fx.t.exec(&Command::new("echo").arg("after"), T)
            .await
            .unwrap();
    assert_eq!(out.stdout, b"after\n");
}

macro_rules! suite {
    ($($kind:ident => $variant:ident),* $(,)?) => {$(
        mod $kind {
            use super::*;
            suite!(@cases $variant: echo, exit_codes, stderr, big_stdout, stdin_bytes, timeout_kills,
                kill_running, concurrent, unreachable, wrong_credentials, agent_restarted);
        }
    )*};
    (@cases $variant:ident: $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            run(Kind::$variant, super::$case).await;
        }
    )*};
}

suite!(local => Local, ssh => Ssh, adm => Adm, adm_tls => AdmTls, rabbit => Rabbit);
