//! `catalog::history` on the sandbox's catalog MariaDB: the migrations
//! make the seed's three tables column for column, an existing pybackup
//! catalogdb is adopted, and every statement does what it says. Each test
//! has its own database, dropped even when it fails.

#![allow(clippy::unwrap_used)]

use catalog::history::{BackupPath, BackupRecord, CatalogLogin, History, RecoverInfo, Transfer};
use chrono::NaiveDateTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions as _, Row as _};

/// `SHOW CREATE TABLE` of the three tables as seed 003 records them.
const SEED_TABLES: &[(&str, &str)] = &[
    (
        "user_backup",
        "CREATE TABLE `user_backup` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `bk_id` varchar(36) NOT NULL,
  `bk_server` varchar(15) NOT NULL,
  `start_time` datetime NOT NULL,
  `end_time` datetime NOT NULL,
  `elapsed_time` int(11) NOT NULL,
  `backuped_db` varchar(2048) DEFAULT NULL,
  `is_complete` varchar(200) DEFAULT NULL,
  `bk_size` varchar(10) NOT NULL,
  `bk_dir` varchar(200) NOT NULL,
  `transfer_start` datetime DEFAULT NULL,
  `transfer_end` datetime DEFAULT NULL,
  `transfer_elapsed` int(11) DEFAULT NULL,
  `transfer_complete` varchar(20) NOT NULL,
  `remote_dest` varchar(200) NOT NULL,
  `master_status` varchar(200) NOT NULL,
  `slave_status` varchar(200) NOT NULL,
  `tool_version` varchar(200) NOT NULL,
  `server_version` varchar(200) NOT NULL,
  `pybackup_version` varchar(200) DEFAULT NULL,
  `bk_command` varchar(2048) DEFAULT NULL,
  `tag` varchar(200) NOT NULL DEFAULT 'N/A',
  `is_deleted` char(1) NOT NULL DEFAULT 'N',
  `validate_status` varchar(20) NOT NULL DEFAULT 'N/A',
  PRIMARY KEY (`id`),
  UNIQUE KEY `bk_id` (`bk_id`),
  KEY `idx_start_time` (`start_time`),
  KEY `idx_transfer_start` (`transfer_start`)
) ENGINE=InnoDB AUTO_INCREMENT=178 DEFAULT CHARSET=utf8",
    ),
    (
        "user_backup_path",
        "CREATE TABLE `user_backup_path` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `bk_server` varchar(15) NOT NULL,
  `remote_server` varchar(15) NOT NULL,
  `real_path` varchar(200) NOT NULL,
  `tag` varchar(200) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=13 DEFAULT CHARSET=utf8",
    ),
    (
        "user_recover_info",
        "CREATE TABLE `user_recover_info` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `bk_id` varchar(36) NOT NULL,
  `tag` varchar(200) NOT NULL DEFAULT 'N/A',
  `backup_path` varchar(2000) NOT NULL,
  `db` varchar(200) NOT NULL,
  `start_time` datetime NOT NULL,
  `end_time` datetime NOT NULL,
  `elapsed_time` int(11) NOT NULL,
  `recover_status` varchar(20) DEFAULT NULL,
  `validate_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=27 DEFAULT CHARSET=utf8",
    ),
];

/// What MySQL 5.7 and MariaDB 10.11 print differently for the same table,
/// and the AUTO_INCREMENT counter, made equal.
fn normalize(ddl: &str) -> String {
    let mut s = ddl
        .replace("current_timestamp()", "CURRENT_TIMESTAMP")
        .replace("utf8mb3", "utf8");
    s = s.replace(" COLLATE=utf8_general_ci", "");
    if let Some(at) = s.find(" AUTO_INCREMENT=") {
        let end = s[at + 16..].find(' ').map_or(s.len(), |e| at + 16 + e);
        s.replace_range(at..end, "");
    }
    s
}

struct Db {
    sb: testkit::Sandbox,
    name: String,
}

impl Db {
    fn new() -> Option<Db> {
        let sb = testkit::Sandbox::get()?;
        Some(Db {
            sb,
            name: testkit::unique("cath"),
        })
    }

    fn login(&self) -> CatalogLogin {
        let e = self.sb.catalog();
        CatalogLogin::new(e.host, e.port, e.user, e.password, self.name.clone())
    }

    async fn conn(&self, db: Option<&str>) -> MySqlConnection {
        let e = self.sb.catalog();
        let mut o = MySqlConnectOptions::new()
            .host(&e.host)
            .port(e.port)
            .username(&e.user)
            .password(&e.password);
        if let Some(db) = db {
            o = o.database(db);
        }
        o.connect().await.expect("connect to the catalog")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let e = self.sb.catalog();
        let name = self.name.clone();
        let _ = testkit::on_own_thread(move || async move {
            let o = MySqlConnectOptions::new()
                .host(&e.host)
                .port(e.port)
                .username(&e.user)
                .password(&e.password);
            if let Ok(mut c) = o.connect().await {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .execute(&mut c)
                    .await;
            }
        })
        .join();
    }
}

async fn show_create(c: &mut MySqlConnection, table: &str) -> String {
    let row = sqlx::raw_sql(&format!("SHOW CREATE TABLE `{table}`"))
        .fetch_one(&mut *c)
        .await
        .expect("show create");
    row.try_get_unchecked::<String, _>(1).expect("ddl")
}

#[tokio::test]
async fn the_migrations_make_the_seed_tables_column_for_column() {
    let Some(db) = Db::new() else { return };
    let h = History::open(&db.login()).await.expect("open");
    // Twice: already migrated is fine.
    History::open(&db.login()).await.expect("open again");
    let mut c = db.conn(Some(&db.name)).await;
    for (table, seed) in SEED_TABLES {
        assert_eq!(
            normalize(&show_create(&mut c, table).await),
            normalize(seed),
            "{table}"
        );
    }
    h.close().await;
}

#[tokio::test]
async fn an_existing_pybackup_catalog_is_adopted_as_it_is() {
    let Some(db) = Db::new() else { return };
    let mut c = db.conn(None).await;
    sqlx::raw_sql(&format!("CREATE DATABASE `{}`", db.name))
        .execute(&mut c)
        .await
        .unwrap();
    let mut c = db.conn(Some(&db.name)).await;
    for (_, seed) in SEED_TABLES {
        sqlx::raw_sql(seed).execute(&mut c).await.unwrap();
    }
    // The seed's sample row, as pybackup wrote it.
    sqlx::raw_sql("INSERT INTO user_backup (bk_id, bk_server, start_time, end_time, elapsed_time, backuped_db, is_complete, bk_size, bk_dir, transfer_start, transfer_end, transfer_elapsed, transfer_complete, remote_dest, master_status, slave_status, tool_version, server_version, bk_command) VALUES ('bcd36dc6-c9e7-11e7-9e30-005056b15d9c', '106.3.130.84', '2017-11-15 17:31:20', '2017-11-15 17:32:07', 47, 'fandb,test', 'Y,Y', '480M', '/data4/recover/pybackup/2017-11-15', '2017-11-15 17:32:07', '2017-11-15 17:33:36', 89, 'Y', 'platform@182.92.83.238/db_backup/106.3.130.84/', 'mysql-bin.000036,61286,', 'Not a slave', 'mydumper 0.9.2, built against MySQL 5.5.53', '5.7.18-log', 'mydumper --outputdir=/x')")
        .execute(&mut c).await.unwrap();
    let h = History::open(&db.login()).await.expect("adopt");
    let rows = h.recent(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.id, 178);
    assert_eq!(
        (r.bk_size.as_str(), r.elapsed_time, r.transfer_elapsed),
        ("480M", 47, Some(89))
    );
    assert_eq!(
        (
            r.tag.as_str(),
            r.is_deleted.as_str(),
            r.validate_status.as_str()
        ),
        ("N/A", "N", "N/A")
    );
    assert_eq!(r.pybackup_version, None);
    for (table, seed) in SEED_TABLES {
        assert_eq!(
            normalize(&show_create(&mut c, table).await),
            normalize(seed),
            "{table} changed"
        );
    }
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn record(bk_id: &str, start: &str) -> BackupRecord {
    BackupRecord {
        id: 0,
        bk_id: bk_id.into(),
        bk_server: "127.0.0.11".into(),
        start_time: at(start),
        end_time: at(start),
        elapsed_time: 0,
        backuped_db: Some("a".into()),
        is_complete: Some("Y".into()),
        bk_size: "1.0K".into(),
        bk_dir: "/bk/day".into(),
        transfer_start: None,
        transfer_end: None,
        transfer_elapsed: None,
        transfer_complete: "N".into(),
        remote_dest: "u@h/m/".into(),
        master_status: "mysql-bin.000001,4,".into(),
        slave_status: "Not a slave".into(),
        tool_version: "mydumper 0.10.0".into(),
        server_version: "10.11".into(),
        pybackup_version: Some("dbcatalog".into()),
        bk_command: Some("mydumper --password=********".into()),
        tag: "N/A".into(),
        is_deleted: "N".into(),
        validate_status: "N/A".into(),
    }
}

#[tokio::test]
async fn records_transfers_claims_deletions_and_recoveries() {
    let Some(db) = Db::new() else { return };
    let h = History::open(&db.login()).await.expect("open");
    let (old, new) = (
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    );
    h.insert_backup(&record(new, "2026-12-04 10:00:00"))
        .await
        .unwrap();
    h.insert_backup(&record(old, "2026-12-03 10:00:00"))
        .await
        .unwrap();
    assert_eq!(
        h.backup(new).await.unwrap().unwrap().bk_command.as_deref(),
        Some("mydumper --password=********")
    );
    // Untransferred backups are not validated.
    assert!(h.claim_for_validation().await.unwrap().is_none());
    let t = Transfer {
        start: at("2026-12-04 10:00:01"),
        end: at("2026-12-04 10:01:31"),
        complete: true,
    };
    for id in [old, new] {
        assert!(h.record_transfer(id, &t, "u@h/m/").await.unwrap());
    }
    assert!(!h.record_transfer("nope", &t, "x").await.unwrap());
    let r = h.backup(old).await.unwrap().unwrap();
    assert_eq!(
        (r.transfer_elapsed, r.transfer_complete.as_str()),
        (Some(90), "Y")
    );
    // Claims: oldest first, each once while held.
    let (first, claim) = h.claim_for_validation().await.unwrap().unwrap();
    assert_eq!(
        (first.bk_id.as_str(), first.validate_status.as_str()),
        (old, "validating")
    );
    let (second, claim2) = h.claim_for_validation().await.unwrap().unwrap();
    assert_eq!(second.bk_id, new);
    assert!(
        h.claim_for_validation().await.unwrap().is_none(),
        "both are held"
    );
    // A claimer that died (its connection gone) leaves `validating`
    // behind, and its backup is claimed again.
    drop(claim2);
    let (again, claim2) = h.claim_for_validation().await.unwrap().unwrap();
    assert_eq!(again.bk_id, new);
    claim2.release().await;
    // A deleted backup is not claimed.
    assert!(h.mark_deleted(new).await.unwrap());
    assert!(!h.mark_deleted(new).await.unwrap(), "marked twice");
    assert!(h.claim_for_validation().await.unwrap().is_none());
    h.set_validate_status(old, "Y").await.unwrap();
    claim.release().await;
    assert_eq!(h.backup(old).await.unwrap().unwrap().validate_status, "Y");
    // Paths and recoveries.
    let p = BackupPath {
        id: 0,
        bk_server: "127.0.0.11".into(),
        remote_server: "127.0.0.50".into(),
        real_path: "/store/x/".into(),
        tag: "t".into(),
    };
    let pid = h.insert_path(&p).await.unwrap();
    assert_eq!(
        h.paths("127.0.0.11").await.unwrap()[0].real_path,
        "/store/x/"
    );
    h.delete_path(pid).await.unwrap();
    assert!(h.paths("127.0.0.11").await.unwrap().is_empty());
    let info = RecoverInfo {
        id: 0,
        bk_id: old.into(),
        tag: "N/A".into(),
        backup_path: "/store/x/day/id/a".into(),
        db: "a".into(),
        start_time: at("2026-12-04 11:00:00"),
        end_time: at("2026-12-04 11:00:05"),
        elapsed_time: 5,
        recover_status: Some("Y".into()),
        validate_time: chrono::Utc::now(),
    };
    h.insert_recover_info(&info).await.unwrap();
    let got = h.recover_info(old).await.unwrap();
    assert_eq!(
        (
            got[0].db.as_str(),
            got[0].elapsed_time,
            got[0].recover_status.as_deref()
        ),
        ("a", 5, Some("Y"))
    );
    h.forget(old).await.unwrap();
    assert!(
        h.backup(old).await.unwrap().is_none() && h.recover_info(old).await.unwrap().is_empty()
    );
    // The newest first.
    assert_eq!(h.recent(5).await.unwrap()[0].bk_id, new);
}

#[tokio::test]
async fn a_catalog_that_is_down_is_a_clear_error() {
    let login = CatalogLogin::new("127.0.0.1", 1, "u", "pw-never-shown", "catalogdb");
    let err = History::open(&login).await.unwrap_err().to_string();
    assert!(
        err.contains("127.0.0.1:1") && !err.contains("pw-never-shown"),
        "{err}"
    );
    assert!(!format!("{login:?}").contains("pw-never-shown"));
    let bad = CatalogLogin::new("127.0.0.1", 1, "u", "p", "x`; DROP");
    assert!(
        History::open(&bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("plain identifier")
    );
}
