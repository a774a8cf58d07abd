//! The ssh transport: the system ssh client through the `openssh` crate, one
//! ControlMaster connection per host shared by every command.
//!
//! `openssh` cannot log in by password, so the master is started here:
//! `ssh -M -N -S SOCKET` with `SSH_ASKPASS` pointing at a one-line helper that
//! `cat`s a 0600 file in a private directory (the password is never on any
//! argv, nor in the long-lived master's environment; the file is removed as
//! soon as authentication is over). As in seed 002 (`init_sys_con`), password
//! authentication is tried first, then the key. The session is then resumed
//! by `openssh` for every command.
//!
//! A client-side timeout cannot kill a remote process over ssh without a
//! pty, so every command runs under a small remote POSIX sh script: it
//! starts the program under `timeout` (its own process group, killed whole
//! on expiry), records that process's pid in a per-user 0700 directory under
//! the command's id (for [`Transport::kill`]) and reports "started" or "not
//! found" on the first line of stdout. The script itself travels on stdin
//! (see `ssh/script.rs`), so environment values never appear on the remote argv.
//!
//! A remote command is not signalled when its channel closes (no pty), so
//! a command tied to a dead controller is ended on the host: a command
//! without stdin bytes gets `/dev/null` as stdin, and the channel's stdin
//! becomes its lifeline, held open here until the command ended. A watcher
//! in the script kills the command's process group when the lifeline
//! reaches EOF first: this process died (the kernel closed it) or dropped
//! the [`Running`]. A command given stdin bytes reads the channel's stdin
//! as before, and dies with the controller only if that EOF ends it. The
//! master itself gets SIGTERM when its parent dies (`PR_SET_PDEATHSIG`).
//!
//! Each command gets its own channel (a local `ssh -S` mux client); a few
//! are opened ahead of need ([`SshConfig::warm_channels`], `ssh/warm.rs`), so
//! a short command does not wait for ssh to start.

use crate::command::Command;
use crate::error::{Error, Result};
use crate::transport::{CommandId, Running, Transport};
use remote_config::{HostKeyPolicy, SshConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::Semaphore;

mod script;
mod warm;
use script::{BOOTSTRAP, NO_SUCH_COMMAND, clear_255_script, kill_script, run_script, script_line};

const KIND: &str = "ssh";

/// Commands on one host over ssh.
#[derive(Debug)]
pub struct Ssh {
    host: String,
    cfg: Arc<SshConfig>,
    master: tokio::sync::Mutex<Option<Arc<Master>>>,
    limit: Arc<Semaphore>,
}

/// A running ControlMaster: killed (and its directory removed) on drop,
/// after its warm channels.
struct Master {
    warm: Arc<warm::WarmPool>,
    session: Arc<openssh::Session>,
    socket: PathBuf,
    _process: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

enum Attempt {
    Password,
    Key,
}

impl Ssh {
    /// A transport to `host`; the connection is opened on first use.
    pub fn new(host: impl Into<String>, cfg: SshConfig) -> Self {
        let limit = Arc::new(Semaphore::new(cfg.max_concurrent.max(1)));
        Self {
            host: host.into(),
            cfg: Arc::new(cfg),
            master: tokio::sync::Mutex::new(None),
            limit,
        }
    }

    /// Opens the master connection now (password first, then key).
    pub async fn connect(&self) -> Result<()> {
        self.master(None).await.map(drop)
    }

    /// Closes the master connection (the next command opens a new one).
    pub async fn disconnect(&self) {
        self.master.lock().await.take();
    }

    /// How many warm channels are open and waiting for a command now
    /// (see [`SshConfig::warm_channels`]); for diagnostics and tests.
    pub async fn warm_channels_ready(&self) -> usize {
        self.master
            .lock()
            .await
            .as_ref()
            .map_or(0, |m| m.warm.ready())
    }

    /// The live master, (re)connecting when there is none or it died.
    ///
    /// `failed` is a master a channel just failed on: it is replaced even
    /// if its socket still answers (a SIGKILLed master's socket accepts
    /// until the kernel has torn the process down). A different master in
    /// its place was started by a command that saw the same failure: it is
    /// used, not replaced, since commands may already run on it.
    async fn master(&self, failed: Option<&Arc<Master>>) -> Result<Arc<Master>> {
        let mut guard = self.master.lock().await;
        if let Some(m) = guard.as_ref()
            && failed.is_none_or(|f| !Arc::ptr_eq(f, m))
            && tokio::net::UnixStream::connect(&m.socket).await.is_ok()
        {
            return Ok(m.clone());
        }
        // The old master lives on while commands run over it; its idle
        // warm channels go now, with the permits they hold.
        if let Some(old) = guard.take() {
            old.warm.clear();
        }
        let m = Arc::new(self.start_master().await?);
        *guard = Some(m.clone());
        Ok(m)
    }

    async fn start_master(&self) -> Result<Master> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix(".dbremote-ssh-")
            .tempdir()
            .map_err(|e| {
                self.transport_err("connect", format!("cannot create a socket directory: {e}"))
            })?;
        std::fs::create_dir_all(&self.cfg.state_dir).map_err(|e| {
            self.transport_err(
                "connect",
                format!("cannot create {}: {e}", self.cfg.state_dir.display()),
            )
        })?;
        let mut tried = Vec::new();
        let mut last_refusal = String::new();
        let attempts = [
            self.cfg.password.as_ref().map(|_| Attempt::Password),
            self.cfg.key.as_ref().map(|_| Attempt::Key),
        ];
        for attempt in attempts.into_iter().flatten() {
            let method = match attempt {
                Attempt::Password => "password",
                Attempt::Key => "publickey",
            };
            tried.push(method);
            let socket = dir.path().join(format!("{method}.sock"));
            match self.try_master(dir.path(), &socket, &attempt).await {
                Ok(process) => {
                    tracing::info!(host = %self.host, user = %self.cfg.user, method, ms = started.elapsed().as_millis() as u64, "ssh master connected");
                    let session = openssh::Session::resume(socket.clone().into_boxed_path(), None);
                    return Ok(Master {
                        warm: warm::WarmPool::new(self.cfg.warm_channels),
                        session: Arc::new(session),
                        socket,
                        _process: process,
                        _dir: dir,
                    });
                }
                Err(MasterFailure::Refused(log)) => {
                    tracing::info!(host = %self.host, user = %self.cfg.user, method, "ssh login refused; trying the next method");
                    last_refusal = log;
                }
                Err(MasterFailure::Fatal(e)) => return Err(e),
            }
        }
        if tried.is_empty() {
            return Err(Error::Invalid {
                what: "ssh configuration".into(),
                detail: format!("no password and no key for {}@{}", self.cfg.user, self.host),
            });
        }
        tracing::warn!(host = %self.host, user = %self.cfg.user, tried = ?tried, detail = %last_refusal, "ssh authentication failed");
        Err(Error::AuthFailed {
            host: self.host.clone(),
            user: self.cfg.user.clone(),
            transport: KIND,
            tried: tried.join(", "),
        })
    }

    async fn try_master(
        &self,
        dir: &Path,
        socket: &Path,
        attempt: &Attempt,
    ) -> std::result::Result<tokio::process::Child, MasterFailure> {
        let cfg = &self.cfg;
        let log = dir.join("master.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| MasterFailure::Fatal(self.transport_err("connect", e.to_string())))?;
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.arg("-M")
            .arg("-N")
            .arg("-S")
            .arg(socket)
            .args(["-o", "ControlPersist=no"])
            .args([
                "-o",
                &format!("ConnectTimeout={}", cfg.connect_timeout.as_secs().max(1)),
            ])
            .args([
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=4",
            ])
            .args([
                "-o",
                match cfg.host_keys {
                    HostKeyPolicy::AcceptNew => "StrictHostKeyChecking=accept-new",
                    HostKeyPolicy::Strict => "StrictHostKeyChecking=yes",
                },
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                cfg.state_dir.join("known_hosts").display()
            ))
            .args(["-o", "GlobalKnownHostsFile=/dev/null"])
            .args(["-o", "KbdInteractiveAuthentication=no"])
            .args(["-o", "LogLevel=ERROR"])
            .arg("-p")
            .arg(cfg.port.to_string())
            .arg("-l")
            .arg(&cfg.user)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let secret_file = dir.join("askpass.secret");
        match attempt {
            Attempt::Password => {
                let password = cfg
                    .password
                    .as_deref()
                    .map(String::as_str)
                    .unwrap_or_default();
                write_private(&secret_file, password.as_bytes())
                    .map_err(|e| MasterFailure::Fatal(self.transport_err("connect", e)))?;
                let helper = dir.join("askpass");
                write_private(
                    &helper,
                    b"#!/bin/sh\nexec cat -- \"$DBREMOTE_ASKPASS_FILE\"\n",
                )
                .and_then(|()| make_executable(&helper))
                .map_err(|e| MasterFailure::Fatal(self.transport_err("connect", e)))?;
                cmd.args(["-o", "BatchMode=no"])
                    .args(["-o", "PreferredAuthentications=password"])
                    .args(["-o", "PubkeyAuthentication=no"])
                    .args(["-o", "NumberOfPasswordPrompts=1"])
                    .env("SSH_ASKPASS", &helper)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env("DBREMOTE_ASKPASS_FILE", &secret_file)
                    .env_remove("DISPLAY");
            }
            Attempt::Key => {
                let key = cfg.key.clone().unwrap_or_default();
                cmd.args(["-o", "BatchMode=yes"])
                    .args(["-o", "PreferredAuthentications=publickey"])
                    .args(["-o", "PasswordAuthentication=no"])
                    .args(["-o", "IdentitiesOnly=yes"])
                    .arg("-i")
                    .arg(key)
                    .env("SSH_ASKPASS_REQUIRE", "never");
            }
        }
        cmd.arg(&self.host);
        let result = self.await_master(cmd, socket, &log).await;
        let _ = std::fs::remove_file(&secret_file);
        result
    }

    /// Starts the master and waits until its socket answers (logged in) or
    /// it exits (refused / unreachable), within the connect timeout.
    async fn await_master(
        &self,
        mut cmd: tokio::process::Command,
        socket: &Path,
        log: &Path,
    ) -> std::result::Result<tokio::process::Child, MasterFailure> {
        let mut child = cmd.spawn().map_err(|e| {
            MasterFailure::Fatal(Error::Spawn {
                host: self.host.clone(),
                program: "ssh".into(),
                detail: e.to_string(),
            })
        })?;
        let deadline = Instant::now() + self.cfg.connect_timeout + Duration::from_secs(5);
        loop {
            if let Ok(Some(_status)) = child.try_wait() {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(self.classify(text.trim()));
            }
            if tokio::net::UnixStream::connect(socket).await.is_ok() {
                return Ok(child);
            }
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(MasterFailure::Fatal(Error::Unreachable {
                    host: self.host.clone(),
                    transport: KIND,
                    detail: format!(
                        "no ssh login within {}s",
                        (self.cfg.connect_timeout + Duration::from_secs(5)).as_secs()
                    ),
                }));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn classify(&self, log: &str) -> MasterFailure {
        let last = log.lines().last().unwrap_or("ssh exited").to_owned();
        if log.contains("Permission denied") || log.contains("Too many authentication failures") {
            return MasterFailure::Refused(last);
        }
        let unreachable = [
            "Connection refused",
            "No route to host",
            "Connection timed out",
            "timed out",
            "Network is unreachable",
            "Could not resolve",
            "Name or service not known",
            "Connection closed",
            "Connection reset",
        ];
        if unreachable.iter().any(|s| log.contains(s)) {
            return MasterFailure::Fatal(Error::Unreachable {
                host: self.host.clone(),
                transport: KIND,
                detail: last,
            });
        }
        MasterFailure::Fatal(self.transport_err("connect", last))
    }

    /// Sends the run script on a channel (`warm` if given, else a fresh
    /// one) and reads its first line. The first line tells whether the
    /// script ran, so a channel lost before it is safe to retry: a dead warm
    /// channel on a fresh one, a dead fresh channel once more on a fresh
    /// master. Gives the channel, its stdout past that line, when the
    /// command started, and the master used.
    async fn start_on_a_channel(
        &self,
        mut master: Arc<Master>,
        mut warm: Option<SshChild>,
        script: &str,
        program: &str,
    ) -> Result<(
        SshChild,
        BufReader<openssh::ChildStdout>,
        Instant,
        Arc<Master>,
    )> {
        let mut reconnected = false;
        loop {
            let was_warm = warm.is_some();
            let mut child = match warm.take() {
                Some(child) => child,
                None => open_channel(&master.session)
                    .await
                    .map_err(|e| self.transport_err(program, e))?,
            };
            // The clock starts before the host can start the command's
            // timer, so a remote timeout is never judged shorter than its
            // limit (see `Exit::judge`), however late "S" is read.
            let started = Instant::now();
            // A failed write shows as a missing first line below.
            let _ = send_script(&mut child, script).await;
            let mut stdout = BufReader::new(
                child
                    .stdout()
                    .take()
                    .ok_or_else(|| self.transport_err(program, "no stdout pipe"))?,
            );
            let mut first = String::new();
            let _ = stdout.read_line(&mut first).await;
            match first.trim_end() {
                "S" => return Ok((child, stdout, started, master)),
                "N" => {
                    let _ = child.wait().await;
                    return Err(Error::NotFound {
                        host: self.host.clone(),
                        program: program.to_owned(),
                    });
                }
                other if other.starts_with('E') => {
                    let _ = child.wait().await;
                    return Err(Error::Spawn {
                        host: self.host.clone(),
                        program: program.to_owned(),
                        detail: other.trim_start_matches("E ").to_owned(),
                    });
                }
                _ if was_warm => {
                    drop(child);
                    master.warm.clear();
                    tracing::debug!(host = %self.host, "a warm ssh channel had closed; using a fresh one");
                }
                _ => {
                    let status = child.wait().await;
                    if reconnected {
                        return Err(self.transport_err(
                            program,
                            format!("the remote side did not start the command ({status:?})"),
                        ));
                    }
                    tracing::info!(host = %self.host, "ssh channel failed before the command started; reconnecting");
                    reconnected = true;
                    master = self.master(Some(&master)).await?;
                }
            }
        }
    }

    fn transport_err(&self, program: &str, detail: impl Into<String>) -> Error {
        Error::Transport {
            host: self.host.clone(),
            transport: KIND,
            program: program.to_owned(),
            detail: detail.into(),
        }
    }

    /// Runs `script` (sh source) through the bootstrap on a fresh channel;
    /// returns the child with stdin still open.
    async fn start(
        &self,
        master: &Arc<Master>,
        script: &str,
        program: &str,
    ) -> Result<openssh::Child<Arc<openssh::Session>>> {
        let mut child = open_channel(&master.session)
            .await
            .map_err(|e| self.transport_err(program, e))?;
        send_script(&mut child, script)
            .await
            .map_err(|e| self.transport_err(program, e))?;
        Ok(child)
    }
}

/// One command's channel to the host.
type SshChild = openssh::Child<Arc<openssh::Session>>;

/// A command given stdin bytes gets them, then EOF (it dies with the
/// controller only if that EOF ends it). Any other command's stdin is
/// /dev/null and the channel's stdin its lifeline (see `run_script`),
/// returned here: held open until the command ended, closed by the kernel
/// when this process dies, or when `Running` is dropped.
fn feed_stdin(child: &mut SshChild, cmd: &Command) -> Option<openssh::ChildStdin> {
    let mut stdin = child.stdin().take()?;
    match cmd.stdin.clone() {
        Some(bytes) => {
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            });
            None
        }
        None => Some(stdin),
    }
}

/// What it takes to turn a channel's end into the command's exit code.
struct Exit {
    host: String,
    /// The master the command runs over, held until the command ended: a
    /// master is killed when dropped, and another command that replaced it
    /// in [`Ssh`] (its own channel failed) must not end this one.
    master: Arc<Master>,
    id: CommandId,
    program: String,
    timeout: Option<Duration>,
    started: Instant,
}

impl Exit {
    /// The exit code, telling a lost connection from a command's own 255,
    /// a missing program (127) and the remote timeout (124 after the limit).
    async fn judge(
        self,
        status: std::result::Result<std::process::ExitStatus, openssh::Error>,
    ) -> Result<i32> {
        let Exit {
            host,
            master,
            id,
            program,
            timeout,
            started,
        } = self;
        if matches!(status, Err(openssh::Error::RemoteProcessTerminated))
            && real_255(&master.session, &id).await
        {
            return Ok(255);
        }
        if status.as_ref().is_err_and(is_exit_127) {
            return Ok(127);
        }
        let status = status.map_err(|e| Error::Transport {
            host: host.clone(),
            transport: KIND,
            program: program.clone(),
            detail: match e {
                openssh::Error::RemoteProcessTerminated => {
                    "the ssh connection was lost (exit 255)".to_owned()
                }
                other => other.to_string(),
            },
        })?;
        let code = status.code().unwrap_or(255);
        if let Some(t) = timeout
            && code == 124
            && started.elapsed() >= t
        {
            return Err(Error::Timeout {
                host,
                program,
                after: t,
            });
        }
        Ok(code)
    }
}

/// A new channel running the bootstrap, waiting for its script.
async fn open_channel(
    session: &Arc<openssh::Session>,
) -> std::result::Result<openssh::Child<Arc<openssh::Session>>, String> {
    let mut cmd = session.clone().arc_raw_command(BOOTSTRAP);
    cmd.stdin(openssh::Stdio::piped())
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::piped());
    cmd.spawn().await.map_err(|e| e.to_string())
}

/// Sends `script` to a channel's bootstrap.
async fn send_script(
    child: &mut openssh::Child<Arc<openssh::Session>>,
    script: &str,
) -> std::result::Result<(), String> {
    let line = script_line(script);
    match child.stdin().as_mut() {
        Some(stdin) => stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("cannot send the command: {e}")),
        None => Err("no stdin pipe".into()),
    }
}

async fn start_script(
    session: &Arc<openssh::Session>,
    script: &str,
) -> std::result::Result<openssh::Child<Arc<openssh::Session>>, String> {
    let mut child = open_channel(session).await?;
    send_script(&mut child, script).await?;
    Ok(child)
}

/// Exit status 255 is also ssh's own failure status: the run script leaves
/// a marker file for it, which this looks up (and removes).
async fn real_255(session: &Arc<openssh::Session>, id: &CommandId) -> bool {
    let Ok(mut child) = start_script(session, &clear_255_script(id)).await else {
        return false;
    };
    if let Some(mut stdin) = child.stdin().take() {
        let _ = stdin.shutdown().await;
    }
    matches!(child.wait().await, Ok(s) if s.success())
}

/// openssh reports a remote exit status of 127 as an error ("remote
/// command not found"). A program missing on the host is found out before
/// the command starts (the run script's `N`), so a 127 seen here is the
/// command's own status: a shell snippet whose inner program is missing.
fn is_exit_127(e: &openssh::Error) -> bool {
    matches!(e, openssh::Error::Remote(io) if io.kind() == std::io::ErrorKind::NotFound)
}

enum MasterFailure {
    /// The server refused this method (try the next one).
    Refused(String),
    /// Unreachable or broken: stop.
    Fatal(Error),
}

/// Makes the process `cmd` starts receive SIGTERM when its parent dies, so
/// a master (and with it every channel, hence every remote lifeline) never
/// outlives a controller that was killed without a chance to drop it.
/// Linux ties this to the thread that forked: a tokio worker thread, which
/// lives as long as the runtime that owns the master anyway.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs between fork and exec and only makes two
    // async-signal-safe system calls (prctl, getppid); it allocates nothing
    // and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            // The parent may have died before prctl: then nobody would
            // ever send the signal.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(
                    nix::errno::Errno::ESRCH as i32,
                ));
            }
            Ok(())
        });
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::result::Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn make_executable(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

#[async_trait::async_trait]
impl Transport for Ssh {
    fn host(&self) -> &str {
        &self.host
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    async fn spawn(&self, cmd: &Command, timeout: Option<Duration>) -> Result<Running> {
        // `admit` checks this too, but a warm channel skips `admit`.
        cmd.validate().map_err(|detail| Error::Invalid {
            what: format!("command {}", cmd.name()),
            detail,
        })?;
        let id = CommandId::random();
        let script = run_script(cmd, &id, timeout);
        let program = cmd.name().to_owned();
        let master = self.master(None).await?;
        let (permit, warm) = match master.warm.take() {
            Some(w) => (w.permit, Some(w.child)),
            None => (
                crate::transport::admit(cmd, &self.limit, &self.host, KIND).await?,
                None,
            ),
        };
        let (mut child, stdout, started, master) = self
            .start_on_a_channel(master, warm, &script, &program)
            .await?;
        master.warm.fill(&master.session, &self.limit);
        let stderr = child
            .stderr()
            .take()
            .ok_or_else(|| self.transport_err(&program, "no stderr pipe"))?;
        let lifeline = feed_stdin(&mut child, cmd);
        let exit = Exit {
            host: self.host.clone(),
            master: master.clone(),
            id: id.clone(),
            program,
            timeout,
            started,
        };
        let wait = async move {
            let _permit = permit;
            let status = child.wait().await;
            drop(lifeline);
            exit.judge(status).await
        };
        Ok(Running::new(
            id,
            Box::new(stdout),
            Box::new(stderr),
            Box::pin(wait),
        ))
    }

    async fn kill(&self, id: &CommandId) -> Result<()> {
        let master = self.master(None).await?;
        let mut child = self.start(&master, &kill_script(id), "kill").await?;
        if let Some(mut stdin) = child.stdin().take() {
            let _ = stdin.shutdown().await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| self.transport_err("kill", e.to_string()))?;
        match status.code() {
            Some(0) => Ok(()),
            Some(NO_SUCH_COMMAND) => Err(Error::NoSuchCommand {
                host: self.host.clone(),
                id: id.to_string(),
            }),
            other => Err(self.transport_err("kill", format!("kill script exited {other:?}"))),
        }
    }
}
