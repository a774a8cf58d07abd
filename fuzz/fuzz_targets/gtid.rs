//! GTID sets of both flavors: a set that parses prints back to the same
//! set, and the algebra holds on it (A ∪ A = A, A ⊆ A, A − A = ∅).
#![no_main]

use binlog::{GtidFlavor, GtidSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, text)) = dbscale_fuzz::selector_and_text(data) else {
        return;
    };
    let flavor = if which % 2 == 0 {
        GtidFlavor::Mysql
    } else {
        GtidFlavor::Mariadb
    };
    let Ok(set) = GtidSet::parse(flavor, text) else {
        return;
    };
    let again = GtidSet::parse(flavor, &set.to_string()).expect("a printed set parses");
    assert_eq!(again, set, "printed as {set}");
    assert_eq!(set.union(&set).expect("same flavor"), set);
    assert!(set.is_subset(&set).expect("same flavor"));
    assert!(set.subtract(&set).expect("same flavor").is_empty());
});
