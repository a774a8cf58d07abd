//! MariaDB instances of the sandbox: config files, a template datadir that
//! every instance is copied from, start/stop, and SQL as the OS root user
//! (unix_socket authentication, so no password is needed or exposed).

use super::layout::{Instance, LOGIN_USER, MYSQL_USER, Paths};
use super::procs;
use crate::util::{output_with_stdin, run, tail, wait_for, write_file};
use anyhow::{Context, Result, bail};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Files of one instance.
pub struct InstanceFiles {
    /// `my.cnf` passed as `--defaults-file` (the backup engine reads it back
    /// from the process command line, as the seed does).
    pub cnf: PathBuf,
    /// Data directory.
    pub data: PathBuf,
    /// Unix socket.
    pub socket: PathBuf,
    /// Pid file written by the server.
    pub pid: PathBuf,
    /// Error log.
    pub log: PathBuf,
}

impl InstanceFiles {
    /// The files of the instance living in `dir`.
    pub fn new(dir: &Path) -> Self {
        InstanceFiles {
            cnf: dir.join("my.cnf"),
            data: dir.join("data"),
            socket: dir.join("mysqld.sock"),
            pid: dir.join("mysqld.pid"),
            log: dir.join("error.log"),
        }
    }
}

/// Longest Unix socket path a server accepts (`sun_path` is 108 bytes).
const MAX_SOCKET_PATH: usize = 107;

/// Fails, before anything is started, when `socket` is too long for a Unix
/// socket: the sandbox lives under the checkout's `target/`, so a deep
/// checkout would otherwise surface as a server that aborts at start.
pub fn check_socket_path(socket: &Path) -> Result<()> {
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        bail!(
            "the sandbox's socket {} is {len} bytes, longer than a Unix socket path may be ({MAX_SOCKET_PATH}); \
             set SANDBOX_DIR to a shorter directory (or clone the project to a shorter path)",
            socket.display()
        );
    }
    Ok(())
}

/// The `my.cnf` of an instance; `server` is `None` for the template.
fn my_cnf(dir: &Path, server: Option<&Instance>) -> String {
    let f = InstanceFiles::new(dir);
    let mut cnf = format!(
        "[mysqld]\n\
         user = {LOGIN_USER}\n\
         datadir = {data}\n\
         tmpdir = {tmp}\n\
         socket = {sock}\n\
         pid-file = {pid}\n\
         log-error = {log}\n\
         skip-name-resolve\n\
         performance-schema = OFF\n\
         innodb-buffer-pool-size = 64M\n\
         innodb-log-file-size = 64M\n\
         innodb-flush-log-at-trx-commit = 2\n\
         max-connections = 300\n",
        data = f.data.display(),
        tmp = dir.join("tmp").display(),
        sock = f.socket.display(),
        pid = f.pid.display(),
        log = f.log.display(),
    );
    match server {
        None => cnf.push_str("skip-networking\n"),
        Some(s) => cnf.push_str(&format!(
            "bind-address = {host}\n\
             port = {port}\n\
             server-id = {id}\n\
             log-bin = mysql-bin\n\
             relay-log = relay-bin\n\
             binlog-format = ROW\n\
             log-slave-updates = ON\n\
             gtid-strict-mode = ON\n\
             sync-binlog = 0\n",
            host = s.host,
            port = s.port,
            id = s.server_id(),
        )),
    }
    // Clients (and mariabackup) read connection options from [client].
    cnf.push_str(&format!("\n[client]\nsocket = {}\n", f.socket.display()));
    if let Some(s) = server {
        cnf.push_str(&format!("port = {}\n", s.port));
    }
    cnf
}

/// Creates the template datadir once: system tables plus the router-internal
/// user, so each instance is a fast copy instead of a fresh install.
pub fn build_template(paths: &Paths, mysql_password: &str) -> Result<()> {
    let dir = paths.dir("template");
    let files = InstanceFiles::new(&dir);
    if paths.marker("template").exists() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(&dir);
    prepare_dirs(&dir)?;
    write_file(&files.cnf, &my_cnf(&dir, None), 0o644)?;
    run(Command::new("mariadb-install-db")
        .arg(format!("--defaults-file={}", files.cnf.display()))
        .arg(format!("--user={LOGIN_USER}"))
        .arg("--skip-test-db")
        .stdout(Stdio::null()))
    .context("mariadb-install-db failed for the template datadir")?;
    let mut child = start_process(&files)?;
    wait_ready(&mut child, &files, "template MariaDB")?;
    let pw = mysql_password.replace('\'', "''");
    sql_on(
        &files.cnf,
        &format!(
            "CREATE USER '{MYSQL_USER}'@'%' IDENTIFIED BY '{pw}';\n\
             GRANT ALL PRIVILEGES ON *.* TO '{MYSQL_USER}'@'%' WITH GRANT OPTION;\n"
        ),
    )?;
    stop(&files, "template MariaDB")?;
    let _ = child.wait();
    write_file(&paths.marker("template"), "", 0o644)
}

/// Creates `dir` with `tmp/`, owned by the login user.
fn prepare_dirs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("tmp"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    procs::chown_login_user(dir)?;
    procs::chown_login_user(&dir.join("tmp"))
}

/// Creates an instance's directory from the template (once).
pub fn create_instance(paths: &Paths, inst: &Instance) -> Result<()> {
    let dir = paths.instance(&inst.name);
    let files = InstanceFiles::new(&dir);
    if files.data.exists() {
        return Ok(());
    }
    prepare_dirs(&dir)?;
    write_file(&files.cnf, &my_cnf(&dir, Some(inst)), 0o644)?;
    run(Command::new("cp")
        .arg("-a")
        .arg(paths.dir("template").join("data"))
        .arg(&files.data))
}

/// Starts `mariadbd --defaults-file=...` in its own process group.
fn start_process(files: &InstanceFiles) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    Command::new("mariadbd")
        .arg(format!("--defaults-file={}", files.cnf.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start mariadbd")
}

/// Waits until the server accepts connections on its socket, failing with
/// the tail of its error log if it exits first.
fn wait_ready(child: &mut Child, files: &InstanceFiles, what: &str) -> Result<()> {
    wait_for(what, Duration::from_secs(60), || {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{what} exited ({status}) while starting; its log {} ends with:\n{}",
                files.log.display(),
                tail(&files.log, 15)
            );
        }
        Ok(UnixStream::connect(&files.socket).ok().map(drop))
    })
}

/// A started server that is not yet known to be ready.
pub struct Starting {
    child: Child,
    files: InstanceFiles,
    name: String,
}

/// Starts an instance unless it already runs; returns the handle to wait on.
pub fn start(paths: &Paths, inst: &Instance) -> Result<Option<Starting>> {
    let files = InstanceFiles::new(&paths.instance(&inst.name));
    if procs::pidfile_alive(&files.pid, "mariadbd").is_some() {
        return Ok(None);
    }
    let _ = std::fs::remove_file(&files.socket);
    let child = start_process(&files)?;
    Ok(Some(Starting {
        child,
        files,
        name: inst.name.clone(),
    }))
}

impl Starting {
    /// Waits until it accepts connections.
    pub fn wait(mut self) -> Result<()> {
        let what = format!("MariaDB {}", self.name);
        wait_ready(&mut self.child, &self.files, &what)
    }
}

/// Stops the server whose pid file is in `files` (SIGTERM, then SIGKILL).
pub fn stop(files: &InstanceFiles, what: &str) -> Result<()> {
    procs::stop_pidfile(&files.pid, "mariadbd", what, Duration::from_secs(30))
}

/// Runs SQL (fed on stdin) as root over the instance's socket; returns the
/// tab-separated rows.
pub fn sql(paths: &Paths, inst: &Instance, sql: &str) -> Result<String> {
    let cnf = InstanceFiles::new(&paths.instance(&inst.name)).cnf;
    sql_on(&cnf, sql).with_context(|| format!("SQL on {} ({}) failed", inst.name, inst.addr()))
}

fn sql_on(cnf: &Path, sql: &str) -> Result<String> {
    client(cnf, &["--batch", "--skip-column-names"], sql)
}

fn client(cnf: &Path, format: &[&str], sql: &str) -> Result<String> {
    output_with_stdin(
        Command::new("mariadb")
            .arg(format!("--defaults-file={}", cnf.display()))
            .arg("-uroot")
            .args(format),
        sql.as_bytes(),
    )
}

/// The named columns of the single row `sql` returns (e.g. SHOW SLAVE STATUS).
fn row(paths: &Paths, inst: &Instance, sql: &str) -> Result<Vec<(String, String)>> {
    let cnf = InstanceFiles::new(&paths.instance(&inst.name)).cnf;
    let text = client(&cnf, &["--batch"], sql)?;
    let mut lines = text.lines();
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Ok(Vec::new());
    };
    Ok(names
        .split('\t')
        .zip(values.split('\t'))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect())
}

/// Points `inst` at its upstream with GTID replication and waits until both
/// replication threads run.
pub fn start_replication(paths: &Paths, inst: &Instance, mysql_password: &str) -> Result<()> {
    let Some(upstream) = inst.replicates_from else {
        return Ok(());
    };
    let pw = mysql_password.replace('\'', "''");
    sql(
        paths,
        inst,
        &format!(
            "STOP SLAVE;\nSET GLOBAL gtid_slave_pos='';\n\
             CHANGE MASTER TO MASTER_HOST='{upstream}', MASTER_PORT={port}, \
             MASTER_USER='{MYSQL_USER}', MASTER_PASSWORD='{pw}', \
             MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;\nSTART SLAVE;\n",
            port = inst.port
        ),
    )?;
    let what = format!("replication of {} from {upstream}", inst.name);
    wait_for(&what, Duration::from_secs(30), || {
        let status = row(paths, inst, "SHOW SLAVE STATUS")?;
        let running = |field: &str| status.iter().any(|(n, v)| n == field && v == "Yes");
        Ok((running("Slave_IO_Running") && running("Slave_SQL_Running")).then_some(()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::layout::instances;

    #[test]
    fn a_socket_path_too_long_for_the_kernel_is_refused_by_name() {
        assert!(
            check_socket_path(Path::new(
                "/work/main/target/sandbox/mysql/normal_0_1/mysqld.sock"
            ))
            .is_ok()
        );
        let deep = format!("/{}/mysqld.sock", "d".repeat(100));
        let e = check_socket_path(Path::new(&deep)).unwrap_err().to_string();
        assert!(e.contains(&deep) && e.contains("113 bytes"), "{e}");
    }

    #[test]
    fn server_config_binds_its_address_with_gtid_settings() {
        let inst = &instances()[1];
        let cnf = my_cnf(Path::new("/sb/mysql/normal_0_1"), Some(inst));
        assert!(cnf.contains("bind-address = 127.0.0.12\n"));
        assert!(cnf.contains("server-id = 12\n"));
        assert!(cnf.contains("gtid-strict-mode = ON\n"));
        assert!(
            cnf.contains("[client]\nsocket = /sb/mysql/normal_0_1/mysqld.sock\nport = 16315\n")
        );
    }
}
