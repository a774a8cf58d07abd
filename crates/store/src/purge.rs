//! What `--purge-to` removes: every backup started at or before the time,
//! as the seed does, except that a full backup (and the incrementals
//! between it and the cut) that a kept incremental still builds on is kept
//! unless the caller forces it.

use binlog::BackupName;
use chrono::NaiveDateTime;

/// The outcome of planning a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgePlan {
    /// Backups to move to trash, oldest first.
    pub purge: Vec<BackupName>,
    /// Backups at or before the time that are kept because a later
    /// incremental depends on them.
    pub kept_for_chain: Vec<BackupName>,
}

/// Plans a purge of `backups` (any order) to `to`; with `force`, the chain
/// protection is off (the seed's behaviour).
pub fn plan_purge(backups: &[BackupName], to: NaiveDateTime, force: bool) -> PurgePlan {
    let mut sorted = backups.to_vec();
    sorted.sort();
    let candidates: Vec<BackupName> = sorted.iter().copied().filter(|b| b.started <= to).collect();
    // The oldest kept backup decides: if it is an incremental, everything
    // from the full it builds on is still needed.
    let first_kept = sorted.iter().find(|b| b.started > to);
    let protect_from = match first_kept {
        Some(k) if !k.is_full() && !force => candidates.iter().rev().find(|b| b.is_full()).copied(),
        _ => None,
    };
    let (purge, kept_for_chain) = match protect_from {
        Some(full) => candidates.iter().partition(|b| **b < full),
        None => (candidates, Vec::new()),
    };
    PurgePlan {
        purge,
        kept_for_chain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> BackupName {
        s.parse().unwrap()
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    const F1: &str = "UTC20240101000000.000-full";
    const I1: &str = "UTC20240102000000.000-inc";
    const F2: &str = "UTC20240103000000.000-full";
    const I2: &str = "UTC20240104000000.000-inc";

    fn all() -> Vec<BackupName> {
        [I2, F1, F2, I1].map(n).to_vec()
    }

    #[test]
    fn purges_up_to_the_time_inclusive() {
        let p = plan_purge(&all(), t("2024-01-03 00:00:00"), false);
        // F2 is at the time; I2 builds on F2, so F2 stays.
        assert_eq!(p.purge, [n(F1), n(I1)]);
        assert_eq!(p.kept_for_chain, [n(F2)]);
    }

    #[test]
    fn a_cut_before_a_full_needs_no_protection() {
        let p = plan_purge(&all(), t("2024-01-02 12:00:00"), false);
        assert_eq!(p.purge, [n(F1), n(I1)]);
        assert!(p.kept_for_chain.is_empty());
    }

    #[test]
    fn a_cut_inside_a_chain_keeps_the_whole_chain() {
        let p = plan_purge(&all(), t("2024-01-01 12:00:00"), false);
        assert!(p.purge.is_empty());
        assert_eq!(p.kept_for_chain, [n(F1)]);
    }

    #[test]
    fn force_purges_as_the_seed_does() {
        let p = plan_purge(&all(), t("2024-01-03 00:00:00"), true);
        assert_eq!(p.purge, [n(F1), n(I1), n(F2)]);
        assert!(p.kept_for_chain.is_empty());
    }

    #[test]
    fn purging_everything_is_allowed() {
        let p = plan_purge(&all(), t("2025-01-01 00:00:00"), false);
        assert_eq!(p.purge.len(), 4);
    }
}
