//! How hosts are reached: `[misc] connect-method`, logins, and what
//! `remote::Connector` needs.

use crate::adm::AdmConfig;
use crate::auth::Secret;
use crate::ssh::SshConfig;
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

/// A `connect-method` value that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of ssh, rabbit-agent, adm-agent, local")]
pub struct UnknownMethod(pub String);

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
    type Err = UnknownMethod;

    /// Case-insensitive, as the seeds lower-case the value.
    fn from_str(s: &str) -> Result<Self, UnknownMethod> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ssh" => Ok(ConnectMethod::Ssh),
            "rabbit-agent" => Ok(ConnectMethod::RabbitAgent),
            "adm-agent" => Ok(ConnectMethod::AdmAgent),
            "local" => Ok(ConnectMethod::Local),
            other => Err(UnknownMethod(other.to_owned())),
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

/// A host reached with its own login (the seeds' `ip port user password`
/// sections: `[backup-store]`, `[recovery-job-server]`).
#[derive(Debug, Clone)]
pub struct HostLogin {
    /// Address.
    pub host: String,
    /// Its ssh login.
    pub login: Login,
}

/// Everything `remote::Connector` needs.
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
    pub rabbit_secret: Option<Secret>,
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

impl ConnectConfig {
    /// `method` with the shared ssh settings and nothing else: no broker,
    /// no adm-agent settings, requests unsigned, each caller's agent type.
    pub fn new(method: ConnectMethod, ssh: SshConfig) -> Self {
        ConnectConfig {
            method,
            ssh,
            rabbitmq_uri: None,
            adm: None,
            rabbit_agent_type: None,
            rabbit_secret: None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(method: ConnectMethod) -> ConnectConfig {
        ConnectConfig {
            rabbitmq_uri: Some("rabbit://guest:guest@127.0.0.1:5672//".into()),
            ..ConnectConfig::new(method, SshConfig::new("u", std::env::temp_dir()))
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
}
