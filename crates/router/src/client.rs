//! The connection and its statements.

use std::fmt;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{Column as _, ConnectOptions as _, Connection as _, Executor as _, Row as _};
use topology::{
    Password, RouterTopology, Row, SHOW_DATASERVERS, SHOW_MGR, SHOW_REPLICATION, SHOW_SERVER,
    ShowOutcome,
};

use crate::{RouterError, redact_statement};

/// The router's error number for `No DataSource of the type.`.
pub const NO_DATASOURCE_OF_TYPE: u16 = 9004;

/// Where to connect, and as whom. `Debug` masks the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Login password.
    pub password: Password,
}

impl Endpoint {
    /// An endpoint.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Endpoint {
            host: host.into(),
            port,
            user: user.into(),
            password: Password::new(password),
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// An open connection to the router or a MySQL/MariaDB server.
pub struct Client {
    conn: MySqlConnection,
    address: String,
    statement_timeout: Option<Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects and logs in, giving up after `timeout`.
    pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Client, RouterError> {
        let address = endpoint.address();
        let options = MySqlConnectOptions::new()
            .host(&endpoint.host)
            .port(endpoint.port)
            .username(&endpoint.user)
            .password(endpoint.password.expose())
            .disable_statement_logging();
        tracing::debug!(%address, user = %endpoint.user, "connecting");
        let conn =
            match tokio::time::timeout(timeout, MySqlConnection::connect_with(&options)).await {
                Err(_) => return Err(RouterError::ConnectTimeout { address, timeout }),
                Ok(Err(source)) => return Err(RouterError::Connect { address, source }),
                Ok(Ok(conn)) => conn,
            };
        Ok(Client {
            conn,
            address,
            statement_timeout: None,
        })
    }

    /// `host:port` of the server.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Limits how long each statement may take (`None`, the default: no
    /// limit). `dbscale get global consistence point` locks every master,
    /// so choose generously.
    pub fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.statement_timeout = timeout;
    }

    /// Awaits `statement` (running `sql`) under the statement timeout,
    /// naming the address and the statement (secrets masked) on failure.
    /// It takes the future rather than a closure over the connection: a
    /// closure's future cannot be proven `Send` in generic code (sqlx's
    /// `Executor` lifetimes), and a caller such as a lock watcher inside
    /// `tokio::spawn` needs it to be.
    async fn run<T>(
        address: &str,
        statement_timeout: Option<Duration>,
        sql: &str,
        statement: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, RouterError> {
        tracing::debug!(%address, statement = %redact_statement(sql), "statement");
        let result = match statement_timeout {
            None => statement.await,
            Some(timeout) => match tokio::time::timeout(timeout, statement).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(RouterError::StatementTimeout {
                        address: address.to_owned(),
                        statement: redact_statement(sql),
                        timeout,
                    });
                }
            },
        };
        result.map_err(|source| {
            let is_9004 = matches!(&source, sqlx::Error::Database(db)
                if db.try_downcast_ref::<MySqlDatabaseError>()
                    .is_some_and(|e| e.number() == NO_DATASOURCE_OF_TYPE));
            if is_9004 {
                RouterError::NoDatasourceOfType {
                    address: address.to_owned(),
                    statement: redact_statement(sql),
                }
            } else {
                RouterError::Statement {
                    address: address.to_owned(),
                    statement: redact_statement(sql),
                    source,
                }
            }
        })
    }

    /// Runs one statement and returns its rows (text protocol: a statement
    /// without arguments goes as `COM_QUERY`; every value as text, invalid
    /// UTF-8 replaced).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Row>, RouterError> {
        let conn = &mut self.conn;
        let statement = async move {
            let rows = conn.fetch_all(sql).await?;
            rows.iter().map(to_row).collect()
        };
        Self::run(&self.address, self.statement_timeout, sql, statement).await
    }

    /// Runs one statement that returns no rows; gives the affected-row count.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, RouterError> {
        let conn = &mut self.conn;
        let statement = async move { Ok(conn.execute(sql).await?.rows_affected()) };
        Self::run(&self.address, self.statement_timeout, sql, statement).await
    }

    /// Runs a `dbscale show datasource type=...` statement, turning error
    /// 9004 into [`ShowOutcome::NoDatasourceOfType`].
    pub async fn show(&mut self, sql: &str) -> Result<ShowOutcome, RouterError> {
        match self.query(sql).await {
            Ok(rows) => Ok(ShowOutcome::Rows(rows)),
            Err(RouterError::NoDatasourceOfType { .. }) => Ok(ShowOutcome::NoDatasourceOfType),
            Err(e) => Err(e),
        }
    }

    /// `dbscale flush all config to file '<path>'`: the router writes its
    /// whole configuration, credentials included, to `path` on the router
    /// host. Read it back however the router host is reached, then
    /// [`topology::parse_dbscale_conf`].
    pub async fn flush_config_to_file(&mut self, path: &str) -> Result<(), RouterError> {
        if path.is_empty()
            || path
                .chars()
                .any(|c| c == '\'' || c == '\\' || c.is_control())
        {
            return Err(RouterError::InvalidPath {
                path: path.to_owned(),
            });
        }
        self.execute(&format!("dbscale flush all config to file '{path}'"))
            .await
            .map(drop)
    }

    /// Everything [`topology::Cluster::from_router`] needs: the
    /// replication, MGR and server datasources and the dataservers; then,
    /// with `flush_config_to`, has the router write its configuration there.
    pub async fn fetch_topology(
        &mut self,
        flush_config_to: Option<&str>,
    ) -> Result<RouterTopology, RouterError> {
        let topology = RouterTopology {
            replication: self.show(SHOW_REPLICATION).await?,
            mgr: self.show(SHOW_MGR).await?,
            server: self.show(SHOW_SERVER).await?,
            dataservers: self.query(SHOW_DATASERVERS).await?,
        };
        if let Some(path) = flush_config_to {
            self.flush_config_to_file(path).await?;
        }
        Ok(topology)
    }

    /// Closes the connection politely.
    pub async fn close(self) -> Result<(), RouterError> {
        let address = self.address;
        self.conn
            .close()
            .await
            .map_err(|source| RouterError::Statement {
                address,
                statement: "COM_QUIT".to_owned(),
                source,
            })
    }
}

fn to_row(row: &MySqlRow) -> Result<Row, sqlx::Error> {
    row.columns()
        .iter()
        .map(|column| {
            let bytes: Option<Vec<u8>> = row.try_get_unchecked(column.ordinal())?;
            Ok((
                column.name().to_owned(),
                bytes.map(|b| String::from_utf8_lossy(&b).into_owned()),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_debug_hides_the_password() {
        let e = Endpoint::new("h", 1, "u", "hunter2");
        assert!(!format!("{e:?}").contains("hunter2"));
        assert_eq!(e.address(), "h:1");
    }

    #[tokio::test]
    async fn connect_timeout_names_the_address() {
        // accepts TCP connections (kernel backlog) but never speaks MySQL
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Endpoint::new("127.0.0.1", port, "u", "secret-pw");
        let err = Client::connect(&endpoint, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, RouterError::ConnectTimeout { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains("secret-pw"));
        assert_eq!(err.server_error_number(), None);
        drop(listener);
    }

    #[tokio::test]
    async fn refused_connection_names_the_address() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let endpoint = Endpoint::new("127.0.0.1", port, "u", "secret-pw");
        let err = Client::connect(&endpoint, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, RouterError::Connect { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}: "))
        );
        assert!(!err.to_string().contains("secret-pw"));
    }
}
