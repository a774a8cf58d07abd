//! ssh settings shared by every host (the transport is `remote::Ssh`).

use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// How unknown host keys are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Accept and remember a host's key the first time; refuse a changed key.
    #[default]
    AcceptNew,
    /// Only hosts already in the known_hosts file.
    Strict,
}

/// How to log in over ssh.
#[derive(Clone)]
pub struct SshConfig {
    /// Login user.
    pub user: String,
    /// sshd port.
    pub port: u16,
    /// Password, tried first when set.
    pub password: Option<Zeroizing<String>>,
    /// Private key file, tried after the password (or alone).
    pub key: Option<PathBuf>,
    /// The tool's state directory: `known_hosts` lives here.
    pub state_dir: PathBuf,
    /// Host key checking.
    pub host_keys: HostKeyPolicy,
    /// TCP connect timeout (and the bound on the login).
    pub connect_timeout: Duration,
    /// At most this many commands at once per host (sshd's MaxSessions).
    pub max_concurrent: usize,
    /// Channels kept open ahead of need, each an idle `ssh -S` client here
    /// and an idle `sh` on the host, counted in `max_concurrent`: a command
    /// takes one instead of waiting for ssh to start (about half of a short
    /// command's round trip). 0 turns this off.
    pub warm_channels: usize,
}

impl std::fmt::Debug for SshConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConfig")
            .field("user", &self.user)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key)
            .field("state_dir", &self.state_dir)
            .field("host_keys", &self.host_keys)
            .finish_non_exhaustive()
    }
}

impl SshConfig {
    /// `user` on port 22 with no credentials yet, state under `state_dir`.
    pub fn new(user: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            user: user.into(),
            port: 22,
            password: None,
            key: None,
            state_dir: state_dir.into(),
            host_keys: HostKeyPolicy::AcceptNew,
            connect_timeout: Duration::from_secs(10),
            max_concurrent: 64,
            warm_channels: 2,
        }
    }
}
