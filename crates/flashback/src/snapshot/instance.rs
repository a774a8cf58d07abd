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
}

impl Instance {
    /// An instance an earlier run started on `r` (for `stop`).
    pub fn attach(r: &Receiver, credential: &Credential) -> Instance {
        Instance {
            receiver: r.name.clone(),
            host: r.host.clone(),
            port: r.port,
            dir: r.dir.clone(),
            transport: r.transport.clone(),
            credential: credential.clone(),
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// Writes its option file, starts it, waits until it answers.
    pub(crate) async fn start(
        r: &Receiver,
        credential: &Credential,
        bounds: Bounds,
    ) -> Result<Instance, SnapshotError> {
        let me = Instance::attach(r, credential);
        me.write_config(bounds).await?;
        let script =
            r#"u=; [ "$(id -u)" = 0 ] && u=--user=root; exec "$0" --defaults-file="$1" $u"#;
        let argv = [
            "sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            r.program.clone(),
            me.file("my.cnf"),
        ];
        launch(
            &*me.transport,
            &argv,
            &me.file("mysqld.err"),
            &me.file("launch.pid"),
            bounds.small,
        )
        .await
        .map_err(|source| SnapshotError::Host {
            receiver: me.receiver.clone(),
            source,
        })?;
        me.wait_answer(bounds).await?;
        Ok(me)
    }

    fn config(&self) -> String {
        let local = self.file("mysqld.sock");
        let socket = if local.len() <= MAX_SOCKET_PATH {
            local
        } else {
            format!("/tmp/dr-flashback-{}-{}.sock", self.host, self.port)
        };
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

    async fn write_config(&self, bounds: Bounds) -> Result<(), SnapshotError> {
        let cmd = Command::new("sh")
            .args([
                "-c",
                r#"umask 077 && cat > "$1""#,
                "sh",
                &self.file("my.cnf"),
            ])
            .stdin(self.config().into_bytes());
        self.run(
            &cmd,
            bounds.small,
            "writing the snapshot server's option file",
        )
        .await
    }

    async fn run(&self, cmd: &Command, timeout: Duration, step: &str) -> Result<(), SnapshotError> {
        xtrabackup::ops::run(&*self.transport, cmd, timeout, step)
            .await
            .map(drop)
            .map_err(|source| SnapshotError::Host {
                receiver: self.receiver.clone(),
                source,
            })
    }

    async fn connect(&self, timeout: Duration) -> Result<Client, router::RouterError> {
        let endpoint = Endpoint::new(
            &self.host,
            self.port,
            &self.credential.user,
            self.credential.password.expose(),
        );
        Client::connect(&endpoint, timeout).await
    }

    async fn wait_answer(&self, bounds: Bounds) -> Result<(), SnapshotError> {
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

    /// Its executed GTIDs.
    pub async fn gtid(&self, bounds: Bounds) -> Result<String, SnapshotError> {
        let mut c = self
            .connect(bounds.connect)
            .await
            .map_err(|e| self.sql(&e))?;
        current_pos(&mut c).await.map_err(|e| self.sql(&e))
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
        let theirs = current_pos(&mut c).await.map_err(|e| self.sql(&e))?;
        let mine = self.gtid(bounds).await?;
        let parse = |t: &str| GtidSet::parse(GtidFlavor::Mariadb, t).ok();
        if parse(&mine).is_some() && parse(&mine) == parse(&theirs) {
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

    fn sql(&self, e: &dyn std::fmt::Display) -> SnapshotError {
        SnapshotError::Sql {
            receiver: self.receiver.clone(),
            cause: e.to_string(),
        }
    }
}

async fn current_pos(c: &mut Client) -> Result<String, String> {
    let rows = c
        .query("SELECT @@gtid_current_pos AS g")
        .await
        .map_err(|e| e.to_string())?;
    rows.first()
        .and_then(|r| r.column("g").flatten())
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: no @@gtid_current_pos", c.address()))
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
