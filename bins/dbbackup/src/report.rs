//! What `dbbackup` prints for its housekeeping modes and `verify`.

/// What `--purge-to` did, or (dry run) would do.
pub fn purge_report(plan: &store::PurgePlan, dry_run: bool) -> String {
    let mut out = String::new();
    let moved = if dry_run {
        "would move to trash"
    } else {
        "moved to trash"
    };
    for b in &plan.purge {
        out += &format!("{moved}: {b}\n");
    }
    for b in &plan.kept_for_chain {
        out += &format!("kept (a later incremental builds on it; --force purges it): {b}\n");
    }
    if plan.purge.is_empty() {
        out += "nothing to purge\n";
    }
    if dry_run {
        out += "dry run: nothing changed\n";
    }
    out
}

/// What `--clean-trash` deleted, or (dry run) would delete.
pub fn clean_trash_report(held: &[String], dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut out: String = held
        .iter()
        .map(|name| format!("{verb} from trash: {name}\n"))
        .collect();
    out += match (dry_run, held.is_empty()) {
        (_, true) => "trash is empty\n",
        (true, false) => "dry run: nothing changed\n",
        (false, false) => "trash emptied\n",
    };
    out
}

/// One block per verified backup: its verdict line, then each problem.
pub fn verify_report(checked: &[backup::Verified]) -> String {
    let mut out = String::new();
    for v in checked {
        let mib = v.bytes as f64 / (1024.0 * 1024.0);
        let hmac = if v.hmac_checked { ", HMAC checked" } else { "" };
        let verdict = if v.is_good() { "intact" } else { "DAMAGED" };
        out += &format!(
            "verify {}: {verdict} ({} files, {mib:.1} MiB read{hmac})\n",
            v.backup, v.files
        );
        for p in &v.problems {
            out += &format!("  {p}\n");
        }
    }
    out
}

/// The `ERROR:` sentence when any backup is damaged.
pub fn verify_failure(checked: &[backup::Verified]) -> Option<String> {
    let bad: Vec<&backup::Verified> = checked.iter().filter(|v| !v.is_good()).collect();
    let first = bad.first()?;
    Some(format!(
        "{} of {} backups failed verification; {}: {}",
        bad.len(),
        checked.len(),
        first.backup,
        first.problems.first().map_or("", String::as_str)
    ))
}
