//! The sandbox's seed-format configs, read by this crate, reach the real
//! hosts through every connect-method.
#![allow(clippy::unwrap_used)]

use conf::{BackupConfig, RecoveryConfig};
use remote::{AgentType, Command, Connector};
use std::time::Duration;

async fn whoami(hosts: &Connector, host: &str, login: &remote::Login) -> String {
    let t = hosts.host(host, login, AgentType::TaskManager).unwrap();
    t.ping().await.unwrap();
    t.exec(&Command::new("id").arg("-un"), Duration::from_secs(30))
        .await
        .unwrap()
        .stdout_str()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn backup_configs_reach_store_and_servers() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let db_host = sb.prod_servers()[0].host.clone();
    for (var, method) in [
        ("BACKUP_SSH_CONF", "ssh"),
        ("BACKUP_RABBIT_CONF", "rabbit-agent"),
        ("BACKUP_ADM_CONF", "adm-agent"),
    ] {
        let cfg = BackupConfig::load(sb.var(var).as_ref()).unwrap();
        assert_eq!(cfg.connect.config.method.as_str(), method);
        assert_eq!(cfg.store.host.host, sb.var("STORE_HOST"));
        assert_eq!(cfg.router.host, sb.var("ROUTER_HOST"));
        let hosts = Connector::new(cfg.connect.config.clone()).unwrap();
        let user = sb.var("LOGIN_USER");
        assert_eq!(
            whoami(&hosts, &cfg.store.host.host, &cfg.store.host.login).await,
            user,
            "{method}"
        );
        assert_eq!(
            whoami(&hosts, &db_host, &cfg.connect.server_login).await,
            user,
            "{method}"
        );
    }
}

#[tokio::test]
async fn recovery_configs_reach_the_job_server() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for var in [
        "RECOVERY_SSH_CONF",
        "RECOVERY_RABBIT_CONF",
        "RECOVERY_ADM_CONF",
    ] {
        let text = std::fs::read_to_string(sb.var(var)).unwrap();
        // The sandbox leaves the target commented out; pick one.
        let text = text.replace("# dir = ", "dir = ");
        let file = dir.path().join("recovery.conf");
        std::fs::write(&file, text).unwrap();
        let cfg = RecoveryConfig::load(&file).unwrap();
        let hosts = Connector::new(cfg.connect.config.clone()).unwrap();
        let job = &cfg.job_server.host;
        assert_eq!(
            whoami(&hosts, &job.host, &job.login).await,
            sb.var("LOGIN_USER"),
            "{var}"
        );
    }
}
