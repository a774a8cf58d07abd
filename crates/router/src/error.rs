//! Errors of the router client.

use std::time::Duration;

/// A failed connection or statement. Messages name `host:port` and the
/// statement (secrets masked), never the login password.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The server did not complete the login in time.
    #[error("cannot connect to {address}: no answer within {timeout:?}")]
    ConnectTimeout {
        /// `host:port`.
        address: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The connection or login failed.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A statement did not finish in time.
    #[error("{address}: `{statement}` did not finish within {timeout:?}")]
    StatementTimeout {
        /// `host:port`.
        address: String,
        /// The statement, secrets masked.
        statement: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The router answered error 9004 `No DataSource of the type.`.
    #[error("{address}: `{statement}`: the router has no datasource of that type (error 9004)")]
    NoDatasourceOfType {
        /// `host:port`.
        address: String,
        /// The statement.
        statement: String,
    },
    /// A statement failed.
    #[error("{address}: `{statement}` failed: {source}")]
    Statement {
        /// `host:port`.
        address: String,
        /// The statement, secrets masked.
        statement: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A path that cannot be put in a quoted SQL string literal safely.
    #[error(
        "cannot ask the router to write to {path:?}: quotes, backslashes and control characters are not allowed in the path"
    )]
    InvalidPath {
        /// The path.
        path: String,
    },
}

impl RouterError {
    /// The MySQL error number, when the server answered with an error.
    pub fn server_error_number(&self) -> Option<u16> {
        let source = match self {
            RouterError::Connect { source, .. } | RouterError::Statement { source, .. } => source,
            RouterError::NoDatasourceOfType { .. } => return Some(crate::NO_DATASOURCE_OF_TYPE),
            _ => return None,
        };
        match source {
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|e| e.number()),
            _ => None,
        }
    }
}
