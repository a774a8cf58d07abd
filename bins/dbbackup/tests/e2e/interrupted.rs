//! Issue 5, "done when" 3, a killed socat: the store-side listener of one
//! server's stream (the native receiver, `dbagent receive`, by default;
//! socat with `receiver = socat`) is killed (SIGKILL) once its bytes
//! arrive, the rest of the stream still to come. The run fails
//! with an ERROR naming the server and the step, writes no `ok`, leaves
//! none of its processes behind, and the next run moves it to `trash/` and
//! succeeds.
//!
//! Why nothing here depends on how fast the stream is (issue 22: the
//! replica's 17 MB crossed loopback in ~0.3 s, and a version that looked
//! for the listener every 100 ms once let the whole stream through and
//! the run succeeded): every step waits for an event that, once it has
//! happened, stays true until the test's next step, so the polls may be
//! as slow as a loaded machine makes them.
//!
//! 1. Before dbbackup starts, a session on the replica holds `LOCK TABLES
//!    <test table> WRITE` (the lever `failures.rs` uses too).
//!    mariabackup's `BACKUP STAGE START`, run before it copies anything,
//!    waits for it: the listener is up and the sender connected, but not
//!    a byte has been sent. Seen
//!    waiting, the listener is stopped (SIGSTOP). The run's dead-lock
//!    detector, which would kill the waiting statement after
//!    `ftwrl-dead-lock-seconds` and retry with a new listener, is given a
//!    day.
//! 2. The lock is released. The sender writes until the kernel's buffers
//!    toward the stopped listener are full; the test waits until bytes are
//!    queued on the listener's socket, then stops the sender's processes
//!    (mariabackup among them). They cannot have finished: the stream
//!    (~17 MB) is larger than the kernel holds for a reader that never
//!    read (a send buffer of at most `tcp_wmem`'s maximum, 4 MiB here, and
//!    a receive buffer that only grows as its reader reads: at most 4 MB
//!    had arrived in the runs seen); if they had, the test fails saying
//!    so, it never passes.
//! 3. The listener continues and writes the queued bytes; once some are in
//!    its file it is killed, and then the sender continues, into a dead
//!    connection.
//!
//! The end checks that it was mid-stream: some bytes had arrived, fewer
//! than the same server's whole stream in the next run.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use binlog::BackupType;
use common::dry_run::planned_replica;
use common::layout::check_backup;
use common::procs::{self, Proc};
use common::workload::{self, Workload};
use common::{TestStore, dbbackup_command, serial};
use router::Client;
use testkit::{Sandbox, Server};

/// The listener writing into `file`: a `socat ... tcp-listen:` or a
/// `dbagent receive --port` process run by a script (an ancestor within a
/// few generations) that names the file.
fn listener_into(file: &str) -> Option<Proc> {
    let all: BTreeMap<u32, Proc> = procs::all().into_iter().map(|p| (p.pid, p)).collect();
    all.values()
        .filter(|p| {
            // The program itself, not the scripts around it (their bash
            // command lines quote it).
            let program = p.cmdline.split(' ').next().unwrap_or_default();
            (program == "socat" && p.cmdline.contains("tcp-listen:"))
                || (program.ends_with("/dbagent") && p.cmdline.contains(" receive --port "))
        })
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

    /// Panics with the run's output if it has already ended.
    fn assert_running(&mut self) {
        let ended = self
            .0
            .as_mut()
            .is_none_or(|c| c.try_wait().unwrap().is_some());
        if ended {
            let (code, stdout, stderr) =
                common::wait_limited(self.0.take().unwrap(), common::RUN_LIMIT);
            panic!(
                "dbbackup ended before the listener was killed: exit {code:?}\n{stdout}{stderr}"
            );
        }
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

/// A session on a replica holding `LOCK TABLES <db>.t WRITE`: the
/// backup's `BACKUP STAGE` there waits for it. Released by [`Gate::open`],
/// or on drop by closing the connection (the server then drops the lock).
struct Gate(Option<Client>);

impl Gate {
    async fn close(sb: &Sandbox, replica: &Server, db: &str) -> Gate {
        let mut c = workload::connect(sb, replica).await;
        c.execute(&format!("LOCK TABLES {db}.t WRITE"))
            .await
            .unwrap();
        Gate(Some(c))
    }

    async fn open(&mut self) {
        if let Some(mut c) = self.0.take() {
            c.execute("UNLOCK TABLES").await.unwrap();
            let _ = c.close().await;
        }
    }
}

/// Whether a `BACKUP STAGE` statement waits on `server`.
async fn backup_stage_waits(sb: &Sandbox, server: &Server) -> bool {
    let n = workload::value(
        sb,
        server,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE 'BACKUP STAGE%' AND STATE LIKE 'Waiting%'",
    )
    .await;
    n != "0"
}

/// The port in a socat listener's `tcp-listen:<port>,...` or a native
/// receiver's `--port <port>`.
fn listen_port(listener: &Proc) -> u16 {
    let at = ["tcp-listen:", "--port "]
        .iter()
        .find_map(|key| listener.cmdline.find(key).map(|i| i + key.len()))
        .unwrap();
    let digits: String = listener.cmdline[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// The host-side processes of the sender into `host:port` (the script
/// naming `/dev/tcp/<host>/<port>` and all below it), not those of the
/// controller `controller` (an ssh client's argv names it too).
fn sender_procs(host: &str, port: u16, controller: u32) -> Vec<Proc> {
    let target = format!("/dev/tcp/{host}/{port}");
    let ours: Vec<u32> = procs::tree(controller).iter().map(|p| p.pid).collect();
    let mut found: BTreeMap<u32, Proc> = BTreeMap::new();
    for root in procs::all().into_iter().filter(|p| {
        p.cmdline
            .match_indices(&target)
            .any(|(i, _)| !p.cmdline[i + target.len()..].starts_with(|c: char| c.is_ascii_digit()))
            && !ours.contains(&p.pid)
    }) {
        found.extend(procs::tree(root.pid).into_iter().map(|p| (p.pid, p)));
    }
    found.into_values().collect()
}

/// Bytes queued, unread, on the established connections to `host:port`
/// (the listener's end, `/proc/net/tcp`).
fn queued_for(host: &str, port: u16) -> u64 {
    let ip: std::net::Ipv4Addr = host.parse().unwrap();
    let local = format!("{:08X}:{port:04X}", u32::from_le_bytes(ip.octets()));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"01"))
                .then(|| f.get(4)?.split_once(':'))
                .flatten()
                .and_then(|(_, rx)| u64::from_str_radix(rx, 16).ok())
        })
        .sum()
}

/// Whether `pid` is stopped (state `T`).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        st.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('T'))
    })
}

/// Processes the test stopped (SIGSTOP), continued (SIGCONT) by
/// [`Held::go`] or on drop: a failing test leaves none stopped.
#[derive(Default)]
struct Held(Vec<Proc>);

impl Held {
    /// Stops `p` and waits until it is.
    fn stop(&mut self, p: &Proc) {
        p.signal("-STOP");
        self.0.push(p.clone());
        testkit::poll::Poll::within(Duration::from_secs(30))
            .every(Duration::from_millis(10))
            .wait(&format!("{} stopped", p.cmdline), || {
                !p.alive() || stopped(p.pid)
            });
    }

    /// Continues `pid` (if the test stopped it).
    fn go(&mut self, pid: u32) {
        self.0.retain(|p| {
            if p.pid == pid {
                p.signal("-CONT");
            }
            p.pid != pid
        });
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for p in self.0.drain(..) {
            p.signal("-CONT");
        }
    }
}

/// Polls `f` (an async check) every 100 ms until it yields `Some`, at
/// most `within`; panics naming `what` (and the last `Err`'s account of
/// what was seen), and if dbbackup ended meanwhile.
async fn until<T, F, Fut>(run: &mut Running, within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let polled = testkit::poll::Poll::within(within)
        .every(Duration::from_millis(100))
        .until_async(what, || {
            run.assert_running();
            let seen = f();
            async move { seen.await.map(Some) }
        })
        .await;
    polled.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_native_receiver_over_ssh() {
    killed_listener("BACKUP_SSH_CONF", "native").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_socat_listener_over_rabbit_agents() {
    killed_listener("BACKUP_RABBIT_CONF", "socat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_native_receiver_over_adm_agents() {
    killed_listener("BACKUP_ADM_CONF", "native").await;
}

/// Kills one server's listener (`receiver`: `native` or `socat`)
/// mid-stream in a run with the sandbox config `conf_var`; checks the
/// failure, the cleanup and the next run.
async fn killed_listener(conf_var: &str, receiver: &str) {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    // The dead-lock detector must not end the held BACKUP STAGE (and retry
    // with a new listener): see the module's comment.
    let store = TestStore::new(
        &sb,
        conf_var,
        "socat",
        &[("ftwrl-dead-lock-seconds", "86400"), ("receiver", receiver)],
    );
    let replica = planned_replica(&sb, &store);
    let server_dir = format!(
        "{}-{}-{}-{}",
        replica.datasource, replica.name, replica.host, replica.port
    );
    // Declared in this order, dropped in the reverse one: what the test
    // stopped continued, dbbackup killed, the lock released, the test
    // database dropped.
    let w = Workload::new(&sb).await;
    w.wait_replicas(&[]).await;
    let mut gate = Gate::close(&sb, &replica, &w.db).await;
    let child = dbbackup_command(&["--config-file", store.conf.to_str().unwrap()])
        .spawn()
        .unwrap();
    let mut run = Running(Some(child));
    let pid = run.pid();

    let store_host = sb.var("STORE_HOST").to_owned();
    let mut held = Held::default();

    // 1. Listener up, sender connected, its BACKUP STAGE waiting: nothing
    //    sent yet. The listener is stopped, then the lock released.
    let (name, file, listener, port) = until(
        &mut run,
        Duration::from_secs(120),
        "the replica's stream held at its start",
        || async {
            let name = store.backups().pop().ok_or("no backup directory")?;
            let file = store
                .dir
                .join(&name)
                .join(&server_dir)
                .join("backup.xbsteam");
            let listener = listener_into(&file.display().to_string())
                .ok_or_else(|| format!("no listener into {}", file.display()))?;
            let port = listen_port(&listener);
            if !backup_stage_waits(&sb, &replica).await {
                return Err("no BACKUP STAGE waiting".into());
            }
            if sender_procs(&store_host, port, pid).is_empty() {
                return Err(format!("no sender to port {port}"));
            }
            Ok((name, file, listener, port))
        },
    )
    .await;
    held.stop(&listener);
    gate.open().await;

    // 2. Bytes queued for the stopped listener: the sender is stopped
    //    mid-stream (mariabackup alive, and so the stream unfinished).
    until(
        &mut run,
        Duration::from_secs(120),
        "bytes queued for the stopped listener",
        || async {
            let n = queued_for(&store_host, port);
            if n > 0 {
                Ok(())
            } else {
                Err("none".to_owned())
            }
        },
    )
    .await;
    let sender = sender_procs(&store_host, port, pid);
    for p in &sender {
        held.stop(p);
    }
    let is_tool = |p: &Proc| {
        p.cmdline
            .split(' ')
            .next()
            .is_some_and(|program| program.ends_with("mariabackup"))
    };
    assert!(
        sender.iter().any(|p| is_tool(p) && p.alive()),
        "the sender ended before it could be stopped mid-stream (a stream that fits in the kernel's buffers?): {:#?}",
        sender.iter().map(|p| &p.cmdline).collect::<Vec<_>>()
    );

    // 3. The listener writes what was queued; once bytes are in its file
    //    it is killed, then the sender goes on into a dead connection.
    held.go(listener.pid);
    until(
        &mut run,
        Duration::from_secs(120),
        "bytes of the stream in the file",
        || async {
            match std::fs::metadata(&file).map_or(0, |m| m.len()) {
                0 => Err("none".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
    listener.signal("-KILL");
    drop(held);
    let (code, stdout, stderr) = common::wait_limited(run.take(), common::RUN_LIMIT);
    let out = common::RunOutput {
        code,
        stdout,
        stderr,
        store_cmdlines: 0,
    };
    // The listener wrote the file itself or through a tee that has ended
    // with it: what is there now is what had arrived.
    let arrived = std::fs::metadata(&file).map_or(0, |m| m.len());
    eprintln!("{out}\n{arrived} bytes had arrived");
    let store_dir = store.dir.display().to_string();
    let gone = testkit::poll::Poll::within(Duration::from_secs(30))
        .every(Duration::from_millis(100))
        .until("the failed run's processes ended", || {
            let left: Vec<String> = procs::naming(&name)
                .into_iter()
                .chain(procs::naming(&store_dir))
                .chain(procs::tree(pid).into_iter().filter(|p| p.pid != pid))
                .map(|p| p.cmdline)
                .collect();
            if left.is_empty() {
                Ok(Some(()))
            } else {
                Err(format!("left: {left:#?}"))
            }
        });
    gone.unwrap_or_else(|e| panic!("{e}"));

    // The server, and the step: its stream to the store, through the
    // listener.
    out.assert_failed_with(&format!(
        "backup of {} ({}:{}) failed",
        replica.name, replica.host, replica.port
    ));
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap();
    let program = if receiver == "socat" {
        "socat"
    } else {
        "dbagent receive"
    };
    assert!(
        error.contains(program) && error.contains(&format!("from {} to port", replica.host)),
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
    assert_eq!(store.trash(), vec![name.clone()]);
    check_backup(&sb, &store, &good, BackupType::Full, (from, to), false);
    // Killed mid-stream: some of the server's stream, not all of it.
    let whole = std::fs::metadata(
        store
            .dir
            .join(&good)
            .join(&server_dir)
            .join("backup.xbsteam"),
    )
    .unwrap()
    .len();
    assert!(
        arrived > 0 && arrived < whole,
        "{arrived} bytes had arrived of a {whole}-byte stream"
    );
}
