//! Issue 17: `dbbackup spiderbackup` (seed 004) on the sandbox. `schedule`
//! runs here (the controller); `check --run` runs on each task's host as
//! cron would there: over ssh as the sandbox's login user, with a config
//! and key of its own that only that user reads, so `SSH_CONNECTION` tells
//! the worker which host it is. The task rows of each test are removed at
//! its end, whatever happened.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::failures::{KilledRun, tmpdir_files_naming};
use crate::restore::{Restored, replay};

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use binlog::BackupType;
use common::layout::check_backup;
use common::procs;
use common::workload::{Workload, table_rows};
use common::{CmdlineScan, RunOutput, TestStore, poll, sandbox_secrets, serial, set_key};
use testkit::{Sandbox, Server};

/// One test's spiderbackup setting: its store and controller config, the
/// workers' own directory, and the prefix of its backup ids.
struct Spider {
    sb: Sandbox,
    store: TestStore,
    worker: tempfile::TempDir,
    prefix: String,
}

/// One task row as the test reads it from a master.
#[derive(Debug, Clone)]
struct Row {
    server: String,
    host: String,
    status: String,
    pid: Option<u32>,
    reason: String,
}

impl Spider {
    fn new(sb: &Sandbox, test: &str) -> Spider {
        // The dead-lock detector would retry a backup held at its BACKUP
        // STAGE by a test's table lock: given a day.
        let store = TestStore::new(
            sb,
            "BACKUP_SSH_CONF",
            test,
            &[("ftwrl-dead-lock-seconds", "86400")],
        );
        let worker = tempfile::Builder::new()
            .prefix("dbbackup-spider-worker")
            .tempdir_in("/tmp")
            .unwrap();
        let key = worker.path().join("id_rsa");
        std::fs::copy(sb.var("SSH_KEY"), &key).unwrap();
        std::fs::create_dir(worker.path().join("state")).unwrap();
        let text = set_key(
            &store.conf_text(),
            "misc",
            "state-dir",
            &worker.path().join("state").display().to_string(),
        );
        let text = set_key(
            &text,
            "server-ssh-info",
            "key-file",
            &key.display().to_string(),
        );
        let conf = worker.path().join("backup.conf");
        std::fs::write(&conf, &text).unwrap();
        // The controller uses the same config (its copy is what the
        // backup's backup.conf is checked against).
        std::fs::write(&store.conf, &text).unwrap();
        let user = sb.var("LOGIN_USER");
        let chown = Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:{user}"))
            .arg(worker.path())
            .status()
            .unwrap();
        assert!(chown.success());
        for f in [&conf, &key] {
            let mode = Command::new("chmod").arg("600").arg(f).status().unwrap();
            assert!(mode.success());
        }
        Spider {
            sb: sb.clone(),
            store,
            worker,
            prefix: common::unique(test),
        }
    }

    fn id(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// `dbbackup spiderbackup ARGS` on `host` as cron would run it there:
    /// over ssh as the login user, in the workers' directory (where `check`
    /// finds the config).
    fn remote(&self, host: &str, args: &[&str]) -> Command {
        let sb = &self.sb;
        let mut remote = format!(
            "cd '{}' && exec '{}' spiderbackup",
            self.worker.path().display(),
            env!("CARGO_BIN_EXE_dbbackup")
        );
        for a in args {
            remote += &format!(" '{a}'");
        }
        let mut c = Command::new("ssh");
        c.args(["-i", sb.var("SSH_KEY"), "-p", sb.var("SSH_PORT")])
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .arg(format!("{}@{host}", sb.var("LOGIN_USER")))
            .arg(remote)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// The controller's command (`-c backup.conf ARGS`) on the router host.
    fn controller(&self, args: &[&str]) -> Command {
        let mut argv = vec!["-c", "backup.conf"];
        argv.extend_from_slice(args);
        self.remote(self.sb.var("ROUTER_HOST"), &argv)
    }

    /// The controller's command, to its end.
    fn local(&self, args: &[&str]) -> RunOutput {
        self.scanned(self.controller(args))
    }

    /// The same, started in the background.
    fn spawn_local(&self, args: &[&str]) -> Child {
        self.controller(args).spawn().unwrap()
    }

    /// `check --run` on `host`.
    fn check_command(&self, host: &str, extra: &[&str]) -> Command {
        let mut argv = vec!["check", "--run"];
        argv.extend_from_slice(extra);
        self.remote(host, &argv)
    }

    /// Runs `check --run` on `host` to its end.
    fn check_on(&self, host: &str, extra: &[&str]) -> RunOutput {
        self.scanned(self.check_command(host, extra))
    }

    /// Runs `command` to its end, scanning every command line for the
    /// sandbox's secrets (and its output).
    fn scanned(&self, mut command: Command) -> RunOutput {
        let secrets = sandbox_secrets(&self.sb);
        let scan = CmdlineScan::start(secrets.clone(), Some(self.store.dir.display().to_string()));
        let child = command.spawn().unwrap();
        let (code, stdout, stderr) = common::wait_limited(child, common::RUN_LIMIT);
        let store_cmdlines = scan.finish();
        for s in &secrets {
            assert!(
                !stdout.contains(s.as_str()) && !stderr.contains(s.as_str()),
                "a secret in spiderbackup's output"
            );
        }
        RunOutput {
            code,
            stdout,
            stderr,
            store_cmdlines,
        }
    }

    fn masters(&self) -> Vec<Server> {
        self.sb
            .prod_servers()
            .into_iter()
            .filter(|s| s.initial_role == "master")
            .collect()
    }

    /// The rows of `id` on every master.
    async fn rows(&self, id: &str) -> Vec<Row> {
        task_rows(&self.sb, id).await
    }

    /// Polls until `id`'s `n` tasks are written.
    fn written(&self, id: &str, n: usize) -> Vec<Row> {
        poll(Duration::from_secs(60), "the tasks written", || {
            let (sb, id) = (self.sb.clone(), id.to_owned());
            let rows = common::on_own_thread(move || async move { task_rows(&sb, &id).await })
                .join()
                .unwrap();
            (rows.len() == n).then_some(rows)
        })
    }

    /// Sets every unfinished task of `id` to `quit`, by hand on the
    /// masters as the seed's operator does.
    async fn quit(&self, id: &str) {
        for m in self.masters() {
            common::workload::execute(
                &self.sb,
                &m,
                &format!("UPDATE infodba_schema.global_backup SET BackupStatus = 'quit' WHERE BackupId = '{id}' AND BackupStatus IN ('init', 'running')"),
            )
            .await;
        }
    }

    fn replica(&self, name: &str) -> Server {
        self.sb.server(name)
    }
}

impl Drop for Spider {
    fn drop(&mut self) {
        let (sb, prefix, masters) = (self.sb.clone(), self.prefix.clone(), self.masters());
        let _ = common::on_own_thread(move || async move {
            for m in &masters {
                for t in ["global_backup", "global_backup_finish"] {
                    let mut c = common::workload::connect(&sb, m).await;
                    let _ = c
                        .execute(&format!(
                            "DELETE FROM infodba_schema.{t} WHERE BackupId LIKE '{prefix}-%'"
                        ))
                        .await;
                    let _ = c.close().await;
                }
            }
        })
        .join();
    }
}

/// The plan's backup name, from `schedule`'s output.
fn scheduled(out: &RunOutput) -> String {
    assert_eq!(out.code, Some(0), "schedule failed:\n{out}");
    assert!(out.stdout.contains("tasks written"), "{out}");
    out.backup_name()
}

/// Schedules `id` and runs `check --run` on each of its tasks' hosts, in
/// turn; returns the backup name and the checks' outputs.
async fn schedule_and_run(sp: &Spider, id: &str) -> (String, Vec<RunOutput>) {
    let name = scheduled(&sp.local(&["schedule", "--backup-id", id]));
    let rows = sp.rows(id).await;
    assert_eq!(
        rows.len(),
        2,
        "one task per datasource's chosen replica: {rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.status == "init" && r.pid.is_none()),
        "{rows:?}"
    );
    let mut outs = Vec::new();
    for r in &rows {
        let out = sp.check_on(&r.host, &[]);
        assert_eq!(out.code, Some(0), "check on {}:\n{out}", r.host);
        assert!(
            out.stdout
                .contains(&format!("{} of backup id {id}: success", r.server)),
            "{out}"
        );
        assert!(
            out.store_cmdlines > 0,
            "the scan saw none of the check's work"
        );
        outs.push(out);
    }
    (name, outs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_incremental_run_by_check_on_each_host_restore_to_the_masters_rows() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spider");
    let mut w = Workload::new(&sb).await;
    w.insert(10, "full").await;
    w.wait_replicas(&[]).await;
    let mut expected = Vec::new();
    for m in &w.masters {
        expected.push(w.rows_on(m).await);
    }

    let id = sp.id("full");
    let dry = sp.local(&["schedule", "--dry-run"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    assert!(dry.stdout.contains("dry run: no task written"), "{dry}");
    assert!(
        sp.store.backups().is_empty(),
        "a dry run made a backup directory"
    );

    let from = chrono::Utc::now().naive_utc();
    let (full, outs) = schedule_and_run(&sp, &id).await;
    let to = chrono::Utc::now().naive_utc();
    // The first check leaves the backup unfinished; the last finishes it.
    assert!(!outs[0].stdout.contains("finished with ok"), "{}", outs[0]);
    assert!(
        outs[1]
            .stdout
            .contains(&format!("backup {full} finished with ok")),
        "{}",
        outs[1]
    );
    let b = check_backup(&sb, &sp.store, &full, BackupType::Full, (from, to), false);
    let rows = sp.rows(&id).await;
    assert!(rows.iter().all(|r| r.status == "success"), "{rows:?}");
    let mut servers = b.servers();
    servers.sort();
    let mut tasked: Vec<String> = rows.iter().map(|r| r.server.clone()).collect();
    tasked.sort();
    assert_eq!(
        servers, tasked,
        "the backup holds exactly the tasks' servers"
    );

    // `query` shows every task and its state.
    let q = sp.local(&["query", "--backupId", &id]);
    assert_eq!(q.code, Some(0), "{q}");
    for r in &rows {
        let line = q
            .stdout
            .lines()
            .find(|l| l.contains(&r.server))
            .unwrap_or_else(|| panic!("{q}"));
        assert!(
            line.contains(&id) && line.contains("success") && line.contains(&full),
            "{line}"
        );
    }
    let qj = sp.local(&[
        "query",
        "--backupId",
        &id,
        "--backupStatus",
        "success",
        "--json",
    ]);
    let listed: serde_json::Value =
        serde_json::from_str(&qj.stdout).unwrap_or_else(|e| panic!("{e}: {qj}"));
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{qj}");
    let none = sp.local(&[
        "query",
        "--backupId",
        &id,
        "--backupStatus",
        "failed",
        "--json",
    ]);
    assert_eq!(none.stdout.trim(), "[]", "{none}");

    // Rows after the backup must not come back; each datasource's restored
    // replica equals its master at the consistence point.
    w.insert(3, "later").await;
    for (m, want) in w.masters.iter().zip(&expected) {
        let lines = b.consistence.of_datasource(&m.datasource);
        let line = lines.first().unwrap();
        let mut restored = Restored::start(&b.server_dir(&line.server).join("backup.xbsteam"));
        let mut c = restored.connect(&sb).await;
        replay(&sb, &b, line, m, restored.port);
        let got = table_rows(&mut c, &w.db).await;
        let _ = c.close().await;
        assert_eq!(
            &got, want,
            "{}: restored rows differ from {}",
            line.server, m.name
        );
    }

    // The next schedule continues the chain: an incremental on top of it.
    w.wait_replicas(&[]).await;
    let inc_id = sp.id("inc");
    let from = chrono::Utc::now().naive_utc();
    let (inc, _) = schedule_and_run(&sp, &inc_id).await;
    let to = chrono::Utc::now().naive_utc();
    let ib = check_backup(
        &sb,
        &sp.store,
        &inc,
        BackupType::Incremental,
        (from, to),
        false,
    );
    assert_eq!(
        ib.manifest["summary"]["last_good"].as_str(),
        Some(full.as_str()),
        "{:#}",
        ib.manifest["summary"]
    );
    assert_eq!(sp.store.backups(), [full, inc]);
}

/// A session holding `LOCK TABLES <db>.t WRITE` on `server`: its
/// mariabackup waits at BACKUP STAGE until the lock goes.
async fn hold(sb: &Sandbox, server: &Server, db: &str) -> router::Client {
    let mut lock = common::workload::connect(sb, server).await;
    lock.execute(&format!("LOCK TABLES {db}.t WRITE"))
        .await
        .unwrap();
    lock
}

/// The mariabackup of `backup` on `server`, once it runs.
fn mariabackup_of(backup: &str, server: &str) -> procs::Proc {
    let needle = format!("{backup}-{server}.cnf");
    poll(Duration::from_secs(60), "mariabackup starting", || {
        procs::naming(&needle)
            .into_iter()
            .find(|p| procs::runs_mariabackup(&p.cmdline))
    })
}

fn wait_child(child: Child) -> RunOutput {
    let (code, stdout, stderr) = common::wait_limited(child, common::RUN_LIMIT);
    RunOutput {
        code,
        stdout,
        stderr,
        store_cmdlines: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_wait_exits_0_when_all_succeed_and_1_when_a_hosts_mariabackup_is_killed() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spiderwait");
    let w = Workload::new(&sb).await;
    w.wait_replicas(&[]).await;

    let id = sp.id("ok");
    let waiting = sp.spawn_local(&["schedule", "--wait", "--backup-id", &id, "--poll-secs", "1"]);
    let rows = sp.written(&id, 2);
    for r in &rows {
        let out = sp.check_on(&r.host, &[]);
        assert_eq!(out.code, Some(0), "{out}");
    }
    let out = wait_child(waiting);
    assert_eq!(out.code, Some(0), "schedule --wait:\n{out}");
    assert!(
        out.stdout.contains(&format!("backup id {id} succeeded")),
        "{out}"
    );
    let name = out.backup_name();
    assert!(sp.store.dir.join(&name).join("ok").exists());

    // Now one host's mariabackup is killed mid-backup.
    let id = sp.id("killed");
    let waiting = sp.spawn_local(&["schedule", "--wait", "--backup-id", &id, "--poll-secs", "1"]);
    let rows = sp.written(&id, 2);
    let victim = sp.replica(&rows[0].server);
    let mut lock = hold(&sb, &victim, &w.db).await;
    let check = sp.check_command(&rows[0].host, &[]).spawn().unwrap();
    let name = sp.store.backups().pop().unwrap();
    mariabackup_of(&name, &victim.name).signal("-KILL");
    lock.execute("UNLOCK TABLES").await.unwrap();
    let _ = lock.close().await;
    let failed = wait_child(check);
    assert_eq!(
        failed.code,
        Some(1),
        "the check whose backup failed exits 1:\n{failed}"
    );
    assert!(
        failed
            .stdout
            .contains(&format!("{} of backup id {id}: failed", victim.name)),
        "{failed}"
    );
    let other = sp.check_on(&rows[1].host, &[]);
    assert_eq!(
        other.code,
        Some(0),
        "one host's failure does not stop the others:\n{other}"
    );
    let out = wait_child(waiting);
    assert_eq!(out.code, Some(1), "schedule --wait:\n{out}");
    assert!(
        out.stderr
            .contains(&format!("ERROR: backup id {id} failed: {}", victim.name)),
        "{out}"
    );
    assert!(
        !sp.store.dir.join(&name).join("ok").exists(),
        "a failed backup id got ok"
    );
}

/// The rows of backup id `id` on every production master.
async fn task_rows(sb: &Sandbox, id: &str) -> Vec<Row> {
    let mut out = Vec::new();
    for m in sb
        .prod_servers()
        .into_iter()
        .filter(|s| s.initial_role == "master")
    {
        let mut c = common::workload::connect(sb, &m).await;
        let rows = c
            .query(&format!(
                "SELECT ServerName, Host, BackupStatus, TaskPid, Reason FROM infodba_schema.global_backup WHERE BackupId = '{id}' ORDER BY Id"
            ))
            .await;
        let _ = c.close().await;
        for r in rows.unwrap_or_default() {
            let col = |n: &str| r.column(n).flatten().unwrap_or_default().to_owned();
            out.push(Row {
                server: col("ServerName"),
                host: col("Host"),
                status: col("BackupStatus"),
                pid: col("TaskPid").parse().ok(),
                reason: col("Reason"),
            });
        }
    }
    out
}

/// The worker of `id`'s task on `server`, once it runs it (its pid from
/// the task row).
fn worker_pid(sp: &Spider, id: &str, server: &str) -> u32 {
    poll(Duration::from_secs(30), "the task running", || {
        sp.written(id, 2)
            .into_iter()
            .find(|r| r.server == server && r.status == "running")
            .and_then(|r| r.pid)
    })
}

/// What a killed or stopped worker of `backup` on `server` may leave: its
/// processes (the tree under `pid`) and any naming the backup, the
/// option file or the store.
fn run_of(sp: &Spider, pid: u32, backup: &str, server: &str) -> KilledRun {
    KilledRun {
        children: procs::tree(pid),
        needles: vec![
            backup.to_owned(),
            format!("{backup}-{server}.cnf"),
            sp.store.dir.display().to_string(),
        ],
    }
}

/// A scheduled backup whose first task's worker runs, its mariabackup
/// held at BACKUP STAGE by a table lock on the replica.
struct Held {
    name: String,
    rows: Vec<Row>,
    victim: Server,
    lock: router::Client,
    check: Child,
    pid: u32,
    run: KilledRun,
}

async fn held_backup(sp: &Spider, w: &Workload, id: &str, extra: &[&str]) -> Held {
    w.wait_replicas(&[]).await;
    let name = scheduled(&sp.local(&["schedule", "--backup-id", id]));
    let rows = sp.written(id, 2);
    let victim = sp.replica(&rows[0].server);
    let lock = hold(&sp.sb, &victim, &w.db).await;
    let check = sp.check_command(&rows[0].host, extra).spawn().unwrap();
    mariabackup_of(&name, &victim.name);
    let pid = worker_pid(sp, id, &victim.name);
    let run = run_of(sp, pid, &name, &victim.name);
    Held {
        name,
        rows,
        victim,
        lock,
        check,
        pid,
        run,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_during_a_running_backup_stops_it_and_its_remote_commands_and_it_never_gets_ok() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spiderquit");
    let w = Workload::new(&sb).await;
    let id = sp.id("quit");
    // The worker's own look at its task is put off: the next check stops it.
    let Held {
        name,
        rows,
        victim,
        mut lock,
        check,
        pid,
        run,
    } = held_backup(&sp, &w, &id, &["--quit-poll-secs", "3600"]).await;
    sp.quit(&id).await;
    // The next check on that host stops the worker (SIGTERM).
    let next = sp.check_on(&rows[0].host, &[]);
    assert!(
        next.stdout
            .contains(&format!("quit: worker pid {pid} stopped")),
        "{next}"
    );
    run.assert_all_ended();
    let first = wait_child(check);
    assert_eq!(
        first.code,
        Some(1),
        "the stopped check:
{first}"
    );
    // The stopped worker removed its option file (it holds the login).
    assert!(tmpdir_files_naming(&sb, &format!("{name}-{}.cnf", victim.name)).is_empty());
    lock.execute("UNLOCK TABLES").await.unwrap();
    let _ = lock.close().await;
    let rows = sp.rows(&id).await;
    let quit = rows.iter().find(|r| r.server == victim.name).unwrap();
    assert_eq!(quit.status, "quit", "{rows:?}");
    assert!(quit.reason.contains("stopped (SIGTERM)"), "{rows:?}");
    // The other task was quit before it started; the other host's check
    // notes it and runs nothing; no check finishes the backup.
    let other = sp.check_on(&rows[1].host, &[]);
    assert_eq!(other.code, Some(0), "{other}");
    assert!(other.stdout.contains("quit before it started"), "{other}");
    assert!(
        !sp.store.dir.join(&name).join("ok").exists(),
        "a quit backup id got ok"
    );
    let rows = sp.rows(&id).await;
    assert!(rows.iter().all(|r| r.status == "quit"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_worker_is_failed_no_pid_and_a_stale_task_expires() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spiderkill");
    let w = Workload::new(&sb).await;
    let id = sp.id("kill");
    let Held {
        name,
        rows: _,
        victim,
        mut lock,
        check,
        pid,
        run,
    } = held_backup(&sp, &w, &id, &[]).await;
    let worker = procs::all().into_iter().find(|p| p.pid == pid).unwrap();
    worker.signal("-KILL");
    run.assert_all_ended();
    let _ = wait_child(check);
    // A SIGKILLed worker could not remove its option file.
    for f in tmpdir_files_naming(&sb, &format!("{name}-{}", victim.name)) {
        let _ = std::fs::remove_file(f);
    }
    lock.execute("UNLOCK TABLES").await.unwrap();
    let _ = lock.close().await;
    let rows = sp.rows(&id).await;
    assert_eq!(
        rows[0].status, "running",
        "nothing changed it yet: {rows:?}"
    );

    let next = sp.check_on(&rows[0].host, &[]);
    assert!(next.stdout.contains("failed: no pid"), "{next}");
    let rows = sp.rows(&id).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].reason.as_str()),
        ("failed", "failed: no pid"),
        "{rows:?}"
    );

    // The other task is stale for a check that expires after 0 s.
    assert_eq!(rows[1].status, "init");
    let stale = sp.check_on(&rows[1].host, &["--expire-after-secs", "0"]);
    assert!(stale.stdout.contains("failed: expired"), "{stale}");
    assert!(stale.stdout.contains("nothing run"), "{stale}");
    let rows = sp.rows(&id).await;
    assert_eq!(rows[1].status, "failed", "{rows:?}");
    assert!(
        rows[1].reason.starts_with("failed: expired: init for"),
        "{rows:?}"
    );
    assert!(!sp.store.dir.join(&name).join("ok").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_stops_itself_when_its_task_is_quit() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spiderself");
    let w = Workload::new(&sb).await;
    let id = sp.id("self");
    let Held {
        name,
        rows: _,
        victim,
        mut lock,
        check,
        pid: _,
        run,
    } = held_backup(&sp, &w, &id, &["--quit-poll-secs", "1"]).await;
    sp.quit(&id).await;
    // No second check: the worker itself sees the quit (as under a systemd
    // timer, which starts no check while one runs).
    let out = wait_child(check);
    run.assert_all_ended();
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout.contains("the worker saw it and stopped itself"),
        "{out}"
    );
    assert!(tmpdir_files_naming(&sb, &format!("{name}-{}.cnf", victim.name)).is_empty());
    lock.execute("UNLOCK TABLES").await.unwrap();
    let _ = lock.close().await;
    let rows = sp.rows(&id).await;
    let quit = rows.iter().find(|r| r.server == victim.name).unwrap();
    assert_eq!(
        (quit.status.as_str(), quit.reason.as_str()),
        ("quit", "quit: the worker saw it and stopped itself"),
        "{rows:?}"
    );
    assert!(!sp.store.dir.join(&name).join("ok").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_checks_started_at_once_on_one_host_take_its_task_once() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spiderrace");
    let w = Workload::new(&sb).await;
    w.wait_replicas(&[]).await;
    let mut names = Vec::new();
    for round in 0..3 {
        let id = sp.id(&format!("race{round}"));
        names.push(scheduled(&sp.local(&["schedule", "--backup-id", &id])));
        let rows = sp.rows(&id).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        let (raced, other) = (&rows[0], &rows[1]);
        // Both start their ssh at the same moment.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let barrier = std::sync::Arc::clone(&barrier);
                let mut command = sp.check_command(&raced.host, &[]);
                std::thread::spawn(move || {
                    barrier.wait();
                    wait_child(command.spawn().unwrap())
                })
            })
            .collect();
        let outs: Vec<RunOutput> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let ran = format!("{} of backup id {id}:", raced.server);
        let runs: Vec<&RunOutput> = outs.iter().filter(|o| o.stdout.contains(&ran)).collect();
        assert_eq!(
            runs.len(),
            1,
            "round {round}: the task ran {} times: {outs:#?}",
            runs.len()
        );
        assert!(
            runs[0].stdout.contains(&format!("{ran} success")),
            "{}",
            runs[0]
        );
        for o in &outs {
            assert_eq!(o.code, Some(0), "{o}");
        }
        let last = sp.check_on(&other.host, &[]);
        assert_eq!(last.code, Some(0), "{last}");
        let rows = sp.rows(&id).await;
        assert!(rows.iter().all(|r| r.status == "success"), "{rows:?}");
        assert!(
            sp.store.dir.join(names.last().unwrap()).join("ok").exists(),
            "{last}"
        );
    }
    assert_eq!(sp.store.backups(), names);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_claimed_by_a_gone_worker_is_failed_and_the_backup_never_gets_ok() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let sp = Spider::new(&sb, "spiderfinish");
    let w = Workload::new(&sb).await;
    w.wait_replicas(&[]).await;
    let id = sp.id("dead");
    let name = scheduled(&sp.local(&["schedule", "--backup-id", &id]));
    let rows = sp.written(&id, 2);
    // A claim of the finish by a process of the first task's host that has
    // ended (its pid with a start time it never had).
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    common::workload::execute(
        &sb,
        &sp.masters()[0],
        &format!(
            "INSERT INTO infodba_schema.global_backup_finish \
             (BackupId, FinishStatus, WorkerHost, TaskPid, TaskPidStart, StartedAt) \
             VALUES ('{id}', 'running', '{}', {dead_pid}, 1, UTC_TIMESTAMP(3))",
            rows[0].host
        ),
    )
    .await;
    let first = sp.check_on(&rows[0].host, &[]);
    assert_eq!(first.code, Some(0), "{first}");
    assert!(
        first.stdout.contains(&format!(
            "the finish of backup id {id}: failed: no pid (was {dead_pid})"
        )),
        "{first}"
    );
    let last = sp.check_on(&rows[1].host, &[]);
    assert_eq!(last.code, Some(0), "{last}");
    assert!(!last.stdout.contains("finished with ok"), "{last}");
    let rows = sp.rows(&id).await;
    assert!(rows.iter().all(|r| r.status == "success"), "{rows:?}");
    assert!(
        !sp.store.dir.join(&name).join("ok").exists(),
        "finished twice"
    );
    let mut c = common::workload::connect(&sb, &sp.masters()[0]).await;
    let claim = c
        .query(&format!(
            "SELECT FinishStatus, Reason FROM infodba_schema.global_backup_finish WHERE BackupId = '{id}'"
        ))
        .await
        .unwrap();
    let _ = c.close().await;
    let col = |n: &str| claim[0].column(n).flatten().unwrap_or_default().to_owned();
    assert_eq!(
        (col("FinishStatus").as_str(), col("Reason").as_str()),
        ("failed", "failed: no pid")
    );
}
