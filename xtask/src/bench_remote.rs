//! `cargo xtask bench remote`: runs the remote-transport benchmark
//! (`crates/remote/examples/bench.rs`, release build) against the running
//! sandbox and records its table in the `## remote` section of
//! `docs/benchmarks.md` (other sections are left as they are).

use crate::util::cargo;
use anyhow::{Context, Result, bail};
use std::path::Path;

const HEADING: &str = "## remote";

/// Runs the benchmark and updates `docs/benchmarks.md` under `root`.
pub fn run(root: &Path) -> Result<()> {
    let out = cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "remote",
            "--example",
            "bench",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run the remote benchmark")?;
    if !out.status.success() {
        bail!(
            "the remote benchmark failed ({}); is the sandbox up with its agents (`cargo xtask sandbox up`)?",
            out.status
        );
    }
    let table = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    println!("{table}");
    let section = format!(
        "{HEADING}\n\n\
         `cargo xtask bench remote` on this machine (2 cores, loopback, the sandbox's sshd and\n\
         agents on STORE_HOST): round trip of `echo 1` over 200 calls after 10 warm-up calls\n\
         (ssh multiplexed over one ControlMaster), and a 1 GiB stdout stream (`head -c 1G\n\
         /dev/zero`) read to the end. Recorded {date}.\n\n{table}\n",
        date = chrono_free_date()
    );
    let file = root.join("docs").join("benchmarks.md");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let updated = replace_section(&text, &section);
    std::fs::write(&file, updated).with_context(|| format!("cannot write {}", file.display()))?;
    println!("recorded in {}", file.display());
    Ok(())
}

/// Today's date (UTC) from `date`, without a chrono dependency.
fn chrono_free_date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Replaces the `## remote` section (up to the next `## ` heading) or
/// appends it.
fn replace_section(text: &str, section: &str) -> String {
    let Some(start) = text.match_indices(HEADING).map(|(i, _)| i).find(|&i| {
        (i == 0 || text[..i].ends_with('\n')) && text[i + HEADING.len()..].starts_with('\n')
    }) else {
        let mut out = text.trim_end().to_owned();
        out.push_str("\n\n");
        out.push_str(section);
        return out;
    };
    let after = start + HEADING.len();
    let end = text[after..]
        .find("\n## ")
        .map_or(text.len(), |i| after + i + 1);
    let mut out = String::with_capacity(text.len() + section.len());
    out.push_str(&text[..start]);
    out.push_str(section);
    if end < text.len() {
        out.push('\n');
        out.push_str(&text[end..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_section() {
        let text = "# B\n\n## crypt\nc\n\n## remote\nold\n\n## other\no\n";
        let out = replace_section(text, "## remote\nnew\n");
        assert_eq!(out, "# B\n\n## crypt\nc\n\n## remote\nnew\n\n## other\no\n");
        let appended = replace_section("# B\n\n## crypt\nc\n", "## remote\nnew\n");
        assert_eq!(appended, "# B\n\n## crypt\nc\n\n## remote\nnew\n");
    }
}
