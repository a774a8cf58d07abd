//! `cargo xtask bench stream`: runs the stream benchmark
//! (`crates/stream/examples/bench.rs`, release build) against the running
//! sandbox and records its table in the `## stream` section of
//! `docs/benchmarks.md` (other sections are left as they are).

use anyhow::Result;
use std::path::Path;

const HEADING: &str = "## stream";

/// Runs the benchmark and updates `docs/benchmarks.md` under `root`.
pub fn run(root: &Path) -> Result<()> {
    let table = crate::util::run_example(
        "stream",
        "bench",
        "is the sandbox up (`cargo xtask sandbox up`)?",
    )?;
    println!("{table}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let section = format!(
        "{HEADING}\n\n\
         `cargo xtask bench stream` on this machine (2 cores, loopback, page cache warm):\n\
         a 1 GiB file of random bytes sent from 127.0.0.11 to the store (STORE_HOST) through\n\
         socat, best wall time of 3 interleaved rounds, from starting the listener to both ends\n\
         done and checked, each row after a `sync`. The raw row is the seed's pipeline started by hand as local\n\
         processes (`ss -ltn` polled until the listener is up); the crate rows add the scripts\n\
         on both ends (pipefail, `stat` byte counts, socat log, port registry) and, over ssh,\n\
         one ssh session per end. Target: crate overhead under 5 %.\n\
         Recorded {date}; load average after: `{load}`.\n\n{table}\n",
        date = crate::util::utc_now("%Y-%m-%d %H:%M UTC"),
        load = load.trim(),
    );
    let file = crate::benchdoc::record(root, HEADING, &section)?;
    println!("recorded in {}", file.display());
    Ok(())
}
