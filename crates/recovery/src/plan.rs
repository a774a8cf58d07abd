//! The recovery plan: the chain, the replay per datasource, where it all
//! goes on the job server. Made before anything moves; `--dry-run` prints
//! it.

use crate::space::SpaceEstimate;
use binlog::{ApplyPlan, ApplyStop, BackupName};
use std::fmt;

/// Everything a recovery will do.
#[derive(Debug, Clone)]
pub struct RecoveryPlan {
    /// The chain and the replay per datasource.
    pub apply: ApplyPlan,
    /// Whether the chain is encrypted.
    pub encrypted: bool,
    /// `host:dir` of the store.
    pub store: String,
    /// The job server's host.
    pub job_host: String,
    /// The run's directory on the job server (`<work-dir>/<target>`).
    pub job_dir: String,
    /// Whether the chain is used in place (the store is the job server).
    pub in_place: bool,
    /// First port of the temporary servers.
    pub first_port: u16,
    /// Room the recovery needs on the job server's work-dir.
    pub space: SpaceEstimate,
    /// Whether a backup of the chain has zstd-compressed streams (as its
    /// manifest says): the job server then needs `zstd`.
    pub compressed: bool,
}

impl RecoveryPlan {
    /// Where `backup` is read from on the job server.
    pub fn backup_dir(&self, store_dir: &str, backup: BackupName) -> String {
        if self.in_place {
            format!("{store_dir}/{backup}")
        } else {
            format!("{}/{backup}", self.job_dir)
        }
    }

    /// A datasource's scratch on the job server (`<run>/tmp/<datasource>`):
    /// the incrementals' extracted deltas, the temporary server's socket,
    /// pid and error log, the replay's relay logs.
    pub fn restore_dir(&self, datasource: &str) -> String {
        format!("{}/tmp/{datasource}", self.job_dir)
    }

    /// Where a datasource's data directory is restored, as the seed lays
    /// it out: `<run>/datadir/<ds>-<server>-<host>-<port>` (the name of the
    /// server's directory in the backup), the data directory itself.
    pub fn datadir(&self, server_dir: &binlog::ServerDir) -> String {
        format!("{}/datadir/{server_dir}", self.job_dir)
    }

    /// Where the `i`-th backup of the chain is extracted for `apply`'s
    /// datasource: the full into its data directory, each incremental
    /// beside it in the restore directory (`inc<i>`), until prepare
    /// applies it.
    pub fn extract_dir(&self, apply: &binlog::DatasourceApply, i: usize) -> String {
        if i == 0 {
            self.datadir(&apply.data_dir)
        } else {
            format!("{}/inc{i}", self.restore_dir(&apply.datasource))
        }
    }
}

impl fmt::Display for RecoveryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "recovery from {} to {}:{}",
            self.store, self.job_host, self.job_dir
        )?;
        writeln!(
            f,
            "chain{}: {}",
            if self.encrypted { " (encrypted)" } else { "" },
            self.apply.chain
        )?;
        if self.in_place {
            writeln!(f, "the store is the job server: the chain is used in place")?;
        }
        writeln!(f, "space needed on the job server: {}", self.space)?;
        for (i, d) in self.apply.datasources.iter().enumerate() {
            writeln!(f, "datasource {}:", d.datasource)?;
            writeln!(f, "  data from   {}", d.data_dir)?;
            writeln!(
                f,
                "  restored in {} (temporary server on port {})",
                self.datadir(&d.data_dir),
                self.first_port as usize + i
            )?;
            match &d.skip_gtids {
                Some(g) => writeln!(f, "  replay from {} after GTIDs {g}", d.start)?,
                None => writeln!(f, "  replay from {}", d.start)?,
            }
            for b in &d.binlogs {
                writeln!(f, "    {b}")?;
            }
            match &d.stop {
                ApplyStop::Position(p) => writeln!(f, "  stop at     {p}")?,
                ApplyStop::Datetime(t) => {
                    writeln!(f, "  stop at     {}", t.format("%Y-%m-%d %H:%M:%S"))?
                }
            }
        }
        Ok(())
    }
}
