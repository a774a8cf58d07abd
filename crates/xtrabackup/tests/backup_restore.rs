//! The "done when": full mariabackups of a replica and of a master
//! streamed over ssh into the store, incrementals from the parsed LSN after
//! more writes, both extracted and prepared, and a mariadbd started on each
//! result shows the row count and `CHECKSUM TABLE` the source had.
//!
//! With `XTRABACKUP_SAVE_FIXTURES=1` the real logs are written to
//! `tests/fixtures/` (that is how the recorded mariabackup logs were made).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use remote::{Command, Transport, Zeroizing, quote};
use router::Client;
use testkit::{Sandbox, Server};
use xtrabackup::{
    BackupLog, BackupOptions, Checkpoints, ClientDefaults, Compression, Flavor, Lsn,
    PipelineOutput, PrepareStep, StreamSource, Tool, extract, ops, parse_binlog_info, prepare,
};

const LONG: Duration = Duration::from_secs(300);

/// One server's backup chain in this test.
struct Chain<'a> {
    server: &'a Server,
    role: &'static str,
    host: &'a dyn Transport,
    compression: Compression,
    wrapper: String,
    tmpdir: String,
}

/// Takes one backup (full when `from` is `None`) into `stream`; returns
/// the parsed log.
async fn backup(
    c: &Chain<'_>,
    tool: &Tool,
    from: Option<Lsn>,
    stream: &str,
    log_file: &str,
) -> BackupLog {
    let mut o = BackupOptions::new(tool.clone(), &c.wrapper, &c.tmpdir, log_file);
    o.host = Some(c.server.host.clone());
    o.port = Some(c.server.port);
    o.slave_info = c.role == "replica";
    o.incremental_from = from;
    o.compression = c.compression;
    let cmd = o.pipeline().command(PipelineOutput::File(stream));
    ops::run(c.host, &cmd, LONG, "stream the backup")
        .await
        .unwrap();
    let (log, text) = ops::read_log(c.host, log_file).await.unwrap();
    assert!(log.failure().is_none(), "{:?}", log.failure());
    save_fixture(
        &format!(
            "mariabackup-{}-{}.log",
            c.role,
            if from.is_some() {
                "incremental"
            } else {
                "full"
            }
        ),
        &text,
    );
    log
}

fn save_fixture(name: &str, text: &str) {
    if std::env::var("XTRABACKUP_SAVE_FIXTURES").is_ok_and(|v| v == "1") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Extracts and prepares the full and the incremental on the store; returns
/// the prepared directory.
async fn restore(
    store: &dyn Transport,
    tool: &Tool,
    c: &Chain<'_>,
    dir: &str,
    logs: [&BackupLog; 2],
) -> String {
    let full = format!("{dir}/{}-full", c.server.name);
    let inc = format!("{dir}/{}-inc", c.server.name);
    let mut points = Vec::new();
    for ((stream, target), log) in [("full", &full), ("inc", &inc)].into_iter().zip(logs) {
        let src = format!("{dir}/{}-{stream}.xbsteam", c.server.name);
        let x = extract(tool, c.compression, StreamSource::File(&src), target);
        ops::run(store, &x, LONG, "extract").await.unwrap();
        // The stream's own metadata agrees with what the log said.
        let cat = |f: &str| Command::new("cat").arg(format!("{target}/{f}"));
        let info = parse_binlog_info(&sh(store, &cat("xtrabackup_binlog_info")).await).unwrap();
        assert_eq!(Some(&info), log.binlog.as_ref());
        let points_text = sh(store, &cat("xtrabackup_checkpoints")).await;
        points.push(Checkpoints::parse(&points_text).unwrap());
    }
    let (full_points, inc_points) = (&points[0], &points[1]);
    assert_eq!(full_points.backup_type, "full-backuped");
    assert_eq!(Some(full_points.to_lsn), logs[0].checkpoint);
    assert_eq!(Some(inc_points.from_lsn), logs[0].checkpoint);
    assert!(
        inc_points.applies_on(full_points),
        "{inc_points:?} on {full_points:?}"
    );
    let steps = [
        PrepareStep::Full {
            incrementals_follow: true,
        },
        PrepareStep::Incremental {
            incremental_dir: inc.clone(),
            more_follow: false,
        },
    ];
    for step in &steps {
        let out = ops::run(
            store,
            &prepare(tool, &full, step, Some("64M")),
            LONG,
            "prepare",
        )
        .await
        .unwrap();
        let log = BackupLog::parse(&out.stderr_str());
        assert!(log.completed_ok, "prepare {step:?}: {:?}", log.errors);
    }
    full
}

/// Starts mariadbd on `datadir` (private port and socket, as the login
/// user), returns the fingerprint of `table`, and shuts it down.
async fn fingerprint_restored(
    sb: &Sandbox,
    store: &dyn Transport,
    datadir: &str,
    port: u16,
    table: &str,
) -> (String, String) {
    let host = sb.var("STORE_HOST");
    let run = format!("{datadir}.run");
    // A Unix socket path must fit in 108 bytes, and `datadir` is as deep as
    // the checkout: the socket goes to /tmp, named by the (unique) port.
    let socket = format!("/tmp/xbt-{port}.sock");
    let mysqld = Command::new("mariadbd")
        .arg("--no-defaults")
        .arg(format!("--datadir={datadir}"))
        .arg(format!("--port={port}"))
        .arg(format!("--bind-address={host}"))
        .arg(format!("--socket={socket}"))
        .arg(format!("--pid-file={run}/mysqld.pid"))
        .arg(format!("--log-error={run}/error.log"))
        .arg(format!("--tmpdir={run}"))
        .arg(format!("--user={}", sb.var("LOGIN_USER")))
        .args([
            "--skip-slave-start",
            "--skip-name-resolve",
            "--performance-schema=OFF",
        ])
        .args(["--innodb-buffer-pool-size=32M", "--server-id=4242"]);
    // mariadbd lives in /usr/sbin, outside a login user's PATH.
    let start = Command::shell(format!(
        "mkdir -p {} && PATH=$PATH:/usr/sbin && exec {}",
        quote(&run),
        mysqld.argv_shell()
    ));
    let running = store.spawn(&start, Some(LONG)).await.unwrap();
    let id = running.id.clone();
    let store_host = store.host().to_owned();
    let waiter = tokio::spawn(async move { running.collect(&store_host, "mariadbd").await });
    let e = sb.mysql(&sb.prod_servers()[0]);
    let ep = router::Endpoint::new(host, port, e.user, e.password);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut c = loop {
        match Client::connect(&ep, Duration::from_secs(2)).await {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() > deadline => {
                let log = store
                    .exec(&Command::new("tail").arg(format!("{run}/error.log")), LONG)
                    .await
                    .map(|o| o.stdout_str());
                let _ = store.kill(&id).await;
                let early = if waiter.is_finished() {
                    Some(waiter.await)
                } else {
                    None
                };
                panic!(
                    "restored mariadbd on port {port} never answered: {e}; error.log: {log:?}; exited early: {early:?}"
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let fp = fingerprint(&mut c, table).await;
    let _ = c.execute("SHUTDOWN").await;
    match tokio::time::timeout(Duration::from_secs(60), waiter).await {
        Ok(out) => {
            let out = out.unwrap().unwrap();
            assert_eq!(
                out.exit_status,
                0,
                "restored mariadbd: {}",
                out.stderr_str()
            );
        }
        Err(_) => {
            store.kill(&id).await.unwrap();
            panic!("restored mariadbd did not shut down");
        }
    }
    fp
}

/// A free TCP port on the store address.
fn free_port(host: &str) -> u16 {
    let l = std::net::TcpListener::bind((host, 0)).unwrap();
    l.local_addr().unwrap().port()
}

async fn write_rows(m: &mut Client, table: &str, from: u32, to: u32) {
    // The SEQUENCE engine's tables exist in every database.
    let db = table.split('.').next().unwrap();
    m.execute(&format!(
        "INSERT INTO {table} (id, v, n) SELECT seq, REPEAT(MD5(seq), 6), seq % 97 FROM {db}.seq_{from}_to_{to}"
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_of_master_and_replica_restore_to_the_same_data() {
    let Some(sb) = Sandbox::get() else { return };
    let _exclusive = sb.exclusive().await;
    let servers = sb.prod_servers();
    let master = servers.iter().find(|s| s.name == "normal_0_0").unwrap();
    let replica = servers.iter().find(|s| s.name == "normal_0_1").unwrap();
    let db = unique("xbt");
    let table = format!("{db}.t");
    let dir = format!("{}/xtrabackup-test-{db}", sb.var("STORE_DIR"));
    let state = tempfile::tempdir().unwrap();
    let (mh, rh) = (
        ssh(&sb, &master.host, &state),
        ssh(&sb, &replica.host, &state),
    );
    let store = ssh(&sb, sb.var("STORE_HOST"), &state);
    let mut m = sql(&sb, master).await;
    let mut r = sql(&sb, replica).await;

    let mut chains = Vec::new();
    for (server, role, host, compression) in [
        (replica, "replica", &rh, Compression::None),
        (master, "master", &mh, Compression::Zstd { threads: 2 }),
    ] {
        let c = if role == "master" { &mut m } else { &mut r };
        let tmpdir = value(c, "SELECT @@tmpdir").await;
        chains.push(Chain {
            server,
            role,
            host,
            compression,
            wrapper: format!("{tmpdir}/{db}.cnf"),
            tmpdir,
        });
    }

    let t0 = std::time::Instant::now();
    let outcome = async {
        m.execute(&format!("CREATE DATABASE {db}")).await.unwrap();
        m.execute(&format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(200), n INT) ENGINE=InnoDB"
        ))
        .await
        .unwrap();
        write_rows(&mut m, &table, 1, 20_000).await;
        sh(&store, &Command::new("mkdir").arg("-p").arg(&dir)).await;

        let tool = ops::detect_tool(&mh, "mariabackup").await.unwrap();
        assert!(
            matches!(tool.flavor, Flavor::Mariabackup { .. }),
            "{tool:?}"
        );
        for c in &chains {
            let pid_file = value(
                if c.role == "master" { &mut m } else { &mut r },
                "SELECT @@pid_file",
            )
            .await;
            let cnf = ops::server_defaults_file_by_pid_file(c.host, &pid_file)
                .await
                .unwrap();
            assert_eq!(cnf, c.server.dir.join("my.cnf").to_string_lossy());
            let login = ClientDefaults {
                server_defaults_file: cnf,
                user: sb.var("MYSQL_USER").into(),
                password: Zeroizing::new(sb.var("MYSQL_PASSWORD").into()),
            };
            ops::write_client_defaults(c.host, &login, &c.wrapper)
                .await
                .unwrap();
            let mode = sh(
                c.host,
                &Command::new("stat").args(["-c", "%a"]).arg(&c.wrapper),
            )
            .await;
            assert_eq!(mode.trim(), "600");
        }

        // Full backups, our writes quiesced; the replica caught up first.
        eprintln!("{:?} setup done", t0.elapsed());
        wait_caught_up(&mut m, &mut r).await;
        eprintln!("{:?} caught up", t0.elapsed());
        let at_full = fingerprint(&mut m, &table).await;
        let last_gtid = value(&mut m, "SELECT @@gtid_binlog_pos").await;
        let mut fulls = Vec::new();
        for c in &chains {
            let stream = format!("{dir}/{}-full.xbsteam", c.server.name);
            let log = backup(
                c,
                &tool,
                None,
                &stream,
                &format!("{}/{db}-full.log", c.tmpdir),
            )
            .await;
            let b = log.binlog.clone().unwrap();
            assert!(b.file.starts_with("mysql-bin.") && b.position > 4, "{b:?}");
            // The backup's GTID covers our last write (domain 0 of master 11).
            let ours = last_gtid
                .split(',')
                .find(|g| g.starts_with("0-11-"))
                .unwrap();
            let seq = |g: &str| g.rsplit('-').next().unwrap().parse::<u64>().unwrap();
            let in_backup = b
                .gtid
                .as_deref()
                .unwrap()
                .split(',')
                .find(|g| g.starts_with("0-11-"));
            assert!(seq(in_backup.unwrap()) >= seq(ours), "{b:?} vs {last_gtid}");
            if c.role == "replica" {
                assert!(log.slave.is_some(), "--slave-info line missing");
            }
            fulls.push(log);
            eprintln!("{:?} full of {}", t0.elapsed(), c.role);
        }

        // More writes, then incrementals from the parsed checkpoints.
        write_rows(&mut m, &table, 20_001, 25_000).await;
        m.execute(&format!("UPDATE {table} SET n = n + 1 WHERE id % 10 = 0"))
            .await
            .unwrap();
        m.execute(&format!("DELETE FROM {table} WHERE id % 13 = 0"))
            .await
            .unwrap();
        wait_caught_up(&mut m, &mut r).await;
        let at_inc = fingerprint(&mut m, &table).await;
        assert_ne!(at_inc, at_full);
        let mut incs = Vec::new();
        for (c, full) in chains.iter().zip(&fulls) {
            let lsn = &full.checkpoint.unwrap();
            let stream = format!("{dir}/{}-inc.xbsteam", c.server.name);
            let log = backup(
                c,
                &tool,
                Some(*lsn),
                &stream,
                &format!("{}/{db}-inc.log", c.tmpdir),
            )
            .await;
            // On a quiet server the checkpoint may not have moved.
            assert!(log.checkpoint.unwrap() >= *lsn);
            incs.push(log);
            eprintln!("{:?} inc of {}", t0.elapsed(), c.role);
        }

        // Restore each chain and compare with the source at the incremental.
        for ((c, full), inc) in chains.iter().zip(&fulls).zip(&incs) {
            let datadir = restore(&store, &tool, c, &dir, [full, inc]).await;
            eprintln!("{:?} restored {}", t0.elapsed(), c.role);
            let port = free_port(sb.var("STORE_HOST"));
            let got = fingerprint_restored(&sb, &store, &datadir, port, &table).await;
            assert_eq!(
                got, at_inc,
                "restored {} differs from the source",
                c.server.name
            );
        }
    };
    let result = catch_panic(outcome).await;

    // Clean up whatever happened.
    let _ = m.execute(&format!("DROP DATABASE IF EXISTS {db}")).await;
    for c in &chains {
        let _ = ops::remove_file(c.host, &c.wrapper).await;
        for log in ["full", "inc"] {
            let _ = ops::remove_file(c.host, &format!("{}/{db}-{log}.log", c.tmpdir)).await;
        }
    }
    let _ = store
        .exec(&Command::new("rm").arg("-rf").arg(&dir), LONG)
        .await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
