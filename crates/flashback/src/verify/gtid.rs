//! Production's executed GTIDs must contain every DR server's (seed 002's
//! `check_primary_contains_secondary_gtidset`, done with the GTID algebra
//! of `crates/binlog` instead of substring matching). DR behind production
//! passes; a transaction written on the DR side fails.

use super::servers::ServerAnswer;
use super::{Check, CheckName, Failure};
use binlog::gtid::GtidSet;

/// Compares each DR server with the production server DR replicates from.
pub(crate) fn check_contained(production: &ServerAnswer, dr: &[ServerAnswer]) -> Check {
    let name = CheckName::GtidContained;
    let subject = format!(
        "{} {}:{}",
        production.name, production.host, production.port
    );
    let result = parse(production).and_then(|prod| {
        for server in dr {
            let theirs = parse(server)?;
            let missing = beyond(&theirs, &prod).map_err(|e| Failure::BadGtid {
                server: server.name.clone(),
                cause: e.to_string(),
            })?;
            if let Some(missing) = missing {
                return Err(Failure::GtidNotContained {
                    server: server.name.clone(),
                    missing: missing.to_string(),
                    production_server: production.name.clone(),
                    production: shown(&prod),
                });
            }
        }
        Ok(format!(
            "{} DR server(s) at or behind production's {}",
            dr.len(),
            shown(&prod)
        ))
    });
    Check::from_result(name, subject, result)
}

/// A GTID state for a message: `(none yet)` when empty.
fn shown(gtids: &GtidSet) -> String {
    if gtids.is_empty() {
        "(none yet)".to_owned()
    } else {
        gtids.to_string()
    }
}

fn parse(server: &ServerAnswer) -> Result<GtidSet, Failure> {
    GtidSet::parse(server.flavor, &server.gtid).map_err(|e| Failure::BadGtid {
        server: server.name.clone(),
        cause: e.to_string(),
    })
}

/// What `dr` executed that `production` did not, or `None` when it is
/// contained; an error when the flavors differ.
pub fn beyond(
    dr: &GtidSet,
    production: &GtidSet,
) -> Result<Option<GtidSet>, binlog::gtid::GtidError> {
    if dr.is_subset(production)? {
        Ok(None)
    } else {
        dr.subtract(production).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use binlog::gtid::GtidFlavor;

    fn facts(name: &str, flavor: GtidFlavor, gtid: &str) -> ServerAnswer {
        ServerAnswer {
            name: name.into(),
            host: "h".into(),
            port: 1,
            flavor,
            gtid: gtid.into(),
            datadir: "/d".into(),
        }
    }

    #[test]
    fn mariadb_positions_by_domain() {
        let maria = GtidFlavor::Mariadb;
        let prod = facts("normal_0_0", maria, "0-1-120,1-2-30");
        let behind = facts("dr_0_1", maria, "0-1-100");
        let equal = facts("dr_0_0", maria, "0-1-120,1-2-30");
        let check = check_contained(&prod, &[equal.clone(), behind.clone()]);
        assert!(check.failure().is_none(), "{check}");
        // A write on the DR master: its own server id, past production.
        let written = facts("dr_0_0", maria, "0-31-121,1-2-30");
        let check = check_contained(&prod, &[behind, written]);
        match check.failure() {
            Some(Failure::GtidNotContained {
                server, missing, ..
            }) => {
                assert_eq!(server, "dr_0_0");
                assert_eq!(missing, "0-31-121");
            }
            other => panic!("{other:?}"),
        }
        // A domain production never had.
        let other_domain = facts("dr_0_2", maria, "0-1-5,9-31-1");
        let check = check_contained(&prod, &[other_domain]);
        assert!(check.to_string().contains("9-31-1"), "{check}");
    }

    #[test]
    fn mysql_sets_as_the_seed_recorded_them() {
        let my = GtidFlavor::Mysql;
        // Seed 002's `show master status` of both clusters (equal), then
        // one more transaction on the DR side.
        let sets = "b9da174e-5208-11ee-8c26-00163e2d01d5:1-49,\n\
                    ba09b02c-5208-11ee-b5af-00163ed307b5:1-114499,\n\
                    ba245d88-5208-11ee-aae7-00163ee05610:1-4";
        let prod = facts("database_3", my, sets);
        assert!(
            check_contained(&prod, &[facts("d1", my, sets)])
                .failure()
                .is_none()
        );
        let more = sets.replace(":1-49", ":1-50");
        let check = check_contained(&prod, &[facts("d1", my, &more)]);
        assert!(
            check
                .to_string()
                .contains("b9da174e-5208-11ee-8c26-00163e2d01d5:50"),
            "{check}"
        );
        let garbage = check_contained(&prod, &[facts("d1", my, "not a gtid")]);
        assert!(matches!(garbage.failure(), Some(Failure::BadGtid { .. })));
    }
}
