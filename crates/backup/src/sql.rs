//! Small SQL helpers over [`router::Client`] (text protocol: it works
//! against the router and against plain servers).

use crate::error::BackupError;
use router::{Client, Endpoint};
use std::time::Duration;
use topology::Row;

/// How long a connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A column's text (`None` for NULL or a missing column).
pub fn col<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.column(name).flatten()
}

/// Connects, naming the server in the error.
pub async fn connect(endpoint: &Endpoint, what: &str) -> Result<Client, BackupError> {
    Client::connect(endpoint, CONNECT_TIMEOUT)
        .await
        .map_err(|source| BackupError::Router {
            address: endpoint.address(),
            step: format!("connecting to {what}"),
            source: Box::new(source),
        })
}

/// Runs a query, naming the server and statement in the error.
pub async fn query(client: &mut Client, sql: &str) -> Result<Vec<Row>, BackupError> {
    client
        .query(sql)
        .await
        .map_err(|source| BackupError::Router {
            address: client.address().to_owned(),
            step: format!("running {sql:?}"),
            source: Box::new(source),
        })
}

/// The first row's first value of a one-value query.
pub async fn scalar(client: &mut Client, sql: &str, column: &str) -> Result<String, BackupError> {
    let rows = query(client, sql).await?;
    rows.first()
        .and_then(|r| col(r, column))
        .map(str::to_owned)
        .ok_or_else(|| {
            BackupError::Topology(format!(
                "{}: {sql:?} returned no {column}",
                client.address()
            ))
        })
}
