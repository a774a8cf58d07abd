//! Transfers between sandbox hosts over ssh: intact arrival of files, tar'd
//! directories and command output; port bumping; failures that must not
//! pass as success.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Collect, Fx, sh};
use remote::Command;
use std::sync::Arc;
use std::time::Duration;
use stream::{Error, NoProgress, Registry, Sink, Source, StreamConfig, Streamer};

fn streamer(fx: &Fx, offset: u16, retries: u32) -> Streamer {
    streamer_hashing(fx, offset, retries, stream::Checksum::BothEnds)
}

fn streamer_hashing(fx: &Fx, offset: u16, retries: u32, checksum: stream::Checksum) -> Streamer {
    let mut cfg = StreamConfig::new(
        fx.port("SOCAT_PORT", offset),
        fx.port("SOCAT_PORT2", offset),
        fx.log_dir(),
    );
    cfg.retry_count = retries;
    cfg.checksum = checksum;
    cfg.finish_timeout = Duration::from_secs(30);
    Streamer::new(cfg, Registry::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_dir_and_command_output_arrive_intact() {
    let Some(fx) = Fx::new("intact", "127.0.0.11").await else {
        return;
    };
    let s = streamer(&fx, 100, 3);
    let (src, dst) = (&fx.src_dir, &fx.store_dir);
    // A 5 MiB file of random bytes, and a directory with a name that needs quoting.
    fx.ok(
        &fx.src,
        &format!(
            "head -c 5242880 /dev/urandom > {src}/data.bin && mkdir -p '{src}/the dir/sub' && \
             head -c 70000 /dev/urandom > '{src}/the dir/sub/a b' && echo hi > '{src}/the dir/x.log'"
        ),
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
    assert_eq!(r.bytes, 5_242_880);
    assert_eq!(r.method, "socat");
    let want = fx.sha(&fx.src, &format!("{src}/data.bin")).await;
    assert_eq!(r.sha256.as_deref(), Some(want.as_str()));
    assert_eq!(fx.sha(&fx.store, &format!("{dst}/data.bin")).await, want);
    // A file uses the socat-port2 family, and its log is <port>_<n> in the day's log dir.
    assert_eq!(r.port, fx.port("SOCAT_PORT2", 100));
    assert!(r.log_file.starts_with(&fx.log_dir()), "{}", r.log_file);
    let log = fx.ok(&fx.store, &format!("cat {}", r.log_file)).await;
    assert!(log.contains("listening on"), "{log}");
    let last = progress.updates.lock().unwrap().last().cloned().unwrap();
    assert!(last.done && last.bytes == 5_242_880, "{last:?}");

    // A directory as a (gzip'd) tar stream into a consumer on the store.
    fx.ok(&fx.store, &format!("mkdir -p {dst}/untar")).await;
    let dir = Source::Dir {
        path: format!("{src}/the dir"),
        gzip: true,
        exclude: vec!["*.log".into()],
    };
    let untar =
        Sink::command(Command::new("tar").args(["-xzf", "-", "-C", &format!("{dst}/untar")]));
    let r = s
        .transfer(&fx.src, &dir, &fx.store, &untar, &NoProgress)
        .await
        .unwrap();
    assert!(r.bytes > 70_000 / 2, "{r:?}");
    assert_eq!(r.port, fx.port("SOCAT_PORT", 100), "streams use socat-port");
    assert_eq!(
        fx.sha(&fx.store, &format!("'{dst}/untar/the dir/sub/a b'"))
            .await,
        fx.sha(&fx.src, &format!("'{src}/the dir/sub/a b'")).await
    );
    let excluded = sh(&fx.store, &format!("test -e '{dst}/untar/the dir/x.log'")).await;
    assert!(!excluded.success(), "*.log was excluded");

    // Any command's stdout into a file.
    let seq = Source::command(Command::new("seq").args(["1", "300000"]));
    let r = s
        .transfer(
            &fx.src,
            &seq,
            &fx.store,
            &Sink::file(format!("{dst}/seq.txt")),
            &NoProgress,
        )
        .await
        .unwrap();
    let want = fx
        .ok(&fx.src, "seq 1 300000 | sha256sum | cut -c1-64")
        .await;
    assert_eq!(r.sha256.as_deref(), Some(want.trim()));
    assert_eq!(
        fx.sha(&fx.store, &format!("{dst}/seq.txt")).await,
        want.trim()
    );
    let size = fx.ok(&fx.store, &format!("stat -c %s {dst}/seq.txt")).await;
    assert_eq!(size.trim(), r.bytes.to_string());
    assert!(s.registry().entries().is_empty(), "everything unregistered");
    fx.cleanup().await;
}

/// `Checksum::Received` (on a tee) and `Checksum::Stored` (read back once
/// written; what a backup uses): the digest is the stored copy's, computed
/// on the receiving end only; the byte count comes from one end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiving_end_checksum_is_the_stored_copys_digest() {
    let Some(fx) = Fx::new("received", "127.0.0.11").await else {
        return;
    };
    let dst = &fx.store_dir;
    let want = fx
        .ok(&fx.src, "seq 1 200000 | sha256sum | cut -c1-64")
        .await;
    let want = want.trim();
    let want_size = fx.ok(&fx.src, "seq 1 200000 | wc -c").await;
    for (mode, offset) in [
        (stream::Checksum::Received, 600),
        (stream::Checksum::Stored, 620),
    ] {
        let s = streamer_hashing(&fx, offset, 3, mode);
        let seq = Source::command(Command::new("seq").args(["1", "200000"]));
        let file = format!("{dst}/seq-{mode:?}.txt");
        let r = s
            .transfer(&fx.src, &seq, &fx.store, &Sink::file(&file), &NoProgress)
            .await
            .unwrap();
        let stored = fx.sha(&fx.store, &file).await;
        assert_eq!(r.sha256.as_deref(), Some(stored.as_str()), "{mode:?}");
        assert_eq!(stored, want, "{mode:?}");
        assert_eq!(r.bytes.to_string(), want_size.trim(), "{mode:?}");

        // Into a consumer, from a file (counted by the sender's stat) and
        // from a stream (counted by the receiver): hashed on the tee.
        let copy = format!("{dst}/copy-{mode:?}.txt");
        let consumer =
            Sink::command(Command::new("sh").args(["-c".to_owned(), format!("cat > {copy}")]));
        for source in [Source::file(&file), seq] {
            let r = s
                .transfer(&fx.store, &source, &fx.store, &consumer, &NoProgress)
                .await
                .unwrap();
            assert_eq!(r.sha256.as_deref(), Some(want), "{mode:?} {source:?}");
            assert_eq!(r.bytes.to_string(), want_size.trim(), "{mode:?} {source:?}");
            assert_eq!(fx.sha(&fx.store, &copy).await, want);
        }
        assert!(s.registry().entries().is_empty(), "everything unregistered");
    }
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_occupied_port_is_bumped_by_ten_or_fails_without_retries() {
    let Some(fx) = Fx::new("busy", "127.0.0.12").await else {
        return;
    };
    let port = fx.port("SOCAT_PORT2", 200);
    let store_host = fx.sb.var("STORE_HOST").to_owned();
    let _occupied = std::net::TcpListener::bind((store_host.as_str(), port)).unwrap();
    fx.ok(&fx.src, &format!("echo conf > {}/my.cnf", fx.src_dir))
        .await;
    let source = Source::file(format!("{}/my.cnf", fx.src_dir));
    let sink = Sink::file(format!("{}/my.conf", fx.store_dir));

    let s = streamer(&fx, 200, 2);
    let r = s
        .transfer(&fx.src, &source, &fx.store, &sink, &NoProgress)
        .await
        .unwrap();
    assert_eq!(r.port, port + 10);
    assert_eq!(r.bytes, 5);
    assert_eq!(
        s.ports().current(stream::PortFamily::File),
        port + 10,
        "remembered"
    );
    assert_eq!(
        s.ports().current(stream::PortFamily::Stream),
        fx.port("SOCAT_PORT", 200)
    );
    // The first try's log says why it moved on.
    let first_log = r
        .log_file
        .replace(&format!("/{}_", port + 10), &format!("/{port}_"));
    let log = fx.ok(&fx.store, &format!("cat {first_log}")).await;
    assert!(log.contains("Address already in use"), "{log}");

    let strict = streamer(&fx, 200, 0);
    let err = strict
        .transfer(&fx.src, &source, &fx.store, &sink, &NoProgress)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::PortsInUse { tries: 1, .. }), "{err:?}");
    assert!(text.contains(&format!("{store_host}:{port}")), "{text}");
    assert!(text.contains("Address already in use"), "{text}");
    assert!(
        text.contains(&format!("{}/{port}_", fx.log_dir())),
        "{text}"
    );
    fx.cleanup().await;
}

/// Starts a transfer of `source` into the file `dest` on the store in a task.
fn spawn_transfer(
    s: &Arc<Streamer>,
    fx: &Fx,
    source: &Source,
    dest: &str,
) -> (
    tokio::task::JoinHandle<stream::Result<stream::TransferReport>>,
    Arc<Collect>,
) {
    let progress = Arc::new(Collect::default());
    let (s, p, src, store, source, sink) = (
        s.clone(),
        progress.clone(),
        fx.src.clone(),
        fx.store.clone(),
        source.clone(),
        Sink::file(dest),
    );
    let task = tokio::spawn(async move { s.transfer(&src, &source, &store, &sink, &*p).await });
    (task, progress)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sender_or_a_failing_producer_fails_the_transfer() {
    let Some(fx) = Fx::new("killed", "127.0.0.13").await else {
        return;
    };
    // What a backup uses: nothing counts or hashes the stream on the
    // sender, so only the exit statuses can tell a broken stream.
    let s = Arc::new(streamer_hashing(&fx, 300, 3, stream::Checksum::Stored));
    // About 10 MiB/s for 20 s: slow enough to kill mid-stream.
    let slow = Source::command(Command::shell(
        "for i in $(seq 1 200); do head -c 1048576 /dev/zero; sleep 0.1; done",
    ));
    let dest = format!("{}/slow.bin", fx.store_dir);

    // 1. The sender's whole process group, killed through the registry.
    let (task, progress) = spawn_transfer(&s, &fx, &slow, &dest);
    progress.until(2 << 20, Duration::from_secs(20)).await;
    let sender = s
        .registry()
        .entries()
        .into_iter()
        .find(|e| e.what.starts_with("sender"))
        .unwrap();
    assert_eq!(sender.host, "127.0.0.13");
    s.registry().kill(sender.key).await.unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Sender { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.13"), "{err}");
    let got: u64 = fx
        .ok(&fx.store, &format!("stat -c %s {dest}"))
        .await
        .trim()
        .parse()
        .unwrap();
    assert!(
        got < 200 << 20,
        "a short file ({got} bytes) was left, and reported as a failure"
    );

    // 2. Only the producer (it writes into the connection itself), killed
    //    by pid on its host: what arrived is a short file, and an error.
    let (task, progress) = spawn_transfer(&s, &fx, &slow, &dest);
    progress.until(2 << 20, Duration::from_secs(20)).await;
    let pid = fx
        .ok(
            &fx.src,
            "pgrep -u \"$(id -u)\" -f '^sh -c for i in .*/dev/zero' | head -n1",
        )
        .await;
    fx.ok(&fx.src, &format!("kill -9 {}", pid.trim())).await;
    let err = task.await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Sender { .. }), "{err:?}");
    assert!(text.contains("sh exited 137"), "{text}");

    // 3. A producer that exits non-zero after writing some data.
    let failing = Source::command(Command::shell("head -c 100000 /dev/urandom; exit 3"));
    let err = s
        .transfer(
            &fx.src,
            &failing,
            &fx.store,
            &Sink::file(format!("{}/f.bin", fx.store_dir)),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sender { .. }), "{err:?}");
    assert!(err.to_string().contains("sh exited 3"), "{err}");

    // 4. A consumer that fails on the receiving side.
    let bad_consumer = Sink::command(Command::shell("head -c 10 >/dev/null; exit 4"));
    let err = s
        .transfer(
            &fx.src,
            &Source::command(Command::new("seq").args(["1", "100000"])),
            &fx.store,
            &bad_consumer,
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Receiver { .. } | Error::Sender { .. }),
        "{err:?}"
    );
    assert!(
        s.registry().entries().is_empty(),
        "{:?}",
        s.registry().entries()
    );
    fx.cleanup().await;
}
