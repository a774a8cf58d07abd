//! The task table on a sandbox master: migrations idempotent, the
//! conditional state changes, and two workers racing for one task.

use catalog::tasks::{Ending, Filter, NewTask, Status, TaskDb, Worker};
use std::sync::Arc;
use std::time::Duration;

fn master() -> Option<testkit::Endpoint> {
    let Some(sb) = testkit::Sandbox::get() else {
        assert!(
            std::env::var_os("SANDBOX_REQUIRED").is_none(),
            "SANDBOX_REQUIRED is set but no sandbox is up"
        );
        eprintln!("no sandbox: skipped");
        return None;
    };
    let server = sb
        .prod_servers()
        .into_iter()
        .find(|s| s.initial_role == "master")
        .expect("a master");
    Some(sb.mysql(&server))
}

async fn connect(ep: &testkit::Endpoint) -> TaskDb {
    TaskDb::connect(
        &ep.host,
        ep.port,
        &ep.user,
        &ep.password,
        Duration::from_secs(10),
    )
    .await
    .expect("connect to the master")
}

/// Removes the rows of one backup id, even when the test fails.
struct Rows {
    ep: testkit::Endpoint,
    backup_id: String,
}

impl Drop for Rows {
    fn drop(&mut self) {
        let (ep, id) = (self.ep.clone(), self.backup_id.clone());
        let _ = testkit::on_own_thread(move || async move {
            use sqlx::{ConnectOptions as _, Connection as _};
            let opts = sqlx::mysql::MySqlConnectOptions::new()
                .host(&ep.host)
                .port(ep.port)
                .username(&ep.user)
                .password(&ep.password);
            if let Ok(mut c) = opts.connect().await {
                for t in ["global_backup", "global_backup_finish"] {
                    let _ = sqlx::query(&format!(
                        "DELETE FROM infodba_schema.{t} WHERE BackupId = ?"
                    ))
                    .bind(&id)
                    .execute(&mut c)
                    .await;
                }
                let _ = c.close().await;
            }
        })
        .join();
    }
}

fn task(backup_id: &str, server: &str) -> NewTask {
    NewTask {
        backup_id: backup_id.into(),
        host: "127.0.0.99".into(),
        port: 16315,
        server_name: server.into(),
        datasource: "normal_0".into(),
        backup_name: "UTC20261204000000.000-full".into(),
        plan: "{}".into(),
    }
}

fn worker(pid: u32) -> Worker {
    Worker {
        host: "127.0.0.99".into(),
        pid,
        pid_start: 1000 + u64::from(pid),
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_state_changes_are_conditional() {
    let Some(ep) = master() else { return };
    let _lock = testkit::serial().await;
    let id = testkit::unique("tasks");
    let _rows = Rows {
        ep: ep.clone(),
        backup_id: id.clone(),
    };
    let mut db = connect(&ep).await;
    db.migrate().await.expect("first migration");
    db.migrate()
        .await
        .expect("second migration changes nothing");
    db.insert(&[task(&id, "a"), task(&id, "b")]).await.unwrap();
    let filter = Filter {
        backup_id: Some(id.clone()),
        ..Filter::default()
    };
    let rows = db.list(&filter).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|t| t.status == Status::Init && t.task_pid.is_none())
    );
    let (a, b) = (rows[0].id, rows[1].id);

    let (w1, w2) = (worker(11), worker(12));
    assert!(db.take(a, &w1).await.unwrap(), "init -> running");
    assert!(
        !db.take(a, &w2).await.unwrap(),
        "a running task is not taken twice"
    );
    assert!(
        !db.end(a, &w2, &Ending::Success("{}".into())).await.unwrap(),
        "only its worker ends it"
    );
    assert!(
        db.end(a, &w1, &Ending::Success("{\"lsn\":1}".into()))
            .await
            .unwrap()
    );
    let got = db.get(a).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.result.as_deref()),
        (Status::Success, Some("{\"lsn\":1}"))
    );
    assert_eq!(got.worker(), Some(w1.clone()));
    assert!(!db.fail(&got, "late").await.unwrap(), "success is final");

    assert!(db.take(b, &w1).await.unwrap());
    assert_eq!(
        db.quit(&id).await.unwrap(),
        1,
        "only the running task is quit"
    );
    assert!(
        !db.end(b, &w1, &Ending::Failed("killed".into()))
            .await
            .unwrap(),
        "a quit is never overwritten"
    );
    let running = db.get(b).await.unwrap().unwrap();
    assert_eq!(running.status, Status::Quit);
    assert!(!db.fail(&running, "no pid").await.unwrap());
    assert!(db.note_quit(b, "killed pid 11").await.unwrap());
    assert!(!db.note_quit(b, "again").await.unwrap(), "noted once");

    // Only a still-running task with the pid seen is failed.
    let c_id = format!("{id}c");
    let _rows_c = Rows {
        ep: ep.clone(),
        backup_id: c_id.clone(),
    };
    db.insert(&[task(&c_id, "c")]).await.unwrap();
    let c = db
        .list(&Filter {
            backup_id: Some(c_id.clone()),
            ..Filter::default()
        })
        .await
        .unwrap()[0]
        .clone();
    assert!(db.take(c.id, &w2).await.unwrap());
    assert!(
        !db.fail(&c, "seen as init").await.unwrap(),
        "it moved on since it was read"
    );
    let c = db.get(c.id).await.unwrap().unwrap();
    assert!(db.fail(&c, "failed: no pid").await.unwrap());
    let c = db.get(c.id).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.reason.as_deref()),
        (Status::Failed, Some("failed: no pid"))
    );

    assert!(db.claim_finish(&id, &w1).await.unwrap());
    assert!(
        !db.claim_finish(&id, &w2).await.unwrap(),
        "the finish is claimed once"
    );
    let running = db.running_finishes().await.unwrap();
    assert!(running.contains(&(id.clone(), w1.clone())), "{running:?}");
    assert!(!db.end_finish(&id, &w2, None).await.unwrap());
    assert!(db.end_finish(&id, &w1, None).await.unwrap());
    assert_eq!(
        db.finish_claim(&id).await.unwrap().map(|c| c.status),
        Some("success".into())
    );
    assert!(
        !db.fail_finish(&id, &w1, "late").await.unwrap(),
        "an ended finish stays"
    );
    // A claim whose claimer is gone is failed, by its claimer's identity only.
    assert!(db.claim_finish(&c_id, &w2).await.unwrap());
    assert!(!db.fail_finish(&c_id, &w1, "failed: no pid").await.unwrap());
    assert!(db.fail_finish(&c_id, &w2, "failed: no pid").await.unwrap());
    let claim = db.finish_claim(&c_id).await.unwrap().unwrap();
    assert_eq!(
        (claim.status.as_str(), claim.reason.as_deref()),
        ("failed", Some("failed: no pid"))
    );
    db.close().await;
}

#[tokio::test]
async fn two_workers_racing_for_each_task_take_it_once() {
    let Some(ep) = master() else { return };
    let _lock = testkit::serial().await;
    let id = testkit::unique("race");
    let _rows = Rows {
        ep: ep.clone(),
        backup_id: id.clone(),
    };
    let mut db = connect(&ep).await;
    db.migrate().await.unwrap();
    let rounds = 20;
    let tasks: Vec<NewTask> = (0..rounds).map(|n| task(&id, &format!("s{n}"))).collect();
    db.insert(&tasks).await.unwrap();
    let ids: Vec<u64> = db
        .list(&Filter {
            backup_id: Some(id.clone()),
            ..Filter::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids.len(), rounds);
    let mut racers = Vec::new();
    for w in [worker(21), worker(22)] {
        racers.push((connect(&ep).await, w));
    }
    let mut taken = [0usize; 2];
    for task_id in ids {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut joins = Vec::new();
        for (mut db, w) in racers.drain(..) {
            let barrier = Arc::clone(&barrier);
            joins.push(tokio::spawn(async move {
                barrier.wait().await;
                let took = db.take(task_id, &w).await.expect("take");
                (db, w, took)
            }));
        }
        let mut winners = 0;
        for (n, j) in joins.into_iter().enumerate() {
            let (db, w, took) = j.await.unwrap();
            if took {
                winners += 1;
                taken[n] += 1;
            }
            racers.push((db, w));
        }
        assert_eq!(winners, 1, "task {task_id} was taken {winners} times");
        let t = db.get(task_id).await.unwrap().unwrap();
        assert_eq!(t.status, Status::Running);
    }
    assert_eq!(taken.iter().sum::<usize>(), rounds);
    for (d, _) in racers {
        d.close().await;
    }
    db.close().await;
}
