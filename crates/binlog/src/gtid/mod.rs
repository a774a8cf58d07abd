//! GTID algebra for both flavors, and [`GtidSet`] over either.
//!
//! * [`MysqlGtidSet`]: MySQL's `uuid:1-5:7-9,...` sets, exact set algebra.
//! * [`MariadbGtidPos`]: MariaDB's `domain-server-seq` positions, compared
//!   per domain by sequence number (see that module for the strict-mode
//!   assumption).

mod intervals;
mod mariadb;
mod mysql;

use std::fmt;

pub use mariadb::{MariadbGtid, MariadbGtidPos};
pub use mysql::{MysqlGtidSet, ServerUuid};

/// GTID text that failed to parse, or an operation across flavors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GTID text {text:?}: {why}")]
pub struct GtidError {
    /// The offending text (the member of a list that failed, where known).
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl GtidError {
    fn new(text: &str, why: &'static str) -> Self {
        GtidError {
            text: text.to_owned(),
            why,
        }
    }
}

/// Which server family a GTID text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GtidFlavor {
    /// MySQL / Percona: `uuid:ranges`.
    Mysql,
    /// MariaDB: `domain-server-seq`.
    Mariadb,
}

/// The executed-transactions state of a server, in either flavor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GtidSet {
    /// A MySQL GTID set.
    Mysql(MysqlGtidSet),
    /// A MariaDB GTID position.
    Mariadb(MariadbGtidPos),
}

impl GtidSet {
    /// Parses `text` as `flavor`.
    pub fn parse(flavor: GtidFlavor, text: &str) -> Result<Self, GtidError> {
        Ok(match flavor {
            GtidFlavor::Mysql => GtidSet::Mysql(text.parse()?),
            GtidFlavor::Mariadb => GtidSet::Mariadb(text.parse()?),
        })
    }

    /// The flavor of this value.
    pub fn flavor(&self) -> GtidFlavor {
        match self {
            GtidSet::Mysql(_) => GtidFlavor::Mysql,
            GtidSet::Mariadb(_) => GtidFlavor::Mariadb,
        }
    }

    /// Whether nothing was executed.
    pub fn is_empty(&self) -> bool {
        match self {
            GtidSet::Mysql(s) => s.is_empty(),
            GtidSet::Mariadb(p) => p.is_empty(),
        }
    }

    /// Union; an error if the flavors differ.
    pub fn union(&self, other: &Self) -> Result<Self, GtidError> {
        match (self, other) {
            (GtidSet::Mysql(a), GtidSet::Mysql(b)) => Ok(GtidSet::Mysql(a.union(b))),
            (GtidSet::Mariadb(a), GtidSet::Mariadb(b)) => Ok(GtidSet::Mariadb(a.union(b))),
            _ => Err(mismatch(self, other)),
        }
    }

    /// What `self` has beyond `other`; an error if the flavors differ.
    pub fn subtract(&self, other: &Self) -> Result<Self, GtidError> {
        match (self, other) {
            (GtidSet::Mysql(a), GtidSet::Mysql(b)) => Ok(GtidSet::Mysql(a.subtract(b))),
            (GtidSet::Mariadb(a), GtidSet::Mariadb(b)) => Ok(GtidSet::Mariadb(a.subtract(b))),
            _ => Err(mismatch(self, other)),
        }
    }

    /// Whether `self` is contained in `other`; an error if the flavors differ.
    pub fn is_subset(&self, other: &Self) -> Result<bool, GtidError> {
        match (self, other) {
            (GtidSet::Mysql(a), GtidSet::Mysql(b)) => Ok(a.is_subset(b)),
            (GtidSet::Mariadb(a), GtidSet::Mariadb(b)) => Ok(a.is_subset(b)),
            _ => Err(mismatch(self, other)),
        }
    }
}

fn mismatch(a: &GtidSet, b: &GtidSet) -> GtidError {
    GtidError {
        text: format!("{a} / {b}"),
        why: "cannot combine a MySQL GTID set with a MariaDB GTID position",
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::Mysql(s) => s.fmt(f),
            GtidSet::Mariadb(p) => p.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn dispatches_on_flavor_and_refuses_mixing() {
        let my = GtidSet::parse(GtidFlavor::Mysql, &format!("{U1}:1-5")).unwrap();
        let my2 = GtidSet::parse(GtidFlavor::Mysql, &format!("{U1}:3-9")).unwrap();
        let ma = GtidSet::parse(GtidFlavor::Mariadb, "0-1-7").unwrap();
        let ma2 = GtidSet::parse(GtidFlavor::Mariadb, "0-1-9").unwrap();
        assert_eq!(my.flavor(), GtidFlavor::Mysql);
        assert_eq!(ma.flavor(), GtidFlavor::Mariadb);
        assert_eq!(my.union(&my2).unwrap().to_string(), format!("{U1}:1-9"));
        assert_eq!(my.subtract(&my2).unwrap().to_string(), format!("{U1}:1-2"));
        assert!(!my.is_subset(&my2).unwrap());
        assert_eq!(ma.union(&ma2).unwrap().to_string(), "0-1-9");
        assert!(ma2.subtract(&ma).unwrap().to_string() == "0-1-9");
        assert!(ma.is_subset(&ma2).unwrap());
        assert!(!ma.is_empty() && GtidSet::parse(GtidFlavor::Mariadb, "").unwrap().is_empty());
        let e = my.union(&ma).unwrap_err();
        assert!(e.to_string().contains("cannot combine"));
        assert!(my.subtract(&ma).is_err() && ma.is_subset(&my).is_err());
        // MariaDB text is not a MySQL set and vice versa.
        assert!(GtidSet::parse(GtidFlavor::Mysql, "0-1-7").is_err());
        assert!(GtidSet::parse(GtidFlavor::Mariadb, &format!("{U1}:1")).is_err());
    }

    fn mysql_set() -> impl Strategy<Value = MysqlGtidSet> {
        let uuids = [
            U1,
            "8a94f357-aab4-11df-86ab-c80aa9429563",
            "00000000-0000-0000-0000-000000000001",
        ];
        proptest::collection::vec((0usize..3, 1u64..40, 0u64..5), 0..6).prop_map(move |v| {
            let mut s = MysqlGtidSet::new();
            for (u, a, len) in v {
                s.insert_range(uuids[u].parse().unwrap(), a, a + len)
                    .unwrap();
            }
            s
        })
    }

    proptest! {
        #[test]
        fn mysql_text_round_trips_and_laws_hold(a in mysql_set(), b in mysql_set()) {
            prop_assert_eq!(&a.to_string().parse::<MysqlGtidSet>().unwrap(), &a);
            prop_assert_eq!(&a.to_multiline().parse::<MysqlGtidSet>().unwrap(), &a);
            let u = a.union(&b);
            prop_assert!(a.is_subset(&u) && b.is_subset(&u));
            let d = a.subtract(&b);
            prop_assert!(d.is_subset(&a));
            prop_assert_eq!(d.subtract(&a), MysqlGtidSet::new());
            prop_assert!(d.union(&b) == u);
            prop_assert_eq!(d.is_empty(), a.is_subset(&b));
        }
    }
}
