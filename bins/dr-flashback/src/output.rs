//! What the verbs print: one line per check (or one JSON document), and
//! the journal's state.

use flashback::journal::{JournalState, StepState};
use flashback::{Check, Journal, Report};

/// The seed's success line of `verify`.
pub const VERIFY_OK: &str = "check os storage space successfully";

/// Every check's line, then the seed's success line when all passed; or
/// one JSON document.
pub fn verify_report(report: &Report, json: bool) {
    if json {
        let doc = serde_json::json!({
            "command": "verify",
            "passed": report.passed(),
            "checks": report.checks,
        });
        println!("{doc:#}");
        return;
    }
    for check in &report.checks {
        println!("{check}");
    }
    if report.passed() {
        println!("{VERIFY_OK}");
    }
}

/// `start`'s checks, then its plan when they passed; or one JSON document.
pub fn start_plan(report: &Report, plan: Option<&flashback::StartPlan>, json: bool) {
    if json {
        let doc = serde_json::json!({
            "command": "start",
            "passed": report.passed(),
            "checks": report.checks,
            "plan": plan.map(|p| serde_json::json!({
                "donor": {"server": p.donor.server, "address": p.donor.address, "reason": p.donor.reason},
                "flavor": flashback::journal::Flavor::from(p.flavor),
                "nodes": p.nodes,
                "steps": p.steps.iter().map(|s| serde_json::json!({
                    "name": s.name, "at": s.at, "actions": s.actions,
                })).collect::<Vec<_>>(),
            })),
        });
        println!("{doc:#}");
        return;
    }
    for check in &report.checks {
        println!("{check}");
    }
    if let Some(plan) = plan {
        print!("{plan}");
    }
}

/// The `ERROR:` sentence of a failed verify: how many failed, and the first
/// with its subject (server, host) and cause.
pub fn first_failure(report: &Report, first: &Check) -> String {
    let failed = report.failures().count();
    let subject = if first.subject.is_empty() {
        String::new()
    } else {
        format!(" [{}]", first.subject)
    };
    let cause = first.failure().map(ToString::to_string).unwrap_or_default();
    format!(
        "verify failed ({failed} of {} checks): {}{subject}: {cause}",
        report.checks.len(),
        first.name
    )
}

/// What the journal says.
pub fn status(journal: &Journal, state: &JournalState, json: bool) {
    let path = journal.path().display();
    if json {
        let doc = match state {
            JournalState::Closed => serde_json::json!({"journal": path.to_string(), "open": false}),
            JournalState::Open(entry) => {
                serde_json::json!({"journal": path.to_string(), "open": true, "entry": entry})
            }
            JournalState::SeedTool(nodes) => serde_json::json!({
                "journal": path.to_string(), "open": true, "seed_tool": true, "nodes": nodes,
            }),
        };
        println!("{doc:#}");
        return;
    }
    match state {
        JournalState::Closed => println!("no drill is open (journal {path} is empty or absent)"),
        JournalState::Open(e) => {
            let state = match e.state {
                StepState::Started => "under way",
                StepState::Done => "done",
            };
            println!(
                "drill {} open since {}: step {} ({}) {state} since {} (journal {path})",
                e.drill_id,
                e.opened_at.format("%Y-%m-%d %H:%M:%S UTC"),
                e.step,
                e.step_name,
                e.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
            );
            for n in &e.nodes {
                println!("  {:?} {} {}:{}", n.role, n.server_name, n.host, n.port);
            }
        }
        JournalState::SeedTool(nodes) => {
            println!(
                "a drill opened by the seed's dr-flashback is open ({} nodes; journal {path})",
                nodes.len()
            );
        }
    }
}

/// A finished step: a line on stdout, or on stderr under `--json` (stdout
/// then holds only the final document).
pub fn progress(line: &str, json: bool) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// The end of a successful `start`: the seed's success line, or a JSON
/// document with the checks.
pub fn started(report: &Report, done: &flashback::StartDone, json: bool) {
    if json {
        let doc = serde_json::json!({
            "command": "start",
            "drill_id": done.drill_id,
            "donor": {"server": done.donor.server, "address": done.donor.address, "reason": done.donor.reason},
            "snapshots": done.snapshots,
            "checks": report.checks,
        });
        println!("{doc:#}");
        return;
    }
    println!(
        "drill {} open: donor {} {}; snapshots on {}",
        done.drill_id,
        done.donor.server,
        done.donor.address,
        done.snapshots.join(", ")
    );
    println!("exec start successfully");
}

/// The end of a successful `stop` (`None`: no drill was open).
pub fn stopped(done: Option<&flashback::StopDone>, json: bool) {
    match (done, json) {
        (Some(d), true) => println!(
            "{:#}",
            serde_json::json!({"command": "stop", "drill_id": d.drill_id, "restored": d.restored})
        ),
        (None, true) => println!(
            "{:#}",
            serde_json::json!({"command": "stop", "drill_id": null})
        ),
        (Some(d), false) => {
            println!(
                "drill {} closed; restored from the snapshot: {}",
                d.drill_id,
                d.restored.join(", ")
            );
            println!("exec stop successfully");
        }
        (None, false) => println!("no drill is open: nothing to stop"),
    }
}
