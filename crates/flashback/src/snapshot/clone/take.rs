//! The CLONE snapshot, run: the donor's plugin, a temporary instance on
//! the receiver (its option file written from what the receiving server
//! reports, `--initialize-insecure`, started as the MariaDB path starts its
//! own), `CLONE INSTANCE FROM` the donor, the clone judged by
//! `performance_schema.clone_status` (a bounded poll; the instance started
//! again when it stopped itself at the end of the clone, having no
//! supervisor to restart it), then its GTIDs checked against the donor's.

use super::config::{self, Place, ServerReport};
use super::status::{CLONE_STATUS, CloneState, CloneStatus};
use super::{PLUGIN_STATUS, donor_setup, joiner_clone};
use crate::snapshot::{Bounds, Donor, Instance, Receiver, SnapshotError, make_dir};
use binlog::gtid::GtidFlavor;
use remote::Command;
use router::{Client, Endpoint, RouterError};
use std::time::{Duration, Instant};

/// How often a recipient that stopped itself is started again before the
/// clone is given up.
const RESTARTS: u32 = 3;
/// Pause between two looks at `clone_status`.
const POLL: Duration = Duration::from_millis(200);

/// Clones the donor into a temporary instance on the receiver, on the
/// receiver's port; `node` is the receiving DR server itself (its settings
/// become the instance's). Gives the running instance, its GTIDs checked.
pub async fn take(
    donor: &Donor,
    receiver: &Receiver,
    node: &Endpoint,
    bounds: Bounds,
) -> Result<Instance, SnapshotError> {
    make_dir(receiver, bounds)
        .await
        .map_err(|source| SnapshotError::Host {
            receiver: receiver.name.clone(),
            source,
        })?;
    let report = read_report(receiver, node, bounds).await?;
    prepare_donor(donor, receiver, bounds).await?;
    let instance = Instance::attach_as(receiver, &donor.credential, GtidFlavor::Mysql);
    let place = Place {
        dir: instance.dir.clone(),
        host: instance.host.clone(),
        port: instance.port,
        socket: instance.socket(),
    };
    instance
        .write_file("my.cnf", config::option_file(&place, &report), bounds)
        .await?;
    initialize(&instance, donor, bounds).await?;
    instance.restart(bounds).await?;
    let said = run_clone(&instance, donor, bounds).await?;
    judge(&instance, donor, said, bounds).await?;
    instance.check(donor, bounds).await?;
    Ok(instance)
}

fn sql_error(receiver: &str, e: &dyn std::fmt::Display) -> SnapshotError {
    SnapshotError::Sql {
        receiver: receiver.to_owned(),
        cause: e.to_string(),
    }
}

async fn read_report(
    r: &Receiver,
    node: &Endpoint,
    bounds: Bounds,
) -> Result<ServerReport, SnapshotError> {
    let mut c = Client::connect(node, bounds.connect)
        .await
        .map_err(|e| sql_error(&r.name, &e))?;
    let rows = c
        .query(config::REPORT)
        .await
        .map_err(|e| sql_error(&r.name, &e))?;
    let _ = c.close().await;
    ServerReport::from_row(rows.first()).map_err(|e| {
        sql_error(
            &r.name,
            &format!("{}: its settings for the clone: {e}", node.address()),
        )
    })
}

async fn plugin_active(c: &mut Client) -> Result<bool, RouterError> {
    let rows = c.query(PLUGIN_STATUS).await?;
    Ok(rows
        .first()
        .and_then(|r| r.column("PLUGIN_STATUS").flatten())
        .is_some_and(|s| s.eq_ignore_ascii_case("ACTIVE")))
}

/// The donor's plugin installed when missing (its `super_read_only` put
/// back afterwards), then the seed's tuning.
async fn prepare_donor(donor: &Donor, r: &Receiver, bounds: Bounds) -> Result<(), SnapshotError> {
    let endpoint = Endpoint::new(
        &donor.host,
        donor.port,
        &donor.credential.user,
        donor.credential.password.expose(),
    );
    let fail = |e: &dyn std::fmt::Display| sql_error(&r.name, &format!("the donor: {e}"));
    let mut c = Client::connect(&endpoint, bounds.connect)
        .await
        .map_err(|e| fail(&e))?;
    let active = plugin_active(&mut c).await.map_err(|e| fail(&e))?;
    let read_only = if active {
        false
    } else {
        let rows = c
            .query("SELECT @@global.super_read_only AS s")
            .await
            .map_err(|e| fail(&e))?;
        rows.first().and_then(|r| r.column("s").flatten()) == Some("1")
    };
    for statement in donor_setup(active, read_only) {
        c.execute(&statement).await.map_err(|e| fail(&e))?;
    }
    let _ = c.close().await;
    Ok(())
}

/// `--initialize-insecure` on the instance's option file, its init file
/// (the drill's login) removed whatever the outcome.
async fn initialize(i: &Instance, donor: &Donor, bounds: Bounds) -> Result<(), SnapshotError> {
    let statements =
        config::init_statements(&donor.credential.user, donor.credential.password.expose())
            .map_err(|e| sql_error(&i.receiver, &e))?;
    i.write_file("init.sql", statements, bounds).await?;
    let script = r#"PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
u=; [ "$(id -u)" = 0 ] && u=--user=root
"$0" --defaults-file="$1" --initialize-insecure --init-file="$2" $u; s=$?
rm -f -- "$2"
[ "$s" = 0 ] || tail -n 5 -- "$3" >&2
exit "$s""#;
    let cmd = Command::new("sh").args([
        "-c",
        script,
        &i.program,
        &i.file("my.cnf"),
        &i.file("init.sql"),
        &i.file("mysqld.err"),
    ]);
    let step = format!("initializing the clone recipient in {}/data", i.dir);
    i.run(&cmd, bounds.long, &step).await
}

/// The recipient's plugin, tuning and donor list, then `CLONE INSTANCE
/// FROM`; gives the statement's error, if any, for [`judge`] (a clone that
/// restarts its server ends its connection).
async fn run_clone(
    i: &Instance,
    donor: &Donor,
    bounds: Bounds,
) -> Result<Option<String>, SnapshotError> {
    let mut c = i.connect(bounds.connect).await.map_err(|e| i.sql(&e))?;
    let active = plugin_active(&mut c).await.map_err(|e| i.sql(&e))?;
    let statements = joiner_clone(
        active,
        &donor.host,
        donor.port,
        &donor.credential.user,
        donor.credential.password.expose(),
    )
    .map_err(|e| i.sql(&e))?;
    let Some((clone, setup)) = statements.split_last() else {
        return Ok(None);
    };
    for statement in setup {
        c.execute(statement).await.map_err(|e| i.sql(&e))?;
    }
    c.set_statement_timeout(Some(bounds.long));
    Ok(c.execute(clone).await.err().map(|e| e.to_string()))
}

/// Waits, at most `bounds.long`, until `clone_status` says the clone
/// completed; a failure, or a clone that never started, is an error
/// naming what clone_status (or the statement) said.
async fn judge(
    i: &Instance,
    donor: &Donor,
    said: Option<String>,
    bounds: Bounds,
) -> Result<(), SnapshotError> {
    let failed = |detail: String| SnapshotError::CloneFailed {
        receiver: i.receiver.clone(),
        donor: format!("{}:{}", donor.host, donor.port),
        address: i.address(),
        detail,
    };
    let deadline = Instant::now() + bounds.long;
    let mut restarts = 0;
    let mut last: String;
    loop {
        match i.connect(bounds.connect).await {
            Ok(mut c) => {
                let rows = c.query(CLONE_STATUS).await;
                let _ = c.close().await;
                match rows.map(|rows| CloneStatus::from_rows(&rows)) {
                    Ok(s) if s.state == CloneState::Completed && !s.failed() => return Ok(()),
                    Ok(s) if s.state == CloneState::InProgress => last = s.to_string(),
                    Ok(s) if s.failed() => return Err(failed(s.to_string())),
                    Ok(s) => {
                        let why = said.as_deref().unwrap_or("the CLONE statement answered OK");
                        return Err(failed(format!("the clone never ran ({s}): {why}")));
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) if !i.running(bounds).await && restarts < RESTARTS => {
                // It stopped itself at the end of the clone (no supervisor
                // restarts it): start it again on the cloned data.
                tracing::debug!(address = %i.address(), error = %e, "the clone recipient stopped; starting it again");
                restarts += 1;
                i.restart(bounds).await?;
                continue;
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            return Err(failed(format!(
                "clone_status did not say Completed within {:?} (last seen: {last})",
                bounds.long
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
