//! Room for the snapshot on every DR host. The seed refuses above 45 %
//! used; here the snapshot's size is measured (the largest DR data
//! directory: any DR replica may become the donor) and each DR server's
//! file system must hold it plus a margin (`snapshot-margin-percent`). The
//! snapshot is written beside the server's data directory, so that is the
//! file system measured. Servers sharing a file system are each checked
//! alone.

use super::servers::ServerAnswer;
use super::{Check, CheckName, Failure};
use crate::cluster::host;
use remote::{Command, Connector, Login};
use std::time::Duration;

/// One DR server's data directory: its size and its file system's room.
struct Measured {
    used_bytes: u64,
    free_bytes: u64,
    mount: String,
}

/// One line per DR server.
pub(crate) async fn check_all(
    dr: &[ServerAnswer],
    login: &Login,
    hosts: &Connector,
    margin_percent: u32,
    timeout: Duration,
) -> Vec<Check> {
    let measured = futures::future::join_all(
        dr.iter()
            .map(|server| measure(server, login, hosts, timeout)),
    )
    .await;
    let snapshot = measured
        .iter()
        .filter_map(|m| m.as_ref().ok())
        .map(|m| m.used_bytes)
        .max()
        .unwrap_or(0);
    let needed = snapshot.saturating_mul(100 + u64::from(margin_percent)) / 100;
    dr.iter()
        .zip(measured)
        .map(|(server, m)| {
            let subject = format!("{} {}", server.name, server.host);
            let result = m.and_then(|m| {
                if m.free_bytes >= needed {
                    Ok(format!(
                        "{} free on {} for {} ({} measured + {margin_percent} %)",
                        super::human(m.free_bytes),
                        m.mount,
                        super::human(needed),
                        super::human(snapshot)
                    ))
                } else {
                    Err(Failure::NotEnoughDisk {
                        host: server.host.clone(),
                        path: server.datadir.clone(),
                        free_bytes: m.free_bytes,
                        needed_bytes: needed,
                        snapshot_bytes: snapshot,
                        margin_percent,
                    })
                }
            });
            Check::from_result(CheckName::Disk, subject, result)
        })
        .collect()
}

async fn measure(
    server: &ServerAnswer,
    login: &Login,
    hosts: &Connector,
    timeout: Duration,
) -> Result<Measured, Failure> {
    let transport = host(hosts, &server.host, login)?;
    let failure = |what: &str, cause: String| Failure::Measure {
        host: server.host.clone(),
        what: format!("{what} {}", server.datadir),
        cause,
    };
    let du = Command::new("du").args(["-sk", &server.datadir]);
    let out = transport
        .exec(&du, timeout)
        .await
        .map_err(|e| failure("du", e.to_string()))?;
    // du exits 1 when a file vanished while it walked: its total stands.
    let used_kib = parse_du(&out.stdout_str())
        .ok_or_else(|| failure("du", out.stderr_str().trim().to_owned()))?;
    let df = Command::new("df").args(["-Pk", &server.datadir]);
    let out = transport
        .exec(&df, timeout)
        .await
        .map_err(|e| failure("df", e.to_string()))?;
    let (free_kib, mount) = parse_df(&out.stdout_str())
        .filter(|_| out.success())
        .ok_or_else(|| failure("df", out.stderr_str().trim().to_owned()))?;
    Ok(Measured {
        used_bytes: used_kib.saturating_mul(1024),
        free_bytes: free_kib.saturating_mul(1024),
        mount,
    })
}

/// `du -sk`: `<KiB>\t<path>`.
fn parse_du(text: &str) -> Option<u64> {
    text.lines().last()?.split_whitespace().next()?.parse().ok()
}

/// `df -Pk`: the last line's available KiB (4th field) and mount point
/// (6th field on; it may hold spaces).
fn parse_df(text: &str) -> Option<(u64, String)> {
    let line = text.lines().skip(1).last()?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let free = fields.get(3)?.parse().ok()?;
    let mount = fields.get(5..).filter(|m| !m.is_empty())?.join(" ");
    Some((free, mount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn du_and_df_outputs() {
        assert_eq!(parse_du("123456\t/var/lib/mysql/\n"), Some(123_456));
        assert_eq!(
            parse_du("du: cannot access 'x': No such file\n88\t/d\n"),
            Some(88)
        );
        assert_eq!(parse_du(""), None);
        let df = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                  /dev/sda4        102626232 16000000  82000000      17% /data dir\n";
        assert_eq!(parse_df(df), Some((82_000_000, "/data dir".to_owned())));
        assert_eq!(parse_df("Filesystem 1024-blocks\n"), None);
        assert_eq!(parse_df("only a header\n"), None);
    }
}
