//! Ready-to-use files for tests and operators: `sandbox.env` and the
//! seed-format configs (`backup-*.conf`, `recovery-*.conf`,
//! `dr_flashback.ini`; `pbackup.conf` is written by `pybackup.rs`).

use super::Secrets;
use super::layout::{
    ADM_AGENT_PORT, AMQP_PORT, CATALOG_HOST, CATALOG_PORT, Cluster, DR_ROUTER_HOST, JOB_HOST,
    LOGIN_USER, MYSQL_PORT, MYSQL_USER, Paths, ROUTER_HOST, ROUTER_PORT, ROUTER_USER, SOCAT_PORT,
    SOCAT_PORT2, SSH_PORT, STORE_HOST, instances,
};
use crate::util::{shell_quote, write_file};
use anyhow::Result;

/// The RabbitMQ URI the agents and configs use (no trailing `/`: that
/// would name an empty vhost).
pub fn rabbitmq_uri() -> String {
    format!("amqp://guest:guest@127.0.0.1:{AMQP_PORT}")
}

/// Writes every generated file.
pub fn write_all(paths: &Paths, secrets: &Secrets) -> Result<()> {
    std::fs::create_dir_all(paths.dir("store"))?;
    std::fs::create_dir_all(paths.dir("jobserver"))?;
    super::procs::chown_login_user(&paths.dir("store"))?;
    super::procs::chown_login_user(&paths.dir("jobserver"))?;
    for method in ["ssh", "rabbit", "adm"] {
        let backup = backup_conf(paths, secrets, method);
        let recovery = recovery_conf(paths, secrets, method);
        for (tool, text) in [("backup", backup), ("recovery", recovery)] {
            write_file(&paths.file(&format!("{tool}-{method}.conf")), &text, 0o600)?;
        }
    }
    write_file(
        &paths.file("dr_flashback.ini"),
        &flashback_ini(paths, secrets),
        0o600,
    )?;
    write_file(&paths.env_file(), &sandbox_env(paths, secrets), 0o600)
}

/// Rewrites `sandbox.env` alone.
pub fn write_env(paths: &Paths, secrets: &Secrets) -> Result<()> {
    write_file(&paths.env_file(), &sandbox_env(paths, secrets), 0o600)
}

fn connect_method(method: &str) -> &'static str {
    match method {
        "rabbit" => "rabbit-agent",
        "adm" => "adm-agent",
        _ => "ssh",
    }
}

fn backup_conf(paths: &Paths, s: &Secrets, method: &str) -> String {
    format!(
        "# dbscale-backup sandbox: backup over {cm}\n\
         [misc]\nforce-full-backup = 0\ndebug = 1\nlog-audit = 0\n\
         socat-port = {SOCAT_PORT}\nsocat-port2 = {SOCAT_PORT2}\nsocat-retry-count = 10\n\
         compress = 0\ncompress-threads = 2\nmax-time-sec = 1800\nbackup-master = 0\nbackup-slave = 1\n\
         connect-method = {cm}\nconn-timeout = 3600\n\
         ftwrl-dead-lock-retry = 10\nftwrl-dead-lock-seconds = 8\n\
         # production feeds the DR cluster (slave_dbscale_server)\nuse-disaster-recovery-cluster = true\nxtrabackup-bin-dir = /usr/bin/mariabackup\n\
         store-bad-backup = 1\n\
         # additions to the seed format\nstate-dir = {state}\nencrypt-bin = {dbcrypt}\n\
         receiver = native\nreceiver-bin = {dbagent}\n\n\
         [rabbit-agent]\nrabbitmq-uri = {uri}\nsecret-file = {rabbit_secret}\n\n\
         [adm-agent]\nport = {ADM_AGENT_PORT}\nsecret-file = {secret}\n\n\
         [cluster]\nip = {ROUTER_HOST}\nuser = {ROUTER_USER}\nport = {ROUTER_PORT}\npassword = {rpw}\n\n\
         [server-ssh-info]\nuser = {LOGIN_USER}\npassword = {lpw}\nport = {SSH_PORT}\nkey-file = {key}\n\n\
         [backup-store]\nip = {STORE_HOST}\nport = {SSH_PORT}\nuser = {LOGIN_USER}\npassword = {lpw}\ndir = {store}\n",
        cm = connect_method(method),
        uri = rabbitmq_uri(),
        rpw = s.router_password,
        lpw = s.login_password,
        store = paths.dir("store").display(),
        state = paths.dir("state").display(),
        secret = super::agents::secret_file(paths).display(),
        rabbit_secret = super::agents::rabbit_secret_file(paths).display(),
        key = paths.dir("ssh").join("id_rsa").display(),
        dbcrypt = crate::util::target_dir()
            .join("debug")
            .join("dbcrypt")
            .display(),
        dbagent = super::agents::dbagent(paths).display(),
    )
}

fn recovery_conf(paths: &Paths, s: &Secrets, method: &str) -> String {
    format!(
        "# dbscale-backup sandbox: recovery over {cm}. Set exactly one of\n\
         # [recover-to] dir / stop-datetime before use.\n\
         [recover-to]\n# dir = UTC20260101000000.000-full\n# stop-datetime = 2026-01-01 00:00:00\n\n\
         [backup-store]\nip = {STORE_HOST}\nport = {SSH_PORT}\nuser = {LOGIN_USER}\npassword = {lpw}\ndir = {store}\n\n\
         [recovery-job-server]\nip = {JOB_HOST}\nport = {SSH_PORT}\nuser = {LOGIN_USER}\npassword = {lpw}\nwork-dir = {job}\n\n\
         [misc]\ndebug = 1\nsocat-port = {SOCAT_PORT}\nsocat-port2 = {SOCAT_PORT2}\nsocat-retry-count = 10\n\
         connect-method = {cm}\nconn-timeout = 3600\nserver-tmp-port = 27000\nclient-name = mariadb\n\
         xtrabackup-bin-dir = /usr/bin/mariabackup\nxbstream-bin-dir = /usr/bin/mbstream\n\
         # additions to the seed format\nstate-dir = {state}\nencrypt-bin = {dbcrypt}\n\
         receiver = native\nreceiver-bin = {dbagent}\n\n\
         [rabbit-agent]\nrabbitmq-uri = {uri}\nsecret-file = {rabbit_secret}\n\n[adm-agent]\nport = {ADM_AGENT_PORT}\nsecret-file = {secret}\n",
        cm = connect_method(method),
        lpw = s.login_password,
        store = paths.dir("store").display(),
        job = paths.dir("jobserver").display(),
        uri = rabbitmq_uri(),
        state = paths.dir("state").display(),
        secret = super::agents::secret_file(paths).display(),
        rabbit_secret = super::agents::rabbit_secret_file(paths).display(),
        dbcrypt = crate::util::target_dir()
            .join("debug")
            .join("dbcrypt")
            .display(),
        dbagent = super::agents::dbagent(paths).display(),
    )
}

fn flashback_ini(paths: &Paths, s: &Secrets) -> String {
    let section = |name: &str, host| {
        format!(
            "[{name}]\nhost = {host}\nport = {ROUTER_PORT}\nmysql_user = {ROUTER_USER}\n\
             mysql_password = {rpw}\nsys_user = {LOGIN_USER}\nsys_password = {lpw}\nsys_port = {SSH_PORT}\n",
            rpw = s.router_password,
            lpw = s.login_password,
        )
    };
    // The ssh known_hosts of this sandbox (an addition to the seed format):
    // the default, ~/.dbscale-backup, would keep an earlier sandbox's host
    // keys, and a new sandbox's would then fail host key verification.
    format!(
        "# dbscale-backup sandbox: production (source) and DR (target) routers\n\
         [misc]\nstate-dir = {}\n\n{}\n{}",
        paths.dir("state").display(),
        section("source", ROUTER_HOST),
        section("target", DR_ROUTER_HOST)
    )
}

/// The config files `sandbox up` writes, and the variable naming each.
const CONFIG_FILES: [(&str, &str); 7] = [
    ("BACKUP_SSH_CONF", "backup-ssh.conf"),
    ("BACKUP_RABBIT_CONF", "backup-rabbit.conf"),
    ("BACKUP_ADM_CONF", "backup-adm.conf"),
    ("RECOVERY_SSH_CONF", "recovery-ssh.conf"),
    ("RECOVERY_RABBIT_CONF", "recovery-rabbit.conf"),
    ("RECOVERY_ADM_CONF", "recovery-adm.conf"),
    ("DR_FLASHBACK_INI", "dr_flashback.ini"),
];

fn sandbox_env(paths: &Paths, s: &Secrets) -> String {
    let servers = |cluster| {
        instances()
            .into_iter()
            .filter(|i| i.cluster == cluster)
            .map(|i| {
                format!(
                    "{}:{}:{}:{}:{}",
                    i.name,
                    i.datasource,
                    i.host,
                    i.port,
                    i.role()
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let vars: Vec<(&str, String)> = vec![
        ("SANDBOX_DIR", paths.root().display().to_string()),
        ("LOGIN_USER", LOGIN_USER.into()),
        ("LOGIN_PASSWORD", s.login_password.clone()),
        ("SSH_PORT", SSH_PORT.to_string()),
        (
            "SSH_KEY",
            paths.dir("ssh").join("id_rsa").display().to_string(),
        ),
        (
            "SSH_KNOWN_HOSTS_DIR",
            paths.dir("ssh").display().to_string(),
        ),
        ("ROUTER_HOST", ROUTER_HOST.to_string()),
        ("ROUTER_PORT", ROUTER_PORT.to_string()),
        ("ROUTER_USER", ROUTER_USER.into()),
        ("ROUTER_PASSWORD", s.router_password.clone()),
        ("DR_ROUTER_HOST", DR_ROUTER_HOST.to_string()),
        ("DR_ROUTER_PORT", ROUTER_PORT.to_string()),
        ("MYSQL_USER", MYSQL_USER.into()),
        ("MYSQL_PASSWORD", s.mysql_password.clone()),
        ("MYSQL_PORT", MYSQL_PORT.to_string()),
        ("PROD_SERVERS", servers(Cluster::Prod)),
        ("DR_SERVERS", servers(Cluster::Dr)),
        ("CATALOG_HOST", CATALOG_HOST.to_string()),
        ("CATALOG_PORT", CATALOG_PORT.to_string()),
        ("RABBITMQ_URI", rabbitmq_uri()),
        ("ADM_AGENT_PORT", ADM_AGENT_PORT.to_string()),
        (
            "ADM_AGENT_SECRET_FILE",
            super::agents::secret_file(paths).display().to_string(),
        ),
        (
            "RABBIT_AGENT_SECRET_FILE",
            super::agents::rabbit_secret_file(paths)
                .display()
                .to_string(),
        ),
        ("SOCAT_PORT", SOCAT_PORT.to_string()),
        ("SOCAT_PORT2", SOCAT_PORT2.to_string()),
        ("STORE_HOST", STORE_HOST.to_string()),
        ("STORE_DIR", paths.dir("store").display().to_string()),
        ("JOB_HOST", JOB_HOST.to_string()),
        ("JOB_DIR", paths.dir("jobserver").display().to_string()),
        (
            "DBAGENT_BIN",
            super::agents::dbagent(paths).display().to_string(),
        ),
    ];
    let mut vars = vars;
    vars.extend(
        CONFIG_FILES
            .iter()
            .map(|(var, file)| (*var, paths.file(file).display().to_string())),
    );
    vars.extend(super::pybackup::env_vars(paths));
    vars.extend(super::physical::env_vars(paths));
    let mut out =
        String::from("# dbscale-backup sandbox; source it: `. target/sandbox/sandbox.env`\n");
    for (k, v) in vars {
        out.push_str(&format!("{k}={}\n", shell_quote(&v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn secrets() -> Secrets {
        Secrets {
            login_password: "lp".into(),
            mysql_password: "mp".into(),
            router_password: "rp".into(),
        }
    }

    #[test]
    fn backup_conf_has_every_seed_section() {
        let paths = Paths {
            root: PathBuf::from("/sb"),
        };
        let conf = backup_conf(&paths, &secrets(), "rabbit");
        for section in [
            "[misc]",
            "[rabbit-agent]",
            "[adm-agent]",
            "[cluster]",
            "[server-ssh-info]",
            "[backup-store]",
        ] {
            assert!(conf.contains(section), "{section} missing");
        }
        assert!(conf.contains("connect-method = rabbit-agent\n"));
        assert!(conf.contains("secret-file = /sb/agents/rabbit.secret\n"));
        assert!(conf.contains("dir = /sb/store\n"));
    }

    #[test]
    fn env_lists_servers_with_roles() {
        let paths = Paths {
            root: PathBuf::from("/sb"),
        };
        let env = sandbox_env(&paths, &secrets());
        assert!(env.contains("normal_0_0:normal_0:127.0.0.11:16315:master normal_0_1:normal_0:127.0.0.12:16315:replica"));
        assert!(env.contains("DR_SERVERS='dr_0_0:normal_0:127.0.0.31:16315:master"));
    }
}
