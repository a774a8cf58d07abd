//! The drill's snapshot on MariaDB (no CLONE plugin): the donor's data,
//! streamed by `mariabackup --backup --stream` from the donor straight to
//! a receiving DR host (`crates/stream`: nothing flows through the
//! controller), extracted and prepared there, then started as a temporary
//! instance on the snapshot port and checked: its GTIDs must equal the
//! donor's (seed 002's `judge_clone_finished`).
//!
//! The steps, each a function of its own: [`take`] = `make_dir`,
//! `stream_backup`, `prepare`, then `Instance::start` and
//! [`Instance::check`]; [`Instance::shutdown`] ends the temporary instance.
//! MySQL 8's snapshot is [`clone::take()`]: the CLONE plugin into a
//! temporary instance on the same directory layout and port, started and
//! checked by the same [`Instance`].

pub mod clone;
pub(crate) mod instance;

pub use instance::Instance;

use remote::{Command, Transport};
use std::sync::Arc;
use std::time::Duration;
use stream::{NoProgress, Registry, Sink, Source, StreamConfig, Streamer};
use topology::Credential;
use xtrabackup::{BackupOptions, ClientDefaults, PrepareStep, StreamSource, Tool, ops};

/// Why a snapshot could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A command on a host failed or could not run.
    #[error("snapshot for {receiver}: {source}")]
    Host {
        /// The receiving DR server.
        receiver: String,
        /// The driver's error (host, step, exit status, stderr tail).
        source: xtrabackup::Error,
    },
    /// The stream from the donor failed.
    #[error("snapshot for {receiver}: streaming from the donor {donor}: {source}")]
    Stream {
        /// The receiving DR server.
        receiver: String,
        /// The donor's `host:port`.
        donor: String,
        /// The transfer's error (boxed: it is large).
        source: Box<stream::Error>,
    },
    /// The donor's or the instance's SQL failed.
    #[error("snapshot for {receiver}: {cause}")]
    Sql {
        /// The receiving DR server.
        receiver: String,
        /// The client's error (it names the address).
        cause: String,
    },
    /// The temporary instance did not answer in time.
    #[error(
        "snapshot for {receiver}: its server on {address} did not answer within {waited:?}; its log ends: {log_tail}"
    )]
    NoAnswer {
        /// The receiving DR server.
        receiver: String,
        /// `host:port` of the temporary instance.
        address: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last lines of its error log.
        log_tail: String,
    },
    /// The clone did not complete (`performance_schema.clone_status`, or
    /// the `CLONE` statement's own error when it never started).
    #[error(
        "snapshot for {receiver}: CLONE INSTANCE FROM the donor {donor} into {address}: {detail}"
    )]
    CloneFailed {
        /// The receiving DR server.
        receiver: String,
        /// `host:port` of the donor.
        donor: String,
        /// `host:port` of the temporary instance.
        address: String,
        /// What clone_status (or the statement) said.
        detail: String,
    },
    /// The snapshot does not hold what the donor holds.
    #[error(
        "snapshot for {receiver}: its server on {address} is at GTIDs {snapshot:?}, the donor at {donor:?}"
    )]
    GtidMismatch {
        /// The receiving DR server.
        receiver: String,
        /// `host:port` of the temporary instance.
        address: String,
        /// The instance's GTIDs.
        snapshot: String,
        /// The donor's.
        donor: String,
    },
}

/// The server whose data is copied.
pub struct Donor {
    /// Its dataserver name.
    pub name: String,
    /// Its address.
    pub host: String,
    /// Its MySQL port.
    pub port: u16,
    /// Its host's transport.
    pub transport: Arc<dyn Transport>,
    /// The router's login to it (also valid on the snapshot: same users).
    pub credential: Credential,
}

/// Where a snapshot goes.
pub struct Receiver {
    /// The DR server that will get the snapshot.
    pub name: String,
    /// Its address (the temporary instance binds it).
    pub host: String,
    /// Its host's transport.
    pub transport: Arc<dyn Transport>,
    /// The snapshot's directory (`data/`, `tmp/`, the instance's files).
    pub dir: String,
    /// The temporary instance's port.
    pub port: u16,
    /// The server program (absolute: a non-interactive login's `PATH`
    /// may lack `/usr/sbin`), see [`server_program`].
    pub program: String,
}

/// The program of the server whose pid is in `pid_file` on the host: the
/// first word of its command line (its `/proc/<pid>/exe` is unreadable
/// once it changed user), resolved in `PATH` and the `sbin` directories
/// when relative.
pub async fn server_program(
    t: &dyn Transport,
    pid_file: &str,
    timeout: Duration,
) -> Result<String, xtrabackup::Error> {
    let cmd = Command::new("sh").args([
        "-c",
        r#"p=$(tr '\0' '\n' < "/proc/$(cat "$1")/cmdline" | head -n 1)
case $p in /*) echo "$p" ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$p" ;; esac"#,
        "sh",
        pid_file,
    ]);
    let step = format!("finding the server program via {pid_file}");
    let out = ops::run(t, &cmd, timeout, &step).await?;
    let program = out.stdout_str().trim().to_owned();
    if program.is_empty() || program == "/" {
        return Err(xtrabackup::Error::Parse {
            what: step,
            detail: "no program".to_owned(),
        });
    }
    Ok(program)
}

/// Bounds of the snapshot's steps.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Connecting to a server.
    pub connect: Duration,
    /// The stream, the prepare: the long steps.
    pub long: Duration,
    /// Small commands (mkdir, writing a file, reading a log).
    pub small: Duration,
    /// How long the temporary instance may take to answer.
    pub start: Duration,
}

/// How the names of a stream's files in the donor's `@@tmpdir` begin
/// (`<prefix><id>.cnf`, the 0600 option file holding the donor's login,
/// and `<prefix><id>.log`, the backup's): a run killed mid-stream leaves
/// them, and `stop` removes them.
pub(crate) const STREAM_FILE_PREFIX: &str = "dr-flashback-";

/// First port tried for the stream (bumped by 10 while taken).
pub const STREAM_PORT: u16 = 45609;

/// Copies the donor's data to the receiver, prepares it, starts it on the
/// receiver's port and checks it holds the donor's GTIDs.
pub async fn take(
    donor: &Donor,
    receiver: &Receiver,
    bounds: Bounds,
) -> Result<Instance, SnapshotError> {
    let host_err = |source| SnapshotError::Host {
        receiver: receiver.name.clone(),
        source,
    };
    make_dir(receiver, bounds).await.map_err(host_err)?;
    let tool = stream_backup(donor, receiver, bounds).await?;
    prepare(receiver, &tool, bounds).await.map_err(host_err)?;
    let instance = Instance::start(receiver, &donor.credential, bounds).await?;
    instance.check(donor, bounds).await?;
    Ok(instance)
}

pub(crate) async fn make_dir(r: &Receiver, bounds: Bounds) -> Result<(), xtrabackup::Error> {
    let cmd = Command::new("sh").args([
        "-c",
        r#"rm -rf -- "$1" && mkdir -p -- "$1/data" "$1/tmp" "$1/socat_log""#,
        "sh",
        &r.dir,
    ]);
    let step = format!("making the snapshot directory {}", r.dir);
    ops::run(&*r.transport, &cmd, bounds.small, &step)
        .await
        .map(drop)
}

/// The donor's backup, streamed into `mbstream -x` on the receiver; the
/// donor's login travels in a 0600 option file written through stdin,
/// removed afterwards.
async fn stream_backup(donor: &Donor, r: &Receiver, bounds: Bounds) -> Result<Tool, SnapshotError> {
    let host_err = |source| SnapshotError::Host {
        receiver: r.name.clone(),
        source,
    };
    let facts = donor_files(donor, r, bounds).await?;
    let t = &*donor.transport;
    let tool = ops::detect_tool(t, "mariabackup").await.map_err(host_err)?;
    let server_cnf = ops::server_defaults_file_by_pid_file(t, &facts.pid_file)
        .await
        .map_err(host_err)?;
    let tag = remote::CommandId::random().0;
    let wrapper = format!("{}/{STREAM_FILE_PREFIX}{tag}.cnf", facts.tmpdir);
    let log_file = format!("{}/{STREAM_FILE_PREFIX}{tag}.log", facts.tmpdir);
    let login = ClientDefaults {
        server_defaults_file: server_cnf,
        user: donor.credential.user.clone(),
        password: remote::Zeroizing::new(donor.credential.password.expose().to_owned()),
    };
    ops::write_client_defaults(t, &login, &wrapper)
        .await
        .map_err(host_err)?;
    let transferred = transfer(donor, r, &tool, &wrapper, &facts.tmpdir, &log_file, bounds).await;
    if let Err(e) = ops::remove_file(t, &wrapper).await {
        tracing::warn!(host = %donor.host, file = %wrapper, error = %e, "cannot remove the option file holding the donor's login");
    }
    transferred?;
    let (log, _) = ops::read_log(t, &log_file).await.map_err(host_err)?;
    if let Some(failure) = log.failure() {
        return Err(host_err(xtrabackup::Error::BackupFailed {
            host: donor.host.clone(),
            log_file,
            exit_status: None,
            failure,
        }));
    }
    let _ = ops::remove_file(t, &log_file).await;
    Ok(tool)
}

struct DonorFiles {
    pid_file: String,
    tmpdir: String,
}

async fn donor_files(
    donor: &Donor,
    r: &Receiver,
    bounds: Bounds,
) -> Result<DonorFiles, SnapshotError> {
    let endpoint = router::Endpoint::new(
        &donor.host,
        donor.port,
        &donor.credential.user,
        donor.credential.password.expose(),
    );
    let sql = |e: &dyn std::fmt::Display| SnapshotError::Sql {
        receiver: r.name.clone(),
        cause: e.to_string(),
    };
    let mut client = router::Client::connect(&endpoint, bounds.connect)
        .await
        .map_err(|e| sql(&e))?;
    let rows = client
        .query("SELECT @@pid_file AS p, @@tmpdir AS t")
        .await
        .map_err(|e| sql(&e))?;
    let value = |c: &str| {
        rows.first()
            .and_then(|row| row.column(c).flatten())
            .map(str::to_owned)
            .ok_or_else(|| sql(&format!("{}: no @@pid_file/@@tmpdir", endpoint.address())))
    };
    Ok(DonorFiles {
        pid_file: value("p")?,
        tmpdir: value("t")?,
    })
}

async fn transfer(
    donor: &Donor,
    r: &Receiver,
    tool: &Tool,
    wrapper: &str,
    tmpdir: &str,
    log_file: &str,
    bounds: Bounds,
) -> Result<(), SnapshotError> {
    let mut opts = BackupOptions::new(tool.clone(), wrapper, tmpdir, log_file);
    opts.slave_info = true;
    let source = Source::command(Command::shell(opts.pipeline().snippet()));
    let sink = Sink::command(xtrabackup::extract(
        tool,
        xtrabackup::Compression::None,
        StreamSource::Stdin,
        &format!("{}/data", r.dir),
    ));
    let mut cfg = StreamConfig::new(STREAM_PORT, STREAM_PORT + 1, format!("{}/socat_log", r.dir));
    cfg.command_timeout = Some(bounds.long);
    let streamer = Streamer::new(cfg, Registry::new());
    streamer
        .transfer(&donor.transport, &source, &r.transport, &sink, &NoProgress)
        .await
        .map(drop)
        .map_err(|source| SnapshotError::Stream {
            receiver: r.name.clone(),
            donor: format!("{}:{}", donor.host, donor.port),
            source: Box::new(source),
        })
}

async fn prepare(r: &Receiver, tool: &Tool, bounds: Bounds) -> Result<(), xtrabackup::Error> {
    let cmd = xtrabackup::prepare(
        tool,
        &format!("{}/data", r.dir),
        &PrepareStep::Full {
            incrementals_follow: false,
        },
        Some("256M"),
    );
    let step = format!("preparing the snapshot in {}/data", r.dir);
    ops::run(&*r.transport, &cmd, bounds.long, &step)
        .await
        .map(drop)
}
