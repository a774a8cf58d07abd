//! The MySQL 8 CLONE snapshot end to end, without MySQL 8 (none runs
//! here): the engine's own code (`flashback::snapshot::clone::take`)
//! against scripted MySQL-protocol peers that answer as seed 002 records
//! (`tests/fixtures/`) — the receiving DR server, the donor, and the
//! temporary instance — and a stand-in for `mysqld` run through the
//! `local` transport (it initializes a data directory, and "runs" while the
//! peer answers for it). The statements each peer received, the written
//! option file and the failures a user meets are checked.

include!("common/mysql8.rs");

use dbscale_sim::scripted::{Answer, Scripted};
use flashback::snapshot::{self, Bounds, Donor, Receiver, SnapshotError};
use remote::{Local, Transport};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use topology::{Credential, Password};

const USER: &str = "dbscale_internal";
const PASSWORD: &str = "p@ss w0rd#1";
fn no_rows(columns: &[&str]) -> Answer {
    Answer::rows(columns, &[])
}

/// How the scripted peers behave.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    /// The clone runs; the recipient stops itself at its end (error 3707:
    /// no supervisor) and is started again.
    Clones,
    /// The clone fails on the donor's side (clone_status Failed, 3862).
    CloneFails,
    /// The recipient's donor list stays another (3869 on CLONE).
    DonorNotListed,
    /// The donor refuses `INSTALL PLUGIN`.
    PluginRefused,
    /// The clone stays `In Progress`.
    Stuck,
}

/// The temporary instance's state, as the scripted recipient keeps it.
#[derive(Default)]
struct Recipient {
    plugin: AtomicBool,
    donor_list: Mutex<String>,
    /// The stand-in's pid the clone stopped; a different running pid means
    /// it was started again.
    stopped: AtomicI32,
    failure: Mutex<Option<(u16, String)>>,
}

struct Rig {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    bin: PathBuf,
    node: Scripted,
    donor_peer: Scripted,
    recipient: Option<Scripted>,
    donor: Donor,
    receiver: Receiver,
}

impl Drop for Rig {
    fn drop(&mut self) {
        terminate(&self.dir);
    }
}

fn bounds(start: Duration) -> Bounds {
    Bounds {
        connect: Duration::from_secs(3),
        long: Duration::from_secs(20),
        small: Duration::from_secs(10),
        start,
    }
}

const SETTINGS: [(&str, &str); 8] = [
    ("innodb_page_size", "16384"),
    ("innodb_data_file_path", "ibdata1:12M:autoextend"),
    ("lower_case_table_names", "1"),
    ("character_set_server", "utf8mb4"),
    ("collation_server", "utf8mb4_0900_ai_ci"),
    ("plugin_dir", "/data/app/mysql-8.0.26/lib/plugin/"),
    ("gtid_mode", "ON"),
    ("enforce_gtid_consistency", "ON"),
];

fn donor_answers(case: Case) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    move |sql: &str| match sql {
        s if s.starts_with("SELECT PLUGIN_NAME") => no_rows(&["PLUGIN_NAME", "PLUGIN_STATUS"]),
        "SELECT @@global.super_read_only AS s" => Answer::rows(&["s"], &[&["1"]]),
        s if s.starts_with("INSTALL PLUGIN") && case == Case::PluginRefused => Answer::error(
            1126,
            "Can't open shared library '/data/app/mysql-8.0.26/lib/plugin/mysql_clone.so' (errno: 2 cannot open shared object file: No such file or directory)",
        ),
        "SHOW MASTER STATUS" => recorded("seed002_show_master_status.txt"),
        s if s.starts_with("SET GLOBAL") || s.starts_with("INSTALL PLUGIN") => Answer::Ok,
        _ => Answer::error(1064, "unexpected statement"),
    }
}

fn recipient_answers(
    case: Case,
    dir: PathBuf,
    donor: String,
    state: Arc<Recipient>,
) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    move |sql: &str| {
        if sql.starts_with("SELECT PLUGIN_NAME") {
            return if state.plugin.load(Ordering::SeqCst) {
                recorded("plugin_clone_active.txt")
            } else {
                no_rows(&["PLUGIN_NAME", "PLUGIN_STATUS"])
            };
        }
        if sql.starts_with("INSTALL PLUGIN clone") {
            state.plugin.store(true, Ordering::SeqCst);
            return Answer::Ok;
        }
        if let Some(list) = sql.strip_prefix("SET GLOBAL clone_valid_donor_list = ") {
            if case != Case::DonorNotListed {
                *state.donor_list.lock().expect("the recipient state") =
                    list.trim_matches('\'').to_owned();
            }
            return Answer::Ok;
        }
        if sql.starts_with("SET GLOBAL clone_") {
            return Answer::Ok;
        }
        if sql.starts_with("CLONE INSTANCE FROM") {
            let listed = state
                .donor_list
                .lock()
                .expect("the recipient state")
                .clone();
            let failure = if listed != donor {
                Some((
                    3869,
                    format!(
                        "Clone system configuration: {donor} is not found in clone_valid_donor_list: {listed}"
                    ),
                ))
            } else if case == Case::CloneFails {
                Some((
                    3862,
                    format!(
                        "Clone Donor Error: 1045 : Access denied for user '{USER}'@'127.0.0.1' (using password: YES)."
                    ),
                ))
            } else {
                None
            };
            if let Some((code, message)) = failure {
                *state.failure.lock().expect("the recipient state") = Some((code, message.clone()));
                return Answer::error(code, message);
            }
            state
                .stopped
                .store(pid_of(&dir).unwrap_or(-1), Ordering::SeqCst);
            if case != Case::Stuck {
                terminate(&dir);
            }
            return Answer::error(
                3707,
                "Restart server failed (mysqld is not managed by supervisor process).",
            );
        }
        if sql.starts_with("SELECT STATE, ERROR_NO, ERROR_MESSAGE") {
            if let Some((code, message)) =
                state.failure.lock().expect("the recipient state").clone()
            {
                return Answer::rows(
                    &["STATE", "ERROR_NO", "ERROR_MESSAGE"],
                    &[&["Failed", &code.to_string(), &message]],
                );
            }
            let stopped = state.stopped.load(Ordering::SeqCst);
            return match pid_of(&dir) {
                _ if stopped == 0 => no_rows(&["STATE", "ERROR_NO", "ERROR_MESSAGE"]),
                Some(pid) if pid != stopped => recorded("clone_status_completed.txt"),
                _ => recorded("clone_status_in_progress.txt"),
            };
        }
        if sql == "SHOW MASTER STATUS" {
            return recorded("seed002_show_master_status.txt");
        }
        if sql == "SHUTDOWN" {
            terminate(&dir);
            return Answer::Ok;
        }
        Answer::error(1064, "unexpected statement")
    }
}

async fn rig(case: Case, with_recipient: bool) -> Rig {
    let tmp = tempfile::Builder::new()
        .prefix("fb-clone")
        .tempdir_in("/tmp")
        .expect("a temporary directory");
    let dir = tmp.path().join("snap");
    let bin = tmp.path().join("mysqld");
    stand_in(&bin);
    let node = Scripted::start("127.0.0.1:0", USER, PASSWORD, |sql: &str| {
        if sql.starts_with("SELECT @@innodb_page_size") {
            let (columns, values): (Vec<&str>, Vec<&str>) = SETTINGS.iter().copied().unzip();
            Answer::rows(&columns, &[&values])
        } else {
            Answer::error(1064, "unexpected statement")
        }
    })
    .await
    .expect("the receiving DR server's peer");
    let donor_peer = Scripted::start("127.0.0.1:0", USER, PASSWORD, donor_answers(case))
        .await
        .expect("the donor's peer");
    let donor_address = donor_peer.address().to_string();
    let recipient = if with_recipient {
        let gate = dir.clone();
        let state = Arc::new(Recipient::default());
        let answers = recipient_answers(case, dir.clone(), donor_address.clone(), state);
        Some(
            Scripted::start_gated(
                "127.0.0.1:0",
                USER,
                PASSWORD,
                move || pid_of(&gate).is_some(),
                answers,
            )
            .await
            .expect("the temporary instance's peer"),
        )
    } else {
        None
    };
    // A port nothing answers on when there is no recipient.
    let port = match &recipient {
        Some(r) => r.address().port(),
        None => std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port(),
    };
    let local = || -> Arc<dyn Transport> { Arc::new(Local::new("127.0.0.1", 4)) };
    let credential = Credential {
        user: USER.to_owned(),
        password: Password::new(PASSWORD),
    };
    let donor = Donor {
        name: "database_2".to_owned(),
        host: "127.0.0.1".to_owned(),
        port: donor_peer.address().port(),
        transport: local(),
        credential,
    };
    let receiver = Receiver {
        name: "database_1".to_owned(),
        host: "127.0.0.1".to_owned(),
        transport: local(),
        dir: dir.display().to_string(),
        port,
        program: bin.display().to_string(),
    };
    Rig {
        _tmp: tmp,
        dir,
        bin,
        node,
        donor_peer,
        recipient,
        donor,
        receiver,
    }
}

impl Rig {
    fn node_endpoint(&self) -> router::Endpoint {
        router::Endpoint::new("127.0.0.1", self.node.address().port(), USER, PASSWORD)
    }

    async fn take(&self, b: Bounds) -> Result<snapshot::Instance, SnapshotError> {
        snapshot::clone::take(&self.donor, &self.receiver, &self.node_endpoint(), b).await
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

/// `received` with runs of the same statement (a poll) folded into one.
fn folded(received: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in received {
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_taken_as_the_seed_takes_it() {
    let rig = rig(Case::Clones, true).await;
    let instance = rig
        .take(bounds(Duration::from_secs(10)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let donor = rig.donor_peer.address().to_string();
    let temporary = rig.recipient.as_ref().expect("a recipient").address();
    assert_eq!(instance.address(), temporary.to_string());

    assert_eq!(
        rig.node.received(),
        [flashback::snapshot::clone::config::REPORT]
    );
    assert_eq!(
        rig.donor_peer.received(),
        [
            flashback::snapshot::clone::PLUGIN_STATUS,
            "SELECT @@global.super_read_only AS s",
            "SET GLOBAL super_read_only = 0",
            "INSTALL PLUGIN clone SONAME 'mysql_clone.so'",
            "SET GLOBAL super_read_only = 1",
            "SET GLOBAL clone_autotune_concurrency = OFF",
            "SET GLOBAL clone_buffer_size = 33554432",
            "SET GLOBAL clone_max_concurrency = 32",
            "SHOW MASTER STATUS",
        ]
    );
    let clone_status = flashback::snapshot::clone::status::CLONE_STATUS;
    assert_eq!(
        folded(rig.recipient.as_ref().expect("a recipient").received()),
        [
            flashback::snapshot::clone::PLUGIN_STATUS.to_owned(),
            "INSTALL PLUGIN clone SONAME 'mysql_clone.so'".to_owned(),
            "SET GLOBAL clone_autotune_concurrency = OFF".to_owned(),
            "SET GLOBAL clone_buffer_size = 33554432".to_owned(),
            "SET GLOBAL clone_max_concurrency = 32".to_owned(),
            format!("SET GLOBAL clone_valid_donor_list = '{donor}'"),
            format!(
                "CLONE INSTANCE FROM '{USER}'@'127.0.0.1':{} IDENTIFIED BY '{PASSWORD}'",
                rig.donor.port
            ),
            clone_status.to_owned(),
            "SHOW MASTER STATUS".to_owned(),
        ]
    );

    // The option file: written, private, from the node's report.
    let cnf = rig.file("my.cnf");
    let dir = rig.dir.display();
    for line in [
        format!("datadir = {dir}/data"),
        format!("pid-file = {dir}/mysqld.pid"),
        "bind-address = 127.0.0.1".to_owned(),
        format!("port = {}", temporary.port()),
        "mysqlx = OFF".to_owned(),
        "innodb-data-file-path = ibdata1:12M:autoextend".to_owned(),
        "lower-case-table-names = 1".to_owned(),
        "collation-server = utf8mb4_0900_ai_ci".to_owned(),
        "gtid-mode = ON".to_owned(),
    ] {
        assert!(cnf.lines().any(|l| l == line), "{line} in:\n{cnf}");
    }
    let mode = std::fs::metadata(rig.dir.join("my.cnf"))
        .expect("my.cnf")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "my.cnf is private");

    // Initialized with the login in an init file that is gone; started,
    // stopped by the clone, started again; no password on any argv.
    let argv = rig.file("argv.log");
    let runs: Vec<&str> = argv.lines().collect();
    assert_eq!(runs.len(), 3, "{argv}");
    assert!(
        runs[0].starts_with(&format!(
            "--defaults-file={dir}/my.cnf --initialize-insecure --init-file={dir}/init.sql"
        )),
        "{argv}"
    );
    assert!(
        runs[1].starts_with(&format!("--defaults-file={dir}/my.cnf"))
            && !runs[1].contains("--initialize"),
        "{argv}"
    );
    assert_eq!(runs[2], runs[1]);
    assert!(!argv.contains(PASSWORD));
    assert!(
        !rig.dir.join("init.sql").exists(),
        "the init file is removed"
    );
    assert!(
        rig.file("init.seen").contains(&format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'"
        )),
        "{}",
        rig.file("init.seen")
    );

    instance
        .shutdown(bounds(Duration::from_secs(10)))
        .await
        .expect("a clean shutdown");
    assert!(pid_of(&rig.dir).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_clone_says_what_clone_status_says() {
    let rig = rig(Case::CloneFails, true).await;
    let err = rig
        .take(bounds(Duration::from_secs(10)))
        .await
        .err()
        .expect("the clone fails");
    let text = err.to_string();
    assert!(matches!(err, SnapshotError::CloneFailed { .. }), "{text}");
    assert!(
        text.starts_with("snapshot for database_1: CLONE INSTANCE FROM the donor 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains(
            "clone_status Failed, error 3862: Clone Donor Error: 1045 : Access denied for user"
        ),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
    // The line a user reads: start's step wraps the error with its number,
    // name and host.
    let line = format!(
        "ERROR: {}",
        flashback::FlashbackError::Step {
            step: 7,
            name: flashback::plan::snapshot_step("database_1"),
            at: rig.receiver.host.clone(),
            source: err.into(),
        }
    );
    assert!(
        line.starts_with(
            "ERROR: step 7 (snapshot the donor for database_1) on 127.0.0.1: \
             snapshot for database_1: CLONE INSTANCE FROM the donor 127.0.0.1:"
        ) && line.contains("Clone Donor Error: 1045"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_donor_missing_from_the_valid_donor_list() {
    let rig = rig(Case::DonorNotListed, true).await;
    let err = rig
        .take(bounds(Duration::from_secs(10)))
        .await
        .err()
        .expect("the clone is refused");
    let text = err.to_string();
    assert!(matches!(err, SnapshotError::CloneFailed { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "error 3869: Clone system configuration: {} is not found in clone_valid_donor_list",
            rig.donor_peer.address()
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_plugin_install_stops_before_any_instance() {
    let rig = rig(Case::PluginRefused, true).await;
    let err = rig
        .take(bounds(Duration::from_secs(10)))
        .await
        .err()
        .expect("the donor refuses");
    let text = err.to_string();
    assert!(matches!(err, SnapshotError::Sql { .. }), "{text}");
    assert!(
        text.starts_with("snapshot for database_1: the donor: "),
        "{text}"
    );
    assert!(
        text.contains("`INSTALL PLUGIN clone SONAME 'mysql_clone.so'` failed")
            && text.contains("1126"),
        "{text}"
    );
    assert_eq!(rig.file("argv.log"), "", "no instance was initialized");
    let received = rig.recipient.as_ref().expect("a recipient").received();
    assert!(received.is_empty(), "{received:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_answers_is_waited_for_with_a_bound() {
    let rig = rig(Case::Clones, false).await;
    let began = Instant::now();
    let err = rig
        .take(bounds(Duration::from_secs(2)))
        .await
        .err()
        .expect("nothing answers");
    let text = err.to_string();
    assert!(matches!(err, SnapshotError::NoAnswer { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "its server on 127.0.0.1:{} did not answer within 2s",
            rig.receiver.port
        )),
        "{text}"
    );
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(15),
        "{waited:?}"
    );

    // One that dies at once is not waited for: its log says why.
    std::fs::write(rig.bin.with_file_name("mode"), "die").expect("mode");
    terminate(&rig.dir);
    let began = Instant::now();
    let err = rig
        .take(bounds(Duration::from_secs(30)))
        .await
        .err()
        .expect("it dies");
    let text = err.to_string();
    assert!(text.contains("Address already in use"), "{text}");
    assert!(began.elapsed() < Duration::from_secs(15), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_that_never_completes_is_given_up_with_a_bound() {
    let rig = rig(Case::Stuck, true).await;
    let mut b = bounds(Duration::from_secs(10));
    b.long = Duration::from_secs(3);
    let began = Instant::now();
    let err = rig.take(b).await.err().expect("the clone never completes");
    let text = err.to_string();
    assert!(matches!(err, SnapshotError::CloneFailed { .. }), "{text}");
    assert!(
        text.ends_with(
            "clone_status did not say Completed within 3s (last seen: clone_status In Progress)"
        ),
        "{text}"
    );
    assert!(began.elapsed() < Duration::from_secs(15), "{text}");
}
