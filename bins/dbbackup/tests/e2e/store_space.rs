//! Issue 5 step 3, for real: a backup store without room for the backup is
//! refused by the pre-check before any data moves. The test's store
//! directory is a 16 MiB tmpfs (the sandbox's servers stream more than
//! that); mounting needs root: where `mount` is not permitted (EPERM, e.g.
//! an unprivileged container) the test prints a note and returns.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use common::procs::{self, Watch};
use common::{TestStore, serial};
use testkit::Sandbox;
use testkit::tmpfs::{Owner, Tmpfs};

/// The number right before `unit` in `text` (`"... 15 MiB free"`).
fn number_before(text: &str, unit: &str) -> u64 {
    let at = text
        .find(unit)
        .unwrap_or_else(|| panic!("no {unit:?} in {text:?}"));
    text[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {unit:?} in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_room_is_refused_before_any_data_moves() {
    let Some(sb) = Sandbox::get() else { return };
    let _serial = serial().await;
    let store = TestStore::new(&sb, "BACKUP_SSH_CONF", "nospace", &[]);
    // Dropped before the store, so its directory is unmounted first.
    let Some(_tmpfs) = Tmpfs::mount(
        &store.dir,
        "16m",
        Owner::Like(Path::new(sb.var("STORE_DIR"))),
    ) else {
        return;
    };
    let backups = Watch::start(|c| procs::runs_mariabackup(c) && c.contains("--backup"));
    let out = store.run(&sb, &[], &[]);
    let started = backups.finish();

    out.assert_failed_with("pre-check failed");
    eprintln!("{out}");
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap();
    let place = format!("{}:{}", sb.var("STORE_HOST"), store.dir.display());
    assert!(error.contains(&place), "the store is not named: {error}");
    let free = number_before(error, "MiB free");
    let needed = number_before(error, "MiB (data and binlogs");
    assert!(free <= 16, "{error}");
    assert!(needed > free, "{error}");
    assert!(!out.stdout.contains("cluster backup succeed"), "{out}");

    assert!(started.is_empty(), "a backup started: {started:?}");
    // Nothing was written into a backup directory.
    let mut written = std::collections::BTreeMap::new();
    common::walk(&store.dir, &store.dir, &mut written);
    let files: Vec<_> = written
        .iter()
        .filter(|(path, _)| !path.ends_with('/') && path.starts_with("UTC"))
        .collect();
    assert!(files.is_empty(), "written before the refusal: {files:?}");
}
