//! What a command runs against: the configuration and the two routers the
//! command line names.

use crate::FlashbackError;
use std::fmt;
use std::time::Duration;

/// A router's `HOST:PORT` (`-si` production, `-ti` DR); it overrides the
/// config's `host` and `port`, as in the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterAddr {
    /// Host or address.
    pub host: String,
    /// MySQL-protocol port.
    pub port: u16,
}

impl RouterAddr {
    /// Parses `HOST:PORT`; `option` names the flag in the error.
    pub fn parse(option: &'static str, text: &str) -> Result<RouterAddr, FlashbackError> {
        let bad = || FlashbackError::BadAddress {
            option,
            given: text.to_owned(),
        };
        let (host, port) = text.trim().rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(RouterAddr {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for RouterAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Everything a command needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `dr_flashback.ini`.
    pub config: conf::FlashbackConfig,
    /// The production router (`-si`).
    pub production: RouterAddr,
    /// The DR router (`-ti`).
    pub dr: RouterAddr,
    /// Bound on connecting to a router or a server.
    pub connect_timeout: Duration,
    /// Bound on one command on a host (`du`, `df`, ...).
    pub command_timeout: Duration,
}

impl Settings {
    /// Settings with the default bounds: 10 s to connect, and the config's
    /// `conn-timeout` for host commands, at most 10 minutes.
    pub fn new(config: conf::FlashbackConfig, production: RouterAddr, dr: RouterAddr) -> Settings {
        let command_timeout = config.connect.command_timeout.min(Duration::from_secs(600));
        Settings {
            config,
            production,
            dr,
            connect_timeout: Duration::from_secs(10),
            command_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = RouterAddr::parse("-si", "127.0.0.10:16310").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.10", 16310));
        assert_eq!(a.to_string(), "127.0.0.10:16310");
        for bad in ["127.0.0.10", ":16310", "h:x", "h:70000"] {
            let err = RouterAddr::parse("-ti", bad).unwrap_err();
            assert!(
                matches!(err, FlashbackError::BadAddress { option: "-ti", .. }),
                "{bad}"
            );
        }
    }
}
