//! `spider::wait` on the sandbox: a look that cannot reach the router is
//! retried (bounded, `tries` in a row) before the wait gives up naming
//! it; an unknown backup id ends the wait at once (nothing to retry).
#![allow(clippy::unwrap_used)]

use backup::spider::{WaitOptions, this_worker, wait};
use std::time::{Duration, Instant};

fn sandbox() -> Option<testkit::Sandbox> {
    let sb = testkit::Sandbox::get();
    if sb.is_none() {
        assert!(
            std::env::var_os("SANDBOX_REQUIRED").is_none(),
            "SANDBOX_REQUIRED is set but no sandbox is up"
        );
        eprintln!("no sandbox: skipped");
    }
    sb
}

/// The sandbox's ssh backup config, with the router at `router_port`.
fn config(sb: &testkit::Sandbox, router_port: Option<u16>) -> conf::BackupConfig {
    let path = std::path::PathBuf::from(sb.var("BACKUP_SSH_CONF"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    if let Some(port) = router_port {
        let router = format!("port = {}", sb.var("ROUTER_PORT"));
        assert!(text.contains(&router));
        text = text.replacen(&router, &format!("port = {port}"), 1);
    }
    conf::BackupConfig::from_ini(&conf::Ini::parse(&text, &path).unwrap()).unwrap()
}

fn options(tries: u32) -> WaitOptions {
    WaitOptions {
        poll: Duration::from_millis(300),
        tries,
        worker: this_worker("127.0.0.1"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_router_is_tried_again_then_the_wait_gives_up_naming_it() {
    let Some(sb) = sandbox() else { return };
    let _serial = testkit::serial().await;
    // A port nothing listens on (bound, then released).
    let closed = std::net::TcpListener::bind((sb.var("ROUTER_HOST"), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&sb, Some(closed));
    let started = Instant::now();
    let err = wait(&cfg, "no-such-id", &options(3)).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        err.to_string()
            .contains(&format!("{}:{closed}", sb.var("ROUTER_HOST"))),
        "{err}"
    );
    // Three looks, two pauses between them.
    assert!(took >= Duration::from_millis(600), "gave up after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_backup_id_ends_the_wait_at_once() {
    let Some(sb) = sandbox() else { return };
    let _serial = testkit::serial().await;
    let cfg = config(&sb, None);
    let started = Instant::now();
    let err = wait(&cfg, &testkit::unique("nosuchid"), &options(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no task has backup id"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "it retried");
}
