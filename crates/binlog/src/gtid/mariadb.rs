//! MariaDB GTID positions: `domain-server-seq` lists such as `0-1-7,1-2-30`.
//!
//! A MariaDB position (`gtid_binlog_pos`, `gtid_slave_pos`, mariabackup's
//! "GTID of the last change") holds the last GTID applied in each replication
//! domain. Containment is decided per domain by sequence number alone: this
//! assumes `gtid_strict_mode` (sequence numbers strictly increase within a
//! domain, whichever server wrote them), which the sandbox and the backup
//! pre-checks require. Without strict mode a position does not describe a set
//! of transactions and no containment can be computed from it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::GtidError;

/// One MariaDB GTID: `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MariadbGtid {
    /// Replication domain id.
    pub domain: u32,
    /// Id of the server that wrote the transaction.
    pub server: u32,
    /// Sequence number within the domain.
    pub seq: u64,
}

impl FromStr for MariadbGtid {
    type Err = GtidError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why| GtidError::new(text, why);
        let mut parts = text.split('-');
        let (Some(d), Some(s), Some(q), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("a MariaDB GTID is domain-server-seq"));
        };
        let num = |p: &str| -> Result<u64, GtidError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("a MariaDB GTID is domain-server-seq, all numbers"));
            }
            p.parse().map_err(|_| bad("number too large"))
        };
        let domain = u32::try_from(num(d)?).map_err(|_| bad("domain id exceeds 32 bits"))?;
        let server = u32::try_from(num(s)?).map_err(|_| bad("server id exceeds 32 bits"))?;
        Ok(MariadbGtid {
            domain,
            server,
            seq: num(q)?,
        })
    }
}

impl fmt::Display for MariadbGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

/// A MariaDB GTID position: the last GTID of each domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MariadbGtidPos {
    by_domain: BTreeMap<u32, MariadbGtid>,
}

impl MariadbGtidPos {
    /// The empty position (nothing applied).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no domain has any transaction.
    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    /// The last GTID of `domain`, if any.
    pub fn get(&self, domain: u32) -> Option<MariadbGtid> {
        self.by_domain.get(&domain).copied()
    }

    /// The GTIDs, one per domain, in domain order.
    pub fn iter(&self) -> impl Iterator<Item = MariadbGtid> + '_ {
        self.by_domain.values().copied()
    }

    /// Whether `gtid` was applied at this position (its domain reached its seq).
    pub fn contains(&self, gtid: &MariadbGtid) -> bool {
        self.get(gtid.domain).is_some_and(|g| g.seq >= gtid.seq)
    }

    /// The position after applying both: per domain the higher seq (on a tie
    /// `self`'s GTID is kept; in strict mode both name the same transaction).
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for g in other.iter() {
            match out.by_domain.get(&g.domain) {
                Some(mine) if mine.seq >= g.seq => {}
                _ => {
                    out.by_domain.insert(g.domain, g);
                }
            }
        }
        out
    }

    /// The domains where `self` is ahead of `other`, with `self`'s GTID: what
    /// remains to apply after `other` to reach `self`. Empty exactly when
    /// `self.is_subset(other)`.
    pub fn subtract(&self, other: &Self) -> Self {
        let by_domain = self
            .by_domain
            .iter()
            .filter(|(_, g)| !other.contains(g))
            .map(|(d, g)| (*d, *g))
            .collect();
        MariadbGtidPos { by_domain }
    }

    /// Whether every domain of `self` is at or behind the same domain in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.iter().all(|g| other.contains(&g))
    }
}

impl FromStr for MariadbGtidPos {
    type Err = GtidError;

    /// Parses `0-1-7,1-2-30`; whitespace is ignored, the empty text is the
    /// empty position, and a domain may appear only once.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let mut by_domain = BTreeMap::new();
        if compact.is_empty() {
            return Ok(MariadbGtidPos { by_domain });
        }
        for member in compact.split(',') {
            if member.is_empty() {
                return Err(GtidError::new(&compact, "empty member (stray comma?)"));
            }
            let g: MariadbGtid = member.parse()?;
            if by_domain.insert(g.domain, g).is_some() {
                return Err(GtidError::new(
                    &compact,
                    "a domain appears twice (a position has one GTID per domain)",
                ));
            }
        }
        Ok(MariadbGtidPos { by_domain })
    }
}

impl fmt::Display for MariadbGtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(t: &str) -> MariadbGtidPos {
        t.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_in_domain_order() {
        assert_eq!(p("1-2-30,\n0-1-7").to_string(), "0-1-7,1-2-30");
        assert_eq!(
            p("0-1-7").get(0),
            Some(MariadbGtid {
                domain: 0,
                server: 1,
                seq: 7
            })
        );
        assert!(p("").is_empty());
    }

    #[test]
    fn parse_errors_name_the_offending_text() {
        for (text, why) in [
            ("0-1", "domain-server-seq"),
            ("0-1-2-3", "domain-server-seq"),
            ("0-a-2", "all numbers"),
            ("4294967296-1-1", "32 bits"),
            ("0-4294967296-1", "32 bits"),
            ("0-1-99999999999999999999", "too large"),
            ("0-1-2,,1-1-1", "stray comma"),
            ("0-1-2,0-2-5", "twice"),
        ] {
            let e = text.parse::<MariadbGtidPos>().unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(text.contains(&e.text), "{text}: {e}");
        }
    }

    #[test]
    fn containment_is_per_domain_by_seq() {
        let at = p("0-1-7,1-2-30");
        assert!(p("0-2-5").is_subset(&at)); // another server's GTID, lower seq: applied (strict mode)
        assert!(p("0-1-7,1-2-30").is_subset(&at));
        assert!(!p("0-1-8").is_subset(&at));
        assert!(!p("2-1-1").is_subset(&at)); // an unknown domain is not applied
        assert!(MariadbGtidPos::new().is_subset(&at));
        assert_eq!(
            at.union(&p("0-3-9,2-1-1")).to_string(),
            "0-3-9,1-2-30,2-1-1"
        );
        assert_eq!(at.union(&p("0-3-7")).to_string(), "0-1-7,1-2-30");
        assert_eq!(
            p("0-3-9,1-2-30,2-1-1").subtract(&at).to_string(),
            "0-3-9,2-1-1"
        );
        assert!(at.subtract(&at).is_empty());
    }

    fn pos() -> impl Strategy<Value = MariadbGtidPos> {
        proptest::collection::btree_map(0u32..4, (1u32..3, 0u64..20), 0..4).prop_map(|m| {
            MariadbGtidPos {
                by_domain: m
                    .into_iter()
                    .map(|(domain, (server, seq))| {
                        (
                            domain,
                            MariadbGtid {
                                domain,
                                server,
                                seq,
                            },
                        )
                    })
                    .collect(),
            }
        })
    }

    proptest! {
        #[test]
        fn algebra_laws(a in pos(), b in pos()) {
            prop_assert_eq!(&a.to_string().parse::<MariadbGtidPos>().unwrap(), &a);
            let u = a.union(&b);
            prop_assert!(a.is_subset(&u) && b.is_subset(&u));
            prop_assert_eq!(a.subtract(&b).is_empty(), a.is_subset(&b));
            prop_assert!(a.subtract(&b).is_subset(&a));
            prop_assert!(b.union(&a.subtract(&b)).is_subset(&u) && u.is_subset(&b.union(&a.subtract(&b))));
        }
    }
}
