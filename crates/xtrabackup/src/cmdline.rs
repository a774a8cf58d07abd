//! Finding the server's option file from its process command line.
//!
//! The backup must read the same option file the server was started with
//! (`--defaults-file=` on its command line), so the seed reads the pid file
//! and greps `ps`. Here: a remote command prints `/proc/<pid>/cmdline`
//! (NUL-separated, exact even with spaces in paths) from the pid file, or
//! `ss` names the process listening on `host:port`; pure functions parse
//! what they print. `ps -o args` / `ps -ef` text is accepted too (split on
//! whitespace, so paths with spaces only survive the NUL form).

use crate::error::Error;
use remote::{Command, quote};

/// A server process's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCmdline {
    /// The words, program first.
    pub words: Vec<String>,
}

impl ServerCmdline {
    /// Parses `/proc/<pid>/cmdline` bytes (NUL-separated) or `ps` text.
    /// For `ps -ef` lines the leading columns are skipped up to the first
    /// word naming `mysqld`/`mariadbd`.
    pub fn parse(text: &str) -> ServerCmdline {
        let words: Vec<String> = if text.contains('\0') {
            text.split('\0')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            text.split_whitespace().map(str::to_owned).collect()
        };
        let start = words.iter().position(|w| is_server_program(w)).unwrap_or(0);
        ServerCmdline {
            words: words[start..].to_vec(),
        }
    }

    /// Whether the program is a MySQL/MariaDB server (`mysqld`,
    /// `mariadbd`, by base name; not `mysqld_safe`).
    pub fn is_server(&self) -> bool {
        self.words.first().is_some_and(|w| is_server_program(w))
    }

    /// The value of `--defaults-file=` (or `--defaults-file F`).
    pub fn defaults_file(&self) -> Option<&str> {
        let mut it = self.words.iter().skip(1);
        while let Some(w) = it.next() {
            if let Some(v) = w.strip_prefix("--defaults-file=") {
                return Some(v);
            }
            if w == "--defaults-file" {
                return it.next().map(String::as_str);
            }
        }
        None
    }
}

fn is_server_program(word: &str) -> bool {
    let base = word.rsplit('/').next().unwrap_or(word);
    base == "mysqld" || base == "mariadbd"
}

/// A command printing the NUL-separated command line of the process whose
/// pid is in `pid_file` (the server's `@@pid_file`).
pub fn cmdline_from_pid_file(pid_file: &str) -> Command {
    Command::shell(format!(
        "pid=$(cat {}) && cat /proc/\"$pid\"/cmdline",
        quote(pid_file)
    ))
}

/// A command printing the NUL-separated command line of process `pid`.
pub fn cmdline_of_pid(pid: u32) -> Command {
    Command::new("cat").arg(format!("/proc/{pid}/cmdline"))
}

/// A command listing the TCP listeners on `port` with their processes
/// (`ss -Hltnp`). The process column is only filled for processes the
/// caller may inspect: root, or the server's own user when the server was
/// not started as root (a server that drops privileges with `--user`
/// hides its fds even from that user).
pub fn listeners_on_port(port: u16) -> Command {
    Command::new("ss")
        .arg("-Hltnp")
        .arg(format!("sport = :{port}"))
}

/// The pid listening on `host:port` in `ss -Hltnp` output; a wildcard
/// listener (`0.0.0.0`, `*`, `[::]`) matches any host.
pub fn pid_listening_on(ss_output: &str, host: &str, port: u16) -> Result<u32, Error> {
    let wanted = format!("{host}:{port}");
    let wildcards = [
        format!("0.0.0.0:{port}"),
        format!("*:{port}"),
        format!("[::]:{port}"),
    ];
    let mut wildcard_pid = None;
    for line in ss_output.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let Some(local) = cols.get(3) else { continue };
        let Some(pid) = line
            .split("pid=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok())
        else {
            continue;
        };
        if *local == wanted {
            return Ok(pid);
        }
        if wildcards.iter().any(|w| w == local) {
            wildcard_pid.get_or_insert(pid);
        }
    }
    wildcard_pid.ok_or_else(|| Error::NotFound {
        host: wanted.clone(),
        what: format!(
            "no process visible listening on {wanted} (ss shows pids only to root or the process's user)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cmdline_keeps_spaces() {
        let c = ServerCmdline::parse("mariadbd\0--defaults-file=/a b/my.cnf\0--port=1\0");
        assert!(c.is_server());
        assert_eq!(c.defaults_file(), Some("/a b/my.cnf"));
    }

    #[test]
    fn ps_ef_line_from_seed_000() {
        let line = "mysql    17177 15793  1 Feb04 ?        07:00:39 /data/app/mysql-8.0.26/bin/mysqld --defaults-file=/data/mysqldata/16315fff-7500-4291-89ce-6c50ebca1c3c/my16315.conf --basedir=/data/app/mysql-8.0.26 --port=16315\n";
        let c = ServerCmdline::parse(line);
        assert!(c.is_server());
        assert_eq!(
            c.defaults_file(),
            Some("/data/mysqldata/16315fff-7500-4291-89ce-6c50ebca1c3c/my16315.conf")
        );
    }

    #[test]
    fn separate_value_and_absence() {
        assert_eq!(
            ServerCmdline::parse("mysqld --defaults-file /x.cnf").defaults_file(),
            Some("/x.cnf")
        );
        let c = ServerCmdline::parse("/usr/bin/mysqld_safe --datadir=/d");
        assert!(!c.is_server());
        assert_eq!(c.defaults_file(), None);
    }

    #[test]
    fn ss_output_picks_the_address() {
        let out = "LISTEN 0 110 127.0.0.11:16315 0.0.0.0:* users:((\"mariadbd\",pid=24759,fd=24))\nLISTEN 0 110 127.0.0.12:16315 0.0.0.0:* users:((\"mariadbd\",pid=24777,fd=24))\n";
        assert_eq!(pid_listening_on(out, "127.0.0.12", 16315).unwrap(), 24777);
        let any = "LISTEN 0 80 0.0.0.0:3306 0.0.0.0:* users:((\"mysqld\",pid=9,fd=3))\n";
        assert_eq!(pid_listening_on(any, "10.0.0.1", 3306).unwrap(), 9);
        let hidden = "LISTEN 0 110 127.0.0.12:16315 0.0.0.0:*\n";
        let e = pid_listening_on(hidden, "127.0.0.12", 16315).unwrap_err();
        assert!(e.to_string().contains("127.0.0.12:16315"), "{e}");
    }

    #[test]
    fn pid_file_command_quotes_the_path() {
        let c = cmdline_from_pid_file("/d d/x.pid");
        assert_eq!(
            c.argv().1,
            [
                "-c",
                "pid=$(cat '/d d/x.pid') && cat /proc/\"$pid\"/cmdline"
            ]
        );
    }
}
