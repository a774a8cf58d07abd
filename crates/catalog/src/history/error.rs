//! The catalog's one error type: each variant names the catalog server and
//! the step, never the password.

/// What can go wrong with the catalog database.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The catalog server could not be reached or refused the login.
    #[error("cannot connect to the catalog {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The catalog server did not answer in time.
    #[error("the catalog {address} did not answer within {secs} s")]
    Timeout {
        /// `host:port`.
        address: String,
        /// The limit.
        secs: u64,
    },
    /// The migrations creating or upgrading `catalogdb` failed.
    #[error("cannot create or upgrade the catalog database {database} on {address}: {source}")]
    Migrate {
        /// `host:port`.
        address: String,
        /// The database.
        database: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed.
    #[error("catalog {address}: {step} failed: {source}")]
    Statement {
        /// `host:port`.
        address: String,
        /// What was being done (`insert user_backup row`, ...).
        step: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The database name is not a plain identifier.
    #[error("catalog database name {0:?} is not a plain identifier (letters, digits, _ and $)")]
    BadDatabaseName(String),
}
