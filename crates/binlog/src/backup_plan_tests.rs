use super::*;
use proptest::prelude::*;

fn n(s: &str) -> BinlogName {
    s.parse().unwrap()
}

/// `SHOW BINARY LOGS` with files `first..=last` of `greatdb-bin`.
fn logs(first: u64, last: u64) -> Vec<BinaryLog> {
    (first..=last)
        .map(|i| BinaryLog {
            name: BinlogName::new("greatdb-bin", i).unwrap(),
            size: 1000 + i,
        })
        .collect()
}

fn g(i: u64) -> BinlogName {
    BinlogName::new("greatdb-bin", i).unwrap()
}

fn names(p: &BinlogCopyPlan) -> Vec<String> {
    p.files.iter().map(|b| b.name.to_string()).collect()
}

fn master(xb: u64, point: u64) -> CopyRole {
    CopyRole::BackedUpMaster {
        xb_to_binlog: g(xb),
        point_binlog: g(point),
    }
}

fn plan(
    kind: BackupKind<'_>,
    role: CopyRole,
    binary_logs: &[BinaryLog],
) -> Result<BinlogCopyPlan, CopyPlanError> {
    plan_binlog_copy(&CopyRequest {
        server: "normal_0_1",
        kind,
        role,
        binary_logs,
    })
}

fn last_good(b: &BackupedBinlogs) -> BackupKind<'_> {
    BackupKind::Incremental(LastGood {
        name: "UTC20240222011253.698-full",
        binlogs: b,
    })
}

#[test]
fn rule1_full_backed_up_master_copies_xtrabackup_file_to_point_file() {
    // Seed 000's recorded run: binlogs 000001..000041, xtrabackup and the point both in 000041.
    let p = plan(BackupKind::Full, master(41, 41), &logs(1, 41)).unwrap();
    assert_eq!(names(&p), ["greatdb-bin.000041"]);
    assert_eq!(p.backuped_binlogs_line(), "normal_0_1:greatdb-bin.000041\n");
    assert_eq!(
        (p.start.clone(), p.stop.clone()),
        (StartReason::XtrabackupFile, StopReason::ConsistencePoint)
    );
    // Files after the point (rotated since) are not copied.
    let p = plan(BackupKind::Full, master(39, 40), &logs(1, 41)).unwrap();
    assert_eq!(names(&p), ["greatdb-bin.000039", "greatdb-bin.000040"]);
    assert_eq!(p.files[0].size, 1039);
}

#[test]
fn rule2_master_for_slaves_copies_smallest_relay_file_to_largest_point_file() {
    // Seed 000's recorded values: normal_0_1 not backed up, slaves start at 000043, point in 000044.
    let role = CopyRole::MasterForSlaves {
        slaves: vec![
            SlaveCut {
                server: "normal_0_2".into(),
                relay_master_log_file: g(43),
                point_binlog: g(44),
            },
            SlaveCut {
                server: "normal_0_0".into(),
                relay_master_log_file: g(44),
                point_binlog: g(44),
            },
        ],
    };
    let p = plan(BackupKind::Full, role, &logs(1, 45)).unwrap();
    assert_eq!(names(&p), ["greatdb-bin.000043", "greatdb-bin.000044"]);
    assert_eq!(
        p.start,
        StartReason::RelayMasterLogFile {
            slave: "normal_0_2".into()
        }
    );
    let e = plan(
        BackupKind::Full,
        CopyRole::MasterForSlaves { slaves: vec![] },
        &logs(1, 45),
    )
    .unwrap_err();
    assert!(matches!(e, CopyPlanError::NoBackedUpSlave { .. }), "{e}");
}

#[test]
fn rule3_backed_up_slave_copies_to_its_newest_binlog() {
    let p = plan(
        BackupKind::Full,
        CopyRole::BackedUpSlave { xb_to_binlog: g(7) },
        &logs(1, 9),
    )
    .unwrap();
    assert_eq!(
        names(&p),
        [
            "greatdb-bin.000007",
            "greatdb-bin.000008",
            "greatdb-bin.000009"
        ]
    );
    assert_eq!(p.stop, StopReason::NewestBinlog);
}

#[test]
fn rule4_incremental_starts_at_the_last_file_of_the_last_good_backup() {
    let prev: BackupedBinlogs = "normal_0_1:greatdb-bin.000040 greatdb-bin.000041\n"
        .parse()
        .unwrap();
    let p = plan(last_good(&prev), master(43, 44), &logs(1, 45)).unwrap();
    assert_eq!(
        names(&p),
        [
            "greatdb-bin.000041",
            "greatdb-bin.000042",
            "greatdb-bin.000043",
            "greatdb-bin.000044"
        ]
    );
    assert_eq!(
        p.start,
        StartReason::LastGoodBackup {
            backup: "UTC20240222011253.698-full".into()
        }
    );
    // A slave of an incremental with backup-master on: from the last file, to the newest.
    let prev: BackupedBinlogs = "normal_0_1:greatdb-bin.000005\n".parse().unwrap();
    let p = plan(
        last_good(&prev),
        CopyRole::BackedUpSlave { xb_to_binlog: g(8) },
        &logs(1, 9),
    )
    .unwrap();
    assert_eq!(p.files.len(), 5);
}

#[test]
fn rule4_a_lagging_slave_moves_the_start_before_the_last_file() {
    let prev: BackupedBinlogs = "normal_0_1:greatdb-bin.000044\n".parse().unwrap();
    let role = CopyRole::MasterForSlaves {
        slaves: vec![SlaveCut {
            server: "normal_0_0".into(),
            relay_master_log_file: g(42),
            point_binlog: g(45),
        }],
    };
    let p = plan(last_good(&prev), role, &logs(1, 46)).unwrap();
    assert_eq!(p.files.first().map(|b| b.name.clone()), Some(g(42)));
    assert_eq!(p.files.last().map(|b| b.name.clone()), Some(g(45)));
    assert_eq!(
        p.start,
        StartReason::RelayMasterLogFile {
            slave: "normal_0_0".into()
        }
    );
}

#[test]
fn rule5_a_server_absent_from_the_last_good_backup_starts_at_its_oldest_binlog() {
    let prev: BackupedBinlogs = "other:greatdb-bin.000044\n".parse().unwrap();
    let p = plan(last_good(&prev), master(43, 44), &logs(30, 45)).unwrap();
    assert_eq!(p.files.first().map(|b| b.name.clone()), Some(g(30)));
    assert_eq!(p.start, StartReason::OldestBinlog);
}

#[test]
fn rule6_purged_binlogs_since_the_last_backup_are_a_gap_naming_them() {
    let prev: BackupedBinlogs = "normal_0_1:greatdb-bin.000041\n".parse().unwrap();
    let e = plan(last_good(&prev), master(46, 47), &logs(45, 47)).unwrap_err();
    assert_eq!(
        e,
        CopyPlanError::Gap {
            server: "normal_0_1".into(),
            backup: "UTC20240222011253.698-full".into(),
            missing_first: g(41),
            missing_last: g(44),
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("greatdb-bin.000041..greatdb-bin.000044") && msg.contains("full backup"),
        "{msg}"
    );
    // RESET MASTER: numbering restarted below the last copied file.
    let e = plan(last_good(&prev), master(2, 3), &logs(1, 3)).unwrap_err();
    assert!(matches!(e, CopyPlanError::Gap { missing_last, .. } if missing_last == g(3)));
}

#[test]
fn rule6_other_missing_files_are_errors_naming_them() {
    let mut with_hole = logs(1, 10);
    with_hole.retain(|b| b.name != g(6));
    let e = plan(BackupKind::Full, master(4, 9), &with_hole).unwrap_err();
    assert_eq!(
        e,
        CopyPlanError::Hole {
            server: "normal_0_1".into(),
            after: g(5),
            missing: g(6)
        }
    );
    let e = plan(BackupKind::Full, master(2, 9), &logs(5, 10)).unwrap_err();
    assert!(
        matches!(&e, CopyPlanError::StartPurged { file, .. } if *file == g(2)),
        "{e}"
    );
    assert!(e.to_string().contains("xtrabackup"));
    let e = plan(BackupKind::Full, master(5, 12), &logs(5, 10)).unwrap_err();
    assert!(
        matches!(&e, CopyPlanError::StopMissing { file, .. } if *file == g(12)),
        "{e}"
    );
    let e = plan(BackupKind::Full, master(8, 6), &logs(5, 10)).unwrap_err();
    assert!(matches!(e, CopyPlanError::Inverted { .. }));
    let e = plan(BackupKind::Full, master(8, 6), &[]).unwrap_err();
    assert!(matches!(e, CopyPlanError::NoBinlogs { .. }));
}

#[test]
fn rule7_the_newest_file_is_current() {
    let p = plan(BackupKind::Full, master(3, 5), &logs(1, 5)).unwrap();
    assert_eq!(p.current, Some(g(5)));
    assert!(
        p.to_string()
            .contains("greatdb-bin.000005 still being written"),
        "{p}"
    );
    let p = plan(BackupKind::Full, master(3, 4), &logs(1, 5)).unwrap();
    assert_eq!(p.current, None);
    assert_eq!(
        p.to_string(),
        "normal_0_1: greatdb-bin.000003..greatdb-bin.000004 (2 files; from the file xtrabackup stopped in to the consistence point)"
    );
}

#[test]
fn unsorted_listing_and_seven_digit_names_are_ordered_numerically() {
    let mut l = vec![
        BinaryLog {
            name: n("m.1000000"),
            size: 1,
        },
        BinaryLog {
            name: n("m.999999"),
            size: 1,
        },
    ];
    l.reverse();
    let role = CopyRole::BackedUpMaster {
        xb_to_binlog: n("m.999999"),
        point_binlog: n("m.1000000"),
    };
    let p = plan(BackupKind::Full, role, &l).unwrap();
    assert_eq!(names(&p), ["m.999999", "m.1000000"]);
}

proptest! {
    // Whatever the numbers, an incremental plan either fails or covers the last
    // good backup's last file and is contiguous up to the point: no gap.
    #[test]
    fn incremental_plans_meet_the_last_backup(
        oldest in 1u64..20, span in 0u64..20, last in 1u64..45, xb_off in 0u64..5, pt_off in 0u64..5,
    ) {
        let newest = oldest + span;
        let xb = last + xb_off;
        let point = xb + pt_off;
        let prev: BackupedBinlogs = format!("normal_0_1:greatdb-bin.{last:06}\n").parse().unwrap();
        match plan(last_good(&prev), master(xb, point), &logs(oldest, newest)) {
            Ok(p) => {
                prop_assert_eq!(p.files.first().map(|b| b.name.clone()), Some(g(last)));
                prop_assert_eq!(p.files.last().map(|b| b.name.clone()), Some(g(point)));
                prop_assert!(p.files.windows(2).all(|w| w[1].name == w[0].name.successor()));
            }
            Err(CopyPlanError::Gap { missing_first, .. }) => {
                prop_assert!(last < oldest || last > newest);
                prop_assert_eq!(missing_first, g(last));
            }
            Err(CopyPlanError::StopMissing { .. }) => prop_assert!(point > newest),
            Err(e) => prop_assert!(false, "unexpected {}", e),
        }
    }
}
