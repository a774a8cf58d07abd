//! Shared helpers of the sandbox tests: ssh transports as the login user,
//! SQL clients, unique names.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use remote::{Command, Ssh, SshConfig, Transport};
use router::{Client, Endpoint};
use testkit::{Sandbox, Server};

pub use testkit::unique;

/// An ssh transport to `host` as the sandbox login user (key login).
pub fn ssh(sb: &Sandbox, host: &str, state: &tempfile::TempDir) -> Ssh {
    let mut cfg = SshConfig::new(sb.var("LOGIN_USER"), state.path());
    cfg.port = sb.var("SSH_PORT").parse().unwrap();
    cfg.key = Some(sb.var("SSH_KEY").into());
    Ssh::new(host, cfg)
}

/// The router-crate endpoint of a sandbox server (backend user).
pub fn endpoint(sb: &Sandbox, server: &Server) -> Endpoint {
    let e = sb.mysql(server);
    Endpoint::new(e.host, e.port, e.user, e.password)
}

/// Connects to a sandbox server.
pub async fn sql(sb: &Sandbox, server: &Server) -> Client {
    testkit::sql::connect(&sb.mysql(server)).await
}

pub use testkit::sql::first_value as value;

/// `(row count, CHECKSUM TABLE)` of `table`.
pub async fn fingerprint(c: &mut Client, table: &str) -> (String, String) {
    let count = value(c, &format!("SELECT COUNT(*) FROM {table}")).await;
    let rows = c.query(&format!("CHECKSUM TABLE {table}")).await.unwrap();
    let sum = rows[0].column("Checksum").flatten().unwrap().to_owned();
    (count, sum)
}

/// Runs a command on `t`, panicking with its stderr unless it succeeds.
pub async fn sh(t: &dyn Transport, cmd: &Command) -> String {
    let out = t.exec(cmd, Duration::from_secs(300)).await.unwrap();
    assert!(out.success(), "{} failed: {}", cmd.name(), out.stderr_str());
    out.stdout_str()
}

/// Waits (bounded) until `replica` has applied the master's current
/// binlog GTID position.
pub async fn wait_caught_up(master: &mut Client, replica: &mut Client) {
    let pos = value(master, "SELECT @@gtid_binlog_pos").await;
    let r = value(replica, &format!("SELECT MASTER_GTID_WAIT('{pos}', 60)")).await;
    assert_eq!(r, "0", "replica did not reach {pos}");
}

pub use testkit::catch_panic;
