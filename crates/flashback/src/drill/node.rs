//! One DR data node: its SQL, what `start` records about its server, and
//! the restore `stop` runs on it (the seed's `recovery_node`, without its
//! sleeps and shell pipelines).

use super::{StepFailure, channel, poll};
use crate::journal::Node;
use crate::snapshot::{Bounds, Instance, instance};
use binlog::gtid::GtidFlavor;
use remote::{Command, Transport};
use router::{Client, Endpoint};
use std::sync::Arc;
use std::time::Duration;
use topology::Credential;

/// How far a node's restore got (what its snapshot directory shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restore {
    /// The snapshot is still beside the node's data.
    NotSwapped,
    /// The snapshot is the node's data; the server may still need a start
    /// and its replication settings.
    Swapped,
    /// Finished (the snapshot directory is gone).
    Done,
}

/// A DR node with its login and host.
pub(crate) struct DrNode<'a> {
    pub node: &'a Node,
    pub credential: Credential,
    pub transport: Arc<dyn Transport>,
    /// Its server's family.
    pub flavor: GtidFlavor,
}

impl DrNode<'_> {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(
            &self.node.host,
            self.node.port.parse().unwrap_or(0),
            &self.credential.user,
            self.credential.password.expose(),
        )
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.node.host, self.node.port)
    }

    pub async fn client(&self, timeout: Duration) -> Result<Client, StepFailure> {
        Ok(Client::connect(&self.endpoint(), timeout).await?)
    }

    /// Its executed GTIDs.
    pub async fn gtid(&self, timeout: Duration) -> Result<String, StepFailure> {
        let mut c = self.client(timeout).await?;
        let rows = c
            .query(match self.flavor {
                GtidFlavor::Mariadb => "SELECT @@gtid_current_pos AS g",
                GtidFlavor::Mysql => "SELECT @@global.gtid_executed AS g",
            })
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.column("g").flatten())
            .unwrap_or_default()
            .to_owned())
    }

    /// Its server's pid file and command line (`stop` restarts it so).
    pub async fn server_start(
        &self,
        timeout: Duration,
    ) -> Result<(String, Vec<String>), StepFailure> {
        let mut c = self.client(timeout).await?;
        let rows = c.query("SELECT @@pid_file AS p").await?;
        let pid_file = rows
            .first()
            .and_then(|r| r.column("p").flatten())
            .unwrap_or_default()
            .to_owned();
        let cmd = Command::new("sh").args([
            "-c",
            r#"tr '\0' '\n' < "/proc/$(cat "$1")/cmdline""#,
            "sh",
            &pid_file,
        ]);
        let step = format!("reading the server's command line via {pid_file}");
        let out = xtrabackup::ops::run(&*self.transport, &cmd, timeout, &step).await?;
        let argv: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
        if argv.is_empty() {
            return Err(StepFailure::BadAnswer {
                what: step,
                detail: "an empty command line".to_owned(),
            });
        }
        Ok((pid_file, argv))
    }

    /// How far its restore from the snapshot in `dir` got.
    pub async fn progress(&self, dir: &str, bounds: Bounds) -> Result<Restore, StepFailure> {
        let script = r#"if [ ! -d "$1" ]; then echo done; elif [ -d "$1/data" ]; then echo snapshot; else echo swapped; fi"#;
        let cmd = Command::new("sh").args(["-c", script, "sh", dir]);
        let step = format!("looking at the snapshot directory {dir}");
        let out = xtrabackup::ops::run(&*self.transport, &cmd, bounds.small, &step).await?;
        Ok(match out.stdout_str().trim() {
            "done" => Restore::Done,
            "swapped" => Restore::Swapped,
            _ => Restore::NotSwapped,
        })
    }

    /// Replaces its data by the snapshot `instance` holds, from where an
    /// earlier run left it: both servers stopped cleanly, its data
    /// directory kept as `<datadir>.flashback_bak` (its replication
    /// settings, `master.info` on MariaDB, and its server identity carried
    /// over; on MySQL the clone's replication settings, which are the
    /// donor's, are replaced by the node's own before the swap), the server
    /// started as before (replication held); on MariaDB its binlog state
    /// set to `gtid` (a clone already holds the donor's GTIDs), so its
    /// replicas resume there; a replica (`resume`) then replicates again;
    /// the snapshot directory removed last.
    pub async fn restore(
        &self,
        instance: &Instance,
        gtid: &str,
        resume: bool,
        bounds: Bounds,
    ) -> Result<(), StepFailure> {
        match self.progress(&instance.dir, bounds).await? {
            Restore::Done => return Ok(()),
            Restore::NotSwapped => {
                if self.flavor == GtidFlavor::Mysql {
                    channel::carry(self, instance, bounds).await?;
                }
                instance.shutdown(bounds).await?;
                self.pause("snapshot-down");
                self.shutdown(bounds).await?;
                self.pause("node-down");
                self.swap(&instance.dir, bounds).await?;
                self.pause("swapped");
            }
            Restore::Swapped => {}
        }
        if self.client(bounds.connect).await.is_err() {
            self.start(&instance.dir, bounds).await?;
        }
        self.pause("answering");
        let mut c = self.client(bounds.connect).await?;
        let mut statements = Vec::new();
        if self.flavor == GtidFlavor::Mariadb {
            statements.push("RESET MASTER".to_owned());
            if !gtid.is_empty() {
                statements.push(format!(
                    "SET GLOBAL gtid_binlog_state = '{}'",
                    gtid.replace('\'', "")
                ));
            }
            statements.push("RESET SLAVE".to_owned());
            statements.push("CHANGE MASTER TO MASTER_USE_GTID = slave_pos".to_owned());
        } else {
            statements.push("RESET SLAVE".to_owned());
        }
        if resume {
            statements.push("START SLAVE".to_owned());
        }
        for s in &statements {
            c.execute(s).await?;
        }
        self.pause("replication-set");
        let rm = Command::new("rm").args(["-rf", "--", &instance.dir]);
        xtrabackup::ops::run(
            &*self.transport,
            &rm,
            bounds.small,
            "removing the snapshot directory",
        )
        .await?;
        Ok(())
    }

    /// [`super::pause`] at `point` of its restore.
    fn pause(&self, point: &str) {
        super::pause("stop", &self.node.server_name, point);
    }

    async fn shutdown(&self, bounds: Bounds) -> Result<(), StepFailure> {
        if let Ok(mut c) = self.client(bounds.connect).await {
            // The connection ends with the server.
            let _ = c.execute("SHUTDOWN").await;
        }
        let gone = Command::new("sh").args(["-c", r#"! test -e "$1""#, "sh", &self.node.pid_file]);
        let what = format!(
            "{} to shut down ({} gone)",
            self.address(),
            self.node.pid_file
        );
        poll(&what, bounds.start, async || {
            Ok(match self.transport.exec(&gone, bounds.small).await {
                Ok(out) if out.success() => Ok(()),
                Ok(_) => Err("the pid file is still there".to_owned()),
                Err(e) => Err(e.to_string()),
            })
        })
        .await
    }

    async fn swap(&self, dir: &str, bounds: Bounds) -> Result<(), StepFailure> {
        let data = self.node.data_dir.trim_end_matches('/');
        let script = r#"set -e
d=$1; s=$2
rm -rf -- "$d.flashback_bak"
mv -- "$d" "$d.flashback_bak"
mv -- "$s/data" "$d"
for f in master.info multi-master.info auto.cnf mysqld-auto.cnf; do
  if [ -e "$d.flashback_bak/$f" ]; then cp -p -- "$d.flashback_bak/$f" "$d/$f"; fi
done"#;
        let cmd = Command::new("sh").args(["-c", script, "sh", data, dir]);
        let step = format!("putting the snapshot in place of {data}");
        xtrabackup::ops::run(&*self.transport, &cmd, bounds.small, &step).await?;
        Ok(())
    }

    async fn start(&self, dir: &str, bounds: Bounds) -> Result<(), StepFailure> {
        let argv = replication_held(&self.node.server_argv);
        let (pid, log) = (format!("{dir}/node.launch.pid"), format!("{dir}/node.out"));
        instance::launch(&*self.transport, &argv, &log, &pid, bounds.small).await?;
        instance::wait_answer(&*self.transport, &self.endpoint(), &pid, &log, bounds)
            .await
            .map_err(|detail| StepFailure::ServerDown {
                address: self.address(),
                detail,
            })
    }
}

/// A server's command line with replication held at its start
/// (`--skip-slave-start`), once: the command line `start` records is the
/// one an earlier drill's restore started, which already holds it, and
/// each drill added another.
fn replication_held(argv: &[String]) -> Vec<String> {
    const HOLD: &str = "--skip-slave-start";
    let mut held = argv.to_vec();
    if !held.iter().any(|a| a == HOLD) {
        held.push(HOLD.to_owned());
    }
    held
}

#[cfg(test)]
mod tests {
    use super::replication_held;

    #[test]
    fn replication_is_held_once_however_many_drills_restarted_the_server() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let first = replication_held(&argv(&["mariadbd", "--defaults-file=/d/my.cnf"]));
        assert_eq!(
            first,
            argv(&[
                "mariadbd",
                "--defaults-file=/d/my.cnf",
                "--skip-slave-start"
            ])
        );
        assert_eq!(replication_held(&first), first);
    }
}
