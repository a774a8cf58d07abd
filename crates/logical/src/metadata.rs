//! mydumper's `metadata` file: the binlog position the dump is consistent
//! with (`SHOW MASTER STATUS:`) and, on a replica, its master's
//! (`SHOW SLAVE STATUS:`), as the catalog's `master_status` /
//! `slave_status` record them (`file,position,gtid` and
//! `host,file,position,gtid`, or `Not a slave`).

use catalog::history::NOT_A_SLAVE;

/// What a `metadata` file says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `Started dump at:`.
    pub started: Option<String>,
    /// `Finished dump at:` (absent: the dump did not finish).
    pub finished: Option<String>,
    /// The master status block: `Log`, `Pos`, `GTID`.
    pub master: Option<Position>,
    /// The slave status block (on a replica).
    pub slave: Option<Position>,
}

/// One status block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    /// `Host:` (slave block only).
    pub host: Option<String>,
    /// `Log:`.
    pub log: String,
    /// `Pos:`.
    pub pos: String,
    /// `GTID:` (may be empty).
    pub gtid: String,
}

impl Metadata {
    /// Parses the file's text; unknown lines are ignored.
    pub fn parse(text: &str) -> Metadata {
        let mut m = Metadata::default();
        let mut block: Option<&mut Position> = None;
        for line in text.lines() {
            let t = line.trim();
            if let Some(v) = t.strip_prefix("Started dump at:") {
                m.started = Some(v.trim().to_owned());
                block = None;
            } else if let Some(v) = t.strip_prefix("Finished dump at:") {
                m.finished = Some(v.trim().to_owned());
                block = None;
            } else if t.starts_with("SHOW MASTER STATUS") {
                block = Some(m.master.insert(Position::default()));
            } else if t.starts_with("SHOW SLAVE STATUS") {
                // Only the first replication connection is recorded.
                block = if m.slave.is_none() {
                    Some(m.slave.insert(Position::default()))
                } else {
                    None
                };
            } else if let Some(p) = block.as_deref_mut()
                && let Some((k, v)) = t.split_once(':')
            {
                let v = v.trim().to_owned();
                match k.trim() {
                    "Host" => p.host = Some(v),
                    "Log" => p.log = v,
                    "Pos" => p.pos = v,
                    "GTID" => p.gtid = v,
                    _ => {}
                }
            }
        }
        m
    }

    /// `master_status`: `file,position,gtid` (the seed's
    /// `mysql-bin.000036,61286,`); empty when the block is absent.
    pub fn master_status(&self) -> String {
        self.master
            .as_ref()
            .map(|p| format!("{},{},{}", p.log, p.pos, p.gtid))
            .unwrap_or_default()
    }

    /// `slave_status`: `host,file,position,gtid`, or `Not a slave`.
    pub fn slave_status(&self) -> String {
        match &self.slave {
            None => NOT_A_SLAVE.to_owned(),
            Some(p) => format!(
                "{},{},{},{}",
                p.host.as_deref().unwrap_or(""),
                p.log,
                p.pos,
                p.gtid
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_and_a_replica() {
        let master = "Started dump at: 2026-12-04 17:20:17\nSHOW MASTER STATUS:\n\tLog: mysql-bin.000036\n\tPos: 61286\n\tGTID:\n\nFinished dump at: 2026-12-04 17:20:18\n";
        let m = Metadata::parse(master);
        assert_eq!(m.master_status(), "mysql-bin.000036,61286,");
        assert_eq!(m.slave_status(), "Not a slave");
        assert_eq!(m.finished.as_deref(), Some("2026-12-04 17:20:18"));
        let replica = "Started dump at: 2026-12-04 17:20:19\nSHOW MASTER STATUS:\n\tLog: mysql-bin.000001\n\tPos: 328\n\tGTID:0-1-5\n\n\
                       SHOW SLAVE STATUS:\n\tConnection name: \n\tHost: 127.0.0.11\n\tLog: mysql-bin.000002\n\tPos: 900\n\tGTID:0-1-5\n\n";
        let m = Metadata::parse(replica);
        assert_eq!(m.master_status(), "mysql-bin.000001,328,0-1-5");
        assert_eq!(m.slave_status(), "127.0.0.11,mysql-bin.000002,900,0-1-5");
        assert_eq!(m.finished, None);
    }
}
