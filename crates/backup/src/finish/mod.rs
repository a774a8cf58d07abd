//! The cluster-level steps after the servers' streams, one module a step,
//! in the order the engine runs them: the global consistence point
//! ([`consistence`]), then at once the binlog copies ([`binlogs`]), the
//! base directories ([`bases`]) and the config copy ([`config`]); then the
//! manifest and the completeness check ([`manifest`]). `ok` is written by
//! the engine after all of them.

mod bases;
mod binlogs;
mod config;
mod consistence;
mod manifest;

pub(crate) use consistence::{MasterPoint, consistence_point, record_consistence};
pub(crate) use manifest::{check_complete, write_manifest};

use crate::error::BackupError;
use crate::run::Run;
use crate::server::ServerResult;
use crate::sql;
use router::Endpoint;
use stream::{Timings, timed};

/// The binlogs, the base directories (full backups) and the config: three
/// independent copies, run at once; their timings go into `t`.
pub(crate) async fn copy_binlogs_bases_and_config(
    run: &Run,
    points: &[MasterPoint],
    results: &[ServerResult],
    t: &mut Timings,
) -> Result<(), BackupError> {
    let binlogs = timed(binlogs::copy(run, points, results));
    let bases = async {
        let took = bases::copy(run, results).await?;
        config::copy(run).await?;
        Ok::<_, BackupError>(took)
    };
    let (((), binlogs_took), bases_took) = tokio::try_join!(binlogs, bases)?;
    t.record("binlogs", binlogs_took);
    if let Some(took) = bases_took {
        t.record("base directories", took);
    }
    Ok(())
}

fn bad_name(server: &str, e: impl std::fmt::Display) -> BackupError {
    BackupError::Binlogs {
        server: server.to_owned(),
        detail: e.to_string(),
    }
}

/// A connection to `server` with the router's login for it; `purpose`
/// goes into a failure's step (`connecting to normal_0_0 (listing its
/// binlogs)`).
pub(crate) async fn server_client(
    run: &Run,
    server: &str,
    purpose: &str,
) -> Result<router::Client, BackupError> {
    let s = run
        .facts
        .cluster
        .server(server)
        .ok_or_else(|| BackupError::Topology(format!("no server {server}")))?;
    let cred = run
        .facts
        .credentials
        .get(server)
        .ok_or_else(|| BackupError::Topology(format!("no MySQL login for {server}")))?;
    let ep = Endpoint::new(
        s.host.as_str(),
        s.port,
        cred.user.as_str(),
        cred.password.expose(),
    );
    sql::connect(&ep, &format!("{server} ({purpose})")).await
}
