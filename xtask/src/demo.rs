//! `cargo xtask demo`: brings the sandbox up and shows what the tools see.
//! It grows with the project into the full backup → recovery job.

use anyhow::Result;
use std::collections::BTreeSet;
use std::time::Duration;
use topology::{BackupRequest, Cluster, ClusterOptions, SelectionConfig};

/// Sandbox up, then the production topology as the router emulator reports
/// it (through the `router` and `topology` crates), and which servers a full
/// backup with the sandbox's `backup-ssh.conf` would take.
pub fn run() -> Result<()> {
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    crate::sandbox::print_topology(&paths)?;
    let sandbox = testkit::Sandbox::load(paths.root()).map_err(anyhow::Error::msg)?;
    let r = sandbox.router();
    let endpoint = router::Endpoint::new(r.host, r.port, r.user, r.password);
    let runtime = tokio::runtime::Runtime::new()?;
    let topo = runtime.block_on(async {
        let mut client = router::Client::connect(&endpoint, Duration::from_secs(10)).await?;
        let topo = client.fetch_topology(None).await?;
        client.close().await?;
        Ok::<_, router::RouterError>(topo)
    })?;
    let cluster = Cluster::from_router(
        &topo,
        &ClusterOptions {
            disaster_recovery: true,
        },
    )?;
    println!("\ncluster model (crates/topology):");
    for m in cluster.members() {
        println!(
            "  {:<10} {:<12} {:<8} {}",
            m.datasource.name.to_string(),
            m.server.name.to_string(),
            m.role.to_string(),
            m.server.status
        );
    }
    // backup-master = 0, backup-slave = 1, as in backup-ssh.conf.
    let selection = topology::select(
        &cluster,
        &SelectionConfig::from_config_values(Some("0"), Some("1")),
        &BTreeSet::new(),
        &BackupRequest::Full,
    )?;
    println!("\na full backup with backup-ssh.conf would take:\n{selection}");
    Ok(())
}
