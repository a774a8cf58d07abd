//! The store's small files as a seed tool or a damaged disk may have left
//! them (`backuped_binlogs`, `cluster_consistence_info`, a server
//! directory's name, `master_slave`, `consistent_point_datetime`, binlog
//! names, `manifest.json`): never a panic, and what parses prints back to
//! the same value.
#![no_main]

use binlog::{BackupedBinlogs, BinlogName, ConsistenceInfo, MasterSlave, ServerDir};
use libfuzzer_sys::fuzz_target;
use std::fmt::Display;
use std::str::FromStr;

fn round_trip<T: FromStr + Display + PartialEq + std::fmt::Debug>(text: &str) {
    if let Ok(value) = text.parse::<T>() {
        let printed = value.to_string();
        match printed.parse::<T>() {
            Ok(again) => assert_eq!(again, value, "printed as {printed:?}"),
            Err(_) => panic!("{value:?} printed as {printed:?}, which does not parse"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((which, text)) = dbscale_fuzz::selector_and_text(data) else {
        return;
    };
    match which % 7 {
        0 => round_trip::<BackupedBinlogs>(text),
        1 => round_trip::<ConsistenceInfo>(text),
        2 => round_trip::<ServerDir>(text),
        3 => round_trip::<MasterSlave>(text),
        4 => round_trip::<BinlogName>(text),
        5 => {
            if let Ok(t) = binlog::parse_point_datetime(text) {
                let printed = binlog::format_point_datetime(t);
                assert_eq!(binlog::parse_point_datetime(&printed).ok(), Some(t));
            }
        }
        _ => {
            if let Ok(m) = store::manifest::Manifest::parse(text) {
                let again = store::manifest::Manifest::parse(&m.to_json())
                    .expect("a written manifest reads back");
                assert_eq!(again.to_json(), m.to_json());
            }
        }
    }
});
