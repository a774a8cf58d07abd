//! MySQL GTID sets: `uuid:1-5:7-9,uuid2:1-3`.
//!
//! A set maps each server uuid to the transaction numbers it contains, kept as
//! sorted, disjoint, non-adjacent closed intervals, so equal sets compare equal
//! and print identically. Canonical text: uuids in lowercase and ascending
//! order, intervals merged, no spaces (`SHOW MASTER STATUS` and xtrabackup put
//! a newline after each comma; [`MysqlGtidSet::to_multiline`] reproduces that).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::GtidError;
use super::intervals::Intervals;

/// A server uuid (the source id of a MySQL GTID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerUuid([u8; 16]);

impl FromStr for ServerUuid {
    type Err = GtidError;

    /// Accepts the hyphenated 36-character form or 32 bare hex digits, any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || GtidError::new(text, "malformed server uuid");
        let hex: Vec<u8> = if text.len() == 36 {
            let hyphens_ok = text
                .char_indices()
                .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
            if !hyphens_ok {
                return Err(bad());
            }
            text.bytes().filter(|b| *b != b'-').collect()
        } else {
            text.bytes().collect()
        };
        if hex.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        for (slot, pair) in out.iter_mut().zip(hex.chunks(2)) {
            let s = std::str::from_utf8(pair).map_err(|_| bad())?;
            *slot = u8::from_str_radix(s, 16).map_err(|_| bad())?;
        }
        Ok(ServerUuid(out))
    }
}

impl fmt::Display for ServerUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A MySQL GTID set (`gtid_executed`, `gtid_purged`, xtrabackup's
/// "GTID of the last change").
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MysqlGtidSet {
    // Invariant: no empty `Intervals` is stored, so equality is set equality.
    sets: BTreeMap<ServerUuid, Intervals>,
}

impl MysqlGtidSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no transaction.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Whether transaction `number` of `uuid` is in the set.
    pub fn contains(&self, uuid: &ServerUuid, number: u64) -> bool {
        self.sets.get(uuid).is_some_and(|iv| iv.contains(number))
    }

    /// Adds transactions `first..=last` of `uuid` (`first <= last`, both >= 1).
    pub fn insert_range(
        &mut self,
        uuid: ServerUuid,
        first: u64,
        last: u64,
    ) -> Result<(), GtidError> {
        if first == 0 || first > last || last > MAX_GNO {
            return Err(GtidError::new(
                &format!("{uuid}:{first}-{last}"),
                "an interval must be 1 <= first <= last < 2^63",
            ));
        }
        self.sets.entry(uuid).or_default().insert(first, last);
        Ok(())
    }

    /// All transactions in `self` or `other`.
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (uuid, iv) in &other.sets {
            out.sets.entry(*uuid).or_default().union_with(iv);
        }
        out
    }

    /// The transactions of `self` that are not in `other`.
    pub fn subtract(&self, other: &Self) -> Self {
        let mut out = Self::new();
        for (uuid, iv) in &self.sets {
            let rest = match other.sets.get(uuid) {
                Some(o) => iv.minus(o),
                None => iv.clone(),
            };
            if !rest.is_empty() {
                out.sets.insert(*uuid, rest);
            }
        }
        out
    }

    /// Whether every transaction of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.sets
            .iter()
            .all(|(uuid, iv)| other.sets.get(uuid).is_some_and(|o| iv.is_subset(o)))
    }

    /// The set as MySQL prints it in `SHOW MASTER STATUS`: a newline after each comma.
    pub fn to_multiline(&self) -> String {
        self.to_string().replace(',', ",\n")
    }
}

/// The largest transaction number MySQL accepts (2^63 - 1).
const MAX_GNO: u64 = i64::MAX as u64;

impl FromStr for MysqlGtidSet {
    type Err = GtidError;

    /// Parses `uuid:1-5:7,uuid2:3`; whitespace anywhere (the newlines MySQL
    /// prints after commas) is ignored and the empty text is the empty set.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let mut set = MysqlGtidSet::new();
        if compact.is_empty() {
            return Ok(set);
        }
        for member in compact.split(',') {
            let mut parts = member.split(':');
            let uuid_text = parts.next().unwrap_or_default();
            if uuid_text.is_empty() {
                return Err(GtidError::new(member, "empty member (stray comma?)"));
            }
            let uuid: ServerUuid = uuid_text.parse()?;
            let mut any = false;
            for interval in parts {
                any = true;
                let (first, last) = parse_interval(interval, member)?;
                set.insert_range(uuid, first, last).map_err(|_| {
                    GtidError::new(member, "an interval must be 1 <= first <= last < 2^63")
                })?;
            }
            if !any {
                return Err(GtidError::new(
                    member,
                    "a uuid needs at least one :interval",
                ));
            }
        }
        Ok(set)
    }
}

fn parse_interval(interval: &str, member: &str) -> Result<(u64, u64), GtidError> {
    let number = |s: &str| -> Result<u64, GtidError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            let tag_like = !interval.contains('-')
                && s.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
            let why = if tag_like {
                "tagged GTIDs (MySQL 8.4 uuid:tag:n) are not supported"
            } else {
                "an interval is <n> or <first>-<last>"
            };
            return Err(GtidError::new(member, why));
        }
        s.parse()
            .map_err(|_| GtidError::new(member, "transaction number too large"))
    };
    match interval.split_once('-') {
        Some((a, b)) => Ok((number(a)?, number(b)?)),
        None => {
            let n = number(interval)?;
            Ok((n, n))
        }
    }
}

impl fmt::Display for MysqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (uuid, iv)) in self.sets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{uuid}")?;
            for (a, b) in iv.iter() {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const U2: &str = "8a94f357-aab4-11df-86ab-c80aa9429563";

    fn s(t: &str) -> MysqlGtidSet {
        t.parse().unwrap()
    }

    #[test]
    fn parses_multiline_output_and_prints_canonically() {
        let text = format!("{}:7-9:1-5,\n{U1}:6\n", U2.to_uppercase());
        let set = s(&text);
        assert_eq!(set.to_string(), format!("{U1}:6,{U2}:1-5:7-9"));
        assert_eq!(set.to_multiline(), format!("{U1}:6,\n{U2}:1-5:7-9"));
        assert_eq!(
            s(&format!("{U2}:1-5:6:7-9")).to_string(),
            format!("{U2}:1-9")
        );
        assert_eq!(s(&set.to_multiline()), set);
        assert!(s("").is_empty());
        assert!(s(" \n").is_empty());
    }

    #[test]
    fn accepts_bare_hex_uuid() {
        assert_eq!(
            s(&format!("{}:1", U1.replace('-', ""))).to_string(),
            format!("{U1}:1")
        );
    }

    #[test]
    fn parse_errors_name_the_offending_member() {
        let cases = [
            (U1.to_string(), "at least one"),
            (format!("{U1}:"), "interval is"),
            (format!("{U1}:5-3"), "first <= last"),
            (format!("{U1}:0"), "first <= last"),
            (format!("{U1}:1-x"), "interval is"),
            (format!("{U1}:tag:1-3"), "tagged"),
            (format!("{U1}:1,,{U2}:1"), "stray comma"),
            ("nonsense:1".to_string(), "uuid"),
            ("3e11fa47x71ca-11e1-9e33-c80aa9429562:1".to_string(), "uuid"),
            (format!("{U1}:99999999999999999999"), "too large"),
            (format!("{U1}:9223372036854775808"), "2^63"),
        ];
        for (text, why) in cases {
            let e = text.parse::<MysqlGtidSet>().unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(text.contains(&e.text), "{text}: {e}");
        }
    }

    #[test]
    fn union_subtract_subset() {
        let a = s(&format!("{U1}:1-5,{U2}:1-3"));
        let b = s(&format!("{U1}:4-10"));
        assert_eq!(a.union(&b), s(&format!("{U1}:1-10,{U2}:1-3")));
        assert_eq!(a.subtract(&b), s(&format!("{U1}:1-3,{U2}:1-3")));
        assert_eq!(b.subtract(&a), s(&format!("{U1}:6-10")));
        assert!(a.subtract(&a).is_empty());
        assert!(s(&format!("{U1}:2-3")).is_subset(&a));
        assert!(!a.is_subset(&b));
        assert!(MysqlGtidSet::new().is_subset(&b));
        assert!(a.contains(&U2.parse().unwrap(), 3));
        assert!(!a.contains(&U2.parse().unwrap(), 4));
        assert!(!b.contains(&U2.parse().unwrap(), 1));
    }
}
