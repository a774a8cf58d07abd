//! Fixtures for the conformance suite: a transport of each kind against the
//! sandbox, agents started (and killed on drop) by the test itself.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod pki;
pub mod rabbit;

use remote::Zeroizing;
use remote::{Adm, AdmConfig, Broker, Local, Rabbit, Secret, Ssh, SshConfig, Transport};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// On this host.
    Local,
    /// ssh to the sandbox sshd.
    Ssh,
    /// adm-agent started by the test.
    Adm,
    /// adm-agent over TLS (`--tls-cert`/`--tls-key`, test CA), started by
    /// the test.
    AdmTls,
    /// rabbit-agent started by the test on its own queue.
    Rabbit,
}

/// The sandbox host the remote transports talk to.
pub const HOST: &str = "127.0.0.12";

/// A transport under test plus what the negative cases need.
pub struct Fx {
    pub t: Arc<dyn Transport>,
    kind: Kind,
    sb: testkit::Sandbox,
    agent: Option<AgentProc>,
    _state: tempfile::TempDir,
}

impl Fx {
    pub async fn new(kind: Kind, sb: testkit::Sandbox) -> Fx {
        let state = tempfile::tempdir().unwrap();
        let (t, agent): (Arc<dyn Transport>, _) = match kind {
            Kind::Local => (Arc::new(Local::new("localhost", 256)), None),
            Kind::Ssh => (Arc::new(ssh(&sb, state.path().into(), true, true)), None),
            Kind::Adm => {
                let agent = AgentProc::adm(HOST, state.path().join("adm.secret"));
                (Arc::new(agent.adm_client(&agent.secret)), Some(agent))
            }
            Kind::AdmTls => {
                let pki = pki::Pki::new(state.path(), "agent", &[HOST]);
                let agent = AgentProc::adm_tls(HOST, state.path().join("adm.secret"), &pki);
                (Arc::new(agent.adm_client(&agent.secret)), Some(agent))
            }
            Kind::Rabbit => {
                let agent = AgentProc::rabbit(&sb).await;
                (Arc::new(agent.rabbit_client(&agent.uri)), Some(agent))
            }
        };
        Fx {
            t,
            kind,
            sb,
            agent,
            _state: state,
        }
    }

    /// A transport of the same kind to a host where nothing answers.
    pub fn unreachable(&self) -> Option<Arc<dyn Transport>> {
        match self.kind {
            Kind::Local => None,
            Kind::Ssh => {
                let mut cfg = ssh_config(&self.sb, self._state.path().into());
                cfg.password = Some(Zeroizing::new(self.sb.var("LOGIN_PASSWORD").to_owned()));
                cfg.port = free_port();
                Some(Arc::new(Ssh::new(HOST, cfg)))
            }
            Kind::Adm | Kind::AdmTls => {
                let agent = self.agent.as_ref()?;
                let mut cfg = AdmConfig::new(free_port(), agent.secret.clone());
                cfg.tls_ca_file = agent.tls_ca.clone();
                Some(Arc::new(Adm::new(HOST, cfg).unwrap()))
            }
            Kind::Rabbit => {
                let agent = self.agent.as_ref()?;
                let mut t = Rabbit::new(
                    Broker::new(&agent.uri).unwrap(),
                    "127.0.0.99-nobody",
                    "rds-dbinit",
                );
                t.answer_timeout = Duration::from_secs(1);
                Some(Arc::new(t))
            }
        }
    }

    /// A transport of the same kind with a wrong password / secret.
    pub fn wrong_credentials(&self) -> Option<Arc<dyn Transport>> {
        match self.kind {
            Kind::Local => None,
            Kind::Ssh => {
                let mut cfg = ssh_config(&self.sb, self._state.path().into());
                cfg.password = Some(Zeroizing::new("wrong-password".to_owned()));
                Some(Arc::new(Ssh::new(HOST, cfg)))
            }
            Kind::Adm | Kind::AdmTls => {
                let agent = self.agent.as_ref()?;
                Some(Arc::new(
                    agent.adm_client(&Secret::new("a-wrong-secret-0123456789")),
                ))
            }
            Kind::Rabbit => {
                let agent = self.agent.as_ref()?;
                let bad = agent.uri.replacen("guest:guest", "guest:wrong", 1);
                Some(Arc::new(agent.rabbit_client(&bad)))
            }
        }
    }

    /// The agent this fixture started, if any.
    pub fn agent(&self) -> Option<&AgentProc> {
        self.agent.as_ref()
    }

    /// Restarts the agent (false when this transport has none).
    pub async fn restart(&mut self) -> bool {
        match self.agent.as_mut() {
            Some(agent) => {
                agent.restart();
                if self.kind == Kind::Rabbit {
                    agent.await_rabbit().await;
                }
                true
            }
            None => false,
        }
    }
}

pub fn ssh_config(sb: &testkit::Sandbox, state: PathBuf) -> SshConfig {
    let mut cfg = SshConfig::new(sb.var("LOGIN_USER"), state);
    cfg.port = sb.var("SSH_PORT").parse().unwrap();
    cfg.max_concurrent = 64;
    cfg
}

pub fn ssh(sb: &testkit::Sandbox, state: PathBuf, password: bool, key: bool) -> Ssh {
    let mut cfg = ssh_config(sb, state);
    if password {
        cfg.password = Some(Zeroizing::new(sb.var("LOGIN_PASSWORD").to_owned()));
    }
    if key {
        cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    }
    Ssh::new(HOST, cfg)
}

/// Writes an agent's secret file, mode 0600 (the agents warn otherwise).
pub fn write_secret(path: &std::path::Path, secret: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, secret).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A port nothing listens on (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Is `pid` a live, non-zombie process?
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A file every user can read, removed on drop.
pub struct SharedFile {
    pub path: PathBuf,
}

impl Drop for SharedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn shared_file(data: &[u8]) -> SharedFile {
    use std::os::unix::fs::PermissionsExt as _;
    let path =
        std::env::temp_dir().join(format!("dbr-conformance-{}", remote::CommandId::random()));
    std::fs::write(&path, data).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    SharedFile { path }
}

/// A directory every user can write to (sticky, like /tmp), removed with
/// what is in it on drop.
pub struct SharedDir {
    pub path: PathBuf,
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn shared_dir() -> SharedDir {
    use std::os::unix::fs::PermissionsExt as _;
    let path =
        std::env::temp_dir().join(format!("dbr-conformance-{}", remote::CommandId::random()));
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o1777)).unwrap();
    SharedDir { path }
}

/// A `dbagent` process started by a test, killed on drop.
pub struct AgentProc {
    child: Option<Child>,
    args: Vec<String>,
    addr: Option<SocketAddr>,
    pub secret: Secret,
    /// The file `secret` was written to (adm agents, signed rabbit agents).
    pub secret_file: Option<PathBuf>,
    /// The CA an adm client must trust (TLS agents only).
    pub tls_ca: Option<PathBuf>,
    pub uri: String,
    port: u16,
    host: String,
    quiet: bool,
}

impl AgentProc {
    pub fn adm(host: &str, secret_file: PathBuf) -> AgentProc {
        Self::adm_with(host, secret_file, None)
    }

    /// An adm agent serving HTTPS with `pki`'s certificate.
    pub fn adm_tls(host: &str, secret_file: PathBuf, pki: &pki::Pki) -> AgentProc {
        Self::adm_with(host, secret_file, Some(pki))
    }

    /// An adm agent with more command-line options (limits), its log
    /// (a line per refused request) dropped.
    pub fn adm_quiet(host: &str, secret_file: PathBuf, extra: &[&str]) -> AgentProc {
        let mut agent = Self::adm_with(host, secret_file, None);
        agent.stop();
        agent.args.extend(extra.iter().map(|a| (*a).to_owned()));
        agent.quiet = true;
        agent.start();
        agent
    }

    /// The agent's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn adm_with(host: &str, secret_file: PathBuf, tls: Option<&pki::Pki>) -> AgentProc {
        let secret_text = format!("test-secret-{}", remote::CommandId::random());
        write_secret(&secret_file, &secret_text);
        let port = free_port();
        let addr: SocketAddr = format!("{host}:{port}").parse().unwrap();
        let mut args = vec![
            "adm".to_owned(),
            "--listen".to_owned(),
            addr.to_string(),
            "--secret-file".to_owned(),
            secret_file.display().to_string(),
        ];
        if let Some(pki) = tls {
            args.extend([
                "--tls-cert".to_owned(),
                pki.cert.display().to_string(),
                "--tls-key".to_owned(),
                pki.key.display().to_string(),
            ]);
        }
        let mut agent = AgentProc {
            child: None,
            args,
            addr: Some(addr),
            secret: Secret::new(secret_text),
            secret_file: Some(secret_file),
            tls_ca: tls.map(|p| p.ca.clone()),
            uri: String::new(),
            port,
            host: host.to_owned(),
            quiet: false,
        };
        agent.start();
        agent
    }

    /// A rabbit agent on its own host id (so tests never share a queue).
    pub async fn rabbit(sb: &testkit::Sandbox) -> AgentProc {
        Self::rabbit_with(sb, None, false).await
    }

    /// A rabbit agent taking only requests signed with a secret of its
    /// own, written to `secret_file` (0600); its clients sign. `quiet`:
    /// its log (a line per refused request) dropped.
    pub async fn rabbit_signed(
        sb: &testkit::Sandbox,
        secret_file: PathBuf,
        quiet: bool,
    ) -> AgentProc {
        Self::rabbit_with(sb, Some(secret_file), quiet).await
    }

    async fn rabbit_with(
        sb: &testkit::Sandbox,
        secret_file: Option<PathBuf>,
        quiet: bool,
    ) -> AgentProc {
        let uri = sb.var("RABBITMQ_URI").to_owned();
        let host = format!("test-{}", remote::CommandId::random());
        let mut args = vec![
            "rabbit".to_owned(),
            "--host-id".to_owned(),
            host.clone(),
            "--agent-type".to_owned(),
            "rds-dbinit".to_owned(),
        ];
        let secret_text = format!("test-secret-{}", remote::CommandId::random());
        if let Some(file) = &secret_file {
            write_secret(file, &secret_text);
            args.extend(["--secret-file".to_owned(), file.display().to_string()]);
        }
        let mut agent = AgentProc {
            child: None,
            args,
            addr: None,
            secret: Secret::new(secret_text),
            secret_file,
            tls_ca: None,
            uri,
            port: 0,
            host,
            quiet,
        };
        agent.start();
        agent.await_rabbit().await;
        agent
    }

    /// A client of this rabbit agent through `uri`, signing with the
    /// agent's secret when it has one.
    pub fn rabbit_client(&self, uri: &str) -> Rabbit {
        let secret = self.secret_file.as_ref().map(|_| self.secret.clone());
        let broker = Broker::with_secret(uri, secret).unwrap();
        let mut t = Rabbit::new(broker, self.host.clone(), "rds-dbinit");
        t.answer_timeout = Duration::from_secs(5);
        t
    }

    /// Waits until the rabbit agent answers a ping.
    pub async fn await_rabbit(&self) {
        let mut t = self.rabbit_client(&self.uri);
        t.answer_timeout = Duration::from_millis(500);
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = t.ping().await {
            assert!(
                Instant::now() < deadline,
                "the rabbit agent never answered: {e}"
            );
        }
    }

    /// The host (adm) or host id (rabbit) its clients name.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn adm_client(&self, secret: &Secret) -> Adm {
        let mut cfg = AdmConfig::new(self.port, secret.clone());
        cfg.connect_timeout = Duration::from_secs(2);
        cfg.tls_ca_file = self.tls_ca.clone();
        Adm::new(self.host.clone(), cfg).unwrap()
    }

    fn start(&mut self) {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dbagent"))
            .args(&self.args)
            .env("DBAGENT_RABBITMQ_URI", &self.uri)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(if self.quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .unwrap();
        self.child = Some(child);
        if let Some(addr) = self.addr {
            testkit::poll::Poll::within(Duration::from_secs(20))
                .every(Duration::from_millis(10))
                .wait(&format!("dbagent listening on {addr}"), || {
                    TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
                });
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.stop();
    }
}
