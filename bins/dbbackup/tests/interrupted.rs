//! Issue 5, "done when" 3, a killed socat: the store-side socat listener
//! of one server's stream is killed (SIGKILL) once its bytes arrive, the
//! rest of the stream still to come. The run fails
//! with an ERROR naming the server and the step, writes no `ok`, leaves
//! none of its processes behind, and the next run moves it to `trash/` and
//! succeeds.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use binlog::BackupType;
use common::dry_run::planned_replica;
use common::layout::check_backup;
use common::procs::{self, Proc};
use common::{TestStore, dbbackup_command, poll, serial};
use testkit::Sandbox;

/// The socat listener writing into `file`: a `socat ... tcp-listen:`
/// process run by a script (an ancestor within a few generations) that
/// names the file.
fn listener_into(file: &str) -> Option<Proc> {
    let all: BTreeMap<u32, Proc> = procs::all().into_iter().map(|p| (p.pid, p)).collect();
    all.values()
        .filter(|p| p.cmdline.starts_with("socat ") && p.cmdline.contains("tcp-listen:"))
        .find(|p| {
            let mut at = p.ppid;
            (0..4).any(|_| {
                let Some(parent) = all.get(&at) else {
                    return false;
                };
                at = parent.ppid;
                parent.cmdline.contains(file)
            })
        })
        .cloned()
}

/// dbbackup, killed on drop unless taken back: a failing test leaves no
/// run behind.
struct Running(Option<std::process::Child>);

impl Running {
    fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, |c| c.id())
    }

    fn take(mut self) -> std::process::Child {
        self.0.take().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_socat_listener_over_ssh() {
    killed_socat_listener("BACKUP_SSH_CONF").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_socat_listener_over_rabbit_agents() {
    killed_socat_listener("BACKUP_RABBIT_CONF").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_socat_listener_over_adm_agents() {
    killed_socat_listener("BACKUP_ADM_CONF").await;
}

/// Kills one server's listener mid-stream in a run with the sandbox config
/// `conf_var`; checks the failure, the cleanup and the next run.
async fn killed_socat_listener(conf_var: &str) {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, conf_var, "socat", &[]);
    let replica = planned_replica(&sb, &store);
    let server_dir = format!(
        "{}-{}-{}-{}",
        replica.datasource, replica.name, replica.host, replica.port
    );

    let child = dbbackup_command(&["--config-file", store.conf.to_str().unwrap()])
        .spawn()
        .unwrap();
    let run = Running(Some(child));
    let pid = run.pid();
    // The listener starts before its sender: stop it at once.
    let (name, file, listener) = poll(
        Duration::from_secs(90),
        "the replica's stream listener",
        || {
            let name = store.backups().pop()?;
            let file = store
                .dir
                .join(&name)
                .join(&server_dir)
                .join("backup.xbsteam");
            let l = listener_into(&file.display().to_string())?;
            l.signal("-STOP");
            Some((name, file, l))
        },
    );
    // A small stream crosses loopback in a blink: let the listener run a
    // few milliseconds at a time, and kill it once bytes are in the file,
    // with the rest of the stream still to come.
    poll(
        Duration::from_secs(60),
        "bytes of the stream arriving",
        || {
            listener.signal("-CONT");
            std::thread::sleep(Duration::from_millis(2));
            listener.signal("-STOP");
            // What socat passed on reaches the file (through a tee when
            // the receiving end hashes on one).
            std::thread::sleep(Duration::from_millis(50));
            (std::fs::metadata(&file).map_or(0, |m| m.len()) > 0).then_some(())
        },
    );
    listener.signal("-KILL");
    let arrived = std::fs::metadata(&file).map_or(0, |m| m.len());
    let (code, stdout, stderr) = common::wait_limited(run.take(), common::RUN_LIMIT);
    let out = common::RunOutput {
        code,
        stdout,
        stderr,
        store_cmdlines: 0,
    };
    eprintln!("{out}\n{arrived} bytes had arrived");
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = loop {
        let left: Vec<String> = procs::naming(&name)
            .into_iter()
            .chain(procs::naming(&store.dir.display().to_string()))
            .chain(procs::tree(pid).into_iter().filter(|p| p.pid != pid))
            .map(|p| p.cmdline)
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(left.is_empty(), "the failed run left processes: {left:#?}");

    // The server, and the step: its stream to the store, through socat.
    out.assert_failed_with(&format!(
        "backup of {} ({}:{}) failed",
        replica.name, replica.host, replica.port
    ));
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap();
    assert!(
        error.contains("socat") && error.contains(&format!("from {} to port", replica.host)),
        "the step is not named: {error}"
    );
    assert!(
        out.stdout
            .contains("cluster backup failed because reach max-time-sec or get exception."),
        "{out}"
    );
    assert!(!store.dir.join(&name).join("ok").exists());
    // Its option files (the backup login's password) are gone from the
    // servers' tmpdirs.
    let option_files: Vec<String> = sb
        .prod_servers()
        .iter()
        .flat_map(|s| common::names_in(&s.dir.join("tmp")))
        .filter(|f| f.contains(&name) && f.ends_with(".cnf"))
        .collect();
    assert!(option_files.is_empty(), "left behind: {option_files:?}");

    let from = chrono::Utc::now().naive_utc();
    let next = store.run(&sb, &[], &[]);
    let to = chrono::Utc::now().naive_utc();
    next.assert_succeeded();
    assert!(
        next.stdout
            .contains(&format!("bad backups moved away: {name}")),
        "{next}"
    );
    let good = next.backup_name();
    assert_eq!(store.backups(), vec![good.clone()]);
    assert_eq!(store.trash(), vec![name]);
    check_backup(&sb, &store, &good, BackupType::Full, (from, to), false);
}
