//! The workload: a table of the test's own on every production master and
//! a background writer inserting a row into each of them every ~10 ms,
//! while backups run and between them. The database is dropped on drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use router::Client;
use testkit::sql::column;
use testkit::{Sandbox, Server};

/// Connects to a sandbox server as the backend (all privileges) user.
pub async fn connect(sb: &Sandbox, server: &Server) -> Client {
    testkit::sql::connect(&sb.mysql(server)).await
}

/// Where a master's binlog stood before the test's first statement.
#[derive(Debug, Clone)]
pub struct Start {
    /// The master.
    pub master: Server,
    /// Its binlog file then.
    pub file: String,
    /// Its position then.
    pub pos: u64,
}

/// `<db>.t (id AUTO_INCREMENT, v, ts DATETIME(6) DEFAULT NOW(6))` on every
/// production master.
pub struct Workload {
    /// The database.
    pub db: String,
    /// Per master (one per datasource), where its binlog stood before the
    /// database was created.
    pub starts: Vec<Start>,
    sb: Sandbox,
}

impl Workload {
    /// Creates the table on every production master.
    pub async fn new(sb: &Sandbox) -> Workload {
        let db = super::unique("rec_e2e");
        let mut starts = Vec::new();
        for master in masters(sb) {
            let mut c = connect(sb, &master).await;
            let file = column(&mut c, "SHOW MASTER STATUS", "File").await;
            let pos = column(&mut c, "SHOW MASTER STATUS", "Position")
                .await
                .parse()
                .unwrap();
            for q in [
                format!("CREATE DATABASE {db}"),
                format!(
                    "CREATE TABLE {db}.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL, \
                     ts DATETIME(6) NOT NULL DEFAULT NOW(6)) ENGINE=InnoDB"
                ),
            ] {
                c.execute(&q)
                    .await
                    .unwrap_or_else(|e| panic!("{q} on {}: {e}", master.name));
            }
            let _ = c.close().await;
            starts.push(Start { master, file, pos });
        }
        assert!(starts.len() >= 2, "the sandbox has fewer than 2 masters");
        Workload {
            db,
            starts,
            sb: sb.clone(),
        }
    }

    /// The master of `datasource`.
    pub fn start_of(&self, datasource: &str) -> &Start {
        self.starts
            .iter()
            .find(|s| s.master.datasource == datasource)
            .unwrap_or_else(|| panic!("no master of {datasource}"))
    }

    /// Starts the background writer on a thread of its own (its own
    /// runtime: it must keep writing while the test awaits a backup).
    pub async fn writer(&self) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let rows = Arc::new(AtomicU64::new(0));
        let (sb, db) = (self.sb.clone(), self.db.clone());
        let masters: Vec<Server> = self.starts.iter().map(|s| s.master.clone()).collect();
        let (s, r) = (stop.clone(), rows.clone());
        let handle = super::on_own_thread(move || write_until(sb, masters, db, s, r));
        // Started means writing: the first rows are in before the test goes on.
        let (r, h) = (&rows, &handle);
        testkit::poll::Poll::within(Duration::from_secs(30))
            .every(Duration::from_millis(20))
            .wait_async("the writer's first rows", || async move {
                r.load(Ordering::Relaxed) >= 2 || h.is_finished()
            })
            .await;
        Writer {
            stop,
            rows,
            handle: Some(handle),
        }
    }

    /// The ids of `<db>.t` on a master whose `ts` is before `time` (local
    /// time, `YYYY-MM-DD HH:MM:SS`): the rows committed before that second.
    pub async fn ids_before(&self, master: &Server, time: &str) -> Vec<u64> {
        let mut c = connect(&self.sb, master).await;
        let q = format!(
            "SELECT id FROM {}.t WHERE ts < '{time}' ORDER BY id",
            self.db
        );
        let rows = c.query(&q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        let _ = c.close().await;
        rows.iter()
            .map(|r| r.column("id").flatten().unwrap().parse().unwrap())
            .collect()
    }

    /// Evaluates a scalar SQL expression on the first master (date arithmetic).
    pub async fn eval(&self, expr: &str) -> String {
        let mut c = connect(&self.sb, &self.starts[0].master).await;
        let v = column(&mut c, &format!("SELECT {expr} AS v"), "v").await;
        let _ = c.close().await;
        v
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        // Drop may run while a panic unwinds inside an async test: do the
        // SQL on a thread with its own runtime.
        let (sb, db) = (self.sb.clone(), self.db.clone());
        let masters: Vec<Server> = self.starts.iter().map(|s| s.master.clone()).collect();
        let done = super::on_own_thread(move || async move {
            for m in &masters {
                let mut c = connect(&sb, m).await;
                let _ = c.execute(&format!("DROP DATABASE IF EXISTS {db}")).await;
                let _ = c.close().await;
            }
        })
        .join();
        if done.is_err() {
            eprintln!("could not drop the test database {}", self.db);
        }
    }
}

/// Inserts a row into every master every ~10 ms until `stop`.
async fn write_until(
    sb: Sandbox,
    masters: Vec<Server>,
    db: String,
    stop: Arc<AtomicBool>,
    rows: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut clients = Vec::new();
    for m in &masters {
        clients.push((m.name.clone(), connect(&sb, m).await));
    }
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        for (name, c) in &mut clients {
            let q = format!("INSERT INTO {db}.t (v) VALUES ('{name}-{n}')");
            c.execute(&q)
                .await
                .map_err(|e| format!("{q} on {name}: {e}"))?;
            rows.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (_, c) in clients {
        let _ = c.close().await;
    }
    Ok(())
}

/// The production masters (one per datasource), in sandbox order.
pub fn masters(sb: &Sandbox) -> Vec<Server> {
    sb.prod_servers()
        .into_iter()
        .filter(|s| s.initial_role == "master")
        .collect()
}

/// The background writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    rows: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Writer {
    /// Rows inserted so far (all masters).
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Stops the writer; panics if an insert failed. Returns the rows written.
    pub async fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.handle.take().unwrap();
        let result = tokio::task::spawn_blocking(move || handle.join())
            .await
            .unwrap();
        result.unwrap().unwrap();
        self.rows.load(Ordering::Relaxed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A test that panicked before stop(): the thread must not outlive it.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
