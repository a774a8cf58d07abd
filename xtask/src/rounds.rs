//! Benchmarks that compare a tool with the raw commands it replaces run
//! both several times, alternating, each from a quiet disk, and compare
//! the best of each: a VM's neighbours and the kernel's writeback make
//! single runs vary by a third here.

use anyhow::{Result, bail};
use std::process::Command;
use std::time::Duration;

/// `BENCH_ROUNDS` (default 3, at least 1).
pub fn count() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1)
}

/// A size in MiB from the environment variable `key` (`BENCH_MIB`, ...),
/// `default` when unset or not a number.
pub fn env_mib(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes back every dirty page, so a measure starts from a quiet disk.
pub fn sync() -> Result<()> {
    if !Command::new("sync").status()?.success() {
        bail!("sync failed");
    }
    Ok(())
}

/// The order in which `ways` take their turns in `round`: each round
/// starts one later than the one before, so no way is always first.
pub fn rotation(ways: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ways).collect();
    if ways > 0 {
        order.rotate_left(round % ways);
    }
    order
}

/// The head of a table of `rounds` rounds: `| first | round 1 s | ... |`
/// then the `after` columns, and the alignment row (all but the first
/// column right-aligned).
pub fn header(first: &str, rounds: usize, after: &[&str]) -> String {
    let mut head = format!("| {first} |");
    for i in 1..=rounds {
        head += &format!(" round {i} s |");
    }
    for column in after {
        head += &format!(" {column} |");
    }
    head += "\n| --- |";
    head += &" ---: |".repeat(rounds + after.len());
    head.push('\n');
    head
}

/// The raw runs of one round: each part's (server's, datasource's) time.
pub type RawRound = Vec<(String, Duration)>;

/// The slowest part of a raw round.
pub fn slowest(raw: &RawRound) -> Duration {
    raw.iter().map(|(_, d)| *d).max().unwrap_or_default()
}

/// The markdown table of every round: one row per raw part (`raw_label`
/// plus its name), the slowest raw part, the tool, and the target (a
/// function of the best slowest raw) with whether the best tool run met it.
pub fn table(
    raw_label: &str,
    raw: &[RawRound],
    tool_label: &str,
    tool: &[Duration],
    target_label: &str,
    target: impl Fn(Duration) -> Duration,
) -> (String, bool) {
    let parts = Parts {
        label: "raw, slowest",
        of_round: slowest,
    };
    table_of(
        raw_label,
        raw,
        parts,
        tool_label,
        tool,
        target_label,
        target,
    )
}

/// How a raw round's parts make its time: `raw, slowest` (at once) in
/// [`table`], or [`Parts::SEQUENTIAL`].
pub struct Parts {
    label: &'static str,
    of_round: fn(&RawRound) -> Duration,
}

impl Parts {
    /// Parts run one after the other: the round's raw time is their sum.
    pub const SEQUENTIAL: Parts = Parts {
        label: "raw, one after the other",
        of_round: |r: &RawRound| r.iter().map(|(_, d)| *d).sum(),
    };
}

/// [`table`] with the raw parts of a round combined as `parts` says.
pub fn table_of(
    raw_label: &str,
    raw: &[RawRound],
    parts: Parts,
    tool_label: &str,
    tool: &[Duration],
    target_label: &str,
    target: impl Fn(Duration) -> Duration,
) -> (String, bool) {
    let best = |values: &[Duration]| values.iter().copied().min().unwrap_or_default();
    let secs = |d: Duration| format!("{:.1}", d.as_secs_f64());
    let n = tool.len();
    let mut table = header("run", n, &["best s"]);
    let mut row = |label: &str, values: &[Duration]| {
        table += &format!("| {label} |");
        for v in values {
            table += &format!(" {} |", secs(*v));
        }
        table += &format!(" {} |\n", secs(best(values)));
    };
    if let Some(first) = raw.first() {
        for (i, (name, _)) in first.iter().enumerate() {
            let values: Vec<Duration> = raw.iter().filter_map(|r| r.get(i).map(|p| p.1)).collect();
            row(&format!("{raw_label}, {name}"), &values);
        }
    }
    let each: Vec<Duration> = raw.iter().map(parts.of_round).collect();
    row(parts.label, &each);
    row(tool_label, tool);
    let target = target(best(&each));
    let met = best(tool) <= target;
    table += &format!(
        "| {target_label} |{} {} ({}) |\n",
        " |".repeat(n),
        secs(target),
        if met { "met" } else { "missed" }
    );
    (table, met)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_starts_with_the_next_way_and_the_header_counts_the_rounds() {
        assert_eq!(rotation(3, 0), [0, 1, 2]);
        assert_eq!(rotation(3, 1), [1, 2, 0]);
        assert_eq!(rotation(3, 4), [1, 2, 0]);
        assert!(rotation(0, 2).is_empty());
        assert_eq!(
            header("run", 2, &["best s", "MB/s"]),
            "| run | round 1 s | round 2 s | best s | MB/s |\n| --- | ---: | ---: | ---: | ---: |\n"
        );
    }

    #[test]
    fn the_best_of_each_is_compared() {
        let s = Duration::from_secs;
        let raw = vec![
            vec![("a".into(), s(6)), ("b".into(), s(7))],
            vec![("a".into(), s(5)), ("b".into(), s(4))],
        ];
        let (text, met) = table("raw", &raw, "tool", &[s(9), s(8)], "target", |r| r + s(3));
        assert!(met, "{text}");
        assert!(text.contains("| raw, a | 6.0 | 5.0 | 5.0 |\n"), "{text}");
        assert!(
            text.contains("| raw, slowest | 7.0 | 5.0 | 5.0 |\n"),
            "{text}"
        );
        assert!(text.contains("| tool | 9.0 | 8.0 | 8.0 |\n"), "{text}");
        assert!(text.contains("| target | | | 8.0 (met) |\n"), "{text}");
        let (_, met) = table("raw", &raw, "tool", &[s(9)], "target", |r| r);
        assert!(!met);
    }

    #[test]
    fn parts_one_after_the_other_add_up() {
        let s = Duration::from_secs;
        let raw = vec![
            vec![("a".into(), s(6)), ("b".into(), s(7))],
            vec![("a".into(), s(5)), ("b".into(), s(4))],
        ];
        let (text, met) = table_of(
            "raw",
            &raw,
            Parts::SEQUENTIAL,
            "tool",
            &[s(12), s(11)],
            "target",
            |r| r + s(1),
        );
        assert!(
            text.contains("| raw, one after the other | 13.0 | 9.0 | 9.0 |\n"),
            "{text}"
        );
        assert!(text.contains("| target | | | 10.0 (missed) |\n"), "{text}");
        assert!(!met);
    }
}
