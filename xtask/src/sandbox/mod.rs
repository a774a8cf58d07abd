//! `cargo xtask sandbox up|down|status`: a real cluster on this machine.
//!
//! Production: datasources `normal_0` and `normal_1`, each a MariaDB master
//! with two GTID replicas, every server on its own loopback address and port
//! 16315, behind a DBScale router emulator on 127.0.0.10:16310. DR: one
//! datasource (master following production's `normal_0` master, two
//! replicas) behind its own emulator on 127.0.0.30:16310, registered in
//! production as `slave_dbscale_server`. Plus sshd on port 2222 of every
//! sandbox address, RabbitMQ on 127.0.0.1:5672, a catalog MariaDB on
//! 127.0.0.40:16340, store and job-server directories, an rsync daemon on
//! the store host (127.0.0.50:8730, for dbcatalog), a catalog login for
//! dbbackup/dbrecover's run records (and `promtool`), and seed-format
//! config files. Every daemon is tracked by a pid file under the sandbox
//! directory; `down` stops exactly those and removes the directory.

mod agents;
mod configs;
pub mod layout;
mod mariadb;
mod physical;
mod procs;
mod pybackup;
mod rabbit;
mod routers;
mod sshd;

use crate::util::{ensure_port_free, random_password, write_file};
use anyhow::{Context, Result, bail};
use layout::{Cluster, Paths, instances};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `cargo xtask sandbox ...` actions.
#[derive(clap::Subcommand, Clone, Copy)]
pub enum Action {
    /// Start the sandbox (idempotent: a running sandbox is only checked).
    Up,
    /// Stop everything the sandbox started and remove its directory.
    Down,
    /// Show which sandbox daemons are running.
    Status,
    /// Make each production datasource's initial master its master again
    /// (after a test's switchover could not switch back).
    RestoreMasters,
    /// Only dbcatalog's part on a running sandbox (catalog login, rsync
    /// daemon, pbackup.conf, sandbox.env's lines): what `up` does for it.
    PybackupUp,
    /// Only the physical tools' catalog part on a running sandbox (the
    /// `dbbackup` catalog login and its password file, promtool,
    /// sandbox.env's lines): what `up` does for it.
    CatalogUp,
}

/// Passwords generated when the sandbox is first created.
#[derive(Serialize, Deserialize, Clone)]
pub struct Secrets {
    /// The OS login user's password (ssh).
    pub login_password: String,
    /// The router-internal MySQL user's password on every backend.
    pub mysql_password: String,
    /// The router emulators' admin password.
    pub router_password: String,
}

/// The sandbox directory: `$SANDBOX_DIR` or `target/sandbox`.
pub fn paths() -> Paths {
    let root = std::env::var_os("SANDBOX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::util::target_dir().join("sandbox"));
    let root = std::path::absolute(&root).unwrap_or(root);
    Paths { root }
}

/// Runs one action.
pub fn run(action: Action) -> Result<()> {
    let paths = paths();
    match action {
        Action::Up => up(&paths).map(drop),
        Action::Down => down(&paths),
        Action::Status => {
            let report = status(&paths);
            print!("{}", report.text);
            if !report.all_up {
                bail!(
                    "the sandbox at {} is not (fully) running",
                    paths.root.display()
                );
            }
            Ok(())
        }
        Action::PybackupUp => {
            pybackup::up(&paths, &load_or_create_secrets(&paths)?)?;
            configs::write_env(&paths, &load_or_create_secrets(&paths)?)?;
            println!(
                "dbcatalog's sandbox part is up ({})",
                paths.file("pbackup.conf").display()
            );
            Ok(())
        }
        Action::CatalogUp => {
            physical::up(&paths)?;
            configs::write_env(&paths, &load_or_create_secrets(&paths)?)?;
            println!(
                "the physical catalog's sandbox part is up (login {}, password in {})",
                physical::USER,
                physical::password_file(&paths).display()
            );
            Ok(())
        }
        Action::RestoreMasters => {
            let sb = testkit::Sandbox::load(&paths.root).map_err(anyhow::Error::msg)?;
            // Not under a running test's feet.
            let _x = sb.exclusive_use();
            let rewired = testkit::restore_initial_masters(&sb).map_err(anyhow::Error::msg)?;
            if rewired.is_empty() {
                println!("every datasource already has its initial master");
            } else {
                println!("initial masters restored in: {}", rewired.join(", "));
            }
            Ok(())
        }
    }
}

fn load_or_create_secrets(paths: &Paths) -> Result<Secrets> {
    let file = paths.secrets();
    if file.exists() {
        let text = std::fs::read_to_string(&file)?;
        return toml::from_str(&text).with_context(|| format!("cannot parse {}", file.display()));
    }
    let secrets = Secrets {
        login_password: random_password(20)?,
        mysql_password: random_password(20)?,
        router_password: random_password(20)?,
    };
    write_file(&file, &toml::to_string(&secrets)?, 0o600)?;
    Ok(secrets)
}

/// Brings the sandbox up; returns `true` if anything was started.
pub fn up(paths: &Paths) -> Result<bool> {
    let started_at = Instant::now();
    if !nix::unistd::geteuid().is_root() {
        bail!("the sandbox needs root (it creates a login user, starts sshd and RabbitMQ)");
    }
    crate::packages::ensure_installed()?;
    let before = status(paths);
    if before.all_up && paths.env_file().exists() {
        // Configs are cheap and may have gained keys since they were written.
        let secrets = load_or_create_secrets(paths)?;
        pybackup::up(paths, &secrets)?;
        physical::up(paths)?;
        configs::write_all(paths, &secrets)?;
        // The configs' `receiver-bin`: this build's, not the one the
        // sandbox started with.
        agents::binary(paths)?;
        println!("sandbox already up at {}", paths.root.display());
        return Ok(false);
    }
    for inst in instances() {
        let socket = mariadb::InstanceFiles::new(&paths.instance(&inst.name)).socket;
        mariadb::check_socket_path(&socket)?;
    }
    std::fs::create_dir_all(paths.root())?;
    std::fs::create_dir_all(paths.dir("state"))?;
    let secrets = load_or_create_secrets(paths)?;
    procs::ensure_login_user(&secrets.login_password)?;
    // The login user must reach its datadirs and the store through here.
    for dir in paths.root().ancestors() {
        if dir.as_os_str().is_empty() || dir == std::path::Path::new("/") {
            break;
        }
        ensure_traversable(dir)?;
    }

    let rabbit_started = rabbit::start(paths)?;
    sshd::up(paths)?;
    mariadb::build_template(paths, &secrets.mysql_password)?;
    let mut starting = Vec::new();
    for inst in instances() {
        mariadb::create_instance(paths, &inst)?;
        let files = mariadb::InstanceFiles::new(&paths.instance(&inst.name));
        if procs::pidfile_alive(&files.pid, "mariadbd").is_none() {
            ensure_port_free(inst.addr(), &format!("MariaDB {}", inst.name))?;
        }
        starting.extend(mariadb::start(paths, &inst)?);
    }
    for s in starting {
        s.wait()?;
    }
    if !paths.marker("replication").exists() {
        // Production first: the DR master follows production's normal_0 master.
        let mut ordered = instances();
        ordered.sort_by_key(|i| i.cluster != Cluster::Prod);
        for inst in &ordered {
            mariadb::start_replication(paths, inst, &secrets.mysql_password)?;
        }
        write_file(&paths.marker("replication"), "", 0o644)?;
    }
    pybackup::up(paths, &secrets)?;
    physical::up(paths)?;
    configs::write_all(paths, &secrets)?;
    routers::write_admin_cnf(paths, &secrets)?;
    routers::up(paths, &secrets)?;
    routers::register_dr(paths, &secrets)?;
    if rabbit_started || !rabbit::alive(paths) {
        rabbit::await_up(paths)?;
    }
    agents::up(paths)?;
    let after = status(paths);
    print!("{}", after.text);
    if !after.all_up {
        bail!("the sandbox did not come up completely (see above)");
    }
    println!(
        "sandbox up at {} in {:.1}s; `. {}` for addresses and passwords",
        paths.root.display(),
        started_at.elapsed().as_secs_f64(),
        paths.env_file().display()
    );
    Ok(true)
}

/// Makes `dir` searchable by others (the login user) if it is not.
fn ensure_traversable(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir)?;
    let mode = meta.permissions().mode();
    if mode & 0o001 == 0 {
        eprintln!(
            "note: making {} searchable (o+x) so the sandbox login user can reach its datadirs",
            dir.display()
        );
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o011)).with_context(
            || {
                format!(
                    "cannot make {} traversable for the login user",
                    dir.display()
                )
            },
        )?;
    }
    Ok(())
}

/// Stops everything and removes the directory.
pub fn down(paths: &Paths) -> Result<()> {
    if !paths.root().exists() {
        println!("no sandbox at {}", paths.root.display());
        return Ok(());
    }
    if !paths.secrets().exists() && !paths.env_file().exists() {
        bail!(
            "{} does not look like a sandbox directory (no secrets.toml or sandbox.env); not removing it",
            paths.root.display()
        );
    }
    agents::down(paths)?;
    pybackup::down(paths)?;
    routers::down(paths)?;
    let stops: Vec<_> = instances()
        .into_iter()
        .map(|inst| {
            let files = mariadb::InstanceFiles::new(&paths.instance(&inst.name));
            std::thread::spawn(move || mariadb::stop(&files, &format!("MariaDB {}", inst.name)))
        })
        .collect();
    for handle in stops {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("a stop thread panicked"))??;
    }
    sshd::down(paths)?;
    rabbit::down(paths)?;
    // Anything else started with a path inside the sandbox (agents, a daemon
    // whose pid file was lost) is ours too.
    let root = paths.root().display().to_string();
    for pid in procs::pids_matching(&root) {
        if pid != std::process::id() as i32 {
            let _ = procs::stop_pid(
                pid,
                &root,
                &format!("process {pid}"),
                Duration::from_secs(10),
            );
        }
    }
    std::fs::remove_dir_all(paths.root())
        .with_context(|| format!("cannot remove {}", paths.root.display()))?;
    println!("sandbox at {} stopped and removed", paths.root.display());
    Ok(())
}

/// What runs, as text, and whether everything does.
pub struct Status {
    /// One line per daemon.
    pub text: String,
    /// Every daemon is running.
    pub all_up: bool,
}

/// Checks every daemon's pid file.
pub fn status(paths: &Paths) -> Status {
    let mut lines = Vec::new();
    for inst in instances() {
        let files = mariadb::InstanceFiles::new(&paths.instance(&inst.name));
        let alive = procs::pidfile_alive(&files.pid, "mariadbd").is_some();
        lines.push((format!("mariadb {:<11} {}", inst.name, inst.addr()), alive));
    }
    for (name, alive) in routers::alive(paths) {
        lines.push((format!("router emulator {name}"), alive));
    }
    lines.extend(agents::alive(paths));
    lines.push(("sshd :2222".to_owned(), sshd::alive(paths)));
    lines.push((
        format!("rsyncd {}:{}", layout::STORE_HOST, pybackup::RSYNC_PORT),
        pybackup::alive(paths),
    ));
    lines.push(("rabbitmq 127.0.0.1:5672".to_owned(), rabbit::alive(paths)));
    let all_up = lines.iter().all(|(_, a)| *a);
    let text = lines
        .iter()
        .map(|(what, alive)| format!("  {:<7} {what}\n", if *alive { "up" } else { "down" }))
        .collect();
    Status { text, all_up }
}

/// Prints the production topology as the router emulator reports it.
pub fn print_topology(paths: &Paths) -> Result<()> {
    let prod = &routers::ROUTERS[0];
    for statement in [
        "dbscale show dataservers",
        "dbscale show datasource type=replication",
    ] {
        println!("{prod_addr}> {statement}", prod_addr = layout::ROUTER_HOST);
        print!("{}", routers::sql_table(paths, prod, statement)?);
    }
    Ok(())
}
