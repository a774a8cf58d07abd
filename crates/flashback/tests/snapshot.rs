//! The MariaDB snapshot on the sandbox: a DR replica (the donor, its
//! replication stopped as `start` disables it) streamed by mariabackup to
//! another DR host, prepared, started on a port of its own and checked
//! against the donor's GTIDs; then shut down. The DR servers themselves are
//! only read (and the donor's replication paused, under the sandbox lock,
//! restarted by a guard).

use flashback::snapshot::{self, Bounds, Donor, Receiver};
use remote::{AgentType, ConnectConfig, ConnectMethod, Connector, Login, SshConfig};
use std::time::Duration;
use testkit::{Sandbox, Server};
use topology::{Credential, Password};

fn connector(sb: &Sandbox) -> (Connector, Login) {
    let mut ssh = SshConfig::new(sb.var("LOGIN_USER"), sb.dir.join("ssh"));
    ssh.key = Some(sb.var("SSH_KEY").into());
    let cfg = ConnectConfig {
        method: ConnectMethod::Ssh,
        ssh,
        rabbitmq_uri: None,
        adm: None,
        rabbit_agent_type: None,
        rabbit_secret: None,
    };
    let login = Login {
        user: sb.var("LOGIN_USER").to_owned(),
        port: sb.var("SSH_PORT").parse().expect("a port"),
        password: None,
    };
    (Connector::new(cfg).expect("a connector"), login)
}

/// Undoes the test's changes when dropped: the donor replicates again, the
/// temporary instance is gone, the test database is dropped on production.
struct Cleanup<'a> {
    sb: &'a Sandbox,
    donor: Server,
    dir: String,
    db: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(format!("{}/mysqld.pid", self.dir));
        if let Ok(pid) = pid
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Err(e) = self.sb.root_sql(&self.donor, "START SLAVE") {
            eprintln!("could not restart replication on {}: {e}", self.donor.name);
        }
        let master = self.sb.server("normal_0_0");
        if let Err(e) = self
            .sb
            .root_sql(&master, &format!("DROP DATABASE IF EXISTS {}", self.db))
        {
            eprintln!("could not drop {}: {e}", self.db);
        }
    }
}

fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    testkit::poll::Poll::within(Duration::from_secs(60)).wait(what, ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dr_replica_snapshotted_onto_another_dr_host() {
    let Some(sb) = Sandbox::get() else { return };
    let _lock = sb.exclusive().await;
    let donor_server = sb.server("dr_0_1");
    let db = testkit::unique("fb_snap");
    let dir = format!("/tmp/{db}");
    let _cleanup = Cleanup {
        sb: &sb,
        donor: donor_server.clone(),
        dir: dir.clone(),
        db: db.clone(),
    };
    // Rows on production that reach the donor, then the donor frozen.
    let master = sb.server("normal_0_0");
    sb.root_sql(
        &master,
        &format!("CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY); INSERT INTO {db}.t VALUES (1),(2),(3);"),
    )
    .expect("rows on production");
    let count = format!("SELECT COUNT(*) AS n FROM {db}.t");
    wait_until("the rows on the donor", || {
        sb.root_sql(&donor_server, &count)
            .is_ok_and(|r| r.first().and_then(|r| r.get("n")).is_some_and(|n| n == "3"))
    });
    sb.root_sql(&donor_server, "STOP SLAVE")
        .expect("freezing the donor");

    let (hosts, login) = connector(&sb);
    let transport = |h: &str| {
        hosts
            .host(h, &login, AgentType::DbInit)
            .expect("a transport")
    };
    let credential = Credential {
        user: sb.var("MYSQL_USER").to_owned(),
        password: Password::new(sb.var("MYSQL_PASSWORD")),
    };
    let donor = Donor {
        name: donor_server.name.clone(),
        host: donor_server.host.clone(),
        port: donor_server.port,
        transport: transport(&donor_server.host),
        credential: credential.clone(),
    };
    let receiver_server = sb.server("dr_0_2");
    let receiver_host = transport(&receiver_server.host);
    let pid_file = receiver_server.dir.join("mysqld.pid").display().to_string();
    let program = snapshot::server_program(&*receiver_host, &pid_file, Duration::from_secs(30))
        .await
        .expect("the receiver's server program");
    assert!(
        program.starts_with('/') && program.contains("mariadbd"),
        "{program}"
    );
    let receiver = Receiver {
        name: receiver_server.name.clone(),
        host: receiver_server.host.clone(),
        transport: receiver_host,
        dir: dir.clone(),
        port: 18011,
        program,
    };
    let bounds = Bounds {
        connect: Duration::from_secs(10),
        long: Duration::from_secs(600),
        small: Duration::from_secs(60),
        start: Duration::from_secs(120),
    };
    let instance = snapshot::take(&donor, &receiver, bounds)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(instance.address(), "127.0.0.33:18011");
    let gtid = instance.gtid(bounds).await.expect("its GTIDs");
    assert!(!gtid.is_empty(), "the rows' GTIDs are in the snapshot");
    let rows = {
        let endpoint = router::Endpoint::new(
            "127.0.0.33",
            18011,
            &credential.user,
            credential.password.expose(),
        );
        let mut c = router::Client::connect(&endpoint, Duration::from_secs(10))
            .await
            .expect("the snapshot answers");
        c.query(&count).await.expect("the table")
    };
    assert_eq!(rows[0].column("n"), Some(Some("3")));

    // A donor that moved on no longer matches.
    sb.root_sql(&donor_server, "START SLAVE")
        .expect("the donor replicates again");
    sb.root_sql(&master, &format!("INSERT INTO {db}.t VALUES (4)"))
        .expect("one more row");
    wait_until("the new row on the donor", || {
        sb.root_sql(&donor_server, &count)
            .is_ok_and(|r| r.first().and_then(|r| r.get("n")).is_some_and(|n| n == "4"))
    });
    let err = instance
        .check(&donor, bounds)
        .await
        .expect_err("the donor moved");
    assert!(
        matches!(err, snapshot::SnapshotError::GtidMismatch { .. }),
        "{err}"
    );

    instance.shutdown(bounds).await.expect("a clean shutdown");
    assert!(!std::path::Path::new(&format!("{dir}/mysqld.pid")).exists());
}
