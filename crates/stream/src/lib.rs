//! Host-to-host transfers for dbscale-backup: a socat listener on the
//! receiving host, the producer writing into the connection on the sender.
//!
//! Data flows from a source host to the backup store (or from the store to
//! a recovery job server) directly; the controller only orchestrates over
//! [`remote::Transport`]s:
//!
//! 1. a **listener** on the receiving host, `socat -d -d -lf
//!    <log_dir>/<port>_<n> -b 131072 -u tcp-listen:<port>,reuseaddr` into
//!    a file or a consumer such as `mbstream -x -C DIR` (128 KiB blocks:
//!    socat's default 8 KiB made it the busiest process of a stream); the
//!    script on the host reports as soon as socat logs "listening on"
//!    (bounded); when socat logs "Address already in use" the port is
//!    bumped by 10, up to `socat-retry-count` times, and the port that
//!    worked is remembered for the next transfer of its family
//!    ([`PortAllocator`]: `socat-port` for streams, `socat-port2` for
//!    files, as the seed);
//! 2. a **sender** on the source host: `cat FILE`, `tar -cf - DIR`, or any
//!    command's stdout, written straight into a TCP connection to the
//!    listener (bash's `/dev/tcp`, tried `socat-retry-count` more times a
//!    second apart): the seed's `| socat -u - TCP4:...` cost two more
//!    copies of every byte on the busy source host;
//! 3. both ends run under `set -o pipefail` and report every stage's exit
//!    status and a byte count (a file's size on either end, else the
//!    receiver counts); SHA-256 ([`Checksum`]) on a `tee` while the data
//!    flows, or from the stored file once it is written; a transfer that
//!    lost bytes or whose producer or consumer failed is an error, never a
//!    short file reported as success.
//!
//! Every remote command is recorded in a [`Registry`] (the seed's
//! `command_dict`), so the [`Watchdog`] can kill them on their hosts when
//! `[misc] max-time-sec` (re-read from the config file every second) passes
//! or another step fails; its cancellation token tells engines why.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stream::Error> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use remote::{Ssh, SshConfig, Transport};
//! use stream::{LogProgress, Registry, Sink, Source, StreamConfig, Streamer, Watchdog, WatchdogConfig};
//!
//! let ssh = |host: &str| -> Arc<dyn Transport> {
//!     let mut cfg = SshConfig::new("dbsbk", "/var/lib/dbbackup");
//!     cfg.key = Some("/root/.ssh/id_rsa".into());
//!     Arc::new(Ssh::new(host, cfg))
//! };
//! let (source_host, store) = (ssh("127.0.0.11"), ssh("127.0.0.50"));
//!
//! let registry = Registry::new();
//! let watchdog = Watchdog::start(
//!     registry.clone(),
//!     // The limit is re-read every second (the seed's behaviour); a fixed
//!     // one here.
//!     WatchdogConfig::new("backup.conf", Duration::from_secs(45000), Arc::new(|| Ok(Some(45000)))),
//! );
//! let mut cfg = StreamConfig::new(45509, 45514, stream::socat_log_dir_today("/backup"));
//! cfg.checksum = stream::Checksum::BothEnds;
//! let streamer = Streamer::new(cfg, registry);
//!
//! let report = streamer
//!     .transfer(
//!         &source_host,
//!         &Source::file("/data/mysql/my.cnf"),
//!         &store,
//!         &Sink::file("/backup/UTC20261121101500.123-full/my.conf"),
//!         &LogProgress,
//!     )
//!     .await?;
//! println!("{} bytes on port {}, sha256 {:?}", report.bytes, report.port, report.sha256);
//! watchdog.finish().await;
//! # Ok(()) }
//! ```

pub mod error;
mod pipe;
pub mod ports;
pub mod progress;
pub mod receiver;
pub mod registry;
mod report;
pub mod scp;
mod script;
pub mod spec;
pub mod timing;
pub mod transfer;
pub mod watchdog;

pub use error::{Error, Result, StopReason};
pub use ports::{PortAllocator, PortFamily};
pub use progress::{LogProgress, NoProgress, Progress, Update};
pub use receiver::Receiver;
pub use registry::{Entry, Registration, Registry};
pub use scp::ScpConfig;
pub use script::PICK_SHA256;
pub use spec::{Sink, Source};
pub use timing::{Timings, timed};
pub use transfer::{
    Checksum, StreamConfig, Streamer, TransferReport, socat_log_dir, socat_log_dir_today,
};
pub use watchdog::{Reread, Watchdog, WatchdogConfig};
