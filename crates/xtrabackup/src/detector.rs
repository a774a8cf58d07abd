//! The processlist watcher over a SQL connection to the backed-up server.

use std::time::Duration;

use router::Endpoint;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, Row as _};
use topology::Row;

use crate::deadlock::{LockWait, LockWatch, PROCESSLIST_QUERY, stuck_lock_statements};
use crate::error::Error;

/// Watches one server's processlist for a backup lock statement waiting
/// longer than a threshold, and kills it. Implements [`LockWatch`] for
/// [`crate::retry_on_lock_deadlock`].
///
/// It talks sqlx (text protocol) directly rather than through
/// `router::Client`, whose futures are not `Send` in generic code: a
/// detector must be usable inside `tokio::spawn`.
pub struct LockDetector {
    conn: MySqlConnection,
    server: String,
    threshold: Duration,
    poll: Duration,
    user: Option<String>,
}

impl LockDetector {
    /// Connects to the backed-up server (a user allowed to see and kill
    /// the backup user's statements: `PROCESS` and `CONNECTION ADMIN`, or
    /// the backup user itself).
    pub async fn connect(
        endpoint: &Endpoint,
        threshold: Duration,
        connect_timeout: Duration,
    ) -> Result<LockDetector, Error> {
        let server = endpoint.address();
        let options = MySqlConnectOptions::new()
            .host(&endpoint.host)
            .port(endpoint.port)
            .username(&endpoint.user)
            .password(endpoint.password.expose())
            .disable_statement_logging();
        let step = "connect for dead-lock detection";
        let conn =
            match tokio::time::timeout(connect_timeout, MySqlConnection::connect_with(&options))
                .await
            {
                Err(_) => {
                    return Err(Error::NotFound {
                        host: server,
                        what: format!("{step}: no answer within {connect_timeout:?}"),
                    });
                }
                Ok(Err(source)) => {
                    return Err(Error::Sql {
                        server,
                        step: step.into(),
                        source,
                    });
                }
                Ok(Ok(conn)) => conn,
            };
        Ok(LockDetector {
            conn,
            server,
            threshold,
            poll: Duration::from_secs(1),
            user: None,
        })
    }

    /// Only statements of this user (the backup's login) are considered.
    pub fn only_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Polls this often (default 1 s).
    pub fn poll_every(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// One look at the processlist: the lock statements waiting too long.
    pub async fn check(&mut self) -> Result<Vec<LockWait>, Error> {
        // Executor on `&str`: the text protocol, and (unlike
        // `raw_sql(..).fetch_all(..)`) a future rustc can prove `Send`.
        let rows = (&mut self.conn)
            .fetch_all(PROCESSLIST_QUERY)
            .await
            .map_err(|source| self.sql_error("read the processlist", source))?;
        let rows: Vec<Row> = rows
            .iter()
            .map(to_row)
            .collect::<Result<_, _>>()
            .map_err(|source| self.sql_error("read the processlist", source))?;
        Ok(stuck_lock_statements(
            &rows,
            self.threshold,
            self.user.as_deref(),
        ))
    }

    /// `KILL QUERY` each statement (the tool then fails and exits). A
    /// statement that finished meanwhile (error 1094, unknown thread id)
    /// is not an error.
    pub async fn kill(&mut self, waits: &[LockWait]) -> Result<(), Error> {
        for w in waits {
            let sql = format!("KILL QUERY {}", w.id);
            match (&mut self.conn).execute(sql.as_str()).await {
                Ok(_) => {}
                // The statement finished meanwhile.
                Err(e) if e.to_string().contains("1094") => {}
                Err(source) => {
                    return Err(self.sql_error("kill the waiting lock statement", source));
                }
            }
        }
        Ok(())
    }

    fn sql_error(&self, step: &str, source: sqlx::Error) -> Error {
        Error::Sql {
            server: self.server.clone(),
            step: step.into(),
            source,
        }
    }
}

impl std::fmt::Debug for LockDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockDetector")
            .field("server", &self.server)
            .field("threshold", &self.threshold)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The processlist columns the filter reads, as text (bytes decoded
/// leniently: MariaDB may send them with a binary collation).
fn to_row(row: &MySqlRow) -> Result<Row, sqlx::Error> {
    let mut out = Row::new();
    for name in ["ID", "USER", "TIME", "INFO"] {
        let value: Option<Vec<u8>> = row.try_get_unchecked(name)?;
        out.push(
            name,
            value.map(|v| String::from_utf8_lossy(&v).into_owned()),
        );
    }
    Ok(out)
}

impl LockWatch for LockDetector {
    fn server(&self) -> &str {
        &self.server
    }

    async fn watch(&mut self) -> Result<Vec<LockWait>, Error> {
        loop {
            let waits = self.check().await?;
            if !waits.is_empty() {
                self.kill(&waits).await?;
                return Ok(waits);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}
