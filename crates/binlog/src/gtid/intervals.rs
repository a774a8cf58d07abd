//! Sorted, disjoint, non-adjacent closed intervals of transaction numbers.

/// Closed intervals `[a, b]`, kept sorted, disjoint and non-adjacent (so
/// `1-3` and `4-5` are stored as `1-5`): one set has exactly one value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Intervals(Vec<(u64, u64)>);

impl Intervals {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }

    pub(crate) fn contains(&self, n: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= n && n <= b)
    }

    /// Adds `[a, b]` (`a <= b`), merging with overlapping or adjacent intervals.
    pub(crate) fn insert(&mut self, a: u64, b: u64) {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let (mut lo, mut hi) = (a, b);
        let mut placed = false;
        for &(x, y) in &self.0 {
            if y.saturating_add(1) < lo {
                out.push((x, y));
            } else if hi.saturating_add(1) < x {
                if !placed {
                    out.push((lo, hi));
                    placed = true;
                }
                out.push((x, y));
            } else {
                lo = lo.min(x);
                hi = hi.max(y);
            }
        }
        if !placed {
            out.push((lo, hi));
        }
        self.0 = out;
    }

    pub(crate) fn union_with(&mut self, other: &Intervals) {
        for (a, b) in other.iter() {
            self.insert(a, b);
        }
    }

    /// The numbers of `self` not in `other`.
    pub(crate) fn minus(&self, other: &Intervals) -> Intervals {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut lo = a;
            for &(x, y) in &other.0 {
                if y < lo || x > b {
                    continue;
                }
                if x > lo {
                    out.push((lo, x - 1));
                }
                lo = y.saturating_add(1);
                if y >= b {
                    break;
                }
            }
            if lo <= b {
                out.push((lo, b));
            }
        }
        Intervals(out)
    }

    pub(crate) fn is_subset(&self, other: &Intervals) -> bool {
        self.0
            .iter()
            .all(|&(a, b)| other.0.iter().any(|&(x, y)| x <= a && b <= y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn from(ranges: &[(u64, u64)]) -> Intervals {
        let mut iv = Intervals::default();
        for &(a, b) in ranges {
            iv.insert(a.min(b), a.max(b));
        }
        iv
    }

    fn model(ranges: &[(u64, u64)]) -> BTreeSet<u64> {
        ranges
            .iter()
            .flat_map(|&(a, b)| a.min(b)..=a.max(b))
            .collect()
    }

    fn members(iv: &Intervals) -> BTreeSet<u64> {
        iv.iter().flat_map(|(a, b)| a..=b).collect()
    }

    fn normalized(iv: &Intervals) -> bool {
        iv.0.iter().all(|&(a, b)| a <= b) && iv.0.windows(2).all(|w| w[0].1 + 1 < w[1].0)
    }

    #[test]
    fn merges_adjacent_and_overlapping() {
        assert_eq!(from(&[(1, 3), (4, 5)]).0, vec![(1, 5)]);
        assert_eq!(from(&[(7, 9), (1, 2), (3, 3)]).0, vec![(1, 3), (7, 9)]);
        assert_eq!(from(&[(1, 10), (2, 3)]).0, vec![(1, 10)]);
        assert_eq!(from(&[(5, 6), (1, 2), (3, 4)]).0, vec![(1, 6)]);
        assert_eq!(
            from(&[(1, 10)]).minus(&from(&[(3, 4), (8, 20)])).0,
            vec![(1, 2), (5, 7)]
        );
        assert!(from(&[(1, 2)]).minus(&from(&[(1, 2)])).is_empty());
    }

    proptest! {
        // The interval algebra agrees with plain sets of numbers.
        #[test]
        fn agrees_with_a_set_model(
            a in proptest::collection::vec((1u64..60, 1u64..60), 0..6),
            b in proptest::collection::vec((1u64..60, 1u64..60), 0..6),
        ) {
            let (ia, ib) = (from(&a), from(&b));
            let (ma, mb) = (model(&a), model(&b));
            prop_assert!(normalized(&ia));
            prop_assert_eq!(members(&ia), ma.clone());
            let mut u = ia.clone();
            u.union_with(&ib);
            prop_assert!(normalized(&u));
            prop_assert_eq!(members(&u), ma.union(&mb).copied().collect::<BTreeSet<_>>());
            let d = ia.minus(&ib);
            prop_assert!(normalized(&d));
            prop_assert_eq!(members(&d), ma.difference(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(ia.is_subset(&ib), ma.is_subset(&mb));
            for n in 0..62 {
                prop_assert_eq!(ia.contains(n), ma.contains(&n));
            }
        }
    }
}
