//! The machine's processes as the tests see them through `/proc`: listing
//! with parent and command line, and a watcher that records every command
//! line matching a test while a run goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One process.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its arguments joined by spaces.
    pub cmdline: String,
}

impl Proc {
    /// Whether it still runs (exists and is not a zombie).
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|st| {
            // `pid (comm) state ...`; comm may hold spaces and parentheses.
            st.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
    }

    /// Sends `signal` (`-KILL`, `-TERM`) to it alone.
    pub fn signal(&self, signal: &str) {
        let _ = std::process::Command::new("kill")
            .arg(signal)
            .arg(self.pid.to_string())
            .status();
    }
}

/// Every process but the test itself (kernel threads have empty command
/// lines and are left out).
pub fn all() -> Vec<Proc> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut procs = Vec::new();
    for entry in entries.flatten() {
        match read(&entry.path()) {
            Some(p) if p.pid != me && !p.cmdline.is_empty() => procs.push(p),
            _ => {}
        }
    }
    procs
}

/// The process of a `/proc/<pid>` directory (`None` for other entries and
/// for a process that ended meanwhile).
fn read(dir: &std::path::Path) -> Option<Proc> {
    let pid: u32 = dir.file_name()?.to_str()?.parse().ok()?;
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let (_, fields) = stat.rsplit_once(')')?;
    let ppid = fields.split_whitespace().nth(1)?.parse().ok()?;
    let raw = std::fs::read(dir.join("cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(Proc {
        pid,
        ppid,
        cmdline: args.join(" "),
    })
}

/// Whether a command line runs mariabackup, by name or by a path
/// (`xtrabackup-bin-dir` is what runs).
pub fn runs_mariabackup(cmdline: &str) -> bool {
    cmdline
        .split(' ')
        .next()
        .is_some_and(|argv0| argv0.rsplit('/').next() == Some("mariabackup"))
}

/// Processes whose command line contains `needle`.
pub fn naming(needle: &str) -> Vec<Proc> {
    all()
        .into_iter()
        .filter(|p| p.cmdline.contains(needle))
        .collect()
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<Proc> {
    all().into_iter().filter(|p| p.ppid == parent).collect()
}

/// `root` and every process below it.
pub fn tree(root: u32) -> Vec<Proc> {
    let procs = all();
    let mut found: Vec<Proc> = procs.iter().filter(|p| p.pid == root).cloned().collect();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].pid;
        found.extend(procs.iter().filter(|p| p.ppid == parent).cloned());
        i += 1;
    }
    found
}

/// Records, every 10 ms until finished, the distinct command lines that
/// match a predicate.
pub struct Watch {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<String>>,
}

impl Watch {
    /// Starts watching for command lines `matches` accepts.
    pub fn start(matches: impl Fn(&str) -> bool + Send + 'static) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen: Vec<String> = Vec::new();
            while !s.load(Ordering::Relaxed) {
                for p in all() {
                    if matches(&p.cmdline) && !seen.contains(&p.cmdline) {
                        seen.push(p.cmdline);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        });
        Watch { stop, handle }
    }

    /// Stops; the command lines seen.
    pub fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}
