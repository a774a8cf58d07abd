//! One place that hands out transports: built from a tool's
//! `[misc] connect-method` and its credentials, it gives every host one
//! shared, connection-caching [`Transport`] (one ssh master, one RabbitMQ
//! connection for all hosts, one HTTP client per host), so an engine never
//! builds transports itself.
//!
//! The seeds' `get_one_server_conn(host, user, port, password,
//! using_rds_taskmanager)` becomes [`Connector::host`] with a [`Login`] and
//! an [`AgentType`]; the login matters only to ssh (the agents run as their
//! own user), the agent type only to rabbit-agent.

use crate::adm::{Adm, AdmConfig};
use crate::error::{Error, Result};
use crate::local::Local;
use crate::rabbit::{Broker, Rabbit};
use crate::ssh::{Ssh, SshConfig};
use crate::transport::Transport;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// How hosts are reached (`[misc] connect-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectMethod {
    /// `ssh`: the system ssh client, password first then key.
    Ssh,
    /// `rabbit-agent`: RPC over RabbitMQ to a `dbagent rabbit` per host.
    RabbitAgent,
    /// `adm-agent`: HTTP to a `dbagent adm` per host.
    AdmAgent,
    /// `local`: everything runs on this host (single-host installs).
    Local,
}

impl ConnectMethod {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectMethod::Ssh => "ssh",
            ConnectMethod::RabbitAgent => "rabbit-agent",
            ConnectMethod::AdmAgent => "adm-agent",
            ConnectMethod::Local => "local",
        }
    }
}

impl fmt::Display for ConnectMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectMethod {
    type Err = Error;

    /// Case-insensitive, as the seeds lower-case the value.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ssh" => Ok(ConnectMethod::Ssh),
            "rabbit-agent" => Ok(ConnectMethod::RabbitAgent),
            "adm-agent" => Ok(ConnectMethod::AdmAgent),
            "local" => Ok(ConnectMethod::Local),
            other => Err(Error::Invalid {
                what: "connect-method".into(),
                detail: format!("{other:?} is not one of ssh, rabbit-agent, adm-agent, local"),
            }),
        }
    }
}

/// Which agent answers on a host under rabbit-agent. The seeds send every
/// request, to every host, to `rds-dbinit` (their `get_one_server_conn`
/// is never asked for the task manager); [`ConnectConfig::rabbit_agent_type`]
/// sends everything to one type by configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentType {
    /// `rds-dbinit`
    DbInit,
    /// `rds-taskmanager`
    TaskManager,
}

impl std::str::FromStr for AgentType {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "rds-dbinit" => Ok(AgentType::DbInit),
            "rds-taskmanager" => Ok(AgentType::TaskManager),
            other => Err(format!(
                "{other:?} is not an agent type (rds-dbinit or rds-taskmanager)"
            )),
        }
    }
}

impl AgentType {
    /// The queue-name spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentType::DbInit => "rds-dbinit",
            AgentType::TaskManager => "rds-taskmanager",
        }
    }
}

/// An ssh login for one host (the seeds give the store and the job server
/// their own user and password; database hosts share `[server-ssh-info]`).
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// Login user.
    pub user: String,
    /// sshd port.
    pub port: u16,
    /// Password, tried before the key; `None` for key-only.
    pub password: Option<Zeroizing<String>>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Everything a [`Connector`] needs.
#[derive(Clone)]
pub struct ConnectConfig {
    /// How hosts are reached.
    pub method: ConnectMethod,
    /// ssh settings shared by all hosts (key, state dir, host keys,
    /// timeouts, per-host concurrency); user, port and password come from
    /// each [`Login`].
    pub ssh: SshConfig,
    /// `[rabbit-agent] rabbitmq-uri`, needed for rabbit-agent.
    pub rabbitmq_uri: Option<String>,
    /// `[adm-agent]` port and secret, needed for adm-agent.
    pub adm: Option<AdmConfig>,
    /// `[rabbit-agent] agent-type`: every rabbit-agent request goes to this
    /// agent type, whatever the caller asks for (for agents deployed under
    /// one type only); `None`: the caller's.
    pub rabbit_agent_type: Option<AgentType>,
    /// `[rabbit-agent] secret-file`: rabbit-agent requests are signed with
    /// it (agents started with `--secret-file` refuse unsigned ones);
    /// `None`: unsigned.
    pub rabbit_secret: Option<crate::Secret>,
}

impl fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectConfig")
            .field("method", &self.method)
            .field("ssh", &self.ssh)
            .field(
                "rabbitmq_uri",
                &self.rabbitmq_uri.as_deref().map(redact_uri_password),
            )
            .field("adm_port", &self.adm.as_ref().map(|a| a.port))
            .field("rabbit_agent_type", &self.rabbit_agent_type)
            .field("rabbit_signed", &self.rabbit_secret.is_some())
            .finish()
    }
}

/// `scheme://user:password@host...` with the password replaced.
pub fn redact_uri_password(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_owned();
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:<redacted>{}", &uri[..scheme_end + 3], &rest[at..])
        }
        None => uri.to_owned(),
    }
}

/// Hands out one cached transport per (host, login, agent type).
///
/// ```no_run
/// # async fn demo() -> Result<(), remote::Error> {
/// use remote::{AgentType, ConnectConfig, ConnectMethod, Connector, Login, SshConfig};
///
/// let cfg = ConnectConfig {
///     method: ConnectMethod::Ssh,
///     ssh: SshConfig::new("backup", "/var/lib/dbscale-backup"),
///     rabbitmq_uri: None,
///     adm: None,
///     rabbit_agent_type: None,
///     rabbit_secret: None,
/// };
/// let hosts = Connector::new(cfg)?;
/// let login = Login { user: "backup".into(), port: 22, password: None };
/// let store = hosts.host("10.0.0.5", &login, AgentType::DbInit)?;
/// store.ping().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Connector {
    cfg: ConnectConfig,
    broker: Option<Arc<Broker>>,
    cache: Mutex<HashMap<CacheKey, Arc<dyn Transport>>>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    host: String,
    user: String,
    port: u16,
    agent: AgentType,
}

impl Connector {
    /// Checks that the chosen method has what it needs (a broker URI, an
    /// adm port and secret).
    pub fn new(cfg: ConnectConfig) -> Result<Self> {
        let broker = match cfg.method {
            ConnectMethod::RabbitAgent => {
                let uri = cfg.rabbitmq_uri.as_deref().ok_or_else(|| Error::Invalid {
                    what: "connect-method rabbit-agent".into(),
                    detail: "[rabbit-agent] rabbitmq-uri is not set".into(),
                })?;
                Some(Broker::with_secret(uri, cfg.rabbit_secret.clone())?)
            }
            ConnectMethod::AdmAgent if cfg.adm.is_none() => {
                return Err(Error::Invalid {
                    what: "connect-method adm-agent".into(),
                    detail: "[adm-agent] port and secret are not set".into(),
                });
            }
            _ => None,
        };
        Ok(Self {
            cfg,
            broker,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The method in use.
    pub fn method(&self) -> ConnectMethod {
        self.cfg.method
    }

    /// The transport to `host` (created on first use, then shared).
    pub fn host(&self, host: &str, login: &Login, agent: AgentType) -> Result<Arc<dyn Transport>> {
        let agent = self.cfg.rabbit_agent_type.unwrap_or(agent);
        // Only what tells transports apart goes into the key: agents ignore
        // the ssh login, ssh ignores the agent type.
        let key = match self.cfg.method {
            ConnectMethod::Ssh => CacheKey {
                host: host.to_owned(),
                user: login.user.clone(),
                port: login.port,
                agent: AgentType::DbInit,
            },
            ConnectMethod::RabbitAgent => CacheKey {
                host: host.to_owned(),
                user: String::new(),
                port: 0,
                agent,
            },
            ConnectMethod::AdmAgent | ConnectMethod::Local => CacheKey {
                host: host.to_owned(),
                user: String::new(),
                port: 0,
                agent: AgentType::DbInit,
            },
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cache.get(&key) {
            return Ok(t.clone());
        }
        let t = self.build(host, login, agent)?;
        cache.insert(key, t.clone());
        Ok(t)
    }

    fn build(&self, host: &str, login: &Login, agent: AgentType) -> Result<Arc<dyn Transport>> {
        Ok(match (self.cfg.method, &self.broker, &self.cfg.adm) {
            (ConnectMethod::RabbitAgent, Some(broker), _) => {
                Arc::new(Rabbit::new(broker.clone(), host, agent.as_str()))
            }
            (ConnectMethod::AdmAgent, _, Some(adm)) => Arc::new(Adm::new(host, adm.clone())?),
            (ConnectMethod::Local, _, _) => Arc::new(Local::new(host, self.cfg.ssh.max_concurrent)),
            // `new` guarantees the broker and adm settings; ssh is the rest.
            _ => {
                let mut ssh = self.cfg.ssh.clone();
                ssh.user = login.user.clone();
                ssh.port = login.port;
                ssh.password = login.password.clone();
                Arc::new(Ssh::new(host, ssh))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(method: ConnectMethod) -> ConnectConfig {
        ConnectConfig {
            method,
            ssh: SshConfig::new("u", std::env::temp_dir()),
            rabbitmq_uri: Some("rabbit://guest:guest@127.0.0.1:5672//".into()),
            adm: Some(AdmConfig::new(
                19999,
                crate::Secret::new(b"0123456789abcdef0123456789abcdef"),
            )),
            rabbit_agent_type: None,
            rabbit_secret: None,
        }
    }

    fn login(user: &str) -> Login {
        Login {
            user: user.into(),
            port: 22,
            password: None,
        }
    }

    #[test]
    fn method_names_parse_as_the_seeds_write_them() {
        assert_eq!(
            "SSH".parse::<ConnectMethod>().ok(),
            Some(ConnectMethod::Ssh)
        );
        assert_eq!(
            " rabbit-agent".parse::<ConnectMethod>().ok(),
            Some(ConnectMethod::RabbitAgent)
        );
        assert_eq!(
            "adm-agent".parse::<ConnectMethod>().ok(),
            Some(ConnectMethod::AdmAgent)
        );
        let err = "telnet".parse::<ConnectMethod>().unwrap_err().to_string();
        assert!(
            err.contains("telnet") && err.contains("rabbit-agent"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_hides_the_broker_password() {
        let c = cfg(ConnectMethod::RabbitAgent);
        let text = format!("{c:?}");
        assert!(
            text.contains("rabbit://guest:<redacted>@127.0.0.1:5672//"),
            "{text}"
        );
        assert_eq!(redact_uri_password("amqp://h:5672"), "amqp://h:5672");
        assert_eq!(
            redact_uri_password("amqp://u:p@ss@h/v"),
            "amqp://u:<redacted>@h/v"
        );
    }

    #[test]
    fn one_transport_per_host_and_login() {
        let c = Connector::new(cfg(ConnectMethod::Ssh)).unwrap();
        let a = c
            .host("127.0.0.11", &login("a"), AgentType::DbInit)
            .unwrap();
        let b = c
            .host("127.0.0.11", &login("a"), AgentType::TaskManager)
            .unwrap();
        let other_user = c
            .host("127.0.0.11", &login("b"), AgentType::DbInit)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other_user));
        assert_eq!(a.kind(), "ssh");
        assert_eq!(a.host(), "127.0.0.11");
    }

    #[test]
    fn agents_ignore_the_login_and_rabbit_keys_on_agent_type() {
        let c = Connector::new(cfg(ConnectMethod::RabbitAgent)).unwrap();
        let a = c.host("h", &login("a"), AgentType::DbInit).unwrap();
        let b = c.host("h", &login("b"), AgentType::DbInit).unwrap();
        let t = c.host("h", &login("a"), AgentType::TaskManager).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &t));
        assert_eq!(a.kind(), "rabbit-agent");

        let c = Connector::new(cfg(ConnectMethod::AdmAgent)).unwrap();
        assert_eq!(
            c.host("h", &login("a"), AgentType::DbInit).unwrap().kind(),
            "adm-agent"
        );
    }

    #[test]
    fn missing_settings_are_named() {
        let mut no_uri = cfg(ConnectMethod::RabbitAgent);
        no_uri.rabbitmq_uri = None;
        let err = Connector::new(no_uri).unwrap_err().to_string();
        assert!(err.contains("rabbitmq-uri"), "{err}");

        let mut no_adm = cfg(ConnectMethod::AdmAgent);
        no_adm.adm = None;
        let err = Connector::new(no_adm).unwrap_err().to_string();
        assert!(err.contains("[adm-agent]"), "{err}");
    }
}
