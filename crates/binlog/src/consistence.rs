//! The `cluster_consistence_info` file: the global consistence point of a backup.
//!
//! One tab-separated line per backed-up server (seed 000, recorded; `→` is a tab here):
//!
//! ```text
//! 172.17.134.71:16315 → normal_0_0 → greatdb-bin.000041 → 631 → belong-to-datasource=normal_0 → xb-to-lsn=21694916 → xb-to-binlog-name=greatdb-bin.000041 → xb-to-binlog-pos=4
//! ```
//!
//! Fields: `host:port`, server, the consistence point of the server's
//! datasource as a position in its *master's* binlog (file, pos), the
//! datasource, the InnoDB LSN the physical backup reached (the base of the
//! next incremental), and where replay must start for this server's data:
//! for a backed-up master its own position at the end of xtrabackup, for a
//! slave the master's `Relay_Master_Log_File` at position 4 (replay then skips
//! what the slave already executed by GTID).
//!
//! Extra `key=value` fields after these eight are kept in order and written
//! back (seed 001 reads only the first eight). One is understood:
//! `point-gtid=` the GTID state of the master at the consistence point.
//! Reading is lenient about one seed quirk: when xtrabackup prints no GTID,
//! the seed leaves a `'` after the position (`xb-to-binlog-pos=6756'`).

use std::fmt;
use std::str::FromStr;

use crate::format::FormatError;
use crate::gtid::{GtidFlavor, GtidSet};
use crate::name::BinlogName;
use crate::server_dir::ServerDir;

const FILE: &str = "cluster_consistence_info";

/// A position in a binlog: file and byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinlogPos {
    /// The binlog file.
    pub file: BinlogName,
    /// The byte offset in it.
    pub pos: u64,
}

impl fmt::Display for BinlogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// One server's line of `cluster_consistence_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistenceLine {
    /// Host of the server.
    pub host: String,
    /// MySQL port of the server.
    pub port: u16,
    /// Dataserver name.
    pub server: String,
    /// The consistence point in the datasource master's binlog.
    pub point: BinlogPos,
    /// The datasource.
    pub datasource: String,
    /// LSN reached by the physical backup (`None` when the seed wrote it empty).
    pub xb_to_lsn: Option<u64>,
    /// Where binlog replay starts for this server's restored data.
    pub xb_to: BinlogPos,
    /// The master's GTID state at the consistence point, when recorded.
    pub point_gtid: Option<GtidSet>,
    /// Other `key=value` fields, kept in order.
    pub extra: Vec<(String, String)>,
}

impl ConsistenceLine {
    /// The server's directory name in the backup (`<ds>-<server>-<host>-<port>`).
    pub fn server_dir(&self) -> ServerDir {
        ServerDir {
            datasource: self.datasource.clone(),
            server: self.server.clone(),
            host: self.host.clone(),
            port: self.port,
        }
    }

    fn parse(line_no: usize, line: &str) -> Result<Self, FormatError> {
        let bad = |why: String| FormatError::new(FILE, line_no, line, why);
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 8 {
            return Err(bad(format!(
                "expected at least 8 tab-separated fields, found {}",
                fields.len()
            )));
        }
        let (host, port) = fields[0]
            .rsplit_once(':')
            .ok_or_else(|| bad("the first field is not host:port".into()))?;
        let port = port
            .parse()
            .map_err(|_| bad(format!("bad port {port:?}")))?;
        let name = |s: &str| s.parse::<BinlogName>().map_err(|e| bad(e.to_string()));
        let number = |what: &str, s: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(format!("bad {what} {s:?}")))
        };
        let keyed = |i: usize, key: &str| -> Result<&str, FormatError> {
            fields[i]
                .strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .ok_or_else(|| bad(format!("field {} should be {key}=...", i + 1)))
        };
        if fields[1].is_empty() {
            return Err(bad("empty server name".into()));
        }
        let lsn = keyed(5, "xb-to-lsn")?;
        let xb_pos = keyed(7, "xb-to-binlog-pos")?;
        // The seed's quirks: a trailing quote, or `, GTID ...` after the number.
        let xb_pos = xb_pos
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('\'');
        let mut point_gtid = None;
        let mut extra = Vec::new();
        for f in &fields[8..] {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| bad(format!("extra field {f:?} is not key=value")))?;
            if k == "point-gtid" {
                point_gtid = Some(parse_gtid_any(v).map_err(|e| bad(e.to_string()))?);
            } else {
                extra.push((k.to_owned(), v.to_owned()));
            }
        }
        Ok(ConsistenceLine {
            host: host.to_owned(),
            port,
            server: fields[1].to_owned(),
            point: BinlogPos {
                file: name(fields[2])?,
                pos: number("position", fields[3])?,
            },
            datasource: keyed(4, "belong-to-datasource")?.to_owned(),
            xb_to_lsn: if lsn.is_empty() {
                None
            } else {
                Some(number("xb-to-lsn", lsn)?)
            },
            xb_to: BinlogPos {
                file: name(keyed(6, "xb-to-binlog-name")?)?,
                pos: number("xb-to-binlog-pos", xb_pos)?,
            },
            point_gtid,
            extra,
        })
    }
}

/// A MySQL set has `uuid:` members, a MariaDB position never has a colon.
fn parse_gtid_any(text: &str) -> Result<GtidSet, crate::gtid::GtidError> {
    let flavor = if text.contains(':') {
        GtidFlavor::Mysql
    } else {
        GtidFlavor::Mariadb
    };
    GtidSet::parse(flavor, text)
}

impl fmt::Display for ConsistenceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}\t{}\t{}\t{}\tbelong-to-datasource={}\txb-to-lsn={}\txb-to-binlog-name={}\txb-to-binlog-pos={}",
            self.host,
            self.port,
            self.server,
            self.point.file,
            self.point.pos,
            self.datasource,
            self.xb_to_lsn.map(|l| l.to_string()).unwrap_or_default(),
            self.xb_to.file,
            self.xb_to.pos,
        )?;
        if let Some(g) = &self.point_gtid {
            write!(f, "\tpoint-gtid={g}")?;
        }
        for (k, v) in &self.extra {
            write!(f, "\t{k}={v}")?;
        }
        Ok(())
    }
}

/// Parsed `cluster_consistence_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsistenceInfo {
    /// The lines, in file order.
    pub lines: Vec<ConsistenceLine>,
}

impl ConsistenceInfo {
    /// The line of `server`.
    pub fn line(&self, server: &str) -> Option<&ConsistenceLine> {
        self.lines.iter().find(|l| l.server == server)
    }

    /// The datasources, in order of first appearance.
    pub fn datasources(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in &self.lines {
            if !out.contains(&l.datasource.as_str()) {
                out.push(&l.datasource);
            }
        }
        out
    }

    /// The lines of `datasource`'s servers.
    pub fn of_datasource(&self, datasource: &str) -> Vec<&ConsistenceLine> {
        self.lines
            .iter()
            .filter(|l| l.datasource == datasource)
            .collect()
    }
}

impl FromStr for ConsistenceInfo {
    type Err = FormatError;

    /// Parses the file; blank lines are ignored, a duplicate server is an error.
    fn from_str(content: &str) -> Result<Self, Self::Err> {
        let mut lines: Vec<ConsistenceLine> = Vec::new();
        for (i, line) in content.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let parsed = ConsistenceLine::parse(i + 1, line)?;
            if lines.iter().any(|l| l.server == parsed.server) {
                return Err(FormatError::new(
                    FILE,
                    i + 1,
                    line,
                    format!("server {} appears twice", parsed.server),
                ));
            }
            lines.push(parsed);
        }
        Ok(ConsistenceInfo { lines })
    }
}

impl fmt::Display for ConsistenceInfo {
    /// The file content as the seed writes it: lines joined by newlines, one final newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded in seed 000 (backup_global_consistence_point).
    const SEED_FULL: &str = "172.17.134.71:16315\tnormal_0_0\tgreatdb-bin.000041\t631\tbelong-to-datasource=normal_0\txb-to-lsn=21694916\txb-to-binlog-name=greatdb-bin.000041\txb-to-binlog-pos=4\n";
    /// Recorded in seed 000 (get_dataserver_start_stop_binlog).
    const SEED_INC: &str = "172.17.134.71:16315\tnormal_0_0\tgreatdb-bin.000044\t426751689\tbelong-to-datasource=normal_0\txb-to-lsn=2041207873\txb-to-binlog-name=greatdb-bin.000043\txb-to-binlog-pos=4";
    /// Recorded in seed 000 (confirm_backup_type, a backed-up master).
    const SEED_AUTH: &str = "192.168.122.110:13004\tauth_server\tmaster-bin.000001\t724\tbelong-to-datasource=auth\txb-to-lsn=1359021\txb-to-binlog-name=master-bin.000001\txb-to-binlog-pos=724";

    #[test]
    fn parses_the_seed_lines_into_typed_fields() {
        let info: ConsistenceInfo = SEED_FULL.parse().unwrap();
        let l = &info.lines[0];
        assert_eq!(
            (l.host.as_str(), l.port, l.server.as_str()),
            ("172.17.134.71", 16315, "normal_0_0")
        );
        assert_eq!(l.point.to_string(), "greatdb-bin.000041:631");
        assert_eq!(l.datasource, "normal_0");
        assert_eq!(l.xb_to_lsn, Some(21694916));
        assert_eq!(l.xb_to.to_string(), "greatdb-bin.000041:4");
        assert_eq!(
            l.server_dir().to_string(),
            "normal_0-normal_0_0-172.17.134.71-16315"
        );
        assert_eq!(info.to_string(), SEED_FULL);
    }

    #[test]
    fn round_trips_several_lines_byte_for_byte() {
        let text = format!("{SEED_AUTH}\n{SEED_INC}\n");
        let info: ConsistenceInfo = text.parse().unwrap();
        assert_eq!(info.lines.len(), 2);
        assert_eq!(info.to_string(), text);
        assert_eq!(info.datasources(), ["auth", "normal_0"]);
        assert_eq!(info.line("auth_server").unwrap().xb_to.pos, 724);
        assert_eq!(info.of_datasource("normal_0").len(), 1);
        assert!(info.line("nobody").is_none());
    }

    #[test]
    fn keeps_extra_fields_and_reads_point_gtid() {
        let text = format!("{SEED_AUTH}\tpoint-gtid=0-1-7,1-2-30\tfuture=x\n");
        let info: ConsistenceInfo = text.parse().unwrap();
        let l = &info.lines[0];
        assert_eq!(
            l.point_gtid.as_ref().map(|g| g.flavor()),
            Some(GtidFlavor::Mariadb)
        );
        assert_eq!(l.extra, [("future".to_owned(), "x".to_owned())]);
        assert_eq!(info.to_string(), text);
        let my = format!("{SEED_AUTH}\tpoint-gtid=3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5\n");
        let info: ConsistenceInfo = my.parse().unwrap();
        assert_eq!(
            info.lines[0].point_gtid.as_ref().map(|g| g.flavor()),
            Some(GtidFlavor::Mysql)
        );
    }

    #[test]
    fn tolerates_the_seed_position_quirks_and_an_empty_lsn() {
        let quirk = SEED_AUTH
            .replace("xb-to-binlog-pos=724", "xb-to-binlog-pos=6756'")
            .replace("xb-to-lsn=1359021", "xb-to-lsn=");
        let info: ConsistenceInfo = quirk.parse().unwrap();
        assert_eq!(info.lines[0].xb_to.pos, 6756);
        assert_eq!(info.lines[0].xb_to_lsn, None);
        assert!(info.to_string().contains("xb-to-binlog-pos=6756\n"));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            ("a\tb\n", "at least 8"),
            (
                &SEED_AUTH.replace("192.168.122.110:13004", "nohost") as &str,
                "host:port",
            ),
            (&SEED_AUTH.replace("\t724\t", "\tx\t"), "bad position"),
            (
                &SEED_AUTH.replace("belong-to-datasource", "ds"),
                "belong-to-datasource=",
            ),
            (
                &SEED_AUTH.replace("master-bin.000001\t724", "nope\t724"),
                "invalid binlog file name",
            ),
            (&format!("{SEED_AUTH}\tjunk"), "key=value"),
            (&format!("{SEED_AUTH}\tpoint-gtid=0-1"), "GTID"),
            (&format!("{SEED_AUTH}\n{SEED_AUTH}"), "twice"),
        ];
        for (text, why) in cases {
            let e = text.parse::<ConsistenceInfo>().unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(
                e.to_string().starts_with("cluster_consistence_info line"),
                "{e}"
            );
        }
        let e = format!("\n{SEED_AUTH}\nbad")
            .parse::<ConsistenceInfo>()
            .unwrap_err();
        assert_eq!(e.line, 3);
    }
}
