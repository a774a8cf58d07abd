//! Per-server directory names in a backup (`<datasource>-<server>-<host>-<port>`,
//! also the content of a slave's `master_dir`), and a master's `master_slave` file.
//!
//! Seed 000 names each server's directory this way (`normal_0-normal_0_1-172.17.134.76-16315`),
//! writes it into a slave's `master_dir` file, and seed 001 takes the server
//! name back out of it, so neither datasource nor server names may contain
//! `-` (the seed has the same limit). The host may (it is everything between
//! the server name and the last `-`).

use std::fmt;
use std::str::FromStr;

use crate::format::FormatError;

/// A server's directory name inside a backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerDir {
    /// Datasource the server belongs to.
    pub datasource: String,
    /// Dataserver name.
    pub server: String,
    /// Host address.
    pub host: String,
    /// MySQL port.
    pub port: u16,
}

impl FromStr for ServerDir {
    type Err = FormatError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| FormatError::new("master_dir", 1, text, why);
        let text_trim = text.trim();
        if text_trim.contains('/') {
            return Err(bad("a server directory name has no '/'"));
        }
        let mut it = text_trim.splitn(3, '-');
        let (Some(ds), Some(server), Some(rest)) = (it.next(), it.next(), it.next()) else {
            return Err(bad("expected <datasource>-<server>-<host>-<port>"));
        };
        let (host, port) = rest
            .rsplit_once('-')
            .ok_or_else(|| bad("expected <datasource>-<server>-<host>-<port>"))?;
        if ds.is_empty() || server.is_empty() || host.is_empty() {
            return Err(bad("expected <datasource>-<server>-<host>-<port>"));
        }
        let port = port.parse().map_err(|_| bad("the port is not a number"))?;
        Ok(ServerDir {
            datasource: ds.to_owned(),
            server: server.to_owned(),
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for ServerDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}-{}",
            self.datasource, self.server, self.host, self.port
        )
    }
}

/// A master's `master_slave` file: `host:port` of the master, then of each
/// slave, one a line (seed 000 writes it into the master's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterSlave {
    /// The master's `(host, port)`.
    pub master: (String, u16),
    /// The slaves' `(host, port)`, in the router's order.
    pub slaves: Vec<(String, u16)>,
}

impl FromStr for MasterSlave {
    type Err = FormatError;

    fn from_str(content: &str) -> Result<Self, Self::Err> {
        let mut endpoints = Vec::new();
        for (i, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = || FormatError::new("master_slave", i + 1, line, "expected host:port");
            let (host, port) = line.rsplit_once(':').ok_or_else(bad)?;
            if host.is_empty() {
                return Err(bad());
            }
            endpoints.push((host.to_owned(), port.parse().map_err(|_| bad())?));
        }
        let mut it = endpoints.into_iter();
        let master = it
            .next()
            .ok_or_else(|| FormatError::new("master_slave", 1, content, "the file is empty"))?;
        Ok(MasterSlave {
            master,
            slaves: it.collect(),
        })
    }
}

impl fmt::Display for MasterSlave {
    /// The file content, with a final newline (the seed's `echo`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (host, port) in std::iter::once(&self.master).chain(&self.slaves) {
            writeln!(f, "{host}:{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_slave_round_trips_and_rejects_garbage() {
        let text = "172.17.134.76:16315\n172.17.134.71:16315\n172.17.134.77:16315\n";
        let ms: MasterSlave = text.parse().unwrap();
        assert_eq!(ms.master, ("172.17.134.76".to_owned(), 16315));
        assert_eq!(ms.slaves.len(), 2);
        assert_eq!(ms.to_string(), text);
        assert!("".parse::<MasterSlave>().is_err());
        let e = "h:1\nnoport\n".parse::<MasterSlave>().unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (2, "noport"));
        assert!(":5\n".parse::<MasterSlave>().is_err());
        assert!("h:x\n".parse::<MasterSlave>().is_err());
    }

    #[test]
    fn round_trips_the_seed_name() {
        let d: ServerDir = "normal_0-normal_0_1-172.17.134.76-16315\n".parse().unwrap();
        assert_eq!(d.datasource, "normal_0");
        assert_eq!(d.server, "normal_0_1");
        assert_eq!(d.host, "172.17.134.76");
        assert_eq!(d.port, 16315);
        assert_eq!(d.to_string(), "normal_0-normal_0_1-172.17.134.76-16315");
        let h: ServerDir = "auth-auth_server-db-host-1-13004".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("db-host-1", 13004));
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "",
            "normal_0",
            "a-b-c",
            "a-b--1",
            "a-b-h-port",
            "a-b-h-99999",
            "../x-y-h-1",
            "-b-h-1",
        ] {
            let e = bad.parse::<ServerDir>().unwrap_err();
            assert_eq!(e.text, bad);
        }
    }
}
