//! The dead-lock detector for real: a session holding `LOCK TABLES t
//! WRITE` makes mariabackup's `BACKUP STAGE START` wait; the detector kills
//! it, the attempt fails, and the retry succeeds once the blocker is gone.
//! With one attempt allowed, the loop fails with the clear message.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;
use remote::{Command, Transport, Zeroizing};
use router::Client;
use testkit::Sandbox;
use xtrabackup::{
    BackupOptions, ClientDefaults, Error, FailureKind, Flavor, LockDetector, PipelineOutput,
    RetryError, ops, retry_on_lock_deadlock,
};

/// How long one mariabackup run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_backup_stage_is_killed_and_retried() {
    let Some(sb) = Sandbox::get() else { return };
    let _exclusive = sb.exclusive().await;
    let server = sb.server("normal_1_0");
    let db = unique("xbl");
    let state = tempfile::tempdir().unwrap();
    let host = ssh(&sb, &server.host, &state);
    let mut admin = sql(&sb, &server).await;
    let tmpdir = value(&mut admin, "SELECT @@tmpdir").await;
    let pid_file = value(&mut admin, "SELECT @@pid_file").await;
    let wrapper = format!("{tmpdir}/{db}.cnf");
    let stream = format!("{tmpdir}/{db}.xbstream");
    let log_file = format!("{tmpdir}/{db}.log");

    let outcome = catch_panic(async {
        admin
            .execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        admin
            .execute(&format!(
                "CREATE TABLE {db}.t (id INT PRIMARY KEY) ENGINE=InnoDB"
            ))
            .await
            .unwrap();
        let tool = ops::detect_tool(&host, "mariabackup").await.unwrap();
        assert!(matches!(tool.flavor, Flavor::Mariabackup { .. }));
        let login = ClientDefaults {
            server_defaults_file: ops::server_defaults_file_by_pid_file(&host, &pid_file)
                .await
                .unwrap(),
            user: sb.var("MYSQL_USER").into(),
            password: Zeroizing::new(sb.var("MYSQL_PASSWORD").into()),
        };
        ops::write_client_defaults(&host, &login, &wrapper)
            .await
            .unwrap();
        let opts = BackupOptions::new(tool, &wrapper, &tmpdir, &log_file);
        let mut detector = LockDetector::connect(
            &endpoint(&sb, &server),
            Duration::from_secs(2),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .only_user(sb.var("MYSQL_USER"))
        .poll_every(Duration::from_millis(300));

        // 1. Blocked, killed, retried after the blocker lets go.
        let mut blocker = sql(&sb, &server).await;
        blocker
            .execute(&format!("LOCK TABLES {db}.t WRITE"))
            .await
            .unwrap();
        let blocker = Mutex::new(Some(blocker));
        let failures = Mutex::new(Vec::new());
        let log = retry_on_lock_deadlock(&mut detector, 3, async |n| {
            if n == 2 {
                let b: Option<Client> = blocker.lock().unwrap().take();
                let mut b = b.unwrap();
                b.execute("UNLOCK TABLES").await.unwrap();
                b.close().await.unwrap();
            }
            let r = ops::run_backup(&host, &opts, PipelineOutput::File(&stream), RUN_LIMIT).await;
            if let Err(e) = &r {
                failures.lock().unwrap().push(e.to_string());
                assert!(
                    matches!(e, Error::BackupFailed { failure, .. } if failure.kind == FailureKind::Interrupted),
                    "{e:?}"
                );
            }
            r
        })
        .await
        .unwrap();
        assert!(log.completed_ok && log.binlog.is_some());
        let failures = failures.into_inner().unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].contains(&format!("{:?}", FailureKind::Interrupted)),
            "{failures:?}"
        );

        // 2. One attempt allowed, the blocker stays: the clear error.
        let mut blocker = sql(&sb, &server).await;
        blocker
            .execute(&format!("LOCK TABLES {db}.t WRITE"))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let r = retry_on_lock_deadlock(&mut detector, 1, async |_| {
            ops::run_backup(&host, &opts, PipelineOutput::File(&stream), RUN_LIMIT).await
        })
        .await;
        blocker.execute("UNLOCK TABLES").await.unwrap();
        match r {
            Err(e @ RetryError::Persisted { .. }) => {
                let text = e.to_string();
                let want = format!(
                    "FTWRL/BACKUP STAGE dead-lock on {}:{} persisted through 1 attempts",
                    server.host, server.port
                );
                assert!(text.starts_with(&want), "{text}");
                assert!(text.contains("BACKUP STAGE START"), "{text}");
            }
            other => panic!("expected the dead-lock error, got {other:?}"),
        }
        // Given up by the detector (the error above names its dead-lock),
        // not ended by the run's own 120 s limit: on a loaded machine
        // mariabackup may take a while to reach its BACKUP STAGE, so no
        // tighter bound.
        assert!(
            started.elapsed() < RUN_LIMIT,
            "{:?}",
            started.elapsed()
        );
    })
    .await;

    let _ = admin
        .execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await;
    for f in [&wrapper, &stream, &log_file] {
        let _ = host
            .exec(
                &Command::new("rm").arg("-f").arg(f),
                Duration::from_secs(30),
            )
            .await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
