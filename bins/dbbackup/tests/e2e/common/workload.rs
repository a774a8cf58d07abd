//! A test database on each production master (`<db>.t`), rows written
//! before (never during) a backup run, replicas waited for, and the
//! database dropped on drop whatever happened.

use std::time::Duration;

use router::Client;
use testkit::{Sandbox, Server};

/// How long replicas get to catch up.
const CATCH_UP: Duration = Duration::from_secs(60);

/// Connects to a sandbox server as the backend (all privileges) user.
pub async fn connect(sb: &Sandbox, server: &Server) -> Client {
    testkit::sql::connect(&sb.mysql(server)).await
}

/// The first value of the first row of `q` on `server`.
pub async fn value(sb: &Sandbox, server: &Server, q: &str) -> String {
    testkit::sql::value(&sb.mysql(server), q).await
}

/// Runs one statement on `server`.
pub async fn execute(sb: &Sandbox, server: &Server, q: &str) {
    testkit::sql::execute(&sb.mysql(server), q).await;
}

/// The test's table on every production master.
pub struct Workload {
    /// The database (`e2e_<pid>_<nanos>`).
    pub db: String,
    /// The production masters (one per datasource), in sandbox order.
    pub masters: Vec<Server>,
    sb: Sandbox,
    next: u64,
}

impl Workload {
    /// Creates `<db>.t` on every production master.
    pub async fn new(sb: &Sandbox) -> Workload {
        let masters: Vec<Server> = sb
            .prod_servers()
            .into_iter()
            .filter(|s| s.initial_role == "master")
            .collect();
        assert!(masters.len() >= 2, "the sandbox has fewer than 2 masters");
        let w = Workload {
            db: super::unique("e2e"),
            masters,
            sb: sb.clone(),
            next: 0,
        };
        for m in &w.masters {
            execute(sb, m, &format!("CREATE DATABASE {}", w.db)).await;
            execute(
                sb,
                m,
                &format!(
                    "CREATE TABLE {}.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), ts DATETIME(6)) ENGINE=InnoDB",
                    w.db
                ),
            )
            .await;
        }
        w
    }

    /// Inserts `n` rows on every master (one transaction per row, so the
    /// binlog holds one GTID per row), values tagged with `tag`.
    pub async fn insert(&mut self, n: usize, tag: &str) {
        for m in &self.masters {
            let mut c = connect(&self.sb, m).await;
            for _ in 0..n {
                self.next += 1;
                let q = format!(
                    "INSERT INTO {}.t (v, ts) VALUES ('{tag}-{}-{}', NOW(6))",
                    self.db, m.name, self.next
                );
                c.execute(&q).await.unwrap();
            }
            let _ = c.close().await;
        }
    }

    /// `(id, v)` of every row of `<db>.t` on `server`, by id.
    pub async fn rows_on(&self, server: &Server) -> Vec<(String, String)> {
        let mut c = connect(&self.sb, server).await;
        let rows = table_rows(&mut c, &self.db).await;
        let _ = c.close().await;
        rows
    }

    /// Waits (bounded) until every production replica has applied what
    /// its master has binlogged, except those named in `except`.
    pub async fn wait_replicas(&self, except: &[&str]) {
        for m in &self.masters {
            let pos = value(&self.sb, m, "SELECT @@gtid_binlog_pos").await;
            for r in self.sb.prod_servers().iter().filter(|s| {
                s.datasource == m.datasource && s.name != m.name && !except.contains(&&*s.name)
            }) {
                let got = value(
                    &self.sb,
                    r,
                    &format!("SELECT MASTER_GTID_WAIT('{pos}', {})", CATCH_UP.as_secs()),
                )
                .await;
                assert_eq!(got, "0", "{} did not reach {pos} of {}", r.name, m.name);
            }
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        // Drop may run while a panic unwinds inside an async test: do the
        // SQL on a thread with its own runtime.
        let (sb, db, masters) = (self.sb.clone(), self.db.clone(), self.masters.clone());
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

/// `(id, v)` of every row of `<db>.t`, by id.
pub async fn table_rows(c: &mut Client, db: &str) -> Vec<(String, String)> {
    let q = format!("SELECT id, v FROM {db}.t ORDER BY id");
    c.query(&q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .iter()
        .map(|r| {
            (
                r.column("id").flatten().unwrap_or_default().to_owned(),
                r.column("v").flatten().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
