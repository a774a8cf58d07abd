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

/// `dbbackup info` as a table, then the recovery window and the trash.
pub fn info_report(info: &backup::StoreInfo) -> String {
    let mut out = format!("store {}\n", info.store);
    if info.backups.is_empty() {
        out += "no backups\n";
    } else {
        out += &format!(
            "{:<28} {:<4} {:<3} {:<28} {:<9} {:>10} {:>9}  {}\n",
            "backup",
            "type",
            "ok",
            "chain (full)",
            "encrypted",
            "size",
            "duration",
            "consistence point"
        );
    }
    let unknown = || "?".to_owned();
    for b in &info.backups {
        out += &format!(
            "{:<28} {:<4} {:<3} {:<28} {:<9} {:>10} {:>9}  {}\n",
            b.name,
            b.kind,
            if b.ok { "yes" } else { "NO" },
            b.chain.as_deref().unwrap_or("(none)"),
            b.encrypted
                .map_or_else(unknown, |e| if e { "yes" } else { "no" }.to_owned()),
            b.bytes.map_or_else(unknown, |n| format!(
                "{:.1} MiB",
                n as f64 / (1024.0 * 1024.0)
            )),
            b.duration_secs
                .map_or_else(unknown, |s| format!("{s:.1} s")),
            b.point.as_deref().unwrap_or("-"),
        );
    }
    out += &match &info.recovery_window {
        Some((from, to)) => format!("recovery window: {from} .. {to}\n"),
        None => "recovery window: none (no good full backup)\n".to_owned(),
    };
    out += &if info.trash.is_empty() {
        "trash: empty\n".to_owned()
    } else {
        format!("trash: {} ({})\n", info.trash.len(), info.trash.join(", "))
    };
    out
}

/// `--json`: the plan, and with the outcome of a finished run its result,
/// as one document (keys in docs/json.md).
pub fn plan_json(
    plan: &backup::BackupPlan,
    outcome: Option<&backup::Outcome>,
) -> serde_json::Value {
    serde_json::json!({
        "backup": plan.name.to_string(),
        "type": if plan.is_incremental() { "inc" } else { "full" },
        "incremental_on": plan.last.map(|l| l.to_string()),
        "store": plan.store,
        "encrypted": plan.encrypt,
        "compress": plan.compress_threads.map(|n| format!("zstd -T{n}")),
        "dry_run": outcome.is_none(),
        "servers": plan.servers.iter().map(|s| serde_json::json!({
            "server": s.server.to_string(),
            "datasource": s.datasource.to_string(),
            "role": s.role.to_string(),
            "address": s.address(),
            "dir": s.dir,
            "incremental_from_lsn": s.incremental_from,
        })).collect::<Vec<_>>(),
        "cleaned": plan.cleaned.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "bytes": outcome.map(|o| o.bytes),
        "elapsed_secs": outcome.map(|o| o.elapsed.as_secs_f64()),
        "ok": outcome.is_some(),
        "warnings": outcome.map_or(&[][..], |o| &o.warnings[..]),
    })
}
