//! The two DBScale router emulators (`fixtures/dbscale-sim`): production on
//! 127.0.0.10 and DR on 127.0.0.30, and the DR cluster's registration in
//! production as `slave_dbscale_server`, done with the same statements
//! dr-flashback uses (seed 002).

use super::Secrets;
use super::layout::{
    Cluster, DR_ROUTER_HOST, LOGIN_USER, MYSQL_USER, Paths, ROUTER_HOST, ROUTER_PORT, ROUTER_USER,
    SSH_PORT, instances,
};
use super::procs;
use crate::util::{ensure_port_free, output_with_stdin, tail, wait_for, write_file};
use anyhow::{Context, Result, bail};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// One emulator: its name (file prefix), address and cluster.
#[derive(Clone, Copy)]
pub struct Router {
    /// File prefix under `routers/`.
    pub name: &'static str,
    /// Listen address.
    pub host: Ipv4Addr,
    /// Which cluster it fronts.
    pub cluster: Cluster,
}

/// Both emulators.
pub const ROUTERS: [Router; 2] = [
    Router {
        name: "prod",
        host: ROUTER_HOST,
        cluster: Cluster::Prod,
    },
    Router {
        name: "dr",
        host: DR_ROUTER_HOST,
        cluster: Cluster::Dr,
    },
];

impl Router {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, ROUTER_PORT))
    }
    fn file(&self, paths: &Paths, ext: &str) -> PathBuf {
        paths.dir("routers").join(format!("{}.{ext}", self.name))
    }
}

/// The emulator's TOML config (the contract in fixtures/dbscale-sim/README.md).
fn config(router: &Router, paths: &Paths, secrets: &Secrets) -> String {
    let members: Vec<_> = instances()
        .into_iter()
        .filter(|i| i.cluster == router.cluster)
        .collect();
    let mut datasources: Vec<String> = members.iter().map(|i| i.datasource.clone()).collect();
    datasources.dedup();
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut out = format!(
        "listen = {listen}\nstate_file = {state}\nadmin_user = {user}\nadmin_password = {pw}\n\n\
         [backend]\nuser = {muser}\npassword = {mpw}\nremote_user = {login}\nremote_port = {SSH_PORT}\n\
         encode_password = true\n",
        listen = q(&router.addr().to_string()),
        state = q(&router.file(paths, "state.json").display().to_string()),
        user = q(ROUTER_USER),
        pw = q(&secrets.router_password),
        muser = q(MYSQL_USER),
        mpw = q(&secrets.mysql_password),
        login = q(LOGIN_USER),
    );
    for ds in &datasources {
        let names: Vec<String> = members
            .iter()
            .filter(|i| &i.datasource == ds)
            .map(|i| q(&i.name))
            .collect();
        out.push_str(&format!(
            "\n[[datasource]]\nname = {}\nservers = [{}]\n",
            q(ds),
            names.join(", ")
        ));
    }
    for i in &members {
        let priority = if i.is_master { 50 } else { 100 };
        out.push_str(&format!(
            "\n[[server]]\nname = {}\nhost = {}\nport = {}\nmaster_priority = {priority}\n",
            q(&i.name),
            q(&i.host.to_string()),
            i.port
        ));
    }
    out
}

/// The emulator binary, built if needed.
fn binary() -> Result<PathBuf> {
    crate::util::workspace_binary("dbscale-sim")
}

/// Writes configs and starts each emulator that is not running.
pub fn up(paths: &Paths, secrets: &Secrets) -> Result<()> {
    let bin = binary()?;
    for router in ROUTERS {
        write_file(
            &router.file(paths, "toml"),
            &config(&router, paths, secrets),
            0o600,
        )?;
        let pidfile = router.file(paths, "pid");
        if procs::pidfile_alive(&pidfile, "dbscale-sim").is_some() {
            continue;
        }
        ensure_port_free(
            router.addr(),
            &format!("the {} router emulator", router.name),
        )?;
        let log = router.file(paths, "log");
        let pid = procs::spawn_daemon(
            Command::new(&bin)
                .arg("--config")
                .arg(router.file(paths, "toml")),
            &log,
            &pidfile,
        )?;
        wait_for(
            &format!("the {} router emulator", router.name),
            Duration::from_secs(20),
            || {
                if !procs::running(pid) {
                    bail!(
                        "the {} router emulator exited; {} ends with:\n{}",
                        router.name,
                        log.display(),
                        tail(&log, 10)
                    );
                }
                Ok(
                    TcpStream::connect_timeout(&router.addr(), Duration::from_millis(200))
                        .ok()
                        .map(drop),
                )
            },
        )?;
    }
    Ok(())
}

/// Runs SQL (on stdin) against an emulator as the admin user and returns
/// tab-separated rows; the password travels in a 0600 defaults file, never
/// on argv.
pub fn sql(paths: &Paths, router: &Router, sql: &str) -> Result<String> {
    client(paths, router, &["--batch", "--skip-column-names"], sql)
}

/// Like [`sql`] but in the client's boxed table format, for people.
pub fn sql_table(paths: &Paths, router: &Router, sql: &str) -> Result<String> {
    client(paths, router, &["--table"], sql)
}

fn client(paths: &Paths, router: &Router, format: &[&str], sql: &str) -> Result<String> {
    output_with_stdin(
        Command::new("mariadb")
            .arg(format!(
                "--defaults-extra-file={}",
                paths.file("admin.cnf").display()
            ))
            .arg(format!("-h{}", router.host))
            .arg(format!("-P{ROUTER_PORT}"))
            .args(format),
        sql.as_bytes(),
    )
    .with_context(|| {
        format!(
            "SQL on the {} router emulator ({}) failed",
            router.name,
            router.addr()
        )
    })
}

/// Writes the admin client defaults file used by [`sql`].
pub fn write_admin_cnf(paths: &Paths, secrets: &Secrets) -> Result<()> {
    write_file(
        &paths.file("admin.cnf"),
        &format!(
            "[client]\nuser = {ROUTER_USER}\npassword = {}\n",
            secrets.router_password
        ),
        0o600,
    )
}

/// Registers the DR cluster in production as dr-flashback's attach does
/// (seed 002): next group id, add dataserver, add server datasource, add slave.
pub fn register_dr(paths: &Paths, secrets: &Secrets) -> Result<()> {
    if paths.marker("dr-registered").exists() {
        return Ok(());
    }
    let prod = &ROUTERS[0];
    sql(paths, prod, "dbscale request cluster info")?;
    let group = sql(paths, prod, "dbscale request next group id")?;
    let group_id: u64 = group
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .with_context(|| format!("`dbscale request next group id` returned no id: {group:?}"))?;
    sql(
        paths,
        prod,
        &format!(
            "dbscale dynamic ADD DATASERVER server_name=slave_dbscale_server,server_host=\"{DR_ROUTER_HOST}\",\
             server_port={ROUTER_PORT},server_user=\"{ROUTER_USER}\",server_password=\"{}\",dbscale_server",
            secrets.router_password
        ),
    )?;
    sql(
        paths,
        prod,
        &format!(
            "dbscale dynamic add server datasource slave_dbscale_source slave_dbscale_server-1-1000-400-800 group_id = {group_id}"
        ),
    )?;
    sql(
        paths,
        prod,
        "dbscale dynamic add slave slave_dbscale_source to normal_0",
    )?;
    write_file(&paths.marker("dr-registered"), "", 0o644)
}

/// Stops both emulators.
pub fn down(paths: &Paths) -> Result<()> {
    for router in ROUTERS {
        procs::stop_pidfile(
            &router.file(paths, "pid"),
            "dbscale-sim",
            &format!("the {} router emulator", router.name),
            Duration::from_secs(10),
        )?;
    }
    Ok(())
}

/// Which emulators run.
pub fn alive(paths: &Paths) -> Vec<(&'static str, bool)> {
    ROUTERS
        .iter()
        .map(|r| {
            (
                r.name,
                procs::pidfile_alive(&r.file(paths, "pid"), "dbscale-sim").is_some(),
            )
        })
        .collect()
}
