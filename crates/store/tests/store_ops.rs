//! Store operations against the sandbox's store host, over ssh as
//! configured in its backup.conf.
#![allow(clippy::unwrap_used)]

use binlog::BackupName;
use remote::{AgentType, Command, Connector, Transport};
use std::sync::Arc;
use std::time::Duration;
use store::{BadBackups, Store, layout};

async fn store(tag: &str) -> Option<(Store, Arc<dyn Transport>)> {
    let sb = testkit::Sandbox::get()?;
    let cfg = conf::BackupConfig::load(sb.var("BACKUP_SSH_CONF").as_ref()).unwrap();
    let hosts = Connector::new(cfg.connect.config.clone()).unwrap();
    let t = hosts
        .host(
            &cfg.store.host.host,
            &cfg.store.host.login,
            AgentType::DbInit,
        )
        .unwrap();
    let dir = format!(
        "{}/store-test-{tag}-{}",
        cfg.store.dir.display(),
        remote::CommandId::random()
    );
    Some((Store::new(t.clone(), dir, Duration::from_secs(60)), t))
}

async fn sh(t: &Arc<dyn Transport>, script: String) {
    let out = t
        .exec(&Command::shell(script), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(out.success(), "{}", out.stderr_str());
}

fn n(s: &str) -> BackupName {
    s.parse().unwrap()
}

#[tokio::test]
async fn cleanup_moves_bad_backups_newer_than_the_last_good_one() {
    let Some((store, t)) = store("clean").await else {
        return;
    };
    let d = store.dir().to_owned();
    store
        .prepare(chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap())
        .await
        .unwrap();
    sh(
        &t,
        format!(
            "cd {d} && mkdir -p UTC20261120000000.000-full UTC20261121000000.000-inc \
             UTC20261121010000.000-inc UTC20261119000000.000-inc notes encrypted && \
             echo ok > UTC20261120000000.000-full/ok && \
             echo '2026-11-20 00:00:05' > UTC20261120000000.000-full/consistent_point_datetime && \
             echo x > encrypted/UTC20261121000000.000-inc.tar.encrypted && \
             mkdir -p trash/UTC20261121010000.000-inc"
        ),
    )
    .await;
    assert!(store.exists("socat_log/20261121").await.unwrap());

    let listed = store.list().await.unwrap();
    let full = listed
        .iter()
        .find(|l| l.name == "UTC20261120000000.000-full")
        .unwrap();
    assert!(full.ok);
    assert_eq!(full.point.as_deref(), Some("2026-11-20 00:00:05"));
    assert!(
        listed
            .iter()
            .any(|l| l.name == "notes" && l.backup.is_none())
    );

    let cleanup = store.clean_bad(BadBackups::Trash).await.unwrap();
    assert_eq!(cleanup.last_good, Some(n("UTC20261120000000.000-full")));
    assert_eq!(
        cleanup.cleaned,
        [
            n("UTC20261121010000.000-inc"),
            n("UTC20261121000000.000-inc")
        ]
    );
    // Older bad backups and foreign entries stay; the tarball went along;
    // a name already in the trash was not nested inside the old one.
    for kept in [
        "UTC20261119000000.000-inc",
        "notes",
        "UTC20261120000000.000-full",
    ] {
        assert!(store.exists(kept).await.unwrap(), "{kept}");
    }
    assert!(!store.exists("UTC20261121000000.000-inc").await.unwrap());
    assert!(
        store
            .exists("trash/UTC20261121000000.000-inc.tar.encrypted")
            .await
            .unwrap()
    );
    let out = t
        .exec(
            &Command::shell(format!("ls {d}/trash | sort")),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let trash = out.stdout_str();
    assert_eq!(trash.lines().count(), 4, "{trash}");
    assert!(
        !store
            .exists("trash/UTC20261121010000.000-inc/UTC20261121010000.000-inc")
            .await
            .unwrap()
    );

    let dirs = store.backup_dirs().await.unwrap();
    assert_eq!(dirs.len(), 2);
    assert!(dirs[1].ok && dirs[1].point.is_some());

    store.clean_trash().await.unwrap();
    assert!(store.exists("trash").await.unwrap());
    let out = t
        .exec(
            &Command::shell(format!("ls -A {d}/trash")),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "");
    sh(&t, format!("rm -rf {d}")).await;
}

#[tokio::test]
async fn files_are_written_whole_and_ok_only_by_mark_ok() {
    let Some((store, t)) = store("files").await else {
        return;
    };
    let b = n("UTC20261121120000.000-full");
    assert_eq!(store.read_file("nope").await.unwrap(), None);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    store
        .write_file(&format!("{b}/a/b/blob"), big.clone())
        .await
        .unwrap();
    assert_eq!(
        store.read_file(&format!("{b}/a/b/blob")).await.unwrap(),
        Some(big.clone())
    );
    // Several files in one round trip, byte for byte; absent ones left out.
    store
        .write_file(&format!("{b}/srv 1/master_dir"), b"a b\n".to_vec())
        .await
        .unwrap();
    let files = store
        .read_files(&b.to_string(), &["a/b/blob", "srv 1/master_dir", "absent"])
        .await
        .unwrap();
    assert_eq!(files.len(), 2, "{:?}", files.keys());
    assert_eq!(files["a/b/blob"], big);
    assert_eq!(files["srv 1/master_dir"], b"a b\n");
    let err = store
        .read_files("no-such-backup", &["x"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reading x in") && err.contains("no-such-backup"),
        "{err}"
    );
    // No temporary names left behind.
    let out = t
        .exec(
            &Command::shell(format!("find {} -name '*.tmp.*'", store.dir())),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "");
    assert!(!store.list().await.unwrap()[0].ok);
    store.mark_ok(b).await.unwrap();
    assert!(store.list().await.unwrap()[0].ok);
    assert_eq!(
        store
            .read_file(&format!("{b}/{}", layout::OK_FILE))
            .await
            .unwrap(),
        Some(b"ok\n".to_vec())
    );
    assert!(store.free_bytes().await.unwrap() > 1 << 20);
    sh(&t, format!("rm -rf {}", store.dir())).await;
}

#[tokio::test]
async fn errors_name_the_store_and_the_step() {
    let Some((store, _t)) = store("errors").await else {
        return;
    };
    // The store directory does not exist yet: listing it fails clearly.
    let err = store.list().await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "backup store {}: listing backups failed",
            store.host()
        )),
        "{err}"
    );
    let unwritable = Store::new(
        store.transport().clone(),
        "/proc/nope",
        Duration::from_secs(10),
    );
    let err = unwritable
        .write_file("x", b"1".to_vec())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("writing /proc/nope/x"), "{err}");
}
