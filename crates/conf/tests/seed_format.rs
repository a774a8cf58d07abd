//! A backup.conf in the shape the seed tool's users write (rabbit-agent, the
//! ssh section left empty, a `rabbit://` URI with the default vhost) and
//! the errors a user meets.
#![allow(clippy::unwrap_used)]

use conf::{BackupConfig, Ini, RecoverTo, RecoveryConfig};
use remote::ConnectMethod;
use std::path::Path;

const RABBIT_STYLE: &str = "\
[misc]
force-full-backup = 0
debug = 1
socat-port = 45509
socat-port2 = 45514
compress = 0
compress-threads = 5
max-time-sec = 45000
backup-master = 0
backup-slave = 1
connect-method = rabbit-agent
conn-timeout = 45000

[rabbit-agent]
rabbitmq-uri = rabbit://admin:secret@10.1.2.3:5672//

[cluster]
ip = 10.1.2.4
user = admin
port = 16310
password = router-pw

[server-ssh-info]
user =
password =
port =

[backup-store]
ip = 10.1.2.5
port =
user =
password =
dir = /data/backup_dir
";

fn backup(text: &str) -> Result<BackupConfig, String> {
    Ini::parse(text, Path::new("backup.conf"))
        .and_then(|ini| BackupConfig::from_ini(&ini))
        .map_err(|e| e.to_string())
}

#[test]
fn the_seed_shape_reads_with_the_seed_defaults() {
    let cfg = backup(RABBIT_STYLE).unwrap();
    assert_eq!(cfg.connect.config.method, ConnectMethod::RabbitAgent);
    assert_eq!(
        cfg.connect.config.rabbitmq_uri.as_deref(),
        Some("rabbit://admin:secret@10.1.2.3:5672//")
    );
    assert_eq!(cfg.connect.command_timeout.as_secs(), 45000);
    assert_eq!((cfg.socat.port, cfg.socat.port2), (45509, 45514));
    assert_eq!(cfg.socat.retry_count, 10);
    assert!(!cfg.socat.using_scp);
    assert_eq!(cfg.compress_threads, 5);
    assert_eq!(cfg.max_time_sec, Some(45000));
    assert_eq!(cfg.ftwrl_dead_lock_retry, 10);
    assert_eq!(cfg.ftwrl_dead_lock_seconds, 8);
    assert_eq!(cfg.xtrabackup_bin, "xtrabackup");
    assert!(cfg.store_bad_backup && !cfg.use_disaster_recovery_cluster && !cfg.log_audit);
    assert!(!cfg.selection.backup_master);
    assert_eq!(cfg.router.port, 16310);
    assert_eq!(cfg.store.dir, Path::new("/data/backup_dir"));
    assert_eq!(cfg.store.host.host, "10.1.2.5");
    assert!(cfg.store.host.login.password.is_none());
    // Debug output never shows a password.
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains("router-pw") && !debug.contains("admin:secret"),
        "{debug}"
    );
}

/// Issue 21 item 4: the seeds send every rabbit-agent request to
/// `rds-dbinit`; `[rabbit-agent] agent-type` sends all to one type.
#[test]
fn the_rabbit_agent_type_is_the_seeds_unless_configured() {
    let hosts = |text: &str| {
        let cfg = backup(text).unwrap();
        assert_eq!(
            cfg.connect.config.rabbit_agent_type.is_some(),
            text.contains("agent-type")
        );
        remote::Connector::new(cfg.connect.config).unwrap()
    };
    let login = remote::Login {
        user: "u".into(),
        port: 22,
        password: None,
    };
    let seed = hosts(RABBIT_STYLE);
    let t = seed
        .host("10.1.2.7", &login, remote::AgentType::DbInit)
        .unwrap();
    assert!(format!("{t:?}").contains("rds-dbinit"), "{t:?}");
    let configured = RABBIT_STYLE.replace(
        "[rabbit-agent]\n",
        "[rabbit-agent]\nagent-type = rds-taskmanager\n",
    );
    let all = hosts(&configured);
    let t = all
        .host("10.1.2.7", &login, remote::AgentType::DbInit)
        .unwrap();
    assert!(format!("{t:?}").contains("rds-taskmanager"), "{t:?}");
    let err = backup(&RABBIT_STYLE.replace(
        "[rabbit-agent]\n",
        "[rabbit-agent]\nagent-type = rds-other\n",
    ))
    .unwrap_err();
    assert!(
        err.contains("[rabbit-agent] agent-type") && err.contains("rds-other"),
        "{err}"
    );
}

#[test]
fn ssh_needs_a_port_and_rabbit_needs_a_uri() {
    let err =
        backup(&RABBIT_STYLE.replace("connect-method = rabbit-agent", "connect-method = ssh"))
            .unwrap_err();
    assert!(
        err.contains("[server-ssh-info] port") && err.contains("ssh"),
        "{err}"
    );

    let err =
        backup(&RABBIT_STYLE.replace("rabbitmq-uri = rabbit://admin:secret@10.1.2.3:5672//\n", ""))
            .unwrap_err();
    assert_eq!(err, "backup.conf: [rabbit-agent] rabbitmq-uri is required");

    let err =
        backup(&RABBIT_STYLE.replace("connect-method = rabbit-agent", "connect-method = telnet"))
            .unwrap_err();
    assert!(
        err.contains("[misc] connect-method") && err.contains("telnet"),
        "{err}"
    );
}

#[test]
fn adm_agent_settings_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("adm.secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let text = RABBIT_STYLE
        .replace("connect-method = rabbit-agent", "connect-method = adm-agent")
        .replace(
            "[cluster]",
            &format!(
                "[adm-agent]\nport = 19999\nsecret-file = {}\ntls-ca-file = /etc/dbbackup/ca.pem\n\n[cluster]",
                secret.display()
            ),
        );
    let cfg = backup(&text).unwrap();
    let adm = cfg.connect.config.adm.unwrap();
    assert_eq!(adm.port, 19999);
    assert_eq!(
        adm.tls_ca_file.as_deref(),
        Some(Path::new("/etc/dbbackup/ca.pem"))
    );
    let err =
        backup(&text.replace(&secret.display().to_string(), "/nonexistent/secret")).unwrap_err();
    assert!(
        err.contains("[adm-agent] secret-file") && err.contains("/nonexistent/secret"),
        "{err}"
    );
}

/// Issue 18: `[rabbit-agent] secret-file` signs rabbit-agent requests;
/// without it they go unsigned, as before.
#[test]
fn rabbit_agent_secret_file_signs_requests() {
    assert!(
        backup(RABBIT_STYLE)
            .unwrap()
            .connect
            .config
            .rabbit_secret
            .is_none()
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("rabbit.secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let text = RABBIT_STYLE.replace(
        "[rabbit-agent]\n",
        &format!("[rabbit-agent]\nsecret-file = {}\n", secret.display()),
    );
    assert!(
        backup(&text)
            .unwrap()
            .connect
            .config
            .rabbit_secret
            .is_some()
    );
    let err =
        backup(&text.replace(&secret.display().to_string(), "/nonexistent/secret")).unwrap_err();
    assert!(
        err.contains("[rabbit-agent] secret-file") && err.contains("/nonexistent/secret"),
        "{err}"
    );
    std::fs::write(&secret, "short\n").unwrap();
    let err = backup(&text).unwrap_err();
    assert!(err.contains("shorter than 16 bytes"), "{err}");
}

#[test]
fn bad_values_name_section_and_key_but_not_secrets() {
    let err =
        backup(&RABBIT_STYLE.replace("socat-port = 45509", "socat-port = 4550x")).unwrap_err();
    assert!(err.starts_with("backup.conf: [misc] socat-port:"), "{err}");
    let err =
        backup(&RABBIT_STYLE.replace("password = router-pw", "password = 50%off")).unwrap_err();
    assert!(
        err.contains("[cluster] password") && !err.contains("50%off"),
        "{err}"
    );
    let err =
        backup(&RABBIT_STYLE.replace("[cluster]\nip = 10.1.2.4\n", "[cluster]\n")).unwrap_err();
    assert_eq!(err, "backup.conf: [cluster] ip is required");
    let err =
        backup(&RABBIT_STYLE.replace("max-time-sec = 45000", "max-time-sec = soon")).unwrap_err();
    assert!(err.contains("[misc] max-time-sec"), "{err}");
    // -1 is the seed's "no limit".
    let cfg = backup(&RABBIT_STYLE.replace("max-time-sec = 45000", "max-time-sec = -1")).unwrap();
    assert_eq!(cfg.max_time_sec, None);
}

const RECOVERY: &str = "\
[recover-to]
dir = UTC20240222014345.236-inc

[backup-store]
ip = 10.1.2.5
port = 22
user = backup
password = pw
dir = /data/backup_dir

[recovery-job-server]
ip = 10.1.2.6
port = 22
user = backup
password = pw
work-dir = /data/recover

[misc]
debug = 0
socat-port = 45509
socat-port2 = 45514
connect-method = ssh
server-tmp-port = 27100
";

fn recovery(text: &str) -> Result<RecoveryConfig, String> {
    Ini::parse(text, Path::new("recovery.conf"))
        .and_then(|ini| RecoveryConfig::from_ini(&ini))
        .map_err(|e| e.to_string())
}

#[test]
fn recovery_targets_are_exclusive_and_required() {
    let cfg = recovery(RECOVERY).unwrap();
    assert_eq!(
        cfg.recover_to,
        RecoverTo::Dir("UTC20240222014345.236-inc".into())
    );
    assert_eq!(cfg.server_tmp_port, 27100);
    assert_eq!(cfg.client_name, "mysql");
    // Unset: the backup tool's own extractor (xbstream or mbstream).
    assert_eq!(cfg.xbstream_bin, None);
    assert!(!cfg.debug && !cfg.for_testing);
    assert_eq!(cfg.job_server.work_dir, Path::new("/data/recover"));

    let t = RECOVERY.replace(
        "dir = UTC20240222014345.236-inc",
        "stop-datetime = 2024-02-22 13:00:00",
    );
    assert_eq!(
        recovery(&t).unwrap().recover_to,
        RecoverTo::StopDatetime("2024-02-22 13:00:00".into())
    );
    let both = RECOVERY.replace(
        "dir = UTC20240222014345.236-inc",
        "dir = x\nstop-datetime = 2024-02-22 13:00:00",
    );
    assert!(recovery(&both).unwrap_err().contains("exclusive"));
    let neither = RECOVERY.replace("dir = UTC20240222014345.236-inc\n", "");
    assert_eq!(
        recovery(&neither).unwrap_err(),
        "recovery.conf: [recover-to] dir is required (or stop-datetime)"
    );
    let bad = RECOVERY.replace(
        "dir = UTC20240222014345.236-inc",
        "stop-datetime = 2024-02-22T13:00",
    );
    assert!(
        recovery(&bad)
            .unwrap_err()
            .contains("[recover-to] stop-datetime")
    );
}
