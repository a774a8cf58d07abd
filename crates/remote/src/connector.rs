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

use crate::adm::Adm;
use crate::error::{Error, Result};
use crate::local::Local;
use crate::rabbit::{Broker, Rabbit};
use crate::ssh::Ssh;
use crate::transport::Transport;
use remote_config::{AgentType, ConnectConfig, ConnectMethod, HostLogin, Login};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

    /// The transport of a host with its own login (a store or job server):
    /// the seeds' dbinit agent type; ssh uses the login.
    pub fn host_with_login(&self, host: &HostLogin) -> Result<Arc<dyn Transport>> {
        self.host(&host.host, &host.login, AgentType::DbInit)
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
    use remote_config::{AdmConfig, SshConfig};

    fn cfg(method: ConnectMethod) -> ConnectConfig {
        ConnectConfig {
            rabbitmq_uri: Some("rabbit://guest:guest@127.0.0.1:5672//".into()),
            adm: Some(AdmConfig::new(
                19999,
                crate::Secret::new(b"0123456789abcdef0123456789abcdef"),
            )),
            ..ConnectConfig::new(method, SshConfig::new("u", std::env::temp_dir()))
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
