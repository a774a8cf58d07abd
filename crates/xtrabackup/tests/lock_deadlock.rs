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
use testkit::poll::Poll;
use xtrabackup::{
    BackupOptions, ClientDefaults, Error, FailureKind, Flavor, LockDetector, LockWatch,
    PipelineOutput, RetryError, WaitKind, ops, retry_on_lock_deadlock,
};

/// How long one mariabackup run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The detector as `dbbackup` sets it up (the backup login's statements
/// only), with a 2 s threshold polled every 300 ms.
async fn detector(sb: &Sandbox, server: &testkit::Server) -> LockDetector {
    LockDetector::connect(
        &endpoint(sb, server),
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .await
    .unwrap()
    .only_user(sb.var("MYSQL_USER"))
    .poll_every(Duration::from_millis(300))
}

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
        let mut detector = detector(&sb, &server).await;

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

/// The processlist state of connection `id` (empty once it runs nothing).
async fn state_of(admin: &mut Client, id: &str) -> String {
    let rows = admin
        .query(&format!(
            "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = {id} AND COMMAND = 'Query'"
        ))
        .await
        .unwrap();
    rows.first()
        .and_then(|r| r.column("STATE").flatten().map(str::to_owned))
        .unwrap_or_default()
}

/// MariaDB 10.11's own dead-lock, found by a switchover test: a `SET
/// GLOBAL gtid_slave_pos` run while the backup holds `BACKUP STAGE
/// BLOCK_COMMIT` waits for the backup lock holding the global variables
/// lock, and the backup's `SHOW VARIABLES` then waits for that lock where
/// no `KILL` reaches it. The backup's side is a session of the backup
/// user running mariabackup's statements, which holds it at that point
/// without depending on timing. The detector kills the `SET`, the
/// backup's statement answers, and the `SET`'s session is told it was
/// interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_global_deadlocked_with_the_backup_is_killed_and_the_backup_goes_on() {
    let Some(sb) = Sandbox::get() else { return };
    let _exclusive = sb.exclusive().await;
    // A master: `SET GLOBAL gtid_slave_pos` needs no replication running.
    // The `SET` is the one `testkit::switchover` runs on a former master
    // (setting the value it already has would not wait).
    let mut server = None;
    for s in sb.prod_servers() {
        let mut c = sql(&sb, &s).await;
        if c.query("SHOW ALL SLAVES STATUS").await.unwrap().is_empty() {
            server = Some(s);
            break;
        }
    }
    let server = server.expect("a production server that replicates from nobody");
    let mut admin = sql(&sb, &server).await;
    let mut backup = sql(&sb, &server).await;
    let mut switch = sql(&sb, &server).await;
    let switch_id = value(&mut switch, "SELECT CONNECTION_ID()").await;
    // Restored at the end if the `SET` went through after all.
    let slave_pos = value(&mut admin, "SELECT @@gtid_slave_pos").await;
    let backup_id = value(&mut backup, "SELECT CONNECTION_ID()").await;
    let mut detector = detector(&sb, &server).await;

    for stage in ["START", "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT"] {
        backup
            .execute(&format!("BACKUP STAGE {stage}"))
            .await
            .unwrap();
    }
    let set = tokio::spawn(async move {
        let r = switch
            .execute("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos")
            .await;
        (switch, r)
    });
    let outcome = catch_panic(async {
        Poll::within(Duration::from_secs(30))
            .wait_borrowing("the switch waiting for the backup lock", async || {
                state_of(&mut admin, &switch_id).await == "Waiting for backup lock"
            })
            .await;
        let show = tokio::spawn(async move {
            // mariabackup's own statement: the whole list (a `LIKE`
            // pattern such as 'gtid%' does not wait).
            let r = backup.query("SHOW VARIABLES").await;
            (backup, r)
        });
        Poll::within(Duration::from_secs(30))
            .wait_borrowing("the backup's SHOW VARIABLES waiting", async || {
                state_of(&mut admin, &backup_id).await == "Filling schema table"
            })
            .await;

        let killed = tokio::time::timeout(Duration::from_secs(60), detector.watch())
            .await
            .expect("the detector found nothing within 60 s")
            .unwrap();
        assert_eq!(killed.len(), 1, "{killed:?}");
        assert_eq!(killed[0].id.to_string(), switch_id, "{killed:?}");
        assert!(
            matches!(&killed[0].kind, WaitKind::SetGlobalCycle { blocked } if blocked.starts_with("SHOW VARIABLES")),
            "{killed:?}"
        );

        let (mut backup, rows) = tokio::time::timeout(Duration::from_secs(30), show)
            .await
            .expect("the backup's SHOW VARIABLES still waits after the kill")
            .unwrap();
        assert!(rows.unwrap().len() > 100);
        backup.execute("BACKUP STAGE END").await.unwrap();
        let (_, r) = tokio::time::timeout(Duration::from_secs(30), set)
            .await
            .unwrap()
            .unwrap();
        let e = r.expect_err("the SET GLOBAL was not interrupted");
        assert_eq!(e.server_error_number(), Some(1317), "{e}");
    })
    .await;
    // Whatever happened, leave no session of the cycle waiting: the
    // server's variables stay locked while the `SET` waits.
    for id in [&switch_id, &backup_id] {
        let _ = admin.execute(&format!("KILL {id}")).await;
    }
    if value(&mut admin, "SELECT @@gtid_slave_pos").await != slave_pos {
        admin
            .execute(&format!("SET GLOBAL gtid_slave_pos = '{slave_pos}'"))
            .await
            .unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
