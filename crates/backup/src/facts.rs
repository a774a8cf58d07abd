//! Step 1 of a run: what the router, the store and the servers say, before
//! anything is written. Read-only apart from the store's bad-backup cleanup
//! (which the seed also does before deciding anything).

use crate::error::BackupError;
use crate::sql::{self, col};
use binlog::{BackupName, BackupedBinlogs, ConsistenceInfo};
use remote::{AgentType, Command, Connector, Transport};
use router::Endpoint;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use store::{BadBackups, Cleanup, Store, layout};
use topology::{Cluster, ClusterOptions, ServerCredentials, ServerName};

/// The last good backup, as the next one needs it.
#[derive(Debug, Clone)]
pub struct LastBackup {
    /// Its name.
    pub name: BackupName,
    /// Its `cluster_consistence_info` (servers, LSNs, positions).
    pub consistence: ConsistenceInfo,
    /// Its `backuped_binlogs`.
    pub binlogs: BackupedBinlogs,
    /// Whether it holds `encrypted_sample` (it was taken with `-p`).
    pub encrypted: bool,
}

/// Everything known before planning.
#[derive(Debug)]
pub struct Facts {
    /// The cluster as the router describes it.
    pub cluster: Cluster,
    /// MySQL logins of the dataservers (from the router's config).
    pub credentials: ServerCredentials,
    /// The router's flushed configuration text (copied into full backups).
    pub router_conf: String,
    /// The router's base directory (`dbscale show path info`), if known.
    pub router_basedir: Option<String>,
    /// The store's cleanup result.
    pub cleanup: Cleanup,
    /// The last good backup, if any.
    pub last: Option<LastBackup>,
    /// Servers whose host or MySQL port cannot be reached.
    pub unreachable: BTreeMap<ServerName, String>,
}

use std::collections::BTreeMap;

/// Reads the router: topology, credentials (through a config flush on the
/// router host, read back over the transport), path info. The topology
/// comes first, over SQL, while the router host is reached; `on_topology`
/// sees it as soon as it is known (the engine starts reaching the servers
/// then, while the credentials are still being read).
pub async fn read_router(
    cfg: &conf::BackupConfig,
    hosts: &Connector,
    run_id: &str,
    on_topology: impl FnOnce(&Cluster),
) -> Result<(Cluster, ServerCredentials, String, Option<String>), BackupError> {
    let endpoint = Endpoint::new(
        cfg.router.host.as_str(),
        cfg.router.port,
        cfg.router.user.as_str(),
        cfg.router.password.as_str(),
    );
    let router_host = hosts
        .host(
            &cfg.router.host,
            &cfg.connect.server_login,
            AgentType::DbInit,
        )
        .map_err(|e| BackupError::host(&cfg.router.host, "connecting", e))?;
    let topology = async {
        let mut client = sql::connect(&endpoint, "the router").await?;
        let (cluster, basedir) = read_topology(cfg, &endpoint, &mut client).await?;
        on_topology(&cluster);
        Ok::<_, BackupError>((client, cluster, basedir))
    };
    let (drop_dir, topology) = tokio::join!(
        private_drop_dir(&*router_host, cfg.connect.command_timeout),
        topology
    );
    let flush_dir = drop_dir?;
    let result = match topology {
        Ok((mut client, cluster, basedir)) => {
            let read = read_credentials(
                cfg,
                &endpoint,
                &mut client,
                &*router_host,
                &flush_dir,
                run_id,
            )
            .await;
            let _ = client.close().await;
            read.map(|(credentials, text)| (cluster, credentials, text, basedir))
        }
        Err(e) => Err(e),
    };
    // Owned by the login user, so removable whoever the router runs as.
    let rm = router_host
        .exec(
            &Command::new("rm").arg("-rf").arg(&flush_dir),
            Duration::from_secs(30),
        )
        .await;
    if !matches!(&rm, Ok(o) if o.success()) {
        tracing::warn!(host = %cfg.router.host, dir = %flush_dir, "could not remove the router's flushed config (it holds passwords)");
    }
    result
}

/// A fresh directory on the router host for the config flush: owned by the
/// login user, mode 0733 so the router (whatever user it runs as) can
/// create the file but nobody else can list the directory; the file name
/// is random too, so the passwords in it cannot be found by name.
async fn private_drop_dir(t: &dyn Transport, timeout: Duration) -> Result<String, BackupError> {
    let out = t
        .exec(
            &Command::shell(
                r#"d=$(mktemp -d "${TMPDIR:-/tmp}/dbbackup-router.XXXXXXXX") && chmod 733 "$d" && echo "$d""#,
            ),
            timeout,
        )
        .await
        .map_err(|e| BackupError::host(t.host(), "creating a directory for the router's config flush", e))?;
    let dir = out.stdout_str().trim().to_owned();
    if !out.success() || dir.is_empty() {
        return Err(BackupError::host(
            t.host(),
            "creating a directory for the router's config flush",
            out.stderr_str().trim(),
        ));
    }
    Ok(dir)
}

/// The cluster and the router's base directory, over SQL.
async fn read_topology(
    cfg: &conf::BackupConfig,
    endpoint: &Endpoint,
    client: &mut router::Client,
) -> Result<(Cluster, Option<String>), BackupError> {
    let topo = client
        .fetch_topology(None)
        .await
        .map_err(|source| BackupError::Router {
            address: endpoint.address(),
            step: "the router: reading the topology".into(),
            source: Box::new(source),
        })?;
    let cluster = Cluster::from_router(
        &topo,
        &ClusterOptions {
            disaster_recovery: cfg.use_disaster_recovery_cluster,
        },
    )
    .map_err(|e| BackupError::Topology(e.to_string()))?;
    let basedir = match client.query("dbscale show path info").await {
        Ok(rows) => rows
            .first()
            .and_then(|r| col(r, "DBScale_basedir"))
            .map(str::to_owned),
        Err(e) => {
            tracing::warn!(error = %e, "dbscale show path info failed; the router's base directory is not backed up");
            None
        }
    };
    Ok((cluster, basedir))
}

/// The dataservers' logins: the router flushes its config into `flush_dir`
/// on its host, read back over the transport. Returns them and the text.
async fn read_credentials(
    cfg: &conf::BackupConfig,
    endpoint: &Endpoint,
    client: &mut router::Client,
    router_host: &dyn Transport,
    flush_dir: &str,
    run_id: &str,
) -> Result<(ServerCredentials, String), BackupError> {
    let flush_path = format!(
        "{flush_dir}/dbscale.conf.{run_id}.{}",
        remote::CommandId::random().0
    );
    client
        .flush_config_to_file(&flush_path)
        .await
        .map_err(|source| BackupError::Router {
            address: endpoint.address(),
            step: "the router: flushing its config".into(),
            source: Box::new(source),
        })?;
    let text = read_remote_file(router_host, &flush_path, cfg.connect.command_timeout).await?;
    let credentials = topology::parse_dbscale_conf(&text)
        .map_err(|e| BackupError::Topology(format!("{flush_path} on {}: {e}", cfg.router.host)))?;
    Ok((credentials, text))
}

/// `cat`s a file on a host.
pub async fn read_remote_file(
    t: &dyn Transport,
    path: &str,
    timeout: Duration,
) -> Result<String, BackupError> {
    let out = t
        .exec(&Command::new("cat").arg(path), timeout)
        .await
        .map_err(|e| BackupError::host(t.host(), format!("reading {path}"), e))?;
    if !out.success() {
        return Err(BackupError::host(
            t.host(),
            format!("reading {path}"),
            out.stderr_str().trim(),
        ));
    }
    Ok(out.stdout_str())
}

/// Cleans bad backups and reads the last good one.
pub async fn read_store(
    store: &Store,
    policy: Option<BadBackups>,
) -> Result<(Cleanup, Option<LastBackup>), BackupError> {
    let cleanup = match policy {
        Some(policy) => store.clean_bad(policy).await?,
        None => would_clean(store).await?,
    };
    let Some(name) = cleanup.last_good else {
        return Ok((cleanup, None));
    };
    // One round trip for the three; an absent planning file reads as empty
    // (and fails to parse, naming it).
    let mut files = store
        .read_files(
            &name.to_string(),
            &[
                layout::CONSISTENCE_FILE,
                layout::BACKUPED_BINLOGS_FILE,
                layout::ENCRYPTED_SAMPLE_FILE,
            ],
        )
        .await?;
    let mut text = |file: &str| {
        files
            .remove(file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let bad = |file: &str, e: &dyn std::fmt::Display| {
        BackupError::Topology(format!(
            "{} on {}: {e}",
            store.path(&format!("{name}/{file}")),
            store.host()
        ))
    };
    let consistence: ConsistenceInfo = text(layout::CONSISTENCE_FILE)
        .parse()
        .map_err(|e| bad(layout::CONSISTENCE_FILE, &e))?;
    let binlogs: BackupedBinlogs = text(layout::BACKUPED_BINLOGS_FILE)
        .parse()
        .map_err(|e| bad(layout::BACKUPED_BINLOGS_FILE, &e))?;
    let encrypted = files.contains_key(layout::ENCRYPTED_SAMPLE_FILE);
    Ok((
        cleanup,
        Some(LastBackup {
            name,
            consistence,
            binlogs,
            encrypted,
        }),
    ))
}

/// What the cleanup would do, doing nothing (for `--dry-run`).
async fn would_clean(store: &Store) -> Result<Cleanup, BackupError> {
    // A store directory that does not exist yet (the first run) holds no
    // backups; the real run creates it, a dry run must not fail on it.
    if !store.exists("").await? {
        return Ok(Cleanup::default());
    }
    let mut listed: Vec<_> = store
        .list()
        .await?
        .into_iter()
        .filter_map(|l| l.backup.map(|b| (b, l.ok)))
        .collect();
    listed.sort_by_key(|(b, _)| std::cmp::Reverse(*b));
    let mut cleanup = Cleanup::default();
    for (b, ok) in listed {
        if ok {
            cleanup.last_good = Some(b);
            break;
        }
        cleanup.cleaned.push(b);
    }
    Ok(cleanup)
}

/// Which of the servers `among` cannot be reached, over the transport
/// (`echo 1`) or over MySQL, with why; checked in parallel.
pub async fn unreachable_servers(
    cluster: &Cluster,
    among: &BTreeSet<ServerName>,
    credentials: &ServerCredentials,
    hosts: &Connector,
    login: &remote::Login,
) -> BTreeMap<ServerName, String> {
    let checks = cluster
        .members()
        .filter(|m| among.contains(&m.server.name))
        .map(|m| async move {
            let why = unreachable_reason(m.server, credentials, hosts, login).await;
            why.map(|why| (m.server.name.clone(), why))
        });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Why `server` cannot be reached (its host, then its MySQL login), or
/// `None` when it can.
async fn unreachable_reason(
    server: &topology::Dataserver,
    credentials: &ServerCredentials,
    hosts: &Connector,
    login: &remote::Login,
) -> Option<String> {
    let t: Arc<dyn Transport> = match hosts.host(&server.host, login, AgentType::DbInit) {
        Ok(t) => t,
        Err(e) => return Some(e.to_string()),
    };
    if let Err(e) = t.ping().await {
        return Some(e.to_string());
    }
    let Some(cred) = credentials.get(&server.name) else {
        return Some("no login in the router's config".into());
    };
    let ep = Endpoint::new(
        server.host.as_str(),
        server.port,
        cred.user.as_str(),
        cred.password.expose(),
    );
    match sql::connect(&ep, server.name.as_str()).await {
        Ok(c) => {
            let _ = c.close().await;
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

/// The set of names, for [`topology::select`].
pub fn names(unreachable: &BTreeMap<ServerName, String>) -> BTreeSet<ServerName> {
    unreachable.keys().cloned().collect()
}
