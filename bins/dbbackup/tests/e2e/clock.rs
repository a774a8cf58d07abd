//! Issue 18, clock skew: `dbbackup` run on a controller whose clock lags
//! the servers' (libfaketime, preloaded into dbbackup alone; the servers
//! keep the machine's clock).
//!
//! - A clock behind the newest backup on the store would name the new
//!   backup before the one it follows (names are UTC start times and chains
//!   are ordered by name): refused before anything is written.
//! - A lagging clock must not record a `consistent_point_datetime` earlier
//!   than data the backup holds: a recovery to a time in between would
//!   start from this backup and keep rows written after the time asked for.
//!   The point is the later of the controller's and the masters' clocks.

use crate::common::{self, TestStore, serial};
use testkit::Sandbox;

/// Where Debian's libfaketime puts the preload library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The environment that sets dbbackup's wall clock `offset` (`-10m`) from
/// the machine's; its monotonic clock (timeouts) is left alone.
fn clock_offset(offset: &str) -> [(&'static str, String); 3] {
    [
        ("LD_PRELOAD", LIBFAKETIME.to_owned()),
        ("FAKETIME", offset.to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ]
}

fn as_env<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_controller_clock_never_records_a_point_before_the_data() {
    let Some(sb) = Sandbox::get() else { return };
    assert!(
        std::path::Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: `cargo xtask sandbox up` installs libfaketime"
    );
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "clock", &[]);

    // Ten minutes behind the servers, on an empty store: the backup runs,
    // warns about the masters' clocks, and records their time.
    let lag = clock_offset("-10m");
    let before = chrono::Local::now().naive_local();
    let out = store.run_with_env(&sb, &[], &as_env(&lag), &[]);
    out.assert_succeeded();
    let name = out.backup_name();
    assert!(
        out.stderr
            .contains("the master's clock differs from this host's"),
        "no warning about the skew:\n{out}"
    );
    let point =
        std::fs::read_to_string(store.dir.join(&name).join("consistent_point_datetime")).unwrap();
    let point = binlog::parse_point_datetime(&point).unwrap();
    let before_secs = before.format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(
        point.format("%Y-%m-%d %H:%M:%S").to_string() >= before_secs,
        "consistent_point_datetime {point} is before the run started ({before_secs}): \
         the lagging controller's clock was recorded"
    );

    // Now with the machine's clock, then an hour behind it: the new backup
    // would sort before the last one. Refused, nothing written.
    store.run(&sb, &[], &[]).assert_succeeded();
    let backups = store.backups();
    let behind = clock_offset("-1h");
    let out = store.run_with_env(&sb, &[], &as_env(&behind), &[]);
    out.assert_failed_with("is at or before the start of the newest backup on the store");
    let newest = backups.last().unwrap();
    assert!(
        out.stderr.contains(newest.as_str()),
        "the newest backup is not named:\n{out}"
    );
    assert_eq!(store.backups(), backups, "the refused run wrote a backup");
    assert!(
        common::names_in(&store.dir.join("trash")).is_empty(),
        "the refused run moved something to trash"
    );
}
