//! Pre-checks that run before any data moves (seed 000's `pre_check`, plus
//! the new free-space check): GTIDs on every server the run reads, the
//! backup tool on every backed-up host, the encryption tool on the store
//! when `-p` is given, and room on the store for an estimate of the backup.

use crate::error::BackupError;
use crate::facts::Facts;
use crate::plan::BackupPlan;
use crate::sql::{self, col};
use remote::{AgentType, Command, Connector, quote};
use router::Endpoint;
use std::time::Duration;
use store::Store;

/// What the pre-checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreCheck {
    /// The backup tool's version, per backed-up host.
    pub tools: Vec<(String, String)>,
    /// Estimated bytes this run writes to the store.
    pub estimate: u64,
    /// Bytes free on the store.
    pub free: u64,
}

/// Headroom asked for on top of the estimate.
const HEADROOM: f64 = 1.1;

/// Runs every check; the first failure is the error.
pub async fn run(
    cfg: &conf::BackupConfig,
    facts: &Facts,
    plan: &BackupPlan,
    hosts: &Connector,
    store: &Store,
) -> Result<PreCheck, BackupError> {
    let mut estimate = 0u64;
    // Every backed-up server and every binlog source: GTIDs on, and its size.
    let mut readers: Vec<&str> = plan.servers.iter().map(|s| s.server.as_str()).collect();
    for c in plan.selection.binlog_sources() {
        if !readers.contains(&c.server.as_str()) {
            readers.push(c.server.as_str());
        }
    }
    // All servers at once: each check is a few round trips.
    let sizes =
        futures::future::try_join_all(readers.iter().map(|name| check_server(facts, name))).await?;
    for (name, size) in readers.into_iter().zip(sizes) {
        if plan.servers.iter().any(|s| s.server.as_str() == name) {
            estimate += size.data;
        }
        if plan
            .selection
            .binlog_sources()
            .any(|c| c.server.as_str() == name)
        {
            estimate += size.binlogs;
        }
    }
    let tools = futures::future::try_join_all(plan.servers.iter().map(|s| async move {
        let t = hosts
            .host(&s.host, &cfg.connect.server_login, AgentType::DbInit)
            .map_err(|e| BackupError::PreCheck(format!("{}: {e}", s.host)))?;
        let flavor = xtrabackup::ops::detect_flavor(&*t, &cfg.xtrabackup_bin)
            .await
            .map_err(|e| BackupError::BackupTool {
                program: cfg.xtrabackup_bin.clone(),
                host: s.host.to_string(),
                server: s.server.to_string(),
                reason: e.to_string(),
            })?;
        Ok::<_, BackupError>((s.host.clone(), format!("{flavor:?}")))
    }))
    .await?;
    if plan.encrypt {
        // A status of its own (3), not the shell's 127 for any missing program.
        let probe = format!(
            "command -v {} >/dev/null || exit 3",
            quote(&cfg.encrypt_bin)
        );
        let out = store
            .transport()
            .exec(&Command::shell(probe), Duration::from_secs(30))
            .await
            .map_err(|e| BackupError::PreCheck(format!("backup store {}: {e}", store.host())))?;
        if !out.success() {
            return Err(BackupError::PreCheck(format!(
                "-p needs {} on the backup store {} ([misc] encrypt-bin): it is not there",
                cfg.encrypt_bin,
                store.host()
            )));
        }
    }
    let free = store.free_bytes().await?;
    let wanted = (estimate as f64 * HEADROOM) as u64;
    if free < wanted {
        return Err(BackupError::StoreFull {
            host: store.host().to_owned(),
            dir: store.dir().to_owned(),
            free_mib: free >> 20,
            needed_mib: wanted >> 20,
        });
    }
    Ok(PreCheck {
        tools,
        estimate,
        free,
    })
}

struct Sizes {
    data: u64,
    binlogs: u64,
}

/// InnoDB's files as the backup tool copies them: every tablespace but the
/// temporary one, with the system tablespace (`ibdata1`), which table
/// sizes leave out (on a small server it is most of the stream).
const MARIADB_TABLESPACES: &str = "SELECT COALESCE(SUM(FILE_SIZE), 0) AS n \
     FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME <> 'innodb_temporary'";
/// The same for MySQL 8 (the data dictionary, undo and system tablespaces).
const MYSQL_TABLESPACES: &str = "SELECT COALESCE(SUM(TOTAL_EXTENTS * EXTENT_SIZE), 0) AS n \
     FROM information_schema.FILES WHERE ENGINE = 'InnoDB' AND FILE_TYPE <> 'TEMPORARY'";

/// Bytes the backup tool streams for a server, about: InnoDB's tablespace
/// files plus the other engines' tables, and never less than all tables'
/// sizes (the fallback when the tablespace view cannot be read).
async fn data_size(c: &mut router::Client, mariadb: bool) -> Result<u64, BackupError> {
    let number = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // One scan of the table statistics for both sums.
    let rows = sql::query(
        c,
        "SELECT COALESCE(SUM(data_length + index_length), 0) AS tables, \
         COALESCE(SUM(IF(engine <> 'InnoDB', data_length + index_length, 0)), 0) AS others \
         FROM information_schema.tables",
    )
    .await?;
    let row = rows.first();
    let tables = number(row.and_then(|r| col(r, "tables")));
    let others = number(row.and_then(|r| col(r, "others")));
    let query = if mariadb {
        MARIADB_TABLESPACES
    } else {
        MYSQL_TABLESPACES
    };
    let innodb = match sql::scalar(c, query, "n").await {
        Ok(v) => number(Some(&v)),
        Err(e) => {
            tracing::warn!(error = %e, "InnoDB tablespace sizes unreadable; estimating from table sizes");
            0
        }
    };
    Ok(tables.max(innodb + others))
}

/// GTIDs on (MySQL `gtid_mode = ON`; MariaDB: binary log on, strict mode
/// recommended) and the server's data and binlog sizes.
async fn check_server(facts: &Facts, name: &str) -> Result<Sizes, BackupError> {
    let s = facts
        .cluster
        .server(name)
        .ok_or_else(|| BackupError::Topology(format!("no server {name}")))?;
    let cred = facts.credentials.get(name).ok_or_else(|| {
        BackupError::PreCheck(format!("no MySQL login for {name} in the router's config"))
    })?;
    let ep = Endpoint::new(
        s.host.as_str(),
        s.port,
        cred.user.as_str(),
        cred.password.expose(),
    );
    let mut c = sql::connect(&ep, name).await?;
    let version = sql::scalar(&mut c, "SELECT VERSION() AS v", "v").await?;
    let address = format!("{}:{}", s.host, s.port);
    if version.contains("MariaDB") {
        let rows = sql::query(
            &mut c,
            "SELECT @@log_bin AS log_bin, @@gtid_strict_mode AS strict",
        )
        .await?;
        let row = rows.first();
        if row.and_then(|r| col(r, "log_bin")) != Some("1") {
            return Err(BackupError::ServerSetting {
                server: name.to_owned(),
                address,
                problem: "the binary log is off; backups need log_bin (and GTIDs) on".into(),
            });
        }
        if row.and_then(|r| col(r, "strict")) != Some("1") {
            tracing::warn!(
                server = name,
                "gtid_strict_mode is off: GTID containment checks assume it"
            );
        }
    } else {
        let mode = sql::scalar(&mut c, "SELECT @@gtid_mode AS m", "m").await?;
        if !mode.eq_ignore_ascii_case("ON") {
            return Err(BackupError::ServerSetting {
                server: name.to_owned(),
                address,
                problem: format!("gtid_mode is {mode}, not ON"),
            });
        }
    }
    let data = data_size(&mut c, version.contains("MariaDB")).await?;
    let binlogs: u64 = match sql::query(&mut c, "SHOW BINARY LOGS").await {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| col(r, "File_size").and_then(|v| v.parse::<u64>().ok()))
            .sum(),
        Err(_) => 0,
    };
    let _ = c.close().await;
    Ok(Sizes { data, binlogs })
}
