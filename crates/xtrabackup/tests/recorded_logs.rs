//! The log parser on recorded logs: real mariabackup 10.11 logs from the
//! sandbox, and an XtraBackup 8.0.26 log built from seed 000's values (see
//! `tests/fixtures/README.md`).
#![allow(clippy::unwrap_used)]

use xtrabackup::{BackupLog, BinlogPosition, Lsn};

fn fixture(name: &str) -> BackupLog {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    BackupLog::parse(&std::fs::read_to_string(path).unwrap())
}

fn binlog(file: &str, position: u64, gtid: &str) -> Option<BinlogPosition> {
    Some(BinlogPosition {
        file: file.into(),
        position,
        gtid: Some(gtid.into()),
    })
}

#[test]
fn mariabackup_master_full_and_incremental() {
    let full = fixture("mariabackup-master-full.log");
    assert!(full.completed_ok && full.failure().is_none());
    assert_eq!(full.binlog, binlog("mysql-bin.000001", 42918344, "0-11-56"));
    assert_eq!(full.checkpoint, Some(Lsn(44744)));
    assert_eq!(full.slave, None);
    assert!(full.errors.is_empty(), "{:?}", full.errors);
    let inc = fixture("mariabackup-master-incremental.log");
    assert!(inc.completed_ok);
    assert_eq!(inc.binlog, binlog("mysql-bin.000001", 45337493, "0-11-59"));
    assert_eq!(inc.checkpoint, Some(Lsn(44744)));
}

#[test]
fn mariabackup_replica_full_and_incremental_with_slave_info() {
    let full = fixture("mariabackup-replica-full.log");
    assert!(full.completed_ok);
    assert_eq!(full.binlog, binlog("mysql-bin.000001", 42918306, "0-11-56"));
    let slave = full.slave.unwrap();
    assert_eq!(slave.gtid.as_deref(), Some("0-11-56"));
    assert_eq!(
        slave.raw,
        "gtid_slave_pos '0-11-56'; master '' master_use_gtid = slave_pos"
    );
    let inc = fixture("mariabackup-replica-incremental.log");
    assert_eq!(inc.slave.unwrap().gtid.as_deref(), Some("0-11-59"));
    assert_eq!(inc.binlog.unwrap().position, 45337455);
}

#[test]
fn xtrabackup_80_multi_line_gtid_as_seed_000_joins_it() {
    let log = fixture("xtrabackup-8.0.26-replica-full.log");
    assert!(log.completed_ok);
    assert_eq!(log.checkpoint, Some(Lsn(21694916)));
    assert_eq!(
        log.binlog,
        binlog(
            "greatdb-bin.000041",
            631,
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2831,9b1bd5a8-d14e-11ee-8f20-00163e0a4b22:1-77"
        )
    );
    let slave = log.slave.unwrap();
    assert_eq!(
        slave.gtid.as_deref(),
        Some(
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2831,9b1bd5a8-d14e-11ee-8f20-00163e0a4b22:1-77"
        )
    );
    assert!(slave.raw.ends_with("channel name: ''"), "{}", slave.raw);
}

#[test]
fn a_truncated_log_is_a_failure() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mariabackup-master-full.log"),
    )
    .unwrap();
    let cut: String = text.lines().take(200).map(|l| format!("{l}\n")).collect();
    let log = BackupLog::parse(&cut);
    assert!(!log.completed_ok && log.binlog.is_none());
    assert!(log.failure().is_some());
}
