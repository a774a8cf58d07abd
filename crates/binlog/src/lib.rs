//! Binlog planning for dbscale-backup: pure decisions, no I/O.
//!
//! The backup engine asks which binlog files to copy from each server; the
//! recovery engine asks which backups form the chain to a directory or a
//! point in time, and which binlogs to replay per datasource, from where to
//! where. Both read and write the store's small plan files. Nothing here
//! touches a file, a socket or the clock: callers read the store and the
//! servers, pass typed values in, and act on the plans that come out.
//!
//! * [`gtid`]: GTID algebra for MySQL sets (`uuid:1-5:7-9`) and MariaDB
//!   positions (`0-1-7,1-2-30`): parse, canonical display, union,
//!   subtraction, containment.
//! * [`backup_plan`]: [`plan_binlog_copy`], the seed's copy rules, gap detection.
//! * [`backuped`], [`consistence`], [`format`](mod@format): the files `backuped_binlogs`,
//!   `cluster_consistence_info`, `consistent_point_datetime`.
//! * [`server_dir`]: server directory names (`master_dir`) and `master_slave`.
//! * [`chain`]: [`select_chain`] to a directory or a `stop-datetime`.
//! * [`apply_plan`]: [`plan_apply`], per datasource the binlogs to replay,
//!   start and stop; its `Display` is the `dbrecover --dry-run` view.
//! * [`history`], [`head`]: the replay of data that holds no transaction,
//!   decided by the GTID list at the head of the master's start binlog.
//!
//! ```
//! use binlog::*;
//!
//! // Backup: the master copies from the file xtrabackup stopped in to the
//! // consistence point (values recorded in seed 000).
//! let logs: Vec<BinaryLog> = (39..=41)
//!     .map(|i| BinaryLog { name: BinlogName::new("greatdb-bin", i).unwrap(), size: 277 })
//!     .collect();
//! let plan = plan_binlog_copy(&CopyRequest {
//!     server: "normal_0_1",
//!     kind: BackupKind::Full,
//!     role: CopyRole::BackedUpMaster {
//!         xb_to_binlog: "greatdb-bin.000041".parse()?,
//!         point_binlog: "greatdb-bin.000041".parse()?,
//!     },
//!     binary_logs: &logs,
//! })?;
//! assert_eq!(plan.backuped_binlogs_line(), "normal_0_1:greatdb-bin.000041\n");
//!
//! // Recovery to that backup: the chain, then the replay per datasource.
//! let name: BackupName = "UTC20240222014345.236-full".parse()?;
//! let dirs = [BackupDir { name, ok: true, point: Some(parse_point_datetime("2024-02-22 17:33:15\n")?) }];
//! let chain = select_chain(&dirs, &RecoverTarget::Dir(name))?;
//! let target = BackupFacts {
//!     name,
//!     consistence: "172.17.134.76:16315\tnormal_0_1\tgreatdb-bin.000041\t631\tbelong-to-datasource=normal_0\t\
//!                   xb-to-lsn=21694916\txb-to-binlog-name=greatdb-bin.000041\txb-to-binlog-pos=4\n".parse()?,
//!     binlogs: plan.backuped_binlogs_line().parse()?,
//!     servers: [("normal_0_1".to_string(), ServerFacts::default())].into(),
//! };
//! let replay = plan_apply(&chain, &target, None)?;
//! assert_eq!(replay.datasources[0].stop.to_string(), "position greatdb-bin.000041:631");
//! println!("{replay}");
//!
//! // GTID algebra.
//! let done: MariadbGtidPos = "0-1-7,1-2-30".parse()?;
//! assert!("0-1-5".parse::<MariadbGtidPos>()?.is_subset(&done));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod apply_plan;
pub mod backup_plan;
pub mod backuped;
pub mod chain;
pub mod consistence;
pub mod format;
pub mod gtid;
pub mod head;
pub mod history;
pub mod name;
pub mod server_dir;

pub use apply_plan::{
    ApplyPlan, ApplyPlanError, ApplyStop, BackupFacts, DatasourceApply, ServerFacts, plan_apply,
    plan_apply_with,
};
pub use backup_plan::{
    BackupKind, BinlogCopyPlan, CopyPlanError, CopyRequest, CopyRole, LastGood, SlaveCut,
    plan_binlog_copy,
};
pub use backuped::BackupedBinlogs;
pub use chain::{
    BackupDir, BackupName, BackupType, Chain, ChainError, RecoverTarget, select_chain,
};
pub use consistence::{BinlogPos, ConsistenceInfo, ConsistenceLine};
pub use format::{FormatError, format_point_datetime, parse_point_datetime};
pub use gtid::{GtidError, GtidFlavor, GtidSet, MariadbGtid, MariadbGtidPos, MysqlGtidSet};
pub use head::{HEAD_BYTES, HeadError, gtids_before};
pub use history::{StartGtids, heads_needed};
pub use name::{BinaryLog, BinlogName};
pub use server_dir::{MasterSlave, ServerDir};

#[cfg(test)]
mod never_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Store files and server output are external input: any text yields a
        // value or an error, never a panic.
        #[test]
        fn parsers_return_errors_not_panics(text in "(?s).{0,200}", seps in "[\t:,\n\\- .0-9a-f]{0,80}") {
            for t in [text.as_str(), seps.as_str()] {
                let _ = t.parse::<BinlogName>();
                let _ = t.parse::<MysqlGtidSet>();
                let _ = t.parse::<MariadbGtidPos>();
                let _ = t.parse::<BackupedBinlogs>();
                let _ = t.parse::<ConsistenceInfo>();
                let _ = t.parse::<ServerDir>();
                let _ = t.parse::<MasterSlave>();
                let _ = t.parse::<BackupName>();
                let _ = parse_point_datetime(t);
            }
        }
    }
}
