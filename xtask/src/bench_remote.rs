//! `cargo xtask bench remote`: runs the remote-transport benchmark
//! (`crates/remote/examples/remote_bench.rs`, release build) against the running
//! sandbox and records its table in the `## remote` section of
//! `docs/benchmarks.md` (other sections are left as they are).

use anyhow::Result;
use std::path::Path;

const HEADING: &str = "## remote";

/// Runs the benchmark and updates `docs/benchmarks.md` under `root`.
pub fn run(root: &Path) -> Result<()> {
    let table = crate::util::run_example(
        "remote",
        "remote_bench",
        "is the sandbox up with its agents (`cargo xtask sandbox up`)?",
    )?;
    println!("{table}");
    let section = format!(
        "{HEADING}\n\n\
         `cargo xtask bench remote` on this machine (2 cores, loopback, the sandbox's sshd and\n\
         agents on STORE_HOST): round trip of `echo 1` over 200 calls after 10 warm-up calls\n\
         (ssh multiplexed over one ControlMaster), and a 1 GiB stdout stream (`head -c 1G\n\
         /dev/zero`) read to the end. Recorded {date}.\n\n{table}\n",
        date = crate::util::utc_now("%Y-%m-%d")
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}
