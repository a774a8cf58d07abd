//! The scratch MariaDB a validation loads into: a new data directory
//! (`mariadb-install-db`), `mariadbd --no-defaults` on a socket in a 0700
//! directory, no TCP (`--skip-networking`: its root has no password, so no
//! one else may reach it), stopped and removed afterwards.

use super::Log;
use crate::error::LogicalError;
use crate::tool::{self, path_arg};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the server may take to start or stop.
const WAIT: Duration = Duration::from_secs(60);

/// A running scratch server; [`Server::stop`] ends it (dropping it kills it).
pub struct Server {
    // Dropped in this order: the server killed, then its directory removed.
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> LogicalError {
    let what = what.to_owned();
    let path = path.to_owned();
    move |source| LogicalError::Io { what, path, source }
}

impl Server {
    /// Creates and starts one under `parent`.
    pub async fn start(parent: &Path, log: &mut Log) -> Result<Server, LogicalError> {
        let dir = tempfile::Builder::new()
            .prefix("dbcv-")
            .tempdir_in(parent)
            .map_err(io("create the scratch directory", parent))?;
        let data = dir.path().join("data");
        // Its own tmpdir: two bootstraps sharing /tmp collide on the names
        // of their temporary tables (seen with two validations at once).
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).map_err(io("create the scratch tmpdir", &tmp))?;
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map_or_else(|| "root".to_owned(), |u| u.name);
        let install = vec![
            "--no-defaults".to_owned(),
            path_arg("--datadir=", &data),
            format!("--user={user}"),
            "--auth-root-authentication-method=normal".to_owned(),
            "--skip-test-db".to_owned(),
            path_arg("--tmpdir=", &tmp),
        ];
        let ran = tool::run("mariadb-install-db", &install, &[]).await?;
        if !ran.ok {
            log.line(&format!("mariadb-install-db {}:\n{}", ran.status, ran.tail));
            return Err(LogicalError::Tool {
                step: "creating the scratch server".into(),
                program: "mariadb-install-db".into(),
                status: ran.status,
                tail: ran.tail,
            });
        }
        let socket = dir.path().join("s.sock");
        let error_log = dir.path().join("error.log");
        let child = tokio::process::Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(path_arg("--datadir=", &data))
            .arg(path_arg("--socket=", &socket))
            .arg(path_arg("--pid-file=", &dir.path().join("pid")))
            .arg(path_arg("--log-error=", &error_log))
            .arg(path_arg("--tmpdir=", &tmp))
            .arg("--skip-networking")
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=64M")
            .arg(format!("--user={user}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| LogicalError::Spawn {
                program: "mariadbd".into(),
                source,
            })?;
        let mut server = Server { child, dir };
        let deadline = Instant::now() + WAIT;
        loop {
            if server.connect().await.is_ok() {
                break;
            }
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let tail = std::fs::read_to_string(&error_log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                return Err(LogicalError::Tool {
                    step: "starting the scratch server".into(),
                    program: "mariadbd".into(),
                    status: exited.map_or_else(
                        || format!("not answering after {} s", WAIT.as_secs()),
                        |s| s.to_string(),
                    ),
                    tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        log.line(&format!(
            "scratch server up on {}",
            server.socket().display()
        ));
        Ok(server)
    }

    /// Its socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("s.sock")
    }

    async fn connect(&self) -> Result<MySqlConnection, sqlx::Error> {
        MySqlConnectOptions::new()
            .socket(self.socket())
            .username("root")
            .disable_statement_logging()
            .connect()
            .await
    }

    /// Does `db.table` exist, and has it a row: `None` absent,
    /// `Some(has rows)` present.
    pub async fn table_rows(&self, db: &str, table: &str) -> Result<Option<bool>, sqlx::Error> {
        let mut c = self.connect().await?;
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        )
        .bind(db)
        .bind(table)
        .fetch_optional(&mut c)
        .await?;
        let Some((kind,)) = found else {
            return Ok(None);
        };
        if kind == "VIEW" {
            return Ok(Some(true));
        }
        let q = |s: &str| format!("`{}`", s.replace('`', "``"));
        let row: Option<(i32,)> =
            sqlx::query_as(&format!("SELECT 1 FROM {}.{} LIMIT 1", q(db), q(table)))
                .fetch_optional(&mut c)
                .await?;
        let _ = c.close().await;
        Ok(Some(row.is_some()))
    }

    /// Shuts it down (SQL `SHUTDOWN`, then a kill past the deadline); the
    /// directory goes with it.
    pub async fn stop(mut self) {
        if let Ok(mut c) = self.connect().await {
            let _ = sqlx::raw_sql("SHUTDOWN").execute(&mut c).await;
        }
        if tokio::time::timeout(WAIT, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

impl Drop for Server {
    /// A server dropped running (a run stopped by a signal) is killed and,
    /// for at most 2 s, waited for before its directory is removed, so no
    /// file it was still creating outlives the removal.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.start_kill();
            let deadline = Instant::now() + Duration::from_secs(2);
            while !matches!(self.child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
