//! Test equipment: each test's own world on the sandbox: databases on
//! normal_0's master, a catalog database of its own on the catalog server,
//! an rsync daemon of its own on the store host (its module in a temporary
//! directory), a `pbackup.conf` naming them, and the `dbcatalog` binary run
//! under the `/proc` secret scan. Everything is removed on drop, also when
//! the test fails.

#![allow(dead_code)]

use sqlx::ConnectOptions as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;
use testkit::Sandbox;

/// The master `pbackup.conf`'s [TDB] names.
pub const MASTER: &str = "normal_0_0";

/// One test's world.
pub struct World {
    pub sb: Sandbox,
    pub name: String,
    pub tmp: tempfile::TempDir,
    pub catalog_db: String,
    pub databases: Vec<String>,
    pub rsync: Option<Rsyncd>,
    pub rsync_port: u16,
    pub rsync_password: String,
    /// Command lines the secret scans saw naming this test's directory.
    pub witnessed: std::sync::atomic::AtomicUsize,
}

/// An rsync daemon of the test's own.
pub struct Rsyncd {
    child: Child,
}

impl Drop for Rsyncd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port(host: &str) -> u16 {
    let l = std::net::TcpListener::bind((host, 0)).expect("a free port");
    l.local_addr().expect("its address").port()
}

impl World {
    /// A new world; `prefix` names its databases.
    pub fn new(prefix: &str) -> World {
        let sb = Sandbox::get().expect("sandbox");
        let name = testkit::unique(prefix);
        let tmp = tempfile::Builder::new()
            .prefix("dbcat-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(tmp.path().join("module")).expect("module dir");
        std::fs::create_dir(tmp.path().join("out")).expect("out dir");
        let rsync_password = format!("rs{}", name.len() * 7919);
        let mut w = World {
            catalog_db: format!("cat_{name}"),
            sb,
            name,
            tmp,
            databases: Vec::new(),
            rsync: None,
            rsync_port: 0,
            rsync_password,
            witnessed: std::sync::atomic::AtomicUsize::new(0),
        };
        w.rsync_port = free_port(w.sb.var("STORE_HOST"));
        write_private(
            &w.tmp.path().join("rsync.pw"),
            &format!("{}\n", w.rsync_password),
        );
        write_private(
            &w.tmp.path().join("rsyncd.secrets"),
            &format!("tester:{}\n", w.rsync_password),
        );
        std::fs::write(
            w.tmp.path().join("rsyncd.conf"),
            format!(
                "address = {}\nport = {}\nuse chroot = no\nuid = 0\ngid = 0\n\n[mod]\npath = {}\nread only = no\n\
                 auth users = tester\nsecrets file = {}\n",
                w.sb.var("STORE_HOST"),
                w.rsync_port,
                w.module_dir().display(),
                w.tmp.path().join("rsyncd.secrets").display()
            ),
        )
        .expect("rsyncd.conf");
        w.write_conf("%", false);
        w
    }

    /// How many command lines the scans saw naming this test's directory.
    pub fn witnessed(&self) -> usize {
        self.witnessed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The rsync module's directory (the "storage host" side).
    pub fn module_dir(&self) -> PathBuf {
        self.tmp.path().join("module")
    }

    /// `outputdir=` of this test's backups: `<tmp>/out/<day>`.
    pub fn outputdir(&self) -> PathBuf {
        self.tmp.path().join("out").join("2026-12-04")
    }

    /// Where a transfer of `outputdir` lands.
    pub fn stored(&self, bk_id: &str) -> PathBuf {
        self.module_dir()
            .join("127.0.0.11")
            .join("2026-12-04")
            .join(bk_id)
    }

    pub fn conf(&self) -> PathBuf {
        self.tmp.path().join("pbackup.conf")
    }

    /// Writes the test's `pbackup.conf`.
    pub fn write_conf(&self, db_list: &str, consistency: bool) {
        self.write_conf_with(db_list, consistency, self.sb.var("CATALOG_PORT"));
    }

    /// ... with the catalog on `catalog_port` (a closed one: catalog down).
    pub fn write_conf_with(&self, db_list: &str, consistency: bool, catalog_port: &str) {
        let text = format!(
            "[CATALOG]\ndb_host={ch}\ndb_port={catalog_port}\ndb_user={u}\ndb_passwd={p}\ndb_use={cdb}\n\n\
             [TDB]\ndb_host=127.0.0.11\ndb_port={mp}\ndb_user={u}\ndb_passwd={p}\ndb_use=information_schema\n\
             db_consistency={c}\ndb_list={db_list}\n\n\
             [rsync]\npassword_file={pw}\ndest=tester@{sh}:{rp}/mod/127.0.0.11\naddress=\n",
            ch = self.sb.var("CATALOG_HOST"),
            u = self.sb.var("MYSQL_USER"),
            p = self.sb.var("MYSQL_PASSWORD"),
            cdb = self.catalog_db,
            mp = self.sb.var("MYSQL_PORT"),
            c = if consistency { "True" } else { "False" },
            pw = self.tmp.path().join("rsync.pw").display(),
            sh = self.sb.var("STORE_HOST"),
            rp = self.rsync_port,
        );
        write_private(&self.conf(), &text);
    }

    /// Starts the test's rsync daemon and waits until it listens.
    pub fn start_rsyncd(&mut self) {
        let child = Command::new("rsync")
            .arg("--daemon")
            .arg("--no-detach")
            .arg(format!(
                "--config={}",
                self.tmp.path().join("rsyncd.conf").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.tmp.path().join("rsyncd.log").display()
            ))
            .spawn()
            .expect("rsync --daemon");
        self.rsync = Some(Rsyncd { child });
        let addr = format!("{}:{}", self.sb.var("STORE_HOST"), self.rsync_port);
        testkit::poll::Poll::within(Duration::from_secs(20))
            .every(Duration::from_millis(50))
            .wait(
                &format!("the test's rsync daemon listening on {addr}"),
                || std::net::TcpStream::connect(&addr).is_ok(),
            );
    }

    pub fn stop_rsyncd(&mut self) {
        self.rsync = None;
    }

    /// Every secret of this world.
    pub fn secrets(&self) -> Vec<String> {
        vec![
            self.sb.var("MYSQL_PASSWORD").to_owned(),
            self.rsync_password.clone(),
        ]
    }

    /// Runs `dbcatalog -c <conf> args...` under the secret scan; its output.
    pub fn dbcatalog(&self, args: &[&str]) -> Output {
        let scan = testkit::secrets::CmdlineScan::start(
            self.secrets(),
            Some(self.tmp.path().display().to_string()),
        );
        let out = Command::new(env!("CARGO_BIN_EXE_dbcatalog"))
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .output()
            .expect("run dbcatalog");
        let seen = scan.finish();
        self.witnessed
            .fetch_add(seen, std::sync::atomic::Ordering::Relaxed);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for s in self.secrets() {
            assert!(!text.contains(&s), "dbcatalog printed a secret:\n{text}");
        }
        eprintln!("dbcatalog {args:?}: {}\n{text}", out.status);
        out
    }

    /// `mydumper outputdir=<outputdir> <more>`.
    pub fn backup(&self, more: &[&str]) -> Output {
        let out = format!("outputdir={}", self.outputdir().display());
        let mut args = vec!["mydumper", out.as_str(), "threads=2", "verbose=3"];
        args.extend_from_slice(more);
        self.dbcatalog(&args)
    }

    /// SQL on normal_0's master.
    pub async fn master(&self) -> MySqlConnection {
        let s = self.sb.server(MASTER);
        let e = self.sb.mysql(&s);
        connect(&e.host, e.port, &e.user, &e.password, None).await
    }

    /// SQL on the catalog server, in the test's catalog database.
    pub async fn catalog(&self) -> MySqlConnection {
        let e = self.sb.catalog();
        connect(
            &e.host,
            e.port,
            &e.user,
            &e.password,
            Some(&self.catalog_db),
        )
        .await
    }

    /// Does the test's catalog database exist?
    pub async fn catalog_exists(&self) -> bool {
        let e = self.sb.catalog();
        let mut c = connect(&e.host, e.port, &e.user, &e.password, None).await;
        let sql = format!(
            "SELECT 1 AS x FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
            self.catalog_db
        );
        !query(&mut c, &sql).await.is_empty()
    }

    /// Creates database `<name>_<suffix>` with table `t` holding `rows`.
    pub async fn create_db(&mut self, suffix: &str, rows: usize) -> String {
        let db = format!("{}_{suffix}", self.name);
        let mut c = self.master().await;
        exec(&mut c, &format!("CREATE DATABASE `{db}`")).await;
        self.databases.push(db.clone());
        exec(
            &mut c,
            &format!("CREATE TABLE `{db}`.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))"),
        )
        .await;
        for _ in 0..rows {
            exec(
                &mut c,
                &format!("INSERT INTO `{db}`.t (v) VALUES (REPEAT('x', 30))"),
            )
            .await;
        }
        db
    }

    /// The catalog's `user_backup` rows, as text by column.
    pub async fn rows(&self, sql: &str) -> Vec<std::collections::BTreeMap<String, Option<String>>> {
        let mut c = self.catalog().await;
        query(&mut c, sql).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.rsync = None;
        let dbs = self.databases.clone();
        let catalog_db = self.catalog_db.clone();
        let sb = self.sb.clone();
        let done = testkit::on_own_thread(move || async move {
            let s = sb.server(MASTER);
            let e = sb.mysql(&s);
            let mut c = connect(&e.host, e.port, &e.user, &e.password, None).await;
            for db in dbs {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{db}`"))
                    .execute(&mut c)
                    .await;
            }
            let e = sb.catalog();
            let mut c = connect(&e.host, e.port, &e.user, &e.password, None).await;
            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{catalog_db}`"))
                .execute(&mut c)
                .await;
        });
        let _ = done.join();
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

pub async fn connect(
    host: &str,
    port: u16,
    user: &str,
    pw: &str,
    db: Option<&str>,
) -> MySqlConnection {
    let mut o = MySqlConnectOptions::new()
        .host(host)
        .port(port)
        .username(user)
        .password(pw)
        .disable_statement_logging();
    if let Some(db) = db {
        o = o.database(db);
    }
    o.connect()
        .await
        .unwrap_or_else(|e| panic!("connect {host}:{port}: {e}"))
}

pub async fn exec(c: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows of `sql` as text (text protocol).
pub async fn query(
    c: &mut MySqlConnection,
    sql: &str,
) -> Vec<std::collections::BTreeMap<String, Option<String>>> {
    use sqlx::{Column as _, Row as _, ValueRef as _};
    let rows = sqlx::raw_sql(sql)
        .fetch_all(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            r.columns()
                .iter()
                .map(|col| {
                    let i = col.ordinal();
                    let raw = r.try_get_raw(i).expect("value");
                    let v = if raw.is_null() {
                        None
                    } else {
                        Some(r.try_get_unchecked::<String, _>(i).expect("text"))
                    };
                    (col.name().to_owned(), v)
                })
                .collect()
        })
        .collect()
}

/// The bk_id the output names (`bk_id <uuid> (...)`).
pub fn bk_id_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("bk_id ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("no bk_id in the output:\n{text}"))
        .to_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
