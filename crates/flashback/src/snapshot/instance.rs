//! The temporary instance on a snapshot: its option file (written from
//! typed values, not a copied and edited config), its start as a daemon of
//! its own session (it outlives this run: the drill lasts until `stop`),
//! the wait until it answers, its GTID check and its clean shutdown.

use super::{Bounds, Donor, Receiver, SnapshotError};
use binlog::gtid::{GtidFlavor, GtidSet};
use remote::{Command, Transport};
use router::{Client, Endpoint};
use std::sync::Arc;
use std::time::{Duration, Instant};
use topology::Credential;

/// Longest Unix socket path a server accepts.
const MAX_SOCKET_PATH: usize = 107;
/// Pause between two polls of a bounded wait.
const POLL: Duration = Duration::from_millis(200);

/// A temporary instance on a snapshot.
pub struct Instance {
    /// The DR server the snapshot is for.
    pub receiver: String,
    /// Its address.
    pub host: String,
    /// Its port (the snapshot port).
    pub port: u16,
    /// The snapshot directory.
    pub dir: String,
    transport: Arc<dyn Transport>,
    credential: Credential,
    pub(crate) program: String,
    flavor: GtidFlavor,
}

impl Instance {
    /// A MariaDB instance an earlier run started on `r` (for `stop`).
    pub fn attach(r: &Receiver, credential: &Credential) -> Instance {
        Instance::attach_as(r, credential, GtidFlavor::Mariadb)
    }

    /// An instance of `flavor` an earlier run started on `r`: MariaDB's
    /// holds a prepared copy, MySQL's a clone.
    pub fn attach_as(r: &Receiver, credential: &Credential, flavor: GtidFlavor) -> Instance {
        Instance {
            receiver: r.name.clone(),
            host: r.host.clone(),
            port: r.port,
            dir: r.dir.clone(),
            transport: r.transport.clone(),
            credential: credential.clone(),
            program: r.program.clone(),
            flavor,
        }
    }

    /// Its flavor.
    pub fn flavor(&self) -> GtidFlavor {
        self.flavor
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(crate) fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// Writes its option file, starts it, waits until it answers.
    pub(crate) async fn start(
        r: &Receiver,
        credential: &Credential,
        bounds: Bounds,
    ) -> Result<Instance, SnapshotError> {
        let me = Instance::attach(r, credential);
        me.write_file("my.cnf", me.config(), bounds).await?;
        me.restart(bounds).await?;
        Ok(me)
    }

    /// Starts it on the option file its directory holds, as a daemon of its
    /// own session, and waits until it answers.
    pub async fn restart(&self, bounds: Bounds) -> Result<(), SnapshotError> {
        let script =
            r#"u=; [ "$(id -u)" = 0 ] && u=--user=root; exec "$0" --defaults-file="$1" $u"#;
        let argv = [
            "sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            self.program.clone(),
            self.file("my.cnf"),
        ];
        launch(
            &*self.transport,
            &argv,
            &self.file("mysqld.err"),
            &self.file("launch.pid"),
            bounds.small,
        )
        .await
        .map_err(|source| self.host_error(source))?;
        self.wait_answer(bounds).await
    }

    pub(crate) fn host_error(&self, source: xtrabackup::Error) -> SnapshotError {
        SnapshotError::Host {
            receiver: self.receiver.clone(),
            source,
        }
    }

    /// Its socket: in its directory unless that path is too long for one.
    pub(crate) fn socket(&self) -> String {
        let local = self.file("mysqld.sock");
        if local.len() <= MAX_SOCKET_PATH {
            local
        } else {
            format!("/tmp/dr-flashback-{}-{}.sock", self.host, self.port)
        }
    }

    fn config(&self) -> String {
        let socket = self.socket();
        format!(
            "# written by dr-flashback: the drill's snapshot, checked on its own port\n\
             [mysqld]\ndatadir = {dir}/data\ntmpdir = {dir}/tmp\nsocket = {socket}\n\
             pid-file = {dir}/mysqld.pid\nlog-error = {dir}/mysqld.err\n\
             bind-address = {host}\nport = {port}\nskip-slave-start\n\
             innodb-buffer-pool-size = 64M\ngtid-strict-mode = ON\n",
            dir = self.dir,
            host = self.host,
            port = self.port,
        )
    }

    /// Writes `text` into the file `name` of its directory, readable by
    /// the login user only (through stdin: never on an argv).
    pub(crate) async fn write_file(
        &self,
        name: &str,
        text: String,
        bounds: Bounds,
    ) -> Result<(), SnapshotError> {
        let cmd = Command::new("sh")
            .args(["-c", r#"umask 077 && cat > "$1""#, "sh", &self.file(name)])
            .stdin(text.into_bytes());
        let step = format!("writing the snapshot server's {name}");
        self.run(&cmd, bounds.small, &step).await
    }

    pub(crate) async fn run(
        &self,
        cmd: &Command,
        timeout: Duration,
        step: &str,
    ) -> Result<(), SnapshotError> {
        xtrabackup::ops::run(&*self.transport, cmd, timeout, step)
            .await
            .map(drop)
            .map_err(|source| self.host_error(source))
    }

    pub(crate) async fn connect(&self, timeout: Duration) -> Result<Client, router::RouterError> {
        let endpoint = Endpoint::new(
            &self.host,
            self.port,
            &self.credential.user,
            self.credential.password.expose(),
        );
        Client::connect(&endpoint, timeout).await
    }

    pub(crate) async fn wait_answer(&self, bounds: Bounds) -> Result<(), SnapshotError> {
        let endpoint = Endpoint::new(
            &self.host,
            self.port,
            &self.credential.user,
            self.credential.password.expose(),
        );
        let launched = self.file("launch.pid");
        let log = self.file("mysqld.err");
        wait_answer(&*self.transport, &endpoint, &launched, &log, bounds)
            .await
            .map_err(|log_tail| SnapshotError::NoAnswer {
                receiver: self.receiver.clone(),
                address: self.address(),
                waited: bounds.start,
                log_tail,
            })
    }

    /// Whether the process it was last started as still runs.
    pub(crate) async fn running(&self, bounds: Bounds) -> bool {
        alive(&*self.transport, &self.file("launch.pid"), bounds).await
    }

    /// Its executed GTIDs.
    pub async fn gtid(&self, bounds: Bounds) -> Result<String, SnapshotError> {
        let mut c = self
            .connect(bounds.connect)
            .await
            .map_err(|e| self.sql(&e))?;
        current_pos(&mut c, self.flavor)
            .await
            .map_err(|e| self.sql(&e))
    }

    /// Checks it holds exactly the donor's GTIDs; gives them.
    pub async fn check(&self, donor: &Donor, bounds: Bounds) -> Result<String, SnapshotError> {
        let endpoint = Endpoint::new(
            &donor.host,
            donor.port,
            &donor.credential.user,
            donor.credential.password.expose(),
        );
        let mut c = Client::connect(&endpoint, bounds.connect)
            .await
            .map_err(|e| self.sql(&e))?;
        let theirs = current_pos(&mut c, self.flavor)
            .await
            .map_err(|e| self.sql(&e))?;
        let mine = self.gtid(bounds).await?;
        if same_gtids(self.flavor, &mine, &theirs) {
            Ok(mine)
        } else {
            Err(SnapshotError::GtidMismatch {
                receiver: self.receiver.clone(),
                address: self.address(),
                snapshot: mine,
                donor: theirs,
            })
        }
    }

    /// Asks it to shut down and waits until its pid file is gone.
    pub async fn shutdown(&self, bounds: Bounds) -> Result<(), SnapshotError> {
        if let Ok(mut c) = self.connect(bounds.connect).await {
            // The connection ends with the server: no answer is expected.
            let _ = c.execute("SHUTDOWN").await;
        }
        let pid_file = self.file("mysqld.pid");
        let gone = Command::new("sh").args(["-c", r#"! test -e "$1""#, "sh", &pid_file]);
        let deadline = Instant::now() + bounds.start;
        loop {
            if let Ok(out) = self.transport.exec(&gone, bounds.small).await
                && out.success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SnapshotError::NoAnswer {
                    receiver: self.receiver.clone(),
                    address: self.address(),
                    waited: bounds.start,
                    log_tail: format!("still running after SHUTDOWN ({pid_file} remains)"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(crate) fn sql(&self, e: &dyn std::fmt::Display) -> SnapshotError {
        SnapshotError::Sql {
            receiver: self.receiver.clone(),
            cause: e.to_string(),
        }
    }
}

/// Whether two GTID texts of `flavor` name the same set (MySQL prints a
/// set over several lines, in any order).
pub fn same_gtids(flavor: GtidFlavor, a: &str, b: &str) -> bool {
    let parse = |t: &str| GtidSet::parse(flavor, t).ok();
    parse(a).is_some() && parse(a) == parse(b)
}

/// A server's executed GTIDs: MariaDB's `@@gtid_current_pos`; MySQL's
/// `Executed_Gtid_Set` of `SHOW MASTER STATUS`, as seed 002's
/// `judge_clone_finished` reads it.
async fn current_pos(c: &mut Client, flavor: GtidFlavor) -> Result<String, String> {
    let (sql, column) = match flavor {
        GtidFlavor::Mariadb => ("SELECT @@gtid_current_pos AS g", "g"),
        GtidFlavor::Mysql => ("SHOW MASTER STATUS", "Executed_Gtid_Set"),
    };
    let rows = c.query(sql).await.map_err(|e| e.to_string())?;
    rows.first()
        .and_then(|r| r.column(column).flatten())
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: {sql} gave no {column}", c.address()))
}

/// Starts `argv` on the host in a session of its own (it outlives this
/// command's process group, and this run), its output appended to `log`;
/// the launcher's pid goes to `launch_pid`, so [`wait_answer`] notices a
/// server that dies at once.
pub(crate) async fn launch(
    t: &dyn Transport,
    argv: &[String],
    log: &str,
    launch_pid: &str,
    timeout: Duration,
) -> Result<(), xtrabackup::Error> {
    // The sbin directories: a non-interactive login's PATH may lack them.
    let script = r#"pid=$1; log=$2; shift 2
rm -f -- "$pid"
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH
exec setsid -f sh -c 'echo $$ > "$0"; exec "$@"' "$pid" "$@" </dev/null >>"$log" 2>&1"#;
    let mut args = vec!["-c".to_owned(), script.to_owned(), "sh".to_owned()];
    args.push(launch_pid.to_owned());
    args.push(log.to_owned());
    args.extend(argv.iter().cloned());
    let step = format!("starting {}", argv.first().map_or("", String::as_str));
    xtrabackup::ops::run(t, &Command::new("sh").args(args), timeout, &step)
        .await
        .map(drop)
}

/// Waits until `endpoint` answers a login, at most `bounds.start`, while
/// the process whose pid is in `launch_pid` lives; on failure, the last
/// lines of `log`.
pub(crate) async fn wait_answer(
    t: &dyn Transport,
    endpoint: &Endpoint,
    launch_pid: &str,
    log: &str,
    bounds: Bounds,
) -> Result<(), String> {
    let deadline = Instant::now() + bounds.start;
    loop {
        match Client::connect(endpoint, bounds.connect.min(Duration::from_secs(5))).await {
            Ok(c) => {
                let _ = c.close().await;
                return Ok(());
            }
            Err(_) if Instant::now() < deadline && alive(t, launch_pid, bounds).await => {
                tokio::time::sleep(POLL).await;
            }
            Err(e) => {
                let cmd = Command::new("tail").args(["-n", "5", log]);
                let tail = match t.exec(&cmd, bounds.small).await {
                    Ok(out) => out.stdout_str().trim().replace('\n', " | "),
                    Err(te) => format!("(unreadable: {te})"),
                };
                return Err(format!("{e}; {log} ends: {tail}"));
            }
        }
    }
}

/// Whether the process whose pid is in `launch_pid` still runs. A pid
/// file not written yet (the launcher forked but has not run) and a
/// transport hiccup count as alive: keep waiting, within the deadline.
async fn alive(t: &dyn Transport, launch_pid: &str, bounds: Bounds) -> bool {
    let cmd = Command::new("sh").args([
        "-c",
        r#"[ ! -s "$1" ] || kill -0 "$(cat "$1")" 2>/dev/null"#,
        "sh",
        launch_pid,
    ]);
    t.exec(&cmd, bounds.small)
        .await
        .map_or(true, |out| out.success())
}
