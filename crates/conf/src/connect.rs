//! The sections every tool shares: how hosts are reached (`[misc]
//! connect-method`, `[server-ssh-info]`, `[rabbit-agent]`, `[adm-agent]`)
//! and ssh logins of the form `ip port user password` (`[backup-store]`,
//! `[recovery-job-server]`).
//!
//! Additions to the seed format (all optional): `[server-ssh-info]
//! key-file` (default `~/.ssh/id_rsa` when it exists; tried after the
//! password, as seed 002 does), `[adm-agent] secret-file` (default
//! `/etc/dbscale-backup/adm.secret`), `[adm-agent] tls-ca-file` (talk HTTPS
//! to agents started with `--tls-cert`, trusting this CA), `[rabbit-agent]
//! secret-file` (sign rabbit-agent requests with this secret, for agents
//! started with `--secret-file`; no default: unsigned), `[misc] state-dir` (ssh known_hosts;
//! default `~/.dbscale-backup`) and `connect-method = local`.

use crate::error::ConfError;
use crate::values::Section;
use remote_config::{
    AdmConfig, ConnectConfig, ConnectMethod, HostKeyPolicy, HostLogin, Login, Secret, SshConfig,
};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where the adm-agent secret is read from when `[adm-agent] secret-file`
/// is not set.
pub const DEFAULT_ADM_SECRET_FILE: &str = "/etc/dbscale-backup/adm.secret";

/// Reads `ip port user password` from `section`; `port` and `password`
/// may be empty when the hosts are reached through an agent.
pub fn host_login(section: &Section<'_>, method: ConnectMethod) -> Result<HostLogin, ConfError> {
    Ok(HostLogin {
        host: section.require("ip")?,
        login: login(section, method)?,
    })
}

/// Reads `port user password` from `section` (as `[server-ssh-info]`).
pub fn login(section: &Section<'_>, method: ConnectMethod) -> Result<Login, ConfError> {
    let user = section.require("user")?;
    let password = section.require("password")?;
    let port_text = section.require("port")?;
    let port = if port_text.trim().is_empty() {
        if method == ConnectMethod::Ssh {
            return Err(section.invalid("port", "is empty but connect-method is ssh"));
        }
        22
    } else {
        port_text
            .trim()
            .parse()
            .map_err(|_| section.invalid("port", format!("{port_text:?} is not a port number")))?
    };
    Ok(Login {
        user,
        port,
        password: (!password.is_empty()).then(|| Zeroizing::new(password)),
    })
}

/// How the tool reaches hosts, from `[misc]`, `[server-ssh-info]`,
/// `[rabbit-agent]` and `[adm-agent]`.
#[derive(Debug, Clone)]
pub struct Connect {
    /// What `remote::Connector::new` takes.
    pub config: ConnectConfig,
    /// The login for database and router hosts (`[server-ssh-info]`).
    pub server_login: Login,
    /// `[misc] conn-timeout`: the bound on one remote command (seconds in
    /// the file, default 3600).
    pub command_timeout: Duration,
}

/// Reads the connection settings.
pub fn connect(
    misc: &Section<'_>,
    ssh_info: &Section<'_>,
    rabbit: &Section<'_>,
    adm: &Section<'_>,
) -> Result<Connect, ConfError> {
    let method = connect_method(misc, None)?;
    let server_login = login(ssh_info, method)?;
    let key_file = ssh_info.text("key-file")?;
    connect_with(misc, method, server_login, key_file, rabbit, adm)
}

/// `[misc] connect-method`; when absent, `default` (or an error naming the
/// key when there is no default).
pub fn connect_method(
    misc: &Section<'_>,
    default: Option<ConnectMethod>,
) -> Result<ConnectMethod, ConfError> {
    let method_text = match (misc.text("connect-method")?, default) {
        (Some(text), _) => text,
        (None, Some(method)) => return Ok(method),
        (None, None) => misc.require("connect-method")?,
    };
    method_text.parse().map_err(|_| {
        misc.invalid(
            "connect-method",
            format!("{method_text:?} is not one of ssh, rabbit-agent, adm-agent, local"),
        )
    })
}

/// The connection settings of a tool whose hosts' login comes from its own
/// keys (`dr_flashback.ini`'s `sys_*`): the `method`, the login and the
/// key file (`None`: `~/.ssh/id_rsa` when it exists) are given; the rest
/// is read from `[misc]`, `[rabbit-agent]` and `[adm-agent]` as
/// [`connect`] does.
pub fn connect_with(
    misc: &Section<'_>,
    method: ConnectMethod,
    server_login: Login,
    key_file: Option<String>,
    rabbit: &Section<'_>,
    adm: &Section<'_>,
) -> Result<Connect, ConfError> {
    let command_timeout = Duration::from_secs(misc.parse_or("conn-timeout", 3600u64)?);
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    let state_dir = misc
        .text("state-dir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".dbscale-backup"));
    let key = match key_file {
        Some(k) => Some(PathBuf::from(k)),
        None => Some(home.join(".ssh/id_rsa")).filter(|k| k.exists()),
    };
    let mut ssh = SshConfig::new(server_login.user.clone(), state_dir);
    ssh.port = server_login.port;
    ssh.password = server_login.password.clone();
    ssh.key = key;
    ssh.host_keys = if misc.flag("strict-host-key-checking", false)? {
        HostKeyPolicy::Strict
    } else {
        HostKeyPolicy::AcceptNew
    };
    let rabbitmq_uri = match method {
        ConnectMethod::RabbitAgent => Some(rabbit.require("rabbitmq-uri")?),
        _ => rabbit.text("rabbitmq-uri")?,
    };
    let rabbit_agent_type = rabbit
        .text("agent-type")?
        .map(|t| {
            t.parse()
                .map_err(|e: String| rabbit.invalid("agent-type", e))
        })
        .transpose()?;
    // Read whatever the method, so it is not reported as unknown; only
    // rabbit-agent needs the file itself.
    let rabbit_secret_file = rabbit.text("secret-file")?;
    let rabbit_secret = match (method, rabbit_secret_file) {
        (ConnectMethod::RabbitAgent, Some(file)) => {
            Some(Secret::from_file(std::path::Path::new(&file)).map_err(|e| {
                rabbit.invalid(
                    "secret-file",
                    format!("cannot read the secret from {file}: {e}"),
                )
            })?)
        }
        _ => None,
    };
    let adm = match method {
        ConnectMethod::AdmAgent => {
            let port: u16 = adm.parse_required("port")?;
            let file = adm
                .text("secret-file")?
                .unwrap_or_else(|| DEFAULT_ADM_SECRET_FILE.to_owned());
            let secret = Secret::from_file(std::path::Path::new(&file)).map_err(|e| {
                adm.invalid(
                    "secret-file",
                    format!("cannot read the secret from {file}: {e}"),
                )
            })?;
            let mut cfg = AdmConfig::new(port, secret);
            if let Some(ca) = adm.text("tls-ca-file")? {
                cfg = cfg.with_tls_ca_file(ca);
            }
            Some(cfg)
        }
        _ => {
            // Read so they are not reported as unknown.
            adm.text("port")?;
            adm.text("secret-file")?;
            adm.text("tls-ca-file")?;
            None
        }
    };
    Ok(Connect {
        config: ConnectConfig {
            method,
            ssh,
            rabbitmq_uri,
            adm,
            rabbit_agent_type,
            rabbit_secret,
        },
        server_login,
        command_timeout,
    })
}
