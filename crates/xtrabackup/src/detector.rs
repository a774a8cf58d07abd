//! The processlist watcher over a SQL connection to the backed-up server.

use std::time::Duration;

use router::{Client, Endpoint, RouterError};

use crate::deadlock::{LockWait, PROCESSLIST_QUERY, stuck_statements};
use crate::error::Error;
use crate::retry::LockWatch;

/// MySQL's `Unknown thread id`: the statement to kill finished meanwhile.
const UNKNOWN_THREAD: u16 = 1094;

/// Watches one server's processlist for a backup lock statement waiting
/// longer than a threshold, or a `SET GLOBAL` dead-locked with the
/// backup's own statement, and kills it. Implements [`LockWatch`] for
/// [`crate::retry_on_lock_deadlock`].
pub struct LockDetector {
    client: Client,
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
        let client = Client::connect(endpoint, connect_timeout)
            .await
            .map_err(|source| {
                sql_error(
                    endpoint.address(),
                    "connect for dead-lock detection",
                    source,
                )
            })?;
        Ok(LockDetector {
            client,
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

    /// One look at the processlist: the statements to kill
    /// ([`stuck_statements`]).
    pub async fn check(&mut self) -> Result<Vec<LockWait>, Error> {
        let rows = self
            .client
            .query(PROCESSLIST_QUERY)
            .await
            .map_err(|source| self.error("read the processlist", source))?;
        Ok(stuck_statements(
            &rows,
            self.threshold,
            self.user.as_deref(),
        ))
    }

    /// `KILL QUERY` each statement (the backup's own lock statement: the
    /// tool then fails and exits; a dead-locked `SET GLOBAL`: the backup
    /// goes on). A
    /// statement that finished meanwhile (error 1094, unknown thread id)
    /// is not an error.
    pub async fn kill(&mut self, waits: &[LockWait]) -> Result<(), Error> {
        for w in waits {
            match self.client.execute(&format!("KILL QUERY {}", w.id)).await {
                Ok(_) => {}
                Err(e) if e.server_error_number() == Some(UNKNOWN_THREAD) => {}
                Err(source) => {
                    return Err(self.error("kill the waiting lock statement", source));
                }
            }
        }
        Ok(())
    }

    fn error(&self, step: &str, source: RouterError) -> Error {
        sql_error(self.client.address().to_owned(), step, source)
    }
}

fn sql_error(server: String, step: &str, source: RouterError) -> Error {
    Error::Sql {
        server,
        step: step.into(),
        source: Box::new(source),
    }
}

impl std::fmt::Debug for LockDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockDetector")
            .field("server", &self.client.address())
            .field("threshold", &self.threshold)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl LockWatch for LockDetector {
    fn server(&self) -> &str {
        self.client.address()
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
