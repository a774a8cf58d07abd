//! MySQL keeps a server's replication settings in tables, which a clone
//! copies from the donor: before a node's data is replaced by its clone,
//! the node's own settings are written into the clone (MariaDB's restore
//! carries its `master.info` file over instead). A marker in the snapshot
//! directory says it was done, so a `stop` that crashed after the node was
//! shut down goes on without it.

use super::StepFailure;
use super::node::DrNode;
use crate::snapshot::clone::quoted;
use crate::snapshot::{Bounds, Instance};
use remote::Command;
use topology::Row;

/// The node's replication source (the default channel).
pub(crate) const READ: &str = "SELECT Host, Port, User_name, User_password, \
     Enabled_auto_position FROM mysql.slave_master_info WHERE Channel_name = ''";

const MARKER: &str = "channel.carried";

/// Writes the node's replication settings into the clone `instance` runs.
pub(crate) async fn carry(
    node: &DrNode<'_>,
    instance: &Instance,
    bounds: Bounds,
) -> Result<(), StepFailure> {
    let marker = instance.file(MARKER);
    let test = Command::new("test").args(["-e", &marker]);
    if node
        .transport
        .exec(&test, bounds.small)
        .await
        .is_ok_and(|out| out.success())
    {
        return Ok(());
    }
    let mut from = node.client(bounds.connect).await?;
    let rows = from.query(READ).await?;
    let statements = statements(rows.first())?;
    let mut to = instance.connect(bounds.connect).await?;
    for s in &statements {
        to.execute(s).await?;
    }
    let touch = Command::new("touch").args(["--", &marker]);
    xtrabackup::ops::run(
        &*node.transport,
        &touch,
        bounds.small,
        "marking the replication settings carried",
    )
    .await?;
    Ok(())
}

/// The statements that give a clone the replication source in `row` (an
/// answer to [`READ`]; none: the node replicated from nobody).
pub(crate) fn statements(row: Option<&Row>) -> Result<Vec<String>, StepFailure> {
    let mut statements = vec!["STOP SLAVE".to_owned(), "RESET SLAVE ALL".to_owned()];
    let Some(row) = row else {
        return Ok(statements);
    };
    let bad = |detail: String| StepFailure::BadAnswer {
        what: "the node's replication settings (mysql.slave_master_info)".to_owned(),
        detail,
    };
    let col = |c: &str| {
        row.column(c)
            .flatten()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let port: u16 = col("Port")
        .parse()
        .map_err(|_| bad(format!("Port is {:?}", col("Port"))))?;
    let auto = if col("Enabled_auto_position") == "1" {
        1
    } else {
        0
    };
    let q = |what, value: String| quoted(what, &value).map_err(|e| bad(e.to_string()));
    statements.push(format!(
        "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {port}, MASTER_USER = {}, \
         MASTER_PASSWORD = {}, MASTER_AUTO_POSITION = {auto}",
        q("the source's host", col("Host"))?,
        q("the replication user", col("User_name"))?,
        q("the replication password", col("User_password"))?,
    ));
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_source_replaces_the_donors() {
        let row = Row::from_pairs(
            [
                ("Host", "172.17.138.1"),
                ("Port", "3308"),
                ("User_name", "repl"),
                ("User_password", "s3cret"),
                ("Enabled_auto_position", "1"),
            ]
            .map(|(k, v)| (k, Some(v))),
        );
        let s = statements(Some(&row)).unwrap();
        assert_eq!(s[..2], ["STOP SLAVE", "RESET SLAVE ALL"]);
        assert_eq!(
            s[2],
            "CHANGE MASTER TO MASTER_HOST = '172.17.138.1', MASTER_PORT = 3308, \
             MASTER_USER = 'repl', MASTER_PASSWORD = 's3cret', MASTER_AUTO_POSITION = 1"
        );
        assert!(!router::redact_statement(&s[2]).contains("s3cret"));
        assert_eq!(statements(None).unwrap().len(), 2);
        let mut quote = row.clone();
        quote.set("User_password", Some("it's"));
        let err = statements(Some(&quote)).unwrap_err().to_string();
        assert!(!err.contains("it's"), "{err}");
    }
}

/// A node's restore from its clone, end to end without MySQL 8: scripted
/// peers for the node's server and the clone's, stand-in `mysqld`s run
/// through the `local` transport.
#[cfg(test)]
mod restore {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/common/mysql8.rs"
    ));

    use crate::drill::node::DrNode;
    use crate::journal::{Node, Role};
    use crate::snapshot::{Bounds, Instance, Receiver};
    use binlog::gtid::GtidFlavor;
    use dbscale_sim::scripted::{Answer, Scripted};
    use remote::{Local, Transport};
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;
    use topology::{Credential, Password};

    const USER: &str = "dbscale_internal";
    const PASSWORD: &str = "p@ss";

    async fn peer(dir: &Path, answers: fn(&str) -> Answer) -> Scripted {
        let (gate, down) = (dir.to_owned(), dir.to_owned());
        Scripted::start_gated(
            "127.0.0.1:0",
            USER,
            PASSWORD,
            move || pid_of(&gate).is_some(),
            move |sql: &str| {
                if sql == "SHUTDOWN" {
                    terminate(&down);
                    return Answer::Ok;
                }
                answers(sql)
            },
        )
        .await
        .expect("a peer")
    }

    fn node_answers(sql: &str) -> Answer {
        if sql == super::READ {
            Answer::rows(
                &[
                    "Host",
                    "Port",
                    "User_name",
                    "User_password",
                    "Enabled_auto_position",
                ],
                &[&["172.17.138.182", "3308", "repl", "repl pw", "1"]],
            )
        } else {
            Answer::Ok
        }
    }

    /// Runs the stand-in with `my.cnf` in `dir` until the test ends.
    async fn running(t: &dyn Transport, program: &Path, dir: &Path) {
        let argv = [
            program.display().to_string(),
            format!("--defaults-file={}/my.cnf", dir.display()),
        ];
        let log = format!("{}/out", dir.display());
        let pid = format!("{}/launch.pid", dir.display());
        crate::snapshot::instance::launch(t, &argv, &log, &pid, Duration::from_secs(10))
            .await
            .expect("a stand-in");
        while pid_of(dir).is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What a restore left.
    struct Outcome {
        tmp: tempfile::TempDir,
        clone: Vec<String>,
        node: Vec<String>,
    }

    impl Outcome {
        fn read(&self, name: &str) -> String {
            std::fs::read_to_string(self.tmp.path().join(name)).unwrap_or_default()
        }
    }

    /// Restores a joiner from its clone; `crashed`: as a `stop` finds it
    /// after a crash once the node was shut down (the settings carried).
    async fn restore(crashed: bool) -> Outcome {
        let tmp = tempfile::Builder::new()
            .prefix("fb-restore")
            .tempdir_in("/tmp")
            .expect("a directory");
        let (data, snap) = (
            tmp.path().join("data"),
            tmp.path().join("flashback_snapshot"),
        );
        let program = tmp.path().join("mysqld");
        stand_in(&program);
        for d in [&data, &snap.join("data")] {
            std::fs::create_dir_all(d).expect("a directory");
        }
        std::fs::write(data.join("drill_rows"), "written during the drill").expect("a file");
        std::fs::write(data.join("auto.cnf"), "[auto]\nserver-uuid=node\n").expect("a file");
        std::fs::write(snap.join("data/cloned"), "the donor's").expect("a file");
        std::fs::write(snap.join("data/auto.cnf"), "[auto]\nserver-uuid=clone\n").expect("a file");
        let local: Arc<dyn Transport> = Arc::new(Local::new("127.0.0.1", 4));
        // The node's server keeps its files beside its data directory.
        if crashed {
            std::fs::write(snap.join(super::MARKER), "").expect("the marker");
        } else {
            running(&*local, &program, tmp.path()).await;
        }
        running(&*local, &program, &snap).await;
        let node_peer = peer(tmp.path(), node_answers).await;
        let clone_peer = peer(&snap, |_| Answer::Ok).await;

        let credential = Credential {
            user: USER.to_owned(),
            password: Password::new(PASSWORD),
        };
        let node = Node {
            server_name: "database_2".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: node_peer.address().port().to_string(),
            role: Role::Joiner,
            data_dir: data.display().to_string(),
            donor_port: String::new(),
            joiner_port: clone_peer.address().port().to_string(),
            pid_file: tmp.path().join("mysqld.pid").display().to_string(),
            server_argv: vec![
                program.display().to_string(),
                format!("--defaults-file={}/my.cnf", tmp.path().display()),
            ],
        };
        let dr_node = DrNode {
            node: &node,
            credential: credential.clone(),
            transport: local.clone(),
            flavor: GtidFlavor::Mysql,
        };
        let receiver = Receiver {
            name: node.server_name.clone(),
            host: "127.0.0.1".to_owned(),
            transport: local.clone(),
            dir: snap.display().to_string(),
            port: clone_peer.address().port(),
            program: program.display().to_string(),
        };
        let instance = Instance::attach_as(&receiver, &credential, GtidFlavor::Mysql);
        let bounds = Bounds {
            connect: Duration::from_secs(3),
            long: Duration::from_secs(20),
            small: Duration::from_secs(10),
            start: Duration::from_secs(10),
        };
        let restored = dr_node.restore(&instance, "unused", true, bounds).await;
        terminate(tmp.path());
        terminate(&snap);
        restored.unwrap_or_else(|e| panic!("{e}"));
        assert!(!snap.exists(), "the snapshot directory is removed last");
        Outcome {
            clone: clone_peer.received(),
            node: node_peer.received(),
            tmp,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_restored_from_its_clone_keeps_its_own_source() {
        let done = restore(false).await;
        assert_eq!(
            done.clone,
            [
                "STOP SLAVE",
                "RESET SLAVE ALL",
                "CHANGE MASTER TO MASTER_HOST = '172.17.138.182', MASTER_PORT = 3308, \
                 MASTER_USER = 'repl', MASTER_PASSWORD = 'repl pw', MASTER_AUTO_POSITION = 1",
                "SHUTDOWN",
            ]
        );
        assert_eq!(
            done.node,
            [super::READ, "SHUTDOWN", "RESET SLAVE", "START SLAVE"],
            "no RESET MASTER: the clone holds the donor's GTIDs"
        );
        assert_eq!(done.read("data/cloned"), "the donor's");
        assert_eq!(done.read("data/auto.cnf"), "[auto]\nserver-uuid=node\n");
        assert_eq!(
            done.read("data.flashback_bak/drill_rows"),
            "written during the drill"
        );
        let argv = done.read("argv.log");
        assert!(argv.trim_end().ends_with("--skip-slave-start"), "{argv}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_after_a_crash_goes_on_without_the_node() {
        let done = restore(true).await;
        assert_eq!(done.clone, ["SHUTDOWN"], "the settings were carried before");
        assert_eq!(done.node, ["RESET SLAVE", "START SLAVE"]);
        assert_eq!(done.read("data/cloned"), "the donor's");
    }
}
