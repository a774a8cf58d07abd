//! What the sandbox consists of: addresses, ports, names and directories.
//! Everything else in the sandbox is derived from this one description.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Port every dataserver listens on (on its own loopback address).
pub const MYSQL_PORT: u16 = 16315;
/// Port of both router emulators.
pub const ROUTER_PORT: u16 = 16310;
/// Port of the catalog database.
pub const CATALOG_PORT: u16 = 16340;
/// Port sshd listens on, on every sandbox address.
pub const SSH_PORT: u16 = 2222;
/// RabbitMQ AMQP port (on 127.0.0.1) and its Erlang distribution port.
pub const AMQP_PORT: u16 = 5672;
/// Erlang distribution port RabbitMQ uses (AMQP port + 20000).
pub const RABBIT_DIST_PORT: u16 = 25672;
/// Ports the seed-format configs name for socat transfers.
pub const SOCAT_PORT: u16 = 29999;
/// The second socat port family (file transfers).
pub const SOCAT_PORT2: u16 = 29998;
/// Port the adm-agent transport uses on every host.
pub const ADM_AGENT_PORT: u16 = 19999;

/// The production router emulator's address.
pub const ROUTER_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// The DR router emulator's address.
pub const DR_ROUTER_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 30);
/// The catalog database's address.
pub const CATALOG_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 40);
/// The backup store host.
pub const STORE_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 50);
/// The recovery job server host.
pub const JOB_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 60);

/// The OS login user for ssh and the agents; runs the MariaDB servers too so
/// that mariabackup (run as that user) can read every datadir.
pub const LOGIN_USER: &str = "dbsbk";
/// The router-internal MySQL user on every backend (as in the seeds).
pub const MYSQL_USER: &str = "dbscale_internal";
/// The router emulators' admin login.
pub const ROUTER_USER: &str = "admin";

/// Which cluster a dataserver belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    /// The production cluster behind 127.0.0.10.
    Prod,
    /// The DR cluster behind 127.0.0.30.
    Dr,
    /// The standalone catalog database.
    Catalog,
}

/// One MariaDB server of the sandbox.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Dataserver name (`normal_0_1`).
    pub name: String,
    /// Datasource name (`normal_0`), empty for the catalog.
    pub datasource: String,
    /// Its loopback address.
    pub host: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// Which cluster.
    pub cluster: Cluster,
    /// The server it replicates from at creation, if any.
    pub replicates_from: Option<Ipv4Addr>,
    /// Master of its cluster's datasource at creation (the DR master is one
    /// although it replicates from production).
    pub is_master: bool,
}

impl Instance {
    /// `server_id`: unique across the sandbox (the address's last octet).
    pub fn server_id(&self) -> u8 {
        self.host.octets()[3]
    }

    /// Its `host:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.port))
    }

    /// `master` or `replica`, as written into sandbox.env.
    pub fn role(&self) -> &'static str {
        if self.is_master { "master" } else { "replica" }
    }
}

/// All MariaDB servers: production (2 datasources × 3), DR (1 × 3), catalog.
pub fn instances() -> Vec<Instance> {
    let mut all = Vec::new();
    for ds in 0..2u8 {
        let master = Ipv4Addr::new(127, 0, 0, 11 + 10 * ds);
        for i in 0..3u8 {
            let host = Ipv4Addr::new(127, 0, 0, 11 + 10 * ds + i);
            all.push(Instance {
                name: format!("normal_{ds}_{i}"),
                datasource: format!("normal_{ds}"),
                host,
                port: MYSQL_PORT,
                cluster: Cluster::Prod,
                replicates_from: (i > 0).then_some(master),
                is_master: i == 0,
            });
        }
    }
    let dr_master = Ipv4Addr::new(127, 0, 0, 31);
    for i in 0..3u8 {
        all.push(Instance {
            name: format!("dr_0_{i}"),
            datasource: "normal_0".into(),
            host: Ipv4Addr::new(127, 0, 0, 31 + i),
            port: MYSQL_PORT,
            cluster: Cluster::Dr,
            // The DR master follows production's normal_0 master.
            replicates_from: Some(if i == 0 {
                Ipv4Addr::new(127, 0, 0, 11)
            } else {
                dr_master
            }),
            is_master: i == 0,
        });
    }
    all.push(Instance {
        name: "catalog".into(),
        datasource: String::new(),
        host: CATALOG_HOST,
        port: CATALOG_PORT,
        cluster: Cluster::Catalog,
        replicates_from: None,
        is_master: true,
    });
    all
}

/// Every address the sandbox's "hosts" use (sshd listens on all of them).
pub fn host_addresses() -> Vec<Ipv4Addr> {
    let mut hosts = vec![ROUTER_HOST, DR_ROUTER_HOST, STORE_HOST, JOB_HOST];
    hosts.extend(instances().iter().map(|i| i.host));
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Paths inside the sandbox directory.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The sandbox directory itself.
    pub root: PathBuf,
}

impl Paths {
    /// Directory of one MariaDB instance.
    pub fn instance(&self, name: &str) -> PathBuf {
        self.root.join("mysql").join(name)
    }
    /// `sandbox.env`.
    pub fn env_file(&self) -> PathBuf {
        self.root.join("sandbox.env")
    }
    /// Secrets generated at creation (passwords), 0600.
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets.toml")
    }
    /// A directory under the sandbox.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    /// A file under the sandbox.
    pub fn file(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
    /// Marker that a one-time setup step is done.
    pub fn marker(&self, step: &str) -> PathBuf {
        self.root.join("state").join(step)
    }
    /// The sandbox directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_instances_with_unique_addresses_and_ids() {
        let all = instances();
        assert_eq!(all.len(), 10);
        let mut ids: Vec<u8> = all.iter().map(Instance::server_id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        let masters: Vec<&str> = all
            .iter()
            .filter(|i| i.cluster == Cluster::Prod && i.role() == "master")
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(masters, ["normal_0_0", "normal_1_0"]);
    }

    #[test]
    fn dr_master_follows_production_normal_0_master() {
        let dr0 = instances()
            .into_iter()
            .find(|i| i.name == "dr_0_0")
            .unwrap();
        assert_eq!(dr0.replicates_from, Some(Ipv4Addr::new(127, 0, 0, 11)));
        assert_eq!(dr0.role(), "master");
    }
}
