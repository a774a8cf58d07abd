//! Warm ssh channels (`SshConfig::warm_channels`) against the sandbox's
//! sshd: a dead warm channel costs a command nothing but a fresh channel
//! (not a new master), and warm channels plus running commands never open
//! more ssh sessions than `max_concurrent`.
//!
//! One test function: it counts this process's own `ssh` children, which
//! a second test running alongside would disturb.

#![allow(clippy::unwrap_used)]

use remote::{Command, Ssh, SshConfig, Transport, Zeroizing};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use testkit::poll::Poll;

const HOST: &str = "127.0.0.13";
const T: Duration = Duration::from_secs(30);

fn ssh(sb: &testkit::Sandbox, state: &tempfile::TempDir, max: usize, warm: usize) -> Ssh {
    let mut cfg = SshConfig::new(sb.var("LOGIN_USER"), state.path());
    cfg.port = sb.var("SSH_PORT").parse().unwrap();
    cfg.password = Some(Zeroizing::new(sb.var("LOGIN_PASSWORD").to_owned()));
    cfg.max_concurrent = max;
    cfg.warm_channels = warm;
    Ssh::new(HOST, cfg)
}

/// Live (not zombie) `ssh` processes this test process started: the
/// masters (`-M`) and the per-channel mux clients (the rest).
fn our_ssh_children() -> (Vec<i32>, Vec<i32>) {
    let me = std::process::id().to_string();
    let (mut masters, mut clients) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        if !comm.ends_with("(ssh") || fields[0] == "Z" || fields[1] != me {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|a| a == b"-M") {
            masters.push(pid);
        } else {
            clients.push(pid);
        }
    }
    (masters, clients)
}

async fn echo(t: &Ssh, text: &str) {
    let out = t.exec(&Command::new("echo").arg(text), T).await.unwrap();
    assert_eq!(out.stdout_str(), format!("{text}\n"));
}

/// Asks every 10 ms for at most 20 s.
const QUICK: Poll = Poll::within(Duration::from_secs(20)).every(Duration::from_millis(10));

async fn await_ready(t: &Ssh, n: usize) {
    QUICK
        .wait_async(&format!("{n} warm channels"), || async move {
            t.warm_channels_ready().await == n
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_channels() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();

    // Dead warm channels: the next command runs on a fresh channel over
    // the same master.
    let t = ssh(&sb, &state, 8, 2);
    echo(&t, "first").await;
    await_ready(&t, 2).await;
    let (masters, clients) = our_ssh_children();
    assert_eq!(
        (masters.len(), clients.len()),
        (1, 2),
        "{masters:?} {clients:?}"
    );
    for pid in &clients {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::SIGKILL)
            .unwrap();
    }
    echo(&t, "after the warm channels died").await;
    assert_eq!(our_ssh_children().0, masters, "the master was replaced");
    await_ready(&t, 2).await;
    drop(t);

    // Sessions never exceed max_concurrent: 3 permits, 2 of them held by
    // warm channels, 6 commands at once.
    let t = Arc::new(ssh(&sb, &state, 3, 2));
    echo(&t, "warm up").await;
    await_ready(&t, 2).await;
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, most) = (stop.clone(), most.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                most.fetch_max(our_ssh_children().1.len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    // Three at a time, shown by a barrier rather than a stopwatch: each
    // command leaves a mark in a shared directory and waits until three
    // are there. Three ran side by side or the first three would wait
    // until their timeout failed them; the sampler says never more.
    let marks = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        marks.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let jobs = (0..6).map(|i| {
        let t = t.clone();
        let cmd = Command::shell(format!(
            "touch \"$D/m{i}\"\n\
             until set -- \"$D\"/m*; [ $# -ge 3 ]; do sleep 0.05; done\n\
             echo {i}"
        ))
        .env("D", marks.path().to_string_lossy());
        async move {
            let out = t.exec(&cmd, T).await.unwrap();
            assert_eq!(out.stdout_str(), format!("{i}\n"));
        }
    });
    futures::future::join_all(jobs).await;
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let most = most.load(Ordering::Relaxed);
    assert!((1..=3).contains(&most), "{most} ssh sessions at once");
    drop(t);

    // warm_channels = 0: no channel is left open after a command.
    let t = ssh(&sb, &state, 8, 0);
    echo(&t, "cold").await;
    // The command's own channel ends with it (its ssh client exits soon
    // after, however loaded the machine); a warm one would stay.
    QUICK
        .wait_async("every ssh channel closed", || async {
            our_ssh_children().1.is_empty()
        })
        .await;
    assert_eq!(t.warm_channels_ready().await, 0);
}
