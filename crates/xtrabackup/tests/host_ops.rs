//! The host-side steps against the sandbox: the wrapper option file with a
//! password full of option-file and shell specials, read by both the
//! `mariadb` client and mariabackup; refusing to overwrite an existing file;
//! and finding a server's option file from the port it listens on.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use remote::{Command, Local, Transport, Zeroizing};
use testkit::Sandbox;
use xtrabackup::{BackupOptions, ClientDefaults, Error, PipelineOutput, ops};

/// `'` and `\` escaped for a single-quoted SQL literal.
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrapper_option_file_carries_a_nasty_password() {
    let Some(sb) = Sandbox::get() else { return };
    let server = sb.server("normal_1_0");
    let user = unique("xbpw");
    let password = "p#a;s s\"w'o\\rd=$HOME`x`";
    let state = tempfile::tempdir().unwrap();
    let host = ssh(&sb, &server.host, &state);
    let mut admin = sql(&sb, &server).await;
    let tmpdir = value(&mut admin, "SELECT @@tmpdir").await;
    let pid_file = value(&mut admin, "SELECT @@pid_file").await;
    let wrapper = format!("{tmpdir}/{user}.cnf");
    let log_file = format!("{tmpdir}/{user}.log");
    // Local to this server: the replicas need not know the user.
    admin.execute("SET SESSION sql_log_bin = 0").await.unwrap();

    let outcome = catch_panic(async {
        admin
            .execute(&format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY {}",
                sql_literal(password)
            ))
            .await
            .unwrap();
        admin
            .execute(&format!(
                "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO '{user}'@'%'"
            ))
            .await
            .unwrap();
        let login = ClientDefaults {
            server_defaults_file: ops::server_defaults_file_by_pid_file(&host, &pid_file)
                .await
                .unwrap(),
            user: user.clone(),
            password: Zeroizing::new(password.into()),
        };
        ops::write_client_defaults(&host, &login, &wrapper)
            .await
            .unwrap();
        // `set -C`: an existing file is never overwritten (or followed).
        let again = ops::write_client_defaults(&host, &login, &wrapper).await;
        assert!(again.is_err(), "second write succeeded");

        let who = sh(
            &host,
            &Command::new("mariadb")
                .arg(format!("--defaults-file={wrapper}"))
                .args(["-N", "-e", "SELECT CURRENT_USER()"]),
        )
        .await;
        assert_eq!(who.trim(), format!("{user}@%"));

        let tool = ops::detect_tool(&host, "mariabackup").await.unwrap();
        let opts = BackupOptions::new(tool, &wrapper, &tmpdir, &log_file);
        let cmd = opts.pipeline().command(PipelineOutput::File("/dev/null"));
        ops::run(&host, &cmd, Duration::from_secs(120), "backup")
            .await
            .unwrap();
        let (log, text) = ops::read_log(&host, &log_file).await.unwrap();
        assert!(log.completed_ok, "{:?}", log.failure());
        assert!(text.contains(&format!("user: {user}, password: set")));
        assert!(!text.contains(password));
    })
    .await;

    let _ = admin
        .execute(&format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await;
    for f in [&wrapper, &log_file] {
        let _ = ops::remove_file(&host, f).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn the_option_file_is_found_from_the_listening_port() {
    let Some(sb) = Sandbox::get() else { return };
    let local = Local::default();
    let uid = local
        .exec(&Command::new("id").arg("-u"), Duration::from_secs(10))
        .await
        .unwrap()
        .stdout_str();
    if uid.trim() != "0" {
        // ss shows the pids of other users' sockets to root only.
        eprintln!("skipping: the port lookup needs root here");
        return;
    }
    for name in ["normal_0_1", "normal_1_2"] {
        let s = sb.server(name);
        let cnf = ops::server_defaults_file_by_port(&local, &s.host, s.port)
            .await
            .unwrap();
        assert_eq!(cnf, s.dir.join("my.cnf").to_string_lossy());
    }
    let e = ops::server_defaults_file_by_port(&local, "127.0.0.99", 1)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("127.0.0.99:1"), "{e}");
}

#[tokio::test]
async fn quicklz_backups_fail_clearly_without_qpress() {
    let Some(sb) = Sandbox::get() else { return };
    let state = tempfile::tempdir().unwrap();
    let host = ssh(&sb, sb.var("STORE_HOST"), &state);
    // Not a bare `command -v`: its exit 127 reads as a transport error.
    let probe = Command::shell("command -v qpress >/dev/null && echo yes || echo no");
    let has_qpress = sh(&host, &probe).await.trim() == "yes";
    if has_qpress {
        eprintln!("skipping: this host has qpress");
        return;
    }
    let tool = ops::detect_tool(&host, "mariabackup").await.unwrap();
    let dir = format!("{}/{}", sb.var("STORE_DIR"), unique("xbqp"));
    let e = ops::decompress_quicklz(&host, &tool, &dir, None, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::QpressMissing { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("qpress is not installed") && text.contains(&dir),
        "{text}"
    );
}
