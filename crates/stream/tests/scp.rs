//! The `using-scp` fallback: key-based scp run on the sending host, straight
//! to the store.

#![allow(clippy::unwrap_used)]

mod common;

use common::Fx;
use stream::{NoProgress, Registry, ScpConfig, Sink, Source, StreamConfig, Streamer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_copies_a_file_host_to_host_with_a_key() {
    let Some(fx) = Fx::new("scp", "127.0.0.21").await else {
        return;
    };
    // The sending host's login user needs a key the store accepts.
    let keys = fx.sb.login_user_key();
    let mut cfg = StreamConfig::new(
        fx.port("SOCAT_PORT", 700),
        fx.port("SOCAT_PORT2", 700),
        fx.log_dir(),
    );
    cfg.checksum = stream::Checksum::BothEnds;
    cfg.scp = Some(ScpConfig {
        user: fx.sb.var("LOGIN_USER").to_owned(),
        port: fx.sb.var("SSH_PORT").parse().unwrap(),
        identity: Some(keys.key.display().to_string()),
        known_hosts: Some(keys.known_hosts.display().to_string()),
    });
    let s = Streamer::new(cfg, Registry::new());
    let src = format!("{}/binlog.000001", fx.src_dir);
    fx.ok(&fx.src, &format!("head -c 3000000 /dev/urandom > {src}"))
        .await;
    let dest = format!("{}/binlog copy", fx.store_dir);
    let r = s
        .transfer(
            &fx.src,
            &Source::file(&src),
            &fx.store,
            &Sink::file(&dest),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(r.method, "scp");
    assert_eq!(r.bytes, 3_000_000);
    let want = fx.sha(&fx.src, &src).await;
    assert_eq!(r.sha256.as_deref(), Some(want.as_str()));
    assert_eq!(fx.sha(&fx.store, &format!("'{dest}'")).await, want);

    // Streams are not scp's business: a directory goes by socat (a tar
    // stream) even with using-scp on, as in the seed.
    let tarball = format!("{}/dir.tar", fx.store_dir);
    let r = s
        .transfer(
            &fx.src,
            &Source::dir(&fx.src_dir),
            &fx.store,
            &Sink::file(&tarball),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(r.method, "socat");
    assert_eq!(r.port, fx.port("SOCAT_PORT", 700));

    // A missing source fails, naming the file and the host.
    let err = s
        .transfer(
            &fx.src,
            &Source::file(format!("{}/nope", fx.src_dir)),
            &fx.store,
            &Sink::file(&dest),
            &NoProgress,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.21") && text.contains("nope"),
        "{text}"
    );
    fx.cleanup().await;
}

/// Recovery's using-scp: a whole directory by `scp -r` (replacing what was
/// at the destination), and a producer piped through ssh into a consumer;
/// a missing directory and a failing producer fail naming the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_dir_copies_a_tree_and_ssh_pipe_feeds_a_consumer() {
    let Some(fx) = Fx::new("scpdir", "127.0.0.21").await else {
        return;
    };
    let keys = fx.sb.login_user_key();
    let scp = ScpConfig {
        user: fx.sb.var("LOGIN_USER").to_owned(),
        port: fx.sb.var("SSH_PORT").parse().unwrap(),
        identity: Some(keys.key.display().to_string()),
        known_hosts: Some(keys.known_hosts.display().to_string()),
    };
    let cfg = StreamConfig::new(
        fx.port("SOCAT_PORT", 710),
        fx.port("SOCAT_PORT2", 710),
        fx.log_dir(),
    );
    let s = Streamer::new(cfg, Registry::new());
    let src = format!("{}/UTC1 full", fx.src_dir);
    fx.ok(
        &fx.src,
        &format!(
            "mkdir -p '{src}/a/b' && head -c 100000 /dev/urandom > '{src}/a/b/x' \
             && echo hi > '{src}/y' && : > '{src}/empty'"
        ),
    )
    .await;
    let dest = format!("{}/UTC1 full", fx.store_dir);
    // Something older at the destination is replaced, not merged into.
    fx.ok(
        &fx.store,
        &format!("mkdir -p '{dest}' && echo old > '{dest}/stale'"),
    )
    .await;
    let r = s
        .scp_dir(&scp, &fx.src, &src, &fx.store, &dest, &NoProgress)
        .await
        .unwrap();
    assert_eq!((r.method, r.bytes), ("scp", 100_003));
    assert_eq!(
        fx.sha(&fx.store, &format!("'{dest}/a/b/x'")).await,
        fx.sha(&fx.src, &format!("'{src}/a/b/x'")).await
    );
    let listed = fx
        .ok(&fx.store, &format!("cd '{dest}' && find . | sort"))
        .await;
    assert_eq!(listed, ".\n./a\n./a/b\n./a/b/x\n./empty\n./y\n", "{listed}");

    let err = s
        .scp_dir(
            &scp,
            &fx.src,
            &format!("{}/nope", fx.src_dir),
            &fx.store,
            &dest,
            &NoProgress,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.21") && err.contains("nope"), "{err}");

    // A producer whose environment carries a secret, piped into tar.
    let piped = format!("{}/piped", fx.store_dir);
    let producer =
        remote::Command::shell(format!("[ \"$TOKEN\" = s3cret ] && tar -C '{src}' -cf - ."))
            .env("TOKEN", "s3cret");
    let unpack = remote::Command::shell(format!("mkdir -p '{piped}' && tar -xf - -C '{piped}'"));
    let r = s
        .ssh_pipe(&scp, &fx.src, &producer, &fx.store, &unpack)
        .await
        .unwrap();
    assert_eq!(r.method, "ssh");
    assert_eq!(fx.ok(&fx.store, &format!("cat '{piped}/y'")).await, "hi\n");

    let failing = remote::Command::shell("echo broken >&2; exit 3");
    let err = s
        .ssh_pipe(&scp, &fx.src, &failing, &fx.store, &unpack)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.21") && err.contains("exit"), "{err}");
    fx.cleanup().await;
}
