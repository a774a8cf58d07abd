//! The `using-scp` fallback: key-based scp run on the sending host, straight
//! to the store.

#![allow(clippy::unwrap_used)]

mod common;

use common::Fx;
use std::os::unix::fs::PermissionsExt as _;
use stream::{NoProgress, Registry, ScpConfig, Sink, Source, StreamConfig, Streamer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_copies_a_file_host_to_host_with_a_key() {
    let Some(fx) = Fx::new("scp", "127.0.0.21").await else {
        return;
    };
    // The sending host's login user needs a key the store accepts: a copy of
    // the sandbox key, owned by that user, in a private directory of this test.
    let uid: u32 = fx.ok(&fx.src, "id -u").await.trim().parse().unwrap();
    let gid: u32 = fx.ok(&fx.src, "id -g").await.trim().parse().unwrap();
    let keys = tempfile::Builder::new()
        .prefix("dbstream-scp-")
        .tempdir()
        .unwrap();
    let key = keys.path().join("id");
    std::fs::copy(fx.sb.var("SSH_KEY"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&key, Some(uid), Some(gid)).unwrap();
    std::os::unix::fs::chown(keys.path(), Some(uid), Some(gid)).unwrap();

    let mut cfg = StreamConfig::new(
        fx.port("SOCAT_PORT", 700),
        fx.port("SOCAT_PORT2", 700),
        fx.log_dir(),
    );
    cfg.checksum = stream::Checksum::BothEnds;
    cfg.scp = Some(ScpConfig {
        user: fx.sb.var("LOGIN_USER").to_owned(),
        port: fx.sb.var("SSH_PORT").parse().unwrap(),
        identity: Some(key.display().to_string()),
        known_hosts: Some(keys.path().join("known_hosts").display().to_string()),
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
