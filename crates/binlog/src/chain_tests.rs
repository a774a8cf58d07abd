use super::*;
use proptest::prelude::*;

fn name(s: &str) -> BackupName {
    s.parse().unwrap()
}

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, POINT_DATETIME_FORMAT).unwrap()
}

fn dir(n: &str, ok: bool, point: Option<&str>) -> BackupDir {
    BackupDir {
        name: name(n),
        ok,
        point: point.map(t),
    }
}

/// Names recorded in seed 000's store listing (an inc after the 02-20 full);
/// the points are ours.
fn store() -> Vec<BackupDir> {
    vec![
        dir(
            "UTC20240222011253.698-full",
            true,
            Some("2024-02-22 09:20:00"),
        ),
        dir(
            "UTC20240220160004.835-inc",
            true,
            Some("2024-02-21 00:05:00"),
        ),
        dir(
            "UTC20240220093304.784-full",
            true,
            Some("2024-02-20 17:40:00"),
        ),
        dir(
            "UTC20240221031122.943-inc",
            true,
            Some("2024-02-21 11:15:00"),
        ),
        dir(
            "UTC20240206081826.526-full",
            true,
            Some("2024-02-06 16:20:00"),
        ),
    ]
}

fn names(c: &Chain) -> Vec<String> {
    c.backups.iter().map(ToString::to_string).collect()
}

#[test]
fn backup_names_round_trip_and_reject_other_entries() {
    for s in ["UTC20240222014345.236-full", "UTC20240220160004.835-inc"] {
        assert_eq!(name(s).to_string(), s);
    }
    assert!(name("UTC20240222014345.236-full").is_full());
    assert!(!name("UTC20240220160004.835-inc").is_full());
    for bad in [
        "trash",
        "socat_log",
        "encrypted",
        "UTC2024022201434.236-full",
        "UTC20240222014345.236-diff",
        "UTC20241322014345.236-full",
        "UTC20240222014345.2366-inc",
    ] {
        let e = bad.parse::<BackupName>().unwrap_err();
        assert_eq!(e.text, bad);
    }
    let started =
        NaiveDateTime::parse_from_str("2024-02-22 01:43:45.236789", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
    assert_eq!(
        BackupName::new(started, BackupType::Full).to_string(),
        "UTC20240222014345.236-full"
    );
}

#[test]
fn dir_target_takes_the_backups_back_to_its_full() {
    let c = select_chain(
        &store(),
        &RecoverTarget::Dir(name("UTC20240221031122.943-inc")),
    )
    .unwrap();
    assert_eq!(
        names(&c),
        [
            "UTC20240220093304.784-full",
            "UTC20240220160004.835-inc",
            "UTC20240221031122.943-inc"
        ]
    );
    assert_eq!((c.next, c.stop_datetime), (None, None));
    assert_eq!(c.target(), name("UTC20240221031122.943-inc"));
    let c = select_chain(
        &store(),
        &RecoverTarget::Dir(name("UTC20240222011253.698-full")),
    )
    .unwrap();
    assert_eq!(names(&c), ["UTC20240222011253.698-full"]);
}

#[test]
fn dir_target_errors() {
    let missing = name("UTC20250101000000.000-full");
    assert_eq!(
        select_chain(&store(), &RecoverTarget::Dir(missing)),
        Err(ChainError::TargetNotFound(missing))
    );
    let mut s = store();
    s.push(dir("UTC20240222020000.000-inc", false, None));
    let e = select_chain(&s, &RecoverTarget::Dir(name("UTC20240222020000.000-inc"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "recover-to dir UTC20240222020000.000-inc is not a complete backup (no ok flag)"
    );
    let orphan = vec![dir("UTC20240220160004.835-inc", true, None)];
    let e = select_chain(
        &orphan,
        &RecoverTarget::Dir(name("UTC20240220160004.835-inc")),
    )
    .unwrap_err();
    assert_eq!(e, ChainError::NoFull(name("UTC20240220160004.835-inc")));
    let mut s = store();
    s[1].ok = false;
    let e = select_chain(&s, &RecoverTarget::Dir(name("UTC20240221031122.943-inc"))).unwrap_err();
    assert!(
        matches!(e, ChainError::BrokenChain { incomplete, .. } if incomplete == name("UTC20240220160004.835-inc"))
    );
}

#[test]
fn datetime_between_two_backups_takes_the_earlier_and_the_next_incremental() {
    let c = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00")),
    )
    .unwrap();
    assert_eq!(
        names(&c),
        ["UTC20240220093304.784-full", "UTC20240220160004.835-inc"]
    );
    assert_eq!(c.next, Some(name("UTC20240221031122.943-inc")));
    assert_eq!(c.dirs_to_fetch().len(), 3);
    assert_eq!(
        c.to_string(),
        "UTC20240220093304.784-full -> UTC20240220160004.835-inc (+ binlogs of UTC20240221031122.943-inc), stop at 2024-02-21 08:00:00"
    );
    // Just after a full backup: the full, plus the first incremental's binlogs.
    let c = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-02-20 18:00:00")),
    )
    .unwrap();
    assert_eq!(names(&c), ["UTC20240220093304.784-full"]);
    assert_eq!(c.next, Some(name("UTC20240220160004.835-inc")));
}

#[test]
fn datetime_equal_to_a_point_needs_no_next_backup() {
    let c = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-02-22 09:20:00")),
    )
    .unwrap();
    assert_eq!(names(&c), ["UTC20240222011253.698-full"]);
    assert_eq!(c.next, None);
    let c = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-02-21 00:05:00")),
    )
    .unwrap();
    assert_eq!(c.target(), name("UTC20240220160004.835-inc"));
    assert_eq!(c.next, None);
}

#[test]
fn datetime_before_the_first_backup() {
    let e = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-01-01 00:00:00")),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot recover to 2024-01-01 00:00:00: the first backup UTC20240206081826.526-full has its consistent point at 2024-02-06 16:20:00"
    );
}

#[test]
fn datetime_after_the_last_backup_says_when_it_is_a_lone_full() {
    let e = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-03-01 00:00:00")),
    )
    .unwrap_err();
    assert!(matches!(
        e,
        ChainError::AfterLastBackup {
            only_full: true,
            ..
        }
    ));
    assert!(
        e.to_string()
            .contains("needs an incremental backup after the full one"),
        "{e}"
    );
    let mut s = store();
    s.retain(|d| d.name != name("UTC20240222011253.698-full"));
    let e = select_chain(&s, &RecoverTarget::StopDatetime(t("2024-03-01 00:00:00"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot recover to 2024-03-01 00:00:00: the last backup UTC20240221031122.943-inc has its consistent point at 2024-02-21 11:15:00"
    );
}

#[test]
fn datetime_before_a_full_backup_is_not_covered() {
    let e = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-02-21 12:00:00")),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ChainError::NotCovered { before, next_full, .. }
        if *before == name("UTC20240221031122.943-inc") && *next_full == name("UTC20240222011253.698-full"))
    );
    assert!(e.to_string().contains("no backup holds the binlogs"), "{e}");
    // A lone older full followed by another full: the same.
    let e = select_chain(
        &store(),
        &RecoverTarget::StopDatetime(t("2024-02-10 00:00:00")),
    )
    .unwrap_err();
    assert!(matches!(e, ChainError::NotCovered { .. }));
}

#[test]
fn datetime_errors_for_missing_pieces() {
    assert_eq!(
        select_chain(&[], &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00"))),
        Err(ChainError::NoBackups)
    );
    let only_bad = vec![dir("UTC20240220093304.784-full", false, None)];
    assert_eq!(
        select_chain(
            &only_bad,
            &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00"))
        ),
        Err(ChainError::NoBackups)
    );
    let mut s = store();
    s[0].point = None; // the newest: scanned first
    let e = select_chain(&s, &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "backup UTC20240222011253.698-full has no consistent_point_datetime file"
    );
    // An older backup without a point does not matter when the target is newer.
    let mut s = store();
    s[4].point = None;
    assert!(select_chain(&s, &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00"))).is_ok());
    // A failed run between the target and the next backup breaks the chain.
    let mut s = store();
    s.push(dir("UTC20240220200000.000-inc", false, None));
    let e = select_chain(&s, &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00"))).unwrap_err();
    assert!(
        matches!(e, ChainError::BrokenChain { incomplete, .. } if incomplete == name("UTC20240220200000.000-inc"))
    );
    // A failed newest run (still lying there) does not matter.
    let mut s = store();
    s.push(dir("UTC20240223000000.000-inc", false, None));
    assert!(select_chain(&s, &RecoverTarget::StopDatetime(t("2024-02-21 08:00:00"))).is_ok());
}

proptest! {
    // For any time inside the store's span, a chosen chain starts with a full
    // backup, its target's point is at or before the time, and the next
    // backup's point is after it.
    #[test]
    fn chosen_chain_brackets_the_time(minutes in 0i64..(60 * 24 * 20)) {
        let s = store();
        let stop = t("2024-02-06 16:20:00") + chrono::Duration::minutes(minutes);
        let point_of = |n: BackupName| s.iter().find(|d| d.name == n).and_then(|d| d.point);
        let chosen = select_chain(&s, &RecoverTarget::StopDatetime(stop));
        // Inside an incremental's span or on a point a chain must be found;
        // elsewhere only "not covered", or "after the last" past the newest point.
        let covered = (t("2024-02-20 17:40:00")..=t("2024-02-21 11:15:00")).contains(&stop)
            || s.iter().any(|d| d.point == Some(stop));
        prop_assert_eq!(chosen.is_ok(), covered, "{:?}", chosen);
        if let Err(e) = &chosen {
            let after_last = stop > t("2024-02-22 09:20:00");
            prop_assert!(
                matches!(e, ChainError::NotCovered { .. }) || (after_last && matches!(e, ChainError::AfterLastBackup { .. })),
                "{}",
                e
            );
        }
        if let Ok(c) = chosen {
            prop_assert!(c.backups[0].is_full());
            prop_assert!(point_of(c.target()).unwrap() <= stop);
            if let Some(n) = c.next {
                prop_assert!(!n.is_full());
                prop_assert!(point_of(n).unwrap() > stop);
            } else {
                prop_assert_eq!(point_of(c.target()).unwrap(), stop);
            }
        }
    }
}
