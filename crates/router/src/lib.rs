//! A small async client for the DBScale router (and plain MySQL/MariaDB
//! servers), built on sqlx and restricted to the text protocol: the router
//! refuses prepared statements, so every statement goes through
//! [`sqlx::raw_sql`]. Result sets come back as [`topology::Row`]s with
//! every column read as bytes and turned into text (MariaDB `SHOW` columns
//! can be binary), ready for the `topology` parsers.
//!
//! ```no_run
//! use std::time::Duration;
//! use router::{Client, Endpoint};
//! use topology::{Cluster, ClusterOptions, parse_dbscale_conf};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Endpoint::new("127.0.0.10", 16310, "admin", "secret");
//! let mut router = Client::connect(&endpoint, Duration::from_secs(10)).await?;
//! // Runs the show statements and has the router write its config to a
//! // file on the router host.
//! let topo = router.fetch_topology(Some("/tmp/dbscale_tmp.conf")).await?;
//! let cluster = Cluster::from_router(&topo, &ClusterOptions::default())?;
//! // Reading the file back (over ssh, an agent, ...) is the caller's
//! // business; topology parses its text:
//! let text = std::fs::read_to_string("/tmp/dbscale_tmp.conf")?;
//! let credentials = parse_dbscale_conf(&text)?;
//! # let _ = (cluster, credentials);
//! # Ok(())
//! # }
//! ```
//!
//! Errors name `host:port` and the statement (with any password in it
//! masked), never the login password. sqlx's own statement logging is off;
//! statements are traced at debug level, masked.

mod client;
mod error;
mod redact;

pub use client::{Client, Endpoint, NO_DATASOURCE_OF_TYPE};
pub use error::RouterError;
pub use redact::redact_statement;
