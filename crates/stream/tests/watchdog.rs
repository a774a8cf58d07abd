//! The max-time-sec watchdog against a real, throttled `mariabackup
//! --backup --stream=xbstream` on a sandbox replica, streamed to the store.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Collect, Fx, alive};
use remote::Command;
use std::sync::Arc;
use std::time::Duration;
use stream::{
    Error, Registry, Sink, Source, StopReason, StreamConfig, Streamer, Watchdog, WatchdogConfig,
};

/// The re-read the engines give the watchdog: `[misc] max-time-sec` of
/// the file, by `conf`'s reader.
fn reread(file: std::path::PathBuf) -> stream::Reread {
    Arc::new(move || {
        conf::Ini::load(&file)
            .and_then(|ini| conf::max_time_sec(&ini))
            .map_err(|e| e.to_string())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_max_time_sec_kills_a_running_backup_on_its_host() {
    let Some(fx) = Fx::new("watchdog", "127.0.0.12").await else {
        return;
    };
    let _exclusive = fx.sb.exclusive().await;
    let server = fx.sb.server("normal_0_1");
    assert_eq!(server.host, "127.0.0.12");
    let dir = fx.src_dir.clone();
    // Credentials go to a 0600 defaults file through stdin, never an argv.
    let defaults = format!(
        "[client]\nuser={}\npassword={}\nsocket={}\n",
        fx.sb.var("MYSQL_USER"),
        fx.sb.var("MYSQL_PASSWORD"),
        server.dir.join("mysqld.sock").display()
    );
    let out = fx
        .src
        .exec(
            &Command::shell(format!("umask 077; cat > {dir}/my.cnf")).stdin(defaults.into_bytes()),
            common::T,
        )
        .await
        .unwrap();
    assert!(out.success(), "{}", out.stderr_str());

    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("backup.conf");
    std::fs::write(&conf, "[misc]\nsocat-port = 1\nmax-time-sec = 3600\n").unwrap();
    let registry = Registry::new();
    let dog = Watchdog::start(
        registry.clone(),
        WatchdogConfig::new(
            conf.display().to_string(),
            Duration::from_secs(3600),
            reread(conf.clone()),
        ),
    );
    let mut cfg = StreamConfig::new(
        fx.port("SOCAT_PORT", 400),
        fx.port("SOCAT_PORT2", 400),
        fx.log_dir(),
    );
    cfg.retry_count = 3;
    let streamer = Arc::new(Streamer::new(cfg, registry.clone()));
    let backup = Source::command(Command::shell(format!(
        "echo $$ > {dir}/pid; exec mariabackup --defaults-file={dir}/my.cnf --backup \
         --stream=xbstream --throttle=1 --target-dir={dir}/tmp 2>{dir}/backup.log"
    )));
    let sink = Sink::file(format!("{}/backup.xbsteam", fx.store_dir));
    let progress = Arc::new(Collect::default());
    let task = {
        let (s, p, src, store) = (
            streamer.clone(),
            progress.clone(),
            fx.src.clone(),
            fx.store.clone(),
        );
        tokio::spawn(async move { s.transfer(&src, &backup, &store, &sink, &*p).await })
    };
    progress.until(1, Duration::from_secs(30)).await;
    let pid = fx
        .ok(&fx.src, &format!("cat {dir}/pid"))
        .await
        .trim()
        .to_owned();
    assert!(alive(&fx.src, &pid).await, "mariabackup {pid} runs");
    assert_eq!(
        registry.entries().len(),
        2,
        "listener and sender registered"
    );

    // The operator lowers the limit in the file while the backup runs.
    std::fs::write(&conf, "[misc]\nsocat-port = 1\nmax-time-sec = 1\n").unwrap();
    tokio::time::timeout(Duration::from_secs(10), dog.token().cancelled())
        .await
        .expect("the watchdog fired");
    assert!(matches!(
        dog.reason(),
        Some(StopReason::MaxTime { limit_secs: 1, .. })
    ));
    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(&err, Error::Stopped { .. }), "{err:?}");
    assert!(err.to_string().contains("reach max-time-sec"), "{err}");
    testkit::poll::Poll::within(Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .wait_async(
            &format!("mariabackup {pid} ending on 127.0.0.12"),
            || async { !alive(&fx.src, &pid).await },
        )
        .await;
    assert!(registry.entries().is_empty());
    // Nothing new may start once the run is stopped.
    let late = streamer
        .transfer(
            &fx.src,
            &Source::file(format!("{dir}/pid")),
            &fx.store,
            &Sink::file(format!("{}/late", fx.store_dir)),
            &stream::NoProgress,
        )
        .await
        .unwrap_err();
    assert!(matches!(late, Error::Stopped { .. }), "{late:?}");
    fx.cleanup().await;
}
