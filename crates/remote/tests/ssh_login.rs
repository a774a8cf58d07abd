//! ssh login as seed 002 does it (`init_sys_con`: password, then RSA key),
//! against the sandbox's sshd.

#![allow(clippy::unwrap_used)]

use remote::{Command, Error, Ssh, SshConfig, Transport, Zeroizing};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const HOST: &str = "127.0.0.13";
const T: Duration = Duration::from_secs(30);

fn config(sb: &testkit::Sandbox, state: &tempfile::TempDir) -> SshConfig {
    let mut cfg = SshConfig::new(sb.var("LOGIN_USER"), state.path());
    cfg.port = sb.var("SSH_PORT").parse().unwrap();
    cfg
}

async fn whoami(t: &Ssh) -> String {
    t.exec(&Command::new("id").arg("-un"), T)
        .await
        .unwrap()
        .stdout_str()
}

/// Scans every process's command line until stopped; returns how many
/// scans it made and whether `needle` was ever seen.
fn scan_cmdlines(
    needle: String,
    stop: Arc<AtomicBool>,
    scans: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                if cmdline
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
                {
                    return Some(String::from_utf8_lossy(&cmdline).replace('\0', " "));
                }
            }
            scans.fetch_add(1, Ordering::Relaxed);
        }
        None
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_login_without_tty_never_shows_the_password() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let password = sb.var("LOGIN_PASSWORD").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let scans = Arc::new(AtomicUsize::new(0));
    let scanner = scan_cmdlines(password.clone(), stop.clone(), scans.clone());
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.password = Some(Zeroizing::new(password));
    let t = Ssh::new(HOST, cfg);
    for _ in 0..5 {
        assert_eq!(whoami(&t).await, format!("{}\n", sb.var("LOGIN_USER")));
    }
    // A command whose environment holds a secret: not on any argv either.
    let secret = format!("env-secret-{}", remote::CommandId::random());
    let probe = Command::shell("sleep 0.3; printf %s \"$DBR_SECRET\"").env("DBR_SECRET", &secret);
    let stop2 = Arc::new(AtomicBool::new(false));
    let scanner2 = scan_cmdlines(secret.clone(), stop2.clone(), Arc::new(AtomicUsize::new(0)));
    assert_eq!(t.exec(&probe, T).await.unwrap().stdout_str(), secret);
    stop.store(true, Ordering::Relaxed);
    stop2.store(true, Ordering::Relaxed);
    assert_eq!(
        scanner.join().unwrap(),
        None,
        "the password appeared on a command line"
    );
    assert_eq!(
        scanner2.join().unwrap(),
        None,
        "an env secret appeared on a command line"
    );
    assert!(scans.load(Ordering::Relaxed) > 0);
    // The host key was accepted into the tool's own known_hosts.
    assert!(state.path().join("known_hosts").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_login_works() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    let t = Ssh::new(HOST, cfg);
    assert_eq!(whoami(&t).await, format!("{}\n", sb.var("LOGIN_USER")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_then_key_logs_in_as_seed_002() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.password = Some(Zeroizing::new("not-the-password".into()));
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    let t = Ssh::new(HOST, cfg);
    assert_eq!(whoami(&t).await, format!("{}\n", sb.var("LOGIN_USER")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failure_names_the_methods_tried_and_no_secret() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.password = Some(Zeroizing::new("not-the-password".into()));
    cfg.key = Some(state.path().join("missing_key"));
    let t = Ssh::new(HOST, cfg);
    let err = t.exec(&Command::new("true"), T).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::AuthFailed { .. }), "{text}");
    assert!(text.contains("password, publickey"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_host_keys_refuse_an_unknown_host() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    cfg.host_keys = remote::HostKeyPolicy::Strict;
    let t = Ssh::new(HOST, cfg);
    let err = t.exec(&Command::new("true"), T).await.unwrap_err();
    assert!(
        err.to_string().contains("Host key verification failed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_is_replaced() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    let t = Ssh::new(HOST, cfg);
    t.ping().await.unwrap();
    t.disconnect().await;
    t.ping().await.unwrap();
}

/// The master SIGKILLed, then commands at once: each notices the dead
/// master (its socket may still accept while the kernel tears the process
/// down), one replaces it and the others use the replacement. A command
/// must never lose its channel because another replaced the master it runs
/// on (a dropped master is killed). Its own host: the master is found among
/// this process's children by it, and the other tests here use another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_replaced_once_under_concurrent_commands() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let host = sb.var("JOB_HOST").to_owned();
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(&sb, &state);
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    cfg.warm_channels = 2;
    let t = Arc::new(Ssh::new(host.clone(), cfg));
    let masters = || {
        let me = std::process::id();
        testkit::procs::children_of(me)
            .into_iter()
            .filter(|p| {
                p.cmdline.starts_with("ssh ")
                    && p.cmdline.split(' ').any(|a| a == "-M")
                    && p.cmdline.ends_with(&host)
                    && p.alive()
            })
            .collect::<Vec<_>>()
    };
    for round in 0..5 {
        t.ping().await.unwrap();
        let before = masters();
        assert_eq!(before.len(), 1, "round {round}: {before:?}");
        before[0].signal("-KILL");
        // Long enough that a command replacing the master meanwhile would
        // end these if it killed the one they run on.
        let runs = (0..6).map(|i| {
            let t = t.clone();
            async move {
                let cmd = Command::shell(format!("sleep 0.3; echo {i}"));
                let out = t.exec(&cmd, T).await;
                (i, out.map(|o| o.stdout_str()))
            }
        });
        for (i, out) in futures::future::join_all(runs).await {
            assert_eq!(
                out.map_err(|e| e.to_string()),
                Ok(format!("{i}\n")),
                "round {round}, command {i}"
            );
        }
        let after = masters();
        assert!(
            after.len() == 1 && after[0].pid != before[0].pid,
            "round {round}: {before:?} then {after:?}"
        );
    }
}
