//! The native receiver (`dbagent receive`, `[misc] receiver = native`)
//! between sandbox hosts: what arrives, its count and digest taken in the
//! pass that writes it, the port bump, the fallback to socat on a host
//! without it, and failures that must not pass as success.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Collect, Fx};
use remote::Command;
use std::time::Duration;
use stream::{
    Checksum, Error, NoProgress, Receiver, Registry, Sink, Source, StreamConfig, Streamer,
};

fn streamer(fx: &Fx, offset: u16, retries: u32, program: &str) -> Streamer {
    let mut cfg = StreamConfig::new(
        fx.port("SOCAT_PORT", offset),
        fx.port("SOCAT_PORT2", offset),
        fx.log_dir(),
    );
    cfg.retry_count = retries;
    // What a backup uses: the stored copy's digest.
    cfg.checksum = Checksum::Stored;
    cfg.finish_timeout = Duration::from_secs(30);
    cfg.receiver = Receiver::Native {
        program: program.to_owned(),
    };
    Streamer::new(cfg, Registry::new())
}

fn dbagent(fx: &Fx) -> String {
    fx.sb.var("DBAGENT_BIN").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_receiver_stores_counts_and_hashes_in_one_pass() {
    let Some(fx) = Fx::new("native", "127.0.0.11").await else {
        return;
    };
    let s = streamer(&fx, 800, 3, &dbagent(&fx));
    let (src, dst) = (&fx.src_dir, &fx.store_dir);
    fx.ok(
        &fx.src,
        &format!("head -c 5242881 /dev/urandom > {src}/data.bin"),
    )
    .await;
    let progress = Collect::default();
    let r = s
        .transfer(
            &fx.src,
            &Source::file(format!("{src}/data.bin")),
            &fx.store,
            &Sink::file(format!("{dst}/data.bin")),
            &progress,
        )
        .await
        .unwrap();
    assert_eq!((r.method, r.bytes), ("dbagent receive", 5_242_881));
    let want = fx.sha(&fx.src, &format!("{src}/data.bin")).await;
    assert_eq!(r.sha256.as_deref(), Some(want.as_str()));
    assert_eq!(fx.sha(&fx.store, &format!("{dst}/data.bin")).await, want);
    let log = fx.ok(&fx.store, &format!("cat {}", r.log_file)).await;
    assert!(
        log.contains("listening on 0.0.0.0:") && log.contains("] done: 5242881 bytes from "),
        "{log}"
    );
    let last = progress.updates.lock().unwrap().last().cloned().unwrap();
    assert!(last.done && last.bytes == 5_242_881, "{last:?}");

    // A stream into a consumer: the receiver counts and hashes, and its
    // stdout is the consumer's stdin.
    let seq = Source::command(Command::new("seq").args(["1", "300000"]));
    let copy = format!("{dst}/seq.txt");
    let consumer =
        Sink::command(Command::new("sh").args(["-c".to_owned(), format!("cat > {copy}")]));
    let r = s
        .transfer(&fx.src, &seq, &fx.store, &consumer, &NoProgress)
        .await
        .unwrap();
    let want = fx
        .ok(&fx.src, "seq 1 300000 | sha256sum | cut -c1-64")
        .await;
    let size = fx.ok(&fx.src, "seq 1 300000 | wc -c").await;
    assert_eq!(r.sha256.as_deref(), Some(want.trim()));
    assert_eq!(r.bytes.to_string(), size.trim());
    assert_eq!(fx.sha(&fx.store, &copy).await, want.trim());
    assert!(s.registry().entries().is_empty(), "everything unregistered");
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_occupied_port_is_bumped_for_the_native_receiver_too() {
    let Some(fx) = Fx::new("native-busy", "127.0.0.12").await else {
        return;
    };
    let port = fx.port("SOCAT_PORT2", 820);
    let store_host = fx.sb.var("STORE_HOST").to_owned();
    let _occupied = std::net::TcpListener::bind((store_host.as_str(), port)).unwrap();
    fx.ok(&fx.src, &format!("echo conf > {}/my.cnf", fx.src_dir))
        .await;
    let s = streamer(&fx, 820, 2, &dbagent(&fx));
    let r = s
        .transfer(
            &fx.src,
            &Source::file(format!("{}/my.cnf", fx.src_dir)),
            &fx.store,
            &Sink::file(format!("{}/my.conf", fx.store_dir)),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.port, r.bytes, r.method),
        (port + 10, 5, "dbagent receive")
    );
    let first_log = r
        .log_file
        .replace(&format!("/{}_", port + 10), &format!("/{port}_"));
    let log = fx.ok(&fx.store, &format!("cat {first_log}")).await;
    assert!(log.contains("Address already in use"), "{log}");
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_the_native_receiver_gets_socat() {
    let Some(fx) = Fx::new("native-missing", "127.0.0.13").await else {
        return;
    };
    let s = streamer(&fx, 840, 3, "dbagent-not-installed-here");
    fx.ok(&fx.src, &format!("seq 1 1000 > {}/a.txt", fx.src_dir))
        .await;
    let want = fx.sha(&fx.src, &format!("{}/a.txt", fx.src_dir)).await;
    for round in 0..2 {
        let dest = format!("{}/a-{round}.txt", fx.store_dir);
        let r = s
            .transfer(
                &fx.src,
                &Source::file(format!("{}/a.txt", fx.src_dir)),
                &fx.store,
                &Sink::file(&dest),
                &NoProgress,
            )
            .await
            .unwrap();
        assert_eq!(r.method, "socat", "round {round}");
        // socat's stored copy is read back for its digest.
        assert_eq!(r.sha256.as_deref(), Some(want.as_str()), "round {round}");
        assert_eq!(fx.sha(&fx.store, &dest).await, want);
    }
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_receiver_that_cannot_write_or_a_dead_producer_fails_the_transfer() {
    let Some(fx) = Fx::new("native-fail", "127.0.0.11").await else {
        return;
    };
    let s = streamer(&fx, 860, 3, &dbagent(&fx));
    // Every write fails with ENOSPC: the receiver's reason reaches the error.
    let err = s
        .transfer(
            &fx.src,
            &Source::command(Command::shell("head -c 3000000 /dev/zero")),
            &fx.store,
            &Sink::file("/dev/full"),
            &NoProgress,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Receiver { .. } | Error::Sender { .. }),
        "{err:?}"
    );
    assert!(
        text.contains("cannot write /dev/full after 0 bytes: No space left on device"),
        "{text}"
    );
    assert!(text.contains(&fx.sb.var("STORE_HOST").to_owned()), "{text}");

    // A producer that dies mid-stream: the receiver saw a clean end of a
    // short stream; the sender's status makes it an error.
    let failing = Source::command(Command::shell("head -c 100000 /dev/urandom; exit 3"));
    let dest = format!("{}/short.bin", fx.store_dir);
    let err = s
        .transfer(
            &fx.src,
            &failing,
            &fx.store,
            &Sink::file(&dest),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sender { .. }), "{err:?}");
    assert!(err.to_string().contains("sh exited 3"), "{err}");
    assert!(s.registry().entries().is_empty(), "everything unregistered");
    fx.cleanup().await;
}
