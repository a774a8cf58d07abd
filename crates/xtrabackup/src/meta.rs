//! The metadata files a backup stream carries: `xtrabackup_checkpoints`
//! (what kind of backup, which LSN range) and `xtrabackup_binlog_info`
//! (the binlog position; trusted over what InnoDB prints at prepare).
//! Recovery reads them from the extracted directories to check a chain.

use crate::error::Error;
use crate::types::{BinlogPosition, Lsn};

/// `xtrabackup_checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoints {
    /// `full-backuped`, `incremental`, `full-prepared`, `log-applied`.
    pub backup_type: String,
    /// Where the backup starts (0 for a full).
    pub from_lsn: Lsn,
    /// The checkpoint the backup is consistent from: the next
    /// incremental's `--incremental-lsn`.
    pub to_lsn: Lsn,
    /// The last LSN copied, when the file says.
    pub last_lsn: Option<Lsn>,
}

impl Checkpoints {
    /// Parses the `key = value` lines.
    pub fn parse(text: &str) -> Result<Checkpoints, Error> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim())
        };
        let lsn = |key: &str| -> Result<Lsn, Error> {
            get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::Parse {
                    what: "xtrabackup_checkpoints".into(),
                    detail: format!("no numeric {key}"),
                })
        };
        Ok(Checkpoints {
            backup_type: get("backup_type")
                .ok_or_else(|| Error::Parse {
                    what: "xtrabackup_checkpoints".into(),
                    detail: "no backup_type".into(),
                })?
                .to_owned(),
            from_lsn: lsn("from_lsn")?,
            to_lsn: lsn("to_lsn")?,
            last_lsn: get("last_lsn").and_then(|v| v.parse().ok()),
        })
    }

    /// Whether this is an incremental that can be applied on `base` (its
    /// start is not after the base's end: nothing in between is missing).
    pub fn applies_on(&self, base: &Checkpoints) -> bool {
        self.backup_type == "incremental" && self.from_lsn <= base.to_lsn
    }
}

/// Parses `xtrabackup_binlog_info`: `file<TAB>position[<TAB>gtid]`, the
/// GTID set possibly continued on following lines (MySQL).
pub fn parse_binlog_info(text: &str) -> Result<BinlogPosition, Error> {
    let bad = |detail: &str| Error::Parse {
        what: "xtrabackup_binlog_info".into(),
        detail: detail.into(),
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().ok_or_else(|| bad("the file is empty"))?;
    let mut cols = first.split('\t');
    let file = cols.next().unwrap_or_default().trim();
    let position = cols
        .next()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| bad("no numeric position"))?;
    if file.is_empty() {
        return Err(bad("no binlog file name"));
    }
    let gtid = cols.next().map(|g| {
        let mut g = g.trim().to_owned();
        for more in lines {
            g.push_str(more.trim());
        }
        g
    });
    Ok(BinlogPosition {
        file: file.to_owned(),
        position,
        gtid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_chain() {
        let full = Checkpoints::parse(
            "backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 44744\nlast_lsn = 49021\n",
        )
        .unwrap();
        assert_eq!(full.to_lsn, Lsn(44744));
        assert_eq!(full.last_lsn, Some(Lsn(49021)));
        let inc =
            Checkpoints::parse("backup_type = incremental\nfrom_lsn = 44744\nto_lsn = 50000\n")
                .unwrap();
        assert!(inc.applies_on(&full));
        assert!(!full.applies_on(&inc));
        let gap = Checkpoints {
            from_lsn: Lsn(44745),
            ..inc
        };
        assert!(!gap.applies_on(&full));
        assert!(Checkpoints::parse("backup_type = full\n").is_err());
    }

    #[test]
    fn binlog_info_shapes() {
        let b = parse_binlog_info("mysql-bin.000001\t42918344\t0-11-56\n").unwrap();
        assert_eq!(
            (b.file.as_str(), b.position, b.gtid.as_deref()),
            ("mysql-bin.000001", 42918344, Some("0-11-56"))
        );
        let b = parse_binlog_info("binlog.000002\t1234\taaa:1-5,\nbbb:1-3\n").unwrap();
        assert_eq!(b.gtid.as_deref(), Some("aaa:1-5,bbb:1-3"));
        assert_eq!(
            parse_binlog_info("master-bin.000001\t6756\n").unwrap().gtid,
            None
        );
        assert!(parse_binlog_info("").is_err());
        assert!(parse_binlog_info("x\ty\n").is_err());
    }
}
