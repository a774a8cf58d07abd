use super::*;
use crate::apply_plan::{plan_apply, plan_apply_with};
use crate::chain::{BackupDir, BackupName, Chain, RecoverTarget, select_chain};
use crate::gtid::GtidFlavor;

const MASTER_DIR: &str = "normal_1-normal_1_0-127.0.0.21-16315";
const SLAVE_DIR: &str = "normal_1-normal_1_1-127.0.0.22-16315";
const UUID: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
const FULL: &str = "UTC20261204220000.000-full";
const INC: &str = "UTC20261204221000.000-inc";

fn file(f: &str) -> BinlogName {
    f.parse().unwrap()
}

/// A backup of the slave `normal_1_1` whose line starts at `xb_to`, with
/// the master's binlogs `binlogs` copied and the slave's directory `facts`.
fn backup(name: &str, xb_to: &str, binlogs: &str, facts: ServerFacts) -> BackupFacts {
    let (xb_file, xb_pos) = xb_to.split_once(':').unwrap();
    BackupFacts {
        name: name.parse().unwrap(),
        consistence: format!(
            "127.0.0.22:16315\tnormal_1_1\tmysql-bin.000002\t900\tbelong-to-datasource=normal_1\t\
             xb-to-lsn=1\txb-to-binlog-name={xb_file}\txb-to-binlog-pos={xb_pos}\n"
        )
        .parse()
        .unwrap(),
        binlogs: format!("normal_1_0:{binlogs}\n").parse().unwrap(),
        servers: [("normal_1_1".to_owned(), facts)].into(),
    }
}

/// The slave's directory with an empty `executed_gtids`: no transaction.
fn empty_data() -> ServerFacts {
    ServerFacts {
        master_dir: Some(MASTER_DIR.parse().unwrap()),
        executed_gtids: None,
        executed_gtids_empty: true,
    }
}

fn chain_to(target: &str) -> Chain {
    let name: BackupName = target.parse().unwrap();
    let dirs = [BackupDir {
        name,
        ok: true,
        point: None,
    }];
    select_chain(&dirs, &RecoverTarget::Dir(name)).unwrap()
}

/// What was read of the master's start binlog.
fn head(gtids: Result<GtidSet, String>) -> StartGtids {
    let mut heads = StartGtids::new();
    heads.insert("normal_1_0", file("mysql-bin.000001"), gtids);
    heads
}

fn set(flavor: GtidFlavor, text: &str) -> GtidSet {
    GtidSet::parse(flavor, text).unwrap()
}

#[test]
fn no_transaction_and_a_binlog_that_begins_the_history_replays_it_all() {
    for flavor in [GtidFlavor::Mariadb, GtidFlavor::Mysql] {
        let target = backup(
            FULL,
            "mysql-bin.000001:4",
            "mysql-bin.000001 mysql-bin.000002",
            empty_data(),
        );
        let plan =
            plan_apply_with(&chain_to(FULL), &target, None, &head(Ok(set(flavor, "")))).unwrap();
        let d = &plan.datasources[0];
        assert_eq!(d.start.to_string(), "mysql-bin.000001:4", "{flavor:?}");
        assert_eq!(
            d.skip_gtids, None,
            "nothing to skip: the seed's empty --exclude-gtids"
        );
        assert_eq!(d.data_dir.to_string(), SLAVE_DIR);
        let files: Vec<String> = d.binlogs.iter().map(|b| b.file.to_string()).collect();
        assert_eq!(files, ["mysql-bin.000001", "mysql-bin.000002"]);
        assert_eq!(d.stop.to_string(), "position mysql-bin.000002:900");
    }
}

#[test]
fn the_replay_starts_at_the_first_event_whatever_position_was_recorded() {
    let target = backup(
        FULL,
        "mysql-bin.000001:328",
        "mysql-bin.000001 mysql-bin.000002",
        empty_data(),
    );
    let heads = head(Ok(set(GtidFlavor::Mariadb, "")));
    let plan = plan_apply_with(&chain_to(FULL), &target, None, &heads).unwrap();
    assert_eq!(plan.datasources[0].start.to_string(), "mysql-bin.000001:4");
}

#[test]
fn no_transaction_but_history_before_the_binlog_is_refused_naming_it() {
    for (flavor, before) in [
        (GtidFlavor::Mariadb, "0-21-5".to_owned()),
        (GtidFlavor::Mysql, format!("{UUID}:1-5")),
    ] {
        let target = backup(
            FULL,
            "mysql-bin.000001:4",
            "mysql-bin.000001 mysql-bin.000002",
            empty_data(),
        );
        let e = plan_apply_with(
            &chain_to(FULL),
            &target,
            None,
            &head(Ok(set(flavor, &before))),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ApplyPlanError::HistoryBeforeStart { datasource, binlog, .. }
                if datasource == "normal_1" && binlog == "mysql-bin.000001 of normal_1_0"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "datasource normal_1: {SLAVE_DIR} holds no transaction (empty executed_gtids) but binlog \
                 mysql-bin.000001 of normal_1_0 begins after GTIDs {before}: whether the data holds them \
                 is unknown, so a replay from its start could apply transactions twice or miss them"
            )
        );
    }
}

#[test]
fn no_transaction_and_an_unknown_head_is_refused_saying_why() {
    let target = backup(
        FULL,
        "mysql-bin.000001:4",
        "mysql-bin.000001 mysql-bin.000002",
        empty_data(),
    );
    let e = plan_apply_with(
        &chain_to(FULL),
        &target,
        None,
        &head(Err("the binlog is encrypted".into())),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ApplyPlanError::StartGtidsUnknown { why, .. } if why == "the binlog is encrypted"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("mysql-bin.000001 of normal_1_0"),
        "{e}"
    );
    // Heads not read at all: plan_apply refuses as before, saying so.
    let e = plan_apply(&chain_to(FULL), &target, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("are unknown (its head was not read)"),
        "{e}"
    );
}

#[test]
fn a_missing_executed_gtids_file_is_refused_whatever_the_head() {
    let facts = ServerFacts {
        executed_gtids_empty: false,
        ..empty_data()
    };
    let target = backup(
        FULL,
        "mysql-bin.000001:4",
        "mysql-bin.000001 mysql-bin.000002",
        facts,
    );
    let heads = head(Ok(set(GtidFlavor::Mariadb, "")));
    let e = plan_apply_with(&chain_to(FULL), &target, None, &heads).unwrap_err();
    assert!(
        matches!(e, ApplyPlanError::MissingExecutedGtids { .. }),
        "{e:?}"
    );
    assert!(heads_needed(&target, None).is_empty());
}

#[test]
fn executed_gtids_are_skipped_and_need_no_head() {
    for (flavor, text) in [
        (GtidFlavor::Mariadb, "0-21-7".to_owned()),
        (GtidFlavor::Mysql, format!("{UUID}:1-7")),
    ] {
        let facts = ServerFacts {
            executed_gtids: Some(set(flavor, &text)),
            executed_gtids_empty: false,
            ..empty_data()
        };
        let target = backup(
            FULL,
            "mysql-bin.000001:4",
            "mysql-bin.000001 mysql-bin.000002",
            facts,
        );
        assert!(heads_needed(&target, None).is_empty());
        let plan = plan_apply(&chain_to(FULL), &target, None).unwrap();
        assert_eq!(plan.datasources[0].skip_gtids, Some(set(flavor, &text)));
    }
}

#[test]
fn the_head_is_read_from_the_backup_that_copied_the_start_binlog() {
    let target = backup(
        FULL,
        "mysql-bin.000001:4",
        "mysql-bin.000001 mysql-bin.000002",
        empty_data(),
    );
    let needed = heads_needed(&target, None);
    assert_eq!(
        needed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!("{FULL}/{MASTER_DIR}/mysql-bin.000001")]
    );
    // The target did not copy it, the next backup did.
    let target = backup(FULL, "mysql-bin.000001:4", "mysql-bin.000002", empty_data());
    let next = backup(
        INC,
        "mysql-bin.000003:4",
        "mysql-bin.000001 mysql-bin.000003",
        empty_data(),
    );
    let needed = heads_needed(&target, Some(&next));
    assert_eq!(needed[0].backup.to_string(), INC);
    // Neither: left to planning, which names the missing file.
    assert!(heads_needed(&target, None).is_empty());
    // The master's own data (no master_dir) starts at its exact position.
    let master = backup(
        FULL,
        "mysql-bin.000001:4",
        "mysql-bin.000001",
        ServerFacts::default(),
    );
    assert!(heads_needed(&master, None).is_empty());
}
