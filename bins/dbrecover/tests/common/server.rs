//! A private `mariadbd` on a restored data directory (socket only, no
//! grant tables, as root), stopped on drop even when the test failed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::poll::Poll;

/// A running check server.
pub struct CheckServer {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl CheckServer {
    /// Starts `mariadbd` on `data` with its socket, pid file and log in
    /// `dir` (created); waits until it answers.
    pub fn start(data: &Path, dir: &Path) -> CheckServer {
        assert!(
            data.join("ibdata1").exists(),
            "{} is not a restored data directory",
            data.display()
        );
        std::fs::create_dir_all(dir).unwrap();
        let program = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mariadbd");
        let socket = dir.join("s.sock");
        let log = dir.join("mysqld.err");
        let child = Command::new(program)
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg("--skip-networking")
            .arg("--skip-grant-tables")
            .arg("--skip-slave-start")
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=64M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = CheckServer {
            child,
            socket,
            dir: dir.to_path_buf(),
        };
        let started = Poll::within(Duration::from_secs(60))
            .every(Duration::from_millis(100))
            .until("the check server's ping", || {
                if server.admin("ping") {
                    return Ok(Some(()));
                }
                match server.child.try_wait() {
                    Ok(Some(exited)) => Err(format!("it exited: {exited}")),
                    _ => Ok(None),
                }
            });
        if let Err(e) = started {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            panic!(
                "the check server on {} did not start ({e}); its log ends:\n{}",
                data.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        server
    }

    fn admin(&self, what: &str) -> bool {
        Command::new("mariadb-admin")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--connect-timeout=5")
            .arg(what)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs one query, returning its rows as tab-separated lines.
    pub fn query(&self, q: &str) -> Vec<String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--batch")
            .arg("--skip-column-names")
            .arg("-e")
            .arg(q)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{q} on the check server in {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The ids in `<db>.t`.
    pub fn ids(&self, db: &str) -> BTreeSet<u64> {
        self.query(&format!("SELECT id FROM {db}.t"))
            .iter()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }
}

impl Drop for CheckServer {
    fn drop(&mut self) {
        let within = if self.admin("shutdown") { 60 } else { 0 };
        // Killed and reaped if it did not stop by then.
        let _ = Poll::within(Duration::from_secs(within))
            .every(Duration::from_millis(100))
            .child("the check server's shutdown", &mut self.child);
    }
}
