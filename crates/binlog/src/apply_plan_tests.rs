use super::*;
use crate::chain::{BackupDir, RecoverTarget, select_chain};
use crate::gtid::GtidFlavor;

const MASTER_DIR: &str = "normal_0-normal_0_1-172.17.134.76-16315";
const UUID: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

fn name(s: &str) -> BackupName {
    s.parse().unwrap()
}

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, POINT_DATETIME_FORMAT).unwrap()
}

fn slave_facts() -> ServerFacts {
    ServerFacts {
        master_dir: Some(MASTER_DIR.parse().unwrap()),
        executed_gtids: Some(GtidSet::parse(GtidFlavor::Mysql, &format!("{UUID}:1-100")).unwrap()),
        executed_gtids_empty: false,
    }
}

fn facts(
    n: &str,
    consistence: &str,
    binlogs: &str,
    servers: &[(&str, ServerFacts)],
) -> BackupFacts {
    BackupFacts {
        name: name(n),
        consistence: consistence.parse().unwrap(),
        binlogs: binlogs.parse().unwrap(),
        servers: servers
            .iter()
            .map(|(s, f)| (s.to_string(), f.clone()))
            .collect(),
    }
}

/// Seed 000's recorded full backup without backup-master: one slave line,
/// the master's binlog 000041 copied.
fn seed_full() -> BackupFacts {
    facts(
        "UTC20240222014345.236-full",
        "172.17.134.71:16315\tnormal_0_0\tgreatdb-bin.000041\t631\tbelong-to-datasource=normal_0\txb-to-lsn=21694916\txb-to-binlog-name=greatdb-bin.000041\txb-to-binlog-pos=4\n",
        "normal_0_1:greatdb-bin.000041\n",
        &[("normal_0_0", slave_facts())],
    )
}

/// An incremental with seed 000's recorded line (start 000043, point in 000044).
fn seed_inc() -> BackupFacts {
    facts(
        "UTC20240222050000.000-inc",
        "172.17.134.71:16315\tnormal_0_0\tgreatdb-bin.000044\t426751689\tbelong-to-datasource=normal_0\txb-to-lsn=2041207873\txb-to-binlog-name=greatdb-bin.000043\txb-to-binlog-pos=4\n",
        "normal_0_1:greatdb-bin.000041 greatdb-bin.000042 greatdb-bin.000043 greatdb-bin.000044\n",
        &[("normal_0_0", slave_facts())],
    )
}

fn next_inc(binlogs: &str) -> BackupFacts {
    facts("UTC20240222090000.000-inc", "", binlogs, &[])
}

fn dirs() -> Vec<BackupDir> {
    vec![
        BackupDir {
            name: seed_full().name,
            ok: true,
            point: Some(t("2024-02-22 09:43:45")),
        },
        BackupDir {
            name: seed_inc().name,
            ok: true,
            point: Some(t("2024-02-22 13:00:00")),
        },
        BackupDir {
            name: next_inc("").name,
            ok: true,
            point: Some(t("2024-02-22 17:00:00")),
        },
    ]
}

fn files(d: &DatasourceApply) -> Vec<String> {
    d.binlogs.iter().map(ToString::to_string).collect()
}

#[test]
fn to_a_dir_replays_the_slave_start_to_the_point_from_the_master_dir() {
    let chain = select_chain(&dirs(), &RecoverTarget::Dir(seed_full().name)).unwrap();
    let plan = plan_apply(&chain, &seed_full(), None).unwrap();
    let d = &plan.datasources[0];
    assert_eq!(
        d.data_dir.to_string(),
        "normal_0-normal_0_0-172.17.134.71-16315"
    );
    assert_eq!(d.binlog_dir.to_string(), MASTER_DIR);
    assert_eq!(d.start.to_string(), "greatdb-bin.000041:4");
    assert_eq!(
        files(d),
        [format!(
            "UTC20240222014345.236-full/{MASTER_DIR}/greatdb-bin.000041"
        )]
    );
    assert_eq!(d.stop.to_string(), "position greatdb-bin.000041:631");
    assert_eq!(
        plan.to_string(),
        format!(
            "chain: UTC20240222014345.236-full\n\
             datasource normal_0: data of normal_0-normal_0_0-172.17.134.71-16315, binlogs of normal_0_1\n  \
             start greatdb-bin.000041:4 skipping executed GTIDs {UUID}:1-100\n  \
             apply UTC20240222014345.236-full/{MASTER_DIR}/greatdb-bin.000041\n  \
             stop  position greatdb-bin.000041:631\n"
        )
    );
}

#[test]
fn to_a_datetime_takes_later_copies_from_the_next_backup() {
    let chain = select_chain(
        &dirs(),
        &RecoverTarget::StopDatetime(t("2024-02-22 15:00:00")),
    )
    .unwrap();
    assert_eq!(chain.target(), seed_inc().name);
    let next = next_inc("normal_0_1:greatdb-bin.000044 greatdb-bin.000045 greatdb-bin.000046\n");
    let plan = plan_apply(&chain, &seed_inc(), Some(&next)).unwrap();
    let d = &plan.datasources[0];
    assert_eq!(
        files(d),
        [
            format!("UTC20240222050000.000-inc/{MASTER_DIR}/greatdb-bin.000043"),
            format!("UTC20240222090000.000-inc/{MASTER_DIR}/greatdb-bin.000044"),
            format!("UTC20240222090000.000-inc/{MASTER_DIR}/greatdb-bin.000045"),
            format!("UTC20240222090000.000-inc/{MASTER_DIR}/greatdb-bin.000046"),
        ]
    );
    assert_eq!(d.stop, ApplyStop::Datetime(t("2024-02-22 15:00:00")));
    assert!(
        plan.to_string()
            .contains("stop  datetime 2024-02-22 15:00:00")
    );
}

#[test]
fn a_datetime_on_a_point_stops_at_the_position() {
    let chain = select_chain(
        &dirs(),
        &RecoverTarget::StopDatetime(t("2024-02-22 13:00:00")),
    )
    .unwrap();
    let plan = plan_apply(&chain, &seed_inc(), None).unwrap();
    let d = &plan.datasources[0];
    assert_eq!(d.stop.to_string(), "position greatdb-bin.000044:426751689");
    assert_eq!(d.binlogs.len(), 2);
}

#[test]
fn a_backed_up_master_is_preferred_over_its_slaves() {
    let consistence = "172.17.134.76:16315\tnormal_0_1\tgreatdb-bin.000041\t631\tbelong-to-datasource=normal_0\txb-to-lsn=1\txb-to-binlog-name=greatdb-bin.000040\txb-to-binlog-pos=777\n\
                       172.17.134.71:16315\tnormal_0_0\tgreatdb-bin.000041\t631\tbelong-to-datasource=normal_0\txb-to-lsn=2\txb-to-binlog-name=greatdb-bin.000041\txb-to-binlog-pos=4\n\
                       192.168.122.110:13004\tauth_server\tmaster-bin.000001\t724\tbelong-to-datasource=auth\txb-to-lsn=1359021\txb-to-binlog-name=master-bin.000001\txb-to-binlog-pos=724\n";
    let master = ServerFacts::default();
    let target = facts(
        "UTC20240222014345.236-full",
        consistence,
        "normal_0_1:greatdb-bin.000040 greatdb-bin.000041\nauth_server:master-bin.000001\n",
        &[
            ("normal_0_1", master.clone()),
            ("normal_0_0", slave_facts()),
            ("auth_server", master),
        ],
    );
    let chain = select_chain(&dirs(), &RecoverTarget::Dir(target.name)).unwrap();
    let plan = plan_apply(&chain, &target, None).unwrap();
    assert_eq!(plan.datasources.len(), 2);
    let d = &plan.datasources[0];
    assert_eq!(d.data_dir.to_string(), MASTER_DIR);
    assert_eq!(d.start.to_string(), "greatdb-bin.000040:777");
    assert_eq!(d.binlogs.len(), 2);
    assert_eq!(d.skip_gtids, None);
    let a = &plan.datasources[1];
    assert_eq!(
        (
            a.datasource.as_str(),
            a.start.to_string(),
            a.stop.to_string()
        ),
        (
            "auth",
            "master-bin.000001:724".into(),
            "position master-bin.000001:724".into()
        )
    );
}

#[test]
fn a_missing_binlog_names_the_datasource_and_the_file() {
    let chain = select_chain(
        &dirs(),
        &RecoverTarget::StopDatetime(t("2024-02-22 15:00:00")),
    )
    .unwrap();
    let next = next_inc("normal_0_1:greatdb-bin.000044 greatdb-bin.000046\n");
    let e = plan_apply(&chain, &seed_inc(), Some(&next)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "datasource normal_0: binlog greatdb-bin.000045 of normal_0_1 is needed but is in none of \
         UTC20240222050000.000-inc and UTC20240222090000.000-inc"
    );
    let mut target = seed_inc();
    target.binlogs = "normal_0_1:greatdb-bin.000044\n".parse().unwrap();
    let chain = select_chain(&dirs(), &RecoverTarget::Dir(target.name)).unwrap();
    let e = plan_apply(&chain, &target, None).unwrap_err();
    assert!(
        matches!(e, ApplyPlanError::MissingBinlog { file, .. } if file.to_string() == "greatdb-bin.000043")
    );
}

#[test]
fn other_errors() {
    let chain = select_chain(
        &dirs(),
        &RecoverTarget::StopDatetime(t("2024-02-22 15:00:00")),
    )
    .unwrap();
    // The next backup copied nothing of the master (it changed?).
    let e = plan_apply(
        &chain,
        &seed_inc(),
        Some(&next_inc("other:greatdb-bin.000001\n")),
    )
    .unwrap_err();
    assert!(
        matches!(e, ApplyPlanError::NoBinlogsCopied { ref server, .. } if server == "normal_0_1"),
        "{e}"
    );
    // Facts of the wrong backups.
    let e = plan_apply(&chain, &seed_full(), None).unwrap_err();
    assert!(matches!(e, ApplyPlanError::WrongBackup { .. }));
    let e = plan_apply(&chain, &seed_inc(), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the facts given are for nothing, but the chain needs UTC20240222090000.000-inc"
    );
    // A slave without executed_gtids.
    let chain = select_chain(&dirs(), &RecoverTarget::Dir(seed_full().name)).unwrap();
    let mut target = seed_full();
    target.servers.insert(
        "normal_0_0".into(),
        ServerFacts {
            executed_gtids: None,
            ..slave_facts()
        },
    );
    let e = plan_apply(&chain, &target, None).unwrap_err();
    assert!(e.to_string().contains("has no executed_gtids"), "{e}");
    // A line without directory facts.
    let mut target = seed_full();
    target.servers.clear();
    let e = plan_apply(&chain, &target, None).unwrap_err();
    assert!(
        matches!(e, ApplyPlanError::MissingServer { ref server, .. } if server == "normal_0_0")
    );
    // Start after the point.
    let mut target = seed_full();
    target.consistence.lines[0].xb_to.file = "greatdb-bin.000042".parse().unwrap();
    let e = plan_apply(&chain, &target, None).unwrap_err();
    assert!(matches!(e, ApplyPlanError::BadRange { .. }));
}
