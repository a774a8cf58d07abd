//! The GTIDs logged before a binlog file, read from the file's head: the
//! MariaDB `Gtid_list` event or the MySQL `Previous_gtids` event that
//! follows the format description event at the start of every binlog (v4).
//!
//! Recovery needs it for one question: does a master's binlog begin at the
//! beginning of its history (an empty list), so that replaying it from its
//! start is exact for data that holds no transaction? Pure: the caller reads
//! the first bytes of the file (see [`HEAD_BYTES`]) and passes them in.

use crate::gtid::{GtidSet, MariadbGtidPos, MysqlGtidSet, ServerUuid};

/// How many bytes of a binlog to read for [`gtids_before`]: the format
/// description event (about 250 bytes) and a GTID list of thousands of
/// domains or uuid intervals.
pub const HEAD_BYTES: usize = 256 * 1024;

const MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];
const HEADER_LEN: usize = 19;
const ROTATE: u8 = 4;
const FORMAT_DESCRIPTION: u8 = 15;
const PREVIOUS_GTIDS: u8 = 35;
const BINLOG_CHECKPOINT: u8 = 161;
const GTID_LIST: u8 = 163;
const START_ENCRYPTION: u8 = 164;
/// Events a binlog's head may hold before its GTID list.
const BEFORE_THE_LIST: [u8; 3] = [FORMAT_DESCRIPTION, ROTATE, BINLOG_CHECKPOINT];
/// The GTID list is among a binlog's first few events.
const MAX_HEAD_EVENTS: usize = 8;

/// Why no GTID list could be read from a binlog's head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The bytes do not start with the binlog magic number.
    #[error("not a binlog (no binlog magic number at its start)")]
    NotABinlog,
    /// The bytes end inside the head.
    #[error("the file ends at byte {at}, inside its head")]
    Truncated {
        /// Where the bytes ended.
        at: usize,
    },
    /// The events after the magic number are not what a binlog head holds.
    #[error("malformed event at byte {at}: {why}")]
    Malformed {
        /// The event's offset.
        at: usize,
        /// What is wrong.
        why: String,
    },
    /// The binlog is encrypted (MariaDB `Start_encryption` event).
    #[error("the binlog is encrypted")]
    Encrypted,
    /// An event that follows the GTID list came first: the binlog has none.
    #[error("no GTID list before the event of type {event_type} at byte {at}")]
    NoGtidList {
        /// The event's type code.
        event_type: u8,
        /// Its offset.
        at: usize,
    },
}

/// The GTIDs logged before the binlog whose first bytes are `bytes`: its
/// `Gtid_list` (MariaDB, as a position: per domain the highest sequence
/// number listed) or `Previous_gtids` (MySQL) event. Empty exactly when the
/// file begins the server's binlog history.
pub fn gtids_before(bytes: &[u8]) -> Result<GtidSet, HeadError> {
    if bytes.len() < MAGIC.len() {
        return Err(HeadError::Truncated { at: bytes.len() });
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(HeadError::NotABinlog);
    }
    let mut at = MAGIC.len();
    for _ in 0..MAX_HEAD_EVENTS {
        let header = bytes
            .get(at..at + HEADER_LEN)
            .ok_or(HeadError::Truncated { at: bytes.len() })?;
        let event_type = header[4];
        let size = u32::from_le_bytes([header[9], header[10], header[11], header[12]]) as usize;
        if size < HEADER_LEN {
            return Err(HeadError::Malformed {
                at,
                why: format!("event size {size} is below the header's {HEADER_LEN}"),
            });
        }
        let body = bytes
            .get(at + HEADER_LEN..at + size)
            .ok_or(HeadError::Truncated { at: bytes.len() })?;
        let malformed = |why: &str| HeadError::Malformed {
            at,
            why: why.to_owned(),
        };
        match event_type {
            GTID_LIST => return mariadb_list(body).ok_or_else(|| malformed("bad Gtid_list event")),
            PREVIOUS_GTIDS => {
                return mysql_list(body).ok_or_else(|| malformed("bad Previous_gtids event"));
            }
            START_ENCRYPTION => return Err(HeadError::Encrypted),
            t if BEFORE_THE_LIST.contains(&t) => at += size,
            t => return Err(HeadError::NoGtidList { event_type: t, at }),
        }
    }
    Err(HeadError::Malformed {
        at,
        why: format!("no GTID list in the first {MAX_HEAD_EVENTS} events"),
    })
}

/// Little-endian reads over an event body; `None` past its end.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

/// `count` (low 28 bits; the high 4 are flags), then per entry domain
/// (u32), server (u32), seq (u64).
fn mariadb_list(body: &[u8]) -> Option<GtidSet> {
    let mut b = Body(body);
    let count = b.u32()? & 0x0fff_ffff;
    // Each entry takes 16 bytes: a count the body cannot hold is damage.
    if body.len() < 4 + 16 * count as usize {
        return None;
    }
    let mut pos = MariadbGtidPos::new();
    for _ in 0..count {
        let (domain, server, seq) = (b.u32()?, b.u32()?, b.u64()?);
        let one: MariadbGtidPos = format!("{domain}-{server}-{seq}").parse().ok()?;
        pos = pos.union(&one);
    }
    // What follows the list is the checksum, and on MariaDB 10.11 two more
    // bytes after an empty list (seen in its binlogs): not part of the list.
    Some(GtidSet::Mariadb(pos))
}

/// `n_sids` (u64), then per sid its uuid (16 bytes), `n_intervals` (u64)
/// and the intervals as `start`, `end` (u64 each, `end` exclusive).
fn mysql_list(body: &[u8]) -> Option<GtidSet> {
    let mut b = Body(body);
    let sids = b.u64()?;
    let mut set = MysqlGtidSet::new();
    for _ in 0..sids {
        let uuid: [u8; 16] = b.take()?;
        let hex: String = uuid.iter().map(|x| format!("{x:02x}")).collect();
        let uuid: ServerUuid = hex.parse().ok()?;
        for _ in 0..b.u64()? {
            let (start, end) = (b.u64()?, b.u64()?);
            set.insert_range(uuid, start, end.checked_sub(1)?).ok()?;
        }
    }
    // What follows the list is the checksum, when the binlog has them.
    Some(GtidSet::Mysql(set))
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
